//! Sealing and opening one message (one media fragment): ESDK message format version 2, suite
//! `0x0478`, framed body.
//!
//! - [`seal`] / [`seal_into`]: header and frames written in one pass into one allocation of the
//!   final size; each frame's plaintext is copied and encrypted while it is in cache.
//! - [`parse`] then [`ParsedMessage::open`]: the message is parsed once, strictly (one
//!   [`ParsedMessage`] holds the header and the bytes it came from); opening authenticates the
//!   header (commit key in constant time, header tag over the bytes as received plus the
//!   supplied "required encryption context", fragment identity per
//!   [`IdentityCheck`](crate::identity::IdentityCheck)) before
//!   any frame is touched; each frame is checked (sequence number, IV, lengths) and its tag
//!   verified before its plaintext is kept.
//! - [`ParsedMessage::open_into`]: the same into a caller's reusable buffer.
//! - [`ParsedMessage::open_range`]: decrypts only the frames overlapping a plaintext byte range.
//! - Encryption context that is authenticated but not stored (the ESDK's "required encryption
//!   context", [`SealParams::authenticate_only`] / [`OpenParams::supplied_context`]): its
//!   canonical serialization is appended to the header body in the header tag's AAD (ESDK
//!   `client-apis/encrypt.md`, "encryption context to only authenticate").
//! - [`stream`]: streaming open as an [`std::io::Read`] that releases each frame only after its
//!   tag verifies, and fails if the final frame is missing.
//!
//! ```
//! use fragseal::crypto::{AeadBackend, DataKey};
//! use fragseal::format::EncryptedDataKey;
//! use fragseal::identity::IdentityCheck;
//! use fragseal::message::{self, OpenLimits, OpenParams, SealParams};
//! use fragseal::EncryptionContext;
//!
//! # fn main() -> Result<(), fragseal::Error> {
//! let data_key = DataKey::generate(); // normally from KMS GenerateDataKey (or a cache)
//! let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", "arn:aws:kinesisvideo:...");
//! let edks = [EncryptedDataKey {
//!     provider_id: "aws-kms".into(),
//!     provider_info: b"arn:aws:kms:us-east-1:111122223333:key/...".to_vec(),
//!     ciphertext: b"KMS ciphertext blob".to_vec(),
//! }];
//! let sealed = message::seal(&data_key, &SealParams::new(&ec, &edks), b"fragment bytes")?;
//!
//! let parsed = message::parse(&sealed, &OpenLimits::default())?;
//! // ... obtain the data key for parsed.header().encrypted_data_keys() (KMS Decrypt) ...
//! let skip = IdentityCheck::Skip;
//! let plaintext = parsed.open(&data_key, &OpenParams::new(&skip).with_backend(AeadBackend::Ring))?;
//! assert_eq!(plaintext, b"fragment bytes");
//! # Ok(()) }
//! ```
//!
//! The data key comes from elsewhere (a KMS, a cache, [`crate::keyring::raw_aes`]); this
//! module derives the per-message keys from it.

mod checks;
internal_pub! { mod danger; }
pub(crate) mod frame;
mod open;
pub mod stream;
mod verified;

use crate::crypto::aead::{AeadBackend, Aes256GcmKey};
use crate::crypto::kdf::{derive_message_keys, MESSAGE_ID_LEN};
use crate::crypto::rng::fill_random;
use crate::crypto::DataKey;
use crate::error::SealError;
use crate::format::body::{self, frame_iv, BodyAad, BodyKind, FrameLayout};
use crate::format::header::{HeaderFields, WriteError, HEADER_IV, HEADER_TAG_LEN};
use crate::format::{ContentType, EncryptedDataKey, EncryptionContext};
use crate::identity::{FragmentIdentity, RANDOM_LEN};

pub use crate::format::header::{MessageHeader, OpenLimits, SUITE_ID};
pub use checks::{check_open_context, check_seal_context};
pub(crate) use open::authenticate_header;
pub use open::{parse, FrameSummary, OpenParams, ParsedMessage};
pub use stream::{OpenStream, SealedStream};
pub use verified::VerifiedHeader;

/// Default frame length: 64 KiB (the ESDK's own default is 4 KiB; media fragments are large).
pub const DEFAULT_FRAME_LENGTH: u32 = 65536;

/// What to seal with, besides the data key and the plaintext.
#[derive(Clone, Copy, Debug)]
pub struct SealParams<'a> {
    /// Frame length in bytes (1 ..= 2^32 − 1; fragseal opens up to
    /// [`OpenLimits::max_frame_length`] by default).
    pub frame_length: u32,
    /// The encryption context (stream-level values; no key may start with `aws-crypto-`).
    pub encryption_context: &'a EncryptionContext,
    /// The data key wrapped by each key provider (at least one).
    pub encrypted_data_keys: &'a [EncryptedDataKey],
    /// The fragment identity to bind into the message id, if any (see [`crate::identity`]).
    pub identity: Option<&'a FragmentIdentity>,
    /// Encryption context to authenticate but not store (the ESDK's "required encryption
    /// context"): the opener must supply exactly these pairs. Its keys must not also be in
    /// [`Self::encryption_context`]; the data key must have been obtained for the union of both.
    pub authenticate_only: Option<&'a EncryptionContext>,
    /// The AES-GCM implementation.
    pub backend: AeadBackend,
}

impl<'a> SealParams<'a> {
    /// Parameters with the default frame length and backend, and no identity.
    pub fn new(
        encryption_context: &'a EncryptionContext,
        encrypted_data_keys: &'a [EncryptedDataKey],
    ) -> Self {
        Self {
            frame_length: DEFAULT_FRAME_LENGTH,
            encryption_context,
            encrypted_data_keys,
            identity: None,
            authenticate_only: None,
            backend: AeadBackend::default(),
        }
    }
}

fn write_error(e: WriteError) -> SealError {
    SealError::Header(e)
}

fn check_params(params: &SealParams<'_>, plaintext_len: usize) -> Result<FrameLayout, SealError> {
    for ec in [Some(params.encryption_context), params.authenticate_only]
        .into_iter()
        .flatten()
    {
        if let Some(k) = ec.reserved_key() {
            return Err(SealError::ReservedContextKey { key: k.to_owned() });
        }
    }
    if params.frame_length == 0 {
        return Err(SealError::ZeroFrameLength);
    }
    FrameLayout::new(plaintext_len as u64, params.frame_length).ok_or(SealError::TooManyFrames {
        plaintext_len: plaintext_len as u64,
        frame_length: params.frame_length,
    })
}

fn header_fields<'a>(
    params: &SealParams<'a>,
    message_id: &'a [u8; MESSAGE_ID_LEN],
    commit_key: &'a [u8; 32],
) -> HeaderFields<'a> {
    HeaderFields {
        suite_id: SUITE_ID,
        message_id,
        encryption_context: params.encryption_context,
        encrypted_data_keys: params.encrypted_data_keys,
        content_type: ContentType::Framed,
        frame_length: params.frame_length,
        commit_key,
    }
}

/// The exact length of the message [`seal`] produces for `plaintext_len` bytes.
///
/// # Errors
/// A [`SealError`] for parameters [`seal`] would refuse.
pub fn sealed_len(params: &SealParams<'_>, plaintext_len: usize) -> Result<usize, SealError> {
    let layout = check_params(params, plaintext_len)?;
    let header = header_fields(params, &[0; MESSAGE_ID_LEN], &[0; 32])
        .serialized_len()
        .map_err(write_error)?;
    layout
        .body_len()
        .and_then(|b| b.checked_add(header + HEADER_TAG_LEN))
        .ok_or(SealError::MessageTooLarge)
}

/// Seals `plaintext` under `data_key` into a new message (allocated once, at its final size).
///
/// # Errors
/// A [`SealError`] when the parameters cannot be encoded (no or too many encrypted data keys,
/// an over-long field, a reserved encryption context key, frame length 0, an over-long stream
/// ARN in the identity) or are refused by [`check_seal_context`].
pub fn seal(
    data_key: &DataKey,
    params: &SealParams<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    // The context checks first, so that their typed errors win over the header writer's.
    check_seal_context(
        params.encryption_context,
        params.authenticate_only,
        params.identity,
    )?;
    let mut out = Vec::with_capacity(sealed_len(params, plaintext.len())?);
    seal_into(data_key, params, plaintext, &mut out)?;
    Ok(out)
}

/// Seals `plaintext` and appends the message to `out` (reserving the exact space once). Each
/// frame's plaintext is copied into `out` and encrypted there in place, frame by frame.
///
/// # Errors
/// As [`seal`]; `out` is then unchanged.
pub fn seal_into(
    data_key: &DataKey,
    params: &SealParams<'_>,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), SealError> {
    check_seal_context(
        params.encryption_context,
        params.authenticate_only,
        params.identity,
    )?;
    let message_id = new_message_id(data_key, params.identity)?;
    seal_impl(data_key, params, &message_id, plaintext, out)
}

fn new_message_id(
    data_key: &DataKey,
    identity: Option<&FragmentIdentity>,
) -> Result<[u8; MESSAGE_ID_LEN], SealError> {
    match identity {
        None => {
            let mut id = [0u8; MESSAGE_ID_LEN];
            fill_random(&mut id);
            Ok(id)
        }
        Some(identity) => {
            let mut random = [0u8; RANDOM_LEN];
            fill_random(&mut random);
            identity.message_id(data_key, &random)
        }
    }
}

/// DANGER — for known-answer test vectors only. Seals with a caller-chosen message id, which
/// makes the output deterministic. Reusing a message id with the same data key reuses the
/// derived key *and* every frame IV: it destroys confidentiality and integrity. Never use this
/// outside vector generation. With `params.identity` set, `random_half` is the random half of
/// the id and the MAC half is computed; otherwise the id is `random_half` repeated twice.
/// Unlike [`seal`], it does not apply [`check_seal_context`], so that tests can build the
/// messages an older or hostile sealer would. Only with the `internal` feature, as
/// `fragseal::internal::danger::danger_seal_with_fixed_message_id_for_vectors`.
///
/// # Errors
/// As [`seal`], without the context checks.
#[cfg(feature = "internal")]
pub fn danger_seal_with_fixed_message_id_for_vectors(
    data_key: &DataKey,
    params: &SealParams<'_>,
    random_half: &[u8; RANDOM_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let message_id = match params.identity {
        Some(identity) => identity.message_id(data_key, random_half)?,
        None => {
            let mut id = [0u8; MESSAGE_ID_LEN];
            for (i, b) in id.iter_mut().enumerate() {
                *b = random_half.get(i % RANDOM_LEN).copied().unwrap_or(0);
            }
            id
        }
    };
    let mut out = Vec::with_capacity(sealed_len(params, plaintext.len())?);
    seal_impl(data_key, params, &message_id, plaintext, &mut out)?;
    Ok(out)
}

fn seal_impl(
    data_key: &DataKey,
    params: &SealParams<'_>,
    message_id: &[u8; MESSAGE_ID_LEN],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), SealError> {
    let layout = check_params(params, plaintext.len())?;
    let keys = derive_message_keys(params.backend, data_key, SUITE_ID, message_id);
    let fields = header_fields(params, message_id, keys.commit_key.as_bytes());
    let header_len = fields.serialized_len().map_err(write_error)? + HEADER_TAG_LEN;
    let total = layout
        .body_len()
        .and_then(|b| b.checked_add(header_len))
        .ok_or(SealError::MessageTooLarge)?;
    let extra_aad = serialize_authenticate_only(params.authenticate_only)
        .ok_or(SealError::Header(WriteError::EncryptionContextTooLarge))?;
    out.reserve_exact(total);
    let start = out.len();
    fields.write(out).map_err(write_error)?;
    // Header auth tag: AES-GCM, IV of zeros, empty plaintext, AAD = the header body followed
    // by the serialized context to only authenticate (empty when there is none).
    let tag = {
        let header_body = out.get(start..).unwrap_or(&[]);
        with_header_aad(header_body, &extra_aad, |aad| {
            keys.encryption_key
                .seal_in_place_detached(&HEADER_IV, aad, &mut [])
        })
    };
    out.extend_from_slice(&tag);

    let key = &keys.encryption_key;
    let mut aad = BodyAad::new(message_id);
    let fl = params.frame_length as usize;
    // Invariant: regular_frames * frame_length < plaintext.len() (FrameLayout).
    let split = (layout.regular_frames as usize).saturating_mul(fl);
    let (regular, last) = plaintext.split_at(split.min(plaintext.len()));
    let mut seq: u32 = 1;
    for chunk in regular.chunks_exact(fl) {
        seal_frame(out, key, &mut aad, BodyKind::Regular, seq, chunk);
        seq = seq.wrapping_add(1);
    }
    seal_frame(out, key, &mut aad, BodyKind::Final, seq, last);
    debug_assert_eq!(out.len() - start, total);
    Ok(())
}

/// Appends one frame: prefix, then the plaintext copied in and encrypted in place, then the tag.
fn seal_frame(
    out: &mut Vec<u8>,
    key: &Aes256GcmKey,
    aad: &mut BodyAad,
    kind: BodyKind,
    seq: u32,
    chunk: &[u8],
) {
    // Frame content lengths are at most the u32 frame length (FrameLayout).
    let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
    body::write_frame_prefix(out, kind, seq, len);
    let at = out.len();
    out.extend_from_slice(chunk);
    let buf = out.get_mut(at..).unwrap_or(&mut []);
    let tag = key.seal_in_place_detached(&frame_iv(seq), aad.get(kind, seq, u64::from(len)), buf);
    out.extend_from_slice(&tag);
}

/// The canonical serialization of the context to only authenticate; empty without one.
pub(crate) fn serialize_authenticate_only(ec: Option<&EncryptionContext>) -> Option<Vec<u8>> {
    match ec {
        Some(ec) if !ec.is_empty() => ec.serialize(),
        _ => Some(Vec::new()),
    }
}

/// Runs `f` on the header tag's AAD: the header body, followed by `extra` when not empty.
pub(crate) fn with_header_aad<T>(
    header_body: &[u8],
    extra: &[u8],
    f: impl FnOnce(&[u8]) -> T,
) -> T {
    if extra.is_empty() {
        f(header_body)
    } else {
        let mut aad = Vec::with_capacity(header_body.len() + extra.len());
        aad.extend_from_slice(header_body);
        aad.extend_from_slice(extra);
        f(&aad)
    }
}

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
//! - Sealing frame by frame as the plaintext arrives (crate-private, behind
//!   [`Engine::seal_writer`](crate::engine::Engine::seal_writer)): the header first, then each
//!   frame's plaintext written straight into the output and encrypted in place as soon as the
//!   frame is complete; the same bytes as [`seal_into`] for the same message id.
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
#[cfg(feature = "internal")]
mod fixed_id;
pub(crate) mod frame;
mod open;
pub mod stream;
mod verified;
#[cfg(feature = "internal")]
pub use fixed_id::{
    danger_seal_signed_with_fixed_message_id_for_vectors,
    danger_seal_with_fixed_message_id_for_vectors,
};
pub(crate) mod writer;

use crate::crypto::aead::{AeadBackend, Aes256GcmKey};
use crate::crypto::kdf::{derive_message_keys, MESSAGE_ID_LEN};
use crate::crypto::rng::fill_random;
use crate::crypto::sign::SigningKey;
use crate::crypto::DataKey;
use crate::error::SealError;
use crate::format::body::{self, frame_iv, BodyAad, BodyKind, FrameLayout};
use crate::format::header::{HeaderFields, WriteError, HEADER_IV, HEADER_TAG_LEN};
use crate::format::{ContentType, EncryptedDataKey, EncryptionContext};
use crate::identity::{FragmentIdentity, RANDOM_LEN};

pub use crate::crypto::sign::{EC_PUBLIC_KEY_FIELD, SIGNATURE_LEN};
pub use crate::format::header::{MessageHeader, OpenLimits, SUITE_ID};
pub use checks::{check_open_context, check_seal_context};
pub(crate) use open::authenticate_header;
pub use open::{parse, FrameSummary, OpenParams, ParsedMessage};
pub use stream::{OpenStream, SealedStream};
pub use verified::VerifiedHeader;

/// The id of the signed suite: AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384.
pub const SIGNED_SUITE_ID: u16 = 0x0578;

/// Length of the footer of a signed message: the u16 signature length and the signature.
pub const FOOTER_LEN: usize = 2 + SIGNATURE_LEN;

/// The algorithm suite a sealer writes. fragseal only ever seals committing suites.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SealSuite {
    /// `0x0478` (default): AES-256-GCM, HKDF-SHA512, key commitment. Anyone who can obtain
    /// the data key (for example with `kms:Decrypt`) can also write messages under it.
    #[default]
    AesGcmHkdfSha512CommitKey,
    /// `0x0578`: as `0x0478`, plus an ECDSA P-384 signature over header and body by a key pair
    /// whose public key is in the encryption context (`aws-crypto-public-key`), bound by the
    /// keyring (KMS): holding the data key no longer lets a reader write messages.
    AesGcmHkdfSha512CommitKeyEcdsaP384,
}

impl SealSuite {
    /// The suite id written in the header.
    pub const fn id(self) -> u16 {
        match self {
            SealSuite::AesGcmHkdfSha512CommitKey => SUITE_ID,
            SealSuite::AesGcmHkdfSha512CommitKeyEcdsaP384 => SIGNED_SUITE_ID,
        }
    }

    /// Whether messages carry a signature (and the public key in their context).
    pub const fn is_signed(self) -> bool {
        matches!(self, SealSuite::AesGcmHkdfSha512CommitKeyEcdsaP384)
    }
}

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
    suite_id: u16,
    stored: &'a EncryptionContext,
    message_id: &'a [u8; MESSAGE_ID_LEN],
    commit_key: &'a [u8; 32],
) -> HeaderFields<'a> {
    HeaderFields {
        suite_id,
        message_id,
        encryption_context: stored,
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
    sealed_len_impl(params, None, plaintext_len)
}

/// The exact length of the message [`seal_signed`] produces for `plaintext_len` bytes (the
/// signature has a static length, see [`crate::crypto::sign`]).
///
/// # Errors
/// As [`sealed_len`].
pub fn signed_sealed_len(
    params: &SealParams<'_>,
    plaintext_len: usize,
) -> Result<usize, SealError> {
    // Every P-384 public key has the same length in the context (68 bytes of base64), so a
    // same-length value sizes the stored context exactly.
    let same_length = EncryptionContext::new().with(EC_PUBLIC_KEY_FIELD, "A".repeat(68));
    let stored = with_public_key_value(params.encryption_context, &same_length);
    sealed_len_impl(params, Some(&stored), plaintext_len)
}

fn sealed_len_impl(
    params: &SealParams<'_>,
    signed_context: Option<&EncryptionContext>,
    plaintext_len: usize,
) -> Result<usize, SealError> {
    let layout = check_params(params, plaintext_len)?;
    let stored = signed_context.unwrap_or(params.encryption_context);
    let (suite, footer) = if signed_context.is_some() {
        (SIGNED_SUITE_ID, FOOTER_LEN)
    } else {
        (SUITE_ID, 0)
    };
    let header = header_fields(params, suite, stored, &[0; MESSAGE_ID_LEN], &[0; 32])
        .serialized_len()
        .map_err(write_error)?;
    layout
        .body_len()
        .and_then(|b| b.checked_add(header + HEADER_TAG_LEN + footer))
        .ok_or(SealError::MessageTooLarge)
}

/// `ec` with the public key pair of `public` (a one-pair context) added.
fn with_public_key_value(ec: &EncryptionContext, public: &EncryptionContext) -> EncryptionContext {
    let mut stored = ec.clone();
    for (k, v) in public.iter() {
        stored.insert(k, v);
    }
    stored
}

/// The context a signed message stores: the caller's, plus the signer's public key.
fn signed_context(ec: &EncryptionContext, signer: &SigningKey) -> EncryptionContext {
    let mut stored = ec.clone();
    stored.insert(EC_PUBLIC_KEY_FIELD, signer.public_key_base64());
    stored
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
    let message_id = new_message_id(data_key, params.identity)?;
    seal_impl(data_key, None, params, &message_id, plaintext, &mut out)?;
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
    let message_id = checked_message_id(data_key, params)?;
    seal_impl(data_key, None, params, &message_id, plaintext, out)
}

/// Seals `plaintext` under `data_key` with the signed suite `0x0578`: the stored context is
/// `params.encryption_context` plus the public key of `signer` under
/// [`EC_PUBLIC_KEY_FIELD`], and the message ends with a footer holding the signature of
/// header and body. The data key must have been obtained for that whole context (plus
/// [`SealParams::authenticate_only`]), public key included: that binding is what stops a
/// holder of the data key from writing messages under it (the [engine](crate::engine) does
/// this). Allocated once, at its final size.
///
/// # Errors
/// As [`seal`]; [`SealError::Signing`] if the signature provider fails.
pub fn seal_signed(
    data_key: &DataKey,
    signer: &SigningKey,
    params: &SealParams<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    check_seal_context(
        params.encryption_context,
        params.authenticate_only,
        params.identity,
    )?;
    let mut out = Vec::with_capacity(signed_sealed_len(params, plaintext.len())?);
    let message_id = new_message_id(data_key, params.identity)?;
    seal_impl(
        data_key,
        Some(signer),
        params,
        &message_id,
        plaintext,
        &mut out,
    )?;
    Ok(out)
}

/// As [`seal_signed`], appending the message to `out`.
///
/// # Errors
/// As [`seal_signed`]; `out` is then unchanged.
pub fn seal_signed_into(
    data_key: &DataKey,
    signer: &SigningKey,
    params: &SealParams<'_>,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), SealError> {
    let message_id = checked_message_id(data_key, params)?;
    seal_impl(data_key, Some(signer), params, &message_id, plaintext, out)
}

/// [`check_seal_context`], then a fresh message id: what every sealer does first (the
/// context checks first, so that their typed errors win over the header writer's).
fn checked_message_id(
    data_key: &DataKey,
    params: &SealParams<'_>,
) -> Result<[u8; MESSAGE_ID_LEN], SealError> {
    check_seal_context(
        params.encryption_context,
        params.authenticate_only,
        params.identity,
    )?;
    new_message_id(data_key, params.identity)
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

fn seal_impl(
    data_key: &DataKey,
    signer: Option<&SigningKey>,
    params: &SealParams<'_>,
    message_id: &[u8; MESSAGE_ID_LEN],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), SealError> {
    let layout = check_params(params, plaintext.len())?;
    let reserve = |out: &mut Vec<u8>, n: usize| out.reserve_exact(n);
    let head = write_header(
        data_key,
        signer,
        params,
        message_id,
        layout.body_len(),
        out,
        reserve,
    )?;
    let key = &head.key;
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
    if let Some(signer) = signer {
        write_footer(signer, out, head.start)?;
    }
    debug_assert_eq!(out.len() - head.start, head.total);
    Ok(())
}

/// What [`write_header`] leaves: the frame key and where the message starts in the output.
struct Header {
    /// The message's AES-256-GCM key (the commit key is in the header already).
    key: Aes256GcmKey,
    /// Offset of the message in the output.
    start: usize,
    /// Header and tag length plus footer length (0 or [`FOOTER_LEN`]): all but the body.
    fixed: usize,
    /// The whole message length for a body of the `body_len` given.
    total: usize,
}

/// Writes the header and its tag to `out` (after `reserve(out, n)` for the whole message of
/// `body_len` body bytes); shared by [`seal_impl`] and the [frame writer](writer).
fn write_header(
    data_key: &DataKey,
    signer: Option<&SigningKey>,
    params: &SealParams<'_>,
    message_id: &[u8; MESSAGE_ID_LEN],
    body_len: Option<usize>,
    out: &mut Vec<u8>,
    reserve: impl FnOnce(&mut Vec<u8>, usize),
) -> Result<Header, SealError> {
    let signed_ec = signer.map(|k| signed_context(params.encryption_context, k));
    let stored = signed_ec.as_ref().unwrap_or(params.encryption_context);
    let (suite, footer) = if signer.is_some() {
        (SIGNED_SUITE_ID, FOOTER_LEN)
    } else {
        (SUITE_ID, 0)
    };
    let keys = derive_message_keys(params.backend, data_key, suite, message_id);
    let fields = header_fields(
        params,
        suite,
        stored,
        message_id,
        keys.commit_key.as_bytes(),
    );
    let header_len = fields.serialized_len().map_err(write_error)? + HEADER_TAG_LEN;
    let fixed = header_len + footer;
    let total = body_len
        .and_then(|b| b.checked_add(fixed))
        .ok_or(SealError::MessageTooLarge)?;
    let extra_aad = serialize_authenticate_only(params.authenticate_only)
        .ok_or(SealError::Header(WriteError::EncryptionContextTooLarge))?;
    reserve(out, total);
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
    Ok(Header {
        key: keys.encryption_key,
        start,
        fixed,
        total,
    })
}

/// Signs the message written in `out[start..]` (header and body) and appends the footer; on
/// failure truncates `out` back to `start`.
fn write_footer(signer: &SigningKey, out: &mut Vec<u8>, start: usize) -> Result<(), SealError> {
    match signer.sign(out.get(start..).unwrap_or(&[])) {
        Ok(signature) => {
            // SIGNATURE_LEN (103) fits a u16.
            out.extend_from_slice(&(SIGNATURE_LEN as u16).to_be_bytes());
            out.extend_from_slice(&signature);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(SealError::Signing(e))
        }
    }
}

/// Appends one frame: prefix, then the plaintext encrypted into the output
/// ([`Aes256GcmKey::seal_append_detached`]), then the tag.
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
    let tag = key.seal_append_detached(
        &frame_iv(seq),
        aad.get(kind, seq, u64::from(len)),
        chunk,
        out,
    );
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

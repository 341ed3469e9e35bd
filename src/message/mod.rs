//! Sealing and opening one message (one media fragment): ESDK message format version 2, suite
//! `0x0478`, framed body.
//!
//! - [`seal`] / [`seal_into`]: header and frames written in one pass into one allocation of the
//!   final size; each frame's plaintext is copied and encrypted while it is in cache.
//! - [`parse`] then [`ParsedMessage::open`]: the message is parsed once, strictly (one
//!   [`ParsedMessage`] holds the header and the bytes it came from); opening authenticates the
//!   header (commit key in constant time, header tag over the bytes as received plus the
//!   supplied "required encryption context", fragment identity per [`IdentityCheck`]) before
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

#[doc(hidden)]
pub mod danger;
pub mod stream;
mod verified;

use crate::crypto::aead::{AeadBackend, Aes256GcmKey};
use crate::crypto::kdf::{derive_message_keys, MessageKeys, MESSAGE_ID_LEN};
use crate::crypto::rng::fill_random;
use crate::crypto::DataKey;
use crate::error::{AuthenticationError, CaseVariantKeys, OpenError, SealError};
use crate::format::body::{
    self, frame_iv, read_frame, read_non_framed, BodyAad, BodyKind, FrameLayout, FrameRef,
};
use crate::format::header::{HeaderFields, WriteError, HEADER_IV, HEADER_TAG_LEN};
use crate::format::{ContentType, EncryptedDataKey, EncryptionContext, Field, Reader};
use crate::identity::{FragmentIdentity, IdentityCheck, RANDOM_LEN, STREAM_ARN_CONTEXT_KEY};
use zeroize::Zeroize;

pub use crate::format::header::{MessageHeader, OpenLimits, SUITE_ID};
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

/// Two keys of `keys` (in canonical order) that differ only in ASCII case, if any (equal keys,
/// one stored and one authenticated only, are the caller's other check).
pub(crate) fn case_variant_keys<'k>(
    keys: impl Iterator<Item = &'k str> + Clone,
) -> Option<CaseVariantKeys> {
    for (i, a) in keys.clone().enumerate() {
        for b in keys.clone().skip(i + 1) {
            if a != b && a.eq_ignore_ascii_case(b) {
                return Some(CaseVariantKeys {
                    first: a.to_owned(),
                    second: b.to_owned(),
                });
            }
        }
    }
    None
}

/// The keys of the stored context and the authenticated-only one, together.
fn all_keys<'k>(
    stored: &'k EncryptionContext,
    other: Option<&'k EncryptionContext>,
) -> impl Iterator<Item = &'k str> + Clone {
    stored
        .as_map()
        .keys()
        .chain(other.into_iter().flat_map(|o| o.as_map().keys()))
        .map(String::as_str)
}

/// Whether the context binds `identity`'s stream: every key equal to `aws:kinesisvideo:arn`
/// up to ASCII case must be that key exactly, with the identity's stream ARN as its value.
/// A context without such a key binds no stream and is accepted.
fn context_binds_stream<'k>(
    pairs: impl Iterator<Item = (&'k str, &'k str)>,
    identity: &FragmentIdentity,
) -> Result<(), (String, String)> {
    for (k, v) in pairs {
        if k.eq_ignore_ascii_case(STREAM_ARN_CONTEXT_KEY)
            && (k != STREAM_ARN_CONTEXT_KEY || v != identity.stream_arn)
        {
            return Err((k.to_owned(), v.to_owned()));
        }
    }
    Ok(())
}

/// The checks sealing makes on the context, besides the reserved prefix: no two keys that
/// differ only in case, no key both stored and authenticated only, and with an identity, a
/// context whose stream is the identity's (see [`IdentityCheck::Expect`]).
///
/// # Errors
/// [`SealError::CaseVariantKeys`], [`SealError::ContextKeyInBoth`],
/// [`SealError::IdentityStreamMismatch`].
pub fn check_seal_context(
    stored: &EncryptionContext,
    authenticate_only: Option<&EncryptionContext>,
    identity: Option<&FragmentIdentity>,
) -> Result<(), SealError> {
    if let Some(k) = case_variant_keys(all_keys(stored, authenticate_only)) {
        return Err(SealError::CaseVariantKeys(k));
    }
    if let Some(other) = authenticate_only {
        if let Some((k, _)) = other.iter().find(|(k, _)| stored.get(k).is_some()) {
            return Err(SealError::ContextKeyInBoth { key: k.to_owned() });
        }
    }
    if let Some(identity) = identity {
        let pairs = stored.iter().chain(
            authenticate_only
                .into_iter()
                .flat_map(EncryptionContext::iter),
        );
        context_binds_stream(pairs, identity).map_err(|(_, v)| {
            SealError::IdentityStreamMismatch {
                context: v,
                identity: identity.stream_arn.clone(),
            }
        })?;
    }
    Ok(())
}

/// The checks opening makes on the (not yet authenticated) context before any key is
/// fetched: no two keys that differ only in case, the `required` pairs stored with their
/// values, no `supplied` key also stored, and with [`IdentityCheck::Expect`] a context whose
/// stream is the identity's.
///
/// # Errors
/// [`OpenError::CaseVariantKeys`], [`OpenError::Context`], and the opaque
/// [`OpenError::Authentication`] for a context of another stream.
pub fn check_open_context(
    stored: &EncryptionContext,
    required: &EncryptionContext,
    supplied: Option<&EncryptionContext>,
    identity: &IdentityCheck,
) -> Result<(), OpenError> {
    use crate::error::ContextMismatch;
    if let Some(k) = case_variant_keys(all_keys(stored, supplied)) {
        return Err(OpenError::CaseVariantKeys(k));
    }
    for (k, v) in required.iter() {
        match stored.get(k) {
            None => {
                return Err(OpenError::Context(ContextMismatch::Missing {
                    key: k.into(),
                }))
            }
            Some(s) if s != v => {
                return Err(OpenError::Context(ContextMismatch::WrongValue {
                    key: k.into(),
                }))
            }
            Some(_) => {}
        }
    }
    if let Some(supplied) = supplied {
        if let Some((k, _)) = supplied.iter().find(|(k, _)| stored.get(k).is_some()) {
            return Err(OpenError::Context(ContextMismatch::SuppliedKeyStored {
                key: k.into(),
            }));
        }
    }
    if let IdentityCheck::Expect(identity) = identity {
        let pairs = stored
            .iter()
            .chain(supplied.into_iter().flat_map(EncryptionContext::iter));
        context_binds_stream(pairs, identity).map_err(|_| AuthenticationError)?;
    }
    Ok(())
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
/// messages an older or hostile sealer would.
#[doc(hidden)]
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
fn serialize_authenticate_only(ec: Option<&EncryptionContext>) -> Option<Vec<u8>> {
    match ec {
        Some(ec) if !ec.is_empty() => ec.serialize(),
        _ => Some(Vec::new()),
    }
}

/// Runs `f` on the header tag's AAD: the header body, followed by `extra` when not empty.
fn with_header_aad<T>(header_body: &[u8], extra: &[u8], f: impl FnOnce(&[u8]) -> T) -> T {
    if extra.is_empty() {
        f(header_body)
    } else {
        let mut aad = Vec::with_capacity(header_body.len() + extra.len());
        aad.extend_from_slice(header_body);
        aad.extend_from_slice(extra);
        f(&aad)
    }
}

/// How to open a parsed message, besides the data key.
#[derive(Clone, Copy, Debug)]
pub struct OpenParams<'a> {
    /// The identity check (explicit: expect this identity, or skip).
    pub identity: &'a IdentityCheck,
    /// The "required encryption context" pairs that are authenticated but not stored in the
    /// message (see [`SealParams::authenticate_only`]).
    pub supplied_context: Option<&'a EncryptionContext>,
    /// The AES-GCM implementation.
    pub backend: AeadBackend,
}

impl<'a> OpenParams<'a> {
    /// With `identity`, nothing supplied and the default backend.
    pub fn new(identity: &'a IdentityCheck) -> Self {
        Self {
            identity,
            supplied_context: None,
            backend: AeadBackend::default(),
        }
    }

    /// Sets [`Self::supplied_context`].
    pub fn with_supplied_context(mut self, supplied: &'a EncryptionContext) -> Self {
        self.supplied_context = Some(supplied);
        self
    }

    /// Sets [`Self::backend`].
    pub fn with_backend(mut self, backend: AeadBackend) -> Self {
        self.backend = backend;
        self
    }
}

/// A message parsed once: its strictly validated header and the bytes it was parsed from.
/// The header is *not yet authenticated*: use its encrypted data keys to obtain the data key,
/// then one of the `open` methods authenticates it before anything else.
#[derive(Clone, Debug)]
pub struct ParsedMessage<'m> {
    header: MessageHeader,
    message: &'m [u8],
}

/// Parses and validates the header at the start of `message` (which continues with the body).
///
/// # Errors
/// [`OpenError::Format`] naming the field and byte offset.
pub fn parse<'m>(message: &'m [u8], limits: &OpenLimits) -> Result<ParsedMessage<'m>, OpenError> {
    let header = MessageHeader::parse(message, limits)?;
    Ok(ParsedMessage { header, message })
}

/// Derives the message keys and authenticates the header: commit key (constant time), header
/// tag over the header bytes as received followed by the supplied context, and the expected
/// fragment identity per `params.identity`.
pub(crate) fn authenticate_header(
    data_key: &DataKey,
    header: &MessageHeader,
    params: &OpenParams<'_>,
) -> Result<MessageKeys, OpenError> {
    let keys = derive_message_keys(
        params.backend,
        data_key,
        header.suite_id(),
        header.message_id(),
    );
    if !keys.commit_key.ct_eq(header.commit_key()) {
        return Err(OpenError::Authentication(AuthenticationError));
    }
    let extra = serialize_authenticate_only(params.supplied_context).ok_or(AuthenticationError)?;
    with_header_aad(header.header_body_bytes(), &extra, |aad| {
        keys.encryption_key
            .open_in_place_detached(&HEADER_IV, aad, &mut [], header.auth_tag())
    })?;
    if let IdentityCheck::Expect(identity) = params.identity {
        let stored = header.encryption_context();
        let pairs = stored.iter().chain(
            params
                .supplied_context
                .into_iter()
                .flat_map(EncryptionContext::iter),
        );
        context_binds_stream(pairs, identity).map_err(|_| AuthenticationError)?;
        identity.verify(data_key, header.message_id())?;
    }
    Ok(keys)
}

/// Decrypts one frame's ciphertext appended to `out`; on failure the appended bytes are zeroed
/// and removed.
fn open_frame_into(
    out: &mut Vec<u8>,
    key: &Aes256GcmKey,
    aad: &mut BodyAad,
    frame: &FrameRef<'_>,
) -> Result<(), OpenError> {
    let at = out.len();
    out.extend_from_slice(frame.ciphertext);
    let buf = out.get_mut(at..).unwrap_or(&mut []);
    let r = key.open_in_place_detached(
        frame.iv,
        aad.get(frame.kind, frame.seq, frame.content_len()),
        buf,
        frame.tag,
    );
    if r.is_err() {
        out.truncate(at);
    }
    Ok(r?)
}

impl core::ops::Deref for ParsedMessage<'_> {
    type Target = MessageHeader;

    /// The parsed header (not yet authenticated).
    fn deref(&self) -> &MessageHeader {
        &self.header
    }
}

impl<'m> ParsedMessage<'m> {
    /// The parsed header (not yet authenticated).
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// The whole message, as parsed.
    pub fn bytes(&self) -> &'m [u8] {
        self.message
    }

    /// The message body: the bytes after the header (not the header's
    /// [`body`](MessageHeader::body)).
    pub fn body_bytes(&self) -> &'m [u8] {
        self.message.get(self.header.header_len()..).unwrap_or(&[])
    }

    /// Opens the message with `data_key`.
    ///
    /// Authenticates the header first (commit key, header tag with the supplied context, and
    /// the identity per `params.identity`), then checks and decrypts every frame. Nothing is
    /// returned unless the whole message verifies; non-framed bodies are accepted.
    ///
    /// # Errors
    /// [`OpenError::Authentication`] (opaque) for a wrong key, a bad tag, a commit key
    /// mismatch, a missing or wrong supplied context or an identity mismatch;
    /// [`OpenError::Format`] for a malformed body (sequence gap, wrong IV, missing final
    /// frame, trailing bytes, ...).
    pub fn open(&self, data_key: &DataKey, params: &OpenParams<'_>) -> Result<Vec<u8>, OpenError> {
        let mut out = Vec::new();
        self.open_into(data_key, params, &mut out)?;
        Ok(out)
    }

    /// [`Self::open`], appending the plaintext to `out` (reserving space once), so that a
    /// caller can reuse one buffer across messages. On error `out` is restored to its previous
    /// length and the bytes appended meanwhile are zeroized.
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_into(
        &self,
        data_key: &DataKey,
        params: &OpenParams<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), OpenError> {
        let header = &self.header;
        let body = self.body_bytes();
        let keys = authenticate_header(data_key, header, params)?;
        let key = &keys.encryption_key;
        let mut aad = BodyAad::new(header.message_id());
        let mut r = Reader::at(body, header.header_len());
        let start = out.len();
        // Plaintext is never longer than the body.
        out.reserve(body.len());
        let result = match header.content_type() {
            ContentType::NonFramed => read_non_framed(&mut r)
                .map_err(OpenError::from)
                .and_then(|frame| open_frame_into(out, key, &mut aad, &frame)),
            ContentType::Framed => (|| {
                let mut seq: u32 = 1;
                loop {
                    let frame = read_frame(&mut r, header.frame_length(), seq)?;
                    open_frame_into(out, key, &mut aad, &frame)?;
                    if frame.kind == BodyKind::Final {
                        r.expect_end(Field::Frame)?;
                        return Ok(());
                    }
                    // A regular frame's sequence number is never FF FF FF FF (that is the
                    // final marker), so this cannot overflow.
                    seq = seq.checked_add(1).ok_or(AuthenticationError)?;
                }
            })(),
        };
        if result.is_err() {
            if let Some(tail) = out.get_mut(start..) {
                tail.zeroize();
            }
            out.truncate(start);
        }
        result
    }
}

/// Where a framed body's frames are, validated without decrypting.
struct FrameIndex<'m> {
    frames: Vec<FrameRef<'m>>,
    plaintext_len: u64,
}

fn index_frames<'m>(header: &MessageHeader, body: &'m [u8]) -> Result<FrameIndex<'m>, OpenError> {
    let mut r = Reader::at(body, header.header_len());
    let mut frames = Vec::new();
    let mut plaintext_len = 0u64;
    let mut seq: u32 = 1;
    loop {
        let frame = read_frame(&mut r, header.frame_length(), seq)?;
        plaintext_len += frame.content_len();
        let last = frame.kind == BodyKind::Final;
        frames.push(frame);
        if last {
            r.expect_end(Field::Frame)?;
            return Ok(FrameIndex {
                frames,
                plaintext_len,
            });
        }
        seq = seq.checked_add(1).ok_or(AuthenticationError)?;
    }
}

impl ParsedMessage<'_> {
    /// Opens only the plaintext bytes in `range`: the header is authenticated, the frame
    /// structure of the whole body is checked without decrypting, and only the frames
    /// overlapping `range` are decrypted and verified — plus the final frame, whose tag
    /// authenticates the message's length (so a truncated message is detected even when the
    /// range lies in its first frames).
    ///
    /// # Errors
    /// As [`Self::open`]; [`OpenError::RangeReversed`] or [`OpenError::RangeBeyondEnd`] when
    /// `range` is reversed or ends beyond the plaintext.
    pub fn open_range(
        &self,
        data_key: &DataKey,
        params: &OpenParams<'_>,
        range: core::ops::Range<u64>,
    ) -> Result<Vec<u8>, OpenError> {
        if range.start > range.end {
            return Err(OpenError::RangeReversed {
                start: range.start,
                end: range.end,
            });
        }
        let header = &self.header;
        let body = self.body_bytes();
        if header.content_type() == ContentType::NonFramed {
            let mut all = self.open(data_key, params)?;
            let r = slice_range(&all, &range).map(<[u8]>::to_vec);
            all.zeroize();
            return r;
        }
        let keys = authenticate_header(data_key, header, params)?;
        let index = index_frames(header, body)?;
        let key = &keys.encryption_key;
        let mut aad = BodyAad::new(header.message_id());
        // The final frame first: its tag authenticates the plaintext length the range is
        // checked against.
        let mut last_plain = Vec::with_capacity(header.frame_length() as usize);
        let (last, regular) = index
            .frames
            .split_last()
            .ok_or(OpenError::Authentication(AuthenticationError))?;
        open_frame_into(&mut last_plain, key, &mut aad, last)?;
        if range.end > index.plaintext_len {
            last_plain.zeroize();
            return Err(OpenError::RangeBeyondEnd {
                end: range.end,
                plaintext_len: index.plaintext_len,
            });
        }
        let fl = u64::from(header.frame_length());
        let mut out = Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
        let mut scratch = Vec::with_capacity(header.frame_length() as usize);
        let append = |out: &mut Vec<u8>, plain: &[u8], frame_start: u64| -> Result<(), OpenError> {
            let frame_end = frame_start + plain.len() as u64;
            let lo = range.start.max(frame_start) - frame_start;
            let hi = range.end.min(frame_end) - frame_start;
            let part = plain
                .get(lo as usize..hi as usize)
                .ok_or(OpenError::Authentication(AuthenticationError))?;
            out.extend_from_slice(part);
            Ok(())
        };
        let overlaps =
            |frame_start: u64, len: u64| frame_start < range.end && range.start < frame_start + len;
        let result = (|| {
            for (i, frame) in regular.iter().enumerate() {
                let frame_start = i as u64 * fl;
                if !overlaps(frame_start, frame.content_len()) {
                    continue;
                }
                scratch.clear();
                open_frame_into(&mut scratch, key, &mut aad, frame)?;
                append(&mut out, &scratch, frame_start)?;
            }
            let last_start = regular.len() as u64 * fl;
            if overlaps(last_start, last.content_len()) {
                append(&mut out, &last_plain, last_start)?;
            }
            Ok::<(), OpenError>(())
        })();
        scratch.zeroize();
        last_plain.zeroize();
        match result {
            Ok(()) => Ok(out),
            Err(e) => {
                out.zeroize();
                Err(e)
            }
        }
    }
}

fn slice_range<'a>(all: &'a [u8], range: &core::ops::Range<u64>) -> Result<&'a [u8], OpenError> {
    let lo = usize::try_from(range.start).ok();
    let hi = usize::try_from(range.end).ok();
    let beyond = OpenError::RangeBeyondEnd {
        end: range.end,
        plaintext_len: all.len() as u64,
    };
    match (lo, hi) {
        (Some(lo), Some(hi)) if hi <= all.len() => {
            all.get(lo..hi).ok_or(OpenError::RangeReversed {
                start: range.start,
                end: range.end,
            })
        }
        _ => Err(beyond),
    }
}

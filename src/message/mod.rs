//! Sealing and opening one message (one media fragment): ESDK message format version 2, suite
//! `0x0478`, framed body.
//!
//! - [`seal`] / [`seal_into`]: header and frames written in one pass into one allocation of the
//!   final size; each frame's plaintext is copied and encrypted while it is in cache.
//! - [`parse_header`] then [`open`]: the header is parsed strictly, then authenticated (commit
//!   key in constant time, header tag over the bytes as received, fragment identity if
//!   expected) before any frame is touched; each frame is checked (sequence number, IV,
//!   lengths) and its tag verified before its plaintext is kept.
//! - [`open_into`]: the same into a caller's reusable buffer.
//! - [`open_range`]: decrypts only the frames overlapping a plaintext byte range.
//! - [`stream`]: streaming open as an [`std::io::Read`] that releases each frame only after its
//!   tag verifies, and fails if the final frame is missing.
//!
//! ```
//! use fragseal::crypto::{AeadBackend, DataKey};
//! use fragseal::format::EncryptedDataKey;
//! use fragseal::message::{self, OpenLimits, SealParams};
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
//! let header = message::parse_header(&sealed, &OpenLimits::default())?;
//! // ... obtain the data key for header.encrypted_data_keys() (KMS Decrypt) ...
//! let plaintext = message::open(&data_key, &header, &sealed, None, AeadBackend::Ring)?;
//! assert_eq!(plaintext, b"fragment bytes");
//! # Ok(()) }
//! ```
//!
//! The data key comes from elsewhere (a KMS, a cache, [`crate::keyring::raw_aes`]); this
//! module derives the per-message keys from it.

#[doc(hidden)]
pub mod danger;
pub mod stream;

use crate::crypto::aead::{AeadBackend, Aes256GcmKey};
use crate::crypto::kdf::{derive_message_keys, MessageKeys, MESSAGE_ID_LEN};
use crate::crypto::rng::fill_random;
use crate::crypto::DataKey;
use crate::error::{Error, OpenError};
use crate::format::body::{
    self, frame_iv, read_frame, read_non_framed, BodyAad, BodyKind, FrameLayout, FrameRef,
};
use crate::format::header::{HeaderFields, WriteError, HEADER_IV, HEADER_TAG_LEN};
use crate::format::{ContentType, EncryptedDataKey, EncryptionContext, Field, Reader};
use crate::identity::{FragmentIdentity, RANDOM_LEN};
use zeroize::Zeroize;

pub use crate::format::header::{MessageHeader, OpenLimits, SUITE_ID};
pub use stream::{OpenStream, SealedStream};

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
            backend: AeadBackend::default(),
        }
    }
}

fn write_error(e: WriteError) -> Error {
    Error::InvalidArgument(e.to_string())
}

fn check_params(params: &SealParams<'_>, plaintext_len: usize) -> Result<FrameLayout, Error> {
    if let Some(k) = params.encryption_context.reserved_key() {
        return Err(Error::InvalidArgument(format!(
            "encryption context key {k:?} uses the reserved prefix aws-crypto-"
        )));
    }
    if params.frame_length == 0 {
        return Err(Error::InvalidArgument(
            "frame length must be at least 1".into(),
        ));
    }
    FrameLayout::new(plaintext_len as u64, params.frame_length).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "a plaintext of {plaintext_len} bytes needs more than 2^32 - 1 frames of {} bytes",
            params.frame_length
        ))
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
/// [`Error::InvalidArgument`] for parameters [`seal`] would refuse.
pub fn sealed_len(params: &SealParams<'_>, plaintext_len: usize) -> Result<usize, Error> {
    let layout = check_params(params, plaintext_len)?;
    let header = header_fields(params, &[0; MESSAGE_ID_LEN], &[0; 32])
        .serialized_len()
        .map_err(write_error)?;
    layout
        .body_len()
        .and_then(|b| b.checked_add(header + HEADER_TAG_LEN))
        .ok_or_else(|| Error::InvalidArgument("sealed message too large".into()))
}

/// Seals `plaintext` under `data_key` into a new message (allocated once, at its final size).
///
/// # Errors
/// [`Error::InvalidArgument`] when the parameters cannot be encoded: no or too many encrypted
/// data keys, an over-long field, a reserved encryption context key, frame length 0, or an
/// over-long stream ARN in the identity.
pub fn seal(
    data_key: &DataKey,
    params: &SealParams<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
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
) -> Result<(), Error> {
    let message_id = new_message_id(data_key, params.identity)?;
    seal_impl(data_key, params, &message_id, plaintext, out)
}

fn new_message_id(
    data_key: &DataKey,
    identity: Option<&FragmentIdentity>,
) -> Result<[u8; MESSAGE_ID_LEN], Error> {
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
#[doc(hidden)]
pub fn danger_seal_with_fixed_message_id_for_vectors(
    data_key: &DataKey,
    params: &SealParams<'_>,
    random_half: &[u8; RANDOM_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
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
) -> Result<(), Error> {
    let layout = check_params(params, plaintext.len())?;
    let keys = derive_message_keys(params.backend, data_key, SUITE_ID, message_id);
    let fields = header_fields(params, message_id, keys.commit_key.as_bytes());
    let header_len = fields.serialized_len().map_err(write_error)? + HEADER_TAG_LEN;
    let total = layout
        .body_len()
        .and_then(|b| b.checked_add(header_len))
        .ok_or_else(|| Error::InvalidArgument("sealed message too large".into()))?;
    out.reserve_exact(total);
    let start = out.len();
    fields.write(out).map_err(write_error)?;
    // Header auth tag: AES-GCM, IV of zeros, empty plaintext, AAD = the header body.
    let tag = {
        let header_body = out.get(start..).unwrap_or(&[]);
        keys.encryption_key
            .seal_in_place_detached(&HEADER_IV, header_body, &mut [])
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

/// Parses and validates the header at the start of `message` (which may continue with the
/// body). The result is *not yet authenticated*: use its encrypted data keys to obtain the data
/// key, then [`open`] authenticates it before anything else.
///
/// # Errors
/// [`Error::Format`] naming the field and byte offset.
pub fn parse_header(message: &[u8], limits: &OpenLimits) -> Result<MessageHeader, Error> {
    Ok(MessageHeader::parse(message, limits)?)
}

/// Derives the message keys and authenticates the header: commit key (constant time), header
/// tag over the header bytes as received, and the expected fragment identity if given.
pub(crate) fn authenticate_header(
    data_key: &DataKey,
    header: &MessageHeader,
    expected_identity: Option<&FragmentIdentity>,
    backend: AeadBackend,
) -> Result<MessageKeys, Error> {
    let keys = derive_message_keys(backend, data_key, header.suite_id(), header.message_id());
    if !keys.commit_key.ct_eq(header.commit_key()) {
        return Err(Error::Authentication(OpenError));
    }
    keys.encryption_key.open_in_place_detached(
        &HEADER_IV,
        header.header_body_bytes(),
        &mut [],
        header.auth_tag(),
    )?;
    if let Some(identity) = expected_identity {
        identity.verify(data_key, header.message_id())?;
    }
    Ok(keys)
}

/// The body of `message`, after checking that `header` was parsed from it.
fn body_of<'m>(header: &MessageHeader, message: &'m [u8]) -> Result<&'m [u8], Error> {
    match message.split_at_checked(header.header_len()) {
        Some((h, body)) if h == header.raw_bytes() => Ok(body),
        _ => Err(Error::InvalidArgument(
            "the header was not parsed from this message".into(),
        )),
    }
}

/// Decrypts one frame's ciphertext appended to `out`; on failure the appended bytes are zeroed
/// and removed.
fn open_frame_into(
    out: &mut Vec<u8>,
    key: &Aes256GcmKey,
    aad: &mut BodyAad,
    frame: &FrameRef<'_>,
) -> Result<(), Error> {
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

/// Opens `message` (whose header is `header`, from [`parse_header`]) with `data_key`.
///
/// Authenticates the header first (commit key, header tag, and `expected_identity` if given),
/// then checks and decrypts every frame. Nothing is returned unless the whole message
/// verifies; non-framed bodies are accepted.
///
/// # Errors
/// [`Error::Authentication`] (opaque) for a wrong key, a bad tag, a commit key mismatch or an
/// identity mismatch; [`Error::Format`] for a malformed body (sequence gap, wrong IV, missing
/// final frame, trailing bytes, ...); [`Error::InvalidArgument`] if `header` was not parsed from
/// `message`.
pub fn open(
    data_key: &DataKey,
    header: &MessageHeader,
    message: &[u8],
    expected_identity: Option<&FragmentIdentity>,
    backend: AeadBackend,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    open_into(
        data_key,
        header,
        message,
        expected_identity,
        backend,
        &mut out,
    )?;
    Ok(out)
}

/// [`open`], appending the plaintext to `out` (reserving space once), so that a caller can
/// reuse one buffer across messages. On error `out` is restored to its previous length and
/// the bytes appended meanwhile are zeroized.
///
/// # Errors
/// As [`open`].
pub fn open_into(
    data_key: &DataKey,
    header: &MessageHeader,
    message: &[u8],
    expected_identity: Option<&FragmentIdentity>,
    backend: AeadBackend,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let body = body_of(header, message)?;
    let keys = authenticate_header(data_key, header, expected_identity, backend)?;
    let key = &keys.encryption_key;
    let mut aad = BodyAad::new(header.message_id());
    let mut r = Reader::at(body, header.header_len());
    let start = out.len();
    // Plaintext is never longer than the body.
    out.reserve(body.len());
    let result = match header.content_type() {
        ContentType::NonFramed => read_non_framed(&mut r)
            .map_err(Error::from)
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
                // A regular frame's sequence number is never FF FF FF FF (that is the final
                // marker), so this cannot overflow.
                seq = seq.checked_add(1).ok_or(OpenError)?;
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

/// Where a framed body's frames are, validated without decrypting.
struct FrameIndex<'m> {
    frames: Vec<FrameRef<'m>>,
    plaintext_len: u64,
}

fn index_frames<'m>(header: &MessageHeader, body: &'m [u8]) -> Result<FrameIndex<'m>, Error> {
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
        seq = seq.checked_add(1).ok_or(OpenError)?;
    }
}

/// Opens only the plaintext bytes in `range` of `message`: the header is authenticated, the
/// frame structure of the whole body is checked without decrypting, and only the frames
/// overlapping `range` are decrypted and verified — plus the final frame, whose tag
/// authenticates the message's length (so a truncated message is detected even when the range
/// lies in its first frames).
///
/// # Errors
/// As [`open`]; [`Error::InvalidArgument`] when `range` is reversed or ends beyond the
/// plaintext.
pub fn open_range(
    data_key: &DataKey,
    header: &MessageHeader,
    message: &[u8],
    range: core::ops::Range<u64>,
    expected_identity: Option<&FragmentIdentity>,
    backend: AeadBackend,
) -> Result<Vec<u8>, Error> {
    if range.start > range.end {
        return Err(Error::InvalidArgument(format!(
            "reversed range {}..{}",
            range.start, range.end
        )));
    }
    let body = body_of(header, message)?;
    if header.content_type() == ContentType::NonFramed {
        let all = open(data_key, header, message, expected_identity, backend)?;
        return slice_range(&all, &range).map(<[u8]>::to_vec);
    }
    let keys = authenticate_header(data_key, header, expected_identity, backend)?;
    let index = index_frames(header, body)?;
    let key = &keys.encryption_key;
    let mut aad = BodyAad::new(header.message_id());
    // The final frame first: its tag authenticates the plaintext length the range is checked
    // against.
    let mut last_plain = Vec::with_capacity(header.frame_length() as usize);
    let (last, regular) = index
        .frames
        .split_last()
        .ok_or(Error::Authentication(OpenError))?;
    open_frame_into(&mut last_plain, key, &mut aad, last)?;
    if range.end > index.plaintext_len {
        last_plain.zeroize();
        return Err(Error::InvalidArgument(format!(
            "range {}..{} ends beyond the plaintext length {}",
            range.start, range.end, index.plaintext_len
        )));
    }
    let fl = u64::from(header.frame_length());
    let mut out = Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
    let mut scratch = Vec::with_capacity(header.frame_length() as usize);
    let append = |out: &mut Vec<u8>, plain: &[u8], frame_start: u64| -> Result<(), Error> {
        let frame_end = frame_start + plain.len() as u64;
        let lo = range.start.max(frame_start) - frame_start;
        let hi = range.end.min(frame_end) - frame_start;
        let part = plain
            .get(lo as usize..hi as usize)
            .ok_or(Error::Authentication(OpenError))?;
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
        Ok::<(), Error>(())
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

fn slice_range<'a>(all: &'a [u8], range: &core::ops::Range<u64>) -> Result<&'a [u8], Error> {
    let lo = usize::try_from(range.start).ok();
    let hi = usize::try_from(range.end).ok();
    match (lo, hi) {
        (Some(lo), Some(hi)) if hi <= all.len() => all.get(lo..hi).ok_or_else(|| {
            Error::InvalidArgument(format!("reversed range {}..{}", range.start, range.end))
        }),
        _ => Err(Error::InvalidArgument(format!(
            "range {}..{} ends beyond the plaintext length {}",
            range.start,
            range.end,
            all.len()
        ))),
    }
}

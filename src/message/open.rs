//! Opening: parse once into a [`ParsedMessage`], then authenticate and decrypt it.

use super::frame::read_frame;
use super::{checks::context_binds_stream, serialize_authenticate_only, with_header_aad};
use crate::crypto::aead::AeadBackend;
use crate::crypto::kdf::{derive_message_keys, MessageKeys};
use crate::crypto::legacy::{FrameKey, HeaderKeys, LegacyKey, OpeningKey};
use crate::crypto::verify::verify_message;
use crate::crypto::DataKey;
use crate::error::{AuthenticationError, OpenError};
use crate::format::body::{read_non_framed_block, BodyAad, BodyKind, FrameRef};
use crate::format::footer::{read_message_end, Footer};
use crate::format::header::HEADER_IV;
use crate::format::{
    CommitmentPolicy, ContentType, EncryptionContext, Field, MessageHeader, OpenLimits, Reader,
};
use crate::identity::IdentityCheck;
use zeroize::Zeroize;

/// How to open a parsed message, besides the data key.
#[derive(Clone, Copy, Debug)]
pub struct OpenParams<'a> {
    /// The identity check (explicit: expect this identity, or skip).
    pub identity: &'a IdentityCheck,
    /// The "required encryption context" pairs that are authenticated but not stored in the
    /// message (see [`SealParams::authenticate_only`](super::SealParams::authenticate_only)).
    pub supplied_context: Option<&'a EncryptionContext>,
    /// The AES-GCM implementation.
    pub backend: AeadBackend,
    /// Which suites may be opened (default
    /// [`CommitmentPolicy::RequireEncryptRequireDecrypt`]: only the key-committing ones). A
    /// message in a suite the policy refuses fails with [`OpenError::CommitmentPolicy`] before
    /// any key is used.
    pub commitment_policy: CommitmentPolicy,
}

impl<'a> OpenParams<'a> {
    /// With `identity`, nothing supplied and the default backend.
    pub fn new(identity: &'a IdentityCheck) -> Self {
        Self {
            identity,
            supplied_context: None,
            backend: AeadBackend::default(),
            commitment_policy: CommitmentPolicy::default(),
        }
    }

    /// Sets [`Self::commitment_policy`].
    pub fn with_commitment_policy(mut self, policy: CommitmentPolicy) -> Self {
        self.commitment_policy = policy;
        self
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
/// [`OpenError::Format`] naming the field and byte offset; a non-committing suite when
/// `limits` does not allow them ([`OpenLimits::allow_non_committing`]) is
/// [`FormatErrorKind::NonCommittingSuite`](crate::format::FormatErrorKind::NonCommittingSuite)
/// (an [`Engine`](crate::engine::Engine), which parses with its commitment policy, reports it as
/// [`OpenError::CommitmentPolicy`]).
pub fn parse<'m>(message: &'m [u8], limits: &OpenLimits) -> Result<ParsedMessage<'m>, OpenError> {
    let header = MessageHeader::parse(message, limits)?;
    Ok(ParsedMessage { header, message })
}

/// The commitment policy's check of `header`, before any key is used.
pub(crate) fn check_policy(
    header: &MessageHeader,
    policy: CommitmentPolicy,
) -> Result<(), OpenError> {
    let suite = header.suite();
    if policy.allows_decrypt(suite) {
        Ok(())
    } else {
        Err(OpenError::CommitmentPolicy { suite })
    }
}

/// Derives the message keys and authenticates a format version 2 header: commit key
/// (constant time), header tag over the header bytes as received followed by the supplied
/// context, and the expected fragment identity per `params.identity`. A format version 1
/// header fails here (see [`authenticate`]).
pub(crate) fn authenticate_header(
    data_key: &DataKey,
    header: &MessageHeader,
    params: &OpenParams<'_>,
) -> Result<MessageKeys, OpenError> {
    check_policy(header, params.commitment_policy)?;
    if header.header_iv().is_some() {
        return Err(AuthenticationError.into());
    }
    let extra = serialize_authenticate_only(params.supplied_context).ok_or(AuthenticationError)?;
    let keys = derive_message_keys(
        params.backend,
        data_key,
        header.suite_id(),
        header.message_id(),
    );
    if !keys.commit_key.ct_eq(header.commit_key()) {
        return Err(OpenError::Authentication(AuthenticationError));
    }
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

/// Checks the commitment policy, derives the keys and authenticates the header, of either
/// format version. Version 2: as [`authenticate_header`]. Version 1: the suite's KDF over the
/// data key (of the suite's length) and the 16-byte message id, and the header tag with the
/// header's own IV; no commit key exists, and an expected identity never verifies (fragseal
/// never writes format version 1).
pub(crate) fn authenticate<K: OpeningKey + ?Sized>(
    data_key: &K,
    header: &MessageHeader,
    params: &OpenParams<'_>,
) -> Result<HeaderKeys, OpenError> {
    check_policy(header, params.commitment_policy)?;
    let extra = serialize_authenticate_only(params.supplied_context).ok_or(AuthenticationError)?;
    if let Some(iv) = header.header_iv() {
        let key = LegacyKey::derive(
            params.backend,
            header.suite(),
            data_key.key_bytes(),
            header.message_id_bytes(),
        )?;
        with_header_aad(header.header_body_bytes(), &extra, |aad| {
            key.open_in_place_detached(iv, aad, &mut [], header.auth_tag())
        })?;
        if let IdentityCheck::Expect(_) = params.identity {
            return Err(AuthenticationError.into());
        }
        return Ok(HeaderKeys::Legacy(key));
    }
    let owned;
    let data_key = match data_key.as_data_key() {
        Some(k) => k,
        None => {
            owned = DataKey::from_slice(data_key.key_bytes()).ok_or(AuthenticationError)?;
            &owned
        }
    };
    super::authenticate_header(data_key, header, params).map(HeaderKeys::Committed)
}

/// Verifies a signed message's footer: `footer` must be present exactly when the header's
/// suite is signed, and its signature must verify over the message's bytes before it
/// (header and body as received) with the header's public key, on `params.backend`.
fn verify_footer(
    header: &MessageHeader,
    message: &[u8],
    footer: Option<Footer<'_>>,
    params: &OpenParams<'_>,
) -> Result<(), OpenError> {
    match (header.signer_public_key(), footer) {
        (None, None) => Ok(()),
        (Some(key), Some(footer)) => {
            let signed = message.get(..footer.offset).ok_or(AuthenticationError)?;
            Ok(verify_message(
                params.backend,
                key,
                signed,
                footer.signature,
            )?)
        }
        _ => Err(AuthenticationError.into()),
    }
}

/// Decrypts one frame's ciphertext appended to `out`; on failure the appended bytes are zeroed
/// and removed.
fn open_frame_into<K: FrameKey + ?Sized>(
    out: &mut Vec<u8>,
    key: &K,
    aad: &mut BodyAad,
    frame: &FrameRef<'_>,
) -> Result<(), OpenError> {
    Ok(key.open_append(
        frame.iv,
        aad.get(frame.kind, frame.seq, frame.content_len()),
        frame.ciphertext,
        frame.tag,
        out,
    )?)
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

    /// The message body: the bytes after the header (its frames).
    pub fn body_bytes(&self) -> &'m [u8] {
        self.message.get(self.header.header_len()..).unwrap_or(&[])
    }

    /// Opens the message with `data_key` (a [`DataKey`], or
    /// [`SecretBytes`](crate::crypto::SecretBytes) of the suite's data key length: the AES-128
    /// and AES-192 suites of format version 1 have 16- and 24-byte data keys).
    ///
    /// Checks the commitment policy of `params` first, then authenticates the header (commit
    /// key, header tag with the supplied context, and the identity per `params.identity`),
    /// then checks and decrypts every frame, then (signed suites) verifies the footer's
    /// signature over header and body. Nothing is returned
    /// unless the whole message verifies; non-framed bodies are accepted.
    ///
    /// # Errors
    /// [`OpenError::Authentication`] (opaque) for a wrong key, a bad tag, a commit key
    /// mismatch, a missing or wrong supplied context, an identity mismatch or a signature
    /// that does not verify; [`OpenError::Format`] for a malformed body (sequence gap, wrong
    /// IV, missing final frame, truncated footer, trailing bytes, ...);
    /// [`OpenError::CommitmentPolicy`] for a non-committing suite the policy refuses.
    pub fn open<K: OpeningKey + ?Sized>(
        &self,
        data_key: &K,
        params: &OpenParams<'_>,
    ) -> Result<Vec<u8>, OpenError> {
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
    pub fn open_into<K: OpeningKey + ?Sized>(
        &self,
        data_key: &K,
        params: &OpenParams<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), OpenError> {
        let header = &self.header;
        let body = self.body_bytes();
        let keys = authenticate(data_key, header, params)?;
        let key = &keys;
        let mut aad = BodyAad::with_message_id(header.message_id_bytes());
        let mut r = Reader::at(body, header.header_len());
        let start = out.len();
        // Plaintext is never longer than the body.
        out.reserve(body.len());
        let message = self.message;
        let result = match header.content_type() {
            ContentType::NonFramed => (|| {
                let frame = read_non_framed_block(&mut r)?;
                open_frame_into(out, key, &mut aad, &frame)?;
                let footer = read_message_end(&mut r, header.suite(), Field::NonFramedBody)?;
                verify_footer(header, message, footer, params)
            })(),
            ContentType::Framed => (|| {
                let mut seq: u32 = 1;
                loop {
                    let frame = read_frame(&mut r, header.frame_length(), seq)?;
                    open_frame_into(out, key, &mut aad, &frame)?;
                    if frame.kind == BodyKind::Final {
                        let footer = read_message_end(&mut r, header.suite(), Field::Frame)?;
                        return verify_footer(header, message, footer, params);
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
    footer: Option<Footer<'m>>,
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
            let footer = read_message_end(&mut r, header.suite(), Field::Frame)?;
            return Ok(FrameIndex {
                frames,
                plaintext_len,
                footer,
            });
        }
        seq = seq.checked_add(1).ok_or(AuthenticationError)?;
    }
}

/// The frame structure of a message body, read without any key (see
/// [`ParsedMessage::frame_summary`]). Nothing in it is authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameSummary {
    /// Framed or non-framed (a non-framed body counts as one frame).
    pub content_type: ContentType,
    /// Number of frames, the final frame included.
    pub frames: u64,
    /// Total content length of all frames: the plaintext length, if the message verifies.
    pub plaintext_len: u64,
    /// Content length of the final frame (of the whole body when non-framed).
    pub final_frame_len: u64,
}

impl ParsedMessage<'_> {
    /// Walks the body's frame structure without any key, with the same checks as opening
    /// (sequence numbers, IVs, lengths, the final frame, no trailing bytes), and summarizes it.
    /// No tag is verified: this says how the message is laid out, not that it is genuine.
    ///
    /// # Errors
    /// [`OpenError::Format`] for a malformed body.
    pub fn frame_summary(&self) -> Result<FrameSummary, OpenError> {
        let header = &self.header;
        let body = self.body_bytes();
        match header.content_type() {
            ContentType::NonFramed => {
                let mut r = Reader::at(body, header.header_len());
                let frame = read_non_framed_block(&mut r)?;
                read_message_end(&mut r, header.suite(), Field::NonFramedBody)?;
                Ok(FrameSummary {
                    content_type: ContentType::NonFramed,
                    frames: 1,
                    plaintext_len: frame.content_len(),
                    final_frame_len: frame.content_len(),
                })
            }
            ContentType::Framed => {
                let index = index_frames(header, body)?;
                let final_frame_len = index.frames.last().map_or(0, FrameRef::content_len);
                Ok(FrameSummary {
                    content_type: ContentType::Framed,
                    frames: index.frames.len() as u64,
                    plaintext_len: index.plaintext_len,
                    final_frame_len,
                })
            }
        }
    }

    /// Opens only the plaintext bytes in `range`: the header is authenticated, the frame
    /// structure of the whole body is checked without decrypting, and only the frames
    /// overlapping `range` are decrypted and verified — plus the final frame, whose tag
    /// authenticates the message's length (so a truncated message is detected even when the
    /// range lies in its first frames). A signed message's signature is verified over the
    /// whole message first.
    ///
    /// # Errors
    /// As [`Self::open`]; [`OpenError::RangeReversed`] or [`OpenError::RangeBeyondEnd`] when
    /// `range` is reversed or ends beyond the plaintext.
    pub fn open_range<K: OpeningKey + ?Sized>(
        &self,
        data_key: &K,
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
        let keys = authenticate(data_key, header, params)?;
        let index = index_frames(header, body)?;
        verify_footer(header, self.message, index.footer, params)?;
        let key = &keys;
        let mut aad = BodyAad::with_message_id(header.message_id_bytes());
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use crate::format::EncryptedDataKey;
    use crate::message::{seal, SealParams};

    fn sealed(plaintext_len: usize, frame_length: u32) -> Vec<u8> {
        let ec = EncryptionContext::new();
        let edks = [EncryptedDataKey {
            provider_id: "p".into(),
            provider_info: b"k".to_vec(),
            ciphertext: vec![1],
        }];
        let mut params = SealParams::new(&ec, &edks);
        params.frame_length = frame_length;
        seal(&DataKey::generate(), &params, &vec![7; plaintext_len]).unwrap()
    }

    #[test]
    fn frame_summary_counts_frames_without_a_key() {
        for (len, fl, frames, last) in [(10, 4, 3, 2), (8, 4, 2, 4), (0, 4, 1, 0), (3, 64, 1, 3)] {
            let m = sealed(len, fl);
            let s = parse(&m, &OpenLimits::default())
                .unwrap()
                .frame_summary()
                .unwrap();
            assert_eq!(
                s,
                FrameSummary {
                    content_type: ContentType::Framed,
                    frames,
                    plaintext_len: len as u64,
                    final_frame_len: last,
                },
                "{len} bytes in frames of {fl}"
            );
        }
    }

    #[test]
    fn frame_summary_refuses_a_truncated_or_extended_body() {
        let m = sealed(10, 4);
        let cut = &m[..m.len() - 1];
        let p = parse(cut, &OpenLimits::default()).unwrap();
        assert!(matches!(p.frame_summary(), Err(OpenError::Format(_))));
        let mut long = m.clone();
        long.push(0);
        let p = parse(&long, &OpenLimits::default()).unwrap();
        assert!(matches!(p.frame_summary(), Err(OpenError::Format(_))));
    }
}

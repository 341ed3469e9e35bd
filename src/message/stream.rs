//! Streaming open: read a sealed message from any [`std::io::Read`] and yield its plaintext
//! frame by frame.
//!
//! ```no_run
//! # fn demo(data_key: &fragseal::crypto::DataKey, file: std::fs::File) -> Result<(), fragseal::Error> {
//! use fragseal::identity::IdentityCheck;
//! use fragseal::message::{OpenLimits, OpenParams, SealedStream};
//! let sealed = SealedStream::new(file, &OpenLimits::default())?; // reads only the header
//! // ... use sealed.header().encrypted_data_keys() to obtain the data key ...
//! let skip = IdentityCheck::Skip;
//! let mut plaintext = sealed.open(data_key, &OpenParams::new(&skip))?; // authenticates it
//! std::io::copy(&mut plaintext, &mut std::io::sink())?;
//! # Ok(()) }
//! ```
//!
//! The header is authenticated before any frame is read. Each frame's plaintext is released
//! only after its tag verifies; the final frame's only after the end of the input has been
//! reached without trailing bytes. To check that, the reader asks the source for one more byte
//! after the final frame (it never drains a tail): the final frame is released once the source
//! reports end of input, so on a socket that stays open without sending more, that read
//! blocks until the peer closes. Trailing bytes fail with
//! [`FormatErrorKind::TrailingBytes`] whose `count` is only what was seen before the reader
//! stopped looking (1, or the bytes already read ahead with the header), a lower bound, unlike
//! the one-shot [`super::ParsedMessage::open`] which reports the exact count. Reaching the end of the input
//! before the final frame is an error. Errors surface as [`std::io::Error`] of kind `InvalidData` wrapping a
//! [`crate::OpenError`] (use `get_ref()` and `downcast_ref`); after an error the stream keeps
//! failing.
//!
//! Signed suite `0x0578`: the header and every frame are hashed as they are read (SHA-384),
//! and the footer's ECDSA signature is verified after the final frame, always with the
//! RustCrypto `p384` verifier (the only one that takes a digest computed incrementally),
//! whatever the provider. **What is released before the signature verifies:** every regular
//! frame, as soon as its AES-GCM tag verifies. Those frames are authentic under the data key,
//! but not yet proven to come from the holder of the signing key: anyone who can obtain the
//! data key (any principal allowed `kms:Decrypt`) can forge regular frames that this reader
//! releases before failing at the footer. The final frame's plaintext is held back until the
//! signature verifies (and the input ends), so a reader that treats the data as genuine only
//! once `read` returns `Ok(0)` never acts on a forgery; one that acts on each frame as it
//! comes must not rely on the signature for those frames. This is what the ESDK
//! specification asks (client-apis/decrypt.md): regular frames' plaintext "SHOULD be released
//! as soon as ... tag verification, succeeds", plaintext of a final frame or of unframed data
//! "MUST NOT be released until signature verification successfully completes", and "any
//! released plaintext MUST NOT be considered signed data until this operation finishes
//! successfully": on failure, discard what was released and roll back what was done with it.
//! [`super::ParsedMessage::open`] releases nothing before the signature verifies.

use super::frame::{is_final, read_prefix, FINAL_PREFIX_LEN, REGULAR_PREFIX_LEN};
use super::open::authenticate;
use super::OpenParams;
use crate::crypto::aead::{IV_LEN, TAG_LEN};
use crate::crypto::legacy::{FrameKey, HeaderKeys, OpeningKey};
use crate::crypto::verify::{max_signature_len, StreamVerifier};
use crate::error::{AuthenticationError, OpenError};
use crate::format::body::{frame_iv, BodyAad, BodyKind, MAX_NON_FRAMED_LEN};
use crate::format::error::FormatErrorKind;
use crate::format::{ContentType, Field, FormatError, MessageHeader, OpenLimits, Reader};
use std::io::{self, Read};
use zeroize::Zeroize;

/// Bytes requested from the source at a time while looking for the end of the header.
const HEADER_CHUNK: usize = 4096;

/// A sealed message whose header has been read and parsed, but not yet authenticated.
#[derive(Debug)]
pub struct SealedStream<R> {
    source: R,
    header: MessageHeader,
    /// Bytes read past the header.
    pending: Vec<u8>,
    max_frame_length: u32,
}

impl<R: Read> SealedStream<R> {
    /// Reads and parses the header from `source`, reading no further than needed (a few KiB
    /// past the header at most, kept for the body).
    ///
    /// # Errors
    /// [`OpenError::Format`] for a malformed or truncated header; [`OpenError::Io`] when reading
    /// fails.
    pub fn new(mut source: R, limits: &OpenLimits) -> Result<Self, OpenError> {
        let mut buf: Vec<u8> = Vec::new();
        loop {
            match MessageHeader::parse(&buf, limits) {
                Ok(header) => {
                    let pending = buf.split_off(header.header_len().min(buf.len()));
                    return Ok(Self {
                        source,
                        header,
                        pending,
                        max_frame_length: limits.max_frame_length,
                    });
                }
                Err(e) => {
                    let FormatErrorKind::Truncated { needed } = e.kind else {
                        return Err(e.into());
                    };
                    let want = needed.max(HEADER_CHUNK);
                    let got = fill(&mut source, &mut buf, want)?;
                    if got < needed {
                        return Err(e.into());
                    }
                }
            }
        }
    }

    /// The parsed header (not yet authenticated): its encrypted data keys say which key to get.
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// Checks the commitment policy of `params`, authenticates the header with `data_key`
    /// (a [`DataKey`](crate::crypto::DataKey), or [`SecretBytes`](crate::crypto::SecretBytes) of the suite's data key
    /// length; with the supplied context and the identity check of `params`) and returns a
    /// reader of the plaintext.
    ///
    /// # Errors
    /// [`OpenError::Authentication`] (opaque) when the key, header or identity does not verify;
    /// [`OpenError::CommitmentPolicy`] for a non-committing suite the policy refuses.
    pub fn open<K: OpeningKey + ?Sized>(
        self,
        data_key: &K,
        params: &OpenParams<'_>,
    ) -> Result<OpenStream<R>, OpenError> {
        let keys = authenticate(data_key, &self.header, params)?;
        let offset = self.header.header_len();
        let verifier = self.header.signer_public_key().map(|key| {
            let mut v = StreamVerifier::new(key.clone());
            v.update(self.header.raw_bytes());
            v
        });
        let max_signature = max_signature_len(self.header.suite().signature());
        Ok(OpenStream {
            verifier,
            max_signature,
            source: self.source,
            pending: self.pending,
            pending_pos: 0,
            key: keys,
            aad: BodyAad::with_message_id(self.header.message_id_bytes()),
            content_type: self.header.content_type(),
            frame_length: self.header.frame_length(),
            max_frame_length: self.max_frame_length,
            seq: 1,
            frame: Vec::new(),
            frame_pos: 0,
            offset,
            state: State::Frames,
        })
    }
}

/// Appends up to `want` bytes from `source` to `buf`; returns how many (fewer only at EOF).
fn fill<R: Read>(source: &mut R, buf: &mut Vec<u8>, want: usize) -> Result<usize, OpenError> {
    let mut got = 0;
    let start = buf.len();
    buf.resize(start + want, 0);
    while got < want {
        let dst = buf.get_mut(start + got..).unwrap_or(&mut []);
        match source.read(dst) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(start + got);
                return Err(e.into());
            }
        }
    }
    buf.truncate(start + got);
    Ok(got)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Frames,
    Done,
    Failed,
}

/// The plaintext of an authenticated sealed message, frame by frame (see the module docs).
pub struct OpenStream<R> {
    /// Signed suites: the digest of everything read so far (until the footer).
    verifier: Option<StreamVerifier>,
    /// Longest footer signature of the suite.
    max_signature: usize,
    source: R,
    pending: Vec<u8>,
    pending_pos: usize,
    key: HeaderKeys,
    aad: BodyAad,
    content_type: ContentType,
    frame_length: u32,
    max_frame_length: u32,
    seq: u32,
    /// The current frame: ciphertext, then (after verification) plaintext.
    frame: Vec<u8>,
    /// Plaintext bytes of `frame` already handed out.
    frame_pos: usize,
    /// Bytes of the message consumed so far.
    offset: usize,
    state: State,
}

impl<R> core::fmt::Debug for OpenStream<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpenStream")
            .field("offset", &self.offset)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl<R: Read> OpenStream<R> {
    /// Reads exactly `dst.len()` bytes (pending bytes first); `Ok(false)` at a clean EOF before
    /// the first byte is impossible to distinguish here, so a short read is `Truncated`.
    fn read_exact_field(&mut self, dst: &mut [u8], field: Field) -> Result<(), OpenError> {
        let mut got = 0;
        if let Some(p) = self.pending.get(self.pending_pos..) {
            let n = p.len().min(dst.len());
            if let (Some(d), Some(s)) = (dst.get_mut(..n), p.get(..n)) {
                d.copy_from_slice(s);
            }
            self.pending_pos += n;
            got = n;
        }
        while got < dst.len() {
            let rest = dst.get_mut(got..).unwrap_or(&mut []);
            match self.source.read(rest) {
                Ok(0) => {
                    return Err(FormatError::new(
                        self.offset + got,
                        field,
                        FormatErrorKind::Truncated {
                            needed: dst.len() - got,
                        },
                    )
                    .into())
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.offset += dst.len();
        if let Some(v) = &mut self.verifier {
            v.update(dst);
        }
        Ok(())
    }

    /// Signed suites: reads the footer (not hashed) and verifies its signature over
    /// everything read before it. Nothing for an unsigned suite.
    fn verify_footer(&mut self) -> Result<(), OpenError> {
        let Some(verifier) = self.verifier.take() else {
            return Ok(());
        };
        let at = self.offset;
        let mut len = [0u8; 2];
        self.read_exact_field(&mut len, Field::Footer)?;
        let len = usize::from(u16::from_be_bytes(len));
        Reader::check_len(at, Field::Footer, len as u64, self.max_signature as u64)?;
        let mut signature = vec![0u8; len];
        self.read_exact_field(&mut signature, Field::Footer)?;
        Ok(verifier.verify(&signature)?)
    }

    /// Reads `len` content bytes into `self.frame` (reusing its allocation).
    fn read_content(&mut self, len: usize, field: Field) -> Result<(), OpenError> {
        let mut frame = core::mem::take(&mut self.frame);
        frame.clear();
        frame.resize(len, 0);
        let r = self.read_exact_field(&mut frame, field);
        self.frame = frame;
        r
    }

    /// Whether the input goes on after the message, looking no further than needed: the bytes
    /// already read ahead with the header if any are left, else one byte from the source (so a
    /// long tail, or an open socket that stays silent, is never drained). Returns how many
    /// trailing bytes were seen — a lower bound of the real count, `0` only at end of input.
    fn trailing_bytes(&mut self) -> Result<usize, OpenError> {
        let pending = self.pending.len().saturating_sub(self.pending_pos);
        self.pending_pos = self.pending.len();
        if pending > 0 {
            return Ok(pending);
        }
        let mut probe = [0u8; 1];
        loop {
            match self.source.read(&mut probe) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads, checks and decrypts the next frame into `self.frame`.
    fn next_frame(&mut self) -> Result<(), OpenError> {
        let (kind, field) = match self.content_type {
            ContentType::NonFramed => (BodyKind::SingleBlock, Field::NonFramedBody),
            ContentType::Framed => (BodyKind::Regular, Field::Frame),
        };
        let frame_at = self.offset;
        let (kind, seq, len) = if kind == BodyKind::SingleBlock {
            let mut iv = [0u8; IV_LEN];
            self.read_exact_field(&mut iv, field)?;
            if iv != frame_iv(1) {
                return Err(FormatError::new(frame_at, field, FormatErrorKind::InvalidIv).into());
            }
            let mut l = [0u8; 8];
            let len_at = self.offset;
            self.read_exact_field(&mut l, field)?;
            let max = MAX_NON_FRAMED_LEN.min(u64::from(self.max_frame_length));
            let len = Reader::check_len(len_at, field, u64::from_be_bytes(l), max)?;
            (kind, 1, len)
        } else {
            // The prefix is read as it arrives (its length depends on its first four bytes),
            // then parsed by the same parser as the one-shot open.
            let mut prefix = [0u8; FINAL_PREFIX_LEN];
            let (first, rest) = prefix.split_at_mut(4);
            self.read_exact_field(first, field)?;
            let first: [u8; 4] = first.try_into().map_err(|_| AuthenticationError)?;
            let n = if is_final(first) {
                FINAL_PREFIX_LEN
            } else {
                REGULAR_PREFIX_LEN
            };
            if let Some(rest) = rest.get_mut(..n - 4) {
                self.read_exact_field(rest, field)?;
            }
            let mut r = Reader::at(prefix.get(..n).unwrap_or(&[]), frame_at);
            let p = read_prefix(&mut r, self.frame_length, self.seq)?;
            (p.kind, p.seq, p.content_len)
        };
        self.read_content(len, field)?;
        let mut tag = [0u8; TAG_LEN];
        self.read_exact_field(&mut tag, field)?;
        self.key.open_detached(
            &frame_iv(seq),
            self.aad.get(kind, seq, len as u64),
            &mut self.frame,
            &tag,
        )?;
        self.frame_pos = 0;
        if kind == BodyKind::Regular {
            // A regular frame's sequence number is below FF FF FF FF.
            self.seq = seq.saturating_add(1);
        } else {
            // Release the last plaintext only once the signature (signed suites) verifies and
            // the input is known to end here.
            if let Err(e) = self.verify_footer() {
                self.frame.zeroize();
                return Err(e);
            }
            let at = self.offset;
            let count = self.trailing_bytes()?;
            if count > 0 {
                self.frame.zeroize();
                return Err(
                    FormatError::new(at, field, FormatErrorKind::TrailingBytes { count }).into(),
                );
            }
            self.state = State::Done;
        }
        Ok(())
    }
}

impl<R: Read> Read for OpenStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(avail) = self.frame.get(self.frame_pos..) {
                if !avail.is_empty() {
                    let n = avail.len().min(buf.len());
                    if let (Some(d), Some(s)) = (buf.get_mut(..n), avail.get(..n)) {
                        d.copy_from_slice(s);
                    }
                    self.frame_pos += n;
                    return Ok(n);
                }
            }
            match self.state {
                State::Done => return Ok(0),
                State::Failed => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "sealed message stream already failed",
                    ))
                }
                State::Frames => {}
            }
            if let Err(e) = self.next_frame() {
                self.state = State::Failed;
                self.frame.zeroize();
                self.frame_pos = 0;
                return Err(match e {
                    OpenError::Io(io) => io,
                    other => io::Error::new(io::ErrorKind::InvalidData, other),
                });
            }
        }
    }
}

impl<R> Drop for OpenStream<R> {
    fn drop(&mut self) {
        self.frame.zeroize();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::crypto::DataKey;
    use crate::format::{EncryptedDataKey, EncryptionContext};
    use crate::message::{seal, SealParams};
    use std::io::Cursor;

    fn sealed(dk: &DataKey, frame_length: u32, plaintext: &[u8]) -> Vec<u8> {
        let ec = EncryptionContext::new();
        let edks = vec![EncryptedDataKey {
            provider_id: "test".into(),
            provider_info: b"info".to_vec(),
            ciphertext: vec![1, 2, 3],
        }];
        let params = SealParams {
            frame_length,
            ..SealParams::new(&ec, &edks)
        };
        seal(dk, &params, plaintext).unwrap()
    }

    /// Opens `source` as a stream; returns the plaintext released and the error, if any.
    fn drain<R: Read>(dk: &DataKey, source: R) -> (Vec<u8>, Option<io::Error>) {
        let s = SealedStream::new(source, &OpenLimits::default()).unwrap();
        let mut r = s
            .open(
                dk,
                &OpenParams::new(&crate::identity::IdentityCheck::Skip)
                    .with_backend(crate::crypto::AeadBackend::Ring),
            )
            .unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    fn trailing_count(e: &io::Error) -> usize {
        let inner = e.get_ref().unwrap().downcast_ref::<OpenError>().unwrap();
        match inner {
            OpenError::Format(f) => match f.kind {
                FormatErrorKind::TrailingBytes { count } => count,
                ref other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    /// After the final frame the reader looks at one byte past the message, never more: a
    /// large (or endless) tail is not drained.
    #[test]
    fn trailing_bytes_are_detected_by_reading_one_byte() {
        let dk = DataKey::from_bytes([9; 32]);
        // Long enough that the header read-ahead does not reach past the message.
        let plaintext = vec![7u8; 3 * 4096 + 100];
        let m = sealed(&dk, 4096, &plaintext);
        let mut input = m.clone();
        input.resize(m.len() + (1 << 20), 0xAB);
        let mut cursor = Cursor::new(&input[..]);
        let (released, err) = drain(&dk, &mut cursor);
        let err = err.unwrap();
        assert_eq!(trailing_count(&err), 1);
        // Regular frames released, the final frame's plaintext not.
        assert_eq!(released, plaintext[..3 * 4096]);
        assert_eq!(cursor.position(), m.len() as u64 + 1);
    }

    #[test]
    fn an_endless_tail_does_not_hang() {
        let dk = DataKey::from_bytes([9; 32]);
        let plaintext = vec![1u8; 10_000];
        let m = sealed(&dk, 4096, &plaintext);
        let (released, err) = drain(&dk, Cursor::new(m).chain(io::repeat(0)));
        assert_eq!(trailing_count(&err.unwrap()), 1);
        assert_eq!(released, plaintext[..2 * 4096]);
    }

    /// Trailing bytes already read ahead with the header are counted without reading more.
    #[test]
    fn trailing_bytes_in_the_read_ahead_are_rejected() {
        let dk = DataKey::from_bytes([9; 32]);
        let m = sealed(&dk, 64, b"short");
        let mut input = m.clone();
        input.extend_from_slice(&[0; 5]);
        let (released, err) = drain(&dk, &input[..]);
        assert!(released.is_empty());
        assert!(trailing_count(&err.unwrap()) >= 1);
    }

    #[test]
    fn no_trailing_bytes_releases_everything() {
        let dk = DataKey::from_bytes([9; 32]);
        let plaintext = vec![3u8; 10_000];
        let m = sealed(&dk, 4096, &plaintext);
        let mut cursor = Cursor::new(&m[..]);
        let (released, err) = drain(&dk, &mut cursor);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(released, plaintext);
        assert_eq!(cursor.position(), m.len() as u64);
    }
}

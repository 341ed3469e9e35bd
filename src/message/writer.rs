//! Sealing frame by frame as the plaintext arrives: the bytes of [`seal_impl`](super::seal_impl)
//! for the same data key, parameters, message id and plaintext, without the plaintext ever
//! being whole in a buffer of its own.
//!
//! The header is written first (message id, context and encrypted data keys are known at the
//! start). Plaintext goes straight into the output, after a reserved regular-frame prefix; a
//! full frame is encrypted in place (while it is still in cache) and its tag appended as soon
//! as more plaintext arrives. The last full frame is held until then: when the plaintext ends
//! on a frame boundary it becomes the *final* frame ([`FrameLayout`]), whose prefix is 8 bytes
//! longer (end marker and content length), so [`FrameWriter::finish`] moves its content up by 8
//! bytes before encrypting it. An empty plaintext is one empty final frame.
//!
//! The writer does not own the output: every call takes the same `out` (the engine keeps it in
//! a pooled buffer). The output never reallocates on its own: [`grow`] copies it into a larger
//! buffer and zeroizes the old one, spare capacity included, so that no plaintext is freed
//! unwiped. After any error the writer is closed (fail closed): later calls return
//! [`SealError::WriterClosed`]; its owner must then [`FrameWriter::wipe`] the output.

use super::{write_footer, write_header, SealParams};
use crate::crypto::aead::{Aes256GcmKey, IV_LEN, TAG_LEN};
use crate::crypto::kdf::MESSAGE_ID_LEN;
use crate::crypto::sign::SigningKey;
use crate::crypto::DataKey;
use crate::error::SealError;
use crate::format::body::{self, frame_iv, BodyAad, BodyKind, FrameLayout};
use std::io::{self, Read};
use zeroize::Zeroize;

/// The regular-frame prefix reserved before each frame's content: sequence number and IV.
const REGULAR_PREFIX: usize = 4 + IV_LEN;
/// What the final-frame prefix adds to it: the end marker and the content length.
const FINAL_EXTRA: usize = 8;
/// Spare room kept beyond a slot's content, so that appending a tag, the next prefix or the
/// final frame's 8 bytes, and `read_to_end`'s probe reads never reallocate the output.
pub(crate) const MARGIN: usize = 256;

/// Seals one message frame by frame; see the [module documentation](self).
pub(crate) struct FrameWriter {
    key: Aes256GcmKey,
    aad: BodyAad,
    frame_length: u32,
    signed: bool,
    /// Offset of the message in `out`.
    start: usize,
    /// Header, header tag and footer length: the message minus its body.
    fixed: usize,
    /// Offset of the open frame's prefix; everything from here on is plaintext.
    frame_at: usize,
    /// Plaintext bytes in the open frame (up to the frame length).
    filled: usize,
    /// The open frame's sequence number.
    seq: u32,
    /// Plaintext bytes written so far.
    total: u64,
    closed: bool,
}

impl core::fmt::Debug for FrameWriter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameWriter")
            .field("frame_length", &self.frame_length)
            .field("signed", &self.signed)
            .field("total", &self.total)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// Makes room for `additional` more bytes in `out` without ever freeing plaintext unwiped:
/// a larger buffer (at least twice the capacity) gets a copy and the old one is zeroized,
/// spare capacity included.
pub(crate) fn grow(out: &mut Vec<u8>, additional: usize) {
    if out.capacity() - out.len() >= additional {
        return;
    }
    let need = out.len().saturating_add(additional);
    let mut bigger = Vec::with_capacity(need.max(out.capacity().saturating_mul(2)));
    bigger.extend_from_slice(out);
    let mut old = core::mem::replace(out, bigger);
    old.zeroize();
}

fn too_many(plaintext_len: u64, frame_length: u32) -> SealError {
    SealError::TooManyFrames {
        plaintext_len,
        frame_length,
    }
}

impl FrameWriter {
    /// Checks `params` as [`seal_impl`](super::seal_impl) does, writes the header and its tag
    /// to `out` and opens the first frame. `signer` selects the signed suite; give the same
    /// one to [`Self::finish`]. The caller has applied
    /// [`check_seal_context`](super::check_seal_context).
    ///
    /// # Errors
    /// As [`seal_impl`](super::seal_impl) for an empty plaintext; `out` is then unchanged.
    pub(crate) fn start(
        data_key: &DataKey,
        signer: Option<&SigningKey>,
        params: &SealParams<'_>,
        message_id: &[u8; MESSAGE_ID_LEN],
        out: &mut Vec<u8>,
    ) -> Result<Self, SealError> {
        let layout = super::check_params(params, 0)?;
        let head = write_header(
            data_key,
            signer,
            params,
            message_id,
            layout.body_len(),
            out,
            |out, n| grow(out, n.saturating_add(MARGIN)),
        )?;
        let mut writer = Self {
            key: head.key,
            aad: BodyAad::new(message_id),
            frame_length: params.frame_length,
            signed: signer.is_some(),
            start: head.start,
            fixed: head.fixed,
            frame_at: 0,
            filled: 0,
            seq: 1,
            total: 0,
            closed: false,
        };
        writer.open_frame(out);
        Ok(writer)
    }

    /// [`Self::start`] with a fresh message id (bound to `params.identity`, if any), after
    /// [`check_seal_context`](super::check_seal_context), as [`seal_into`](super::seal_into)
    /// does.
    ///
    /// # Errors
    /// As [`seal_into`](super::seal_into) for an empty plaintext; `out` is then unchanged.
    pub(crate) fn new(
        data_key: &DataKey,
        signer: Option<&SigningKey>,
        params: &SealParams<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Self, SealError> {
        let message_id = super::checked_message_id(data_key, params)?;
        Self::start(data_key, signer, params, &message_id, out)
    }

    /// Closes the writer (its owner refused a write): later calls fail with
    /// [`SealError::WriterClosed`].
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Plaintext bytes written so far.
    pub(crate) fn len(&self) -> u64 {
        self.total
    }

    fn fl(&self) -> usize {
        self.frame_length as usize
    }

    /// Writes the open frame's regular prefix (rewritten at [`Self::finish`] if it is final).
    fn open_frame(&mut self, out: &mut Vec<u8>) {
        grow(out, REGULAR_PREFIX + MARGIN);
        self.frame_at = out.len();
        self.filled = 0;
        body::write_frame_prefix(out, BodyKind::Regular, self.seq, self.frame_length);
    }

    /// The limits [`seal_impl`](super::seal_impl) checks, for `add` more bytes: the frame
    /// count, then the message length.
    fn check(&self, add: u64) -> Result<(), SealError> {
        if self.closed {
            return Err(SealError::WriterClosed);
        }
        let fl = self.frame_length;
        let len = self.total.checked_add(add).ok_or(too_many(u64::MAX, fl))?;
        FrameLayout::new(len, fl)
            .ok_or(too_many(len, fl))?
            .body_len()
            .and_then(|b| b.checked_add(self.fixed))
            .ok_or(SealError::MessageTooLarge)
            .map(|_| ())
    }

    /// Encrypts the full open frame as a regular frame and opens the next one, if the open
    /// frame is full (called only when more plaintext is about to be written).
    fn seal_full_frame(&mut self, out: &mut Vec<u8>) {
        if self.filled < self.fl() {
            return;
        }
        let at = self.frame_at + REGULAR_PREFIX;
        let (seq, fl) = (self.seq, u64::from(self.frame_length));
        let aad = self.aad.get(BodyKind::Regular, seq, fl);
        let content = out.get_mut(at..).unwrap_or(&mut []);
        let tag = self
            .key
            .seal_in_place_detached(&frame_iv(seq), aad, content);
        out.extend_from_slice(&tag);
        // `check` keeps the frame count below 2^32 - 1.
        self.seq = seq.wrapping_add(1);
        self.open_frame(out);
    }

    /// Appends `data` to the message.
    ///
    /// # Errors
    /// [`SealError::TooManyFrames`] or [`SealError::MessageTooLarge`] when the message would
    /// pass the limits (nothing is written, but the writer is closed);
    /// [`SealError::WriterClosed`] after an earlier error.
    pub(crate) fn write(&mut self, out: &mut Vec<u8>, data: &[u8]) -> Result<(), SealError> {
        if let Err(e) = self.check(data.len() as u64) {
            self.closed = true;
            return Err(e);
        }
        let mut rest = data;
        while !rest.is_empty() {
            self.seal_full_frame(out);
            let k = (self.fl() - self.filled).min(rest.len());
            let (now, later) = rest.split_at(k);
            grow(out, k + MARGIN);
            out.extend_from_slice(now);
            self.filled += k;
            self.total += k as u64;
            rest = later;
        }
        Ok(())
    }

    /// Appends exactly `n` bytes read from `reader`, straight into each frame's slot in `out`
    /// (no staging buffer). Short reads are continued and `Interrupted` is retried.
    ///
    /// # Errors
    /// The reader's error, or `UnexpectedEof` when it ends before `n` bytes; a limit error of
    /// [`Self::write`] as an [`io::Error`] of kind `InvalidInput` wrapping the [`SealError`]
    /// (nothing read). Any error closes the writer.
    pub(crate) fn fill_from<R: Read + ?Sized>(
        &mut self,
        out: &mut Vec<u8>,
        reader: &mut R,
        n: u64,
    ) -> io::Result<()> {
        if let Err(e) = self.check(n) {
            self.closed = true;
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
        }
        let mut left = n;
        while left > 0 {
            self.seal_full_frame(out);
            let room = (self.fl() - self.filled) as u64;
            let k = room.min(left);
            // Within the frame length (a u32), so within usize.
            grow(out, k as usize + MARGIN);
            let got = match (&mut *reader).take(k).read_to_end(out) {
                Ok(got) => got,
                Err(e) => {
                    self.closed = true;
                    return Err(e);
                }
            };
            self.filled += got;
            self.total += got as u64;
            left -= got as u64;
            if (got as u64) < k {
                self.closed = true;
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the reader ended {left} bytes before the {n} asked for"),
                ));
            }
        }
        Ok(())
    }

    /// Seals the open frame as the final frame and, for the signed suite, appends the footer:
    /// `out[start..]` is then the whole message. The writer is closed afterwards; after an
    /// error, [`Self::wipe`] the output.
    ///
    /// # Errors
    /// [`SealError::WriterClosed`] after an earlier error; [`SealError::Signing`] when the
    /// signature fails; [`SealError::Internal`] when `signer` does not match [`Self::start`]'s.
    pub(crate) fn finish(
        &mut self,
        out: &mut Vec<u8>,
        signer: Option<&SigningKey>,
    ) -> Result<(), SealError> {
        if self.closed {
            return Err(SealError::WriterClosed);
        }
        self.closed = true;
        if signer.is_some() != self.signed {
            return Err(SealError::Internal(
                "frame writer finished with another suite",
            ));
        }
        let (at, filled, seq) = (self.frame_at, self.filled, self.seq);
        grow(out, FINAL_EXTRA + TAG_LEN + super::FOOTER_LEN + MARGIN);
        out.extend_from_slice(&[0; FINAL_EXTRA]);
        let content = at + REGULAR_PREFIX;
        out.copy_within(content..content + filled, content + FINAL_EXTRA);
        // Frame contents are at most the u32 frame length.
        let len = u32::try_from(filled).unwrap_or(u32::MAX);
        let mut prefix = Vec::with_capacity(REGULAR_PREFIX + FINAL_EXTRA);
        body::write_frame_prefix(&mut prefix, BodyKind::Final, seq, len);
        if let Some(dst) = out.get_mut(at..content + FINAL_EXTRA) {
            dst.copy_from_slice(&prefix);
        }
        let aad = self.aad.get(BodyKind::Final, seq, u64::from(len));
        let buf = out.get_mut(content + FINAL_EXTRA..).unwrap_or(&mut []);
        let tag = self.key.seal_in_place_detached(&frame_iv(seq), aad, buf);
        out.extend_from_slice(&tag);
        // Nothing left in the clear.
        self.frame_at = out.len();
        if let Some(signer) = signer {
            write_footer(signer, out, self.start)?;
        }
        Ok(())
    }

    /// Zeroizes the plaintext not yet encrypted (the open frame) and drops it from `out`, for
    /// a writer abandoned or failed. The header and sealed frames before it are ciphertext.
    pub(crate) fn wipe(&self, out: &mut Vec<u8>) {
        if let Some(clear) = out.get_mut(self.frame_at..) {
            clear.zeroize();
        }
        out.truncate(self.frame_at);
        // A reader may have written into the spare capacity before it failed.
        out.spare_capacity_mut().zeroize();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#[path = "writer_tests.rs"]
mod tests;

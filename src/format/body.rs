//! The message body (`data-format/message-body.md`) and its AAD
//! (`data-format/message-body-aad.md`).
//!
//! ```text
//! regular frame: seq u32 | IV [12] | content [frame length] | tag [16]
//! final frame:   FF FF FF FF | seq u32 | IV [12] | content length u32 | content | tag [16]
//! non-framed:    IV [12] | content length u64 | content | tag [16]
//! body AAD:      message id [32, or 16 in format version 1] | content string | seq u32 |
//!                content length u64
//! ```
//! The IV of a frame is its sequence number, big-endian, left-padded with zeros to 12 bytes;
//! a non-framed body uses sequence number 1.

use super::error::{Field, FormatError, FormatErrorKind};
use super::reader::Reader;
use crate::crypto::aead::{IV_LEN, MAX_PLAINTEXT_LEN, TAG_LEN};
use crate::crypto::kdf::MESSAGE_ID_LEN;

internal_pub! {
    /// The 4 bytes that start a final frame.
    const FINAL_FRAME_MARKER: u32 = 0xFFFF_FFFF;
}
internal_pub! {
    /// Bytes a regular frame adds to its content: sequence number, IV, tag.
    const REGULAR_FRAME_OVERHEAD: usize = 4 + IV_LEN + TAG_LEN;
}
internal_pub! {
    /// Bytes a final frame adds to its content: marker, sequence number, IV, length, tag.
    const FINAL_FRAME_OVERHEAD: usize = 4 + 4 + IV_LEN + 4 + TAG_LEN;
}
internal_pub! {
    /// Bytes a non-framed body adds to its content: IV, length, tag.
    const NON_FRAMED_OVERHEAD: usize = IV_LEN + 8 + TAG_LEN;
}
internal_pub! {
    /// Largest non-framed content: "MUST NOT be greater than `2^36 - 32`".
    const MAX_NON_FRAMED_LEN: u64 = MAX_PLAINTEXT_LEN;
}

internal_pub! {
    /// Body AAD content string of a regular frame.
    const CONTENT_FRAME: &[u8] = b"AWSKMSEncryptionClient Frame";
}
internal_pub! {
    /// Body AAD content string of the final frame.
    const CONTENT_FINAL_FRAME: &[u8] = b"AWSKMSEncryptionClient Final Frame";
}
internal_pub! {
    /// Body AAD content string of a non-framed body.
    const CONTENT_SINGLE_BLOCK: &[u8] = b"AWSKMSEncryptionClient Single Block";
}

/// What a piece of body content is, for its AAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// A regular frame.
    Regular,
    /// The final frame.
    Final,
    /// A non-framed body.
    SingleBlock,
}

impl BodyKind {
    fn content_string(self) -> &'static [u8] {
        match self {
            BodyKind::Regular => CONTENT_FRAME,
            BodyKind::Final => CONTENT_FINAL_FRAME,
            BodyKind::SingleBlock => CONTENT_SINGLE_BLOCK,
        }
    }
}

const AAD_MAX: usize = MESSAGE_ID_LEN + CONTENT_SINGLE_BLOCK.len() + 4 + 8;

internal_pub! {
    /// A reusable body-AAD buffer on the stack (no allocation per frame).
    #[derive(Clone)]
    struct BodyAad {
        buf: [u8; AAD_MAX],
        /// Length of the message id at the start of `buf` (32, or 16 in format version 1).
        id_len: usize,
    }
}

impl BodyAad {
    /// A buffer for the message `message_id`.
    pub fn new(message_id: &[u8; MESSAGE_ID_LEN]) -> Self {
        Self::with_message_id(message_id)
    }

    /// A buffer for a message id of any length up to 32 bytes: the 16-byte ids of format
    /// version 1 ("Message ID ... 16" in its header) go into the body AAD as they are. A longer
    /// id is cut to 32 bytes (no header has one).
    pub fn with_message_id(message_id: &[u8]) -> Self {
        let mut buf = [0u8; AAD_MAX];
        let id_len = message_id.len().min(MESSAGE_ID_LEN);
        if let (Some(dst), Some(src)) = (buf.get_mut(..id_len), message_id.get(..id_len)) {
            dst.copy_from_slice(src);
        }
        Self { buf, id_len }
    }

    /// Spec (message-body-aad.md): "Message ID | Body AAD Content | Sequence Number (4, Uint32)
    /// | Content Length (8, Uint64)"; regular frames "MUST use the value `AWSKMSEncryptionClient
    /// Frame`", the final frame "`AWSKMSEncryptionClient Final Frame`", non-framed data
    /// "`AWSKMSEncryptionClient Single Block`" with sequence number 1.
    pub fn get(&mut self, kind: BodyKind, seq: u32, content_len: u64) -> &[u8] {
        let s = kind.content_string();
        let (_, tail) = self.buf.split_at_mut(self.id_len);
        let (cs, tail) = tail.split_at_mut(s.len());
        cs.copy_from_slice(s);
        let (sq, tail) = tail.split_at_mut(4);
        sq.copy_from_slice(&seq.to_be_bytes());
        let (ln, _) = tail.split_at_mut(8);
        ln.copy_from_slice(&content_len.to_be_bytes());
        let len = self.id_len + s.len() + 12;
        self.buf.get(..len).unwrap_or(&[])
    }
}

internal_pub! {
    /// The IV of frame `seq`: "The IV is the sequence number ... padded to the IV length".
    fn frame_iv(seq: u32) -> [u8; IV_LEN] {
        let mut iv = [0u8; IV_LEN];
        let (_, low) = iv.split_at_mut(IV_LEN - 4);
        low.copy_from_slice(&seq.to_be_bytes());
        iv
    }
}

internal_pub! {
    /// How a plaintext of `plaintext_len` bytes is cut into frames of `frame_length` bytes when
    /// fragseal seals: full regular frames and a final frame holding the rest. A plaintext that is
    /// an exact non-zero multiple of the frame length ends with a *full* final frame (the spec's
    /// SHOULD); an empty plaintext is one empty final frame.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct FrameLayout {
        /// Number of regular frames.
        pub regular_frames: u64,
        /// Content length of the final frame.
        pub final_len: u32,
        /// Frame length.
        pub frame_length: u32,
    }
}

impl FrameLayout {
    /// The layout; `None` when `frame_length` is 0 or more than `2^32 - 1` frames are needed.
    pub fn new(plaintext_len: u64, frame_length: u32) -> Option<Self> {
        if frame_length == 0 {
            return None;
        }
        let fl = u64::from(frame_length);
        let regular_frames = if plaintext_len == 0 {
            0
        } else {
            (plaintext_len - 1) / fl
        };
        let final_len = u32::try_from(plaintext_len - regular_frames * fl).ok()?;
        // "The number of frames in a single message MUST be less than or equal to 2^32 - 1."
        if regular_frames >= u64::from(u32::MAX) {
            return None;
        }
        Some(Self {
            regular_frames,
            final_len,
            frame_length,
        })
    }

    /// Body length in bytes; `None` on overflow.
    pub fn body_len(&self) -> Option<usize> {
        let regular = usize::try_from(self.regular_frames).ok()?.checked_mul(
            REGULAR_FRAME_OVERHEAD.checked_add(usize::try_from(self.frame_length).ok()?)?,
        )?;
        regular
            .checked_add(FINAL_FRAME_OVERHEAD)?
            .checked_add(usize::try_from(self.final_len).ok()?)
    }
}

/// One parsed frame, borrowed from the message. Its IV and sequence number have been checked.
#[derive(Clone, Copy, Debug)]
pub struct FrameRef<'a> {
    /// Regular or final.
    pub kind: BodyKind,
    /// Sequence number.
    pub seq: u32,
    /// The IV (equal to `frame_iv(seq)`).
    pub iv: &'a [u8; IV_LEN],
    /// Encrypted content.
    pub ciphertext: &'a [u8],
    /// Authentication tag.
    pub tag: &'a [u8; TAG_LEN],
    /// Absolute offset of the frame's first byte.
    pub offset: usize,
}

impl FrameRef<'_> {
    /// Content length as written in the body AAD.
    pub fn content_len(&self) -> u64 {
        self.ciphertext.len() as u64
    }
}

/// Parses a whole non-framed body (which must end the message).
///
/// Spec (message-body.md): "Non-framed data MUST consist of, in order, IV, Encrypted Content
/// Length, Encrypted Content, and Authentication Tag." "The value of this field MUST NOT be
/// greater than `2^36 - 32`". The IV "MUST be the sequence number used in the message body
/// AAD", i.e. 1.
///
/// # Errors
/// A [`FormatError`] on [`Field::NonFramedBody`].
pub fn read_non_framed<'a>(r: &mut Reader<'a>) -> Result<FrameRef<'a>, FormatError> {
    let frame = read_non_framed_block(r)?;
    r.expect_end(Field::NonFramedBody)?;
    Ok(frame)
}

// the non-framed body without the end check, for signed suites whose footer
// follows it.
/// [`read_non_framed`] without requiring the input to end after it.
///
/// # Errors
/// A [`FormatError`] on [`Field::NonFramedBody`].
pub fn read_non_framed_block<'a>(r: &mut Reader<'a>) -> Result<FrameRef<'a>, FormatError> {
    let f = Field::NonFramedBody;
    let offset = r.offset();
    let iv = r.array::<IV_LEN>(f)?;
    if *iv != frame_iv(1) {
        return Err(Reader::error_at(offset, f, FormatErrorKind::InvalidIv));
    }
    let len_at = r.offset();
    let len = r.u64(f)?;
    let len = Reader::check_len(len_at, f, len, MAX_NON_FRAMED_LEN)?;
    let ciphertext = r.take(len, f)?;
    let tag = r.array::<TAG_LEN>(f)?;
    Ok(FrameRef {
        kind: BodyKind::SingleBlock,
        seq: 1,
        iv,
        ciphertext,
        tag,
        offset,
    })
}

internal_pub! {
    /// Appends a regular or final frame's fields before its content (the writer side of the
    /// frame-prefix parser, `message::frame::read_prefix`).
    fn write_frame_prefix(out: &mut Vec<u8>, kind: BodyKind, seq: u32, content_len: u32) {
        if kind == BodyKind::Final {
            out.extend_from_slice(&FINAL_FRAME_MARKER.to_be_bytes());
        }
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&frame_iv(seq));
        if kind == BodyKind::Final {
            out.extend_from_slice(&content_len.to_be_bytes());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let l = FrameLayout::new(0, 64).unwrap();
        assert_eq!((l.regular_frames, l.final_len), (0, 0));
        let l = FrameLayout::new(64, 64).unwrap();
        assert_eq!((l.regular_frames, l.final_len), (0, 64));
        let l = FrameLayout::new(65, 64).unwrap();
        assert_eq!((l.regular_frames, l.final_len), (1, 1));
        let l = FrameLayout::new(128, 64).unwrap();
        assert_eq!((l.regular_frames, l.final_len), (1, 64));
        assert_eq!(l.body_len(), Some(64 + 32 + 64 + 40));
        assert!(FrameLayout::new(1, 0).is_none());
        assert!(FrameLayout::new(u64::from(u32::MAX) * 2, 1).is_none());
    }

    #[test]
    fn aad_and_iv() {
        let mut aad = BodyAad::new(&[7; 32]);
        let a = aad.get(BodyKind::Regular, 2, 64).to_vec();
        assert_eq!(a.len(), 32 + 28 + 12);
        assert_eq!(&a[32..60], CONTENT_FRAME);
        assert_eq!(&a[60..64], &[0, 0, 0, 2]);
        assert_eq!(&a[64..], &[0, 0, 0, 0, 0, 0, 0, 64]);
        let a = aad.get(BodyKind::Final, 3, 1).to_vec();
        assert_eq!(&a[32..66], CONTENT_FINAL_FRAME);
        assert_eq!(a.len(), 32 + 34 + 12);
        assert_eq!(frame_iv(0x0102_0304), [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn aad_of_a_16_byte_message_id() {
        let mut aad = BodyAad::with_message_id(&[5; 16]);
        let a = aad.get(BodyKind::SingleBlock, 1, 3).to_vec();
        assert_eq!(a.len(), 16 + 35 + 12);
        assert_eq!(&a[..16], &[5; 16]);
        assert_eq!(&a[16..51], CONTENT_SINGLE_BLOCK);
        assert_eq!(&a[51..55], &[0, 0, 0, 1]);
        assert_eq!(&a[55..], &[0, 0, 0, 0, 0, 0, 0, 3]);
    }
}

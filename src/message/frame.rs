//! The frame-prefix parser, the only one: the one-shot, range and streaming opens, and
//! [`super::ParsedMessage::frame_summary`], all read frames through [`read_prefix`].
//!
//! Spec (message-body.md): "Framed Data MUST start at Sequence Number 1. Subsequent frames
//! MUST be in order and MUST contain an increment of 1 from the previous frame." — "The length
//! of the encrypted content of a Regular Frame MUST be equal to the Frame Length." — final
//! frame: "Sequence Number End ... MUST be encoded as the 4 bytes `FF FF FF FF`", "The Final
//! Frame Sequence number MUST be equal to the total number of frames", and decrypt.md: "this
//! operation MUST ensure that the length of the encrypted content field is less than or equal
//! to the frame length". encrypt.md: "The IV is the sequence number ... padded to the IV
//! length"; fragseal rejects any other IV.

use crate::crypto::aead::{IV_LEN, TAG_LEN};
use crate::format::body::{frame_iv, BodyKind, FrameRef, FINAL_FRAME_MARKER};
use crate::format::error::FormatErrorKind;
use crate::format::{Field, FormatError, Reader};

/// The length of a regular frame's prefix (sequence number, IV).
pub(crate) const REGULAR_PREFIX_LEN: usize = 4 + IV_LEN;
/// The length of a final frame's prefix (end marker, sequence number, IV, content length).
pub(crate) const FINAL_PREFIX_LEN: usize = 4 + 4 + IV_LEN + 4;

/// A checked frame prefix: kind, sequence number, IV and content length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FramePrefix<'a> {
    pub(crate) kind: BodyKind,
    pub(crate) seq: u32,
    pub(crate) iv: &'a [u8; IV_LEN],
    pub(crate) content_len: usize,
}

/// Whether a frame whose first four bytes are `first` is a final frame (its prefix is then
/// [`FINAL_PREFIX_LEN`] bytes long, else [`REGULAR_PREFIX_LEN`]).
pub(crate) fn is_final(first: [u8; 4]) -> bool {
    u32::from_be_bytes(first) == FINAL_FRAME_MARKER
}

/// Parses the prefix of the next frame of a framed body, expecting sequence number
/// `expected_seq`: the sequence number, the IV (must be [`frame_iv`]`(seq)`) and, for the final
/// frame, the content length (at most `frame_length`).
///
/// # Errors
/// A [`FormatError`] on [`Field::Frame`]: truncated, wrong sequence number, wrong IV, final
/// frame longer than the frame length.
pub(crate) fn read_prefix<'a>(
    r: &mut Reader<'a>,
    frame_length: u32,
    expected_seq: u32,
) -> Result<FramePrefix<'a>, FormatError> {
    let f = Field::Frame;
    let offset = r.offset();
    let first = r.u32(f)?;
    let (kind, seq_at, seq) = if first == FINAL_FRAME_MARKER {
        let at = r.offset();
        (BodyKind::Final, at, r.u32(f)?)
    } else {
        (BodyKind::Regular, offset, first)
    };
    if seq != expected_seq {
        return Err(Reader::error_at(
            seq_at,
            f,
            FormatErrorKind::SequenceNumber {
                expected: expected_seq,
                found: seq,
            },
        ));
    }
    let iv_at = r.offset();
    let iv = r.array::<IV_LEN>(f)?;
    if *iv != frame_iv(seq) {
        return Err(Reader::error_at(iv_at, f, FormatErrorKind::InvalidIv));
    }
    let len = match kind {
        BodyKind::Final => {
            let len_at = r.offset();
            let length = r.u32(f)?;
            if length > frame_length {
                return Err(Reader::error_at(
                    len_at,
                    f,
                    FormatErrorKind::FinalFrameTooLong {
                        length,
                        frame_length,
                    },
                ));
            }
            length
        }
        _ => frame_length,
    };
    let content_len = Reader::check_len(r.offset(), f, u64::from(len), u64::from(u32::MAX))?;
    Ok(FramePrefix {
        kind,
        seq,
        iv,
        content_len,
    })
}

internal_pub! {
    /// Parses the next whole frame (prefix, content, tag) of a framed body from `r`.
    ///
    /// # Errors
    /// As `read_prefix` (the frame prefix); truncated content or tag.
    fn read_frame<'a>(
        r: &mut Reader<'a>,
        frame_length: u32,
        expected_seq: u32,
    ) -> Result<FrameRef<'a>, FormatError> {
        let offset = r.offset();
        let p = read_prefix(r, frame_length, expected_seq)?;
        let ciphertext = r.take(p.content_len, Field::Frame)?;
        let tag = r.array::<TAG_LEN>(Field::Frame)?;
        Ok(FrameRef {
            kind: p.kind,
            seq: p.seq,
            iv: p.iv,
            ciphertext,
            tag,
            offset,
        })
    }
}

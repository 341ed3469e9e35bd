//! A bounded EBML reader (RFC 8794): variable-size integers, element headers, and a cursor
//! that never reads past the end of its parent element.
//!
//! Every read goes through [`Reader::take`], which checks the length against what remains and
//! returns a precise error naming the absolute byte offset; nothing here indexes a slice.

use super::error::{MkvError, MkvErrorKind};

/// Longest element id this reader accepts, in bytes (RFC 8794 §11.2.4 default; Matroska: 4).
pub const MAX_ID_LEN: u32 = 4;
/// Longest element data size this reader accepts, in bytes (RFC 8794 §11.2.5 default: 8).
pub const MAX_SIZE_LEN: u32 = 8;

/// An element header: its id, where it starts, how long the header is, and its data size
/// (`None` when the size is unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The id, with its VINT marker (as written on the wire).
    pub id: u32,
    /// Absolute offset of the id's first byte.
    pub offset: usize,
    /// Absolute offset of the element's data (just after the size).
    pub data_offset: usize,
    /// The data size; `None` for an unknown size (all data bits set to one).
    pub size: Option<u64>,
}

/// A cursor over `input[pos..end]`; offsets are absolute positions in `input`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    /// A reader over the whole input.
    #[cfg(test)]
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            pos: 0,
            end: input.len(),
        }
    }

    /// A reader over `input[start..]` (offsets stay absolute in `input`).
    pub fn at(input: &'a [u8], start: usize) -> Self {
        Self {
            input,
            pos: start.min(input.len()),
            end: input.len(),
        }
    }

    /// Absolute offset of the next byte.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Absolute offset where this reader ends.
    pub fn end(&self) -> usize {
        self.end
    }

    /// Whether nothing remains.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    /// Whether this reader ends where the input ends (so running out means truncation rather
    /// than an impossible size).
    fn ends_at_input_end(&self) -> bool {
        self.end >= self.input.len()
    }

    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    /// The next `n` bytes, or a `Truncated` error attributed to `id`.
    fn take(&mut self, n: usize, id: Option<u32>) -> Result<&'a [u8], MkvError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(MkvError::new(
                self.pos,
                MkvErrorKind::Truncated {
                    id,
                    needed: (n - remaining) as u64,
                },
            ));
        }
        let stop = self.pos + n; // cannot overflow: n <= end - pos
        let bytes = self.input.get(self.pos..stop).ok_or(MkvError::new(
            self.pos,
            MkvErrorKind::Truncated {
                id,
                needed: n as u64,
            },
        ))?;
        self.pos = stop;
        Ok(bytes)
    }

    fn peek_u8(&self) -> Result<u8, MkvError> {
        if self.is_empty() {
            return Err(MkvError::new(
                self.pos,
                MkvErrorKind::Truncated {
                    id: None,
                    needed: 1,
                },
            ));
        }
        self.input.get(self.pos).copied().ok_or(MkvError::new(
            self.pos,
            MkvErrorKind::Truncated {
                id: None,
                needed: 1,
            },
        ))
    }

    /// Reads an element id (RFC 8794 §5): 1 to 4 bytes, the marker kept, not all ones, in its
    /// shortest form.
    fn read_id(&mut self) -> Result<u32, MkvError> {
        let start = self.pos;
        let first = self.peek_u8()?;
        let len = first.leading_zeros() + 1;
        if len > MAX_ID_LEN {
            return Err(MkvError::new(start, MkvErrorKind::InvalidElementId));
        }
        let bytes = self.take(len as usize, None)?;
        let id = bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        let marker = 1u32 << (7 * len);
        let data = id & (marker - 1);
        // "The VINT_DATA of an Element ID MUST NOT be all ones" (reserved), and an id MUST use
        // the shortest VINT that can hold it. Matroska's `ChapterDisplay` is 0x80 (zero data), so a
        // one-byte zero is tolerated.
        let shortest_floor = if len == 1 {
            0
        } else {
            (1u32 << (7 * (len - 1))) - 1
        };
        if data == marker - 1 || data < shortest_floor {
            return Err(MkvError::new(start, MkvErrorKind::InvalidElementId));
        }
        Ok(id)
    }

    /// Reads an element data size (RFC 8794 §6): 1 to 8 bytes; all data bits one means unknown.
    fn read_size(&mut self, id: u32) -> Result<Option<u64>, MkvError> {
        let start = self.pos;
        let first = self.peek_u8().map_err(|e| with_id(e, id))?;
        let len = first.leading_zeros() + 1;
        if len > MAX_SIZE_LEN {
            return Err(MkvError::new(start, MkvErrorKind::InvalidElementSize));
        }
        let bytes = self.take(len as usize, Some(id))?;
        let raw = be_uint(bytes);
        let marker = 1u64 << (7 * len);
        let value = raw & (marker - 1);
        Ok(if value == marker - 1 {
            None
        } else {
            Some(value)
        })
    }

    /// Reads an element header.
    pub fn read_header(&mut self) -> Result<Header, MkvError> {
        let offset = self.pos;
        let id = self.read_id()?;
        let size = self.read_size(id)?;
        Ok(Header {
            id,
            offset,
            data_offset: self.pos,
            size,
        })
    }

    /// Reads the next element header without moving.
    pub fn peek_header(&self) -> Result<Header, MkvError> {
        let mut probe = *self;
        probe.read_header()
    }

    /// Carves out the data of an element of known size (which must not exceed `max` nor this
    /// reader's end) as a sub-reader, and moves past it.
    pub fn body(&mut self, h: &Header, max: u64) -> Result<Reader<'a>, MkvError> {
        let size = h.size.ok_or(MkvError::new(
            h.offset,
            MkvErrorKind::UnknownSizeNotAllowed { id: h.id },
        ))?;
        if size > max {
            return Err(MkvError::new(
                h.offset,
                MkvErrorKind::ElementTooLarge {
                    id: h.id,
                    size,
                    max,
                },
            ));
        }
        self.sub(h, size)
    }

    /// Carves out `size` bytes of data for the element `h` (no maximum) and moves past them.
    pub fn sub(&mut self, h: &Header, size: u64) -> Result<Reader<'a>, MkvError> {
        let remaining = self.remaining() as u64;
        if size > remaining {
            let kind = if self.ends_at_input_end() {
                MkvErrorKind::Truncated {
                    id: Some(h.id),
                    needed: size - remaining,
                }
            } else {
                MkvErrorKind::SizeExceedsParent {
                    id: h.id,
                    size,
                    parent_end: self.end,
                }
            };
            return Err(MkvError::new(h.offset, kind));
        }
        let start = self.pos;
        // size <= remaining, which is a usize.
        let len = usize::try_from(size).map_err(|_| {
            MkvError::new(
                h.offset,
                MkvErrorKind::Truncated {
                    id: Some(h.id),
                    needed: size,
                },
            )
        })?;
        self.take(len, Some(h.id))?;
        Ok(Reader {
            input: self.input,
            pos: start,
            end: self.pos,
        })
    }

    /// The rest of this reader as a sub-reader; this reader becomes empty.
    pub fn rest(&mut self) -> Reader<'a> {
        let sub = *self;
        self.pos = self.end;
        sub
    }

    /// Moves back to `offset` (which must be within what this reader has covered).
    pub fn rewind_to(&mut self, offset: usize) {
        if offset <= self.end {
            self.pos = offset;
        }
    }

    /// The remaining bytes, consuming them.
    pub fn remaining_bytes(&mut self, id: u32) -> Result<&'a [u8], MkvError> {
        let n = self.remaining();
        self.take(n, Some(id))
    }

    /// Reads a block header's track number: a VINT of 1 to 8 bytes without the marker.
    pub fn read_track_number(&mut self) -> Result<u64, MkvError> {
        let start = self.pos;
        let first = self.peek_u8()?;
        let len = first.leading_zeros() + 1;
        if len > MAX_SIZE_LEN {
            return Err(MkvError::new(start, MkvErrorKind::InvalidBlock));
        }
        let bytes = self.take(len as usize, None)?;
        let raw = be_uint(bytes);
        Ok(raw & ((1u64 << (7 * len)) - 1))
    }

    /// Reads `n` raw bytes.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], MkvError> {
        self.take(n, None)
    }
}

fn with_id(mut e: MkvError, id: u32) -> MkvError {
    if let MkvErrorKind::Truncated { id: slot, .. } = &mut e.kind {
        *slot = Some(id);
    }
    e
}

/// Decodes an unsigned-integer element's data (RFC 8794 §7.2: 0 to 8 bytes, big-endian; an
/// empty element is zero).
pub(crate) fn read_uint(h: &Header, data: &[u8]) -> Result<u64, MkvError> {
    if data.len() > 8 {
        return Err(MkvError::new(
            h.offset,
            MkvErrorKind::InvalidInteger {
                id: h.id,
                length: data.len() as u64,
            },
        ));
    }
    Ok(be_uint(data))
}

/// The big-endian unsigned value of `bytes`: an EBML integer's data, or a VINT's bytes with
/// the marker bit still set. Callers pass at most 8 bytes (with more, the first ones shift out).
pub(crate) fn be_uint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

/// Decodes a String / UTF-8 element's data (RFC 8794 §7.4–7.5): the value ends at the first
/// zero byte, and only zero bytes may follow it.
pub(crate) fn read_string(h: &Header, data: &[u8]) -> Result<String, MkvError> {
    let invalid = || MkvError::new(h.offset, MkvErrorKind::InvalidString { id: h.id });
    let (value, padding) = match data.iter().position(|b| *b == 0) {
        Some(i) => data.split_at(i),
        None => (data, &[][..]),
    };
    if padding.iter().any(|b| *b != 0) {
        return Err(invalid());
    }
    core::str::from_utf8(value)
        .map(str::to_owned)
        .map_err(|_| invalid())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_marker_and_reject_bad_forms() {
        let mut r = Reader::new(&[0x1F, 0x43, 0xB6, 0x75, 0x80]);
        let h = r.read_header().unwrap();
        assert_eq!(h.id, 0x1F43_B675);
        assert_eq!(h.size, Some(0));
        assert_eq!(h.data_offset, 5);

        // All ones (reserved).
        let err = Reader::new(&[0xFF, 0x80]).read_header().unwrap_err();
        assert_eq!(err, MkvError::new(0, MkvErrorKind::InvalidElementId));
        // Longer than 4 bytes.
        let err = Reader::new(&[0x08, 0, 0, 0, 1, 0x80])
            .read_header()
            .unwrap_err();
        assert_eq!(err.kind, MkvErrorKind::InvalidElementId);
        // Not the shortest form: 0x4001 could be written 0x81.
        let err = Reader::new(&[0x40, 0x01, 0x80]).read_header().unwrap_err();
        assert_eq!(err.kind, MkvErrorKind::InvalidElementId);
        // 0x407F is the shortest form of 127 (0xFF is reserved).
        assert_eq!(
            Reader::new(&[0x40, 0x7F, 0x80]).read_header().unwrap().id,
            0x407F
        );
    }

    #[test]
    fn sizes_decode_all_lengths_and_unknown() {
        let h = Reader::new(&[0xEC, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
            .read_header()
            .unwrap();
        assert_eq!(h.size, None);
        let h = Reader::new(&[0xEC, 0xFF]).read_header().unwrap();
        assert_eq!(h.size, None, "one-byte all ones is unknown too");
        let h = Reader::new(&[0xEC, 0x40, 0x02]).read_header().unwrap();
        assert_eq!(h.size, Some(2));
        let h = Reader::new(&[0xEC, 0x01, 0, 0, 0, 0, 0, 0x01, 0x00])
            .read_header()
            .unwrap();
        assert_eq!(h.size, Some(256));
        let err = Reader::new(&[0xEC, 0x00, 1]).read_header().unwrap_err();
        assert_eq!(err, MkvError::new(1, MkvErrorKind::InvalidElementSize));
        let err = Reader::new(&[0xEC, 0x10, 1]).read_header().unwrap_err();
        assert_eq!(
            err,
            MkvError::new(
                1,
                MkvErrorKind::Truncated {
                    id: Some(0xEC),
                    needed: 2
                }
            )
        );
    }

    #[test]
    fn body_distinguishes_truncation_from_impossible_size() {
        // Void of 10 bytes with only 2 present: truncated.
        let input = [0xEC, 0x8A, 0, 0];
        let mut r = Reader::new(&input);
        let h = r.read_header().unwrap();
        let err = r.body(&h, 100).unwrap_err();
        assert_eq!(
            err,
            MkvError::new(
                0,
                MkvErrorKind::Truncated {
                    id: Some(0xEC),
                    needed: 8
                }
            )
        );
        // A parent of 3 bytes holding a child that claims 10: impossible size.
        let input = [0xEC, 0x83, 0xEC, 0x8A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut r = Reader::new(&input);
        let h = r.read_header().unwrap();
        let mut parent = r.body(&h, 100).unwrap();
        let child = parent.read_header().unwrap();
        let err = parent.body(&child, 100).unwrap_err();
        assert_eq!(
            err,
            MkvError::new(
                2,
                MkvErrorKind::SizeExceedsParent {
                    id: 0xEC,
                    size: 10,
                    parent_end: 5
                }
            )
        );
        // Over the maximum.
        let mut r = Reader::new(&input);
        let h = r.read_header().unwrap();
        assert!(matches!(
            r.body(&h, 2).unwrap_err().kind,
            MkvErrorKind::ElementTooLarge {
                size: 3,
                max: 2,
                ..
            }
        ));
    }

    #[test]
    fn integers_and_strings() {
        let h = Header {
            id: 0xE7,
            offset: 7,
            data_offset: 9,
            size: Some(9),
        };
        assert_eq!(read_uint(&h, &[]).unwrap(), 0);
        assert_eq!(read_uint(&h, &[1, 0]).unwrap(), 256);
        assert_eq!(
            read_uint(&h, &[0; 9]).unwrap_err(),
            MkvError::new(
                7,
                MkvErrorKind::InvalidInteger {
                    id: 0xE7,
                    length: 9
                }
            )
        );
        assert_eq!(read_string(&h, b"webm\0\0").unwrap(), "webm");
        assert!(read_string(&h, b"webm\0x").is_err());
        assert!(read_string(&h, &[0xC3]).is_err());
    }
}

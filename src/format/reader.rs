//! One bounded reader for every untrusted byte, and the matching writer helpers.
//!
//! In the style of rustls's `codec.rs`: a [`Reader`] walks a byte slice; every read states the
//! [`Field`] it belongs to, so a failure carries the absolute byte offset and the field; every
//! length prefix is checked against a stated maximum before anything is carved out;
//! [`Reader::sub`] hands out a sub-reader bounded to exactly a declared length; and
//! [`Reader::expect_end`] rejects trailing bytes. No code in this crate indexes untrusted bytes
//! by hand.

use super::error::{Field, FormatError, FormatErrorKind};

/// A cursor over untrusted bytes. Never panics; every failure is a [`FormatError`] with the
/// absolute offset (from the start of the message) where it happened.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` from the start of the message.
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, which starts the message (offset 0).
    pub fn new(buf: &'a [u8]) -> Self {
        Self::at(buf, 0)
    }

    /// A reader over `buf`, which starts at absolute offset `base` of the message.
    pub fn at(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Absolute offset of the next unread byte.
    pub fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    /// Bytes consumed so far (relative to this reader's start).
    pub fn consumed(&self) -> usize {
        self.pos
    }

    /// Number of unread bytes.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// The bytes consumed so far (relative to this reader's start).
    pub fn consumed_bytes(&self) -> &'a [u8] {
        self.buf.get(..self.pos).unwrap_or(&[])
    }

    /// An error at the current offset.
    pub fn error(&self, field: Field, kind: FormatErrorKind) -> FormatError {
        FormatError::new(self.offset(), field, kind)
    }

    /// An error at the absolute offset `offset`.
    pub fn error_at(offset: usize, field: Field, kind: FormatErrorKind) -> FormatError {
        FormatError::new(offset, field, kind)
    }

    /// Takes the next `n` bytes.
    ///
    /// # Errors
    /// [`FormatErrorKind::Truncated`] when fewer than `n` bytes remain (nothing is consumed).
    pub fn take(&mut self, n: usize, field: Field) -> Result<&'a [u8], FormatError> {
        let end = self.pos.checked_add(n);
        match end.and_then(|end| self.buf.get(self.pos..end).map(|s| (s, end))) {
            Some((s, end)) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(self.error(
                field,
                FormatErrorKind::Truncated {
                    needed: n.saturating_sub(self.remaining()),
                },
            )),
        }
    }

    /// Takes the next `N` bytes as an array reference.
    ///
    /// # Errors
    /// As [`Reader::take`].
    pub fn array<const N: usize>(&mut self, field: Field) -> Result<&'a [u8; N], FormatError> {
        let at = self.offset();
        let s = self.take(N, field)?;
        // `take` returned exactly N bytes; the conversion cannot fail, but it is handled anyway.
        <&[u8; N]>::try_from(s)
            .map_err(|_| Self::error_at(at, field, FormatErrorKind::Truncated { needed: N }))
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// As [`Reader::take`].
    pub fn u8(&mut self, field: Field) -> Result<u8, FormatError> {
        Ok(self.array::<1>(field)?[0])
    }

    /// Reads a big-endian `u16`.
    ///
    /// # Errors
    /// As [`Reader::take`].
    pub fn u16(&mut self, field: Field) -> Result<u16, FormatError> {
        Ok(u16::from_be_bytes(*self.array::<2>(field)?))
    }

    /// Reads a big-endian `u32`.
    ///
    /// # Errors
    /// As [`Reader::take`].
    pub fn u32(&mut self, field: Field) -> Result<u32, FormatError> {
        Ok(u32::from_be_bytes(*self.array::<4>(field)?))
    }

    /// Reads a big-endian `u64`.
    ///
    /// # Errors
    /// As [`Reader::take`].
    pub fn u64(&mut self, field: Field) -> Result<u64, FormatError> {
        Ok(u64::from_be_bytes(*self.array::<8>(field)?))
    }

    /// Checks a declared length against `max` and converts it to `usize`.
    ///
    /// # Errors
    /// [`FormatErrorKind::LengthLimit`] (reported at `at`) when `length > max`.
    pub fn check_len(at: usize, field: Field, length: u64, max: u64) -> Result<usize, FormatError> {
        if length > max {
            return Err(Self::error_at(
                at,
                field,
                FormatErrorKind::LengthLimit { length, max },
            ));
        }
        usize::try_from(length).map_err(|_| {
            Self::error_at(
                at,
                field,
                FormatErrorKind::LengthLimit {
                    length,
                    max: usize::MAX as u64,
                },
            )
        })
    }

    /// Reads a `u16` length prefix, checks it against `max`, and takes that many bytes.
    ///
    /// # Errors
    /// [`FormatErrorKind::LengthLimit`] or [`FormatErrorKind::Truncated`].
    pub fn bytes_u16(&mut self, field: Field, max: u16) -> Result<&'a [u8], FormatError> {
        let at = self.offset();
        let len = self.u16(field)?;
        let len = Self::check_len(at, field, u64::from(len), u64::from(max))?;
        self.take(len, field)
    }

    /// Reads a `u16`-length-prefixed UTF-8 string (length at most `max`).
    ///
    /// # Errors
    /// As [`Reader::bytes_u16`], or [`FormatErrorKind::InvalidUtf8`].
    pub fn str_u16(&mut self, field: Field, max: u16) -> Result<&'a str, FormatError> {
        let at = self.offset();
        let bytes = self.bytes_u16(field, max)?;
        core::str::from_utf8(bytes)
            .map_err(|_| Self::error_at(at, field, FormatErrorKind::InvalidUtf8))
    }

    /// Carves out a sub-reader over the next `n` bytes (which this reader skips).
    ///
    /// # Errors
    /// As [`Reader::take`].
    pub fn sub(&mut self, n: usize, field: Field) -> Result<Reader<'a>, FormatError> {
        let base = self.offset();
        let buf = self.take(n, field)?;
        Ok(Reader::at(buf, base))
    }

    /// Succeeds only when every byte has been read.
    ///
    /// # Errors
    /// [`FormatErrorKind::TrailingBytes`] with the count of unread bytes.
    pub fn expect_end(&self, field: Field) -> Result<(), FormatError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.error(
                field,
                FormatErrorKind::TrailingBytes {
                    count: self.remaining(),
                },
            ))
        }
    }

    /// Runs `parse` over all of `bytes` (which start at absolute offset `base`) and rejects
    /// trailing bytes, like rustls's `Reader::new(bytes).all(...)`.
    ///
    /// # Errors
    /// Whatever `parse` returns, or [`FormatErrorKind::TrailingBytes`].
    pub fn all<T>(
        bytes: &'a [u8],
        base: usize,
        field: Field,
        parse: impl FnOnce(&mut Reader<'a>) -> Result<T, FormatError>,
    ) -> Result<T, FormatError> {
        let mut r = Reader::at(bytes, base);
        let v = parse(&mut r)?;
        r.expect_end(field)?;
        Ok(v)
    }
}

/// Writer helpers: the inverse of the [`Reader`] methods, appending big-endian values.
pub mod write {
    /// Appends a `u16`-length-prefixed byte string; `None` (and `out` unchanged) when `bytes` is
    /// longer than 65535 bytes.
    pub fn bytes_u16(out: &mut Vec<u8>, bytes: &[u8]) -> Option<()> {
        let len = u16::try_from(bytes.len()).ok()?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
        Some(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn reads_and_reports_offsets() {
        let data = [0, 1, 0, 0, 0, 2, 9, 9];
        let mut r = Reader::at(&data, 100);
        assert_eq!(r.u16(Field::Version).unwrap(), 1);
        assert_eq!(r.u32(Field::Frame).unwrap(), 2);
        assert_eq!(r.offset(), 106);
        let e = r.u32(Field::Frame).unwrap_err();
        assert_eq!(e.offset, 106);
        assert_eq!(e.kind, FormatErrorKind::Truncated { needed: 2 });
        // Nothing consumed by the failed read.
        assert_eq!(r.remaining(), 2);
        let e = r.expect_end(Field::Frame).unwrap_err();
        assert_eq!(e.kind, FormatErrorKind::TrailingBytes { count: 2 });
    }

    #[test]
    fn length_prefix_checked_against_max() {
        let data = [0, 3, b'a', b'b', b'c'];
        let e = Reader::new(&data)
            .bytes_u16(Field::ProviderInfo, 2)
            .unwrap_err();
        assert_eq!(e.kind, FormatErrorKind::LengthLimit { length: 3, max: 2 });
        assert_eq!(e.offset, 0);
        let mut r = Reader::new(&data);
        assert_eq!(r.str_u16(Field::ProviderInfo, 3).unwrap(), "abc");
        assert!(r.is_empty());
        let bad = [0, 1, 0xFF];
        let e = Reader::new(&bad)
            .str_u16(Field::ProviderInfo, 9)
            .unwrap_err();
        assert_eq!(e.kind, FormatErrorKind::InvalidUtf8);
    }

    #[test]
    fn sub_reader_is_bounded_and_keeps_offsets() {
        let data = [1, 2, 3, 4, 5];
        let mut r = Reader::new(&data);
        r.u8(Field::Version).unwrap();
        let mut s = r.sub(2, Field::EncryptionContext).unwrap();
        assert_eq!(s.offset(), 1);
        assert_eq!(s.u16(Field::EncryptionContext).unwrap(), 0x0203);
        assert!(s.u8(Field::EncryptionContext).is_err());
        assert_eq!(r.u8(Field::Version).unwrap(), 4);
        assert!(r.sub(5, Field::Frame).is_err());
        let e = Reader::all(&data, 0, Field::Frame, |r| r.u8(Field::Frame)).unwrap_err();
        assert_eq!(e.kind, FormatErrorKind::TrailingBytes { count: 4 });
        assert_eq!(e.offset, 1);
    }

    #[test]
    fn huge_take_does_not_overflow() {
        let data = [0u8; 4];
        let mut r = Reader::new(&data);
        r.u8(Field::Frame).unwrap();
        assert!(r.take(usize::MAX, Field::Frame).is_err());
    }
}

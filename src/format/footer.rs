//! The message footer of the signed suites (`data-format/message-footer.md`).
//!
//! ```text
//! signature length u16 | signature [signature length]   (DER ECDSA-Sig-Value)
//! ```
//! The signature is over the whole message before the footer: the header (body and
//! authentication) and the message body, exactly as received.

use super::error::{Field, FormatError, FormatErrorKind};
use super::reader::Reader;
use super::suite::AlgorithmSuite;
use crate::crypto::verify::max_signature_len;

/// A parsed footer, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer<'a> {
    /// Absolute offset of the footer: the signed bytes are the message's first `offset` bytes.
    pub offset: usize,
    /// The DER signature (its syntax is checked when verifying).
    pub signature: &'a [u8],
}

/// Reads what follows the last frame of a `suite` message: nothing for an unsigned suite, the
/// footer for a signed one; then the input must end.
///
/// Spec (message-footer.md): "Signature Length | 2 | UInt16", "Signature | Variable. Equal to
/// the value specified in Signature Length". fragseal bounds the length by the longest DER
/// signature of the suite's curve (72 bytes for P-256, 104 for P-384).
///
/// # Errors
/// A [`FormatError`]: [`Field::Footer`] truncated or over-long, or trailing bytes.
pub fn read_message_end<'a>(
    r: &mut Reader<'a>,
    suite: AlgorithmSuite,
    last_field: Field,
) -> Result<Option<Footer<'a>>, FormatError> {
    if !suite.is_signed() {
        r.expect_end(last_field)?;
        return Ok(None);
    }
    let offset = r.offset();
    let len = r.u16(Field::Footer)?;
    let max = max_signature_len(suite.signature());
    if usize::from(len) > max {
        return Err(Reader::error_at(
            offset,
            Field::Footer,
            FormatErrorKind::LengthLimit {
                length: u64::from(len),
                max: max as u64,
            },
        ));
    }
    let signature = r.take(usize::from(len), Field::Footer)?;
    r.expect_end(Field::Footer)?;
    Ok(Some(Footer { offset, signature }))
}

/// Appends a footer carrying `signature` (the writer side of [`read_message_end`]).
/// `None` when the signature is longer than 65535 bytes.
pub fn write_footer(out: &mut Vec<u8>, signature: &[u8]) -> Option<()> {
    let len = u16::try_from(signature.len()).ok()?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(signature);
    Some(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const SIGNED: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;

    #[test]
    fn footers_round_trip_and_are_bounded() {
        let mut m = vec![9u8; 5];
        write_footer(&mut m, &[1; 103]).unwrap();
        let mut r = Reader::new(&m);
        r.take(5, Field::Frame).unwrap();
        let f = read_message_end(&mut r, SIGNED, Field::Frame).unwrap().unwrap();
        assert_eq!((f.offset, f.signature), (5, &[1u8; 103][..]));
        // Too long for P-384, truncated, trailing.
        let mut long = Vec::new();
        write_footer(&mut long, &[1; 105]).unwrap();
        let e = read_message_end(&mut Reader::new(&long), SIGNED, Field::Frame).unwrap_err();
        assert_eq!((e.field, e.offset), (Field::Footer, 0));
        let cut = &m[5..m.len() - 1];
        let e = read_message_end(&mut Reader::new(cut), SIGNED, Field::Frame).unwrap_err();
        assert!(matches!(e.kind, FormatErrorKind::Truncated { needed: 1 }));
        let mut tail = m[5..].to_vec();
        tail.push(0);
        let e = read_message_end(&mut Reader::new(&tail), SIGNED, Field::Frame).unwrap_err();
        assert_eq!(e.kind, FormatErrorKind::TrailingBytes { count: 1 });
        // Unsigned: nothing may follow.
        let unsigned = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
        assert_eq!(read_message_end(&mut Reader::new(&[]), unsigned, Field::Frame), Ok(None));
        let e = read_message_end(&mut Reader::new(&[0]), unsigned, Field::Frame).unwrap_err();
        assert_eq!((e.field, e.kind), (Field::Frame, FormatErrorKind::TrailingBytes { count: 1 }));
    }
}

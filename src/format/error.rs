//! Precise errors for malformed messages. Authentication failures are *not* here: they are the
//! opaque [`crate::OpenError`].

use core::fmt;

/// Which structure of the message was being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// Format version byte.
    Version,
    /// Algorithm suite id.
    AlgorithmSuite,
    /// Message id.
    MessageId,
    /// Encryption context (AAD) field.
    EncryptionContext,
    /// Encrypted data key list.
    EncryptedDataKeys,
    /// Content type byte.
    ContentType,
    /// Frame length.
    FrameLength,
    /// Algorithm suite data (commit key).
    SuiteData,
    /// Header authentication tag.
    HeaderAuthTag,
    /// A body frame.
    Frame,
    /// The non-framed body.
    NonFramedBody,
    /// Raw AES keyring provider info.
    ProviderInfo,
    /// The message footer of a signed suite (signature length and signature).
    Footer,
    // s5-legacy (flagged hunk): the fields of a format version 1 header.
    /// Format version 1: the message type byte.
    MessageType,
    /// Format version 1: the four reserved bytes.
    Reserved,
    /// Format version 1: the IV length byte.
    IvLength,
    /// Format version 1: the header authentication IV.
    HeaderIv,
}

/// What is wrong with a message, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatErrorKind {
    /// The input ended `needed` bytes short inside the field.
    Truncated {
        /// Bytes still needed.
        needed: usize,
    },
    /// Bytes remain after the end of the message.
    TrailingBytes {
        /// How many: exact for one-shot opens; a lower bound (at least this many) for the
        /// streaming reader, which reads no further than it must to know there are some.
        count: usize,
    },
    /// Only format version 2 (`0x02`) is accepted.
    UnsupportedVersion(u8),
    /// The algorithm suite is unknown or not accepted.
    UnsupportedSuite(u16),
    /// A non-committing suite, rejected by default.
    NonCommittingSuite(u16),
    /// Content type must be `0x01` (non-framed) or `0x02` (framed).
    InvalidContentType(u8),
    /// Frame length out of the accepted range.
    InvalidFrameLength(u32),
    /// No encrypted data keys.
    NoEncryptedDataKeys,
    /// More encrypted data keys than the configured maximum.
    TooManyEncryptedDataKeys {
        /// Count found.
        count: u16,
        /// Configured maximum.
        max: u16,
    },
    /// A string field is not valid UTF-8.
    InvalidUtf8,
    /// Encryption context keys are not strictly increasing (unsorted or duplicated).
    NonCanonicalEncryptionContext,
    /// The encryption context's declared length disagrees with its pairs.
    EncryptionContextLengthMismatch,
    /// Two encryption context keys differ only in ASCII case.
    CaseVariantEncryptionContextKeys {
        /// The earlier key (canonical order).
        first: String,
        /// The later key, at whose offset the error is reported.
        second: String,
    },
    /// An encryption context key uses the reserved prefix `aws-crypto-`.
    ReservedEncryptionContextKey(String),
    /// The encryption context cannot be serialized (too many pairs or bytes).
    EncryptionContextTooLarge,
    /// Frame sequence numbers must start at 1 and increase by one.
    SequenceNumber {
        /// Expected sequence number.
        expected: u32,
        /// Sequence number found.
        found: u32,
    },
    /// The IV is not the one the format prescribes (the sequence number, big-endian).
    InvalidIv,
    /// The final frame is longer than the frame length.
    FinalFrameTooLong {
        /// Declared content length.
        length: u32,
        /// Frame length.
        frame_length: u32,
    },
    /// A length field exceeds its stated maximum.
    LengthLimit {
        /// Value found.
        length: u64,
        /// Maximum allowed.
        max: u64,
    },
    /// Raw AES keyring provider info is malformed.
    InvalidProviderInfo,
    /// A signed suite's encryption context lacks `aws-crypto-public-key` (ESDK default CMM:
    /// "No signature verification key found in header for signed algorithm").
    MissingPublicKey,
    /// The `aws-crypto-public-key` value is not strict base64 of a compressed point on the
    /// suite's curve.
    InvalidPublicKey,
    // s5-legacy (flagged hunk): format version 1 header checks.
    /// Format version 1: the message type is not `0x80` (customer authenticated encrypted
    /// data).
    InvalidMessageType(u8),
    /// Format version 1: the reserved bytes are not `00 00 00 00`.
    NonZeroReserved,
    /// Format version 1: the IV length is not the suite's (12).
    InvalidIvLength(u8),
}

/// A malformed message: what is wrong, in which field, at which byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    /// Byte offset from the start of the message where the problem was found.
    pub offset: usize,
    /// The field being read.
    pub field: Field,
    /// What is wrong.
    pub kind: FormatErrorKind,
}

impl FormatError {
    /// A new error.
    pub fn new(offset: usize, field: Field, kind: FormatErrorKind) -> Self {
        Self {
            offset,
            field,
            kind,
        }
    }
}

impl fmt::Display for FormatErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FormatErrorKind::*;
        match self {
            Truncated { needed } => write!(f, "input ends {needed} byte(s) short"),
            TrailingBytes { count } => {
                write!(f, "at least {count} trailing byte(s) after the message")
            }
            UnsupportedVersion(v) => write!(f, "unsupported format version 0x{v:02x}"),
            UnsupportedSuite(s) => write!(f, "unsupported algorithm suite 0x{s:04x}"),
            NonCommittingSuite(s) => write!(
                f,
                "algorithm suite 0x{s:04x} does not commit to its key and is rejected"
            ),
            InvalidContentType(t) => write!(f, "invalid content type 0x{t:02x}"),
            InvalidFrameLength(l) => write!(f, "invalid frame length {l}"),
            NoEncryptedDataKeys => write!(f, "no encrypted data keys"),
            TooManyEncryptedDataKeys { count, max } => {
                write!(
                    f,
                    "{count} encrypted data keys, more than the maximum {max}"
                )
            }
            InvalidUtf8 => write!(f, "string is not valid UTF-8"),
            NonCanonicalEncryptionContext => {
                write!(f, "encryption context keys are unsorted or duplicated")
            }
            EncryptionContextLengthMismatch => {
                write!(f, "encryption context length disagrees with its contents")
            }
            CaseVariantEncryptionContextKeys { first, second } => write!(
                f,
                "encryption context keys {first:?} and {second:?} differ only in ASCII case"
            ),
            ReservedEncryptionContextKey(k) => {
                write!(
                    f,
                    "encryption context key {k:?} uses the reserved prefix aws-crypto-"
                )
            }
            EncryptionContextTooLarge => write!(f, "encryption context too large to serialize"),
            SequenceNumber { expected, found } => {
                write!(f, "frame sequence number {found}, expected {expected}")
            }
            InvalidIv => write!(f, "IV does not match the frame sequence number"),
            FinalFrameTooLong {
                length,
                frame_length,
            } => write!(
                f,
                "final frame content length {length} exceeds frame length {frame_length}"
            ),
            LengthLimit { length, max } => write!(f, "length {length} exceeds maximum {max}"),
            InvalidProviderInfo => write!(f, "malformed raw AES keyring provider info"),
            MissingPublicKey => write!(
                f,
                "signed algorithm suite without aws-crypto-public-key in the encryption context"
            ),
            InvalidPublicKey => write!(
                f,
                "aws-crypto-public-key is not base64 of a compressed point on the suite's curve"
            ),
            InvalidMessageType(t) => write!(f, "message type 0x{t:02x}, expected 0x80"),
            NonZeroReserved => write!(f, "reserved bytes are not zero"),
            InvalidIvLength(l) => write!(f, "IV length {l}, expected 12"),
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed message at byte {} ({:?}): {}",
            self.offset, self.field, self.kind
        )
    }
}

impl std::error::Error for FormatError {}

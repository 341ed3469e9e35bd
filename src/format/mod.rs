//! The wire format: AWS Encryption SDK message format version 2 (see `SPEC.md`), and version 1
//! on open only.
//!
//! Public: the values a caller builds or reads — [`EncryptionContext`] (and [`ContextError`]),
//! [`EncryptedDataKey`], the parsed [`MessageHeader`] (with [`ContentType`]), [`OpenLimits`],
//! the precise [`FormatError`] (with [`Field`] and [`FormatErrorKind`]), and [`WriteError`]
//! (why a header could not be written, carried by [`crate::SealError::Header`]).
//!
//! The codec itself is crate-private, reachable only with the unstable `internal` feature (as
//! `fragseal::internal::format`):
//! - `reader`: the one bounded reader every untrusted byte goes through, and writer helpers.
//! - `context`: the encryption context's canonical serialization and header field.
//! - `edk`: encrypted data keys.
//! - `header`: the message header (version 2, suites `0x0478` and `0x0578`), its body and
//!   field writers.
//! - `header_v1`: the format version 1 header of the non-committing suites (opened only under
//!   [`CommitmentPolicy::RequireEncryptAllowDecrypt`], never written).
//! - `header_common`: the header fields both versions read the same way.
//! - `body`: the frame layout, the non-framed body, and the body AAD (frames themselves are
//!   parsed by the one frame-prefix parser, `fragseal::internal::format::read_frame`).
//! - `error`: precise errors for malformed messages.
//! - `footer`: the signed suites' message footer (signature length and DER signature).
//! - `suite`: the eleven ESDK algorithm suites ([`AlgorithmSuite`]) and the
//!   [`CommitmentPolicy`] that says which of them an open accepts.
//!
//! A body's frame structure is read, without a key, by
//! [`ParsedMessage::frame_summary`](crate::message::ParsedMessage::frame_summary).

internal_pub! { mod body; }
internal_pub! { mod context; }
internal_pub! { mod edk; }
internal_pub! { mod error; }
internal_pub! { mod footer; }
internal_pub! { mod header; }
internal_pub! { mod header_common; }
internal_pub! { mod header_v1; }
internal_pub! { mod reader; }
internal_pub! { mod suite; }

pub use context::{ContextError, EncryptionContext};
pub use edk::EncryptedDataKey;
pub use error::{Field, FormatError, FormatErrorKind};
pub use header::{ContentType, MessageHeader, OpenLimits, WriteError};
pub use suite::{
    AlgorithmSuite, CommitmentPolicy, KdfAlgorithm, SignatureAlgorithm, SignaturePolicy,
};
internal_pub! { use reader::Reader; }

//! The wire format: AWS Encryption SDK message format version 2 (see `SPEC.md`).
//!
//! Public: the values a caller builds or reads — [`EncryptionContext`] (and [`ContextError`]),
//! [`EncryptedDataKey`], the parsed [`MessageHeader`], [`OpenLimits`], and the precise
//! [`FormatError`] (with [`Field`] and [`FormatErrorKind`]).
//!
//! The codec itself is crate-private, reachable only with the unstable `internal` feature (as
//! `fragseal::internal::format`):
//! - `reader`: the one bounded reader every untrusted byte goes through, and writer helpers.
//! - `context`: the encryption context's canonical serialization and header field.
//! - `edk`: encrypted data keys.
//! - `header`: the message header (version 2, suite `0x0478`).
//! - `body`: frames, the non-framed body, and the body AAD.
//! - `error`: precise errors for malformed messages.
//!
//! Still public until their last outside users move (see issue 10 §5): `body` and `header`
//! (the CLI's `inspect` walks frames with `body::read_frame` and names
//! `header::ContentType`), [`Reader`] (same), and `header::HeaderFields` (taken by
//! `message::danger`).

pub mod body;
internal_pub! { mod context; }
internal_pub! { mod edk; }
internal_pub! { mod error; }
pub mod header;
internal_pub! { mod reader; }

pub use context::{ContextError, EncryptionContext};
pub use edk::EncryptedDataKey;
pub use error::{Field, FormatError, FormatErrorKind};
pub use header::{ContentType, HeaderBody, MessageHeader, OpenLimits};
pub use reader::Reader;

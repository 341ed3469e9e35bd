//! The wire format: AWS Encryption SDK message format version 2 (see `SPEC.md`).
//!
//! - [`reader`]: the one bounded reader every untrusted byte goes through, and writer helpers.
//! - [`context`]: the encryption context and its canonical serialization.
//! - [`edk`]: encrypted data keys.
//! - [`header`]: the message header (version 2, suite `0x0478`).
//! - [`body`]: frames, the non-framed body, and the body AAD.
//! - [`error`]: precise errors for malformed messages.

pub mod body;
pub mod context;
pub mod edk;
pub mod error;
pub mod header;
pub mod reader;

pub use context::{ContextError, EncryptionContext};
pub use edk::EncryptedDataKey;
pub use error::{Field, FormatError, FormatErrorKind};
pub use header::{ContentType, HeaderBody, MessageHeader, OpenLimits};
pub use reader::Reader;

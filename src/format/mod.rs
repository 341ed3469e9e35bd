//! The wire format: AWS Encryption SDK message format version 2 (see `SPEC.md`).
//!
//! - [`context`]: the encryption context and its canonical serialization.
//! - [`error`]: precise errors for malformed messages.

pub mod context;
pub mod error;

pub use context::EncryptionContext;
pub use error::{Field, FormatError, FormatErrorKind};

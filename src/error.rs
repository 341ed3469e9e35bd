//! fragseal's errors.
//!
//! Authentication failures — a bad tag, a wrong key, a wrong encryption context, a commit key
//! mismatch, a fragment identity mismatch — are one opaque [`OpenError`]: they say nothing about
//! which check failed. Every other failure is precise about what is wrong.

use crate::format::FormatError;
use crate::kms::KmsError;
use core::fmt;

/// The message failed authentication. Deliberately opaque: it does not tell a bad tag from a
/// wrong key, a wrong context or a moved fragment, so that it leaks nothing to an attacker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenError;

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("message authentication failed")
    }
}

impl std::error::Error for OpenError {}

/// Everything that can go wrong in fragseal.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Authentication failed (opaque; see [`OpenError`]).
    Authentication(OpenError),
    /// The message is malformed: which field, at which byte, and what is wrong.
    Format(FormatError),
    /// A KMS call failed.
    Kms(KmsError),
    /// None of the message's encrypted data keys belongs to a key provider we were given.
    NoMatchingKeyProvider,
    /// A parameter or configuration value is invalid; the text says which and why.
    InvalidArgument(String),
    /// Reading or writing failed.
    Io(std::io::Error),
    /// An internal failure that is not the caller's: a lock poisoned by a panicking thread, or a
    /// key fetch that panicked. The operation failed closed; the text says what happened.
    Internal(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Authentication(e) => e.fmt(f),
            Error::Format(e) => e.fmt(f),
            Error::Kms(e) => write!(f, "KMS call failed: {e}"),
            Error::NoMatchingKeyProvider => f.write_str(
                "no encrypted data key in the message belongs to a configured key provider",
            ),
            Error::InvalidArgument(s) => write!(f, "invalid argument: {s}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Internal(s) => write!(f, "internal failure: {s}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Authentication(e) => Some(e),
            Error::Format(e) => Some(e),
            Error::Kms(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::NoMatchingKeyProvider | Error::InvalidArgument(_) | Error::Internal(_) => None,
        }
    }
}

impl From<OpenError> for Error {
    fn from(e: OpenError) -> Self {
        Error::Authentication(e)
    }
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error::Format(e)
    }
}

impl From<KmsError> for Error {
    fn from(e: KmsError) -> Self {
        Error::Kms(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

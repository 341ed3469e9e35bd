//! `Display` and `std::error::Error` for the error types: the messages and the sources.

use super::{
    AuthenticationError, ConfigError, ContextMismatch, Error, KeyringError, OpenError, SealError,
};
use core::fmt;

impl fmt::Display for AuthenticationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("message authentication failed")
    }
}

impl std::error::Error for AuthenticationError {}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyringError::Kms(e) => write!(f, "KMS call failed: {e}"),
            KeyringError::DiscoveryCannotSeal => {
                f.write_str("a discovery keyring cannot seal: it names no key")
            }
            KeyringError::NoKeyIds => f.write_str("a strict KMS keyring needs at least one key id"),
            KeyringError::NotAKeyArn { value } => {
                write!(f, "{value:?} is not a well-formed KMS key ARN")
            }
            KeyringError::UnexpectedKey { expected, returned } => {
                write!(f, "KMS answered for key {returned}, not {expected}")
            }
            KeyringError::DataKeyLength { len } => {
                write!(f, "KMS returned a data key of {len} bytes, expected 32")
            }
            KeyringError::WrappingKeyLength { len } => {
                write!(f, "raw AES wrapping key must be 32 bytes, not {len}")
            }
            KeyringError::ReservedNamespace => {
                f.write_str("raw AES keyring namespace must not start with aws-kms")
            }
            KeyringError::RsaKey { reason } => write!(f, "raw RSA keyring: {reason}"),
            KeyringError::NameTooLong { len } => {
                write!(
                    f,
                    "raw AES keyring namespace or name of {len} bytes is too long"
                )
            }
            KeyringError::ContextTooLarge => f.write_str("encryption context too large"),
            KeyringError::NotMine => f.write_str("the encrypted data key is not this keyring's"),
            KeyringError::Authentication(e) => e.fmt(f),
            KeyringError::Child(e) => write!(f, "keyring failed: {e}"),
            KeyringError::SigningKey(e) => write!(f, "no signing key pair: {e}"),
        }
    }
}

impl std::error::Error for KeyringError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyringError::Kms(e) => Some(e),
            KeyringError::Authentication(e) => Some(e),
            KeyringError::Child(e) => Some(&**e),
            KeyringError::SigningKey(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroFrameLength => f.write_str("frame length must be at least 1"),
            ConfigError::ZeroRetryAttempts => f.write_str("retry max_attempts must be at least 1"),
            ConfigError::BackoffOrder => {
                f.write_str("retry initial_backoff must not exceed max_backoff")
            }
            ConfigError::ZeroCacheLimit { field } => write!(
                f,
                "cache limit {field} must be non-zero while caching is on \
                 (use CacheLimits::disabled() to turn caching off)"
            ),
            ConfigError::RefreshAhead { value } => {
                write!(f, "cache refresh_ahead must be in (0, 1], got {value}")
            }
            ConfigError::Keyring(e) => write!(f, "invalid keyring: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Keyring(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::Keyring(e) => write!(f, "no data key: {e}"),
            SealError::ReservedContextKey { key } => write!(
                f,
                "encryption context key {key:?} uses the reserved prefix aws-crypto-"
            ),
            SealError::CaseVariantKeys(k) => write!(
                f,
                "encryption context keys {:?} and {:?} differ only in case",
                k.first, k.second
            ),
            SealError::ContextKeyInBoth { key } => write!(
                f,
                "encryption context key {key:?} is both stored and authenticated only"
            ),
            SealError::IdentityStreamMismatch { context, identity } => write!(
                f,
                "the context's aws:kinesisvideo:arn {context:?} is not the identity's stream \
                 {identity:?}"
            ),
            SealError::IdentityTooLong { len } => write!(
                f,
                "fragment identity: stream ARN of {len} bytes is longer than 65535 bytes"
            ),
            SealError::ZeroFrameLength => f.write_str("frame length must be at least 1"),
            SealError::TooManyFrames {
                plaintext_len,
                frame_length,
            } => write!(
                f,
                "a plaintext of {plaintext_len} bytes needs more than 2^32 - 1 frames of \
                 {frame_length} bytes"
            ),
            SealError::MessageTooLarge => f.write_str("sealed message too large"),
            SealError::Header(e) => write!(f, "header cannot be written: {e}"),
            SealError::BufferCount { requests, outputs } => {
                write!(f, "{requests} requests but {outputs} output buffers")
            }
            SealError::Internal(s) => write!(f, "internal failure: {s}"),
            SealError::Signing(e) => write!(f, "cannot sign the message: {e}"),
            SealError::BeyondMaxLen { max_len, len } => {
                write!(f, "{len} plaintext bytes is more than max_len {max_len}")
            }
            SealError::WriterClosed => f.write_str("the fragment writer failed earlier"),
        }
    }
}

impl std::error::Error for SealError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SealError::Keyring(e) => Some(e),
            SealError::Signing(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Authentication(e) => e.fmt(f),
            OpenError::Format(e) => e.fmt(f),
            OpenError::NoTrustedKey => {
                f.write_str("no encrypted data key in the message is trusted by the keyring")
            }
            // One key tried: its failure says it all.
            OpenError::AllKeysFailed(errors) if errors.len() == 1 => match errors.first() {
                Some(only) => only.fmt(f),
                None => f.write_str("no encrypted data key opened"),
            },
            OpenError::AllKeysFailed(errors) => {
                write!(f, "no encrypted data key opened ({} tried)", errors.len())?;
                if let Some(first) = errors.first() {
                    write!(f, "; first: {first}")?;
                }
                Ok(())
            }
            OpenError::Context(ContextMismatch::Missing { key }) => {
                write!(f, "required encryption context key {key:?} is missing")
            }
            OpenError::Context(ContextMismatch::WrongValue { key }) => write!(
                f,
                "encryption context key {key:?} does not have the required value"
            ),
            OpenError::Context(ContextMismatch::SuppliedKeyStored { key }) => write!(
                f,
                "supplied encryption context key {key:?} is also stored in the message"
            ),
            OpenError::CaseVariantKeys(k) => write!(
                f,
                "encryption context keys {:?} and {:?} differ only in case",
                k.first, k.second
            ),
            OpenError::RangeReversed { start, end } => write!(f, "reversed range {start}..{end}"),
            OpenError::RangeBeyondEnd { end, plaintext_len } => write!(
                f,
                "range ends at {end}, beyond the plaintext length {plaintext_len}"
            ),
            OpenError::Io(e) => write!(f, "I/O error: {e}"),
            OpenError::Internal(s) => write!(f, "internal failure: {s}"),
            OpenError::CommitmentPolicy { suite } => write!(
                f,
                "algorithm suite {suite} is not key-committing and the commitment policy \
                 RequireEncryptRequireDecrypt refuses it (RequireEncryptAllowDecrypt opens it)"
            ),
            OpenError::SignaturePolicy { suite } => write!(
                f,
                "algorithm suite {suite} is unsigned and the signature policy RequireSigned \
                 refuses it"
            ),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Authentication(e) => Some(e),
            OpenError::Format(e) => Some(e),
            OpenError::AllKeysFailed(errors) => errors
                .first()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            OpenError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Seal(e) => e.fmt(f),
            Error::Open(e) => e.fmt(f),
            Error::Config(e) => e.fmt(f),
            Error::Keyring(e) => e.fmt(f),
            Error::Authentication(e) => e.fmt(f),
            Error::Format(e) => e.fmt(f),
            Error::Kms(e) => write!(f, "KMS call failed: {e}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Internal(s) => write!(f, "internal failure: {s}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Seal(e) => Some(e),
            Error::Open(e) => Some(e),
            Error::Config(e) => Some(e),
            Error::Keyring(e) => Some(e),
            Error::Authentication(e) => Some(e),
            Error::Format(e) => Some(e),
            Error::Kms(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Internal(_) => None,
        }
    }
}

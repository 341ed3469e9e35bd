//! fragseal's errors, one type per direction.
//!
//! - [`SealError`]: sealing failed (the request is invalid, or no data key could be had).
//! - [`OpenError`]: opening failed. Authentication failures — a bad tag, a wrong key, a wrong
//!   encryption context, a commit key mismatch, a fragment identity mismatch — are its one
//!   opaque variant, [`OpenError::Authentication`]: it says nothing about which check failed.
//! - [`ConfigError`]: an engine or keyring could not be built from its configuration.
//! - [`KeyringError`]: a keyring could not wrap, generate or unwrap a data key.
//! - [`Error`]: an umbrella with `From` impls, for callers who use `?` across directions.
//!
//! Every variant other than authentication is precise: it carries typed fields, never a
//! string for the caller to parse.

mod conversions;
mod display;

use crate::format::header::WriteError;
use crate::format::FormatError;
use crate::kms::KmsError;

/// The message failed authentication. Deliberately opaque: it does not tell a bad tag from a
/// wrong key, a wrong context or a moved fragment, so that it leaks nothing to an attacker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthenticationError;

/// Two keys of one encryption context that differ only in ASCII case (for example
/// `aws:kinesisvideo:arn` and `AWS:KINESISVIDEO:ARN`). Such contexts are refused in both
/// directions: a policy engine that compares keys case-insensitively could read the wrong one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseVariantKeys {
    /// The first key, in canonical (byte) order.
    pub first: String,
    /// The key that differs from it only in case.
    pub second: String,
}

/// A keyring could not generate, wrap or unwrap a data key, or could not be built.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum KeyringError {
    /// A KMS call failed.
    Kms(KmsError),
    /// A discovery keyring was asked to seal: it has no key to seal under.
    DiscoveryCannotSeal,
    /// A strict KMS keyring was built without key ids.
    NoKeyIds,
    /// The KMS key id resolved (or returned by KMS) is not a well-formed KMS key ARN.
    NotAKeyArn {
        /// What KMS returned.
        value: String,
    },
    /// KMS answered for another key than the one the keyring asked for.
    UnexpectedKey {
        /// The key the keyring asked for.
        expected: String,
        /// The key KMS named in its answer.
        returned: String,
    },
    /// KMS returned a plaintext data key of the wrong length.
    DataKeyLength {
        /// Its length in bytes (32 expected).
        len: usize,
    },
    /// A raw AES wrapping key that is not 32 bytes long.
    WrappingKeyLength {
        /// Its length in bytes.
        len: usize,
    },
    /// A raw AES key namespace starting with the reserved `aws-kms`.
    ReservedNamespace,
    /// A raw AES key namespace or name too long for an encrypted data key.
    NameTooLong {
        /// The namespace's or name's length in bytes.
        len: usize,
    },
    /// The encryption context cannot be serialized (more than 65535 pairs or bytes).
    ContextTooLarge,
    /// The encrypted data key is not this keyring's (see [`crate::keyring::Keyring::accepts`]).
    NotMine,
    /// The encrypted data key is this keyring's but does not decrypt (opaque).
    Authentication(AuthenticationError),
    /// A multi-keyring's generator failed, or a child failed to wrap.
    Child(Box<KeyringError>),
    /// The signing key pair of a signed-suite data key could not be generated (the ECDSA
    /// provider refused it; not expected).
    SigningKey(crate::crypto::sign::SignError),
    /// A raw RSA keyring's key is missing for the operation, does not parse, or is unusable.
    RsaKey {
        /// What is wrong.
        reason: &'static str,
    },
}

impl KeyringError {
    /// Whether the same call may succeed if retried (a retryable KMS failure).
    pub fn is_retryable(&self) -> bool {
        match self {
            KeyringError::Kms(e) => e.is_retryable(),
            KeyringError::Child(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// The KMS failure behind this error, if any.
    pub fn kms(&self) -> Option<&KmsError> {
        match self {
            KeyringError::Kms(e) => Some(e),
            KeyringError::Child(e) => e.kms(),
            _ => None,
        }
    }
}

/// An engine could not be built from its configuration.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// A frame length of 0.
    ZeroFrameLength,
    /// A retry policy with no attempt.
    ZeroRetryAttempts,
    /// A retry policy whose initial backoff exceeds its maximum backoff.
    BackoffOrder,
    /// A cache limit that must be non-zero while caching is on is zero (turn caching off with
    /// `CacheLimits::disabled()` instead).
    ZeroCacheLimit {
        /// The limit: `max_age`, `max_fragments`, `max_bytes` or `max_entries_per_credential`.
        field: &'static str,
    },
    /// The cache's `refresh_ahead` fraction is outside `(0, 1]` (or not a number).
    RefreshAhead {
        /// The fraction given.
        value: f64,
    },
    /// The keyring could not be built.
    Keyring(KeyringError),
}

/// Sealing failed. The request is left untouched.
#[derive(Debug)]
#[non_exhaustive]
pub enum SealError {
    /// No data key could be had from the keyring (after retries).
    Keyring(KeyringError),
    /// An encryption context key uses the reserved prefix `aws-crypto-`.
    ReservedContextKey {
        /// The key.
        key: String,
    },
    /// Two encryption context keys differ only in case.
    CaseVariantKeys(CaseVariantKeys),
    /// A key is both stored and to be authenticated only.
    ContextKeyInBoth {
        /// The key.
        key: String,
    },
    /// The fragment identity's stream differs from the context's `aws:kinesisvideo:arn`.
    IdentityStreamMismatch {
        /// The context's `aws:kinesisvideo:arn`.
        context: String,
        /// The identity's stream ARN.
        identity: String,
    },
    /// The fragment identity's stream ARN is longer than 65535 bytes.
    IdentityTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A frame length of 0.
    ZeroFrameLength,
    /// The plaintext needs more than 2^32 − 1 frames of this length.
    TooManyFrames {
        /// The plaintext's length in bytes.
        plaintext_len: u64,
        /// The frame length.
        frame_length: u32,
    },
    /// The sealed message would not fit in memory.
    MessageTooLarge,
    /// The header cannot be written (a field too long or too many entries).
    Header(WriteError),
    /// A batch was given a different number of output buffers than requests.
    BufferCount {
        /// The number of requests.
        requests: usize,
        /// The number of output buffers.
        outputs: usize,
    },
    /// An internal failure that is not the caller's (a poisoned lock, a panicking fetch).
    Internal(&'static str),
    /// The ECDSA provider failed to generate a key pair or to sign (signed suite `0x0578`).
    Signing(crate::crypto::sign::SignError),
    /// A [fragment writer](crate::engine::FragmentWriter) was given more plaintext than the
    /// `max_len` of its request.
    BeyondMaxLen {
        /// The request's `max_len`.
        max_len: u64,
        /// The length the write would have reached.
        len: u64,
    },
    /// A [fragment writer](crate::engine::FragmentWriter) failed earlier and is closed.
    WriterClosed,
}

/// Why a caller's required encryption-context pair was not satisfied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContextMismatch {
    /// A required pair's key is not in the stored context.
    Missing {
        /// The key.
        key: String,
    },
    /// A required pair's key is stored with another value.
    WrongValue {
        /// The key.
        key: String,
    },
    /// A supplied (authenticated, not stored) pair's key is also stored in the message.
    SuppliedKeyStored {
        /// The key.
        key: String,
    },
}

/// Opening failed. Nothing of the plaintext is released.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// Authentication failed (opaque; see [`AuthenticationError`]).
    Authentication(AuthenticationError),
    /// The message is malformed: which field, at which byte, and what is wrong.
    Format(FormatError),
    /// No encrypted data key of the message is accepted by the keyring (none is trusted).
    NoTrustedKey,
    /// Every trusted encrypted data key failed to unwrap; one error per key tried, in the
    /// message's order (KMS refusals, raw AES authentication failures, ...).
    AllKeysFailed(Vec<KeyringError>),
    /// The stored or supplied context does not satisfy the caller's expectations.
    Context(ContextMismatch),
    /// Two encryption context keys differ only in case.
    CaseVariantKeys(CaseVariantKeys),
    /// A range whose start is after its end.
    RangeReversed {
        /// Start.
        start: u64,
        /// End.
        end: u64,
    },
    /// A range that ends beyond the plaintext.
    RangeBeyondEnd {
        /// End of the range.
        end: u64,
        /// The plaintext length.
        plaintext_len: u64,
    },
    /// Reading a streamed message failed.
    Io(std::io::Error),
    /// An internal failure that is not the caller's (a poisoned lock, a panicking fetch).
    Internal(&'static str),
    /// The message's algorithm suite is not allowed by the configured commitment policy (a
    /// configuration refusal, before any key is used; not the opaque authentication failure).
    /// Spec (client-apis/decrypt.md): "If the algorithm suite is not supported by the
    /// commitment policy configured in the client decrypt MUST yield an error." Under the
    /// default [`CommitmentPolicy::RequireEncryptRequireDecrypt`](crate::CommitmentPolicy),
    /// every non-committing (format version 1) suite is refused this way.
    CommitmentPolicy {
        /// The message's suite.
        suite: crate::format::AlgorithmSuite,
    },
    /// The message's suite is unsigned and the opener's
    /// [`SignaturePolicy::RequireSigned`](crate::SignaturePolicy) requires a signed one
    /// (`0x0578`). Refused after the header is parsed, before any keyring call.
    SignaturePolicy {
        /// The message's suite.
        suite: crate::format::AlgorithmSuite,
    },
}

impl OpenError {
    /// Whether this is the opaque authentication failure.
    pub fn is_authentication(&self) -> bool {
        matches!(self, OpenError::Authentication(_))
    }

    /// The commitment policy's reading of a parse error: a known non-committing suite refused
    /// by the parse limits ([`FormatErrorKind::NonCommittingSuite`]) becomes
    /// [`OpenError::CommitmentPolicy`]; every other error is kept. For openers whose limits
    /// follow a commitment policy (as an [`Engine`](crate::engine::Engine)'s do).
    ///
    /// [`FormatErrorKind::NonCommittingSuite`]: crate::format::FormatErrorKind::NonCommittingSuite
    pub fn into_policy_refusal(self) -> Self {
        use crate::format::{AlgorithmSuite, FormatErrorKind};
        match self {
            OpenError::Format(FormatError {
                kind: FormatErrorKind::NonCommittingSuite(id),
                ..
            }) => match AlgorithmSuite::from_id(id) {
                Some(suite) if !suite.is_committing() => OpenError::CommitmentPolicy { suite },
                _ => self,
            },
            other => other,
        }
    }
}

/// Everything that can go wrong in fragseal, for callers who use `?` across directions.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Sealing failed.
    Seal(SealError),
    /// Opening failed.
    Open(OpenError),
    /// A configuration was refused.
    Config(ConfigError),
    /// A keyring failed outside sealing or opening (for example while being built).
    Keyring(KeyringError),
    /// Authentication failed (opaque), in a lower-level primitive.
    Authentication(AuthenticationError),
    /// The message is malformed.
    Format(FormatError),
    /// A KMS call failed (outside a keyring: for example a key administration call).
    Kms(KmsError),
    /// Reading or writing failed.
    Io(std::io::Error),
    /// An internal failure that is not the caller's: a lock poisoned by a panicking thread, or a
    /// key fetch that panicked. The operation failed closed; the text says what happened.
    Internal(&'static str),
}

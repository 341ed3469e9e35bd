//! KMS errors, named after AWS KMS's exceptions.

use core::fmt;
use std::sync::Arc;

/// The kind of a KMS failure. Names follow AWS KMS's exceptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KmsErrorKind {
    /// `NotFoundException`: no such key or alias.
    NotFound,
    /// `DisabledException`: the key is disabled.
    Disabled,
    /// `KMSInvalidStateException`: the key's state forbids the call (for example pending deletion).
    InvalidState,
    /// `InvalidCiphertextException`: the ciphertext blob or its encryption context is wrong.
    InvalidCiphertext,
    /// `IncorrectKeyException`: the blob was made under another key than the one named.
    IncorrectKey,
    /// `AccessDeniedException`: no policy allows the call, or one denies it.
    AccessDenied,
    /// `ThrottlingException`: the request rate quota was exceeded.
    Throttling,
    /// `ValidationException` / `InvalidKeyUsageException` / bad parameters.
    InvalidRequest,
    /// The request did not reach KMS or its answer did not come back (network, timeout).
    Transport,
    /// `KMSInternalException` or an answer that could not be understood.
    Internal,
}

impl KmsErrorKind {
    /// The AWS KMS error code for this kind.
    pub fn code(self) -> &'static str {
        match self {
            KmsErrorKind::NotFound => "NotFoundException",
            KmsErrorKind::Disabled => "DisabledException",
            KmsErrorKind::InvalidState => "KMSInvalidStateException",
            KmsErrorKind::InvalidCiphertext => "InvalidCiphertextException",
            KmsErrorKind::IncorrectKey => "IncorrectKeyException",
            KmsErrorKind::AccessDenied => "AccessDeniedException",
            KmsErrorKind::Throttling => "ThrottlingException",
            KmsErrorKind::InvalidRequest => "ValidationException",
            KmsErrorKind::Transport => "TransportError",
            KmsErrorKind::Internal => "KMSInternalException",
        }
    }

    /// Whether the same call may succeed if retried later (throttling, transport, internal).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            KmsErrorKind::Throttling | KmsErrorKind::Transport | KmsErrorKind::Internal
        )
    }
}

/// A KMS failure: its kind, a message, and the backend's own error as the source.
#[derive(Clone)]
pub struct KmsError {
    kind: KmsErrorKind,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl KmsError {
    /// A new error of `kind` with a human-readable `message` (never key material).
    pub fn new(kind: KmsErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the backend's own error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The kind.
    pub fn kind(&self) -> KmsErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether a retry may help.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

impl fmt::Debug for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for KmsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

//! KVS errors: the exceptions of the Kinesis Video Streams API (named exactly as AWS names
//! them), and the numeric error ids of PutMedia `ERROR` acknowledgements and GetMedia's
//! `AWS_KINESISVIDEO_ERROR_ID` tag, with the mapping from KMS failures.

use super::store::StoreError;
use crate::kms::{KmsError, KmsErrorKind};
use core::fmt;

/// The kind of a KVS API failure: one per exception of the KVS API reference that this layer
/// can raise. [`KvsErrorKind::code`] is the exception name exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KvsErrorKind {
    /// `ResourceNotFoundException`: no such stream (or fragment list entry).
    ResourceNotFound,
    /// `ResourceInUseException`: a stream of that name exists already (CreateStream), or the
    /// stream is not in a state that allows the call.
    ResourceInUse,
    /// `InvalidArgumentException`: a parameter is missing, malformed or out of range
    /// (including an attempt to change the stream's KMS key with UpdateStream).
    InvalidArgument,
    /// `NotAuthorizedException`: no identity policy allows the `kinesisvideo:` action on the
    /// stream (or one denies it).
    NotAuthorized,
    /// `VersionMismatchException`: `CurrentVersion` is not the stream's version.
    VersionMismatch,
    /// `ClientLimitExceededException`: a limit of this emulator was reached.
    ClientLimitExceeded,
    /// `InvalidEndpointException`: not used by the library; kept for the server's mapping.
    InvalidEndpoint,
    /// The stream store failed (I/O, a corrupt or foreign file). Not an AWS exception name:
    /// a client sees it as an internal failure; the code is `StoreError`.
    Store,
    /// An internal failure (a poisoned lock). The code is `InternalFailure`.
    Internal,
}

impl KvsErrorKind {
    /// The exception name, exactly as the KVS API reference spells it.
    pub fn code(self) -> &'static str {
        match self {
            KvsErrorKind::ResourceNotFound => "ResourceNotFoundException",
            KvsErrorKind::ResourceInUse => "ResourceInUseException",
            KvsErrorKind::InvalidArgument => "InvalidArgumentException",
            KvsErrorKind::NotAuthorized => "NotAuthorizedException",
            KvsErrorKind::VersionMismatch => "VersionMismatchException",
            KvsErrorKind::ClientLimitExceeded => "ClientLimitExceededException",
            KvsErrorKind::InvalidEndpoint => "InvalidEndpointException",
            KvsErrorKind::Store => "StoreError",
            KvsErrorKind::Internal => "InternalFailure",
        }
    }
}

/// A KVS API failure: its kind and a message (never key material, never media).
#[derive(Debug)]
pub struct KvsError {
    kind: KvsErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl KvsError {
    /// A new error.
    pub fn new(kind: KvsErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The kind: match on this, never on the message.
    pub fn kind(&self) -> KvsErrorKind {
        self.kind
    }

    /// The exception name ([`KvsErrorKind::code`]).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(KvsErrorKind::InvalidArgument, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(KvsErrorKind::ResourceNotFound, message)
    }

    pub(crate) fn poisoned() -> Self {
        Self::new(
            KvsErrorKind::Internal,
            "a lock of the KVS layer was poisoned",
        )
    }
}

impl fmt::Display for KvsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for KvsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<StoreError> for KvsError {
    fn from(e: StoreError) -> Self {
        Self {
            kind: KvsErrorKind::Store,
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

/// The numeric error ids KVS reports in PutMedia `ERROR` acknowledgements (`ErrorId`) and in
/// GetMedia's `AWS_KINESISVIDEO_ERROR_ID` tag, as the PutMedia and GetMedia API references
/// list them. Only the ids this layer produces are modelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorId {
    /// 3002: error writing to the stream (GetMedia: the output could not be written).
    WriteError,
    /// 4000 in PutMedia: error reading the data stream (`STREAM_READ_ERROR`).
    StreamReadError,
    /// 4000 in GetMedia: the requested fragment is not found.
    FragmentNotFound,
    /// 4001: PutMedia: the fragment exceeds the size limit (`MAX_FRAGMENT_SIZE_REACHED`).
    MaxFragmentSize,
    /// 4006: PutMedia: the MKV data could not be parsed (`INVALID_MKV_DATA`).
    InvalidMkvData,
    /// 4500: access denied for the stream's KMS key.
    KmsAccessDenied,
    /// 4501: the stream's KMS key is disabled.
    KmsKeyDisabled,
    /// 4502: validation error on the stream's KMS key.
    KmsValidation,
    /// 4503: the stream's KMS key is unavailable (throttling or outage, after retries).
    KmsKeyUnavailable,
    /// 4504: invalid usage of the stream's KMS key.
    KmsInvalidUsage,
    /// 4505: the stream's KMS key is in an invalid state (pending deletion).
    KmsInvalidState,
    /// 4506: the stream's KMS key was not found.
    KmsKeyNotFound,
    /// 5000: internal error (including a stored fragment that fails to authenticate).
    Internal,
}

impl ErrorId {
    /// The number.
    pub fn id(self) -> u32 {
        match self {
            ErrorId::WriteError => 3002,
            ErrorId::StreamReadError | ErrorId::FragmentNotFound => 4000,
            ErrorId::MaxFragmentSize => 4001,
            ErrorId::InvalidMkvData => 4006,
            ErrorId::KmsAccessDenied => 4500,
            ErrorId::KmsKeyDisabled => 4501,
            ErrorId::KmsValidation => 4502,
            ErrorId::KmsKeyUnavailable => 4503,
            ErrorId::KmsInvalidUsage => 4504,
            ErrorId::KmsInvalidState => 4505,
            ErrorId::KmsKeyNotFound => 4506,
            ErrorId::Internal => 5000,
        }
    }

    /// The symbolic name KVS clients use for the id (the producer SDK's and the
    /// `AWS_KINESISVIDEO_ERROR_CODE` tag's spelling).
    pub fn name(self) -> &'static str {
        match self {
            ErrorId::WriteError => "STREAM_WRITE_ERROR",
            ErrorId::StreamReadError => "STREAM_READ_ERROR",
            ErrorId::FragmentNotFound => "FRAGMENT_NOT_FOUND",
            ErrorId::MaxFragmentSize => "MAX_FRAGMENT_SIZE_REACHED",
            ErrorId::InvalidMkvData => "INVALID_MKV_DATA",
            ErrorId::KmsAccessDenied => "KMS_KEY_ACCESS_DENIED",
            ErrorId::KmsKeyDisabled => "KMS_KEY_DISABLED",
            ErrorId::KmsValidation => "KMS_KEY_VALIDATION_ERROR",
            ErrorId::KmsKeyUnavailable => "KMS_KEY_UNAVAILABLE",
            ErrorId::KmsInvalidUsage => "KMS_KEY_INVALID_USAGE",
            ErrorId::KmsInvalidState => "KMS_KEY_INVALID_STATE",
            ErrorId::KmsKeyNotFound => "KMS_KEY_NOT_FOUND",
            ErrorId::Internal => "INTERNAL_ERROR",
        }
    }

    /// The id a KMS failure is reported with:
    /// - `AccessDeniedException`, and `ExpiredTokenException` (the caller's session ended: a
    ///   new session is a new credential, so the same call cannot succeed) → 4500;
    ///   `DisabledException` → 4501;
    /// - `ValidationException`, `InvalidArnException`, `InvalidAliasNameException`,
    ///   `InvalidGrantTokenException` → 4502;
    /// - the retryable failures (throttling, `KeyUnavailableException`, timeouts, transport,
    ///   `KMSInternalException`), once the engine's retries are spent → 4503;
    /// - `InvalidKeyUsageException`, `IncorrectKeyException` → 4504;
    /// - `KMSInvalidStateException` (pending deletion) → 4505; `NotFoundException` → 4506;
    /// - anything else (an `InvalidCiphertextException` on data this layer stored, a failed
    ///   audit write) → 5000.
    pub fn for_kms(kind: KmsErrorKind) -> Self {
        match kind {
            KmsErrorKind::AccessDenied | KmsErrorKind::ExpiredToken => ErrorId::KmsAccessDenied,
            KmsErrorKind::Disabled => ErrorId::KmsKeyDisabled,
            KmsErrorKind::InvalidRequest
            | KmsErrorKind::InvalidArn
            | KmsErrorKind::InvalidAliasName
            | KmsErrorKind::InvalidGrantToken => ErrorId::KmsValidation,
            KmsErrorKind::InvalidKeyUsage | KmsErrorKind::IncorrectKey => ErrorId::KmsInvalidUsage,
            KmsErrorKind::InvalidState => ErrorId::KmsInvalidState,
            KmsErrorKind::NotFound => ErrorId::KmsKeyNotFound,
            KmsErrorKind::AuditFailure => ErrorId::Internal,
            k if k.is_retryable() => ErrorId::KmsKeyUnavailable,
            _ => ErrorId::Internal,
        }
    }

    /// [`ErrorId::for_kms`] of a KMS error.
    pub fn for_kms_error(e: &KmsError) -> Self {
        Self::for_kms(e.kind())
    }
}

impl fmt::Display for ErrorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.id(), self.name())
    }
}

/// Why a fragment failed: its error id and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentFailure {
    /// The id.
    pub error_id: ErrorId,
    /// What happened (never media or key material).
    pub message: String,
}

impl FragmentFailure {
    pub(crate) fn new(error_id: ErrorId, message: impl Into<String>) -> Self {
        Self {
            error_id,
            message: message.into(),
        }
    }

    /// From a failed seal.
    pub(crate) fn from_seal(e: &crate::SealError) -> Self {
        match e {
            crate::SealError::Keyring(k) => match k.kms() {
                Some(kms) => Self::new(ErrorId::for_kms_error(kms), kms.to_string()),
                None => Self::new(ErrorId::Internal, k.to_string()),
            },
            other => Self::new(ErrorId::Internal, other.to_string()),
        }
    }

    /// From a failed open: the first KMS failure decides; a message that does not
    /// authenticate or parse is an internal error (the store was tampered with).
    pub(crate) fn from_open(e: &crate::OpenError) -> Self {
        if let crate::OpenError::AllKeysFailed(list) = e {
            if let Some(kms) = list.iter().find_map(|k| k.kms()) {
                return Self::new(ErrorId::for_kms_error(kms), kms.to_string());
            }
        }
        Self::new(ErrorId::Internal, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_failures_map_to_kvs_error_ids() {
        let cases = [
            (KmsErrorKind::AccessDenied, 4500),
            (KmsErrorKind::Disabled, 4501),
            (KmsErrorKind::InvalidRequest, 4502),
            (KmsErrorKind::Throttling, 4503),
            (KmsErrorKind::KeyUnavailable, 4503),
            (KmsErrorKind::Transport, 4503),
            (KmsErrorKind::InvalidKeyUsage, 4504),
            (KmsErrorKind::InvalidState, 4505),
            (KmsErrorKind::NotFound, 4506),
            (KmsErrorKind::InvalidCiphertext, 5000),
            (KmsErrorKind::AuditFailure, 5000),
        ];
        for (kind, id) in cases {
            assert_eq!(ErrorId::for_kms(kind).id(), id, "{kind:?}");
        }
        // Every kind maps to one of the documented ids.
        for kind in KmsErrorKind::ALL {
            let id = ErrorId::for_kms(*kind).id();
            assert!(
                (4500..=4506).contains(&id) || id == 5000,
                "{kind:?} -> {id}"
            );
        }
    }
}

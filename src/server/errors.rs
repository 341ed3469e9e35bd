//! Errors on the wire: AWS's JSON 1.1 error body `{"__type": NAME, "message": TEXT}` and the
//! HTTP status AWS KMS uses for each exception.
//!
//! Statuses, from the AWS KMS API Reference ("Errors" of each action and "Common Errors"):
//! every client error is 400, except `DryRunOperationException` (412) and `ConflictException`
//! (409); `KMSInternalException`, `DependencyTimeoutException` and `KeyUnavailableException`
//! are 500. The protocol errors of the JSON 1.1 front end (`SerializationException`,
//! `UnknownOperationException`) and the authentication errors (`MissingAuthenticationToken`,
//! `IncompleteSignature`, `InvalidSignature`, `UnrecognizedClient`) are 400, as AWS's JSON
//! services send them. A body over the server's limit is 413.

use crate::kms::{KmsError, KmsErrorKind};
use http::StatusCode;

/// An error answer: the exception name, its message and the HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) status: StatusCode,
    /// Whether LocalKms produced (and so already audited) this error.
    pub(crate) audited: bool,
}

/// `SerializationException`: the body is not the JSON the operation takes.
pub(crate) const SERIALIZATION: &str = "SerializationException";
/// `UnknownOperationException`: no such operation (or no `X-Amz-Target`).
pub(crate) const UNKNOWN_OPERATION: &str = "UnknownOperationException";
/// `ValidationException`: a member is missing or out of range.
pub(crate) const VALIDATION: &str = "ValidationException";
/// `MissingAuthenticationTokenException`: no `Authorization` header.
pub(crate) const MISSING_AUTH: &str = "MissingAuthenticationTokenException";
/// `IncompleteSignatureException`: the `Authorization` header is garbled or incomplete.
pub(crate) const INCOMPLETE_SIGNATURE: &str = "IncompleteSignatureException";
/// `InvalidSignatureException`: the signature, its scope or its date is wrong.
pub(crate) const INVALID_SIGNATURE: &str = "InvalidSignatureException";
/// `UnrecognizedClientException`: unknown access key (or a session token).
pub(crate) const UNRECOGNIZED_CLIENT: &str = "UnrecognizedClientException";
/// `ExpiredTokenException`: a session whose expiration has passed.
pub(crate) const EXPIRED_TOKEN: &str = "ExpiredTokenException";
/// The body is larger than the server accepts.
pub(crate) const TOO_LARGE: &str = "RequestEntityTooLargeException";
/// `UnsupportedOperationException`: a parameter this server does not model.
pub(crate) const UNSUPPORTED: &str = "UnsupportedOperationException";

impl ApiError {
    /// A client error (HTTP 400).
    pub(crate) fn client(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
            audited: false,
        }
    }

    /// `SerializationException`.
    pub(crate) fn serialization(message: impl Into<String>) -> Self {
        Self::client(SERIALIZATION, message)
    }

    /// `UnsupportedOperationException`.
    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Self::client(UNSUPPORTED, message)
    }

    /// `KMSInternalException` (HTTP 500).
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self {
            code: KmsErrorKind::Internal.code(),
            message: message.into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            audited: false,
        }
    }

    /// HTTP 413 for a body over `limit` bytes.
    pub(crate) fn too_large(limit: usize) -> Self {
        Self {
            code: TOO_LARGE,
            message: format!("Request body exceeds the limit of {limit} bytes."),
            status: StatusCode::PAYLOAD_TOO_LARGE,
            audited: false,
        }
    }

    /// An error of a KMS `kind` that this server found before calling LocalKms (so not yet
    /// audited).
    pub(crate) fn kms(kind: KmsErrorKind, message: impl Into<String>) -> Self {
        Self {
            audited: false,
            ..Self::from(KmsError::new(kind, message))
        }
    }

    /// The JSON 1.1 error body.
    pub(crate) fn body(&self) -> Vec<u8> {
        serde_json::json!({"__type": self.code, "message": self.message})
            .to_string()
            .into_bytes()
    }
}

/// The HTTP status AWS KMS answers `kind` with.
pub(crate) fn status_of(kind: KmsErrorKind) -> StatusCode {
    match kind {
        KmsErrorKind::Internal
        | KmsErrorKind::AuditFailure
        | KmsErrorKind::DependencyTimeout
        | KmsErrorKind::KeyUnavailable
        | KmsErrorKind::Transport => StatusCode::INTERNAL_SERVER_ERROR,
        KmsErrorKind::DryRunOperation => StatusCode::PRECONDITION_FAILED,
        KmsErrorKind::Conflict => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// An error LocalKms returned: it audited the call itself.
impl From<KmsError> for ApiError {
    fn from(e: KmsError) -> Self {
        let code = match e.kind() {
            // A server never answers with the client-side pseudo-code.
            KmsErrorKind::Transport => KmsErrorKind::Internal.code(),
            _ => e.code(),
        };
        Self {
            code,
            message: e.message().to_owned(),
            status: status_of(e.kind()),
            audited: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_kms_api_reference() {
        use KmsErrorKind as K;
        for (kind, status) in [
            (K::NotFound, 400),
            (K::AccessDenied, 400),
            (K::InvalidRequest, 400),
            (K::Throttling, 400),
            (K::Disabled, 400),
            (K::InvalidState, 400),
            (K::Internal, 500),
            (K::AuditFailure, 500),
            (K::DependencyTimeout, 500),
            (K::KeyUnavailable, 500),
            (K::DryRunOperation, 412),
            (K::Conflict, 409),
        ] {
            assert_eq!(status_of(kind).as_u16(), status, "{kind:?}");
        }
    }

    #[test]
    fn kms_errors_keep_their_aws_names() {
        let e = ApiError::from(KmsError::new(KmsErrorKind::InvalidRequest, "bad"));
        assert_eq!(e.code, "ValidationException");
        let e = ApiError::from(KmsError::new(KmsErrorKind::AuditFailure, "disk"));
        assert_eq!((e.code, e.status.as_u16()), ("KMSInternalException", 500));
        let e = ApiError::from(KmsError::new(KmsErrorKind::Transport, "x"));
        assert_eq!(e.code, "KMSInternalException");
        let body: serde_json::Value = serde_json::from_slice(&e.body()).expect("json");
        assert_eq!(body["__type"], "KMSInternalException");
        assert_eq!(body["message"], "x");
    }
}

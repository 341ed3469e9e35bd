//! AWS error answers → [`KmsError`]: by error code (JSON `__type`, the `x-amzn-ErrorType`
//! header, or an XML `<Code>`), then by HTTP status; transport failures and timeouts are
//! [`KmsErrorKind::Transport`].

use crate::kms::{KmsError, KmsErrorKind};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};

/// Error codes that are not KMS exceptions but that AWS front ends, other protocols or
/// emulators send, with the kind they mean. Checked after the KMS exceptions themselves.
const ALIASES: &[(&str, KmsErrorKind)] = {
    use KmsErrorKind as K;
    &[
        ("ResourceNotFoundException", K::NotFound),
        // Authentication and signing: the same signed request cannot succeed on retry.
        ("AccessDenied", K::AccessDenied),
        ("UnrecognizedClientException", K::AccessDenied),
        ("InvalidClientTokenId", K::AccessDenied),
        ("InvalidSignatureException", K::AccessDenied),
        ("SignatureDoesNotMatch", K::AccessDenied),
        ("IncompleteSignature", K::AccessDenied),
        ("MissingAuthenticationToken", K::AccessDenied),
        ("MissingAuthenticationTokenException", K::AccessDenied),
        // STS's Query-protocol spelling of an expired session (`ExpiredTokenException` is a
        // kind of its own).
        ("ExpiredToken", K::ExpiredToken),
        ("RequestExpired", K::AccessDenied),
        ("RequestTimeTooSkewed", K::AccessDenied),
        ("AuthFailure", K::AccessDenied),
        ("OptInRequired", K::AccessDenied),
        ("NotAuthorizedException", K::AccessDenied),
        // Request rates.
        ("Throttling", K::Throttling),
        ("ThrottledException", K::Throttling),
        ("RequestThrottled", K::Throttling),
        ("RequestThrottledException", K::Throttling),
        ("RequestLimitExceeded", K::Throttling),
        ("TooManyRequestsException", K::Throttling),
        ("ProvisionedThroughputExceededException", K::Throttling),
        ("BandwidthLimitExceeded", K::Throttling),
        ("SlowDown", K::Throttling),
        ("PriorRequestNotComplete", K::Throttling),
        ("EC2ThrottledException", K::Throttling),
        // Malformed requests.
        ("ValidationError", K::InvalidRequest),
        ("InvalidParameterValue", K::InvalidRequest),
        ("InvalidParameterCombination", K::InvalidRequest),
        ("MissingParameter", K::InvalidRequest),
        ("SerializationException", K::InvalidRequest),
        ("UnknownOperationException", K::InvalidRequest),
        ("InvalidAction", K::InvalidRequest),
        ("InvalidQueryParameter", K::InvalidRequest),
        ("RequestTimeout", K::Transport),
        ("RequestTimeoutException", K::Transport),
        ("InternalFailure", K::Internal),
        ("InternalError", K::Internal),
        ("InternalServerError", K::Internal),
        ("ServiceUnavailable", K::Internal),
        ("ServiceUnavailableException", K::Internal),
    ]
};

/// The [`KmsErrorKind`] for an AWS error code, with the code's exact name as a `'static` string
/// (what [`KmsError::code`] then returns). Accepts the code bare or with a `namespace#` prefix
/// or a `:detail` suffix. `None` for codes it does not know.
///
/// Every KMS exception maps to its own kind ([`KmsErrorKind::from_code`]). Other codes:
/// - signing and clock failures (`UnrecognizedClientException`, `InvalidSignatureException`,
///   `RequestTimeTooSkewed`, ...) are `AccessDenied`, final: the same signed request cannot
///   succeed on retry;
/// - an expired session (`ExpiredTokenException`, STS's `ExpiredToken`) is
///   [`KmsErrorKind::ExpiredToken`]: final for that credential, recoverable by refreshing it
///   ([`crate::kms::RetryKind::RefreshCredentials`]);
/// - rate limits of other services' spelling (`RequestLimitExceeded`, `TooManyRequestsException`,
///   ...) are `Throttling`, retryable; `LimitExceededException` is a resource quota (keys,
///   aliases, grants), its own kind, final;
/// - generic server failures (`InternalFailure`, `ServiceUnavailable`, ...) are `Internal`,
///   retryable.
pub fn classify_code(code: &str) -> Option<(KmsErrorKind, &'static str)> {
    let code = code.rsplit('#').next().unwrap_or(code);
    let code = code.split(':').next().unwrap_or(code).trim();
    if let Some(kind) = KmsErrorKind::from_code(code) {
        return Some((kind, kind.code()));
    }
    ALIASES
        .iter()
        .find(|(name, _)| *name == code)
        .map(|(name, kind)| (*kind, *name))
}

/// The [`KmsErrorKind`] for an AWS error code; see [`classify_code`].
pub fn kind_for_code(code: &str) -> Option<KmsErrorKind> {
    classify_code(code).map(|(kind, _)| kind)
}

/// The [`KmsErrorKind`] for an HTTP error status when the answer carries no error code we know:
/// 401/403 → `AccessDenied`, 404 → `NotFound`, 408 → `Transport`, 429 → `Throttling`, 5xx →
/// `Internal`, 2xx (a success answer the SDK could not decode) → `Internal`; anything else
/// (400 and the other 4xx, a 3xx redirect to another endpoint, 1xx, a status outside
/// 100–599) → `InvalidRequest`, final.
pub fn kind_for_status(status: u16) -> KmsErrorKind {
    match status {
        401 | 403 => KmsErrorKind::AccessDenied,
        404 => KmsErrorKind::NotFound,
        408 => KmsErrorKind::Transport,
        429 => KmsErrorKind::Throttling,
        200..=299 | 500..=599 => KmsErrorKind::Internal,
        _ => KmsErrorKind::InvalidRequest,
    }
}

/// The text between the first `<tag>` and the following `</tag>` of an XML error body, if any.
fn xml_element<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let rest = body.get(start..)?;
    let end = rest.find(&close)?;
    rest.get(..end).map(str::trim)
}

/// When the call failed because the caller's credentials provider failed (nothing was sent):
/// `Transport` (retryable) for a provider that timed out or failed, `AccessDenied` (final) for
/// one that has no credentials or is misconfigured.
fn credentials_failure(err: &(dyn std::error::Error + 'static)) -> Option<KmsErrorKind> {
    use aws_credential_types::provider::error::CredentialsError as C;
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(c) = e.downcast_ref::<C>() {
            return Some(match c {
                C::CredentialsNotLoaded(_) | C::InvalidConfiguration(_) => {
                    KmsErrorKind::AccessDenied
                }
                _ => KmsErrorKind::Transport,
            });
        }
        next = e.source();
    }
    None
}

/// Maps any error of an `aws-sdk-kms` call to a [`KmsError`]: by error code (the JSON code, or
/// an XML `<Code>` found in the body), then by HTTP status; transport failures and timeouts to
/// [`KmsErrorKind::Transport`]. The SDK error is kept as the source.
pub fn map_sdk_error<E>(err: SdkError<E, aws_sdk_kms::config::http::HttpResponse>) -> KmsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(kind) = credentials_failure(&err) {
        let message = format!(
            "AWS credentials unavailable: {}",
            aws_sdk_kms::error::DisplayErrorContext(&err)
        );
        return KmsError::new(kind, message).with_source(err);
    }
    let (kind, message) = match &err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let body = ctx
                .raw()
                .body()
                .bytes()
                .and_then(|b| core::str::from_utf8(b).ok());
            let xml_code = body.and_then(|b| xml_element(b, "Code"));
            let code = ctx.err().code().or(xml_code);
            let text = ctx
                .err()
                .message()
                .or_else(|| body.and_then(|b| xml_element(b, "Message")))
                .unwrap_or("");
            let known = code.and_then(classify_code);
            let kind = known.map_or_else(|| kind_for_status(status), |(kind, _)| kind);
            let message = format!(
                "HTTP {status} {}: {text}",
                code.unwrap_or("(no error code)")
            );
            let mut e = KmsError::new(kind, message);
            if let Some((_, exact)) = known {
                e = e.with_code(exact);
            }
            return e.with_source(err);
        }
        SdkError::TimeoutError(_) => (KmsErrorKind::Transport, "AWS KMS call timed out".to_owned()),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_user() {
                KmsErrorKind::InvalidRequest
            } else {
                KmsErrorKind::Transport
            };
            (
                kind,
                format!(
                    "request to AWS KMS failed: {}",
                    aws_sdk_kms::error::DisplayErrorContext(&err)
                ),
            )
        }
        SdkError::ResponseError(_) => (
            KmsErrorKind::Internal,
            format!(
                "unreadable answer from AWS KMS: {}",
                aws_sdk_kms::error::DisplayErrorContext(&err)
            ),
        ),
        SdkError::ConstructionFailure(_) => (
            KmsErrorKind::InvalidRequest,
            format!(
                "request could not be built: {}",
                aws_sdk_kms::error::DisplayErrorContext(&err)
            ),
        ),
        _ => (
            KmsErrorKind::Internal,
            format!(
                "AWS KMS call failed: {}",
                aws_sdk_kms::error::DisplayErrorContext(&err)
            ),
        ),
    };
    KmsError::new(kind, message).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_table() {
        use KmsErrorKind as K;
        let table = [
            ("NotFoundException", K::NotFound),
            ("DisabledException", K::Disabled),
            ("KMSInvalidStateException", K::InvalidState),
            ("InvalidCiphertextException", K::InvalidCiphertext),
            ("IncorrectKeyException", K::IncorrectKey),
            ("AccessDeniedException", K::AccessDenied),
            ("UnrecognizedClientException", K::AccessDenied),
            ("InvalidClientTokenId", K::AccessDenied),
            ("InvalidSignatureException", K::AccessDenied),
            ("SignatureDoesNotMatch", K::AccessDenied),
            ("ExpiredTokenException", K::ExpiredToken),
            ("ExpiredToken", K::ExpiredToken),
            ("ThrottlingException", K::Throttling),
            // A resource quota (number of keys, aliases, grants), not a request rate.
            ("LimitExceededException", K::LimitExceeded),
            (
                "MalformedPolicyDocumentException",
                K::MalformedPolicyDocument,
            ),
            ("AlreadyExistsException", K::AlreadyExists),
            ("RequestLimitExceeded", K::Throttling),
            ("TooManyRequestsException", K::Throttling),
            ("ValidationException", K::InvalidRequest),
            ("InvalidKeyUsageException", K::InvalidKeyUsage),
            ("InvalidGrantTokenException", K::InvalidGrantToken),
            ("InvalidArnException", K::InvalidArn),
            ("UnsupportedOperationException", K::UnsupportedOperation),
            ("DryRunOperationException", K::DryRunOperation),
            // Signing and clock problems: retrying the same request cannot help.
            ("RequestExpired", K::AccessDenied),
            ("RequestTimeTooSkewed", K::AccessDenied),
            ("RequestTimeout", K::Transport),
            ("KMSInternalException", K::Internal),
            ("DependencyTimeoutException", K::DependencyTimeout),
            ("KeyUnavailableException", K::KeyUnavailable),
            ("ServiceUnavailable", K::Internal),
            ("InternalFailure", K::Internal),
            (
                "CustomKeyStoreInvalidStateException",
                K::CustomKeyStoreInvalidState,
            ),
            // Namespaced and suffixed forms, as some protocols send them.
            ("com.amazonaws.kms#NotFoundException", K::NotFound),
            (
                "DisabledException:http://internal.amazon.com/coral/",
                K::Disabled,
            ),
        ];
        for (code, kind) in table {
            assert_eq!(kind_for_code(code), Some(kind), "{code}");
            // The exact name is kept, without namespace or suffix.
            let (_, exact) = classify_code(code).expect("known");
            assert_eq!(
                exact,
                code.rsplit('#')
                    .next()
                    .and_then(|c| c.split(':').next())
                    .unwrap_or(code)
            );
        }
        // Every KMS exception is its own kind, under its own name.
        for kind in KmsErrorKind::ALL {
            if matches!(kind, K::Transport | K::AuditFailure) {
                continue;
            }
            assert_eq!(classify_code(kind.code()), Some((*kind, kind.code())));
        }
        for (_, kind) in ALIASES {
            assert!(KmsErrorKind::ALL.contains(kind));
        }
        assert_eq!(kind_for_code("SomethingNew"), None);
        assert_eq!(kind_for_code(""), None);
    }

    #[test]
    fn retryable_kinds_follow_the_table() {
        assert!(kind_for_code("ThrottlingException").is_some_and(KmsErrorKind::is_retryable));
        assert!(kind_for_code("KMSInternalException").is_some_and(KmsErrorKind::is_retryable));
        assert!(kind_for_code("DependencyTimeoutException").is_some_and(KmsErrorKind::is_retryable));
        assert!(!kind_for_code("NotFoundException").is_some_and(KmsErrorKind::is_retryable));
        assert!(
            !kind_for_code("InvalidCiphertextException").is_some_and(KmsErrorKind::is_retryable)
        );
        assert!(!kind_for_code("AccessDeniedException").is_some_and(KmsErrorKind::is_retryable));
        for code in [
            "LimitExceededException",
            "RequestTimeTooSkewed",
            "RequestExpired",
            "InvalidSignatureException",
            // Not retryable with backoff: only a refreshed credential can succeed.
            "ExpiredTokenException",
            "ExpiredToken",
        ] {
            let kind = kind_for_code(code);
            assert!(kind.is_some(), "{code}");
            assert!(!kind.is_some_and(KmsErrorKind::is_retryable), "{code}");
        }
        for code in ["ExpiredTokenException", "ExpiredToken"] {
            assert_eq!(
                kind_for_code(code).map(KmsErrorKind::retry_kind),
                Some(crate::kms::RetryKind::RefreshCredentials),
                "{code}"
            );
        }
    }

    #[test]
    fn status_table() {
        use KmsErrorKind as K;
        for (status, kind) in [
            (400, K::InvalidRequest),
            (401, K::AccessDenied),
            (403, K::AccessDenied),
            (404, K::NotFound),
            (408, K::Transport),
            (429, K::Throttling),
            (500, K::Internal),
            (502, K::Internal),
            (503, K::Internal),
            (599, K::Internal),
            // Other statuses are client-side or misdirected requests: final, never Internal.
            (418, K::InvalidRequest),
            (409, K::InvalidRequest),
            (413, K::InvalidRequest),
            (301, K::InvalidRequest),
            (307, K::InvalidRequest),
            (100, K::InvalidRequest),
            (600, K::InvalidRequest),
            // A success answer that could not be decoded.
            (200, K::Internal),
        ] {
            assert_eq!(kind_for_status(status), kind, "{status}");
        }
        for status in (300..500).filter(|s| ![408, 429].contains(s)) {
            assert!(!kind_for_status(status).is_retryable(), "{status}");
        }
        for status in 500..600 {
            assert!(kind_for_status(status).is_retryable(), "{status}");
        }
    }

    #[test]
    fn xml_element_extraction() {
        let body = "<ErrorResponse><Error><Code>InvalidClientTokenId</Code>\
                    <Message>The security token included in the request is invalid.</Message>\
                    </Error></ErrorResponse>";
        assert_eq!(xml_element(body, "Code"), Some("InvalidClientTokenId"));
        assert_eq!(
            xml_element(body, "Message"),
            Some("The security token included in the request is invalid.")
        );
        assert_eq!(xml_element("<Code>unterminated", "Code"), None);
        assert_eq!(xml_element("", "Code"), None);
    }
}

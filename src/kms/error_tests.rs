//! Unit tests of the KMS error kinds and their AWS names.
use super::*;
use std::collections::HashSet;

/// Every kind → its exception name, written out by hand from botocore's KMS service model
/// (`kms/2014-11-01/service-2.json`, the 48 shapes with `"exception": true`) plus the
/// common errors.
#[test]
fn every_kind_has_aws_exact_code() {
    use KmsErrorKind as K;
    let table = [
        (K::NotFound, "NotFoundException"),
        (K::Disabled, "DisabledException"),
        (K::InvalidState, "KMSInvalidStateException"),
        (K::InvalidCiphertext, "InvalidCiphertextException"),
        (K::IncorrectKey, "IncorrectKeyException"),
        (K::AccessDenied, "AccessDeniedException"),
        (K::ExpiredToken, "ExpiredTokenException"),
        (K::Throttling, "ThrottlingException"),
        (K::InvalidRequest, "ValidationException"),
        (
            K::MalformedPolicyDocument,
            "MalformedPolicyDocumentException",
        ),
        (K::LimitExceeded, "LimitExceededException"),
        (K::AlreadyExists, "AlreadyExistsException"),
        (K::InvalidKeyUsage, "InvalidKeyUsageException"),
        (K::InvalidArn, "InvalidArnException"),
        (K::InvalidAliasName, "InvalidAliasNameException"),
        (K::InvalidGrantToken, "InvalidGrantTokenException"),
        (K::InvalidGrantId, "InvalidGrantIdException"),
        (K::InvalidMarker, "InvalidMarkerException"),
        (K::InvalidMac, "KMSInvalidMacException"),
        (K::InvalidSignature, "KMSInvalidSignatureException"),
        (K::UnsupportedOperation, "UnsupportedOperationException"),
        (K::DryRunOperation, "DryRunOperationException"),
        (K::Tag, "TagException"),
        (K::Conflict, "ConflictException"),
        (K::DependencyTimeout, "DependencyTimeoutException"),
        (K::KeyUnavailable, "KeyUnavailableException"),
        (K::Internal, "KMSInternalException"),
        (K::CloudHsmClusterInUse, "CloudHsmClusterInUseException"),
        (
            K::CloudHsmClusterInvalidConfiguration,
            "CloudHsmClusterInvalidConfigurationException",
        ),
        (
            K::CloudHsmClusterNotActive,
            "CloudHsmClusterNotActiveException",
        ),
        (
            K::CloudHsmClusterNotFound,
            "CloudHsmClusterNotFoundException",
        ),
        (
            K::CloudHsmClusterNotRelated,
            "CloudHsmClusterNotRelatedException",
        ),
        (K::CustomKeyStoreHasKeys, "CustomKeyStoreHasCMKsException"),
        (
            K::CustomKeyStoreInvalidState,
            "CustomKeyStoreInvalidStateException",
        ),
        (
            K::CustomKeyStoreNameInUse,
            "CustomKeyStoreNameInUseException",
        ),
        (K::CustomKeyStoreNotFound, "CustomKeyStoreNotFoundException"),
        (K::ExpiredImportToken, "ExpiredImportTokenException"),
        (K::IncorrectKeyMaterial, "IncorrectKeyMaterialException"),
        (K::IncorrectTrustAnchor, "IncorrectTrustAnchorException"),
        (K::InvalidImportToken, "InvalidImportTokenException"),
        (K::XksKeyAlreadyInUse, "XksKeyAlreadyInUseException"),
        (
            K::XksKeyInvalidConfiguration,
            "XksKeyInvalidConfigurationException",
        ),
        (K::XksKeyNotFound, "XksKeyNotFoundException"),
        (
            K::XksProxyIncorrectAuthenticationCredential,
            "XksProxyIncorrectAuthenticationCredentialException",
        ),
        (
            K::XksProxyInvalidConfiguration,
            "XksProxyInvalidConfigurationException",
        ),
        (
            K::XksProxyInvalidResponse,
            "XksProxyInvalidResponseException",
        ),
        (
            K::XksProxyUriEndpointInUse,
            "XksProxyUriEndpointInUseException",
        ),
        (K::XksProxyUriInUse, "XksProxyUriInUseException"),
        (K::XksProxyUriUnreachable, "XksProxyUriUnreachableException"),
        (
            K::XksProxyVpcEndpointServiceInUse,
            "XksProxyVpcEndpointServiceInUseException",
        ),
        (
            K::XksProxyVpcEndpointServiceInvalidConfiguration,
            "XksProxyVpcEndpointServiceInvalidConfigurationException",
        ),
        (
            K::XksProxyVpcEndpointServiceNotFound,
            "XksProxyVpcEndpointServiceNotFoundException",
        ),
        (K::Transport, "TransportError"),
        (K::AuditFailure, "KMSInternalException"),
    ];
    assert_eq!(table.len(), K::ALL.len(), "the table covers every kind");
    let mut seen = HashSet::new();
    for (kind, code) in table {
        assert_eq!(kind.code(), code, "{kind:?}");
        assert!(seen.insert(kind), "{kind:?} twice in the table");
        assert!(K::ALL.contains(&kind), "{kind:?} missing from ALL");
        if !matches!(kind, K::Transport | K::AuditFailure) {
            assert_eq!(K::from_code(code), Some(kind), "{code}");
        }
        // The error's code is the kind's unless the service sent another name.
        let e = KmsError::new(kind, "m");
        assert_eq!(e.code(), code);
        assert_eq!(e.to_string(), format!("{code}: m"));
    }
    // The KMS exceptions' names are distinct: one kind per exception.
    let codes: HashSet<_> = K::ALL
        .iter()
        .filter(|k| **k != K::AuditFailure)
        .map(|k| k.code())
        .collect();
    assert_eq!(codes.len(), K::ALL.len() - 1);
    assert_eq!(K::from_code("TransportError"), None);
    assert_eq!(K::from_code("notfoundexception"), None);
}

#[test]
fn retryable_kinds() {
    use KmsErrorKind as K;
    let retryable: Vec<_> = K::ALL
        .iter()
        .copied()
        .filter(|k| k.is_retryable())
        .collect();
    assert_eq!(
        retryable,
        [
            K::Throttling,
            K::DependencyTimeout,
            K::KeyUnavailable,
            K::Internal,
            K::CloudHsmClusterInvalidConfiguration,
            K::CloudHsmClusterNotActive,
            K::XksProxyInvalidResponse,
            K::XksProxyUriUnreachable,
            K::XksProxyVpcEndpointServiceNotFound,
            K::Transport,
        ]
    );
}

#[test]
fn expired_token_is_the_only_refresh_kind() {
    use KmsErrorKind as K;
    for &k in K::ALL {
        let expected = if k == K::ExpiredToken {
            RetryKind::RefreshCredentials
        } else if k.is_retryable() {
            RetryKind::Backoff
        } else {
            RetryKind::Final
        };
        assert_eq!(k.retry_kind(), expected, "{k:?}");
    }
    let e = KmsError::new(
        K::ExpiredToken,
        "The security token included in the request is expired",
    );
    assert!(e.is_expired_token());
    assert!(
        !e.is_retryable(),
        "the same credential never succeeds again"
    );
    assert_eq!(e.retry_kind(), RetryKind::RefreshCredentials);
    assert_eq!(K::from_code("ExpiredTokenException"), Some(K::ExpiredToken));
    assert!(!KmsError::new(K::AccessDenied, "no").is_expired_token());
}

#[test]
fn the_sent_code_is_kept() {
    let e = KmsError::new(KmsErrorKind::AccessDenied, "bad key id")
        .with_code("UnrecognizedClientException");
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert_eq!(e.code(), "UnrecognizedClientException");
    assert_eq!(e.to_string(), "UnrecognizedClientException: bad key id");
}

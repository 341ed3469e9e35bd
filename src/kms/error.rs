//! KMS errors, named after AWS KMS's exceptions.
//!
//! Every exception of AWS KMS's service model (botocore `kms/2014-11-01/service-2.json`), plus the
//! common `AccessDeniedException`, `ThrottlingException` and `ValidationException`, has its own
//! [`KmsErrorKind`], so a caller matches on the kind and never parses a message.
//! [`KmsErrorKind::code`] is the exception's name exactly; [`KmsError::code`] is the name the
//! service actually sent when the backend received one (for example
//! `UnrecognizedClientException`, whose kind is [`KmsErrorKind::AccessDenied`]).

use crate::kms::local::denial::Denial;
use core::fmt;
use std::sync::Arc;

/// The kind of a KMS failure: one per AWS KMS exception, plus [`KmsErrorKind::Transport`] (no
/// answer came back) and [`KmsErrorKind::AuditFailure`] (the local KMS could not record the
/// call).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KmsErrorKind {
    /// `NotFoundException`: No such key or alias.
    NotFound,
    /// `DisabledException`: The key is disabled.
    Disabled,
    /// `KMSInvalidStateException`: The key's state forbids the call (for example pending deletion).
    InvalidState,
    /// `InvalidCiphertextException`: The ciphertext blob or its encryption context is wrong.
    InvalidCiphertext,
    /// `IncorrectKeyException`: The blob was made under another key than the one named.
    IncorrectKey,
    /// `AccessDeniedException`: No policy allows the call, or one denies it. Also the kind of the authentication failures (`UnrecognizedClientException`, `InvalidSignatureException`, `ExpiredTokenException`, ...), whose exact name [`KmsError::code`] keeps.
    AccessDenied,
    /// `ThrottlingException`: The request rate quota was exceeded.
    Throttling,
    /// `ValidationException`: A parameter is out of range or malformed (AWS's `ValidationException`).
    InvalidRequest,
    /// `MalformedPolicyDocumentException`: The key policy (or identity policy) does not parse or breaks a KMS rule.
    MalformedPolicyDocument,
    /// `LimitExceededException`: A resource quota (keys, aliases, grants per account) was reached: not a request rate, so final.
    LimitExceeded,
    /// `AlreadyExistsException`: The alias (or other named resource) already exists.
    AlreadyExists,
    /// `InvalidKeyUsageException`: The key's usage or spec does not allow the operation.
    InvalidKeyUsage,
    /// `InvalidArnException`: An ARN in the request is not valid.
    InvalidArn,
    /// `InvalidAliasNameException`: The alias name is not valid (for example reserved for AWS).
    InvalidAliasName,
    /// `InvalidGrantTokenException`: A grant token is not valid.
    InvalidGrantToken,
    /// `InvalidGrantIdException`: A grant id is not valid.
    InvalidGrantId,
    /// `InvalidMarkerException`: The pagination marker is not valid.
    InvalidMarker,
    /// `KMSInvalidMacException`: An HMAC did not verify.
    InvalidMac,
    /// `KMSInvalidSignatureException`: A signature did not verify.
    InvalidSignature,
    /// `UnsupportedOperationException`: The operation is not supported here (for example on this key type).
    UnsupportedOperation,
    /// `DryRunOperationException`: The request was a dry run and would have succeeded.
    DryRunOperation,
    /// `TagException`: A tag is not valid or could not be applied.
    Tag,
    /// `ConflictException`: The request conflicts with the resource's state.
    Conflict,
    /// `DependencyTimeoutException`: A system component KMS depends on timed out.
    DependencyTimeout,
    /// `KeyUnavailableException`: The key is temporarily unavailable.
    KeyUnavailable,
    /// `KMSInternalException`: An internal KMS failure, or an answer that could not be understood.
    Internal,
    /// `CloudHsmClusterInUseException`: Custom key store: the CloudHSM cluster is in use.
    CloudHsmClusterInUse,
    /// `CloudHsmClusterInvalidConfigurationException`: Custom key store: the CloudHSM cluster is misconfigured.
    CloudHsmClusterInvalidConfiguration,
    /// `CloudHsmClusterNotActiveException`: Custom key store: the CloudHSM cluster is not active.
    CloudHsmClusterNotActive,
    /// `CloudHsmClusterNotFoundException`: Custom key store: no such CloudHSM cluster.
    CloudHsmClusterNotFound,
    /// `CloudHsmClusterNotRelatedException`: Custom key store: the CloudHSM cluster is not related to the store's.
    CloudHsmClusterNotRelated,
    /// `CustomKeyStoreHasCMKsException`: Custom key store: it still holds KMS keys.
    CustomKeyStoreHasKeys,
    /// `CustomKeyStoreInvalidStateException`: Custom key store: its state forbids the call.
    CustomKeyStoreInvalidState,
    /// `CustomKeyStoreNameInUseException`: Custom key store: the name is taken.
    CustomKeyStoreNameInUse,
    /// `CustomKeyStoreNotFoundException`: Custom key store: no such store.
    CustomKeyStoreNotFound,
    /// `ExpiredImportTokenException`: Imported key material: the import token expired.
    ExpiredImportToken,
    /// `IncorrectKeyMaterialException`: Imported key material: not the material previously imported.
    IncorrectKeyMaterial,
    /// `IncorrectTrustAnchorException`: Custom key store: the trust anchor does not match the cluster's.
    IncorrectTrustAnchor,
    /// `InvalidImportTokenException`: Imported key material: the import token is not valid.
    InvalidImportToken,
    /// `XksKeyAlreadyInUseException`: External key store: the external key is already used by another KMS key.
    XksKeyAlreadyInUse,
    /// `XksKeyInvalidConfigurationException`: External key store: the external key is misconfigured.
    XksKeyInvalidConfiguration,
    /// `XksKeyNotFoundException`: External key store: no such external key.
    XksKeyNotFound,
    /// `XksProxyIncorrectAuthenticationCredentialException`: External key store: the proxy rejected KMS's credential.
    XksProxyIncorrectAuthenticationCredential,
    /// `XksProxyInvalidConfigurationException`: External key store: the proxy is misconfigured.
    XksProxyInvalidConfiguration,
    /// `XksProxyInvalidResponseException`: External key store: the proxy's answer could not be understood.
    XksProxyInvalidResponse,
    /// `XksProxyUriEndpointInUseException`: External key store: the proxy endpoint is in use.
    XksProxyUriEndpointInUse,
    /// `XksProxyUriInUseException`: External key store: the proxy URI is in use.
    XksProxyUriInUse,
    /// `XksProxyUriUnreachableException`: External key store: the proxy could not be reached.
    XksProxyUriUnreachable,
    /// `XksProxyVpcEndpointServiceInUseException`: External key store: the VPC endpoint service is in use.
    XksProxyVpcEndpointServiceInUse,
    /// `XksProxyVpcEndpointServiceInvalidConfigurationException`: External key store: the VPC endpoint service is misconfigured.
    XksProxyVpcEndpointServiceInvalidConfiguration,
    /// `XksProxyVpcEndpointServiceNotFoundException`: External key store: no such VPC endpoint service.
    XksProxyVpcEndpointServiceNotFound,
    /// The request did not reach KMS or its answer did not come back (network, timeout). Not
    /// an AWS exception: its code is `TransportError`.
    Transport,
    /// The local KMS could not write the audit record of a call (see
    /// `kms::local::AuditLog::set_file`), so it refused the call's result: fail closed. Its code
    /// is `KMSInternalException`, what a client of a KMS server sees for a server-side failure.
    AuditFailure,
}

impl KmsErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [KmsErrorKind] = &[
        KmsErrorKind::NotFound,
        KmsErrorKind::Disabled,
        KmsErrorKind::InvalidState,
        KmsErrorKind::InvalidCiphertext,
        KmsErrorKind::IncorrectKey,
        KmsErrorKind::AccessDenied,
        KmsErrorKind::Throttling,
        KmsErrorKind::InvalidRequest,
        KmsErrorKind::MalformedPolicyDocument,
        KmsErrorKind::LimitExceeded,
        KmsErrorKind::AlreadyExists,
        KmsErrorKind::InvalidKeyUsage,
        KmsErrorKind::InvalidArn,
        KmsErrorKind::InvalidAliasName,
        KmsErrorKind::InvalidGrantToken,
        KmsErrorKind::InvalidGrantId,
        KmsErrorKind::InvalidMarker,
        KmsErrorKind::InvalidMac,
        KmsErrorKind::InvalidSignature,
        KmsErrorKind::UnsupportedOperation,
        KmsErrorKind::DryRunOperation,
        KmsErrorKind::Tag,
        KmsErrorKind::Conflict,
        KmsErrorKind::DependencyTimeout,
        KmsErrorKind::KeyUnavailable,
        KmsErrorKind::Internal,
        KmsErrorKind::CloudHsmClusterInUse,
        KmsErrorKind::CloudHsmClusterInvalidConfiguration,
        KmsErrorKind::CloudHsmClusterNotActive,
        KmsErrorKind::CloudHsmClusterNotFound,
        KmsErrorKind::CloudHsmClusterNotRelated,
        KmsErrorKind::CustomKeyStoreHasKeys,
        KmsErrorKind::CustomKeyStoreInvalidState,
        KmsErrorKind::CustomKeyStoreNameInUse,
        KmsErrorKind::CustomKeyStoreNotFound,
        KmsErrorKind::ExpiredImportToken,
        KmsErrorKind::IncorrectKeyMaterial,
        KmsErrorKind::IncorrectTrustAnchor,
        KmsErrorKind::InvalidImportToken,
        KmsErrorKind::XksKeyAlreadyInUse,
        KmsErrorKind::XksKeyInvalidConfiguration,
        KmsErrorKind::XksKeyNotFound,
        KmsErrorKind::XksProxyIncorrectAuthenticationCredential,
        KmsErrorKind::XksProxyInvalidConfiguration,
        KmsErrorKind::XksProxyInvalidResponse,
        KmsErrorKind::XksProxyUriEndpointInUse,
        KmsErrorKind::XksProxyUriInUse,
        KmsErrorKind::XksProxyUriUnreachable,
        KmsErrorKind::XksProxyVpcEndpointServiceInUse,
        KmsErrorKind::XksProxyVpcEndpointServiceInvalidConfiguration,
        KmsErrorKind::XksProxyVpcEndpointServiceNotFound,
        KmsErrorKind::Transport,
        KmsErrorKind::AuditFailure,
    ];

    /// The AWS KMS exception name for this kind, exactly as AWS spells it
    /// (`AccessDeniedException`, `KMSInvalidStateException`, ...).
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
            KmsErrorKind::MalformedPolicyDocument => "MalformedPolicyDocumentException",
            KmsErrorKind::LimitExceeded => "LimitExceededException",
            KmsErrorKind::AlreadyExists => "AlreadyExistsException",
            KmsErrorKind::InvalidKeyUsage => "InvalidKeyUsageException",
            KmsErrorKind::InvalidArn => "InvalidArnException",
            KmsErrorKind::InvalidAliasName => "InvalidAliasNameException",
            KmsErrorKind::InvalidGrantToken => "InvalidGrantTokenException",
            KmsErrorKind::InvalidGrantId => "InvalidGrantIdException",
            KmsErrorKind::InvalidMarker => "InvalidMarkerException",
            KmsErrorKind::InvalidMac => "KMSInvalidMacException",
            KmsErrorKind::InvalidSignature => "KMSInvalidSignatureException",
            KmsErrorKind::UnsupportedOperation => "UnsupportedOperationException",
            KmsErrorKind::DryRunOperation => "DryRunOperationException",
            KmsErrorKind::Tag => "TagException",
            KmsErrorKind::Conflict => "ConflictException",
            KmsErrorKind::DependencyTimeout => "DependencyTimeoutException",
            KmsErrorKind::KeyUnavailable => "KeyUnavailableException",
            KmsErrorKind::Internal => "KMSInternalException",
            KmsErrorKind::CloudHsmClusterInUse => "CloudHsmClusterInUseException",
            KmsErrorKind::CloudHsmClusterInvalidConfiguration => {
                "CloudHsmClusterInvalidConfigurationException"
            }
            KmsErrorKind::CloudHsmClusterNotActive => "CloudHsmClusterNotActiveException",
            KmsErrorKind::CloudHsmClusterNotFound => "CloudHsmClusterNotFoundException",
            KmsErrorKind::CloudHsmClusterNotRelated => "CloudHsmClusterNotRelatedException",
            KmsErrorKind::CustomKeyStoreHasKeys => "CustomKeyStoreHasCMKsException",
            KmsErrorKind::CustomKeyStoreInvalidState => "CustomKeyStoreInvalidStateException",
            KmsErrorKind::CustomKeyStoreNameInUse => "CustomKeyStoreNameInUseException",
            KmsErrorKind::CustomKeyStoreNotFound => "CustomKeyStoreNotFoundException",
            KmsErrorKind::ExpiredImportToken => "ExpiredImportTokenException",
            KmsErrorKind::IncorrectKeyMaterial => "IncorrectKeyMaterialException",
            KmsErrorKind::IncorrectTrustAnchor => "IncorrectTrustAnchorException",
            KmsErrorKind::InvalidImportToken => "InvalidImportTokenException",
            KmsErrorKind::XksKeyAlreadyInUse => "XksKeyAlreadyInUseException",
            KmsErrorKind::XksKeyInvalidConfiguration => "XksKeyInvalidConfigurationException",
            KmsErrorKind::XksKeyNotFound => "XksKeyNotFoundException",
            KmsErrorKind::XksProxyIncorrectAuthenticationCredential => {
                "XksProxyIncorrectAuthenticationCredentialException"
            }
            KmsErrorKind::XksProxyInvalidConfiguration => "XksProxyInvalidConfigurationException",
            KmsErrorKind::XksProxyInvalidResponse => "XksProxyInvalidResponseException",
            KmsErrorKind::XksProxyUriEndpointInUse => "XksProxyUriEndpointInUseException",
            KmsErrorKind::XksProxyUriInUse => "XksProxyUriInUseException",
            KmsErrorKind::XksProxyUriUnreachable => "XksProxyUriUnreachableException",
            KmsErrorKind::XksProxyVpcEndpointServiceInUse => {
                "XksProxyVpcEndpointServiceInUseException"
            }
            KmsErrorKind::XksProxyVpcEndpointServiceInvalidConfiguration => {
                "XksProxyVpcEndpointServiceInvalidConfigurationException"
            }
            KmsErrorKind::XksProxyVpcEndpointServiceNotFound => {
                "XksProxyVpcEndpointServiceNotFoundException"
            }
            KmsErrorKind::Transport => "TransportError",
            KmsErrorKind::AuditFailure => "KMSInternalException",
        }
    }

    /// The kind whose [`code`](Self::code) is exactly `code` (`KMSInternalException` gives
    /// [`KmsErrorKind::Internal`], `TransportError` gives nothing). For the aliases other AWS
    /// services and protocols use, see the AWS backend's `kind_for_code`.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .filter(|k| !matches!(k, KmsErrorKind::Transport | KmsErrorKind::AuditFailure))
            .find(|k| k.code() == code)
    }

    /// Whether the same call may succeed if retried later: throttling, transport failures,
    /// KMS-internal failures and timeouts, unavailable keys, and the custom key store failures
    /// that are transient (an unreachable or misbehaving proxy, an inactive cluster).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            KmsErrorKind::Transport
                | KmsErrorKind::Throttling
                | KmsErrorKind::DependencyTimeout
                | KmsErrorKind::KeyUnavailable
                | KmsErrorKind::Internal
                | KmsErrorKind::CloudHsmClusterInvalidConfiguration
                | KmsErrorKind::CloudHsmClusterNotActive
                | KmsErrorKind::XksProxyInvalidResponse
                | KmsErrorKind::XksProxyUriUnreachable
                | KmsErrorKind::XksProxyVpcEndpointServiceNotFound
        )
    }
}

/// A KMS failure: its kind, the exception name the service sent (if it differs from the kind's
/// own), a message, and the backend's own error as the source.
#[derive(Clone)]
pub struct KmsError {
    kind: KmsErrorKind,
    code: Option<&'static str>,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    denial: Option<Box<Denial>>,
}

impl KmsError {
    /// A new error of `kind` with a human-readable `message` (never key material).
    pub fn new(kind: KmsErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: None,
            message: message.into(),
            source: None,
            denial: None,
        }
    }

    /// Attaches the rule that decided a refusal (the local KMS does, for every
    /// `AccessDeniedException` and key-state error).
    pub fn with_denial(mut self, denial: Denial) -> Self {
        self.denial = Some(Box::new(denial));
        self
    }

    /// The rule that decided this refusal, when the backend knows it (the local KMS).
    pub fn denial(&self) -> Option<&Denial> {
        self.denial.as_deref()
    }

    /// Records the exception name the service actually sent, when it is not the kind's own
    /// (for example `UnrecognizedClientException` for [`KmsErrorKind::AccessDenied`]).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// Attaches the backend's own error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The kind: match on this, never on the message.
    pub fn kind(&self) -> KmsErrorKind {
        self.kind
    }

    /// The AWS exception name: the one the service sent if the backend recorded it, else the
    /// kind's ([`KmsErrorKind::code`]).
    pub fn code(&self) -> &'static str {
        self.code.unwrap_or_else(|| self.kind.code())
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
            .field("code", &self.code())
            .field("message", &self.message)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .field("denial", &self.denial)
            .finish()
    }
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message)
    }
}

impl std::error::Error for KmsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
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
    fn the_sent_code_is_kept() {
        let e = KmsError::new(KmsErrorKind::AccessDenied, "bad key id")
            .with_code("UnrecognizedClientException");
        assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
        assert_eq!(e.code(), "UnrecognizedClientException");
        assert_eq!(e.to_string(), "UnrecognizedClientException: bad key id");
    }
}

//! Grants: `CreateGrant`, `ListGrants`, `ListRetirableGrants`, `RetireGrant`, `RevokeGrant`,
//! and their evaluation in every call's authorization.
//!
//! Modelled as the KMS developer guide ("Grants in AWS KMS", "Grant constraints", "Grant
//! tokens", "Retiring and revoking grants") and the API reference document them:
//! - A grant names one key, a grantee principal, optional retiring principal, a set of
//!   [`GrantOperation`]s, optional [`GrantConstraints`] and an optional name. It *allows* the
//!   grantee those operations on that key; it never denies. An explicit `Deny` in the key policy
//!   or in an identity policy of the caller still wins over a grant. A grant needs no identity
//!   policy of the grantee, in its own account or across accounts.
//! - Grantee matching (see [`GrantCheck`]): the caller's ARN equals the grantee principal, or the
//!   grantee is a role ARN and the caller is a session of that role
//!   (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`). A grant to an account
//!   (`arn:aws:iam::ACCOUNT:root`) matches that account's root only (LocalKms does not model
//!   the account delegating a grant's permissions to its principals through IAM).
//! - Constraints: `EncryptionContextEquals` (the request's context has exactly the constraint's
//!   pairs) and `EncryptionContextSubset` (it has at least them); when both are given, both must
//!   hold. As AWS documents, constraint keys compare case-insensitively and values
//!   case-sensitively; at most 8 pairs per constraint, each value at most 384 characters.
//!   Constraints apply to the operations that take an encryption context; `DescribeKey` and
//!   `RetireGrant` in a constrained grant are allowed without them. A constrained grant's
//!   `CreateGrant` permission only creates grants whose constraints are as strict or stricter
//!   (an `Equals` parent: the same `Equals` pairs; a `Subset` parent: an `Equals` or `Subset`
//!   that contains its pairs).
//! - Grant ids are 64 hex digits; a grant token is an opaque string (here 128 hex digits: the
//!   grant id, a random nonce and a checksum). Grants take effect at once in LocalKms, so a
//!   token is never needed to use a grant; tokens passed to any operation are checked with
//!   [`LocalKms::check_grant_tokens`](super::LocalKms::check_grant_tokens): at most 10,
//!   well-formed, else `InvalidGrantTokenException`. A token is *not* a credential: retiring by
//!   token still checks who may retire.
//! - Name reuse: `CreateGrant` with a name and parameters identical to those of an existing
//!   grant of the key returns that grant's id (and a new token) without creating a grant; the
//!   same name with other parameters creates a new grant, as AWS does.
//! - Limits: at most [`DEFAULT_GRANTS_PER_KEY`] (50,000, AWS's "Grants per KMS key" quota,
//!   adjustable with [`LocalKms::set_grants_per_key_limit`](super::LocalKms::set_grants_per_key_limit))
//!   grants per key → `LimitExceededException`.
//! - Grants die with their key: once a key is deleted its grants neither allow nor list, and
//!   they are dropped from the state file.

mod eval;
mod ops;
mod retire;
pub(super) mod stored;

pub use eval::{constraints_at_least_as_strict, GrantCheck};
pub use ops::{CreateGrantRequest, CreateGrantResponse, GrantListEntry, ListGrantsPage};

use crate::kms::{KmsError, KmsErrorKind};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// AWS's default "Grants per KMS key" quota.
pub const DEFAULT_GRANTS_PER_KEY: usize = 50_000;
/// Most grant tokens one request may carry (`GrantTokenList`).
pub const MAX_GRANT_TOKENS: usize = 10;
/// Longest grant token (`GrantTokenType`).
pub const MAX_GRANT_TOKEN_LEN: usize = 8192;
/// Most pairs in one encryption context constraint.
pub const MAX_CONSTRAINT_PAIRS: usize = 8;
/// Longest value of a constraint pair (characters).
pub const MAX_CONSTRAINT_VALUE_CHARS: usize = 384;
/// Longest grant name (`GrantNameType`).
pub const MAX_GRANT_NAME_LEN: usize = 256;
/// Longest principal (`PrincipalIdType`).
pub const MAX_PRINCIPAL_LEN: usize = 256;

/// An operation a grant may allow (botocore's `GrantOperation` enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum GrantOperation {
    /// `Decrypt`.
    Decrypt,
    /// `Encrypt`.
    Encrypt,
    /// `GenerateDataKey`.
    GenerateDataKey,
    /// `GenerateDataKeyWithoutPlaintext`.
    GenerateDataKeyWithoutPlaintext,
    /// `ReEncryptFrom`.
    ReEncryptFrom,
    /// `ReEncryptTo`.
    ReEncryptTo,
    /// `Sign` (asymmetric keys: refused on LocalKms's symmetric keys).
    Sign,
    /// `Verify` (asymmetric keys).
    Verify,
    /// `GetPublicKey` (asymmetric keys).
    GetPublicKey,
    /// `CreateGrant`.
    CreateGrant,
    /// `RetireGrant`.
    RetireGrant,
    /// `DescribeKey`.
    DescribeKey,
    /// `GenerateDataKeyPair`.
    GenerateDataKeyPair,
    /// `GenerateDataKeyPairWithoutPlaintext`.
    GenerateDataKeyPairWithoutPlaintext,
    /// `GenerateMac` (HMAC keys).
    GenerateMac,
    /// `VerifyMac` (HMAC keys).
    VerifyMac,
    /// `DeriveSharedSecret` (key agreement keys).
    DeriveSharedSecret,
}

const ALL_OPERATIONS: [GrantOperation; 17] = [
    GrantOperation::Decrypt,
    GrantOperation::Encrypt,
    GrantOperation::GenerateDataKey,
    GrantOperation::GenerateDataKeyWithoutPlaintext,
    GrantOperation::ReEncryptFrom,
    GrantOperation::ReEncryptTo,
    GrantOperation::Sign,
    GrantOperation::Verify,
    GrantOperation::GetPublicKey,
    GrantOperation::CreateGrant,
    GrantOperation::RetireGrant,
    GrantOperation::DescribeKey,
    GrantOperation::GenerateDataKeyPair,
    GrantOperation::GenerateDataKeyPairWithoutPlaintext,
    GrantOperation::GenerateMac,
    GrantOperation::VerifyMac,
    GrantOperation::DeriveSharedSecret,
];

impl GrantOperation {
    /// The API name (`Decrypt`, `ReEncryptFrom`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Decrypt => "Decrypt",
            Self::Encrypt => "Encrypt",
            Self::GenerateDataKey => "GenerateDataKey",
            Self::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            Self::ReEncryptFrom => "ReEncryptFrom",
            Self::ReEncryptTo => "ReEncryptTo",
            Self::Sign => "Sign",
            Self::Verify => "Verify",
            Self::GetPublicKey => "GetPublicKey",
            Self::CreateGrant => "CreateGrant",
            Self::RetireGrant => "RetireGrant",
            Self::DescribeKey => "DescribeKey",
            Self::GenerateDataKeyPair => "GenerateDataKeyPair",
            Self::GenerateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
            Self::GenerateMac => "GenerateMac",
            Self::VerifyMac => "VerifyMac",
            Self::DeriveSharedSecret => "DeriveSharedSecret",
        }
    }

    /// The operation named `name` exactly (case-sensitive, as the API enum).
    pub fn parse(name: &str) -> Option<Self> {
        ALL_OPERATIONS.into_iter().find(|o| o.name() == name)
    }

    /// The operation a call authorized as IAM action `action` (`kms:Decrypt`, ...) needs.
    pub fn for_action(action: &str) -> Option<Self> {
        Self::parse(action.strip_prefix("kms:")?)
    }

    /// Whether the operation takes an encryption context, so that constraints apply to it.
    pub fn takes_encryption_context(self) -> bool {
        matches!(
            self,
            Self::Decrypt
                | Self::Encrypt
                | Self::GenerateDataKey
                | Self::GenerateDataKeyWithoutPlaintext
                | Self::ReEncryptFrom
                | Self::ReEncryptTo
                | Self::GenerateDataKeyPair
                | Self::GenerateDataKeyPairWithoutPlaintext
        )
    }

    /// Whether a symmetric encryption key (the only kind LocalKms has) supports it.
    pub fn valid_for_symmetric_key(self) -> bool {
        !matches!(
            self,
            Self::Sign
                | Self::Verify
                | Self::GetPublicKey
                | Self::GenerateDataKeyPair
                | Self::GenerateDataKeyPairWithoutPlaintext
                | Self::GenerateMac
                | Self::VerifyMac
                | Self::DeriveSharedSecret
        )
    }
}

impl core::fmt::Display for GrantOperation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// `GrantConstraints`: the encryption context a grant's operations require.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantConstraints {
    /// `EncryptionContextEquals`: the request's context must be exactly these pairs.
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    /// `EncryptionContextSubset`: the request's context must include these pairs.
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
}

impl GrantConstraints {
    /// Only `EncryptionContextEquals`.
    pub fn equals(pairs: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>) -> Self {
        Self {
            encryption_context_equals: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
            encryption_context_subset: None,
        }
    }

    /// Only `EncryptionContextSubset`.
    pub fn subset(pairs: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>) -> Self {
        Self {
            encryption_context_equals: None,
            encryption_context_subset: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// Whether no constraint is set.
    pub fn is_empty(&self) -> bool {
        self.encryption_context_equals.is_none() && self.encryption_context_subset.is_none()
    }

    fn validate(&self) -> Result<(), KmsError> {
        for (name, map) in [
            ("EncryptionContextEquals", &self.encryption_context_equals),
            ("EncryptionContextSubset", &self.encryption_context_subset),
        ] {
            let Some(map) = map else { continue };
            if map.len() > MAX_CONSTRAINT_PAIRS {
                return Err(invalid(format!(
                    "Constraints.{name} has {} pairs; at most {MAX_CONSTRAINT_PAIRS} are allowed",
                    map.len()
                )));
            }
            let mut lower = std::collections::BTreeSet::new();
            for (k, v) in map {
                if k.is_empty() {
                    return Err(invalid(format!("Constraints.{name} has an empty key")));
                }
                if v.chars().count() > MAX_CONSTRAINT_VALUE_CHARS {
                    return Err(invalid(format!(
                        "Constraints.{name}[{:?}] is longer than {MAX_CONSTRAINT_VALUE_CHARS} characters",
                        k.escape_debug().to_string()
                    )));
                }
                // Constraint keys compare case-insensitively: two keys that differ only in
                // case would make the constraint ambiguous, so it is refused (fail closed).
                if !lower.insert(k.to_lowercase()) {
                    return Err(invalid(format!(
                        "Constraints.{name} has two keys that differ only in letter case ({:?})",
                        k.escape_debug().to_string()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Every constraint pair, `Equals` then `Subset` (the values the `kms:EncryptionContext:`
    /// conditions of a `CreateGrant` request see).
    pub(super) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.encryption_context_equals
            .iter()
            .chain(self.encryption_context_subset.iter())
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// One grant as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct GrantRecord {
    pub(super) grant_id: String,
    /// The key's id (UUID) and ARN.
    pub(super) key_id: String,
    pub(super) key_arn: String,
    pub(super) name: Option<String>,
    /// Seconds since the Unix epoch.
    pub(super) created: u64,
    pub(super) grantee: String,
    pub(super) retiring: Option<String>,
    /// `arn:aws:iam::ACCOUNT:root` of the caller that created it.
    pub(super) issuing_account: String,
    pub(super) operations: Vec<GrantOperation>,
    pub(super) constraints: Option<GrantConstraints>,
}

impl GrantRecord {
    pub(super) fn same_parameters(&self, other: &GrantRecord) -> bool {
        self.key_id == other.key_id
            && self.name == other.name
            && self.grantee == other.grantee
            && self.retiring == other.retiring
            && self.operations == other.operations
            && self.constraints == other.constraints
    }
}

/// The grants of a `LocalKms`, in its key store (`Inner::grants`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct GrantStore {
    /// grant id → grant.
    pub(super) by_id: BTreeMap<String, GrantRecord>,
    pub(super) per_key_limit: usize,
}

impl Default for GrantStore {
    fn default() -> Self {
        Self {
            by_id: BTreeMap::new(),
            per_key_limit: DEFAULT_GRANTS_PER_KEY,
        }
    }
}

impl GrantStore {
    pub(super) fn of_key<'a>(&'a self, key_id: &'a str) -> impl Iterator<Item = &'a GrantRecord> {
        self.by_id.values().filter(move |g| g.key_id == key_id)
    }
}

fn invalid(message: impl Into<String>) -> KmsError {
    KmsError::new(KmsErrorKind::InvalidRequest, message)
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks a `GrantId` parameter: 1–128 characters, and one of LocalKms's (64 hex digits).
pub(super) fn check_grant_id(grant_id: &str) -> Result<(), KmsError> {
    if is_lower_hex(grant_id, 64) {
        Ok(())
    } else {
        Err(KmsError::new(
            KmsErrorKind::InvalidGrantId,
            format!(
                "Invalid grant ID: {:?}",
                grant_id
                    .chars()
                    .take(128)
                    .collect::<String>()
                    .escape_debug()
                    .to_string()
            ),
        ))
    }
}

pub(super) fn new_grant_id() -> String {
    let mut b = [0u8; 32];
    crate::crypto::fill_random(&mut b);
    hex::encode(b)
}

fn token_checksum(grant_id: &[u8], nonce: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"fragseal-localkms-grant-token-v1");
    h.update(grant_id);
    h.update(nonce);
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// A new token for `grant_id` (64 hex digits): hex of grant id ‖ nonce ‖ checksum.
pub(super) fn new_grant_token(grant_id: &str) -> Result<String, KmsError> {
    let id = hex::decode(grant_id)
        .map_err(|_| KmsError::new(KmsErrorKind::Internal, "grant id is not hex"))?;
    let mut nonce = [0u8; 16];
    crate::crypto::fill_random(&mut nonce);
    let sum = token_checksum(&id, &nonce);
    Ok(format!(
        "{grant_id}{}{}",
        hex::encode(nonce),
        hex::encode(sum)
    ))
}

/// The grant id a well-formed token names.
pub(super) fn parse_grant_token(token: &str) -> Result<String, KmsError> {
    let bad = || {
        KmsError::new(
            KmsErrorKind::InvalidGrantToken,
            "The grant token is not valid.",
        )
    };
    if !is_lower_hex(token, 128) {
        return Err(bad());
    }
    let raw = hex::decode(token).map_err(|_| bad())?;
    let (id, rest) = raw.split_at(32);
    let (nonce, sum) = rest.split_at(16);
    if token_checksum(id, nonce) != sum {
        return Err(bad());
    }
    Ok(token[..64].to_owned())
}

/// Checks a `GranteePrincipal` or `RetiringPrincipal`: `PrincipalIdType` (1–256 characters of
/// `[\w+=,.@:/-]`) naming an account, IAM user or role, or an assumed-role session.
pub(super) fn check_principal(field: &str, arn: &str) -> Result<(), KmsError> {
    let valid_chars = arn.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'_' | b'+' | b'=' | b',' | b'.' | b'@' | b':' | b'/' | b'-'
            )
    });
    if arn.is_empty() || arn.len() > MAX_PRINCIPAL_LEN || !valid_chars {
        return Err(invalid(format!(
            "{field} must be 1 to {MAX_PRINCIPAL_LEN} characters of [\\w+=,.@:/-]"
        )));
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = match parts[..] {
        ["arn", "aws", "iam", "", account, resource] => {
            super::policy::is_account_id(account)
                && (resource == "root"
                    || resource
                        .strip_prefix("user/")
                        .is_some_and(|n| !n.is_empty())
                    || resource
                        .strip_prefix("role/")
                        .is_some_and(|n| !n.is_empty()))
        }
        ["arn", "aws", "sts", "", account, resource] => {
            super::policy::is_account_id(account)
                && resource
                    .strip_prefix("assumed-role/")
                    .is_some_and(|r| r.split('/').count() == 2 && !r.split('/').any(str::is_empty))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(KmsError::new(
            KmsErrorKind::InvalidArn,
            format!(
                "{field} {:?} is not the ARN of an account, IAM user, IAM role or assumed-role session",
                arn
            ),
        ))
    }
}

/// The account field of a principal ARN checked by [`check_principal`] (or of a key ARN).
pub(super) fn principal_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4)
}

//! IAM policy evaluation for the local KMS: key policies and identity policies.
//!
//! Pure and independent of [`super::LocalKms`]: parse a policy document once into a typed
//! [`Policy`], then evaluate requests against it with [`authorize`].
//!
//! # What is modelled (IAM's rules, as AWS KMS applies them)
//! - Documents: `Version` (`2012-10-17` or `2008-10-17`), `Id`, `Statement` as one object or an
//!   array; each statement has `Sid`, `Effect`, `Principal`/`NotPrincipal` (key policies only),
//!   `Action`/`NotAction`, `Resource`/`NotResource`, `Condition`. Unknown elements are rejected
//!   with an error naming them, as are malformed ones (`Statement[2].Effect: expected "Allow" or
//!   "Deny"`).
//! - `Principal`: `"*"`, `{"AWS": "*"}`, `{"AWS": ARN | [ARNs] | account id}`. An account id or
//!   `arn:aws:iam::ACCOUNT:root` names the *account*: it delegates to the account's identity
//!   policies. A role ARN also matches that role's sessions
//!   (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`). `Service`, `Federated` and
//!   `CanonicalUser` principals are parsed but never match a credential. `NotPrincipal` is
//!   accepted only with `Effect: Deny` (AWS does not support it with `Allow`: the policy is
//!   rejected). It exempts the account root when the account is listed, and any other caller
//!   only when both its account and the caller itself (for a role session: the role's or the
//!   session's ARN) are listed, as AWS documents; an account entry alone exempts only the root.
//! - `Action`/`NotAction`: `service:name` with `*` and `?` wildcards, case-insensitive.
//! - `Resource`/`NotResource`: ARNs with `*` and `?` wildcards, case-sensitive, as the IAM
//!   reference for `Resource` states ([`arn_match`]): wildcards work within the colon-separated
//!   segments, except that a `*` ending a segment also matches beyond the colons, so
//!   `arn:aws:kms:us-east-1:*` covers every key of that region (and `"*"` everything). The
//!   `Arn...` condition operators instead check the six components separately: there no
//!   wildcard spans a colon.
//! - `Condition`: `StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`,
//!   `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike`, `ArnEquals`, `ArnLike`,
//!   `ArnNotEquals`, `ArnNotLike`, `Bool`, `Null`, the `...IfExists` forms of all but `Null`, and
//!   the `ForAnyValue:`/`ForAllValues:` qualifiers. Operators in a block, keys in an operator and
//!   statements' conditions are ANDed; the values listed for one key are ORed (for the negated
//!   operators: the request value must match none of them). A missing key makes a positive
//!   operator false and a negated one true; `...IfExists` makes it true; `ForAllValues` is true
//!   and `ForAnyValue` false on a missing or empty key. Condition key names are
//!   case-insensitive, including the context-key part of `kms:EncryptionContext:KEY`, as in AWS
//!   KMS: a request whose context holds `AWS:KINESISVIDEO:ARN=A` alone satisfies
//!   `StringEquals kms:EncryptionContext:aws:kinesisvideo:arn = A`. Pin the exact keys with
//!   `ForAllValues:StringEquals kms:EncryptionContextKeys [...]` (case-sensitive), as AWS
//!   recommends. `aws:PrincipalArn` of a role session is the role's ARN
//!   (`arn:aws:iam::ACCOUNT:role/NAME`), not the session's.
//! - Condition keys: exactly this set, names case-insensitive:
//!   - `kms:CallerAccount` and `aws:PrincipalAccount`: the caller's account;
//!   - `aws:PrincipalArn`: the caller's ARN (for a role session: its role's ARN, see above);
//!   - `sts:ExternalId`: the `ExternalId` of an STS `AssumeRole` (read in a role's trust
//!     policy by the server; absent in every KMS call);
//!   - `kms:ViaService`: the service the call came through (absent for a direct call);
//!   - `kms:RequestAlias`: the alias the caller named (absent when it named a key id or ARN);
//!   - `kms:EncryptionContextKeys` (multi-valued): the keys of the request's encryption context;
//!   - `kms:EncryptionContext:KEY`: the value of the context pair `KEY`.
//!
//!   These are the keys [`RequestContext::values`] answers.
//! - Case variants of a context key. When several keys of the request's encryption context
//!   equal `KEY` ignoring case (say `aws:kinesisvideo:arn=B` and `AWS:KINESISVIDEO:ARN=A`),
//!   `kms:EncryptionContext:KEY` is single-valued but has several candidate values, and no one
//!   of them stands for it. A condition comparing that key's values (every operator but
//!   `Null`, with or without `IfExists` or a set qualifier) is then *false in an `Allow`
//!   statement and true in a `Deny` statement*: the `Allow` does not apply, and a `Deny` such as
//!   `StringNotEquals` fires. Reading the values as a set (any one of them satisfying the
//!   operator) would let a producer confined to stream A obtain a data key whose context also
//!   names stream B. For `Null` the key is present. AWS documents only the case-insensitive
//!   match and advises against context keys that differ only in case; refusing to pick one of
//!   them is LocalKms's fail-closed reading.
//! - Not modelled: policy variables (`${aws:username}`), numeric/date/IP operators, every other
//!   condition key, grants. Each is rejected at parse time with an error naming it.
//!
//! # Fail-closed parsing
//! A policy that LocalKms cannot evaluate as AWS would is refused rather than evaluated with a
//! guess; every refusal is a [`PolicyError`], which AWS KMS reports as
//! `MalformedPolicyDocumentException` ([`PolicyError::exception`], [`PolicyErrorKind`]).
//! - A condition key outside the set above is refused, naming the key. Reading it as absent
//!   would make a `Deny` conditioned on it never fire.
//! - An object that repeats a key anywhere in the document is refused: with a reader that keeps
//!   the last value, `"Effect":"Deny", ..., "Effect":"Allow"` would allow.
//! - `ForAllValues:` on `kms:EncryptionContext:KEY` is refused as AWS KMS refuses it (its
//!   `OverlyPermissiveCondition` message): that key is single-valued, and `ForAllValues` is true
//!   for a request whose context lacks it.
//! - A statement without `Action`/`NotAction` or without `Resource`/`NotResource` is refused.
//!   AWS KMS refuses such key-policy statements in `CreateKey` and `PutKeyPolicy` since
//!   2025-08-18; LocalKms applies the rule to key and identity policies alike.
//!
//! # The decision ([`authorize`])
//! 1. An explicit `Deny` that applies, in the key policy or in any identity policy of the
//!    caller, wins.
//! 2. Otherwise the key policy must `Allow`: either directly (the caller's ARN, or `*`), or
//!    through the caller's account (`arn:aws:iam::ACCOUNT:root` / `ACCOUNT`), in which case an
//!    identity policy of the caller must also `Allow`. The account root itself needs no identity
//!    policy.
//! 3. A caller from another account than the key's needs both: an `Allow` in the key policy
//!    (direct or to its account) and an `Allow` in its identity policies.
//! 4. Otherwise: default deny.

mod condition;
mod document;
mod eval;
mod pattern;

pub use condition::{Operator, Qualifier, RequestContext};
pub use document::{is_account_id, Effect, Policy, PolicyKind, PrincipalEntry, Statement};
pub use eval::{
    authorize, authorize_explained, is_role_arn_of, role_of_session, root_arn, Decision, DenyAt,
    Explanation, Request,
};
pub use pattern::{arn_match, glob};

use core::fmt;

/// A policy document that was refused; the message names the bad element.
///
/// Every such error is AWS's `MalformedPolicyDocumentException` ([`PolicyError::exception`]);
/// [`PolicyError::kind`] tells the rules apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    kind: PolicyErrorKind,
    path: String,
    message: String,
}

/// Which rule a refused policy document broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// Not valid JSON.
    Json,
    /// A JSON object with the same key twice, anywhere in the document.
    DuplicateKey,
    /// A missing, unknown or malformed element, or an unsupported operator.
    Element,
    /// A condition key outside the modelled set.
    UnsupportedConditionKey,
    /// AWS KMS's `OverlyPermissiveCondition`: `ForAllValues:` on `kms:EncryptionContext:KEY`.
    OverlyPermissiveCondition,
}

impl PolicyError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::with_kind(PolicyErrorKind::Element, path, message)
    }

    pub(crate) fn with_kind(
        kind: PolicyErrorKind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            path: path.into(),
            message: message.into(),
        }
    }

    /// Which rule the document broke.
    pub fn kind(&self) -> PolicyErrorKind {
        self.kind
    }

    /// The AWS exception name for this error: always `MalformedPolicyDocumentException`, as
    /// AWS KMS answers `CreateKey` and `PutKeyPolicy` with it for every refused document.
    pub fn exception(&self) -> &'static str {
        "MalformedPolicyDocumentException"
    }

    /// The element at fault, for example `Statement[2].Effect` (empty for the document).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "policy: {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for PolicyError {}

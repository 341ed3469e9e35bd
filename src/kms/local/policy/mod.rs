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
//! - `Resource`/`NotResource`: ARNs matched per colon-separated segment, each with `*` and `?`
//!   wildcards (case-sensitive); `"*"` matches everything.
//! - `Condition`: `StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`,
//!   `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike`, `ArnEquals`, `ArnLike`,
//!   `ArnNotEquals`, `ArnNotLike`, `Bool`, `Null`, the `...IfExists` forms of all but `Null`, and
//!   the `ForAnyValue:`/`ForAllValues:` qualifiers. Operators in a block, keys in an operator and
//!   statements' conditions are ANDed; the values listed for one key are ORed (for the negated
//!   operators: the request value must match none of them). A missing key makes a positive
//!   operator false and a negated one true; `...IfExists` makes it true; `ForAllValues` is true
//!   and `ForAnyValue` false on a missing or empty key. Condition key names are
//!   case-insensitive, including the context-key part of `kms:EncryptionContext:KEY` (as in AWS
//!   KMS; use `kms:EncryptionContextKeys` to pin the case of a key). `aws:PrincipalArn` of a
//!   role session is the role's ARN (`arn:aws:iam::ACCOUNT:role/NAME`), not the session's.
//! - Not modelled: policy variables (`${aws:username}`), numeric/date/IP operators (rejected at
//!   parse time with an error naming the operator), grants.
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
pub use eval::{authorize, is_role_arn_of, role_of_session, root_arn, Decision, Request};
pub use pattern::{arn_match, glob};

use core::fmt;

/// A malformed policy document; the message names the bad element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    path: String,
    message: String,
}

impl PolicyError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
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

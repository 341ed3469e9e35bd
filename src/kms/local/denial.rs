//! Explainable denials: the rule that decided a refusal, carried by the error
//! ([`KmsError::denial`](crate::kms::KmsError::denial)) and by the audit record (`"denial"`).
//!
//! Every `AccessDeniedException` of [`super::LocalKms`] carries one; key-state errors
//! (`DisabledException`, `KMSInvalidStateException`) carry [`Denial::KeyState`]. In
//! [`Enforcement::Soft`] a would-be policy or grant denial is recorded and the call proceeds.

use core::fmt;
use serde_json::{json, Value};

/// How authorization failures are enforced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Enforcement {
    /// Denials are enforced (the default, as AWS KMS).
    #[default]
    Strict,
    /// A call that policies or grants would deny ([`Denial::ExplicitDeny`],
    /// [`Denial::NoAllow`], [`Denial::CrossAccountIdentityMissing`],
    /// [`Denial::GrantConstraint`]) proceeds; its audit record says `"enforcement": "soft"`,
    /// `"wouldBeDenied": true` and names the denial. Nothing else is softened: unknown keys,
    /// key states, validation, quotas, and operations AWS refuses across accounts
    /// ([`Denial::NotCrossAccount`], which no policy can allow) still fail.
    Soft,
}

impl Enforcement {
    /// `"strict"` or `"soft"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Strict => "strict",
            Enforcement::Soft => "soft",
        }
    }

    /// Parses `"strict"` or `"soft"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "strict" => Some(Enforcement::Strict),
            "soft" => Some(Enforcement::Soft),
            _ => None,
        }
    }
}

/// Which policy held the deciding statement.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyRef {
    /// The key policy of `key_arn`.
    KeyPolicy {
        /// The key.
        key_arn: String,
    },
    /// Identity policy number `index` (0-based, in attachment order) of `principal_arn` (a
    /// user or role ARN; a role's policies apply to its sessions).
    IdentityPolicy {
        /// The principal the policy is attached to.
        principal_arn: String,
        /// Its position among that principal's policies.
        index: usize,
    },
}

/// A statement of a policy: its `Sid` if it has one, else its 0-based index.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementRef {
    /// The statement's `Sid`.
    Sid(String),
    /// The statement's index in `Statement`.
    Index(usize),
}

/// One half of an authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyHalf {
    /// The key policy.
    KeyPolicy,
    /// The caller's identity policies.
    IdentityPolicy,
}

impl PolicyHalf {
    fn as_str(self) -> &'static str {
        match self {
            PolicyHalf::KeyPolicy => "KeyPolicy",
            PolicyHalf::IdentityPolicy => "IdentityPolicy",
        }
    }
}

/// The rule that decided a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denial {
    /// A `Deny` statement applied.
    ExplicitDeny {
        /// The policy holding it.
        policy: PolicyRef,
        /// The statement.
        statement: StatementRef,
    },
    /// No statement allowed: `missing` is the half that lacked an `Allow`; `present` the
    /// half that did allow, if any.
    NoAllow {
        /// The half without an applicable `Allow`.
        missing: PolicyHalf,
        /// The half with one, if any.
        present: Option<PolicyHalf>,
    },
    /// A caller of another account: the key policy allows it, its own identity policies do
    /// not (both are needed across accounts).
    CrossAccountIdentityMissing {
        /// The key.
        key_arn: String,
    },
    /// The operation is not one AWS KMS allows across accounts.
    NotCrossAccount {
        /// The IAM action.
        action: String,
    },
    /// The key's state does not allow the operation (not an authorization failure; never
    /// softened).
    KeyState {
        /// The key.
        key_arn: String,
        /// Its state (`Disabled`, `PendingDeletion`, ...).
        state: String,
    },
    /// A grant constraint was not met.
    GrantConstraint {
        /// The grant.
        grant_id: String,
        /// The constraint, e.g. `EncryptionContextEquals`.
        constraint: String,
    },
}

impl Denial {
    /// Whether [`Enforcement::Soft`] lets the call proceed despite this denial.
    pub fn softenable(&self) -> bool {
        matches!(
            self,
            Denial::ExplicitDeny { .. }
                | Denial::NoAllow { .. }
                | Denial::CrossAccountIdentityMissing { .. }
                | Denial::GrantConstraint { .. }
        )
    }

    /// The denial as JSON, as the audit record's `"denial"` carries it, e.g.
    /// `{"type": "ExplicitDeny", "policy": {"type": "KeyPolicy", "keyArn": ".."},
    /// "statement": {"sid": "DenyOthers"}}`.
    pub fn to_json(&self) -> Value {
        match self {
            Denial::ExplicitDeny { policy, statement } => {
                let policy = match policy {
                    PolicyRef::KeyPolicy { key_arn } => {
                        json!({"type": "KeyPolicy", "keyArn": key_arn})
                    }
                    PolicyRef::IdentityPolicy {
                        principal_arn,
                        index,
                    } => json!({
                        "type": "IdentityPolicy",
                        "principalArn": principal_arn,
                        "index": index,
                    }),
                };
                let statement = match statement {
                    StatementRef::Sid(sid) => json!({ "sid": sid }),
                    StatementRef::Index(i) => json!({ "index": i }),
                };
                json!({"type": "ExplicitDeny", "policy": policy, "statement": statement})
            }
            Denial::NoAllow { missing, present } => json!({
                "type": "NoAllow",
                "missing": missing.as_str(),
                "present": present.map(PolicyHalf::as_str),
            }),
            Denial::CrossAccountIdentityMissing { key_arn } => {
                json!({"type": "CrossAccountIdentityMissing", "keyArn": key_arn})
            }
            Denial::NotCrossAccount { action } => {
                json!({"type": "NotCrossAccount", "action": action})
            }
            Denial::KeyState { key_arn, state } => {
                json!({"type": "KeyState", "keyArn": key_arn, "state": state})
            }
            Denial::GrantConstraint {
                grant_id,
                constraint,
            } => json!({
                "type": "GrantConstraint",
                "grantId": grant_id,
                "constraint": constraint,
            }),
        }
    }
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatementRef::Sid(sid) => write!(f, "statement {:?}", sid),
            StatementRef::Index(i) => write!(f, "statement #{i}"),
        }
    }
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyRef::KeyPolicy { key_arn } => write!(f, "the key policy of {key_arn}"),
            PolicyRef::IdentityPolicy {
                principal_arn,
                index,
            } => write!(f, "identity policy #{index} of {principal_arn}"),
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let half = |h: &PolicyHalf| match h {
            PolicyHalf::KeyPolicy => "the key policy",
            PolicyHalf::IdentityPolicy => "the caller's identity policies",
        };
        match self {
            Denial::ExplicitDeny { policy, statement } => {
                write!(f, "explicit deny in {statement} of {policy}")
            }
            Denial::NoAllow { missing, present } => {
                write!(f, "no statement of {} allows it", half(missing))?;
                if let Some(p) = present {
                    write!(f, " ({} does)", half(p))?;
                }
                Ok(())
            }
            Denial::CrossAccountIdentityMissing { key_arn } => write!(
                f,
                "the key policy of {key_arn} allows the other account, but no identity policy \
                 of the caller does (both are needed across accounts)"
            ),
            Denial::NotCrossAccount { action } => {
                write!(f, "{action} is not permitted across accounts")
            }
            Denial::KeyState { key_arn, state } => write!(f, "{key_arn} is {state}"),
            Denial::GrantConstraint {
                grant_id,
                constraint,
            } => write!(f, "grant {grant_id}: constraint {constraint} not met"),
        }
    }
}

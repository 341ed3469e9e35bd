//! The calling [`Credential`]: account, principal ARN, access key id and, for a session, its
//! expiry.

use core::fmt;
use std::time::SystemTime;

/// Who is calling KMS. KMS authorizes every credential itself; the data-key cache is keyed by
/// credential so that a credential is never served a key KMS did not hand to it.
///
/// A credential carries identity only — never a secret. Backends that need secrets (AWS access
/// keys) map a credential to them in their own configuration.
///
/// A temporary (session) credential may carry its **expiry** ([`Self::with_expiry`]): the data
/// key cache never serves a key fetched for it at or after that instant, and the local KMS
/// answers `ExpiredTokenException` from then on.
///
/// Equality, hashing and ordering compare every field, the expiry included. So a refreshed
/// session (a new access key id) is a new credential with its own cache entries, and two values
/// with the same access key id but different expiries never share entries either: a later
/// expiry cannot extend the life of a key fetched under the earlier one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Credential {
    account: String,
    principal_arn: String,
    access_key_id: String,
    expiry: Option<SystemTime>,
}

impl Credential {
    /// A credential for `principal_arn` (for example `arn:aws:iam::111122223333:role/producer`)
    /// in `account`, identified by an access-key or session id. This is the only way to build
    /// one, and it checks:
    /// - `account` is 12 ASCII digits;
    /// - `principal_arn` is an IAM principal ARN, `arn:PARTITION:iam::ACCOUNT:root|user/...|role/...`,
    ///   or an STS session ARN, `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION` or
    ///   `...:federated-user/NAME`, whose ACCOUNT (12 digits, no wildcard) is `account`;
    /// - no field is empty, and none contains a control character (`\n`, `\r`, ESC, ... —
    ///   anything [`char::is_control`] says), so an identity cannot forge lines in an audit
    ///   trail or a terminal.
    ///
    /// # Errors
    /// [`CredentialError`], naming the field and the rule it breaks.
    pub fn new(
        account: impl Into<String>,
        principal_arn: impl Into<String>,
        access_key_id: impl Into<String>,
    ) -> Result<Self, CredentialError> {
        let (account, principal_arn, access_key_id) =
            (account.into(), principal_arn.into(), access_key_id.into());
        for (field, value) in [
            (CredentialField::Account, &account),
            (CredentialField::PrincipalArn, &principal_arn),
            (CredentialField::AccessKeyId, &access_key_id),
        ] {
            if value.is_empty() {
                return Err(CredentialError::Empty { field });
            }
            if value.chars().any(char::is_control) {
                return Err(CredentialError::ControlCharacter {
                    field,
                    value: value.clone(),
                });
            }
        }
        if !is_account_id(&account) {
            return Err(CredentialError::InvalidAccount { account });
        }
        let Some(arn_account) = principal_account(&principal_arn) else {
            return Err(CredentialError::NotAPrincipalArn { principal_arn });
        };
        if arn_account != account {
            return Err(CredentialError::AccountMismatch {
                account,
                principal_arn,
            });
        }
        Ok(Self {
            account,
            principal_arn,
            access_key_id,
            expiry: None,
        })
    }

    /// This credential, expiring at `expiry` (a session's `Expiration`, as STS returns it).
    /// It is expired at `expiry` and after ([`Self::is_expired_at`]).
    #[must_use]
    pub fn with_expiry(mut self, expiry: SystemTime) -> Self {
        self.expiry = Some(expiry);
        self
    }

    /// When the credential expires; `None` for a long-term credential.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expiry
    }

    /// Whether the credential has expired at `now`: true at its expiry and after.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expiry.is_some_and(|e| now >= e)
    }

    /// How long the credential stays valid after `now`: `None` without an expiry,
    /// `Some(Duration::ZERO)` once expired.
    pub fn remaining_at(&self, now: SystemTime) -> Option<core::time::Duration> {
        self.expiry
            .map(|e| e.duration_since(now).unwrap_or(core::time::Duration::ZERO))
    }

    /// The AWS account id of the caller.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The caller's principal ARN (what `userIdentity.arn` shows; for an assumed-role session
    /// `aws:PrincipalArn` is the role's ARN, as in AWS).
    pub fn principal_arn(&self) -> &str {
        &self.principal_arn
    }

    /// The access-key or session id (an identifier, not a secret).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("account", &self.account)
            .field("principal_arn", &self.principal_arn)
            .field("access_key_id", &self.access_key_id)
            .field(
                "expiry",
                &self
                    .expiry
                    .map(|e| humantime::format_rfc3339_seconds(e).to_string()),
            )
            .finish()
    }
}

fn is_account_id(s: &str) -> bool {
    crate::arn::is_account_id(s)
}

/// The account field of an IAM or STS principal ARN, if `arn` is one (see
/// [`Credential::new`] and [`crate::arn::PrincipalArn`]).
fn principal_account(arn: &str) -> Option<&str> {
    crate::arn::PrincipalArn::parse(arn).map(|p| p.account())
}

/// A field of a [`Credential`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialField {
    /// The account id.
    Account,
    /// The principal ARN.
    PrincipalArn,
    /// The access-key or session id.
    AccessKeyId,
}

impl CredentialField {
    fn name(self) -> &'static str {
        match self {
            CredentialField::Account => "account",
            CredentialField::PrincipalArn => "principal ARN",
            CredentialField::AccessKeyId => "access key id",
        }
    }
}

/// Why [`Credential::new`] refused a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialError {
    /// A field is empty.
    Empty {
        /// Which one.
        field: CredentialField,
    },
    /// A field contains a control character (newline, carriage return, escape, ...).
    ControlCharacter {
        /// Which one.
        field: CredentialField,
        /// The value (escaped when displayed).
        value: String,
    },
    /// The account is not 12 ASCII digits.
    InvalidAccount {
        /// The account given.
        account: String,
    },
    /// The principal is not an IAM principal ARN (`arn:aws:iam::ACCOUNT:root|user/..|role/..`)
    /// or an STS session ARN (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`,
    /// `...:federated-user/NAME`) with a 12-digit account.
    NotAPrincipalArn {
        /// The ARN given.
        principal_arn: String,
    },
    /// The account contradicts the account field of the principal ARN.
    AccountMismatch {
        /// The account given.
        account: String,
        /// The ARN given.
        principal_arn: String,
    },
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialError::Empty { field } => write!(f, "credential: the {} is empty", field.name()),
            CredentialError::ControlCharacter { field, value } => write!(
                f,
                "credential: the {} {value:?} contains a control character",
                field.name()
            ),
            CredentialError::InvalidAccount { account } => write!(
                f,
                "credential: the account {account:?} is not 12 digits"
            ),
            CredentialError::NotAPrincipalArn { principal_arn } => write!(
                f,
                "credential: {principal_arn:?} is not an IAM principal ARN \
                 (arn:aws:iam::ACCOUNT:root|user/NAME|role/NAME) or an STS session ARN \
                 (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION)"
            ),
            CredentialError::AccountMismatch {
                account,
                principal_arn,
            } => write!(
                f,
                "credential: the account {account:?} contradicts the principal ARN {principal_arn:?}"
            ),
        }
    }
}

impl std::error::Error for CredentialError {}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_part_of_the_identity() {
        use core::time::Duration;
        use std::time::UNIX_EPOCH;
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let base = Credential::new(
            "111122223333",
            "arn:aws:sts::111122223333:assumed-role/r/s",
            "ASIA1",
        )
        .unwrap();
        assert_eq!(base.expiry(), None);
        assert!(!base.is_expired_at(t));
        assert_eq!(base.remaining_at(t), None);
        let a = base.clone().with_expiry(t);
        let b = base.clone().with_expiry(t + Duration::from_secs(1));
        assert_eq!(a.expiry(), Some(t));
        assert_ne!(a, base);
        assert_ne!(a, b, "same key id, another expiry: another credential");
        assert_eq!(a, base.clone().with_expiry(t));
        assert!(!a.is_expired_at(t - Duration::from_nanos(1)));
        assert!(a.is_expired_at(t), "expired at its expiry");
        assert!(a.is_expired_at(t + Duration::from_secs(5)));
        assert_eq!(
            a.remaining_at(t - Duration::from_secs(3)),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            a.remaining_at(t + Duration::from_secs(3)),
            Some(Duration::ZERO)
        );
        assert!(format!("{a:?}").contains("2027-01-15T08:00:00Z"), "{a:?}");
    }

    #[test]
    fn mismatched_credential_is_refused() {
        const A: &str = "111122223333";
        // The attack: an account that contradicts the principal ARN's.
        for arn in [
            "arn:aws:iam::444455556666:role/producer",
            "arn:aws:iam::444455556666:user/alice",
            "arn:aws:iam::444455556666:root",
            "arn:aws:sts::444455556666:assumed-role/producer/cam-1",
            "arn:aws:sts::444455556666:federated-user/bob",
        ] {
            let e = Credential::new(A, arn, "AKIDX").unwrap_err();
            assert_eq!(
                e,
                CredentialError::AccountMismatch {
                    account: A.into(),
                    principal_arn: arn.into()
                }
            );
            assert!(e.to_string().contains("contradicts"), "{e}");
        }
        // Well-formed credentials are accepted.
        for arn in [
            "arn:aws:iam::111122223333:root",
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:iam::111122223333:role/producer",
            "arn:aws:sts::111122223333:assumed-role/producer/cam-1",
            "arn:aws:sts::111122223333:federated-user/bob",
            "arn:aws-cn:iam::111122223333:role/producer",
        ] {
            let c = Credential::new(A, arn, "ASIAX").expect(arn);
            assert_eq!(c.principal_arn(), arn);
            assert_eq!(c.account(), A);
            assert_eq!(c.access_key_id(), "ASIAX");
        }
        // A wildcard, a missing or malformed account field, a non-principal ARN.
        for arn in [
            "arn:aws:iam::*:role/producer",
            "arn:aws:iam::11112222333:role/producer",
            "arn:aws:iam:us-east-1:111122223333:role/producer",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:iam::111122223333:role/*",
            "arn:aws:iam::111122223333:group/devs",
            "arn:aws:sts::111122223333:assumed-role/producer",
            "arn:aws:sts::111122223333:assumed-role/*/s",
            "arn:aws:kms:us-east-1:111122223333:key/k",
            "role/producer",
            "*",
        ] {
            let e = Credential::new(A, arn, "AKIDX").unwrap_err();
            assert!(
                matches!(e, CredentialError::NotAPrincipalArn { .. }),
                "{arn}: {e}"
            );
        }
        for account in ["11112222333", "1111222233334", "11112222333x", "*"] {
            let e =
                Credential::new(account, "arn:aws:iam::111122223333:root", "AKIDX").unwrap_err();
            assert!(matches!(e, CredentialError::InvalidAccount { .. }), "{e}");
        }
        assert_eq!(
            Credential::new(A, "arn:aws:iam::111122223333:root", "").unwrap_err(),
            CredentialError::Empty {
                field: CredentialField::AccessKeyId
            }
        );
        assert_eq!(
            Credential::new("", "arn:aws:iam::111122223333:root", "K").unwrap_err(),
            CredentialError::Empty {
                field: CredentialField::Account
            }
        );
        assert_eq!(
            Credential::new(A, "", "K").unwrap_err(),
            CredentialError::Empty {
                field: CredentialField::PrincipalArn
            }
        );
        for (arn, key) in [
            ("arn:aws:iam::111122223333:role/x\n{\"forged\":1}", "AKIDX"),
            ("arn:aws:iam::111122223333:role/x", "AKID\r\u{1b}[2J"),
            ("arn:aws:iam::111122223333:role/x\u{85}", "AKIDX"),
        ] {
            let e = Credential::new(A, arn, key).unwrap_err();
            assert!(matches!(e, CredentialError::ControlCharacter { .. }), "{e}");
            // The message escapes the value: it never carries the control character itself.
            assert!(!e.to_string().chars().any(char::is_control), "{e}");
        }
    }
}

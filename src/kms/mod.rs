//! The KMS seam: a small synchronous `Send + Sync` trait in fragseal's own terms, the calling
//! [`Credential`], and [`KmsError`], which mirrors AWS KMS's error names and says whether a
//! retry can help.
//!
//! Backends live in their own modules: the in-memory local KMS (`kms::local`) and, behind the
//! `aws` cargo feature, AWS KMS (`kms::aws`).

#[cfg(feature = "aws")]
pub mod aws;
mod error;
pub mod local;

pub use error::{KmsError, KmsErrorKind};

/// Largest plaintext `Encrypt` accepts (AWS KMS's `PlaintextType` maximum, bytes).
pub const MAX_ENCRYPT_PLAINTEXT: usize = 4096;

use crate::crypto::SecretBytes;
use crate::format::EncryptionContext;
use core::fmt;

/// Who is calling KMS. KMS authorizes every credential itself; the data-key cache is keyed by
/// credential so that a credential is never served a key KMS did not hand to it.
///
/// A credential carries identity only — never a secret. Backends that need secrets (AWS access
/// keys) map a credential to them in their own configuration.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Credential {
    account: String,
    principal_arn: String,
    access_key_id: String,
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
        })
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

/// The size of a data key to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataKeySpec {
    /// 32 bytes (`KeySpec=AES_256`).
    Aes256,
    /// `NumberOfBytes` = n (1..=1024 in AWS KMS).
    Bytes(u16),
}

impl DataKeySpec {
    /// Number of key bytes.
    pub fn len(self) -> usize {
        match self {
            DataKeySpec::Aes256 => 32,
            DataKeySpec::Bytes(n) => usize::from(n),
        }
    }

    /// True when zero bytes were requested (never valid).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The `KeySpec` / `NumberOfBytes` parameters of `GenerateDataKey` (and
    /// `GenerateDataKeyWithoutPlaintext`), validated as AWS KMS does: exactly one of them;
    /// `KeySpec` is `AES_256` or `AES_128` (16 bytes, returned as `Bytes(16)`);
    /// `NumberOfBytes` is 1..=1024.
    ///
    /// # Errors
    /// [`KmsErrorKind::InvalidRequest`] (`ValidationException`) with AWS's message.
    pub fn parse(key_spec: Option<&str>, number_of_bytes: Option<i64>) -> Result<Self, KmsError> {
        let invalid = |m: String| KmsError::new(KmsErrorKind::InvalidRequest, m);
        match (key_spec, number_of_bytes) {
            (Some(_), Some(_)) | (None, None) => Err(invalid(
                "Please specify either number of bytes or key spec.".to_owned(),
            )),
            (Some("AES_256"), None) => Ok(DataKeySpec::Aes256),
            (Some("AES_128"), None) => Ok(DataKeySpec::Bytes(16)),
            (Some(other), None) => Err(invalid(format!(
                "1 validation error detected: Value '{}' at 'keySpec' failed to satisfy \
                 constraint: Member must satisfy enum value set: [AES_256, AES_128]",
                other.escape_debug()
            ))),
            (None, Some(n)) => Ok(DataKeySpec::Bytes(number_of_bytes_in_range(n)?)),
        }
    }
}

/// Largest `NumberOfBytes` of `GenerateDataKey` and `GenerateRandom`.
pub const MAX_NUMBER_OF_BYTES: u16 = 1024;

/// Checks a `NumberOfBytes` parameter (1..=1024) with AWS KMS's validation message.
///
/// # Errors
/// [`KmsErrorKind::InvalidRequest`] (`ValidationException`).
pub fn number_of_bytes_in_range(n: i64) -> Result<u16, KmsError> {
    let constraint = if n < 1 {
        "Member must have value greater than or equal to 1"
    } else if n > i64::from(MAX_NUMBER_OF_BYTES) {
        "Member must have value less than or equal to 1024"
    } else {
        return u16::try_from(n).map_err(|_| KmsError::new(KmsErrorKind::Internal, "range"));
    };
    Err(KmsError::new(
        KmsErrorKind::InvalidRequest,
        format!(
            "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy \
             constraint: {constraint}"
        ),
    ))
}

/// The result of `GenerateDataKey`.
#[derive(Debug)]
pub struct GeneratedDataKey {
    /// ARN of the KMS key that encrypted the data key.
    pub key_id: String,
    /// The plaintext data key.
    pub plaintext: SecretBytes,
    /// The data key encrypted under the KMS key (the KMS ciphertext blob).
    pub ciphertext_blob: Vec<u8>,
}

/// The result of `Decrypt`.
#[derive(Debug)]
pub struct DecryptedDataKey {
    /// ARN of the KMS key that decrypted the data key.
    pub key_id: String,
    /// The plaintext data key.
    pub plaintext: SecretBytes,
}

/// The result of `Encrypt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedBlob {
    /// ARN of the KMS key that encrypted the plaintext.
    pub key_id: String,
    /// The ciphertext blob; [`Kms::decrypt`] recovers the plaintext from it.
    pub ciphertext_blob: Vec<u8>,
}

/// A KMS key's state, with the names AWS KMS uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Disabled: cryptographic operations fail with `DisabledException`.
    Disabled,
    /// Scheduled for deletion: cryptographic operations fail with `KMSInvalidStateException`.
    PendingDeletion,
    /// Being created or imported; not usable yet.
    Unavailable,
}

impl KeyState {
    /// The name AWS KMS gives the state (`Enabled`, `Disabled`, `PendingDeletion`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::Unavailable => "Unavailable",
        }
    }
}

/// The result of `DescribeKey`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDescription {
    /// The key's ARN.
    pub arn: String,
    /// The key's id (the UUID part of the ARN).
    pub key_id: String,
    /// The owning account.
    pub account: String,
    /// The key state.
    pub state: KeyState,
    /// Free-form description.
    pub description: String,
    /// Who manages the key: `"CUSTOMER"` or `"AWS"` (for example `alias/aws/kinesisvideo`).
    pub manager: String,
    /// Seconds since the Unix epoch at which deletion is scheduled, when pending deletion.
    pub deletion_date: Option<u64>,
}

/// A key management service that generates and decrypts data keys on behalf of a credential.
///
/// Every call names the calling [`Credential`] and the encryption context, which the KMS binds
/// to the ciphertext blob and may use in authorization conditions. Implementations are
/// synchronous and `Send + Sync`: the engine calls them from rayon workers and plain threads.
///
/// `key_id` accepts what AWS KMS accepts: a key id, a key ARN, an alias name (`alias/...`) or an
/// alias ARN.
pub trait Kms: Send + Sync {
    /// `GenerateDataKey`: a fresh data key, in plaintext and encrypted under `key_id`.
    ///
    /// # Errors
    /// A [`KmsError`] whose kind mirrors AWS KMS's (`NotFound`, `Disabled`, `AccessDenied`, ...).
    fn generate_data_key(
        &self,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        encryption_context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError>;

    /// `Decrypt`: recovers a data key from its ciphertext blob. When `expected_key_id` is given,
    /// the blob must have been made under that key (`IncorrectKeyException` otherwise).
    ///
    /// # Errors
    /// `InvalidCiphertext` when the blob or the encryption context is wrong, `IncorrectKey`,
    /// `AccessDenied`, `Disabled`, ... as AWS KMS would answer.
    fn decrypt(
        &self,
        caller: &Credential,
        ciphertext_blob: &[u8],
        encryption_context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError>;

    /// `DescribeKey`.
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`, or a transport error.
    fn describe_key(&self, caller: &Credential, key_id: &str) -> Result<KeyDescription, KmsError>;

    /// `Encrypt`: encrypts `plaintext` (1..=[`MAX_ENCRYPT_PLAINTEXT`] bytes, for example a data
    /// key generated under another KMS key) under `key_id`, bound to the encryption context.
    /// The blob opens with [`Kms::decrypt`] under the same context. This is how one data key is
    /// wrapped under several KMS keys.
    ///
    /// The default implementation refuses with `UnsupportedOperationException`, so that a
    /// backend which cannot encrypt says so instead of guessing.
    ///
    /// # Errors
    /// `InvalidRequest` (`ValidationException`) for an empty or oversized plaintext;
    /// `NotFound`, `Disabled`, `InvalidState`, `AccessDenied`, ... as AWS KMS would answer.
    fn encrypt(
        &self,
        caller: &Credential,
        key_id: &str,
        plaintext: &[u8],
        encryption_context: &EncryptionContext,
    ) -> Result<EncryptedBlob, KmsError> {
        let _ = (caller, plaintext, encryption_context);
        Err(KmsError::new(
            KmsErrorKind::UnsupportedOperation,
            format!("this KMS backend does not implement Encrypt (key {key_id})"),
        ))
    }
}

impl<T: Kms + ?Sized> Kms for std::sync::Arc<T> {
    fn generate_data_key(
        &self,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        encryption_context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError> {
        (**self).generate_data_key(caller, key_id, spec, encryption_context)
    }

    fn decrypt(
        &self,
        caller: &Credential,
        ciphertext_blob: &[u8],
        encryption_context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError> {
        (**self).decrypt(caller, ciphertext_blob, encryption_context, expected_key_id)
    }

    fn describe_key(&self, caller: &Credential, key_id: &str) -> Result<KeyDescription, KmsError> {
        (**self).describe_key(caller, key_id)
    }

    fn encrypt(
        &self,
        caller: &Credential,
        key_id: &str,
        plaintext: &[u8],
        encryption_context: &EncryptionContext,
    ) -> Result<EncryptedBlob, KmsError> {
        (**self).encrypt(caller, key_id, plaintext, encryption_context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + ?Sized>() {}

    #[test]
    fn kms_trait_objects_are_send_sync() {
        assert_send_sync::<dyn Kms>();
        assert_send_sync::<Credential>();
        assert_send_sync::<KmsError>();
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

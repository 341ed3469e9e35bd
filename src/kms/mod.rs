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
    /// in `account` (12 digits), identified by an access-key or session id.
    pub fn new(
        account: impl Into<String>,
        principal_arn: impl Into<String>,
        access_key_id: impl Into<String>,
    ) -> Self {
        Self {
            account: account.into(),
            principal_arn: principal_arn.into(),
            access_key_id: access_key_id.into(),
        }
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
}

//! The KMS seam: a small synchronous `Send + Sync` trait in fragseal's own terms, the calling
//! [`Credential`], and [`KmsError`], which mirrors AWS KMS's error names and says whether a
//! retry can help.
//!
//! Backends live in their own modules: the in-memory local KMS (`kms::local`) and, behind the
//! `aws` cargo feature, AWS KMS (`kms::aws`).

#[cfg(feature = "aws")]
pub mod aws;
mod credential;
mod error;
pub mod local;
mod provider;

pub use credential::{Credential, CredentialError, CredentialField};
pub use error::{KmsError, KmsErrorKind, RetryKind};
pub use provider::{CredentialProvider, RefreshingCredentialProvider, StaticCredentialProvider};

/// Largest plaintext `Encrypt` accepts (AWS KMS's `PlaintextType` maximum, bytes).
pub const MAX_ENCRYPT_PLAINTEXT: usize = 4096;

use crate::crypto::SecretBytes;
use crate::format::EncryptionContext;

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
    /// Seconds since the Unix epoch at which the key was created, when the KMS says.
    pub creation_date: Option<u64>,
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
}

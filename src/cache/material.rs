//! What the cache stores and hands out: [`DataKeyMaterial`] and [`Lease`].

use super::CredentialCounters;
use crate::crypto::DataKey;
use crate::format::EncryptedDataKey;
use crate::kms::{DecryptedDataKey, GeneratedDataKey, KmsError, KmsErrorKind};
use core::fmt;
use std::sync::Arc;

/// The key provider id of encrypted data keys made by AWS KMS (and any [`crate::kms::Kms`]).
pub const AWS_KMS_PROVIDER_ID: &str = "aws-kms";

/// A data key as KMS returned it: the plaintext key, the ARN of the KMS key, and the `aws-kms`
/// encrypted data key (provider info = the key ARN, ciphertext = the KMS ciphertext blob), ready
/// to be written into a message header.
///
/// The plaintext key is zeroized when this is dropped. `Debug` shows the key ARN only.
pub struct DataKeyMaterial {
    data_key: DataKey,
    key_arn: String,
    edk: EncryptedDataKey,
}

impl DataKeyMaterial {
    /// Bundles a data key with the KMS key ARN and ciphertext blob it came with.
    pub fn new(data_key: DataKey, key_arn: String, ciphertext_blob: Vec<u8>) -> Self {
        let edk = EncryptedDataKey {
            provider_id: AWS_KMS_PROVIDER_ID.to_owned(),
            provider_info: key_arn.as_bytes().to_vec(),
            ciphertext: ciphertext_blob,
        };
        Self {
            data_key,
            key_arn,
            edk,
        }
    }

    /// From a `GenerateDataKey` answer.
    ///
    /// # Errors
    /// [`KmsErrorKind::Internal`] when the plaintext key is not 32 bytes long.
    pub fn from_generated(g: GeneratedDataKey) -> Result<Self, KmsError> {
        let data_key = data_key_from_kms(g.plaintext)?;
        Ok(Self::new(data_key, g.key_id, g.ciphertext_blob))
    }

    /// From a `Decrypt` answer for `ciphertext_blob`.
    ///
    /// # Errors
    /// [`KmsErrorKind::Internal`] when the plaintext key is not 32 bytes long.
    pub fn from_decrypted(d: DecryptedDataKey, ciphertext_blob: Vec<u8>) -> Result<Self, KmsError> {
        let data_key = data_key_from_kms(d.plaintext)?;
        Ok(Self::new(data_key, d.key_id, ciphertext_blob))
    }

    /// The plaintext data key.
    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    /// ARN of the KMS key that generated or decrypted the data key.
    pub fn key_arn(&self) -> &str {
        &self.key_arn
    }

    /// The KMS ciphertext blob of the data key.
    pub fn ciphertext_blob(&self) -> &[u8] {
        &self.edk.ciphertext
    }

    /// The `aws-kms` encrypted data key for a message header.
    pub fn encrypted_data_key(&self) -> &EncryptedDataKey {
        &self.edk
    }
}

fn data_key_from_kms(plaintext: crate::crypto::SecretBytes) -> Result<DataKey, KmsError> {
    DataKey::try_from(plaintext).map_err(|len| {
        KmsError::new(
            KmsErrorKind::Internal,
            format!("KMS returned a data key of {len} bytes, expected 32"),
        )
    })
}

impl fmt::Debug for DataKeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKeyMaterial")
            .field("key_arn", &self.key_arn)
            .finish_non_exhaustive()
    }
}

/// How a [`Lease`] was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseSource {
    /// From a cached entry.
    Hit,
    /// This caller fetched the key from KMS and cached it.
    Fetched,
    /// Another caller fetched it while this one waited (single flight).
    Waited,
    /// Fetched for this use only, not cached (caching off, or the fragment exceeds `max_bytes`).
    Uncached,
}

/// A data key handed out by the cache for one fragment, its usage already reserved.
///
/// Shares the cached key instead of copying it; drop the lease when the fragment is done.
pub struct Lease {
    pub(super) material: Arc<DataKeyMaterial>,
    pub(super) counters: Arc<CredentialCounters>,
    pub(super) source: LeaseSource,
}

impl Lease {
    /// The data key and its KMS details.
    pub fn material(&self) -> &Arc<DataKeyMaterial> {
        &self.material
    }

    /// How the key was obtained.
    pub fn source(&self) -> LeaseSource {
        self.source
    }

    /// The counters of the credential the lease belongs to.
    pub fn counters(&self) -> &Arc<CredentialCounters> {
        &self.counters
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("material", &self.material)
            .field("source", &self.source)
            .finish()
    }
}

//! What the cache stores and hands out: [`DataKeyMaterial`] and [`Lease`].

use super::CredentialCounters;
use crate::crypto::{DataKey, SigningKey};
use crate::format::EncryptedDataKey;
use core::fmt;
use std::sync::Arc;

/// A data key as a keyring returned it: the plaintext key, the encrypted data keys that carry
/// it (one per key of the keyring when sealing; the one that was opened when opening), and the
/// id of the key that generated or opened it (a KMS key ARN, a raw key's namespace and name...).
///
/// The cache stores it as it is and never looks inside an encrypted data key: what an EDK
/// contains and which EDKs to trust is the keyring's business.
///
/// For the signed suite `0x0578` it also carries the signing key pair whose public key was
/// in the context the data key was generated for: one key pair per cache entry, as ESDK
/// caching does, evicted and dropped with the data key.
///
/// The plaintext key (and the signing key) is zeroized when this is dropped. `Debug` shows the
/// key id, the number of encrypted data keys and whether there is a signing key only.
pub struct DataKeyMaterial {
    data_key: DataKey,
    encrypted_data_keys: Vec<EncryptedDataKey>,
    key_id: String,
    signing_key: Option<SigningKey>,
}

impl DataKeyMaterial {
    /// Bundles a data key with its encrypted data keys and the id of the key that produced it.
    pub fn new(
        data_key: DataKey,
        encrypted_data_keys: Vec<EncryptedDataKey>,
        key_id: String,
    ) -> Self {
        Self {
            data_key,
            encrypted_data_keys,
            key_id,
            signing_key: None,
        }
    }

    /// Adds the signing key pair of the signed suite (its public key must be in the context
    /// the data key was generated for).
    pub fn with_signing_key(mut self, signing_key: SigningKey) -> Self {
        self.signing_key = Some(signing_key);
        self
    }

    /// The signing key pair, for materials of the signed suite.
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signing_key.as_ref()
    }

    /// The plaintext data key.
    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    /// The encrypted data keys, in the order the keyring produced them (for a message header).
    pub fn encrypted_data_keys(&self) -> &[EncryptedDataKey] {
        &self.encrypted_data_keys
    }

    /// The id of the key that generated or opened the data key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl fmt::Debug for DataKeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKeyMaterial")
            .field("key_id", &self.key_id)
            .field("encrypted_data_keys", &self.encrypted_data_keys.len())
            .field("signing_key", &self.signing_key.is_some())
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
    /// The data key, its encrypted data keys and key id.
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

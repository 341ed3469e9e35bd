//! Keyrings: which keys protect a message's data key, and which may open it (the ESDK's
//! `framework/keyring-interface.md`).
//!
//! A [`Keyring`] generates a data key and wraps it for each of its keys (sealing), decides
//! without I/O whether it trusts an encrypted data key ([`Keyring::accepts`]), and unwraps the
//! ones it trusts (opening). The [engine](crate::engine) and its cache work with any keyring
//! and know nothing about encrypted data key formats.
//!
//! - [`KmsKeyring`]: AWS KMS keys, built either [strict](KmsKeyring::strict) (a list of keys;
//!   aliases resolved to key ARNs once, at construction) or
//!   [discovery](KmsKeyring::discovery) (any key of the partition and accounts of a
//!   [`DiscoveryFilter`]; it cannot seal). There is no default between them. Only a
//!   well-formed KMS key ARN ([`crate::arn::KmsKeyArn`]) from a message is ever sent to KMS.
//! - [`RawAesKeyring`]: a local AES-256 wrapping key, in the ESDK raw AES keyring's format.
//! - [`RawRsaKeyring`]: a local RSA key pair in the ESDK raw RSA keyring's format, for test
//!   vectors only (its `rsa` crate has the open timing advisory RUSTSEC-2023-0071).
//! - [`MultiKeyring`]: a generator and children; the data key is wrapped for each, and each
//!   encrypted data key opens the message alone.
//!
//! ```
//! use fragseal::crypto::SecretBytes;
//! use fragseal::identity::IdentityCheck;
//! use fragseal::keyring::{open_with_raw_key, seal_with_raw_key, RawAesKeyring, SealOptions};
//! use fragseal::message::OpenLimits;
//! use fragseal::EncryptionContext;
//!
//! # fn main() -> Result<(), fragseal::Error> {
//! let keyring = RawAesKeyring::new("my-namespace", "my-key", SecretBytes::random(32))?;
//! let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", "arn:aws:kinesisvideo:...");
//! let sealed = seal_with_raw_key(&keyring, &SealOptions::new(&ec), b"fragment")?;
//! let opened = open_with_raw_key(&keyring, &sealed, &IdentityCheck::Skip, &OpenLimits::default())?;
//! assert_eq!(opened, b"fragment");
//! # Ok(()) }
//! ```

pub mod kms;
pub mod multi;
pub mod raw_aes;
pub mod raw_rsa;

pub use kms::{DiscoveryFilter, KmsKeyring, AWS_KMS_PROVIDER_ID};
pub use multi::MultiKeyring;
pub use raw_aes::{open_with_raw_key, seal_with_raw_key, RawAesKeyring, SealOptions};
pub use raw_rsa::{RawRsaKeyring, RsaPadding};

use crate::crypto::DataKey;
use crate::error::KeyringError;
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::kms::Credential;
use core::fmt;

/// Decides which keys protect a data key and which may open it. Object safe, `Send + Sync`.
///
/// `caller` is the credential the operation runs for (keyrings without a service, like
/// [`RawAesKeyring`], ignore it); `ec` is the whole encryption context the data key is bound
/// to: the stored pairs and those authenticated only.
pub trait Keyring: Send + Sync + fmt::Debug {
    /// A fresh data key, wrapped for every key of the keyring.
    ///
    /// # Errors
    /// [`KeyringError::DiscoveryCannotSeal`] for a keyring that names no key; a KMS failure.
    fn generate(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
    ) -> Result<EncryptionMaterials, KeyringError>;

    /// Wraps an existing `data_key` for the keyring's (first) key: the keyring as a child of a
    /// [`MultiKeyring`].
    ///
    /// # Errors
    /// As [`Self::generate`].
    fn wrap(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<EncryptedDataKey, KeyringError>;

    /// Whether the keyring trusts `edk` enough to try to unwrap it: the trust decision, made
    /// without I/O. An encrypted data key it does not accept is never sent anywhere.
    fn accepts(&self, edk: &EncryptedDataKey) -> bool;

    /// Unwraps `edk`, bound to `ec`.
    ///
    /// # Errors
    /// [`KeyringError::NotMine`] when the keyring does not accept `edk`;
    /// [`KeyringError::Authentication`] (opaque) when it is the keyring's but does not decrypt;
    /// a KMS failure.
    fn unwrap(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
        edk: &EncryptedDataKey,
    ) -> Result<UnwrappedKey, KeyringError>;
}

/// What [`Keyring::generate`] returns: a data key, the encrypted data keys for the message
/// header, and the id of the key that generated it. `Debug` shows the key id only.
pub struct EncryptionMaterials {
    data_key: DataKey,
    encrypted_data_keys: Vec<EncryptedDataKey>,
    key_id: String,
}

impl EncryptionMaterials {
    /// Bundles a data key with its encrypted data keys (at least one) and key id.
    pub fn new(
        data_key: DataKey,
        encrypted_data_keys: Vec<EncryptedDataKey>,
        key_id: String,
    ) -> Self {
        Self {
            data_key,
            encrypted_data_keys,
            key_id,
        }
    }

    /// The plaintext data key.
    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    /// The encrypted data keys, in header order.
    pub fn encrypted_data_keys(&self) -> &[EncryptedDataKey] {
        &self.encrypted_data_keys
    }

    /// The id of the key that generated the data key (a KMS key ARN, or `namespace/name`).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The parts: data key, encrypted data keys, key id.
    pub fn into_parts(self) -> (DataKey, Vec<EncryptedDataKey>, String) {
        (self.data_key, self.encrypted_data_keys, self.key_id)
    }
}

impl fmt::Debug for EncryptionMaterials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionMaterials")
            .field("key_id", &self.key_id)
            .field("encrypted_data_keys", &self.encrypted_data_keys.len())
            .finish_non_exhaustive()
    }
}

/// What [`Keyring::unwrap`] returns: the data key and the id of the key that opened it.
/// `Debug` shows the key id only.
pub struct UnwrappedKey {
    data_key: DataKey,
    key_id: String,
}

impl UnwrappedKey {
    /// Bundles a data key with the id of the key that unwrapped it.
    pub fn new(data_key: DataKey, key_id: String) -> Self {
        Self { data_key, key_id }
    }

    /// The plaintext data key.
    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    /// The id of the key that unwrapped it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The parts: data key, key id.
    pub fn into_parts(self) -> (DataKey, String) {
        (self.data_key, self.key_id)
    }
}

impl fmt::Debug for UnwrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnwrappedKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl<T: Keyring + ?Sized> Keyring for std::sync::Arc<T> {
    fn generate(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
    ) -> Result<EncryptionMaterials, KeyringError> {
        (**self).generate(caller, ec)
    }

    fn wrap(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<EncryptedDataKey, KeyringError> {
        (**self).wrap(caller, ec, data_key)
    }

    fn accepts(&self, edk: &EncryptedDataKey) -> bool {
        (**self).accepts(edk)
    }

    fn unwrap(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
        edk: &EncryptedDataKey,
    ) -> Result<UnwrappedKey, KeyringError> {
        (**self).unwrap(caller, ec, edk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_object_safe_send_sync(_: Option<&dyn Keyring>) {}

    #[test]
    fn keyrings_are_object_safe_and_send_sync() {
        fn send_sync<T: Send + Sync + ?Sized>() {}
        send_sync::<dyn Keyring>();
        send_sync::<KmsKeyring>();
        send_sync::<RawAesKeyring>();
        send_sync::<MultiKeyring>();
        send_sync::<RawRsaKeyring>();
        assert_object_safe_send_sync(None);
    }
}

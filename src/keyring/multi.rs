//! The multi-keyring (`framework/multi-keyring.md`): a generator and children.
//!
//! Sealing: the generator generates the data key and its encrypted data key(s); each child
//! wraps the same data key once more. Every encrypted data key opens the message alone.
//! Opening: the generator, then each child in order, tries the encrypted data keys it accepts;
//! the first that unwraps wins.

use super::{EncryptionMaterials, Keyring, UnwrappedKey};
use crate::crypto::DataKey;
use crate::error::KeyringError;
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::kms::Credential;
use std::sync::Arc;

/// A generator keyring plus children; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct MultiKeyring {
    generator: Arc<dyn Keyring>,
    children: Vec<Arc<dyn Keyring>>,
}

impl MultiKeyring {
    /// A multi-keyring whose `generator` generates the data key and whose `children` each
    /// wrap it too.
    pub fn new(generator: Arc<dyn Keyring>, children: Vec<Arc<dyn Keyring>>) -> Self {
        Self {
            generator,
            children,
        }
    }

    fn all(&self) -> impl Iterator<Item = &Arc<dyn Keyring>> {
        core::iter::once(&self.generator).chain(self.children.iter())
    }
}

fn child(e: KeyringError) -> KeyringError {
    KeyringError::Child(Box::new(e))
}

impl Keyring for MultiKeyring {
    fn generate(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
    ) -> Result<EncryptionMaterials, KeyringError> {
        let (data_key, mut edks, key_id) = self
            .generator
            .generate(caller, ec)
            .map_err(child)?
            .into_parts();
        for c in &self.children {
            edks.push(c.wrap(caller, ec, &data_key).map_err(child)?);
        }
        Ok(EncryptionMaterials::new(data_key, edks, key_id))
    }

    /// Wraps under the generator only (a multi-keyring as a child of another).
    fn wrap(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<EncryptedDataKey, KeyringError> {
        self.generator.wrap(caller, ec, data_key)
    }

    fn accepts(&self, edk: &EncryptedDataKey) -> bool {
        self.all().any(|k| k.accepts(edk))
    }

    fn unwrap(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
        edk: &EncryptedDataKey,
    ) -> Result<UnwrappedKey, KeyringError> {
        let mut first_error = None;
        for k in self.all().filter(|k| k.accepts(edk)) {
            match k.unwrap(caller, ec, edk) {
                Ok(key) => return Ok(key),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(KeyringError::NotMine))
    }
}

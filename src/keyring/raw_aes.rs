//! The ESDK raw AES keyring (`framework/raw-aes-keyring.md`), AES-256-GCM wrapping keys only.
//!
//! An encrypted data key it writes:
//! ```text
//! provider id   = key namespace (UTF-8)
//! provider info = key name ‖ tag length in BITS u32 (128) ‖ IV length in bytes u32 (12) ‖ IV
//! ciphertext    = AES-256-GCM(wrapping key, IV, AAD = serialized encryption context,
//!                 data key) ‖ tag
//! ```
//! The AAD is the canonical serialization of the message's encryption context: zero bytes when
//! the context is empty (unlike the header's AAD field, which is then `00 00`).

use super::{EncryptionMaterials, Keyring, UnwrappedKey};
use crate::crypto::aead::{AeadBackend, Aes256GcmKey, IV_LEN, KEY_LEN, TAG_LEN};
use crate::crypto::keys::DATA_KEY_LEN;
use crate::crypto::rng::fill_random;
use crate::crypto::{DataKey, SecretBytes};
use crate::error::{AuthenticationError, KeyringError, OpenError, SealError};
use crate::format::{EncryptedDataKey, EncryptionContext, Field, OpenLimits, Reader};
use crate::identity::{FragmentIdentity, IdentityCheck};
use crate::kms::Credential;
use crate::message::{self, OpenParams, SealParams, DEFAULT_FRAME_LENGTH};
use core::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Tag length written in the provider info, in bits.
pub const TAG_LEN_BITS: u32 = 128;

/// A raw AES keyring: a local AES-256 wrapping key with a namespace and a name, and the
/// AES-GCM implementation that wraps and unwraps with it (chosen once, here).
///
/// Cloning a keyring shares its wrapping key (one allocation behind an `Arc`); the key bytes
/// are never copied.
#[derive(Clone)]
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    wrapping_key: Arc<SecretBytes>,
    backend: AeadBackend,
}

impl fmt::Debug for RawAesKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawAesKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RawAesKeyring {
    /// A keyring for `wrapping_key` (exactly 32 bytes) named `namespace` / `name`, on the
    /// default AES backend.
    ///
    /// # Errors
    /// [`KeyringError::WrappingKeyLength`] when the key is not 32 bytes,
    /// [`KeyringError::ReservedNamespace`] when the namespace starts with the reserved
    /// `aws-kms`, [`KeyringError::NameTooLong`] when the namespace or name is too long for an
    /// encrypted data key.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        wrapping_key: SecretBytes,
    ) -> Result<Self, KeyringError> {
        let namespace = namespace.into();
        let name = name.into();
        if wrapping_key.len() != KEY_LEN {
            return Err(KeyringError::WrappingKeyLength {
                len: wrapping_key.len(),
            });
        }
        if namespace.starts_with("aws-kms") {
            return Err(KeyringError::ReservedNamespace);
        }
        if namespace.len() > usize::from(u16::MAX) {
            return Err(KeyringError::NameTooLong {
                len: namespace.len(),
            });
        }
        if name.len() > usize::from(u16::MAX) - 8 - IV_LEN {
            return Err(KeyringError::NameTooLong { len: name.len() });
        }
        Ok(Self {
            namespace,
            name,
            wrapping_key: Arc::new(wrapping_key),
            backend: AeadBackend::default(),
        })
    }

    /// The same keyring on AES backend `backend`.
    pub fn with_backend(mut self, backend: AeadBackend) -> Self {
        self.backend = backend;
        self
    }

    /// The key namespace (the EDK provider id).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id reported for this keyring's keys: `namespace/name`.
    pub fn key_id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn cipher(&self) -> Result<Aes256GcmKey, KeyringError> {
        let k: &[u8; KEY_LEN] = self.wrapping_key.expose_secret().try_into().map_err(|_| {
            KeyringError::WrappingKeyLength {
                len: self.wrapping_key.len(),
            }
        })?;
        Ok(Aes256GcmKey::new(self.backend, k))
    }

    fn aad(ec: &EncryptionContext) -> Result<Vec<u8>, KeyringError> {
        ec.serialize().ok_or(KeyringError::ContextTooLarge)
    }

    /// Wraps `data_key` for a message with encryption context `ec` (random IV).
    ///
    /// # Errors
    /// [`KeyringError::ContextTooLarge`] when `ec` cannot be serialized.
    pub fn wrap_key(
        &self,
        data_key: &DataKey,
        ec: &EncryptionContext,
    ) -> Result<EncryptedDataKey, KeyringError> {
        let mut iv = [0u8; IV_LEN];
        fill_random(&mut iv);
        self.wrap_with_iv(data_key, ec, &iv)
    }

    /// DANGER — for known-answer test vectors only: wraps with a caller-chosen IV. Reusing an
    /// IV under one wrapping key breaks AES-GCM. Only with the unstable `internal` feature.
    ///
    /// # Errors
    /// As [`RawAesKeyring::wrap_key`].
    #[cfg(feature = "internal")]
    pub fn danger_wrap_with_fixed_iv_for_vectors(
        &self,
        data_key: &DataKey,
        ec: &EncryptionContext,
        iv: &[u8; IV_LEN],
    ) -> Result<EncryptedDataKey, KeyringError> {
        self.wrap_with_iv(data_key, ec, iv)
    }

    fn wrap_with_iv(
        &self,
        data_key: &DataKey,
        ec: &EncryptionContext,
        iv: &[u8; IV_LEN],
    ) -> Result<EncryptedDataKey, KeyringError> {
        let aad = Self::aad(ec)?;
        let mut ciphertext = Vec::with_capacity(DATA_KEY_LEN + TAG_LEN);
        ciphertext.extend_from_slice(data_key.expose_secret());
        let tag = self
            .cipher()?
            .seal_in_place_detached(iv, &aad, &mut ciphertext);
        ciphertext.extend_from_slice(&tag);
        let mut provider_info = Vec::with_capacity(self.name.len() + 8 + IV_LEN);
        provider_info.extend_from_slice(self.name.as_bytes());
        provider_info.extend_from_slice(&TAG_LEN_BITS.to_be_bytes());
        provider_info.extend_from_slice(&(IV_LEN as u32).to_be_bytes());
        provider_info.extend_from_slice(iv);
        Ok(EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info,
            ciphertext,
        })
    }

    /// The IV of `edk` if it is this keyring's: provider id = namespace, and provider info =
    /// this key name ‖ 128 ‖ 12 ‖ IV, exactly.
    fn iv_if_mine<'e>(&self, edk: &'e EncryptedDataKey) -> Option<&'e [u8; IV_LEN]> {
        if edk.provider_id != self.namespace {
            return None;
        }
        // Spec: "Key Name | length of Key Name | UTF-8; Authentication Tag Length | 4 | UInt32
        // (bits); IV Length | 4 | UInt32; IV | IV Length | Bytes".
        Reader::all(&edk.provider_info, 0, Field::ProviderInfo, |r| {
            let name = r.take(self.name.len(), Field::ProviderInfo)?;
            let tag_bits = r.u32(Field::ProviderInfo)?;
            let iv_len = r.u32(Field::ProviderInfo)?;
            let iv = r.array::<IV_LEN>(Field::ProviderInfo)?;
            Ok((name, tag_bits, iv_len, iv))
        })
        .ok()
        .and_then(|(name, tag_bits, iv_len, iv)| {
            (name == self.name.as_bytes() && tag_bits == TAG_LEN_BITS && iv_len == IV_LEN as u32)
                .then_some(iv)
        })
    }

    /// Unwraps `edk` for a message with encryption context `ec`.
    ///
    /// Returns `None` when `edk` is not this keyring's (other namespace, key name, tag or IV
    /// length), `Some(Err(KeyringError::Authentication))` when it is but does not decrypt
    /// (wrong key, wrong context, tampered), and `Some(Ok(key))` otherwise.
    pub fn unwrap_key(
        &self,
        edk: &EncryptedDataKey,
        ec: &EncryptionContext,
    ) -> Option<Result<DataKey, KeyringError>> {
        let iv = self.iv_if_mine(edk)?;
        Some(self.unwrap_with_iv(edk, iv, ec))
    }

    fn unwrap_with_iv(
        &self,
        edk: &EncryptedDataKey,
        iv: &[u8; IV_LEN],
        ec: &EncryptionContext,
    ) -> Result<DataKey, KeyringError> {
        let aad = Self::aad(ec)?;
        let (wrapped, tag) = edk
            .ciphertext
            .split_at_checked(DATA_KEY_LEN)
            .ok_or(AuthenticationError)?;
        let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| AuthenticationError)?;
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        key.copy_from_slice(wrapped);
        self.cipher()?
            .open_in_place_detached(iv, &aad, &mut key[..], tag)?;
        Ok(DataKey::from_bytes(*key))
    }
}

impl Keyring for RawAesKeyring {
    fn generate(
        &self,
        _caller: &Credential,
        ec: &EncryptionContext,
    ) -> Result<EncryptionMaterials, KeyringError> {
        let data_key = DataKey::generate();
        let edk = self.wrap_key(&data_key, ec)?;
        Ok(EncryptionMaterials::new(data_key, vec![edk], self.key_id()))
    }

    fn wrap(
        &self,
        _caller: &Credential,
        ec: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<EncryptedDataKey, KeyringError> {
        self.wrap_key(data_key, ec)
    }

    fn accepts(&self, edk: &EncryptedDataKey) -> bool {
        self.iv_if_mine(edk).is_some()
    }

    fn unwrap(
        &self,
        _caller: &Credential,
        ec: &EncryptionContext,
        edk: &EncryptedDataKey,
    ) -> Result<UnwrappedKey, KeyringError> {
        let key = self.unwrap_key(edk, ec).ok_or(KeyringError::NotMine)??;
        Ok(UnwrappedKey::new(key, self.key_id()))
    }
}

/// Options of [`seal_with_raw_key`].
#[derive(Clone, Copy, Debug)]
pub struct SealOptions<'a> {
    /// Frame length (default [`DEFAULT_FRAME_LENGTH`]).
    pub frame_length: u32,
    /// The encryption context.
    pub encryption_context: &'a EncryptionContext,
    /// The fragment identity to bind, if any.
    pub identity: Option<&'a FragmentIdentity>,
}

impl<'a> SealOptions<'a> {
    /// Default frame length, no identity.
    pub fn new(encryption_context: &'a EncryptionContext) -> Self {
        Self {
            frame_length: DEFAULT_FRAME_LENGTH,
            encryption_context,
            identity: None,
        }
    }
}

/// Seals `plaintext` with a fresh random data key wrapped by `keyring`: a complete ESDK
/// message that any ESDK with a raw AES keyring of the same namespace, name and key opens.
///
/// # Errors
/// As [`message::seal`].
pub fn seal_with_raw_key(
    keyring: &RawAesKeyring,
    options: &SealOptions<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let data_key = DataKey::generate();
    let edk = keyring.wrap_key(&data_key, options.encryption_context)?;
    let edks = [edk];
    let params = SealParams {
        frame_length: options.frame_length,
        encryption_context: options.encryption_context,
        encrypted_data_keys: &edks,
        identity: options.identity,
        authenticate_only: None,
        backend: keyring.backend,
    };
    message::seal(&data_key, &params, plaintext)
}

/// Opens `message` with `keyring`: parses it under `limits`, unwraps the first of its
/// encrypted data keys that is the keyring's and decrypts, and opens it (checking the
/// identity per `identity`).
///
/// # Errors
/// As [`message::parse`] and [`message::ParsedMessage::open`];
/// [`OpenError::NoTrustedKey`] when no encrypted data key is the keyring's,
/// [`OpenError::AllKeysFailed`] when none of those that are decrypts.
pub fn open_with_raw_key(
    keyring: &RawAesKeyring,
    message: &[u8],
    identity: &IdentityCheck,
    limits: &OpenLimits,
) -> Result<Vec<u8>, OpenError> {
    let parsed = message::parse(message, limits)?;
    let header = parsed.header();
    let ec = header.encryption_context();
    let mut errors = Vec::new();
    for edk in header.encrypted_data_keys() {
        match keyring.unwrap_key(edk, ec) {
            Some(Ok(data_key)) => {
                let params = OpenParams::new(identity).with_backend(keyring.backend);
                return parsed.open(&data_key, &params);
            }
            Some(Err(e)) => errors.push(e),
            None => {}
        }
    }
    if errors.is_empty() {
        Err(OpenError::NoTrustedKey)
    } else {
        Err(OpenError::AllKeysFailed(errors))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn keyring() -> RawAesKeyring {
        RawAesKeyring::new("ns", "name", SecretBytes::from_slice(&[9; 32])).unwrap()
    }

    #[test]
    fn wrap_unwrap_and_foreign_edks() {
        let ec = EncryptionContext::new().with("a", "b");
        let dk = DataKey::from_bytes([5; 32]);
        for b in [AeadBackend::Ring, AeadBackend::RustCrypto] {
            let k = keyring().with_backend(b);
            let edk = k.wrap_key(&dk, &ec).unwrap();
            assert_eq!(edk.provider_id, "ns");
            assert_eq!(&edk.provider_info[..4], b"name");
            assert_eq!(&edk.provider_info[4..12], &[0, 0, 0, 128, 0, 0, 0, 12]);
            assert_eq!(edk.ciphertext.len(), 48);
            assert_eq!(k.unwrap_key(&edk, &ec).unwrap().unwrap(), dk);
            assert!(k.accepts(&edk));
            // Wrong context: ours, but fails.
            let other = EncryptionContext::new().with("a", "c");
            assert!(matches!(
                k.unwrap_key(&edk, &other),
                Some(Err(KeyringError::Authentication(_)))
            ));
            // Other namespace / name: not ours.
            let mut e2 = edk.clone();
            e2.provider_id = "other".into();
            assert!(k.unwrap_key(&e2, &ec).is_none());
            assert!(!k.accepts(&e2));
            let n2 = RawAesKeyring::new("ns", "nam", SecretBytes::from_slice(&[9; 32])).unwrap();
            assert!(n2.unwrap_key(&edk, &ec).is_none());
            let caller =
                Credential::new("111122223333", "arn:aws:iam::111122223333:root", "AK").unwrap();
            assert!(matches!(
                n2.unwrap(&caller, &ec, &edk),
                Err(KeyringError::NotMine)
            ));
        }
    }

    #[test]
    fn rejects_bad_construction_and_hides_key() {
        assert!(matches!(
            RawAesKeyring::new("ns", "n", SecretBytes::from_slice(&[1; 16])),
            Err(KeyringError::WrappingKeyLength { len: 16 })
        ));
        assert!(matches!(
            RawAesKeyring::new("aws-kms", "n", SecretBytes::from_slice(&[1; 32])),
            Err(KeyringError::ReservedNamespace)
        ));
        let s = format!("{:?}", keyring());
        assert!(s.contains("ns") && !s.contains('9'), "{s}");
    }
}

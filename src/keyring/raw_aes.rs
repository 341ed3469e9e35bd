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

use crate::crypto::aead::{AeadBackend, Aes256GcmKey, IV_LEN, KEY_LEN, TAG_LEN};
use crate::crypto::keys::DATA_KEY_LEN;
use crate::crypto::rng::fill_random;
use crate::crypto::{DataKey, SecretBytes};
use crate::error::{Error, OpenError};
use crate::format::{EncryptedDataKey, EncryptionContext, Field, OpenLimits, Reader};
use crate::identity::FragmentIdentity;
use crate::message::{self, SealParams, DEFAULT_FRAME_LENGTH};
use core::fmt;
use zeroize::Zeroizing;

/// Tag length written in the provider info, in bits.
pub const TAG_LEN_BITS: u32 = 128;

/// A raw AES keyring: a local AES-256 wrapping key with a namespace and a name.
#[derive(Clone)]
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    wrapping_key: SecretBytes,
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
    /// A keyring for `wrapping_key` (exactly 32 bytes) named `namespace` / `name`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the key is not 32 bytes, the namespace starts with the
    /// reserved `aws-kms`, or the namespace or name is longer than 65535 bytes.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        wrapping_key: SecretBytes,
    ) -> Result<Self, Error> {
        let namespace = namespace.into();
        let name = name.into();
        if wrapping_key.len() != KEY_LEN {
            return Err(Error::InvalidArgument(format!(
                "raw AES wrapping key must be {KEY_LEN} bytes, not {}",
                wrapping_key.len()
            )));
        }
        if namespace.starts_with("aws-kms") {
            return Err(Error::InvalidArgument(
                "raw AES keyring namespace must not start with aws-kms".into(),
            ));
        }
        if namespace.len() > usize::from(u16::MAX)
            || name.len() > usize::from(u16::MAX) - 8 - IV_LEN
        {
            return Err(Error::InvalidArgument(
                "raw AES keyring namespace or name too long".into(),
            ));
        }
        Ok(Self {
            namespace,
            name,
            wrapping_key,
        })
    }

    /// The key namespace (the EDK provider id).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn cipher(&self, backend: AeadBackend) -> Result<Aes256GcmKey, Error> {
        let k: &[u8; KEY_LEN] = self
            .wrapping_key
            .expose_secret()
            .try_into()
            .map_err(|_| Error::InvalidArgument("raw AES wrapping key length".into()))?;
        Ok(Aes256GcmKey::new(backend, k))
    }

    fn aad(ec: &EncryptionContext) -> Result<Vec<u8>, Error> {
        ec.serialize()
            .ok_or_else(|| Error::InvalidArgument("encryption context too large".into()))
    }

    /// Wraps `data_key` for a message with encryption context `ec` (random IV).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `ec` cannot be serialized.
    pub fn wrap(
        &self,
        data_key: &DataKey,
        ec: &EncryptionContext,
        backend: AeadBackend,
    ) -> Result<EncryptedDataKey, Error> {
        let mut iv = [0u8; IV_LEN];
        fill_random(&mut iv);
        self.wrap_with_iv(data_key, ec, backend, &iv)
    }

    /// DANGER — for known-answer test vectors only: wraps with a caller-chosen IV. Reusing an
    /// IV under one wrapping key breaks AES-GCM.
    ///
    /// # Errors
    /// As [`RawAesKeyring::wrap`].
    #[doc(hidden)]
    pub fn danger_wrap_with_fixed_iv_for_vectors(
        &self,
        data_key: &DataKey,
        ec: &EncryptionContext,
        backend: AeadBackend,
        iv: &[u8; IV_LEN],
    ) -> Result<EncryptedDataKey, Error> {
        self.wrap_with_iv(data_key, ec, backend, iv)
    }

    fn wrap_with_iv(
        &self,
        data_key: &DataKey,
        ec: &EncryptionContext,
        backend: AeadBackend,
        iv: &[u8; IV_LEN],
    ) -> Result<EncryptedDataKey, Error> {
        let aad = Self::aad(ec)?;
        let mut ciphertext = Vec::with_capacity(DATA_KEY_LEN + TAG_LEN);
        ciphertext.extend_from_slice(data_key.expose_secret());
        let tag = self
            .cipher(backend)?
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
    /// length), `Some(Err(Error::Authentication))` when it is but does not decrypt (wrong key,
    /// wrong context, tampered), and `Some(Ok(key))` otherwise.
    pub fn unwrap(
        &self,
        edk: &EncryptedDataKey,
        ec: &EncryptionContext,
        backend: AeadBackend,
    ) -> Option<Result<DataKey, Error>> {
        let iv = self.iv_if_mine(edk)?;
        Some(self.unwrap_with_iv(edk, iv, ec, backend))
    }

    fn unwrap_with_iv(
        &self,
        edk: &EncryptedDataKey,
        iv: &[u8; IV_LEN],
        ec: &EncryptionContext,
        backend: AeadBackend,
    ) -> Result<DataKey, Error> {
        let aad = Self::aad(ec)?;
        let (wrapped, tag) = edk
            .ciphertext
            .split_at_checked(DATA_KEY_LEN)
            .ok_or(OpenError)?;
        let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| OpenError)?;
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        key.copy_from_slice(wrapped);
        self.cipher(backend)?
            .open_in_place_detached(iv, &aad, &mut key[..], tag)?;
        Ok(DataKey::from_bytes(*key))
    }

    /// Unwraps the first of `edks` that is this keyring's and decrypts.
    ///
    /// # Errors
    /// [`Error::NoMatchingKeyProvider`] when none is this keyring's; [`Error::Authentication`]
    /// when some are but none decrypts.
    pub fn unwrap_any(
        &self,
        edks: &[EncryptedDataKey],
        ec: &EncryptionContext,
        backend: AeadBackend,
    ) -> Result<DataKey, Error> {
        let mut last = None;
        for edk in edks {
            match self.unwrap(edk, ec, backend) {
                Some(Ok(k)) => return Ok(k),
                Some(Err(e)) => last = Some(e),
                None => {}
            }
        }
        Err(last.unwrap_or(Error::NoMatchingKeyProvider))
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
    /// The AES-GCM implementation.
    pub backend: AeadBackend,
}

impl<'a> SealOptions<'a> {
    /// Default frame length and backend, no identity.
    pub fn new(encryption_context: &'a EncryptionContext) -> Self {
        Self {
            frame_length: DEFAULT_FRAME_LENGTH,
            encryption_context,
            identity: None,
            backend: AeadBackend::default(),
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
) -> Result<Vec<u8>, Error> {
    let data_key = DataKey::generate();
    let edk = keyring.wrap(&data_key, options.encryption_context, options.backend)?;
    let edks = [edk];
    let params = SealParams {
        frame_length: options.frame_length,
        encryption_context: options.encryption_context,
        encrypted_data_keys: &edks,
        identity: options.identity,
        backend: options.backend,
    };
    message::seal(&data_key, &params, plaintext)
}

/// Opens `message` with `keyring` (default AES backend): parses the header under `limits`,
/// unwraps the data key, and opens (checking `expected_identity` if given).
///
/// # Errors
/// As [`message::parse_header`], [`RawAesKeyring::unwrap_any`] and [`message::open`].
pub fn open_with_raw_key(
    keyring: &RawAesKeyring,
    message: &[u8],
    expected_identity: Option<&FragmentIdentity>,
    limits: &OpenLimits,
) -> Result<Vec<u8>, Error> {
    let backend = AeadBackend::default();
    let header = message::parse_header(message, limits)?;
    let data_key = keyring.unwrap_any(
        header.encrypted_data_keys(),
        header.encryption_context(),
        backend,
    )?;
    message::open(&data_key, &header, message, expected_identity, backend)
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
        let k = keyring();
        let ec = EncryptionContext::new().with("a", "b");
        let dk = DataKey::from_bytes([5; 32]);
        for b in [AeadBackend::Ring, AeadBackend::RustCrypto] {
            let edk = k.wrap(&dk, &ec, b).unwrap();
            assert_eq!(edk.provider_id, "ns");
            assert_eq!(&edk.provider_info[..4], b"name");
            assert_eq!(&edk.provider_info[4..12], &[0, 0, 0, 128, 0, 0, 0, 12]);
            assert_eq!(edk.ciphertext.len(), 48);
            assert_eq!(k.unwrap(&edk, &ec, b).unwrap().unwrap(), dk);
            // Wrong context: ours, but fails.
            let other = EncryptionContext::new().with("a", "c");
            assert!(matches!(
                k.unwrap(&edk, &other, b),
                Some(Err(Error::Authentication(_)))
            ));
            // Other namespace / name: not ours.
            let mut e2 = edk.clone();
            e2.provider_id = "other".into();
            assert!(k.unwrap(&e2, &ec, b).is_none());
            let n2 = RawAesKeyring::new("ns", "nam", SecretBytes::from_slice(&[9; 32])).unwrap();
            assert!(n2.unwrap(&edk, &ec, b).is_none());
            assert!(matches!(
                n2.unwrap_any(&[edk], &ec, b),
                Err(Error::NoMatchingKeyProvider)
            ));
        }
    }

    #[test]
    fn rejects_bad_construction_and_hides_key() {
        assert!(RawAesKeyring::new("ns", "n", SecretBytes::from_slice(&[1; 16])).is_err());
        assert!(RawAesKeyring::new("aws-kms", "n", SecretBytes::from_slice(&[1; 32])).is_err());
        let s = format!("{:?}", keyring());
        assert!(s.contains("ns") && !s.contains('9'), "{s}");
    }
}

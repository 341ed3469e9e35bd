//! The ESDK raw RSA keyring (`framework/raw-rsa-keyring.md`, version 0.3.2), for validating
//! against other implementations' test vectors. **Not for production data.**
//!
//! An encrypted data key it writes:
//! ```text
//! provider id   = key namespace (UTF-8)
//! provider info = key name (UTF-8), nothing else
//! ciphertext    = RSA encryption of the plaintext data key under the padding scheme
//! ```
//! Padding schemes: PKCS #1 v1.5, and OAEP with SHA-1, SHA-256, SHA-384 or SHA-512, MGF1 with
//! the same hash (the spec's five). The encryption context is not bound into the encrypted
//! data key (unlike the raw AES keyring's AAD); the message's header tag still authenticates
//! it.
//!
//! # Security: a validator keyring
//! It runs on the RustCrypto `rsa` crate, which has an open advisory,
//! **RUSTSEC-2023-0071** ("Marvin Attack": non-constant-time decryption leaks timing that can
//! let an attacker who submits many chosen ciphertexts and measures the decryption time
//! recover the plaintext; no fixed release exists). fragseal uses blinded decryption, which
//! does not remove the leak. Use this keyring to run and produce test vectors, on keys that
//! are public by definition — never to protect real data keys, and never where an attacker
//! can submit ciphertexts and time the answers. fragseal's own messages are sealed with AWS
//! KMS or raw AES keys.
//!
//! The spec's rules it follows: the key namespace must not start with `aws-kms`; wrapping
//! needs the public key (it is never derived from the private key here: a caller that wants
//! to wrap with a private key's public half passes it explicitly); unwrapping needs the
//! private key and is tried only for an encrypted data key whose provider id is the namespace
//! and whose provider info is exactly the key name.

use super::{EncryptionMaterials, Keyring, UnwrappedKey};
use crate::crypto::{DataKey, SecretBytes};
use crate::error::{AuthenticationError, KeyringError};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::kms::Credential;
use core::fmt;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};

/// An RSA padding scheme of the raw RSA keyring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RsaPadding {
    /// PKCS #1 v1.5 encryption padding.
    Pkcs1,
    /// OAEP, SHA-1 and MGF1 with SHA-1.
    OaepSha1,
    /// OAEP, SHA-256 and MGF1 with SHA-256.
    OaepSha256,
    /// OAEP, SHA-384 and MGF1 with SHA-384.
    OaepSha384,
    /// OAEP, SHA-512 and MGF1 with SHA-512.
    OaepSha512,
}

impl RsaPadding {
    /// The five schemes of the spec.
    pub const ALL: [RsaPadding; 5] = [
        RsaPadding::Pkcs1,
        RsaPadding::OaepSha1,
        RsaPadding::OaepSha256,
        RsaPadding::OaepSha384,
        RsaPadding::OaepSha512,
    ];

    /// The padding's overhead in bytes: the largest message a `k`-byte modulus carries is
    /// `k - overhead`.
    fn overhead(self) -> usize {
        match self {
            RsaPadding::Pkcs1 => 11,
            RsaPadding::OaepSha1 => 2 * 20 + 2,
            RsaPadding::OaepSha256 => 2 * 32 + 2,
            RsaPadding::OaepSha384 => 2 * 48 + 2,
            RsaPadding::OaepSha512 => 2 * 64 + 2,
        }
    }
}

/// A raw RSA keyring: a namespace, a name, a padding scheme, and a public and/or private key.
/// Not `Clone`; `Debug` shows the names, the padding and which keys it holds.
pub struct RawRsaKeyring {
    namespace: String,
    name: String,
    padding: RsaPadding,
    public: Option<Box<RsaPublicKey>>,
    // Zeroized on drop by the `rsa` crate.
    private: Option<Box<RsaPrivateKey>>,
}

impl fmt::Debug for RawRsaKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRsaKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("padding", &self.padding)
            .field("public", &self.public.is_some())
            .field("private", &self.private.is_some())
            .finish()
    }
}

/// The smallest 32-byte data key that fits: the data keys of every suite are at most 32 bytes.
const MAX_DATA_KEY_LEN: usize = 32;

impl RawRsaKeyring {
    /// A keyring from PEM keys: `public_pem` (SubjectPublicKeyInfo, or PKCS #1) to wrap,
    /// `private_pem` (PKCS #8, or PKCS #1) to unwrap; at least one.
    ///
    /// # Errors
    /// [`KeyringError::ReservedNamespace`] for a namespace starting with `aws-kms`;
    /// [`KeyringError::NameTooLong`]; [`KeyringError::RsaKey`] when no key is given, a PEM
    /// does not parse, the two keys do not match, or the modulus is too small for a 32-byte
    /// data key under `padding`.
    pub fn from_pem(
        namespace: impl Into<String>,
        name: impl Into<String>,
        padding: RsaPadding,
        public_pem: Option<&str>,
        private_pem: Option<&SecretBytes>,
    ) -> Result<Self, KeyringError> {
        let public = match public_pem {
            Some(pem) => Some(
                RsaPublicKey::from_public_key_pem(pem.trim())
                    .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem.trim()))
                    .map_err(|_| KeyringError::RsaKey {
                        reason:
                            "the public key is not a PEM SubjectPublicKeyInfo or PKCS #1 RSA key",
                    })?,
            ),
            None => None,
        };
        let private = match private_pem {
            Some(pem) => {
                let text = core::str::from_utf8(pem.expose_secret()).map_err(|_| {
                    KeyringError::RsaKey {
                        reason: "the private key PEM is not UTF-8",
                    }
                })?;
                Some(
                    RsaPrivateKey::from_pkcs8_pem(text.trim())
                        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(text.trim()))
                        .map_err(|_| KeyringError::RsaKey {
                            reason: "the private key is not a PEM PKCS #8 or PKCS #1 RSA key",
                        })?,
                )
            }
            None => None,
        };
        Self::new(namespace, name, padding, public, private)
    }

    /// A keyring from parsed keys (at least one).
    ///
    /// # Errors
    /// As [`RawRsaKeyring::from_pem`].
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        padding: RsaPadding,
        public: Option<RsaPublicKey>,
        private: Option<RsaPrivateKey>,
    ) -> Result<Self, KeyringError> {
        let namespace = namespace.into();
        let name = name.into();
        if namespace.starts_with("aws-kms") {
            return Err(KeyringError::ReservedNamespace);
        }
        for s in [&namespace, &name] {
            if s.len() > usize::from(u16::MAX) {
                return Err(KeyringError::NameTooLong { len: s.len() });
            }
        }
        let modulus_len = match (&public, &private) {
            (None, None) => {
                return Err(KeyringError::RsaKey {
                    reason: "a raw RSA keyring needs a public or a private key",
                })
            }
            (Some(p), Some(k)) if p.n() != k.n() || p.e() != k.e() => {
                return Err(KeyringError::RsaKey {
                    reason: "the public key is not the private key's",
                })
            }
            (Some(p), _) => p.size(),
            (None, Some(k)) => k.size(),
        };
        if modulus_len < MAX_DATA_KEY_LEN + padding.overhead() {
            return Err(KeyringError::RsaKey {
                reason: "the RSA modulus is too small for a 32-byte data key under this padding",
            });
        }
        Ok(Self {
            namespace,
            name,
            padding,
            public: public.map(Box::new),
            private: private.map(Box::new),
        })
    }

    /// The key namespace (the EDK provider id).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The key name (the EDK provider info).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The padding scheme.
    pub fn padding(&self) -> RsaPadding {
        self.padding
    }

    /// The key id reported for this keyring's keys: `namespace/name`.
    pub fn key_id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Encrypts `key` (a data key of any suite: 16, 24 or 32 bytes) into an encrypted data key.
    ///
    /// # Errors
    /// [`KeyringError::RsaKey`] without a public key, or when RSA encryption fails.
    pub fn wrap_bytes(&self, key: &[u8]) -> Result<EncryptedDataKey, KeyringError> {
        let public = self.public.as_deref().ok_or(KeyringError::RsaKey {
            reason: "a raw RSA keyring without a public key cannot wrap",
        })?;
        let mut rng = rand::rngs::OsRng;
        let res = match self.padding {
            RsaPadding::Pkcs1 => public.encrypt(&mut rng, Pkcs1v15Encrypt, key),
            RsaPadding::OaepSha1 => public.encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), key),
            RsaPadding::OaepSha256 => public.encrypt(&mut rng, Oaep::new::<sha2::Sha256>(), key),
            RsaPadding::OaepSha384 => public.encrypt(&mut rng, Oaep::new::<sha2::Sha384>(), key),
            RsaPadding::OaepSha512 => public.encrypt(&mut rng, Oaep::new::<sha2::Sha512>(), key),
        };
        let ciphertext = res.map_err(|_| KeyringError::RsaKey {
            reason: "RSA encryption of the data key failed",
        })?;
        Ok(EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info: self.name.as_bytes().to_vec(),
            ciphertext,
        })
    }

    /// Whether `edk` is this keyring's: provider id = namespace, provider info = key name.
    pub fn is_mine(&self, edk: &EncryptedDataKey) -> bool {
        edk.provider_id == self.namespace && edk.provider_info == self.name.as_bytes()
    }

    /// Decrypts `edk` to the data key bytes (any length: the caller checks it against the
    /// suite). `None` when `edk` is not this keyring's.
    ///
    /// Errors: [`KeyringError::RsaKey`] without a private key; [`KeyringError::Authentication`]
    /// (opaque) when RSA decryption fails.
    pub fn unwrap_bytes(
        &self,
        edk: &EncryptedDataKey,
    ) -> Option<Result<SecretBytes, KeyringError>> {
        if !self.is_mine(edk) {
            return None;
        }
        let Some(private) = self.private.as_deref() else {
            return Some(Err(KeyringError::RsaKey {
                reason: "a raw RSA keyring without a private key cannot unwrap",
            }));
        };
        let mut rng = rand::rngs::OsRng;
        let ct = &edk.ciphertext;
        let res = match self.padding {
            RsaPadding::Pkcs1 => private.decrypt_blinded(&mut rng, Pkcs1v15Encrypt, ct),
            RsaPadding::OaepSha1 => {
                private.decrypt_blinded(&mut rng, Oaep::new::<sha1::Sha1>(), ct)
            }
            RsaPadding::OaepSha256 => {
                private.decrypt_blinded(&mut rng, Oaep::new::<sha2::Sha256>(), ct)
            }
            RsaPadding::OaepSha384 => {
                private.decrypt_blinded(&mut rng, Oaep::new::<sha2::Sha384>(), ct)
            }
            RsaPadding::OaepSha512 => {
                private.decrypt_blinded(&mut rng, Oaep::new::<sha2::Sha512>(), ct)
            }
        };
        Some(
            res.map(SecretBytes::new)
                .map_err(|_| KeyringError::Authentication(AuthenticationError)),
        )
    }
}

impl Keyring for RawRsaKeyring {
    fn generate(
        &self,
        _caller: &Credential,
        _ec: &EncryptionContext,
    ) -> Result<EncryptionMaterials, KeyringError> {
        let data_key = DataKey::generate();
        let edk = self.wrap_bytes(data_key.expose_secret())?;
        Ok(EncryptionMaterials::new(data_key, vec![edk], self.key_id()))
    }

    fn wrap(
        &self,
        _caller: &Credential,
        _ec: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<EncryptedDataKey, KeyringError> {
        self.wrap_bytes(data_key.expose_secret())
    }

    fn accepts(&self, edk: &EncryptedDataKey) -> bool {
        self.private.is_some() && self.is_mine(edk)
    }

    fn unwrap(
        &self,
        _caller: &Credential,
        _ec: &EncryptionContext,
        edk: &EncryptedDataKey,
    ) -> Result<UnwrappedKey, KeyringError> {
        let bytes = self.unwrap_bytes(edk).ok_or(KeyringError::NotMine)??;
        // fragseal's suites take 32-byte data keys; another length is not a key of ours.
        let key = DataKey::from_slice(bytes.expose_secret())
            .ok_or(KeyringError::Authentication(AuthenticationError))?;
        Ok(UnwrappedKey::new(key, self.key_id()))
    }
}

#[cfg(test)]
#[path = "raw_rsa_tests.rs"]
mod tests;

//! A test's keys, built from its [`KeyDescription`] and the keys manifest: raw AES keys of
//! any size (128, 192, 256 bits, as the framework's vectors use them), raw RSA keyrings, and
//! what could not be built, with the reason.
//!
//! The raw AES wrapping here follows `framework/raw-aes-keyring.md` like
//! [`RawAesKeyring`](crate::keyring::RawAesKeyring), which holds AES-256 keys only; the
//! 128- and 192-bit keys of other implementations' vectors are unwrapped (and, for
//! `vectors encrypt`, wrapped) by this validator code alone.

use super::keys::{KeyMaterial, KeysManifest};
use super::manifest::{KeyDescription, RawAlgorithm};
use crate::crypto::SecretBytes;
use crate::error::{AuthenticationError, KeyringError};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::keyring::RawRsaKeyring;
use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::{AeadInPlace, KeyInit, Nonce, Tag};
use aes_gcm::AesGcm;

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// One usable key.
#[derive(Debug)]
pub(crate) enum VectorKey {
    /// A raw AES key: namespace, name, key.
    Aes {
        namespace: String,
        name: String,
        key: SecretBytes,
    },
    /// A raw RSA keyring.
    Rsa(Box<RawRsaKeyring>),
}

/// The keys of one test: those that could be built, and the reasons for those that could not.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    pub(crate) keys: Vec<VectorKey>,
    pub(crate) unsupported: Vec<String>,
}

/// Which operation the keys are built for: an RSA keyring gets the public key to wrap, the
/// private key to unwrap.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum For {
    Encrypt,
    Decrypt,
}

impl KeySet {
    pub(crate) fn build(desc: &KeyDescription, keys: &KeysManifest, op: For) -> Self {
        let mut set = Self::default();
        set.add(desc, keys, op);
        set
    }

    fn add(&mut self, desc: &KeyDescription, keys: &KeysManifest, op: For) {
        match desc {
            KeyDescription::Multi(all) => all.iter().for_each(|d| self.add(d, keys, op)),
            KeyDescription::Unsupported(kind) => self
                .unsupported
                .push(format!("{kind} keys are not supported")),
            KeyDescription::AwsKms { key } => {
                let why = match keys.get(key) {
                    Ok(_) => "aws-kms key without local material (no LocalKms mapping)".to_owned(),
                    Err(e) => e.to_string(),
                };
                self.unsupported.push(why)
            }
            KeyDescription::Raw {
                provider_id,
                key,
                algorithm,
            } => match build_raw(provider_id, key, *algorithm, keys, op) {
                Ok(k) => self.keys.push(k),
                Err(why) => self.unsupported.push(why),
            },
        }
    }
}

fn build_raw(
    provider_id: &str,
    key: &str,
    algorithm: RawAlgorithm,
    keys: &KeysManifest,
    op: For,
) -> Result<VectorKey, String> {
    let entry = keys.get(key).map_err(|e| e.to_string())?;
    match (algorithm, &entry.material) {
        (RawAlgorithm::Aes, KeyMaterial::Symmetric(k)) => Ok(VectorKey::Aes {
            namespace: provider_id.to_owned(),
            name: entry.key_id.clone(),
            key: SecretBytes::from_slice(k.expose_secret()),
        }),
        (RawAlgorithm::Rsa(padding), KeyMaterial::RsaPrivate(pem)) => {
            let private = (op == For::Decrypt).then_some(pem);
            let keyring = if op == For::Encrypt {
                // The test harness, not the keyring, derives the public half of a private key
                // the manifest marks usable for encryption (the spec forbids the keyring to).
                rsa_public_of(pem).and_then(|public| {
                    RawRsaKeyring::new(provider_id, &entry.key_id, padding, Some(public), None)
                        .map_err(|e| e.to_string())
                })
            } else {
                RawRsaKeyring::from_pem(provider_id, &entry.key_id, padding, None, private)
                    .map_err(|e| e.to_string())
            }?;
            Ok(VectorKey::Rsa(Box::new(keyring)))
        }
        (RawAlgorithm::Rsa(padding), KeyMaterial::RsaPublic(pem)) => {
            RawRsaKeyring::from_pem(provider_id, &entry.key_id, padding, Some(pem), None)
                .map(|k| VectorKey::Rsa(Box::new(k)))
                .map_err(|e| e.to_string())
        }
        (_, m) => Err(format!(
            "key {key:?} of type {} does not fit a raw {} master key",
            m.kind(),
            match algorithm {
                RawAlgorithm::Aes => "aes",
                RawAlgorithm::Rsa(_) => "rsa",
            }
        )),
    }
}

fn rsa_public_of(pem: &SecretBytes) -> Result<rsa::RsaPublicKey, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let text = core::str::from_utf8(pem.expose_secret()).map_err(|_| "PEM is not UTF-8")?;
    let k = rsa::RsaPrivateKey::from_pkcs8_pem(text.trim())
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(text.trim()))
        .map_err(|_| "the private key is not a PEM PKCS #8 or PKCS #1 RSA key")?;
    Ok(k.to_public_key())
}

impl VectorKey {
    /// Unwraps `edk` (bound to `ec` for AES) to the data key bytes; `None` when not ours.
    pub(crate) fn unwrap(
        &self,
        edk: &EncryptedDataKey,
        ec: &EncryptionContext,
    ) -> Option<Result<SecretBytes, KeyringError>> {
        match self {
            VectorKey::Aes {
                namespace,
                name,
                key,
            } => {
                let iv = aes_iv(namespace, name, edk)?;
                Some(aes_unwrap(key, iv, ec, &edk.ciphertext))
            }
            VectorKey::Rsa(k) => k.unwrap_bytes(edk),
        }
    }

    /// Wraps `data_key` (bound to `ec` for AES) with a fresh random IV.
    pub(crate) fn wrap(
        &self,
        data_key: &[u8],
        ec: &EncryptionContext,
    ) -> Result<EncryptedDataKey, KeyringError> {
        match self {
            VectorKey::Aes {
                namespace,
                name,
                key,
            } => {
                let mut iv = [0u8; IV_LEN];
                getrandom::getrandom(&mut iv).map_err(|_| KeyringError::RsaKey {
                    reason: "the OS random source failed",
                })?;
                let aad = ec.serialize().ok_or(KeyringError::ContextTooLarge)?;
                let mut buf = data_key.to_vec();
                let tag = aes_apply(key, &iv, &aad, &mut buf, None)?;
                buf.extend_from_slice(&tag);
                let mut info = name.as_bytes().to_vec();
                info.extend_from_slice(&128u32.to_be_bytes());
                info.extend_from_slice(&(IV_LEN as u32).to_be_bytes());
                info.extend_from_slice(&iv);
                Ok(EncryptedDataKey {
                    provider_id: namespace.clone(),
                    provider_info: info,
                    ciphertext: buf,
                })
            }
            VectorKey::Rsa(k) => k.wrap_bytes(data_key),
        }
    }
}

/// The IV when `edk` is the raw AES key `namespace`/`name`'s: provider info = name ‖ 128 ‖ 12
/// ‖ IV, exactly.
fn aes_iv<'e>(namespace: &str, name: &str, edk: &'e EncryptedDataKey) -> Option<&'e [u8]> {
    if edk.provider_id != namespace {
        return None;
    }
    let rest = edk.provider_info.strip_prefix(name.as_bytes())?;
    let (tag_bits, rest) = rest.split_first_chunk::<4>()?;
    let (iv_len, iv) = rest.split_first_chunk::<4>()?;
    (u32::from_be_bytes(*tag_bits) == 128
        && u32::from_be_bytes(*iv_len) == IV_LEN as u32
        && iv.len() == IV_LEN)
        .then_some(iv)
}

fn aes_unwrap(
    key: &SecretBytes,
    iv: &[u8],
    ec: &EncryptionContext,
    ciphertext: &[u8],
) -> Result<SecretBytes, KeyringError> {
    let aad = ec.serialize().ok_or(KeyringError::ContextTooLarge)?;
    let split = ciphertext
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(AuthenticationError)?;
    let (wrapped, tag) = ciphertext.split_at(split);
    let mut buf = zeroize::Zeroizing::new(wrapped.to_vec());
    aes_apply(key, iv, aad.as_slice(), &mut buf, Some(tag))?;
    Ok(SecretBytes::new(core::mem::take(&mut *buf)))
}

/// AES-GCM with a 128-, 192- or 256-bit key: seals in place and returns the tag (`tag` =
/// `None`), or opens in place against `tag`.
fn aes_apply(
    key: &SecretBytes,
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: Option<&[u8]>,
) -> Result<[u8; TAG_LEN], KeyringError> {
    fn run<C: KeyInit + AeadInPlace<NonceSize = U12, TagSize = U16>>(
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: Option<&[u8]>,
    ) -> Result<[u8; TAG_LEN], KeyringError> {
        let cipher = C::new_from_slice(key).map_err(|_| AuthenticationError)?;
        let nonce = Nonce::<C>::from_slice(iv);
        match tag {
            None => {
                let t = cipher
                    .encrypt_in_place_detached(nonce, aad, buf)
                    .map_err(|_| AuthenticationError)?;
                let mut out = [0u8; TAG_LEN];
                out.copy_from_slice(&t);
                Ok(out)
            }
            Some(t) if t.len() == TAG_LEN => {
                cipher
                    .decrypt_in_place_detached(nonce, aad, buf, Tag::<C>::from_slice(t))
                    .map_err(|_| AuthenticationError)?;
                Ok([0; TAG_LEN])
            }
            Some(_) => Err(AuthenticationError.into()),
        }
    }
    let k = key.expose_secret();
    match k.len() {
        16 => run::<AesGcm<aes::Aes128, U12>>(k, iv, aad, buf, tag),
        24 => run::<AesGcm<aes::Aes192, U12>>(k, iv, aad, buf, tag),
        32 => run::<AesGcm<aes::Aes256, U12>>(k, iv, aad, buf, tag),
        _ => Err(AuthenticationError.into()),
    }
}

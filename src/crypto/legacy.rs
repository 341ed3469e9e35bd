//! The key derivation and AES-GCM of the non-committing suites (message format version 1),
//! used only to open ESDK 1.x messages under
//! [`CommitmentPolicy::RequireEncryptAllowDecrypt`](crate::CommitmentPolicy). fragseal never
//! seals with them.
//!
//! Spec (framework/algorithm-suites.md, transitive-requirements.md "HKDF Encryption Key"):
//! - identity KDF (`0x0014`, `0x0046`, `0x0078`): the data key is the encryption key, "MUST
//!   return the input, unchanged";
//! - HKDF-SHA256 (`0x0114`, `0x0146`, `0x0178`, `0x0214`) and HKDF-SHA384 (`0x0346`,
//!   `0x0378`): extract with "a byte sequence of 0 as long as the hash length" as salt (the
//!   RFC 5869 default, so no salt is passed), input key material the data key, whose length
//!   "MUST equal the key derivation input length"; expand to the encryption key length with
//!   info = "the algorithm suite ID followed by the message ID" (2 bytes big-endian, then the
//!   16-byte id).
//!
//! AES-128-GCM and AES-192-GCM run on RustCrypto `aes-gcm` (ring has no AES-192); AES-256-GCM
//! on the configured [`AeadBackend`]. Every key lives in a zeroized-on-drop, non-`Clone` type
//! whose `Debug` shows no bytes; the derived key bytes pass through a zeroized buffer.

use super::aead::{append_opened, AeadBackend, Aes256GcmKey, IV_LEN, TAG_LEN};
use super::kdf::MessageKeys;
use super::keys::{DataKey, SecretBytes};
use crate::error::AuthenticationError;
use crate::format::{AlgorithmSuite, KdfAlgorithm};
use aes_gcm::aead::{consts::U12, generic_array::GenericArray, AeadInPlace, KeyInit};
use core::fmt;
use zeroize::{Zeroize, Zeroizing};

/// AES-192-GCM with a 12-byte IV (and the default 16-byte tag).
type Aes192Gcm = aes_gcm::AesGcm<aes_gcm::aes::Aes192, U12>;

/// A plaintext data key to open a message with: a [`DataKey`] (32 bytes, every suite with a
/// 256-bit key), or [`SecretBytes`] of the suite's data key length (16, 24 or 32 bytes: the
/// AES-128 and AES-192 suites of format version 1 need one of these). Sealed: implemented only
/// by those two secret types.
pub trait OpeningKey: private::Sealed {
    /// The key bytes.
    fn key_bytes(&self) -> &[u8];
    /// The key as a [`DataKey`], when it is one.
    fn as_data_key(&self) -> Option<&DataKey>;
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::DataKey {}
    impl Sealed for super::SecretBytes {}
}

impl OpeningKey for DataKey {
    fn key_bytes(&self) -> &[u8] {
        self.expose_secret()
    }
    fn as_data_key(&self) -> Option<&DataKey> {
        Some(self)
    }
}

impl OpeningKey for SecretBytes {
    fn key_bytes(&self) -> &[u8] {
        self.expose_secret()
    }
    fn as_data_key(&self) -> Option<&DataKey> {
        None
    }
}

enum Cipher {
    Aes128(Box<aes_gcm::Aes128Gcm>),
    Aes192(Box<Aes192Gcm>),
    Aes256(Box<Aes256GcmKey>),
}

/// The derived encryption key of a format version 1 message (AES-128/192/256-GCM). Not
/// `Clone`; its key schedule is zeroized on drop (`aes-gcm` with `zeroize`, or as
/// [`Aes256GcmKey`] documents for its backend).
pub struct LegacyKey {
    suite: AlgorithmSuite,
    cipher: Cipher,
}

impl fmt::Debug for LegacyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyKey")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// The HKDF (or identity) output of `suite` for `data_key` and `message_id`, into `out`
/// (the suite's key length).
fn derive_into(
    suite: AlgorithmSuite,
    data_key: &[u8],
    message_id: &[u8],
    out: &mut [u8],
) -> Result<(), AuthenticationError> {
    let mut info = [0u8; 2 + 32];
    let id_len = message_id.len().min(32);
    let (id, _) = info.split_at_mut(2);
    id.copy_from_slice(&suite.id().to_be_bytes());
    if let (Some(dst), Some(src)) = (info.get_mut(2..2 + id_len), message_id.get(..id_len)) {
        dst.copy_from_slice(src);
    }
    let info = info.get(..2 + id_len).ok_or(AuthenticationError)?;
    match suite.kdf() {
        KdfAlgorithm::None => {
            if out.len() != data_key.len() {
                return Err(AuthenticationError);
            }
            out.copy_from_slice(data_key);
            Ok(())
        }
        KdfAlgorithm::HkdfSha256 => hkdf::Hkdf::<sha2::Sha256>::new(None, data_key)
            .expand(info, out)
            .map_err(|_| AuthenticationError),
        KdfAlgorithm::HkdfSha384 => hkdf::Hkdf::<sha2::Sha384>::new(None, data_key)
            .expand(info, out)
            .map_err(|_| AuthenticationError),
        // The committing suites derive their keys in `super::kdf`, never here.
        KdfAlgorithm::HkdfSha512 => Err(AuthenticationError),
    }
}

impl LegacyKey {
    /// Derives the encryption key of a `suite` (format version 1) message with id
    /// `message_id` from `data_key`, whose length must be the suite's data key length.
    ///
    /// # Errors
    /// The opaque [`AuthenticationError`] for a committing suite or a data key of the wrong
    /// length (a key that cannot be this message's).
    pub fn derive(
        backend: AeadBackend,
        suite: AlgorithmSuite,
        data_key: &[u8],
        message_id: &[u8],
    ) -> Result<Self, AuthenticationError> {
        let len = suite.encryption_key_len();
        if suite.is_committing() || data_key.len() != suite.data_key_len() {
            return Err(AuthenticationError);
        }
        let mut key = Zeroizing::new([0u8; 32]);
        let k = key.get_mut(..len).ok_or(AuthenticationError)?;
        derive_into(suite, data_key, message_id, k)?;
        let cipher = match len {
            16 => Cipher::Aes128(Box::new(
                aes_gcm::Aes128Gcm::new_from_slice(k).map_err(|_| AuthenticationError)?,
            )),
            24 => Cipher::Aes192(Box::new(
                Aes192Gcm::new_from_slice(k).map_err(|_| AuthenticationError)?,
            )),
            _ => Cipher::Aes256(Box::new(Aes256GcmKey::new(backend, &key))),
        };
        Ok(Self { suite, cipher })
    }

    /// The suite the key was derived for.
    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// Verifies `tag` over `in_out`, `iv` and `aad`, and decrypts `in_out` in place only if it
    /// verifies.
    ///
    /// # Errors
    /// The opaque [`AuthenticationError`]; `in_out` is then zeroed.
    pub fn open_in_place_detached(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AuthenticationError> {
        let nonce = GenericArray::from_slice(iv);
        let t = GenericArray::from_slice(tag);
        let ok = match &self.cipher {
            Cipher::Aes256(k) => return k.open_in_place_detached(iv, aad, in_out, tag),
            Cipher::Aes128(k) => k.decrypt_in_place_detached(nonce, aad, in_out, t).is_ok(),
            Cipher::Aes192(k) => k.decrypt_in_place_detached(nonce, aad, in_out, t).is_ok(),
        };
        if ok {
            Ok(())
        } else {
            // aes-gcm decrypts before comparing tags: erase what it wrote.
            in_out.zeroize();
            Err(AuthenticationError)
        }
    }
}

/// The keys of an authenticated header: the committing suites' message keys, or a format
/// version 1 message's derived key.
#[allow(
    clippy::large_enum_variant,
    reason = "one per open, never moved in bulk; boxing would add an allocation to every \
              committing open"
)]
pub(crate) enum HeaderKeys {
    /// Format version 2.
    Committed(MessageKeys),
    /// Format version 1 (non-committing suites).
    Legacy(LegacyKey),
}

/// A key that opens frames (the one trait both kinds of message key implement here).
pub(crate) trait FrameKey {
    /// Verifies and decrypts in place; `in_out` is zeroed on failure.
    fn open_detached(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AuthenticationError>;

    /// The key, when it is a plain AES-256-GCM key: [`Self::open_append`] then opens out of
    /// place where the backend can ([`Aes256GcmKey::open_append_detached`]).
    fn aes256(&self) -> Option<&Aes256GcmKey>;

    /// Verifies and appends the plaintext of `ciphertext` to `out`; on failure `out` is as it
    /// was (what was appended is zeroed first).
    fn open_append(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut Vec<u8>,
    ) -> Result<(), AuthenticationError> {
        match self.aes256() {
            Some(key) => key.open_append_detached(iv, aad, ciphertext, tag, out),
            None => append_opened(out, ciphertext, |buf| {
                self.open_detached(iv, aad, buf, tag)
            }),
        }
    }
}

impl FrameKey for Aes256GcmKey {
    fn open_detached(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AuthenticationError> {
        self.open_in_place_detached(iv, aad, in_out, tag)
    }

    fn aes256(&self) -> Option<&Aes256GcmKey> {
        Some(self)
    }
}

impl FrameKey for HeaderKeys {
    fn open_detached(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AuthenticationError> {
        match self {
            HeaderKeys::Committed(k) => k
                .encryption_key
                .open_in_place_detached(iv, aad, in_out, tag),
            HeaderKeys::Legacy(k) => k.open_in_place_detached(iv, aad, in_out, tag),
        }
    }

    fn aes256(&self) -> Option<&Aes256GcmKey> {
        match self {
            HeaderKeys::Committed(k) => Some(&k.encryption_key),
            HeaderKeys::Legacy(k) => match &k.cipher {
                Cipher::Aes256(key) => Some(&**key),
                Cipher::Aes128(_) | Cipher::Aes192(_) => None,
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use aes_gcm::aead::Aead;

    fn legacy_suites() -> impl Iterator<Item = AlgorithmSuite> {
        AlgorithmSuite::ALL.into_iter().filter(|s| !s.is_committing())
    }

    /// The derivation follows the spec, checked against an independent computation: identity,
    /// or HKDF with info = suite id || message id.
    #[test]
    fn keys_are_derived_as_the_spec_says() {
        let id = [3u8; 16];
        for suite in legacy_suites() {
            let len = suite.data_key_len();
            let dk: Vec<u8> = (0..len as u8).collect();
            let mut expected = vec![0u8; len];
            let mut info = suite.id().to_be_bytes().to_vec();
            info.extend_from_slice(&id);
            match suite.kdf() {
                KdfAlgorithm::None => expected.copy_from_slice(&dk),
                KdfAlgorithm::HkdfSha256 => {
                    // Salt of 32 zero bytes, spelled out.
                    hkdf::Hkdf::<sha2::Sha256>::new(Some(&[0; 32]), &dk)
                        .expand(&info, &mut expected)
                        .unwrap()
                }
                KdfAlgorithm::HkdfSha384 => hkdf::Hkdf::<sha2::Sha384>::new(Some(&[0; 48]), &dk)
                    .expand(&info, &mut expected)
                    .unwrap(),
                KdfAlgorithm::HkdfSha512 => unreachable!("no committing suite here"),
            }
            // Seal with the expected key through aes-gcm directly, open with LegacyKey.
            let iv = [0u8; 12];
            let sealed = match len {
                16 => aes_gcm::Aes128Gcm::new_from_slice(&expected)
                    .unwrap()
                    .encrypt(GenericArray::from_slice(&iv), &b"plain"[..]),
                24 => Aes192Gcm::new_from_slice(&expected)
                    .unwrap()
                    .encrypt(GenericArray::from_slice(&iv), &b"plain"[..]),
                _ => aes_gcm::Aes256Gcm::new_from_slice(&expected)
                    .unwrap()
                    .encrypt(GenericArray::from_slice(&iv), &b"plain"[..]),
            }
            .unwrap();
            let (ct, tag) = sealed.split_at(5);
            let tag: [u8; 16] = tag.try_into().unwrap();
            for backend in AeadBackend::ALL {
                let key = LegacyKey::derive(*backend, suite, &dk, &id).unwrap();
                let mut buf = ct.to_vec();
                key.open_in_place_detached(&iv, &[], &mut buf, &tag).unwrap();
                assert_eq!(buf, b"plain", "{suite}");
                let mut bad = ct.to_vec();
                let mut wrong = tag;
                wrong[0] ^= 1;
                assert!(key.open_in_place_detached(&iv, &[], &mut bad, &wrong).is_err());
                assert_eq!(bad, [0; 5], "a failed open leaves no plaintext ({suite})");
            }
        }
    }

    #[test]
    fn wrong_key_lengths_and_committing_suites_are_refused() {
        for suite in legacy_suites() {
            let wrong = vec![1u8; suite.data_key_len() + 8];
            assert!(LegacyKey::derive(AeadBackend::Ring, suite, &wrong, &[0; 16]).is_err());
        }
        let dk = [1u8; 32];
        for suite in AlgorithmSuite::ALL.into_iter().filter(|s| s.is_committing()) {
            assert!(LegacyKey::derive(AeadBackend::Ring, suite, &dk, &[0; 16]).is_err());
        }
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let suite = AlgorithmSuite::AES_128_GCM_IV12_TAG16_NO_KDF;
        let key = LegacyKey::derive(AeadBackend::Ring, suite, &[0xAB; 16], &[0; 16]).unwrap();
        let d = format!("{key:?}");
        assert!(d.contains("LegacyKey") && !d.contains("171") && !d.contains("ab"));
    }
}

//! AES-256-GCM behind one interface, on two backends.
//!
//! - [`AeadBackend::Ring`] (default): `ring`, assembly with AES-NI/VAES and carry-less
//!   multiplication. The fast path.
//! - [`AeadBackend::RustCrypto`]: the pure-Rust `aes-gcm` crate. A fallback, and the
//!   differential oracle the tests compare `ring` against.
//!
//! Both produce byte-identical ciphertexts and tags (tested in `tests/crypto_differential.rs`
//! and against Wycheproof in `tests/crypto_vectors.rs`).
//!
//! Only the AES-256-GCM shape the ESDK suite `0x0478` uses is offered: 32-byte key, 12-byte
//! IV, 16-byte tag, detached tag, in-place operation (no allocation).

use aes_gcm::aead::{generic_array::GenericArray, AeadInPlace, KeyInit};
use core::fmt;
use zeroize::Zeroize;
use super::error::CryptoError;

/// Length in bytes of an AES-256 key.
pub const KEY_LEN: usize = 32;
/// Length in bytes of a GCM IV (nonce) as used here: 96 bits.
pub const IV_LEN: usize = 12;
/// Length in bytes of a GCM authentication tag as used here: 128 bits.
pub const TAG_LEN: usize = 16;

/// The longest plaintext one GCM invocation may process: 2^39 − 256 bits = 2^36 − 32 bytes
/// (NIST SP 800-38D, section 5.2.1.1). Both backends refuse longer inputs.
pub const MAX_PLAINTEXT_LEN: u64 = (1 << 36) - 32;

/// Which implementation of AES-256-GCM to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AeadBackend {
    /// `ring` (default): hardware-accelerated assembly.
    #[default]
    Ring,
    /// The pure-Rust `aes-gcm` crate: fallback and differential oracle.
    RustCrypto,
}

/// The backend-specific key schedule.
///
/// Both variants are a few hundred bytes held inline (no heap allocation per key): a key is
/// set up once per message on the hot path.
#[allow(
    clippy::large_enum_variant,
    reason = "held inline on purpose: a Box would cost one allocation per message"
)]
enum Inner {
    Ring(ring::aead::LessSafeKey),
    RustCrypto(aes_gcm::Aes256Gcm),
}

/// An AES-256-GCM key, ready to seal and open.
///
/// Key hygiene:
/// - `Debug` prints only the backend, never key bytes; there is no `Display`.
/// - [`AeadBackend::RustCrypto`]: the AES round keys and the GHASH key are zeroized on drop
///   (the crate is built with the `zeroize` features of `aes` and `polyval`).
/// - [`AeadBackend::Ring`]: `ring` keeps its key schedule in a private type that offers no way
///   to zeroize it, so its expanded key stays in freed memory until overwritten. This is a
///   limitation of `ring` that fragseal cannot work around; the raw key bytes given to
///   [`Aes256GcmKey::new`] are not kept.
pub struct Aes256GcmKey {
    inner: Inner,
}

impl fmt::Debug for Aes256GcmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aes256GcmKey")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Aes256GcmKey {
    /// Sets up the key schedule for `key` on `backend`. The caller should zeroize its copy of
    /// `key` afterwards.
    pub fn new(backend: AeadBackend, key: &[u8; KEY_LEN]) -> Self {
        let inner = match backend {
            AeadBackend::Ring => {
                // `UnboundKey::new` fails only when the key length does not match the
                // algorithm; the type `[u8; 32]` guarantees the length of AES-256.
                #[allow(clippy::expect_used, reason = "key length fixed by the type")]
                let unbound = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key)
                    .expect("a 32-byte key is a valid AES-256-GCM key");
                Inner::Ring(ring::aead::LessSafeKey::new(unbound))
            }
            AeadBackend::RustCrypto => {
                Inner::RustCrypto(aes_gcm::Aes256Gcm::new(GenericArray::from_slice(key)))
            }
        };
        Self { inner }
    }

    /// Builds a `ring` key directly from HKDF output, so the derived key never exists as a
    /// byte array in our code.
    pub(crate) fn from_ring_okm(okm: ring::hkdf::Okm<'_, &'static ring::aead::Algorithm>) -> Self {
        let unbound = ring::aead::UnboundKey::from(okm);
        Self {
            inner: Inner::Ring(ring::aead::LessSafeKey::new(unbound)),
        }
    }

    /// The backend this key runs on.
    pub fn backend(&self) -> AeadBackend {
        match self.inner {
            Inner::Ring(_) => AeadBackend::Ring,
            Inner::RustCrypto(_) => AeadBackend::RustCrypto,
        }
    }

    /// Encrypts `in_out` in place under `iv` and `aad`, and returns the 16-byte tag.
    ///
    /// The caller must never use the same `iv` twice with the same key.
    ///
    /// # Errors
    /// [`CryptoError::PlaintextTooLong`] if `in_out` is longer than [`MAX_PLAINTEXT_LEN`]
    /// (then `in_out` is unchanged).
    pub fn try_seal_in_place_detached(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        if in_out.len() as u64 > MAX_PLAINTEXT_LEN {
            return Err(CryptoError::PlaintextTooLong { len: in_out.len() });
        }
        let sealed = match &self.inner {
            Inner::Ring(key) => key
                .seal_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key(*iv),
                    ring::aead::Aad::from(aad),
                    in_out,
                )
                .ok()
                .and_then(|tag| <[u8; TAG_LEN]>::try_from(tag.as_ref()).ok()),
            Inner::RustCrypto(key) => key
                .encrypt_in_place_detached(GenericArray::from_slice(iv), aad, in_out)
                .ok()
                .map(Into::into),
        };
        // Both backends fail only on over-long input, which was checked above.
        sealed.ok_or(CryptoError::AeadSealFailed)
    }

    /// Encrypts `in_out` in place under `iv` and `aad`, and returns the 16-byte tag.
    ///
    /// The caller must never use the same `iv` twice with the same key.
    ///
    /// # Panics
    /// If `in_out` is longer than [`MAX_PLAINTEXT_LEN`] (64 GiB − 32 bytes), the GCM limit.
    /// ESDK frames are at most 2^32 − 1 bytes, far below it; use
    /// [`Aes256GcmKey::try_seal_in_place_detached`] when the length is not bounded.
    pub fn seal_in_place_detached(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> [u8; TAG_LEN] {
        #[allow(
            clippy::expect_used,
            reason = "documented panic on inputs above the GCM limit of 64 GiB"
        )]
        self.try_seal_in_place_detached(iv, aad, in_out)
            .expect("AES-GCM input longer than 2^36 - 32 bytes")
    }

    /// Verifies `tag` over `in_out` (ciphertext), `iv` and `aad`, and decrypts `in_out` in place
    /// only if it verifies.
    ///
    /// # Errors
    /// The opaque [`crate::error::AuthenticationError`] when the tag does not verify (wrong key, IV, AAD,
    /// ciphertext or tag) or the input is longer than [`MAX_PLAINTEXT_LEN`]. `in_out` is then
    /// zeroed: no unauthenticated plaintext is ever released.
    pub fn open_in_place_detached(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), crate::error::AuthenticationError> {
        let ok = match &self.inner {
            Inner::Ring(key) => key
                .open_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key(*iv),
                    ring::aead::Aad::from(aad),
                    ring::aead::Tag::from(*tag),
                    in_out,
                    0..,
                )
                .is_ok(),
            Inner::RustCrypto(key) => key
                .decrypt_in_place_detached(
                    GenericArray::from_slice(iv),
                    aad,
                    in_out,
                    GenericArray::from_slice(tag),
                )
                .is_ok(),
        };
        if ok {
            Ok(())
        } else {
            // ring decrypts before it verifies; never leave that plaintext behind.
            in_out.zeroize();
            Err(crate::error::AuthenticationError)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKENDS: [AeadBackend; 2] = [AeadBackend::Ring, AeadBackend::RustCrypto];

    #[test]
    fn debug_shows_backend_only() {
        for b in BACKENDS {
            let k = Aes256GcmKey::new(b, &[0xAB; 32]);
            let s = format!("{k:?}");
            assert!(s.contains(&format!("{b:?}")), "{s}");
            assert!(
                !s.to_lowercase().contains("ab,") && !s.contains("171"),
                "{s}"
            );
            assert_eq!(k.backend(), b);
        }
    }

    #[test]
    fn round_trip_and_failure_zeroes_buffer() {
        for b in BACKENDS {
            let k = Aes256GcmKey::new(b, &[7; 32]);
            let iv = [1; 12];
            let mut buf = *b"attack at dawn!!";
            let tag = k.seal_in_place_detached(&iv, b"aad", &mut buf);
            assert_ne!(&buf, b"attack at dawn!!");
            let ct = buf;
            k.open_in_place_detached(&iv, b"aad", &mut buf, &tag)
                .expect("opens");
            assert_eq!(&buf, b"attack at dawn!!");

            let mut buf = ct;
            assert_eq!(
                k.open_in_place_detached(&iv, b"aaD", &mut buf, &tag),
                Err(crate::error::AuthenticationError)
            );
            assert_eq!(buf, [0; 16], "failed open must zero the buffer ({b:?})");

            let mut buf = ct;
            let other = Aes256GcmKey::new(b, &[8; 32]);
            assert!(other
                .open_in_place_detached(&iv, b"aad", &mut buf, &tag)
                .is_err());
        }
    }

    #[test]
    fn known_answer_empty() {
        // NIST GCM test case 13: zero key, zero IV, empty plaintext and AAD.
        let expected: [u8; 16] = [
            0x53, 0x0f, 0x8a, 0xfb, 0xc7, 0x45, 0x36, 0xb9, 0xa9, 0x63, 0xb4, 0xf1, 0xc4, 0xcb,
            0x73, 0x8b,
        ];
        for b in BACKENDS {
            let k = Aes256GcmKey::new(b, &[0; 32]);
            assert_eq!(k.seal_in_place_detached(&[0; 12], &[], &mut []), expected);
        }
    }

    #[test]
    fn key_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Aes256GcmKey>();
    }
}

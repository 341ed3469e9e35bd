//! AES-256-GCM behind one interface, on two or three backends.
//!
//! - [`AeadBackend::Ring`] (default): `ring`, assembly with AES-NI/VAES and carry-less
//!   multiplication. The fast path.
//! - [`AeadBackend::RustCrypto`]: the pure-Rust `aes-gcm` crate. A fallback, and the
//!   differential oracle the tests compare the others against.
//! - `AeadBackend::AwsLc` (cargo feature `aws-lc`): `aws-lc-rs`, AWS-LC's assembly (with
//!   VAES/AVX-512 code paths on the CPUs that have them).
//!
//! All produce byte-identical ciphertexts and tags (tested in `tests/crypto_differential.rs`
//! and against Wycheproof in `tests/crypto_vectors.rs`).
//!
//! Only the AES-256-GCM shape the ESDK suite `0x0478` uses is offered: 32-byte key, 12-byte
//! IV, 16-byte tag, detached tag, in-place operation (no allocation).

use super::error::CryptoError;
use aes_gcm::aead::{generic_array::GenericArray, AeadInPlace, KeyInit};
use core::fmt;
use zeroize::Zeroize;

/// Length in bytes of an AES-256 key.
pub const KEY_LEN: usize = 32;
/// Length in bytes of a GCM IV (nonce) as used here: 96 bits.
pub const IV_LEN: usize = 12;
/// Length in bytes of a GCM authentication tag as used here: 128 bits.
pub const TAG_LEN: usize = 16;

/// The longest plaintext one GCM invocation may process: 2^39 − 256 bits = 2^36 − 32 bytes
/// (NIST SP 800-38D, section 5.2.1.1). Both backends refuse longer inputs.
pub const MAX_PLAINTEXT_LEN: u64 = (1 << 36) - 32;

/// Which cryptographic provider to use: it selects the implementation of AES-256-GCM, of
/// HKDF-SHA512 (the per-message key derivation) and of ECDSA, once per engine or keyring.
///
/// Non-exhaustive: the `aws-lc` cargo feature adds `AwsLc`, and a later provider may be added
/// without a breaking release. [`AeadBackend::ALL`] lists the ones compiled in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AeadBackend {
    /// `ring` (default): hardware-accelerated assembly.
    #[default]
    Ring,
    /// The pure-Rust RustCrypto crates (`aes-gcm`, `hkdf`, `p384`): fallback and differential
    /// oracle.
    RustCrypto,
    /// `aws-lc-rs` (cargo feature `aws-lc`): AWS-LC's hardware-accelerated assembly.
    #[cfg(feature = "aws-lc")]
    AwsLc,
}

impl AeadBackend {
    /// Every provider compiled into this build, the default first.
    pub const ALL: &'static [AeadBackend] = &[
        AeadBackend::Ring,
        AeadBackend::RustCrypto,
        #[cfg(feature = "aws-lc")]
        AeadBackend::AwsLc,
    ];

    /// The provider's short name: `ring`, `rustcrypto` or `aws-lc` (as `fragseal bench
    /// --provider` spells it).
    pub fn name(self) -> &'static str {
        match self {
            AeadBackend::Ring => "ring",
            AeadBackend::RustCrypto => "rustcrypto",
            #[cfg(feature = "aws-lc")]
            AeadBackend::AwsLc => "aws-lc",
        }
    }

    /// The provider named `name` (see [`AeadBackend::name`]), if it is compiled in.
    pub fn from_name(name: &str) -> Option<AeadBackend> {
        Self::ALL.iter().copied().find(|b| b.name() == name)
    }
}

/// The backend-specific key schedule.
///
/// The `ring` and RustCrypto variants are a few hundred bytes held inline (no heap allocation
/// per key): a key is set up once per message on the hot path. `aws-lc-rs` holds a pointer to
/// an `EVP_AEAD_CTX` that AWS-LC allocates itself (one allocation per key).
#[allow(
    clippy::large_enum_variant,
    reason = "held inline on purpose: a Box would cost one allocation per message"
)]
enum Inner {
    Ring(ring::aead::LessSafeKey),
    RustCrypto(aes_gcm::Aes256Gcm),
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::aead::LessSafeKey),
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
/// - `AeadBackend::AwsLc`: the key schedule lives in an `EVP_AEAD_CTX` allocated by AWS-LC,
///   whose `OPENSSL_free` overwrites every allocation with `OPENSSL_cleanse` before releasing
///   it, so the expanded key is zeroized when the key is dropped. The raw key bytes are not
///   kept; keys derived by HKDF pass through a zeroized buffer of ours (`aws-lc-rs`'s own
///   `UnboundKey::from(Okm)` leaves a copy on the stack, so it is not used).
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
            #[cfg(feature = "aws-lc")]
            AeadBackend::AwsLc => {
                // As for ring: only a wrong key length fails, and the type fixes it.
                #[allow(clippy::expect_used, reason = "key length fixed by the type")]
                let unbound = aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, key)
                    .expect("a 32-byte key is a valid AES-256-GCM key");
                Inner::AwsLc(aws_lc_rs::aead::LessSafeKey::new(unbound))
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
            #[cfg(feature = "aws-lc")]
            Inner::AwsLc(_) => AeadBackend::AwsLc,
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
            #[cfg(feature = "aws-lc")]
            Inner::AwsLc(key) => key
                .seal_in_place_separate_tag(
                    aws_lc_rs::aead::Nonce::assume_unique_for_key(*iv),
                    aws_lc_rs::aead::Aad::from(aad),
                    in_out,
                )
                .ok()
                .and_then(|tag| <[u8; TAG_LEN]>::try_from(tag.as_ref()).ok()),
        };
        // Every backend fail only on over-long input, which was checked above.
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

    /// Appends the encryption of `plaintext` under `iv` and `aad` to `out`, and returns the
    /// 16-byte tag. `aws-lc-rs` encrypts from `plaintext` straight into `out` (out of place:
    /// the output is zero-filled in cache, then written once); `ring` and RustCrypto have no
    /// out-of-place AES-GCM, so the plaintext is copied in and encrypted in place.
    ///
    /// The caller must never use the same `iv` twice with the same key.
    ///
    /// # Panics
    /// As [`Aes256GcmKey::seal_in_place_detached`], above the GCM limit.
    pub(crate) fn seal_append_detached(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> [u8; TAG_LEN] {
        let at = out.len();
        #[cfg(feature = "aws-lc")]
        if let Inner::AwsLc(key) = &self.inner {
            out.resize(at + plaintext.len(), 0);
            let mut tag = [0u8; TAG_LEN];
            let sealed = key.seal_out_of_place_scatter(
                aws_lc_rs::aead::Nonce::assume_unique_for_key(*iv),
                aws_lc_rs::aead::Aad::from(aad),
                plaintext,
                out.get_mut(at..).unwrap_or(&mut []),
                &[],
                &mut tag,
            );
            #[allow(
                clippy::expect_used,
                reason = "documented panic on inputs above the GCM limit of 64 GiB"
            )]
            sealed.expect("AES-GCM input longer than 2^36 - 32 bytes");
            return tag;
        }
        out.extend_from_slice(plaintext);
        self.seal_in_place_detached(iv, aad, out.get_mut(at..).unwrap_or(&mut []))
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
            #[cfg(feature = "aws-lc")]
            Inner::AwsLc(key) => key
                .open_in_place_separate_tag(
                    aws_lc_rs::aead::Nonce::assume_unique_for_key(*iv),
                    aws_lc_rs::aead::Aad::from(aad),
                    tag,
                    in_out,
                )
                .is_ok(),
        };
        if ok {
            Ok(())
        } else {
            // ring decrypts before it verifies, and aws-lc-rs documents `in_out` as overwritten
            // "in an unspecified way" on failure; never leave that plaintext behind.
            in_out.zeroize();
            Err(crate::error::AuthenticationError)
        }
    }

    /// Verifies `tag` over `ciphertext`, `iv` and `aad`, and appends the plaintext to `out`
    /// only if it verifies. `aws-lc-rs` decrypts from `ciphertext` straight into `out` (out of
    /// place); `ring` and RustCrypto copy it in and decrypt in place.
    ///
    /// # Errors
    /// As [`Aes256GcmKey::open_in_place_detached`]; `out` is then as it was, and what was
    /// appended meanwhile is zeroized first.
    pub(crate) fn open_append_detached(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut Vec<u8>,
    ) -> Result<(), crate::error::AuthenticationError> {
        #[cfg(feature = "aws-lc")]
        if let Inner::AwsLc(key) = &self.inner {
            let at = out.len();
            out.resize(at + ciphertext.len(), 0);
            let opened = key.open_separate_gather(
                aws_lc_rs::aead::Nonce::assume_unique_for_key(*iv),
                aws_lc_rs::aead::Aad::from(aad),
                ciphertext,
                tag,
                out.get_mut(at..).unwrap_or(&mut []),
            );
            if opened.is_err() {
                // "Overwritten in an unspecified way": never leave that plaintext behind.
                out.get_mut(at..).unwrap_or(&mut []).zeroize();
                out.truncate(at);
                return Err(crate::error::AuthenticationError);
            }
            return Ok(());
        }
        append_opened(out, ciphertext, |buf| {
            self.open_in_place_detached(iv, aad, buf, tag)
        })
    }
}

/// Copies `ciphertext` onto `out` and opens it there with `open_in_place` (which zeroes what
/// it was given on failure); on failure `out` is truncated back to its length before.
pub(crate) fn append_opened(
    out: &mut Vec<u8>,
    ciphertext: &[u8],
    open_in_place: impl FnOnce(&mut [u8]) -> Result<(), crate::error::AuthenticationError>,
) -> Result<(), crate::error::AuthenticationError> {
    let at = out.len();
    out.extend_from_slice(ciphertext);
    let opened = open_in_place(out.get_mut(at..).unwrap_or(&mut []));
    if opened.is_err() {
        out.truncate(at);
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKENDS: &[AeadBackend] = AeadBackend::ALL;

    #[test]
    fn debug_shows_backend_only() {
        for &b in BACKENDS {
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
        for &b in BACKENDS {
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
    fn appending_seal_and_open_match_in_place_on_every_backend() {
        let iv = [9; 12];
        for len in [0usize, 1, 15, 16, 17, 4096 + 3] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            let mut reference = pt.clone();
            let reference_tag = Aes256GcmKey::new(AeadBackend::RustCrypto, &[5; 32])
                .seal_in_place_detached(&iv, b"aad", &mut reference);
            for &b in BACKENDS {
                let k = Aes256GcmKey::new(b, &[5; 32]);
                // Appended after what `out` holds, which stays as it was.
                let mut out = b"kept".to_vec();
                let tag = k.seal_append_detached(&iv, b"aad", &pt, &mut out);
                assert_eq!(&out[..4], b"kept", "{b:?}");
                assert_eq!(&out[4..], &reference[..], "{b:?} len {len}");
                assert_eq!(tag, reference_tag, "{b:?} len {len}");

                let mut opened = b"kept".to_vec();
                k.open_append_detached(&iv, b"aad", &reference, &tag, &mut opened)
                    .expect("opens");
                assert_eq!(&opened[4..], &pt[..], "{b:?} len {len}");

                // A wrong tag: nothing appended, what was there untouched.
                let mut bad_tag = tag;
                bad_tag[0] ^= 1;
                let mut refused = b"kept".to_vec();
                assert_eq!(
                    k.open_append_detached(&iv, b"aad", &reference, &bad_tag, &mut refused),
                    Err(crate::error::AuthenticationError)
                );
                assert_eq!(refused, b"kept", "{b:?} len {len}");
            }
        }
    }

    #[test]
    fn known_answer_empty() {
        // NIST GCM test case 13: zero key, zero IV, empty plaintext and AAD.
        let expected: [u8; 16] = [
            0x53, 0x0f, 0x8a, 0xfb, 0xc7, 0x45, 0x36, 0xb9, 0xa9, 0x63, 0xb4, 0xf1, 0xc4, 0xcb,
            0x73, 0x8b,
        ];
        for &b in BACKENDS {
            let k = Aes256GcmKey::new(b, &[0; 32]);
            assert_eq!(k.seal_in_place_detached(&[0; 12], &[], &mut []), expected);
        }
    }

    #[test]
    fn names_round_trip() {
        for &b in AeadBackend::ALL {
            assert_eq!(AeadBackend::from_name(b.name()), Some(b));
        }
        assert_eq!(AeadBackend::ALL[0], AeadBackend::default());
        assert_eq!(AeadBackend::from_name("openssl"), None);
        assert_eq!(
            AeadBackend::from_name("aws-lc").is_some(),
            cfg!(feature = "aws-lc")
        );
    }

    #[test]
    fn key_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Aes256GcmKey>();
    }
}

//! HKDF-SHA512 and the per-message key derivation of ESDK suite `0x0478`.
//!
//! The specification (aws-encryption-sdk-specification, `framework/transitive-requirements.md`,
//! "HKDF Encryption Key" and "HKDF Commit Key"; `framework/algorithm-suites.md` for the
//! suite's values) says, for a committing suite such as `0x0478`:
//!
//! - extract: hash SHA-512, salt = the 32-byte message id, input keying material = the data key;
//!   the extract step SHOULD be performed once and shared by both expands;
//! - encryption key: expand with info = the suite id as 2 big-endian bytes followed by the
//!   UTF-8 bytes `DERIVEKEY`, 32 bytes of output;
//! - commit key: expand with info = the UTF-8 bytes `COMMITKEY`, 32 bytes of output (the suite's
//!   "algorithm suite data length").
//!
//! Two or three implementations exist ([`KdfBackend`]): `ring::hkdf`, the RustCrypto `hkdf` +
//! `sha2` crates, and with the `aws-lc` feature `aws_lc_rs::hkdf`. They are each other's test
//! oracles. [`derive_message_keys`] uses the one of the provider it is given
//! ([`KdfBackend::for_provider`]): the provider is chosen once per engine or keyring and selects
//! AEAD and HKDF together. `ring` and the `hkdf` crate do not allocate on the heap; `aws-lc-rs`
//! copies the salt and the input keying material into two heap allocations per extract.
//!
//! Zeroization: derived bytes that pass through our code are zeroized. The pseudorandom key
//! (PRK) lives inside the HMAC state of `ring::hkdf::Prk` and `hkdf::Hkdf`, neither of which
//! offers zeroization; this is a limitation of those crates. `aws-lc-rs` keeps no PRK between
//! calls: its `Prk` holds a copy of the input keying material in a buffer it zeroizes on drop,
//! and each expand runs AWS-LC's one-shot `HKDF` (AWS-LC cleanses its HMAC state).

use crate::crypto::aead::{AeadBackend, Aes256GcmKey, KEY_LEN};
use crate::crypto::error::CryptoError;
use crate::crypto::keys::DataKey;
use core::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length in bytes of the ESDK v2 message id, the HKDF salt of the committing suites.
pub const MESSAGE_ID_LEN: usize = 32;
/// Length in bytes of the commit key of suite `0x0478`.
pub const COMMIT_KEY_LEN: usize = 32;
/// Output length of SHA-512 in bytes.
pub const SHA512_LEN: usize = 64;
/// The longest output HKDF-SHA512 can produce: 255 × 64 bytes (RFC 5869, section 2.3).
pub const HKDF_SHA512_MAX_OUTPUT: usize = 255 * SHA512_LEN;

/// Info label of the encryption-key expand, after the 2-byte suite id.
const DERIVE_KEY_LABEL: &[u8] = b"DERIVEKEY";
/// Info of the commit-key expand.
const COMMIT_KEY_LABEL: &[u8] = b"COMMITKEY";

/// Which HKDF-SHA512 implementation to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KdfBackend {
    /// `ring::hkdf` (assembly SHA-512). The default of [`hkdf_sha512`]: in
    /// `benches/primitives.rs` it derived the message keys slightly faster than the `hkdf` crate
    /// (about 0.94 × its time), and with the `ring` AEAD it feeds the derived key into the key
    /// schedule without a byte copy.
    #[default]
    Ring,
    /// The RustCrypto `hkdf` crate over `sha2`.
    RustCrypto,
    /// `aws_lc_rs::hkdf` (cargo feature `aws-lc`).
    #[cfg(feature = "aws-lc")]
    AwsLc,
}

impl KdfBackend {
    /// Every implementation compiled into this build, the default first.
    pub const ALL: &'static [KdfBackend] = &[
        KdfBackend::Ring,
        KdfBackend::RustCrypto,
        #[cfg(feature = "aws-lc")]
        KdfBackend::AwsLc,
    ];

    /// The HKDF of the provider `provider`: a provider selects AEAD and HKDF together.
    pub fn for_provider(provider: AeadBackend) -> KdfBackend {
        match provider {
            AeadBackend::Ring => KdfBackend::Ring,
            AeadBackend::RustCrypto => KdfBackend::RustCrypto,
            #[cfg(feature = "aws-lc")]
            AeadBackend::AwsLc => KdfBackend::AwsLc,
        }
    }
}

/// The key-commitment value of an ESDK v2 message.
///
/// Written in clear into the message header, so it is not secret once written; it is still
/// kept typed, zeroized on drop, not printed by `Debug`, and compared only in constant time.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct CommitKey([u8; COMMIT_KEY_LEN]);

impl CommitKey {
    /// The 32 bytes, to write into the header.
    pub fn as_bytes(&self) -> &[u8; COMMIT_KEY_LEN] {
        &self.0
    }

    /// Compares with `other` (for example the header's commit key) in constant time. A slice of
    /// another length is never equal (the length itself is public).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0[..].ct_eq(other).into()
    }
}

impl fmt::Debug for CommitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitKey").finish_non_exhaustive()
    }
}

/// The keys derived from a data key for one message.
#[derive(Debug)]
pub struct MessageKeys {
    /// The AES-256-GCM key that encrypts the header auth tag and every frame.
    pub encryption_key: Aes256GcmKey,
    /// The commit key written in (and checked against) the header.
    pub commit_key: CommitKey,
}

/// Derives the encryption key and commit key of one message (suite `suite_id`, message id
/// `message_id`) from `data_key`: one HKDF-SHA512 extract, two expands, with the HKDF of the
/// provider `backend` ([`KdfBackend::for_provider`]). See the module documentation for the
/// exact inputs.
pub fn derive_message_keys(
    backend: AeadBackend,
    data_key: &DataKey,
    suite_id: u16,
    message_id: &[u8; MESSAGE_ID_LEN],
) -> MessageKeys {
    derive_message_keys_with(
        KdfBackend::for_provider(backend),
        backend,
        data_key,
        suite_id,
        message_id,
    )
}

/// [`derive_message_keys`] with an explicit HKDF implementation (for benchmarks and tests; all
/// give identical keys).
pub fn derive_message_keys_with(
    kdf: KdfBackend,
    backend: AeadBackend,
    data_key: &DataKey,
    suite_id: u16,
    message_id: &[u8; MESSAGE_ID_LEN],
) -> MessageKeys {
    let suite = suite_id.to_be_bytes();
    let ikm = data_key.expose_secret();
    let mut commit = CommitKey([0; COMMIT_KEY_LEN]);
    // In every `expect` below: HKDF-SHA512 expand fails only for outputs longer than
    // 255 × 64 bytes; these outputs are 32 bytes.
    #[allow(
        clippy::expect_used,
        reason = "32-byte HKDF-SHA512 outputs cannot fail"
    )]
    let encryption_key = match kdf {
        KdfBackend::Ring => {
            let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA512, message_id).extract(ikm);
            let encryption_key = if backend == AeadBackend::Ring {
                // Straight from HKDF output into ring's key schedule: no byte copy in our code.
                Aes256GcmKey::from_ring_okm(
                    prk.expand(&[&suite, DERIVE_KEY_LABEL], &ring::aead::AES_256_GCM)
                        .expect("32-byte expand"),
                )
            } else {
                // Another provider's AEAD: through a zeroized buffer.
                let mut k = Zeroizing::new([0u8; KEY_LEN]);
                prk.expand(&[&suite, DERIVE_KEY_LABEL], Len(KEY_LEN))
                    .and_then(|okm| okm.fill(&mut k[..]))
                    .expect("32-byte expand");
                Aes256GcmKey::new(backend, &k)
            };
            prk.expand(&[COMMIT_KEY_LABEL], Len(COMMIT_KEY_LEN))
                .and_then(|okm| okm.fill(&mut commit.0))
                .expect("32-byte expand");
            encryption_key
        }
        KdfBackend::RustCrypto => {
            let hk = hkdf::Hkdf::<sha2::Sha512>::new(Some(message_id), ikm);
            let mut k = Zeroizing::new([0u8; KEY_LEN]);
            hk.expand_multi_info(&[&suite, DERIVE_KEY_LABEL], &mut k[..])
                .expect("32-byte expand");
            hk.expand(COMMIT_KEY_LABEL, &mut commit.0)
                .expect("32-byte expand");
            Aes256GcmKey::new(backend, &k)
        }
        #[cfg(feature = "aws-lc")]
        KdfBackend::AwsLc => {
            use aws_lc_rs::hkdf::{Salt, HKDF_SHA512};
            let prk = Salt::new(HKDF_SHA512, message_id).extract(ikm);
            let mut k = Zeroizing::new([0u8; KEY_LEN]);
            prk.expand(&[&suite, DERIVE_KEY_LABEL], Len(KEY_LEN))
                .and_then(|okm| okm.fill(&mut k[..]))
                .expect("32-byte expand");
            prk.expand(&[COMMIT_KEY_LABEL], Len(COMMIT_KEY_LEN))
                .and_then(|okm| okm.fill(&mut commit.0))
                .expect("32-byte expand");
            Aes256GcmKey::new(backend, &k)
        }
    };
    MessageKeys {
        encryption_key,
        commit_key: commit,
    }
}

/// General-purpose HKDF-SHA512 (RFC 5869): extract with `salt` (empty = no salt) and `ikm`, then
/// expand with `info` to fill `out`, with the default [`KdfBackend`].
///
/// # Errors
/// [`CryptoError::HkdfOutputTooLong`] if `out` is longer than [`HKDF_SHA512_MAX_OUTPUT`]
/// (16320 bytes); `out` is then unchanged.
pub fn hkdf_sha512(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    hkdf_sha512_with(KdfBackend::default(), salt, ikm, info, out)
}

/// [`hkdf_sha512`] with an explicit implementation (for tests and benchmarks).
///
/// # Errors
/// As [`hkdf_sha512`].
pub fn hkdf_sha512_with(
    kdf: KdfBackend,
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    if out.len() > HKDF_SHA512_MAX_OUTPUT {
        return Err(CryptoError::HkdfOutputTooLong { len: out.len() });
    }
    let ok = match kdf {
        KdfBackend::Ring => ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA512, salt)
            .extract(ikm)
            .expand(&[info], Len(out.len()))
            .and_then(|okm| okm.fill(out))
            .is_ok(),
        KdfBackend::RustCrypto => hkdf::Hkdf::<sha2::Sha512>::new(Some(salt), ikm)
            .expand(info, out)
            .is_ok(),
        #[cfg(feature = "aws-lc")]
        KdfBackend::AwsLc => aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA512, salt)
            .extract(ikm)
            .expand(&[info], Len(out.len()))
            .and_then(|okm| okm.fill(out))
            .is_ok(),
    };
    if ok {
        Ok(())
    } else {
        // Unreachable after the length check; kept as an error rather than a panic.
        out.zeroize();
        Err(CryptoError::HkdfExpandFailed)
    }
}

/// An output length for `ring::hkdf` (and `aws_lc_rs::hkdf`).
struct Len(usize);

impl ring::hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

#[cfg(feature = "aws-lc")]
impl aws_lc_rs::hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_key_debug_and_ct_eq() {
        let c = CommitKey([0x5A; 32]);
        let s = format!("{c:?}");
        assert_eq!(s, "CommitKey { .. }");
        assert!(c.ct_eq(&[0x5A; 32]));
        assert!(!c.ct_eq(&[0x5B; 32]));
        let mut almost = [0x5A; 32];
        almost[31] ^= 1;
        assert!(!c.ct_eq(&almost));
        assert!(!c.ct_eq(&[0x5A; 31]));
        assert!(!c.ct_eq(&[0x5A; 33]));
        assert!(!c.ct_eq(&[]));
    }

    #[test]
    fn message_keys_debug_shows_no_bytes() {
        let dk = DataKey::from_bytes([0x11; 32]);
        let keys = derive_message_keys(AeadBackend::Ring, &dk, 0x0478, &[0x22; 32]);
        let s = format!("{keys:?}");
        assert!(
            s.contains("CommitKey { .. }") && s.contains("backend: Ring"),
            "{s}"
        );
        let hex_commit = hex::encode(keys.commit_key.as_bytes());
        assert!(!s.contains(&hex_commit[..8]), "{s}");
    }

    /// The derivation equals the spec written out with the general HKDF: one extract, the two
    /// expands with their infos.
    #[test]
    fn derivation_matches_spec_and_backends_agree() {
        for seed in 0u8..8 {
            let dk = DataKey::from_bytes([seed.wrapping_mul(37); 32]);
            let mid = [seed ^ 0xC3; 32];
            let mut info = [0u8; 11];
            info[..2].copy_from_slice(&0x0478u16.to_be_bytes());
            info[2..].copy_from_slice(b"DERIVEKEY");
            let mut ek = [0u8; 32];
            let mut ck = [0u8; 32];
            hkdf_sha512_with(
                KdfBackend::RustCrypto,
                &mid,
                dk.expose_secret(),
                &info,
                &mut ek,
            )
            .expect("hkdf");
            hkdf_sha512_with(
                KdfBackend::RustCrypto,
                &mid,
                dk.expose_secret(),
                b"COMMITKEY",
                &mut ck,
            )
            .expect("hkdf");
            let reference = Aes256GcmKey::new(AeadBackend::RustCrypto, &ek);
            let ref_tag = reference.seal_in_place_detached(&[0; 12], b"probe", &mut []);
            for &kdf in KdfBackend::ALL {
                for &aead in AeadBackend::ALL {
                    let keys = derive_message_keys_with(kdf, aead, &dk, 0x0478, &mid);
                    assert_eq!(keys.commit_key.as_bytes(), &ck, "{kdf:?}/{aead:?}");
                    assert_eq!(keys.encryption_key.backend(), aead);
                    let tag =
                        keys.encryption_key
                            .seal_in_place_detached(&[0; 12], b"probe", &mut []);
                    assert_eq!(tag, ref_tag, "{kdf:?}/{aead:?}");
                }
            }
        }
    }

    /// Known answer computed independently with Python's standard `hmac`/`hashlib` (RFC 5869
    /// written out by hand): data key = bytes 0..32, message id = bytes 32..64, suite 0x0478.
    #[test]
    fn derivation_known_answer() {
        let dk = DataKey::from_bytes(core::array::from_fn(|i| i as u8));
        let mid: [u8; 32] = core::array::from_fn(|i| 32 + i as u8);
        let ek = hex::decode("30f891fcd92a8abe67342e11f1cfacffa92994861fca7075fb36a21f9edbf6ae")
            .expect("hex");
        let ck = hex::decode("16bbdf5f77e52a6d45b8cad7f30e0bbf69b304b0d51de9d153b822934fd32d47")
            .expect("hex");
        let ek: [u8; 32] = ek.try_into().expect("32 bytes");
        let expected_tag = Aes256GcmKey::new(AeadBackend::RustCrypto, &ek).seal_in_place_detached(
            &[0; 12],
            b"kat",
            &mut [],
        );
        for &kdf in KdfBackend::ALL {
            for &aead in AeadBackend::ALL {
                let keys = derive_message_keys_with(kdf, aead, &dk, 0x0478, &mid);
                assert!(keys.commit_key.ct_eq(&ck), "{kdf:?}/{aead:?}");
                let tag = keys
                    .encryption_key
                    .seal_in_place_detached(&[0; 12], b"kat", &mut []);
                assert_eq!(tag, expected_tag, "{kdf:?}/{aead:?}");
            }
        }
    }

    /// The two implementations are each other's oracle: identical output on random inputs
    /// (random salt, IKM, info and output lengths, including empty ones), and identical message
    /// keys for random data keys and message ids.
    #[test]
    fn implementations_agree_on_random_inputs() {
        use rand::{Rng, RngCore, SeedableRng};
        let mut seed = [0u8; 8];
        crate::crypto::rng::fill_random(&mut seed);
        let seed = u64::from_le_bytes(seed);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for _ in 0..200 {
            let mut salt = vec![0u8; rng.gen_range(0..=200)];
            let mut ikm = vec![0u8; rng.gen_range(0..=200)];
            let mut info = vec![0u8; rng.gen_range(0..=200)];
            rng.fill_bytes(&mut salt);
            rng.fill_bytes(&mut ikm);
            rng.fill_bytes(&mut info);
            let len = rng.gen_range(0..=600);
            let mut reference = vec![0u8; len];
            hkdf_sha512_with(KdfBackend::RustCrypto, &salt, &ikm, &info, &mut reference)
                .expect("hkdf");
            for &kdf in KdfBackend::ALL {
                let mut out = vec![0u8; len];
                hkdf_sha512_with(kdf, &salt, &ikm, &info, &mut out).expect("hkdf");
                assert_eq!(out, reference, "{kdf:?}, seed {seed}");
            }

            let mut dk = [0u8; 32];
            let mut mid = [0u8; 32];
            rng.fill_bytes(&mut dk);
            rng.fill_bytes(&mut mid);
            let dk = DataKey::from_bytes(dk);
            let suite: u16 = rng.gen();
            let y = derive_message_keys_with(
                KdfBackend::RustCrypto,
                AeadBackend::RustCrypto,
                &dk,
                suite,
                &mid,
            );
            let ty = y
                .encryption_key
                .seal_in_place_detached(&[3; 12], &mid, &mut []);
            for &provider in AeadBackend::ALL {
                let x = derive_message_keys(provider, &dk, suite, &mid);
                assert!(
                    x.commit_key.ct_eq(y.commit_key.as_bytes()),
                    "{provider:?}, seed {seed}"
                );
                let tx = x
                    .encryption_key
                    .seal_in_place_detached(&[3; 12], &mid, &mut []);
                assert_eq!(tx, ty, "{provider:?}, seed {seed}");
            }
        }
    }

    #[test]
    fn provider_selects_its_hkdf() {
        assert_eq!(
            KdfBackend::for_provider(AeadBackend::Ring),
            KdfBackend::Ring
        );
        assert_eq!(
            KdfBackend::for_provider(AeadBackend::RustCrypto),
            KdfBackend::RustCrypto
        );
        #[cfg(feature = "aws-lc")]
        assert_eq!(
            KdfBackend::for_provider(AeadBackend::AwsLc),
            KdfBackend::AwsLc
        );
    }

    #[test]
    fn too_long_output_is_an_error() {
        let mut out = vec![0u8; HKDF_SHA512_MAX_OUTPUT + 1];
        for &kdf in KdfBackend::ALL {
            assert_eq!(
                hkdf_sha512_with(kdf, b"s", b"k", b"i", &mut out),
                Err(CryptoError::HkdfOutputTooLong {
                    len: HKDF_SHA512_MAX_OUTPUT + 1
                })
            );
        }
        let mut out = vec![0u8; HKDF_SHA512_MAX_OUTPUT];
        assert!(hkdf_sha512(b"s", b"k", b"i", &mut out).is_ok());
    }
}

//! ECDSA P-384 signing of the signed suite `0x0578` (ESDK `framework/algorithm-suites.md`,
//! `data-format/message-footer.md`): one key pair per cached data key, its public key in the
//! encryption context, the footer's signature over header and body.
//!
//! - Key generation: a P-384 scalar drawn from the operating system's generator
//!   ([`SigningKey::generate`]) or a caller's [`CryptoRngCore`] ([`SigningKey::generate_with`]),
//!   then handed to the chosen provider. The same generator output gives the same key pair on
//!   every provider (tested).
//! - Public key: the compressed SEC1 point (49 bytes), and its base64, the value the ESDK
//!   stores under [`EC_PUBLIC_KEY_FIELD`].
//! - Signing, per [`SigningBackend`]: RustCrypto `p384` (SHA-384 prehash, hedged nonces:
//!   RFC 6979 plus fresh randomness), `ring` (`ECDSA_P384_SHA384_ASN1_SIGNING`, the whole
//!   message in memory, random nonces), `aws-lc-rs` (feature `aws-lc`, the same API).
//!
//! Signature form: DER (ASN.1 `SEQUENCE { r INTEGER, s INTEGER }`), always exactly
//! [`SIGNATURE_LEN`] = 103 bytes, as the Python and Java ESDKs write them. The footer spec
//! allows any length, but both SDKs make it static: when a signature's DER length is not 103,
//! they replace `s` by `n − s` (which is an equally valid signature, and changes whether `s`
//! needs a leading zero byte), and if that does not help either, sign again. fragseal does the
//! same, so a signed message's length is known before it is sealed. It does *not* normalise to
//! low-S: the ESDKs do not either (half of their signatures are high-S), so no verifier of ESDK
//! messages can require it, and normalising would make the length variable again.

use super::aead::AeadBackend;
use core::fmt;
use p384::ecdsa::signature::hazmat::RandomizedPrehashSigner;
use p384::ecdsa::{Signature as P384Signature, SigningKey as P384SigningKey};
use p384::elliptic_curve::rand_core::CryptoRngCore;
use p384::elliptic_curve::sec1::ToEncodedPoint;
use rand::rngs::OsRng;
use sha2::{Digest, Sha384};
use zeroize::Zeroizing;

/// The encryption context key under which the signed suites store the signer's public key
/// (base64 of the compressed SEC1 point): one constant for both sides, defined beside the
/// verifier. Reserved: callers' contexts may not use it.
pub use super::verify::EC_PUBLIC_KEY_FIELD;

/// Length of a compressed SEC1 P-384 point: a parity byte and the 48-byte x coordinate.
pub const PUBLIC_KEY_LEN: usize = 49;

/// Length of every DER signature fragseal writes (the ESDKs' static length for P-384).
pub const SIGNATURE_LEN: usize = 103;

/// How many signatures one call may compute before giving up: each attempt has the static
/// length with probability about 255/256, so this is never reached in practice.
const MAX_SIGN_ATTEMPTS: usize = 32;

/// Which implementation signs. Chosen once per engine with its [`AeadBackend`] (the one
/// provider choice); see [`SigningBackend::from`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SigningBackend {
    /// `ring`: `EcdsaKeyPair` with `ECDSA_P384_SHA384_ASN1_SIGNING`.
    Ring,
    /// The pure-Rust `p384` crate, over a running SHA-384.
    RustCrypto,
    /// `aws-lc-rs`: `EcdsaKeyPair` with `ECDSA_P384_SHA384_ASN1_SIGNING`.
    #[cfg(feature = "aws-lc")]
    AwsLc,
}

impl From<AeadBackend> for SigningBackend {
    fn from(b: AeadBackend) -> Self {
        match b {
            AeadBackend::Ring => SigningBackend::Ring,
            AeadBackend::RustCrypto => SigningBackend::RustCrypto,
            #[cfg(feature = "aws-lc")]
            AeadBackend::AwsLc => SigningBackend::AwsLc,
        }
    }
}

/// Signing failed: the provider refused a key it was given or failed to sign (neither is
/// expected; no secret is in the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The provider rejected the generated key pair.
    KeyRejected(SigningBackend),
    /// The provider failed to sign, or produced no signature of the static length.
    SignFailed(SigningBackend),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::KeyRejected(b) => write!(f, "the {b:?} ECDSA provider rejected a key pair"),
            SignError::SignFailed(b) => write!(f, "the {b:?} ECDSA provider failed to sign"),
        }
    }
}

impl std::error::Error for SignError {}

/// The provider's key object. Boxed in [`SigningKey`].
enum Inner {
    /// Zeroizes its scalar on drop.
    RustCrypto(P384SigningKey),
    /// `ring` offers no way to zeroize its private scalar: it stays in freed memory until
    /// overwritten (the same limitation as its AES key schedule, see `aead`).
    Ring(ring::signature::EcdsaKeyPair),
    /// aws-lc frees its `EC_KEY` with the scalar cleared.
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::signature::EcdsaKeyPair),
}

/// A P-384 signing key pair of suite `0x0578`.
///
/// Key hygiene: boxed (moving it copies no secret), not `Clone`, and `Debug` shows the backend
/// and the public key only. The private scalar is zeroized on drop on RustCrypto and aws-lc;
/// see [`SigningBackend::Ring`] for ring's limitation.
pub struct SigningKey {
    inner: Box<Inner>,
    public: [u8; PUBLIC_KEY_LEN],
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("backend", &self.backend())
            .field("public_key", &self.public_key_base64())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new key pair from the operating system's generator, for `backend`.
    ///
    /// # Errors
    /// [`SignError::KeyRejected`] if the provider refuses the key (not expected).
    pub fn generate(backend: SigningBackend) -> Result<Self, SignError> {
        Self::generate_with(backend, &mut OsRng)
    }

    /// A new key pair whose scalar is drawn from `rng`, for `backend`.
    ///
    /// # Errors
    /// [`SignError::KeyRejected`] if the provider refuses the key (not expected).
    pub fn generate_with(
        backend: SigningBackend,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, SignError> {
        let key = P384SigningKey::random(rng);
        let point = key.verifying_key().as_affine().to_encoded_point(true);
        let mut public = [0u8; PUBLIC_KEY_LEN];
        if point.as_bytes().len() != PUBLIC_KEY_LEN {
            return Err(SignError::KeyRejected(backend));
        }
        public.copy_from_slice(point.as_bytes());
        let inner = match backend {
            SigningBackend::RustCrypto => Inner::RustCrypto(key),
            SigningBackend::Ring => {
                let (scalar, uncompressed) = export(&key);
                let rng = ring::rand::SystemRandom::new();
                ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
                    &ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                    scalar.as_slice(),
                    uncompressed.as_bytes(),
                    &rng,
                )
                .map(Inner::Ring)
                .map_err(|_| SignError::KeyRejected(backend))?
            }
            #[cfg(feature = "aws-lc")]
            SigningBackend::AwsLc => {
                let (scalar, uncompressed) = export(&key);
                aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(
                    &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                    scalar.as_slice(),
                    uncompressed.as_bytes(),
                )
                .map(Inner::AwsLc)
                .map_err(|_| SignError::KeyRejected(backend))?
            }
        };
        Ok(Self {
            inner: Box::new(inner),
            public,
        })
    }

    /// The provider.
    pub fn backend(&self) -> SigningBackend {
        match *self.inner {
            Inner::RustCrypto(_) => SigningBackend::RustCrypto,
            Inner::Ring(_) => SigningBackend::Ring,
            #[cfg(feature = "aws-lc")]
            Inner::AwsLc(_) => SigningBackend::AwsLc,
        }
    }

    /// The public key as a compressed SEC1 point.
    pub fn public_key(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.public
    }

    /// The public key as the encryption context stores it: standard base64 (with padding) of
    /// the compressed point.
    pub fn public_key_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.public)
    }

    /// The DER signature of `message` (for a message: its header and body), of exactly
    /// [`SIGNATURE_LEN`] bytes (see the [module documentation](self)).
    ///
    /// # Errors
    /// [`SignError::SignFailed`] if the provider fails (not expected).
    pub fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN], SignError> {
        let backend = self.backend();
        let failed = SignError::SignFailed(backend);
        // RustCrypto signs the digest; the others hash the message themselves.
        let digest = matches!(*self.inner, Inner::RustCrypto(_)).then(|| {
            let mut h = Sha384::new();
            h.update(message);
            h.finalize()
        });
        for _ in 0..MAX_SIGN_ATTEMPTS {
            let der: Vec<u8> = match (&*self.inner, &digest) {
                (Inner::RustCrypto(key), Some(digest)) => {
                    let sig: P384Signature = key
                        .sign_prehash_with_rng(&mut OsRng, digest)
                        .map_err(|_| failed)?;
                    sig.to_der().as_bytes().to_vec()
                }
                (Inner::RustCrypto(_), None) => return Err(failed),
                (Inner::Ring(pair), _) => {
                    let rng = ring::rand::SystemRandom::new();
                    pair.sign(&rng, message)
                        .map_err(|_| failed)?
                        .as_ref()
                        .to_vec()
                }
                #[cfg(feature = "aws-lc")]
                (Inner::AwsLc(pair), _) => {
                    let rng = aws_lc_rs::rand::SystemRandom::new();
                    pair.sign(&rng, message)
                        .map_err(|_| failed)?
                        .as_ref()
                        .to_vec()
                }
            };
            if let Some(sig) = static_length(&der) {
                return Ok(sig);
            }
        }
        Err(failed)
    }
}

/// The scalar (zeroized on drop) and the uncompressed public point, to import into a provider.
fn export(
    key: &P384SigningKey,
) -> (
    Zeroizing<p384::FieldBytes>,
    p384::elliptic_curve::sec1::EncodedPoint<p384::NistP384>,
) {
    let scalar = Zeroizing::new(key.to_bytes());
    let point = key.verifying_key().as_affine().to_encoded_point(false);
    (scalar, point)
}

/// `der` as a [`SIGNATURE_LEN`]-byte DER signature: as it is, or with `s` replaced by `n − s`;
/// `None` when neither form has that length (sign again).
fn static_length(der: &[u8]) -> Option<[u8; SIGNATURE_LEN]> {
    if let Ok(sig) = <[u8; SIGNATURE_LEN]>::try_from(der) {
        return Some(sig);
    }
    let sig = P384Signature::from_der(der).ok()?;
    let (r, s) = sig.split_scalars();
    let negated = P384Signature::from_scalars(p384::FieldBytes::from(r), (-s).to_bytes()).ok()?;
    <[u8; SIGNATURE_LEN]>::try_from(negated.to_der().as_bytes()).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use p384::ecdsa::signature::Verifier;
    use p384::ecdsa::VerifyingKey;
    use rand::SeedableRng;

    fn backends() -> Vec<SigningBackend> {
        vec![
            SigningBackend::Ring,
            SigningBackend::RustCrypto,
            #[cfg(feature = "aws-lc")]
            SigningBackend::AwsLc,
        ]
    }

    fn verify(public: &[u8], message: &[u8], der: &[u8]) -> bool {
        let key = VerifyingKey::from_sec1_bytes(public).unwrap();
        let sig = P384Signature::from_der(der).unwrap();
        key.verify(message, &sig).is_ok()
    }

    #[test]
    fn every_backend_signs_what_p384_verifies_at_the_static_length() {
        for backend in backends() {
            let key = SigningKey::generate(backend).unwrap();
            assert_eq!(key.backend(), backend);
            assert!(matches!(key.public_key()[0], 2 | 3), "compressed point");
            for i in 0..20u8 {
                let message = vec![i; 1000 + usize::from(i)];
                let sig = key.sign(&message).unwrap();
                assert_eq!(sig.len(), SIGNATURE_LEN);
                assert_eq!(sig[0], 0x30);
                assert!(verify(key.public_key(), &message, &sig), "{backend:?}");
                assert!(!verify(key.public_key(), b"another message", &sig));
            }
        }
    }

    #[test]
    fn the_same_generator_output_gives_the_same_key_on_every_backend() {
        let publics: Vec<_> = backends()
            .into_iter()
            .map(|b| {
                let mut rng = rand::rngs::StdRng::seed_from_u64(7);
                *SigningKey::generate_with(b, &mut rng).unwrap().public_key()
            })
            .collect();
        assert!(publics.windows(2).all(|w| w[0] == w[1]));
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let other = SigningKey::generate_with(SigningBackend::Ring, &mut rng).unwrap();
        assert_ne!(other.public_key(), &publics[0]);
        // ring's own public point is the uncompressed form of the same point.
        if let Inner::Ring(pair) = &*other.inner {
            use ring::signature::KeyPair;
            let ours = VerifyingKey::from_sec1_bytes(other.public_key()).unwrap();
            let uncompressed = ours.as_affine().to_encoded_point(false);
            assert_eq!(pair.public_key().as_ref(), uncompressed.as_bytes());
        }
    }

    #[test]
    fn public_key_base64_is_the_compressed_point() {
        use base64::Engine as _;
        let key = SigningKey::generate(SigningBackend::RustCrypto).unwrap();
        let b64 = key.public_key_base64();
        assert_eq!(b64.len(), 68);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .unwrap();
        assert_eq!(decoded, key.public_key());
    }

    #[test]
    fn debug_shows_no_private_key() {
        let key = SigningKey::generate(SigningBackend::RustCrypto).unwrap();
        let secret = hex::encode(match &*key.inner {
            Inner::RustCrypto(k) => k.to_bytes().to_vec(),
            _ => unreachable!(),
        });
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.public_key_base64()));
        assert!(!shown.to_lowercase().contains(&secret[..16]));
    }

    #[test]
    fn static_length_negates_s_or_asks_to_sign_again() {
        let key = SigningKey::generate(SigningBackend::RustCrypto).unwrap();
        let Inner::RustCrypto(k) = &*key.inner else {
            unreachable!()
        };
        let digest = Sha384::digest(b"m");
        let (mut fixed, mut asked) = (0, 0);
        for _ in 0..64 {
            let sig: P384Signature = k.sign_prehash_with_rng(&mut OsRng, &digest).unwrap();
            let der = sig.to_der();
            match static_length(der.as_bytes()) {
                Some(out) => {
                    if der.as_bytes().len() != SIGNATURE_LEN {
                        fixed += 1;
                    }
                    let vk = VerifyingKey::from_sec1_bytes(key.public_key()).unwrap();
                    assert!(vk
                        .verify(b"m", &P384Signature::from_der(&out).unwrap())
                        .is_ok());
                }
                None => asked += 1,
            }
        }
        // About half of the raw signatures need s negated; none should need more often than
        // 1 in 256 to be signed again.
        assert!(fixed > 5, "{fixed}");
        assert!(asked < 4, "{asked}");
    }
}

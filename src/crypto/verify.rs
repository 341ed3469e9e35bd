//! ECDSA verification of the signed suites' message footer (`data-format/message-footer.md`):
//! P-384 with SHA-384 (`0x0578`, and the legacy `0x0346`/`0x0378`) and P-256 with SHA-256
//! (legacy `0x0214`).
//!
//! The signer's public key is the encryption context value `aws-crypto-public-key`: base64
//! (standard alphabet, padded) of the *compressed* SEC1 point. [`SignerPublicKey`] decodes it
//! strictly (canonical base64, exactly the compressed length, prefix `02`/`03`) and decompresses
//! it once with the RustCrypto `p384`/`p256` crates, which refuse an x that is not on the curve
//! (and the point at infinity, which has no compressed encoding).
//!
//! Backends, chosen by the provider ([`AeadBackend`]):
//! - [`AeadBackend::RustCrypto`]: `p384`/`p256` `ecdsa` on the SHA-384/SHA-256 prehash. It is the
//!   only backend that verifies a digest computed incrementally, so [`StreamVerifier`] (the
//!   streaming open) always uses it, whatever the provider.
//! - [`AeadBackend::Ring`]: `ring`'s ASN.1 verifiers over the whole message in memory, given the
//!   uncompressed point (ring does not take compressed points).
//! - `AeadBackend::AwsLc` (feature `aws-lc`): `aws-lc-rs`, the same interface as `ring`.
//!
//! Every backend gets the same DER bytes only after they parse as a canonical DER
//! `ECDSA-Sig-Value` (RustCrypto's strict parser), so all of them agree on what is well formed.
//! A high-S signature (the malleated `(r, n − s)`) verifies on every backend, as in every ESDK:
//! the footer authenticates the message, it is not a unique identifier of it. Any failure is
//! the opaque [`AuthenticationError`].

use super::aead::AeadBackend;
use crate::error::AuthenticationError;
use crate::format::SignatureAlgorithm;
use sha2::Digest;

/// The encryption context key that carries the signer's public key (the ESDK's reserved name).
pub const EC_PUBLIC_KEY_FIELD: &str = "aws-crypto-public-key";

/// Longest DER ECDSA-Sig-Value for P-256: SEQUENCE of two 33-byte INTEGERs.
const MAX_DER_P256: usize = 2 + 2 * (2 + 33);
/// Longest DER ECDSA-Sig-Value for P-384: SEQUENCE of two 49-byte INTEGERs.
const MAX_DER_P384: usize = 2 + 2 * (2 + 49);

/// The longest footer signature a suite's curve can produce (DER), the bound the footer's
/// length field is checked against.
pub fn max_signature_len(alg: SignatureAlgorithm) -> usize {
    match alg {
        SignatureAlgorithm::None => 0,
        SignatureAlgorithm::EcdsaP256Sha256 => MAX_DER_P256,
        SignatureAlgorithm::EcdsaP384Sha384 => MAX_DER_P384,
    }
}

/// A signer's public key, validated: a point on the suite's curve (never the identity).
/// Public data; `Debug` shows the curve and the compressed point in hex.
#[derive(Clone, PartialEq, Eq)]
pub struct SignerPublicKey {
    alg: SignatureAlgorithm,
    compressed: Vec<u8>,
    /// The SEC1 uncompressed point (`04 ‖ x ‖ y`), what `ring` and `aws-lc-rs` are given.
    uncompressed: Vec<u8>,
}

impl core::fmt::Debug for SignerPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignerPublicKey")
            .field("alg", &self.alg)
            .field("compressed", &hex::encode(&self.compressed))
            .finish()
    }
}

impl SignerPublicKey {
    /// Decodes the encryption context value: strict base64 of the compressed point.
    /// `None` when it is not canonical base64, not a compressed point of the curve's length,
    /// or not on the curve.
    pub fn from_context_value(alg: SignatureAlgorithm, value: &str) -> Option<Self> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()?;
        Self::from_compressed(alg, &bytes)
    }

    /// Validates a compressed SEC1 point.
    pub fn from_compressed(alg: SignatureAlgorithm, bytes: &[u8]) -> Option<Self> {
        if bytes.len() != alg.compressed_point_len() || !matches!(bytes.first(), Some(2 | 3)) {
            return None;
        }
        let uncompressed = match alg {
            SignatureAlgorithm::None => return None,
            SignatureAlgorithm::EcdsaP256Sha256 => {
                use p256::elliptic_curve::sec1::ToEncodedPoint;
                let pk = p256::PublicKey::from_sec1_bytes(bytes).ok()?;
                pk.to_encoded_point(false).as_bytes().to_vec()
            }
            SignatureAlgorithm::EcdsaP384Sha384 => {
                use p384::elliptic_curve::sec1::ToEncodedPoint;
                let pk = p384::PublicKey::from_sec1_bytes(bytes).ok()?;
                pk.to_encoded_point(false).as_bytes().to_vec()
            }
        };
        Some(Self {
            alg,
            compressed: bytes.to_vec(),
            uncompressed,
        })
    }

    /// The curve and hash.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.alg
    }

    /// The compressed SEC1 point.
    pub fn compressed_bytes(&self) -> &[u8] {
        &self.compressed
    }

    /// The uncompressed SEC1 point.
    pub fn uncompressed_bytes(&self) -> &[u8] {
        &self.uncompressed
    }
}

/// A digest being computed over header and body.
#[derive(Clone)]
enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
}

/// Incremental verification (the streaming open): hash the header and body as they arrive,
/// then check the footer's signature against the digest. Always on RustCrypto (see the
/// module docs).
#[derive(Clone)]
pub struct StreamVerifier {
    key: SignerPublicKey,
    hasher: Hasher,
}

impl core::fmt::Debug for StreamVerifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamVerifier")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl StreamVerifier {
    /// A verifier for `key`, nothing hashed yet.
    pub fn new(key: SignerPublicKey) -> Self {
        let hasher = match key.alg {
            SignatureAlgorithm::EcdsaP256Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            // `SignerPublicKey` is never built for `None`.
            SignatureAlgorithm::EcdsaP384Sha384 | SignatureAlgorithm::None => {
                Hasher::Sha384(sha2::Sha384::new())
            }
        };
        Self { key, hasher }
    }

    /// Hashes the next message bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.hasher {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
        }
    }

    /// Checks `der` against everything hashed.
    ///
    /// # Errors
    /// The opaque [`AuthenticationError`] for a malformed or wrong signature.
    pub fn verify(self, der: &[u8]) -> Result<(), AuthenticationError> {
        match self.hasher {
            Hasher::Sha256(h) => verify_prehash_p256(&self.key, &h.finalize(), der),
            Hasher::Sha384(h) => verify_prehash_p384(&self.key, &h.finalize(), der),
        }
    }
}

fn verify_prehash_p256(
    key: &SignerPublicKey,
    digest: &[u8],
    der: &[u8],
) -> Result<(), AuthenticationError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    if key.alg != SignatureAlgorithm::EcdsaP256Sha256 {
        return Err(AuthenticationError);
    }
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&key.uncompressed)
        .map_err(|_| AuthenticationError)?;
    let sig = p256::ecdsa::Signature::from_der(der).map_err(|_| AuthenticationError)?;
    vk.verify_prehash(digest, &sig)
        .map_err(|_| AuthenticationError)
}

fn verify_prehash_p384(
    key: &SignerPublicKey,
    digest: &[u8],
    der: &[u8],
) -> Result<(), AuthenticationError> {
    use p384::ecdsa::signature::hazmat::PrehashVerifier;
    if key.alg != SignatureAlgorithm::EcdsaP384Sha384 {
        return Err(AuthenticationError);
    }
    let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(&key.uncompressed)
        .map_err(|_| AuthenticationError)?;
    let sig = p384::ecdsa::Signature::from_der(der).map_err(|_| AuthenticationError)?;
    vk.verify_prehash(digest, &sig)
        .map_err(|_| AuthenticationError)
}

/// Whether `der` is a canonical DER ECDSA-Sig-Value for the key's curve with `0 < r, s < n`
/// (RustCrypto's strict parser): the gate every backend's input passes first.
fn well_formed(alg: SignatureAlgorithm, der: &[u8]) -> bool {
    if der.len() > max_signature_len(alg) {
        return false;
    }
    match alg {
        SignatureAlgorithm::None => false,
        SignatureAlgorithm::EcdsaP256Sha256 => p256::ecdsa::Signature::from_der(der).is_ok(),
        SignatureAlgorithm::EcdsaP384Sha384 => p384::ecdsa::Signature::from_der(der).is_ok(),
    }
}

/// Verifies the footer signature `der` over `message` (header and body, in memory) with
/// `key`, on `backend`.
///
/// # Errors
/// The opaque [`AuthenticationError`] for a malformed or wrong signature.
pub fn verify_message(
    backend: AeadBackend,
    key: &SignerPublicKey,
    message: &[u8],
    der: &[u8],
) -> Result<(), AuthenticationError> {
    if !well_formed(key.alg, der) {
        return Err(AuthenticationError);
    }
    match backend {
        AeadBackend::RustCrypto => {
            let mut v = StreamVerifier::new(key.clone());
            v.update(message);
            v.verify(der)
        }
        AeadBackend::Ring => {
            let alg: &'static ring::signature::EcdsaVerificationAlgorithm = match key.alg {
                SignatureAlgorithm::EcdsaP256Sha256 => &ring::signature::ECDSA_P256_SHA256_ASN1,
                SignatureAlgorithm::EcdsaP384Sha384 => &ring::signature::ECDSA_P384_SHA384_ASN1,
                SignatureAlgorithm::None => return Err(AuthenticationError),
            };
            ring::signature::UnparsedPublicKey::new(alg, &key.uncompressed)
                .verify(message, der)
                .map_err(|_| AuthenticationError)
        }
        #[cfg(feature = "aws-lc")]
        #[allow(
            unreachable_patterns,
            reason = "the AwsLc variant exists once the provider enum has it"
        )]
        _ => verify_aws_lc(key, message, der),
    }
}

/// `aws-lc-rs`: the same ASN.1 verifiers as `ring`, on the uncompressed point.
#[cfg(feature = "aws-lc")]
pub fn verify_aws_lc(
    key: &SignerPublicKey,
    message: &[u8],
    der: &[u8],
) -> Result<(), AuthenticationError> {
    use aws_lc_rs::signature as sig;
    if !well_formed(key.alg, der) {
        return Err(AuthenticationError);
    }
    let alg: &'static sig::EcdsaVerificationAlgorithm = match key.alg {
        SignatureAlgorithm::EcdsaP256Sha256 => &sig::ECDSA_P256_SHA256_ASN1,
        SignatureAlgorithm::EcdsaP384Sha384 => &sig::ECDSA_P384_SHA384_ASN1,
        SignatureAlgorithm::None => return Err(AuthenticationError),
    };
    sig::UnparsedPublicKey::new(alg, &key.uncompressed)
        .verify(message, der)
        .map_err(|_| AuthenticationError)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn public_keys_are_decoded_strictly() {
        let sk = p384::ecdsa::SigningKey::from_slice(&[7u8; 48]).unwrap();
        let point = sk.verifying_key().to_encoded_point(true);
        let alg = SignatureAlgorithm::EcdsaP384Sha384;
        let key = SignerPublicKey::from_compressed(alg, point.as_bytes()).unwrap();
        assert_eq!(key.uncompressed_bytes().len(), 97);
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(point.as_bytes());
        assert_eq!(SignerPublicKey::from_context_value(alg, &b64), Some(key));
        // Unpadded, uncompressed, wrong curve, wrong prefix.
        assert!(SignerPublicKey::from_context_value(alg, b64.trim_end_matches('=')).is_none());
        let full = sk.verifying_key().to_encoded_point(false);
        assert!(SignerPublicKey::from_compressed(alg, full.as_bytes()).is_none());
        assert!(SignerPublicKey::from_compressed(
            SignatureAlgorithm::EcdsaP256Sha256,
            point.as_bytes()
        )
        .is_none());
        let mut bad = point.as_bytes().to_vec();
        bad[0] = 4;
        assert!(SignerPublicKey::from_compressed(alg, &bad).is_none());
        assert!(SignerPublicKey::from_compressed(alg, &[0]).is_none());
    }
}

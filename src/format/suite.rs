//! The ESDK algorithm suites (`framework/algorithm-suites.md`) and the commitment policy
//! (`client-apis/decrypt.md`, "commitment policy").
//!
//! fragseal seals only with the two key-committing suites of message format version 2
//! ([`AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY`], the default, and
//! [`AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384`]). It opens both always,
//! and the nine non-committing suites of format version 1 only under
//! [`CommitmentPolicy::RequireEncryptAllowDecrypt`].
//!
//! Spec (algorithm-suites.md, "Supported Algorithm Suites"): every suite uses AES-GCM with a
//! 12-byte IV and a 16-byte authentication tag; the table gives, per suite id, the message
//! format version, the encryption key length, the key derivation (identity or HKDF with a
//! hash), the signature algorithm, and the commitment (none, or HKDF-derived, 32 bytes).

use crate::crypto::kdf::COMMIT_KEY_LEN;

/// Length of every suite's AES-GCM IV.
pub const IV_LEN: usize = 12;
/// Length of every suite's AES-GCM authentication tag.
pub const TAG_LEN: usize = 16;

/// An ESDK algorithm suite. Variant names are the ESDK specification's suite names.
#[allow(
    non_camel_case_types,
    reason = "the ESDK specification's suite names, as every ESDK spells them"
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlgorithmSuite {
    /// `0x0014`: AES-128-GCM, no key derivation, no signature (format version 1).
    AES_128_GCM_IV12_TAG16_NO_KDF,
    /// `0x0046`: AES-192-GCM, no key derivation, no signature (format version 1).
    AES_192_GCM_IV12_TAG16_NO_KDF,
    /// `0x0078`: AES-256-GCM, no key derivation, no signature (format version 1).
    AES_256_GCM_IV12_TAG16_NO_KDF,
    /// `0x0114`: AES-128-GCM, HKDF-SHA256, no signature (format version 1).
    AES_128_GCM_IV12_TAG16_HKDF_SHA256,
    /// `0x0146`: AES-192-GCM, HKDF-SHA256, no signature (format version 1).
    AES_192_GCM_IV12_TAG16_HKDF_SHA256,
    /// `0x0178`: AES-256-GCM, HKDF-SHA256, no signature (format version 1).
    AES_256_GCM_IV12_TAG16_HKDF_SHA256,
    /// `0x0214`: AES-128-GCM, HKDF-SHA256, ECDSA P-256 with SHA-256 (format version 1).
    AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,
    /// `0x0346`: AES-192-GCM, HKDF-SHA384, ECDSA P-384 with SHA-384 (format version 1).
    AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
    /// `0x0378`: AES-256-GCM, HKDF-SHA384, ECDSA P-384 with SHA-384 (format version 1).
    AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
    /// `0x0478`: AES-256-GCM, HKDF-SHA512, key commitment, no signature (format version 2).
    /// fragseal's default.
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    /// `0x0578`: AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384 with SHA-384 (format
    /// version 2). The ESDKs' default.
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
}

/// How a suite turns the data key into the message's encryption key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KdfAlgorithm {
    /// Identity: the data key is the encryption key (the spec's "identity KDF").
    None,
    /// HKDF with SHA-256.
    HkdfSha256,
    /// HKDF with SHA-384.
    HkdfSha384,
    /// HKDF with SHA-512 (the committing suites; it also derives the commit key).
    HkdfSha512,
}

/// A suite's message signature (the footer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// No footer.
    None,
    /// ECDSA over P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA over P-384 with SHA-384.
    EcdsaP384Sha384,
}

impl SignatureAlgorithm {
    /// Length of the compressed SEC1 public key point (0 for [`SignatureAlgorithm::None`]).
    pub fn compressed_point_len(self) -> usize {
        match self {
            SignatureAlgorithm::None => 0,
            SignatureAlgorithm::EcdsaP256Sha256 => 33,
            SignatureAlgorithm::EcdsaP384Sha384 => 49,
        }
    }
}

impl AlgorithmSuite {
    /// Every suite, in id order.
    pub const ALL: [AlgorithmSuite; 11] = [
        AlgorithmSuite::AES_128_GCM_IV12_TAG16_NO_KDF,
        AlgorithmSuite::AES_192_GCM_IV12_TAG16_NO_KDF,
        AlgorithmSuite::AES_256_GCM_IV12_TAG16_NO_KDF,
        AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256,
        AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA256,
        AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA256,
        AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,
        AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    ];

    /// The two-byte suite id on the wire.
    pub fn id(self) -> u16 {
        match self {
            AlgorithmSuite::AES_128_GCM_IV12_TAG16_NO_KDF => 0x0014,
            AlgorithmSuite::AES_192_GCM_IV12_TAG16_NO_KDF => 0x0046,
            AlgorithmSuite::AES_256_GCM_IV12_TAG16_NO_KDF => 0x0078,
            AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256 => 0x0114,
            AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA256 => 0x0146,
            AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA256 => 0x0178,
            AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 => 0x0214,
            AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 => 0x0346,
            AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 => 0x0378,
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY => 0x0478,
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 => 0x0578,
        }
    }

    /// The suite with this wire id, if it is one of the eleven.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The ESDK specification's name of the suite.
    pub fn name(self) -> &'static str {
        match self {
            AlgorithmSuite::AES_128_GCM_IV12_TAG16_NO_KDF => "AES_128_GCM_IV12_TAG16_NO_KDF",
            AlgorithmSuite::AES_192_GCM_IV12_TAG16_NO_KDF => "AES_192_GCM_IV12_TAG16_NO_KDF",
            AlgorithmSuite::AES_256_GCM_IV12_TAG16_NO_KDF => "AES_256_GCM_IV12_TAG16_NO_KDF",
            AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256 => {
                "AES_128_GCM_IV12_TAG16_HKDF_SHA256"
            }
            AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA256 => {
                "AES_192_GCM_IV12_TAG16_HKDF_SHA256"
            }
            AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA256 => {
                "AES_256_GCM_IV12_TAG16_HKDF_SHA256"
            }
            AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 => {
                "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256"
            }
            AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 => {
                "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384"
            }
            AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 => {
                "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384"
            }
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY => {
                "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"
            }
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 => {
                "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"
            }
        }
    }

    /// The message format version the suite is written in: 1 for the non-committing suites,
    /// 2 for the committing ones.
    pub fn message_format_version(self) -> u8 {
        if self.is_committing() {
            2
        } else {
            1
        }
    }

    /// The AES-GCM encryption key length in bytes (16, 24 or 32).
    pub fn encryption_key_len(self) -> usize {
        match self {
            AlgorithmSuite::AES_128_GCM_IV12_TAG16_NO_KDF
            | AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256
            | AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 => 16,
            AlgorithmSuite::AES_192_GCM_IV12_TAG16_NO_KDF
            | AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA256
            | AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 => 24,
            AlgorithmSuite::AES_256_GCM_IV12_TAG16_NO_KDF
            | AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA256
            | AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
            | AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY
            | AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 => 32,
        }
    }

    /// The data key length in bytes (the KDF input key length): equal to the encryption key
    /// length for every suite.
    pub fn data_key_len(self) -> usize {
        self.encryption_key_len()
    }

    /// The key derivation.
    pub fn kdf(self) -> KdfAlgorithm {
        match self {
            AlgorithmSuite::AES_128_GCM_IV12_TAG16_NO_KDF
            | AlgorithmSuite::AES_192_GCM_IV12_TAG16_NO_KDF
            | AlgorithmSuite::AES_256_GCM_IV12_TAG16_NO_KDF => KdfAlgorithm::None,
            AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256
            | AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA256
            | AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA256
            | AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 => {
                KdfAlgorithm::HkdfSha256
            }
            AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
            | AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 => {
                KdfAlgorithm::HkdfSha384
            }
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY
            | AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 => {
                KdfAlgorithm::HkdfSha512
            }
        }
    }

    /// The signature algorithm (the footer).
    pub fn signature(self) -> SignatureAlgorithm {
        match self {
            AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 => {
                SignatureAlgorithm::EcdsaP256Sha256
            }
            AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
            | AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
            | AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 => {
                SignatureAlgorithm::EcdsaP384Sha384
            }
            _ => SignatureAlgorithm::None,
        }
    }

    /// Whether the message ends with a signature footer.
    pub fn is_signed(self) -> bool {
        self.signature() != SignatureAlgorithm::None
    }

    /// Whether the suite commits the message to its data key (a commit key in the header).
    pub fn is_committing(self) -> bool {
        matches!(
            self,
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY
                | AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
        )
    }

    /// Length of the algorithm suite data in the header: the 32-byte commit key for the
    /// committing suites, nothing for the others.
    pub fn suite_data_len(self) -> usize {
        if self.is_committing() {
            COMMIT_KEY_LEN
        } else {
            0
        }
    }

    /// The AES-GCM IV length (12 for every suite).
    pub fn iv_len(self) -> usize {
        IV_LEN
    }

    /// The AES-GCM tag length (16 for every suite).
    pub fn tag_len(self) -> usize {
        TAG_LEN
    }
}

impl core::fmt::Display for AlgorithmSuite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (0x{:04x})", self.name(), self.id())
    }
}

/// Which suites a decrypt accepts (the ESDK's commitment policy, without the
/// `ForbidEncrypt…` value: fragseal never encrypts with a non-committing suite).
///
/// Spec (client-apis/decrypt.md): "If the algorithm suite is not supported by the commitment
/// policy configured in the client decrypt MUST yield an error."
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CommitmentPolicy {
    /// Seal and open only key-committing suites (`0x0478`, `0x0578`). The default.
    #[default]
    RequireEncryptRequireDecrypt,
    /// Seal committing suites; also open the non-committing format version 1 suites. For
    /// validators and for reading messages written by ESDK 1.x. A non-committing message can
    /// be decrypted to different plaintexts under different data keys.
    RequireEncryptAllowDecrypt,
}

impl CommitmentPolicy {
    /// Whether a message in `suite` may be opened under this policy.
    pub fn allows_decrypt(self, suite: AlgorithmSuite) -> bool {
        match self {
            CommitmentPolicy::RequireEncryptRequireDecrypt => suite.is_committing(),
            CommitmentPolicy::RequireEncryptAllowDecrypt => true,
        }
    }

    /// Whether the policy opens non-committing (format version 1) suites at all.
    pub fn allows_non_committing(self) -> bool {
        self == CommitmentPolicy::RequireEncryptAllowDecrypt
    }
}

/// Whether opening requires a signed suite (`0x0578`).
///
/// Under an unsigned suite anyone who can unwrap a message's data key — a consumer holding
/// `kms:Decrypt` — can write new messages under it that open as genuine (THREATS.md,
/// `tests/forgery.rs`). A signed message's footer verifies against the public key its
/// encryption context binds, which only the sealer's private key can produce. Requiring
/// signatures on open closes the downgrade: without it, a forger simply writes `0x0478`.
/// Use [`SignaturePolicy::RequireSigned`] once every producer of a stream seals `0x0578`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignaturePolicy {
    /// Open signed and unsigned suites alike. The default (what the ESDK does).
    #[default]
    AllowUnsigned,
    /// Open only signed suites: an unsigned message is refused with
    /// [`OpenError::SignaturePolicy`](crate::OpenError::SignaturePolicy) after its header is
    /// parsed and before any keyring (KMS) call.
    RequireSigned,
}

impl SignaturePolicy {
    /// Whether a message in `suite` may be opened under this policy.
    pub fn allows_decrypt(self, suite: AlgorithmSuite) -> bool {
        match self {
            SignaturePolicy::AllowUnsigned => true,
            SignaturePolicy::RequireSigned => suite.is_signed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_distinct() {
        for suite in AlgorithmSuite::ALL {
            assert_eq!(AlgorithmSuite::from_id(suite.id()), Some(suite));
        }
        let mut ids: Vec<u16> = AlgorithmSuite::ALL.iter().map(|s| s.id()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 11);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ALL is in id order");
        assert_eq!(AlgorithmSuite::from_id(0x0479), None);
        assert_eq!(AlgorithmSuite::from_id(0), None);
    }

    #[test]
    fn properties_follow_the_spec_table() {
        // id, key length, kdf, signature, committing.
        use KdfAlgorithm as K;
        use SignatureAlgorithm as S;
        let table = [
            (0x0014, 16, K::None, S::None, false),
            (0x0046, 24, K::None, S::None, false),
            (0x0078, 32, K::None, S::None, false),
            (0x0114, 16, K::HkdfSha256, S::None, false),
            (0x0146, 24, K::HkdfSha256, S::None, false),
            (0x0178, 32, K::HkdfSha256, S::None, false),
            (0x0214, 16, K::HkdfSha256, S::EcdsaP256Sha256, false),
            (0x0346, 24, K::HkdfSha384, S::EcdsaP384Sha384, false),
            (0x0378, 32, K::HkdfSha384, S::EcdsaP384Sha384, false),
            (0x0478, 32, K::HkdfSha512, S::None, true),
            (0x0578, 32, K::HkdfSha512, S::EcdsaP384Sha384, true),
        ];
        for (id, key_len, kdf, sig, committing) in table {
            let s = AlgorithmSuite::from_id(id).expect("listed suite");
            assert_eq!(s.encryption_key_len(), key_len, "{s}");
            assert_eq!(s.data_key_len(), key_len, "{s}");
            assert_eq!(s.kdf(), kdf, "{s}");
            assert_eq!(s.signature(), sig, "{s}");
            assert_eq!(s.is_signed(), sig != S::None, "{s}");
            assert_eq!(s.is_committing(), committing, "{s}");
            assert_eq!(s.message_format_version(), if committing { 2 } else { 1 });
            assert_eq!(s.suite_data_len(), if committing { 32 } else { 0 });
            assert_eq!((s.iv_len(), s.tag_len()), (12, 16));
            assert!(s.name().starts_with(&format!("AES_{}_GCM", key_len * 8)));
        }
    }

    #[test]
    fn the_default_policy_opens_only_committing_suites() {
        let default = CommitmentPolicy::default();
        assert_eq!(default, CommitmentPolicy::RequireEncryptRequireDecrypt);
        for s in AlgorithmSuite::ALL {
            assert_eq!(default.allows_decrypt(s), s.is_committing(), "{s}");
            assert!(CommitmentPolicy::RequireEncryptAllowDecrypt.allows_decrypt(s));
        }
    }
}

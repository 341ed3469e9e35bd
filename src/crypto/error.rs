//! Typed errors of the lower-level primitives (AES-256-GCM with a caller's IV, HKDF-SHA512).

use core::fmt;

/// A primitive refused its input, or its implementation failed where it should not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// AES-GCM input longer than [`MAX_PLAINTEXT_LEN`](super::aead::MAX_PLAINTEXT_LEN)
    /// (2^36 − 32 bytes).
    PlaintextTooLong {
        /// The input length in bytes.
        len: usize,
    },
    /// HKDF-SHA512 output longer than
    /// [`HKDF_SHA512_MAX_OUTPUT`](super::kdf::HKDF_SHA512_MAX_OUTPUT) (255 × 64 bytes).
    HkdfOutputTooLong {
        /// The requested output length in bytes.
        len: usize,
    },
    /// The AES-GCM implementation refused to seal input within the limit (not expected).
    AeadSealFailed,
    /// The HKDF implementation refused to expand output within the limit (not expected).
    HkdfExpandFailed,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::PlaintextTooLong { len } => write!(
                f,
                "AES-GCM plaintext of {len} bytes exceeds the limit of {} bytes",
                super::aead::MAX_PLAINTEXT_LEN
            ),
            CryptoError::HkdfOutputTooLong { len } => write!(
                f,
                "HKDF-SHA512 output of {len} bytes exceeds the limit of {} bytes",
                super::kdf::HKDF_SHA512_MAX_OUTPUT
            ),
            CryptoError::AeadSealFailed => f.write_str("the AES-GCM implementation refused to seal"),
            CryptoError::HkdfExpandFailed => {
                f.write_str("the HKDF-SHA512 implementation refused to expand")
            }
        }
    }
}

impl std::error::Error for CryptoError {}

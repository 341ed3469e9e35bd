//! Cryptographic primitives behind one internal interface.
//!
//! - [`aead`]: AES-256-GCM on `ring` (default) or the pure-Rust `aes-gcm` crate.
//! - [`kdf`]: HKDF-SHA512 and the per-message key derivation of ESDK suite `0x0478`.
//! - [`rng`]: fast, fork-safe randomness for per-message public values (message ids).
//! - [`keys`]: secret key material types (zeroized on drop, no `Debug` of bytes, constant-time
//!   comparison).

pub mod aead;
pub mod kdf;
pub mod keys;
pub mod rng;

pub use aead::{AeadBackend, Aes256GcmKey, IV_LEN, KEY_LEN, TAG_LEN};
pub use kdf::{
    derive_message_keys, hkdf_sha512, CommitKey, KdfBackend, MessageKeys, MESSAGE_ID_LEN,
};
pub use keys::{DataKey, SecretBytes};
pub use rng::fill_random;

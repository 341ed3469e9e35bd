//! Cryptographic primitives.
//!
//! Public: [`AeadBackend`] (which AES-256-GCM implementation an engine or keyring uses, chosen
//! once in its configuration) and the secret types [`DataKey`] and [`SecretBytes`] (zeroized
//! on drop, no `Debug` of bytes, constant-time comparison, bytes exposed only through
//! `expose_secret`).
//!
//! Crate-private (reachable only with the unstable `internal` feature, as
//! `fragseal::internal::crypto`): `aead` (AES-256-GCM with caller-chosen IVs on `ring` or
//! `aes-gcm`), `error` (`CryptoError`, their typed errors), `kdf` (HKDF-SHA512 and the key derivation of suite `0x0478`) and `rng` (the
//! operating system's generator, for message ids, IVs and nonces).

internal_pub! { mod aead; }
internal_pub! { mod error; }
internal_pub! { mod kdf; }
pub mod keys;
// s5-legacy (flagged hunk): the non-committing suites' KDF and AES-GCM, and OpeningKey.
internal_pub! { mod legacy; }
internal_pub! { mod rng; }
pub mod sign;
// ECDSA verification of the signed suites.
internal_pub! { mod verify; }

pub use aead::AeadBackend;
internal_pub! { use error::CryptoError; }
internal_pub! { use aead::{Aes256GcmKey, IV_LEN, KEY_LEN, TAG_LEN}; }
internal_pub! {
    use kdf::{derive_message_keys, hkdf_sha512, CommitKey, KdfBackend, MessageKeys, MESSAGE_ID_LEN};
}
internal_pub! { use rng::fill_random; }
pub use keys::{DataKey, SecretBytes};
pub use legacy::OpeningKey;
pub use sign::{SigningBackend, SigningKey};
// the signer's public key of a signed message, as its parsed header shows it.
pub use verify::SignerPublicKey;

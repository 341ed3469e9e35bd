//! Key providers that wrap and unwrap data keys locally (the KMS-backed providers live in
//! [`crate::kms`]).
//!
//! - [`raw_aes`]: the AWS Encryption SDK's raw AES keyring form, for local keys, offline
//!   interop with other ESDKs and test vectors.

pub mod raw_aes;

pub use raw_aes::{open_with_raw_key, seal_with_raw_key, RawAesKeyring, SealOptions};

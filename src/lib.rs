//! fragseal — seal and open Kinesis Video Streams media fragments with envelope encryption.
//!
//! A sealed fragment is an AWS Encryption SDK message, format version 2, algorithm suite
//! `0x0478` (AES-256-GCM, HKDF-SHA512, key commitment, no signature), framed. See `SPEC.md`.
//!
//! Layout (one module per part of the architecture):
//! - [`format`]: the wire format — bounded reader, header and body codecs, encryption context.
//! - [`crypto`]: AES-256-GCM backends (`ring`, `aes-gcm`), HKDF-SHA512 derivations, secret types.
//! - [`kms`]: the [`kms::Kms`] trait, credentials and KMS errors, and the backends.
//! - [`error`]: the crate's error types.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cache;
pub mod crypto;
pub mod engine;
pub mod error;
pub mod format;
pub mod identity;
pub mod keyring;
pub mod kms;
pub mod message;
pub mod mkv;

pub use error::{Error, OpenError};
pub use format::EncryptionContext;

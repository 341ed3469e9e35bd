//! fragseal — seal and open Kinesis Video Streams media fragments with envelope encryption.
//!
//! A sealed fragment is an AWS Encryption SDK message, format version 2, algorithm suite
//! `0x0478` (AES-256-GCM, HKDF-SHA512, key commitment, no signature), framed. See `SPEC.md`.
//!
//! Layout (one module per part of the architecture):
//! - [`format`](mod@format): the wire format — bounded reader, header and body codecs,
//!   encryption context, encrypted data keys.
//! - [`message`]: sealing and opening one message (one-shot, into a buffer, streaming, by range).
//! - [`identity`]: binding a fragment's identity (stream, number, timestamp, track) into the
//!   message id.
//! - [`crypto`]: AES-256-GCM backends (`ring`, `aes-gcm`), HKDF-SHA512 derivations, secret types.
//! - [`keyring`]: the ESDK raw AES keyring, for local keys and offline interop.
//! - [`kms`]: the [`kms::Kms`] trait, credentials and KMS errors, and the backends
//!   ([`kms::local::LocalKms`], and `kms::aws::AwsKms` behind the `aws` feature).
//! - [`cache`]: the per-credential data-key cache.
//! - [`engine`]: the engine — KMS + cache + message, single fragments and rayon batches.
//! - [`mkv`]: a bounded EBML reader that splits Matroska streams into fragments.
//! - [`error`]: the crate's error types.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod arn;
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

/// The README's code examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

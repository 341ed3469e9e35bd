//! fragseal — seal and open Kinesis Video Streams media fragments with envelope encryption.
//!
//! A sealed fragment is an AWS Encryption SDK message, format version 2, algorithm suite
//! `0x0478` (AES-256-GCM, HKDF-SHA512, key commitment, no signature), framed. See `SPEC.md`.
//!
//! Layout (one module per part of the architecture):
//! - [`format`](mod@format): the wire format's values — encryption context, encrypted data
//!   keys, the parsed header, open limits and precise format errors.
//! - [`message`]: sealing and opening one message (one-shot, into a buffer, streaming, by range).
//! - [`identity`]: binding a fragment's identity (stream, number, timestamp, track) into the
//!   message id.
//! - [`crypto`]: the AES-256-GCM provider choice ([`crypto::AeadBackend`]) and the secret
//!   types ([`crypto::DataKey`], [`crypto::SecretBytes`]).
//! - [`keyring`]: the ESDK raw AES keyring, for local keys and offline interop.
//! - [`kms`]: the [`kms::Kms`] trait, credentials and KMS errors, and the backends
//!   ([`kms::local::LocalKms`], and `kms::aws::AwsKms` behind the `aws` feature).
//! - [`cache`]: the per-credential data-key cache.
//! - [`engine`]: the engine — KMS + cache + message, single fragments and rayon batches.
//! - [`mkv`]: a bounded EBML reader that splits Matroska streams into fragments.
//! - [`kvs`]: Kinesis Video Streams with server-side encryption (streams, PutMedia, GetMedia,
//!   ListFragments, IAM authorization of `kinesisvideo:` actions, stores).
//! - [`error`]: the crate's error types.
//! - [`vectors`]: the AWS test-vector framework's manifests, for validators.
//!
//! The codec, the raw-IV AEAD calls, HKDF, the random source and the vector-only `danger`
//! builders are crate-private. Fuzz targets, the vector generator and the tests that forge
//! messages reach them through the unstable `internal` cargo feature, as `fragseal::internal`;
//! it is not part of the stable interface.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Declares an item (module, re-export, function, type, constant) `pub` with the `internal`
/// feature and `pub(crate)` without it: the codec, raw-IV AEAD, HKDF and RNG pieces that fuzz
/// targets and the vector generator need, and that are not part of the stable API.
macro_rules! internal_pub {
    ($(#[$m:meta])* $kw:ident $($rest:tt)*) => {
        #[cfg(feature = "internal")]
        $(#[$m])*
        pub $kw $($rest)*
        #[cfg(not(feature = "internal"))]
        #[allow(dead_code, unused_imports, reason = "parts are used only through the `internal` feature")]
        $(#[$m])*
        pub(crate) $kw $($rest)*
    };
}

pub mod arn;
pub mod cache;
pub mod crypto;
pub mod engine;
pub mod error;
pub mod format;
pub mod identity;
pub mod keyring;
pub mod kms;
pub mod kvs;
pub mod message;
pub mod mkv;
#[cfg(feature = "server")]
pub mod server;
mod strict_json;
pub mod vectors;

pub use error::{ConfigError, Error, KeyringError, OpenError, SealError};
pub use format::EncryptionContext;
pub use format::{AlgorithmSuite, CommitmentPolicy, SignaturePolicy};

/// UNSTABLE: the codec and danger APIs, for fuzz targets, the vector generator and the tests
/// that build malformed messages. Only with the `internal` cargo feature.
///
/// Nothing here is part of the stable interface: it changes without notice, in any release.
/// The raw-IV AEAD calls and the `danger` builders check nothing and must never seal real
/// data.
#[cfg(feature = "internal")]
pub mod internal {
    /// The wire-format codec: bounded reader, header, body, encrypted data keys, errors, and
    /// the frame parser (the one frame-prefix parser every open uses).
    pub mod format {
        pub use crate::format::{body, context, edk, error, footer, header, reader, suite, Reader};
        pub use crate::message::frame::read_frame;
    }
    /// AES-256-GCM with caller-chosen IVs, HKDF-SHA512 and the random source.
    pub mod crypto {
        pub use crate::crypto::{aead, kdf, keys, rng, verify, CryptoError};
    }
    /// Writing deliberately malformed messages, and sealing with a fixed message id (and
    /// `RawAesKeyring::danger_wrap_with_fixed_iv_for_vectors`, a method only with this feature).
    pub mod danger {
        pub use crate::message::danger::*;
        pub use crate::message::danger_seal_signed_with_fixed_message_id_for_vectors;
        pub use crate::message::danger_seal_with_fixed_message_id_for_vectors;
    }
}

/// The README's code examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

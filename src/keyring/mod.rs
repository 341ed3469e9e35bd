//! Key providers that wrap and unwrap data keys locally (the KMS-backed providers live in
//! [`crate::kms`]).
//!
//! - [`raw_aes`]: the AWS Encryption SDK's raw AES keyring form, for local keys, offline
//!   interop with other ESDKs and test vectors.

//! ```
//! use fragseal::crypto::SecretBytes;
//! use fragseal::keyring::{open_with_raw_key, seal_with_raw_key, RawAesKeyring, SealOptions};
//! use fragseal::message::OpenLimits;
//! use fragseal::EncryptionContext;
//!
//! # fn main() -> Result<(), fragseal::Error> {
//! let keyring = RawAesKeyring::new("my-namespace", "my-key", SecretBytes::random(32))?;
//! let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", "arn:aws:kinesisvideo:...");
//! let sealed = seal_with_raw_key(&keyring, &SealOptions::new(&ec), b"fragment")?;
//! let opened = open_with_raw_key(&keyring, &sealed, None, &OpenLimits::default())?;
//! assert_eq!(opened, b"fragment");
//! # Ok(()) }
//! ```

pub mod raw_aes;

pub use raw_aes::{open_with_raw_key, seal_with_raw_key, RawAesKeyring, SealOptions};

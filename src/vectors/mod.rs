//! The AWS Crypto Tools test-vector framework (awslabs/aws-crypto-tools-test-vector-framework),
//! for validators: run other implementations' `awses-decrypt` manifests against fragseal, and
//! write fragseal's own in the same format.
//!
//! - [`KeysManifest`]: keys manifests (raw AES, raw RSA private / public PEM, `aws-kms`).
//! - [`DecryptManifest`]: `awses-decrypt` manifests, versions 1 to 5.
//! - [`Source`]: where `file://` links resolve — a directory, or a zip archive read in place;
//!   a link that escapes its root (`../`, absolute paths, symbolic links out) is refused.
//! - [`run_decrypt`]: every test's [`TestResult`]: passed, failed with the reason, or skipped
//!   with the reason. A negative test (an expected error) passes only when fragseal refuses.
//! - [`EncryptManifest`] and [`write_encrypt`]: an `awses-encrypt` manifest in, ciphertexts
//!   plus matching decrypt and keys manifests out.
//!
//! Skipped, always with the reason: `aws-kms` keys (a vector's KMS ciphertexts were made by
//! AWS KMS, whose key material no local KMS holds), key types other than raw AES and raw RSA,
//! suites this build does not open, and non-committing suites unless the commitment policy
//! is [`CommitmentPolicy::RequireEncryptAllowDecrypt`].
//!
//! ```no_run
//! use fragseal::vectors::{load_decrypt, run_decrypt, RunOptions};
//! # fn main() -> Result<(), fragseal::vectors::VectorError> {
//! let (source, manifest, keys) = load_decrypt("python-2.3.0.zip".as_ref())?;
//! let report = run_decrypt(&source, &manifest, &keys, &RunOptions::default());
//! let (passed, failed, skipped) = report.counts();
//! println!("{passed} passed, {failed} failed, {skipped} skipped");
//! # Ok(()) }
//! ```
//!
//! The raw RSA keyring the RSA tests use is a validator keyring: see
//! [`RawRsaKeyring`](crate::keyring::RawRsaKeyring) (RUSTSEC-2023-0071).

mod encrypt;
mod json;
mod keys;
mod keyset;
mod manifest;
mod runner;
mod source;
mod suites;

pub use encrypt::{write_encrypt, EncryptManifest, EncryptOutcome, EncryptTest, EncryptedOutput};
pub use keys::{KeyEntry, KeyMaterial, KeysManifest, KEYS_VERSIONS};
pub use manifest::{
    rsa_padding, rsa_padding_names, DecryptManifest, DecryptTest, Expectation, KeyDescription,
    RawAlgorithm, DECRYPT_VERSIONS,
};
pub use runner::{load_decrypt, run_decrypt, Outcome, Report, RunOptions, TestResult};
pub use source::{relative_path, Source, MAX_FILE_LEN};
pub use suites::{opened, CommitmentPolicy, SuiteInfo};

use core::fmt;
use std::path::Path;

/// A manifest could not be read, parsed or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum VectorError {
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A zip archive is unreadable, or lacks a linked file.
    Zip(String),
    /// A `file://` link that is malformed or leaves its root.
    Link {
        /// The link.
        uri: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A file larger than [`MAX_FILE_LEN`].
    TooLarge {
        /// The file.
        what: String,
    },
    /// A manifest that is malformed, of the wrong type, or refers to a missing key.
    Manifest(String),
    /// A manifest version this module does not read.
    UnsupportedVersion {
        /// The manifest type.
        manifest: String,
        /// The version.
        version: u64,
    },
    /// An internal failure (a poisoned lock).
    Internal(&'static str),
}

impl VectorError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        VectorError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn manifest(msg: String) -> Self {
        VectorError::Manifest(msg)
    }
}

impl fmt::Display for VectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VectorError::Io { path, source } => write!(f, "{path}: {source}"),
            VectorError::Zip(e) => write!(f, "zip archive: {e}"),
            VectorError::Link { uri, reason } => write!(f, "link {uri:?} refused: {reason}"),
            VectorError::TooLarge { what } => {
                write!(f, "{what} is larger than {MAX_FILE_LEN} bytes")
            }
            VectorError::Manifest(m) => f.write_str(m),
            VectorError::UnsupportedVersion { manifest, version } => {
                write!(f, "{manifest} manifest version {version} is not supported")
            }
            VectorError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for VectorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VectorError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The [`Source`] and bytes of the manifest of type `manifest_type` at `path`: a manifest
/// file, or a directory / `.zip` archive holding `manifest.json` or exactly one top-level
/// JSON file of that type.
pub(crate) fn open_manifest(
    path: &Path,
    manifest_type: &str,
) -> Result<(Source, Vec<u8>), VectorError> {
    let is_zip = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    let source = if is_zip {
        Source::zip_file(path)?
    } else if path.is_dir() {
        Source::dir(path)?
    } else {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let source = Source::dir(dir)?;
        let bytes = std::fs::read(path).map_err(|e| VectorError::io(path, e))?;
        return Ok((source, bytes));
    };
    let names = source.top_level_json()?;
    if names.iter().any(|n| n == "manifest.json") {
        let bytes = source.read_path("manifest.json")?;
        if manifest_type_of(&bytes).as_deref() == Some(manifest_type) {
            return Ok((source, bytes));
        }
    }
    let mut found = Vec::new();
    for n in &names {
        let bytes = source.read_path(n)?;
        if manifest_type_of(&bytes).as_deref() == Some(manifest_type) {
            found.push((n.clone(), bytes));
        }
    }
    match found.len() {
        1 => Ok((source, found.remove(0).1)),
        0 => Err(VectorError::Manifest(format!(
            "{}: no top-level {manifest_type} manifest",
            path.display()
        ))),
        _ => Err(VectorError::Manifest(format!(
            "{}: several {manifest_type} manifests ({}); name one",
            path.display(),
            found
                .iter()
                .map(|f| f.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn manifest_type_of(bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    Some(v.get("manifest")?.get("type")?.as_str()?.to_owned())
}

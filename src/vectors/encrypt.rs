//! `awses-encrypt` manifests (`features/0003-awses-message-encryption.md`, versions 1 and 2;
//! the master-key form of the ESDKs' version 4 and the `encryption-scenario` form of version
//! 5) and writing their vectors: ciphertexts, plaintexts, a matching `awses-decrypt` version 2
//! manifest and the keys manifest, that other implementations check themselves against.
//!
//! fragseal writes framed messages of the suites it seals; every other test (another suite,
//! `frame-size` 0, keys it cannot use) is reported with the reason and left out of the
//! decrypt manifest.

use super::json::{self, Obj};
use super::keys::KeysManifest;
use super::keyset::{For, KeySet};
use super::manifest::{key_description, master_keys, KeyDescription};
use super::{suites, VectorError};
use crate::crypto::{AeadBackend, DataKey};
use crate::format::EncryptionContext;
use crate::message::{self, SealParams};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The `awses-encrypt` versions this module reads.
pub const ENCRYPT_VERSIONS: [u64; 4] = [1, 2, 4, 5];

/// A parsed `awses-encrypt` manifest.
#[derive(Debug)]
pub struct EncryptManifest {
    /// Its `manifest.version`.
    pub version: u64,
    /// The keys manifest link.
    pub keys: String,
    /// Plaintext names and sizes in bytes.
    pub plaintexts: BTreeMap<String, u64>,
    /// The tests, in name order.
    pub tests: Vec<EncryptTest>,
}

/// One test of an encrypt manifest.
#[derive(Debug, Clone)]
pub struct EncryptTest {
    /// The test's id.
    pub name: String,
    /// The plaintext's name.
    pub plaintext: String,
    /// The algorithm suite id.
    pub suite: u16,
    /// Frame length (0: non-framed).
    pub frame_size: u64,
    /// The encryption context.
    pub encryption_context: Vec<(String, String)>,
    /// The keys to encrypt for.
    pub encrypt_keys: KeyDescription,
    /// The master keys (versions 1 to 4) or key description (version 5) for the decrypt
    /// manifest, as JSON.
    pub decrypt_keys_json: Value,
    /// The keys of the decrypt manifest.
    pub decrypt_keys: KeyDescription,
}

/// What happened to one encrypt test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncryptOutcome {
    /// Written: its ciphertext and its test in the decrypt manifest.
    Written,
    /// Not written, and why (a suite or framing fragseal does not write, a key it cannot use).
    Skipped(String),
    /// Sealing failed.
    Failed(String),
}

/// Every encrypt test's outcome, in name order.
#[derive(Debug, Clone, Default)]
pub struct EncryptedOutput {
    /// Test name and outcome.
    pub results: Vec<(String, EncryptOutcome)>,
}

impl EncryptManifest {
    /// Parses an encrypt manifest.
    ///
    /// # Errors
    /// [`VectorError::Manifest`] / [`VectorError::UnsupportedVersion`].
    pub fn parse(bytes: &[u8]) -> Result<Self, VectorError> {
        let doc = json::parse(bytes, "encrypt manifest")?;
        let top = Obj::new(&doc, "encrypt manifest")?;
        let version = json::manifest_header(&top, "awses-encrypt", &ENCRYPT_VERSIONS)?;
        let keys = top.str("keys")?.to_owned();
        let mut plaintexts = BTreeMap::new();
        for (name, size) in top.obj("plaintexts")?.entries() {
            let size = size.as_u64().ok_or_else(|| {
                VectorError::manifest(format!("plaintext {name:?}: size is not an integer"))
            })?;
            if size > super::MAX_FILE_LEN {
                return Err(VectorError::TooLarge { what: name.clone() });
            }
            plaintexts.insert(name.clone(), size);
        }
        let mut tests = Vec::new();
        for (name, value) in top.obj("tests")?.entries() {
            let outer = Obj::new(value, name)?;
            let t = if version == 5 {
                outer.obj("encryption-scenario")?
            } else {
                outer
            };
            let suite_hex = t.opt_str("algorithm")?.or(t.opt_str("algorithmSuiteId")?);
            let suite = suite_hex
                .and_then(|h| u16::from_str_radix(h, 16).ok())
                .ok_or_else(|| VectorError::manifest(format!("test {name:?}: no algorithm")))?;
            let (encrypt_keys, decrypt_keys_json, decrypt_keys) = if version == 5 {
                let enc = t.get("encryptKeyDescription").unwrap_or(&Value::Null);
                let dec = t.get("decryptKeyDescription").unwrap_or(enc);
                (
                    key_description(enc, name)?,
                    dec.clone(),
                    key_description(dec, name)?,
                )
            } else {
                let list = t.array("master-keys")?;
                let d = master_keys(list, name)?;
                (d.clone(), Value::Array(list.to_vec()), d)
            };
            tests.push(EncryptTest {
                name: name.clone(),
                plaintext: t.str("plaintext")?.to_owned(),
                suite,
                frame_size: t.opt_u64("frame-size")?.unwrap_or(0),
                encryption_context: t.string_map("encryption-context")?,
                encrypt_keys,
                decrypt_keys_json,
                decrypt_keys,
            });
        }
        Ok(Self {
            version,
            keys,
            plaintexts,
            tests,
        })
    }
}

/// Reads the encrypt manifest at `manifest_path` (a file, a directory or a `.zip`) and its
/// keys, and writes into `out_dir`: `plaintexts/NAME` (random bytes of each size),
/// `ciphertexts/TEST`, `keys.json` (the keys manifest, as read) and `manifest.json` (an
/// `awses-decrypt` version 2 manifest of the written tests).
///
/// # Errors
/// [`VectorError`] when a manifest cannot be read or parsed, or a file cannot be written.
/// A test that cannot be written is not an error: see [`EncryptedOutput`].
pub fn write_encrypt(
    manifest_path: &Path,
    out_dir: &Path,
    backend: AeadBackend,
) -> Result<EncryptedOutput, VectorError> {
    let (source, bytes) = super::open_manifest(manifest_path, "awses-encrypt")?;
    let manifest = EncryptManifest::parse(&bytes)?;
    let keys_bytes = source.read(&manifest.keys)?;
    let keys = KeysManifest::parse(&keys_bytes)?;
    for sub in ["plaintexts", "ciphertexts"] {
        let d = out_dir.join(sub);
        fs::create_dir_all(&d).map_err(|e| VectorError::io(&d, e))?;
    }
    let mut plaintexts = BTreeMap::new();
    for (name, size) in &manifest.plaintexts {
        if !safe_name(name) {
            return Err(VectorError::manifest(format!(
                "plaintext name {name:?} is not usable as a file name"
            )));
        }
        let mut p = vec![0u8; usize::try_from(*size).unwrap_or(0)];
        getrandom::getrandom(&mut p)
            .map_err(|_| VectorError::Internal("the OS random source failed"))?;
        write(&out_dir.join("plaintexts").join(name), &p)?;
        plaintexts.insert(name.clone(), p);
    }
    let mut out = EncryptedOutput::default();
    let mut tests = Map::new();
    for test in &manifest.tests {
        let outcome = match encrypt_one(test, &keys, &plaintexts, backend) {
            Ok(ciphertext) => {
                write(&out_dir.join("ciphertexts").join(&test.name), &ciphertext)?;
                tests.insert(
                    test.name.clone(),
                    json!({
                        "description": format!(
                            "fragseal: suite {:04X}, frame size {}, plaintext {}",
                            test.suite, test.frame_size, test.plaintext
                        ),
                        "ciphertext": format!("file://ciphertexts/{}", test.name),
                        "master-keys": decrypt_master_keys(test)?,
                        "result": {"output": {"plaintext": format!("file://plaintexts/{}", test.plaintext)}},
                    }),
                );
                EncryptOutcome::Written
            }
            Err(o) => o,
        };
        out.results.push((test.name.clone(), outcome));
    }
    write(&out_dir.join("keys.json"), &keys_bytes)?;
    let decrypt = json!({
        "manifest": {"type": "awses-decrypt", "version": 2},
        "client": {"name": "fragseal", "version": env!("CARGO_PKG_VERSION")},
        "keys": "file://keys.json",
        "tests": Value::Object(tests),
    });
    let text = serde_json::to_vec_pretty(&decrypt)
        .map_err(|e| VectorError::manifest(format!("writing the decrypt manifest: {e}")))?;
    write(&out_dir.join("manifest.json"), &text)?;
    Ok(out)
}

/// The decrypt manifest's master keys: the test's own list (versions 1 to 4); a version 5
/// key description is written as master keys when it is raw keys only.
fn decrypt_master_keys(test: &EncryptTest) -> Result<Value, VectorError> {
    if test.decrypt_keys_json.is_array() {
        return Ok(test.decrypt_keys_json.clone());
    }
    fn flat(d: &KeyDescription, out: &mut Vec<Value>) -> Option<()> {
        match d {
            KeyDescription::Raw {
                provider_id,
                key,
                algorithm,
            } => {
                let mut v = json!({"type": "raw", "provider-id": provider_id, "key": key});
                match algorithm {
                    super::RawAlgorithm::Aes => v["encryption-algorithm"] = json!("aes"),
                    super::RawAlgorithm::Rsa(p) => {
                        let (alg, hash) = super::rsa_padding_names(*p);
                        v["encryption-algorithm"] = json!("rsa");
                        v["padding-algorithm"] = json!(alg);
                        if let Some(h) = hash {
                            v["padding-hash"] = json!(h);
                        }
                    }
                }
                out.push(v);
                Some(())
            }
            KeyDescription::AwsKms { key } => {
                out.push(json!({"type": "aws-kms", "key": key}));
                Some(())
            }
            KeyDescription::Multi(all) => all.iter().try_for_each(|d| flat(d, out)),
            KeyDescription::Unsupported(_) => None,
        }
    }
    let mut out = Vec::new();
    flat(&test.decrypt_keys, &mut out)
        .map(|()| Value::Array(out))
        .ok_or_else(|| VectorError::manifest(format!("test {:?}: decrypt keys", test.name)))
}

fn encrypt_one(
    test: &EncryptTest,
    keys: &KeysManifest,
    plaintexts: &BTreeMap<String, Vec<u8>>,
    backend: AeadBackend,
) -> Result<Vec<u8>, EncryptOutcome> {
    let skip = |s: String| Err(EncryptOutcome::Skipped(s));
    if !safe_name(&test.name) {
        return skip("the test name is not usable as a file name".into());
    }
    if !suites::sealed_by_fragseal(test.suite) {
        return skip(format!(
            "fragseal does not encrypt with suite 0x{:04X}",
            test.suite
        ));
    }
    let Ok(frame_length) = u32::try_from(test.frame_size) else {
        return skip("frame size above 2^32 - 1".into());
    };
    if frame_length == 0 {
        return skip("non-framed message: fragseal writes framed messages only".into());
    }
    let Some(plaintext) = plaintexts.get(&test.plaintext) else {
        return Err(EncryptOutcome::Failed(format!(
            "no plaintext {:?}",
            test.plaintext
        )));
    };
    let set = KeySet::build(&test.encrypt_keys, keys, For::Encrypt);
    if !set.unsupported.is_empty() {
        let mut why = set.unsupported.clone();
        why.dedup();
        return skip(why.join("; "));
    }
    let decryptable = KeySet::build(&test.decrypt_keys, keys, For::Decrypt);
    if decryptable.keys.is_empty() {
        return skip("no key of the test can decrypt".into());
    }
    let mut ec = EncryptionContext::new();
    for (k, v) in &test.encryption_context {
        ec = ec.with(k.clone(), v.clone());
    }
    let data_key = DataKey::generate();
    let mut edks = Vec::with_capacity(set.keys.len());
    for k in &set.keys {
        edks.push(
            k.wrap(data_key.expose_secret(), &ec)
                .map_err(|e| EncryptOutcome::Failed(e.to_string()))?,
        );
    }
    let mut params = SealParams::new(&ec, &edks);
    params.frame_length = frame_length;
    params.backend = backend;
    message::seal(&data_key, &params, plaintext).map_err(|e| EncryptOutcome::Failed(e.to_string()))
}

fn safe_name(n: &str) -> bool {
    !n.is_empty()
        && n != "."
        && n != ".."
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), VectorError> {
    fs::write(path, bytes).map_err(|e| VectorError::io(path, e))
}

//! Running a decrypt manifest: one [`TestResult`] per test.
//!
//! A test runs when fragseal holds at least one of its keys that matches an encrypted data
//! key of the message, and fragseal opens the message's algorithm suite; otherwise it is
//! skipped with the reason. A positive test passes when one-shot *and* streaming decryption
//! both return the expected plaintext; a negative test passes only when both refuse.

use super::keys::KeysManifest;
use super::keyset::{For, KeySet};
use super::manifest::{DecryptManifest, DecryptTest, Expectation};
use super::source::Source;
use super::suites::{self, CommitmentPolicy, SuiteInfo};
use super::VectorError;
use crate::crypto::{AeadBackend, SecretBytes};
use crate::error::OpenError;
use crate::format::{EncryptionContext, OpenLimits};
use crate::identity::IdentityCheck;
use crate::message::{self, OpenParams, SealedStream};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

/// How to run a manifest.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The commitment policy (default [`CommitmentPolicy::RequireEncryptRequireDecrypt`]:
    /// tests of non-committing suites are skipped).
    pub commitment_policy: CommitmentPolicy,
    /// The AES-GCM implementation.
    pub backend: AeadBackend,
    /// Header limits (the most encrypted data keys, the largest frame).
    pub limits: OpenLimits,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            commitment_policy: CommitmentPolicy::RequireEncryptRequireDecrypt,
            backend: AeadBackend::default(),
            limits: OpenLimits::default(),
        }
    }
}

/// The result of one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// As expected: the plaintext matched, or fragseal refused a negative test (its refusal).
    Passed {
        /// For a negative test, fragseal's refusal.
        refusal: Option<String>,
    },
    /// Not as expected, and why.
    Failed(String),
    /// Not run, and why (an unsupported key type or suite, a policy that forbids the suite).
    Skipped(String),
}

/// One test's name and outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// The test's id in the manifest.
    pub name: String,
    /// The message's algorithm suite, when its header could be read.
    pub suite: Option<u16>,
    /// What happened.
    pub outcome: Outcome,
}

/// Every test's result, in manifest (name) order.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The results.
    pub results: Vec<TestResult>,
}

impl Report {
    /// Passed, failed and skipped counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.results {
            match r.outcome {
                Outcome::Passed { .. } => c.0 += 1,
                Outcome::Failed(_) => c.1 += 1,
                Outcome::Skipped(_) => c.2 += 1,
            }
        }
        c
    }

    /// The skip reasons and how many tests each skipped, most frequent first.
    pub fn skip_reasons(&self) -> Vec<(String, usize)> {
        let mut m: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &self.results {
            if let Outcome::Skipped(why) = &r.outcome {
                *m.entry(why.as_str()).or_default() += 1;
            }
        }
        let mut v: Vec<(String, usize)> = m.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Whether no test failed.
    pub fn ok(&self) -> bool {
        self.counts().1 == 0
    }
}

/// Runs every test of `manifest` (links resolved in `source`) with keys `keys`.
pub fn run_decrypt(
    source: &Source,
    manifest: &DecryptManifest,
    keys: &KeysManifest,
    options: &RunOptions,
) -> Report {
    let mut plaintexts: HashMap<String, Result<Vec<u8>, String>> = HashMap::new();
    let mut results = Vec::with_capacity(manifest.tests.len());
    for test in &manifest.tests {
        results.push(run_one(source, test, keys, options, &mut plaintexts));
    }
    results.sort_by(|a, b| a.name.cmp(&b.name));
    Report { results }
}

fn run_one(
    source: &Source,
    test: &DecryptTest,
    keys: &KeysManifest,
    options: &RunOptions,
    plaintexts: &mut HashMap<String, Result<Vec<u8>, String>>,
) -> TestResult {
    let mut result = TestResult {
        name: test.name.clone(),
        suite: None,
        outcome: Outcome::Skipped(String::new()),
    };
    let ciphertext = match source.read(&test.ciphertext) {
        Ok(c) => c,
        Err(e) => {
            result.outcome = Outcome::Failed(format!("cannot read the ciphertext: {e}"));
            return result;
        }
    };
    let info = suites::peek(&ciphertext);
    result.suite = info.map(|i| i.id);
    if let Some(why) = info.and_then(|i| suites::skip_reason(i, options.commitment_policy)) {
        result.outcome = Outcome::Skipped(why);
        return result;
    }
    let set = KeySet::build(&test.keys, keys, For::Decrypt);
    let decrypted = decrypt(&ciphertext, test, &set, info, options);
    result.outcome = match (decrypted, &test.expect) {
        (Attempt::Skip(why), _) => Outcome::Skipped(why),
        (Attempt::Done(Ok(got)), Expectation::Plaintext(uri)) => {
            let want = plaintexts
                .entry(uri.clone())
                .or_insert_with(|| source.read(uri).map_err(|e| e.to_string()));
            match want {
                Ok(want) if *want == got => Outcome::Passed { refusal: None },
                Ok(want) => Outcome::Failed(format!(
                    "the plaintext differs from the expected one ({} bytes, expected {})",
                    got.len(),
                    want.len()
                )),
                Err(e) => Outcome::Failed(format!("cannot read the expected plaintext: {e}")),
            }
        }
        (Attempt::Done(Err(e)), Expectation::Plaintext(_)) => Outcome::Failed(e),
        (Attempt::Done(Ok(_)), Expectation::Error(why)) => {
            Outcome::Failed(format!("decrypted, but the test expects an error ({why})"))
        }
        (Attempt::Done(Err(e)), Expectation::Error(_)) => Outcome::Passed { refusal: Some(e) },
    };
    result
}

enum Attempt {
    Skip(String),
    Done(Result<Vec<u8>, String>),
}

fn decrypt(
    ciphertext: &[u8],
    test: &DecryptTest,
    set: &KeySet,
    info: Option<SuiteInfo>,
    options: &RunOptions,
) -> Attempt {
    let limits = &options
        .limits
        .clone()
        .with_commitment_policy(options.commitment_policy);
    let parsed = match message::parse(ciphertext, limits) {
        Ok(p) => p,
        Err(e) => return Attempt::Done(Err(e.to_string())),
    };
    let header = parsed.header();
    if test.decryption_method.as_deref() == Some("streaming-unsigned-only")
        && info.is_some_and(|i| i.signed)
    {
        // The ESDKs' unsigned-only streaming method refuses a signed message before any key
        // is used; the runner applies the same rule.
        return Attempt::Done(Err(
            "signed message given to the streaming-unsigned-only method".to_owned(),
        ));
    }
    let stored = header.encryption_context();
    let supplied = match split_reproduced(&test.reproduced_context, stored) {
        Ok(s) => s,
        Err(e) => return Attempt::Done(Err(e)),
    };
    let ec = match &supplied {
        Some(s) => union(stored, s),
        None => stored.clone(),
    };
    let mut failures = Vec::new();
    let mut data_key: Option<SecretBytes> = None;
    'edks: for edk in header.encrypted_data_keys() {
        for key in &set.keys {
            let Some(res) = key.unwrap(edk, &ec) else {
                continue;
            };
            match res.map(|k| as_data_key(k, info)) {
                Ok(Ok(k)) => {
                    data_key = Some(k);
                    break 'edks;
                }
                Ok(Err(e)) => failures.push(e),
                Err(e) => failures.push(e.to_string()),
            }
        }
    }
    let Some(data_key) = data_key else {
        let matched = !failures.is_empty();
        if !matched && !set.unsupported.is_empty() {
            // None of the keys fragseal could build matches; the test needs the others.
            let mut why = set.unsupported.clone();
            why.dedup();
            return Attempt::Skip(why.join("; "));
        }
        return Attempt::Done(Err(if matched {
            format!("no encrypted data key decrypted: {}", failures.join("; "))
        } else {
            "no encrypted data key of the message matches the test's keys".to_owned()
        }));
    };
    let identity = IdentityCheck::Skip;
    let mut params = OpenParams::new(&identity)
        .with_backend(options.backend)
        .with_commitment_policy(options.commitment_policy);
    if let Some(s) = &supplied {
        params = params.with_supplied_context(s);
    }
    let one_shot = parsed.open(&data_key, &params).map_err(|e| e.to_string());
    let streamed = open_streaming(ciphertext, &data_key, &params, limits);
    Attempt::Done(match (one_shot, streamed) {
        (Ok(a), Ok(b)) if a == b => Ok(a),
        (Ok(_), Ok(_)) => {
            Err("one-shot and streaming decryption return different plaintexts".into())
        }
        (Err(a), Err(_)) => Err(a),
        (Ok(_), Err(b)) => Err(format!(
            "one-shot decryption succeeds, streaming refuses: {b}"
        )),
        (Err(a), Ok(_)) => Err(format!(
            "streaming decryption succeeds, one-shot refuses: {a}"
        )),
    })
}

/// The data key for the message's suite: its data key length (16, 24 or 32 bytes).
fn as_data_key(bytes: SecretBytes, info: Option<SuiteInfo>) -> Result<SecretBytes, String> {
    match info {
        Some(i) if i.data_key_len != bytes.len() => Err(format!(
            "a {}-byte data key for suite 0x{:04X}, whose data keys are {} bytes",
            bytes.len(),
            i.id,
            i.data_key_len
        )),
        _ => Ok(bytes),
    }
}

fn open_streaming(
    ciphertext: &[u8],
    data_key: &SecretBytes,
    params: &OpenParams<'_>,
    limits: &OpenLimits,
) -> Result<Vec<u8>, String> {
    let stream = SealedStream::new(ciphertext, limits).map_err(|e: OpenError| e.to_string())?;
    let mut reader = stream.open(data_key, params).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Splits a reproduced context into the pairs the message stores (which must match) and the
/// others (the required encryption context the caller supplies).
fn split_reproduced(
    reproduced: &[(String, String)],
    stored: &EncryptionContext,
) -> Result<Option<EncryptionContext>, String> {
    let mut supplied = EncryptionContext::new();
    let mut any = false;
    for (k, v) in reproduced {
        match stored.get(k) {
            Some(s) if s == v => {}
            Some(_) => {
                return Err(format!(
                    "the reproduced encryption context's value for {k:?} differs from the message's"
                ))
            }
            None => {
                supplied = supplied.with(k.clone(), v.clone());
                any = true;
            }
        }
    }
    Ok(any.then_some(supplied))
}

fn union(a: &EncryptionContext, b: &EncryptionContext) -> EncryptionContext {
    let mut out = a.clone();
    for (k, v) in b.iter() {
        out = out.with(k.to_owned(), v.to_owned());
    }
    out
}

/// Opens a manifest by path: a `.zip` archive (its `manifest.json`, or its one top-level
/// `awses-decrypt` JSON), a directory (the same), or a manifest file (links resolve in its
/// directory); then its keys manifest.
///
/// # Errors
/// [`VectorError`] when the manifest or its keys cannot be found, read or parsed.
pub fn load_decrypt(
    path: &std::path::Path,
) -> Result<(Source, DecryptManifest, KeysManifest), VectorError> {
    let (source, bytes) = super::open_manifest(path, "awses-decrypt")?;
    let manifest = DecryptManifest::parse(&bytes)?;
    let keys = KeysManifest::parse(&source.read(&manifest.keys)?)?;
    Ok((source, manifest, keys))
}

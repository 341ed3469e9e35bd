//! What the Python interop tests share: deterministic plaintexts, the cases of one direction,
//! the peer's job entries and running tests/python/esdk_peer.py.
#![allow(dead_code, reason = "shared by several test binaries")]

use crate::support;
use fragseal::EncryptionContext;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const MIB: usize = 1 << 20;
pub const FRAME_LENGTHS: [u32; 2] = [4096, 65536];

/// Plaintext sizes for frame length `f`: 0, 1, f-1, f, f+1 and 1 MiB.
pub fn sizes(f: u32) -> [usize; 6] {
    let f = f as usize;
    [0, 1, f - 1, f, f + 1, MIB]
}

/// Deterministic, incompressible-looking bytes (xorshift64*), different per `seed`.
pub fn plaintext(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn stream_context() -> EncryptionContext {
    EncryptionContext::new()
        .with(
            "aws:kinesisvideo:arn",
            "arn:aws:kinesisvideo:us-east-1:123456789012:stream/interop/1700000000000",
        )
        .with("tenant", "fragseal-interop")
}

pub fn context_json(ec: &EncryptionContext) -> Value {
    let map: BTreeMap<&str, &str> = ec.iter().collect();
    json!(map)
}

/// One case of a batch: its name, the plaintext, where the files go.
pub struct Case {
    pub name: String,
    pub frame_length: u32,
    pub plaintext: Vec<u8>,
    pub context: EncryptionContext,
    pub dir: PathBuf,
    /// The peer's suite for this case ("0x0478", "0x0578", or "default" when encrypting).
    pub suite: &'static str,
}

impl Case {
    pub fn path(&self, what: &str) -> PathBuf {
        self.dir.join(format!("{}.{what}", self.name))
    }
}

/// Writes `sealed` beside `case` and returns the Python peer's job to decrypt it.
pub fn decrypt_job(case: &Case, sealed: &[u8]) -> Value {
    std::fs::write(case.path("sealed"), sealed).expect("write");
    json!({
        "name": case.name,
        "ciphertext": case.path("sealed"),
        "plaintext": case.path("python-plain"),
        "encryption_context": context_json(&case.context),
        "suite": case.suite,
    })
}

/// Writes each case's plaintext and returns the Python peer's jobs to encrypt them.
pub fn encrypt_jobs(cases: &[Case]) -> Vec<Value> {
    cases
        .iter()
        .map(|case| {
            std::fs::write(case.path("plain"), &case.plaintext).expect("write");
            json!({
                "name": case.name,
                "plaintext": case.path("plain"),
                "ciphertext": case.path("python-sealed"),
                "frame_length": case.frame_length,
                "encryption_context": context_json(&case.context),
                "suite": case.suite,
            })
        })
        .collect()
}

/// The cases of one direction: every frame length × size, with the stream context, plus the
/// empty context; all with suite 0x0478 (set [`Case::suite`] to change it).
pub fn cases(dir: &Path, direction: &str) -> Vec<Case> {
    let mut out = Vec::new();
    let mut seed = 1u64;
    for f in FRAME_LENGTHS {
        for size in sizes(f) {
            seed += 1;
            out.push(Case {
                name: format!("{direction}-f{f}-n{size}"),
                frame_length: f,
                plaintext: plaintext(size, seed),
                context: stream_context(),
                dir: dir.to_owned(),
                suite: "0x0478",
            });
        }
    }
    out.push(Case {
        name: format!("{direction}-f4096-n5000-empty-context"),
        frame_length: 4096,
        plaintext: plaintext(5000, 99),
        context: EncryptionContext::new(),
        dir: dir.to_owned(),
        suite: "0x0478",
    });
    out
}

/// Runs the Python peer on `job`, returns results by (op, name).
pub fn run_peer(
    test: &str,
    python: &Path,
    dir: &Path,
    job: &Value,
    env: &[(&str, &str)],
) -> BTreeMap<(String, String), Value> {
    let job_path = dir.join("job.json");
    std::fs::write(&job_path, serde_json::to_vec_pretty(job).expect("job json")).expect("job");
    let job_arg = job_path.to_str().expect("utf-8 temp path");
    let stdout = support::run_python(
        python,
        &support::python_script("esdk_peer.py"),
        &[job_arg],
        env,
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{test}: peer output not JSON ({e}): {stdout}"));
    let version = v["esdk_version"].as_str().unwrap_or("");
    assert!(
        version.starts_with("4."),
        "{test}: expected aws-encryption-sdk 4.x, got {version:?}"
    );
    let mut out = BTreeMap::new();
    for r in v["results"].as_array().expect("results array") {
        let op = r["op"].as_str().expect("op").to_owned();
        let name = r["name"].as_str().expect("name").to_owned();
        out.insert((op, name), r.clone());
    }
    out
}

pub fn expect_ok<'a>(
    results: &'a BTreeMap<(String, String), Value>,
    op: &str,
    name: &str,
) -> &'a Value {
    let r = results
        .get(&(op.to_owned(), name.to_owned()))
        .unwrap_or_else(|| panic!("no {op} result for {name}"));
    assert_eq!(
        r["ok"],
        json!(true),
        "Python {op} of {name} failed:\n{}",
        r["error"].as_str().unwrap_or("")
    );
    r
}

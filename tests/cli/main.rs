//! The `fragseal` binary end to end: demo (text and JSON), seal/open round trips on a file and on
//! the sample MKV, inspect, denied credentials, tampering, malformed input, exit codes.
#![allow(clippy::unwrap_used, reason = "tests")]

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod audit_and_escaping;
mod demo;
mod keys_and_identities;
mod kms_commands;
mod output_files;
mod resource_limits;
mod seal_open;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/testsrc-5s.mkv");
const PRODUCER: &str = "arn:aws:iam::111122223333:role/producer";
const CONSUMER: &str = "arn:aws:iam::111122223333:role/consumer";

/// A scratch folder with its own local KMS state file.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `fragseal ARGS...` run in the scratch folder, with the KMS state in it
    /// (`$FRAGSEAL_KMS_STATE`).
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("fragseal").unwrap();
        c.current_dir(self.dir.path())
            .env("FRAGSEAL_KMS_STATE", self.path("kms.json"))
            .env_remove("FRAGSEAL_KMS_AUDIT")
            .args(args);
        c
    }

    /// Creates a key with alias `alias/cam` as the account root.
    fn key(&self) -> String {
        let out = self
            .cmd(&["kms", "create-key", "--alias", "alias/cam", "--json"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let v: Value = serde_json::from_slice(&out).unwrap();
        v["arn"].as_str().unwrap().to_owned()
    }

    fn least_privilege(&self) {
        self.cmd(&[
            "kms",
            "put-policy",
            "alias/cam",
            "--least-privilege",
            "--producer",
            PRODUCER,
            "--consumer",
            CONSUMER,
        ])
        .assert()
        .success();
    }
}

fn json_of(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}", String::from_utf8_lossy(out));
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[cfg(feature = "aws")]
#[path = "../support/mod.rs"]
mod support;

// ---------------------------------------------------------------------------------------------
// Issue 11 and issue 10 attacks, each as a test named after it.
// ---------------------------------------------------------------------------------------------

/// Virtual memory cap (KiB) for the commands the attacks below run: a command that tried to
/// allocate what the attack asks for fails under it instead of exhausting the machine.
#[cfg(unix)]
const MEMORY_CAP_KIB: u64 = 3 << 20;

/// Open files cap for the same commands.
#[cfg(unix)]
const OPEN_FILES_CAP: u32 = 256;

/// `fragseal ARGS...` as [`Env::cmd`], under `ulimit -v MEMORY_CAP_KIB` and
/// `ulimit -n OPEN_FILES_CAP`.
#[cfg(unix)]
fn capped(env: &Env, args: &[&str]) -> Command {
    let bin = assert_cmd::cargo::cargo_bin("fragseal");
    let mut c = Command::new("sh");
    c.current_dir(env.dir.path())
        .env("FRAGSEAL_KMS_STATE", env.path("kms.json"))
        .env_remove("FRAGSEAL_KMS_AUDIT")
        .arg("-c")
        .arg(format!(
            "ulimit -v {MEMORY_CAP_KIB} && ulimit -n {OPEN_FILES_CAP} && exec \"$0\" \"$@\""
        ))
        .arg(bin)
        .args(args);
    c
}

/// A sealed folder of the sample in `sealed/`, and the key ARN.
fn sealed_sample(env: &Env) -> String {
    let arn = env.key();
    env.cmd(&["seal", SAMPLE, "-o", "sealed", "--key", "alias/cam"])
        .assert()
        .success();
    arn
}

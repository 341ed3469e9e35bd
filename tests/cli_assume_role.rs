//! `fragseal seal/open --kms aws --endpoint-url URL --assume-role ROLE` against a running
//! `fragseal kms serve` (started here on port 0, stopped by PID): the access keys come from the
//! environment only, STS AssumeRole on the same listener gives the sessions, and the sessions
//! call KMS under their roles' policies. Allowed, denied (by STS, by the trust policy, by KMS)
//! and expired (the server's `--clock-offset`) cases; no secret in argv, output or logs.
#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used, reason = "tests")]

mod server_common;

use assert_cmd::Command;
use server_common::sts::*;
use server_common::{audit_records, ServerProcess};
use std::path::Path;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/testsrc-5s.mkv");

fn role(name: &str) -> String {
    format!("arn:aws:iam::{A}:role/{name}")
}

/// The secrets no argv, output or log may show: every long-term secret of the IAM file.
const SECRETS: [&str; 5] = [A_ROOT.1, B_ROOT.1, ALICE.1, CAM.1, NOPOL.1];

/// A CLI run as the holder of `keys` (from the environment only), against the server `s`.
struct Run {
    args: Vec<String>,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(s: &ServerProcess, keys: (&str, &str), token: Option<&str>, args: &[&str]) -> Run {
    let mut c = Command::cargo_bin("fragseal").unwrap();
    for v in [
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "FRAGSEAL_KMS_STATE",
        "FRAGSEAL_KMS_AUDIT",
    ] {
        c.env_remove(v);
    }
    c.env("AWS_ACCESS_KEY_ID", keys.0)
        .env("AWS_SECRET_ACCESS_KEY", keys.1);
    if let Some(t) = token {
        c.env("AWS_SESSION_TOKEN", t);
    }
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend(
        ["--kms", "aws", "--endpoint-url", &s.endpoint()]
            .iter()
            .map(|a| (*a).to_owned()),
    );
    c.args(&all);
    // What `ps` would show: the argv. It never holds a secret.
    for a in &all {
        for secret in SECRETS.iter().chain(&[keys.1]) {
            assert!(!a.contains(secret), "a secret in argv: {a}");
        }
    }
    let out = c.output().unwrap();
    let r = Run {
        args: all,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for secret in SECRETS.iter().chain(token.as_slice()) {
        assert!(!r.stdout.contains(secret), "a secret on stdout");
        assert!(!r.stderr.contains(secret), "a secret on stderr");
    }
    r
}

impl Run {
    fn ok(self) -> serde_json::Value {
        assert_eq!(self.code, Some(0), "{:?}\n{}", self.args, self.stderr);
        serde_json::from_str(&self.stdout).unwrap()
    }

    fn fails(self, code: i32, needle: &str) -> String {
        assert_eq!(self.code, Some(code), "{:?}\n{}", self.args, self.stderr);
        assert!(
            self.stderr.contains(needle),
            "{needle:?} not in {}",
            self.stderr
        );
        self.stderr
    }
}

/// No secret in any file of `dir` (the server's audit log and state, the CLI's outputs) but
/// the IAM file, where the test wrote them.
fn assert_no_secret_in(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().is_some_and(|n| n == "iam.json") {
            continue;
        }
        if p.is_dir() {
            assert_no_secret_in(&p);
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in SECRETS {
            assert!(!text.contains(secret), "a secret in {}", p.display());
        }
    }
}

fn seal_args<'a>(out: &'a str, key: &'a str) -> Vec<&'a str> {
    vec!["seal", SAMPLE, "-o", out, "--key", key, "--json"]
}

#[test]
fn assumed_producer_seals_and_assumed_consumer_opens_through_kms_serve() {
    let s = ServerProcess::start(&iam(), &[]);
    let key = create_key(s.addr, A_ROOT, None);
    let work = tempfile::tempdir().unwrap();
    let sealed = work.path().join("sealed");
    let opened = work.path().join("opened");
    let sealed_s = sealed.to_str().unwrap();
    let producer = role("producer");
    // B's camera assumes A's producer role (trust policy: account B with the ExternalId).
    let mut args = seal_args(sealed_s, &key);
    args.extend([
        "--assume-role",
        &producer,
        "--external-id",
        EXTERNAL_ID,
        "--role-session-name",
        "cam-7",
        "--duration-seconds",
        "900",
    ]);
    let v = run(&s, CAM, None, &args).ok();
    let fragments = v["fragments"].as_u64().unwrap();
    assert!(fragments > 1, "{v}");
    assert_eq!(
        v["kms_calls"], 1,
        "one GenerateDataKey for every fragment: {v}"
    );
    // A's alice opens as the consumer role, under the default session name.
    let consumer = role("consumer");
    let v = run(
        &s,
        ALICE,
        None,
        &[
            "open",
            sealed_s,
            "-o",
            opened.to_str().unwrap(),
            "--key",
            &key,
            "--assume-role",
            &consumer,
            "--json",
        ],
    )
    .ok();
    assert_eq!(v["fragments"].as_u64(), Some(fragments), "{v}");
    assert!(v["kms_calls"].as_u64().unwrap() >= 1, "{v}");
    // The server saw the sessions as assumed roles.
    let records = audit_records(&s.path("audit.jsonl"));
    let arn_of = |event: &str| {
        records
            .iter()
            .filter(|r| r["eventName"] == event && r["errorCode"].is_null())
            .map(|r| r["userIdentity"]["arn"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        arn_of("GenerateDataKey"),
        vec![format!("arn:aws:sts::{A}:assumed-role/producer/cam-7")]
    );
    let decrypts = arn_of("Decrypt");
    assert!(!decrypts.is_empty());
    let pid_name = format!("arn:aws:sts::{A}:assumed-role/consumer/fragseal-");
    assert!(
        decrypts.iter().all(|a| a.starts_with(&pid_name)),
        "{decrypts:?}"
    );
    assert_no_secret_in(s.dir.path());
    assert_no_secret_in(work.path());
}

#[test]
fn sts_and_kms_refusals_are_named_as_aws_names_them() {
    let s = ServerProcess::start(&iam(), &[]);
    let key = create_key(s.addr, A_ROOT, None);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("sealed");
    let out_s = out.to_str().unwrap();
    let producer = role("producer");
    // nopol has no identity policy allowing sts:AssumeRole: STS's AccessDenied.
    let mut args = seal_args(out_s, &key);
    args.extend(["--assume-role", &producer, "--external-id", EXTERNAL_ID]);
    let e = run(&s, NOPOL, None, &args).fails(4, "STS AssumeRole AccessDenied");
    assert!(
        !e.contains("KMS "),
        "an STS refusal is not shown as KMS's: {e}"
    );
    // The trust policy's ExternalId condition: without it, AccessDenied too.
    let mut args = seal_args(out_s, &key);
    args.extend(["--assume-role", &producer]);
    run(&s, CAM, None, &args).fails(4, "STS AssumeRole AccessDenied");
    // Unknown access keys: STS's InvalidClientTokenId.
    let mut args = seal_args(out_s, &key);
    args.extend(["--assume-role", &producer]);
    run(
        &s,
        (
            "AKIAUNKNOWNEXAMPLE01",
            "unknown-secret-000000000000000000000000",
        ),
        None,
        &args,
    )
    .fails(4, "InvalidClientTokenId");
    assert!(!out.exists(), "nothing written for a refused seal");
    // The consumer role may not seal: KMS's AccessDeniedException for the session.
    let mut args = seal_args(out_s, &key);
    let consumer = role("consumer");
    args.extend(["--assume-role", &consumer]);
    let e = run(&s, ALICE, None, &args).fails(4, "AccessDeniedException");
    assert!(e.contains("assumed-role/consumer/"), "{e}");
    // --principal contradicts the session; the session flags need --assume-role.
    let mut args = seal_args(out_s, &key);
    let other = role("x");
    args.extend(["--assume-role", &consumer, "--principal", &other]);
    run(&s, ALICE, None, &args).fails(1, "contradicts --assume-role");
    let mut args = seal_args(out_s, &key);
    args.extend(["--external-id", EXTERNAL_ID]);
    run(&s, ALICE, None, &args).fails(1, "--external-id needs --assume-role");
    // No flag takes a secret.
    let help = Command::cargo_bin("fragseal")
        .unwrap()
        .args(["seal", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_lowercase();
    for flag in ["--secret", "--aws-secret-access-key", "--session-token"] {
        assert!(!help.contains(flag), "{flag} in seal --help");
    }
    assert_no_secret_in(s.dir.path());
}

#[test]
fn expired_sessions_are_refreshed_once_then_refused_as_expired_token() {
    // Sessions expire on the server's clock, 20 minutes ahead of the real one.
    let s = ServerProcess::start(&iam(), &["--clock-offset", "+20m"]);
    let key = create_key(s.addr, A_ROOT, None);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("sealed");
    let out_s = out.to_str().unwrap();
    let producer = role("producer");
    // 900-second sessions are expired at once: KMS answers ExpiredTokenException, the CLI
    // assumes the role again (one refresh), and the new session is expired too.
    let mut args = seal_args(out_s, &key);
    args.extend([
        "--assume-role",
        &producer,
        "--external-id",
        EXTERNAL_ID,
        "--duration-seconds",
        "900",
    ]);
    let e = run(&s, CAM, None, &args).fails(4, "ExpiredTokenException");
    assert_eq!(
        e.matches("the session expired; assumed").count(),
        1,
        "one refresh: {e}"
    );
    assert!(!out.exists());
    // An hour-long session outlives the offset: allowed.
    let mut args = seal_args(out_s, &key);
    args.extend([
        "--assume-role",
        &producer,
        "--external-id",
        EXTERNAL_ID,
        "--duration-seconds",
        "3600",
    ]);
    run(&s, CAM, None, &args).ok();
    // Keys of an expired session in the environment: STS itself refuses them, by name.
    let long = assume(
        s.addr,
        &signing(ALICE),
        &role("long"),
        "&DurationSeconds=900",
    );
    let mut args = seal_args(out_s, &key);
    let consumer = role("consumer");
    args.extend(["--assume-role", &consumer, "--force"]);
    let e = run(&s, (&long.akid, &long.secret), Some(&long.token), &args)
        .fails(4, "STS AssumeRole ExpiredToken");
    assert!(!e.contains(&long.secret) && !e.contains(&long.token));
    assert_no_secret_in(s.dir.path());
}

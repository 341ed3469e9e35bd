//! `fragseal kvs ... --kms aws --endpoint-url URL --iam FILE [--assume-role ROLE]` against a
//! running `fragseal kms serve` (port 0, stopped by PID): access keys from the environment
//! only, the caller named by the server's IAM file (secret checked), the kinesisvideo:
//! decisions from that file's identity policies, the data keys from the server. Producer
//! put-media, consumer get-media and list-fragments, a role session's put-media (and its
//! refresh when the server refuses it as expired: the server's `--clock-offset`), and the
//! refusals: no --iam, a key the file does not declare, a wrong secret, a KMS denial (4500).
#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used, reason = "tests")]

mod server_common;

use assert_cmd::Command;
use serde_json::Value;
use server_common::sts::create_key;
use server_common::ServerProcess;
use std::path::{Path, PathBuf};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/testsrc-5s.mkv");
const A: &str = "111122223333";
const ROOT: (&str, &str) = (
    "AKIAAROOTEXAMPLE0001",
    "root-secret-000000000000000000000000000",
);
const CAM: (&str, &str) = (
    "AKIACAMEXAMPLE000001",
    "cam-secret-0000000000000000000000000000",
);
const VIEWER: (&str, &str) = (
    "AKIAVIEWEREXAMPLE001",
    "viewer-secret-000000000000000000000000",
);
const NOKMS: (&str, &str) = (
    "AKIANOKMSEXAMPLE0001",
    "nokms-secret-0000000000000000000000000",
);
const SECRETS: [&str; 4] = [ROOT.1, CAM.1, VIEWER.1, NOKMS.1];

/// Root; `cam` writes, `viewer` reads, `nokms` has the kinesisvideo: actions only; the role
/// `producer` (trusted by the account) writes.
fn iam() -> String {
    let write = r#"{"Statement": [{"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": "*"},
        {"Effect": "Allow", "Action": "kinesisvideo:PutMedia", "Resource": "*"}]}"#;
    let read = r#"{"Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"},
        {"Effect": "Allow", "Action": ["kinesisvideo:GetMedia", "kinesisvideo:ListFragments"], "Resource": "*"}]}"#;
    let kvs_only =
        r#"{"Statement": {"Effect": "Allow", "Action": "kinesisvideo:PutMedia", "Resource": "*"}}"#;
    format!(
        r#"{{"Accounts": [{{"AccountId": "{A}",
  "RootAccessKeys": [{{"AccessKeyId": "{rk}", "SecretAccessKey": "{rs}"}}],
  "Users": [
    {{"UserName": "cam", "AccessKeys": [{{"AccessKeyId": "{ck}", "SecretAccessKey": "{cs}"}}],
      "Policies": [{{"PolicyName": "w", "PolicyDocument": {write}}}]}},
    {{"UserName": "viewer", "AccessKeys": [{{"AccessKeyId": "{vk}", "SecretAccessKey": "{vs}"}}],
      "Policies": [{{"PolicyName": "r", "PolicyDocument": {read}}}]}},
    {{"UserName": "nokms", "AccessKeys": [{{"AccessKeyId": "{nk}", "SecretAccessKey": "{ns}"}}],
      "Policies": [{{"PolicyName": "k", "PolicyDocument": {kvs_only}}}]}}],
  "Roles": [{{"RoleName": "producer",
    "AssumeRolePolicyDocument": {{"Statement": {{"Effect": "Allow", "Principal": {{"AWS": "{A}"}},
      "Action": "sts:AssumeRole"}}}},
    "Policies": [{{"PolicyName": "w", "PolicyDocument": {write}}}]}}]}}]}}"#,
        rk = ROOT.0,
        rs = ROOT.1,
        ck = CAM.0,
        cs = CAM.1,
        vk = VIEWER.0,
        vs = VIEWER.1,
        nk = NOKMS.0,
        ns = NOKMS.1,
    )
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "{}", self.stderr);
        &self.stdout
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap()
    }

    fn fails(&self, code: i32, needle: &str) {
        assert_eq!(self.code, Some(code), "{}\n{}", self.stdout, self.stderr);
        assert!(
            self.stderr.contains(needle),
            "{needle:?} not in {}",
            self.stderr
        );
    }
}

/// `fragseal kvs ARGS --kms aws --endpoint-url URL --store DIR [--iam FILE]` as the holder of
/// `keys` (in the environment only).
fn kvs(s: &ServerProcess, keys: (&str, &str), iam: Option<&Path>, args: &[&str]) -> Out {
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
    c.current_dir(s.dir.path())
        .env("AWS_ACCESS_KEY_ID", keys.0)
        .env("AWS_SECRET_ACCESS_KEY", keys.1)
        .arg("kvs")
        .args(args)
        .args(["--kms", "aws", "--endpoint-url", &s.endpoint()])
        .arg("--store")
        .arg(s.path("store"));
    if let Some(p) = iam {
        c.arg("--iam").arg(p);
    }
    let out = c.output().unwrap();
    let o = Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for secret in SECRETS {
        assert!(
            !o.stdout.contains(secret) && !o.stderr.contains(secret),
            "a secret shown"
        );
    }
    o
}

fn acks(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn persisted(acks: &[Value]) -> usize {
    acks.iter()
        .filter(|a| a["EventType"] == "PERSISTED")
        .count()
}

/// The server, its IAM file's path, and a stream `cam` on a key made at the server.
fn setup() -> (ServerProcess, PathBuf, String) {
    setup_with(&[])
}

/// [`setup`] with the server started with `server_args`.
fn setup_with(server_args: &[&str]) -> (ServerProcess, PathBuf, String) {
    let s = ServerProcess::start(&iam(), server_args);
    let file = s.path("iam.json");
    let key = create_key(s.addr, ROOT, None);
    let created = kvs(
        &s,
        ROOT,
        Some(&file),
        &[
            "create-stream",
            "--stream-name",
            "cam",
            "--kms-key-id",
            &key,
            "--data-retention-in-hours",
            "1",
            "--json",
        ],
    )
    .json();
    let arn = created["StreamARN"].as_str().unwrap().to_owned();
    assert!(
        arn.starts_with(&format!("arn:aws:kinesisvideo:us-east-1:{A}:stream/cam/")),
        "{arn}"
    );
    (s, file, key)
}

#[test]
fn cli_producer_put_media_then_consumer_get_media_through_kms_serve() {
    let (s, iam, _) = setup();
    let put = kvs(
        &s,
        CAM,
        Some(&iam),
        &["put-media", "--stream-name", "cam", SAMPLE],
    );
    let a = acks(put.ok());
    assert_eq!(persisted(&a), 5, "{a:?}");
    let out = s.path("out.mkv");
    let got = kvs(
        &s,
        VIEWER,
        Some(&iam),
        &[
            "get-media",
            "--stream-name",
            "cam",
            "-o",
            out.to_str().unwrap(),
            "--json",
        ],
    )
    .json();
    assert_eq!(got["Fragments"], 5, "{got}");
    let mkv = std::fs::read(&out).unwrap();
    assert!(
        mkv.windows(32)
            .any(|w| w == b"AWS_KINESISVIDEO_FRAGMENT_NUMBER"),
        "KVS's tags in the output"
    );
    let list = kvs(
        &s,
        VIEWER,
        Some(&iam),
        &["list-fragments", "--stream-name", "cam", "--json"],
    )
    .json();
    assert_eq!(list["Fragments"].as_array().unwrap().len(), 5, "{list}");
    // The server saw the callers themselves: cam's GenerateDataKey, viewer's Decrypt.
    let audit = server_common::audit_records(&s.path("audit.jsonl"));
    let by = |event: &str, user: &str| {
        audit
            .iter()
            .filter(|r| r["eventName"] == event && r.to_string().contains(&format!(":user/{user}")))
            .count()
    };
    assert_eq!(
        (by("GenerateDataKey", "cam"), by("Decrypt", "viewer")),
        (1, 1)
    );
}

#[test]
fn cli_assumed_role_session_puts_media_under_its_roles_policies() {
    let (s, iam, _) = setup();
    let role = format!("arn:aws:iam::{A}:role/producer");
    let put = kvs(
        &s,
        ROOT,
        Some(&iam),
        &[
            "put-media",
            "--stream-name",
            "cam",
            SAMPLE,
            "--assume-role",
            &role,
            "--role-session-name",
            "cam-7",
        ],
    );
    assert_eq!(persisted(&acks(put.ok())), 5);
    let audit = server_common::audit_records(&s.path("audit.jsonl"));
    assert!(
        audit.iter().any(|r| r["eventName"] == "GenerateDataKey"
            && r.to_string().contains("assumed-role/producer/cam-7")),
        "the session called KMS"
    );
    // The role may not read (its policy has no kinesisvideo:GetMedia): refused locally.
    kvs(
        &s,
        ROOT,
        Some(&iam),
        &["get-media", "--stream-name", "cam", "--assume-role", &role],
    )
    .fails(4, "NotAuthorizedException");
}

#[test]
fn cli_put_media_refreshes_an_expired_role_session_once_then_fails_4500() {
    // Sessions expire on the server's clock, 20 minutes ahead of the real one: a 900-second
    // session is refused by KMS (ExpiredTokenException) although it looks valid here. The
    // put-media assumes the role again (one refresh, the fragment retried once); the new
    // session is expired too, so the first fragment fails with 4500 and nothing is stored.
    let (s, iam, _) = setup_with(&["--clock-offset", "+20m"]);
    let role = format!("arn:aws:iam::{A}:role/producer");
    let put = |duration: &str| {
        kvs(
            &s,
            ROOT,
            Some(&iam),
            &[
                "put-media",
                "--stream-name",
                "cam",
                SAMPLE,
                "--assume-role",
                &role,
                "--duration-seconds",
                duration,
            ],
        )
    };
    let short = put("900");
    short.fails(4, "ExpiredTokenException");
    assert_eq!(
        short.stderr.matches("the session expired; assumed").count(),
        1,
        "one refresh: {}",
        short.stderr
    );
    assert_eq!(persisted(&acks(&short.stdout)), 0);
    // An hour-long session outlives the offset: every fragment, no refresh.
    let long = put("3600");
    assert_eq!(persisted(&acks(long.ok())), 5);
    assert!(
        !long.stderr.contains("the session expired"),
        "{}",
        long.stderr
    );
}

#[test]
fn cli_refuses_without_the_iam_file_an_undeclared_key_a_wrong_secret_and_kms_denials() {
    let (s, iam, _) = setup();
    // No --iam: nothing may decide kinesisvideo:PutMedia (fail closed), no store touched.
    let before = std::fs::read_dir(s.path("store")).unwrap().count();
    kvs(
        &s,
        CAM,
        None,
        &["put-media", "--stream-name", "cam", SAMPLE],
    )
    .fails(1, "needs --iam FILE");
    assert_eq!(std::fs::read_dir(s.path("store")).unwrap().count(), before);
    // A key the file does not declare, and cam's id with another secret.
    for keys in [
        ("AKIAUNKNOWNEXAMPLE01", CAM.1),
        (CAM.0, "not-cams-secret-00000000000000000000000"),
    ] {
        kvs(
            &s,
            keys,
            Some(&iam),
            &["list-fragments", "--stream-name", "cam"],
        )
        .fails(4, "is not one the IAM file declares");
    }
    // --principal cannot stand in for the file's mapping.
    kvs(
        &s,
        CAM,
        Some(&iam),
        &[
            "list-streams",
            "--principal",
            &format!("arn:aws:iam::{A}:root"),
        ],
    )
    .fails(1, "--principal");
    // kinesisvideo:PutMedia allowed by the file, kms:GenerateDataKey refused by the server.
    let put = kvs(
        &s,
        NOKMS,
        Some(&iam),
        &["put-media", "--stream-name", "cam", SAMPLE],
    );
    put.fails(4, "4500");
    let a = acks(&put.stdout);
    assert_eq!(persisted(&a), 0);
    assert!(
        a.iter()
            .any(|x| x["EventType"] == "ERROR" && x["ErrorId"] == 4500),
        "{a:?}"
    );
    // The viewer may not write.
    kvs(
        &s,
        VIEWER,
        Some(&iam),
        &["put-media", "--stream-name", "cam", SAMPLE],
    )
    .fails(4, "NotAuthorizedException");
}

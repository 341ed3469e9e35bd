//! `fragseal kvs` end to end: a producer PutMedia, then a consumer GetMedia, through the CLI,
//! with the local KMS state file and a directory store; JSON everywhere.
#![allow(clippy::unwrap_used, reason = "tests")]

use assert_cmd::Command;
use fragseal::kms::local::LocalKms;
use serde_json::Value;
use std::path::PathBuf;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/testsrc-5s.mkv");
const PRODUCER: &str = "arn:aws:iam::111122223333:role/producer";
const CONSUMER: &str = "arn:aws:iam::111122223333:role/consumer";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let env = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        // IAM: the producer writes, the consumer reads (identity policies in the state file).
        let kms = LocalKms::builder("us-east-1", "111122223333")
            .state_file(env.path("kms.json"))
            .build()
            .unwrap();
        kms.attach_identity_policy(
            PRODUCER,
            r#"{"Statement":[{"Effect":"Allow","Action":"kinesisvideo:PutMedia","Resource":"*"}]}"#,
        )
        .unwrap();
        kms.attach_identity_policy(
            CONSUMER,
            r#"{"Statement":[{"Effect":"Allow","Action":["kinesisvideo:GetMedia","kinesisvideo:ListFragments"],"Resource":"*"}]}"#,
        )
        .unwrap();
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("fragseal").unwrap();
        c.current_dir(self.dir.path())
            .env_remove("FRAGSEAL_KMS_AUDIT")
            .env_remove("FRAGSEAL_KMS_STATE")
            .arg("kvs")
            .args(["--kms-state", self.path("kms.json").to_str().unwrap()])
            .args(["--store", self.path("store").to_str().unwrap()])
            .args(args);
        c
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self
            .cmd(args)
            .arg("--json")
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    }
}

#[test]
fn cli_producer_put_media_then_consumer_get_media() {
    let env = Env::new();
    let created = env.json(&[
        "create-stream",
        "--stream-name",
        "cam",
        "--data-retention-in-hours",
        "1",
    ]);
    let arn = created["StreamARN"].as_str().unwrap().to_owned();
    assert!(
        arn.starts_with("arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/"),
        "{arn}"
    );
    let d = env.json(&["describe-stream", "--stream-name", "cam"]);
    assert_eq!(
        d["StreamInfo"]["KmsKeyId"],
        "arn:aws:kms:us-east-1:111122223333:alias/aws/kinesisvideo"
    );
    assert_eq!(d["StreamInfo"]["StreamARN"], arn.as_str());

    // put-media prints one acknowledgement per line, in KVS's field names.
    let out = env
        .cmd(&[
            "--principal",
            PRODUCER,
            "put-media",
            "--stream-name",
            "cam",
            SAMPLE,
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let acks: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(acks.len(), 15);
    let persisted: Vec<&Value> = acks
        .iter()
        .filter(|a| a["EventType"] == "PERSISTED")
        .collect();
    assert_eq!(persisted.len(), 5);
    assert!(persisted
        .iter()
        .all(|a| a["FragmentNumber"].is_string() && a["FragmentTimecode"].is_u64()));

    // Least privilege: the producer cannot read.
    env.cmd(&[
        "--principal",
        PRODUCER,
        "get-media",
        "--stream-name",
        "cam",
        "-o",
        "p.mkv",
    ])
    .assert()
    .failure()
    .stderr(predicates::str::contains("NotAuthorizedException"));

    // The consumer reads MKV with KVS's tags.
    let g = env.json(&[
        "--principal",
        CONSUMER,
        "get-media",
        "--stream-name",
        "cam",
        "-o",
        "out.mkv",
    ]);
    assert_eq!(g["Fragments"], 5);
    let media = std::fs::read(env.path("out.mkv")).unwrap();
    assert_eq!(fragseal::mkv::split_documents(&media).unwrap().len(), 5);
    let tags = fragseal::kvs::get_media::read_tags(&media);
    assert_eq!(
        tags.iter()
            .filter(|(n, _)| n == "AWS_KINESISVIDEO_FRAGMENT_NUMBER")
            .count(),
        5
    );

    let l = env.json(&[
        "--principal",
        CONSUMER,
        "list-fragments",
        "--stream-name",
        "cam",
    ]);
    assert_eq!(l["Fragments"].as_array().unwrap().len(), 5);
    let streams = env.json(&["list-streams"]);
    assert_eq!(streams["StreamInfoList"][0]["StreamName"], "cam");

    // The key cannot change.
    let version = d["StreamInfo"]["Version"].as_str().unwrap().to_owned();
    env.cmd(&[
        "update-stream",
        "--stream-name",
        "cam",
        "--current-version",
        &version,
        "--kms-key-id",
        "alias/other",
    ])
    .assert()
    .code(1)
    .stderr(predicates::str::contains("InvalidArgumentException"));

    // Only sealed bytes in the store: the first key frame's bytes are nowhere in it.
    let sample = std::fs::read(SAMPLE).unwrap();
    let probe = &sample[600..664];
    let mut stack = vec![env.path("store")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let b = std::fs::read(&p).unwrap();
                assert!(
                    !b.windows(probe.len()).any(|w| w == probe),
                    "{}",
                    p.display()
                );
            }
        }
    }
}

#[test]
fn cli_kvs_refuses_a_remote_kms_without_the_iam_file_and_never_uses_the_local_one() {
    // Over a remote KMS the kinesisvideo:* decisions need the server's IAM file (--iam FILE):
    // without it the command is refused (fail closed), never run on the local state file; and
    // --assume-role needs --kms aws.
    let env = Env::new();
    for (extra, needle) in [
        (
            &["--kms", "aws", "--endpoint-url", "http://127.0.0.1:9"][..],
            "needs --iam FILE",
        ),
        (
            &["--assume-role", PRODUCER][..],
            "--assume-role needs --kms aws",
        ),
        (
            &["--iam", "iam.json"][..],
            "--iam iam.json is for --kms aws",
        ),
    ] {
        let mut args = vec!["list-streams"];
        args.extend_from_slice(extra);
        env.cmd(&args)
            .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE01")
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "not-a-real-secret-0000000000000000000000",
            )
            .assert()
            .code(1)
            .stderr(predicates::str::contains(needle));
    }
    assert!(
        !env.path("store").exists(),
        "no store made for a refused command"
    );
}

/// PutMedia of the sample as the producer: the fragment numbers acknowledged PERSISTED.
fn put_sample(env: &Env) -> Vec<String> {
    let out = env
        .cmd(&[
            "--principal",
            PRODUCER,
            "put-media",
            "--stream-name",
            "cam",
            SAMPLE,
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|a| a["EventType"] == "PERSISTED")
        .map(|a| a["FragmentNumber"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn cli_get_media_follow_writes_the_fragments_a_concurrent_put_media_persists() {
    use std::io::BufRead;
    let env = Env::new();
    env.json(&[
        "create-stream",
        "--stream-name",
        "cam",
        "--data-retention-in-hours",
        "1",
    ]);
    // Stored before the reader starts: NOW skips them.
    let before = put_sample(&env);
    let out = env.path("live.mkv");
    let mut reader = std::process::Command::new(env!("CARGO_BIN_EXE_fragseal"))
        .current_dir(env.dir.path())
        .env_remove("FRAGSEAL_KMS_AUDIT")
        .env_remove("FRAGSEAL_KMS_STATE")
        .arg("kvs")
        .args(["--kms-state", env.path("kms.json").to_str().unwrap()])
        .args(["--store", env.path("store").to_str().unwrap()])
        .args(["--principal", CONSUMER, "get-media", "--stream-name", "cam"])
        .args([
            "--follow",
            "--start-selector-type",
            "NOW",
            "--max-fragments",
            "5",
        ])
        // Only an upper bound if the reader never sees the producer: the test then fails.
        .args([
            "--idle-timeout",
            "120",
            "--json",
            "-o",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader says when its start is fixed; only then does the producer write.
    let mut stderr = std::io::BufReader::new(reader.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("fragseal: following arn:aws:kinesisvideo:"),
        "{line}"
    );
    // A concurrent producer in another process: the reader follows the store it writes.
    let after = put_sample(&env);
    let done = reader.wait_with_output().unwrap();
    assert!(done.status.success(), "{line}");
    let v: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(v["Fragments"], 5, "{v}");
    assert_eq!(v["End"], "MaxFragments", "{v}");
    assert_eq!(v["ContinuationToken"], after[4].as_str(), "{v}");
    let mkv = std::fs::read(&out).unwrap();
    for n in &after {
        assert!(
            mkv.windows(n.len()).any(|w| w == n.as_bytes()),
            "{n} written"
        );
    }
    for n in &before {
        assert!(
            !mkv.windows(n.len()).any(|w| w == n.as_bytes()),
            "{n} skipped (NOW)"
        );
    }
    // Following from the earliest: every stored fragment, then the idle end.
    let idle = env.json(&[
        "--principal",
        CONSUMER,
        "get-media",
        "--stream-name",
        "cam",
        "--follow",
        "--idle-timeout",
        "0.2",
        "-o",
        "all.mkv",
    ]);
    assert_eq!(idle["Fragments"], 10, "{idle}");
    assert_eq!(idle["End"], "Idle", "{idle}");
}

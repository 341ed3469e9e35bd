//! The `fragseal` binary end to end: demo (text and JSON), seal/open round trips on a file and on
//! the sample MKV, inspect, denied credentials, tampering, malformed input, exit codes.
#![allow(clippy::unwrap_used, reason = "tests")]

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

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

#[test]
fn demo_text_report() {
    Command::cargo_bin("fragseal")
        .unwrap()
        .arg("demo")
        .assert()
        .success()
        .stdout(predicate::str::contains("→ 5 fragments"))
        .stdout(predicate::str::contains(
            "producer timestamps (ms): 0, 1000, 2000, 3000, 4000",
        ))
        .stdout(predicate::str::contains(
            "identical to the input, byte for byte",
        ))
        .stdout(predicate::str::contains(
            "refused   the producer opening fragment 0: KMS call failed: AccessDeniedException",
        ))
        .stdout(predicate::str::contains(
            "fragment 1 presented as fragment 0",
        ))
        .stdout(predicate::str::contains("GenerateDataKey ×1"))
        .stdout(predicate::str::contains("est. KMS cost"));
}

#[test]
fn demo_json_report() {
    let out = Command::cargo_bin("fragseal")
        .unwrap()
        .args(["demo", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    assert_eq!(v["fragments"], 5);
    assert_eq!(v["input_len"], 29309);
    assert_eq!(v["verified_byte_for_byte"], true);
    assert_eq!(v["codecs"][0], "V_MPEG4/ISO/AVC");
    let ts: Vec<u64> = v["fragment_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["producer_timestamp_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(ts, [0, 1000, 2000, 3000, 4000]);
    let sealed: u64 = v["fragment_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["sealed_len"].as_u64().unwrap())
        .sum();
    assert_eq!(v["sealed_bytes"], sealed);
    assert!(v["plaintext_bytes"].as_u64().unwrap() < sealed);
    assert!(v["seal"]["mib_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["open"]["mib_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(v["producer_open"]["refused"], true);
    assert_eq!(v["producer_open"]["error"], "AccessDeniedException");
    assert_eq!(v["moved_fragment"]["refused"], true);

    let creds = v["credentials"].as_array().unwrap();
    let producer = creds.iter().find(|c| c["role"] == "producer").unwrap();
    let consumer = creds.iter().find(|c| c["role"] == "consumer").unwrap();
    // One GenerateDataKey for five fragments; the producer's Decrypt was refused.
    assert_eq!(producer["kms_calls"]["GenerateDataKey"], 1);
    assert_eq!(producer["kms_calls"]["Decrypt"], 1);
    assert_eq!(producer["refused_kms_calls"], 1);
    // One Decrypt for five fragments, none refused.
    assert_eq!(consumer["kms_calls"]["Decrypt"], 1);
    assert_eq!(consumer["total_kms_calls"], 1);
    assert_eq!(consumer["refused_kms_calls"], 0);
    assert!(consumer["cache"]["hits"].as_u64().unwrap() >= 4);
    assert!(consumer["cache"]["hit_rate"].as_f64().unwrap() > 0.5);
    let cost = consumer["estimated_kms_cost_usd"].as_f64().unwrap();
    assert!((cost - 0.03 / 10_000.0).abs() < 1e-12, "{cost}");
}

#[test]
fn demo_on_a_given_file_and_bad_inputs() {
    let env = Env::new();
    // The live (unknown-size) rewrite of the sample works as input too: same fragments.
    let out = env
        .cmd(&[
            "demo",
            "--json",
            "--input",
            SAMPLE,
            "--frame-length",
            "1000",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    assert_eq!(v["fragments"], 5);
    assert_eq!(v["frame_length"], 1000);

    // --keep: the sealed fragments and the demo's KMS state, openable later by the consumer only.
    env.cmd(&["demo", "--keep", "kept"])
        .assert()
        .success()
        .stdout(predicate::str::contains("open them with"));
    let state = env.path("kept/fragseal-kms.json");
    env.cmd(&[
        "open",
        "kept",
        "-o",
        "kept-out",
        "--kms-state",
        s(&state),
        "--principal",
        "arn:aws:iam::111122223333:role/kvs-consumer",
    ])
    .assert()
    .success();
    env.cmd(&[
        "open",
        "kept",
        "-o",
        "kept-out2",
        "--kms-state",
        s(&state),
        "--principal",
        "arn:aws:iam::111122223333:role/kvs-producer",
    ])
    .assert()
    .code(4);
    env.cmd(&["demo", "--keep", "kept"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("already holds a demo result"));

    std::fs::write(env.path("not.mkv"), b"hello").unwrap();
    env.cmd(&["demo", "--input", "not.mkv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a Matroska"));
    env.cmd(&["demo", "--input", "missing.mkv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read missing.mkv: no such file or directory",
        ));
}

#[test]
fn seal_open_inspect_a_file() {
    let env = Env::new();
    let key_arn = env.key();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(env.path("data.bin"), &data).unwrap();
    env.cmd(&[
        "seal",
        "data.bin",
        "-o",
        "data.sealed",
        "--key",
        "alias/cam",
        "--fragment-number",
        "7",
        "--timestamp-ms",
        "1234",
        "--context",
        "site=lab",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains("sealed data.bin (200,000 bytes)"));

    // Inspect needs no key.
    let out = env
        .cmd(&["inspect", "data.sealed", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    assert_eq!(v["algorithm_suite"], "0x0478");
    assert_eq!(v["content_type"], "framed");
    assert_eq!(v["frame_length"], 65536);
    assert_eq!(v["frame_count"], 4); // 3 full frames + a final one of 3,392 bytes
    assert_eq!(v["plaintext_len"], 200_000);
    assert_eq!(v["encryption_context"]["site"], "lab");
    assert!(v["encryption_context"]["aws:kinesisvideo:arn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:kinesisvideo:"));
    assert_eq!(v["encrypted_data_keys"][0]["provider_id"], "aws-kms");
    assert_eq!(v["encrypted_data_keys"][0]["provider_info"], key_arn);
    assert_eq!(v["message_id"].as_str().unwrap().len(), 64);
    env.cmd(&["inspect", "data.sealed"])
        .assert()
        .success()
        .stdout(predicate::str::contains("0x0478 (AES-256-GCM, HKDF-SHA512"))
        .stdout(predicate::str::contains("site = lab"))
        .stdout(predicate::str::contains("frames:               4"));

    // Open with the identity it was sealed with.
    env.cmd(&[
        "open",
        "data.sealed",
        "-o",
        "data.out",
        "--fragment-number",
        "7",
        "--timestamp-ms",
        "1234",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains("fragment identity verified"));
    assert_eq!(std::fs::read(env.path("data.out")).unwrap(), data);

    // Another expected position: refused, nothing written.
    env.cmd(&[
        "open",
        "data.sealed",
        "-o",
        "wrong.out",
        "--fragment-number",
        "8",
        "--timestamp-ms",
        "1234",
    ])
    .assert()
    .code(3)
    .stderr(predicate::str::contains("authentication failed"));
    assert!(!env.path("wrong.out").exists());
    // Without identity check it opens like any ESDK message.
    env.cmd(&["open", "data.sealed", "-o", "any.out", "--no-identity"])
        .assert()
        .success();
    assert_eq!(std::fs::read(env.path("any.out")).unwrap(), data);
    // Refuses to overwrite.
    env.cmd(&["open", "data.sealed", "-o", "any.out", "--no-identity"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("already exists"));

    // One flipped bit: authentication failure.
    let mut sealed = std::fs::read(env.path("data.sealed")).unwrap();
    let at = sealed.len() - 100;
    sealed[at] ^= 1;
    std::fs::write(env.path("tampered.sealed"), &sealed).unwrap();
    env.cmd(&["open", "tampered.sealed", "-o", "t.out", "--no-identity"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("authentication failed"));

    // Only this key is trusted / another key is required.
    env.cmd(&[
        "open",
        "data.sealed",
        "-o",
        "k.out",
        "--no-identity",
        "--trusted-key",
        &key_arn,
    ])
    .assert()
    .success();
    env.cmd(&[
        "open",
        "data.sealed",
        "-o",
        "k2.out",
        "--no-identity",
        "--trusted-key",
        "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("no encrypted data key"));
}

#[test]
fn seal_open_the_mkv_stream_and_join_it() {
    let env = Env::new();
    env.key();
    let out = env
        .cmd(&[
            "seal",
            SAMPLE,
            "-o",
            "sealed",
            "--key",
            "alias/cam",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    assert_eq!(v["fragments"], 5);
    assert_eq!(v["kms_calls"], 1);
    let index: Value =
        serde_json::from_slice(&std::fs::read(env.path("sealed/index.json")).unwrap()).unwrap();
    assert_eq!(index["format"], "fragseal-sealed-stream");
    assert_eq!(index["fragments"].as_array().unwrap().len(), 5);
    assert_eq!(index["fragments"][3]["producer_timestamp_ms"], 3000);
    assert_eq!(index["fragments"][3]["file"], "fragment-000003.sealed");

    let out = env
        .cmd(&[
            "open",
            "sealed",
            "-o",
            "out",
            "--join",
            "joined.mkv",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    assert_eq!(v["fragments"], 5);
    assert_eq!(v["kms_calls"], 1);

    // Each opened fragment is the stream header (Segment size unknown) + one Cluster.
    let original = std::fs::read(SAMPLE).unwrap();
    let stream = fragseal::mkv::split(&original).unwrap();
    let live_init = stream.live_init_data();
    for f in stream.fragments() {
        let got = std::fs::read(env.path(&format!("out/fragment-{:06}.mkv", f.index()))).unwrap();
        let mut want = live_init.clone();
        want.extend_from_slice(f.bytes());
        assert_eq!(got, want, "fragment {}", f.index());
    }
    // The joined stream has the same clusters in the same order.
    let joined = std::fs::read(env.path("joined.mkv")).unwrap();
    let j = fragseal::mkv::split(&joined).unwrap();
    assert_eq!(j.init_data(), &live_init[..]);
    assert_eq!(j.fragments().len(), 5);
    for (a, b) in j.fragments().iter().zip(stream.fragments()) {
        assert_eq!(a.bytes(), b.bytes());
        assert_eq!(a.producer_timestamp_ms(), b.producer_timestamp_ms());
    }

    // GetMedia-style input (every fragment its own document) seals into the same fragments.
    let mut get_media = Vec::new();
    for i in 0..5 {
        get_media.extend(std::fs::read(env.path(&format!("out/fragment-{i:06}.mkv"))).unwrap());
    }
    std::fs::write(env.path("getmedia.mkv"), &get_media).unwrap();
    let out = env
        .cmd(&[
            "seal",
            "getmedia.mkv",
            "-o",
            "sealed_gm",
            "--key",
            "alias/cam",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(json_of(&out)["documents"], 5);
    assert_eq!(json_of(&out)["fragments"], 5);
    env.cmd(&[
        "open",
        "sealed_gm",
        "-o",
        "out_gm",
        "--join",
        "joined_gm.mkv",
    ])
    .assert()
    .success();
    assert_eq!(std::fs::read(env.path("joined_gm.mkv")).unwrap(), joined);

    // Reordering two fragment files is detected.
    std::fs::copy(
        env.path("sealed/fragment-000002.sealed"),
        env.path("sealed/fragment-000001.sealed"),
    )
    .unwrap();
    env.cmd(&["open", "sealed", "-o", "out2"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "opening fragment 1: authentication failed",
        ));
    assert!(
        !env.path("out2").exists(),
        "nothing is written unless all verify"
    );
    // Claiming another stream is refused.
    env.cmd(&[
        "open",
        "sealed",
        "-o",
        "out3",
        "--stream-arn",
        "arn:aws:kinesisvideo:us-east-1:111122223333:stream/other/1",
    ])
    .assert()
    .code(3);
    // Editing the index to match is refused too.
    let text = std::fs::read_to_string(env.path("sealed/index.json")).unwrap();
    std::fs::write(
        env.path("sealed/index.json"),
        text.replace("\"fragment_number\": 4", "\"fragment_number\": 5"),
    )
    .unwrap();
    env.cmd(&["open", "sealed", "-o", "out4"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("entry 4 names fragment 5"));
}

#[test]
fn least_privilege_credentials() {
    let env = Env::new();
    env.key();
    env.least_privilege();
    env.cmd(&["kms", "get-policy", "alias/cam"])
        .assert()
        .success()
        .stdout(predicate::str::contains("kms:GenerateDataKey"))
        .stdout(predicate::str::contains(PRODUCER));

    // The consumer may not seal, the producer may.
    env.cmd(&[
        "seal",
        SAMPLE,
        "-o",
        "sealed",
        "--key",
        "alias/cam",
        "--principal",
        CONSUMER,
    ])
    .assert()
    .code(4)
    .stderr(predicate::str::contains("AccessDeniedException"))
    .stderr(predicate::str::contains("kms:GenerateDataKey"));
    env.cmd(&[
        "seal",
        SAMPLE,
        "-o",
        "sealed",
        "--key",
        "alias/cam",
        "--principal",
        PRODUCER,
    ])
    .assert()
    .success();
    // The producer may not open, the consumer may.
    env.cmd(&["open", "sealed", "-o", "out", "--principal", PRODUCER])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("AccessDeniedException"))
        .stderr(predicate::str::contains("hint:"));
    env.cmd(&["open", "sealed", "-o", "out", "--principal", CONSUMER])
        .assert()
        .success();

    // The audit trail counts the calls per credential, refusals included.
    let out = env
        .cmd(&["kms", "audit", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    let callers = v["callers"].as_array().unwrap();
    let find = |arn: &str| callers.iter().find(|c| c["principal_arn"] == arn).unwrap();
    assert_eq!(find(PRODUCER)["calls"]["GenerateDataKey"], 1);
    assert_eq!(find(PRODUCER)["calls"]["Decrypt"], 1);
    // Each seal with `--key alias/cam` first asks DescribeKey (the strict keyring resolves the
    // alias once), which the least-privilege policy refuses: one more refusal per sealer.
    assert_eq!(find(PRODUCER)["errors"]["AccessDeniedException"], 2);
    assert_eq!(find(CONSUMER)["calls"]["Decrypt"], 1);
    assert_eq!(find(CONSUMER)["calls"]["GenerateDataKey"], 1);
    assert_eq!(find(CONSUMER)["errors"]["AccessDeniedException"], 2);
    env.cmd(&["kms", "audit"])
        .assert()
        .success()
        .stdout(predicate::str::contains(CONSUMER));
}

#[test]
fn kms_management() {
    let env = Env::new();
    let arn = env.key();
    env.cmd(&["kms", "alias", "alias/second", &arn])
        .assert()
        .success();
    let out = env
        .cmd(&["kms", "list", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json_of(&out);
    assert_eq!(v[0]["arn"], arn.as_str());
    assert_eq!(v[0]["state"], "Enabled");
    let aliases: Vec<&str> = v[0]["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(aliases, ["alias/cam", "alias/second"]);
    // A malformed policy is refused by KMS.
    std::fs::write(env.path("bad.json"), "{\"Statement\": 3}").unwrap();
    env.cmd(&["kms", "put-policy", "alias/cam", "bad.json"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("MalformedPolicyDocument"));
    env.cmd(&["kms", "alias", "alias/cam", &arn])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("AlreadyExists"));
}

#[test]
fn malformed_and_missing_inputs() {
    let env = Env::new();
    // No state file yet.
    std::fs::write(env.path("f.bin"), b"x").unwrap();
    env.cmd(&["seal", "f.bin", "-o", "f.sealed", "--key", "alias/cam"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no local KMS state file"))
        .stderr(predicate::str::contains("create-key"));
    env.key();
    // Unknown key.
    env.cmd(&["seal", "f.bin", "-o", "f.sealed", "--key", "alias/nope"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("NotFoundException"));
    // A truncated MKV: the error names the byte offset.
    let mkv = std::fs::read(SAMPLE).unwrap();
    std::fs::write(env.path("cut.mkv"), &mkv[..10_000]).unwrap();
    env.cmd(&["seal", "cut.mkv", "-o", "cut", "--key", "alias/cam"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("malformed MKV at byte 40"))
        .stderr(predicate::str::contains("short inside Segment"))
        .stderr(predicate::str::contains("add --whole"));
    // ... which --whole seals as one opaque file anyway.
    env.cmd(&[
        "seal",
        "cut.mkv",
        "-o",
        "cut.sealed",
        "--key",
        "alias/cam",
        "--whole",
    ])
    .assert()
    .success();
    // Not a sealed fragment.
    env.cmd(&["inspect", "cut.mkv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unsupported format version 0x1a"))
        .stderr(predicate::str::contains("this is an MKV stream"));
    let sealed = std::fs::read(env.path("cut.sealed")).unwrap();
    std::fs::write(env.path("short.sealed"), &sealed[..sealed.len() - 1]).unwrap();
    env.cmd(&["inspect", "short.sealed"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Frame"));
    env.cmd(&["open", "short.sealed", "-o", "x", "--no-identity"])
        .assert()
        .code(2);
    env.cmd(&["inspect", "missing.sealed"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such file"));
    // A folder without an index.
    std::fs::create_dir(env.path("empty")).unwrap();
    env.cmd(&["open", "empty", "-o", "o"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("index.json"));
    // Usage errors.
    env.cmd(&["seal", "f.bin"]).assert().code(1);
    env.cmd(&[
        "seal",
        "f.bin",
        "-o",
        "g",
        "--key",
        "alias/cam",
        "--context",
        "novalue",
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("KEY=VALUE"));
    env.cmd(&[
        "seal",
        "f.bin",
        "-o",
        "g",
        "--key",
        "alias/cam",
        "--principal",
        "bob",
    ])
    .assert()
    .code(1);
    Command::cargo_bin("fragseal")
        .unwrap()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes"));
}

#[cfg(not(feature = "aws"))]
#[test]
fn aws_backend_needs_the_feature() {
    let env = Env::new();
    std::fs::write(env.path("f.bin"), b"x").unwrap();
    env.cmd(&[
        "seal",
        "f.bin",
        "-o",
        "f.sealed",
        "--key",
        "alias/cam",
        "--kms",
        "aws",
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("--features aws"));
}

#[test]
fn paths_in_messages_are_the_ones_given() {
    let env = Env::new();
    let p = env.path("nothing-here.bin");
    env.cmd(&["inspect", s(&p)])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(s(&p)));
}

#[cfg(feature = "aws")]
mod support;

/// `--kms aws` against moto (started by tests/support; skipped with a notice when moto is not
/// installed, a failure with `FRAGSEAL_REQUIRE_INTEROP=1`).
#[cfg(feature = "aws")]
#[test]
fn aws_backend_against_moto() {
    use std::io::{Read, Write};

    let server = match support::shared_moto() {
        Ok(s) => s,
        Err(e) => {
            return support::unavailable(
                "aws_backend_against_moto",
                &format!("moto unavailable: {e}"),
            )
        }
    };
    // CreateKey through moto's JSON API (moto accepts any signature by default).
    let body = "{\"Description\":\"fragseal cli test\"}";
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    write!(
        conn,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Amz-Target: TrentService.CreateKey\r\n\
         Content-Type: application/x-amz-json-1.1\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDFRAGSEALTEST/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.port(),
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    let json_start = response.find("\r\n\r\n").unwrap() + 4;
    let v: Value = serde_json::from_str(&response[json_start..]).unwrap();
    let key_arn = v["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();

    let env = Env::new();
    let aws = |args: &[&str]| {
        let mut c = env.cmd(args);
        c.args(["--kms", "aws", "--endpoint-url", &server.endpoint()])
            .env("AWS_ACCESS_KEY_ID", "AKIDFRAGSEALTEST")
            .env("AWS_SECRET_ACCESS_KEY", "fragseal-test-secret")
            .env_remove("AWS_SESSION_TOKEN");
        c
    };
    let out = aws(&["seal", SAMPLE, "-o", "sealed", "--key", &key_arn, "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(json_of(&out)["kms_calls"], 1);
    aws(&["open", "sealed", "-o", "out", "--join", "joined.mkv"])
        .assert()
        .success();
    let joined = std::fs::read(env.path("joined.mkv")).unwrap();
    assert_eq!(fragseal::mkv::split(&joined).unwrap().fragments().len(), 5);
    // Without credentials: a usage error; with an endpoint nobody listens on: unavailable.
    env.cmd(&["open", "sealed", "-o", "o2", "--kms", "aws"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("AWS_ACCESS_KEY_ID"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    env.cmd(&[
        "open",
        "sealed",
        "-o",
        "o3",
        "--kms",
        "aws",
        "--endpoint-url",
        &dead,
    ])
    .env("AWS_ACCESS_KEY_ID", "AKIDFRAGSEALTEST")
    .env("AWS_SECRET_ACCESS_KEY", "fragseal-test-secret")
    .assert()
    .code(5)
    .stderr(predicate::str::contains("TransportError"));
}

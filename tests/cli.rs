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
        "--key",
        "alias/fragseal-demo",
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
        "--key",
        "alias/fragseal-demo",
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
        "--key",
        "alias/cam",
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
        "--key",
        "alias/cam",
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
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "data.sealed",
        "-o",
        "any.out",
        "--no-identity",
    ])
    .assert()
    .success();
    assert_eq!(std::fs::read(env.path("any.out")).unwrap(), data);
    // Refuses to overwrite.
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "data.sealed",
        "-o",
        "any.out",
        "--no-identity",
    ])
    .assert()
    .code(6)
    .stderr(predicate::str::contains("already exists"));

    // One flipped bit: authentication failure.
    let mut sealed = std::fs::read(env.path("data.sealed")).unwrap();
    let at = sealed.len() - 100;
    sealed[at] ^= 1;
    std::fs::write(env.path("tampered.sealed"), &sealed).unwrap();
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "tampered.sealed",
        "-o",
        "t.out",
        "--no-identity",
    ])
    .assert()
    .code(3)
    .stderr(predicate::str::contains("authentication failed"));

    // Strict by key ARN / another key is required / discovery (any account, or this one).
    env.cmd(&[
        "open",
        "--key",
        &key_arn,
        "data.sealed",
        "-o",
        "k.out",
        "--no-identity",
    ])
    .assert()
    .success();
    env.cmd(&[
        "open",
        "--key",
        "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000",
        "data.sealed",
        "-o",
        "k2.out",
        "--no-identity",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("no encrypted data key"));
    env.cmd(&[
        "open",
        "--discovery",
        "data.sealed",
        "-o",
        "k3.out",
        "--no-identity",
    ])
    .assert()
    .success();
    env.cmd(&[
        "open",
        "--discovery",
        "--discovery-account",
        "111122223333",
        "data.sealed",
        "-o",
        "k4.out",
        "--no-identity",
    ])
    .assert()
    .success();
    env.cmd(&[
        "open",
        "--discovery",
        "--discovery-account",
        "444455556666",
        "data.sealed",
        "-o",
        "k5.out",
        "--no-identity",
    ])
    .assert()
    .code(2);
    // Neither --key nor --discovery: a usage error.
    env.cmd(&["open", "data.sealed", "-o", "k6.out", "--no-identity"])
        .assert()
        .code(1);
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
            "--key",
            "alias/cam",
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
        "--key",
        "alias/cam",
        "sealed_gm",
        "-o",
        "out_gm",
        "--join",
        "joined_gm.mkv",
    ])
    .assert()
    .success();
    assert_eq!(std::fs::read(env.path("joined_gm.mkv")).unwrap(), joined);

    // Reordering two fragment files is detected: by the sizes in the index, and with the
    // index edited to match, by the fragment identity.
    std::fs::copy(
        env.path("sealed/fragment-000002.sealed"),
        env.path("sealed/fragment-000001.sealed"),
    )
    .unwrap();
    env.cmd(&["open", "--key", "alias/cam", "sealed", "-o", "out2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("but the index gives"));
    let mut idx: Value =
        serde_json::from_slice(&std::fs::read(env.path("sealed/index.json")).unwrap()).unwrap();
    idx["fragments"][1]["sealed_len"] = idx["fragments"][2]["sealed_len"].clone();
    std::fs::write(env.path("sealed/index.json"), idx.to_string()).unwrap();
    env.cmd(&["open", "--key", "alias/cam", "sealed", "-o", "out2"])
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
        "--key",
        "alias/cam",
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
        text.replace("\"fragment_number\":4", "\"fragment_number\":5"),
    )
    .unwrap();
    env.cmd(&["open", "--key", "alias/cam", "sealed", "-o", "out4"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("entry 4 names fragment 5"));
}

#[test]
fn least_privilege_credentials() {
    let env = Env::new();
    let key_arn = env.key();
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
    // The producer may not open (it is refused at Decrypt), the consumer may (and resolves the
    // alias with DescribeKey).
    env.cmd(&[
        "open",
        "--key",
        &key_arn,
        "sealed",
        "-o",
        "out",
        "--principal",
        PRODUCER,
    ])
    .assert()
    .code(4)
    .stderr(predicate::str::contains("AccessDeniedException"))
    .stderr(predicate::str::contains("hint:"));
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "sealed",
        "-o",
        "out",
        "--principal",
        CONSUMER,
    ])
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
    assert_eq!(find(PRODUCER)["errors"]["AccessDeniedException"], 1);
    assert_eq!(find(CONSUMER)["calls"]["Decrypt"], 1);
    // The consumer resolved alias/cam twice: for its refused seal and for its open.
    assert_eq!(find(CONSUMER)["calls"]["DescribeKey"], 2);
    assert_eq!(find(CONSUMER)["calls"]["GenerateDataKey"], 1);
    assert_eq!(find(CONSUMER)["errors"]["AccessDeniedException"], 1);
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
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "short.sealed",
        "-o",
        "x",
        "--no-identity",
    ])
    .assert()
    .code(2);
    env.cmd(&["inspect", "missing.sealed"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such file"));
    // A folder without an index.
    std::fs::create_dir(env.path("empty")).unwrap();
    env.cmd(&["open", "--key", "alias/cam", "empty", "-o", "o"])
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
    aws(&[
        "open",
        "--key",
        &key_arn,
        "sealed",
        "-o",
        "out",
        "--join",
        "joined.mkv",
    ])
    .assert()
    .success();
    let joined = std::fs::read(env.path("joined.mkv")).unwrap();
    assert_eq!(fragseal::mkv::split(&joined).unwrap().fragments().len(), 5);
    // Without credentials: a usage error; with an endpoint nobody listens on: unavailable.
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "sealed",
        "-o",
        "o2",
        "--kms",
        "aws",
    ])
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
        "--key",
        "alias/cam",
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

/// The sample with 32 MiB of Void before its first Cluster and then 2,000 tiny Clusters: a
/// 33.6 MB file whose 2,005 fragments would each carry 32 MiB of init data (~64 GiB).
#[cfg(unix)]
fn init_data_amplifier() -> Vec<u8> {
    stream_with(32 << 20, 2000)
}

/// The sample (Segment of unknown size) with `void` bytes of Void before its first Cluster and
/// `extra` tiny Clusters after its own.
#[cfg(unix)]
fn stream_with(void: usize, extra: u16) -> Vec<u8> {
    let sample = std::fs::read(SAMPLE).unwrap();
    // EBML header (40 bytes), then the Segment: its 8-byte size set to unknown.
    assert_eq!(&sample[40..44], &[0x18, 0x53, 0x80, 0x67]);
    let cluster_id = [0x1F, 0x43, 0xB6, 0x75];
    let first_cluster = sample.windows(4).position(|w| w == cluster_id).unwrap();
    let mut out = sample[..first_cluster].to_vec();
    out[45..52].copy_from_slice(&[0xFF; 7]);
    out[44] = 0x01;
    // Void (0xEC), 8-byte size, zeros.
    if void > 0 {
        out.push(0xEC);
        out.push(0x01);
        out.extend_from_slice(&(void as u64).to_be_bytes()[1..]);
        out.resize(out.len() + void, 0);
    }
    out.extend_from_slice(&sample[first_cluster..]);
    // Clusters holding only a Timestamp (0xE7).
    for i in 0..extra {
        out.extend_from_slice(&cluster_id);
        out.push(0x84); // size 4
        out.extend_from_slice(&[0xE7, 0x82]);
        out.extend_from_slice(&(5000 + i).to_be_bytes());
    }
    out
}

#[cfg(unix)]
#[test]
fn init_data_amplification_is_refused_before_any_work() {
    let env = Env::new();
    env.key();
    std::fs::write(env.path("amplifier.mkv"), init_data_amplifier()).unwrap();
    for args in [
        &["seal", "amplifier.mkv", "-o", "out", "--key", "alias/cam"][..],
        &["demo", "--input", "amplifier.mkv"][..],
    ] {
        capped(&env, args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "more than 268435456 bytes of plaintext",
            ));
    }
    assert!(!env.path("out").exists(), "nothing is written");
    // The audit trail shows no GenerateDataKey: refused before any KMS call.
    env.cmd(&["kms", "audit"])
        .assert()
        .success()
        .stdout(predicate::str::contains("GenerateDataKey").not());
}

/// A sealed folder of the sample in `sealed/`, and the key ARN.
fn sealed_sample(env: &Env) -> String {
    let arn = env.key();
    env.cmd(&["seal", SAMPLE, "-o", "sealed", "--key", "alias/cam"])
        .assert()
        .success();
    arn
}

#[cfg(unix)]
#[test]
fn open_into_a_folder_neither_overwrites_nor_follows_symlinks() {
    let env = Env::new();
    sealed_sample(&env);
    std::fs::create_dir(env.path("out")).unwrap();
    std::fs::write(env.path("victim.txt"), b"victim").unwrap();
    std::fs::write(env.path("out/fragment-000003.mkv"), b"keep me").unwrap();
    std::os::unix::fs::symlink(env.path("victim.txt"), env.path("out/fragment-000002.mkv"))
        .unwrap();
    capped(&env, &["open", "--key", "alias/cam", "sealed", "-o", "out"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(std::fs::read(env.path("victim.txt")).unwrap(), b"victim");
    assert_eq!(
        std::fs::read(env.path("out/fragment-000003.mkv")).unwrap(),
        b"keep me"
    );
    assert!(!env.path("out/fragment-000000.mkv").exists());
    // --force replaces both, atomically, and replaces the symlink itself.
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "sealed",
        "-o",
        "out",
        "--force",
    ])
    .assert()
    .success();
    assert_eq!(std::fs::read(env.path("victim.txt")).unwrap(), b"victim");
    let link = std::fs::symlink_metadata(env.path("out/fragment-000002.mkv")).unwrap();
    assert!(
        link.file_type().is_file(),
        "the symlink was replaced, not followed"
    );
    assert_ne!(
        std::fs::read(env.path("out/fragment-000003.mkv")).unwrap(),
        b"keep me"
    );
    let names: Vec<String> = std::fs::read_dir(env.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 5, "no temporary file is left: {names:?}");
}

#[cfg(unix)]
#[test]
fn seal_into_a_folder_without_index_neither_overwrites_nor_follows_symlinks() {
    let env = Env::new();
    env.key();
    std::fs::create_dir(env.path("sealed")).unwrap();
    std::fs::write(env.path("victim.txt"), b"victim").unwrap();
    std::fs::write(env.path("sealed/fragment-000003.sealed"), b"keep me").unwrap();
    std::os::unix::fs::symlink(
        env.path("victim.txt"),
        env.path("sealed/fragment-000002.sealed"),
    )
    .unwrap();
    capped(
        &env,
        &["seal", SAMPLE, "-o", "sealed", "--key", "alias/cam"],
    )
    .assert()
    .code(6)
    .stderr(predicate::str::contains("already exists"));
    assert_eq!(std::fs::read(env.path("victim.txt")).unwrap(), b"victim");
    assert_eq!(
        std::fs::read(env.path("sealed/fragment-000003.sealed")).unwrap(),
        b"keep me"
    );
    assert!(!env.path("sealed/index.json").exists());
    env.cmd(&[
        "seal",
        SAMPLE,
        "-o",
        "sealed",
        "--key",
        "alias/cam",
        "--force",
    ])
    .assert()
    .success();
    assert_eq!(std::fs::read(env.path("victim.txt")).unwrap(), b"victim");
    let link = std::fs::symlink_metadata(env.path("sealed/fragment-000002.sealed")).unwrap();
    assert!(link.file_type().is_file());
    env.cmd(&["open", "--key", "alias/cam", "sealed", "-o", "out"])
        .assert()
        .success();
}

#[cfg(unix)]
#[test]
fn dangling_symlink_as_output_file_is_not_followed() {
    let env = Env::new();
    env.key();
    std::fs::write(env.path("data.bin"), b"some data").unwrap();
    std::os::unix::fs::symlink(env.path("created-by-attack"), env.path("out.sealed")).unwrap();
    capped(
        &env,
        &["seal", "data.bin", "-o", "out.sealed", "--key", "alias/cam"],
    )
    .assert()
    .code(6)
    .stderr(predicate::str::contains("already exists"));
    assert!(!env.path("created-by-attack").exists());
    env.cmd(&[
        "seal",
        "data.bin",
        "-o",
        "data.sealed",
        "--key",
        "alias/cam",
    ])
    .assert()
    .success();
    std::os::unix::fs::symlink(env.path("created-by-attack"), env.path("out.bin")).unwrap();
    capped(
        &env,
        &["open", "--key", "alias/cam", "data.sealed", "-o", "out.bin"],
    )
    .assert()
    .code(6);
    assert!(!env.path("created-by-attack").exists());
    // --force replaces the link itself.
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "data.sealed",
        "-o",
        "out.bin",
        "--force",
    ])
    .assert()
    .success();
    assert!(!env.path("created-by-attack").exists());
    assert_eq!(std::fs::read(env.path("out.bin")).unwrap(), b"some data");
}

#[cfg(unix)]
#[test]
fn sealed_input_linked_to_dev_zero_fails_cleanly() {
    let env = Env::new();
    sealed_sample(&env);
    std::fs::remove_file(env.path("sealed/fragment-000000.sealed")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", env.path("sealed/fragment-000000.sealed")).unwrap();
    capped(&env, &["open", "--key", "alias/cam", "sealed", "-o", "out"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a regular file"));
    assert!(!env.path("out").exists());
    std::os::unix::fs::symlink("/dev/zero", env.path("zero.sealed")).unwrap();
    capped(&env, &["inspect", "zero.sealed"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a regular file"));
    capped(
        &env,
        &[
            "open",
            "--key",
            "alias/cam",
            "zero.sealed",
            "-o",
            "z.out",
            "--no-identity",
        ],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains("not a regular file"));
    assert!(!env.path("z.out").exists());
}

#[test]
fn oversized_sealed_inputs_are_refused_by_size() {
    let env = Env::new();
    sealed_sample(&env);
    // Larger than --max-size.
    env.cmd(&[
        "inspect",
        "sealed/fragment-000001.sealed",
        "--max-size",
        "100",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("larger than the 100-byte limit"));
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "sealed/fragment-000001.sealed",
        "-o",
        "x",
        "--no-identity",
        "--max-size",
        "100",
    ])
    .assert()
    .code(2);
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "sealed",
        "-o",
        "out",
        "--max-size",
        "100",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("more than the 100-byte limit"));
    // A fragment that grew past what the index says.
    let mut f = std::fs::read(env.path("sealed/fragment-000004.sealed")).unwrap();
    f.extend_from_slice(&[0; 1000]);
    std::fs::write(env.path("sealed/fragment-000004.sealed"), f).unwrap();
    env.cmd(&["open", "--key", "alias/cam", "sealed", "-o", "out"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("but the index gives"));
    assert!(!env.path("out").exists());
}

#[cfg(target_os = "linux")]
#[test]
fn audit_log_on_dev_full_fails_the_command() {
    let env = Env::new();
    env.cmd(&[
        "kms",
        "create-key",
        "--alias",
        "alias/unaudited",
        "--audit-log",
        "/dev/full",
    ])
    .assert()
    .code(6)
    .stderr(predicate::str::contains(
        "audit record of this CreateKey call could not be written",
    ));
    env.key();
    std::fs::write(env.path("data.bin"), b"data").unwrap();
    env.cmd(&[
        "seal",
        "data.bin",
        "-o",
        "data.sealed",
        "--key",
        "alias/cam",
        "--audit-log",
        "/dev/full",
    ])
    .assert()
    .code(6)
    .stderr(predicate::str::contains("could not be written"));
    assert!(
        !env.path("data.sealed").exists(),
        "nothing unaudited is written"
    );
    env.cmd(&[
        "seal",
        "data.bin",
        "-o",
        "data.sealed",
        "--key",
        "alias/cam",
    ])
    .assert()
    .success();
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "data.sealed",
        "-o",
        "data.out",
        "--audit-log",
        "/dev/full",
    ])
    .assert()
    .code(6)
    .stderr(predicate::str::contains("could not be written"));
    assert!(!env.path("data.out").exists());
}

/// No byte a terminal acts on: C0 controls but `\n`, DEL, and the C1 range as UTF-8.
fn assert_no_raw_controls(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    for c in text.chars() {
        assert!(
            c == '\n' || !c.is_control(),
            "{what} printed a raw control character {c:?}:\n{text}"
        );
    }
}

#[test]
fn context_values_with_escape_sequences_are_escaped_by_inspect() {
    let env = Env::new();
    env.key();
    std::fs::write(env.path("data.bin"), b"data").unwrap();
    env.cmd(&[
        "seal",
        "data.bin",
        "-o",
        "data.sealed",
        "--key",
        "alias/cam",
        "--context",
        "note=ok\u{1b}[2J\u{1b}]0;owned\u{7}\nforged line = 1\r\u{9b}31m",
    ])
    .assert()
    .success();
    let out = env
        .cmd(&["inspect", "data.sealed"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_no_raw_controls("inspect", &out);
    let text = String::from_utf8(out).unwrap();
    assert!(!text.lines().any(|l| l.starts_with("forged")), "{text}");
    assert!(text.contains("\\u{1b}[2J"), "{text}");
    // JSON keeps the exact value (escaped by the JSON encoder).
    let out = env
        .cmd(&["inspect", "data.sealed", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_no_raw_controls("inspect --json", &out);
    assert_eq!(
        json_of(&out)["encryption_context"]["note"],
        "ok\u{1b}[2J\u{1b}]0;owned\u{7}\nforged line = 1\r\u{9b}31m"
    );
}

#[test]
fn forged_principals_in_the_audit_log_cannot_forge_lines_in_kms_audit() {
    let env = Env::new();
    let evil = "arn:aws:iam::111122223333:role/x\n  arn:aws:iam::111122223333:role/admin (AKIA): 1 call(s): \u{1b}[31mDecrypt";
    let event = serde_json::json!({
        "eventName": "Decrypt\u{1b}[2K",
        "userIdentity": { "arn": evil, "accessKeyId": "AKIA\r\u{9b}0m" },
        "errorCode": "AccessDenied\nException",
    });
    std::fs::write(env.path("audit.jsonl"), format!("{event}\n")).unwrap();
    let out = env
        .cmd(&["kms", "audit", "--audit-log", "audit.jsonl"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_no_raw_controls("kms audit", &out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text.lines().count(),
        2,
        "one header line and one caller line:\n{text}"
    );
    let out = env
        .cmd(&["kms", "audit", "--audit-log", "audit.jsonl", "--events"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_no_raw_controls("kms audit --events", &out);
}

#[test]
fn case_variant_context_key_cannot_forge_into_another_stream() {
    let env = Env::new();
    env.key();
    let a = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/a/1";
    let b = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/b/1";
    let prod_a = "arn:aws:iam::111122223333:role/prodA";
    let cons_b = "arn:aws:iam::111122223333:role/consB";
    // One key: prodA may GenerateDataKey for stream A, consB may Decrypt for stream B.
    let ec = |arn: &str| serde_json::json!({ "StringEquals": { "kms:EncryptionContext:aws:kinesisvideo:arn": arn } });
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111122223333:root" },
              "Action": "kms:*", "Resource": "*" },
            { "Effect": "Allow", "Principal": { "AWS": prod_a },
              "Action": "kms:GenerateDataKey", "Resource": "*", "Condition": ec(a) },
            { "Effect": "Allow", "Principal": { "AWS": cons_b },
              "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*", "Condition": ec(b) },
        ]
    });
    std::fs::write(env.path("policy.json"), policy.to_string()).unwrap();
    env.cmd(&["kms", "put-policy", "alias/cam", "policy.json"])
        .assert()
        .success();
    std::fs::write(env.path("forged.bin"), b"forged fragment of stream B").unwrap();
    for variant in [
        "AWS:KINESISVIDEO:ARN",
        "aws:KinesisVideo:arn",
        "aws:kinesisvideo:ARN",
    ] {
        env.cmd(&[
            "seal",
            "forged.bin",
            "-o",
            "forged.sealed",
            "--key",
            "alias/cam",
            "--stream-arn",
            b,
            "--context",
            &format!("{variant}={a}"),
            "--principal",
            prod_a,
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("set by --stream-arn"));
        assert!(!env.path("forged.sealed").exists());
    }
    // Two extra keys that differ only in case are refused too.
    env.cmd(&[
        "seal",
        "forged.bin",
        "-o",
        "forged.sealed",
        "--key",
        "alias/cam",
        "--context",
        "site=a",
        "--context",
        "SITE=b",
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("differ only in case"));
}

#[test]
fn attacker_key_is_refused_by_default() {
    let env = Env::new();
    let cam1 = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam1/1";
    let attacker = "arn:aws:iam::111122223333:role/attacker";
    env.cmd(&["kms", "create-key", "--alias", "alias/cam1"])
        .assert()
        .success();
    env.cmd(&[
        "kms",
        "put-policy",
        "alias/cam1",
        "--least-privilege",
        "--producer",
        PRODUCER,
        "--consumer",
        CONSUMER,
        "--stream-arn",
        cam1,
    ])
    .assert()
    .success();
    // The attacker's key (the local KMS has no IAM policies, so the account creates it for
    // the attacker): the attacker may GenerateDataKey, and anyone may Decrypt.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111122223333:root" },
              "Action": "kms:*", "Resource": "*" },
            { "Effect": "Allow", "Principal": { "AWS": attacker },
              "Action": "kms:GenerateDataKey", "Resource": "*" },
            { "Effect": "Allow", "Principal": { "AWS": "*" }, "Action": "kms:Decrypt", "Resource": "*" },
        ]
    });
    std::fs::write(env.path("att.json"), policy.to_string()).unwrap();
    env.cmd(&[
        "kms",
        "create-key",
        "--alias",
        "alias/att",
        "--policy",
        "att.json",
    ])
    .assert()
    .success();
    std::fs::write(env.path("evil.bin"), b"forged fragment 0 of cam1").unwrap();
    env.cmd(&[
        "seal",
        "evil.bin",
        "-o",
        "evil.sealed",
        "--key",
        "alias/att",
        "--stream-arn",
        cam1,
        "--fragment-number",
        "0",
        "--principal",
        attacker,
    ])
    .assert()
    .success();
    // The consumer, strict on cam1's key: refused, nothing written.
    env.cmd(&[
        "open",
        "evil.sealed",
        "-o",
        "out.bin",
        "--stream-arn",
        cam1,
        "--key",
        "alias/cam1",
        "--principal",
        CONSUMER,
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("no encrypted data key"));
    assert!(!env.path("out.bin").exists());
    // No default trust: neither --key nor --discovery is a usage error.
    env.cmd(&[
        "open",
        "evil.sealed",
        "-o",
        "out.bin",
        "--stream-arn",
        cam1,
        "--principal",
        CONSUMER,
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("--key"));
    assert!(!env.path("out.bin").exists());
    // A genuine fragment of cam1 opens strictly by alias.
    std::fs::write(env.path("good.bin"), b"fragment 0 of cam1").unwrap();
    env.cmd(&[
        "seal",
        "good.bin",
        "-o",
        "good.sealed",
        "--key",
        "alias/cam1",
        "--stream-arn",
        cam1,
        "--principal",
        PRODUCER,
    ])
    .assert()
    .success();
    env.cmd(&[
        "open",
        "good.sealed",
        "-o",
        "good.out",
        "--stream-arn",
        cam1,
        "--key",
        "alias/cam1",
        "--principal",
        CONSUMER,
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains("fragment identity verified"));
}

/// Writes a raw key file with `mode`.
#[cfg(unix)]
fn raw_key_file(env: &Env, name: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = env.path(name);
    std::fs::write(
        &p,
        r#"{"namespace": "fragseal-test", "name": "k1", "key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}"#,
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[cfg(unix)]
#[test]
fn raw_key_file_seals_and_opens_and_must_be_private() {
    let env = Env::new();
    let key = raw_key_file(&env, "key.json", 0o600);
    std::fs::write(env.path("data.bin"), b"raw-key data").unwrap();
    env.cmd(&[
        "seal",
        "data.bin",
        "-o",
        "data.sealed",
        "--raw-key-file",
        s(&key),
    ])
    .assert()
    .success();
    env.cmd(&[
        "open",
        "data.sealed",
        "-o",
        "data.out",
        "--raw-key-file",
        s(&key),
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains("fragment identity verified"));
    assert_eq!(
        std::fs::read(env.path("data.out")).unwrap(),
        b"raw-key data"
    );
    let out = env
        .cmd(&["inspect", "data.sealed", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        json_of(&out)["encrypted_data_keys"][0]["provider_id"],
        "fragseal-test"
    );
    // An MKV stream too (no KMS at all: no state file exists here).
    env.cmd(&["seal", SAMPLE, "-o", "sealed", "--raw-key-file", s(&key)])
        .assert()
        .success();
    env.cmd(&["open", "sealed", "-o", "out", "--raw-key-file", s(&key)])
        .assert()
        .success();
    assert!(!env.path("kms.json").exists());

    // Readable by others, a symlink, a key on the command line, both a KMS and a raw key.
    let shared = raw_key_file(&env, "shared.json", 0o644);
    env.cmd(&[
        "open",
        "data.sealed",
        "-o",
        "x1",
        "--raw-key-file",
        s(&shared),
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("mode 0644"));
    std::os::unix::fs::symlink(&key, env.path("link.json")).unwrap();
    env.cmd(&[
        "open",
        "data.sealed",
        "-o",
        "x2",
        "--raw-key-file",
        "link.json",
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("symlink"));
    env.cmd(&[
        "open",
        "data.sealed",
        "-o",
        "x3",
        "--raw-key-file",
        s(&key),
        "--key",
        "alias/cam",
    ])
    .assert()
    .code(1);
    env.cmd(&[
        "seal",
        "data.bin",
        "-o",
        "x4",
        "--raw-key-file",
        s(&key),
        "--key",
        "k",
    ])
    .assert()
    .code(1);
    assert!(!env.path("x1").exists() && !env.path("x2").exists());
    // A wrong key length.
    let p = env.path("short.json");
    std::fs::write(&p, r#"{"namespace": "n", "name": "k", "key": "AAEC"}"#).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    env.cmd(&[
        "seal",
        "data.bin",
        "-o",
        "x5",
        "--raw-key-file",
        "short.json",
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("must be 32"));
}

#[test]
fn control_characters_in_identities_are_refused() {
    let env = Env::new();
    env.key();
    for (flag, value) in [
        (
            "--principal",
            "arn:aws:iam::111122223333:role/x\n  arn:aws:iam::111122223333:root",
        ),
        ("--principal", "arn:aws:iam::111122223333:role/x\u{1b}[2K"),
        ("--access-key-id", "AKIA\r\u{9b}0m"),
    ] {
        env.cmd(&["kms", "list", flag, value])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("control or invisible characters"));
    }
    // Nothing was recorded under those identities.
    let out = env
        .cmd(&["kms", "audit"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_no_raw_controls("kms audit", &out);
    assert!(!String::from_utf8(out).unwrap().contains("role/x"));
}

/// A principal of one account presented as a caller in another: the credential would claim
/// `--account`'s identity for an ARN that contradicts it. Refused as a usage error, before any
/// KMS call (so nothing is audited under it).
#[test]
fn principal_of_another_account_is_a_usage_error() {
    let env = Env::new();
    env.key();
    std::fs::write(env.path("f.bin"), b"x").unwrap();
    let mismatched = [
        "--principal",
        "arn:aws:iam::444455556666:role/x",
        "--account",
        "111122223333",
    ];
    for command in [
        &["kms", "list"][..],
        &["seal", "f.bin", "-o", "f.sealed", "--key", "alias/cam"][..],
    ] {
        env.cmd(&[command, &mismatched[..]].concat())
            .assert()
            .code(1)
            .stderr(predicate::str::contains("contradicts"))
            .stderr(predicate::str::contains("111122223333"))
            .stderr(predicate::str::contains("arn:aws:iam::444455556666:role/x"));
    }
    assert!(!env.path("f.sealed").exists());
    // Nothing was recorded under that identity.
    let out = env
        .cmd(&["kms", "audit"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(!String::from_utf8(out).unwrap().contains("role/x"));
}

#[cfg(unix)]
#[test]
fn many_fragments_do_not_hold_one_open_file_each() {
    let env = Env::new();
    env.key();
    std::fs::write(env.path("many.mkv"), stream_with(0, 1000)).unwrap();
    capped(
        &env,
        &["seal", "many.mkv", "-o", "sealed", "--key", "alias/cam"],
    )
    .assert()
    .success()
    .stdout(predicate::str::contains("sealed 1005 fragments"));
    capped(
        &env,
        &[
            "open",
            "--key",
            "alias/cam",
            "sealed",
            "-o",
            "out",
            "--join",
            "j.mkv",
        ],
    )
    .assert()
    .success()
    .stdout(predicate::str::contains("opened 1005 fragments"));
    assert_eq!(std::fs::read_dir(env.path("out")).unwrap().count(), 1005);
}

//! `fragseal demo`: the text and JSON reports, a given file, bad inputs.

use super::*;

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

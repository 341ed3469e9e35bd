//! `seal`, `open`, `inspect` and `join` on files and MKV streams; malformed and missing
//! inputs; paths in messages.

use super::*;

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

#[test]
fn paths_in_messages_are_the_ones_given() {
    let env = Env::new();
    let p = env.path("nothing-here.bin");
    env.cmd(&["inspect", s(&p)])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(s(&p)));
}

#[test]
fn seal_chooses_the_signed_suite_and_open_can_require_it() {
    let env = Env::new();
    env.key();
    let data: Vec<u8> = (0..70_000u32).map(|i| (i % 239) as u8).collect();
    std::fs::write(env.path("data.bin"), &data).unwrap();
    for (suite, out) in [("0x0578", "signed.sealed"), ("0x0478", "unsigned.sealed")] {
        env.cmd(&[
            "seal",
            "data.bin",
            "-o",
            out,
            "--key",
            "alias/cam",
            "--suite",
            suite,
        ])
        .assert()
        .success();
        let v = json_of(
            &env.cmd(&["inspect", out, "--json"])
                .assert()
                .success()
                .get_output()
                .stdout
                .clone(),
        );
        assert_eq!(v["algorithm_suite"], suite);
    }
    // A signed message opens under --require-signed.
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "signed.sealed",
        "-o",
        "signed.out",
        "--require-signed",
    ])
    .assert()
    .success();
    assert_eq!(std::fs::read(env.path("signed.out")).unwrap(), data);
    // An unsigned one is refused, and nothing is written.
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "unsigned.sealed",
        "-o",
        "unsigned.out",
        "--require-signed",
    ])
    .assert()
    .failure()
    .stderr(predicate::str::contains("RequireSigned refuses it"));
    assert!(!env.path("unsigned.out").exists());
    // Without the flag it opens.
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "unsigned.sealed",
        "-o",
        "unsigned.out",
    ])
    .assert()
    .success();
    // A suite fragseal does not seal is a usage error.
    env.cmd(&[
        "seal",
        "data.bin",
        "-o",
        "x.sealed",
        "--key",
        "alias/cam",
        "--suite",
        "0x0178",
    ])
    .assert()
    .failure()
    .stderr(predicate::str::contains("not one fragseal seals"));
}

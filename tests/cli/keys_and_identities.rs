//! Issue 11 attacks on keys and identities: case-variant context keys, an attacker's key, raw
//! key files, a principal of another account.

use super::*;

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

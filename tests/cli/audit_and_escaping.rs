//! Issue 11 attacks on the audit trail and the terminal: a full disk, forged principals,
//! escape sequences, control characters.

use super::*;

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

//! Real AWS clients against `fragseal kms serve` (issue 12, item 6): boto3
//! (tests/python/server_boto3.py), from the pinned venv of scripts/setup-python.sh. The AWS
//! CLI: tests/server_aws_cli.rs.
//!
//! Each test starts its own server with the standard IAM fixture (tests/support/server.rs) on
//! a free loopback port and kills it by PID when done. Without the venv the tests print why
//! they skip; with `FRAGSEAL_REQUIRE_INTEROP=1` (CI) they fail. The server itself is never
//! skipped: it is this crate's binary.
//!
//! The Python ESDK and fragseal's own AwsKms against the server: tests/server_esdk.rs and
//! tests/server_aws_kms.rs (feature `aws`).

#[path = "support/server.rs"]
mod server;
#[path = "support/signed_client.rs"]
mod signed_client;
mod support;

use serde_json::{json, Value};
use server::{assert_no_secret_logged, isolated_env, KmsServer, ACCOUNT, OTHER_ACCOUNT, REGION};
use std::path::{Path, PathBuf};
use std::process::Command;

fn python(test: &str, modules: &[&str]) -> Option<PathBuf> {
    match support::python_with(modules) {
        Ok(p) => Some(p),
        Err(e) => {
            support::unavailable(test, &e);
            None
        }
    }
}

fn start(test: &str) -> KmsServer {
    KmsServer::start(&[]).unwrap_or_else(|e| panic!("{test}: the server did not start: {e}"))
}

/// Writes the client configuration (endpoint and every user's keys) into the server's temp dir.
fn client_config(server: &KmsServer) -> PathBuf {
    let users: serde_json::Map<String, Value> = server
        .fixture
        .users
        .iter()
        .map(|u| {
            (
                u.name.clone(),
                json!({"access_key_id": u.access_key_id, "secret": u.secret, "arn": u.arn()}),
            )
        })
        .collect();
    let cfg = json!({
        "endpoint": server.endpoint(),
        "region": REGION,
        "account": ACCOUNT,
        "other_account": OTHER_ACCOUNT,
        "users": users,
    });
    let path = server.dir().join("clients.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).expect("json")).expect("write config");
    path
}

/// Runs one section of server_boto3.py; returns the names of the checks it passed.
fn boto3_section(test: &str, server: &KmsServer, python: &Path, section: &str) -> Vec<String> {
    let cfg = client_config(server);
    let mut cmd = Command::new(python);
    isolated_env(&mut cmd);
    let out = cmd
        .arg(support::python_script("server_boto3.py"))
        .arg(&cfg)
        .arg(section)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{test}: server_boto3.py {section} failed ({}):\n{}\nserver stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{test}: not JSON ({e}): {:?}", out.stdout));
    assert_eq!(v["boto3"], json!("1.44.8"), "{test}: the pinned boto3");
    v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c.as_str().expect("check name").to_owned())
        .collect()
}

#[track_caller]
fn assert_checks(got: &[String], want: &[&str]) {
    let got: Vec<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(got, want, "the checks that ran");
}

/// The audit records of failed calls, as (eventName, errorCode, userIdentity.accessKeyId).
fn audit_errors(server: &KmsServer) -> Vec<(String, String, String)> {
    server
        .audit_records()
        .iter()
        .filter_map(|r| {
            let code = r["errorCode"].as_str()?;
            Some((
                r["eventName"].as_str().unwrap_or("").to_owned(),
                code.to_owned(),
                r["userIdentity"]["accessKeyId"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            ))
        })
        .collect()
}

#[test]
fn boto3_keys_aliases_policies_and_states() {
    const TEST: &str = "boto3_keys_aliases_policies_and_states";
    let Some(python) = python(TEST, &["boto3"]) else {
        return;
    };
    let server = start(TEST);
    let checks = boto3_section(TEST, &server, &python, "keys");
    assert_checks(
        &checks,
        &[
            "create_key.arn",
            "create_key.state",
            "create_key.spec",
            "describe_key",
            "describe_key.alias",
            "list_aliases",
            "list_keys",
            "get_key_policy.default",
            "put_get_key_policy",
            "put_key_policy.malformed",
            "disable_key",
            "generate_data_key.disabled",
            "schedule_key_deletion",
            "generate_data_key.pending_deletion",
            "cancel_key_deletion",
        ],
    );
    // The CreateKey and PutKeyPolicy calls are in the audit log under admin's access key.
    let admin = server.fixture.user("admin").access_key_id.clone();
    let records = server.audit_records();
    for op in [
        "CreateKey",
        "CreateAlias",
        "PutKeyPolicy",
        "ScheduleKeyDeletion",
    ] {
        assert!(
            records.iter().any(|r| r["eventName"] == op
                && r["userIdentity"]["accessKeyId"] == admin.as_str()
                && r["errorCode"].is_null()),
            "no successful {op} record of admin"
        );
    }
    assert_no_secret_logged(&server);
}

#[test]
fn boto3_data_calls_round_trip() {
    const TEST: &str = "boto3_data_calls_round_trip";
    let Some(python) = python(TEST, &["boto3"]) else {
        return;
    };
    let server = start(TEST);
    let checks = boto3_section(TEST, &server, &python, "data");
    assert_checks(
        &checks,
        &[
            "generate_data_key",
            "decrypt",
            "decrypt.expected_key",
            "decrypt.wrong_context",
            "decrypt.garbage",
            "generate_data_key.bytes",
            "generate_data_key.fresh",
            "encrypt",
            "encrypt.decrypt",
            "encrypt.4096",
            "encrypt.4097",
            "generate_data_key.both_specs",
            "generate_data_key.1025",
            "describe_key.alice",
        ],
    );
    // Every record names boto3 as the user agent and the loopback address as the source.
    let alice = server.fixture.user("alice").access_key_id.clone();
    let records: Vec<Value> = server
        .audit_records()
        .into_iter()
        .filter(|r| r["userIdentity"]["accessKeyId"] == alice.as_str())
        .collect();
    // 14 calls, the 3 refused by validation included.
    assert_eq!(records.len(), 14, "one record per call of alice");
    for r in &records {
        let ua = r["userAgent"].as_str().unwrap_or("");
        assert!(ua.contains("Boto3/1.44.8"), "userAgent {ua:?}");
        assert_eq!(r["sourceIPAddress"], json!("127.0.0.1"), "{r}");
        assert!(
            r["requestID"].as_str().is_some_and(|s| !s.is_empty()),
            "{r}"
        );
    }
    assert_no_secret_logged(&server);
}

#[test]
fn boto3_generate_without_plaintext_reencrypt_random() {
    const TEST: &str = "boto3_generate_without_plaintext_reencrypt_random";
    let Some(python) = python(TEST, &["boto3"]) else {
        return;
    };
    let server = start(TEST);
    let checks = boto3_section(TEST, &server, &python, "data-extra");
    assert_checks(
        &checks,
        &[
            "generate_data_key_without_plaintext",
            "generate_data_key_without_plaintext.decrypt",
            "re_encrypt",
            "re_encrypt.decrypt",
            "re_encrypt.source_key",
            "alice.generate_random",
            "generate_random",
            "generate_random.1025",
        ],
    );
}

#[test]
fn boto3_denials_have_aws_error_codes() {
    const TEST: &str = "boto3_denials_have_aws_error_codes";
    let Some(python) = python(TEST, &["boto3"]) else {
        return;
    };
    let server = start(TEST);
    let checks = boto3_section(TEST, &server, &python, "denials");
    assert_checks(
        &checks,
        &[
            "mallory.generate_data_key",
            "mallory.describe_key",
            "mallory.create_key",
            "alice.put_key_policy",
            "alice.create_key",
            "alice.disable_key",
            "alice.generate_data_key.allowed",
            "alice.decrypt.explicit_deny",
            "admin.decrypt.allowed",
            "admin.unknown_key",
            "admin.unknown_alias",
            "unknown_access_key",
            "wrong_secret",
            "wrong_secret.list_keys",
        ],
    );
    // Every refusal is in the audit log, the ones refused before LocalKms included.
    let f = &server.fixture;
    let errors = audit_errors(&server);
    let has = |op: &str, code: &str, key: &str| {
        errors
            .iter()
            .any(|(o, c, k)| o == op && c == code && k == key)
    };
    let mallory = f.user("mallory").access_key_id.as_str();
    let alice = f.user("alice").access_key_id.as_str();
    assert!(
        has("GenerateDataKey", "AccessDeniedException", mallory),
        "{errors:?}"
    );
    assert!(
        has("CreateKey", "AccessDeniedException", mallory),
        "{errors:?}"
    );
    assert!(has("Decrypt", "AccessDeniedException", alice), "{errors:?}");
    assert!(
        has(
            "GenerateDataKey",
            "UnrecognizedClientException",
            "AKIAFRAGSEALUNKNOWN1"
        ),
        "{errors:?}"
    );
    assert!(
        has("GenerateDataKey", "InvalidSignatureException", alice),
        "{errors:?}"
    );
    assert!(
        has("ListKeys", "InvalidSignatureException", alice),
        "{errors:?}"
    );
    // The explicit Deny is named in alice's Decrypt record.
    let deny = server
        .audit_records()
        .into_iter()
        .find(|r| {
            r["eventName"] == "Decrypt"
                && r["errorCode"] == "AccessDeniedException"
                && r["userIdentity"]["accessKeyId"] == alice
        })
        .expect("alice's denied Decrypt");
    assert!(
        deny.to_string().contains("NoDecryptForAlice"),
        "the denial names the statement's Sid: {deny}"
    );
    assert_no_secret_logged(&server);
}

#[test]
fn boto3_cross_account() {
    const TEST: &str = "boto3_cross_account";
    let Some(python) = python(TEST, &["boto3"]) else {
        return;
    };
    let server = start(TEST);
    let checks = boto3_section(TEST, &server, &python, "cross-account");
    assert_checks(
        &checks,
        &[
            "carol.before_key_policy",
            "carol.bare_key_id",
            "carol.generate_data_key",
            "carol.decrypt",
            "dave.identity_half_missing",
            "carol.put_key_policy",
            "carol.create_key.own_account",
        ],
    );
}

#[test]
fn boto3_grants() {
    const TEST: &str = "boto3_grants";
    let Some(python) = python(TEST, &["boto3"]) else {
        return;
    };
    let server = start(TEST);
    let checks = boto3_section(TEST, &server, &python, "grants");
    assert_checks(
        &checks,
        &[
            "bob.before_grant",
            "create_grant",
            "bob.grant.generate_data_key",
            "bob.grant.decrypt",
            "bob.grant.constraint",
            "bob.grant.operation",
            "list_grants",
            "list_retirable_grants",
            "create_grant.bad_operation",
            "revoke_grant.unknown",
            "retire_grant",
            "bob.after_retire",
            "bob.after_revoke",
        ],
    );
}

#[test]
fn boto3_tags() {
    const TEST: &str = "boto3_tags";
    let Some(python) = python(TEST, &["boto3"]) else {
        return;
    };
    let server = start(TEST);
    let checks = boto3_section(TEST, &server, &python, "tags");
    assert_checks(
        &checks,
        &[
            "create_key.tags",
            "tag_resource",
            "untag_resource",
            "tag_resource.reserved_prefix",
            "alice.tag_resource",
        ],
    );
}

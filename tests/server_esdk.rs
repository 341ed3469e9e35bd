//! The Python AWS Encryption SDK's KMS master-key provider through `fragseal kms serve`
//! (issue 12, item 6): the Python SDK (tests/python/esdk_peer.py, its own
//! StrictAwsKmsMasterKeyProvider, pointed at the server with `AWS_ENDPOINT_URL_KMS`) and
//! fragseal meet on one server.
//!
//! - Python encrypts; fragseal opens: with the `fragseal open --kms aws --endpoint-url` CLI and
//!   with the engine over AwsKms.
//! - fragseal seals (the `fragseal seal --kms aws` CLI and the engine); Python decrypts.
//! - A caller without kms:Decrypt (mallory) cannot open either side's messages.
//!
//! Without the venv these tests print why they skip; with `FRAGSEAL_REQUIRE_INTEROP=1` they fail.
#![cfg(feature = "aws")]

#[path = "support/server.rs"]
mod server;
#[path = "support/signed_client.rs"]
mod signed_client;
mod support;

use fragseal::engine::{Engine, EngineConfig, OpenRequest, RetryPolicy, SealRequest};
use fragseal::identity::IdentityCheck;
use fragseal::keyring::KmsKeyring;
use fragseal::kms::aws::AwsKms;
use fragseal::kms::Credential;
use fragseal::message::{MessageHeader, OpenLimits};
use fragseal::EncryptionContext;
use serde_json::{json, Value};
use server::{KmsServer, User, ACCOUNT, REGION};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const FRAME: u32 = 4096;
const SIZES: [usize; 6] = [0, 1, 4095, 4096, 4097, 100_000];

fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn credential(u: &User) -> Credential {
    Credential::new(u.account.clone(), u.arn(), u.access_key_id.clone()).expect("credential")
}

fn context() -> EncryptionContext {
    EncryptionContext::new()
        .with(
            "aws:kinesisvideo:arn",
            format!("arn:aws:kinesisvideo:{REGION}:{ACCOUNT}:stream/esdk/1"),
        )
        .with("tenant", "server-esdk")
}

fn context_json(ec: &EncryptionContext) -> Value {
    json!(ec.iter().collect::<BTreeMap<&str, &str>>())
}

/// The client environment for `user`: the server as KMS, nothing from the machine.
fn client_env(cmd: &mut Command, server: &KmsServer, user: &str) {
    let u = server.fixture.user(user);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("AWS_")) {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ENDPOINT_URL_KMS", server.endpoint())
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", &u.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &u.secret)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .stdin(Stdio::null());
}

/// Runs esdk_peer.py on `job` as `user`; results by (op, name).
fn peer(
    python: &Path,
    server: &KmsServer,
    user: &str,
    job: &Value,
) -> BTreeMap<(String, String), Value> {
    let path = server.dir().join(format!("job-{user}.json"));
    std::fs::write(&path, serde_json::to_vec(job).expect("json")).expect("write job");
    let mut cmd = Command::new(python);
    client_env(&mut cmd, server, user);
    let out = cmd
        .arg(support::python_script("esdk_peer.py"))
        .arg(&path)
        .output()
        .expect("run esdk_peer.py");
    assert!(
        out.status.success(),
        "esdk_peer.py failed: {}\nserver stderr:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("peer JSON");
    assert_eq!(v["esdk_version"], json!("4.0.7"));
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                (
                    r["op"].as_str().expect("op").to_owned(),
                    r["name"].as_str().expect("name").to_owned(),
                ),
                r.clone(),
            )
        })
        .collect()
}

/// `fragseal ARGS --kms aws --endpoint-url URL` as `user`.
fn fragseal(server: &KmsServer, user: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(server::fragseal_bin());
    client_env(&mut cmd, server, user);
    cmd.args(args)
        .args(["--kms", "aws", "--endpoint-url", &server.endpoint()])
        .args(["--region", REGION, "--account", ACCOUNT])
        .output()
        .expect("run fragseal")
}

#[test]
fn python_esdk_and_fragseal_through_the_server() {
    const TEST: &str = "python_esdk_and_fragseal_through_the_server";
    let python = match support::python_with(&["aws_encryption_sdk", "boto3"]) {
        Ok(p) => p,
        Err(e) => return support::unavailable(TEST, &e),
    };
    let server = KmsServer::start(&[]).expect("the server starts");
    let arn = server
        .client("admin")
        .call("CreateKey", &json!({"Description": "esdk"}))
        .expect("CreateKey")
        .ok("CreateKey")["KeyMetadata"]["Arn"]
        .as_str()
        .expect("Arn")
        .to_owned();
    let dir = server.dir().to_owned();
    let alice_user = server.fixture.user("alice").clone();
    let alice = credential(&alice_user);
    let kms = Arc::new(
        AwsKms::builder()
            .region(REGION)
            .endpoint_url(server.endpoint())
            .caller_static_credentials(
                alice.clone(),
                &alice_user.access_key_id,
                &alice_user.secret,
                None,
            )
            .operation_timeout(Duration::from_secs(20))
            .build()
            .expect("AwsKms"),
    );
    let keyring = Arc::new(KmsKeyring::strict(kms, &alice, &[&arn]).expect("keyring"));
    let engine = Engine::new(
        keyring,
        EngineConfig::default()
            .with_frame_length(FRAME)
            .with_retry(RetryPolicy::none()),
    )
    .expect("engine");
    let ec = context();

    // fragseal (engine) seals; Python will decrypt. Python encrypts; fragseal will open.
    let mut encrypt = Vec::new();
    let mut decrypt = Vec::new();
    for (i, &size) in SIZES.iter().enumerate() {
        let plain = bytes(size, i as u64 + 1);
        let ours = dir.join(format!("ours-{size}.sealed"));
        let sealed = engine
            .seal(&alice, &SealRequest::new(ec.clone(), plain.clone()))
            .unwrap_or_else(|e| panic!("seal {size}: {e}"));
        std::fs::write(&ours, sealed).expect("write");
        std::fs::write(dir.join(format!("plain-{size}")), &plain).expect("write");
        decrypt.push(json!({"name": format!("ours-{size}"), "ciphertext": ours,
                            "plaintext": dir.join(format!("ours-{size}.python-plain")),
                            "encryption_context": context_json(&ec)}));
        encrypt.push(json!({"name": format!("theirs-{size}"),
                            "plaintext": dir.join(format!("plain-{size}")),
                            "ciphertext": dir.join(format!("theirs-{size}.sealed")),
                            "frame_length": FRAME, "encryption_context": context_json(&ec)}));
    }
    // And one sealed by the `fragseal seal` CLI through the server.
    let cli_plain = bytes(70_000, 99);
    std::fs::write(dir.join("cli.plain"), &cli_plain).expect("write");
    let cli_sealed = dir.join("cli.sealed");
    let out = fragseal(
        &server,
        "alice",
        &[
            "seal",
            dir.join("cli.plain").to_str().expect("utf-8"),
            "-o",
            cli_sealed.to_str().expect("utf-8"),
            "--whole",
            "--key",
            &arn,
        ],
    );
    assert!(
        out.status.success(),
        "fragseal seal --kms aws: {}\nserver stderr:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
    decrypt.push(json!({"name": "cli", "ciphertext": cli_sealed,
                        "plaintext": dir.join("cli.python-plain")}));
    let job = json!({"provider": {"kind": "aws-kms", "key_arn": arn},
                     "encrypt": encrypt, "decrypt": decrypt});
    let results = peer(&python, &server, "alice", &job);

    let ok = |op: &str, name: &str| {
        let r = &results[&(op.to_owned(), name.to_owned())];
        assert_eq!(r["ok"], json!(true), "Python {op} {name}: {}", r["error"]);
    };
    for (i, &size) in SIZES.iter().enumerate() {
        let plain = bytes(size, i as u64 + 1);
        ok("decrypt", &format!("ours-{size}"));
        let got = std::fs::read(dir.join(format!("ours-{size}.python-plain"))).expect("read");
        assert!(got == plain, "Python decrypted other bytes ({size})");

        ok("encrypt", &format!("theirs-{size}"));
        let theirs_path = dir.join(format!("theirs-{size}.sealed"));
        let theirs = std::fs::read(&theirs_path).expect("python message");
        let header = MessageHeader::parse(&theirs, &OpenLimits::default()).expect("header");
        assert_eq!(
            header.encrypted_data_keys()[0].provider_info,
            arn.as_bytes()
        );
        let opened = engine
            .open(&alice, &OpenRequest::new(theirs, IdentityCheck::Skip))
            .unwrap_or_else(|e| panic!("open Python's {size}: {e}"));
        assert!(
            opened.plaintext.as_ref() == plain.as_slice(),
            "{size}: other bytes"
        );

        // The CLI opens it through the server too.
        let opened_path = dir.join(format!("theirs-{size}.cli-plain"));
        let out = fragseal(
            &server,
            "alice",
            &[
                "open",
                theirs_path.to_str().expect("utf-8"),
                "-o",
                opened_path.to_str().expect("utf-8"),
                "--no-identity",
                "--key",
                &arn,
            ],
        );
        assert!(
            out.status.success(),
            "fragseal open --kms aws ({size}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            std::fs::read(&opened_path).expect("read") == plain,
            "CLI {size}"
        );
    }
    ok("decrypt", "cli");
    assert!(std::fs::read(dir.join("cli.python-plain")).expect("read") == cli_plain);

    // mallory has no kms:Decrypt: neither side's message opens for her.
    let denied_path = dir.join("denied.plain");
    let out = fragseal(
        &server,
        "mallory",
        &[
            "open",
            dir.join("theirs-4097.sealed").to_str().expect("utf-8"),
            "-o",
            denied_path.to_str().expect("utf-8"),
            "--no-identity",
            "--key",
            &arn,
        ],
    );
    assert!(!out.status.success(), "mallory opened a message");
    assert!(!denied_path.exists(), "no output for a refused open");
    let job = json!({"provider": {"kind": "aws-kms", "key_arn": arn},
                     "decrypt": [{"name": "mallory", "ciphertext": dir.join("ours-4097.sealed"),
                                  "plaintext": dir.join("mallory.plain")}]});
    let results = peer(&python, &server, "mallory", &job);
    let r = &results[&("decrypt".to_owned(), "mallory".to_owned())];
    assert_eq!(
        r["ok"],
        json!(false),
        "mallory decrypted with the Python SDK"
    );
    // (The SDK reports "Unable to decrypt any data key"; the refusal's code is in the audit.)
    let mallory_key = server.fixture.user("mallory").access_key_id.clone();
    let denied = server
        .audit_records()
        .into_iter()
        .filter(|r| {
            r["eventName"] == "Decrypt"
                && r["errorCode"] == "AccessDeniedException"
                && r["userIdentity"]["accessKeyId"] == mallory_key.as_str()
        })
        .count();
    assert!(denied >= 2, "both refused Decrypts audited ({denied})");
}

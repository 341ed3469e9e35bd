//! The AWS CLI (`awscli` 1.46.3 from the pinned venv of scripts/setup-python.sh, run as
//! `python -m awscli kms ...`) against `fragseal kms serve` (issue 12, item 6), pointed at it
//! both ways: `--endpoint-url URL` and `AWS_ENDPOINT_URL_KMS=URL`. Create, describe,
//! GenerateDataKey/Decrypt (with an encryption context), Encrypt/Decrypt, and the refusals with
//! AWS's codes as the CLI prints them.
//!
//! Without the venv the test prints why it skips; with `FRAGSEAL_REQUIRE_INTEROP=1` it fails.

#[path = "support/server.rs"]
mod server;
#[path = "support/signed_client.rs"]
mod signed_client;
mod support;

use serde_json::{json, Value};
use server::{assert_no_secret_logged, isolated_env, KmsServer, ACCOUNT, REGION};
use std::path::Path;
use std::process::{Command, Output};

mod aws_cli {
    use super::*;

    /// How the CLI is pointed at the server.
    #[derive(Clone, Copy)]
    pub enum Endpoint {
        /// `--endpoint-url URL`.
        Flag,
        /// `AWS_ENDPOINT_URL_KMS=URL`.
        Env,
    }

    /// `python -m awscli kms ARGS --output json` as `user` (or with `secret` instead of the
    /// user's own).
    pub fn aws(
        python: &Path,
        server: &KmsServer,
        user: &str,
        secret: Option<&str>,
        endpoint: Endpoint,
        args: &[&str],
    ) -> Output {
        let u = server.fixture.user(user);
        let mut cmd = Command::new(python);
        isolated_env(&mut cmd);
        cmd.args(["-m", "awscli", "kms"])
            .args(args)
            .args(["--output", "json"])
            .env("AWS_ACCESS_KEY_ID", &u.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", secret.unwrap_or(&u.secret));
        match endpoint {
            Endpoint::Flag => {
                cmd.args(["--endpoint-url", &server.endpoint()]);
            }
            Endpoint::Env => {
                cmd.env("AWS_ENDPOINT_URL_KMS", server.endpoint());
            }
        }
        cmd.output().expect("run the AWS CLI")
    }

    #[track_caller]
    pub fn ok(out: &Output, what: &str) -> Value {
        assert!(
            out.status.success(),
            "aws kms {what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("aws kms {what}: not JSON ({e})"))
    }

    /// The CLI's error line: `An error occurred (CODE) when calling the OP operation: ...`.
    #[track_caller]
    pub fn refused(out: &Output, what: &str, code: &str, op: &str) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // awscli v1 exits 255 when the service refuses a call (v2: 254).
        assert_eq!(out.status.code(), Some(255), "aws kms {what}: {stderr}");
        let want = format!("An error occurred ({code}) when calling the {op} operation");
        assert!(
            stderr.contains(&want),
            "aws kms {what}: want {want:?}, got {stderr}"
        );
    }
}

#[test]
fn aws_cli_with_endpoint_url_and_env() {
    use aws_cli::{aws, ok, refused, Endpoint};
    use base64::Engine as _;
    const TEST: &str = "aws_cli_with_endpoint_url_and_env";
    let Some(python) = python(TEST) else {
        return;
    };
    let server =
        KmsServer::start(&[]).unwrap_or_else(|e| panic!("{TEST}: the server did not start: {e}"));
    let b64 = base64::engine::general_purpose::STANDARD;

    let version = Command::new(&python)
        .args(["-m", "awscli", "--version"])
        .output()
        .expect("aws --version");
    let version = String::from_utf8_lossy(&version.stdout).into_owned()
        + &String::from_utf8_lossy(&version.stderr);
    assert!(
        version.starts_with("aws-cli/1.46.3 "),
        "the pinned CLI: {version}"
    );

    for endpoint in [Endpoint::Flag, Endpoint::Env] {
        let created = ok(
            &aws(
                &python,
                &server,
                "admin",
                None,
                endpoint,
                &["create-key", "--description", "cli"],
            ),
            "create-key",
        );
        let arn = created["KeyMetadata"]["Arn"]
            .as_str()
            .expect("Arn")
            .to_owned();
        assert!(
            arn.starts_with(&format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/")),
            "{arn}"
        );
        let described = ok(
            &aws(
                &python,
                &server,
                "alice",
                None,
                endpoint,
                &["describe-key", "--key-id", &arn],
            ),
            "describe-key",
        );
        assert_eq!(described["KeyMetadata"]["Description"], json!("cli"));

        let dk = ok(
            &aws(
                &python,
                &server,
                "alice",
                None,
                endpoint,
                &[
                    "generate-data-key",
                    "--key-id",
                    &arn,
                    "--key-spec",
                    "AES_256",
                    "--encryption-context",
                    "purpose=cli",
                ],
            ),
            "generate-data-key",
        );
        let plain = b64
            .decode(dk["Plaintext"].as_str().expect("Plaintext"))
            .expect("base64");
        assert_eq!(plain.len(), 32);
        let blob = server.dir().join("dk.bin");
        std::fs::write(
            &blob,
            b64.decode(dk["CiphertextBlob"].as_str().expect("blob"))
                .expect("base64"),
        )
        .expect("write blob");
        let blob_arg = format!("fileb://{}", blob.display());
        let opened = ok(
            &aws(
                &python,
                &server,
                "alice",
                None,
                endpoint,
                &[
                    "decrypt",
                    "--ciphertext-blob",
                    &blob_arg,
                    "--encryption-context",
                    "purpose=cli",
                ],
            ),
            "decrypt",
        );
        assert_eq!(opened["KeyId"], json!(arn));
        assert_eq!(
            b64.decode(opened["Plaintext"].as_str().expect("Plaintext"))
                .expect("base64"),
            plain,
            "decrypt returns the generated data key"
        );
        refused(
            &aws(
                &python,
                &server,
                "alice",
                None,
                endpoint,
                &[
                    "decrypt",
                    "--ciphertext-blob",
                    &blob_arg,
                    "--encryption-context",
                    "purpose=other",
                ],
            ),
            "decrypt (wrong context)",
            "InvalidCiphertextException",
            "Decrypt",
        );

        let message = server.dir().join("plain.txt");
        std::fs::write(&message, b"fragseal via the AWS CLI").expect("write");
        let enc = ok(
            &aws(
                &python,
                &server,
                "alice",
                None,
                endpoint,
                &[
                    "encrypt",
                    "--key-id",
                    &arn,
                    "--plaintext",
                    &format!("fileb://{}", message.display()),
                ],
            ),
            "encrypt",
        );
        std::fs::write(
            &blob,
            b64.decode(enc["CiphertextBlob"].as_str().expect("blob"))
                .expect("base64"),
        )
        .expect("write blob");
        let dec = ok(
            &aws(
                &python,
                &server,
                "alice",
                None,
                endpoint,
                &["decrypt", "--ciphertext-blob", &blob_arg],
            ),
            "decrypt",
        );
        assert_eq!(
            b64.decode(dec["Plaintext"].as_str().expect("Plaintext"))
                .expect("base64"),
            b"fragseal via the AWS CLI"
        );

        let gdk = [
            "generate-data-key",
            "--key-id",
            arn.as_str(),
            "--key-spec",
            "AES_256",
        ];
        refused(
            &aws(&python, &server, "mallory", None, endpoint, &gdk),
            "generate-data-key (mallory)",
            "AccessDeniedException",
            "GenerateDataKey",
        );
        refused(
            &aws(
                &python,
                &server,
                "alice",
                Some("not-alices-secret-0000000000000000000000"),
                endpoint,
                &gdk,
            ),
            "generate-data-key (wrong secret)",
            "InvalidSignatureException",
            "GenerateDataKey",
        );
    }
    // Both endpoint styles reached this server: two CreateKey records of admin.
    let admin = server.fixture.user("admin").access_key_id.clone();
    let created = server
        .audit_records()
        .iter()
        .filter(|r| {
            r["eventName"] == "CreateKey"
                && r["userIdentity"]["accessKeyId"] == admin.as_str()
                && r["errorCode"].is_null()
        })
        .count();
    assert_eq!(created, 2);
    assert!(server.audit_records().iter().any(|r| r["userAgent"]
        .as_str()
        .is_some_and(|ua| ua.contains("aws-cli/1.46.3"))));
    assert_no_secret_logged(&server);
}

fn python(test: &str) -> Option<std::path::PathBuf> {
    match support::python_with(&["awscli"]) {
        Ok(p) => Some(p),
        Err(e) => {
            support::unavailable(test, &e);
            None
        }
    }
}

//! Real clients against the server's STS and KMS (tests/python/sts_clients.py and the AWS
//! CLI): boto3 `sts.assume_role`, then KMS with the session credentials (allowed and denied),
//! the Python ESDK with botocore sessions built from assumed-role credentials, an expiry on a
//! server whose clock is 20 minutes ahead, and `aws sts assume-role`.
//!
//! Skipped (with a notice) when the interop venv is absent, unless
//! `FRAGSEAL_REQUIRE_INTEROP=1`; the python is `$FRAGSEAL_PYTHON` or `.venv-interop/bin/python`.

mod server_common;
mod support;

use server_common::sts::*;
use server_common::InProcess;
use std::path::PathBuf;
use std::process::Command;

fn env_for(s: &InProcess, key: &str) -> Vec<(String, String)> {
    vec![
        ("FRAGSEAL_ENDPOINT".into(), format!("http://{}", s.addr)),
        ("FRAGSEAL_KEY_ARN".into(), key.into()),
        ("FRAGSEAL_ROLE_ARN".into(), producer_arn()),
        (
            "FRAGSEAL_CONSUMER_ARN".into(),
            format!("arn:aws:iam::{A}:role/consumer"),
        ),
        ("FRAGSEAL_EXTERNAL_ID".into(), EXTERNAL_ID.into()),
        ("CAM_KEY".into(), CAM.0.into()),
        ("CAM_SECRET".into(), CAM.1.into()),
        ("ALICE_KEY".into(), ALICE.0.into()),
        ("ALICE_SECRET".into(), ALICE.1.into()),
        // No profile, file or instance credentials leak in.
        ("AWS_CONFIG_FILE".into(), "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}

fn run(mode: &str, s: &InProcess, key: &str) -> Option<serde_json::Value> {
    let python = match support::python_with(&["boto3", "aws_encryption_sdk"]) {
        Ok(p) => p,
        Err(why) => {
            support::unavailable(mode, &why);
            return None;
        }
    };
    let env = env_for(s, key);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = support::run_python(
        &python,
        &support::python_script("sts_clients.py"),
        &[mode],
        &env,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Some(serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}")))
}

#[test]
fn boto3_and_the_python_esdk_use_assumed_role_sessions() {
    let s = InProcess::start(&iam(), 0);
    let key = create_key(s.addr, A_ROOT, None);
    let Some(out) = run("roles", &s, &key) else {
        return;
    };
    assert_eq!(
        out["producer_arn"],
        "arn:aws:sts::111122223333:assumed-role/producer/cam-1"
    );
    assert_eq!(out["caller_arn"], out["producer_arn"]);
    assert!(
        out["producer_akid"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA")),
        "{out}"
    );
    assert_eq!(out["expiration_is_datetime"], true);
    assert_eq!(out["wrong_external_id"], "AccessDenied");
    assert_eq!(out["producer_generate"], "OK");
    assert_eq!(out["producer_decrypt"], "AccessDeniedException");
    assert_eq!(out["consumer_decrypt_matches"], true);
    assert_eq!(out["consumer_generate"], "AccessDeniedException");
    assert_eq!(out["no_token"], "UnrecognizedClientException");
    assert_eq!(out["esdk"]["sealed"], true);
    assert_eq!(out["esdk"]["producer_opens"], false, "{out}");
    assert_eq!(out["esdk"]["consumer_opens"], true);
}

#[test]
fn boto3_sees_a_session_expire_on_a_server_twenty_minutes_ahead() {
    let s = InProcess::start(&iam(), 20 * 60);
    let key = create_key(s.addr, A_ROOT, None);
    let Some(out) = run("expired", &s, &key) else {
        return;
    };
    assert_eq!(out["short"], "ExpiredTokenException", "{out}");
    assert_eq!(out["short_sts"], "ExpiredToken", "{out}");
    assert_eq!(out["hour"], "OK", "{out}");
}

/// The AWS CLI: the venv's `aws` (scripts/setup-python.sh pins awscli), else one on PATH.
fn aws_cli() -> Option<PathBuf> {
    let venv = support::python_with(&[])
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("aws")))
        .filter(|p| p.exists());
    venv.or_else(|| {
        Command::new("aws")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| PathBuf::from("aws"))
    })
}

#[test]
fn aws_cli_assume_role() {
    let Some(aws) = aws_cli() else {
        support::unavailable("aws_cli_assume_role", "no AWS CLI (aws) found");
        return;
    };
    let s = InProcess::start(&iam(), 0);
    let out = Command::new(&aws)
        .args([
            "sts",
            "assume-role",
            "--role-arn",
            &producer_arn(),
            "--role-session-name",
            "cli-1",
            "--external-id",
            EXTERNAL_ID,
            "--duration-seconds",
            "900",
            "--output",
            "json",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_ACCESS_KEY_ID", CAM.0)
        .env("AWS_SECRET_ACCESS_KEY", CAM.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_STS", format!("http://{}", s.addr))
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run aws");
    assert!(
        out.status.success(),
        "aws failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::111122223333:assumed-role/producer/cli-1"
    );
    assert!(v["Credentials"]["AccessKeyId"]
        .as_str()
        .is_some_and(|k| k.starts_with("ASIA")));
    // Refused without the ExternalId, with STS's error.
    let out = Command::new(&aws)
        .args([
            "sts",
            "assume-role",
            "--role-arn",
            &producer_arn(),
            "--role-session-name",
            "cli-2",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_ACCESS_KEY_ID", CAM.0)
        .env("AWS_SECRET_ACCESS_KEY", CAM.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_STS", format!("http://{}", s.addr))
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("run aws");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AccessDenied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! `fragseal kms`: least-privilege credentials, key management, the AWS backend (against
//! moto, or refused without the `aws` feature).

use super::*;

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

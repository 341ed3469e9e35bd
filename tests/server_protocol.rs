//! The JSON 1.1 protocol of `fragseal kms serve`: bad input of every kind gets AWS's exception
//! (or a typed refusal), timeouts drop slow and idle clients, and the server keeps serving
//! after each. Operations answer in botocore's shapes; SIGTERM stops the server cleanly.

mod server_common;

use server_common::*;
use std::io::{Read, Write};

fn error_of(a: &Answer) -> (u16, String, String) {
    let (c, m) = a.error();
    (a.status, c, m)
}

fn still_serves(s: &ServerProcess) {
    let a = root_call(s.addr, "ListKeys", "{}");
    assert_eq!(a.status, 200, "{:?}", a.error());
}

fn create_key(s: &ServerProcess) -> String {
    let a = root_call(s.addr, "CreateKey", r#"{"Description": "test key"}"#);
    assert_eq!(a.status, 200, "{:?}", a.error());
    a.json()["KeyMetadata"]["Arn"]
        .as_str()
        .expect("arn")
        .to_owned()
}

#[test]
fn malformed_bodies_are_serialization_errors() {
    let s = ServerProcess::start(&iam_json(), &[]);
    for body in [
        "{",
        "[]",
        "\"KeyId\"",
        r#"{"KeyId": "a", "KeyId": "b"}"#,
        r#"{"KeyId": 42}"#,
        r#"{"KeyId": "alias/x", "EncryptionContext": ["a"]}"#,
        r#"{"KeyId": "alias/x", "NumberOfBytes": "32"}"#,
        r#"{"KeyId": "alias/x", "NumberOfBytes": 3.5}"#,
    ] {
        let a = root_call(s.addr, "GenerateDataKey", body);
        let (status, code, message) = error_of(&a);
        assert_eq!(
            (status, code.as_str()),
            (400, "SerializationException"),
            "{body}: {message}"
        );
    }
    let a = root_call(s.addr, "Decrypt", r#"{"CiphertextBlob": "not base64!"}"#);
    assert_eq!(error_of(&a).1, "SerializationException");
    still_serves(&s);
}

#[test]
fn constraint_failures_are_validation_errors_in_aws_wording() {
    let s = ServerProcess::start(&iam_json(), &[]);
    let key = create_key(&s);
    let cases = [
        (
            "GenerateDataKey",
            r#"{"KeySpec": "AES_256"}"#.to_owned(),
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null"
                .to_owned(),
        ),
        (
            "GenerateDataKey",
            format!(r#"{{"KeyId": "{key}", "NumberOfBytes": 0}}"#),
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy \
             constraint: Member must have value greater than or equal to 1"
                .to_owned(),
        ),
        (
            "GenerateDataKey",
            format!(r#"{{"KeyId": "{key}", "KeySpec": "AES_512"}}"#),
            "1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy \
             constraint: Member must satisfy enum value set: [AES_256, AES_128]"
                .to_owned(),
        ),
        (
            "GenerateDataKey",
            format!(r#"{{"KeyId": "{key}", "KeySpec": "AES_256", "NumberOfBytes": 32}}"#),
            "Please specify either number of bytes or key spec.".to_owned(),
        ),
        (
            "Encrypt",
            format!(
                r#"{{"KeyId": "{key}", "Plaintext": "{}"}}"#,
                "A".repeat(5464)
            ),
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: \
             Member must have length less than or equal to 4096"
                .to_owned(),
        ),
        (
            "CreateAlias",
            format!(r#"{{"AliasName": "alias/bad name", "TargetKeyId": "{key}"}}"#),
            "1 validation error detected: Value 'alias/bad name' at 'aliasName' failed to \
             satisfy constraint: Member must satisfy regular expression pattern: \
             ^[a-zA-Z0-9:/_-]+$"
                .to_owned(),
        ),
        (
            "ListKeys",
            r#"{"Limit": 0, "Marker": ""}"#.to_owned(),
            "2 validation errors detected: Value '0' at 'limit' failed to satisfy constraint: \
             Member must have value greater than or equal to 1; Value '' at 'marker' failed to \
             satisfy constraint: Member must have length greater than or equal to 1"
                .to_owned(),
        ),
    ];
    for (op, body, want) in cases {
        let a = root_call(s.addr, op, &body);
        let (status, code, message) = error_of(&a);
        assert_eq!(
            (status, code.as_str(), message.as_str()),
            (400, "ValidationException", want.as_str()),
            "{op} {body}"
        );
    }
    still_serves(&s);
}

#[test]
fn protocol_errors_are_typed_and_the_server_keeps_serving() {
    let s = ServerProcess::start(&iam_json(), &["--max-body", "65536"]);
    let signing = Signing::new(ROOT_KEY, ROOT_SECRET);

    // Unknown and missing operations.
    let a = root_call(s.addr, "MakeCoffee", "{}");
    assert_eq!(
        error_of(&a),
        (
            400,
            "UnknownOperationException".into(),
            "Unknown operation 'TrentService.MakeCoffee'.".into()
        )
    );
    let mut headers = signed_headers(s.addr, "ListKeys", b"{}", &signing);
    headers.retain(|(n, _)| n != "authorization" && n != "x-amz-date" && n != "x-amz-target");
    let a = raw(
        s.addr,
        &request_bytes(&sign_exact(&s, &headers, b"{}"), b"{}"),
    );
    assert_eq!(
        error_of(&a),
        (
            400,
            "UnknownOperationException".into(),
            "The X-Amz-Target header is missing.".into()
        )
    );
    let a = root_call_target(&s, "DynamoDB_20120810.ListTables");
    assert_eq!(error_of(&a).1, "UnknownOperationException");

    // A content type changed after signing breaks the signature; one signed as sent is
    // refused as the wrong media type.
    let mut headers = signed_headers(s.addr, "ListKeys", b"{}", &signing);
    for (n, v) in &mut headers {
        if n == "content-type" {
            *v = "application/json".into();
        }
    }
    let a = raw(s.addr, &request_bytes(&headers, b"{}"));
    assert_eq!(error_of(&a).1, "InvalidSignatureException");
    let a = call_with_content_type(&s, "text/plain");
    assert_eq!(
        error_of(&a),
        (
            400,
            "SerializationException".into(),
            "Content-Type must be application/x-amz-json-1.1.".into()
        )
    );

    // Duplicate headers.
    for (name, value, code) in [
        (
            "X-Amz-Target",
            "TrentService.ListAliases",
            "UnknownOperationException",
        ),
        (
            "Content-Type",
            "application/x-amz-json-1.1",
            "SerializationException",
        ),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=X",
            "IncompleteSignatureException",
        ),
        (
            "X-Amz-Date",
            "20260101T000000Z",
            "IncompleteSignatureException",
        ),
    ] {
        let mut headers = signed_headers(s.addr, "ListKeys", b"{}", &signing);
        headers.push((name.to_owned(), value.to_owned()));
        let a = raw(s.addr, &request_bytes(&headers, b"{}"));
        let (status, c, m) = error_of(&a);
        assert_eq!((status, c.as_str()), (400, code), "{name}: {m}");
        assert!(m.contains("appears more than once"), "{m}");
    }

    // Too large: declared, and chunked.
    let big = vec![b' '; 70_000];
    let headers = signed_headers(s.addr, "ListKeys", &big, &signing);
    let a = raw(s.addr, &request_bytes(&headers, &big));
    assert_eq!(
        error_of(&a),
        (
            413,
            "RequestEntityTooLargeException".into(),
            "Request body exceeds the limit of 65536 bytes.".into()
        )
    );
    let mut chunked = b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..20 {
        chunked.extend_from_slice(b"1000\r\n");
        chunked.extend_from_slice(&[b' '; 0x1000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let a = raw(s.addr, &chunked);
    assert_eq!(error_of(&a).1, "RequestEntityTooLargeException");

    // Not POST /.
    let a = raw(s.addr, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(
        (a.status, a.error().0.as_str()),
        (405, "UnknownOperationException")
    );
    let a = raw(
        s.addr,
        b"POST /other HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
    );
    assert_eq!(
        (a.status, a.error().0.as_str()),
        (404, "UnknownOperationException")
    );

    still_serves(&s);
}

fn root_call_target(s: &ServerProcess, target: &str) -> Answer {
    // `signed_headers` prefixes TrentService.; build the target by hand and sign it.
    let signing = Signing::new(ROOT_KEY, ROOT_SECRET);
    let mut headers = signed_headers(s.addr, "X", b"{}", &signing);
    headers.retain(|(n, _)| n != "authorization" && n != "x-amz-date");
    for (n, v) in &mut headers {
        if n == "x-amz-target" {
            *v = target.to_owned();
        }
    }
    let resigned = sign_exact(s, &headers, b"{}");
    raw(s.addr, &request_bytes(&resigned, b"{}"))
}

fn call_with_content_type(s: &ServerProcess, content_type: &str) -> Answer {
    let signing = Signing::new(ROOT_KEY, ROOT_SECRET);
    let mut headers = signed_headers(s.addr, "ListKeys", b"{}", &signing);
    headers.retain(|(n, _)| n != "authorization" && n != "x-amz-date");
    for (n, v) in &mut headers {
        if n == "content-type" {
            *v = content_type.to_owned();
        }
    }
    let resigned = sign_exact(s, &headers, b"{}");
    raw(s.addr, &request_bytes(&resigned, b"{}"))
}

/// Signs `headers` as they are (aws-sigv4), adding `authorization` and `x-amz-date`.
fn sign_exact(
    s: &ServerProcess,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity =
        aws_credential_types::Credentials::new(ROOT_KEY, ROOT_SECRET, None, None, "t").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kms")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("params")
        .into();
    let req = SignableRequest::new(
        "POST",
        format!("http://{}/", s.addr),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, _) = sign(req, &params).expect("sign").into_parts();
    let mut out = headers.to_vec();
    for (n, v) in instructions.headers() {
        out.push((n.to_owned(), v.to_owned()));
    }
    out
}

#[test]
fn slow_and_idle_clients_are_dropped_and_others_still_served() {
    let s = ServerProcess::start(
        &iam_json(),
        &["--header-timeout", "300ms", "--body-timeout", "300ms"],
    );
    // A head that never ends.
    let mut slow = connect(s.addr);
    slow.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n")
        .expect("write");
    let mut buf = Vec::new();
    let n = slow
        .read_to_end(&mut buf)
        .expect("closed by the server, not timed out here");
    // hyper may answer 408 before closing; either way the connection ends.
    assert!(
        n == 0 || buf.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );

    // A body that never arrives.
    let signing = Signing::new(ROOT_KEY, ROOT_SECRET);
    let headers = signed_headers(s.addr, "ListKeys", b"{}", &signing);
    let mut req = request_bytes(&headers, b"{}");
    req.truncate(req.len() - 2);
    let mut stalled = connect(s.addr);
    stalled.write_all(&req).expect("write");
    let a = read_answer(&mut stalled).expect("answered");
    assert_eq!(
        (a.status, a.error().0.as_str()),
        (408, "RequestTimeoutException")
    );

    // An idle keep-alive connection is closed after the timeout.
    let mut idle = connect(s.addr);
    let headers = signed_headers(s.addr, "ListKeys", b"{}", &signing);
    idle.write_all(&request_bytes(&headers, b"{}"))
        .expect("write");
    assert_eq!(read_answer(&mut idle).expect("answer").status, 200);
    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).expect("closed"), 0);

    still_serves(&s);
}

#[test]
fn operations_answer_in_the_model_shapes() {
    let s = ServerProcess::start(&iam_json(), &[]);
    let a = root_call(
        s.addr,
        "CreateKey",
        r#"{"Description": "d", "KeyUsage": "ENCRYPT_DECRYPT"}"#,
    );
    let m = &a.json()["KeyMetadata"];
    for member in [
        "AWSAccountId",
        "KeyId",
        "Arn",
        "Enabled",
        "Description",
        "KeyUsage",
        "KeyState",
        "Origin",
        "KeyManager",
        "KeySpec",
        "EncryptionAlgorithms",
    ] {
        assert!(!m[member].is_null(), "KeyMetadata.{member} missing: {m}");
    }
    assert_eq!(m["KeyState"], "Enabled");
    assert_eq!(m["AWSAccountId"], ACCOUNT);
    let arn = m["Arn"].as_str().expect("arn").to_owned();
    let id = m["KeyId"].as_str().expect("id").to_owned();

    let a = root_call(
        s.addr,
        "CreateAlias",
        &format!(r#"{{"AliasName": "alias/cam", "TargetKeyId": "{id}"}}"#),
    );
    assert_eq!((a.status, a.body.len()), (200, 0));
    let a = root_call(s.addr, "ListAliases", &format!(r#"{{"KeyId": "{id}"}}"#));
    assert_eq!(a.json()["Aliases"][0]["AliasName"], "alias/cam");
    assert_eq!(a.json()["Truncated"], false);

    let a = root_call(
        s.addr,
        "GenerateDataKey",
        r#"{"KeyId": "alias/cam", "KeySpec": "AES_128", "EncryptionContext": {"k": "v"}}"#,
    );
    let v = a.json();
    assert_eq!(v["KeyId"], arn.as_str());
    let plaintext = v["Plaintext"].as_str().expect("plaintext");
    assert_eq!(plaintext.len(), 24, "16 bytes in base64");
    let a = root_call(
        s.addr,
        "Decrypt",
        &format!(
            r#"{{"CiphertextBlob": "{}", "EncryptionContext": {{"k": "v"}}}}"#,
            v["CiphertextBlob"].as_str().expect("blob")
        ),
    );
    assert_eq!(a.json()["Plaintext"], plaintext);
    assert_eq!(a.json()["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
    let a = root_call(
        s.addr,
        "Decrypt",
        &format!(
            r#"{{"CiphertextBlob": "{}"}}"#,
            v["CiphertextBlob"].as_str().expect("blob")
        ),
    );
    assert_eq!(error_of(&a).1, "InvalidCiphertextException");

    let a = root_call(
        s.addr,
        "Encrypt",
        &format!(r#"{{"KeyId": "{id}", "Plaintext": "aGVsbG8="}}"#),
    );
    let blob = a.json()["CiphertextBlob"]
        .as_str()
        .expect("blob")
        .to_owned();
    let a = root_call(
        s.addr,
        "Decrypt",
        &format!(r#"{{"CiphertextBlob": "{blob}", "KeyId": "{arn}"}}"#),
    );
    assert_eq!(a.json()["Plaintext"], "aGVsbG8=");

    let a = root_call(
        s.addr,
        "GetKeyPolicy",
        &format!(r#"{{"KeyId": "{id}", "PolicyName": "default"}}"#),
    );
    assert_eq!(a.json()["PolicyName"], "default");
    let policy = a.json()["Policy"].as_str().expect("policy").to_owned();
    let a = root_call(
        s.addr,
        "PutKeyPolicy",
        &serde_json::json!({"KeyId": id, "Policy": policy}).to_string(),
    );
    assert_eq!(a.status, 200, "{:?}", a.error());
    let a = root_call(
        s.addr,
        "PutKeyPolicy",
        &serde_json::json!({"KeyId": id, "Policy": "{\"Statement\": 5}"}).to_string(),
    );
    assert_eq!(error_of(&a).1, "MalformedPolicyDocumentException");

    let a = root_call(s.addr, "DisableKey", &format!(r#"{{"KeyId": "{id}"}}"#));
    assert_eq!(a.status, 200);
    let a = root_call(
        s.addr,
        "GenerateDataKey",
        &format!(r#"{{"KeyId": "{id}", "NumberOfBytes": 8}}"#),
    );
    assert_eq!(error_of(&a).1, "DisabledException");
    let a = root_call(
        s.addr,
        "ScheduleKeyDeletion",
        &format!(r#"{{"KeyId": "{id}", "PendingWindowInDays": 7}}"#),
    );
    let v = a.json();
    assert_eq!(
        (v["KeyId"].as_str(), v["KeyState"].as_str()),
        (Some(arn.as_str()), Some("PendingDeletion"))
    );
    assert!(v["DeletionDate"].is_number());
    let a = root_call(s.addr, "DescribeKey", &format!(r#"{{"KeyId": "{id}"}}"#));
    assert!(a.json()["KeyMetadata"]["DeletionDate"].is_number());
    let a = root_call(
        s.addr,
        "CancelKeyDeletion",
        &format!(r#"{{"KeyId": "{id}"}}"#),
    );
    assert_eq!(a.json()["KeyId"], arn.as_str());
    let a = root_call(s.addr, "EnableKey", &format!(r#"{{"KeyId": "{id}"}}"#));
    assert_eq!(a.status, 200);
    let a = root_call(s.addr, "DeleteAlias", r#"{"AliasName": "alias/cam"}"#);
    assert_eq!(a.status, 200);
    let a = root_call(s.addr, "DescribeKey", r#"{"KeyId": "alias/cam"}"#);
    assert_eq!(error_of(&a).1, "NotFoundException");

    // Pagination: three keys, two per page.
    create_key(&s);
    create_key(&s);
    let first = root_call(s.addr, "ListKeys", r#"{"Limit": 2}"#).json();
    assert_eq!(
        (
            first["Keys"].as_array().map(Vec::len),
            first["Truncated"].as_bool()
        ),
        (Some(2), Some(true))
    );
    let marker = first["NextMarker"].as_str().expect("marker");
    let second = root_call(
        s.addr,
        "ListKeys",
        &format!(r#"{{"Limit": 2, "Marker": "{marker}"}}"#),
    )
    .json();
    assert_eq!(
        (
            second["Keys"].as_array().map(Vec::len),
            second["Truncated"].as_bool()
        ),
        (Some(1), Some(false))
    );
    let a = root_call(s.addr, "ListKeys", r#"{"Marker": "!!"}"#);
    assert_eq!(error_of(&a).1, "InvalidMarkerException");
}

#[test]
fn sigterm_stops_the_server_cleanly_and_the_state_survives() {
    let s = ServerProcess::start(&iam_json(), &[]);
    let arn = create_key(&s);
    let (status, dir) = s.terminate();
    assert!(status.success(), "{status:?}");
    let s = ServerProcess::start_in(dir, &[]);
    let a = root_call(s.addr, "DescribeKey", &format!(r#"{{"KeyId": "{arn}"}}"#));
    assert_eq!(a.status, 200, "{:?}", a.error());
    assert_eq!(a.json()["KeyMetadata"]["Arn"], arn.as_str());
}

#[test]
fn a_bad_iam_file_stops_startup_with_the_problem_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let iam = dir.path().join("iam.json");
    for (text, needle) in [
        (r#"{"Accounts": [{"AccountId": "12"}]}"#, "not 12 digits"),
        (r#"{"Acounts": []}"#, "unknown field `Acounts`"),
    ] {
        std::fs::write(&iam, text).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fragseal"))
            .arg("kms")
            .arg("--kms-state")
            .arg(dir.path().join("state.json"))
            .args(["serve", "--iam"])
            .arg(&iam)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn parameters_this_server_does_not_model_are_refused_not_ignored() {
    let s = ServerProcess::start(&iam_json(), &[]);
    let key = create_key(&s);
    for (op, body, code) in [
        (
            "CreateKey",
            r#"{"KeySpec": "RSA_2048"}"#.to_owned(),
            "UnsupportedOperationException",
        ),
        (
            "CreateKey",
            r#"{"KeyUsage": "SIGN_VERIFY"}"#.to_owned(),
            "UnsupportedOperationException",
        ),
        (
            "CreateKey",
            r#"{"MultiRegion": true}"#.to_owned(),
            "UnsupportedOperationException",
        ),
        (
            "CreateKey",
            r#"{"KeySpec": "RSA_1024"}"#.to_owned(),
            "ValidationException",
        ),
        (
            "GenerateDataKey",
            format!(r#"{{"KeyId": "{key}", "KeySpec": "AES_256", "DryRun": true}}"#),
            "UnsupportedOperationException",
        ),
        (
            "Encrypt",
            format!(
                r#"{{"KeyId": "{key}", "Plaintext": "aGk=", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}"#
            ),
            "InvalidKeyUsageException",
        ),
        (
            "GetKeyPolicy",
            format!(r#"{{"KeyId": "{key}", "PolicyName": "other"}}"#),
            "NotFoundException",
        ),
    ] {
        let a = root_call(s.addr, op, &body);
        assert_eq!(error_of(&a).1, code, "{op} {body}: {:?}", a.error());
    }
    // Each refusal is one audit record, with the verified caller.
    let records = audit_records(&s.path("audit.jsonl"));
    assert_eq!(records.len(), 8, "CreateKey + 7 refusals");
    assert!(records[1..].iter().all(|r| r["userIdentity"]["arn"]
        == format!("arn:aws:iam::{ACCOUNT}:root")
        && r["errorCode"].is_string()));
}

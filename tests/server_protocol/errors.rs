//! Malformed bodies, constraint failures, protocol errors, unmodelled parameters: typed errors
//! in AWS wording, and the server keeps serving.

use super::*;

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

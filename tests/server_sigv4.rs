//! SigV4 on `fragseal kms serve`: every signature failure gets AWS's exception and message, and
//! the server keeps serving. Requests are signed with the `aws-sigv4` crate.

mod server_common;

use server_common::*;
use std::time::{Duration, SystemTime};

fn assert_error(a: &Answer, code: &str, message_starts: &str) {
    let (c, m) = a.error();
    assert_eq!((a.status, c.as_str()), (400, code), "{m}");
    assert!(
        m.starts_with(message_starts),
        "{code}: {m:?} should start with {message_starts:?}"
    );
    assert!(a.header("x-amzn-RequestId").is_some_and(|r| r.len() == 36));
    assert_eq!(a.header("content-type"), Some("application/x-amz-json-1.1"));
}

fn still_serves(s: &ServerProcess) {
    let a = root_call(s.addr, "ListKeys", "{}");
    assert_eq!(a.status, 200, "{:?}", a.error());
}

#[test]
fn signature_failures_have_aws_errors() {
    let s = ServerProcess::start(&iam_json(), &[]);
    still_serves(&s);

    // Wrong secret.
    let a = call(
        s.addr,
        "ListKeys",
        "{}",
        &Signing::new(ROOT_KEY, "not-the-secret"),
    );
    assert_error(
        &a,
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided.",
    );

    // Unknown access key.
    let a = call(
        s.addr,
        "ListKeys",
        "{}",
        &Signing::new("AKIANOBODYEXAMPLE001", "x"),
    );
    assert_error(
        &a,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );

    // A session token (no STS yet): the error AWS gives for an unknown token.
    let mut with_token = Signing::new(ROOT_KEY, ROOT_SECRET);
    with_token.session_token = Some("FQoGZXIvYXdzEXAMPLE");
    let a = call(s.addr, "ListKeys", "{}", &with_token);
    assert_error(
        &a,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );

    // Wrong scope: region, then service.
    let mut other_region = Signing::new(ROOT_KEY, ROOT_SECRET);
    other_region.region = "eu-west-1";
    let a = call(s.addr, "ListKeys", "{}", &other_region);
    assert_error(
        &a,
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'eu-west-1'.",
    );
    let mut other_service = Signing::new(ROOT_KEY, ROOT_SECRET);
    other_service.service = "s3";
    let a = call(s.addr, "ListKeys", "{}", &other_service);
    assert_error(
        &a,
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'kms'.",
    );

    // Skew beyond 5 minutes, both ways; 4 minutes is accepted.
    let mut old = Signing::new(ROOT_KEY, ROOT_SECRET);
    old.time = SystemTime::now() - Duration::from_secs(10 * 60);
    let a = call(s.addr, "ListKeys", "{}", &old);
    assert_error(&a, "InvalidSignatureException", "Signature expired: ");
    assert!(a.error().1.ends_with(" - 5 min.)"), "{:?}", a.error());
    let mut future = Signing::new(ROOT_KEY, ROOT_SECRET);
    future.time = SystemTime::now() + Duration::from_secs(10 * 60);
    let a = call(s.addr, "ListKeys", "{}", &future);
    assert_error(
        &a,
        "InvalidSignatureException",
        "Signature not yet current: ",
    );
    let mut near = Signing::new(ROOT_KEY, ROOT_SECRET);
    near.time = SystemTime::now() - Duration::from_secs(4 * 60);
    assert_eq!(call(s.addr, "ListKeys", "{}", &near).status, 200);

    still_serves(&s);
}

#[test]
fn missing_garbled_and_tampered_requests_are_refused() {
    let s = ServerProcess::start(&iam_json(), &[]);
    let body = br#"{"NumberOfBytes": 32}"#;

    // No Authorization at all.
    let headers: Vec<(String, String)> = signed_headers(
        s.addr,
        "ListKeys",
        b"{}",
        &Signing::new(ROOT_KEY, ROOT_SECRET),
    )
    .into_iter()
    .filter(|(n, _)| n != "authorization")
    .collect();
    let a = raw(s.addr, &request_bytes(&headers, b"{}"));
    assert_error(
        &a,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    );

    // Garbled Authorization headers.
    let good = signed_headers(
        s.addr,
        "ListKeys",
        b"{}",
        &Signing::new(ROOT_KEY, ROOT_SECRET),
    );
    let auth = good
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.clone())
        .expect("authorization");
    for garbled in [
        "AWS4-HMAC-SHA256".to_owned(),
        "Bearer abc".to_owned(),
        auth.replace("SignedHeaders=", "Signed="),
        auth.replace("/aws4_request", ""),
        auth.replace("Signature=", "Signature=zz"),
        auth.replace("host;", ""),
    ] {
        let headers: Vec<(String, String)> = good
            .iter()
            .map(|(n, v)| {
                if n == "authorization" {
                    (n.clone(), garbled.clone())
                } else {
                    (n.clone(), v.clone())
                }
            })
            .collect();
        let a = raw(s.addr, &request_bytes(&headers, b"{}"));
        assert_error(&a, "IncompleteSignatureException", "");
    }

    // The scope's date must be X-Amz-Date's.
    let headers: Vec<(String, String)> = good
        .iter()
        .map(|(n, v)| {
            if n == "x-amz-date" {
                // One day earlier: the scope still names the signing day.
                let t = SystemTime::now() - Duration::from_secs(86_400);
                let d = humantime::format_rfc3339_seconds(t).to_string();
                (n.clone(), d.replace(['-', ':'], ""))
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect();
    let a = raw(s.addr, &request_bytes(&headers, b"{}"));
    assert_error(
        &a,
        "InvalidSignatureException",
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP",
    );

    // The body changed after signing.
    let headers = signed_headers(
        s.addr,
        "GenerateRandom",
        body,
        &Signing::new(ROOT_KEY, ROOT_SECRET),
    );
    let a = raw(
        s.addr,
        &request_bytes(&headers, br#"{"NumberOfBytes": 64}"#),
    );
    assert_error(
        &a,
        "InvalidSignatureException",
        "The request signature we calculated does not match",
    );

    // A claimed payload hash that is not the body's.
    let mut headers = signed_headers(
        s.addr,
        "ListKeys",
        b"{}",
        &Signing::new(ROOT_KEY, ROOT_SECRET),
    );
    headers.push(("x-amz-content-sha256".into(), "0".repeat(64)));
    let a = raw(s.addr, &request_bytes(&headers, b"{}"));
    assert_error(
        &a,
        "InvalidSignatureException",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );

    // A signed header changed after signing.
    let headers: Vec<(String, String)> = signed_headers(
        s.addr,
        "ListKeys",
        b"{}",
        &Signing::new(ROOT_KEY, ROOT_SECRET),
    )
    .into_iter()
    .map(|(n, v)| {
        if n == "x-amz-target" {
            (n, "TrentService.ListAliases".to_owned())
        } else {
            (n, v)
        }
    })
    .collect();
    let a = raw(s.addr, &request_bytes(&headers, b"{}"));
    assert_error(
        &a,
        "InvalidSignatureException",
        "The request signature we calculated",
    );

    still_serves(&s);
}

#[test]
fn an_empty_iam_file_refuses_every_signed_request_as_unrecognized() {
    let s = ServerProcess::start("{}", &[]);
    for (key, secret) in [(ROOT_KEY, ROOT_SECRET), (ALICE_KEY, ALICE_SECRET)] {
        for op in ["ListKeys", "CreateKey", "GenerateDataKey"] {
            let a = call(s.addr, op, "{}", &Signing::new(key, secret));
            assert_error(
                &a,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            );
        }
    }
}

#[test]
fn the_identity_is_the_verified_access_key() {
    let s = ServerProcess::start(&iam_json(), &[]);
    let key = root_call(s.addr, "CreateKey", r#"{"Description": "k"}"#).json()["KeyMetadata"]
        ["Arn"]
        .as_str()
        .expect("arn")
        .to_owned();
    let alice = Signing::new(ALICE_KEY, ALICE_SECRET);
    // alice's identity policy allows GenerateDataKey only; the default key policy delegates to IAM.
    let dk = call(
        s.addr,
        "GenerateDataKey",
        &format!(r#"{{"KeyId": "{key}", "KeySpec": "AES_256"}}"#),
        &alice,
    );
    assert_eq!(dk.status, 200, "{:?}", dk.error());
    let blob = dk.json()["CiphertextBlob"]
        .as_str()
        .expect("blob")
        .to_owned();
    // Whatever the body claims, alice is alice.
    let a = call(
        s.addr,
        "Decrypt",
        &format!(r#"{{"CiphertextBlob": "{blob}", "Principal": "arn:aws:iam::{ACCOUNT}:root"}}"#),
        &alice,
    );
    let (code, message) = a.error();
    assert_eq!(code, "AccessDeniedException", "{message}");
    assert!(message.contains(":user/alice"), "{message}");
    let a = root_call(
        s.addr,
        "Decrypt",
        &format!(r#"{{"CiphertextBlob": "{blob}"}}"#),
    );
    assert_eq!(a.status, 200, "{:?}", a.error());
    assert_eq!(a.json()["KeyId"], key.as_str());
}

/// fragseal's own AWS KMS backend, pointed at the server like any AWS endpoint.
#[cfg(feature = "aws")]
#[test]
fn aws_kms_backend_generates_and_decrypts_through_the_server() {
    use fragseal::kms::aws::AwsKms;
    use fragseal::kms::{Credential, DataKeySpec, Kms, KmsErrorKind};
    use fragseal::EncryptionContext;

    let s = ServerProcess::start(&iam_json(), &[]);
    let key = root_call(s.addr, "CreateKey", "{}").json()["KeyMetadata"]["Arn"]
        .as_str()
        .expect("arn")
        .to_owned();
    let caller = Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), ROOT_KEY)
        .expect("credential");
    let kms = AwsKms::builder()
        .region("us-east-1")
        .endpoint_url(s.endpoint())
        .caller_static_credentials(caller.clone(), ROOT_KEY, ROOT_SECRET, None)
        .operation_timeout(Duration::from_secs(20))
        .build()
        .expect("AwsKms");
    let ec = EncryptionContext::new().with("stream", "cam-1");
    let dk = kms
        .generate_data_key(&caller, &key, DataKeySpec::Aes256, &ec)
        .expect("GenerateDataKey");
    assert_eq!(dk.key_id, key);
    let back = kms
        .decrypt(&caller, &dk.ciphertext_blob, &ec, Some(&key))
        .expect("Decrypt");
    assert_eq!(back.plaintext.expose_secret(), dk.plaintext.expose_secret());
    let wrong = kms
        .decrypt(
            &caller,
            &dk.ciphertext_blob,
            &EncryptionContext::new(),
            None,
        )
        .expect_err("wrong context");
    assert_eq!(wrong.kind(), KmsErrorKind::InvalidCiphertext, "{wrong}");
    let d = kms.describe_key(&caller, &key).expect("DescribeKey");
    assert_eq!(d.arn, key);

    // A wrong secret is refused with AWS's exception, which the backend keeps.
    let bad = AwsKms::builder()
        .region("us-east-1")
        .endpoint_url(s.endpoint())
        .caller_static_credentials(caller.clone(), ROOT_KEY, "wrong", None)
        .build()
        .expect("AwsKms");
    let e = bad.describe_key(&caller, &key).expect_err("bad secret");
    assert_eq!(e.code(), "InvalidSignatureException", "{e}");
}

//! Against a loopback server with canned answers: error codes, statuses, decoding, timeouts,
//! refused connections.

use super::*;

#[test]
fn json_error_code_in_body() {
    let err = describe_error(answer(
        400,
        vec![JSON],
        r#"{"__type":"NotFoundException","message":"Alias alias/x is not found."}"#,
    ));
    assert_eq!(err.kind(), KmsErrorKind::NotFound);
    assert!(
        err.message().contains("Alias alias/x is not found."),
        "{err}"
    );
    assert!(!err.is_retryable());
}

#[test]
fn json_error_code_in_header() {
    let err = describe_error(answer(
        400,
        vec![
            JSON,
            (
                "x-amzn-ErrorType",
                "DisabledException:http://internal.amazon.com/",
            ),
        ],
        r#"{"message":"disabled"}"#,
    ));
    assert_eq!(err.kind(), KmsErrorKind::Disabled);
}

#[test]
fn throttling_is_retryable() {
    let err = describe_error(answer(
        400,
        vec![JSON],
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
    ));
    assert_eq!(err.kind(), KmsErrorKind::Throttling);
    assert!(err.is_retryable());
}

#[test]
fn xml_403_without_json_code_maps_by_xml_code() {
    // What moto sends when its IAM emulation rejects a request.
    let err = describe_error(answer(
        403,
        vec![("Content-Type", "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ErrorResponse><Error>\
         <Code>InvalidClientTokenId</Code><Message>The security token included in the \
         request is invalid.</Message></Error><RequestId>1</RequestId></ErrorResponse>",
    ));
    assert_eq!(err.kind(), KmsErrorKind::AccessDenied);
    assert!(err.message().contains("security token"), "{err}");
}

#[test]
fn xml_403_without_any_code_maps_by_status() {
    let err = describe_error(answer(
        403,
        vec![("Content-Type", "text/xml")],
        "<AccessDenied/>",
    ));
    assert_eq!(err.kind(), KmsErrorKind::AccessDenied);
}

#[test]
fn empty_5xx_is_internal_and_retryable() {
    let err = describe_error(answer(503, vec![], ""));
    assert_eq!(err.kind(), KmsErrorKind::Internal);
    assert!(err.is_retryable());
}

#[test]
fn empty_429_is_throttling() {
    let err = describe_error(answer(429, vec![], ""));
    assert_eq!(err.kind(), KmsErrorKind::Throttling);
}

#[test]
fn unknown_4xx_is_final() {
    let err = describe_error(answer(
        409,
        vec![JSON],
        r#"{"__type":"BrandNewException","message":"?"}"#,
    ));
    assert_eq!(err.kind(), KmsErrorKind::InvalidRequest, "{err}");
    assert!(!err.is_retryable());
}

#[test]
fn limit_exceeded_is_final() {
    let err = describe_error(answer(
        400,
        vec![JSON],
        r#"{"__type":"LimitExceededException","message":"too many aliases"}"#,
    ));
    assert_eq!(err.kind(), KmsErrorKind::LimitExceeded, "{err}");
    assert_eq!(err.code(), "LimitExceededException");
    assert!(!err.is_retryable());
}

#[test]
fn unknown_code_falls_back_to_status() {
    let err = describe_error(answer(
        404,
        vec![JSON],
        r#"{"__type":"BrandNewException","message":"?"}"#,
    ));
    assert_eq!(err.kind(), KmsErrorKind::NotFound);
}

#[test]
fn unparseable_success_is_internal() {
    let server = FakeKms::start(answer(200, vec![JSON], "not json"));
    let kms = kms_for(&server.endpoint());
    let err = kms
        .generate_data_key(
            &caller(),
            "alias/x",
            DataKeySpec::Aes256,
            &EncryptionContext::new(),
        )
        .expect_err("garbage answer");
    assert_eq!(err.kind(), KmsErrorKind::Internal);
}

#[test]
fn wrong_length_plaintext_is_rejected() {
    // 16 bytes of plaintext for an AES_256 request.
    let server = FakeKms::start(answer(
        200,
        vec![JSON],
        r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k","Plaintext":"AAAAAAAAAAAAAAAAAAAAAA==","CiphertextBlob":"AAAA"}"#,
    ));
    let kms = kms_for(&server.endpoint());
    let err = kms
        .generate_data_key(
            &caller(),
            "alias/x",
            DataKeySpec::Aes256,
            &EncryptionContext::new(),
        )
        .expect_err("short key");
    assert_eq!(err.kind(), KmsErrorKind::Internal);
}

#[test]
fn success_is_decoded() {
    let server = FakeKms::start(answer(
        200,
        vec![JSON],
        r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k","Plaintext":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","CiphertextBlob":"3q2+7w=="}"#,
    ));
    let kms = kms_for(&server.endpoint());
    let key = kms
        .generate_data_key(
            &caller(),
            "alias/x",
            DataKeySpec::Aes256,
            &EncryptionContext::new(),
        )
        .expect("decoded");
    assert_eq!(key.key_id, "arn:aws:kms:us-east-1:111122223333:key/k");
    let expected: Vec<u8> = (0u8..32).collect();
    assert_eq!(key.plaintext.expose_secret(), expected.as_slice());
    assert_eq!(key.ciphertext_blob, vec![0xde, 0xad, 0xbe, 0xef]);
}

#[test]
fn silent_server_times_out_as_transport() {
    let server = FakeKms::start(Canned {
        delay: Duration::from_secs(30),
        ..answer(200, vec![JSON], "{}")
    });
    let kms = kms_for(&server.endpoint());
    let start = Instant::now();
    let err = kms
        .describe_key(&caller(), "alias/x")
        .expect_err("no answer");
    assert_eq!(err.kind(), KmsErrorKind::Transport, "{err}");
    assert!(err.is_retryable());
    // Bounded by the operation timeout (2 s) plus the grace period, far below the delay.
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn refused_connection_is_transport() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let kms = kms_for(&format!("http://127.0.0.1:{port}"));
    let err = kms
        .describe_key(&caller(), "alias/x")
        .expect_err("nothing listens");
    assert_eq!(err.kind(), KmsErrorKind::Transport, "{err}");
}

#[test]
fn unknown_caller_without_default_is_access_denied() {
    let known = Credential::new("111122223333", "arn:aws:iam::111122223333:role/a", "AKIDA")
        .expect("a valid credential");
    let kms = AwsKms::builder()
        .region("us-east-1")
        .endpoint_url("http://127.0.0.1:9")
        .caller_static_credentials(known.clone(), "AKIDA", "secret", None)
        .build()
        .expect("build");
    assert!(kms.sdk_client(&known).is_some());
    let err = kms
        .describe_key(&caller(), "alias/x")
        .expect_err("no credentials for this caller");
    assert_eq!(err.kind(), KmsErrorKind::AccessDenied);
}

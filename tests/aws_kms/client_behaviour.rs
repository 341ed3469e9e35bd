//! Against canned answers: credentials per caller, the builder, async runtimes, threads,
//! exception names, Encrypt, expired tokens.

use super::*;

#[test]
fn credentials_from_a_provider_per_caller() {
    use fragseal::kms::aws::credentials::{provide_credentials_fn, Credentials, CredentialsError};
    let server = FakeKms::start(answer(
        400,
        vec![JSON],
        r#"{"__type":"NotFoundException","message":"signed and sent"}"#,
    ));
    let good = Credential::new("111122223333", "arn:aws:iam::111122223333:role/g", "AKIDG")
        .expect("a valid credential");
    let broken = Credential::new("111122223333", "arn:aws:iam::111122223333:role/b", "AKIDB")
        .expect("a valid credential");
    let empty = Credential::new("111122223333", "arn:aws:iam::111122223333:role/e", "AKIDE")
        .expect("a valid credential");
    let kms = AwsKms::builder()
        .region("us-east-1")
        .endpoint_url(server.endpoint())
        .caller_credentials_provider(
            good.clone(),
            provide_credentials_fn(|| async {
                Ok(Credentials::new("AKIDG", "secret", None, None, "test"))
            }),
        )
        .caller_credentials_provider(
            broken.clone(),
            provide_credentials_fn(|| async {
                Err(CredentialsError::provider_error(
                    "credential broker unreachable",
                ))
            }),
        )
        .caller_credentials_provider(
            empty.clone(),
            provide_credentials_fn(|| async {
                Err(CredentialsError::not_loaded("no keys for this role"))
            }),
        )
        .build()
        .expect("build");
    // The request went out signed with the provider's keys.
    let e = kms.describe_key(&good, "alias/x").expect_err("not found");
    assert_eq!(e.kind(), KmsErrorKind::NotFound);
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    // A provider failure never reaches the server.
    let e = kms
        .describe_key(&broken, "alias/x")
        .expect_err("no credentials");
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    assert_eq!(e.kind(), KmsErrorKind::Transport, "{e}");
    assert!(e.message().contains("credentials unavailable"), "{e}");
    let e = kms
        .describe_key(&empty, "alias/x")
        .expect_err("no credentials");
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied, "{e}");
}

#[test]
fn builder_rejects_incomplete_configs() {
    assert!(matches!(
        AwsKms::builder()
            .default_static_credentials("a", "b", None)
            .build(),
        Err(AwsConfigError::MissingRegion)
    ));
    assert!(matches!(
        AwsKms::builder().region("us-east-1").build(),
        Err(AwsConfigError::NoCredentials)
    ));
    assert!(matches!(
        AwsKms::builder()
            .region("us-east-1")
            .default_static_credentials("a", "b", None)
            .max_attempts(0)
            .build(),
        Err(AwsConfigError::Invalid(_))
    ));
}

#[test]
fn works_inside_async_runtimes_and_drops_there() {
    let server = FakeKms::start(answer(
        400,
        vec![JSON],
        r#"{"__type":"NotFoundException","message":"nope"}"#,
    ));
    let endpoint = server.endpoint();
    for multi in [false, true] {
        let rt = if multi {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        }
        .expect("runtime");
        let endpoint = endpoint.clone();
        let kind = rt.block_on(async move {
            // Built, called and dropped inside the caller's runtime: no nested block_on
            // panic, no blocking-drop panic.
            let kms = kms_for(&endpoint);
            let kind = kms
                .describe_key(&caller(), "alias/x")
                .expect_err("not found")
                .kind();
            drop(kms);
            // From a spawned task (a runtime worker thread) and from spawn_blocking.
            let kms = Arc::new(kms_for(&endpoint));
            let k = kms.clone();
            let in_task = tokio::spawn(async move {
                k.describe_key(&caller(), "alias/x")
                    .expect_err("not found")
                    .kind()
            })
            .await
            .expect("task");
            let k = kms.clone();
            let in_blocking = tokio::task::spawn_blocking(move || {
                k.describe_key(&caller(), "alias/x")
                    .expect_err("not found")
                    .kind()
            })
            .await
            .expect("blocking task");
            drop(kms);
            assert_eq!(in_task, KmsErrorKind::NotFound);
            assert_eq!(in_blocking, KmsErrorKind::NotFound);
            kind
        });
        assert_eq!(kind, KmsErrorKind::NotFound, "multi_thread={multi}");
    }
}

#[test]
fn shared_by_many_threads() {
    let server = FakeKms::start(answer(
        200,
        vec![JSON],
        r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k","Plaintext":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","CiphertextBlob":"3q2+7w=="}"#,
    ));
    let kms = Arc::new(kms_for(&server.endpoint()));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let kms = kms.clone();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    kms.generate_data_key(
                        &caller(),
                        "alias/x",
                        DataKeySpec::Aes256,
                        &EncryptionContext::new(),
                    )
                    .expect("ok");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    assert_eq!(server.requests.load(Ordering::SeqCst), 40);
}

#[test]
fn exact_exception_name_is_kept() {
    let err = describe_error(answer(
        400,
        vec![JSON],
        r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
    ));
    assert_eq!(err.kind(), KmsErrorKind::AccessDenied, "{err}");
    assert_eq!(err.code(), "UnrecognizedClientException");
    let err = describe_error(answer(
        400,
        vec![JSON],
        r#"{"__type":"com.amazonaws.kms#MalformedPolicyDocumentException","message":"bad"}"#,
    ));
    assert_eq!(err.kind(), KmsErrorKind::MalformedPolicyDocument, "{err}");
    assert_eq!(err.code(), "MalformedPolicyDocumentException");
    assert!(
        err.to_string()
            .starts_with("MalformedPolicyDocumentException: "),
        "{err}"
    );
    let err = describe_error(answer(
        400,
        vec![JSON],
        r#"{"__type":"DependencyTimeoutException","message":"slow"}"#,
    ));
    assert_eq!(err.kind(), KmsErrorKind::DependencyTimeout, "{err}");
    assert!(err.is_retryable());
}

#[test]
fn encrypt_is_sent_and_decoded() {
    let server = FakeKms::start(answer(
        200,
        vec![JSON],
        r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k","CiphertextBlob":"3q2+7w==","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#,
    ));
    let kms = kms_for(&server.endpoint());
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", "s1");
    let out = kms
        .encrypt(&caller(), "alias/x", &[1, 2, 3], &ec)
        .expect("decoded");
    assert_eq!(out.key_id, "arn:aws:kms:us-east-1:111122223333:key/k");
    assert_eq!(out.ciphertext_blob, vec![0xde, 0xad, 0xbe, 0xef]);
    let (target, body) = server.last.lock().expect("lock").clone();
    assert_eq!(target, "trentservice.encrypt");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON request");
    assert_eq!(body["KeyId"], "alias/x");
    assert_eq!(body["Plaintext"], "AQID");
    assert_eq!(body["EncryptionContext"]["aws:kinesisvideo:arn"], "s1");
}

#[test]
fn encrypt_refuses_bad_plaintext_lengths_without_sending() {
    let server = FakeKms::start(answer(200, vec![JSON], "{}"));
    let kms = kms_for(&server.endpoint());
    for n in [0usize, fragseal::kms::MAX_ENCRYPT_PLAINTEXT + 1] {
        let e = kms
            .encrypt(&caller(), "alias/x", &vec![7; n], &EncryptionContext::new())
            .expect_err("out of range");
        assert_eq!(e.kind(), KmsErrorKind::InvalidRequest, "{n}: {e}");
        assert_eq!(e.code(), "ValidationException");
    }
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn expired_token_answer_is_the_refresh_kind() {
    for (status, body) in [
        (
            400,
            r#"{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}"#,
        ),
        (
            403,
            r#"{"__type":"com.amazon.coral.service#ExpiredTokenException","message":"expired"}"#,
        ),
    ] {
        let e = describe_error(answer(status, vec![], body));
        assert_eq!(e.kind(), KmsErrorKind::ExpiredToken, "{e}");
        assert_eq!(e.code(), "ExpiredTokenException");
        assert!(!e.is_retryable(), "not with the same credential");
        assert_eq!(e.retry_kind(), fragseal::kms::RetryKind::RefreshCredentials);
    }
}

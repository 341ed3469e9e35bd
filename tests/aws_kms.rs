//! AwsKms against moto's KMS server on loopback (started by tests/support; see docs/AWS.md).
//!
//! Runs the KMS conformance cases (tests/support/kms_cases.rs; moto's known deviations are
//! asserted as such and the exact AWS behaviour is covered on LocalKms in
//! tests/kms_conformance.rs), and creates keys and aliases through the SDK.
//!
//! Without moto these tests print why they skip; with `FRAGSEAL_REQUIRE_INTEROP=1` they fail.
//!
//! The second half needs no moto: AwsKms against a loopback server with canned answers
//! (tests/support/fake_kms_http.rs) for error mapping, timeouts, credentials and decoding.
#![cfg(feature = "aws")]

#[path = "support/fake_kms_http.rs"]
mod fake_kms_http;
mod support;

use fake_kms_http::{answer, Canned, FakeKms};
use fragseal::kms::aws::{map_sdk_error, AwsConfigError, AwsKms};
use fragseal::kms::{Credential, DataKeySpec, Kms, KmsError, KmsErrorKind};
use fragseal::EncryptionContext;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use support::engine_cases;
use support::kms_cases::{self, Backend};

/// moto's default account.
const ACCOUNT: &str = "123456789012";

struct Moto {
    kms: Arc<AwsKms>,
}

fn caller() -> Credential {
    Credential::new(
        ACCOUNT,
        format!("arn:aws:iam::{ACCOUNT}:root"),
        "AKIDFRAGSEALTEST",
    )
    .expect("a valid credential")
}

/// The AwsKms pointed at the shared moto server, or `None` (after reporting) when moto is
/// unavailable.
fn moto(test: &str) -> Option<&'static Moto> {
    static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();
    let m = MOTO.get_or_init(|| {
        let server = support::shared_moto()?;
        let kms = AwsKms::builder()
            .region("us-east-1")
            .endpoint_url(server.endpoint())
            .caller_static_credentials(caller(), "AKIDFRAGSEALTEST", "fragseal-test-secret", None)
            .operation_timeout(Duration::from_secs(20))
            .read_timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Moto { kms: Arc::new(kms) })
    });
    match m {
        Ok(m) => Some(m),
        Err(e) => {
            support::unavailable(test, &format!("moto unavailable: {e}"));
            None
        }
    }
}

impl Moto {
    fn admin<T: Send + 'static>(
        &self,
        f: impl FnOnce(
            aws_sdk_kms::Client,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, KmsError>> + Send>,
        >,
    ) -> T {
        self.kms
            .with_sdk_client(&caller(), f)
            .unwrap_or_else(|e| panic!("moto admin call: {e}"))
    }
}

/// The key id (UUID) of a key ARN: moto 5.2.5 answers HTTP 500 to DisableKey, EnableKey and
/// ScheduleKeyDeletion given an ARN (AWS accepts both).
fn key_id_of(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_owned()
}

impl Backend for Moto {
    fn name(&self) -> &'static str {
        "AwsKms+moto"
    }
    fn kms(&self) -> Arc<dyn Kms> {
        self.kms.clone()
    }
    fn caller(&self) -> Credential {
        caller()
    }
    fn create_key(&self) -> String {
        self.admin(|c| {
            Box::pin(async move {
                let out = c
                    .create_key()
                    .description("fragseal aws_kms test")
                    .send()
                    .await
                    .map_err(map_sdk_error)?;
                Ok(out
                    .key_metadata
                    .and_then(|m| m.arn)
                    .expect("CreateKey answers an ARN"))
            })
        })
    }
    fn create_alias(&self, alias: &str, key_arn: &str) {
        let (alias, key) = (alias.to_owned(), key_arn.to_owned());
        self.admin(|c| {
            Box::pin(async move {
                c.create_alias()
                    .alias_name(alias)
                    .target_key_id(key)
                    .send()
                    .await
                    .map_err(map_sdk_error)?;
                Ok(())
            })
        })
    }
    fn disable_key(&self, key_arn: &str) {
        let key = key_id_of(key_arn);
        self.admin(|c| {
            Box::pin(async move {
                c.disable_key()
                    .key_id(key)
                    .send()
                    .await
                    .map_err(map_sdk_error)?;
                Ok(())
            })
        })
    }
    fn enable_key(&self, key_arn: &str) {
        let key = key_id_of(key_arn);
        self.admin(|c| {
            Box::pin(async move {
                c.enable_key()
                    .key_id(key)
                    .send()
                    .await
                    .map_err(map_sdk_error)?;
                Ok(())
            })
        })
    }
    fn schedule_deletion(&self, key_arn: &str) {
        let key = key_id_of(key_arn);
        self.admin(|c| {
            Box::pin(async move {
                c.schedule_key_deletion()
                    .key_id(key)
                    .pending_window_in_days(7)
                    .send()
                    .await
                    .map_err(map_sdk_error)?;
                Ok(())
            })
        })
    }
    fn emulates_key_states(&self) -> bool {
        false
    }
    fn emulates_ciphertext_errors(&self) -> bool {
        false
    }
}

macro_rules! moto_case {
    ($name:ident) => {
        #[test]
        fn $name() {
            if let Some(m) = moto(stringify!($name)) {
                kms_cases::$name(m);
            }
        }
    };
}

moto_case!(generate_and_decrypt);
moto_case!(describe);
moto_case!(wrong_context_rejected);
moto_case!(unknown_key);
moto_case!(garbage_ciphertext);
moto_case!(wrong_expected_key);
moto_case!(disabled_key);
moto_case!(pending_deletion);
moto_case!(many_threads);
moto_case!(encrypt_and_decrypt);

macro_rules! moto_engine_case {
    ($test:ident, $case:ident) => {
        #[test]
        fn $test() {
            if let Some(m) = moto(stringify!($test)) {
                engine_cases::$case(m);
            }
        }
    };
}

moto_engine_case!(engine_seal_and_open, seal_and_open);
moto_engine_case!(engine_context_swap_rejected, context_swap_rejected);
moto_engine_case!(engine_unknown_key, unknown_key);
moto_engine_case!(engine_garbage_edk, garbage_edk);
moto_engine_case!(engine_disabled_key, disabled_key);
moto_engine_case!(engine_pending_deletion, pending_deletion);
moto_engine_case!(engine_batches_on_many_threads, batches_on_many_threads);

#[test]
fn harness_reports_moto_process() {
    // The shared server is a live child of this process, on loopback, answering /moto-api/.
    let Some(_) = moto("harness_reports_moto_process") else {
        return;
    };
    let server = support::shared_moto().expect("started above");
    assert!(server.pid() > 0);
    assert_eq!(support::http_status(server.port(), "/moto-api/"), Some(200));
}

#[test]
fn own_server_is_killed_on_drop() {
    let python = match support::python_with(&["moto.server", "flask", "flask_cors"]) {
        Ok(p) => p,
        Err(e) => return support::unavailable("own_server_is_killed_on_drop", &e),
    };
    let server = support::MotoServer::start(&python).expect("moto starts");
    let port = server.port();
    assert_eq!(support::http_status(port, "/moto-api/"), Some(200));
    drop(server);
    assert_eq!(
        support::http_status(port, "/moto-api/"),
        None,
        "stopped by PID on drop"
    );
}

#[test]
fn moto_xml_403_maps_to_access_denied() {
    // With authentication on, moto rejects unknown access keys with HTTP 403 and an XML body
    // (`<Code>InvalidClientTokenId</Code>`), which the JSON protocol's parser cannot read.
    const TEST: &str = "moto_xml_403_maps_to_access_denied";
    let python = match support::python_with(&["moto.server", "flask", "flask_cors"]) {
        Ok(p) => p,
        Err(e) => return support::unavailable(TEST, &e),
    };
    let server =
        support::MotoServer::start_with_env(&python, &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])
            .expect("moto starts");
    let kms = AwsKms::builder()
        .region("us-east-1")
        .endpoint_url(server.endpoint())
        .default_static_credentials("AKIDUNKNOWNTOMOTO", "secret", None)
        .build()
        .expect("AwsKms");
    let e = kms
        .describe_key(&caller(), "alias/anything")
        .expect_err("unknown access key");
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied, "{e}");
    assert_eq!(e.code(), "InvalidClientTokenId");
    assert!(e.message().contains("HTTP 403"), "{e}");
    assert!(e.message().contains("InvalidClientTokenId"), "{e}");
    assert!(!e.is_retryable());
}

// ---- AwsKms against canned answers on loopback (no moto) ----

fn kms_for(endpoint: &str) -> AwsKms {
    AwsKms::builder()
        .region("us-east-1")
        .endpoint_url(endpoint)
        .default_static_credentials("AKIDTEST", "secret", None)
        .connect_timeout(Duration::from_millis(500))
        .read_timeout(Duration::from_millis(700))
        .operation_timeout(Duration::from_secs(2))
        .worker_threads(1)
        .build()
        .expect("build")
}

fn describe_error(canned: Canned) -> KmsError {
    let server = FakeKms::start(canned);
    let kms = kms_for(&server.endpoint());
    let err = kms
        .describe_key(&caller(), "alias/x")
        .expect_err("the fake server only sends errors");
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        1,
        "exactly one attempt (no SDK retries)"
    );
    err
}

const JSON: (&str, &str) = ("Content-Type", "application/x-amz-json-1.1");

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

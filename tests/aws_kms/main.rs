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

#[path = "../support/fake_kms_http.rs"]
mod fake_kms_http;
#[path = "../support/mod.rs"]
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

mod against_moto;
mod client_behaviour;
mod error_mapping;

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

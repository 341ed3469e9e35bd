//! AwsKms against moto's KMS server on loopback (started by tests/support; see docs/AWS.md).
//!
//! Runs the KMS conformance cases (tests/support/kms_cases.rs; moto's known deviations are
//! asserted as such and the exact AWS behaviour is covered on LocalKms in
//! tests/kms_conformance.rs), and creates keys and aliases through the SDK.
//!
//! Without moto these tests print why they skip; with `FRAGSEAL_REQUIRE_INTEROP=1` they fail.
#![cfg(feature = "aws")]

mod support;

use fragseal::kms::aws::{map_sdk_error, AwsKms};
use fragseal::kms::{Credential, Kms, KmsError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
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
    assert_eq!(e.kind(), fragseal::kms::KmsErrorKind::AccessDenied, "{e}");
    assert!(e.message().contains("HTTP 403"), "{e}");
    assert!(e.message().contains("InvalidClientTokenId"), "{e}");
    assert!(!e.is_retryable());
}

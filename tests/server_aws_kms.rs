//! fragseal's own `AwsKms` (the official aws-sdk-kms underneath) against `fragseal kms serve`
//! (issue 12, item 6): the KMS and engine conformance cases that run on LocalKms
//! (tests/kms_conformance.rs) and on moto (tests/aws_kms/against_moto.rs) run here over the
//! wire, with AWS's exact behaviours expected (the server is LocalKms: key states and ciphertext
//! errors are emulated), plus the authentication and authorization refusals with AWS's error codes.
//!
//! Every test starts its own server (tests/support/server.rs) and kills it by PID at the end;
//! no Python is needed.
#![cfg(feature = "aws")]

#[path = "support/server.rs"]
mod server;
#[path = "support/signed_client.rs"]
mod signed_client;
mod support;

use fragseal::kms::aws::{map_sdk_error, AwsKms};
use fragseal::kms::{Credential, DataKeySpec, Kms, KmsError, KmsErrorKind};
use fragseal::EncryptionContext;
use server::{KmsServer, User, REGION};
use std::sync::Arc;
use std::time::Duration;
use support::kms_cases::{self, Backend};
use support::{engine_cases, kms_cases::unique_alias};

fn credential(u: &User) -> Credential {
    Credential::new(u.account.clone(), u.arn(), u.access_key_id.clone()).expect("credential")
}

/// An AwsKms pointed at `server`, signing for each of `users` with its own keys (and, for
/// `(name, secret)` in `forged`, with that secret instead).
fn aws_kms(server: &KmsServer, users: &[&str], forged: &[(&str, &str)]) -> AwsKms {
    let mut b = AwsKms::builder()
        .region(REGION)
        .endpoint_url(server.endpoint())
        .operation_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(15));
    for name in users {
        let u = server.fixture.user(name);
        let secret = forged
            .iter()
            .find(|(n, _)| n == name)
            .map_or(u.secret.as_str(), |(_, s)| s);
        b = b.caller_static_credentials(credential(u), &u.access_key_id, secret, None);
    }
    b.build().expect("AwsKms")
}

/// The conformance backend: admin calls everything through AwsKms.
struct Served {
    server: KmsServer,
    kms: Arc<AwsKms>,
    caller: Credential,
}

impl Served {
    fn start() -> Self {
        let server = KmsServer::start(&[]).expect("the server starts");
        let kms = Arc::new(aws_kms(&server, &["admin"], &[]));
        let caller = credential(server.fixture.user("admin"));
        Served {
            server,
            kms,
            caller,
        }
    }

    fn admin<T: Send + 'static>(
        &self,
        f: impl FnOnce(
            aws_sdk_kms::Client,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, KmsError>> + Send>,
        >,
    ) -> T {
        self.kms
            .with_sdk_client(&self.caller, f)
            .unwrap_or_else(|e| panic!("admin call: {e}\nserver stderr:\n{}", self.server.logs()))
    }
}

impl Backend for Served {
    fn name(&self) -> &'static str {
        "AwsKms+fragseal-kms-serve"
    }
    fn kms(&self) -> Arc<dyn Kms> {
        self.kms.clone()
    }
    fn caller(&self) -> Credential {
        self.caller.clone()
    }
    fn create_key(&self) -> String {
        self.admin(|c| {
            Box::pin(async move {
                let out = c
                    .create_key()
                    .description("fragseal server_aws_kms")
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
        let key = key_arn.to_owned();
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
        let key = key_arn.to_owned();
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
        let key = key_arn.to_owned();
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
        true
    }
    fn emulates_ciphertext_errors(&self) -> bool {
        true
    }
}

macro_rules! served_case {
    ($name:ident) => {
        #[test]
        fn $name() {
            kms_cases::$name(&Served::start());
        }
    };
}

served_case!(generate_and_decrypt);
served_case!(describe);
served_case!(wrong_context_rejected);
served_case!(unknown_key);
served_case!(garbage_ciphertext);
served_case!(wrong_expected_key);
served_case!(disabled_key);
served_case!(pending_deletion);
served_case!(many_threads);
served_case!(encrypt_and_decrypt);

macro_rules! served_engine_case {
    ($test:ident, $case:ident) => {
        #[test]
        fn $test() {
            engine_cases::$case(&Served::start());
        }
    };
}

served_engine_case!(engine_seal_and_open, seal_and_open);
served_engine_case!(engine_context_swap_rejected, context_swap_rejected);
served_engine_case!(engine_unknown_key, unknown_key);
served_engine_case!(engine_garbage_edk, garbage_edk);
served_engine_case!(engine_disabled_key, disabled_key);
served_engine_case!(engine_pending_deletion, pending_deletion);
served_engine_case!(engine_batches_on_many_threads, batches_on_many_threads);

#[track_caller]
fn expect_code<T: core::fmt::Debug>(r: Result<T, KmsError>, kind: KmsErrorKind, code: &str) {
    match r {
        Ok(v) => panic!("expected {code}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{e}");
            assert_eq!(e.code(), code, "{e}");
        }
    }
}

#[test]
fn refusals_reach_aws_kms_with_aws_codes() {
    let served = Served::start();
    let arn = served.create_key();
    let alias = unique_alias("served");
    served.create_alias(&alias, &arn);
    let server = &served.server;
    let f = &server.fixture;
    let unknown = User {
        name: "ghost".into(),
        account: server::ACCOUNT.into(),
        access_key_id: "AKIAFRAGSEALUNKNOWN1".into(),
        secret: "ghost-secret-0000000000000000000000000000".into(),
    };
    let alice = credential(f.user("alice"));
    let mallory = credential(f.user("mallory"));
    let ghost = credential(&unknown);
    let kms = {
        let u = &unknown;
        AwsKms::builder()
            .region(REGION)
            .endpoint_url(server.endpoint())
            .caller_static_credentials(
                alice.clone(),
                &f.user("alice").access_key_id,
                "wrong-secret-000000000000000000000000000",
                None,
            )
            .caller_static_credentials(
                mallory.clone(),
                &f.user("mallory").access_key_id,
                &f.user("mallory").secret,
                None,
            )
            .caller_static_credentials(ghost.clone(), &u.access_key_id, &u.secret, None)
            .operation_timeout(Duration::from_secs(20))
            .build()
            .expect("AwsKms")
    };
    let ec = EncryptionContext::new().with("k", "v");
    expect_code(
        kms.generate_data_key(&mallory, &alias, DataKeySpec::Aes256, &ec),
        KmsErrorKind::AccessDenied,
        "AccessDeniedException",
    );
    expect_code(
        kms.generate_data_key(&ghost, &arn, DataKeySpec::Aes256, &ec),
        KmsErrorKind::AccessDenied,
        "UnrecognizedClientException",
    );
    expect_code(
        kms.generate_data_key(&alice, &arn, DataKeySpec::Aes256, &ec),
        KmsErrorKind::AccessDenied,
        "InvalidSignatureException",
    );
    // alice with her own secret: allowed by her identity policy.
    let alice_kms = aws_kms(server, &["alice"], &[]);
    let dk = alice_kms
        .generate_data_key(&alice, &alias, DataKeySpec::Aes256, &ec)
        .expect("alice may GenerateDataKey");
    let plain = alice_kms
        .decrypt(&alice, &dk.ciphertext_blob, &ec, Some(&arn))
        .expect("alice may Decrypt");
    assert!(
        plain.plaintext == dk.plaintext,
        "Decrypt returns the generated data key"
    );
}

//! The KMS conformance cases (tests/support/kms_cases.rs) on LocalKms, including the behaviours
//! moto does not emulate (disabled keys, pending deletion, wrong expected key, garbage
//! ciphertext). The same cases run on AwsKms against moto in tests/aws_kms/against_moto.rs.

mod support;

use fragseal::kms::local::LocalKms;
use fragseal::kms::{Credential, Kms};
use std::sync::Arc;
use support::engine_cases;
use support::kms_cases::{self, Backend};

const ACCOUNT: &str = "111122223333";

struct Local {
    kms: Arc<LocalKms>,
}

impl Local {
    fn new() -> Self {
        Local {
            kms: Arc::new(LocalKms::new("us-east-1", ACCOUNT)),
        }
    }
}

impl Backend for Local {
    fn name(&self) -> &'static str {
        "LocalKms"
    }
    fn kms(&self) -> Arc<dyn Kms> {
        self.kms.clone()
    }
    fn caller(&self) -> Credential {
        Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIDROOT")
            .expect("a valid credential")
    }
    fn create_key(&self) -> String {
        self.kms
            .create_key(&self.caller(), None, "conformance")
            .expect("CreateKey")
            .arn
    }
    fn create_alias(&self, alias: &str, key_arn: &str) {
        self.kms
            .create_alias(&self.caller(), alias, key_arn)
            .expect("CreateAlias");
    }
    fn disable_key(&self, key_arn: &str) {
        self.kms
            .disable_key(&self.caller(), key_arn)
            .expect("DisableKey");
    }
    fn enable_key(&self, key_arn: &str) {
        self.kms
            .enable_key(&self.caller(), key_arn)
            .expect("EnableKey");
    }
    fn schedule_deletion(&self, key_arn: &str) {
        self.kms
            .schedule_key_deletion(&self.caller(), key_arn, 7)
            .expect("ScheduleKeyDeletion");
    }
    fn emulates_key_states(&self) -> bool {
        true
    }
    fn emulates_ciphertext_errors(&self) -> bool {
        true
    }
}

#[test]
fn generate_and_decrypt() {
    kms_cases::generate_and_decrypt(&Local::new());
}

#[test]
fn describe() {
    kms_cases::describe(&Local::new());
}

#[test]
fn wrong_context_rejected() {
    kms_cases::wrong_context_rejected(&Local::new());
}

#[test]
fn unknown_key() {
    kms_cases::unknown_key(&Local::new());
}

#[test]
fn garbage_ciphertext() {
    kms_cases::garbage_ciphertext(&Local::new());
}

#[test]
fn wrong_expected_key() {
    kms_cases::wrong_expected_key(&Local::new());
}

#[test]
fn disabled_key() {
    kms_cases::disabled_key(&Local::new());
}

#[test]
fn pending_deletion() {
    kms_cases::pending_deletion(&Local::new());
}

#[test]
fn many_threads() {
    kms_cases::many_threads(&Local::new());
}

#[test]
fn engine_seal_and_open() {
    engine_cases::seal_and_open(&Local::new());
}

#[test]
fn engine_context_swap_rejected() {
    engine_cases::context_swap_rejected(&Local::new());
}

#[test]
fn engine_unknown_key() {
    engine_cases::unknown_key(&Local::new());
}

#[test]
fn engine_garbage_edk() {
    engine_cases::garbage_edk(&Local::new());
}

#[test]
fn engine_disabled_key() {
    engine_cases::disabled_key(&Local::new());
}

#[test]
fn engine_pending_deletion() {
    engine_cases::pending_deletion(&Local::new());
}

#[test]
fn engine_batches_on_many_threads() {
    engine_cases::batches_on_many_threads(&Local::new());
}

#[test]
fn encrypt_and_decrypt() {
    kms_cases::encrypt_and_decrypt(&Local::new());
}

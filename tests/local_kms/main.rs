//! LocalKms behaviour: keys, aliases, states, ciphertext blob, authorization, audit, quota,
//! faults and persistence.
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::kms::local::{
    audit::Operation, FaultConfig, LocalKms, ManualClock, Outage, QuotaConfig, SetupError,
    KINESIS_VIDEO_ALIAS,
};
use fragseal::kms::{
    Credential, CredentialError, DataKeySpec, KeyState, Kms, KmsErrorKind, MAX_ENCRYPT_PLAINTEXT,
};
use fragseal::EncryptionContext;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

mod audit;
mod authorization;
mod key_operations;
mod quotas_and_faults;
mod state_and_builder;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";
const OTHER: &str = "444455556666";

fn root() -> Credential {
    Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap()
}

fn role(name: &str) -> Credential {
    Credential::new(
        ACCOUNT,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/{name}/session-1"),
        format!("ASIA{}", name.to_uppercase()),
    )
    .unwrap()
}

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn ec() -> EncryptionContext {
    EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1",
    )
}

fn allow(action: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
    )
}

fn clock_at(secs: u64) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
    ))
}

/// A KMS with one customer key (default policy) and producer/consumer roles.
fn setup() -> (Arc<LocalKms>, String) {
    let kms = Arc::new(LocalKms::new(REGION, ACCOUNT));
    let key = kms.create_key(&root(), None, "test key").unwrap();
    kms.attach_identity_policy(&role_arn("producer"), &allow("kms:GenerateDataKey"))
        .unwrap();
    kms.attach_identity_policy(&role_arn("consumer"), &allow("kms:Decrypt"))
        .unwrap();
    (kms, key.arn)
}

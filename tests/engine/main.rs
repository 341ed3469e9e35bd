//! The engine against LocalKms: round trips, the `aws-kms` encrypted data key, caching counted
//! by LocalKms's audit trail, single flight, isolation between credentials, retries, outages,
//! batches that hand failures back, streaming and range opens, counters, and a property test
//! of mixed-credential batches.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use bytes::Bytes;
use fragseal::cache::{CacheLimits, ManualClock as CacheClock};
use fragseal::engine::{Engine, EngineConfig, OpenOptions, OpenRequest, RetryPolicy, SealRequest};
use fragseal::error::{KeyringError, OpenError, SealError};
use fragseal::format::OpenLimits;
use fragseal::identity::FragmentIdentity;
use fragseal::identity::IdentityCheck;
use fragseal::keyring::{DiscoveryFilter, Keyring, KmsKeyring, AWS_KMS_PROVIDER_ID};
use fragseal::kms::local::{
    audit::Operation, FaultConfig, LocalKms, ManualClock as KmsClock, Outage,
};
use fragseal::kms::{Credential, Kms, KmsErrorKind};
use fragseal::message;
use fragseal::EncryptionContext;
use proptest::prelude::*;
use std::io::Read;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, SystemTime};

mod caching;
mod retries_and_failures;
mod seal_and_open;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";
const STREAM: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1";

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

fn allow(actions: &[&str]) -> String {
    let list = actions
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":[{list}],"Resource":"*"}}]}}"#
    )
}

fn ec() -> EncryptionContext {
    EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM)
}

/// LocalKms with one key; roles `producer` (GenerateDataKey + Decrypt), `consumer` (Decrypt),
/// `intruder` (nothing).
fn kms_with(clock: Option<Arc<KmsClock>>) -> (Arc<LocalKms>, String) {
    let mut b = LocalKms::builder(REGION, ACCOUNT);
    if let Some(c) = clock {
        b = b.clock(c);
    }
    let kms = Arc::new(b.build().unwrap());
    let key = kms.create_key(&root(), None, "fragments").unwrap().arn;
    let role_arn = |n: &str| format!("arn:aws:iam::{ACCOUNT}:role/{n}");
    kms.attach_identity_policy(
        &role_arn("producer"),
        &allow(&["kms:GenerateDataKey", "kms:Decrypt"]),
    )
    .unwrap();
    kms.attach_identity_policy(&role_arn("consumer"), &allow(&["kms:Decrypt"]))
        .unwrap();
    (kms, key)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(8)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(4))
        .with_max_total(Duration::from_secs(5))
}

/// A strict keyring of `key`.
fn strict(kms: &Arc<LocalKms>, key: &str) -> Arc<dyn Keyring> {
    Arc::new(KmsKeyring::strict(kms.clone(), &root(), &[key]).unwrap())
}

fn engine(kms: &Arc<LocalKms>, key: &str, config: EngineConfig) -> Engine {
    Engine::new(strict(kms, key), config.with_retry(fast_retry())).unwrap()
}

fn skip(m: &[u8]) -> OpenRequest {
    OpenRequest::new(m.to_vec(), IdentityCheck::Skip)
}

/// Opens `m` and returns only the plaintext.
fn open(e: &Engine, c: &Credential, m: &[u8], identity: IdentityCheck) -> Result<Bytes, OpenError> {
    e.open(c, &OpenRequest::new(m.to_vec(), identity))
        .map(|o| o.plaintext)
}

/// The KMS error kind of a seal that failed on KMS.
fn seal_kms_kind<T: std::fmt::Debug>(r: Result<T, SealError>) -> KmsErrorKind {
    match r {
        Err(SealError::Keyring(KeyringError::Kms(e))) => e.kind(),
        other => panic!("expected a KMS error, got {other:?}"),
    }
}

fn fragment(i: usize, len: usize) -> Bytes {
    (0..len)
        .map(|j| (i * 31 + j * 7) as u8)
        .collect::<Vec<_>>()
        .into()
}

fn identity(n: u64) -> FragmentIdentity {
    FragmentIdentity {
        stream_arn: STREAM.into(),
        fragment_number: n,
        producer_timestamp_ms: 1_700_000_000_000 + n * 200,
        track: 1,
    }
}

//! KMS faults end to end: the engine over LocalKms with its fault injection (request-rate
//! quota, added latency, scripted outages) and its key management (disabling a key, replacing a
//! key policy) changed in the middle of a stream of fragments.
//!
//! For each fault the tests establish: which fragments were sealed (and that each opens to its
//! input), which were handed back (the request unchanged, with the KMS error), that the two
//! together are exactly the input (nothing lost), that the counters agree with LocalKms's audit
//! trail, and — for a disabled key or a policy that now denies the producer — that nothing is
//! sealed beyond the cached data key's remaining limits. The semantics are written down in
//! THREATS.md, "KMS faults and revocation".

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use bytes::Bytes;
use fragseal::cache::{CacheLimits, ManualClock as CacheClock};
use fragseal::engine::{Engine, EngineConfig, OpenRequest, RetryPolicy, SealFailure, SealRequest};
use fragseal::error::SealError;
use fragseal::format::OpenLimits;
use fragseal::identity::IdentityCheck;
use fragseal::keyring::{Keyring, KmsKeyring};
use fragseal::kms::local::{
    audit::Operation, FaultConfig, LocalKms, ManualClock as KmsClock, Outage, QuotaConfig,
};
use fragseal::kms::{
    Credential, DataKeySpec, DecryptedDataKey, GeneratedDataKey, KeyDescription, Kms, KmsError,
    KmsErrorKind,
};
use fragseal::message;
use fragseal::EncryptionContext;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

mod revocation;
mod throttling_and_outages;

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

fn ec() -> EncryptionContext {
    EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM)
}

/// LocalKms with one key; `producer` may GenerateDataKey and Decrypt, `consumer` Decrypt.
fn setup(clock: Option<Arc<KmsClock>>) -> (Arc<LocalKms>, String) {
    let mut b = LocalKms::builder(REGION, ACCOUNT);
    if let Some(c) = clock {
        b = b.clock(c);
    }
    let kms = Arc::new(b.build().unwrap());
    let key = kms.create_key(&root(), None, "fragments").unwrap().arn;
    let allow = |actions: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":[{actions}],"Resource":"*"}}]}}"#
        )
    };
    kms.attach_identity_policy(
        &format!("arn:aws:iam::{ACCOUNT}:role/producer"),
        &allow(r#""kms:GenerateDataKey","kms:Decrypt""#),
    )
    .unwrap();
    kms.attach_identity_policy(
        &format!("arn:aws:iam::{ACCOUNT}:role/consumer"),
        &allow(r#""kms:Decrypt""#),
    )
    .unwrap();
    (kms, key)
}

fn fragment(i: usize) -> Bytes {
    (0..40 + i % 50)
        .map(|j| (i * 31 + j * 7) as u8)
        .collect::<Vec<_>>()
        .into()
}

/// `n` requests (the key is the engine keyring's, `_key` names it for the reader).
fn requests(_key: &str, n: usize, ec: impl Fn(usize) -> EncryptionContext) -> Vec<SealRequest> {
    (0..n)
        .map(|i| SealRequest::new(ec(i), fragment(i)))
        .collect()
}

/// A strict keyring of `key` over `kms`.
fn keyring(kms: Arc<dyn Kms>, key: &str) -> Arc<dyn Keyring> {
    Arc::new(KmsKeyring::strict(kms, &root(), &[key]).unwrap())
}

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(attempts)
        .with_backoff(Duration::from_millis(2), Duration::from_millis(20))
        .with_max_total(Duration::from_secs(30))
}

/// The KMS error behind a seal or open error (found along its source chain).
fn kms_error(e: &(dyn std::error::Error + 'static)) -> KmsErrorKind {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(k) = err.downcast_ref::<KmsError>() {
            return k.kind();
        }
        cur = err.source();
    }
    panic!("expected a KMS error, got {e:?}")
}

/// Sealed messages with the index of their input.
type Sealed = Vec<(usize, Bytes)>;
/// Failures handed back, with the index of their input.
type Failed = Vec<(usize, Box<SealFailure>)>;

/// Splits batch results into sealed messages (with their index) and failures, checking that
/// each failure hands back exactly the request at its position and that together they account
/// for every input.
fn account_for(
    input: &[SealRequest],
    producer: &Credential,
    results: Vec<Result<Bytes, Box<SealFailure>>>,
) -> (Sealed, Failed) {
    assert_eq!(results.len(), input.len(), "one result per fragment");
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(m) => ok.push((i, m)),
            Err(f) => {
                assert_eq!(f.request, input[i], "fragment {i} handed back changed");
                assert_eq!(&f.credential, producer);
                failed.push((i, f));
            }
        }
    }
    assert_eq!(ok.len() + failed.len(), input.len(), "nothing lost");
    (ok, failed)
}

/// Every sealed message opens (for `who`) to the input at its index.
fn assert_open_to_input(
    engine: &Engine,
    who: &Credential,
    input: &[SealRequest],
    ok: &[(usize, Bytes)],
) {
    for (i, m) in ok {
        assert_eq!(
            engine
                .open(who, &OpenRequest::new(m.clone(), IdentityCheck::Skip))
                .unwrap()
                .plaintext,
            input[*i].plaintext,
            "fragment {i}"
        );
    }
}

/// The engine's KMS call counter agrees with LocalKms's audit trail, failures included.
fn assert_counters_match_audit(engine: &Engine, kms: &LocalKms, who: &Credential) {
    let st = engine.stats(who).unwrap();
    let events: Vec<_> = kms
        .audit()
        .events()
        .into_iter()
        .filter(|e| {
            &e.caller == who
                && matches!(e.operation, Operation::GenerateDataKey | Operation::Decrypt)
        })
        .collect();
    assert_eq!(st.kms_calls, events.len() as u64, "{st:?}");
    assert_eq!(
        st.kms_failures,
        events.iter().filter(|e| e.is_error()).count() as u64,
        "{st:?}"
    );
}

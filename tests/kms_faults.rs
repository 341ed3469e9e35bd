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

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
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

// ---------------------------------------------------------------------------------------------
// Throttling
// ---------------------------------------------------------------------------------------------

#[test]
fn throttling_bursts_are_absorbed_by_retries() {
    let (kms, key) = setup(None);
    // A real token bucket: 2 calls at once, then 50 per second.
    kms.set_quota(Some(QuotaConfig {
        requests_per_second: 50.0,
        burst: 2,
    }))
    .unwrap();
    // No cache: every fragment needs its own GenerateDataKey, 40 of them in a parallel burst.
    let engine = Engine::new(
        keyring(kms.clone(), &key),
        EngineConfig::default()
            .with_frame_length(32)
            .with_cache(CacheLimits::disabled())
            .with_retry(fast_retry(60)),
    )
    .unwrap();
    let p = role("producer");
    let input = requests(&key, 40, |_| ec());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let results = pool.install(|| engine.seal_batch(&p, input.clone()));
    let (ok, failed) = account_for(&input, &p, results);
    assert!(failed.is_empty(), "retries absorb throttling");
    let st = engine.stats(&p).unwrap();
    assert_eq!(
        st.kms_calls - st.kms_failures,
        40,
        "one successful call per fragment"
    );
    assert!(st.kms_failures > 0, "the burst was throttled: {st:?}");
    assert!(kms.audit().events().iter().any(|e| e
        .error
        .as_ref()
        .is_some_and(|(code, _)| code == "ThrottlingException")));
    assert_counters_match_audit(&engine, &kms, &p);
    kms.set_quota(None).unwrap();
    assert_open_to_input(&engine, &role("consumer"), &input, &ok);
}

#[test]
fn throttling_without_retries_hands_fragments_back_intact() {
    let (kms, key) = setup(None);
    kms.set_quota(Some(QuotaConfig {
        requests_per_second: 0.001,
        burst: 5,
    }))
    .unwrap();
    let engine = Engine::new(
        keyring(kms.clone(), &key),
        EngineConfig::default()
            .with_frame_length(32)
            .with_cache(CacheLimits::disabled())
            .with_retry(RetryPolicy::none()),
    )
    .unwrap();
    let p = role("producer");
    let input = requests(&key, 20, |_| ec());
    let results = engine.seal_batch(&p, input.clone());
    let (ok, failed) = account_for(&input, &p, results);
    // The bucket held 5 tokens and refills one per 1000 s: exactly 5 fragments got a key.
    assert_eq!(ok.len(), 5);
    for (_, f) in &failed {
        assert_eq!(kms_error(&f.error), KmsErrorKind::Throttling);
    }
    assert_counters_match_audit(&engine, &kms, &p);
    // Once the quota is lifted, the handed-back fragments seal as they are: nothing is lost.
    kms.set_quota(None).unwrap();
    let retried: Vec<SealRequest> = failed.iter().map(|(_, f)| f.request.clone()).collect();
    let again = engine.seal_batch(&p, retried.clone());
    let (ok2, failed2) = account_for(&retried, &p, again);
    assert!(failed2.is_empty());
    assert_open_to_input(&engine, &p, &input, &ok);
    assert_open_to_input(&engine, &p, &retried, &ok2);
}

// ---------------------------------------------------------------------------------------------
// Latency
// ---------------------------------------------------------------------------------------------

#[test]
fn added_latency_slows_but_fails_nothing_and_misses_share_one_call() {
    let (kms, key) = setup(None);
    kms.set_faults(FaultConfig {
        latency: Duration::from_millis(30),
        ..FaultConfig::default()
    })
    .unwrap();
    let engine = Engine::new(
        keyring(kms.clone(), &key),
        EngineConfig::default().with_frame_length(32),
    )
    .unwrap();
    let p = role("producer");
    let c = role("consumer");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(8)
        .build()
        .unwrap();
    // 32 fragments of one stream arrive together while the first GenerateDataKey is slow: the
    // misses wait for that one call instead of each making their own.
    let input = requests(&key, 32, |_| ec());
    let results = pool.install(|| engine.seal_batch(&p, input.clone()));
    let (ok, failed) = account_for(&input, &p, results);
    assert!(failed.is_empty());
    assert_eq!(kms.audit().count(&p, Operation::GenerateDataKey), 1);
    // The same for the consumer's Decrypt of their one encrypted data key.
    let opens: Vec<OpenRequest> = ok
        .iter()
        .map(|(_, m)| OpenRequest::new(m.clone(), IdentityCheck::Skip))
        .collect();
    let opened = pool.install(|| engine.open_batch(&c, opens));
    for ((i, _), r) in ok.iter().zip(opened) {
        assert_eq!(r.unwrap().plaintext, input[*i].plaintext);
    }
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 1);
    // Distinct contexts need distinct keys: one slow call each, none failing.
    let input = requests(&key, 6, |i| ec().with("track", i.to_string()));
    let results = pool.install(|| engine.seal_batch(&p, input.clone()));
    let (ok, failed) = account_for(&input, &p, results);
    assert!(failed.is_empty());
    assert_eq!(kms.audit().count(&p, Operation::GenerateDataKey), 7);
    assert_counters_match_audit(&engine, &kms, &p);
    assert_counters_match_audit(&engine, &kms, &c);
    assert_open_to_input(&engine, &c, &input, &ok);
}

// ---------------------------------------------------------------------------------------------
// A total outage in the middle of a batch
// ---------------------------------------------------------------------------------------------

/// Passes calls to LocalKms one at a time and, after `healthy` calls, scripts a total outage
/// (LocalKms fault injection: every call fails with `Transport`) starting at that moment.
struct OutageAfter {
    kms: Arc<LocalKms>,
    clock: Arc<KmsClock>,
    healthy: u64,
    calls: Mutex<u64>,
}

impl OutageAfter {
    /// Runs `f` under the lock (so "the n-th call" is well defined), starting the outage first
    /// if this is the call after the healthy ones.
    fn call<T>(&self, f: impl FnOnce() -> Result<T, KmsError>) -> Result<T, KmsError> {
        let mut n = self.calls.lock().unwrap();
        *n += 1;
        if *n == self.healthy + 1 {
            let now = fragseal::kms::local::Clock::now(&*self.clock);
            self.kms
                .set_faults(FaultConfig {
                    outages: vec![Outage {
                        start: now,
                        end: now + Duration::from_secs(3600),
                        kind: KmsErrorKind::Transport,
                    }],
                    ..FaultConfig::default()
                })
                .unwrap();
        }
        f()
    }
}

impl Kms for OutageAfter {
    fn generate_data_key(
        &self,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        ec: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError> {
        self.call(|| self.kms.generate_data_key(caller, key_id, spec, ec))
    }
    fn decrypt(
        &self,
        caller: &Credential,
        blob: &[u8],
        ec: &EncryptionContext,
        expected: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError> {
        self.call(|| self.kms.decrypt(caller, blob, ec, expected))
    }
    fn describe_key(&self, caller: &Credential, key_id: &str) -> Result<KeyDescription, KmsError> {
        self.call(|| self.kms.describe_key(caller, key_id))
    }
}

#[test]
fn total_outage_in_the_middle_of_a_batch() {
    let clock = Arc::new(KmsClock::new(t0()));
    let (kms, key) = setup(Some(clock.clone()));
    let p = role("producer");
    // KMS answers 14 calls: 4 to warm the cache for 4 "warm" streams, then 10 in the batch.
    let wrapper = Arc::new(OutageAfter {
        kms: kms.clone(),
        clock: clock.clone(),
        healthy: 4 + 10,
        calls: Mutex::new(0),
    });
    let engine = Engine::new(
        keyring(wrapper.clone(), &key),
        EngineConfig::default()
            .with_frame_length(32)
            .with_retry(fast_retry(3)),
    )
    .unwrap();
    let warm_ec = |s: usize| ec().with("warm", s.to_string());
    let cold_ec = |i: usize| ec().with("cold", i.to_string());
    for s in 0..4 {
        engine
            .seal(&p, &SealRequest::new(warm_ec(s), fragment(1000 + s)))
            .unwrap();
    }
    // The batch: even fragments on the 4 warm streams (cached keys), odd ones each on a new
    // stream (a KMS call each). KMS serves 10 more calls, then goes down for good.
    let input = requests(&key, 60, |i| {
        if i % 2 == 0 {
            warm_ec(i / 2 % 4)
        } else {
            cold_ec(i)
        }
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let results = pool.install(|| engine.seal_batch(&p, input.clone()));
    let (ok, failed) = account_for(&input, &p, results);
    // Every warm fragment sealed with its cached key, outage or not.
    for i in (0..60).step_by(2) {
        assert!(
            ok.iter().any(|(j, _)| *j == i),
            "warm fragment {i} not sealed"
        );
    }
    // Exactly 10 cold fragments got a key before the outage; the other 20 were handed back
    // after their 3 attempts, with the transport error.
    assert_eq!(ok.len(), 30 + 10);
    assert_eq!(failed.len(), 20);
    for (i, f) in &failed {
        assert_eq!(i % 2, 1, "only cold fragments fail");
        assert_eq!(kms_error(&f.error), KmsErrorKind::Transport);
    }
    assert_eq!(
        kms.audit().count(&p, Operation::GenerateDataKey),
        4 + 10 + 20 * 3,
        "healthy calls, then three attempts per failed fragment"
    );
    assert_counters_match_audit(&engine, &kms, &p);
    // Opening needs its own data key entry (sealing entries are not used to open): during the
    // outage a fresh fragment cannot be opened, and that failure is retried and reported too.
    let e = engine
        .open(&p, &OpenRequest::new(ok[0].1.clone(), IdentityCheck::Skip))
        .unwrap_err();
    assert_eq!(kms_error(&e), KmsErrorKind::Transport);
    assert_eq!(kms.audit().count(&p, Operation::Decrypt), 3);
    assert_counters_match_audit(&engine, &kms, &p);
    // After the outage, everything sealed opens, and the handed-back fragments seal as they
    // are: nothing lost.
    clock.advance(Duration::from_secs(3601));
    assert_open_to_input(&engine, &p, &input, &ok);
    let retried: Vec<SealRequest> = failed.iter().map(|(_, f)| f.request.clone()).collect();
    let again = pool.install(|| engine.seal_batch(&p, retried.clone()));
    let (ok2, failed2) = account_for(&retried, &p, again);
    assert!(failed2.is_empty());
    assert_open_to_input(&engine, &role("consumer"), &retried, &ok2);
}

// ---------------------------------------------------------------------------------------------
// Revocation mid-stream: a disabled key, a policy that now denies the producer
// ---------------------------------------------------------------------------------------------

const MAX_FRAGMENTS: u64 = 5;

/// A producer engine whose cache serves each data key for at most 5 fragments and 60 s, with
/// refresh-ahead off (so the cached key's remaining budget is exact) and the cache on a manual
/// clock.
fn producer_engine(
    kms: &Arc<LocalKms>,
    key: &str,
    refresh_ahead: f64,
) -> (Engine, Arc<CacheClock>) {
    let clock = Arc::new(CacheClock::new());
    let engine = Engine::with_clock(
        keyring(kms.clone(), key),
        EngineConfig::default()
            .with_frame_length(32)
            .with_retry(fast_retry(4))
            .with_cache(
                CacheLimits::default()
                    .with_max_fragments(MAX_FRAGMENTS)
                    .with_max_age(Duration::from_secs(60))
                    .with_refresh_ahead(refresh_ahead),
            ),
        clock.clone(),
    )
    .unwrap();
    (engine, clock)
}

/// The encrypted data key's ciphertext (the KMS blob) of a sealed message.
fn edk_blob(m: &[u8]) -> Vec<u8> {
    let h = message::parse(m, &OpenLimits::default()).unwrap();
    h.header().encrypted_data_keys()[0].ciphertext.clone()
}

/// Index in the audit trail of the first event of `op`.
fn audit_index(kms: &LocalKms, op: Operation) -> usize {
    kms.audit()
        .events()
        .iter()
        .position(|e| e.operation == op)
        .unwrap()
}

/// After audit event `from`, no GenerateDataKey by `who` succeeded.
fn assert_no_key_generated_after(kms: &LocalKms, who: &Credential, from: usize) {
    for e in kms.audit().events().iter().skip(from) {
        if &e.caller == who && e.operation == Operation::GenerateDataKey {
            assert!(
                e.is_error(),
                "a data key was generated after revocation: {e:?}"
            );
        }
    }
}

/// Seals fragments `range` one by one (a stream), returning the sealed ones in order and the
/// first failure.
fn seal_stream(
    engine: &Engine,
    p: &Credential,
    _key: &str,
    range: std::ops::Range<usize>,
) -> (Sealed, Option<(usize, SealError)>) {
    let mut ok = Vec::new();
    for i in range {
        match engine.seal(p, &SealRequest::new(ec(), fragment(i))) {
            Ok(m) => ok.push((i, m)),
            Err(e) => return (ok, Some((i, e))),
        }
    }
    (ok, None)
}

#[test]
fn key_disabled_mid_stream_seals_only_within_the_cached_keys_limits() {
    let (kms, key) = setup(None);
    let p = role("producer");
    let (engine, _clock) = producer_engine(&kms, &key, 1.0);
    // 8 fragments: data key 1 serves 0..5, data key 2 serves 5..8 (2 uses left).
    let (before, err) = seal_stream(&engine, &p, &key, 0..8);
    assert!(err.is_none());
    let last_blob = edk_blob(&before[7].1);
    kms.disable_key(&root(), &key).unwrap();
    let disabled_at = audit_index(&kms, Operation::DisableKey);
    // The stream goes on: exactly the 2 fragments data key 2 still had, then Disabled.
    let (after, err) = seal_stream(&engine, &p, &key, 8..100);
    assert_eq!(
        after.len(),
        2,
        "sealed beyond the cached key's fragment limit"
    );
    for (_, m) in &after {
        assert_eq!(
            edk_blob(m),
            last_blob,
            "sealed with a key obtained after disabling"
        );
    }
    let (failed_at, e) = err.unwrap();
    assert_eq!(failed_at, 10);
    assert_eq!(kms_error(&e), KmsErrorKind::Disabled);
    // Disabled is final: one call, not retried.
    let gen_after: Vec<_> = kms.audit().events()[disabled_at..]
        .iter()
        .filter(|e| e.operation == Operation::GenerateDataKey)
        .cloned()
        .collect();
    assert_eq!(gen_after.len(), 1);
    assert_no_key_generated_after(&kms, &p, disabled_at);

    // A batch now: every fragment is handed back intact, none sealed.
    let input = requests(&key, 8, |_| ec());
    let (ok, failed) = account_for(&input, &p, engine.seal_batch(&p, input.clone()));
    assert!(ok.is_empty());
    for (_, f) in &failed {
        assert_eq!(kms_error(&f.error), KmsErrorKind::Disabled);
    }
    assert_counters_match_audit(&engine, &kms, &p);

    // Opening: a consumer with nothing cached cannot decrypt while the key is disabled; the
    // producer's engine has no opening entry either (sealing and opening entries are separate).
    let c = role("consumer");
    let consumer = Engine::new(keyring(kms.clone(), &key), EngineConfig::default()).unwrap();
    for (_, m) in before.iter().chain(&after) {
        let e = consumer
            .open(&c, &OpenRequest::new(m.clone(), IdentityCheck::Skip))
            .unwrap_err();
        assert_eq!(kms_error(&e), KmsErrorKind::Disabled);
    }
    // Re-enabled: everything sealed opens, and the handed-back fragments seal as they are.
    kms.enable_key(&root(), &key).unwrap();
    let all: Vec<(usize, Bytes)> = before.into_iter().chain(after).collect();
    let stream_input = requests(&key, 10, |_| ec());
    assert_open_to_input(&consumer, &c, &stream_input, &all);
    let retried: Vec<SealRequest> = failed.iter().map(|(_, f)| f.request.clone()).collect();
    let (ok2, failed2) = account_for(&retried, &p, engine.seal_batch(&p, retried.clone()));
    assert!(failed2.is_empty());
    assert_open_to_input(&consumer, &c, &retried, &ok2);
}

#[test]
fn key_disabled_mid_stream_the_cached_key_also_stops_at_its_max_age() {
    let (kms, key) = setup(None);
    let p = role("producer");
    let (engine, clock) = producer_engine(&kms, &key, 1.0);
    let (before, _) = seal_stream(&engine, &p, &key, 0..1);
    kms.disable_key(&root(), &key).unwrap();
    let disabled_at = audit_index(&kms, Operation::DisableKey);
    // Within its age the cached key still seals (up to its fragment limit)...
    clock.advance(Duration::from_secs(59));
    let (ok, err) = seal_stream(&engine, &p, &key, 1..2);
    assert_eq!(ok.len(), 1);
    assert!(err.is_none());
    assert_eq!(edk_blob(&ok[0].1), edk_blob(&before[0].1));
    // ...and at its age nothing more, even though it has fragments left.
    clock.advance(Duration::from_secs(1));
    let (ok, err) = seal_stream(&engine, &p, &key, 2..3);
    assert!(ok.is_empty());
    assert_eq!(kms_error(&err.unwrap().1), KmsErrorKind::Disabled);
    assert_no_key_generated_after(&kms, &p, disabled_at);
}

#[test]
fn key_disabled_with_refresh_ahead_on_still_stops_at_the_limits() {
    // Refresh-ahead (default 0.95) tries to replace the key early; the refresh fails (Disabled)
    // and is not the caller's failure, so the current key keeps serving — only within its
    // limits.
    let (kms, key) = setup(None);
    let p = role("producer");
    let (engine, _clock) = producer_engine(&kms, &key, 0.5);
    let (before, _) = seal_stream(&engine, &p, &key, 0..2);
    kms.disable_key(&root(), &key).unwrap();
    let disabled_at = audit_index(&kms, Operation::DisableKey);
    let (after, err) = seal_stream(&engine, &p, &key, 2..100);
    // Key 1 (fragments 0, 1) is due for refresh at its 3rd use (half of 5, rounded up): that
    // use is served and the refresh fails (Disabled); the cache clock does not move, so no
    // refresh is tried again. Uses 4 and 5 are served; the 6th needs a new key: Disabled.
    assert_eq!(
        after.len(),
        3,
        "sealed beyond the cached key's fragment limit"
    );
    let first_blob = edk_blob(&before[0].1);
    for (_, m) in before.iter().chain(&after) {
        assert_eq!(edk_blob(m), first_blob, "one data key for the whole stream");
    }
    let (failed_at, e) = err.unwrap();
    assert_eq!(failed_at, 5);
    assert_eq!(kms_error(&e), KmsErrorKind::Disabled);
    // Two calls after the disable (the failed refresh, the failed fetch), both refused.
    let gen_after = kms.audit().events()[disabled_at..]
        .iter()
        .filter(|e| e.operation == Operation::GenerateDataKey)
        .count();
    assert_eq!(gen_after, 2);
    assert_no_key_generated_after(&kms, &p, disabled_at);
    assert_counters_match_audit(&engine, &kms, &p);
}

#[test]
fn policy_changed_mid_stream_to_deny_the_producer() {
    let (kms, key) = setup(None);
    let p = role("producer");
    let c = role("consumer");
    let (engine, _clock) = producer_engine(&kms, &key, 1.0);
    // 3 fragments: the cached data key has 2 uses left.
    let (before, err) = seal_stream(&engine, &p, &key, 0..3);
    assert!(err.is_none());
    let original_policy = kms.get_key_policy(&root(), &key).unwrap();
    // The key policy now also denies the producer role GenerateDataKey (explicit deny wins
    // over its identity policy); Decrypt stays allowed.
    let deny = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "Producer revoked",
                "Effect": "Deny",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/producer")},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*"
            }
        ]
    })
    .to_string();
    kms.put_key_policy(&root(), &key, &deny).unwrap();
    let changed_at = audit_index(&kms, Operation::PutKeyPolicy);
    let (after, err) = seal_stream(&engine, &p, &key, 3..100);
    assert_eq!(
        after.len(),
        2,
        "sealed beyond the cached key's fragment limit"
    );
    let last_blob = edk_blob(&before[2].1);
    for (_, m) in &after {
        assert_eq!(edk_blob(m), last_blob);
    }
    let (failed_at, e) = err.unwrap();
    assert_eq!(failed_at, 5);
    assert_eq!(kms_error(&e), KmsErrorKind::AccessDenied);
    assert_no_key_generated_after(&kms, &p, changed_at);
    // AccessDenied is final: not retried.
    let gen_after = kms.audit().events()[changed_at..]
        .iter()
        .filter(|e| e.operation == Operation::GenerateDataKey)
        .count();
    assert_eq!(gen_after, 1);
    // A batch: all handed back intact.
    let input = requests(&key, 6, |_| ec());
    let (ok, failed) = account_for(&input, &p, engine.seal_batch(&p, input.clone()));
    assert!(ok.is_empty());
    for (_, f) in &failed {
        assert_eq!(kms_error(&f.error), KmsErrorKind::AccessDenied);
    }
    assert_counters_match_audit(&engine, &kms, &p);
    // The consumer still opens everything that was sealed (Decrypt is not denied).
    let consumer = Engine::new(keyring(kms.clone(), &key), EngineConfig::default()).unwrap();
    let all: Vec<(usize, Bytes)> = before.into_iter().chain(after).collect();
    assert_open_to_input(&consumer, &c, &requests(&key, 5, |_| ec()), &all);
    // Policy restored: the handed-back fragments seal as they are.
    kms.put_key_policy(&root(), &key, &original_policy).unwrap();
    let retried: Vec<SealRequest> = failed.iter().map(|(_, f)| f.request.clone()).collect();
    let (ok2, failed2) = account_for(&retried, &p, engine.seal_batch(&p, retried.clone()));
    assert!(failed2.is_empty());
    assert_open_to_input(&consumer, &c, &retried, &ok2);
}

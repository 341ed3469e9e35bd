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

/// An engine over a discovery keyring with `filter`.
fn discovery(kms: &Arc<LocalKms>, filter: DiscoveryFilter) -> Engine {
    Engine::new(
        Arc::new(KmsKeyring::discovery(kms.clone(), filter)),
        EngineConfig::default().with_retry(fast_retry()),
    )
    .unwrap()
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

/// The KMS error kind of an open whose one trusted key failed on KMS.
fn open_kms_kind<T: std::fmt::Debug>(r: Result<T, OpenError>) -> KmsErrorKind {
    match r {
        Err(OpenError::AllKeysFailed(errors)) if errors.len() == 1 => {
            errors[0].kms().expect("a KMS error").kind()
        }
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

#[test]
fn seal_then_open_round_trips_with_a_standard_aws_kms_edk() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default().with_frame_length(1000));
    let p = role("producer");
    let req = SealRequest::new(ec(), fragment(1, 4500));
    let sealed = e.seal(&p, &req).unwrap();

    let header = message::parse(&sealed, &OpenLimits::default()).unwrap();
    let header = header.header();
    assert_eq!(header.encryption_context(), &ec());
    assert_eq!(header.frame_length(), 1000);
    let edks = header.encrypted_data_keys();
    assert_eq!(edks.len(), 1);
    assert_eq!(edks[0].provider_id, AWS_KMS_PROVIDER_ID);
    assert_eq!(edks[0].provider_info, key.as_bytes());
    // The ciphertext is a KMS blob that KMS itself decrypts under the message's context.
    let d = kms
        .decrypt(&p, &edks[0].ciphertext, &ec(), Some(&key))
        .unwrap();
    assert_eq!(d.key_id, key);

    assert_eq!(
        open(&e, &role("consumer"), &sealed, IdentityCheck::Skip).unwrap(),
        req.plaintext
    );
}

#[test]
fn the_cache_makes_one_kms_call_per_credential_and_key() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default());
    let (p, c) = (role("producer"), role("consumer"));
    let sealed: Vec<Bytes> = (0..50)
        .map(|i| {
            e.seal(&p, &SealRequest::new(ec(), fragment(i, 300)))
                .unwrap()
        })
        .collect();
    assert_eq!(kms.audit().count(&p, Operation::GenerateDataKey), 1);
    for (i, s) in sealed.iter().enumerate() {
        assert_eq!(
            open(&e, &c, s, IdentityCheck::Skip).unwrap(),
            fragment(i, 300)
        );
    }
    // Every fragment carries the same encrypted data key: one Decrypt for all of them.
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 1);
    let sp = e.stats(&p).unwrap();
    assert_eq!((sp.hits, sp.misses, sp.kms_calls), (49, 1, 1));
    assert_eq!((sp.fragments_sealed, sp.bytes_sealed), (50, 15_000));
    let sc = e.stats(&c).unwrap();
    assert_eq!((sc.hits, sc.misses, sc.kms_calls), (49, 1, 1));
    assert_eq!((sc.fragments_opened, sc.bytes_opened), (50, 15_000));
    // Another stream (another context) is another data key.
    let other = EncryptionContext::new().with("aws:kinesisvideo:arn", "arn:other");
    e.seal(&p, &SealRequest::new(other, fragment(0, 1)))
        .unwrap();
    assert_eq!(kms.audit().count(&p, Operation::GenerateDataKey), 2);
}

#[test]
fn isolation_a_cached_key_is_never_served_to_another_credential() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default());
    let (p, c, x) = (role("producer"), role("consumer"), role("intruder"));
    let req = SealRequest::new(ec(), fragment(7, 1000));
    let sealed = e.seal(&p, &req).unwrap();
    // The consumer may decrypt: its key is now cached.
    assert_eq!(
        open(&e, &c, &sealed, IdentityCheck::Skip).unwrap(),
        req.plaintext
    );
    // Right after, the intruder still goes to KMS and is refused.
    assert_eq!(
        open_kms_kind(open(&e, &x, &sealed, IdentityCheck::Skip)),
        KmsErrorKind::AccessDenied
    );
    assert_eq!(kms.audit().count(&x, Operation::Decrypt), 1, "not retried");
    // Likewise for sealing: the producer's cached data key is not the consumer's.
    assert_eq!(seal_kms_kind(e.seal(&c, &req)), KmsErrorKind::AccessDenied);
    let sx = e.stats(&x).unwrap();
    assert_eq!((sx.hits, sx.open_failures, sx.kms_failures), (0, 1, 1));
}

#[test]
fn sixty_four_threads_missing_together_make_one_kms_call() {
    let (kms, key) = kms_with(None);
    // Latency widens the window in which all 64 threads miss.
    kms.set_faults(FaultConfig {
        latency: Duration::from_millis(100),
        ..FaultConfig::default()
    })
    .unwrap();
    let e = engine(&kms, &key, EngineConfig::default());
    let (p, c) = (role("producer"), role("consumer"));
    let barrier = Barrier::new(64);
    let sealed: Vec<Bytes> = thread::scope(|s| {
        let hs: Vec<_> = (0..64)
            .map(|i| {
                let (e, p, barrier) = (&e, &p, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    e.seal(p, &SealRequest::new(ec(), fragment(i, 100)))
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(kms.audit().count(&p, Operation::GenerateDataKey), 1);
    let opened: Vec<Bytes> = thread::scope(|s| {
        let hs: Vec<_> = sealed
            .iter()
            .map(|m| {
                let (e, c, barrier) = (&e, &c, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    open(e, c, m, IdentityCheck::Skip).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 1);
    for (i, o) in opened.iter().enumerate() {
        assert_eq!(*o, fragment(i, 100));
    }
}

#[test]
fn throttling_is_retried_and_final_errors_are_not() {
    let (kms, key) = kms_with(None);
    // Half the calls are throttled (seeded, so reproducible).
    kms.set_faults(FaultConfig {
        error_rate: 0.5,
        error_kind: KmsErrorKind::Throttling,
        seed: 11,
        ..FaultConfig::default()
    })
    .unwrap();
    let e = engine(&kms, &key, EngineConfig::default());
    let p = role("producer");
    for i in 0..20 {
        // A new context per fragment: every seal needs KMS.
        let ec = ec().with("n", i.to_string());
        e.seal(&p, &SealRequest::new(ec, fragment(i, 10))).unwrap();
    }
    let s = e.stats(&p).unwrap();
    assert_eq!(s.kms_calls - s.kms_failures, 20, "one success per fragment");
    assert!(s.kms_failures > 0, "some calls were throttled and retried");
    assert_eq!(
        s.kms_calls,
        kms.audit().count(&p, Operation::GenerateDataKey)
    );

    // A final error (a key that does not exist) is not retried.
    kms.set_faults(FaultConfig::default()).unwrap();
    let before = e.stats(&p).unwrap().kms_calls;
    let missing =
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000");
    let missing_engine = engine(&kms, &missing, EngineConfig::default());
    assert_eq!(
        seal_kms_kind(missing_engine.seal(&p, &SealRequest::new(ec(), fragment(0, 1)))),
        KmsErrorKind::NotFound
    );
    assert_eq!(missing_engine.stats(&p).unwrap().kms_calls, 1);
    assert_eq!(e.stats(&p).unwrap().kms_calls, before);
}

#[test]
fn retries_are_bounded_in_count() {
    let (kms, key) = kms_with(None);
    kms.set_faults(FaultConfig {
        error_rate: 1.0,
        error_kind: KmsErrorKind::Throttling,
        ..FaultConfig::default()
    })
    .unwrap();
    let e = Engine::new(
        strict(&kms, &key),
        EngineConfig::default().with_retry(fast_retry().with_max_attempts(3)),
    )
    .unwrap();
    let p = role("producer");
    assert_eq!(
        seal_kms_kind(e.seal(&p, &SealRequest::new(ec(), fragment(0, 1)))),
        KmsErrorKind::Throttling
    );
    assert_eq!(kms.audit().count(&p, Operation::GenerateDataKey), 3);
}

#[test]
fn during_an_outage_cached_keys_keep_working_and_failures_are_handed_back() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let kms_clock = Arc::new(KmsClock::new(t0));
    let (kms, key) = kms_with(Some(kms_clock.clone()));
    let cache_clock = Arc::new(CacheClock::new());
    let e = Engine::with_clock(
        strict(&kms, &key),
        EngineConfig::default()
            .with_retry(fast_retry().with_max_attempts(3))
            .with_cache(CacheLimits::default().with_refresh_ahead(1.0)),
        cache_clock.clone(),
    )
    .unwrap();
    let advance = |d: Duration| {
        kms_clock.advance(d);
        cache_clock.advance(d);
    };
    let p = role("producer");
    e.seal(&p, &SealRequest::new(ec(), fragment(0, 10)))
        .unwrap();
    // KMS goes down from t0+10 s to t0+400 s.
    kms.set_faults(FaultConfig {
        outages: vec![Outage {
            start: t0 + Duration::from_secs(10),
            end: t0 + Duration::from_secs(400),
            kind: KmsErrorKind::Transport,
        }],
        ..FaultConfig::default()
    })
    .unwrap();
    advance(Duration::from_secs(20));
    let calls_before = kms.audit().count(&p, Operation::GenerateDataKey);
    // The cached key keeps sealing, without any KMS call.
    let requests: Vec<SealRequest> = (1..=10)
        .map(|i| SealRequest::new(ec(), fragment(i, 10)))
        .collect();
    let results = e.seal_batch(&p, requests);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        kms.audit().count(&p, Operation::GenerateDataKey),
        calls_before
    );
    // A fragment that needs a new key fails after the retries and is handed back intact.
    let other =
        SealRequest::new(ec().with("track", "2"), fragment(99, 10)).with_identity(identity(99));
    let mut results = e.seal_batch(&p, vec![other.clone()]);
    let failure = results.pop().unwrap().unwrap_err();
    assert_eq!(failure.request, other);
    assert_eq!(failure.credential, p);
    assert!(
        matches!(failure.error, SealError::Keyring(KeyringError::Kms(ref k)) if k.kind() == KmsErrorKind::Transport)
    );
    assert_eq!(
        kms.audit().count(&p, Operation::GenerateDataKey),
        calls_before + 3
    );
    // At max age (5 min after the first fetch) the cached key stops too.
    advance(Duration::from_secs(280));
    assert!(e
        .seal(&p, &SealRequest::new(ec(), fragment(0, 10)))
        .is_err());
    // After the outage, the handed-back fragment seals as it was.
    advance(Duration::from_secs(100));
    let sealed = e.seal(&p, &failure.request).unwrap();
    assert_eq!(
        open(&e, &p, &sealed, IdentityCheck::Expect(identity(99))).unwrap(),
        failure.request.plaintext
    );
}

#[test]
fn batches_keep_order_and_hand_back_each_failure() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default().with_frame_length(256));
    let p = role("producer");
    // Every seventh request cannot be sealed: its context uses the reserved prefix.
    let requests: Vec<SealRequest> = (0..40)
        .map(|i| {
            let ec = if i % 7 == 3 {
                ec().with("aws-crypto-x", "y")
            } else {
                ec()
            };
            SealRequest::new(ec, fragment(i, 100 + i * 13))
        })
        .collect();
    let results = e.seal_batch(&p, requests.clone());
    assert_eq!(results.len(), 40);
    let mut opens = Vec::new();
    for (i, (r, req)) in results.into_iter().zip(&requests).enumerate() {
        if i % 7 == 3 {
            let f = r.unwrap_err();
            assert_eq!(&f.request, req, "handed back intact");
            assert!(
                matches!(f.error, SealError::ReservedContextKey { ref key } if key == "aws-crypto-x")
            );
        } else {
            opens.push((i, OpenRequest::new(r.unwrap(), IdentityCheck::Skip)));
        }
    }
    // Corrupt one message: its open fails and it comes back intact; the others open in order.
    let (bad_index, bad) = {
        let (i, req) = &mut opens[5];
        let mut m = req.message.to_vec();
        let last = m.len() - 1;
        m[last] ^= 1;
        req.message = Bytes::from(m);
        (*i, req.clone())
    };
    let results = e.open_batch(
        &role("consumer"),
        opens.iter().map(|(_, r)| r.clone()).collect(),
    );
    assert_eq!(results.len(), opens.len());
    for ((i, _), r) in opens.iter().zip(results) {
        if *i == bad_index {
            let f = r.unwrap_err();
            assert_eq!(f.request, bad);
            assert!(matches!(f.error, OpenError::Authentication(_)));
        } else {
            assert_eq!(r.unwrap().plaintext, fragment(*i, 100 + i * 13));
        }
    }
    let s = e.stats(&role("consumer")).unwrap();
    assert_eq!(s.open_failures, 1);
    assert_eq!(e.stats(&p).unwrap().seal_failures, 6);
}

#[test]
fn identity_is_bound_and_checked() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default());
    let p = role("producer");
    let req = SealRequest::new(ec(), fragment(3, 64)).with_identity(identity(3));
    let sealed = e.seal(&p, &req).unwrap();
    assert_eq!(
        open(&e, &p, &sealed, IdentityCheck::Expect(identity(3))).unwrap(),
        req.plaintext
    );
    assert_eq!(
        open(&e, &p, &sealed, IdentityCheck::Skip).unwrap(),
        req.plaintext
    );
    assert!(matches!(
        open(&e, &p, &sealed, IdentityCheck::Expect(identity(4))),
        Err(OpenError::Authentication(_))
    ));
}

#[test]
fn streaming_and_range_opens() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default().with_frame_length(1024));
    let p = role("producer");
    let plaintext = fragment(9, 10_000);
    let sealed = e
        .seal(&p, &SealRequest::new(ec(), plaintext.clone()))
        .unwrap();

    let mut stream = e
        .open_stream(&p, &sealed[..], &OpenOptions::new(IdentityCheck::Skip))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 777];
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out, plaintext);
    assert_eq!(e.stats(&p).unwrap().bytes_opened, 10_000);
    assert_eq!(e.stats(&p).unwrap().fragments_opened, 1);

    // A truncated stream fails instead of ending early.
    let mut s = e
        .open_stream(
            &p,
            &sealed[..sealed.len() - 20],
            &OpenOptions::new(IdentityCheck::Skip),
        )
        .unwrap();
    assert!(std::io::copy(&mut s, &mut std::io::sink()).is_err());
    let before = e.stats(&p).unwrap().bytes_opened;

    for range in [
        0..0u64,
        0..1,
        1000..3000,
        2047..2049,
        9_999..10_000,
        0..10_000,
    ] {
        let got = e
            .open_range(&p, &skip(&sealed), range.clone())
            .map(|o| o.plaintext)
            .unwrap();
        assert_eq!(got, plaintext[range.start as usize..range.end as usize]);
    }
    assert!(matches!(
        e.open_range(&p, &skip(&sealed), 5..10_001)
            .map(|o| o.plaintext),
        Err(OpenError::RangeBeyondEnd {
            end: 10_001,
            plaintext_len: 10_000
        })
    ));
    let s = e.stats(&p).unwrap();
    assert_eq!(s.bytes_opened - before, 1 + 2000 + 2 + 1 + 10_000);
    assert_eq!(s.open_failures, 1);
}

#[test]
fn strict_mode_only_sends_trusted_keys_to_kms() {
    let (kms, key) = kms_with(None);
    let p = role("producer");
    let sealed = engine(&kms, &key, EngineConfig::default())
        .seal(&p, &SealRequest::new(ec(), fragment(1, 10)))
        .unwrap();
    let elsewhere =
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000");
    let strict = engine(&kms, &elsewhere, EngineConfig::default());
    assert!(matches!(
        open(&strict, &p, &sealed, IdentityCheck::Skip),
        Err(OpenError::NoTrustedKey)
    ));
    assert_eq!(kms.audit().count(&p, Operation::Decrypt), 0);
    let trusting = engine(&kms, &key, EngineConfig::default());
    assert_eq!(
        open(&trusting, &p, &sealed, IdentityCheck::Skip).unwrap(),
        fragment(1, 10)
    );
}

#[test]
fn refresh_ahead_keeps_sealing_without_waiting_for_expiry() {
    let cache_clock = Arc::new(CacheClock::new());
    let (kms, key) = kms_with(None);
    let e = Engine::with_clock(
        strict(&kms, &key),
        EngineConfig::default()
            .with_retry(fast_retry())
            .with_cache(CacheLimits::default().with_refresh_ahead(0.5)),
        cache_clock.clone(),
    )
    .unwrap();
    let p = role("producer");
    let edk_of = |m: &Bytes| {
        message::parse(m, &OpenLimits::default())
            .unwrap()
            .header()
            .encrypted_data_keys()[0]
            .ciphertext
            .clone()
    };
    let first = e
        .seal(&p, &SealRequest::new(ec(), fragment(0, 10)))
        .unwrap();
    cache_clock.advance(Duration::from_secs(200));
    // Past half the age: this seal still uses the old key and fetches the next one.
    let second = e
        .seal(&p, &SealRequest::new(ec(), fragment(1, 10)))
        .unwrap();
    assert_eq!(edk_of(&first), edk_of(&second));
    let third = e
        .seal(&p, &SealRequest::new(ec(), fragment(2, 10)))
        .unwrap();
    assert_ne!(edk_of(&first), edk_of(&third));
    assert_eq!(kms.audit().count(&p, Operation::GenerateDataKey), 2);
    assert_eq!(e.stats(&p).unwrap().refreshes, 1);
    // Every fragment opens.
    for (i, m) in [first, second, third].iter().enumerate() {
        assert_eq!(
            open(&e, &p, m, IdentityCheck::Skip).unwrap(),
            fragment(i, 10)
        );
    }
}

#[test]
fn a_simulated_hour_at_5_fragments_per_second_needs_12_kms_calls() {
    // One stream, 5 fragments per second for an hour, 5-minute max age, no refresh ahead.
    let cache_clock = Arc::new(CacheClock::new());
    let (kms, key) = kms_with(None);
    let e = Engine::with_clock(
        strict(&kms, &key),
        EngineConfig::default().with_cache(CacheLimits::default().with_refresh_ahead(1.0)),
        cache_clock.clone(),
    )
    .unwrap();
    let p = role("producer");
    for _ in 0..5 * 3600 {
        e.seal(&p, &SealRequest::new(ec(), Bytes::from_static(b"f")))
            .unwrap();
        cache_clock.advance(Duration::from_millis(200));
    }
    assert_eq!(kms.audit().count(&p, Operation::GenerateDataKey), 12);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_batch_with_mixed_credentials_round_trips(
        items in prop::collection::vec((0usize..3, 0usize..3, prop::collection::vec(any::<u8>(), 0..3000)), 0..24),
        frame_length in 1u32..2048,
    ) {
        let (kms, key) = kms_with(None);
        // Three producer credentials (sessions of the producer role) and three streams.
        let creds: Vec<Credential> = (0..3)
            .map(|i| Credential::new(
                ACCOUNT,
                format!("arn:aws:sts::{ACCOUNT}:assumed-role/producer/session-{i}"),
                format!("ASIAPRODUCER{i}"),
            ).unwrap())
            .collect();
        let e = engine(&kms, &key, EngineConfig::default().with_frame_length(frame_length));
        let requests: Vec<(Credential, SealRequest)> = items
            .iter()
            .map(|(c, s, data)| {
                let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", format!("stream-{s}"));
                (creds[*c].clone(), SealRequest::new(ec, data.clone()))
            })
            .collect();
        let sealed = e.seal_batch_mixed(requests.clone());
        prop_assert_eq!(sealed.len(), requests.len());
        let opens: Vec<(Credential, OpenRequest)> = sealed
            .into_iter()
            .zip(&requests)
            .map(|(r, (c, _))| (c.clone(), OpenRequest::new(r.unwrap(), IdentityCheck::Skip)))
            .collect();
        let opened = e.open_batch_mixed(opens);
        for (o, (_, req)) in opened.into_iter().zip(&requests) {
            prop_assert_eq!(o.unwrap().plaintext, req.plaintext.clone());
        }
        // At most one GenerateDataKey per (credential, stream).
        for c in &creds {
            prop_assert!(kms.audit().count(c, Operation::GenerateDataKey) <= 3);
        }
    }
}

#[test]
fn seal_into_reuses_caller_buffers() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default().with_frame_length(512));
    let p = role("producer");
    let requests: Vec<SealRequest> = (0..12)
        .map(|i| SealRequest::new(ec(), fragment(i, 1000 + i * 100)))
        .collect();
    let mut outputs = vec![Vec::new(); requests.len()];
    for _round in 0..2 {
        let results = e.seal_batch_into(&p, &requests, &mut outputs).unwrap();
        assert!(results.iter().all(Result::is_ok));
        for (i, out) in outputs.iter().enumerate() {
            assert_eq!(
                open(&e, &p, out, IdentityCheck::Skip).unwrap(),
                requests[i].plaintext
            );
        }
    }
    let caps: Vec<usize> = outputs.iter().map(Vec::capacity).collect();
    e.seal_batch_into(&p, &requests, &mut outputs).unwrap();
    assert_eq!(
        caps,
        outputs.iter().map(Vec::capacity).collect::<Vec<_>>(),
        "no reallocation"
    );
    assert!(matches!(
        e.seal_batch_into(&p, &requests, &mut outputs[..3]),
        Err(SealError::BufferCount {
            requests: 12,
            outputs: 3
        })
    ));
    // seal_into appends, and leaves the buffer unchanged on failure.
    let mut out = b"prefix".to_vec();
    e.seal_into(&p, &requests[0], &mut out).unwrap();
    assert_eq!(
        open(&e, &p, &out[6..], IdentityCheck::Skip).unwrap(),
        requests[0].plaintext
    );
    let bad = SealRequest::new(ec().with("aws-crypto-x", "y"), fragment(0, 10));
    let before = out.clone();
    assert!(matches!(
        e.seal_into(&p, &bad, &mut out),
        Err(SealError::ReservedContextKey { .. })
    ));
    assert_eq!(out, before);
    assert_eq!(e.stats(&p).unwrap().seal_failures, 1);
}

#[test]
fn open_into_appends_and_restores_on_failure() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default().with_frame_length(300));
    let (p, c) = (role("producer"), role("consumer"));
    let plaintext = fragment(5, 2000);
    let sealed = e
        .seal(&p, &SealRequest::new(ec(), plaintext.clone()))
        .unwrap();
    let mut out = b"head".to_vec();
    e.open_into(&c, &skip(&sealed), &mut out).unwrap();
    assert_eq!(&out[..4], b"head");
    assert_eq!(out[4..], plaintext[..]);
    let mut tampered = sealed.to_vec();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x80;
    let before = out.clone();
    assert!(matches!(
        e.open_into(&c, &skip(&tampered), &mut out),
        Err(OpenError::Authentication(_))
    ));
    assert_eq!(out, before);
    let s = e.stats(&c).unwrap();
    assert_eq!(
        (s.fragments_opened, s.bytes_opened, s.open_failures),
        (1, 2000, 1)
    );
}

#[test]
fn background_refresh_keeps_every_caller_off_the_kms_path() {
    let cache_clock = Arc::new(CacheClock::new());
    let (kms, key) = kms_with(None);
    // KMS is slow: a caller that had to wait for it would take at least 600 ms.
    kms.set_faults(FaultConfig {
        latency: Duration::from_millis(600),
        ..FaultConfig::default()
    })
    .unwrap();
    let e = Engine::with_clock(
        strict(&kms, &key),
        EngineConfig::default()
            .with_retry(fast_retry())
            .with_background_refresh(true)
            .with_cache(CacheLimits::default().with_refresh_ahead(0.5)),
        cache_clock.clone(),
    )
    .unwrap();
    let (p, c) = (role("producer"), role("consumer"));
    let edk_of = |m: &Bytes| {
        message::parse(m, &OpenLimits::default())
            .unwrap()
            .header()
            .encrypted_data_keys()[0]
            .ciphertext
            .clone()
    };
    let first = e
        .seal(&p, &SealRequest::new(ec(), fragment(0, 10)))
        .unwrap();
    open(&e, &c, &first, IdentityCheck::Skip).unwrap();
    cache_clock.advance(Duration::from_secs(200));
    // Past the refresh point: the seal and the open return with the current key while the
    // replacements are fetched in the background.
    let t = std::time::Instant::now();
    let second = e
        .seal(&p, &SealRequest::new(ec(), fragment(1, 10)))
        .unwrap();
    open(&e, &c, &second, IdentityCheck::Skip).unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "a caller waited for KMS"
    );
    assert_eq!(edk_of(&first), edk_of(&second));
    // Wait (bounded) for both refreshes to land.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while e.stats(&p).unwrap().refreshes + e.stats(&c).unwrap().refreshes < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "refreshes did not complete"
        );
        thread::sleep(Duration::from_millis(10));
    }
    let third = e
        .seal(&p, &SealRequest::new(ec(), fragment(2, 10)))
        .unwrap();
    assert_ne!(edk_of(&first), edk_of(&third));
    assert_eq!(kms.audit().count(&p, Operation::GenerateDataKey), 2);
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 2);
    assert_eq!(e.stats(&p).unwrap().kms_calls, 2);
    for (i, m) in [first, second, third].iter().enumerate() {
        assert_eq!(
            open(&e, &c, m, IdentityCheck::Skip).unwrap(),
            fragment(i, 10)
        );
    }
}

/// A message whose only `aws-kms` encrypted data key names the KMS key by `provider_info`
/// (the data key and its KMS blob are genuine, so only the provider info decides).
fn message_with_provider_info(kms: &LocalKms, key: &str, provider_info: &str) -> Vec<u8> {
    let g = kms
        .generate_data_key(
            &role("producer"),
            key,
            fragseal::kms::DataKeySpec::Aes256,
            &ec(),
        )
        .unwrap();
    let data_key = fragseal::crypto::DataKey::from_slice(g.plaintext.expose_secret()).unwrap();
    let edks = [fragseal::format::EncryptedDataKey {
        provider_id: AWS_KMS_PROVIDER_ID.into(),
        provider_info: provider_info.as_bytes().to_vec(),
        ciphertext: g.ciphertext_blob,
    }];
    let ec = ec();
    message::seal(
        &data_key,
        &message::SealParams::new(&ec, &edks),
        b"fragment",
    )
    .unwrap()
}

#[test]
fn discovery_sends_only_well_formed_kms_key_arns_to_kms() {
    let (kms, key) = kms_with(None);
    let c = role("consumer");
    let key_id = key.rsplit('/').next().unwrap();
    let alias_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/fragments");
    let refused = [
        "alias/aws/kinesisvideo".to_owned(),
        key_id.to_owned(),
        alias_arn,
        key.replace(":kms:", ":s3:"),
        key.replace(":key/", ":keys/"),
        key.replace(ACCOUNT, "1111222233"),
        key.replace(ACCOUNT, "11112222333a"),
        key.replace(REGION, ""),
        key.replace("arn:aws:", "arn::"),
        format!("{key}/extra"),
        format!("{}:key/", key.rsplit_once(":key/").unwrap().0),
        format!(" {key}"),
    ];
    let e = discovery(&kms, DiscoveryFilter::new("aws", vec![ACCOUNT.into()]));
    for info in &refused {
        let m = message_with_provider_info(&kms, &key, info);
        assert!(
            matches!(
                open(&e, &c, &m, IdentityCheck::Skip),
                Err(OpenError::NoTrustedKey)
            ),
            "{info:?} must not be sent to KMS"
        );
    }
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 0);
    // The well-formed ARN opens (one Decrypt).
    let m = message_with_provider_info(&kms, &key, &key);
    assert_eq!(
        open(&e, &c, &m, IdentityCheck::Skip).unwrap(),
        &b"fragment"[..]
    );
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 1);
}

#[test]
fn the_discovery_filter_keeps_other_accounts_keys_from_kms() {
    let (kms, key) = kms_with(None);
    let c = role("consumer");
    let m = message_with_provider_info(&kms, &key, &key);
    let other = discovery(
        &kms,
        DiscoveryFilter::new("aws", vec!["444455556666".into()]),
    );
    assert!(matches!(
        open(&other, &c, &m, IdentityCheck::Skip),
        Err(OpenError::NoTrustedKey)
    ));
    let other_partition = discovery(&kms, DiscoveryFilter::new("aws-cn", vec![ACCOUNT.into()]));
    assert!(matches!(
        open(&other_partition, &c, &m, IdentityCheck::Skip),
        Err(OpenError::NoTrustedKey)
    ));
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 0);
    let own = discovery(&kms, DiscoveryFilter::new("aws", vec![ACCOUNT.into()]));
    assert_eq!(
        open(&own, &c, &m, IdentityCheck::Skip).unwrap(),
        &b"fragment"[..]
    );
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 1);
}

#[test]
fn messages_that_fail_to_authenticate_do_not_use_up_an_opening_key() {
    let (kms, key) = kms_with(None);
    let p = role("producer");
    let sealed = engine(&kms, &key, EngineConfig::default())
        .seal(&p, &SealRequest::new(ec(), fragment(1, 3000)))
        .unwrap();
    let len = sealed.len() as u64;
    // A genuine header with a garbage body: the header authenticates, the body does not.
    let mut forged = sealed.to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let c = role("consumer");
    let e = engine(
        &kms,
        &key,
        EngineConfig::default().with_cache(
            CacheLimits::default()
                .with_max_fragments(2)
                .with_max_bytes(2 * len)
                .with_refresh_ahead(1.0),
        ),
    );
    for _ in 0..5 {
        assert!(matches!(
            open(&e, &c, &forged, IdentityCheck::Skip),
            Err(OpenError::Authentication(_))
        ));
        let mut out = vec![7];
        assert!(e.open_into(&c, &skip(&forged), &mut out).is_err());
        assert_eq!(out, [7]);
        assert!(e
            .open_range(&c, &skip(&forged), 0..10)
            .map(|o| o.plaintext)
            .is_err());
    }
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 1);
    // The genuine message still has the entry's whole budget: two opens, no new Decrypt.
    for _ in 0..2 {
        assert_eq!(
            open(&e, &c, &sealed, IdentityCheck::Skip).unwrap(),
            fragment(1, 3000)
        );
    }
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 1);
    let s = e.stats(&c).unwrap();
    assert_eq!((s.fragments_opened, s.open_failures), (2, 15));
}

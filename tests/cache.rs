//! The per-credential data-key cache: limits at their exact boundaries, LRU eviction, erasure,
//! single flight, refresh ahead, isolation and counters. Time is moved with a `ManualClock`.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::cache::{
    CacheKey, CacheLimits, DataKeyCache, DataKeyMaterial, LeaseSource, ManualClock, Refresh,
};
use fragseal::crypto::{DataKey, SecretBytes};
use fragseal::format::EncryptedDataKey;
use fragseal::kms::{
    Credential, DataKeySpec, DecryptedDataKey, GeneratedDataKey, KeyDescription, Kms, KmsError,
    KmsErrorKind,
};
use fragseal::{EncryptionContext, Error};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, LazyLock, Mutex};
use std::thread;
use std::time::Duration;

const SUITE: u16 = 0x0478;
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/0000-test";

/// A counting fake KMS: random data keys, a call counter, optional delay and failure.
#[derive(Default)]
struct CountingKms {
    calls: AtomicUsize,
    fail: Mutex<Option<KmsErrorKind>>,
    delay: Mutex<Duration>,
}

impl CountingKms {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn set_failure(&self, kind: Option<KmsErrorKind>) {
        *self.fail.lock().unwrap() = kind;
    }
    fn set_delay(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }
}

impl Kms for CountingKms {
    fn generate_data_key(
        &self,
        _caller: &Credential,
        key_id: &str,
        _spec: DataKeySpec,
        _ec: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        thread::sleep(*self.delay.lock().unwrap());
        if let Some(kind) = *self.fail.lock().unwrap() {
            return Err(KmsError::new(kind, "injected"));
        }
        Ok(GeneratedDataKey {
            key_id: key_id.to_owned(),
            plaintext: SecretBytes::random(32),
            ciphertext_blob: (n as u64).to_be_bytes().to_vec(),
        })
    }

    fn decrypt(
        &self,
        _caller: &Credential,
        _blob: &[u8],
        _ec: &EncryptionContext,
        _expected: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError> {
        Err(KmsError::new(KmsErrorKind::InvalidRequest, "not used here"))
    }

    fn describe_key(
        &self,
        _caller: &Credential,
        _key_id: &str,
    ) -> Result<KeyDescription, KmsError> {
        Err(KmsError::new(KmsErrorKind::NotFound, "not used here"))
    }
}

fn cred(id: &str) -> Credential {
    Credential::new(
        "111122223333",
        format!("arn:aws:iam::111122223333:role/{id}"),
        format!("AKIA{id}"),
    )
    .unwrap()
}

static EC: LazyLock<EncryptionContext> = LazyLock::new(|| {
    EncryptionContext::new().with("aws:kinesisvideo:arn", "arn:aws:kinesisvideo:stream/s/1")
});

fn ec() -> EncryptionContext {
    EC.clone()
}

fn seal_key(c: &Credential) -> CacheKey<'_> {
    CacheKey::for_sealing(c, KEY, SUITE, &EC)
}

/// A fetch that generates a data key through `kms` as `c`.
fn fetcher<'a>(
    kms: &'a CountingKms,
    c: &'a Credential,
) -> impl FnOnce() -> Result<DataKeyMaterial, KmsError> + 'a {
    move || {
        let g = kms.generate_data_key(c, KEY, DataKeySpec::Aes256, &ec())?;
        Ok(material(g))
    }
}

/// Cache material for a generated key, with one EDK whose ciphertext is the KMS blob (the
/// cache never looks inside it).
fn material(g: GeneratedDataKey) -> DataKeyMaterial {
    let data_key = DataKey::try_from(g.plaintext).unwrap();
    let edk = EncryptedDataKey {
        provider_id: "aws-kms".into(),
        provider_info: g.key_id.as_bytes().to_vec(),
        ciphertext: g.ciphertext_blob,
    };
    DataKeyMaterial::new(data_key, vec![edk], g.key_id)
}

/// The ciphertext that identifies a cached key.
fn blob(m: &DataKeyMaterial) -> &[u8] {
    &m.encrypted_data_keys()[0].ciphertext
}

fn setup(limits: CacheLimits) -> (DataKeyCache, Arc<ManualClock>, CountingKms) {
    let clock = Arc::new(ManualClock::new());
    let cache = DataKeyCache::with_clock(limits, clock.clone()).unwrap();
    (cache, clock, CountingKms::default())
}

/// Looks up `bytes` for `c` and returns (source, ciphertext blob identifying the key).
fn take(
    cache: &DataKeyCache,
    kms: &CountingKms,
    c: &Credential,
    bytes: u64,
) -> (LeaseSource, Vec<u8>) {
    let lease = cache
        .get_or_fetch(&seal_key(c), bytes, fetcher(kms, c))
        .unwrap();
    (lease.source(), blob(lease.material()).to_vec())
}

#[test]
fn second_lookup_is_a_hit_with_the_same_key() {
    let (cache, _clock, kms) = setup(CacheLimits::default());
    let a = cred("A");
    let (s1, k1) = take(&cache, &kms, &a, 10);
    let (s2, k2) = take(&cache, &kms, &a, 10);
    assert_eq!((s1, s2), (LeaseSource::Fetched, LeaseSource::Hit));
    assert_eq!(k1, k2);
    assert_eq!(kms.calls(), 1);
    let st = cache.stats(&a).unwrap();
    assert_eq!((st.hits, st.misses), (1, 1));
}

#[test]
fn max_age_is_exclusive_at_its_exact_boundary() {
    let max_age = Duration::from_secs(300);
    let (cache, clock, kms) = setup(
        CacheLimits::default()
            .with_max_age(max_age)
            .with_refresh_ahead(1.0),
    );
    let a = cred("A");
    let (_, k1) = take(&cache, &kms, &a, 1);
    clock.advance(max_age - Duration::from_nanos(1));
    let (s, k) = take(&cache, &kms, &a, 1);
    assert_eq!(
        (s, &k),
        (LeaseSource::Hit, &k1),
        "one nanosecond before max age: still valid"
    );
    clock.advance(Duration::from_nanos(1));
    let (s, k2) = take(&cache, &kms, &a, 1);
    assert_eq!(
        s,
        LeaseSource::Fetched,
        "at exactly max age the entry is retired"
    );
    assert_ne!(k2, k1);
    assert_eq!(kms.calls(), 2);
    assert_eq!(cache.stats(&a).unwrap().expirations, 1);
}

#[test]
fn max_fragments_is_reached_exactly_and_never_exceeded() {
    let (cache, _clock, kms) = setup(
        CacheLimits::default()
            .with_max_fragments(3)
            .with_refresh_ahead(1.0),
    );
    let a = cred("A");
    let keys: Vec<_> = (0..7).map(|_| take(&cache, &kms, &a, 1).1).collect();
    // 3 + 3 + 1 fragments: exactly three per key.
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[0], keys[2]);
    assert_ne!(keys[2], keys[3]);
    assert_eq!(keys[3], keys[5]);
    assert_ne!(keys[5], keys[6]);
    assert_eq!(kms.calls(), 3);
}

#[test]
fn max_bytes_is_reached_exactly_and_never_exceeded() {
    let (cache, _clock, kms) = setup(
        CacheLimits::default()
            .with_max_bytes(100)
            .with_refresh_ahead(1.0),
    );
    let a = cred("A");
    let (_, k1) = take(&cache, &kms, &a, 60);
    let (s, k) = take(&cache, &kms, &a, 40);
    assert_eq!(
        (s, &k),
        (LeaseSource::Hit, &k1),
        "60 + 40 = 100 fits exactly"
    );
    let (s, k2) = take(&cache, &kms, &a, 1);
    assert_eq!(s, LeaseSource::Fetched, "one more byte does not fit");
    assert_ne!(k2, k1);
    let (s, _) = take(&cache, &kms, &a, 99);
    assert_eq!(s, LeaseSource::Hit, "1 + 99 = 100 fits");
    // A fragment that can never fit gets its own uncached key and leaves the entry alone.
    let (s, k3) = take(&cache, &kms, &a, 101);
    assert_eq!(s, LeaseSource::Uncached);
    assert_ne!(k3, k2);
    assert_eq!(cache.len().unwrap(), 1);
    assert_eq!(kms.calls(), 3);
}

#[test]
fn zero_byte_fragments_count_against_the_fragment_limit() {
    let (cache, _clock, kms) = setup(
        CacheLimits::default()
            .with_max_fragments(2)
            .with_max_bytes(1)
            .with_refresh_ahead(1.0),
    );
    let a = cred("A");
    for _ in 0..4 {
        take(&cache, &kms, &a, 0);
    }
    assert_eq!(kms.calls(), 2);
}

#[test]
fn least_recently_used_entry_is_evicted() {
    let (cache, _clock, kms) = setup(CacheLimits::default().with_capacity(2));
    let (a, b, c) = (cred("A"), cred("B"), cred("C"));
    let (_, ka) = take(&cache, &kms, &a, 1);
    let (_, kb) = take(&cache, &kms, &b, 1);
    take(&cache, &kms, &a, 1); // A is now more recently used than B.
    take(&cache, &kms, &c, 1); // Evicts B.
    assert_eq!(cache.len().unwrap(), 2);
    assert_eq!(kms.calls(), 3);
    let (s, k) = take(&cache, &kms, &a, 1);
    assert_eq!((s, k), (LeaseSource::Hit, ka));
    let (s, k) = take(&cache, &kms, &b, 1);
    assert_eq!(s, LeaseSource::Fetched, "B was evicted");
    assert_ne!(k, kb);
    assert_eq!(cache.stats(&b).unwrap().evictions, 1);
    // Re-inserting B evicted C (A was used more recently).
    assert_eq!(cache.stats(&c).unwrap().evictions, 1);
    assert_eq!(cache.stats(&a).unwrap().evictions, 0);
}

#[test]
fn evicted_and_expired_keys_leave_no_copy_behind() {
    let (cache, clock, kms) = setup(
        CacheLimits::default()
            .with_capacity(1)
            .with_refresh_ahead(1.0),
    );
    let (a, b) = (cred("A"), cred("B"));
    let lease = cache
        .get_or_fetch(&seal_key(&a), 1, fetcher(&kms, &a))
        .unwrap();
    let weak_a = Arc::downgrade(lease.material());
    drop(lease);
    assert!(weak_a.upgrade().is_some(), "cached");
    // B evicts A: the cache held the only copy, so A's key is dropped (and zeroized) now.
    let lease_b = cache
        .get_or_fetch(&seal_key(&b), 1, fetcher(&kms, &b))
        .unwrap();
    assert!(weak_a.upgrade().is_none(), "evicted key still alive");
    // A lease keeps a retired key alive only until it is dropped.
    let weak_b = Arc::downgrade(lease_b.material());
    clock.advance(Duration::from_secs(301));
    assert_eq!(cache.purge_expired().unwrap(), 1);
    assert!(cache.is_empty().unwrap());
    assert!(weak_b.upgrade().is_some(), "still leased");
    drop(lease_b);
    assert!(
        weak_b.upgrade().is_none(),
        "expired key still alive after its last lease"
    );
}

#[test]
fn credentials_never_share_entries() {
    let (cache, _clock, kms) = setup(CacheLimits::default());
    let (a, b) = (cred("A"), cred("B"));
    let (_, ka) = take(&cache, &kms, &a, 1);
    let (s, kb) = take(&cache, &kms, &b, 1);
    assert_eq!(s, LeaseSource::Fetched, "B must get its own key from KMS");
    assert_ne!(ka, kb);
    // Other contexts and other KMS keys are other entries too.
    let ec2 = ec().with("x", "y");
    let other_ec = CacheKey::for_sealing(&a, KEY, SUITE, &ec2);
    let l = cache.get_or_fetch(&other_ec, 1, fetcher(&kms, &a)).unwrap();
    assert_eq!(l.source(), LeaseSource::Fetched);
    let other_key = CacheKey::for_sealing(&a, "alias/other", SUITE, &EC);
    let l = cache
        .get_or_fetch(&other_key, 1, fetcher(&kms, &a))
        .unwrap();
    assert_eq!(l.source(), LeaseSource::Fetched);
    assert_eq!(kms.calls(), 4);
}

#[test]
fn sixty_four_threads_missing_together_make_one_kms_call() {
    let (cache, _clock, kms) = setup(CacheLimits::default());
    kms.set_delay(Duration::from_millis(50));
    let a = cred("A");
    let barrier = Barrier::new(64);
    let keys: Vec<(LeaseSource, Vec<u8>)> = thread::scope(|s| {
        let hs: Vec<_> = (0..64)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    take(&cache, &kms, &a, 1)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(kms.calls(), 1);
    assert!(keys.iter().all(|(_, k)| *k == keys[0].1));
    assert_eq!(
        keys.iter()
            .filter(|(s, _)| *s == LeaseSource::Fetched)
            .count(),
        1
    );
    let st = cache.stats(&a).unwrap();
    assert_eq!(st.hits + st.misses, 64);
}

#[test]
fn waiters_share_the_leaders_error() {
    let (cache, _clock, kms) = setup(CacheLimits::default());
    kms.set_delay(Duration::from_millis(50));
    kms.set_failure(Some(KmsErrorKind::AccessDenied));
    let a = cred("A");
    let barrier = Barrier::new(16);
    let results: Vec<Result<_, Error>> = thread::scope(|s| {
        let hs: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    cache
                        .get_or_fetch(&seal_key(&a), 1, fetcher(&kms, &a))
                        .map(|_| ())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(kms.calls(), 1, "waiters must not retry on their own");
    for r in results {
        match r {
            Err(Error::Kms(e)) => assert_eq!(e.kind(), KmsErrorKind::AccessDenied),
            other => panic!("expected AccessDenied, got {other:?}"),
        }
    }
    // Failures are not cached: the next call asks KMS again.
    kms.set_failure(None);
    kms.set_delay(Duration::ZERO);
    assert_eq!(take(&cache, &kms, &a, 1).0, LeaseSource::Fetched);
    assert_eq!(kms.calls(), 2);
}

#[test]
fn a_panicking_fetch_releases_its_waiters() {
    let (cache, _clock, kms) = setup(CacheLimits::default());
    let a = cred("A");
    let key = seal_key(&a);
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (cache_ref, key_ref) = (&cache, &key);
    thread::scope(|s| {
        let leader = s.spawn(move || {
            cache_ref.get_or_fetch(key_ref, 1, || -> Result<DataKeyMaterial, KmsError> {
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                panic!("fetch panicked");
            })
        });
        started_rx.recv().unwrap();
        let waiter = s.spawn(|| cache.get_or_fetch(&key, 1, fetcher(&kms, &a)).map(|_| ()));
        // Give the waiter time to block on the flight, then let the leader panic.
        thread::sleep(Duration::from_millis(50));
        go_tx.send(()).unwrap();
        assert!(leader.join().is_err(), "the leader panicked");
        let r = waiter.join().unwrap();
        // The waiter either joined the failed flight (an error) or came later and fetched.
        match r {
            Err(Error::Kms(e)) => assert_eq!(e.kind(), KmsErrorKind::Internal),
            Ok(()) => assert_eq!(kms.calls(), 1),
            Err(e) => panic!("unexpected {e:?}"),
        }
    });
    // The cache still works, and the abandoned flight left nothing behind.
    let (s, _) = take(&cache, &kms, &a, 1);
    assert!(matches!(s, LeaseSource::Hit | LeaseSource::Fetched));
    assert_eq!(take(&cache, &kms, &a, 1).0, LeaseSource::Hit);
}

#[test]
fn refresh_ahead_replaces_the_key_while_others_keep_using_it() {
    let max_age = Duration::from_secs(100);
    let (cache, clock, kms) = setup(
        CacheLimits::default()
            .with_max_age(max_age)
            .with_refresh_ahead(0.5),
    );
    let cache = &cache;
    let a = cred("A");
    let key = seal_key(&a);
    let (_, k1) = take(cache, &kms, &a, 1);
    clock.advance(Duration::from_secs(60));

    // The first caller past 50% refreshes; its fetch blocks until we say so.
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let refresher_called = AtomicBool::new(false);
    let (key_ref, kms_ref, a_ref, called) = (&key, &kms, &a, &refresher_called);
    thread::scope(|s| {
        let refresher = s.spawn(move || {
            let l = cache
                .get_or_fetch(key_ref, 1, || {
                    called.store(true, Ordering::SeqCst);
                    started_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    fetcher(kms_ref, a_ref)()
                })
                .unwrap();
            (l.source(), blob(l.material()).to_vec())
        });
        started_rx.recv().unwrap();
        // While the refresh is in flight, others are served the old key at once, without KMS.
        for _ in 0..10 {
            let l = cache
                .get_or_fetch(&key, 1, || -> Result<DataKeyMaterial, KmsError> {
                    panic!("a second fetch during refresh")
                })
                .unwrap();
            assert_eq!(l.source(), LeaseSource::Hit);
            assert_eq!(blob(l.material()), &k1[..]);
        }
        go_tx.send(()).unwrap();
        let (s, k) = refresher.join().unwrap();
        assert_eq!(
            (s, k),
            (LeaseSource::Hit, k1.clone()),
            "the refresher itself used the valid key"
        );
    });
    assert!(refresher_called.load(Ordering::SeqCst));
    assert_eq!(kms.calls(), 2);
    let (s, k2) = take(cache, &kms, &a, 1);
    assert_eq!(s, LeaseSource::Hit);
    assert_ne!(k2, k1, "the refreshed key is in use");
    assert_eq!(cache.stats(&a).unwrap().refreshes, 1);
    // The new entry's age counts from its fetch: at t=100 s (past the old key's max age) it is
    // 40 s old and needs no refresh.
    clock.advance(Duration::from_secs(40));
    assert_eq!(take(cache, &kms, &a, 1).1, k2);
    assert_eq!(kms.calls(), 2);
}

#[test]
fn refresh_ahead_on_the_fragment_budget() {
    let (cache, _clock, kms) = setup(
        CacheLimits::default()
            .with_max_fragments(10)
            .with_refresh_ahead(0.5),
    );
    let a = cred("A");
    let keys: Vec<_> = (0..6).map(|_| take(&cache, &kms, &a, 1).1).collect();
    // Fragment 5 reaches 50%: its caller refreshes, fragment 6 uses the new key.
    assert!(keys[..5].iter().all(|k| *k == keys[0]));
    assert_ne!(keys[5], keys[0]);
    assert_eq!(kms.calls(), 2);
}

#[test]
fn during_an_outage_cached_keys_serve_until_their_limits() {
    let max_age = Duration::from_secs(100);
    let (cache, clock, kms) = setup(
        CacheLimits::default()
            .with_max_age(max_age)
            .with_refresh_ahead(0.5)
            .with_refresh_retry_interval(Duration::from_secs(10)),
    );
    let a = cred("A");
    let (_, k1) = take(&cache, &kms, &a, 1);
    kms.set_failure(Some(KmsErrorKind::Transport));
    clock.advance(Duration::from_secs(50));
    // Refresh fails; the caller is still served the valid key.
    assert_eq!(take(&cache, &kms, &a, 1), (LeaseSource::Hit, k1.clone()));
    assert_eq!(kms.calls(), 2);
    // No new refresh attempt before the retry interval.
    clock.advance(Duration::from_secs(9));
    assert_eq!(take(&cache, &kms, &a, 1), (LeaseSource::Hit, k1.clone()));
    assert_eq!(kms.calls(), 2);
    clock.advance(Duration::from_secs(1));
    assert_eq!(take(&cache, &kms, &a, 1), (LeaseSource::Hit, k1.clone()));
    assert_eq!(kms.calls(), 3);
    // Up to the last nanosecond of its age the key serves; then the outage shows.
    clock.set(max_age - Duration::from_nanos(1));
    assert_eq!(take(&cache, &kms, &a, 1), (LeaseSource::Hit, k1));
    clock.set(max_age);
    match cache.get_or_fetch(&seal_key(&a), 1, fetcher(&kms, &a)) {
        Err(Error::Kms(e)) => assert_eq!(e.kind(), KmsErrorKind::Transport),
        other => panic!("expected a transport error, got {other:?}"),
    }
    kms.set_failure(None);
    assert_eq!(take(&cache, &kms, &a, 1).0, LeaseSource::Fetched);
}

#[test]
fn disabled_cache_calls_kms_for_every_fragment() {
    let (cache, _clock, kms) = setup(CacheLimits::disabled());
    let a = cred("A");
    for _ in 0..5 {
        assert_eq!(take(&cache, &kms, &a, 1).0, LeaseSource::Uncached);
    }
    assert_eq!(kms.calls(), 5);
    assert!(cache.is_empty().unwrap());
    assert_eq!(cache.stats(&a).unwrap().misses, 5);
}

#[test]
fn concurrent_mixed_use_never_exceeds_the_fragment_limit() {
    // 8 threads × 200 lookups on 2 credentials with 7 fragments per key: every key must serve
    // at most 7 fragments, counted by the ciphertext blob that identifies it.
    let (cache, _clock, kms) = setup(CacheLimits::default().with_max_fragments(7));
    let creds = [cred("A"), cred("B")];
    let seen = Mutex::new(std::collections::HashMap::<Vec<u8>, usize>::new());
    thread::scope(|s| {
        for t in 0..8 {
            let (cache, kms, creds, seen) = (&cache, &kms, &creds, &seen);
            s.spawn(move || {
                for i in 0..200 {
                    let c = &creds[(t + i) % 2];
                    let (_, k) = take(cache, kms, c, 1);
                    *seen.lock().unwrap().entry(k).or_default() += 1;
                }
            });
        }
    });
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.values().sum::<usize>(), 1600);
    assert!(seen.values().all(|&n| n <= 7), "{seen:?}");
    assert!(seen.len() <= kms.calls());
}

#[test]
fn many_threads_past_the_refresh_point_make_one_refresh_call() {
    let (cache, clock, kms) = setup(CacheLimits::default().with_refresh_ahead(0.5));
    let a = cred("A");
    let (_, k1) = take(&cache, &kms, &a, 1);
    clock.advance(Duration::from_secs(200)); // past 50% of 5 minutes
    kms.set_delay(Duration::from_millis(30));
    let barrier = Barrier::new(16);
    let sources: Vec<LeaseSource> = thread::scope(|s| {
        let hs: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    (0..20)
                        .map(|_| take(&cache, &kms, &a, 1).0)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(kms.calls(), 2, "one initial fetch and one refresh");
    assert!(
        sources.iter().all(|s| *s == LeaseSource::Hit),
        "nobody waited"
    );
    assert_eq!(cache.stats(&a).unwrap().refreshes, 1);
    assert_ne!(take(&cache, &kms, &a, 1).1, k1);
}

#[test]
fn a_refresh_ticket_completes_elsewhere_while_the_entry_keeps_serving() {
    let (cache, clock, kms) = setup(CacheLimits::default().with_refresh_ahead(0.5));
    let a = cred("A");
    let (_, k1) = take(&cache, &kms, &a, 1);
    clock.advance(Duration::from_secs(200));
    let mut tickets = Vec::new();
    let lease = cache
        .get_or_fetch_with_refresh(
            &seal_key(&a),
            1,
            || -> Result<DataKeyMaterial, KmsError> { panic!("not a miss") },
            |t: Refresh| tickets.push(t),
        )
        .unwrap();
    // The caller got the valid key at once; the refresh is pending in the ticket.
    assert_eq!(
        (lease.source(), blob(lease.material())),
        (LeaseSource::Hit, &k1[..])
    );
    assert_eq!(tickets.len(), 1);
    assert_eq!(kms.calls(), 1);
    for _ in 0..5 {
        let l = cache
            .get_or_fetch_with_refresh(
                &seal_key(&a),
                1,
                || -> Result<DataKeyMaterial, KmsError> { panic!("not a miss") },
                |_t: Refresh| panic!("a second refresh while one is pending"),
            )
            .unwrap();
        assert_eq!(blob(l.material()), &k1[..]);
    }
    // Completed from another thread.
    let ticket = tickets.pop().unwrap();
    let a2 = a.clone();
    let kms_ref = &kms;
    thread::scope(|s| {
        s.spawn(move || ticket.complete(fetcher(kms_ref, &a2)()));
    });
    let (s, k2) = take(&cache, &kms, &a, 1);
    assert_eq!(s, LeaseSource::Hit);
    assert_ne!(k2, k1);
    assert_eq!(cache.stats(&a).unwrap().refreshes, 1);
}

#[test]
fn a_dropped_refresh_ticket_is_retried_after_the_interval() {
    let (cache, clock, kms) = setup(
        CacheLimits::default()
            .with_refresh_ahead(0.5)
            .with_refresh_retry_interval(Duration::from_secs(10)),
    );
    let a = cred("A");
    let (_, k1) = take(&cache, &kms, &a, 1);
    clock.advance(Duration::from_secs(200));
    let started = AtomicUsize::new(0);
    let lookup = || {
        cache
            .get_or_fetch_with_refresh(
                &seal_key(&a),
                1,
                || -> Result<DataKeyMaterial, KmsError> { panic!("not a miss") },
                |t: Refresh| {
                    started.fetch_add(1, Ordering::SeqCst);
                    drop(t);
                },
            )
            .unwrap()
    };
    assert_eq!(blob(lookup().material()), &k1[..]);
    assert_eq!(started.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(9));
    lookup();
    assert_eq!(
        started.load(Ordering::SeqCst),
        1,
        "not before the retry interval"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(blob(lookup().material()), &k1[..]);
    assert_eq!(started.load(Ordering::SeqCst), 2);
}

#[test]
fn idle_credentials_expired_keys_are_erased_by_unrelated_lookups() {
    let max_age = Duration::from_secs(300);
    let (cache, clock, kms) = setup(
        CacheLimits::default()
            .with_max_age(max_age)
            .with_refresh_ahead(1.0),
    );
    let idle: Vec<Credential> = ["A", "B", "C"].into_iter().map(cred).collect();
    let weak: Vec<_> = idle
        .iter()
        .map(|c| {
            let lease = cache
                .get_or_fetch(&seal_key(c), 1, fetcher(&kms, c))
                .unwrap();
            Arc::downgrade(lease.material())
        })
        .collect();
    let busy = cred("D");
    take(&cache, &kms, &busy, 1);
    assert_eq!(cache.len().unwrap(), 4);
    // The idle streams' keys expire; only the busy credential keeps using the cache, with a
    // fresh key.
    clock.advance(max_age + Duration::from_secs(1));
    take(&cache, &kms, &busy, 1);
    assert_eq!(
        cache.len().unwrap(),
        1,
        "only the busy credential's new key"
    );
    for (c, w) in idle.iter().zip(&weak) {
        assert_eq!(cache.stats(c).unwrap().expirations, 1);
        assert!(
            w.upgrade().is_none(),
            "expired key of an idle credential kept"
        );
    }
    assert_eq!(cache.stats(&busy).unwrap().expirations, 1);
    // Keys that are still valid are not touched by a sweep.
    clock.advance(max_age - Duration::from_secs(1));
    let (s, _) = take(&cache, &kms, &cred("E"), 1);
    assert_eq!(s, LeaseSource::Fetched);
    assert_eq!(cache.len().unwrap(), 2);
    assert_eq!(take(&cache, &kms, &busy, 1).0, LeaseSource::Hit);
}

#[test]
fn uncached_lookups_sweep_expired_entries_too() {
    // Fragments larger than max_bytes are never cached, but their lookups still sweep.
    let (cache, clock, kms) = setup(
        CacheLimits::default()
            .with_max_bytes(100)
            .with_refresh_ahead(1.0),
    );
    let a = cred("A");
    take(&cache, &kms, &a, 1);
    clock.advance(Duration::from_secs(302));
    let (s, _) = take(&cache, &kms, &cred("B"), 101);
    assert_eq!(s, LeaseSource::Uncached);
    assert!(cache.is_empty().unwrap());
    assert_eq!(cache.stats(&a).unwrap().expirations, 1);
}

#[test]
fn released_unused_usage_goes_back_to_the_entry_it_was_reserved_on() {
    let (cache, _clock, kms) = setup(
        CacheLimits::default()
            .with_max_fragments(2)
            .with_max_bytes(100)
            .with_refresh_ahead(1.0),
    );
    let a = cred("A");
    let key = seal_key(&a);
    let first = cache.get_or_fetch(&key, 60, fetcher(&kms, &a)).unwrap();
    let first_key = blob(first.material()).to_vec();
    // Given back, the 60 bytes and the fragment can be used again: two more fragments of 50.
    cache.release_unused(&key, first, 60).unwrap();
    for _ in 0..2 {
        let (s, k) = take(&cache, &kms, &a, 50);
        assert_eq!((s, k), (LeaseSource::Hit, first_key.clone()));
    }
    assert_eq!(take(&cache, &kms, &a, 1).0, LeaseSource::Fetched, "used up");
    assert_eq!(kms.calls(), 2);
    // A lease of a key the entry no longer holds gives nothing back to the new entry.
    let b = cred("B");
    let kb = seal_key(&b);
    let old = cache.get_or_fetch(&kb, 60, fetcher(&kms, &b)).unwrap();
    let (s, _) = take(&cache, &kms, &b, 50);
    assert_eq!(s, LeaseSource::Fetched, "60 + 50 > 100: replaced");
    cache.release_unused(&kb, old, 60).unwrap();
    assert_eq!(take(&cache, &kms, &b, 50).0, LeaseSource::Hit);
    assert_eq!(
        take(&cache, &kms, &b, 1).0,
        LeaseSource::Fetched,
        "2 fragments"
    );
    // An uncached lease has nothing to give back.
    let big = cache.get_or_fetch(&kb, 101, fetcher(&kms, &b)).unwrap();
    assert_eq!(big.source(), LeaseSource::Uncached);
    cache.release_unused(&kb, big, 101).unwrap();
    assert_eq!(cache.len().unwrap(), 2);
}

/// Seals one fragment for `c` under each of `contexts` (throw-away contexts: one entry each).
fn seal_contexts(
    cache: &DataKeyCache,
    kms: &CountingKms,
    c: &Credential,
    contexts: &[EncryptionContext],
) {
    for ec in contexts {
        let key = CacheKey::for_sealing(c, KEY, SUITE, ec);
        cache.get_or_fetch(&key, 1, fetcher(kms, c)).unwrap();
    }
}

fn throwaway_contexts(n: usize) -> Vec<EncryptionContext> {
    (0..n)
        .map(|i| ec().with("throwaway", i.to_string()))
        .collect()
}

/// Issue 11 #7: a co-tenant sealing `capacity` throw-away contexts used to push the victim's
/// entry out of the global LRU.
#[test]
fn noisy_neighbour_cannot_evict_victim_key() {
    let (cache, _clock, kms) = setup(CacheLimits::default());
    let (victim, noisy) = (cred("victim"), cred("noisy"));
    let (_, kv) = take(&cache, &kms, &victim, 1);
    seal_contexts(&cache, &kms, &noisy, &throwaway_contexts(1024));
    assert_eq!(take(&cache, &kms, &victim, 1), (LeaseSource::Hit, kv));
    assert_eq!(cache.stats(&victim).unwrap().evictions, 0);
}

/// Issue 11 #7, the outage promise: the victim's cached key keeps serving through a KMS outage
/// after a noisy neighbour filled the cache.
#[test]
fn victim_survives_kms_outage_under_noisy_neighbour() {
    let (cache, _clock, kms) = setup(CacheLimits::default());
    let (victim, noisy) = (cred("victim"), cred("noisy"));
    let (_, kv) = take(&cache, &kms, &victim, 1);
    seal_contexts(&cache, &kms, &noisy, &throwaway_contexts(1024));
    kms.set_failure(Some(KmsErrorKind::Transport));
    let calls = kms.calls();
    for _ in 0..3 {
        let lease = cache
            .get_or_fetch(&seal_key(&victim), 1, fetcher(&kms, &victim))
            .expect("the victim's cached key serves through the outage");
        assert_eq!(
            (lease.source(), blob(lease.material())),
            (LeaseSource::Hit, &kv[..])
        );
    }
    assert_eq!(kms.calls(), calls, "no KMS call for the victim");
    // The outage is real: a key that is not cached cannot be had.
    let fresh = ec().with("throwaway", "new");
    let key = CacheKey::for_sealing(&noisy, KEY, SUITE, &fresh);
    assert!(matches!(
        cache.get_or_fetch(&key, 1, fetcher(&kms, &noisy)),
        Err(Error::Kms(e)) if e.kind() == KmsErrorKind::Transport
    ));
}

#[test]
fn a_credential_at_its_share_evicts_its_own_least_recently_used_entry() {
    // Capacity 8: a quarter, 2 entries per credential.
    let limits = CacheLimits::default().with_capacity(8);
    assert_eq!(limits.entries_per_credential(), 2);
    let (cache, _clock, kms) = setup(limits);
    let (a, b) = (cred("A"), cred("B"));
    let (_, kb) = take(&cache, &kms, &b, 1);
    let contexts = throwaway_contexts(3);
    seal_contexts(&cache, &kms, &a, &contexts);
    assert_eq!(cache.len().unwrap(), 3, "A holds 2, B 1");
    assert_eq!(cache.stats(&a).unwrap().evictions, 1);
    assert_eq!(cache.stats(&b).unwrap().evictions, 0);
    assert_eq!(take(&cache, &kms, &b, 1), (LeaseSource::Hit, kb));
    // A's oldest entry went; its two newest are still cached.
    let lookup = |ec: &EncryptionContext| {
        let key = CacheKey::for_sealing(&a, KEY, SUITE, ec);
        cache
            .get_or_fetch(&key, 1, fetcher(&kms, &a))
            .unwrap()
            .source()
    };
    assert_eq!(lookup(&contexts[2]), LeaseSource::Hit);
    assert_eq!(lookup(&contexts[1]), LeaseSource::Hit);
    assert_eq!(lookup(&contexts[0]), LeaseSource::Fetched);
    // An explicit share above the capacity counts as the capacity.
    let l = CacheLimits::default()
        .with_capacity(8)
        .with_max_entries_per_credential(100);
    assert_eq!(l.entries_per_credential(), 8);
}

#[test]
fn a_full_cache_evicts_from_the_credential_with_the_most_entries() {
    let limits = CacheLimits::default()
        .with_capacity(4)
        .with_max_entries_per_credential(4);
    let (cache, _clock, kms) = setup(limits);
    let (a, b, c) = (cred("A"), cred("B"), cred("C"));
    // B's entry is the least recently used of all, but A holds the most.
    let (_, kb) = take(&cache, &kms, &b, 1);
    let contexts = throwaway_contexts(3);
    seal_contexts(&cache, &kms, &a, &contexts);
    take(&cache, &kms, &c, 1);
    assert_eq!(cache.len().unwrap(), 4);
    assert_eq!(cache.stats(&a).unwrap().evictions, 1);
    assert_eq!(take(&cache, &kms, &b, 1), (LeaseSource::Hit, kb));
    let key = CacheKey::for_sealing(&a, KEY, SUITE, &contexts[0]);
    let lease = cache.get_or_fetch(&key, 1, fetcher(&kms, &a)).unwrap();
    assert_eq!(
        lease.source(),
        LeaseSource::Fetched,
        "A's oldest was evicted"
    );
}

/// Issue 11 #8: the cache key's hash covers the access key id only, so two credentials that
/// share it collide; the stored key must then compare the whole credential.
#[test]
fn same_access_key_id_different_principal_gets_no_cached_key() {
    let producer = Credential::new(
        "111122223333",
        "arn:aws:iam::111122223333:role/producer",
        "AKIASHARED",
    )
    .unwrap();
    let attacker = Credential::new(
        "111122223333",
        "arn:aws:iam::111122223333:role/attacker",
        "AKIASHARED",
    )
    .unwrap();
    let other_account = Credential::new(
        "444455556666",
        "arn:aws:iam::444455556666:role/producer",
        "AKIASHARED",
    )
    .unwrap();
    let (cache, _clock, kms) = setup(CacheLimits::default());
    let (s, kp) = take(&cache, &kms, &producer, 1);
    assert_eq!(s, LeaseSource::Fetched);
    for c in [&attacker, &other_account] {
        let (s, k) = take(&cache, &kms, c, 1);
        assert_eq!(s, LeaseSource::Fetched, "{c:?} was served another's key");
        assert_ne!(k, kp);
    }
    assert_eq!(take(&cache, &kms, &producer, 1), (LeaseSource::Hit, kp));
    // Opening keys: the same encrypted data key and context, another principal.
    let edk = EncryptedDataKey {
        provider_id: "aws-kms".into(),
        provider_info: KEY.as_bytes().to_vec(),
        ciphertext: vec![7; 16],
    };
    let open = |c: &Credential| {
        let key = CacheKey::for_opening(c, &edk, &EC);
        cache.get_or_fetch(&key, 1, fetcher(&kms, c)).unwrap()
    };
    let first = open(&producer);
    let second = open(&attacker);
    assert_eq!(second.source(), LeaseSource::Fetched);
    assert_ne!(blob(first.material()), blob(second.material()));
    assert_eq!(kms.calls(), 5);
}

/// Issue 10 §6: session credentials rotating (a new access key id every few fragments) must
/// not grow the cache's memory forever; the counters of credentials long gone are dropped.
#[test]
fn rotating_credentials_keep_the_tracked_counters_bounded() {
    for limits in [
        CacheLimits::default(),
        CacheLimits::default().with_capacity(16),
        CacheLimits::disabled(),
    ] {
        let (cache, _clock, kms) = setup(limits);
        let creds: Vec<Credential> = (0..10_000).map(|i| cred(&format!("S{i}"))).collect();
        for c in &creds {
            for _ in 0..3 {
                take(&cache, &kms, c, 1);
            }
        }
        let tracked = cache.tracked_credentials().unwrap();
        let bound = limits.capacity + fragseal::cache::MAX_IDLE_CREDENTIALS;
        assert!(tracked <= bound, "{tracked} > {bound} for {limits:?}");
        assert_eq!(cache.all_stats().unwrap().len(), tracked);
        // The newest credential's counters are intact; the first one's were dropped and read
        // zero (documented in DataKeyCache::stats).
        let last = cache.stats(&creds[9_999]).unwrap();
        assert_eq!(last.hits + last.misses, 3);
        assert_eq!(
            cache.stats(&creds[0]).unwrap(),
            fragseal::cache::CredentialStats::default()
        );
    }
}

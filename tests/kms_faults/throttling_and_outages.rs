//! Throttling bursts, added latency, a total outage in the middle of a batch.

use super::*;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
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

//! Throttling and retries, outages, batches that hand back failures, messages that fail to
//! authenticate.

use super::*;

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

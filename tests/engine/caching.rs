//! The cache through the engine: one KMS call per credential and key, isolation between
//! credentials, single flight, refresh ahead.

use super::*;

/// The KMS error kind of an open whose one trusted key failed on KMS.
fn open_kms_kind<T: std::fmt::Debug>(r: Result<T, OpenError>) -> KmsErrorKind {
    match r {
        Err(OpenError::AllKeysFailed(errors)) if errors.len() == 1 => {
            errors[0].kms().expect("a KMS error").kind()
        }
        other => panic!("expected a KMS error, got {other:?}"),
    }
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

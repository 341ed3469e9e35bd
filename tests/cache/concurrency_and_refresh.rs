//! Threads: single flight, shared errors, panics, refresh ahead, outages, mixed use.

use super::*;

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

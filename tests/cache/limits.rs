//! Hits, and each cached key's limits: age, fragments, bytes; eviction; no copies left
//! behind.

use super::*;

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

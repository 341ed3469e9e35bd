//! Credentials never share entries; a noisy neighbour cannot evict a victim's keys; the
//! tracked counters stay bounded.

use super::*;

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

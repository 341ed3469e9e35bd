//! Unit tests of the cache as a whole (the parts have their own).
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use super::*;
use crate::crypto::DataKey;
use crate::kms::{KmsError, KmsErrorKind};
use crate::KeyringError;

fn assert_send_sync<T: Send + Sync>() {}

fn material() -> DataKeyMaterial {
    let edk = crate::format::EncryptedDataKey {
        provider_id: "test".into(),
        provider_info: b"k".to_vec(),
        ciphertext: vec![1],
    };
    DataKeyMaterial::new(DataKey::from_bytes([1; 32]), vec![edk], "k".into())
}

#[test]
fn cache_types_are_send_sync() {
    assert_send_sync::<DataKeyCache>();
    assert_send_sync::<Lease>();
    assert_send_sync::<DataKeyMaterial>();
}

/// Issue 11 #8 with every hash colliding (a test-only seam): the stored keys alone keep
/// credentials, kinds and contexts apart, through lookups, eviction and give-backs.
#[test]
fn colliding_hashes_never_serve_another_credentials_key() {
    let limits = CacheLimits::default()
        .with_capacity(5)
        .with_max_entries_per_credential(2);
    let mut cache = DataKeyCache::new(limits).unwrap();
    match Arc::get_mut(&mut cache.inner) {
        Some(inner) => inner.colliding = true,
        None => panic!("a new cache's core is not shared"),
    }
    let creds = [
        Credential::new("111122223333", "arn:aws:iam::111122223333:role/a", "AKIA").unwrap(),
        Credential::new("111122223333", "arn:aws:iam::111122223333:role/b", "AKIA").unwrap(),
        Credential::new("444455556666", "arn:aws:iam::444455556666:role/a", "AKIA").unwrap(),
        Credential::new("111122223333", "arn:aws:iam::111122223333:role/a", "AKIB").unwrap(),
    ];
    let ec = crate::EncryptionContext::new();
    let ec2 = crate::EncryptionContext::new().with("k", "v");
    let edk = crate::format::EncryptedDataKey {
        provider_id: "test".into(),
        provider_info: b"k".to_vec(),
        ciphertext: vec![9],
    };
    let mut keys = Vec::new();
    for c in &creds {
        keys.push(CacheKey::for_sealing(c, "k", 1, &ec));
        keys.push(CacheKey::for_opening(c, &edk, &ec2));
    }
    let mut n = 0u8;
    let mut fetch = || {
        n += 1;
        let edk = crate::format::EncryptedDataKey {
            provider_id: "test".into(),
            provider_info: b"k".to_vec(),
            ciphertext: vec![n],
        };
        Ok::<_, KeyringError>(DataKeyMaterial::new(
            DataKey::from_bytes([n; 32]),
            vec![edk],
            "k".into(),
        ))
    };
    // Each key gets its own data key, in one bucket; the cache then holds 5 of the 8.
    let mut ids = Vec::new();
    for k in &keys {
        let lease = cache.get_or_fetch(k, 1, &mut fetch).unwrap();
        assert_eq!(lease.source(), LeaseSource::Fetched, "{k:?}");
        ids.push(lease.material().encrypted_data_keys()[0].ciphertext.clone());
    }
    assert_eq!(cache.len().unwrap(), 5);
    // Whatever is still cached is served to its own key only.
    for (k, id) in keys.iter().zip(&ids) {
        let lease = cache.get_or_fetch(k, 1, &mut fetch).unwrap();
        if lease.source() == LeaseSource::Hit {
            assert_eq!(&lease.material().encrypted_data_keys()[0].ciphertext, id);
        }
        cache.release_unused(k, lease, 1).unwrap();
    }
    assert!(cache.len().unwrap() <= 5);
}

#[test]
fn a_poisoned_lock_fails_closed() {
    let cache = DataKeyCache::new(CacheLimits::default()).unwrap();
    let a = Credential::new("111122223333", "arn:aws:iam::111122223333:role/a", "A").unwrap();
    let ec = crate::EncryptionContext::new();
    let key = CacheKey::for_sealing(&a, "k", 1, &ec);
    let fetch = || Ok::<_, KeyringError>(material());
    assert!(cache.get_or_fetch(&key, 1, fetch).is_ok());
    let _ = std::thread::scope(|s| {
        s.spawn(|| {
            let _guard = cache.inner.state.lock();
            panic!("poison the cache lock");
        })
        .join()
    });
    assert!(matches!(
        cache.get_or_fetch(&key, 1, fetch),
        Err(Error::Internal(_))
    ));
    assert!(matches!(cache.len(), Err(Error::Internal(_))));
    assert!(matches!(cache.stats(&a), Err(Error::Internal(_))));
    assert!(matches!(
        cache.tracked_credentials(),
        Err(Error::Internal(_))
    ));
    assert!(matches!(cache.all_stats(), Err(Error::Internal(_))));
    assert!(matches!(cache.counters(&a), Err(Error::Internal(_))));
}

#[test]
fn sweeps_run_at_most_once_per_interval() {
    let clock = Arc::new(ManualClock::new());
    let max_age = Duration::from_secs(10);
    let limits = CacheLimits::default()
        .with_max_age(max_age)
        .with_refresh_ahead(1.0);
    let cache = DataKeyCache::with_clock(limits, clock.clone()).unwrap();
    let ec = crate::EncryptionContext::new();
    let creds: Vec<Credential> = (0..3)
        .map(|i| {
            Credential::new(
                "111122223333",
                format!("arn:aws:iam::111122223333:role/{i}"),
                format!("K{i}"),
            )
            .unwrap()
        })
        .collect();
    let keys: Vec<CacheKey<'_>> = creds
        .iter()
        .map(|c| CacheKey::for_sealing(c, "k", 1, &ec))
        .collect();
    let fetch = || Ok::<_, KeyringError>(material());
    // t = 0: the first lookup sweeps (nothing to retire); the next sweep is due at 1 s.
    cache.get_or_fetch(&keys[0], 1, fetch).unwrap();
    clock.advance(Duration::from_millis(100));
    cache.get_or_fetch(&keys[1], 1, fetch).unwrap();
    // t = 10 s: key 0 expired; this lookup sweeps it and the next sweep is due at 11 s.
    clock.advance(max_age - Duration::from_millis(100));
    cache.get_or_fetch(&keys[2], 1, fetch).unwrap();
    assert_eq!(cache.len().unwrap(), 2, "key 0 swept");
    // t = 10.5 s: key 1 expired at 10.1 s, but no sweep is due: the lookup scans nothing.
    clock.advance(Duration::from_millis(500));
    cache.get_or_fetch(&keys[2], 1, fetch).unwrap();
    assert_eq!(cache.len().unwrap(), 2, "no sweep before its interval");
    // t = 11 s: the sweep is due and retires key 1.
    clock.advance(Duration::from_millis(500));
    cache.get_or_fetch(&keys[2], 1, fetch).unwrap();
    assert_eq!(cache.len().unwrap(), 1, "key 1 swept");
    assert_eq!(cache.inner.sweep_interval(), SWEEP_INTERVAL);
    let short = CacheLimits::default().with_max_age(Duration::from_millis(20));
    let cache = DataKeyCache::with_clock(short, clock).unwrap();
    assert_eq!(cache.inner.sweep_interval(), Duration::from_millis(20));
}

/// The per-credential bookkeeping (entries, slots, idle credentials) stays exact through
/// installs, hits, share and capacity evictions, expiry, uncached fetches, failed fetches,
/// give-backs, idle trimming and `clear`.
#[test]
fn per_credential_bookkeeping_stays_exact() {
    let clock = Arc::new(ManualClock::new());
    let limits = CacheLimits::default()
        .with_capacity(6)
        .with_max_entries_per_credential(2)
        .with_max_bytes(50)
        .with_max_age(Duration::from_secs(10));
    let cache = DataKeyCache::with_clock(limits, clock.clone()).unwrap();
    let creds: Vec<Credential> = (0..1500)
        .map(|i| {
            Credential::new(
                "111122223333",
                format!("arn:aws:iam::111122223333:role/r{}", i % 7),
                format!("K{i}"),
            )
            .unwrap()
        })
        .collect();
    let ecs: Vec<crate::EncryptionContext> = (0..3)
        .map(|i| crate::EncryptionContext::new().with("s", i.to_string()))
        .collect();
    let check = || cache.inner.lock().unwrap().assert_consistent();
    for (n, c) in creds.iter().enumerate() {
        for (j, ec) in ecs.iter().enumerate() {
            let key = CacheKey::for_sealing(c, "k", 1, ec);
            let bytes = if (n + j) % 11 == 0 { 60 } else { 1 };
            if (n + j) % 13 == 0 {
                let failed = cache.get_or_fetch(&key, bytes, || {
                    Err(KmsError::new(KmsErrorKind::Transport, "down"))
                });
                if let Err(e) = failed {
                    assert!(matches!(e, Error::Kms(_)), "{e:?}");
                }
            } else if let Ok(lease) =
                cache.get_or_fetch(&key, bytes, || Ok::<_, KeyringError>(material()))
            {
                if n % 5 == 0 {
                    cache.release_unused(&key, lease, bytes).unwrap();
                }
            }
            if n < 100 || n % 25 == 0 {
                check();
            }
        }
        if n % 100 == 0 {
            clock.advance(Duration::from_secs(4));
        }
        if n % 499 == 0 {
            cache.clear().unwrap();
            check();
        }
    }
    check();
    assert!(cache.tracked_credentials().unwrap() <= 6 + MAX_IDLE_CREDENTIALS);
}

/// A streamed seal reserves the most it may write and gives back what it did not write: the
/// bytes return to the entry's budget, its fragment does not; another material is not this
/// entry's, and giving back for it changes nothing.
#[test]
fn unused_bytes_go_back_but_the_fragment_stays_counted() {
    // No refresh ahead: an entry is replaced only when a limit is reached.
    let limits = CacheLimits::default()
        .with_max_bytes(100)
        .with_max_fragments(2)
        .with_refresh_ahead(1.0);
    let cache = DataKeyCache::new(limits).unwrap();
    let a = Credential::new("111122223333", "arn:aws:iam::111122223333:role/a", "A").unwrap();
    let ec = crate::EncryptionContext::new();
    let key = CacheKey::for_sealing(&a, "k", 1, &ec);
    let fetch = || Ok::<_, KeyringError>(material());
    let first = cache.get_or_fetch(&key, 90, fetch).unwrap();
    assert_eq!(first.source(), LeaseSource::Fetched);
    cache
        .release_unused_bytes(&key, first.material(), 80)
        .unwrap();
    let other = Arc::new(material());
    cache.release_unused_bytes(&key, &other, 10).unwrap();
    // 10 bytes used: 91 more is over the budget (had the other material's give-back counted,
    // it would fit).
    let second = cache.get_or_fetch(&key, 91, fetch).unwrap();
    assert_eq!(second.source(), LeaseSource::Fetched);
    cache
        .release_unused_bytes(&key, second.material(), 91)
        .unwrap();
    // The new entry has 0 bytes but one fragment: one more fits, a third does not.
    assert_eq!(
        cache.get_or_fetch(&key, 1, fetch).unwrap().source(),
        LeaseSource::Hit
    );
    assert_eq!(
        cache.get_or_fetch(&key, 1, fetch).unwrap().source(),
        LeaseSource::Fetched,
        "the fragments were kept: max_fragments 2 is reached"
    );
}

//! Concurrency under constant eviction, with every counter reconciled.
//!
//! 8 threads seal and open 10,000 small fragments in total for 4 credentials over 8 streams,
//! through an engine whose data-key cache holds only 6 entries (with refresh-ahead off, so
//! every entry's life is visible in the counters), each entry serving at most 4 fragments.
//! Each fragment is opened by a credential other than the one that sealed it, right away, and
//! everything is opened again after the run, in parallel batches (its keys long evicted).
//!
//! Checked: every open equals the original; per credential, `hits + misses` equals the
//! lookups (one per seal and one per open: each message has one encrypted data key), and
//! `kms_calls` equals LocalKms's audit count of `GenerateDataKey` + `Decrypt` for that
//! credential; every successful KMS call installed exactly one entry, and every entry was
//! either evicted, retired at its limit, or is still cached (`Σ kms_calls = Σ evictions +
//! Σ expirations + len`); the cache really was evicting all the time. (`tests/engine_stress.rs`
//! is the throughput variant: 80,000 fragments, a larger cache, fewer KMS calls.)
//!
//! Also through the cache alone: a noisy neighbour's 8 threads churning throw-away contexts
//! never evict the victim's keys, which then serve it through a KMS outage (issue 11 #7).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use bytes::Bytes;
use fragseal::cache::{CacheKey, CacheLimits, DataKeyCache, DataKeyMaterial, LeaseSource};
use fragseal::crypto::DataKey;
use fragseal::engine::{Engine, EngineConfig, OpenRequest, RetryPolicy, SealRequest};
use fragseal::format::EncryptedDataKey;
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::{audit::Operation, LocalKms};
use fragseal::kms::Credential;
use fragseal::kms::{KmsError, KmsErrorKind};
use fragseal::EncryptionContext;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

const ACCOUNT: &str = "111122223333";
const THREADS: usize = 8;
const FRAGMENTS: usize = 10_000;
const CREDENTIALS: usize = 4;
const STREAMS: usize = 8;
const CAPACITY: usize = 6;
const MAX_FRAGMENTS_PER_KEY: u64 = 4;

fn stream_arn(s: usize) -> String {
    format!("arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/cam-{s}/1")
}

struct Sealed {
    sealer: usize,
    opener: usize,
    identity: FragmentIdentity,
    plaintext: Bytes,
    message: Bytes,
}

#[test]
fn eight_threads_constant_eviction_counters_reconcile() {
    let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
    let root =
        Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap();
    let key = kms.create_key(&root, None, "concurrency").unwrap().arn;
    kms.attach_identity_policy(
        &format!("arn:aws:iam::{ACCOUNT}:role/agent"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"*"}]}"#,
    )
    .unwrap();
    let creds: Vec<Credential> = (0..CREDENTIALS)
        .map(|i| {
            Credential::new(
                ACCOUNT,
                format!("arn:aws:sts::{ACCOUNT}:assumed-role/agent/s{i}"),
                format!("ASIAAGENT{i}"),
            )
            .unwrap()
        })
        .collect();
    let root =
        Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap();
    let keyring = KmsKeyring::strict(kms.clone(), &root, &[&key]).unwrap();
    let engine = Engine::new(
        Arc::new(keyring),
        EngineConfig::default()
            .with_frame_length(64)
            .with_retry(RetryPolicy::none())
            .with_cache(
                CacheLimits::default()
                    .with_capacity(CAPACITY)
                    .with_max_fragments(MAX_FRAGMENTS_PER_KEY)
                    .with_refresh_ahead(1.0),
            ),
    )
    .unwrap();

    let sealed = Mutex::new(Vec::with_capacity(FRAGMENTS));
    thread::scope(|s| {
        for t in 0..THREADS {
            let (engine, creds, sealed) = (&engine, &creds, &sealed);
            s.spawn(move || {
                let mut mine = Vec::new();
                for i in 0..FRAGMENTS / THREADS {
                    let n = t * (FRAGMENTS / THREADS) + i;
                    // Runs of a few fragments on one (credential, stream) give hits; 8 threads
                    // over 4 × 8 sealing keys plus the opening keys overflow the 6 slots.
                    let sealer = (n / 6) % CREDENTIALS;
                    let opener = (sealer + 1 + n % (CREDENTIALS - 1)) % CREDENTIALS;
                    let stream = (n / 12 + t) % STREAMS;
                    let len = (n * 37) % 300;
                    let plaintext: Bytes = (0..len).map(|j| ((n * 13) ^ j) as u8).collect();
                    let identity = FragmentIdentity {
                        stream_arn: stream_arn(stream),
                        fragment_number: n as u64,
                        producer_timestamp_ms: 1_700_000_000_000 + n as u64 * 200,
                        track: 1,
                    };
                    let ec =
                        EncryptionContext::new().with("aws:kinesisvideo:arn", stream_arn(stream));
                    let req =
                        SealRequest::new(ec, plaintext.clone()).with_identity(identity.clone());
                    let message = engine.seal(&creds[sealer], &req).unwrap();
                    let opened = engine
                        .open(
                            &creds[opener],
                            &OpenRequest::new(
                                message.clone(),
                                IdentityCheck::Expect(identity.clone()),
                            ),
                        )
                        .unwrap();
                    assert_eq!(opened.plaintext, plaintext, "fragment {n}");
                    mine.push(Sealed {
                        sealer,
                        opener,
                        identity,
                        plaintext,
                        message,
                    });
                }
                sealed.lock().unwrap().extend(mine);
            });
        }
    });
    let sealed = sealed.into_inner().unwrap();
    assert_eq!(sealed.len(), FRAGMENTS);

    // Everything again, long after its keys were evicted: parallel batches, each fragment
    // opened by its sealer this time, results in order.
    let requests: Vec<(Credential, OpenRequest)> = sealed
        .iter()
        .map(|f| {
            (
                creds[f.sealer].clone(),
                OpenRequest::new(f.message.clone(), IdentityCheck::Expect(f.identity.clone())),
            )
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .unwrap();
    let results = pool.install(|| engine.open_batch_mixed(requests));
    assert_eq!(results.len(), FRAGMENTS);
    for (f, r) in sealed.iter().zip(results) {
        assert_eq!(r.unwrap().plaintext, f.plaintext);
    }

    // Counters.
    let mut lookups_expected = [0u64; CREDENTIALS];
    for f in &sealed {
        lookups_expected[f.sealer] += 2; // seal + second-pass open
        lookups_expected[f.opener] += 1; // first open
    }
    let (mut calls, mut evictions, mut expirations, mut hits) = (0, 0, 0, 0);
    for (i, c) in creds.iter().enumerate() {
        let st = engine.stats(c).unwrap();
        assert_eq!(
            st.seal_failures + st.open_failures + st.kms_failures,
            0,
            "{st:?}"
        );
        assert_eq!(
            st.hits + st.misses,
            lookups_expected[i],
            "lookups of {c:?}: {st:?}"
        );
        assert_eq!(
            st.fragments_sealed + st.fragments_opened,
            lookups_expected[i],
            "{st:?}"
        );
        let generate = kms.audit().count(c, Operation::GenerateDataKey);
        let decrypt = kms.audit().count(c, Operation::Decrypt);
        assert_eq!(
            st.kms_calls,
            generate + decrypt,
            "KMS calls of {c:?}: {st:?}"
        );
        // Each miss led a fetch (one KMS call, no retries) or waited for another's.
        assert!(st.kms_calls <= st.misses, "{st:?}");
        assert_eq!(st.refreshes, 0);
        calls += st.kms_calls;
        evictions += st.evictions;
        expirations += st.expirations;
        hits += st.hits;
    }
    let live = engine.cache().len().unwrap() as u64;
    assert!(live <= CAPACITY as u64);
    assert_eq!(
        calls,
        evictions + expirations + live,
        "every fetched key was cached once and left the cache once (or is still there)"
    );
    // The run exercised what it claims: constant eviction, limits reached, and hits.
    let lookups: u64 = lookups_expected.iter().sum();
    eprintln!(
        "lookups {lookups}, hits {hits}, KMS calls {calls}, evictions {evictions}, \
         expirations {expirations}, live {live}"
    );
    assert!(
        evictions > lookups / 10,
        "evictions {evictions} of {lookups} lookups"
    );
    assert!(expirations > 0, "no entry reached its fragment limit");
    assert!(hits > lookups / 10, "hits {hits} of {lookups} lookups");
}

/// Issue 11 #7 under contention: 8 threads of a noisy neighbour seal throw-away contexts (many
/// times the capacity) while the victim keeps sealing on its 2 streams; then KMS goes down.
/// The victim's entries are never evicted, so it is served through the outage.
#[test]
fn noisy_neighbour_threads_never_evict_the_victims_keys() {
    const CAPACITY: usize = 64;
    let cache = DataKeyCache::new(CacheLimits::default().with_capacity(CAPACITY)).unwrap();
    let victim = Credential::new(
        ACCOUNT,
        format!("arn:aws:iam::{ACCOUNT}:role/victim"),
        "AKIAVICTIM",
    )
    .unwrap();
    let noisy = Credential::new(
        ACCOUNT,
        format!("arn:aws:iam::{ACCOUNT}:role/noisy"),
        "AKIANOISY",
    )
    .unwrap();
    let victim_ecs: Vec<EncryptionContext> = (0..2)
        .map(|s| EncryptionContext::new().with("aws:kinesisvideo:arn", stream_arn(s)))
        .collect();
    let next = AtomicU64::new(0);
    let down = AtomicBool::new(false);
    let fetch = || -> Result<DataKeyMaterial, KmsError> {
        if down.load(Ordering::SeqCst) {
            return Err(KmsError::new(KmsErrorKind::Transport, "outage"));
        }
        let n = next.fetch_add(1, Ordering::SeqCst);
        let edk = EncryptedDataKey {
            provider_id: "test".into(),
            provider_info: b"k".to_vec(),
            ciphertext: n.to_be_bytes().to_vec(),
        };
        Ok(DataKeyMaterial::new(
            DataKey::from_bytes([7; 32]),
            vec![edk],
            "k".into(),
        ))
    };
    let id = |l: &fragseal::cache::Lease| l.material().encrypted_data_keys()[0].ciphertext.clone();
    let victim_keys: Vec<Vec<u8>> = victim_ecs
        .iter()
        .map(|ec| {
            let key = CacheKey::for_sealing(&victim, "k", 1, ec);
            id(&cache.get_or_fetch(&key, 1, fetch).unwrap())
        })
        .collect();
    thread::scope(|s| {
        for t in 0..THREADS {
            let (cache, noisy, fetch) = (&cache, &noisy, &fetch);
            s.spawn(move || {
                for i in 0..CAPACITY * 8 {
                    let ec = EncryptionContext::new().with("throwaway", format!("{t}-{i}"));
                    let key = CacheKey::for_sealing(noisy, "k", 1, &ec);
                    cache.get_or_fetch(&key, 1, fetch).unwrap();
                }
            });
        }
        let (cache, victim, fetch) = (&cache, &victim, &fetch);
        let (victim_ecs, victim_keys) = (&victim_ecs, &victim_keys);
        s.spawn(move || {
            for i in 0..2_000 {
                let key = CacheKey::for_sealing(victim, "k", 1, &victim_ecs[i % 2]);
                let lease = cache.get_or_fetch(&key, 1, fetch).unwrap();
                assert_eq!(lease.source(), LeaseSource::Hit, "lookup {i}");
                assert_eq!(id(&lease), victim_keys[i % 2]);
            }
        });
    });
    down.store(true, Ordering::SeqCst);
    for (ec, k) in victim_ecs.iter().zip(&victim_keys) {
        let key = CacheKey::for_sealing(&victim, "k", 1, ec);
        let lease = cache.get_or_fetch(&key, 1, fetch).unwrap();
        assert_eq!((lease.source(), &id(&lease)), (LeaseSource::Hit, k));
    }
    let noisy_stats = cache.stats(&noisy).unwrap();
    assert_eq!(cache.stats(&victim).unwrap().evictions, 0);
    assert!(
        noisy_stats.evictions >= (THREADS * CAPACITY * 8 - CAPACITY) as u64,
        "{noisy_stats:?}"
    );
    assert!(cache.len().unwrap() <= CAPACITY / 4 + 2);
}

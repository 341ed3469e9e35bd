//! Session credentials (issue 13, item 3): a cached key never outlives the session it was
//! fetched for, a refreshed session gets its own entries, the local KMS answers
//! `ExpiredTokenException` for an expired session, and an engine with a credential provider
//! refreshes once and retries once. Time moves on manual clocks; nothing sleeps.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::cache::{self, CacheKey, CacheLimits, DataKeyCache, DataKeyMaterial, LeaseSource};
use fragseal::crypto::{DataKey, SecretBytes};
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::error::{KeyringError, SealError};
use fragseal::identity::IdentityCheck;
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::{self, LocalKms, Operation};
use fragseal::kms::{
    Credential, CredentialProvider, DataKeySpec, Kms, KmsError, KmsErrorKind,
    RefreshingCredentialProvider,
};
use fragseal::EncryptionContext;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ACCOUNT: &str = "111122223333";
const ROLE: &str = "arn:aws:iam::111122223333:role/producer";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/0000-test";

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Session `n` of the producer role, expiring at `t0 + expires_after`.
fn session(n: u32, expires_after: Duration) -> Credential {
    Credential::new(
        ACCOUNT,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/producer/cam-1"),
        format!("ASIASESSION{n:04}"),
    )
    .unwrap()
    .with_expiry(t0() + expires_after)
}

fn material() -> Result<DataKeyMaterial, KmsError> {
    let key = DataKey::try_from(SecretBytes::random(32)).unwrap();
    Ok(DataKeyMaterial::new(key, Vec::new(), KEY.to_owned()))
}

struct Cache {
    clock: Arc<cache::ManualClock>,
    cache: DataKeyCache,
    fetches: AtomicU32,
}

impl Cache {
    fn new(limits: CacheLimits) -> Self {
        let clock = Arc::new(cache::ManualClock::starting_at(t0()));
        let cache = DataKeyCache::with_clock(limits, clock.clone()).unwrap();
        Self {
            clock,
            cache,
            fetches: AtomicU32::new(0),
        }
    }

    fn at(&self, t: Duration) {
        assert!(self.clock.set(t), "clocks only move forward");
    }

    /// One fragment for `c`: where the key came from.
    fn get(&self, c: &Credential, ec: &EncryptionContext) -> LeaseSource {
        let key = CacheKey::for_sealing(c, KEY, 0x0478, ec);
        self.cache
            .get_or_fetch(&key, 10, || {
                self.fetches.fetch_add(1, Ordering::SeqCst);
                material()
            })
            .unwrap()
            .source()
    }

    fn fetches(&self) -> u32 {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn ec(stream: &str) -> EncryptionContext {
    EncryptionContext::new().with("aws:kinesisvideo:arn", stream)
}

#[test]
fn cached_key_never_outlives_its_session() {
    // max_age 5 min, but the session ends 100 s in: the entry's limit is the session's end.
    let c = Cache::new(CacheLimits::default().with_refresh_ahead(1.0));
    let s = session(1, secs(100));
    let e = ec("s");
    assert_eq!(c.get(&s, &e), LeaseSource::Fetched);
    c.at(secs(100) - Duration::from_nanos(1));
    assert_eq!(c.get(&s, &e), LeaseSource::Hit, "still inside the session");
    c.at(secs(100));
    assert_eq!(
        c.get(&s, &e),
        LeaseSource::Uncached,
        "at the expiry: not served, fetched again (and a key for an expired session is not cached)"
    );
    assert_eq!(c.fetches(), 2);
    assert_eq!(c.cache.len().unwrap(), 0);
    // A long-term credential's entry lives its full max_age.
    let long = Credential::new(ACCOUNT, ROLE, "AKIALONGTERM").unwrap();
    assert_eq!(c.get(&long, &e), LeaseSource::Fetched);
    c.at(secs(100 + 299));
    assert_eq!(c.get(&long, &e), LeaseSource::Hit);
}

#[test]
fn idle_session_key_is_erased_within_a_sweep_of_its_expiry() {
    let c = Cache::new(CacheLimits::default());
    let s = session(1, secs(100));
    let other = Credential::new(ACCOUNT, ROLE, "AKIAOTHER").unwrap();
    c.get(&s, &ec("a"));
    c.get(&other, &ec("b"));
    assert_eq!(c.cache.len().unwrap(), 2);
    // Nobody looks the session's key up again; another credential's lookup one sweep
    // interval after the session ended retires it (max_age alone would keep it 200 s more).
    c.at(secs(100) + cache::SWEEP_INTERVAL);
    c.get(&other, &ec("b"));
    assert_eq!(c.cache.len().unwrap(), 1);
    assert_eq!(c.cache.stats(&s).unwrap().expirations, 1);
}

#[test]
fn refreshed_session_gets_its_own_entries() {
    // Keys may live an hour: only the sessions limit them.
    let c = Cache::new(
        CacheLimits::default()
            .with_max_age(secs(3600))
            .with_refresh_ahead(1.0),
    );
    let first = session(1, secs(900));
    let second = session(2, secs(1800));
    let e = ec("s");
    assert_eq!(c.get(&first, &e), LeaseSource::Fetched);
    c.at(secs(850));
    // Same role, same stream, a new session: its own KMS call, never the old session's key.
    assert_eq!(c.get(&second, &e), LeaseSource::Fetched);
    assert_eq!(c.get(&second, &e), LeaseSource::Hit);
    assert_eq!(c.get(&first, &e), LeaseSource::Hit);
    assert_eq!(c.fetches(), 2);
    c.at(secs(900));
    assert_eq!(
        c.get(&second, &e),
        LeaseSource::Hit,
        "the new session goes on"
    );
    assert_eq!(c.fetches(), 2);
}

#[test]
fn a_later_expiry_does_not_extend_an_earlier_key() {
    // Two values with the same access key id and different expiries are two credentials: the
    // later one never revives, or is served, the key fetched under the earlier one.
    let c = Cache::new(CacheLimits::default());
    let early = session(7, secs(60));
    let late = session(7, secs(3600));
    let e = ec("s");
    assert_eq!(c.get(&early, &e), LeaseSource::Fetched);
    assert_eq!(c.get(&late, &e), LeaseSource::Fetched);
    c.at(secs(60));
    assert_eq!(c.get(&early, &e), LeaseSource::Uncached);
    assert_eq!(c.get(&late, &e), LeaseSource::Hit);
    assert_eq!(c.fetches(), 3);
}

#[test]
fn key_fetched_while_the_session_ended_is_not_cached() {
    let c = Cache::new(CacheLimits::default());
    let s = session(1, secs(10));
    let none = EncryptionContext::new();
    let key = CacheKey::for_sealing(&s, KEY, 0x0478, &none);
    c.at(secs(9));
    let lease = c
        .cache
        .get_or_fetch(&key, 1, || {
            // KMS answered just before the session ended; the answer arrives after.
            c.clock.advance(secs(2));
            material()
        })
        .unwrap();
    assert_eq!(lease.source(), LeaseSource::Uncached);
    assert_eq!(c.cache.len().unwrap(), 0);
}

#[test]
fn session_bound_entry_is_not_refreshed_ahead_for_its_age() {
    // Refresh ahead at half of max_age (150 s); the session ends at 200 s.
    let limits = CacheLimits::default().with_refresh_ahead(0.5);
    let c = Cache::new(limits);
    let s = session(1, secs(200));
    let long = Credential::new(ACCOUNT, ROLE, "AKIALONGTERM").unwrap();
    let e = ec("s");
    c.get(&s, &e);
    c.get(&long, &e);
    c.at(secs(160));
    assert_eq!(c.get(&s, &e), LeaseSource::Hit);
    assert_eq!(c.get(&long, &e), LeaseSource::Hit);
    // The long-term credential's entry was refreshed ahead; the session's was not: its
    // replacement would have ended at 200 s too.
    assert_eq!(c.fetches(), 3);
    assert_eq!(c.cache.stats(&s).unwrap().refreshes, 0);
    assert_eq!(c.cache.stats(&long).unwrap().refreshes, 1);
}

/// A local KMS and a cache whose clocks stand at `t0`, the KMS's `kms_ahead` ahead (clock
/// skew: the KMS knows a session is over before the caller does).
struct World {
    kms: Arc<LocalKms>,
    kms_clock: Arc<local::ManualClock>,
    cache_clock: Arc<cache::ManualClock>,
    key: String,
    admin: Credential,
}

impl World {
    fn new() -> Self {
        let kms_clock = Arc::new(local::ManualClock::new(t0()));
        let kms = Arc::new(
            LocalKms::builder("us-east-1", ACCOUNT)
                .clock(kms_clock.clone())
                .build()
                .unwrap(),
        );
        let admin =
            Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAADMIN").unwrap();
        let key = kms.create_key(&admin, None, "sessions").unwrap().arn;
        kms.attach_identity_policy(
            ROLE,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
                "Action":["kms:GenerateDataKey","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}"#,
        )
        .unwrap();
        Self {
            kms,
            kms_clock,
            cache_clock: Arc::new(cache::ManualClock::starting_at(t0())),
            key,
            admin,
        }
    }

    fn advance(&self, by: Duration) {
        self.kms_clock.advance(by);
        self.cache_clock.advance(by);
    }

    fn engine(&self) -> Engine {
        let keyring =
            KmsKeyring::strict(self.kms.clone(), &self.admin, &[self.key.as_str()]).unwrap();
        Engine::with_clock(
            Arc::new(keyring),
            EngineConfig::default(),
            self.cache_clock.clone(),
        )
        .unwrap()
    }

    fn expired_token_events(&self) -> usize {
        self.kms
            .audit()
            .events()
            .iter()
            .filter(|e| {
                e.error
                    .as_ref()
                    .is_some_and(|(code, _)| code == "ExpiredTokenException")
            })
            .count()
    }
}

fn request(stream: &str) -> SealRequest {
    SealRequest::new(ec(stream), vec![7u8; 100])
}

#[test]
fn local_kms_answers_expired_token_and_audits_it() {
    let w = World::new();
    let s = session(1, secs(900));
    let e = ec("s");
    w.kms
        .generate_data_key(&s, &w.key, DataKeySpec::Aes256, &e)
        .unwrap();
    w.advance(secs(900));
    let err = w
        .kms
        .generate_data_key(&s, &w.key, DataKeySpec::Aes256, &e)
        .unwrap_err();
    assert_eq!(err.kind(), KmsErrorKind::ExpiredToken);
    assert_eq!(err.code(), "ExpiredTokenException");
    assert_eq!(
        err.message(),
        "The security token included in the request is expired"
    );
    let last = w.kms.audit().events().pop().unwrap();
    assert_eq!(last.operation, Operation::GenerateDataKey);
    assert_eq!(last.caller, s);
    assert_eq!(w.expired_token_events(), 1);
    // Even a call the policies would allow anyway, and one with a long-term credential
    // still works.
    assert_eq!(
        w.kms.describe_key(&s, &w.key).unwrap_err().kind(),
        KmsErrorKind::ExpiredToken
    );
    w.kms.describe_key(&w.admin, &w.key).unwrap();
}

/// A provider handing out session 1, 2, ... each lasting `lifetime` from `t0 + n × step`.
fn provider(
    lifetime: Duration,
    step: Duration,
) -> (Arc<RefreshingCredentialProvider>, Arc<AtomicU32>) {
    let n = Arc::new(AtomicU32::new(0));
    let m = Arc::clone(&n);
    let p = RefreshingCredentialProvider::new(move || {
        let i = m.fetch_add(1, Ordering::SeqCst);
        Ok(session(i + 1, step * i + lifetime))
    });
    (Arc::new(p), n)
}

#[test]
fn engine_refreshes_once_and_retries_once_on_expired_token() {
    let w = World::new();
    let (p, fetched) = provider(secs(900), secs(900));
    let engine = w.engine().with_credential_provider(p.clone());
    let sealed = engine.seal_current(&request("a")).unwrap();
    assert_eq!(fetched.load(Ordering::SeqCst), 1);
    // The KMS's clock runs 60 s ahead: for it session 1 is over, for the engine not yet.
    w.kms_clock.advance(secs(60));
    w.advance(secs(850));
    let again = engine.seal_current(&request("b")).unwrap();
    assert_eq!(fetched.load(Ordering::SeqCst), 2, "one refresh");
    assert_eq!(
        w.expired_token_events(),
        1,
        "one refused call, then one retry"
    );
    assert_eq!(p.credential().unwrap().access_key_id(), "ASIASESSION0002");
    // Both open for the current session (its own Decrypt calls).
    for m in [sealed, again] {
        engine
            .open_current(&OpenRequest::new(m, IdentityCheck::Skip))
            .unwrap();
    }
}

#[test]
fn engine_retries_only_once() {
    let w = World::new();
    // Every "new" session is already over for the KMS (its clock is an hour ahead).
    let (p, fetched) = provider(secs(900), Duration::ZERO);
    let engine = w.engine().with_credential_provider(p);
    w.kms_clock.advance(secs(3600));
    let err = engine.seal_current(&request("a")).unwrap_err();
    match &err {
        SealError::Keyring(k) => {
            assert_eq!(k.kms().unwrap().kind(), KmsErrorKind::ExpiredToken)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fetched.load(Ordering::SeqCst), 2, "one refresh");
    assert_eq!(
        w.expired_token_events(),
        2,
        "the call and one retry, no more"
    );
}

#[test]
fn engine_refreshes_a_session_it_knows_is_over_without_calling_kms() {
    let w = World::new();
    let (p, fetched) = provider(secs(900), secs(900));
    let engine = w.engine().with_credential_provider(p);
    engine.seal_current(&request("a")).unwrap();
    w.advance(secs(900));
    engine.seal_current(&request("a")).unwrap();
    assert_eq!(fetched.load(Ordering::SeqCst), 2);
    assert_eq!(
        w.expired_token_events(),
        0,
        "no KMS call with the expired session"
    );
}

#[test]
fn expired_token_retires_the_credentials_cached_keys() {
    let w = World::new();
    let s = session(1, secs(900));
    let engine = w.engine();
    engine.seal(&s, &request("a")).unwrap();
    assert_eq!(engine.cache().len().unwrap(), 1);
    // The KMS ends the session early (its clock is ahead): the next miss is refused...
    w.kms_clock.advance(secs(900));
    let err = engine.seal(&s, &request("b")).unwrap_err();
    assert!(
        matches!(&err, SealError::Keyring(k) if k.kms().is_some_and(KmsError::is_expired_token))
    );
    // ...and the session's cached key for stream "a" is not served any more either.
    assert_eq!(engine.cache().len().unwrap(), 0);
    assert!(engine.seal(&s, &request("a")).is_err());
    assert_eq!(w.expired_token_events(), 2);
}

#[test]
fn batch_refreshes_once_and_hands_failures_back() {
    let w = World::new();
    let (p, fetched) = provider(secs(900), secs(900));
    let engine = w.engine().with_credential_provider(p);
    w.kms_clock.advance(secs(900));
    let requests: Vec<_> = (0..8).map(|i| request(&format!("s{i}"))).collect();
    let results = engine.seal_batch_current(requests).unwrap();
    assert_eq!(results.len(), 8);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        fetched.load(Ordering::SeqCst),
        2,
        "one refresh for the whole batch"
    );

    // A provider whose refresh fails: every fragment comes back intact, with the reason.
    let w = World::new();
    let calls = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&calls);
    let failing = RefreshingCredentialProvider::new(move || {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            Ok(session(1, secs(900)))
        } else {
            Err(KmsError::new(
                KmsErrorKind::AccessDenied,
                "sts:AssumeRole denied",
            ))
        }
    });
    let engine = w.engine().with_credential_provider(Arc::new(failing));
    w.kms_clock.advance(secs(900));
    let requests: Vec<_> = (0..3).map(|i| request(&format!("s{i}"))).collect();
    let results = engine.seal_batch_current(requests).unwrap();
    for (i, r) in results.into_iter().enumerate() {
        let f = r.unwrap_err();
        assert_eq!(
            f.request.encryption_context,
            ec(&format!("s{i}")),
            "in order"
        );
        assert_eq!(f.request.plaintext.len(), 100, "intact");
        assert!(
            matches!(&f.error, SealError::Keyring(KeyringError::Kms(e)) if e.kind() == KmsErrorKind::AccessDenied),
            "{:?}",
            f.error
        );
    }
}

#[test]
fn engine_without_a_provider_says_so() {
    let w = World::new();
    let engine = w.engine();
    assert!(engine.credential_provider().is_none());
    let err = engine.current_credential().unwrap_err();
    assert_eq!(err.kind(), KmsErrorKind::UnsupportedOperation);
    let err = engine.seal_batch_current(vec![request("a")]).unwrap_err();
    assert_eq!(err.requests.len(), 1, "the fragment is handed back");
}

//! The KMS bill with the data-key cache (docs/AWS.md, "What a KMS bill looks like"): one hour of
//! a live stream — a 2-second fragment sealed by a producer credential and opened right away by a
//! consumer credential — on a manual clock, counting the KMS calls each side makes.

use fragseal::cache::{CacheLimits, ManualClock};
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::identity::IdentityCheck;
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::LocalKms;
use fragseal::kms::Credential;
use fragseal::EncryptionContext;
use std::sync::Arc;
use std::time::Duration;

const ACCOUNT: &str = "111122223333";

/// (GenerateDataKey calls, Decrypt calls) for one hour of 2-second fragments.
fn one_hour(limits: CacheLimits) -> (u64, u64) {
    let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    let producer =
        Credential::new(ACCOUNT, root.clone(), "AKIDPRODUCER").expect("a valid credential");
    let consumer = Credential::new(ACCOUNT, root, "AKIDCONSUMER").expect("a valid credential");
    let key = kms.create_key(&producer, None, "bill").expect("key").arn;
    let clock = Arc::new(ManualClock::new());
    let config = EngineConfig::default().with_cache(limits);
    let keyring = Arc::new(KmsKeyring::strict(kms, &producer, &[&key]).expect("keyring"));
    let sealer =
        Engine::with_clock(keyring.clone(), config.clone(), clock.clone()).expect("engine");
    let opener = Engine::with_clock(keyring, config, clock.clone()).expect("engine");
    let ec = EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:111122223333:stream/bill/1",
    );
    for _ in 0..1800 {
        let sealed = sealer
            .seal(&producer, &SealRequest::new(ec.clone(), vec![0u8; 64]))
            .expect("seal");
        opener
            .open(&consumer, &OpenRequest::new(sealed, IdentityCheck::Skip))
            .expect("open");
        clock.advance(Duration::from_secs(2));
    }
    let seal_calls = sealer.stats(&producer).expect("stats").kms_calls;
    let open_calls = opener.stats(&consumer).expect("stats").kms_calls;
    // Each credential only ever calls KMS for itself.
    assert_eq!(sealer.stats(&consumer).expect("stats").kms_calls, 0);
    assert_eq!(opener.stats(&producer).expect("stats").kms_calls, 0);
    (seal_calls, open_calls)
}

#[test]
fn one_hour_live_stream_default_limits() {
    let (seal, open) = one_hour(CacheLimits::default());
    println!("default limits: {seal} GenerateDataKey, {open} Decrypt per hour");
    // max_age 5 min with refresh ahead at 95 %: a new data key every 285 s, i.e. 13 per hour
    // (the first at t = 0); the consumer decrypts each data key once, plus at most one refresh
    // per key when its own entry reaches the refresh point while that key is still in use.
    assert_eq!(seal, 13);
    assert!((13..=15).contains(&open), "Decrypt calls: {open}");
}

#[test]
fn one_hour_live_stream_without_refresh_ahead() {
    let limits = CacheLimits::default().with_refresh_ahead(1.0);
    let (seal, open) = one_hour(limits);
    println!("no refresh-ahead: {seal} GenerateDataKey, {open} Decrypt per hour");
    assert_eq!(seal, 12);
    assert_eq!(open, 12);
}

#[test]
fn one_hour_live_stream_fifteen_minute_keys() {
    let (seal, open) = one_hour(CacheLimits::default().with_max_age(Duration::from_secs(900)));
    println!("max_age 15 min: {seal} GenerateDataKey, {open} Decrypt per hour");
    // A new data key every 0.95 × 900 = 855 s: at 0, 855, 1710, 2565 and 3420 s.
    assert_eq!(seal, 5);
    assert!((5..=6).contains(&open), "Decrypt calls: {open}");
}

#[test]
fn one_hour_without_cache_is_one_call_per_fragment() {
    let (seal, open) = one_hour(CacheLimits::disabled());
    assert_eq!((seal, open), (1800, 1800));
}

// ---- Role sessions (issue 13, item 6): 15-minute sessions on both sides. ----

use fragseal::kms::local::{self, Operation};
use fragseal::kms::{CredentialProvider, KmsError, KmsErrorKind, RefreshingCredentialProvider};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

const SESSION: Duration = Duration::from_secs(900);

/// What one side (producer or consumer) spent, per session, in session order.
#[derive(Debug, Default)]
struct SideBill {
    /// Per session (access key id): KMS calls of the side's operation.
    calls: BTreeMap<String, u64>,
    /// Per session: the distinct data keys it used (by encrypted data key).
    keys: BTreeMap<String, BTreeSet<Vec<u8>>>,
    /// Per session: refreshes ahead of its cache entries.
    refreshes: BTreeMap<String, u64>,
}

impl SideBill {
    fn total(&self) -> u64 {
        self.calls.values().sum()
    }
    fn per_session(&self) -> Vec<u64> {
        self.calls.values().copied().collect()
    }
}

/// A role's sessions: each lasts 15 minutes from when it is obtained, except the first, which
/// was obtained `head_start` before the hour began.
fn role_sessions(
    role: &'static str,
    clock: Arc<fragseal::cache::ManualClock>,
    head_start: Duration,
) -> Arc<RefreshingCredentialProvider> {
    use fragseal::cache::Clock;
    let n = std::sync::atomic::AtomicU32::new(0);
    Arc::new(RefreshingCredentialProvider::new(move || {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let now = clock.wall_now();
        let expiry = if i == 0 {
            now + SESSION - head_start
        } else {
            now + SESSION
        };
        Ok(Credential::new(
            ACCOUNT,
            format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/bill"),
            format!("ASIA{}{i:03}", role.to_ascii_uppercase()),
        )
        .map_err(|e| KmsError::new(KmsErrorKind::InvalidRequest, e.to_string()))?
        .with_expiry(expiry))
    }))
}

/// One hour, one fragment every 2 s, sealed by the producer role's current session and opened
/// at once by the consumer role's, whose sessions started `consumer_head_start` earlier.
fn one_hour_with_sessions(consumer_head_start: Duration) -> (SideBill, SideBill) {
    let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let kms_clock = Arc::new(local::ManualClock::new(t0));
    let kms = Arc::new(
        LocalKms::builder("us-east-1", ACCOUNT)
            .clock(kms_clock.clone())
            .audit_capacity(100_000)
            .build()
            .expect("kms"),
    );
    let admin = Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAADMIN")
        .expect("a valid credential");
    let key = kms.create_key(&admin, None, "bill").expect("key").arn;
    for (role, action) in [
        ("producer", "kms:GenerateDataKey"),
        ("consumer", "kms:Decrypt"),
    ] {
        kms.attach_identity_policy(
            &format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
            &format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"{key}"}}]}}"#
            ),
        )
        .expect("policy");
    }
    let clock = Arc::new(fragseal::cache::ManualClock::starting_at(t0));
    let keyring = Arc::new(KmsKeyring::strict(kms.clone(), &admin, &[&key]).expect("keyring"));
    let producer = role_sessions("producer", clock.clone(), Duration::ZERO);
    let consumer = role_sessions("consumer", clock.clone(), consumer_head_start);
    let config = EngineConfig::default();
    let sealer = Engine::with_clock(keyring.clone(), config.clone(), clock.clone())
        .expect("engine")
        .with_credential_provider(producer.clone());
    let opener = Engine::with_clock(keyring, config, clock.clone())
        .expect("engine")
        .with_credential_provider(consumer.clone());
    let ec = EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:111122223333:stream/bill/1",
    );
    let (mut sealed_by, mut opened_by) = (SideBill::default(), SideBill::default());
    // Data key → (the producer session that sealed with it, the last time it did).
    let mut key_owner: BTreeMap<Vec<u8>, (Credential, SystemTime)> = BTreeMap::new();
    for _ in 0..1800 {
        let now = t0 + fragseal::cache::Clock::now(&*clock);
        let sealed = sealer
            .seal_current(&SealRequest::new(ec.clone(), vec![0u8; 64]))
            .expect("seal");
        let p = producer.credential().expect("session");
        let opened = opener
            .open_current(&OpenRequest::new(sealed, IdentityCheck::Skip))
            .expect("open");
        let c = consumer.credential().expect("session");
        // Both sessions were current when used.
        assert!(!p.is_expired_at(now) && !c.is_expired_at(now), "at {now:?}");
        let data_key = opened.header.encrypted_data_key().ciphertext.clone();
        let (owner, last) = key_owner
            .entry(data_key.clone())
            .or_insert_with(|| (p.clone(), now));
        assert_eq!(*owner, p, "a data key is sealed with by one session only");
        *last = now;
        sealed_by
            .keys
            .entry(p.access_key_id().to_owned())
            .or_default()
            .insert(data_key.clone());
        opened_by
            .keys
            .entry(c.access_key_id().to_owned())
            .or_default()
            .insert(data_key);
        clock.advance(Duration::from_secs(2));
        kms_clock.advance(Duration::from_secs(2));
    }
    // No data key outlives the session it was generated for.
    for (owner, last) in key_owner.values() {
        assert!(
            !owner.is_expired_at(*last),
            "{owner:?} used after its expiry"
        );
    }
    for e in kms.audit().events() {
        let Some(expiry) = e.caller.expiry() else {
            continue;
        };
        // Every KMS call of a session was made inside it: no ExpiredTokenException either.
        assert!(e.error.is_none(), "{:?}", e.error);
        assert!(e.event_time < expiry, "{e:?}");
        let side = match e.operation {
            Operation::GenerateDataKey => &mut sealed_by,
            Operation::Decrypt => &mut opened_by,
            other => panic!("unexpected {other:?}"),
        };
        *side
            .calls
            .entry(e.caller.access_key_id().to_owned())
            .or_default() += 1;
    }
    // A session never inherits another session's keys: it made one KMS call of its own for
    // every data key it used — a producer's refresh ahead generates a new key; a consumer's
    // decrypts the same key again, so it counts on top.
    for (side, engine, refresh_is_new_key) in [
        (&mut sealed_by, &sealer, true),
        (&mut opened_by, &opener, false),
    ] {
        for (credential, stats) in engine.all_stats().expect("stats") {
            side.refreshes
                .insert(credential.access_key_id().to_owned(), stats.refreshes);
        }
        for (session, keys) in &side.keys {
            assert_eq!(
                side.calls.get(session).copied().unwrap_or(0),
                keys.len() as u64
                    + if refresh_is_new_key {
                        0
                    } else {
                        side.refreshes.get(session).copied().unwrap_or(0)
                    },
                "{session}"
            );
        }
    }
    (sealed_by, opened_by)
}

#[test]
fn one_hour_with_fifteen_minute_role_sessions() {
    let (producer, consumer) = one_hour_with_sessions(Duration::ZERO);
    println!(
        "15-min sessions, aligned: producer {} sessions {:?} GenerateDataKey = {}; \
         consumer {} sessions {:?} Decrypt = {}",
        producer.calls.len(),
        producer.per_session(),
        producer.total(),
        consumer.calls.len(),
        consumer.per_session(),
        consumer.total()
    );
    // Per 900 s session, keys at 0, 286, 572 and 858 s into it (refresh ahead at 285 s of the
    // 300 s max_age; the fourth lives only until the session ends at 900 s, and is not
    // refreshed ahead for its age).
    assert_eq!(producer.per_session(), [4, 4, 4, 4]);
    // The consumer decrypts each of them once with its own session, plus one refresh ahead of
    // the session's first key, still in use at 286 s when its entry reached 285 s.
    assert_eq!(consumer.per_session(), [5, 5, 5, 5]);
}

#[test]
fn one_hour_with_fifteen_minute_role_sessions_consumer_offset() {
    // The consumer's sessions roll over 7.5 minutes after the producer's.
    let (producer, consumer) = one_hour_with_sessions(Duration::from_secs(450));
    println!(
        "15-min sessions, consumer offset 450 s: producer {} sessions {:?} GenerateDataKey = {}; \
         consumer {} sessions {:?} Decrypt = {}",
        producer.calls.len(),
        producer.per_session(),
        producer.total(),
        consumer.calls.len(),
        consumer.per_session(),
        consumer.total()
    );
    assert_eq!(producer.per_session(), [4, 4, 4, 4]);
    // Five consumer sessions (rollovers at 450, 1350, 2250 and 3150 s): each decrypts every
    // data key it sees with its own session — the key in use at a rollover twice, once per
    // session — plus the refreshes ahead of keys first seen at a producer rollover.
    assert_eq!(consumer.per_session(), [3, 6, 6, 6, 3]);
    assert_eq!(consumer.total(), 24);
}

//! Role sessions that expire during one PutMedia or GetMedia session
//! (`Kvs::put_media_with_provider`, `Kvs::get_media_with_provider`), on manual clocks (no
//! sleep): the media reader (or the GetMedia writer) moves the clocks between fragments.
//! Each fragment is sealed or opened for the provider's current credential, refreshed once on
//! expiry; a provider that cannot refresh fails the next fragment with 4500, and one whose new
//! credential is for another principal is refused (4500), never followed.
#![allow(clippy::unwrap_used, reason = "tests")]

mod kvs_support;

use fragseal::engine::{EngineConfig, RetryPolicy};
use fragseal::kms::local::{Clock, LocalKms, ManualClock, Operation};
use fragseal::kms::RefreshingCredentialProvider;
use fragseal::kms::{Credential, CredentialProvider, KmsError, KmsErrorKind};
use fragseal::kvs::get_media::StartSelector;
use fragseal::kvs::put_media::{PutMediaInput, PutMediaSummary};
use fragseal::kvs::{AckEventType, CreateStreamInput, Kvs, MemoryStore, PutMediaMode, StreamRef};
use kvs_support::*;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A role session's lifetime (STS's minimum `DurationSeconds`).
const SESSION: Duration = Duration::from_secs(900);

/// `n` fragments of known size (each sealed as soon as its Cluster is read), and where the
/// Clusters after the first start.
fn media(n: usize) -> (Vec<u8>, Vec<usize>) {
    let p = parts();
    let mut v = p.ebml.clone();
    v.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
    v.extend_from_slice(&UNKNOWN);
    v.extend_from_slice(&p.head);
    let mut marks = Vec::new();
    for i in 0..n {
        if i > 0 {
            marks.push(v.len());
        }
        let body = retimed(&p.clusters[i % p.clusters.len()], 1000 * i as u64);
        v.extend(element(0x1F43_B675, &body));
    }
    (v, marks)
}

/// Media that moves `clocks` by `step` when the next Cluster starts to be read: with
/// sequential or streamed PutMedia, fragment `i` is sealed at `i × step` (streamed: its data
/// key is leased when its timestamp is read, just after the move).
struct Ticking {
    data: Vec<u8>,
    pos: usize,
    marks: Vec<usize>,
    next: usize,
    clocks: Vec<Arc<ManualClock>>,
    step: Duration,
}

impl Ticking {
    fn new(n: usize, clocks: &[&Arc<ManualClock>], step: Duration) -> Self {
        let (data, marks) = media(n);
        Self {
            data,
            pos: 0,
            marks,
            next: 0,
            clocks: clocks.iter().map(|c| Arc::clone(c)).collect(),
            step,
        }
    }
}

impl Read for Ticking {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.marks.get(self.next) == Some(&self.pos) {
            for c in &self.clocks {
                c.advance(self.step);
            }
            self.next += 1;
        }
        let end = self
            .marks
            .get(self.next)
            .copied()
            .unwrap_or(self.data.len());
        let n = buf.len().min(end - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A session of `role` as `name`, access key `ASIA<NAME><i>`, ending `SESSION` after `now`.
fn role_session(role: &str, name: &str, i: u32, now: std::time::SystemTime) -> Credential {
    Credential::new(
        ACCOUNT,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{name}"),
        format!("ASIA{}{i}", name.to_uppercase()),
    )
    .unwrap()
    .with_expiry(now + SESSION)
}

/// A refreshing provider whose `i`-th fetch is `session(i)` (`Err` from `session`: the STS
/// call failed); the number of fetches so far.
fn provider(
    session: impl Fn(u32) -> Result<Credential, KmsError> + Send + Sync + 'static,
) -> (Arc<dyn CredentialProvider>, Arc<AtomicU32>) {
    let fetches = Arc::new(AtomicU32::new(0));
    let f = Arc::clone(&fetches);
    let p = RefreshingCredentialProvider::new(move || session(f.fetch_add(1, Ordering::SeqCst)));
    (Arc::new(p), fetches)
}

/// A producer's sessions of the role `producer` as `cam`, each fetched at `clock`'s time.
fn cam_sessions(clock: &Arc<ManualClock>) -> (Arc<dyn CredentialProvider>, Arc<AtomicU32>) {
    let c = Arc::clone(clock);
    provider(move |i| Ok(role_session("producer", "cam", i, c.now())))
}

/// A KVS layer with PutMedia in `mode` over `kms`, on `clock`.
fn layer(kms: &Arc<LocalKms>, clock: &Arc<ManualClock>, mode: PutMediaMode) -> Kvs {
    Kvs::builder(Arc::clone(kms), Arc::new(MemoryStore::new()))
        .clock(clock.clone())
        .engine_config(EngineConfig::default().with_retry(RetryPolicy::none()))
        .put_media_mode(mode)
        .build()
        .unwrap()
}

/// A stream `cam` on a customer managed key, and producer and consumer roles.
fn cam_stream(kms: &LocalKms, kvs: &Kvs) -> StreamRef {
    let key = kms.create_key(&root(), None, "cams").unwrap();
    kvs.create_stream(
        &root(),
        &CreateStreamInput::new("cam")
            .with_kms_key_id(&key.arn)
            .with_retention_hours(2),
    )
    .unwrap();
    allow_producer(kms, "producer");
    allow_consumer(kms, "consumer");
    StreamRef::Name("cam".into())
}

fn put(
    kvs: &Kvs,
    p: Arc<dyn CredentialProvider>,
    s: &StreamRef,
    media: Ticking,
) -> (PutMediaSummary, Vec<AckEventType>) {
    let mut acks = Vec::new();
    let summary = kvs
        .put_media_with_provider(p, &PutMediaInput::absolute(s.clone()), media, |a| {
            acks.push(a.event_type);
            Ok(())
        })
        .unwrap();
    (summary, acks)
}

fn persisted(acks: &[AckEventType]) -> usize {
    acks.iter()
        .filter(|a| **a == AckEventType::Persisted)
        .count()
}

#[test]
fn a_producer_whose_session_expires_twice_persists_every_fragment() {
    for mode in ONE_AT_A_TIME {
        // Fragments every 400 s; sessions of 900 s: the first serves fragments 0-2, the second
        // (fetched at 1200 s, when fragment 3 finds the first expired) 3-5, the third 6.
        let w = with_mode(world(), mode);
        let (kvs, s) = (&w.kvs, cam_stream(&w.kms, &w.kvs));
        let (p, fetches) = cam_sessions(&w.clock);
        let media = Ticking::new(7, &[&w.clock], Duration::from_secs(400));
        let (summary, acks) = put(kvs, p, &s, media);
        assert_eq!(summary.failure, None);
        assert_eq!((summary.persisted, persisted(&acks)), (7, 7));
        assert_eq!(fetches.load(Ordering::SeqCst), 3, "one fetch per session");
        assert_eq!(w.kms.audit().count_operation(Operation::GenerateDataKey), 7);
        // Every fragment opens for a consumer.
        let mut out = Vec::new();
        let g = kvs
            .get_media(
                &session("consumer", "viewer"),
                &s,
                &StartSelector::Earliest,
                &mut out,
            )
            .unwrap();
        assert_eq!((g.fragments, g.failure), (7, None));
    }
}

#[test]
fn a_session_refused_as_expired_by_kms_is_refreshed_and_the_fragment_retried() {
    for mode in ONE_AT_A_TIME {
        // The KMS's clock is 300 s ahead of the KVS clock (a server whose clock is offset): the
        // KVS layer still sees the session as valid when KMS refuses it (ExpiredTokenException),
        // so the refresh is the one after the refusal, and the seal is retried once.
        let start = start_time();
        let kms_clock = Arc::new(ManualClock::new(start + Duration::from_secs(300)));
        let kvs_clock = Arc::new(ManualClock::new(start));
        let kms = Arc::new(
            LocalKms::builder(REGION, ACCOUNT)
                .clock(kms_clock.clone())
                .build()
                .unwrap(),
        );
        let kvs = &layer(&kms, &kvs_clock, mode);
        let s = cam_stream(&kms, kvs);
        // STS answers with the server's clock: sessions end 900 s after the KMS's now.
        let (p, fetches) = cam_sessions(&kms_clock);
        let media = Ticking::new(5, &[&kms_clock, &kvs_clock], Duration::from_secs(450));
        let (summary, acks) = put(kvs, p, &s, media);
        assert_eq!(summary.failure, None);
        assert_eq!((summary.persisted, persisted(&acks)), (5, 5));
        // Refused at 900 s and 1800 s (KMS: 1200 s, 2100 s): two refreshes.
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }
}

#[test]
fn a_provider_that_cannot_refresh_fails_the_first_fragment_after_expiry() {
    for mode in ONE_AT_A_TIME {
        let w = with_mode(world(), mode);
        let (kvs, s) = (&w.kvs, cam_stream(&w.kms, &w.kvs));
        let c = Arc::clone(&w.clock);
        let (p, fetches) = provider(move |i| match i {
            0 => Ok(role_session("producer", "cam", 0, c.now())),
            _ => Err(KmsError::new(
                KmsErrorKind::AccessDenied,
                "sts:AssumeRole refused",
            )),
        });
        let media = Ticking::new(5, &[&w.clock], Duration::from_secs(400));
        let (summary, acks) = put(kvs, p, &s, media);
        let failure = summary.failure.unwrap();
        assert_eq!(failure.error_id.id(), 4500);
        assert!(
            failure.message.contains("sts:AssumeRole refused"),
            "{}",
            failure.message
        );
        assert_eq!((summary.persisted, persisted(&acks)), (3, 3));
        assert_eq!(acks.last(), Some(&AckEventType::Error));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        let arn = kvs.describe_stream(&root(), &s).unwrap().stream_arn;
        assert_eq!(kvs.store().fragments(&arn).unwrap().len(), 3);
    }
}

#[test]
fn a_refresh_for_another_principal_is_refused() {
    for mode in ONE_AT_A_TIME {
        // The second "session" is another session name of the same role: kinesisvideo:PutMedia
        // would allow it, but the session was authorized for cam and never changes identity.
        let w = with_mode(world(), mode);
        let (kvs, s) = (&w.kvs, cam_stream(&w.kms, &w.kvs));
        let c = Arc::clone(&w.clock);
        let (p, fetches) = provider(move |i| {
            let name = if i == 0 { "cam" } else { "eve" };
            Ok(role_session("producer", name, i, c.now()))
        });
        let media = Ticking::new(5, &[&w.clock], Duration::from_secs(400));
        let (summary, acks) = put(kvs, p, &s, media);
        let failure = summary.failure.unwrap();
        assert_eq!(failure.error_id.id(), 4500);
        assert!(
            failure.message.contains("never changes identity")
                && failure.message.contains("assumed-role/producer/eve"),
            "{}",
            failure.message
        );
        assert_eq!((summary.persisted, persisted(&acks)), (3, 3));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // KMS never saw the other principal.
        let eve = role_session(
            "producer",
            "eve",
            1,
            start_time() + Duration::from_secs(1200),
        );
        assert_eq!(w.kms.audit().count(&eve, Operation::GenerateDataKey), 0);
        assert_eq!(w.kms.audit().count_operation(Operation::GenerateDataKey), 3);
    }
}

/// GetMedia output that moves `clock` by `step` after each fragment (its tags).
struct TickingOut<'a> {
    out: Vec<u8>,
    clock: &'a ManualClock,
    step: Duration,
}

impl Write for TickingOut<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        if buf.starts_with(&[0x12, 0x54, 0xC3, 0x67]) {
            self.clock.advance(self.step);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_consumer_whose_session_expires_during_get_media_reads_every_fragment() {
    let w = sequential(world());
    let (kvs, s) = (&w.kvs, cam_stream(&w.kms, &w.kvs));
    // Stored by a producer without expiry.
    let (summary, _) = kvs_support::put(
        kvs,
        &session("producer", "cam"),
        &PutMediaInput::absolute(s.clone()),
        &media(4).0,
    );
    assert_eq!(summary.persisted, 4);
    let c = Arc::clone(&w.clock);
    let (p, fetches) = provider(move |i| Ok(role_session("consumer", "viewer", i, c.now())));
    // Fragments written at 0, 1000, 2000, 3000 s: each finds the session expired.
    let mut out = TickingOut {
        out: Vec::new(),
        clock: &w.clock,
        step: Duration::from_secs(1000),
    };
    let g = kvs
        .get_media_with_provider(Arc::clone(&p), &s, &StartSelector::Earliest, &mut out)
        .unwrap();
    assert_eq!((g.fragments, g.failure), (4, None));
    assert_eq!(fetches.load(Ordering::SeqCst), 4);

    // A live session keeps its start and refreshes as it reads on: started at 4000 s (the
    // session of 3000 s has expired: a new one), it reads a fragment persisted at 5000 s
    // (expired again: one more).
    let mut live = kvs
        .start_get_media_with_provider(p, &s, &StartSelector::Now)
        .unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 5);
    assert_eq!(live.read_stored(&mut Vec::new()).unwrap().fragments, 0);
    w.clock.advance(Duration::from_secs(1000));
    let (more, _) = kvs_support::put(
        kvs,
        &session("producer", "cam"),
        &PutMediaInput::absolute(s.clone()),
        &media(1).0,
    );
    assert_eq!(more.persisted, 1);
    let g = live.read_stored(&mut Vec::new()).unwrap();
    assert_eq!((g.fragments, g.failure), (1, None));
    assert_eq!(fetches.load(Ordering::SeqCst), 6);

    // A refresh for another principal ends the read with 4500 in the error tags.
    let c = Arc::clone(&w.clock);
    let (other, _) = provider(move |i| {
        let name = if i == 0 { "viewer" } else { "eve" };
        Ok(role_session("consumer", name, i, c.now()))
    });
    let mut session = kvs
        .start_get_media_with_provider(other, &s, &StartSelector::Earliest)
        .unwrap();
    w.clock.advance(Duration::from_secs(1000));
    let mut bytes = Vec::new();
    let g = session.read_stored(&mut bytes).unwrap();
    let f = g.failure.unwrap();
    assert_eq!((g.fragments, f.error_id.id()), (0, 4500));
    assert!(
        f.message.contains("never changes identity"),
        "{}",
        f.message
    );
}

//! PutMedia's modes (`PutMediaMode`): a fragment sealed as it is read (streamed) is stored,
//! acknowledged and fails exactly as a buffered one — on the ffmpeg sample, a long live
//! stream with unknown-size Clusters read in trickles, and a stream with BlockGroups, Void
//! elements and a block before the Cluster's timestamp. `Auto` streams when the sessions fill
//! the pool, and only when a streamed fragment's reservation fits the cache's byte budget,
//! whose unused part a streamed fragment gives back.
#![allow(clippy::unwrap_used, reason = "tests")]

mod kvs_support;

use fragseal::cache::CacheLimits;
use fragseal::engine::{EngineConfig, RetryPolicy};
use fragseal::kms::local::Operation;
use fragseal::kvs::get_media::StartSelector;
use fragseal::kvs::put_media::{PutMediaInput, PutMediaSummary};
use fragseal::kvs::{Ack, AckEventType, CreateStreamInput, Kvs, PutMediaMode, StreamRef};
use kvs_support::*;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::{Arc, Barrier};

const MODES: [PutMediaMode; 4] = [
    PutMediaMode::Sequential,
    PutMediaMode::Streamed,
    PutMediaMode::Pipelined,
    PutMediaMode::Auto,
];

fn cam() -> StreamRef {
    StreamRef::Name("cam".into())
}

/// What a session did, as a caller sees it.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    persisted: u64,
    failure: Option<u32>,
    /// The acknowledgements without `IDLE` (how often the reader is asked differs).
    acks: Vec<Ack>,
    idle: bool,
    stored: Vec<fragseal::kvs::FragmentMeta>,
    media: Vec<u8>,
}

/// PutMedia of `media` (in 997-byte trickles) in `mode` on a fresh world, after `setup`
/// (which may create the stream itself, returning its key); then GetMedia of it all.
fn run(mode: PutMediaMode, media: &[u8], setup: impl Fn(&World)) -> (Outcome, PutMediaSummary) {
    let w = with_mode(world(), mode);
    setup(&w);
    let arn = w.kvs.describe_stream(&root(), &cam()).unwrap().stream_arn;
    let reader = Trickle {
        data: media,
        chunk: 997,
        block_next: false,
    };
    let mut acks = Vec::new();
    let summary = w
        .kvs
        .put_media(&root(), &PutMediaInput::absolute(cam()), reader, |a| {
            acks.push(a.clone());
            Ok(())
        })
        .unwrap();
    let idle = acks.iter().any(|a| a.event_type == AckEventType::Idle);
    acks.retain(|a| a.event_type != AckEventType::Idle);
    let mut out = Vec::new();
    w.kvs
        .get_media(&root(), &cam(), &StartSelector::Earliest, &mut out)
        .unwrap();
    let outcome = Outcome {
        persisted: summary.persisted,
        failure: summary.failure.as_ref().map(|f| f.error_id.id()),
        acks,
        idle,
        stored: w.store.fragments(&arn).unwrap(),
        media: out,
    };
    (outcome, summary)
}

fn default_stream(w: &World) {
    w.kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam").with_retention_hours(24),
        )
        .unwrap();
}

/// Each fragment's acknowledgements, by its timecode, in order.
fn by_fragment(acks: &[Ack]) -> BTreeMap<Option<u64>, Vec<Ack>> {
    let mut m: BTreeMap<_, Vec<Ack>> = BTreeMap::new();
    for a in acks {
        m.entry(a.fragment_timecode).or_default().push(a.clone());
    }
    m
}

/// Every mode against the sequential one: the same outcome. The pipelined modes interleave
/// one fragment's acknowledgements with the next one's, and may have received fragments
/// after one that fails (never persisted): theirs are compared per fragment, with the same
/// last acknowledgement.
fn same_in_every_mode(media: &[u8], setup: impl Fn(&World) + Copy) -> Outcome {
    let (reference, summary) = run(PutMediaMode::Sequential, media, setup);
    assert_eq!(summary.streamed, 0);
    for mode in MODES {
        let (mut got, summary) = run(mode, media, setup);
        match mode {
            PutMediaMode::Streamed => assert_eq!(summary.streamed, reference.persisted),
            // Those it sealed itself while the pool was busy: how many depends on timing.
            PutMediaMode::Auto => assert!(summary.streamed <= summary.persisted),
            _ => assert_eq!(summary.streamed, 0, "{mode:?}"),
        }
        if matches!(mode, PutMediaMode::Pipelined | PutMediaMode::Auto) {
            let (want, have) = (by_fragment(&reference.acks), by_fragment(&got.acks));
            for (tc, acks) in &want {
                assert_eq!(have.get(tc), Some(acks), "{mode:?} fragment {tc:?}");
            }
            if reference.failure.is_none() {
                assert_eq!(have.len(), want.len(), "{mode:?}");
            }
            assert_eq!(got.acks.last(), reference.acks.last(), "{mode:?}");
            got.acks = reference.acks.clone();
        }
        assert_eq!(got, reference, "{mode:?}");
    }
    reference
}

#[test]
fn a_streamed_fragment_is_stored_and_acknowledged_as_a_buffered_one() {
    // The ffmpeg sample (Clusters of known size).
    let sample = same_in_every_mode(SAMPLE, default_stream);
    assert_eq!(sample.persisted, SAMPLE_CLUSTERS as u64);
    assert!(sample.idle);
    // A live stream as the producer SDK writes it (unknown sizes), 12 fragments.
    let live = same_in_every_mode(&live_stream(12, 1_764_547_000_000, 2000), default_stream);
    assert_eq!(live.persisted, 12);
    let kinds: Vec<AckEventType> = live.acks.iter().take(3).map(|a| a.event_type).collect();
    assert_eq!(
        kinds,
        [
            AckEventType::Buffering,
            AckEventType::Received,
            AckEventType::Persisted
        ]
    );
}

/// A Cluster with a Void and a SimpleBlock before its timestamp, then a BlockGroup (a Block
/// larger than the skeleton keeps, a BlockDuration, a ReferenceBlock) and more SimpleBlocks.
fn grouped_cluster(ts: u64, seed: u8) -> Vec<u8> {
    let block = |tc: i16, flags: u8, len: usize| {
        let mut b = vec![0x81];
        b.extend_from_slice(&tc.to_be_bytes());
        b.push(flags);
        b.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
        b
    };
    let mut body = element(0xEC, &[0; 40]);
    body.extend(element(0xA3, &block(0, 0x80, 5000)));
    body.extend(element(0xE7, &ts.to_be_bytes()));
    let mut group = element(0xA1, &block(40, 0x00, 3000));
    group.extend(element(0x9B, &[25]));
    group.extend(element(0xFB, &(-40i16).to_be_bytes()));
    body.extend(element(0xA0, &group));
    body.extend(element(0xA3, &block(80, 0x00, 7)));
    body
}

fn grouped_stream(n: usize) -> Vec<u8> {
    let p = parts();
    let mut v = p.ebml.clone();
    v.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
    v.extend_from_slice(&UNKNOWN);
    v.extend_from_slice(&p.head);
    for i in 0..n {
        let body = grouped_cluster(1000 * i as u64, i as u8);
        if i % 2 == 0 {
            v.extend(element(0x1F43_B675, &body));
        } else {
            v.extend_from_slice(&[0x1F, 0x43, 0xB6, 0x75]);
            v.extend_from_slice(&UNKNOWN);
            v.extend_from_slice(&body);
        }
    }
    v
}

#[test]
fn block_groups_and_elements_before_the_timestamp_are_streamed_whole() {
    let out = same_in_every_mode(&grouped_stream(4), default_stream);
    assert_eq!(out.persisted, 4);
    // The last SimpleBlock starts at 80 ms and lasts the track's 40 ms; the Block at 40 ms
    // ends earlier (its BlockDuration is 25): the skeleton keeps every timing the whole has.
    assert!(
        out.stored.iter().all(|f| f.duration_ms == 120),
        "{:?}",
        out.stored
    );
    // The media came back whole: every block's payload is in GetMedia's output.
    let c = grouped_cluster(3000, 3);
    assert!(contains(&out.media, &c[c.len() - 3000..]));
}

#[test]
fn a_streamed_fragment_fails_as_a_buffered_one() {
    // The stream's key is disabled: BUFFERING, RECEIVED, then ERROR 4501, nothing stored.
    let disabled = |w: &World| {
        let key = w.kms.create_key(&root(), None, "k").unwrap().arn;
        w.kvs
            .create_stream(
                &root(),
                &CreateStreamInput::new("cam")
                    .with_kms_key_id(&key)
                    .with_retention_hours(24),
            )
            .unwrap();
        w.kms.disable_key(&root(), &key).unwrap();
    };
    let out = same_in_every_mode(&live_stream(3, 0, 1000), disabled);
    assert_eq!((out.persisted, out.failure), (0, Some(4501)));
    let kinds: Vec<AckEventType> = out.acks.iter().map(|a| a.event_type).collect();
    assert_eq!(
        kinds,
        [
            AckEventType::Buffering,
            AckEventType::Received,
            AckEventType::Error
        ]
    );
    assert!(out.acks[2].fragment_number.is_some(), "it was received");

    // Cut inside the third Cluster: two persisted, the third never numbered.
    let mut cut = live_stream(3, 0, 1000);
    cut.truncate(cut.len() - 100);
    let out = same_in_every_mode(&cut, default_stream);
    assert_eq!((out.persisted, out.failure), (2, Some(4006)));
    let error = out.acks.last().unwrap();
    assert_eq!(
        (error.fragment_timecode, error.fragment_number.as_deref()),
        (Some(2000), None)
    );

    // A Cluster without a timestamp.
    let p = parts();
    let mut untimed = p.ebml.clone();
    untimed.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
    untimed.extend_from_slice(&UNKNOWN);
    untimed.extend_from_slice(&p.head);
    let mut body = Vec::new();
    for id in [0xA3u32, 0xA3] {
        body.extend(element(
            id,
            &[0x81, 0, 0, 0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
        ));
    }
    untimed.extend(element(0x1F43_B675, &body));
    let out = same_in_every_mode(&untimed, default_stream);
    assert_eq!((out.persisted, out.failure), (0, Some(4006)));

    // A block that would take the fragment past 50 MB.
    let mut huge = live_stream(1, 0, 1000);
    huge.extend_from_slice(&[0x1F, 0x43, 0xB6, 0x75]);
    huge.extend_from_slice(&UNKNOWN);
    huge.extend(element(0xE7, &1000u64.to_be_bytes()));
    huge.extend_from_slice(&[0xA3, 0x01, 0x00, 0x00, 0x00, 0x03, 0x93, 0x87, 0x00]);
    huge.extend_from_slice(&[0x81, 0, 0, 0x80]);
    let out = same_in_every_mode(&huge, default_stream);
    assert_eq!(out.persisted, 1);
    let error = out.acks.last().unwrap();
    assert_eq!(
        (error.event_type, error.fragment_timecode),
        (AckEventType::Error, Some(1000))
    );
    assert_eq!(
        out.failure,
        Some(4001),
        "MAX_FRAGMENT_SIZE_REACHED: {:?}",
        out.acks
    );
}

/// Media that waits at its first read until every session of the test has started, and at
/// its end until every session has read all of its media: each fragment of each session is
/// then decided while all the sessions run.
struct Gate<'a> {
    data: &'a [u8],
    barrier: &'a Barrier,
    started: bool,
    ended: bool,
}

impl Read for Gate<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.started {
            self.started = true;
            self.barrier.wait();
        }
        if self.data.is_empty() && !self.ended {
            self.ended = true;
            self.barrier.wait();
        }
        self.data.read(buf)
    }
}

/// `sessions` concurrent PutMedia sessions of `media` on a pool of 2 threads, into streams
/// `cam0`, `cam1`, ...
fn concurrent(kvs: &Kvs, sessions: usize, media: &[u8]) -> Vec<PutMediaSummary> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for i in 0..sessions {
        kvs.create_stream(
            &root(),
            &CreateStreamInput::new(format!("cam{i}")).with_retention_hours(1),
        )
        .unwrap();
    }
    let barrier = Barrier::new(sessions);
    std::thread::scope(|t| {
        let handles: Vec<_> = (0..sessions)
            .map(|i| {
                let (pool, barrier) = (&pool, &barrier);
                t.spawn(move || {
                    pool.install(|| {
                        let gate = Gate {
                            data: media,
                            barrier,
                            started: false,
                            ended: false,
                        };
                        let input = PutMediaInput::absolute(StreamRef::Name(format!("cam{i}")));
                        kvs.put_media(&root(), &input, gate, |_| Ok(())).unwrap()
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// A KVS layer over `w`'s KMS and store, PutMedia in `mode`, the engines' cache `cache`.
fn layer(w: &World, mode: PutMediaMode, cache: CacheLimits) -> Kvs {
    Kvs::builder(Arc::clone(&w.kms), Arc::clone(&w.store))
        .clock(w.clock.clone())
        .engine_config(
            EngineConfig::default()
                .with_retry(RetryPolicy::none())
                .with_cache(cache),
        )
        .put_media_mode(mode)
        .build()
        .unwrap()
}

#[test]
fn auto_streams_when_the_sessions_fill_the_pool_and_the_reservation_fits_the_cache() {
    let media = live_stream(5, 0, 1000);
    // Two sessions on two threads: every fragment streamed.
    let kvs = layer(&world(), PutMediaMode::Auto, CacheLimits::default());
    for s in concurrent(&kvs, 2, &media) {
        assert_eq!((s.persisted, s.streamed, s.failure), (5, 5, None));
    }
    // A byte budget below a streamed fragment's 50 MB reservation: buffered, so that the
    // fragments share a key.
    let kvs = layer(
        &world(),
        PutMediaMode::Auto,
        CacheLimits::default().with_max_bytes(10_000_000),
    );
    for s in concurrent(&kvs, 2, &media) {
        assert_eq!((s.persisted, s.streamed), (5, 0));
    }
}

#[test]
fn a_lone_session_streams_only_while_every_pool_thread_seals_one_of_its_fragments() {
    // One of the pool's two threads is held. The session (on the other) seals and persists
    // its first fragment alone (it runs the pool job itself), hands fragments 2 and 3 to the
    // pool and queues 4 behind them, finds no room for 5 and seals it itself as it reads it;
    // at the end it seals 2 to 4 too (nobody else can), and persists all five in order.
    let w = world();
    let kvs = layer(&w, PutMediaMode::Auto, CacheLimits::default());
    kvs.create_stream(
        &root(),
        &CreateStreamInput::new("cam").with_retention_hours(1),
    )
    .unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    pool.spawn(move || {
        held_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    });
    held_rx.recv().unwrap();
    let mut acks = Vec::new();
    let s = pool.install(|| {
        kvs.put_media(
            &root(),
            &PutMediaInput::absolute(cam()),
            &live_stream(5, 0, 1000)[..],
            |a| {
                acks.push(a.clone());
                Ok(())
            },
        )
        .unwrap()
    });
    release_tx.send(()).unwrap();
    assert_eq!((s.persisted, s.streamed, s.failure), (5, 1, None));
    let persisted: Vec<Option<u64>> = acks
        .iter()
        .filter(|a| a.event_type == AckEventType::Persisted)
        .map(|a| a.fragment_timecode)
        .collect();
    assert_eq!(
        persisted,
        (0..5).map(|i| Some(i * 1000)).collect::<Vec<_>>()
    );
    // Without a free thread, a lone session in Pipelined mode waits instead.
    let kvs = layer(&world(), PutMediaMode::Pipelined, CacheLimits::default());
    kvs.create_stream(
        &root(),
        &CreateStreamInput::new("cam").with_retention_hours(1),
    )
    .unwrap();
    let (s, _) = put(
        &kvs,
        &root(),
        &PutMediaInput::absolute(cam()),
        &live_stream(5, 0, 1000),
    );
    assert_eq!((s.persisted, s.streamed), (5, 0));
}

#[test]
fn a_streamed_fragment_gives_back_the_budget_it_did_not_use() {
    // 60 MB of budget per key and 50 MB reserved per streamed fragment: the five fragments
    // share one key only because each gives back what it did not write.
    let w = world();
    let kvs = layer(
        &w,
        PutMediaMode::Streamed,
        CacheLimits::default().with_max_bytes(60_000_000),
    );
    let key = w.kms.create_key(&root(), None, "k").unwrap().arn;
    kvs.create_stream(
        &root(),
        &CreateStreamInput::new("cam")
            .with_kms_key_id(&key)
            .with_retention_hours(1),
    )
    .unwrap();
    let (s, _) = put(
        &kvs,
        &root(),
        &PutMediaInput::absolute(cam()),
        &live_stream(5, 0, 1000),
    );
    assert_eq!((s.persisted, s.streamed), (5, 5));
    assert_eq!(w.kms.audit().count_operation(Operation::GenerateDataKey), 1);
}

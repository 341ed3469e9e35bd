//! PutMedia, GetMedia, ListFragments and GetMediaForFragmentList on real MKV: the ffmpeg
//! sample and a longer live stream with unknown-size clusters.
#![allow(clippy::unwrap_used, reason = "tests")]

mod kvs_support;

use fragseal::kvs::fragments::{FragmentSelector, FragmentSelectorType, ListFragmentsInput};
use fragseal::kvs::get_media::*;
use fragseal::kvs::put_media::PutMediaInput;
use fragseal::kvs::{AckEventType, CreateStreamInput, DirStore, Store, StreamRef};
use fragseal::mkv;
use kvs_support::*;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

fn cam() -> StreamRef {
    StreamRef::Name("cam".into())
}

fn stream(w: &World) -> String {
    w.kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam").with_retention_hours(24),
        )
        .unwrap()
}

fn get(w: &World, sel: StartSelector) -> (GetMediaSummary, Vec<u8>) {
    let mut out = Vec::new();
    let s = w.kvs.get_media(&root(), &cam(), &sel, &mut out).unwrap();
    (s, out)
}

fn tag_map(doc: &[u8]) -> BTreeMap<String, String> {
    read_tags(doc).into_iter().collect()
}

#[test]
fn put_media_makes_one_fragment_per_cluster_with_buffering_received_persisted_acks() {
    let w = world();
    stream(&w);
    let (s, acks) = put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
    assert_eq!(s.persisted, SAMPLE_CLUSTERS as u64);
    let one = [
        AckEventType::Buffering,
        AckEventType::Received,
        AckEventType::Persisted,
    ];
    // Pipelined: each fragment's acknowledgements in KVS's order, PERSISTED in fragment
    // order (fragment N+1 may start arriving before N is persisted).
    let of = |tc: u64| -> Vec<AckEventType> {
        acks.iter()
            .filter(|a| a.fragment_timecode == Some(tc))
            .map(|a| a.event_type)
            .collect()
    };
    for tc in [0, 1000, 2000, 3000, 4000] {
        assert_eq!(of(tc), one, "fragment at {tc} ms");
    }
    assert_eq!(acks.len(), 3 * SAMPLE_CLUSTERS);
    // Sequential: strictly one fragment after the other.
    let seq = sequential(world());
    seq.kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam").with_retention_hours(24),
        )
        .unwrap();
    let (_, seq_acks) = put(&seq.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
    let kinds: Vec<AckEventType> = seq_acks.iter().map(|a| a.event_type).collect();
    assert_eq!(kinds, one.repeat(SAMPLE_CLUSTERS));
    // FragmentTimecode is the Cluster's timecode (ffprobe: key frames at 0, 1000, ... ms).
    let tcs: Vec<u64> = acks
        .iter()
        .filter(|a| a.event_type == AckEventType::Persisted)
        .map(|a| a.fragment_timecode.unwrap())
        .collect();
    assert_eq!(tcs, vec![0, 1000, 2000, 3000, 4000]);
    for a in acks
        .iter()
        .filter(|a| a.event_type != AckEventType::Buffering)
    {
        assert!(a.fragment_number.is_some());
        assert_eq!(a.error_id, None);
    }
}

#[test]
fn fragment_numbers_are_increasing_decimal_strings() {
    let w = world();
    stream(&w);
    let mut numbers = Vec::new();
    for _ in 0..2 {
        let (_, acks) = put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
        numbers.extend(
            acks.into_iter()
                .filter(|a| a.event_type == AckEventType::Persisted)
                .map(|a| a.fragment_number.unwrap()),
        );
    }
    assert_eq!(numbers.len(), 2 * SAMPLE_CLUSTERS);
    for n in &numbers {
        assert!(n.bytes().all(|b| b.is_ascii_digit()), "{n}");
    }
    let values: Vec<u128> = numbers.iter().map(|n| n.parse().unwrap()).collect();
    assert!(values.windows(2).all(|p| p[0] < p[1]), "{numbers:?}");
}

#[test]
fn producer_timestamps_follow_fragment_timecode_type_and_a_server_timestamp_is_added() {
    let w = world();
    let arn = stream(&w);
    put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
    w.clock.advance(Duration::from_secs(10));
    let start = 1_700_000_000_000;
    put(
        &w.kvs,
        &root(),
        &PutMediaInput::relative(cam(), start),
        SAMPLE,
    );
    let f = w.store.fragments(&arn).unwrap();
    let producer: Vec<u64> = f.iter().map(|f| f.producer_timestamp_ms).collect();
    assert_eq!(&producer[..5], &[0, 1000, 2000, 3000, 4000]);
    assert_eq!(
        &producer[5..],
        &[
            start,
            start + 1000,
            start + 2000,
            start + 3000,
            start + 4000
        ]
    );
    let t0 = 1_764_547_200_000;
    assert!(f[..5].iter().all(|f| f.server_timestamp_ms == t0));
    assert!(f[5..].iter().all(|f| f.server_timestamp_ms == t0 + 10_000));
}

#[test]
fn get_media_returns_mkv_in_fragment_order_with_kvs_tags() {
    let w = world();
    stream(&w);
    let (_, acks) = put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
    w.clock.advance(Duration::from_millis(1500));
    let (s, out) = get(&w, StartSelector::Earliest);
    assert_eq!(s.failure, None);
    assert_eq!(s.fragments, SAMPLE_CLUSTERS as u64);
    let docs = mkv::split_documents(&out).unwrap();
    assert_eq!(docs.len(), SAMPLE_CLUSTERS);
    let original = mkv::split(SAMPLE).unwrap();
    let numbers: Vec<String> = acks
        .iter()
        .filter(|a| a.event_type == AckEventType::Persisted)
        .map(|a| a.fragment_number.clone().unwrap())
        .collect();
    for (i, d) in docs.iter().enumerate() {
        let [f] = d.fragments() else {
            panic!("one cluster per document")
        };
        // The media is the producer's, byte for byte.
        assert_eq!(f.bytes(), original.fragments()[i].bytes());
        assert_eq!(d.tracks(), original.tracks());
    }
    let all = read_tags(&out);
    let per: Vec<&[(String, String)]> = all.chunks(5).collect();
    assert_eq!(per.len(), SAMPLE_CLUSTERS);
    for (i, tags) in per.iter().enumerate() {
        let m: BTreeMap<_, _> = tags.iter().cloned().collect();
        assert_eq!(m[TAG_FRAGMENT_NUMBER], numbers[i]);
        assert_eq!(m[TAG_CONTINUATION_TOKEN], numbers[i]);
        assert_eq!(m[TAG_SERVER_TIMESTAMP], "1764547200.000");
        assert_eq!(m[TAG_PRODUCER_TIMESTAMP], format!("{i}.000"));
        assert_eq!(m[TAG_MILLIS_BEHIND_NOW], "1500");
    }
}

#[test]
fn get_media_start_selectors() {
    let w = world();
    stream(&w);
    for i in 0..3u64 {
        put(
            &w.kvs,
            &root(),
            &PutMediaInput::relative(cam(), i * 10_000),
            SAMPLE,
        );
        w.clock.advance(Duration::from_secs(10));
    }
    let numbers: Vec<String> = tag_pairs(&get(&w, StartSelector::Earliest).1, TAG_FRAGMENT_NUMBER);
    assert_eq!(numbers.len(), 15);
    let count = |sel| get(&w, sel).0.fragments;
    assert_eq!(count(StartSelector::FragmentNumber(numbers[7].clone())), 8);
    assert_eq!(
        count(StartSelector::ContinuationToken(numbers[7].clone())),
        7
    );
    assert_eq!(count(StartSelector::ServerTimestamp(1_764_547_210_000)), 10);
    assert_eq!(count(StartSelector::ProducerTimestamp(12_000)), 8);
    assert_eq!(count(StartSelector::Now), 0);
    let (s, out) = get(
        &w,
        StartSelector::FragmentNumber("00000000000000000001".into()),
    );
    assert_eq!(s.failure.unwrap().error_id.id(), 4000);
    assert_eq!(tag_map(&out)[TAG_ERROR_ID], "4000");
    assert_eq!(tag_map(&out)[TAG_ERROR_CODE], "FRAGMENT_NOT_FOUND");
    let mut sink = Vec::new();
    let e = w
        .kvs
        .get_media(
            &root(),
            &cam(),
            &StartSelector::ContinuationToken("x".into()),
            &mut sink,
        )
        .unwrap_err();
    assert_eq!(e.code(), "InvalidArgumentException");
}

fn tag_pairs(out: &[u8], name: &str) -> Vec<String> {
    read_tags(out)
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn list_fragments_gives_numbers_timestamps_sizes_and_durations() {
    let w = world();
    stream(&w);
    put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
    let input = |selector, max| ListFragmentsInput {
        stream: cam(),
        max_results: max,
        next_token: None,
        selector,
    };
    let all = w.kvs.list_fragments(&root(), &input(None, None)).unwrap();
    assert_eq!(all.fragments.len(), SAMPLE_CLUSTERS);
    let original = mkv::split(SAMPLE).unwrap();
    for (f, o) in all.fragments.iter().zip(original.fragments()) {
        assert!(
            f.fragment_size_in_bytes > o.bytes().len() as u64,
            "the header is included"
        );
        // 25 fps, 25 frames per cluster: the last frame starts 960 ms after the first and
        // lasts 40 ms.
        assert_eq!(f.fragment_length_in_milliseconds, 1000);
        assert_eq!(f.server_timestamp, 1_764_547_200.0);
    }
    let json = serde_json::to_value(&all).unwrap();
    for k in [
        "FragmentNumber",
        "FragmentSizeInBytes",
        "ProducerTimestamp",
        "ServerTimestamp",
        "FragmentLengthInMilliseconds",
    ] {
        assert!(!json["Fragments"][0][k].is_null(), "{k}");
    }
    let page = w
        .kvs
        .list_fragments(&root(), &input(None, Some(2)))
        .unwrap();
    assert_eq!(page.fragments.len(), 2);
    let rest = w
        .kvs
        .list_fragments(
            &root(),
            &ListFragmentsInput {
                next_token: page.next_token.clone(),
                ..input(None, None)
            },
        )
        .unwrap();
    assert_eq!(rest.fragments.len(), 3);
    let sel = FragmentSelector {
        selector_type: FragmentSelectorType::ProducerTimestamp,
        start_ms: 1000,
        end_ms: 3000,
    };
    assert_eq!(
        w.kvs
            .list_fragments(&root(), &input(Some(sel), None))
            .unwrap()
            .fragments
            .len(),
        3
    );
}

#[test]
fn get_media_for_fragment_list_in_the_given_order_and_4000_for_a_missing_fragment() {
    let w = world();
    stream(&w);
    put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
    let list = w
        .kvs
        .list_fragments(
            &root(),
            &ListFragmentsInput {
                stream: cam(),
                max_results: None,
                next_token: None,
                selector: None,
            },
        )
        .unwrap();
    let n: Vec<String> = list
        .fragments
        .iter()
        .map(|f| f.fragment_number.clone())
        .collect();
    let want = vec![n[3].clone(), n[0].clone()];
    let mut out = Vec::new();
    let s = w
        .kvs
        .get_media_for_fragment_list(&root(), &cam(), &want, &mut out)
        .unwrap();
    assert_eq!(s.fragments, 2);
    assert_eq!(tag_pairs(&out, TAG_FRAGMENT_NUMBER), want);
    // This API's own tag names: server- and producer-side timestamps, no continuation token.
    assert_eq!(tag_pairs(&out, TAG_SERVER_SIDE_TIMESTAMP).len(), 2);
    assert_eq!(tag_pairs(&out, TAG_PRODUCER_SIDE_TIMESTAMP).len(), 2);
    assert!(tag_pairs(&out, TAG_SERVER_TIMESTAMP).is_empty());
    assert!(tag_pairs(&out, TAG_CONTINUATION_TOKEN).is_empty());
    let mut out = Vec::new();
    let s = w
        .kvs
        .get_media_for_fragment_list(
            &root(),
            &cam(),
            &[n[1].clone(), "00000000000000000009".into()],
            &mut out,
        )
        .unwrap();
    assert_eq!(s.fragments, 1);
    assert_eq!(s.failure.unwrap().error_id.id(), 4000);
    // The exception tags name the fragment that failed and the integer code.
    assert_eq!(
        tag_pairs(&out, TAG_FRAGMENT_NUMBER),
        vec![n[1].clone(), "00000000000000000009".to_owned()]
    );
    assert_eq!(
        tag_pairs(&out, TAG_EXCEPTION_ERROR_CODE),
        vec!["4000".to_owned()]
    );
    assert_eq!(
        tag_pairs(&out, TAG_EXCEPTION_MESSAGE),
        vec!["FRAGMENT_NOT_FOUND".to_owned()]
    );
    assert!(tag_pairs(&out, TAG_ERROR_ID).is_empty());
}

/// A reader that hands out `chunk` bytes at a time and says `WouldBlock` between chunks.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
    block_next: bool,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.block_next && !self.data.is_empty() {
            self.block_next = false;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.block_next = true;
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn a_long_live_stream_with_unknown_size_clusters_read_incrementally_with_idle_acks() {
    let w = world();
    let arn = stream(&w);
    let live = live_stream(60, 1_764_547_000_000, 2000);
    assert!(mkv::split(&live)
        .unwrap()
        .fragments()
        .iter()
        .all(|f| !f.size_known()));
    let mut acks = Vec::new();
    let s = w
        .kvs
        .put_media(
            &root(),
            &PutMediaInput::absolute(cam()),
            Trickle {
                data: &live,
                chunk: 997,
                block_next: false,
            },
            |a| {
                acks.push(a.clone());
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(s.failure, None);
    assert_eq!(s.persisted, 60);
    assert!(acks.iter().any(|a| a.event_type == AckEventType::Idle));
    let stored = w.store.fragments(&arn).unwrap();
    let ts: Vec<u64> = stored.iter().map(|f| f.producer_timestamp_ms).collect();
    assert_eq!(
        ts,
        (0..60)
            .map(|i| 1_764_547_000_000 + i * 2000)
            .collect::<Vec<_>>()
    );
    let (g, out) = get(&w, StartSelector::Earliest);
    assert_eq!(g.fragments, 60);
    assert_eq!(mkv::split_documents(&out).unwrap().len(), 60);
}

#[test]
fn invalid_mkv_is_error_4006_and_nothing_of_it_is_persisted() {
    let w = world();
    let arn = stream(&w);
    let mut bad = live_stream(3, 0, 1000);
    // Cut the stream inside the third cluster's block.
    bad.truncate(bad.len() - 100);
    bad.push(0xFF);
    let (s, acks) = put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), &bad[..]);
    let f = s.failure.unwrap();
    assert!([4006, 4000].contains(&f.error_id.id()), "{f:?}");
    let error = acks.last().unwrap();
    assert_eq!(error.event_type, AckEventType::Error);
    assert_eq!(
        error.fragment_number, None,
        "the failed fragment was never numbered"
    );
    assert_eq!(error.fragment_timecode, Some(2000));
    assert_eq!(s.persisted, 2, "the complete fragments before it are kept");
    assert_eq!(w.store.fragments(&arn).unwrap().len(), 2);
}

#[test]
fn only_sealed_bytes_are_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(DirStore::open(dir.path().join("kvs")).unwrap());
    let w = world_with(REGION, ACCOUNT, start_time(), store);
    stream(&w);
    put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
    let p = parts();
    let mut files = Vec::new();
    let mut stack = vec![dir.path().to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(std::fs::read(e.path()).unwrap());
            }
        }
    }
    assert!(files.len() > SAMPLE_CLUSTERS);
    // Any 32-byte window of the media (header or frames) would betray plaintext.
    let mut probes: Vec<&[u8]> = vec![&p.head[..32]];
    for c in &p.clusters {
        for at in (0..c.len() - 32).step_by(c.len() / 7) {
            probes.push(&c[at..at + 32]);
        }
    }
    for f in &files {
        for probe in &probes {
            assert!(!contains(f, probe), "plaintext found at rest");
        }
    }
}

#[test]
fn a_stored_fragment_moved_to_another_number_does_not_open() {
    let w = world();
    let arn = stream(&w);
    put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
    let metas = w.store.fragments(&arn).unwrap();
    let first = w
        .store
        .fragment(&arn, &metas[0].fragment_number)
        .unwrap()
        .unwrap();
    // Swap in fragment 0's sealed bytes under a new number (as a tampered store would).
    let mut moved = first.clone();
    moved.meta.sequence = metas[4].sequence + 1;
    moved.meta.fragment_number = fragseal::kvs::store::fragment_number(moved.meta.sequence);
    w.store.put_fragment(&arn, moved).unwrap();
    let (s, out) = get(&w, StartSelector::Earliest);
    assert_eq!(s.fragments, 5);
    assert_eq!(s.failure.unwrap().error_id.id(), 5000);
    assert_eq!(tag_map(&out)[TAG_ERROR_ID], "5000");
}

/// Disables the stream's key and moves the clock past the cache's key age once the reader
/// has handed out `after` bytes.
struct DisableKeyAt<'a> {
    data: &'a [u8],
    at: usize,
    after: usize,
    world: &'a World,
    key: String,
    done: bool,
}

impl Read for DisableKeyAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.done && self.at >= self.after {
            self.done = true;
            self.world.kms.disable_key(&root(), &self.key).unwrap();
            self.world.clock.advance(Duration::from_secs(301));
        }
        let n = buf.len().min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn a_failed_fragment_is_reported_and_never_half_persisted() {
    // Sequential, so that the key is disabled exactly between fragments 3 and 4.
    let w = sequential(world());
    let key = w.kms.create_key(&root(), None, "k").unwrap().arn;
    let arn = w
        .kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam")
                .with_kms_key_id(&key)
                .with_retention_hours(24),
        )
        .unwrap();
    let live = live_stream(5, 0, 1000);
    // The last Cluster starts where its id does; its 12-byte header completes fragment 3.
    let last = live
        .windows(4)
        .rposition(|w| w == [0x1F, 0x43, 0xB6, 0x75])
        .unwrap();
    let reader = DisableKeyAt {
        data: &live,
        at: 0,
        after: last + 12,
        world: &w,
        key: key.clone(),
        done: false,
    };
    let mut acks = Vec::new();
    let s = w
        .kvs
        .put_media(&root(), &PutMediaInput::absolute(cam()), reader, |a| {
            acks.push(a.clone());
            Ok(())
        })
        .unwrap();
    assert_eq!(s.persisted, 4);
    assert_eq!(s.failure.unwrap().error_id.id(), 4501);
    let error = acks.last().unwrap();
    assert_eq!(error.event_type, AckEventType::Error);
    assert_eq!(error.error_id, Some(4501));
    assert_eq!(error.fragment_timecode, Some(4000));
    // The failed fragment was RECEIVED (numbered) but is not stored, not even in part.
    let failed = error.fragment_number.clone().unwrap();
    let stored = w.store.fragments(&arn).unwrap();
    assert_eq!(stored.len(), 4);
    assert!(stored.iter().all(|f| f.fragment_number != failed));
    assert!(w.store.fragment(&arn, &failed).unwrap().is_none());
}

#[test]
fn put_media_takes_a_stream_name_or_arn_exactly_one() {
    for (name, arn, ok) in [
        (Some("cam"), None, true),
        (
            None,
            Some("arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1"),
            true,
        ),
        (
            Some("cam"),
            Some("arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1"),
            false,
        ),
        (None, None, false),
    ] {
        let r = StreamRef::from_parts(name, arn);
        assert_eq!(r.is_ok(), ok, "{name:?} {arn:?}");
        if let Err(e) = r {
            assert_eq!(e.code(), "InvalidArgumentException");
        }
    }
}

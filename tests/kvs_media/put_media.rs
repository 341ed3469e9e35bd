//! PutMedia: fragments, numbers, timestamps, acks, long live streams, invalid MKV, failed
//! fragments, stream names and ARNs.

use super::*;

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
    for mode in ONE_AT_A_TIME {
        // Sequential or streamed, so that the key is disabled exactly between fragments 3 and 4
        // (a streamed fragment leases its key at its timestamp, after the next Cluster's header).
        let w = with_mode(world(), mode);
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

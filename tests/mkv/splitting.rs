//! Splitting the sample and live streams: fragments as ffprobe sees them, self-contained
//! fragments, unknown sizes, concatenated documents, the timestamp scale.

use super::*;

// What ffprobe 5.1 says about the sample:
//   ffprobe -v error -count_packets -show_entries stream=codec_name,width,height,nb_read_packets
//   ffprobe -v error -select_streams v -show_entries packet=pts,flags,pos -of csv=p=0 | grep K
/// Video packets (frames): `nb_read_packets=125`.
const FFPROBE_PACKETS: u64 = 125;
/// Key-frame packets: (pts in ms with time_base 1/1000, byte position of the packet).
const FFPROBE_KEY_FRAMES: [(u64, usize); 5] = [
    (0, 511),
    (1000, 6839),
    (2000, 12497),
    (3000, 18263),
    (4000, 23852),
];

// ---- The real sample ----

#[test]
fn sample_splits_like_ffprobe_sees_it() {
    let s = mkv::split(SAMPLE).unwrap();
    assert_eq!(s.doc_type(), "matroska");
    assert_eq!(s.timestamp_scale_ns(), 1_000_000);
    assert!(s.segment_size_known());
    assert_eq!(s.tracks().len(), 1);
    assert_eq!(s.tracks()[0].codec_id, "V_MPEG4/ISO/AVC");
    assert_eq!(s.tracks()[0].track_type, 1);
    assert_eq!(s.tracks()[0].number, 1);

    let f = s.fragments();
    assert_eq!(
        f.len(),
        FFPROBE_KEY_FRAMES.len(),
        "one cluster per key frame"
    );
    let total_blocks: u64 = f.iter().map(|x| x.blocks()).sum();
    assert_eq!(total_blocks, FFPROBE_PACKETS);
    for (i, (frag, (pts, pos))) in f.iter().zip(FFPROBE_KEY_FRAMES).enumerate() {
        assert_eq!(frag.index(), i as u64);
        assert_eq!(frag.producer_timestamp_ms(), pts);
        assert_eq!(frag.timestamp(), pts, "scale is 1 ms per tick");
        assert!(frag.starts_with_key_frame());
        assert_eq!(frag.key_frames(), 1);
        assert_eq!(frag.blocks(), 25, "25 fps, one key frame per second");
        assert!(frag.size_known());
        // ffprobe's key-frame packet lies inside this fragment's bytes.
        let range = frag.offset()..frag.offset() + frag.bytes().len();
        assert!(range.contains(&pos), "{pos} not in {range:?}");
        assert_eq!(&frag.bytes()[..4], &[0x1F, 0x43, 0xB6, 0x75]);
    }

    // The init data is everything before the first Cluster, and the Clusters follow each other.
    assert_eq!(s.init_data(), &SAMPLE[..f[0].offset()]);
    assert_eq!(&s.init_data()[..4], &[0x1A, 0x45, 0xDF, 0xA3]);
    let mut expect = f[0].offset();
    for frag in f {
        assert_eq!(frag.offset(), expect);
        assert_eq!(
            frag.bytes(),
            &SAMPLE[frag.offset()..frag.offset() + frag.bytes().len()]
        );
        expect += frag.bytes().len();
    }
    // Only the Cues (and nothing else) follow the last Cluster.
    let (id, hl, size) = header_at(SAMPLE, expect);
    assert_eq!(id, ids::CUES);
    assert_eq!(expect + hl + size.unwrap() as usize, SAMPLE.len());
    assert_eq!(
        s.fragment_bytes(),
        f.iter().map(|x| x.bytes().len() as u64).sum::<u64>()
    );
}

#[test]
fn live_init_data_makes_each_fragment_self_contained() {
    let s = mkv::split(SAMPLE).unwrap();
    let live_init = s.live_init_data();
    let (seg_pos, _) = segment_children(SAMPLE);
    // Same length; only the Segment's 8-byte size field differs, now "unknown".
    assert_eq!(live_init.len(), s.init_data().len());
    assert_eq!(&live_init[..seg_pos + 4], &s.init_data()[..seg_pos + 4]);
    assert_eq!(&live_init[seg_pos + 4..seg_pos + 12], &UNKNOWN_SIZE);
    assert_eq!(&live_init[seg_pos + 12..], &s.init_data()[seg_pos + 12..]);
    for frag in s.fragments() {
        // With the known Segment size, init + one Cluster claims bytes that are absent.
        let mut known = s.init_data().to_vec();
        known.extend_from_slice(frag.bytes());
        assert!(matches!(
            mkv::split(&known).unwrap_err().kind,
            MkvErrorKind::Truncated {
                id: Some(ids::SEGMENT),
                ..
            }
        ));
        let mut one = live_init.clone();
        one.extend_from_slice(frag.bytes());
        let again = mkv::split(&one).unwrap();
        assert_eq!(again.fragments().len(), 1);
        assert_eq!(again.fragments()[0].bytes(), frag.bytes());
        assert_eq!(again.init_data(), &live_init[..]);
        assert_eq!(again.live_init_data(), live_init, "idempotent");
    }
}

#[test]
fn init_data_plus_one_fragment_is_itself_a_playable_stream() {
    // What a consumer reassembles: init data followed by any fragment splits into that fragment.
    let s = mkv::split(SAMPLE).unwrap();
    let live = to_live(SAMPLE, &[]);
    let live_s = mkv::split(&live).unwrap();
    for frag in live_s.fragments() {
        let mut one = live_s.init_data().to_vec();
        one.extend_from_slice(frag.bytes());
        let again = mkv::split(&one).unwrap();
        assert_eq!(again.fragments().len(), 1);
        assert_eq!(
            again.fragments()[0].producer_timestamp_ms(),
            frag.producer_timestamp_ms()
        );
        assert_eq!(again.fragments()[0].bytes(), frag.bytes());
    }
    assert_eq!(s.fragments().len(), live_s.fragments().len());
}

#[test]
fn unknown_size_segment_and_clusters_as_the_kvs_producer_writes_them() {
    let known = mkv::split(SAMPLE).unwrap();
    let live = to_live(SAMPLE, &[]);
    let s = mkv::split(&live).unwrap();
    assert!(!s.segment_size_known());
    assert_eq!(s.fragments().len(), 5);
    for (a, b) in s.fragments().iter().zip(known.fragments()) {
        assert!(!a.size_known());
        assert_eq!(a.producer_timestamp_ms(), b.producer_timestamp_ms());
        assert_eq!(a.blocks(), b.blocks());
        assert!(a.starts_with_key_frame());
        // Same data after the 12-byte header (4-byte id + 8-byte unknown size).
        let (_, hl, _) = header_at(b.bytes(), 0);
        assert_eq!(&a.bytes()[12..], &b.bytes()[hl..]);
    }
    // The last unknown-size Cluster ends at the Cues, not at the end of the input.
    let last = s.fragments().last().unwrap();
    let end = last.offset() + last.bytes().len();
    assert_eq!(header_at(&live, end).0, ids::CUES);

    // KVS fragment metadata: a Tags element after each Cluster ends it and belongs to no fragment.
    let tags = element(ids::TAGS, &element(ids::TAG, &element(ids::TARGETS, &[])));
    let with_tags = to_live(SAMPLE, &tags);
    let t = mkv::split(&with_tags).unwrap();
    assert_eq!(t.fragments().len(), 5);
    for (a, b) in t.fragments().iter().zip(s.fragments()) {
        assert_eq!(a.bytes(), b.bytes());
        assert_eq!(
            header_at(&with_tags, a.offset() + a.bytes().len()).0,
            ids::TAGS
        );
    }
}

#[test]
fn live_stream_cut_after_a_complete_cluster_keeps_every_complete_cluster() {
    // A live recording stopped between two clusters is a valid stream with fewer fragments.
    let live = to_live(SAMPLE, &[]);
    let s = mkv::split(&live).unwrap();
    let third = &s.fragments()[2];
    let cut = &live[..third.offset() + third.bytes().len()];
    let t = mkv::split(cut).unwrap();
    assert_eq!(t.fragments().len(), 3);
    assert_eq!(t.fragments()[2].bytes(), third.bytes());
}

#[test]
fn concatenated_documents_as_get_media_returns_them() {
    let live = to_live(SAMPLE, &[]);
    let s = mkv::split(&live).unwrap();
    let live_init = s.live_init_data();
    // GetMedia style: every fragment is its own document (init data + one Cluster).
    let mut get_media = Vec::new();
    for f in s.fragments() {
        get_media.extend_from_slice(&live_init);
        get_media.extend_from_slice(f.bytes());
    }
    assert_eq!(
        err(&get_media),
        MkvError::new(
            live_init.len() + s.fragments()[0].bytes().len(),
            MkvErrorKind::MultipleSegments
        )
    );
    let docs = mkv::split_documents(&get_media).unwrap();
    assert_eq!(docs.len(), 5);
    let mut at = 0;
    for (doc, f) in docs.iter().zip(s.fragments()) {
        assert_eq!(doc.offset(), at);
        assert_eq!(doc.init_data(), &live_init[..]);
        assert_eq!(doc.fragments().len(), 1);
        let g = &doc.fragments()[0];
        assert_eq!(g.index(), 0, "indexes restart in each document");
        assert_eq!(g.bytes(), f.bytes());
        assert_eq!(g.offset(), at + live_init.len());
        assert_eq!(g.producer_timestamp_ms(), f.producer_timestamp_ms());
        assert_eq!(doc.live_init_data(), live_init);
        at += live_init.len() + f.bytes().len();
    }

    // Two whole files, the first with a known Segment size (and Cues after its Clusters).
    let mut two = SAMPLE.to_vec();
    two.extend_from_slice(&live);
    let docs = mkv::split_documents(&two).unwrap();
    assert_eq!(docs.len(), 2);
    assert!(docs[0].segment_size_known());
    assert!(!docs[1].segment_size_known());
    assert_eq!(docs[1].offset(), SAMPLE.len());
    assert_eq!(docs[0].fragments().len(), 5);
    assert_eq!(docs[1].fragments().len(), 5);
    assert_eq!(
        docs[1].fragments()[4].bytes(),
        s.fragments()[4].bytes(),
        "offsets are in the whole input"
    );
    // One document: the same as split.
    assert_eq!(
        mkv::split_documents(SAMPLE).unwrap(),
        vec![mkv::split(SAMPLE).unwrap()]
    );
    // A malformed second document is reported at its own offset.
    let mut bad = live.clone();
    bad.extend_from_slice(&live[..live_init.len()]);
    assert_eq!(
        mkv::split_documents(&bad).unwrap_err(),
        MkvError::new(bad.len(), MkvErrorKind::MissingCluster)
    );
}

#[test]
fn timestamp_scale_is_applied() {
    // Same stream with TimestampScale = 500,000 ns: cluster ticks are half-milliseconds.
    let (seg_pos, children) = segment_children(SAMPLE);
    let mut body = Vec::new();
    for (_, id, whole, _) in &children {
        if *id == ids::INFO {
            body.extend_from_slice(&element(
                ids::INFO,
                &uint_element(ids::TIMESTAMP_SCALE, 500_000),
            ));
        } else {
            body.extend_from_slice(whole);
        }
    }
    let mut file = SAMPLE[..seg_pos].to_vec();
    file.extend_from_slice(&element(ids::SEGMENT, &body));
    let s = mkv::split(&file).unwrap();
    assert_eq!(s.timestamp_scale_ns(), 500_000);
    let ms: Vec<u64> = s
        .fragments()
        .iter()
        .map(|f| f.producer_timestamp_ms())
        .collect();
    assert_eq!(ms, [0, 500, 1000, 1500, 2000]);
}

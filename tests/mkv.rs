//! The Matroska splitter against a real ffmpeg-made MKV (tests/data/README.md says how it was
//! made), its live/KVS-style rewrite with unknown sizes, and malformed inputs.
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::mkv::{self, ids, Limits, MkvError, MkvErrorKind};
use proptest::prelude::*;

const SAMPLE: &[u8] = include_bytes!("data/testsrc-5s.mkv");

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

// ---- A small EBML writer/walker for building test inputs (trusted bytes: unwrap is fine). ----

const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// (id, header length, data size or None) of the element at `pos`.
fn header_at(b: &[u8], pos: usize) -> (u32, usize, Option<u64>) {
    let first = b[pos];
    let id_len = first.leading_zeros() as usize + 1;
    let id = b[pos..pos + id_len]
        .iter()
        .fold(0u32, |a, x| (a << 8) | u32::from(*x));
    let s = pos + id_len;
    let size_len = b[s].leading_zeros() as usize + 1;
    let raw = b[s..s + size_len]
        .iter()
        .fold(0u64, |a, x| (a << 8) | u64::from(*x));
    let mask = (1u64 << (7 * size_len)) - 1;
    let v = raw & mask;
    (
        id,
        id_len + size_len,
        if v == mask { None } else { Some(v) },
    )
}

fn id_bytes(id: u32) -> Vec<u8> {
    id.to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect()
}

/// An element with an 8-byte size field.
fn element(id: u32, data: &[u8]) -> Vec<u8> {
    let mut v = id_bytes(id);
    v.push(0x01);
    v.extend_from_slice(&(data.len() as u64).to_be_bytes()[1..]);
    v.extend_from_slice(data);
    v
}

fn uint_element(id: u32, value: u64) -> Vec<u8> {
    element(id, &value.to_be_bytes())
}

/// (offset, id, whole element bytes, data bytes) of an element.
type Child<'a> = (usize, u32, &'a [u8], &'a [u8]);

/// The children of the Segment in `file` (a known-size, single-segment file):
/// (offset, id, whole element bytes, data bytes).
fn segment_children(file: &[u8]) -> (usize, Vec<Child<'_>>) {
    let (ebml, ebml_hl, ebml_size) = header_at(file, 0);
    assert_eq!(ebml, ids::EBML);
    let seg_pos = ebml_hl + ebml_size.unwrap() as usize;
    let (seg, seg_hl, seg_size) = header_at(file, seg_pos);
    assert_eq!(seg, ids::SEGMENT);
    let end = seg_pos + seg_hl + seg_size.unwrap() as usize;
    let mut pos = seg_pos + seg_hl;
    let mut out = Vec::new();
    while pos < end {
        let (id, hl, size) = header_at(file, pos);
        let stop = pos + hl + size.unwrap() as usize;
        out.push((pos, id, &file[pos..stop], &file[pos + hl..stop]));
        pos = stop;
    }
    (seg_pos, out)
}

/// Rewrites `file` the way a live producer (the KVS producer SDK, ffmpeg writing to a pipe)
/// writes it: the Segment and every Cluster of unknown size. `between_clusters` is inserted
/// after every Cluster (for example a Tags element, as the KVS SDK writes fragment metadata).
fn to_live(file: &[u8], between_clusters: &[u8]) -> Vec<u8> {
    let (seg_pos, children) = segment_children(file);
    let mut out = file[..seg_pos].to_vec();
    out.extend_from_slice(&id_bytes(ids::SEGMENT));
    out.extend_from_slice(&UNKNOWN_SIZE);
    for (_, id, whole, data) in children {
        if id == ids::CLUSTER {
            out.extend_from_slice(&id_bytes(ids::CLUSTER));
            out.extend_from_slice(&UNKNOWN_SIZE);
            out.extend_from_slice(data);
            out.extend_from_slice(between_clusters);
        } else {
            out.extend_from_slice(whole);
        }
    }
    out
}

fn err(input: &[u8]) -> MkvError {
    mkv::split(input).expect_err("malformed input must be rejected")
}

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

// ---- Malformed inputs: precise errors with offsets ----

#[test]
fn truncated_inside_a_block_of_a_live_stream_names_the_block() {
    let live = to_live(SAMPLE, &[]);
    let s = mkv::split(&live).unwrap();
    let third = &s.fragments()[2];
    // Find the second SimpleBlock of the third cluster and cut 10 bytes into it.
    let mut pos = third.offset() + 12;
    let mut blocks = Vec::new();
    while pos < third.offset() + third.bytes().len() {
        let (id, hl, size) = header_at(&live, pos);
        if id == ids::SIMPLE_BLOCK {
            blocks.push((pos, hl, size.unwrap()));
        }
        pos += hl + size.unwrap() as usize;
    }
    let (block_pos, hl, size) = blocks[1];
    let cut = &live[..block_pos + hl + 10];
    assert_eq!(
        err(cut),
        MkvError::new(
            block_pos,
            MkvErrorKind::Truncated {
                id: Some(ids::SIMPLE_BLOCK),
                needed: size - 10
            }
        )
    );
    assert_eq!(
        err(cut).to_string(),
        format!(
            "malformed MKV at byte {block_pos}: input ends {} byte(s) short inside SimpleBlock (0xA3)",
            size - 10
        )
    );
    // Cut inside the header of the next element.
    let cut = &live[..block_pos + 1];
    assert_eq!(
        err(cut),
        MkvError::new(
            block_pos + 1,
            MkvErrorKind::Truncated {
                id: Some(ids::SIMPLE_BLOCK),
                needed: 1
            }
        )
    );
}

#[test]
fn truncated_file_with_known_segment_size_names_the_segment() {
    let (seg_pos, _) = segment_children(SAMPLE);
    let cut = &SAMPLE[..SAMPLE.len() - 100];
    assert_eq!(
        err(cut),
        MkvError::new(
            seg_pos,
            MkvErrorKind::Truncated {
                id: Some(ids::SEGMENT),
                needed: 100
            }
        )
    );
    for n in [0usize, 1, 3, 20] {
        assert!(matches!(
            err(&SAMPLE[..n]).kind,
            MkvErrorKind::Truncated { .. }
        ));
    }
}

#[test]
fn impossible_sizes() {
    let s = mkv::split(SAMPLE).unwrap();
    let second = &s.fragments()[1];
    let cluster_end = second.offset() + second.bytes().len();
    // The first SimpleBlock of the second cluster claims more than its cluster holds.
    let (_, chl, _) = header_at(SAMPLE, second.offset());
    let mut pos = second.offset() + chl;
    loop {
        let (id, hl, size) = header_at(SAMPLE, pos);
        if id == ids::SIMPLE_BLOCK {
            break;
        }
        pos += hl + size.unwrap() as usize;
    }
    let (_, hl, _) = header_at(SAMPLE, pos);
    let mut bad = SAMPLE.to_vec();
    // Replace the size field (hl - 1 bytes after the 1-byte id) with the largest known size of
    // its width.
    let size_len = hl - 1;
    assert!(size_len >= 2);
    let huge = (1u64 << (7 * size_len)) - 2;
    let mut field = huge.to_be_bytes()[8 - size_len..].to_vec();
    field[0] |= 0x80 >> (size_len - 1);
    bad[pos + 1..pos + hl].copy_from_slice(&field);
    assert_eq!(
        err(&bad),
        MkvError::new(
            pos,
            MkvErrorKind::SizeExceedsParent {
                id: ids::SIMPLE_BLOCK,
                size: huge,
                parent_end: cluster_end
            }
        )
    );
    assert!(err(&bad).to_string().contains("past the end of its parent"));

    // A Cluster claiming 2^32 bytes is over the element size limit.
    let mut bad = to_live(SAMPLE, &[]);
    let first = mkv::split(&bad).unwrap().fragments()[0].offset();
    bad[first + 4..first + 12].copy_from_slice(&[0x01, 0, 0, 0x01, 0, 0, 0, 0]);
    assert_eq!(
        err(&bad),
        MkvError::new(
            first,
            MkvErrorKind::ElementTooLarge {
                id: ids::CLUSTER,
                size: 1 << 32,
                max: Limits::default().max_element_size
            }
        )
    );

    // An unknown size where it is not allowed (the Tracks element).
    let (seg_pos, children) = segment_children(SAMPLE);
    let mut body = Vec::new();
    let mut tracks_at = 0;
    for (_, id, whole, data) in &children {
        if *id == ids::TRACKS {
            tracks_at = seg_pos + 12 + body.len();
            body.extend_from_slice(&id_bytes(ids::TRACKS));
            body.extend_from_slice(&UNKNOWN_SIZE);
            body.extend_from_slice(data);
        } else {
            body.extend_from_slice(whole);
        }
    }
    let mut file = SAMPLE[..seg_pos].to_vec();
    file.extend_from_slice(&element(ids::SEGMENT, &body));
    assert_eq!(
        err(&file),
        MkvError::new(
            tracks_at,
            MkvErrorKind::UnknownSizeNotAllowed { id: ids::TRACKS }
        )
    );
}

#[test]
fn missing_pieces() {
    let s = mkv::split(SAMPLE).unwrap();
    let live = to_live(SAMPLE, &[]);
    let live_s = mkv::split(&live).unwrap();
    let init = live_s.init_data();

    // A live stream cut before its first Cluster: no fragment.
    assert_eq!(
        err(init),
        MkvError::new(init.len(), MkvErrorKind::MissingCluster)
    );
    assert_eq!(
        err(init).to_string(),
        format!(
            "malformed MKV at byte {}: no Cluster in the Segment: nothing to split",
            init.len()
        )
    );

    // No Segment at all.
    let (seg_pos, children) = segment_children(SAMPLE);
    assert_eq!(
        err(&SAMPLE[..seg_pos]),
        MkvError::new(seg_pos, MkvErrorKind::MissingSegment)
    );

    // Not an EBML document.
    assert_eq!(
        err(b"\x1F\x43\xB6\x75\x80").kind,
        MkvErrorKind::NotEbml { id: ids::CLUSTER }
    );
    assert_eq!(
        err(b"RIFF....WAVE").kind,
        MkvErrorKind::NotEbml { id: 0x5249 }
    );
    assert_eq!(
        err(b"\0\0\0\0"),
        MkvError::new(0, MkvErrorKind::InvalidElementId)
    );

    // Another document type.
    let mut other = SAMPLE.to_vec();
    let at = other.windows(8).position(|w| w == b"matroska").unwrap();
    other[at..at + 8].copy_from_slice(b"notmkv\0\0");
    assert_eq!(
        err(&other),
        MkvError::new(0, MkvErrorKind::UnsupportedDocType("notmkv".into()))
    );

    // No Tracks before the first Cluster.
    let body: Vec<u8> = children
        .iter()
        .filter(|c| c.1 != ids::TRACKS)
        .flat_map(|c| c.2.to_vec())
        .collect();
    let mut file = SAMPLE[..seg_pos].to_vec();
    file.extend_from_slice(&element(ids::SEGMENT, &body));
    let e = err(&file);
    assert_eq!(e.kind, MkvErrorKind::MissingTracks);
    assert_eq!(header_at(&file, e.offset).0, ids::CLUSTER);

    // A Cluster without its Timestamp.
    let first = &s.fragments()[0];
    let (_, chl, _) = header_at(first.bytes(), 0);
    let mut data = Vec::new();
    let mut pos = chl;
    while pos < first.bytes().len() {
        let (id, hl, size) = header_at(first.bytes(), pos);
        let stop = pos + hl + size.unwrap() as usize;
        if id != ids::CLUSTER_TIMESTAMP && id != ids::CRC32 {
            data.extend_from_slice(&first.bytes()[pos..stop]);
        }
        pos = stop;
    }
    let mut file = live_s.init_data().to_vec();
    file.extend_from_slice(&element(ids::CLUSTER, &data));
    assert_eq!(
        err(&file),
        MkvError::new(init.len(), MkvErrorKind::MissingClusterTimestamp)
    );
}

#[test]
fn structure_errors() {
    let live = to_live(SAMPLE, &[]);
    // Two live documents back to back.
    let mut two = live.clone();
    two.extend_from_slice(&live);
    assert_eq!(
        err(&two),
        MkvError::new(live.len(), MkvErrorKind::MultipleSegments)
    );
    // Garbage after a Segment of known size.
    let mut trailing = SAMPLE.to_vec();
    trailing.extend_from_slice(&element(ids::CLUSTER, &[]));
    assert_eq!(
        err(&trailing),
        MkvError::new(
            SAMPLE.len(),
            MkvErrorKind::UnexpectedElement {
                id: ids::CLUSTER,
                context: "after the end of the Segment"
            }
        )
    );
    // Void after the Segment is fine.
    let mut void = SAMPLE.to_vec();
    void.extend_from_slice(&[0xEC, 0x82, 0, 0]);
    assert_eq!(mkv::split(&void).unwrap().fragments().len(), 5);

    // Tracks after the first Cluster: the header changed mid-stream.
    let (_, children) = segment_children(SAMPLE);
    let tracks = children.iter().find(|c| c.1 == ids::TRACKS).unwrap().2;
    let mut changed = to_live(SAMPLE, &[]);
    let s = mkv::split(&changed).unwrap();
    let second = s.fragments()[1].offset();
    changed.splice(second..second, tracks.iter().copied());
    assert_eq!(
        err(&changed),
        MkvError::new(second, MkvErrorKind::HeaderAfterCluster { id: ids::TRACKS })
    );

    // Depth limit: Tracks > TrackEntry > Video is depth 3.
    let e = mkv::split_with_limits(
        SAMPLE,
        &Limits {
            max_depth: 2,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        e.kind,
        MkvErrorKind::TooDeep {
            id: ids::VIDEO,
            max: 2
        }
    );

    // Element size limit applies to the measured size of unknown-size Clusters as well.
    let e = mkv::split_with_limits(
        &live,
        &Limits {
            max_element_size: 4096,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(matches!(
        e.kind,
        MkvErrorKind::ElementTooLarge {
            id: ids::CLUSTER,
            max: 4096,
            ..
        }
    ));
    let first_cluster = mkv::split(&live).unwrap().fragments()[0].offset();
    assert_eq!(e.offset, first_cluster);
}

#[test]
fn timestamp_overflow_is_an_error() {
    // TimestampScale = u64::MAX ns and a Cluster at u64::MAX ticks: not representable in ms.
    let (seg_pos, children) = segment_children(SAMPLE);
    let mut file = SAMPLE[..seg_pos].to_vec();
    file.extend_from_slice(&id_bytes(ids::SEGMENT));
    file.extend_from_slice(&UNKNOWN_SIZE);
    for (_, id, whole, _) in children.iter().take_while(|c| c.1 != ids::CLUSTER) {
        if *id == ids::INFO {
            file.extend_from_slice(&element(
                ids::INFO,
                &uint_element(ids::TIMESTAMP_SCALE, u64::MAX),
            ));
        } else {
            file.extend_from_slice(whole);
        }
    }
    let cluster_at = file.len();
    file.extend_from_slice(&element(
        ids::CLUSTER,
        &uint_element(ids::CLUSTER_TIMESTAMP, u64::MAX),
    ));
    assert_eq!(
        err(&file),
        MkvError::new(
            cluster_at,
            MkvErrorKind::TimestampOverflow {
                timestamp: u64::MAX,
                scale_ns: u64::MAX
            }
        )
    );
}

// ---- Never panics ----

fn check_invariants(input: &[u8]) {
    if let Ok(docs) = mkv::split_documents(input) {
        let mut prev_end = 0;
        for d in &docs {
            assert!(d.offset() >= prev_end);
            let last = d.fragments().last().unwrap();
            prev_end = last.offset() + last.bytes().len();
        }
    }
    if let Ok(s) = mkv::split(input) {
        assert!(!s.fragments().is_empty());
        let mut prev_end = s.init_data().len();
        for (i, f) in s.fragments().iter().enumerate() {
            assert_eq!(f.index(), i as u64);
            assert!(f.offset() >= prev_end);
            let end = f.offset() + f.bytes().len();
            assert_eq!(&input[f.offset()..end], f.bytes());
            prev_end = end;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_invariants(&bytes);
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
        live in any::<bool>(),
    ) {
        let base = if live { to_live(SAMPLE, &[]) } else { SAMPLE.to_vec() };
        let init_len = mkv::split(&base).unwrap().init_data().len();
        let mut input = base[..init_len].to_vec();
        input.extend_from_slice(&tail);
        check_invariants(&input);
    }

    #[test]
    fn mutated_sample_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        live in any::<bool>(),
    ) {
        let mut input = if live { to_live(SAMPLE, &[]) } else { SAMPLE.to_vec() };
        for (at, v) in flips {
            let i = at.index(input.len());
            input[i] = v;
        }
        check_invariants(&input);
        let n = cut.index(input.len());
        check_invariants(&input[..n]);
    }
}

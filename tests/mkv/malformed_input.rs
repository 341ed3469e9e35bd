//! Malformed input: truncations, impossible sizes, missing pieces, structure errors,
//! timestamp overflow; random bytes never panic.

use super::*;

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

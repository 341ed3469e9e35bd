//! GetMedia, ListFragments and GetMediaForFragmentList.

use super::*;

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

//! GetMedia as a live reader: `NOW` starts at the chunk after the most recent one at the call,
//! a session waits for fragments persisted later, and an idle end leaves a continuation token
//! to resume from with no gap and no repeat. And the pipelined PutMedia that feeds it: a
//! failure while later fragments are in flight persists none of them.
#![allow(clippy::unwrap_used, reason = "tests")]

mod kvs_support;

use fragseal::kvs::fragments::ListFragmentsInput;
use fragseal::kvs::get_media::*;
use fragseal::kvs::put_media::PutMediaInput;
use fragseal::kvs::{AckEventType, CreateStreamInput, StreamRef};
use fragseal::mkv;
use kvs_support::*;
use std::time::Duration;

fn cam() -> StreamRef {
    StreamRef::Name("cam".into())
}

fn stream(w: &World) {
    w.kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam").with_retention_hours(24),
        )
        .unwrap();
}

/// Puts the sample (five fragments) and returns their numbers.
fn put_sample(w: &World) -> Vec<String> {
    let before = numbers(w);
    let (s, _) = put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
    assert_eq!(s.persisted, SAMPLE_CLUSTERS as u64);
    numbers(w).split_off(before.len())
}

fn numbers(w: &World) -> Vec<String> {
    let input = ListFragmentsInput {
        stream: cam(),
        max_results: None,
        next_token: None,
        selector: None,
    };
    let list = w.kvs.list_fragments(&root(), &input).unwrap();
    list.fragments
        .into_iter()
        .map(|f| f.fragment_number)
        .collect()
}

fn tag_values(out: &[u8], name: &str) -> Vec<String> {
    read_tags(out)
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn get_media_now_starts_at_the_chunk_after_the_most_recent_at_the_time_of_the_call() {
    let w = world();
    stream(&w);
    let first = put_sample(&w);
    // A bounded read at NOW: nothing arrived after the call.
    let mut out = Vec::new();
    let s = w
        .kvs
        .get_media(&root(), &cam(), &StartSelector::Now, &mut out)
        .unwrap();
    assert_eq!((s.fragments, s.end), (0, GetMediaEnd::CaughtUp));
    assert!(out.is_empty());
    // The start is fixed at the call: what is persisted afterwards is read, what was
    // there before is not.
    let mut session = w
        .kvs
        .start_get_media(&root(), &cam(), &StartSelector::Now)
        .unwrap();
    assert_eq!(
        session.continuation_token(),
        first.last().map(String::as_str)
    );
    let second = put_sample(&w);
    let mut out = Vec::new();
    let s = session.read_stored(&mut out).unwrap();
    assert_eq!(s.fragments, SAMPLE_CLUSTERS as u64);
    assert_eq!(tag_values(&out, TAG_FRAGMENT_NUMBER), second);
    assert_eq!(s.continuation_token.as_ref(), second.last());
    assert_eq!(mkv::split_documents(&out).unwrap().len(), SAMPLE_CLUSTERS);
}

#[test]
fn get_media_now_on_an_empty_stream_reads_the_first_fragments() {
    let w = world();
    stream(&w);
    let mut session = w
        .kvs
        .start_get_media(&root(), &cam(), &StartSelector::Now)
        .unwrap();
    assert_eq!(session.continuation_token(), None);
    let all = put_sample(&w);
    let mut out = Vec::new();
    assert_eq!(session.read_stored(&mut out).unwrap().fragments, 5);
    assert_eq!(tag_values(&out, TAG_FRAGMENT_NUMBER), all);
}

#[test]
fn a_live_get_media_waits_for_fragments_persisted_after_the_call() {
    let w = world();
    stream(&w);
    put_sample(&w);
    let mut session = w
        .kvs
        .start_get_media(&root(), &cam(), &StartSelector::Now)
        .unwrap();
    let limits = LiveLimits::idle(Duration::from_secs(120)).with_max_fragments(5);
    let (s, out, produced) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut out = Vec::new();
            let s = session.follow(&mut out, &limits).unwrap();
            (s, out)
        });
        let produced = put_sample(&w);
        let (s, out) = reader.join().unwrap();
        (s, out, produced)
    });
    assert_eq!((s.fragments, s.end), (5, GetMediaEnd::MaxFragments));
    assert_eq!(tag_values(&out, TAG_FRAGMENT_NUMBER), produced);
}

#[test]
fn an_idle_live_get_media_ends_with_the_continuation_token_of_its_start() {
    let w = world();
    stream(&w);
    let first = put_sample(&w);
    let mut session = w
        .kvs
        .start_get_media(&root(), &cam(), &StartSelector::Now)
        .unwrap();
    let mut out = Vec::new();
    let s = session
        .follow(&mut out, &LiveLimits::idle(Duration::ZERO))
        .unwrap();
    assert_eq!((s.fragments, s.end), (0, GetMediaEnd::Idle));
    assert_eq!(s.failure, None);
    // One tags-only document (EBML header, Segment, Tags): the token to resume from.
    assert!(out.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]));
    let token = tag_values(&out, TAG_CONTINUATION_TOKEN);
    assert_eq!(token, vec![first[4].clone()]);
    assert_eq!(read_tags(&out).len(), 1);
    // Resuming with it: exactly what came after, no gap, no repeat.
    let second = put_sample(&w);
    let mut out = Vec::new();
    let sel = StartSelector::ContinuationToken(token[0].clone());
    let s = w.kvs.get_media(&root(), &cam(), &sel, &mut out).unwrap();
    assert_eq!(s.fragments, 5);
    assert_eq!(tag_values(&out, TAG_FRAGMENT_NUMBER), second);
}

#[test]
fn a_live_read_that_wrote_fragments_ends_idle_without_an_extra_document() {
    let w = world();
    stream(&w);
    let all = put_sample(&w);
    let mut session = w
        .kvs
        .start_get_media(&root(), &cam(), &StartSelector::Earliest)
        .unwrap();
    let mut out = Vec::new();
    let s = session
        .follow(&mut out, &LiveLimits::idle(Duration::ZERO))
        .unwrap();
    assert_eq!((s.fragments, s.end), (5, GetMediaEnd::Idle));
    assert_eq!(mkv::split_documents(&out).unwrap().len(), 5);
    assert_eq!(tag_values(&out, TAG_CONTINUATION_TOKEN), all);
    assert_eq!(session.continuation_token(), all.last().map(String::as_str));
    // Nothing more: an empty idle end (the token of the position again).
    let mut out = Vec::new();
    let s = session
        .follow(&mut out, &LiveLimits::idle(Duration::ZERO))
        .unwrap();
    assert_eq!(s.fragments, 0);
    assert_eq!(
        tag_values(&out, TAG_CONTINUATION_TOKEN),
        vec![all[4].clone()]
    );
}

#[test]
fn a_live_timestamp_selector_waits_for_the_first_fragment_at_or_after_it() {
    let w = world();
    stream(&w);
    put_sample(&w);
    let later = fragseal::kvs::FragmentMeta::clone(
        &w.store
            .fragments(&w.kvs.describe_stream(&root(), &cam()).unwrap().stream_arn)
            .unwrap()[0],
    )
    .server_timestamp_ms
        + 10_000;
    let mut session = w
        .kvs
        .start_get_media(&root(), &cam(), &StartSelector::ServerTimestamp(later))
        .unwrap();
    let mut out = Vec::new();
    assert_eq!(session.read_stored(&mut out).unwrap().fragments, 0);
    // The five stored fragments are passed over for good; the token says so.
    assert!(session.continuation_token().is_some());
    w.clock.advance(Duration::from_secs(10));
    let second = put_sample(&w);
    let mut out = Vec::new();
    assert_eq!(session.read_stored(&mut out).unwrap().fragments, 5);
    assert_eq!(tag_values(&out, TAG_FRAGMENT_NUMBER), second);
}

#[test]
fn a_live_fragment_number_start_that_is_not_stored_is_error_4000() {
    let w = world();
    stream(&w);
    put_sample(&w);
    let sel = StartSelector::FragmentNumber("00000000000000000001".into());
    let mut session = w.kvs.start_get_media(&root(), &cam(), &sel).unwrap();
    let mut out = Vec::new();
    let s = session
        .follow(&mut out, &LiveLimits::idle(Duration::from_secs(120)))
        .unwrap();
    assert_eq!(s.end, GetMediaEnd::Failed);
    assert_eq!(s.failure.unwrap().error_id.id(), 4000);
    assert_eq!(tag_values(&out, TAG_ERROR_ID), vec!["4000".to_owned()]);
}

#[test]
fn a_pipelined_session_whose_first_seal_fails_persists_nothing_of_it_or_after_it() {
    let w = world();
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
    w.kms.disable_key(&root(), &key).unwrap();
    let (s, acks) = put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
    assert_eq!(s.persisted, 0);
    assert_eq!(s.failure.unwrap().error_id.id(), 4501);
    // One ERROR, last, naming the first fragment; fragments received behind it (in flight)
    // are dropped: never PERSISTED, never stored.
    let error = acks.last().unwrap();
    assert_eq!(error.event_type, AckEventType::Error);
    assert_eq!(error.fragment_timecode, Some(0));
    let first = acks
        .iter()
        .find(|a| a.event_type == AckEventType::Received)
        .unwrap();
    assert_eq!(error.fragment_number, first.fragment_number);
    assert!(acks.iter().all(|a| a.event_type != AckEventType::Persisted));
    assert_eq!(
        acks.iter()
            .filter(|a| a.event_type == AckEventType::Error)
            .count(),
        1
    );
    assert!(w.store.fragments(&arn).unwrap().is_empty());
}

#[test]
fn a_pipelined_session_cut_inside_a_fragment_persists_every_complete_one_first() {
    let w = world();
    stream(&w);
    let mut bad = live_stream(4, 0, 1000);
    bad.truncate(bad.len() - 100);
    let (s, acks) = put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), &bad);
    assert_eq!(s.persisted, 3);
    assert_eq!(s.failure.unwrap().error_id.id(), 4006);
    let kinds: Vec<(AckEventType, Option<u64>)> = acks
        .iter()
        .filter(|a| matches!(a.event_type, AckEventType::Persisted | AckEventType::Error))
        .map(|a| (a.event_type, a.fragment_timecode))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (AckEventType::Persisted, Some(0)),
            (AckEventType::Persisted, Some(1000)),
            (AckEventType::Persisted, Some(2000)),
            (AckEventType::Error, Some(3000)),
        ]
    );
    assert_eq!(numbers(&w).len(), 3);
}

//! PutMedia, GetMedia, ListFragments and GetMediaForFragmentList on real MKV: the ffmpeg
//! sample and a longer live stream with unknown-size clusters.
#![allow(clippy::unwrap_used, reason = "tests")]

#[path = "../kvs_support/mod.rs"]
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

mod at_rest;
mod get_media;
mod put_media;

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

//! The Matroska splitter against a real ffmpeg-made MKV (tests/data/README.md says how it was
//! made), its live/KVS-style rewrite with unknown sizes, and malformed inputs.
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::mkv::{self, ids, Limits, MkvError, MkvErrorKind};
use proptest::prelude::*;

mod malformed_input;
mod splitting;

const SAMPLE: &[u8] = include_bytes!("../data/testsrc-5s.mkv");

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

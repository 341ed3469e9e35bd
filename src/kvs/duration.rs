//! `FragmentLengthInMilliseconds`: how long a fragment plays, its last frame included.
//!
//! A fragment starts at its Cluster's timestamp and ends where its last-ending frame ends.
//! A frame's duration is, in this order: its `BlockDuration` (a Block in a BlockGroup), its
//! track's `DefaultDuration` (from Tracks), or — when the stream gives neither — the mean
//! interval between that track's frames in the Cluster. A track with one frame and no
//! duration contributes its start only. (The next fragment's start is not used: the fragment
//! is persisted and acknowledged before the next Cluster arrives.)

use super::mkvout::{header, size_len};
use crate::mkv::ids;
use std::collections::BTreeMap;

/// `BlockDuration` (in a BlockGroup), in Cluster ticks.
const BLOCK_DURATION: u32 = 0x9B;
/// `DefaultDuration` (in a TrackEntry), nanoseconds.
const DEFAULT_DURATION: u32 = 0x23_E383;

/// Each track's `DefaultDuration` in nanoseconds, by track number.
#[derive(Clone, Debug, Default)]
pub(crate) struct TrackDurations(BTreeMap<u64, u64>);

fn uint(data: &[u8]) -> Option<u64> {
    if data.is_empty() || data.len() > 8 {
        return None;
    }
    Some(crate::mkv::be_uint(data))
}

/// The children of a master element's body: (id, data).
fn children(body: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let (id, hl, Some(size)) = header(body, pos)? else {
            return None;
        };
        let start = pos.checked_add(hl)?;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        let data = body.get(start..end)?;
        pos = end;
        Some((id, data))
    })
}

impl TrackDurations {
    /// Reads the `DefaultDuration` of every TrackEntry of a Tracks body.
    pub(crate) fn from_tracks(tracks_body: &[u8]) -> Self {
        let mut map = BTreeMap::new();
        for (id, entry) in children(tracks_body) {
            if id != ids::TRACK_ENTRY {
                continue;
            }
            let mut number = None;
            let mut default = None;
            for (cid, data) in children(entry) {
                match cid {
                    ids::TRACK_NUMBER => number = uint(data),
                    DEFAULT_DURATION => default = uint(data).filter(|d| *d > 0),
                    _ => {}
                }
            }
            if let (Some(n), Some(d)) = (number, default) {
                map.insert(n, d);
            }
        }
        Self(map)
    }
}

/// A block's track number and timecode (relative to its Cluster, ticks).
fn block_head(block: &[u8]) -> Option<(u64, i64)> {
    let tl = size_len(*block.first()?)?;
    let track = super::mkvout::size_value(block.get(..tl)?)?;
    let b = block.get(tl..tl + 2)?;
    Some((track, i64::from(i16::from_be_bytes([b[0], b[1]]))))
}

/// Per frame: (track, start ticks, explicit duration ticks).
fn frames(cluster_body: &[u8]) -> Vec<(u64, i64, Option<u64>)> {
    let mut out = Vec::new();
    for (id, data) in children(cluster_body) {
        match id {
            ids::SIMPLE_BLOCK => {
                if let Some((track, tc)) = block_head(data) {
                    out.push((track, tc, None));
                }
            }
            ids::BLOCK_GROUP => {
                let mut head = None;
                let mut duration = None;
                for (cid, cdata) in children(data) {
                    match cid {
                        ids::BLOCK => head = block_head(cdata),
                        BLOCK_DURATION => duration = uint(cdata),
                        _ => {}
                    }
                }
                if let Some((track, tc)) = head {
                    out.push((track, tc, duration));
                }
            }
            _ => {}
        }
    }
    out
}

/// The fragment's length in milliseconds (see the module's documentation).
pub(crate) fn fragment_length_ms(
    cluster_body: &[u8],
    scale_ns: u64,
    defaults: &TrackDurations,
) -> u64 {
    let frames = frames(cluster_body);
    // Mean interval per track, in ticks, for tracks with at least two frames.
    let mut spans: BTreeMap<u64, (i64, i64, u64)> = BTreeMap::new();
    for &(track, tc, _) in &frames {
        let e = spans.entry(track).or_insert((tc, tc, 0));
        e.0 = e.0.min(tc);
        e.1 = e.1.max(tc);
        e.2 += 1;
    }
    let scale = u128::from(scale_ns.max(1));
    let mut end_ns: u128 = 0;
    for &(track, tc, explicit) in &frames {
        let start_ns = u128::try_from(tc.max(0)).unwrap_or(0) * scale;
        let duration_ns = match (explicit, defaults.0.get(&track)) {
            (Some(ticks), _) => u128::from(ticks) * scale,
            (None, Some(ns)) => u128::from(*ns),
            (None, None) => match spans.get(&track) {
                Some(&(first, last, n)) if n >= 2 => {
                    let span = u128::try_from(last - first).unwrap_or(0) * scale;
                    span / u128::from(n - 1)
                }
                _ => 0,
            },
        };
        end_ns = end_ns.max(start_ns + duration_ns);
    }
    u64::try_from(end_ns / 1_000_000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(id: &[u8], data: &[u8]) -> Vec<u8> {
        let mut v = id.to_vec();
        v.push(0x80 | u8::try_from(data.len()).unwrap());
        v.extend_from_slice(data);
        v
    }

    fn simple(track: u8, tc: i16) -> Vec<u8> {
        let mut b = vec![0x80 | track];
        b.extend_from_slice(&tc.to_be_bytes());
        b.extend_from_slice(&[0x80, 1, 2, 3]);
        el(&[0xA3], &b)
    }

    fn tracks(default_ns: Option<u32>) -> Vec<u8> {
        let mut entry = el(&[0xD7], &[1]);
        if let Some(d) = default_ns {
            entry.extend(el(&[0x23, 0xE3, 0x83], &d.to_be_bytes()));
        }
        el(&[0xAE], &entry)
    }

    #[test]
    fn the_last_frame_counts_with_the_default_duration() {
        let body: Vec<u8> = [simple(1, 0), simple(1, 40), simple(1, 80)].concat();
        let d = TrackDurations::from_tracks(&tracks(Some(33_000_000)));
        assert_eq!(fragment_length_ms(&body, 1_000_000, &d), 113);
    }

    #[test]
    fn without_durations_the_mean_frame_interval_is_used() {
        let body: Vec<u8> = [simple(1, 0), simple(1, 40), simple(1, 80)].concat();
        let d = TrackDurations::from_tracks(&tracks(None));
        assert_eq!(fragment_length_ms(&body, 1_000_000, &d), 120);
        // One frame and nothing else known: its start only.
        assert_eq!(fragment_length_ms(&simple(1, 7), 1_000_000, &d), 7);
    }

    #[test]
    fn a_block_duration_wins_over_the_default() {
        let mut block = vec![0x81];
        block.extend_from_slice(&50i16.to_be_bytes());
        block.extend_from_slice(&[0x00, 9, 9]);
        let mut group = el(&[0xA1], &block);
        group.extend(el(&[0x9B], &[25]));
        let body: Vec<u8> = [simple(1, 0), el(&[0xA0], &group)].concat();
        let d = TrackDurations::from_tracks(&tracks(Some(10_000_000)));
        assert_eq!(fragment_length_ms(&body, 1_000_000, &d), 75);
        // Ticks follow the TimestampScale.
        assert_eq!(fragment_length_ms(&body, 2_000_000, &d), 150);
    }
}

//! The few EBML pieces the KVS layer writes and reads itself: element ids and sizes, the
//! `Tags` element of GetMedia chunks, and reading those tags back.

use crate::mkv::ids;

/// `TagName`.
pub(crate) const TAG_NAME: u32 = 0x45A3;
/// `TagString`.
pub(crate) const TAG_STRING: u32 = 0x4487;

/// The length of the EBML id starting with `first`, if valid (1–4 bytes).
pub(crate) fn id_len(first: u8) -> Option<usize> {
    match first.leading_zeros() {
        n @ 0..=3 => Some(n as usize + 1),
        _ => None,
    }
}

/// The length of the size field starting with `first`, if valid (1–8 bytes).
pub(crate) fn size_len(first: u8) -> Option<usize> {
    match first.leading_zeros() {
        n @ 0..=7 => Some(n as usize + 1),
        _ => None,
    }
}

/// The id of `bytes` (exactly an id's bytes).
pub(crate) fn id_value(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b))
}

/// The size of a size field (`None`: unknown size, all value bits set).
pub(crate) fn size_value(bytes: &[u8]) -> Option<u64> {
    let n = bytes.len();
    let raw = crate::mkv::be_uint(bytes);
    let mask = if n >= 8 {
        (1u64 << 56) - 1
    } else {
        (1u64 << (7 * n)) - 1
    };
    let v = raw & mask;
    (v != mask).then_some(v)
}

fn id_bytes(id: u32) -> Vec<u8> {
    id.to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect()
}

/// An element with an 8-byte size field.
pub(crate) fn element(id: u32, data: &[u8]) -> Vec<u8> {
    let mut v = id_bytes(id);
    v.push(0x01);
    v.extend_from_slice(&(data.len() as u64).to_be_bytes()[1..]);
    v.extend_from_slice(data);
    v
}

/// The header of an element of unknown size.
pub(crate) fn unknown_size_header(id: u32) -> Vec<u8> {
    let mut v = id_bytes(id);
    v.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    v
}

/// A `Tags` element with one `Tag` holding `SimpleTag`s of (name, string).
pub(crate) fn tags(pairs: &[(&str, String)]) -> Vec<u8> {
    let mut simple = Vec::new();
    for (name, value) in pairs {
        let mut st = element(TAG_NAME, name.as_bytes());
        st.extend(element(TAG_STRING, value.as_bytes()));
        simple.extend(element(ids::SIMPLE_TAG, &st));
    }
    let mut tag = element(ids::TARGETS, &[]);
    tag.extend(simple);
    element(ids::TAGS, &element(ids::TAG, &tag))
}

/// Reads one element header at `b[pos..]`: (id, header length, size).
pub(crate) fn header(b: &[u8], pos: usize) -> Option<(u32, usize, Option<u64>)> {
    let il = id_len(*b.get(pos)?)?;
    let id = id_value(b.get(pos..pos + il)?);
    let sl = size_len(*b.get(pos + il)?)?;
    let size = size_value(b.get(pos + il..pos + il + sl)?);
    Some((id, il + sl, size))
}

/// Every `SimpleTag` (name, string) found in `b`, a sequence of GetMedia documents, in order.
/// Masters of unknown size (the Segment, Clusters) are entered; other elements skipped.
pub fn read_tags(b: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk(b, 0, b.len(), &mut out, 0);
    out
}

fn walk(b: &[u8], mut pos: usize, end: usize, out: &mut Vec<(String, String)>, depth: usize) {
    if depth > 8 {
        return;
    }
    while pos < end {
        let Some((id, hl, size)) = header(b, pos) else {
            return;
        };
        let start = pos + hl;
        let stop = match size {
            Some(s) => match usize::try_from(s).ok().and_then(|s| start.checked_add(s)) {
                Some(e) if e <= end => e,
                _ => return,
            },
            None => {
                // Unknown size: enter it, its children follow.
                pos = start;
                continue;
            }
        };
        match id {
            ids::SEGMENT | ids::TAGS | ids::TAG => walk(b, start, stop, out, depth + 1),
            ids::SIMPLE_TAG => {
                let (mut name, mut value) = (None, None);
                let mut p = start;
                while p < stop {
                    let Some((cid, chl, Some(cs))) = header(b, p) else {
                        break;
                    };
                    let cstart = p + chl;
                    let Some(cend) = usize::try_from(cs)
                        .ok()
                        .and_then(|s| cstart.checked_add(s))
                        .filter(|e| *e <= stop)
                    else {
                        break;
                    };
                    let text = String::from_utf8_lossy(&b[cstart..cend]).into_owned();
                    match cid {
                        TAG_NAME => name = Some(text),
                        TAG_STRING => value = Some(text),
                        _ => {}
                    }
                    p = cend;
                }
                if let (Some(n), Some(v)) = (name, value) {
                    out.push((n, v));
                }
            }
            _ => {}
        }
        pos = stop;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        let t = tags(&[("A", "1".into()), ("B", "two".into())]);
        assert_eq!(
            read_tags(&t),
            vec![("A".into(), "1".into()), ("B".into(), "two".into())]
        );
        assert_eq!(
            size_value(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            None
        );
        assert_eq!(size_value(&[0x81]), Some(1));
        assert_eq!(size_value(&[0x40, 0x02]), Some(2));
    }
}

//! Readers of the Matroska elements the splitter looks into: the EBML header, Info, Tracks
//! and Clusters (with their blocks), each through the bounded EBML reader.

use super::ebml::{read_string, read_uint, Header, Reader, MAX_ID_LEN, MAX_SIZE_LEN};
use super::{ids, Limits, MkvError, MkvErrorKind, Track, DEFAULT_TIMESTAMP_SCALE_NS};

/// Checks the EBML header and returns its `DocType`.
pub(super) fn read_ebml_header(mut body: Reader<'_>, limits: &Limits) -> Result<String, MkvError> {
    let mut doc_type = None;
    while !body.is_empty() {
        let h = body.read_header()?;
        let mut data = body.body(&h, limits.max_element_size)?;
        match h.id {
            ids::DOC_TYPE => {
                if doc_type.is_some() {
                    return Err(MkvError::new(
                        h.offset,
                        MkvErrorKind::Duplicate { id: h.id },
                    ));
                }
                doc_type = Some(read_string(&h, data.remaining_bytes(h.id)?)?);
            }
            ids::EBML_MAX_ID_LENGTH | ids::EBML_MAX_SIZE_LENGTH | ids::EBML_READ_VERSION => {
                let value = read_uint(&h, data.remaining_bytes(h.id)?)?;
                let supported = match h.id {
                    ids::EBML_MAX_ID_LENGTH => (1..=u64::from(MAX_ID_LEN)).contains(&value),
                    ids::EBML_MAX_SIZE_LENGTH => (1..=u64::from(MAX_SIZE_LEN)).contains(&value),
                    _ => value == 1,
                };
                if !supported {
                    return Err(MkvError::new(
                        h.offset,
                        MkvErrorKind::UnsupportedEbml { id: h.id, value },
                    ));
                }
            }
            _ => {}
        }
    }
    // "DocType ... default matroska" is not in RFC 8794; Matroska readers require it.
    let doc_type = doc_type.unwrap_or_default();
    if doc_type != "matroska" && doc_type != "webm" {
        return Err(MkvError::new(0, MkvErrorKind::UnsupportedDocType(doc_type)));
    }
    Ok(doc_type)
}

/// Reads `Info`: returns `TimestampScale`.
pub(super) fn read_info(body: Reader<'_>, limits: &Limits) -> Result<u64, MkvError> {
    check_children(body, 1, limits)?;
    let mut scale = None;
    let mut r = body;
    while !r.is_empty() {
        let h = r.read_header()?;
        let mut data = r.body(&h, limits.max_element_size)?;
        if h.id == ids::TIMESTAMP_SCALE {
            if scale.is_some() {
                return Err(MkvError::new(
                    h.offset,
                    MkvErrorKind::Duplicate { id: h.id },
                ));
            }
            let value = read_uint(&h, data.remaining_bytes(h.id)?)?;
            if value == 0 {
                return Err(MkvError::new(h.offset, MkvErrorKind::ZeroTimestampScale));
            }
            scale = Some(value);
        }
    }
    Ok(scale.unwrap_or(DEFAULT_TIMESTAMP_SCALE_NS))
}

/// Reads `Tracks`: the track entries' number, type and codec.
pub(super) fn read_tracks(body: Reader<'_>, limits: &Limits) -> Result<Vec<Track>, MkvError> {
    check_children(body, 1, limits)?;
    let mut tracks = Vec::new();
    let mut r = body;
    while !r.is_empty() {
        let h = r.read_header()?;
        let mut entry = r.body(&h, limits.max_element_size)?;
        if h.id != ids::TRACK_ENTRY {
            continue;
        }
        let mut track = Track {
            number: 0,
            track_type: 0,
            codec_id: String::new(),
        };
        while !entry.is_empty() {
            let ch = entry.read_header()?;
            let mut data = entry.body(&ch, limits.max_element_size)?;
            match ch.id {
                ids::TRACK_NUMBER => track.number = read_uint(&ch, data.remaining_bytes(ch.id)?)?,
                ids::TRACK_TYPE => {
                    track.track_type = read_uint(&ch, data.remaining_bytes(ch.id)?)?;
                }
                ids::CODEC_ID => track.codec_id = read_string(&ch, data.remaining_bytes(ch.id)?)?,
                _ => {}
            }
        }
        tracks.push(track);
    }
    Ok(tracks)
}

/// Finds the end of a Cluster of unknown size: the first element that cannot be its child, or
/// the end of the Segment. Returns its data as a sub-reader and leaves `seg` at that element.
pub(super) fn unknown_size_cluster<'a>(
    seg: &mut Reader<'a>,
    h: &Header,
    limits: &Limits,
) -> Result<Reader<'a>, MkvError> {
    let mut probe = *seg;
    while !probe.is_empty() {
        let child = probe.peek_header()?;
        if ids::ends_unknown_size_cluster(child.id) {
            break;
        }
        probe.read_header()?;
        probe.body(&child, limits.max_element_size)?;
        let measured = (probe.offset() - h.data_offset) as u64;
        if measured > limits.max_element_size {
            return Err(MkvError::new(
                h.offset,
                MkvErrorKind::ElementTooLarge {
                    id: h.id,
                    size: measured,
                    max: limits.max_element_size,
                },
            ));
        }
    }
    let size = (probe.offset() - h.data_offset) as u64;
    seg.rewind_to(h.data_offset);
    seg.sub(h, size)
}

/// What a Cluster holds.
pub(super) struct ClusterStats {
    pub(super) timestamp: u64,
    pub(super) blocks: u64,
    pub(super) key_frames: u64,
    pub(super) first_is_key: Option<bool>,
}

pub(super) fn read_cluster(
    h: &Header,
    body: Reader<'_>,
    limits: &Limits,
) -> Result<ClusterStats, MkvError> {
    check_children(body, 1, limits)?;
    let mut timestamp = None;
    let mut stats = ClusterStats {
        timestamp: 0,
        blocks: 0,
        key_frames: 0,
        first_is_key: None,
    };
    let mut r = body;
    while !r.is_empty() {
        let ch = r.read_header()?;
        let mut data = r.body(&ch, limits.max_element_size)?;
        let key = match ch.id {
            ids::CLUSTER_TIMESTAMP => {
                if timestamp.is_some() {
                    return Err(MkvError::new(
                        ch.offset,
                        MkvErrorKind::Duplicate { id: ch.id },
                    ));
                }
                timestamp = Some(read_uint(&ch, data.remaining_bytes(ch.id)?)?);
                None
            }
            ids::SIMPLE_BLOCK => {
                // SimpleBlock flags: bit 0x80 is "Keyframe".
                let flags = read_block_flags(&ch, data)?;
                Some(flags & 0x80 != 0)
            }
            ids::BLOCK_GROUP => {
                // A Block in a BlockGroup is a key frame when it has no ReferenceBlock.
                let mut has_block = false;
                let mut has_reference = false;
                while !data.is_empty() {
                    let gh = data.read_header()?;
                    let gdata = data.body(&gh, limits.max_element_size)?;
                    match gh.id {
                        ids::BLOCK => {
                            read_block_flags(&gh, gdata)?;
                            has_block = true;
                        }
                        ids::REFERENCE_BLOCK => has_reference = true,
                        _ => {}
                    }
                }
                has_block.then_some(!has_reference)
            }
            _ => None,
        };
        if let Some(is_key) = key {
            stats.blocks += 1;
            stats.key_frames += u64::from(is_key);
            stats.first_is_key.get_or_insert(is_key);
        }
    }
    stats.timestamp = timestamp.ok_or(MkvError::new(
        h.offset,
        MkvErrorKind::MissingClusterTimestamp,
    ))?;
    Ok(stats)
}

/// Reads a block header (track number VINT, 16-bit relative timestamp, flags) and returns the
/// flags byte.
pub(super) fn read_block_flags(h: &Header, mut data: Reader<'_>) -> Result<u8, MkvError> {
    let invalid = |_| MkvError::new(h.offset, MkvErrorKind::InvalidBlock);
    data.read_track_number().map_err(invalid)?;
    let rest = data.read_bytes(3).map_err(invalid)?;
    rest.get(2)
        .copied()
        .ok_or(MkvError::new(h.offset, MkvErrorKind::InvalidBlock))
}

/// Checks that the children of a master element tile its data exactly, recursively for the
/// master elements known to [`ids::is_master`], down to `limits.max_depth`. `depth` is the
/// depth of the element whose data `body` is.
pub(super) fn check_children(
    mut body: Reader<'_>,
    depth: usize,
    limits: &Limits,
) -> Result<(), MkvError> {
    while !body.is_empty() {
        let h = body.read_header()?;
        let data = body.body(&h, limits.max_element_size)?;
        if ids::is_master(h.id) {
            if depth + 1 > limits.max_depth {
                return Err(MkvError::new(
                    h.offset,
                    MkvErrorKind::TooDeep {
                        id: h.id,
                        max: limits.max_depth,
                    },
                ));
            }
            check_children(data, depth + 1, limits)?;
        }
    }
    Ok(())
}

//! Splitting a Matroska (MKV/WebM) stream into Kinesis Video Streams fragments.
//!
//! A KVS producer sends one Matroska stream: an EBML header, a `Segment` (often of unknown
//! size), its `Info` and `Tracks`, then one `Cluster` per fragment, each starting with a key
//! frame (the KVS producer SDK writes clusters of unknown size too). [`split`] reads such a
//! stream through a bounded EBML reader and returns:
//!
//! - the stream's *init data*: every byte before the first Cluster (EBML header, Segment
//!   header, `SeekHead`, `Info`, `Tracks`, ...), which a player needs before any fragment;
//! - one [`MkvFragment`] per Cluster: the Cluster's bytes (header included), its index (the
//!   fragment number) and its timestamp (`Timestamp` × `TimestampScale`, in milliseconds: the
//!   producer timestamp).
//!
//! Elements after the first Cluster that are not Clusters (`Cues`, `Tags`, `Void`, ...) belong
//! to no fragment and are skipped. A Cluster of unknown size ends where an element that cannot
//! be its child starts (the next Cluster or another top-level element), or at the end of the
//! Segment (RFC 8794 §6.2).
//!
//! Input made of several documents back to back (KVS `GetMedia` output, where every fragment
//! carries its own EBML header and Segment) is split by [`split_documents`].
//!
//! Every length is checked against its parent and against [`Limits`]; malformed input gives an
//! [`MkvError`] naming the byte offset, never a panic.
//!
//! ```
//! # fn main() -> Result<(), fragseal::mkv::MkvError> {
//! # let bytes = include_bytes!("../../tests/data/testsrc-5s.mkv");
//! let stream = fragseal::mkv::split(bytes)?;
//! for f in stream.fragments() {
//!     println!("fragment {} at {} ms: {} bytes", f.index(), f.producer_timestamp_ms(), f.bytes().len());
//! }
//! # Ok(()) }
//! ```

mod ebml;
mod elements;
mod error;
pub mod ids;

pub(crate) use ebml::be_uint;
pub use ebml::{MAX_ID_LEN, MAX_SIZE_LEN};
pub use error::{MkvError, MkvErrorKind};

use ebml::{Header, Reader};
use elements::{
    check_children, read_cluster, read_ebml_header, read_info, read_tracks, unknown_size_cluster,
};

/// The default `TimestampScale`: one tick is 1,000,000 ns (one millisecond).
pub const DEFAULT_TIMESTAMP_SCALE_NS: u64 = 1_000_000;

/// Bounds on what the splitter accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest data size of any element other than the Segment, Clusters of unknown size
    /// included (measured). Default 64 MiB: a KVS fragment is at most 50 MB.
    pub max_element_size: u64,
    /// Deepest nesting of master elements below the Segment (the Segment's children are at
    /// depth 1). Default 16.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_element_size: 64 * 1024 * 1024,
            max_depth: 16,
        }
    }
}

/// A track described in `Tracks`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// `TrackNumber`, as used in blocks.
    pub number: u64,
    /// `TrackType`: 1 video, 2 audio, 17 subtitle, ...
    pub track_type: u64,
    /// `CodecID`, for example `V_MPEG4/ISO/AVC`.
    pub codec_id: String,
}

/// One fragment: a whole Cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MkvFragment<'a> {
    index: u64,
    offset: usize,
    bytes: &'a [u8],
    timestamp: u64,
    producer_timestamp_ms: u64,
    size_known: bool,
    blocks: u64,
    key_frames: u64,
    starts_with_key_frame: bool,
}

impl<'a> MkvFragment<'a> {
    /// The fragment number: the Cluster's index in the stream, from 0.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Byte offset of the Cluster in the input.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The Cluster's bytes, its id and size included.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The Cluster's `Timestamp`, in `TimestampScale` ticks.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The producer timestamp: `Timestamp` × `TimestampScale`, in whole milliseconds (rounded
    /// down).
    pub fn producer_timestamp_ms(&self) -> u64 {
        self.producer_timestamp_ms
    }

    /// Whether the Cluster declared its size (false for the unknown size live producers write).
    pub fn size_known(&self) -> bool {
        self.size_known
    }

    /// Number of `SimpleBlock`s and `BlockGroup`s in the Cluster.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Number of blocks marked as key frames.
    pub fn key_frames(&self) -> u64 {
        self.key_frames
    }

    /// Whether the Cluster's first block is a key frame (true for every KVS fragment).
    pub fn starts_with_key_frame(&self) -> bool {
        self.starts_with_key_frame
    }
}

/// A split Matroska stream: its init data and its fragments, borrowing the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MkvStream<'a> {
    offset: usize,
    doc_type: String,
    init: &'a [u8],
    /// Offset of the Segment's size field and its length, within `init`.
    segment_size_field: (usize, usize),
    timestamp_scale_ns: u64,
    segment_size_known: bool,
    tracks: Vec<Track>,
    fragments: Vec<MkvFragment<'a>>,
}

impl<'a> MkvStream<'a> {
    /// Offset of the document (its EBML header) in the input: 0 unless it came from
    /// [`split_documents`].
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// `matroska` or `webm`.
    pub fn doc_type(&self) -> &str {
        &self.doc_type
    }

    /// Every byte before the first Cluster: EBML header, Segment header, Info, Tracks, ...
    pub fn init_data(&self) -> &'a [u8] {
        self.init
    }

    /// The init data with the Segment's size set to *unknown* (same length, so every offset is
    /// unchanged), as live producers write it. Followed by any one Cluster it is a complete,
    /// valid Matroska stream; with a known Segment size it would claim bytes that are absent.
    pub fn live_init_data(&self) -> Vec<u8> {
        let mut init = self.init.to_vec();
        let (at, len) = self.segment_size_field;
        if let Some(field) = init.get_mut(at..at + len) {
            // An unknown size: the VINT marker for `len` bytes and every data bit set.
            for (i, b) in field.iter_mut().enumerate() {
                *b = if i == 0 { 0xFF >> (len - 1) } else { 0xFF };
            }
        }
        init
    }

    /// `TimestampScale` in nanoseconds per tick (default 1,000,000).
    pub fn timestamp_scale_ns(&self) -> u64 {
        self.timestamp_scale_ns
    }

    /// Whether the Segment declared its size (false for live streams).
    pub fn segment_size_known(&self) -> bool {
        self.segment_size_known
    }

    /// The tracks, in `Tracks` order.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// The fragments, one per Cluster, in stream order (never empty).
    pub fn fragments(&self) -> &[MkvFragment<'a>] {
        &self.fragments
    }

    /// Total bytes in fragments.
    pub fn fragment_bytes(&self) -> u64 {
        self.fragments.iter().map(|f| f.bytes.len() as u64).sum()
    }
}

/// Splits a Matroska stream with the default [`Limits`].
///
/// # Errors
/// [`MkvError`] when the input is not a complete, well-formed Matroska stream with at least one
/// Cluster, or exceeds the limits.
pub fn split(input: &[u8]) -> Result<MkvStream<'_>, MkvError> {
    split_with_limits(input, &Limits::default())
}

/// Splits a Matroska stream with the given limits.
///
/// # Errors
/// As [`split`].
pub fn split_with_limits<'a>(input: &'a [u8], limits: &Limits) -> Result<MkvStream<'a>, MkvError> {
    split_document(input, 0, limits, false).map(|(stream, _)| stream)
}

/// Splits input holding one or more Matroska documents back to back, such as the output of
/// Kinesis Video Streams' `GetMedia` (each fragment its own EBML header, Segment and Clusters)
/// or a producer stream restarted with a new header: one [`MkvStream`] per document, with
/// offsets in `input`. A document of unknown Segment size ends where the next EBML header
/// starts. Fragment indexes restart at 0 in each document.
///
/// # Errors
/// As [`split`], for any of the documents.
pub fn split_documents(input: &[u8]) -> Result<Vec<MkvStream<'_>>, MkvError> {
    split_documents_with_limits(input, &Limits::default())
}

/// [`split_documents`] with the given limits.
///
/// # Errors
/// As [`split`], for any of the documents.
pub fn split_documents_with_limits<'a>(
    input: &'a [u8],
    limits: &Limits,
) -> Result<Vec<MkvStream<'a>>, MkvError> {
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let (stream, end) = split_document(input, start, limits, true)?;
        out.push(stream);
        // A document holds at least its EBML header, so `end > start`.
        if end >= input.len() || end <= start {
            return Ok(out);
        }
        start = end;
    }
}

/// Splits the document starting at `start`. With `allow_next`, an EBML header after the
/// Segment (or inside a Segment of unknown size) ends the document instead of being an error.
/// Returns the stream and the offset where the document ends.
fn split_document<'a>(
    input: &'a [u8],
    start: usize,
    limits: &Limits,
    allow_next: bool,
) -> Result<(MkvStream<'a>, usize), MkvError> {
    let mut top = Reader::at(input, start);

    // "An EBML Document MUST start with an EBML Header" (RFC 8794 §11.1).
    let h = top.read_header()?;
    if h.id != ids::EBML {
        return Err(MkvError::new(h.offset, MkvErrorKind::NotEbml { id: h.id }));
    }
    let body = top.body(&h, limits.max_element_size)?;
    let doc_type = read_ebml_header(body, limits)?;

    // Then the Segment; global Void / CRC-32 elements may precede it.
    let seg_header = loop {
        if top.is_empty() {
            return Err(MkvError::new(top.offset(), MkvErrorKind::MissingSegment));
        }
        let h = top.read_header()?;
        match h.id {
            ids::SEGMENT => break h,
            ids::VOID | ids::CRC32 => {
                top.body(&h, limits.max_element_size)?;
            }
            id => {
                return Err(MkvError::new(
                    h.offset,
                    MkvErrorKind::UnexpectedElement {
                        id,
                        context: "at the top level (expected Segment)",
                    },
                ))
            }
        }
    };
    let mut seg = match seg_header.size {
        Some(size) => top.sub(&seg_header, size)?,
        None => top.rest(),
    };

    let mut parts = Parts::new(doc_type, seg_header.size.is_some());
    // The Segment id is 4 bytes (checked above); its size field follows, up to the data.
    let id_len = 4;
    parts.segment_size_field = (
        seg_header.offset + id_len - start,
        seg_header.data_offset - seg_header.offset - id_len,
    );
    let mut doc_end = None;
    while !seg.is_empty() {
        let h = seg.read_header()?;
        match h.id {
            ids::EBML if allow_next && seg_header.size.is_none() => {
                doc_end = Some(h.offset);
                break;
            }
            ids::EBML => {
                return Err(MkvError::new(h.offset, MkvErrorKind::MultipleSegments));
            }
            ids::SEGMENT => {
                return Err(MkvError::new(
                    h.offset,
                    MkvErrorKind::UnexpectedElement {
                        id: h.id,
                        context: "inside the Segment",
                    },
                ));
            }
            ids::CLUSTER => {
                let body = match h.size {
                    Some(_) => seg.body(&h, limits.max_element_size)?,
                    None => unknown_size_cluster(&mut seg, &h, limits)?,
                };
                parts.cluster(input, &h, body, limits)?;
            }
            ids::INFO => {
                parts.no_header_after_cluster(&h)?;
                if parts.seen_info {
                    return Err(MkvError::new(
                        h.offset,
                        MkvErrorKind::Duplicate { id: h.id },
                    ));
                }
                parts.seen_info = true;
                let body = seg.body(&h, limits.max_element_size)?;
                parts.timestamp_scale_ns = read_info(body, limits)?;
            }
            ids::TRACKS => {
                parts.no_header_after_cluster(&h)?;
                if parts.tracks.is_some() {
                    return Err(MkvError::new(
                        h.offset,
                        MkvErrorKind::Duplicate { id: h.id },
                    ));
                }
                let body = seg.body(&h, limits.max_element_size)?;
                parts.tracks = Some(read_tracks(body, limits)?);
            }
            id => {
                let body = seg.body(&h, limits.max_element_size)?;
                if ids::is_master(id) {
                    check_children(body, 1, limits)?;
                }
            }
        }
    }

    // After a Segment of known size only global elements may follow; a new EBML header is a
    // second document.
    while doc_end.is_none() && !top.is_empty() {
        let h = top.read_header()?;
        match h.id {
            ids::VOID | ids::CRC32 => {
                top.body(&h, limits.max_element_size)?;
            }
            ids::EBML if allow_next => doc_end = Some(h.offset),
            ids::EBML => return Err(MkvError::new(h.offset, MkvErrorKind::MultipleSegments)),
            id => {
                return Err(MkvError::new(
                    h.offset,
                    MkvErrorKind::UnexpectedElement {
                        id,
                        context: "after the end of the Segment",
                    },
                ))
            }
        }
    }

    let end = doc_end.unwrap_or(input.len());
    let segment_end = doc_end.unwrap_or(seg.end()).min(seg.end());
    parts
        .finish(input, start, segment_end)
        .map(|stream| (stream, end))
}

/// What has been read of the Segment so far.
struct Parts<'a> {
    doc_type: String,
    segment_size_field: (usize, usize),
    segment_size_known: bool,
    seen_info: bool,
    timestamp_scale_ns: u64,
    tracks: Option<Vec<Track>>,
    init_end: Option<usize>,
    fragments: Vec<MkvFragment<'a>>,
}

impl<'a> Parts<'a> {
    fn new(doc_type: String, segment_size_known: bool) -> Self {
        Self {
            doc_type,
            segment_size_field: (0, 0),
            segment_size_known,
            seen_info: false,
            timestamp_scale_ns: DEFAULT_TIMESTAMP_SCALE_NS,
            tracks: None,
            init_end: None,
            fragments: Vec::new(),
        }
    }

    fn no_header_after_cluster(&self, h: &Header) -> Result<(), MkvError> {
        if self.init_end.is_some() {
            return Err(MkvError::new(
                h.offset,
                MkvErrorKind::HeaderAfterCluster { id: h.id },
            ));
        }
        Ok(())
    }

    fn cluster(
        &mut self,
        input: &'a [u8],
        h: &Header,
        body: Reader<'a>,
        limits: &Limits,
    ) -> Result<(), MkvError> {
        if self.init_end.is_none() {
            if self.tracks.is_none() {
                return Err(MkvError::new(h.offset, MkvErrorKind::MissingTracks));
            }
            self.init_end = Some(h.offset);
        }
        let stats = read_cluster(h, body, limits)?;
        let producer_timestamp_ms = u128::from(stats.timestamp)
            .checked_mul(u128::from(self.timestamp_scale_ns))
            .map(|ns| ns / 1_000_000)
            .and_then(|ms| u64::try_from(ms).ok())
            .ok_or(MkvError::new(
                h.offset,
                MkvErrorKind::TimestampOverflow {
                    timestamp: stats.timestamp,
                    scale_ns: self.timestamp_scale_ns,
                },
            ))?;
        let bytes = input.get(h.offset..body.end()).ok_or(MkvError::new(
            h.offset,
            MkvErrorKind::Truncated {
                id: Some(h.id),
                needed: 0,
            },
        ))?;
        self.fragments.push(MkvFragment {
            index: self.fragments.len() as u64,
            offset: h.offset,
            bytes,
            timestamp: stats.timestamp,
            producer_timestamp_ms,
            size_known: h.size.is_some(),
            blocks: stats.blocks,
            key_frames: stats.key_frames,
            starts_with_key_frame: stats.first_is_key == Some(true),
        });
        Ok(())
    }

    fn finish(
        self,
        input: &'a [u8],
        start: usize,
        segment_end: usize,
    ) -> Result<MkvStream<'a>, MkvError> {
        let Some(init_end) = self.init_end else {
            return Err(MkvError::new(segment_end, MkvErrorKind::MissingCluster));
        };
        let init = input.get(start..init_end).ok_or(MkvError::new(
            init_end,
            MkvErrorKind::Truncated {
                id: None,
                needed: 0,
            },
        ))?;
        Ok(MkvStream {
            offset: start,
            doc_type: self.doc_type,
            init,
            segment_size_field: self.segment_size_field,
            timestamp_scale_ns: self.timestamp_scale_ns,
            segment_size_known: self.segment_size_known,
            tracks: self.tracks.unwrap_or_default(),
            fragments: self.fragments,
        })
    }
}

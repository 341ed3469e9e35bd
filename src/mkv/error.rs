//! Errors of the Matroska splitter: what is wrong and at which byte of the input.

use super::ids::describe;
use core::fmt;

/// A malformed or unsupported Matroska stream: what is wrong, at which byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MkvError {
    /// Byte offset from the start of the input where the problem was found: the first byte of
    /// the offending element (or of the bytes that could not be read).
    pub offset: usize,
    /// What is wrong.
    pub kind: MkvErrorKind,
}

impl MkvError {
    /// A new error.
    pub fn new(offset: usize, kind: MkvErrorKind) -> Self {
        Self { offset, kind }
    }
}

/// What is wrong with a Matroska stream. Element ids are given as they appear on the wire
/// (with the VINT marker), for example `0x1F43B675` for `Cluster`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MkvErrorKind {
    /// The input ends inside an element header or inside an element's data.
    Truncated {
        /// The element being read, if its id had been read.
        id: Option<u32>,
        /// Bytes missing.
        needed: u64,
    },
    /// An element id is not a valid EBML id: longer than 4 bytes, reserved (all ones) or not
    /// in its shortest form.
    InvalidElementId,
    /// An element data size is longer than 8 bytes (first byte zero).
    InvalidElementSize,
    /// An element is larger than the configured maximum.
    ElementTooLarge {
        /// The element.
        id: u32,
        /// Its declared (or, for unknown size, measured) data size.
        size: u64,
        /// The maximum.
        max: u64,
    },
    /// An element declares more data than its parent holds: an impossible size.
    SizeExceedsParent {
        /// The element.
        id: u32,
        /// Its declared data size.
        size: u64,
        /// Offset where its parent ends.
        parent_end: usize,
    },
    /// An element other than `Segment` or `Cluster` has an unknown size.
    UnknownSizeNotAllowed {
        /// The element.
        id: u32,
    },
    /// Master elements are nested deeper than the configured maximum.
    TooDeep {
        /// The element that would exceed the depth.
        id: u32,
        /// The maximum depth.
        max: usize,
    },
    /// The input does not start with an EBML header.
    NotEbml {
        /// The id found instead.
        id: u32,
    },
    /// The EBML header names a document type other than `matroska` or `webm`.
    UnsupportedDocType(String),
    /// The EBML header declares limits this reader does not support
    /// (`EBMLMaxIDLength` > 4 or `EBMLMaxSizeLength` > 8, or an `EBMLReadVersion` other than 1).
    UnsupportedEbml {
        /// The header element.
        id: u32,
        /// Its value.
        value: u64,
    },
    /// An unsigned-integer element is longer than 8 bytes.
    InvalidInteger {
        /// The element.
        id: u32,
        /// Its length.
        length: u64,
    },
    /// A string element is not valid UTF-8 or contains bytes after its terminating zero that
    /// are not zero.
    InvalidString {
        /// The element.
        id: u32,
    },
    /// An element appears where it is not allowed.
    UnexpectedElement {
        /// The element.
        id: u32,
        /// Where it was found.
        context: &'static str,
    },
    /// No `Segment` after the EBML header.
    MissingSegment,
    /// The stream holds a second EBML document (a new EBML header after the first Segment);
    /// [`super::split_documents`] splits such input.
    MultipleSegments,
    /// `Info` or `Tracks` after the first Cluster: the stream header changed mid-stream.
    HeaderAfterCluster {
        /// The element.
        id: u32,
    },
    /// An element that may appear once appears twice.
    Duplicate {
        /// The element.
        id: u32,
    },
    /// No `Tracks` before the first Cluster.
    MissingTracks,
    /// The Segment holds no Cluster: no fragment to split.
    MissingCluster,
    /// A Cluster without its `Timestamp` element.
    MissingClusterTimestamp,
    /// A `SimpleBlock` or `Block` shorter than its header (track number, timecode, flags).
    InvalidBlock,
    /// `TimestampScale` is zero.
    ZeroTimestampScale,
    /// Cluster timestamp × `TimestampScale` does not fit in 64-bit milliseconds.
    TimestampOverflow {
        /// The cluster timestamp, in `TimestampScale` ticks.
        timestamp: u64,
        /// The scale, in nanoseconds per tick.
        scale_ns: u64,
    },
}

impl fmt::Display for MkvErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MkvErrorKind::*;
        match self {
            Truncated {
                id: Some(id),
                needed,
            } => {
                write!(
                    f,
                    "input ends {needed} byte(s) short inside {}",
                    describe(*id)
                )
            }
            Truncated { id: None, needed } => {
                write!(
                    f,
                    "input ends {needed} byte(s) short inside an element header"
                )
            }
            InvalidElementId => f.write_str("invalid EBML element id"),
            InvalidElementSize => f.write_str("invalid EBML element size (longer than 8 bytes)"),
            ElementTooLarge { id, size, max } => write!(
                f,
                "{} holds {size} bytes, more than the maximum {max}",
                describe(*id)
            ),
            SizeExceedsParent {
                id,
                size,
                parent_end,
            } => write!(
                f,
                "{} declares {size} bytes, past the end of its parent at byte {parent_end}",
                describe(*id)
            ),
            UnknownSizeNotAllowed { id } => {
                write!(
                    f,
                    "{} has an unknown size, allowed only for Segment and Cluster",
                    describe(*id)
                )
            }
            TooDeep { id, max } => write!(
                f,
                "{} is nested deeper than the maximum depth {max}",
                describe(*id)
            ),
            NotEbml { id } => write!(
                f,
                "not a Matroska stream: starts with {} instead of the EBML header",
                describe(*id)
            ),
            UnsupportedDocType(t) => {
                write!(f, "document type {t:?} is not matroska or webm")
            }
            UnsupportedEbml { id, value } => {
                write!(f, "unsupported {} value {value}", describe(*id))
            }
            InvalidInteger { id, length } => write!(
                f,
                "{} is {length} bytes long, more than an unsigned integer's 8",
                describe(*id)
            ),
            InvalidString { id } => write!(f, "{} is not a valid string", describe(*id)),
            UnexpectedElement { id, context } => {
                write!(f, "unexpected {} {context}", describe(*id))
            }
            MissingSegment => f.write_str("no Segment after the EBML header"),
            MultipleSegments => {
                f.write_str("a second EBML document starts here; split each document separately")
            }
            HeaderAfterCluster { id } => write!(
                f,
                "{} after the first Cluster: the stream header changes mid-stream",
                describe(*id)
            ),
            Duplicate { id } => write!(f, "{} appears twice", describe(*id)),
            MissingTracks => f.write_str("no Tracks before the first Cluster"),
            MissingCluster => f.write_str("no Cluster in the Segment: nothing to split"),
            MissingClusterTimestamp => f.write_str("Cluster has no Timestamp element"),
            InvalidBlock => f.write_str("block shorter than its header"),
            ZeroTimestampScale => f.write_str("TimestampScale is zero"),
            TimestampOverflow {
                timestamp,
                scale_ns,
            } => write!(
                f,
                "cluster timestamp {timestamp} × {scale_ns} ns does not fit in 64-bit milliseconds"
            ),
        }
    }
}

impl fmt::Display for MkvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed MKV at byte {}: {}", self.offset, self.kind)
    }
}

impl std::error::Error for MkvError {}

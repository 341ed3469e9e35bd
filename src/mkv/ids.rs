//! The EBML and Matroska element ids the splitter knows, with their names.
//!
//! Ids are written as they appear on the wire: the VINT marker bit is part of the id
//! (RFC 8794 §5), so the Cluster id is `0x1F43B675`.

/// `EBML`: the EBML header, the first element of every EBML document.
pub const EBML: u32 = 0x1A45_DFA3;
/// `EBMLVersion`.
pub const EBML_VERSION: u32 = 0x4286;
/// `EBMLReadVersion`.
pub const EBML_READ_VERSION: u32 = 0x42F7;
/// `EBMLMaxIDLength`: longest element id in the document (Matroska: 4).
pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
/// `EBMLMaxSizeLength`: longest element data size in the document (Matroska: 8).
pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
/// `DocType`: `matroska` or `webm`.
pub const DOC_TYPE: u32 = 0x4282;
/// `DocTypeVersion`.
pub const DOC_TYPE_VERSION: u32 = 0x4287;
/// `DocTypeReadVersion`.
pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
/// `Void`: padding, allowed anywhere.
pub const VOID: u32 = 0xEC;
/// `CRC-32`: a checksum of its parent, allowed in any master element.
pub const CRC32: u32 = 0xBF;

/// `Segment`: the root of a Matroska document.
pub const SEGMENT: u32 = 0x1853_8067;
/// `SeekHead`.
pub const SEEK_HEAD: u32 = 0x114D_9B74;
/// `Seek`.
pub const SEEK: u32 = 0x4DBB;
/// `Info`: segment information (`TimestampScale`, duration, muxing app).
pub const INFO: u32 = 0x1549_A966;
/// `TimestampScale` (formerly `TimecodeScale`): nanoseconds per timestamp tick, default 1,000,000.
pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
/// `ChapterTranslate`.
pub const CHAPTER_TRANSLATE: u32 = 0x6924;
/// `Tracks`.
pub const TRACKS: u32 = 0x1654_AE6B;
/// `TrackEntry`.
pub const TRACK_ENTRY: u32 = 0xAE;
/// `TrackNumber`.
pub const TRACK_NUMBER: u32 = 0xD7;
/// `TrackType` (1 video, 2 audio, 17 subtitle, ...).
pub const TRACK_TYPE: u32 = 0x83;
/// `CodecID`, for example `V_MPEG4/ISO/AVC`.
pub const CODEC_ID: u32 = 0x86;
/// `Video`.
pub const VIDEO: u32 = 0xE0;
/// `Audio`.
pub const AUDIO: u32 = 0xE1;
/// `Colour`.
pub const COLOUR: u32 = 0x55B0;
/// `MasteringMetadata`.
pub const MASTERING_METADATA: u32 = 0x55D0;
/// `Projection`.
pub const PROJECTION: u32 = 0x7670;
/// `ContentEncodings`.
pub const CONTENT_ENCODINGS: u32 = 0x6D80;
/// `ContentEncoding`.
pub const CONTENT_ENCODING: u32 = 0x6240;
/// `ContentCompression`.
pub const CONTENT_COMPRESSION: u32 = 0x5034;
/// `ContentEncryption`.
pub const CONTENT_ENCRYPTION: u32 = 0x5035;
/// `TrackOperation`.
pub const TRACK_OPERATION: u32 = 0xE2;
/// `Cluster`: one group of blocks; one KVS fragment.
pub const CLUSTER: u32 = 0x1F43_B675;
/// `Timestamp` (formerly `Timecode`): the cluster's timestamp in `TimestampScale` ticks.
pub const CLUSTER_TIMESTAMP: u32 = 0xE7;
/// `SimpleBlock`.
pub const SIMPLE_BLOCK: u32 = 0xA3;
/// `BlockGroup`.
pub const BLOCK_GROUP: u32 = 0xA0;
/// `Block` (inside a `BlockGroup`).
pub const BLOCK: u32 = 0xA1;
/// `ReferenceBlock`: present when the block is not a key frame.
pub const REFERENCE_BLOCK: u32 = 0xFB;
/// `BlockAdditions`.
pub const BLOCK_ADDITIONS: u32 = 0x75A1;
/// `BlockMore`.
pub const BLOCK_MORE: u32 = 0xA6;
/// `Slices`.
pub const SLICES: u32 = 0x8E;
/// `TimeSlice`.
pub const TIME_SLICE: u32 = 0xE8;
/// `Cues`.
pub const CUES: u32 = 0x1C53_BB6B;
/// `CuePoint`.
pub const CUE_POINT: u32 = 0xBB;
/// `CueTrackPositions`.
pub const CUE_TRACK_POSITIONS: u32 = 0xB7;
/// `CueReference`.
pub const CUE_REFERENCE: u32 = 0xDB;
/// `Attachments`.
pub const ATTACHMENTS: u32 = 0x1941_A469;
/// `AttachedFile`.
pub const ATTACHED_FILE: u32 = 0x61A7;
/// `Chapters`.
pub const CHAPTERS: u32 = 0x1043_A770;
/// `EditionEntry`.
pub const EDITION_ENTRY: u32 = 0x45B9;
/// `ChapterAtom`.
pub const CHAPTER_ATOM: u32 = 0xB6;
/// `ChapterDisplay`.
pub const CHAPTER_DISPLAY: u32 = 0x80;
/// `Tags`.
pub const TAGS: u32 = 0x1254_C367;
/// `Tag`.
pub const TAG: u32 = 0x7373;
/// `Targets`.
pub const TARGETS: u32 = 0x63C0;
/// `SimpleTag`.
pub const SIMPLE_TAG: u32 = 0x67C8;

/// Whether `id` is a master element (its data is a sequence of child elements) whose
/// structure the splitter checks. Ids not listed are treated as opaque binary data.
pub(crate) fn is_master(id: u32) -> bool {
    matches!(
        id,
        EBML | SEGMENT
            | SEEK_HEAD
            | SEEK
            | INFO
            | CHAPTER_TRANSLATE
            | TRACKS
            | TRACK_ENTRY
            | VIDEO
            | AUDIO
            | COLOUR
            | MASTERING_METADATA
            | PROJECTION
            | CONTENT_ENCODINGS
            | CONTENT_ENCODING
            | CONTENT_COMPRESSION
            | CONTENT_ENCRYPTION
            | TRACK_OPERATION
            | CLUSTER
            | BLOCK_GROUP
            | BLOCK_ADDITIONS
            | BLOCK_MORE
            | SLICES
            | TIME_SLICE
            | CUES
            | CUE_POINT
            | CUE_TRACK_POSITIONS
            | CUE_REFERENCE
            | ATTACHMENTS
            | ATTACHED_FILE
            | CHAPTERS
            | EDITION_ENTRY
            | CHAPTER_ATOM
            | CHAPTER_DISPLAY
            | TAGS
            | TAG
            | TARGETS
            | SIMPLE_TAG
    )
}

/// Whether `id` may only appear at the top of the document or directly under `Segment`.
/// Such an element ends any element of unknown size that is open below the Segment
/// (RFC 8794 §6.2: an unknown-size element ends at an element that is not a valid child).
pub(crate) fn ends_unknown_size_cluster(id: u32) -> bool {
    matches!(
        id,
        EBML | SEGMENT | SEEK_HEAD | INFO | TRACKS | CLUSTER | CUES | ATTACHMENTS | CHAPTERS | TAGS
    )
}

/// The element's name, for messages; `None` for ids the splitter does not know.
pub fn name(id: u32) -> Option<&'static str> {
    Some(match id {
        EBML => "EBML",
        EBML_VERSION => "EBMLVersion",
        EBML_READ_VERSION => "EBMLReadVersion",
        EBML_MAX_ID_LENGTH => "EBMLMaxIDLength",
        EBML_MAX_SIZE_LENGTH => "EBMLMaxSizeLength",
        DOC_TYPE => "DocType",
        DOC_TYPE_VERSION => "DocTypeVersion",
        DOC_TYPE_READ_VERSION => "DocTypeReadVersion",
        VOID => "Void",
        CRC32 => "CRC-32",
        SEGMENT => "Segment",
        SEEK_HEAD => "SeekHead",
        SEEK => "Seek",
        INFO => "Info",
        TIMESTAMP_SCALE => "TimestampScale",
        CHAPTER_TRANSLATE => "ChapterTranslate",
        TRACKS => "Tracks",
        TRACK_ENTRY => "TrackEntry",
        TRACK_NUMBER => "TrackNumber",
        TRACK_TYPE => "TrackType",
        CODEC_ID => "CodecID",
        VIDEO => "Video",
        AUDIO => "Audio",
        COLOUR => "Colour",
        MASTERING_METADATA => "MasteringMetadata",
        PROJECTION => "Projection",
        CONTENT_ENCODINGS => "ContentEncodings",
        CONTENT_ENCODING => "ContentEncoding",
        CONTENT_COMPRESSION => "ContentCompression",
        CONTENT_ENCRYPTION => "ContentEncryption",
        TRACK_OPERATION => "TrackOperation",
        CLUSTER => "Cluster",
        CLUSTER_TIMESTAMP => "Timestamp",
        SIMPLE_BLOCK => "SimpleBlock",
        BLOCK_GROUP => "BlockGroup",
        BLOCK => "Block",
        REFERENCE_BLOCK => "ReferenceBlock",
        BLOCK_ADDITIONS => "BlockAdditions",
        BLOCK_MORE => "BlockMore",
        SLICES => "Slices",
        TIME_SLICE => "TimeSlice",
        CUES => "Cues",
        CUE_POINT => "CuePoint",
        CUE_TRACK_POSITIONS => "CueTrackPositions",
        CUE_REFERENCE => "CueReference",
        ATTACHMENTS => "Attachments",
        ATTACHED_FILE => "AttachedFile",
        CHAPTERS => "Chapters",
        EDITION_ENTRY => "EditionEntry",
        CHAPTER_ATOM => "ChapterAtom",
        CHAPTER_DISPLAY => "ChapterDisplay",
        TAGS => "Tags",
        TAG => "Tag",
        TARGETS => "Targets",
        SIMPLE_TAG => "SimpleTag",
        _ => return None,
    })
}

/// `0x1F43B675 (Cluster)` or `0x4DBC` for an unknown id.
pub(crate) fn describe(id: u32) -> String {
    match name(id) {
        Some(n) => format!("{n} (0x{id:X})"),
        None => format!("element 0x{id:X}"),
    }
}

//! From an MKV stream to self-contained fragments, and back.
//!
//! A sealed MKV fragment's plaintext is the stream's init data (EBML header, Segment header
//! with the size set to unknown, Info, Tracks) followed by one Cluster: on its own it is a
//! playable Matroska file, like the fragments Kinesis Video Streams returns from
//! GetMediaForFragmentList.

use crate::error::{CliError, CliResult};
use bytes::Bytes;
use fragseal::identity::FragmentIdentity;
use fragseal::mkv::{self, MkvStream};

/// The first bytes of every EBML document.
pub const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];

/// One fragment to seal.
pub struct Fragment {
    pub identity: FragmentIdentity,
    pub plaintext: Bytes,
    pub cluster_len: usize,
}

/// Whether `bytes` starts like an EBML (Matroska/WebM) document.
pub fn looks_like_mkv(bytes: &[u8]) -> bool {
    bytes.starts_with(&EBML_MAGIC)
}

/// The track number bound into identities: the first video track, else the first track, else 1.
pub fn identity_track(stream: &MkvStream<'_>) -> u64 {
    stream
        .tracks()
        .iter()
        .find(|t| t.track_type == 1)
        .or_else(|| stream.tracks().first())
        .map_or(1, |t| t.number)
}

/// Splits `bytes` (one Matroska document, or several back to back as GetMedia returns them)
/// and builds one self-contained fragment per Cluster, numbered from 0 across documents.
pub fn fragments(
    bytes: &[u8],
    stream_arn: &str,
    track: Option<u64>,
) -> CliResult<(Vec<Fragment>, SplitSummary)> {
    let docs = mkv::split_documents(bytes)?;
    let first = docs
        .first()
        .ok_or_else(|| CliError::input("no Matroska document"))?;
    let track = track.unwrap_or_else(|| identity_track(first));
    let mut out = Vec::new();
    for doc in &docs {
        // The Segment size set to unknown, so that init data + one Cluster is a valid stream.
        let init = doc.live_init_data();
        for f in doc.fragments() {
            let mut plaintext = Vec::with_capacity(init.len() + f.bytes().len());
            plaintext.extend_from_slice(&init);
            plaintext.extend_from_slice(f.bytes());
            out.push(Fragment {
                identity: FragmentIdentity {
                    stream_arn: stream_arn.to_owned(),
                    fragment_number: out.len() as u64,
                    producer_timestamp_ms: f.producer_timestamp_ms(),
                    track,
                },
                plaintext: Bytes::from(plaintext),
                cluster_len: f.bytes().len(),
            });
        }
    }
    let summary = SplitSummary {
        init_len: first.init_data().len(),
        input_len: bytes.len(),
        documents: docs.len(),
        timestamp_scale_ns: first.timestamp_scale_ns(),
        codecs: first.tracks().iter().map(|t| t.codec_id.clone()).collect(),
        track,
    };
    Ok((out, summary))
}

/// What the split found, for reports and the index.
pub struct SplitSummary {
    pub init_len: usize,
    pub input_len: usize,
    pub documents: usize,
    pub timestamp_scale_ns: u64,
    pub codecs: Vec<String>,
    pub track: u64,
}

/// Reassembles a stream from opened fragments (each init data + one Cluster): the init data
/// once (it must be the same in every fragment), then every Cluster in order.
pub fn join(opened: &[Bytes]) -> CliResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut first_init: Option<Vec<u8>> = None;
    for (i, plaintext) in opened.iter().enumerate() {
        let s = mkv::split(plaintext)
            .map_err(|e| CliError::from(e).context(format!("fragment {i}")))?;
        match &first_init {
            None => {
                out.extend_from_slice(s.init_data());
                first_init = Some(s.init_data().to_vec());
            }
            Some(init) if init.as_slice() == s.init_data() => {}
            Some(_) => {
                return Err(CliError::input(format!(
                    "fragment {i} has other init data (EBML header, Info, Tracks) than fragment 0; \
                     cannot join them into one stream"
                )))
            }
        }
        for c in s.fragments() {
            out.extend_from_slice(c.bytes());
        }
    }
    Ok(out)
}

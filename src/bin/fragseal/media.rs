//! From an MKV stream to self-contained fragments, and back.
//!
//! A sealed MKV fragment's plaintext is the stream's init data (EBML header, Segment header
//! with the size set to unknown, Info, Tracks) followed by one Cluster: on its own it is a
//! playable Matroska file, like the fragments Kinesis Video Streams returns from
//! GetMediaForFragmentList.

use crate::error::{CliError, CliResult};
use crate::files::Staged;
use bytes::Bytes;
use fragseal::identity::FragmentIdentity;
use fragseal::mkv::{self, MkvStream};

/// The first bytes of every EBML document.
pub const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];

/// Most plaintext a split may produce, as a multiple of the input's length: every fragment
/// carries its own copy of the init data, so a large init data (say 32 MiB of Void before the
/// first Cluster) followed by many tiny Clusters would otherwise turn a small input into an
/// enormous amount of work.
pub const MAX_PLAINTEXT_FACTOR: u64 = 4;
/// ... but at least this much is always allowed (256 MiB).
pub const MIN_PLAINTEXT_BUDGET: u64 = 256 << 20;

/// The plaintext budget of an input of `input_len` bytes:
/// `max(MAX_PLAINTEXT_FACTOR × input_len, MIN_PLAINTEXT_BUDGET)`.
pub fn plaintext_budget(input_len: usize) -> u64 {
    (input_len as u64)
        .saturating_mul(MAX_PLAINTEXT_FACTOR)
        .max(MIN_PLAINTEXT_BUDGET)
}

/// One fragment to seal: the init data (shared by every fragment of its document, never
/// copied) and one Cluster of the input. Its plaintext is built only when it is sealed.
pub struct Fragment<'a> {
    pub identity: FragmentIdentity,
    init: Bytes,
    cluster: &'a [u8],
}

impl Fragment<'_> {
    /// Init data + Cluster, built now (one allocation).
    pub fn plaintext(&self) -> Bytes {
        let mut p = Vec::with_capacity(self.plaintext_len());
        p.extend_from_slice(&self.init);
        p.extend_from_slice(self.cluster);
        Bytes::from(p)
    }

    pub fn plaintext_len(&self) -> usize {
        self.init.len() + self.cluster.len()
    }

    pub fn cluster_len(&self) -> usize {
        self.cluster.len()
    }
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
/// into one self-contained fragment per Cluster, numbered from 0 across documents.
///
/// # Errors
/// An input error for malformed MKV, and when the fragments' plaintext would exceed
/// [`plaintext_budget`] (checked before anything is built).
pub fn fragments<'a>(
    bytes: &'a [u8],
    stream_arn: &str,
    track: Option<u64>,
) -> CliResult<(Vec<Fragment<'a>>, SplitSummary)> {
    let docs = mkv::split_documents(bytes)?;
    let first = docs
        .first()
        .ok_or_else(|| CliError::input("no Matroska document"))?;
    let track = track.unwrap_or_else(|| identity_track(first));
    let budget = plaintext_budget(bytes.len());
    let mut total = 0u64;
    let mut out = Vec::new();
    for doc in &docs {
        // The Segment size set to unknown, so that init data + one Cluster is a valid stream.
        let init = Bytes::from(doc.live_init_data());
        for f in doc.fragments() {
            total = total
                .saturating_add(init.len() as u64)
                .saturating_add(f.bytes().len() as u64);
            if total > budget {
                return Err(CliError::input(format!(
                    "the fragments would hold more than {budget} bytes of plaintext, the limit for \
                     a {}-byte input ({MAX_PLAINTEXT_FACTOR} × its size, at least \
                     {MIN_PLAINTEXT_BUDGET}): each of its {} Cluster(s) gets its own copy of the \
                     {}-byte init data (every byte before the first Cluster)",
                    bytes.len(),
                    docs.iter().map(|d| d.fragments().len()).sum::<usize>(),
                    init.len()
                ))
                .with_hint(
                    "the init data is copied into every fragment: a stream with less before \
                     its first Cluster (no padding), or with fewer and larger Clusters, fits",
                ));
            }
            out.push(Fragment {
                identity: FragmentIdentity {
                    stream_arn: stream_arn.to_owned(),
                    fragment_number: out.len() as u64,
                    producer_timestamp_ms: f.producer_timestamp_ms(),
                    track,
                },
                init: init.clone(),
                cluster: f.bytes(),
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
        plaintext_bytes: total,
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
    /// The plaintext of every fragment, summed.
    pub plaintext_bytes: u64,
}

/// Reassembles a stream from opened fragments (each init data + one Cluster), one fragment at
/// a time: the init data once (it must be the same in every fragment), then every Cluster in
/// order.
#[derive(Default)]
pub struct Joiner {
    first_init: Option<Vec<u8>>,
}

impl Joiner {
    /// Appends fragment `n`'s Clusters to `out` (and, for the first, its init data).
    pub fn push(&mut self, n: u64, plaintext: &[u8], out: &mut Staged) -> CliResult<()> {
        let s = mkv::split(plaintext)
            .map_err(|e| CliError::from(e).context(format!("fragment {n}")))?;
        match &self.first_init {
            None => {
                out.write_all(s.init_data())?;
                self.first_init = Some(s.init_data().to_vec());
            }
            Some(init) if init.as_slice() == s.init_data() => {}
            Some(_) => {
                return Err(CliError::input(format!(
                    "fragment {n} has other init data (EBML header, Info, Tracks) than the first \
                     fragment; cannot join them into one stream"
                )))
            }
        }
        for c in s.fragments() {
            out.write_all(c.bytes())?;
        }
        Ok(())
    }
}

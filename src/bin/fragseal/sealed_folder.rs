//! The sealed-folder layout of `fragseal seal` and `fragseal open`: one ESDK v2 message per
//! fragment, `fragment-000000.sealed`, `fragment-000001.sealed`, ..., and `index.json`, which
//! lists every fragment's identity.
//!
//! The index is *not* trusted on open: each entry must name the file of its own position and
//! carry the fragment number of its position ([`SealIndex::read`]), and each fragment's
//! identity (stream ARN, fragment number, producer timestamp, track) is verified against the
//! MAC in its message id, so a fragment moved, reordered, replayed from another stream or
//! altered in the index is refused. The expected stream is `--stream-arn`, never the index's.
//!
//! Outputs are staged (see [`crate::files`]) and put in place only when every fragment has
//! been sealed or verified ([`commit_all`]), so nothing appears for a folder that fails.

use crate::error::{CliError, CliResult, Exit};
use crate::files::{self, Mode, Staged};
use bytes::Bytes;
use fragseal::identity::FragmentIdentity;
use fragseal::EncryptionContext;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// `index.json`'s `format` value.
pub const INDEX_FORMAT: &str = "fragseal-sealed-stream";
/// `index.json`'s `version` value.
pub const INDEX_VERSION: u32 = 1;
/// The index file's name.
pub const INDEX_FILE: &str = "index.json";
/// Largest index.json read (bytes).
const MAX_INDEX_LEN: u64 = 64 << 20;

/// The file name of fragment `n` in a sealed folder.
pub fn fragment_file(n: u64) -> String {
    format!("fragment-{n:06}.sealed")
}

/// `index.json` of a sealed folder.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealIndex {
    pub format: String,
    pub version: u32,
    pub stream_arn: String,
    pub key: String,
    pub encryption_context: BTreeMap<String, String>,
    pub frame_length: u32,
    /// `mkv` when every fragment is an MKV init data + one Cluster.
    pub media: String,
    pub fragments: Vec<IndexEntry>,
}

/// One fragment in `index.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    pub file: String,
    pub fragment_number: u64,
    pub producer_timestamp_ms: u64,
    pub track: u64,
    pub plaintext_len: u64,
    pub sealed_len: u64,
}

impl IndexEntry {
    pub fn new(identity: &FragmentIdentity, plaintext_len: usize, sealed_len: usize) -> Self {
        Self {
            file: fragment_file(identity.fragment_number),
            fragment_number: identity.fragment_number,
            producer_timestamp_ms: identity.producer_timestamp_ms,
            track: identity.track,
            plaintext_len: plaintext_len as u64,
            sealed_len: sealed_len as u64,
        }
    }
}

impl SealIndex {
    pub fn new(
        stream_arn: &str,
        key: &str,
        ec: &EncryptionContext,
        frame_length: u32,
        mkv: bool,
        fragments: Vec<IndexEntry>,
    ) -> Self {
        Self {
            format: INDEX_FORMAT.into(),
            version: INDEX_VERSION,
            stream_arn: stream_arn.into(),
            key: key.into(),
            encryption_context: ec.as_map().clone(),
            frame_length,
            media: if mkv { "mkv" } else { "raw" }.into(),
            fragments,
        }
    }

    /// Reads and checks `dir/index.json`.
    pub fn read(dir: &Path) -> CliResult<Self> {
        let path = dir.join(INDEX_FILE);
        let text = files::read_regular(&path, MAX_INDEX_LEN, "an index")
            .map_err(|e| e.with_hint("a sealed folder is written by `fragseal seal`"))?;
        let index: SealIndex = serde_json::from_slice(&text).map_err(|e| {
            CliError::input(format!("{} is not a valid index: {e}", path.display()))
        })?;
        if index.format != INDEX_FORMAT || index.version != INDEX_VERSION {
            return Err(CliError::input(format!(
                "{}: unsupported index format {:?} version {}",
                path.display(),
                index.format,
                index.version
            )));
        }
        for (i, e) in index.fragments.iter().enumerate() {
            let i = i as u64;
            if e.fragment_number != i || e.file != fragment_file(i) {
                return Err(CliError::input(format!(
                    "{}: entry {i} names fragment {} in {:?}; entry {i} must be fragment {i} in {:?}",
                    path.display(),
                    e.fragment_number,
                    e.file,
                    fragment_file(i)
                )));
            }
        }
        Ok(index)
    }
}

/// Puts every staged output in place, in order.
pub fn commit_all(staged: Vec<Staged>, force: bool) -> CliResult<()> {
    for s in staged {
        s.commit(force)?;
    }
    Ok(())
}

/// Writes the sealed fragments, then the index, into `dir` (used by `demo --keep`).
pub fn write_folder(dir: &Path, index: &SealIndex, sealed: &[Bytes], force: bool) -> CliResult<()> {
    check_folder_free(
        dir,
        Some(INDEX_FILE),
        index.fragments.len(),
        fragment_file,
        force,
    )?;
    let dir_guard = files::prepare_dir(dir)?;
    let mut staged = Vec::with_capacity(sealed.len() + 1);
    for (e, s) in index.fragments.iter().zip(sealed) {
        let mut st = Staged::new(&dir.join(&e.file), Mode::Public)?;
        st.write_all(s)?;
        st.close(force)?;
        staged.push(st);
    }
    staged.push(stage_index(dir, index)?);
    commit_all(staged, force)?;
    dir_guard.keep();
    Ok(())
}

pub fn stage_index(dir: &Path, index: &SealIndex) -> CliResult<Staged> {
    let text = serde_json::to_string_pretty(index)
        .map_err(|e| CliError::new(Exit::Internal, e.to_string()))?;
    let mut st = Staged::new(&dir.join(INDEX_FILE), Mode::Public)?;
    st.write_all((text + "\n").as_bytes())?;
    Ok(st)
}

/// Refuses an output folder that is a symlink or a file, or (without `force`) that already
/// holds `marker` (a sealed stream's index) or one of the `n` files named by `name`.
pub fn check_folder_free(
    dir: &Path,
    marker: Option<&str>,
    n: usize,
    name: impl Fn(u64) -> String,
    force: bool,
) -> CliResult<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CliError::write(dir, &e)),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(CliError::new(
                Exit::Local,
                format!(
                    "{} is a symlink; give the folder itself as output",
                    dir.display()
                ),
            ))
        }
        Ok(m) if !m.is_dir() => {
            return Err(CliError::new(
                Exit::Local,
                format!("{} exists and is not a folder", dir.display()),
            ))
        }
        Ok(_) => {}
    }
    if !force && marker.is_some_and(|m| std::fs::symlink_metadata(dir.join(m)).is_ok()) {
        return Err(CliError::new(
            Exit::Local,
            format!("{} already holds a sealed stream", dir.display()),
        )
        .with_hint("use --force to replace it, or another --output"));
    }
    for i in 0..n as u64 {
        files::check_free(&dir.join(name(i)), force)?;
    }
    Ok(())
}

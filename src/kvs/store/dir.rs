//! The directory store: one directory per stream, one file per sealed fragment.
//!
//! ```text
//! ROOT/FRAGSEAL-KVS-STORE             marker: "fragseal-kvs-store v1\n"
//! ROOT/streams/SHA256(ARN)/stream.json    StreamInfo (KVS field names)
//! ROOT/streams/SHA256(ARN)/NUMBER.frag    "FSKVSFR1" ‖ u32 n ‖ meta JSON (n bytes)
//!                                         ‖ u64 m ‖ sealed message (m bytes)   (big-endian)
//! ```
//!
//! - A fragment is written to a temporary file (`.tmp-...`, created new), fsynced, then
//!   hard-linked to its final name — which fails if that name exists, so nothing is ever
//!   overwritten — and the directory is fsynced before [`Store::put_fragment`] returns. A
//!   crash leaves either the whole fragment or at most a stray temporary file, which is
//!   ignored.
//! - A directory that is not empty and has no marker, a marker with other contents, or an
//!   unexpected file in a stream directory is [`StoreError::Foreign`]; a fragment or stream
//!   file that does not parse exactly is [`StoreError::Corrupt`]. Neither is ever modified.

use super::{parse_fragment_number, FragmentMeta, Store, StoreError, StoredFragment};
use crate::kvs::stream::StreamInfo;
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const MARKER_NAME: &str = "FRAGSEAL-KVS-STORE";
const MARKER: &[u8] = b"fragseal-kvs-store v1\n";
const MAGIC: &[u8; 8] = b"FSKVSFR1";
const STREAM_FILE: &str = "stream.json";
const TMP_PREFIX: &str = ".tmp-";
/// Largest metadata record accepted.
const MAX_META_LEN: u32 = 64 * 1024;

/// A store in a directory: one directory per stream, one file per sealed fragment, each
/// written to a new temporary file, fsynced, hard-linked to its final name (never replacing
/// one) and the directory fsynced; foreign or corrupt files are refused and never modified.
#[derive(Debug)]
pub struct DirStore {
    root: PathBuf,
    // Serializes writers of this process (stream files are replaced, fragments linked).
    write_lock: Mutex<()>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn foreign(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Foreign {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io(path))
}

impl DirStore {
    /// Opens the store in `root`, creating it (and its marker) when `root` is missing or an
    /// empty directory.
    ///
    /// # Errors
    /// [`StoreError::Foreign`] for a directory that is not a fragseal KVS store,
    /// [`StoreError::Corrupt`] for a stream file that does not parse, [`StoreError::Io`].
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        let marker = root.join(MARKER_NAME);
        match fs::symlink_metadata(&root) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(&root).map_err(io(&root))?;
            }
            Err(e) => return Err(io(&root)(e)),
            Ok(m) if !m.is_dir() => return Err(foreign(&root, "not a directory")),
            Ok(_) => {}
        }
        if marker.exists() {
            let mut got = Vec::new();
            File::open(&marker)
                .and_then(|f| f.take(256).read_to_end(&mut got))
                .map_err(io(&marker))?;
            if got != MARKER {
                return Err(foreign(&marker, "the marker file has other contents"));
            }
        } else {
            let mut entries = fs::read_dir(&root).map_err(io(&root))?;
            if entries.next().is_some() {
                return Err(foreign(
                    &root,
                    format!("the directory is not empty and has no {MARKER_NAME} file"),
                ));
            }
            write_new(&marker, MARKER)?;
            sync_dir(&root)?;
        }
        let streams = root.join("streams");
        fs::create_dir_all(&streams).map_err(io(&streams))?;
        let store = Self {
            root,
            write_lock: Mutex::new(()),
        };
        // Validate every stream file now: a corrupt store is refused at open.
        store.streams()?;
        Ok(store)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn stream_dir(&self, stream_arn: &str) -> PathBuf {
        let digest = Sha256::digest(stream_arn.as_bytes());
        self.root.join("streams").join(hex::encode(digest))
    }

    fn read_stream_file(dir: &Path) -> Result<StreamInfo, StoreError> {
        let path = dir.join(STREAM_FILE);
        let bytes = fs::read(&path).map_err(io(&path))?;
        let info: StreamInfo =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e.to_string()))?;
        let expected = Sha256::digest(info.stream_arn.as_bytes());
        if dir.file_name().and_then(|n| n.to_str()) != Some(hex::encode(expected).as_str()) {
            return Err(corrupt(
                &path,
                "the stream ARN does not match the directory",
            ));
        }
        Ok(info)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        self.write_lock.lock().map_err(|_| StoreError::Poisoned)
    }

    fn existing_stream_dir(&self, stream_arn: &str) -> Result<PathBuf, StoreError> {
        let dir = self.stream_dir(stream_arn);
        if !dir.join(STREAM_FILE).exists() {
            return Err(StoreError::NoSuchStream {
                stream_arn: stream_arn.to_owned(),
            });
        }
        Ok(dir)
    }

    /// The fragment files of a stream directory, checked: (number, path).
    fn fragment_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name();
            let path = entry.path();
            let Some(name) = name.to_str() else {
                return Err(foreign(&path, "a file name that is not UTF-8"));
            };
            if name == STREAM_FILE || name.starts_with(TMP_PREFIX) {
                continue;
            }
            match name.strip_suffix(".frag") {
                Some(n) if parse_fragment_number(n).is_some() => out.push((n.to_owned(), path)),
                _ => return Err(foreign(&path, "an unexpected file in a stream directory")),
            }
        }
        out.sort();
        Ok(out)
    }
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn tmp_name(dir: &Path, what: &str) -> PathBuf {
    let mut r = [0u8; 8];
    crate::crypto::fill_random(&mut r);
    dir.join(format!("{TMP_PREFIX}{what}-{}", hex::encode(r)))
}

fn encode_fragment(f: &StoredFragment) -> Result<Vec<u8>, StoreError> {
    let meta = serde_json::to_vec(&f.meta).map_err(|e| StoreError::Corrupt {
        path: PathBuf::new(),
        reason: e.to_string(),
    })?;
    let meta_len = u32::try_from(meta.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(8 + 4 + meta.len() + 8 + f.sealed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&meta_len.to_be_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&(f.sealed.len() as u64).to_be_bytes());
    out.extend_from_slice(&f.sealed);
    Ok(out)
}

fn split_at_checked<'a>(
    b: &'a [u8],
    n: usize,
    path: &Path,
) -> Result<(&'a [u8], &'a [u8]), StoreError> {
    if b.len() < n {
        return Err(corrupt(path, "truncated"));
    }
    Ok(b.split_at(n))
}

/// Parses a fragment file; `with_sealed` false skips copying the message.
fn decode_fragment(
    bytes: &[u8],
    path: &Path,
    number: &str,
) -> Result<(FragmentMeta, Vec<u8>), StoreError> {
    let (magic, rest) = split_at_checked(bytes, 8, path)?;
    if magic != MAGIC {
        return Err(foreign(path, "not a fragseal KVS fragment file"));
    }
    let (len, rest) = split_at_checked(rest, 4, path)?;
    let meta_len = u32::from_be_bytes(len.try_into().map_err(|_| corrupt(path, "truncated"))?);
    if meta_len > MAX_META_LEN {
        return Err(corrupt(path, "metadata too long"));
    }
    let (meta, rest) = split_at_checked(rest, meta_len as usize, path)?;
    let meta: FragmentMeta =
        serde_json::from_slice(meta).map_err(|e| corrupt(path, format!("metadata: {e}")))?;
    let (len, sealed) = split_at_checked(rest, 8, path)?;
    let sealed_len = u64::from_be_bytes(len.try_into().map_err(|_| corrupt(path, "truncated"))?);
    if sealed.len() as u64 != sealed_len {
        return Err(corrupt(
            path,
            format!(
                "the sealed message is {} bytes, the header says {sealed_len}",
                sealed.len()
            ),
        ));
    }
    if meta.fragment_number != number || parse_fragment_number(number) != Some(meta.sequence) {
        return Err(corrupt(
            path,
            "the fragment number does not match the file name",
        ));
    }
    Ok((meta, sealed.to_vec()))
}

impl Store for DirStore {
    fn streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        let dir = self.root.join("streams");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            let name = entry.file_name();
            if name.to_str().is_some_and(|n| n.starts_with(TMP_PREFIX)) {
                continue;
            }
            if !path.is_dir() {
                return Err(foreign(&path, "an unexpected file among the streams"));
            }
            out.push(Self::read_stream_file(&path)?);
        }
        Ok(out)
    }

    fn put_stream(&self, info: &StreamInfo) -> Result<(), StoreError> {
        let _g = self.lock()?;
        let dir = self.stream_dir(&info.stream_arn);
        let fresh = !dir.exists();
        if fresh {
            fs::create_dir_all(&dir).map_err(io(&dir))?;
        } else {
            // Only a file that is ours is ever replaced.
            Self::read_stream_file(&dir)?;
        }
        let json = serde_json::to_vec_pretty(info).map_err(|e| corrupt(&dir, e.to_string()))?;
        let tmp = tmp_name(&dir, "stream");
        write_new(&tmp, &json)?;
        let path = dir.join(STREAM_FILE);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(&dir)?;
        if fresh {
            sync_dir(&self.root.join("streams"))?;
        }
        Ok(())
    }

    fn delete_stream(&self, stream_arn: &str) -> Result<(), StoreError> {
        let _g = self.lock()?;
        let dir = self.existing_stream_dir(stream_arn)?;
        Self::read_stream_file(&dir)?;
        Self::fragment_files(&dir)?;
        fs::remove_dir_all(&dir).map_err(io(&dir))?;
        sync_dir(&self.root.join("streams"))
    }

    fn put_fragment(&self, stream_arn: &str, fragment: StoredFragment) -> Result<(), StoreError> {
        let number = &fragment.meta.fragment_number;
        if parse_fragment_number(number) != Some(fragment.meta.sequence) {
            return Err(corrupt(
                Path::new(number),
                "the fragment number does not match its sequence",
            ));
        }
        let _g = self.lock()?;
        let dir = self.existing_stream_dir(stream_arn)?;
        let path = dir.join(format!("{number}.frag"));
        let exists = || StoreError::FragmentExists {
            stream_arn: stream_arn.to_owned(),
            fragment_number: number.clone(),
        };
        if path.exists() {
            return Err(exists());
        }
        let bytes = encode_fragment(&fragment)?;
        let tmp = tmp_name(&dir, number);
        write_new(&tmp, &bytes)?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
            Err(e) => return Err(io(&path)(e)),
        }
        sync_dir(&dir)
    }

    fn fragments(&self, stream_arn: &str) -> Result<Vec<FragmentMeta>, StoreError> {
        let dir = self.stream_dir(stream_arn);
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (number, path) in Self::fragment_files(&dir)? {
            let bytes = fs::read(&path).map_err(io(&path))?;
            out.push(decode_fragment(&bytes, &path, &number)?.0);
        }
        Ok(out)
    }

    fn fragment(
        &self,
        stream_arn: &str,
        fragment_number: &str,
    ) -> Result<Option<StoredFragment>, StoreError> {
        if parse_fragment_number(fragment_number).is_none() {
            return Ok(None);
        }
        let path = self
            .stream_dir(stream_arn)
            .join(format!("{fragment_number}.frag"));
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let (meta, sealed) = decode_fragment(&bytes, &path, fragment_number)?;
        Ok(Some(StoredFragment {
            meta,
            sealed: sealed.into(),
        }))
    }

    fn expire(&self, stream_arn: &str, before_ms: u64) -> Result<usize, StoreError> {
        let _g = self.lock()?;
        let dir = self.stream_dir(stream_arn);
        if !dir.exists() {
            return Ok(0);
        }
        let mut removed = 0;
        for (number, path) in Self::fragment_files(&dir)? {
            let bytes = fs::read(&path).map_err(io(&path))?;
            let (meta, _) = decode_fragment(&bytes, &path, &number)?;
            if meta.server_timestamp_ms < before_ms {
                fs::remove_file(&path).map_err(io(&path))?;
                removed += 1;
            }
        }
        if removed > 0 {
            sync_dir(&dir)?;
        }
        Ok(removed)
    }
}

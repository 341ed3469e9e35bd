//! `fragseal seal` and `fragseal open`, the sealed-folder layout and its index.json.
//!
//! A sealed MKV stream is a folder: `fragment-000000.sealed`, `fragment-000001.sealed`, ... (one
//! ESDK v2 message per fragment) and `index.json`, which lists every fragment's identity. The
//! index is *not* trusted on open: each entry must name the file of its own position and carry
//! the fragment number of its position, and each fragment's identity (stream ARN, fragment
//! number, producer timestamp, track) is verified against the MAC in its message id, so a
//! fragment moved, reordered, replayed from another stream or altered in the index is refused.
//! The expected stream is `--stream-arn`, never the index's.
//!
//! Fragments are sealed and opened a batch at a time: each batch's outputs go to temporary files
//! (see [`crate::files`]) and are dropped from memory; only when every fragment has been sealed
//! or verified are the outputs put in place, so nothing appears for a folder that fails.

use crate::backend::read_file;
use crate::cli::{OpenArgs, SealArgs, StreamOpts};
use crate::error::{CliError, CliResult, Exit};
use crate::files::{self, Mode, Staged};
use crate::keys::Item;
use crate::media;
use crate::report::{self, thousands};
use bytes::Bytes;
use fragseal::identity::FragmentIdentity;
use fragseal::EncryptionContext;
use serde::{Deserialize, Serialize};
use serde_json::json;
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
    fn read(dir: &Path) -> CliResult<Self> {
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
fn commit_all(staged: Vec<Staged>, force: bool) -> CliResult<()> {
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

fn stage_index(dir: &Path, index: &SealIndex) -> CliResult<Staged> {
    let text = serde_json::to_string_pretty(index)
        .map_err(|e| CliError::new(Exit::Internal, e.to_string()))?;
    let mut st = Staged::new(&dir.join(INDEX_FILE), Mode::Public)?;
    st.write_all((text + "\n").as_bytes())?;
    Ok(st)
}

/// Refuses an output folder that is a symlink or a file, or (without `force`) that already
/// holds `marker` (a sealed stream's index) or one of the `n` files named by `name`.
fn check_folder_free(
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

/// Most bytes (of plaintext to seal, or of sealed messages to open) held in one batch.
pub const MAX_BATCH_BYTES: u64 = 256 << 20;

/// The batches over `total` items whose sizes `len(i)` gives: the first item alone — it
/// fetches the data key (one KMS call) or fails fast, e.g. on AccessDenied, before the others
/// run in parallel from the cached key — then batches big enough to keep every thread busy,
/// small enough to move the bar ~50 times, and never (beyond one item) more than
/// [`MAX_BATCH_BYTES`] in memory at once.
pub fn batches(
    total: usize,
    len: impl Fn(usize) -> u64,
) -> impl Iterator<Item = std::ops::Range<usize>> {
    let chunk = (total / 50)
        .clamp(4 * rayon::current_num_threads(), 256)
        .max(1);
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= total {
            return None;
        }
        let mut end = start + 1;
        let mut bytes = len(start);
        if start > 0 {
            while end < total && end - start < chunk {
                bytes = bytes.saturating_add(len(end));
                if bytes > MAX_BATCH_BYTES {
                    break;
                }
                end += 1;
            }
        }
        let r = start..end;
        start = end;
        Some(r)
    })
}

/// The encryption context: `aws:kinesisvideo:arn` = the stream ARN, plus `--context` pairs.
///
/// A `--context` key equal to `aws:kinesisvideo:arn` in any case (`AWS:KinesisVideo:ARN`) is
/// refused: KMS matches condition keys case-insensitively, so such a pair could satisfy a
/// key policy's `kms:EncryptionContext:aws:kinesisvideo:arn` condition for another stream.
/// Two keys that differ only in case are refused for the same reason.
pub fn encryption_context(s: &StreamOpts) -> CliResult<EncryptionContext> {
    const STREAM_KEY: &str = "aws:kinesisvideo:arn";
    let mut ec = EncryptionContext::new().with(STREAM_KEY, s.stream_arn.clone());
    let mut lower = std::collections::BTreeSet::from([STREAM_KEY.to_owned()]);
    for pair in &s.context {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("--context {pair:?} is not KEY=VALUE")))?;
        if k.is_empty() {
            return Err(CliError::usage(format!(
                "--context {pair:?} has an empty key"
            )));
        }
        if k.to_ascii_lowercase().starts_with("aws-crypto-") {
            return Err(CliError::usage(format!(
                "--context key {k:?} uses the reserved prefix aws-crypto-"
            )));
        }
        if k.eq_ignore_ascii_case(STREAM_KEY) {
            return Err(CliError::usage(format!(
                "--context key {k:?} is {STREAM_KEY} (in any case), which is set by --stream-arn"
            )));
        }
        if !lower.insert(k.to_lowercase()) || ec.insert(k, v).is_some() {
            return Err(CliError::usage(format!(
                "--context key {k:?} is given twice (keys may not differ only in case)"
            )));
        }
    }
    Ok(ec)
}

pub fn seal(args: &SealArgs) -> CliResult<()> {
    let input = read_file(&args.input)?;
    let ec = encryption_context(&args.stream)?;
    let stream_arn = &args.stream.stream_arn;
    let as_mkv = !args.whole && media::looks_like_mkv(&input);
    if !as_mkv {
        return seal_whole(args, &input, ec);
    }
    // Split (and check the plaintext budget) and check the output before any KMS call.
    let (fragments, split) = media::fragments(&input, stream_arn, args.track).map_err(|e| {
        e.context(args.input.display())
            .with_hint("to seal the file as one opaque message instead, add --whole")
    })?;
    check_folder_free(
        &args.output,
        Some(INDEX_FILE),
        fragments.len(),
        fragment_file,
        args.force,
    )?;
    let credential = args.caller.credential(&args.kms)?;
    let sealer = args
        .keys
        .sealer(&args.kms, &credential, args.frame_length)?;
    let dir_guard = files::prepare_dir(&args.output)?;

    let bar = report::progress(fragments.len() as u64, "seal", args.json);
    let mut staged = Vec::with_capacity(fragments.len() + 1);
    let mut entries = Vec::with_capacity(fragments.len());
    let mut sealed_bytes = 0u64;
    for range in batches(fragments.len(), |i| {
        fragments.get(i).map_or(0, |f| f.plaintext_len() as u64)
    }) {
        let batch = fragments.get(range).unwrap_or_default();
        let items = batch
            .iter()
            .map(|f| Item {
                bytes: f.plaintext(),
                identity: Some(f.identity.clone()),
            })
            .collect();
        let sealed = sealer.seal_batch(&credential, &ec, items)?;
        sealer.check_audit()?;
        for (f, s) in batch.iter().zip(&sealed) {
            let e = IndexEntry::new(&f.identity, f.plaintext_len(), s.len());
            let mut st = Staged::new(&args.output.join(&e.file), Mode::Public)?;
            st.write_all(s)?;
            st.close(args.force)?;
            staged.push(st);
            sealed_bytes += s.len() as u64;
            entries.push(e);
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    let key_label = args.keys.label();
    let index = SealIndex::new(
        stream_arn,
        &key_label,
        &ec,
        args.frame_length,
        true,
        entries,
    );
    staged.push(stage_index(&args.output, &index)?);
    commit_all(staged, args.force)?;
    dir_guard.keep();
    let calls = sealer.kms_calls(&credential);
    sealer.check_audit()?;
    if args.json {
        let v = json!({
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "media": "mkv",
            "fragments": fragments.len(),
            "input_len": split.input_len,
            "init_len": split.init_len,
            "documents": split.documents,
            "plaintext_bytes": split.plaintext_bytes,
            "sealed_bytes": sealed_bytes,
            "stream_arn": stream_arn,
            "key": key_label,
            "kms_calls": calls,
            "index": args.output.join(INDEX_FILE).display().to_string(),
        });
        outln!("{}", crate::text::json(&v, true));
    } else {
        outln!(
            "sealed {} fragments of {} ({} bytes) into {} ({} bytes + {INDEX_FILE}); {} KMS call(s) as {}",
            fragments.len(),
            args.input.display(),
            thousands(split.input_len as u64),
            args.output.display(),
            thousands(sealed_bytes),
            calls,
            crate::text::escape(credential.principal_arn())
        );
    }
    Ok(())
}

fn seal_whole(args: &SealArgs, input: &[u8], ec: EncryptionContext) -> CliResult<()> {
    files::check_free(&args.output, args.force)?;
    let credential = args.caller.credential(&args.kms)?;
    let sealer = args
        .keys
        .sealer(&args.kms, &credential, args.frame_length)?;
    let identity = FragmentIdentity {
        stream_arn: args.stream.stream_arn.clone(),
        fragment_number: args.fragment_number,
        producer_timestamp_ms: args.timestamp_ms,
        track: args.track.unwrap_or(1),
    };
    let len = input.len();
    let sealed = sealer
        .seal_batch(
            &credential,
            &ec,
            vec![Item {
                bytes: Bytes::copy_from_slice(input),
                identity: Some(identity.clone()),
            }],
        )?
        .pop()
        .ok_or_else(|| CliError::new(Exit::Internal, "nothing was sealed"))?;
    sealer.check_audit()?;
    files::write_output(&args.output, &sealed, args.force, Mode::Public)?;
    if args.json {
        let v = json!({
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "media": "raw",
            "plaintext_len": len,
            "sealed_len": sealed.len(),
            "stream_arn": identity.stream_arn,
            "fragment_number": identity.fragment_number,
            "producer_timestamp_ms": identity.producer_timestamp_ms,
            "track": identity.track,
            "key": args.keys.label(),
            "kms_calls": sealer.kms_calls(&credential),
        });
        outln!("{}", crate::text::json(&v, true));
    } else {
        outln!(
            "sealed {} ({} bytes) into {} ({} bytes)",
            args.input.display(),
            thousands(len as u64),
            args.output.display(),
            thousands(sealed.len() as u64)
        );
    }
    Ok(())
}

pub fn open(args: &OpenArgs) -> CliResult<()> {
    if args.input.is_dir() {
        return open_folder(args);
    }
    if args.join.is_some() {
        return Err(CliError::usage("--join needs a sealed folder as input"));
    }
    let message = files::read_regular(&args.input, args.max_size, files::SEALED)?;
    files::check_free(&args.output, args.force)?;
    let credential = args.caller.credential(&args.kms)?;
    let opener = args.keys.opener(&args.discovery, &args.kms, &credential)?;
    let identity = (!args.no_identity).then(|| FragmentIdentity {
        stream_arn: args.stream_arn.clone(),
        fragment_number: args.fragment_number,
        producer_timestamp_ms: args.timestamp_ms,
        track: args.track,
    });
    let opened = opener
        .open_one(&credential, Bytes::from(message), identity.clone())
        .map_err(|e| {
            let e = e.context(args.input.display());
            match (&identity, e.exit) {
                (Some(i), Exit::Authentication) => e.with_hint(format!(
                    "checked as stream {}, fragment {}, timestamp {} ms, track {}: give the \
                     values used when sealing (--stream-arn, --fragment-number, --timestamp-ms, \
                     --track), or --no-identity",
                    i.stream_arn, i.fragment_number, i.producer_timestamp_ms, i.track
                )),
                _ => e,
            }
        })?;
    opener.check_audit()?;
    files::write_output(&args.output, &opened, args.force, Mode::Private)?;
    if args.json {
        let v = json!({
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "plaintext_len": opened.len(),
            "identity_checked": identity.is_some(),
            "kms_calls": opener.kms_calls(&credential),
        });
        outln!("{}", crate::text::json(&v, true));
    } else {
        outln!(
            "opened {} into {} ({} bytes){}",
            args.input.display(),
            args.output.display(),
            thousands(opened.len() as u64),
            if identity.is_some() {
                ", fragment identity verified"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn open_folder(args: &OpenArgs) -> CliResult<()> {
    let index = SealIndex::read(&args.input)?;
    let stream_arn = &args.stream_arn;
    if &index.stream_arn != stream_arn {
        return Err(CliError::new(
            Exit::Authentication,
            format!(
                "{} holds fragments of stream {}, not of {stream_arn}",
                args.input.display(),
                crate::text::escape(&index.stream_arn)
            ),
        )
        .with_hint("give the stream the fragments were sealed for with --stream-arn"));
    }
    let ext = if index.media == "mkv" { "mkv" } else { "bin" };
    let out_name = |n: u64| format!("fragment-{n:06}.{ext}");
    check_folder_free(
        &args.output,
        None,
        index.fragments.len(),
        out_name,
        args.force,
    )?;
    if let Some(j) = &args.join {
        files::check_free(j, args.force)?;
    }
    let credential = args.caller.credential(&args.kms)?;
    let opener = args.keys.opener(&args.discovery, &args.kms, &credential)?;
    let dir_guard = files::prepare_dir(&args.output)?;
    let mut join = match &args.join {
        Some(j) => Some((Staged::new(j, Mode::Private)?, media::Joiner::default())),
        None => None,
    };

    // One batch at a time: read (bounded, sizes checked against the index), open, stage.
    let bar = report::progress(index.fragments.len() as u64, "open", args.json);
    let mut staged = Vec::with_capacity(index.fragments.len());
    let mut bytes = 0u64;
    for range in batches(index.fragments.len(), |i| {
        index.fragments.get(i).map_or(0, |e| e.sealed_len)
    }) {
        let batch = index.fragments.get(range).unwrap_or_default();
        let mut items = Vec::with_capacity(batch.len());
        for e in batch {
            let p = args.input.join(&e.file);
            let message = files::read_exact_len(&p, e.sealed_len, args.max_size)?;
            items.push(Item {
                bytes: Bytes::from(message),
                identity: Some(FragmentIdentity {
                    stream_arn: stream_arn.clone(),
                    fragment_number: e.fragment_number,
                    producer_timestamp_ms: e.producer_timestamp_ms,
                    track: e.track,
                }),
            });
        }
        let opened = opener.open_batch(&credential, items)?;
        opener.check_audit()?;
        for (e, o) in batch.iter().zip(&opened) {
            let mut st = Staged::new(
                &args.output.join(out_name(e.fragment_number)),
                Mode::Private,
            )?;
            st.write_all(o)?;
            st.close(args.force)?;
            staged.push(st);
            if let Some((j, joiner)) = &mut join {
                joiner.push(e.fragment_number, o, j)?;
            }
            bytes += o.len() as u64;
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();

    // Everything verified: put the outputs in place.
    commit_all(staged, args.force)?;
    dir_guard.keep();
    if let Some((j, _)) = join {
        j.commit(args.force)?;
    }
    let calls = opener.kms_calls(&credential);
    opener.check_audit()?;
    let n = index.fragments.len();
    if args.json {
        let v = json!({
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "fragments": n,
            "plaintext_bytes": bytes,
            "stream_arn": stream_arn,
            "identity_checked": true,
            "joined": args.join.as_ref().map(|j| j.display().to_string()),
            "kms_calls": calls,
        });
        outln!("{}", crate::text::json(&v, true));
    } else {
        outln!(
            "opened {n} fragments of {} into {} ({} bytes), every identity verified; {} KMS call(s) as {}",
            stream_arn,
            args.output.display(),
            thousands(bytes),
            calls,
            crate::text::escape(credential.principal_arn())
        );
        if let Some(j) = &args.join {
            outln!("joined stream written to {}", j.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_start_alone_and_hold_a_bounded_number_of_bytes() {
        let all: Vec<_> = batches(1000, |_| 1).collect();
        assert_eq!(all.first(), Some(&(0..1)));
        assert_eq!(all.iter().map(|r| r.len()).sum::<usize>(), 1000);
        assert!(all.windows(2).all(|w| w[0].end == w[1].start));
        // 100 MiB items: at most two per batch after the first.
        let big: Vec<_> = batches(7, |_| 100 << 20).collect();
        assert_eq!(big, vec![0..1, 1..3, 3..5, 5..7]);
        // One item larger than the bound still forms a batch of its own.
        let huge: Vec<_> = batches(3, |_| MAX_BATCH_BYTES + 1).collect();
        assert_eq!(huge, vec![0..1, 1..2, 2..3]);
        assert_eq!(batches(0, |_| 1).count(), 0);
    }
}

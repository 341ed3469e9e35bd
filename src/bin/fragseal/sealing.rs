//! `fragseal seal`: a file as one message, or an MKV stream as a sealed folder (one message per
//! fragment, see [`crate::sealed_folder`]); the encryption context; the batches both `seal`
//! and `open` ([`crate::opening`]) work in.
//!
//! Fragments are sealed and opened a batch at a time ([`batches`]): each batch's outputs go to
//! temporary files (see [`crate::files`]) and are dropped from memory; only when every fragment
//! has been sealed or verified are the outputs put in place, so nothing appears for a folder
//! that fails.

use crate::backend::read_file;
use crate::cli::{SealArgs, StreamOpts};
use crate::error::{CliError, CliResult, Exit};
use crate::files::{self, Mode, Staged};
use crate::keys::Item;
use crate::media;
use crate::report::{self, thousands};
use crate::sealed_folder::{check_folder_free, commit_all, fragment_file, stage_index};
pub use crate::sealed_folder::{write_folder, IndexEntry, SealIndex, INDEX_FILE};
use bytes::Bytes;
use fragseal::identity::FragmentIdentity;
use fragseal::EncryptionContext;
use serde_json::json;

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
    let sealer = args.keys.sealer(
        &args.kms,
        &credential,
        args.frame_length,
        crate::bench::seal_suite(args.suite),
    )?;
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
    let sealer = args.keys.sealer(
        &args.kms,
        &credential,
        args.frame_length,
        crate::bench::seal_suite(args.suite),
    )?;
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

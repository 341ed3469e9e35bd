//! `fragseal seal` and `fragseal open`, the sealed-folder layout and its index.json.
//!
//! A sealed MKV stream is a folder: `fragment-000000.sealed`, `fragment-000001.sealed`, ... (one
//! ESDK v2 message per fragment) and `index.json`, which lists every fragment's identity. The
//! index is *not* trusted on open: each entry must name the file of its own position and carry
//! the fragment number of its position, and each fragment's identity (stream ARN, fragment
//! number, producer timestamp, track) is verified against the MAC in its message id, so a
//! fragment moved, reordered, replayed from another stream or altered in the index is refused.

use crate::backend::read_file;
use crate::cli::{OpenArgs, SealArgs, StreamOpts, DEFAULT_STREAM_ARN};
use crate::error::{CliError, CliResult, Exit};
use crate::media;
use crate::report::{self, thousands};
use bytes::Bytes;
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::identity::FragmentIdentity;
use fragseal::identity::IdentityCheck;
use fragseal::keyring::{DiscoveryFilter, Keyring, KmsKeyring};
use fragseal::kms::Credential;
use fragseal::kms::Kms;
use fragseal::EncryptionContext;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

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
        let file = std::fs::File::open(&path).map_err(|e| {
            CliError::read(&path, &e).with_hint("a sealed folder is written by `fragseal seal`")
        })?;
        let mut text = String::new();
        file.take(MAX_INDEX_LEN + 1)
            .read_to_string(&mut text)
            .map_err(|e| CliError::read(&path, &e))?;
        if text.len() as u64 > MAX_INDEX_LEN {
            return Err(CliError::input(format!(
                "{} is larger than {MAX_INDEX_LEN} bytes",
                path.display()
            )));
        }
        let index: SealIndex = serde_json::from_str(&text).map_err(|e| {
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

/// Writes the sealed fragments and then the index into `dir`.
pub fn write_folder(dir: &Path, index: &SealIndex, sealed: &[Bytes], force: bool) -> CliResult<()> {
    prepare_folder(dir, force)?;
    for (e, s) in index.fragments.iter().zip(sealed) {
        let p = dir.join(&e.file);
        std::fs::write(&p, s).map_err(|err| CliError::write(&p, &err))?;
    }
    let p = dir.join(INDEX_FILE);
    let text = serde_json::to_string_pretty(index)
        .map_err(|e| CliError::new(Exit::Internal, e.to_string()))?;
    std::fs::write(&p, text + "\n").map_err(|err| CliError::write(&p, &err))
}

/// Creates `dir`, refusing to overwrite a previous result unless `force`.
fn prepare_folder(dir: &Path, force: bool) -> CliResult<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::new(
            Exit::Local,
            format!("{} exists and is not a folder", dir.display()),
        ));
    }
    if !force && dir.join(INDEX_FILE).exists() {
        return Err(CliError::new(
            Exit::Local,
            format!("{} already holds a sealed stream", dir.display()),
        )
        .with_hint("use --force to replace it, or another --output"));
    }
    std::fs::create_dir_all(dir).map_err(|e| CliError::write(dir, &e))
}

fn check_output_file(path: &Path, force: bool) -> CliResult<()> {
    if path.is_dir() {
        return Err(CliError::new(
            Exit::Local,
            format!("{} is a folder; give a file name", path.display()),
        ));
    }
    if !force && path.exists() {
        return Err(
            CliError::new(Exit::Local, format!("{} already exists", path.display()))
                .with_hint("use --force to replace it"),
        );
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> CliResult<()> {
    std::fs::write(path, bytes).map_err(|e| CliError::write(path, &e))
}

/// Seals every request with `engine.seal_batch`: the first alone, then the others in chunks
/// (to move the progress bar); the first failure aborts, naming its fragment.
pub fn seal_all(
    engine: &Engine,
    credential: &Credential,
    requests: Vec<SealRequest>,
    bar: &ProgressBar,
) -> CliResult<Vec<Bytes>> {
    run_chunked(requests, bar, |batch| {
        engine
            .seal_batch(credential, batch)
            .into_iter()
            .map(|r| {
                r.map_err(|f| {
                    let which = fragment_label(f.request.identity.as_ref());
                    CliError::from(f.error).context(format!("sealing fragment{which}"))
                })
            })
            .collect()
    })
}

/// Opens every request with `engine.open_batch`, as [`seal_all`] seals; the first failure
/// aborts, naming its fragment.
pub fn open_all(
    engine: &Engine,
    credential: &Credential,
    requests: Vec<OpenRequest>,
    bar: &ProgressBar,
) -> CliResult<Vec<Bytes>> {
    run_chunked(requests, bar, |batch| {
        engine
            .open_batch(credential, batch)
            .into_iter()
            .map(|r| {
                r.map(|o| o.plaintext).map_err(|f| {
                    let which = fragment_label(f.request.options.identity.expected());
                    CliError::from(f.error).context(format!("opening fragment{which}"))
                })
            })
            .collect()
    })
}

/// Runs `batch` over `requests`: the first request alone — it fetches the data key (one KMS
/// call) or fails fast, e.g. on AccessDenied, before the others run in parallel from the
/// cached key — then the rest in chunks, moving the bar; stops at the first failure.
fn run_chunked<R>(
    requests: Vec<R>,
    bar: &ProgressBar,
    mut batch: impl FnMut(Vec<R>) -> Vec<CliResult<Bytes>>,
) -> CliResult<Vec<Bytes>> {
    let mut out = Vec::with_capacity(requests.len());
    let chunk = chunk_len(requests.len());
    let mut rest = requests;
    let mut size = 1;
    while !rest.is_empty() {
        let tail = rest.split_off(size.min(rest.len()));
        size = chunk;
        let this = std::mem::replace(&mut rest, tail);
        let n = this.len() as u64;
        for r in batch(this) {
            out.push(r?);
        }
        bar.inc(n);
    }
    Ok(out)
}

/// `" N"` for a fragment with identity number N, empty otherwise.
fn fragment_label(identity: Option<&FragmentIdentity>) -> String {
    identity.map_or_else(String::new, |i| format!(" {}", i.fragment_number))
}

/// Batches big enough to keep every thread busy, small enough to move the bar ~50 times.
fn chunk_len(total: usize) -> usize {
    (total / 50).max(4 * rayon::current_num_threads()).max(1)
}

/// The encryption context: `aws:kinesisvideo:arn` = the stream ARN, plus `--context` pairs.
pub fn encryption_context(s: &StreamOpts) -> CliResult<EncryptionContext> {
    let mut ec = EncryptionContext::new().with("aws:kinesisvideo:arn", s.stream_arn.clone());
    for pair in &s.context {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("--context {pair:?} is not KEY=VALUE")))?;
        if k.is_empty() {
            return Err(CliError::usage(format!(
                "--context {pair:?} has an empty key"
            )));
        }
        if k.starts_with("aws-crypto-") {
            return Err(CliError::usage(format!(
                "--context key {k:?} uses the reserved prefix aws-crypto-"
            )));
        }
        if ec.insert(k, v).is_some() {
            return Err(CliError::usage(format!(
                "--context key {k:?} is given twice (or is aws:kinesisvideo:arn, which is set by --stream-arn)"
            )));
        }
    }
    Ok(ec)
}

fn kms_calls(engine: &Engine, credential: &Credential) -> u64 {
    engine.stats(credential).map(|s| s.kms_calls).unwrap_or(0)
}

pub fn seal(args: &SealArgs) -> CliResult<()> {
    let input = read_file(&args.input)?;
    let ec = encryption_context(&args.stream)?;
    let stream_arn = &args.stream.stream_arn;
    let as_mkv = !args.whole && media::looks_like_mkv(&input);
    // Check the output before any KMS call.
    if as_mkv {
        if !args.force && args.output.join(INDEX_FILE).exists() {
            prepare_folder(&args.output, false)?;
        }
    } else {
        check_output_file(&args.output, args.force)?;
    }
    let credential = args.caller.credential(&args.kms)?;
    let keyring = KmsKeyring::strict(args.kms.open()?, &credential, &[&args.key])?;
    let engine = Engine::new(
        Arc::new(keyring),
        EngineConfig::default().with_frame_length(args.frame_length),
    )?;

    if as_mkv {
        let (fragments, split) = media::fragments(&input, stream_arn, args.track).map_err(|e| {
            e.context(args.input.display())
                .with_hint("to seal the file as one opaque message instead, add --whole")
        })?;
        let requests = fragments
            .iter()
            .map(|f| {
                SealRequest::new(ec.clone(), f.plaintext.clone()).with_identity(f.identity.clone())
            })
            .collect();
        let bar = report::progress(fragments.len() as u64, "seal", args.json);
        let sealed = seal_all(&engine, &credential, requests, &bar)?;
        bar.finish_and_clear();
        let entries = fragments
            .iter()
            .zip(&sealed)
            .map(|(f, s)| IndexEntry::new(&f.identity, f.plaintext.len(), s.len()))
            .collect();
        let index = SealIndex::new(stream_arn, &args.key, &ec, args.frame_length, true, entries);
        write_folder(&args.output, &index, &sealed, args.force)?;
        let sealed_bytes: u64 = sealed.iter().map(|s| s.len() as u64).sum();
        let calls = kms_calls(&engine, &credential);
        if args.json {
            let v = json!({
                "input": args.input.display().to_string(),
                "output": args.output.display().to_string(),
                "media": "mkv",
                "fragments": fragments.len(),
                "input_len": split.input_len,
                "init_len": split.init_len,
                "documents": split.documents,
                "sealed_bytes": sealed_bytes,
                "stream_arn": stream_arn,
                "key": args.key,
                "kms_calls": calls,
                "index": args.output.join(INDEX_FILE).display().to_string(),
            });
            outln!("{v:#}");
        } else {
            outln!(
                "sealed {} fragments of {} ({} bytes) into {} ({} bytes + {INDEX_FILE}); {} KMS call(s) as {}",
                fragments.len(),
                args.input.display(),
                thousands(split.input_len as u64),
                args.output.display(),
                thousands(sealed_bytes),
                calls,
                credential.principal_arn()
            );
        }
        return Ok(());
    }

    let identity = FragmentIdentity {
        stream_arn: stream_arn.clone(),
        fragment_number: args.fragment_number,
        producer_timestamp_ms: args.timestamp_ms,
        track: args.track.unwrap_or(1),
    };
    let len = input.len();
    let request = SealRequest::new(ec, input).with_identity(identity.clone());
    let sealed = engine.seal(&credential, &request)?;
    write_file(&args.output, &sealed)?;
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
            "key": args.key,
            "kms_calls": kms_calls(&engine, &credential),
        });
        outln!("{v:#}");
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

/// The keyring `open` uses: strict over `--trusted-key` when given, else discovery limited to
/// the caller's own partition and account (the 0.2 API has no unfiltered discovery).
fn open_keyring(
    args: &OpenArgs,
    kms: Arc<dyn Kms>,
    credential: &Credential,
) -> CliResult<Arc<dyn Keyring>> {
    if !args.trusted_keys.is_empty() {
        return Ok(Arc::new(KmsKeyring::strict(
            kms,
            credential,
            &args.trusted_keys,
        )?));
    }
    let partition = credential
        .principal_arn()
        .split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws");
    let filter = DiscoveryFilter::new(partition, vec![credential.account().to_owned()]);
    Ok(Arc::new(KmsKeyring::discovery(kms, filter)))
}

pub fn open(args: &OpenArgs) -> CliResult<()> {
    let config = EngineConfig::default();
    if args.input.is_dir() {
        return open_folder(args, config);
    }
    if args.join.is_some() {
        return Err(CliError::usage("--join needs a sealed folder as input"));
    }
    let message = read_file(&args.input)?;
    check_output_file(&args.output, args.force)?;
    let credential = args.caller.credential(&args.kms)?;
    let engine = Engine::new(open_keyring(args, args.kms.open()?, &credential)?, config)?;
    let identity = (!args.no_identity).then(|| FragmentIdentity {
        stream_arn: args
            .stream_arn
            .clone()
            .unwrap_or_else(|| DEFAULT_STREAM_ARN.to_owned()),
        fragment_number: args.fragment_number,
        producer_timestamp_ms: args.timestamp_ms,
        track: args.track,
    });
    let check = match &identity {
        Some(i) => IdentityCheck::Expect(i.clone()),
        None => IdentityCheck::Skip,
    };
    let opened = engine
        .open(&credential, &OpenRequest::new(message, check))
        .map(|o| o.plaintext)
        .map_err(|e| {
            let e = CliError::from(e).context(args.input.display());
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
    write_file(&args.output, &opened)?;
    if args.json {
        let v = json!({
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "plaintext_len": opened.len(),
            "identity_checked": identity.is_some(),
            "kms_calls": kms_calls(&engine, &credential),
        });
        outln!("{v:#}");
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

fn open_folder(args: &OpenArgs, config: EngineConfig) -> CliResult<()> {
    let index = SealIndex::read(&args.input)?;
    let stream_arn = match &args.stream_arn {
        Some(expected) if expected != &index.stream_arn => {
            return Err(CliError::new(
                Exit::Authentication,
                format!(
                    "{} holds fragments of stream {}, not of {expected}",
                    args.input.display(),
                    index.stream_arn
                ),
            ))
        }
        Some(expected) => expected.clone(),
        None => index.stream_arn.clone(),
    };
    let mut requests = Vec::with_capacity(index.fragments.len());
    for e in &index.fragments {
        let p = args.input.join(&e.file);
        let message = read_file(&p)?;
        requests.push(OpenRequest::new(
            message,
            IdentityCheck::Expect(FragmentIdentity {
                stream_arn: stream_arn.clone(),
                fragment_number: e.fragment_number,
                producer_timestamp_ms: e.producer_timestamp_ms,
                track: e.track,
            }),
        ));
    }
    let ext = if index.media == "mkv" { "mkv" } else { "bin" };
    if !args.force {
        let first = args.output.join(format!("fragment-{:06}.{ext}", 0));
        if first.exists() {
            return Err(
                CliError::new(Exit::Local, format!("{} already exists", first.display()))
                    .with_hint("use --force to replace it, or another --output"),
            );
        }
    }
    if let Some(j) = &args.join {
        check_output_file(j, args.force)?;
    }
    let credential = args.caller.credential(&args.kms)?;
    let engine = Engine::new(open_keyring(args, args.kms.open()?, &credential)?, config)?;
    let bar = report::progress(requests.len() as u64, "open", args.json);
    let opened = open_all(&engine, &credential, requests, &bar)?;
    bar.finish_and_clear();

    // Everything verified: write.
    let joined = args
        .join
        .as_ref()
        .map(|_| media::join(&opened))
        .transpose()?;
    std::fs::create_dir_all(&args.output).map_err(|e| CliError::write(&args.output, &e))?;
    for (e, o) in index.fragments.iter().zip(&opened) {
        let p = args
            .output
            .join(format!("fragment-{:06}.{ext}", e.fragment_number));
        write_file(&p, o)?;
    }
    if let (Some(j), Some(joined)) = (&args.join, &joined) {
        write_file(j, joined)?;
    }
    let bytes: u64 = opened.iter().map(|o| o.len() as u64).sum();
    let calls = kms_calls(&engine, &credential);
    if args.json {
        let v = json!({
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "fragments": opened.len(),
            "plaintext_bytes": bytes,
            "stream_arn": stream_arn,
            "identity_checked": true,
            "joined": args.join.as_ref().map(|j| j.display().to_string()),
            "kms_calls": calls,
        });
        outln!("{v:#}");
    } else {
        outln!(
            "opened {} fragments of {} into {} ({} bytes), every identity verified; {} KMS call(s) as {}",
            opened.len(),
            stream_arn,
            args.output.display(),
            thousands(bytes),
            calls,
            credential.principal_arn()
        );
        if let Some(j) = &args.join {
            outln!("joined stream written to {}", j.display());
        }
    }
    Ok(())
}

//! `fragseal open`: a sealed file, or a sealed folder (index.json, checked against every
//! fragment's identity: see [`crate::sealed_folder`]), opened a batch at a time
//! ([`crate::sealing::batches`]) and put in place only when every fragment verified.

use crate::cli::OpenArgs;
use crate::error::{CliError, CliResult, Exit};
use crate::files::{self, Mode, Staged};
use crate::keys::Item;
use crate::media;
use crate::report::{self, thousands};
use crate::sealed_folder::{check_folder_free, commit_all, SealIndex};
use crate::sealing::batches;
use bytes::Bytes;
use fragseal::identity::FragmentIdentity;
use serde_json::json;

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
    let opener = args.keys.opener(
        &args.discovery,
        &args.kms,
        &credential,
        args.signature_policy(),
    )?;
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
    let opener = args.keys.opener(
        &args.discovery,
        &args.kms,
        &credential,
        args.signature_policy(),
    )?;
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

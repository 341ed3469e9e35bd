//! `fragseal demo`: the whole flow on a real MKV, in-process, with least-privilege credentials.

use crate::backend::{read_file, DEFAULT_ACCOUNT, DEFAULT_REGION};
use crate::cli::{DemoArgs, DEFAULT_STREAM_ARN};
use crate::error::{CliError, CliResult, Exit};
use crate::keys::fragment_label;
use crate::media;
use crate::report::{self, human_duration, mib_per_s, thousands, CredentialReport};
use crate::sealing::{self, IndexEntry, SealIndex};
use bytes::Bytes;
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::identity::IdentityCheck;
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::LocalKms;
use fragseal::kms::Credential;
use fragseal::EncryptionContext;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The embedded sample: 5 s of ffmpeg's testsrc, H.264, one Cluster per second
/// (tests/data/README.md says how it was made).
pub const SAMPLE: &[u8] = include_bytes!("../../../tests/data/testsrc-5s.mkv");
const SAMPLE_NAME: &str = "embedded sample (testsrc 320x240 H.264, 5 s, tests/data/testsrc-5s.mkv)";

const PRODUCER_ROLE: &str = "kvs-producer";
/// The local KMS state file written into the --keep folder.
const KEPT_STATE: &str = "fragseal-kms.json";
const CONSUMER_ROLE: &str = "kvs-consumer";

struct Timed {
    elapsed: Duration,
    bytes: u64,
}

pub fn run(args: &DemoArgs) -> CliResult<()> {
    let (input, input_name) = match &args.input {
        Some(p) => (read_file(p)?, p.display().to_string()),
        None => (SAMPLE.to_vec(), SAMPLE_NAME.to_owned()),
    };
    if !media::looks_like_mkv(&input) {
        return Err(CliError::input(format!(
            "{input_name} is not a Matroska (MKV/WebM) stream: it does not start with an EBML header"
        )));
    }
    let stream_arn = DEFAULT_STREAM_ARN;
    let (fragments, split) =
        media::fragments(&input, stream_arn, None).map_err(|e| e.context(&input_name))?;

    // The KMS, the stream key and its least-privilege policy.
    // In memory; with --keep, persisted beside the sealed fragments so they can be opened later.
    let kms = match &args.keep {
        None => LocalKms::new(DEFAULT_REGION, DEFAULT_ACCOUNT),
        Some(dir) => {
            if dir.join(sealing::INDEX_FILE).exists() || dir.join(KEPT_STATE).exists() {
                return Err(CliError::new(
                    Exit::Local,
                    format!("{} already holds a demo result", dir.display()),
                )
                .with_hint("give --keep a new folder"));
            }
            std::fs::create_dir_all(dir).map_err(|e| CliError::write(dir, &e))?;
            let state = dir.join(KEPT_STATE);
            LocalKms::builder(DEFAULT_REGION, DEFAULT_ACCOUNT)
                .state_file(&state)
                .build()
                .map_err(|e| {
                    CliError::new(
                        Exit::Local,
                        format!("cannot create {}: {e}", state.display()),
                    )
                })?
        }
    };
    let kms = Arc::new(kms);
    // Fixed, well-formed identities: a refusal here is a bug in the demo (exit 7).
    let credential = |principal: String, access_key_id: &str| {
        Credential::new(DEFAULT_ACCOUNT, principal, access_key_id)
            .map_err(|e| CliError::new(Exit::Internal, format!("demo: {e}")))
    };
    let admin = credential(
        format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root"),
        "AKIAADMINEXAMPLE0000",
    )?;
    let producer = credential(
        format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/{PRODUCER_ROLE}"),
        "AKIAPRODUCEREXAMPLE0",
    )?;
    let consumer = credential(
        format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/{CONSUMER_ROLE}"),
        "AKIACONSUMEREXAMPLE0",
    )?;
    let policy = report::least_privilege_policy(
        DEFAULT_ACCOUNT,
        producer.principal_arn(),
        consumer.principal_arn(),
        stream_arn,
    );
    let key = kms.create_key(&admin, Some(&policy), "fragseal demo stream key")?;
    kms.create_alias(&admin, "alias/fragseal-demo", &key.arn)?;
    kms.audit().clear(); // count only the data-path calls below

    // One strict keyring on the stream's key: producers seal under it, consumers open only
    // what it protects.
    let keyring = KmsKeyring::strict(
        Arc::clone(&kms) as Arc<dyn fragseal::kms::Kms>,
        &admin,
        &[key.arn.as_str()],
    )?;
    let engine = Engine::new(
        Arc::new(keyring),
        EngineConfig::default().with_frame_length(args.frame_length),
    )?;
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", stream_arn);
    let n = fragments.len() as u64;
    // Within the plaintext budget media::fragments checked: the demo keeps every fragment.
    let plaintexts: Vec<Bytes> = fragments.iter().map(media::Fragment::plaintext).collect();
    let plaintext_bytes = split.plaintext_bytes;

    // Seal in parallel as the producer.
    let requests: Vec<SealRequest> = fragments
        .iter()
        .zip(&plaintexts)
        .map(|(f, p)| SealRequest::new(ec.clone(), p.clone()).with_identity(f.identity.clone()))
        .collect();
    let bar = report::progress(n, "seal", args.json);
    let started = Instant::now();
    let sealed = in_batches(requests, &bar, |batch| {
        engine
            .seal_batch(&producer, batch)
            .into_iter()
            .map(|r| {
                r.map_err(|f| {
                    let which = fragment_label(f.request.identity.as_ref());
                    CliError::from(f.error).context(format!("sealing fragment{which}"))
                })
            })
            .collect()
    })?;
    let seal_time = Timed {
        elapsed: started.elapsed(),
        bytes: plaintext_bytes,
    };
    bar.finish_and_clear();
    let sealed_bytes: u64 = sealed.iter().map(|s| s.len() as u64).sum();

    // Open in parallel as the consumer, each fragment checked against its expected identity.
    let open_requests: Vec<OpenRequest> = sealed
        .iter()
        .zip(&fragments)
        .map(|(s, f)| OpenRequest::new(s.clone(), IdentityCheck::Expect(f.identity.clone())))
        .collect();
    let bar = report::progress(n, "open", args.json);
    let started = Instant::now();
    let opened = in_batches(open_requests, &bar, |batch| {
        engine
            .open_batch(&consumer, batch)
            .into_iter()
            .map(|r| {
                r.map(|opened| opened.plaintext).map_err(|f| {
                    let which = fragment_label(f.request.options.identity.expected());
                    CliError::from(f.error).context(format!("opening fragment{which}"))
                })
            })
            .collect()
    })?;
    let open_time = Timed {
        elapsed: started.elapsed(),
        bytes: plaintext_bytes,
    };
    bar.finish_and_clear();
    for (i, (o, p)) in opened.iter().zip(&plaintexts).enumerate() {
        if o != p {
            return Err(CliError::new(
                Exit::Internal,
                format!("fragment {i} opened to different bytes than were sealed"),
            ));
        }
    }

    // The producer may not open what it sealed.
    let first = sealed
        .first()
        .ok_or_else(|| CliError::new(Exit::Internal, "no fragment was sealed"))?;
    let first_identity = &fragments
        .first()
        .ok_or_else(|| CliError::new(Exit::Internal, "no fragment"))?
        .identity;
    let as_first = OpenRequest::new(first.clone(), IdentityCheck::Expect(first_identity.clone()));
    let producer_open = match engine.open(&producer, &as_first) {
        Ok(_) => {
            return Err(CliError::new(
                Exit::Internal,
                "the producer was able to open a fragment: the key policy is not enforced",
            ))
        }
        Err(e) => e,
    };
    let producer_refusal = match &producer_open {
        fragseal::OpenError::AllKeysFailed(errors) if errors.len() == 1 => match &errors[0] {
            fragseal::KeyringError::Kms(k) => {
                json!({"refused": true, "error": k.code(), "message": k.message()})
            }
            other => json!({"refused": true, "error": "other", "message": other.to_string()}),
        },
        other => json!({"refused": true, "error": "other", "message": other.to_string()}),
    };

    // A fragment presented at another position (moved / reordered) is refused.
    let moved = match (sealed.get(1), fragments.first()) {
        (Some(second), Some(f0)) => match engine.open(
            &consumer,
            &OpenRequest::new(second.clone(), IdentityCheck::Expect(f0.identity.clone())),
        ) {
            Ok(_) => {
                return Err(CliError::new(
                    Exit::Internal,
                    "a fragment presented at another position was accepted",
                ))
            }
            Err(e) => Some(e.to_string()),
        },
        _ => None,
    };

    let reports = [
        CredentialReport::gather("producer", &producer, &kms, &engine),
        CredentialReport::gather("consumer", &consumer, &kms, &engine),
    ];

    if let Some(dir) = &args.keep {
        let index = SealIndex::new(
            stream_arn,
            &key.arn,
            &ec,
            args.frame_length,
            true,
            fragments
                .iter()
                .zip(&sealed)
                .map(|(f, s)| IndexEntry::new(&f.identity, f.plaintext_len(), s.len()))
                .collect(),
        );
        sealing::write_folder(dir, &index, &sealed, false)?;
    }

    let threads = rayon::current_num_threads();
    if args.json {
        let list: Vec<Value> = fragments
            .iter()
            .zip(&sealed)
            .map(|(f, s)| {
                json!({
                    "fragment_number": f.identity.fragment_number,
                    "producer_timestamp_ms": f.identity.producer_timestamp_ms,
                    "track": f.identity.track,
                    "cluster_len": f.cluster_len(),
                    "plaintext_len": f.plaintext_len(),
                    "sealed_len": s.len(),
                })
            })
            .collect();
        let v = json!({
            "input": input_name,
            "input_len": split.input_len,
            "init_len": split.init_len,
            "documents": split.documents,
            "codecs": split.codecs,
            "timestamp_scale_ns": split.timestamp_scale_ns,
            "track": split.track,
            "stream_arn": stream_arn,
            "key_arn": key.arn,
            "key_alias": "alias/fragseal-demo",
            "frame_length": args.frame_length,
            "fragments": n,
            "plaintext_bytes": plaintext_bytes,
            "sealed_bytes": sealed_bytes,
            "threads": threads,
            "seal": timing_json(&seal_time),
            "open": timing_json(&open_time),
            "verified_byte_for_byte": true,
            "producer_open": producer_refusal,
            "moved_fragment": { "refused": moved.is_some(), "error": moved },
            "credentials": reports.iter().map(CredentialReport::to_json).collect::<Vec<_>>(),
            "fragment_list": list,
        });
        outln!("{}", crate::text::json(&v, true));
        return Ok(());
    }

    outln!("fragseal demo: {input_name}");
    outln!("  stream    {stream_arn}");
    outln!("  key       {} (alias/fragseal-demo)", key.arn);
    outln!(
        "  policy    role/{PRODUCER_ROLE}: kms:GenerateDataKey only; role/{CONSUMER_ROLE}: kms:Decrypt only (this stream only)"
    );
    outln!();
    outln!(
        "split     {} bytes → {n} fragments (one per Cluster, each with the {}-byte stream header); codecs {}",
        thousands(split.input_len as u64),
        split.init_len,
        split.codecs.join(", ")
    );
    let ts: Vec<String> = fragments
        .iter()
        .map(|f| format!("{}", f.identity.producer_timestamp_ms))
        .collect();
    outln!("          producer timestamps (ms): {}", ts.join(", "));
    outln!(
        "sealed    {n} fragments, {} → {} bytes, by the producer in {} ({:.1} MiB/s, {threads} threads)",
        thousands(plaintext_bytes),
        thousands(sealed_bytes),
        human_duration(seal_time.elapsed),
        mib_per_s(seal_time.bytes, seal_time.elapsed)
    );
    outln!(
        "opened    {n} fragments by the consumer in {} ({:.1} MiB/s): identical to the input, byte for byte",
        human_duration(open_time.elapsed),
        mib_per_s(open_time.bytes, open_time.elapsed)
    );
    outln!("refused   the producer opening fragment 0: {producer_open}");
    if let Some(m) = &moved {
        outln!("refused   fragment 1 presented as fragment 0: {m}");
    }
    outln!();
    outln!(
        "{:<10} {:<46} {:<44} {:>16} {:>13}",
        "credential",
        "principal",
        "KMS calls",
        "cache hits",
        "est. KMS cost"
    );
    for r in &reports {
        let rate = r
            .hit_rate()
            .map_or_else(|| "-".to_owned(), |x| format!("{:.1} %", x * 100.0));
        outln!(
            "{:<10} {:<46} {:<44} {:>16} {:>13}",
            r.role,
            r.credential.principal_arn(),
            r.calls_text(),
            format!("{rate} ({}/{})", r.hits, r.hits + r.misses),
            format!("${:.7}", r.cost_usd)
        );
    }
    outln!();
    outln!(
        "KMS cost at ${} per 10,000 requests. Each credential gets its own data key from KMS, \
         then the cache serves every fragment within its limits.",
        report::KMS_PRICE_PER_10K
    );
    if let Some(dir) = &args.keep {
        outln!(
            "sealed fragments, index.json and the KMS state written to {}; open them with:\n  \
             fragseal open {} -o opened --key alias/fragseal-demo --kms-state {} --principal {}",
            dir.display(),
            dir.display(),
            dir.join(KEPT_STATE).display(),
            consumer.principal_arn()
        );
    }
    Ok(())
}

/// Runs `batch` over `requests` in the batches of [`sealing::batches`], moving the bar; stops
/// at the first failure.
fn in_batches<R>(
    requests: Vec<R>,
    bar: &indicatif::ProgressBar,
    mut batch: impl FnMut(Vec<R>) -> Vec<CliResult<Bytes>>,
) -> CliResult<Vec<Bytes>> {
    let total = requests.len();
    let mut out = Vec::with_capacity(total);
    let mut rest = requests.into_iter();
    // The demo holds every fragment anyway (within the plaintext budget): batches by count.
    for r in sealing::batches(total, |_| 0) {
        let this: Vec<R> = rest.by_ref().take(r.len()).collect();
        for b in batch(this) {
            out.push(b?);
        }
        bar.inc(r.len() as u64);
    }
    Ok(out)
}

fn timing_json(t: &Timed) -> Value {
    json!({
        "seconds": t.elapsed.as_secs_f64(),
        "mib_per_s": mib_per_s(t.bytes, t.elapsed),
    })
}

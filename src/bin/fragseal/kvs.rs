//! `fragseal kvs`: Kinesis Video Streams with server-side encryption on a directory store,
//! with the local KMS (`--kms local --kms-state PATH`) or a remote one (`--kms aws
//! --endpoint-url URL --iam FILE [--assume-role ROLE]`, for example `fragseal kms serve`);
//! see docs/KVS.md. The layer itself is built in `kvs_layer.rs`.

use crate::backend::{CallerOpts, KmsOpts};
use crate::error::{CliError, CliResult, Exit};
use clap::{Args, Subcommand};
use fragseal::kvs::fragments::ListFragmentsInput;
use fragseal::kvs::get_media::{LiveLimits, StartSelector};
use fragseal::kvs::put_media::PutMediaInput;
use fragseal::kvs::{
    CreateStreamInput, KvsError, KvsErrorKind, ListStreamsInput, StreamRef, UpdateStreamInput,
};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct KvsArgs {
    #[command(subcommand)]
    pub command: KvsCommand,
    /// The stream store directory (created if missing; refused if it is not a fragseal store).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "fragseal-kvs"
    )]
    pub store: PathBuf,
    /// Print JSON (KVS's field names).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub kms: KmsOpts,
    #[command(flatten)]
    pub caller: CallerOpts,
    /// With --kms aws: the IAM file of the `fragseal kms serve` endpoint (its `--iam FILE`),
    /// whose identity policies decide the kinesisvideo: actions and whose access keys name
    /// the caller. Required with --kms aws (without it nothing could decide them).
    #[arg(long, global = true, value_name = "FILE")]
    pub iam: Option<PathBuf>,
}

/// The stream a command acts on: by name or by ARN.
#[derive(Debug, Clone, Args)]
pub struct StreamArg {
    /// Stream name (in --account).
    #[arg(
        long,
        conflicts_with = "stream_arn",
        required_unless_present = "stream_arn"
    )]
    pub stream_name: Option<String>,
    /// Stream ARN.
    #[arg(long)]
    pub stream_arn: Option<String>,
}

impl StreamArg {
    fn stream(&self) -> CliResult<StreamRef> {
        StreamRef::from_parts(self.stream_name.as_deref(), self.stream_arn.as_deref())
            .map_err(kvs_error)
    }
}

#[derive(Debug, Subcommand)]
pub enum KvsCommand {
    /// CreateStream (no KMS call: the key is first used by put-media / get-media).
    CreateStream {
        /// Stream name.
        #[arg(long)]
        stream_name: String,
        /// KMS key (id, ARN, alias/NAME, alias ARN) [default: aws/kinesisvideo].
        #[arg(long)]
        kms_key_id: Option<String>,
        /// DataRetentionInHours (0 keeps nothing).
        #[arg(long, default_value_t = 0)]
        data_retention_in_hours: u32,
        /// MediaType, e.g. video/h264.
        #[arg(long)]
        media_type: Option<String>,
        /// DeviceName.
        #[arg(long)]
        device_name: Option<String>,
    },
    /// DescribeStream.
    DescribeStream(StreamArg),
    /// ListStreams.
    ListStreams {
        /// Only names starting with this.
        #[arg(long)]
        name_begins_with: Option<String>,
    },
    /// UpdateStream (the KMS key cannot change: --kms-key-id is refused as KVS refuses it).
    UpdateStream {
        #[command(flatten)]
        stream: StreamArg,
        /// CurrentVersion (from describe-stream).
        #[arg(long)]
        current_version: String,
        /// New DeviceName.
        #[arg(long)]
        device_name: Option<String>,
        /// New MediaType.
        #[arg(long)]
        media_type: Option<String>,
        /// New DataRetentionInHours.
        #[arg(long)]
        data_retention_in_hours: Option<u32>,
        /// A new key: always refused (InvalidArgumentException).
        #[arg(long)]
        kms_key_id: Option<String>,
    },
    /// DeleteStream.
    DeleteStream {
        #[command(flatten)]
        stream: StreamArg,
        /// CurrentVersion.
        #[arg(long)]
        current_version: Option<String>,
    },
    /// PutMedia: an MKV file (or - for stdin) in; one acknowledgement per line as JSON.
    PutMedia {
        #[command(flatten)]
        stream: StreamArg,
        /// The MKV input.
        file: PathBuf,
        /// ProducerStartTimestamp (ms since the epoch): timecodes are RELATIVE to it.
        #[arg(long)]
        producer_start_timestamp: Option<u64>,
    },
    /// GetMedia: MKV out (to --output or stdout), with KVS's tags.
    GetMedia {
        #[command(flatten)]
        stream: StreamArg,
        /// StartSelectorType: EARLIEST, NOW, FRAGMENT_NUMBER, SERVER_TIMESTAMP,
        /// PRODUCER_TIMESTAMP, CONTINUATION_TOKEN.
        #[arg(long, default_value = "EARLIEST")]
        start_selector_type: String,
        /// AfterFragmentNumber, StartTimestamp (ms) or ContinuationToken.
        #[arg(long)]
        start_value: Option<String>,
        /// Output file [default: stdout].
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Follow the stream: write fragments as they are persisted (by this or another
        /// process's put-media), until --idle-timeout without a new one or --max-fragments.
        #[arg(long)]
        follow: bool,
        /// With --follow: end after this many seconds without a new fragment (decimals
        /// allowed, 0.001 to 86400).
        #[arg(long, value_name = "SECONDS", requires = "follow", value_parser = parse_idle)]
        idle_timeout: Option<std::time::Duration>,
        /// With --follow: end after writing this many fragments.
        #[arg(long, value_name = "N", requires = "follow",
              value_parser = clap::value_parser!(u64).range(1..))]
        max_fragments: Option<u64>,
    },
    /// ListFragments.
    ListFragments(StreamArg),
}

pub(crate) fn kvs_error(e: KvsError) -> CliError {
    let exit = match e.kind() {
        KvsErrorKind::InvalidArgument => Exit::Usage,
        KvsErrorKind::Store | KvsErrorKind::Internal => Exit::Local,
        _ => Exit::KmsRefused,
    };
    CliError::new(exit, e.to_string())
}

/// The exit code of a fragment failure: bad input, KMS refused, KMS unavailable, or local.
fn fragment_exit(id: fragseal::kvs::ErrorId) -> Exit {
    match id.id() {
        4000..=4499 => Exit::Input,
        4503 => Exit::KmsUnavailable,
        4500..=4599 => Exit::KmsRefused,
        _ => Exit::Local,
    }
}

fn selector(kind: &str, value: Option<&str>) -> CliResult<StartSelector> {
    let need = || {
        value.map(str::to_owned).ok_or_else(|| {
            CliError::usage(format!("--start-selector-type {kind} needs --start-value"))
        })
    };
    let ms = || {
        need()?
            .parse::<u64>()
            .map_err(|_| CliError::usage("--start-value: a timestamp in ms since the epoch"))
    };
    Ok(match kind {
        "EARLIEST" => StartSelector::Earliest,
        "NOW" => StartSelector::Now,
        "FRAGMENT_NUMBER" => StartSelector::FragmentNumber(need()?),
        "SERVER_TIMESTAMP" => StartSelector::ServerTimestamp(ms()?),
        "PRODUCER_TIMESTAMP" => StartSelector::ProducerTimestamp(ms()?),
        "CONTINUATION_TOKEN" => StartSelector::ContinuationToken(need()?),
        other => {
            return Err(CliError::usage(format!(
                "unknown --start-selector-type {other}"
            )))
        }
    })
}

/// How often `get-media --follow` re-reads the store while it waits: another process's
/// put-media cannot wake it.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(100);

fn parse_idle(v: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = v
        .parse()
        .map_err(|_| format!("{v:?} is not a number of seconds"))?;
    if !(0.001..=86_400.0).contains(&secs) {
        return Err(format!("{v} is not between 0.001 and 86400 seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

fn print_json(v: &serde_json::Value) {
    outln!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub fn run(a: &KvsArgs) -> CliResult<()> {
    let (kvs, caller) = crate::kvs_layer::open(a)?;
    match &a.command {
        KvsCommand::CreateStream {
            stream_name,
            kms_key_id,
            data_retention_in_hours,
            media_type,
            device_name,
        } => {
            let input = CreateStreamInput {
                stream_name: stream_name.clone(),
                device_name: device_name.clone(),
                media_type: media_type.clone(),
                kms_key_id: kms_key_id.clone(),
                data_retention_in_hours: *data_retention_in_hours,
            };
            let arn = kvs.create_stream(&caller, &input).map_err(kvs_error)?;
            if a.json {
                print_json(&serde_json::json!({ "StreamARN": arn }));
            } else {
                outln!("{arn}");
            }
        }
        KvsCommand::DescribeStream(s) => {
            let info = kvs
                .describe_stream(&caller, &s.stream()?)
                .map_err(kvs_error)?;
            if a.json {
                print_json(&serde_json::json!({ "StreamInfo": info }));
            } else {
                outln!(
                    "{}  key {}  retention {} h  version {}",
                    info.stream_arn,
                    info.kms_key_id,
                    info.data_retention_in_hours,
                    info.version
                );
            }
        }
        KvsCommand::ListStreams { name_begins_with } => {
            let out = kvs
                .list_streams(
                    &caller,
                    &ListStreamsInput {
                        name_begins_with: name_begins_with.clone(),
                        ..ListStreamsInput::default()
                    },
                )
                .map_err(kvs_error)?;
            if a.json {
                print_json(&serde_json::to_value(&out).unwrap_or_default());
            } else {
                for s in &out.stream_info_list {
                    outln!("{}  {}", s.stream_name, s.kms_key_id);
                }
            }
        }
        KvsCommand::UpdateStream {
            stream,
            current_version,
            device_name,
            media_type,
            data_retention_in_hours,
            kms_key_id,
        } => {
            let info = kvs
                .update_stream(
                    &caller,
                    &UpdateStreamInput {
                        stream: stream.stream()?,
                        current_version: current_version.clone(),
                        device_name: device_name.clone(),
                        media_type: media_type.clone(),
                        kms_key_id: kms_key_id.clone(),
                        data_retention_in_hours: *data_retention_in_hours,
                    },
                )
                .map_err(kvs_error)?;
            if a.json {
                print_json(&serde_json::json!({ "StreamInfo": info }));
            } else {
                outln!("version {}", info.version);
            }
        }
        KvsCommand::DeleteStream {
            stream,
            current_version,
        } => {
            kvs.delete_stream(&caller, &stream.stream()?, current_version.as_deref())
                .map_err(kvs_error)?;
            if a.json {
                print_json(&serde_json::json!({}));
            }
        }
        KvsCommand::PutMedia {
            stream,
            file,
            producer_start_timestamp,
        } => {
            let input = match producer_start_timestamp {
                Some(t) => PutMediaInput::relative(stream.stream()?, *t),
                None => PutMediaInput::absolute(stream.stream()?),
            };
            let reader: Box<dyn std::io::Read> = if file.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(file).map_err(|e| CliError::read(file, &e))?,
                ))
            };
            let on_ack = |ack: &fragseal::kvs::Ack| {
                let mut o = std::io::stdout().lock();
                writeln!(o, "{}", ack.to_json())?;
                o.flush()
            };
            let summary = match crate::kvs_layer::provider(a)? {
                Some(p) => kvs.put_media_with_provider(p, &input, reader, on_ack),
                None => kvs.put_media(&caller, &input, reader, on_ack),
            }
            .map_err(kvs_error)?;
            if let Some(f) = summary.failure {
                return Err(CliError::new(
                    fragment_exit(f.error_id),
                    format!("PutMedia ended with error {}: {}", f.error_id, f.message),
                ));
            }
        }
        KvsCommand::GetMedia {
            stream,
            start_selector_type,
            start_value,
            output,
            follow,
            idle_timeout,
            max_fragments,
        } => {
            let sel = selector(start_selector_type, start_value.as_deref())?;
            let stream = stream.stream()?;
            let summary = if *follow {
                let mut limits = LiveLimits::default().with_poll_interval(FOLLOW_POLL);
                if let Some(t) = idle_timeout {
                    limits.idle_timeout = *t;
                }
                if let Some(n) = max_fragments {
                    limits = limits.with_max_fragments(*n);
                }
                crate::kvs_follow::follow_media(
                    &kvs,
                    &caller,
                    crate::kvs_layer::provider(a)?,
                    &stream,
                    &sel,
                    output.as_deref(),
                    &limits,
                )?
            } else {
                let mut buf = Vec::new();
                let summary = match crate::kvs_layer::provider(a)? {
                    Some(p) => kvs.get_media_with_provider(p, &stream, &sel, &mut buf),
                    None => kvs.get_media(&caller, &stream, &sel, &mut buf),
                }
                .map_err(kvs_error)?;
                match output {
                    Some(p) => std::fs::write(p, &buf).map_err(|e| CliError::write(p, &e))?,
                    None => std::io::stdout()
                        .lock()
                        .write_all(&buf)
                        .map_err(|e| CliError::write(std::path::Path::new("stdout"), &e))?,
                }
                summary
            };
            if let Some(f) = summary.failure {
                return Err(CliError::new(
                    fragment_exit(f.error_id),
                    format!("GetMedia ended with error {}: {}", f.error_id, f.message),
                ));
            }
            if output.is_some() {
                if a.json {
                    print_json(&serde_json::json!({
                        "Fragments": summary.fragments,
                        "ContinuationToken": summary.continuation_token,
                        "End": format!("{:?}", summary.end),
                    }));
                } else {
                    outln!("{} fragments", summary.fragments);
                }
            }
        }
        KvsCommand::ListFragments(s) => {
            let out = kvs
                .list_fragments(
                    &caller,
                    &ListFragmentsInput {
                        stream: s.stream()?,
                        max_results: None,
                        next_token: None,
                        selector: None,
                    },
                )
                .map_err(kvs_error)?;
            if a.json {
                print_json(&serde_json::to_value(&out).unwrap_or_default());
            } else {
                for f in &out.fragments {
                    outln!(
                        "{}  {} bytes  producer {:.3}  server {:.3}  {} ms",
                        f.fragment_number,
                        f.fragment_size_in_bytes,
                        f.producer_timestamp,
                        f.server_timestamp,
                        f.fragment_length_in_milliseconds
                    );
                }
            }
        }
    }
    Ok(())
}

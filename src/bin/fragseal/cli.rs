//! The command line, declared with clap's derive API.

use crate::backend::{CallerOpts, KmsOpts};
use crate::keys::{DiscoveryOpts, OpenKeyOpts, SealKeyOpts};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Default stream ARN (the encryption context's `aws:kinesisvideo:arn`).
pub const DEFAULT_STREAM_ARN: &str =
    "arn:aws:kinesisvideo:us-east-1:111122223333:stream/fragseal-demo/1700000000000";

/// Default largest sealed message `open` and `inspect` read: 64 MiB (a Kinesis Video Streams
/// fragment is at most 50 MB; the rest is room for the header and the per-frame overhead).
pub const DEFAULT_MAX_SEALED_LEN: u64 = 64 << 20;

#[derive(Debug, Parser)]
#[command(
    name = "fragseal",
    version,
    about = "Seal and open Kinesis Video Streams media fragments (AWS Encryption SDK v2 messages, \
             suite 0x0478) with data keys from a KMS",
    long_about = None,
    after_help = "Exit codes: 0 ok, 1 usage, 2 bad input, 3 authentication failed, \
                  4 KMS refused, 5 KMS unavailable, 6 local I/O or state, 7 internal error.\n\
                  Start with: fragseal demo"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole flow on a real MKV with an in-process KMS and least-privilege credentials.
    Demo(DemoArgs),
    /// Seal a file, or an MKV stream into one sealed file per fragment.
    Seal(SealArgs),
    /// Open what `seal` wrote (a sealed file, or a folder with index.json).
    Open(OpenArgs),
    /// Show a sealed fragment's header and frames without any key.
    Inspect(InspectArgs),
    /// Manage the local KMS (keys, aliases, key policies, audit trail).
    Kms(KmsArgs),
    // The `kvs` subcommand (KVS streams with SSE).
    /// Kinesis Video Streams with server-side encryption: streams, put-media, get-media.
    Kvs(crate::kvs::KvsArgs),
    /// Measure seal and open throughput against the raw AES-GCM baseline (embedded LocalKms).
    Bench(crate::bench::BenchArgs),
    /// Run AWS Encryption SDK test-vector manifests, and write fragseal's own.
    Vectors(crate::vectors_cmd::VectorsArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// An MKV file to use instead of the embedded 5-second sample.
    #[arg(long, value_name = "FILE.mkv")]
    pub input: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Frame length of the sealed messages, in bytes.
    #[arg(long, default_value_t = 65536, value_parser = clap::value_parser!(u32).range(1..))]
    pub frame_length: u32,
    /// Also write the sealed fragments and their index to this folder.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

/// What identifies the stream and the fragment.
#[derive(Debug, Clone, Args)]
pub struct StreamOpts {
    /// Stream ARN: the encryption context's `aws:kinesisvideo:arn`, and part of every
    /// fragment's identity.
    #[arg(long, default_value = DEFAULT_STREAM_ARN)]
    pub stream_arn: String,
    /// Extra encryption context pair (repeatable).
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SealArgs {
    /// The file to seal (an MKV stream is split into fragments unless --whole).
    pub input: PathBuf,
    /// Output: a folder for an MKV stream, a file otherwise.
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub keys: SealKeyOpts,
    /// Seal the input as one message even if it is an MKV stream.
    #[arg(long)]
    pub whole: bool,
    /// Fragment number bound into a whole file's identity.
    #[arg(long, default_value_t = 0)]
    pub fragment_number: u64,
    /// Producer timestamp (ms) bound into a whole file's identity.
    #[arg(long, default_value_t = 0)]
    pub timestamp_ms: u64,
    /// Track number bound into every identity [default: an MKV's first video track, else 1].
    #[arg(long)]
    pub track: Option<u64>,
    /// Frame length of the sealed messages, in bytes.
    #[arg(long, default_value_t = 65536, value_parser = clap::value_parser!(u32).range(1..))]
    pub frame_length: u32,
    /// Algorithm suite: 0x0478 (AES-256-GCM, HKDF-SHA512, key commitment) or 0x0578 (the same,
    /// signed with ECDSA P-384: an opener holding only kms:Decrypt cannot forge fragments).
    #[arg(long, default_value = "0x0478", value_parser = crate::bench::parse_suite)]
    pub suite: u16,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub stream: StreamOpts,
    #[command(flatten)]
    pub kms: KmsOpts,
    #[command(flatten)]
    pub caller: CallerOpts,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// A sealed file, or a folder written by `fragseal seal` (with index.json).
    pub input: PathBuf,
    /// Output: a folder for a sealed folder, a file otherwise.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Expected stream ARN (never taken from index.json). Fragments of another stream are
    /// refused.
    #[arg(long, default_value = DEFAULT_STREAM_ARN)]
    pub stream_arn: String,
    /// Expected fragment number of a single sealed file.
    #[arg(long, default_value_t = 0)]
    pub fragment_number: u64,
    /// Expected producer timestamp (ms) of a single sealed file.
    #[arg(long, default_value_t = 0)]
    pub timestamp_ms: u64,
    /// Expected track number of a single sealed file.
    #[arg(long, default_value_t = 1)]
    pub track: u64,
    /// Do not check the fragment identity of a single sealed file (any ESDK message opens).
    #[arg(long)]
    pub no_identity: bool,
    /// Refuse messages that are not signed (suite 0x0578), before any KMS call: a holder of
    /// kms:Decrypt on the key can forge unsigned ones.
    #[arg(long)]
    pub require_signed: bool,
    #[command(flatten)]
    pub keys: OpenKeyOpts,
    #[command(flatten)]
    pub discovery: DiscoveryOpts,
    /// Largest sealed message read, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_SEALED_LEN)]
    pub max_size: u64,
    /// Also write the reassembled stream (init data + every cluster) to this file.
    #[arg(long, value_name = "FILE.mkv")]
    pub join: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub kms: KmsOpts,
    #[command(flatten)]
    pub caller: CallerOpts,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The sealed file.
    pub file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Largest sealed message read, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_SEALED_LEN)]
    pub max_size: u64,
}

#[derive(Debug, Args)]
pub struct KmsArgs {
    #[command(subcommand)]
    pub command: KmsCommand,
    #[command(flatten)]
    pub kms: KmsOpts,
    #[command(flatten)]
    pub caller: CallerOpts,
}

#[derive(Debug, Subcommand)]
pub enum KmsCommand {
    /// Create a symmetric key (state file created if missing).
    CreateKey {
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
        /// Key policy JSON file [default: the account root may do everything].
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Also create this alias (alias/NAME) for the key.
        #[arg(long)]
        alias: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create an alias for a key.
    Alias {
        /// The alias name, alias/NAME.
        name: String,
        /// The key (id, ARN, alias).
        key: String,
    },
    /// Replace a key's policy with a JSON file, or with the KVS least-privilege policy.
    PutPolicy {
        /// The key (id, ARN, alias).
        key: String,
        /// Policy JSON file ("-" for stdin).
        #[arg(
            required_unless_present = "least_privilege",
            conflicts_with = "least_privilege"
        )]
        file: Option<PathBuf>,
        /// Write the Kinesis Video Streams least-privilege policy instead: the account root
        /// administers the key, --producer may only kms:GenerateDataKey and --consumer may only
        /// kms:Decrypt, both only for --stream-arn.
        #[arg(long, requires_all = ["producer", "consumer"])]
        least_privilege: bool,
        /// Producer principal ARN (with --least-privilege).
        #[arg(long)]
        producer: Option<String>,
        /// Consumer principal ARN (with --least-privilege).
        #[arg(long)]
        consumer: Option<String>,
        /// Stream ARN the producer and consumer are limited to (with --least-privilege).
        #[arg(long, default_value = DEFAULT_STREAM_ARN)]
        stream_arn: String,
    },
    /// Print a key's policy.
    GetPolicy {
        /// The key (id, ARN, alias).
        key: String,
    },
    /// List keys and aliases.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve the local KMS on the AWS KMS wire protocol (JSON 1.1, SigV4) to real AWS clients.
    Serve(crate::serve::ServeArgs),
    /// Summarize the audit trail: calls per credential and operation, errors, estimated cost.
    Audit {
        /// Print JSON (the summary, and with --events the CloudTrail-shaped events).
        #[arg(long)]
        json: bool,
        /// Also print every event.
        #[arg(long)]
        events: bool,
        /// Price per 10,000 KMS requests, in USD.
        #[arg(long, default_value_t = crate::report::KMS_PRICE_PER_10K)]
        price_per_10k: f64,
    },
}

impl OpenArgs {
    /// The signature policy `--require-signed` chooses.
    pub fn signature_policy(&self) -> fragseal::SignaturePolicy {
        if self.require_signed {
            fragseal::SignaturePolicy::RequireSigned
        } else {
            fragseal::SignaturePolicy::AllowUnsigned
        }
    }
}

//! The fragseal command-line tool. See docs/CLI.md for the reference and exit codes.
#![forbid(unsafe_code)]

/// `println!` that does not panic when stdout is closed (for example `fragseal ... | head`).
macro_rules! outln {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

// `--assume-role` (STS sessions for --kms aws).
mod assume;
mod backend;
mod bench;
mod bench_measure;
mod bench_plot;
mod cli;
mod demo;
mod error;
mod files;
mod inspect;
mod keys;
mod kms_cmd;
// The `kvs` subcommand (KVS streams with SSE).
mod kvs;
// s5-remote: the KVS layer of `fragseal kvs` (local KMS, or a remote one with --iam FILE).
mod kvs_layer;
// s5-remote: `fragseal kvs get-media --follow`.
mod kvs_follow;
mod media;
// `fragseal open` (split from sealing.rs).
mod opening;
mod report;
mod sealed_folder;
mod sealing;
mod serve;
// `--assume-role`'s STS client.
mod sts_client;
mod text;
mod vectors_cmd;

use clap::Parser;
use cli::{Cli, Command};
use error::{CliError, Exit};
use std::process::ExitCode;

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Demo(a) => demo::run(&a),
        Command::Seal(a) => sealing::seal(&a),
        Command::Open(a) => opening::open(&a),
        Command::Inspect(a) => inspect::run(&a.file, a.json, a.max_size),
        Command::Kms(a) => kms_cmd::run(&a),
        Command::Kvs(a) => kvs::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Vectors(a) => vectors_cmd::run(&a),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print to stdout and succeed; usage errors exit with 1.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(Exit::Usage.code())
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Messages may quote untrusted text (paths, index fields, KMS messages).
            eprintln!("fragseal: error: {}", text::escape(&e.message));
            if let Some(h) = &e.hint {
                eprintln!("  hint: {}", text::escape(h));
            }
            ExitCode::from(e.exit.code())
        }
    }
}

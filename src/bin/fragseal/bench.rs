//! `fragseal bench`: engine throughput against the raw AEAD baseline of the same provider,
//! measured in the same run, over fragment sizes, thread counts, credentials, providers and
//! cache settings; as a table, `--json`, and an SVG plot (`--plot`).
//!
//! Every configuration is measured in `--rounds` rounds; each round times the raw baseline
//! (AES-256-GCM in place, detached tag, the same provider and thread count) and then the engine
//! right after it, so that both see the same machine load. A figure is the median over the
//! rounds, and its ratio the median of the per-round ratios.

use crate::bench_measure::{timed, Bench, RawAead};
use crate::error::{CliError, Exit};
use clap::{Args, ValueEnum};
use fragseal::crypto::AeadBackend;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// The committing suite (the engine's default).
const SUITE_0478: u16 = 0x0478;
/// The signed suite (ECDSA P-384), opt-in per engine.
const SUITE_0578: u16 = 0x0578;

/// The engine's seal suite for a suite id accepted by [`parse_suite`].
pub fn seal_suite(id: u16) -> fragseal::message::SealSuite {
    if id == SUITE_0578 {
        fragseal::message::SealSuite::AesGcmHkdfSha512CommitKeyEcdsaP384
    } else {
        fragseal::message::SealSuite::AesGcmHkdfSha512CommitKey
    }
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Fragment sizes, comma-separated; suffixes K and M are KiB and MiB.
    #[arg(long, value_delimiter = ',', default_value = "16K,1M,4M", value_parser = parse_size)]
    pub sizes: Vec<usize>,
    /// Thread counts, comma-separated: each thread seals (or opens) its own fragment in a loop.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_parser = parse_threads)]
    pub threads: Vec<usize>,
    /// Distinct credentials the fragments rotate over (each has its own cached data key).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub credentials: u32,
    /// Crypto providers, comma-separated: ring, rustcrypto, aws-lc (with the `aws-lc` feature).
    #[arg(long, value_delimiter = ',', default_value = "ring", value_parser = parse_provider)]
    pub provider: Vec<AeadBackend>,
    /// Algorithm suite: 0x0478 (committing) or 0x0578 (committing, ECDSA P-384 signed).
    #[arg(long, default_value = "0x0478", value_parser = parse_suite)]
    pub suite: u16,
    /// The data-key cache: on (one KMS call per key lifetime) or off (one per fragment).
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub cache: OnOff,
    /// What to measure, comma-separated.
    #[arg(long, value_delimiter = ',', value_enum, default_value = "seal,open")]
    pub operation: Vec<Operation>,
    /// Measurement time of one figure in one round, in milliseconds.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub time_ms: u64,
    /// Rounds per figure (the median is reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=101))]
    pub rounds: u32,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Draw throughput against fragment size per configuration into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// `Engine::seal` (fresh output).
    Seal,
    /// `Engine::open` (fresh output).
    Open,
}

/// One measured figure: a configuration, the engine's and the baseline's throughput, the ratio.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub provider: &'static str,
    pub operation: Operation,
    pub size: usize,
    pub threads: usize,
    /// Median engine throughput over the rounds, bytes of plaintext per second.
    pub engine_bytes_per_sec: f64,
    /// Median raw AEAD (same provider, in place) throughput, bytes per second.
    pub raw_bytes_per_sec: f64,
    /// Median of the per-round ratios engine / raw.
    pub ratio: f64,
}

/// The whole report (`--json`).
#[derive(Debug, Serialize)]
pub struct Report {
    pub fragseal_version: &'static str,
    pub suite: String,
    pub cache: bool,
    pub credentials: u32,
    pub rounds: u32,
    pub time_ms: u64,
    /// What the baseline is.
    pub baseline: &'static str,
    pub figures: Vec<Figure>,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (digits, mult) = match t.as_bytes().last() {
        Some(b'K' | b'k') => (&t[..t.len() - 1], 1usize << 10),
        Some(b'M' | b'm') => (&t[..t.len() - 1], 1 << 20),
        _ => (t, 1),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size (examples: 512, 16K, 4M)"))?;
    let size = n
        .checked_mul(mult)
        .filter(|&v| (1..=(256 << 20)).contains(&v))
        .ok_or_else(|| format!("size `{s}` must be between 1 byte and 256M"))?;
    Ok(size)
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a thread count between 1 and 256")),
    }
}

fn parse_provider(s: &str) -> Result<AeadBackend, String> {
    let s = s.trim();
    AeadBackend::from_name(s).ok_or_else(|| {
        if s == "aws-lc" {
            "this fragseal was built without the aws-lc provider; rebuild with `--features aws-lc`"
                .to_owned()
        } else {
            format!("unknown provider `{s}` (ring, rustcrypto, aws-lc)")
        }
    })
}

pub fn parse_suite(s: &str) -> Result<u16, String> {
    let hex = s
        .trim()
        .strip_prefix("0x")
        .or_else(|| s.trim().strip_prefix("0X"))
        .ok_or_else(|| format!("suite `{s}`: give the id in hex, 0x0478 or 0x0578"))?;
    match u16::from_str_radix(hex, 16) {
        Ok(id @ (SUITE_0478 | SUITE_0578)) => Ok(id),
        _ => Err(format!(
            "suite `{s}` is not one fragseal seals (0x0478, 0x0578)"
        )),
    }
}

pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let report = measure(args)?;
    if let Some(path) = &args.plot {
        crate::bench_plot::write_svg(path, &report)?;
    }
    if args.json {
        let s = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::new(Exit::Internal, format!("JSON: {e}")))?;
        outln!("{s}");
    } else {
        print_table(&report);
        if let Some(p) = &args.plot {
            outln!("plot: {}", p.display());
        }
    }
    Ok(())
}

fn measure(args: &BenchArgs) -> Result<Report, CliError> {
    let time = Duration::from_millis(args.time_ms);
    let cache = args.cache == OnOff::On;
    let mut figures = Vec::new();
    let mut providers = args.provider.clone();
    providers.dedup();
    for &provider in &providers {
        let raw = RawAead::new(provider)?;
        let bench = Bench::new(
            provider,
            args.credentials as usize,
            cache,
            seal_suite(args.suite),
        )?;
        for &size in &args.sizes {
            for &threads in &args.threads {
                // One fragment per thread; open requests sealed beforehand (warming the cache).
                let requests: Vec<_> = (0..threads).map(|t| bench.request(size, t)).collect();
                let opens = requests
                    .iter()
                    .map(|r| bench.prepare_opens(r))
                    .collect::<Result<Vec<_>, _>>()?;
                for &op in &args.operation {
                    let mut engine_rates = Vec::new();
                    let mut raw_rates = Vec::new();
                    let mut ratios = Vec::new();
                    for _ in 0..args.rounds {
                        let r = timed(
                            threads,
                            time,
                            |t| requests[t].plaintext.to_vec(),
                            |buf, _| {
                                std::hint::black_box(raw.seal(buf));
                                buf.len() as u64
                            },
                        )
                        .bytes_per_sec();
                        let e = match op {
                            Operation::Seal => engine_seal(&bench, &requests, threads, time)?,
                            Operation::Open => engine_open(&bench, &opens, threads, time)?,
                        };
                        raw_rates.push(r);
                        engine_rates.push(e);
                        ratios.push(e / r);
                    }
                    figures.push(Figure {
                        provider: provider.name(),
                        operation: op,
                        size,
                        threads,
                        engine_bytes_per_sec: median(&mut engine_rates),
                        raw_bytes_per_sec: median(&mut raw_rates),
                        ratio: median(&mut ratios),
                    });
                }
            }
        }
    }
    Ok(Report {
        fragseal_version: env!("CARGO_PKG_VERSION"),
        suite: format!("0x{:04X}", args.suite),
        cache,
        credentials: args.credentials,
        rounds: args.rounds,
        time_ms: args.time_ms,
        baseline: "raw AES-256-GCM of the same provider, in place, detached tag, same threads",
        figures,
    })
}

fn engine_seal(
    bench: &Bench,
    requests: &[fragseal::engine::SealRequest],
    threads: usize,
    time: Duration,
) -> Result<f64, CliError> {
    let failed = std::sync::atomic::AtomicBool::new(false);
    let sample = timed(
        threads,
        time,
        |t| t,
        |&mut t, i| match bench.engine.seal(bench.credential(t, i), &requests[t]) {
            Ok(m) => {
                std::hint::black_box(m);
                requests[t].plaintext.len() as u64
            }
            Err(_) => {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                0
            }
        },
    );
    if failed.into_inner() {
        return Err(CliError::new(Exit::Internal, "bench: a seal failed"));
    }
    Ok(sample.bytes_per_sec())
}

fn engine_open(
    bench: &Bench,
    opens: &[Vec<fragseal::engine::OpenRequest>],
    threads: usize,
    time: Duration,
) -> Result<f64, CliError> {
    let failed = std::sync::atomic::AtomicBool::new(false);
    let sample = timed(
        threads,
        time,
        |t| t,
        |&mut t, i| {
            let c = (t + i) % bench.credentials.len();
            match bench.engine.open(&bench.credentials[c], &opens[t][c]) {
                Ok(o) => {
                    let n = o.plaintext.len() as u64;
                    std::hint::black_box(o);
                    n
                }
                Err(_) => {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    0
                }
            }
        },
    );
    if failed.into_inner() {
        return Err(CliError::new(Exit::Internal, "bench: an open failed"));
    }
    Ok(sample.bytes_per_sec())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `16 KiB`, `1 MiB`, `1536 B`.
pub fn size_label(size: usize) -> String {
    if size >= 1 << 20 && size % (1 << 20) == 0 {
        format!("{} MiB", size >> 20)
    } else if size >= 1 << 10 && size % (1 << 10) == 0 {
        format!("{} KiB", size >> 10)
    } else {
        format!("{size} B")
    }
}

fn print_table(r: &Report) {
    outln!(
        "suite {} | cache {} | {} credential(s) | median of {} round(s) of {} ms",
        r.suite,
        if r.cache { "on" } else { "off" },
        r.credentials,
        r.rounds,
        r.time_ms
    );
    outln!("baseline: {}", r.baseline);
    outln!(
        "{:<11} {:<5} {:>9} {:>7} {:>12} {:>12} {:>6}",
        "provider",
        "op",
        "size",
        "threads",
        "engine MB/s",
        "raw MB/s",
        "ratio"
    );
    for f in &r.figures {
        outln!(
            "{:<11} {:<5} {:>9} {:>7} {:>12.1} {:>12.1} {:>6.2}",
            f.provider,
            match f.operation {
                Operation::Seal => "seal",
                Operation::Open => "open",
            },
            size_label(f.size),
            f.threads,
            f.engine_bytes_per_sec / 1e6,
            f.raw_bytes_per_sec / 1e6,
            f.ratio
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("16K"), Ok(16 << 10));
        assert_eq!(parse_size("4M"), Ok(4 << 20));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1G").is_err());
        assert!(parse_size("x").is_err());
        assert!(parse_size("300M").is_err());
    }

    #[test]
    fn suites_parse() {
        assert_eq!(parse_suite("0x0478"), Ok(0x0478));
        assert_eq!(parse_suite("0x0578"), Ok(0x0578));
        assert!(parse_suite("0x0178").is_err());
        assert!(parse_suite("1144").is_err());
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}

//! What the batch paths cost in fresh memory: minor page faults, wall time and peak RSS per
//! batch of `seal_batch` / `open_batch` (and `seal_batch_into` with reused buffers), next to raw
//! `ring` AES-256-GCM sealing the same buffers in place, on a rayon pool of 1 or 2 threads.
//!
//! ```text
//! cargo run --release --example batch_faults -- [PHASE] [THREADS] [FRAGMENTS] [KIB] [ROUNDS]
//! perf stat -e page-faults target/release/examples/batch_faults seal 1
//! ```
//! PHASE is `all` (default), `raw`, `seal`, `seal_into` or `open`; defaults: 1 thread, 64
//! fragments of 1024 KiB, 5 rounds (after one warm-up round). Each batch's results are dropped
//! inside the measured time, as a caller would drop them. Faults are `minflt` of
//! `/proc/self/stat` (the whole process, all threads). With one PHASE, the process holds only
//! that phase's inputs, and the peak RSS line compares `VmHWM` (of `/proc/self/status`) minus
//! the RSS before any input was made against one batch's input + output. See
//! docs/PERFORMANCE.md for what the numbers mean.

use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::identity::IdentityCheck;
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::LocalKms;
use fragseal::kms::Credential;
use fragseal::EncryptionContext;
use rayon::prelude::*;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCOUNT: &str = "123456789012";
const MIB: f64 = 1024.0 * 1024.0;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Minor page faults of this process so far (`/proc/self/stat` field 10).
fn minflt() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) may contain spaces: count fields after its closing ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or("no ')'")?;
    let field = rest.split_whitespace().nth(7).ok_or("short stat")?;
    Ok(field.parse()?)
}

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or("no such status field")?;
    let kib = line
        .trim_start_matches(field)
        .split_whitespace()
        .next()
        .ok_or("empty field")?;
    Ok(kib.parse()?)
}

struct Phase {
    name: &'static str,
    bytes: usize,
    times: Vec<Duration>,
    faults: Vec<u64>,
}

fn median<T: Ord + Copy + Default>(mut v: Vec<T>) -> T {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn measure(
    name: &'static str,
    bytes: usize,
    rounds: usize,
    mut run: impl FnMut(),
) -> Result<Phase> {
    run(); // one round to warm the data-key cache (and any pool)
    let mut phase = Phase {
        name,
        bytes,
        times: Vec::new(),
        faults: Vec::new(),
    };
    for _ in 0..rounds {
        let f0 = minflt()?;
        let t0 = Instant::now();
        run();
        phase.times.push(t0.elapsed());
        phase.faults.push(minflt()? - f0);
    }
    Ok(phase)
}

fn arg(n: usize, default: usize) -> Result<usize> {
    match std::env::args().nth(n) {
        Some(a) => Ok(a.parse()?),
        None => Ok(default),
    }
}

struct Setup {
    engine: Engine,
    cred: Credential,
    ec: EncryptionContext,
}

fn setup() -> Result<Setup> {
    let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
    let cred = Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT")?;
    let key = kms.create_key(&cred, None, "faults")?.arn;
    let keyring = KmsKeyring::strict(kms, &cred, &[&key])?;
    let engine = Engine::new(Arc::new(keyring), EngineConfig::default())?;
    let ec = EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:123456789012:stream/faults/1700000000000",
    );
    Ok(Setup { engine, cred, ec })
}

fn main() -> Result<()> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".to_owned());
    let all = which == "all";
    let wants = |p: &str| all || which == p;
    if !["all", "raw", "seal", "seal_into", "open"].contains(&which.as_str()) {
        return Err(format!("unknown phase {which}").into());
    }
    let threads = arg(2, 1)?;
    let count = arg(3, 64)?;
    let size = arg(4, 1024)? * 1024;
    let rounds = arg(5, 5)?.max(1);
    let rss_start = status_kib("VmRSS:")? * 1024;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let Setup { engine, cred, ec } = setup()?;
    let mut requests: Vec<SealRequest> = (0..count)
        .map(|n| {
            let p: Vec<u8> = (0..size).map(|i| (i ^ n) as u8).collect();
            SealRequest::new(ec.clone(), p)
        })
        .collect();
    let mut opens = Vec::new();
    if wants("open") {
        opens = pool
            .install(|| engine.seal_batch(&cred, requests.clone()))
            .into_iter()
            .map(|r| r.map(|m| OpenRequest::new(m, IdentityCheck::Skip)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
    }
    // Every fragment has the same size and context: the same sealed length.
    let one = requests
        .first()
        .map(|r| engine.seal(&cred, r))
        .transpose()?;
    let sealed_bytes = one.map_or(0, |m| m.len()) * count;
    if !all && which == "open" {
        requests = Vec::new();
    }
    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).map_err(|_| "key")?);
    let mut raw_bufs: Vec<Vec<u8>> = Vec::new();
    if wants("raw") {
        raw_bufs = requests.iter().map(|r| r.plaintext.to_vec()).collect();
    }
    let mut outputs = vec![Vec::new(); count];
    let input = count * size;

    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let mut phases = Vec::new();
    if wants("raw") {
        phases.push(measure("raw_ring_seal (in place)", input, rounds, || {
            pool.install(|| {
                raw_bufs.par_iter_mut().for_each(|buf| {
                    let nonce = Nonce::assume_unique_for_key([1; 12]);
                    let _ = black_box(raw.seal_in_place_separate_tag(nonce, Aad::empty(), buf));
                })
            })
        })?);
    }
    if wants("seal") {
        phases.push(measure("seal_batch", input, rounds, || {
            let r = pool.install(|| engine.seal_batch(&cred, requests.clone()));
            assert!(r.iter().all(std::result::Result::is_ok));
            drop(black_box(r));
        })?);
    }
    if wants("seal_into") {
        phases.push(measure("seal_batch_into (reused)", input, rounds, || {
            let r = pool.install(|| engine.seal_batch_into(&cred, &requests, &mut outputs));
            assert!(r.is_ok_and(|v| v.iter().all(std::result::Result::is_ok)));
        })?);
    }
    if wants("open") {
        phases.push(measure("open_batch", input, rounds, || {
            let r = pool.install(|| engine.open_batch(&cred, opens.clone()));
            assert!(r.iter().all(std::result::Result::is_ok));
            drop(black_box(r));
        })?);
    }
    let hwm = status_kib("VmHWM:")? * 1024;

    println!(
        "{count} x {} KiB on {threads} thread(s), {rounds} rounds (median); one batch: {:.1} MiB plaintext, {:.1} MiB sealed",
        size / 1024,
        input as f64 / MIB,
        sealed_bytes as f64 / MIB
    );
    println!(
        "{:<26} {:>10} {:>14} {:>12}",
        "phase", "MiB/s", "faults/batch", "KiB/fault"
    );
    for p in phases {
        let t = median(p.times.clone());
        let faults = median(p.faults.clone());
        let kib_per_fault = if faults == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}", p.bytes as f64 / 1024.0 / faults as f64)
        };
        println!(
            "{:<26} {:>10.0} {:>14} {:>12}",
            p.name,
            p.bytes as f64 / MIB / t.as_secs_f64(),
            faults,
            kib_per_fault,
        );
    }
    if !all {
        // Sealing: plaintext in, messages out; opening: messages in, plaintext out; in place: one.
        let io = match which.as_str() {
            "raw" => input,
            _ => input + sealed_bytes,
        };
        let grown = hwm.saturating_sub(rss_start);
        println!(
            "peak RSS {:.1} MiB above the start ({}), input + output {:.1} MiB: ratio {:.3}",
            grown as f64 / MIB,
            if hwm_reset {
                "VmHWM"
            } else {
                "VmHWM, not reset"
            },
            io as f64 / MIB,
            grown as f64 / io as f64
        );
    }
    Ok(())
}

//! Prints the engine's figures in one run, each as a ratio against a baseline measured in the
//! same run:
//!
//! 1. `seal_batch` / `open_batch` of 64 × 1 MiB on 2 rayon threads vs 1 (raw `ring` alongside);
//! 2. warm-cache `Engine::seal` vs raw `ring` AES-256-GCM in place, at 16 KiB and 1 MiB;
//! 3. KMS calls for a simulated hour at 5 fragments per second (5-minute max age), with and
//!    without the cache, counted by LocalKms's audit trail;
//! 4. peak memory of `seal_batch` (64 × 1 MiB) relative to input + output, read from
//!    `/proc/self/status` (`VmHWM`) in a child process that does nothing else.
//!
//! ```text
//! cargo run --release --example engine_report
//! ```
//! Timings are medians of several runs; criterion's `cargo bench --bench engine` measures the
//! same pairs with confidence intervals.

use bytes::Bytes;
use fragseal::cache::{CacheLimits, ManualClock};
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::identity::IdentityCheck;
use fragseal::keyring::{Keyring, KmsKeyring};
use fragseal::kms::local::{audit::Operation, LocalKms};
use fragseal::kms::Credential;
use fragseal::EncryptionContext;
use rayon::prelude::*;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCOUNT: &str = "123456789012";
const MIB: f64 = 1024.0 * 1024.0;
const BATCH: usize = 64;
const BATCH_SIZE: usize = 1 << 20;
const PROBE_ARG: &str = "--memory-probe";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Setup {
    kms: Arc<LocalKms>,
    keyring: Arc<dyn Keyring>,
    cred: Credential,
    ec: EncryptionContext,
}

fn setup() -> Result<Setup> {
    let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
    let cred = Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT")?;
    let key = kms.create_key(&cred, None, "report")?.arn;
    let ec = EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:123456789012:stream/report/1700000000000",
    );
    let keyring = Arc::new(KmsKeyring::strict(kms.clone(), &cred, &[&key])?);
    Ok(Setup {
        kms,
        keyring,
        cred,
        ec,
    })
}

fn batch_requests(s: &Setup) -> Vec<SealRequest> {
    (0..BATCH)
        .map(|n| {
            let p: Vec<u8> = (0..BATCH_SIZE).map(|i| (i ^ n) as u8).collect();
            SealRequest::new(s.ec.clone(), p)
        })
        .collect()
}

fn mib_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / MIB / d.as_secs_f64()
}

fn raw_key() -> Result<LessSafeKey> {
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &[7; 32]).map_err(|_| "ring key")?,
    ))
}

fn raw_seal(raw: &LessSafeKey, buf: &mut [u8]) {
    let tag =
        raw.seal_in_place_separate_tag(Nonce::assume_unique_for_key([1; 12]), Aad::empty(), buf);
    let _ = black_box(tag);
}

fn all_ok<T, E: std::fmt::Display>(results: Vec<std::result::Result<T, E>>) -> Result<Vec<T>> {
    results
        .into_iter()
        .map(|r| r.map_err(|e| e.to_string().into()))
        .collect()
}

/// Wall time of `f`, not counting the drop of what it returns (freeing 64 MiB of outputs is the
/// caller's business, and single-threaded).
fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let v = f();
    (start.elapsed(), v)
}

/// CPU time (user + system) the process has used so far, from `/proc/self/stat` (in clock
/// ticks of 10 ms: read it around long runs only).
fn cpu_time() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').ok_or("malformed /proc/self/stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11).ok_or("no utime")?.parse()?;
    let stime: u64 = f.get(12).ok_or("no stime")?.parse()?;
    Ok(Duration::from_millis((utime + stime) * 10))
}

fn batch_speedup(s: &Setup) -> Result<()> {
    const ROUNDS: usize = 7;
    let engine = Engine::new(s.keyring.clone(), EngineConfig::default())?;
    let requests = batch_requests(s);
    let opens: Vec<OpenRequest> = all_ok(engine.seal_batch(&s.cred, requests.clone()))?
        .into_iter()
        .map(|m| OpenRequest::new(m, IdentityCheck::Skip))
        .collect();
    let raw = raw_key()?;
    let mut bufs: Vec<Vec<u8>> = requests.iter().map(|r| r.plaintext.to_vec()).collect();
    let mut outputs = vec![Vec::new(); requests.len()];
    let total = BATCH * BATCH_SIZE;
    let pools = [
        rayon::ThreadPoolBuilder::new().num_threads(1).build()?,
        rayon::ThreadPoolBuilder::new().num_threads(2).build()?,
    ];
    // times[op][pool]: the runs of both pool sizes alternate, so both see the same load.
    let mut times = vec![vec![Vec::new(); 2]; 4];
    let mut failed = false;
    // CPU time per operation and pool size, summed over all rounds.
    let mut cpu = [[Duration::ZERO; 2]; 4];
    for _ in 0..=ROUNDS {
        for (p, pool) in pools.iter().enumerate() {
            for (op, (op_times, op_cpu)) in times.iter_mut().zip(cpu.iter_mut()).enumerate() {
                let c0 = cpu_time()?;
                let t = match op {
                    0 => {
                        timed(|| {
                            pool.install(|| bufs.par_iter_mut().for_each(|b| raw_seal(&raw, b)))
                        })
                        .0
                    }
                    1 => {
                        let (t, r) =
                            timed(|| pool.install(|| engine.seal_batch(&s.cred, requests.clone())));
                        failed |= r.iter().any(|x| x.is_err());
                        t
                    }
                    2 => {
                        let (t, r) = timed(|| {
                            pool.install(|| {
                                engine.seal_batch_into(&s.cred, &requests, &mut outputs)
                            })
                        });
                        failed |= r.map_or(true, |r| r.iter().any(|x| x.is_err()));
                        t
                    }
                    _ => {
                        let (t, r) =
                            timed(|| pool.install(|| engine.open_batch(&s.cred, opens.clone())));
                        failed |= r.iter().any(|x| x.is_err());
                        t
                    }
                };
                op_cpu[p] += cpu_time()? - c0;
                op_times[p].push(t);
            }
        }
    }
    if failed {
        return Err("a batch fragment failed".into());
    }
    let med = |v: &Vec<Duration>| {
        // The first round is a warm-up.
        let mut v = v[1..].to_vec();
        v.sort();
        v[v.len() / 2]
    };
    println!("## 1. Batches of {BATCH} x 1 MiB, rayon pool of 1 vs 2 threads (target >= 1.85x)");
    println!(
        "Medians of {ROUNDS} alternating runs; freeing the outputs is not timed. CPU ratio = \
         process CPU time at 1 thread / at 2 threads (1.00 = the second thread adds no work; \
         the wall-clock speedup can then only be limited by cores the machine does not give us)."
    );
    println!("| operation | 1 thread MiB/s | 2 threads MiB/s | speedup | CPU ratio |");
    println!("|---|---|---|---|---|");
    let names = [
        "raw ring seal in place (reference)",
        "seal_batch (fresh output allocations)",
        "seal_batch_into (reused output buffers)",
        "open_batch (fresh output allocations)",
    ];
    for ((name, t), c) in names.iter().zip(&times).zip(&cpu) {
        let (a, b) = (med(&t[0]), med(&t[1]));
        println!(
            "| {name} | {:.0} | {:.0} | {:.2}x | {:.2} |",
            mib_s(total, a),
            mib_s(total, b),
            a.as_secs_f64() / b.as_secs_f64(),
            c[0].as_secs_f64() / c[1].as_secs_f64().max(f64::MIN_POSITIVE)
        );
    }
    println!();
    Ok(())
}

fn warm_seal(s: &Setup) -> Result<()> {
    let engine = Engine::new(s.keyring.clone(), EngineConfig::default())?;
    let raw = raw_key()?;
    println!(
        "## 2. Warm-cache seal vs raw ring AES-256-GCM in place, one thread \
         (targets 0.90x at 1 MiB, 0.70x at 16 KiB)"
    );
    println!(
        "`message::seal` is the format alone (same data key and header, no cache, no KMS): \
         the floor the engine can reach."
    );
    println!(
        "| size | raw ring MiB/s | message::seal MiB/s | engine seal MiB/s | engine seal_into MiB/s \
         | seal / raw | seal_into / raw | seal / message::seal |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (size, label, reps) in [(16usize << 10, "16 KiB", 2000), (1 << 20, "1 MiB", 40)] {
        let plaintext: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut buf = plaintext.clone();
        let request = SealRequest::new(s.ec.clone(), Bytes::from(plaintext));
        let lease_holder = engine.seal(&s.cred, &request)?;
        // The same header as the engine writes: take the EDK from a sealed message.
        let header = fragseal::message::parse(&lease_holder, &Default::default())?;
        let edks = header.encrypted_data_keys().to_vec();
        let dk = fragseal::crypto::DataKey::generate();
        let params = fragseal::message::SealParams::new(&s.ec, &edks);
        let mut err = None;
        // Interleave the three so that all see the same machine load.
        let (mut raw_t, mut msg_t, mut eng_t, mut into_t) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut out = Vec::new();
        for _ in 0..15 {
            let t = Instant::now();
            for _ in 0..reps {
                raw_seal(&raw, black_box(&mut buf[..]));
            }
            raw_t.push(t.elapsed());
            let t = Instant::now();
            for _ in 0..reps {
                match fragseal::message::seal(&dk, &params, black_box(&request.plaintext)) {
                    Ok(m) => {
                        black_box(m);
                    }
                    Err(e) => err = Some(e),
                }
            }
            msg_t.push(t.elapsed());
            let t = Instant::now();
            for _ in 0..reps {
                match engine.seal(&s.cred, black_box(&request)) {
                    Ok(m) => {
                        black_box(m);
                    }
                    Err(e) => err = Some(e),
                }
            }
            eng_t.push(t.elapsed());
            let t = Instant::now();
            for _ in 0..reps {
                out.clear();
                if let Err(e) = engine.seal_into(&s.cred, black_box(&request), &mut out) {
                    err = Some(e);
                }
            }
            into_t.push(t.elapsed());
        }
        if let Some(e) = err {
            return Err(e.into());
        }
        for t in [&mut raw_t, &mut msg_t, &mut eng_t, &mut into_t] {
            t.sort();
        }
        let (r, m, e, i) = (raw_t[7], msg_t[7], eng_t[7], into_t[7]);
        println!(
            "| {label} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2}x | {:.2}x | {:.2}x |",
            mib_s(size * reps, r),
            mib_s(size * reps, m),
            mib_s(size * reps, e),
            mib_s(size * reps, i),
            r.as_secs_f64() / e.as_secs_f64(),
            r.as_secs_f64() / i.as_secs_f64(),
            m.as_secs_f64() / e.as_secs_f64()
        );
    }
    println!();
    Ok(())
}

/// KMS calls (GenerateDataKey, from the audit trail) for one credential sealing one stream at
/// 5 fragments per second for an hour.
fn simulated_hour(limits: CacheLimits) -> Result<u64> {
    let s = setup()?;
    let clock = Arc::new(ManualClock::new());
    let engine = Engine::with_clock(
        s.keyring.clone(),
        EngineConfig::default().with_cache(limits),
        clock.clone(),
    )?;
    let fragment = Bytes::from_static(&[0u8; 256]);
    for _ in 0..5 * 3600 {
        engine.seal(&s.cred, &SealRequest::new(s.ec.clone(), fragment.clone()))?;
        clock.advance(Duration::from_millis(200));
    }
    Ok(s.kms.audit().count(&s.cred, Operation::GenerateDataKey))
}

fn kms_calls() -> Result<()> {
    println!("## 3. KMS calls per credential for a simulated hour, 5 fragments/s, 5-minute max age (target <= 12)");
    println!("| cache | GenerateDataKey calls |");
    println!("|---|---|");
    let rows = [
        ("off (one call per fragment)", CacheLimits::disabled()),
        (
            "on, refresh-ahead off",
            CacheLimits::default().with_refresh_ahead(1.0),
        ),
        (
            "on, refresh-ahead at 95% of max age (default)",
            CacheLimits::default(),
        ),
        (
            "on, refresh-ahead at 80% of max age",
            CacheLimits::default().with_refresh_ahead(0.8),
        ),
    ];
    for (name, limits) in rows {
        println!("| {name} | {} |", simulated_hour(limits)?);
    }
    println!();
    Ok(())
}

fn status_kib(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or("field missing from /proc/self/status")?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed /proc/self/status line")?;
    Ok(kib.parse()?)
}

/// Child process: seal one batch and print `rss_before hwm_after input output` in bytes. With
/// `keep`, the caller keeps its own references to the inputs while the batch runs; otherwise it
/// hands them over and each input is freed as soon as its fragment is sealed.
fn memory_probe(keep: bool) -> Result<()> {
    let s = setup()?;
    let engine = Engine::new(s.keyring.clone(), EngineConfig::default())?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    // Start the pool's threads and fetch the data key before the baseline.
    all_ok(pool.install(|| {
        engine.seal_batch(
            &s.cred,
            vec![SealRequest::new(s.ec.clone(), vec![0u8; 16]); 4],
        )
    }))?;
    let before = status_kib("VmRSS:")? * 1024;
    let requests = batch_requests(&s);
    let input: usize = requests.iter().map(|r| r.plaintext.len()).sum();
    let kept = if keep { requests.clone() } else { Vec::new() };
    let sealed = all_ok(pool.install(|| engine.seal_batch(&s.cred, requests)))?;
    black_box(&kept);
    let hwm = status_kib("VmHWM:")? * 1024;
    let output: usize = sealed.iter().map(Bytes::len).sum();
    println!("{before} {hwm} {input} {output}");
    Ok(())
}

fn peak_memory() -> Result<()> {
    println!("## 4. Peak memory of seal_batch, 64 x 1 MiB, 2 threads (target <= 1.10x)");
    println!("Peak growth = VmHWM after the batch - VmRSS before the inputs were made, in a child process.");
    println!("| inputs | input MiB | output MiB | peak growth MiB | peak / (input + output) |");
    println!("|---|---|---|---|---|");
    for (mode, name) in [
        ("keep", "kept alive by the caller"),
        ("consume", "handed over (freed as sealed)"),
    ] {
        let out = Command::new(std::env::current_exe()?)
            .args([PROBE_ARG, mode])
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "memory probe failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let text = String::from_utf8(out.stdout)?;
        let v: Vec<f64> = text
            .split_whitespace()
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()?;
        let [before, hwm, input, output] = v[..] else {
            return Err(format!("unexpected probe output {text:?}").into());
        };
        let peak = hwm - before;
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.3}x |",
            input / MIB,
            output / MIB,
            peak / MIB,
            peak / (input + output)
        );
    }
    println!();
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(PROBE_ARG) {
        return memory_probe(args.get(2).map(String::as_str) == Some("keep"));
    }
    println!(
        "# fragseal engine report ({} CPUs)\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let s = setup()?;
    batch_speedup(&s)?;
    warm_seal(&s)?;
    kms_calls()?;
    // Measured in a child process, so this process's own allocations do not count.
    peak_memory()?;
    Ok(())
}

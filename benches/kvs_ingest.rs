//! PutMedia ingest (MKV split + seal + in-memory store) next to `Engine::seal_batch` of the same
//! fragments, in the same criterion group, on this machine's 2 threads.
//!
//! `cargo bench --bench kvs_ingest -- --warm-up-time 1 --measurement-time 5`
//!
//! Every case moves 64 fragments of 2 MB: `put_media/1x64` (1 stream: one session of 64
//! fragments, pipelined), `put_media/8x8` (8 concurrent sessions of 8), `put_media/64x1` (64
//! concurrent sessions of 1); the baselines are `seal_batch/64` (the engine alone, 64
//! fragments in one rayon batch) and `seal_each/64` (64 single-fragment `Engine::seal` calls
//! on the same pool). Ratio = baseline time / put_media time.
//!
//! What each side does, so that neither is given an advantage:
//! - `put_media/*` reads the MKV (one `&[u8]` per session: 64 Clusters of one 2 MB SimpleBlock,
//!   unknown sizes as the producer SDK writes them), splits it into fragments, seals each with
//!   its identity, stores it in the `MemoryStore` and acknowledges it. The store keeps the sealed
//!   bytes (128 MB per iteration, no copy: the `Bytes` moves in). One `Kvs` (one engine, its
//!   buffer pool and key cache) serves every iteration, as in a long-running emulator; the
//!   untimed setup deletes and re-creates the streams, so the store does not grow and the
//!   previous iteration's sealed buffers go back to the engine's pool, as expired fragments
//!   would.
//! - `seal_batch/64` seals the same 64 × 2 MB (already split: it has no MKV to read) into the
//!   engine's pool and drops the results inside the timing (they go back to the pool).
//! - `put_media/*` runs in `PutMediaMode::Auto` (the default: the 8 and 64 concurrent
//!   sessions fill the pool and stream each fragment into its sealed message as they read
//!   it; the lone session pipelines, and streams a fragment itself while both pool threads
//!   seal); `put_media_pipelined/*` forces `PutMediaMode::Pipelined` (every fragment read
//!   into a buffer, then sealed on the pool: session 6's PutMedia), in the same run.
//! - `put_media_cold/*` is `put_media/*` on a fresh `Kvs` per iteration (untimed setup): its
//!   engine's pool is empty, so the 128 MB the store keeps are fresh pages (faulted in inside
//!   the timing), and the first fragment calls GenerateDataKey.
//! - `copy/64` copies the 64 fragments out of the MKV into reused buffers on the same 2 threads:
//!   the copy PutMedia cannot avoid (it reads an `io::Read` into the fragment it seals), the
//!   main work it does beyond `seal_batch/64` (the seal then reads that fragment from cache).
//!
//! Paired rounds (no criterion), for a machine whose speed drifts: every case once per round
//! (`put_media/*`, `put_media_pipelined/*`, `put_media_cold/*` and `copy/64`) and its ratio to
//! `seal_batch/64` of the same round, the median over the rounds:
//! `scripts/bench.sh kvs_paired` (40 rounds; `KVS_INGEST_PAIRED=N` for N).
//!
//! One case per process (no criterion), `KVS_INGEST_ROUNDS` rounds (default 1), each round's
//! time and minor page faults per MB on stderr (`/proc/self/stat`, setup excluded):
//! `KVS_INGEST_ONE=put_media/1x64 KVS_INGEST_ROUNDS=5 target/release/deps/kvs_ingest-*`
//! (also `put_media/8x8`, `put_media/64x1`, `put_media_cold/*`, `put_media_pipelined/*`, `seal_batch/64`,
//! `seal_each/64`, `copy/64`); with `valgrind --tool=callgrind` for instruction counts.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use bytes::Bytes;
use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use fragseal::engine::{Engine, EngineConfig, SealRequest};
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::LocalKms;
use fragseal::kms::Credential;
use fragseal::kvs::put_media::PutMediaInput;
use fragseal::kvs::{CreateStreamInput, Kvs, MemoryStore, PutMediaMode, StreamRef};
use fragseal::EncryptionContext;
use rayon::prelude::*;
use std::sync::Arc;
use std::time::Duration;

#[path = "support/paired.rs"]
mod paired;

const ACCOUNT: &str = "123456789012";
const FRAGMENT: usize = 2_000_000;
const TOTAL: usize = 64;

fn element(id: &[u8], data: &[u8]) -> Vec<u8> {
    let mut v = id.to_vec();
    v.push(0x01);
    v.extend_from_slice(&(data.len() as u64).to_be_bytes()[1..]);
    v.extend_from_slice(data);
    v
}

/// A live MKV stream (unknown sizes) of `n` clusters, each one key-frame SimpleBlock of 2 MB.
fn mkv(n: usize, payload: &[u8]) -> Vec<u8> {
    let mut v = element(
        &[0x1A, 0x45, 0xDF, 0xA3],
        &element(&[0x42, 0x82], b"matroska"),
    );
    v.extend_from_slice(&[
        0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    v.extend(element(
        &[0x15, 0x49, 0xA9, 0x66],
        &element(&[0x2A, 0xD7, 0xB1], &[0x0F, 0x42, 0x40]),
    ));
    let mut entry = element(&[0xD7], &[1]);
    entry.extend(element(&[0x83], &[1]));
    entry.extend(element(&[0x86], b"V_MPEG4/ISO/AVC"));
    v.extend(element(
        &[0x16, 0x54, 0xAE, 0x6B],
        &element(&[0xAE], &entry),
    ));
    for i in 0..n {
        v.extend_from_slice(&[
            0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        v.extend(element(&[0xE7], &((i as u64) * 2000).to_be_bytes()));
        let mut block = vec![0x81, 0x00, 0x00, 0x80];
        block.extend_from_slice(&payload[..FRAGMENT - 64]);
        v.extend(element(&[0xA3], &block));
    }
    v
}

fn root() -> Credential {
    Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT")
        .expect("credential")
}

fn world(streams: usize) -> (Kvs, Vec<String>) {
    world_in(streams, PutMediaMode::Auto)
}

fn world_in(streams: usize, mode: PutMediaMode) -> (Kvs, Vec<String>) {
    let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
    let key = kms.create_key(&root(), None, "bench").expect("key").arn;
    let kvs = Kvs::builder(kms, Arc::new(MemoryStore::new()))
        .put_media_mode(mode)
        .build()
        .expect("kvs");
    let names: Vec<String> = (0..streams).map(|i| format!("s{i}")).collect();
    for n in &names {
        kvs.create_stream(
            &root(),
            &CreateStreamInput::new(n)
                .with_kms_key_id(&key)
                .with_retention_hours(1),
        )
        .expect("stream");
    }
    (kvs, names)
}

const CASES: [(usize, usize); 3] = [(1, 64), (8, 8), (64, 1)];

/// Deletes the streams (and so their fragments: their sealed buffers go back to the engine's
/// pool) and creates them again, empty.
fn reset(kvs: &Kvs, names: &[String]) {
    let key = kvs
        .describe_stream(&root(), &StreamRef::Name(names[0].clone()))
        .expect("describe")
        .kms_key_id;
    for n in names {
        kvs.delete_stream(&root(), &StreamRef::Name(n.clone()), None)
            .expect("delete");
        kvs.create_stream(
            &root(),
            &CreateStreamInput::new(n)
                .with_kms_key_id(&key)
                .with_retention_hours(1),
        )
        .expect("stream");
    }
}

/// Minor page faults of this process so far (`/proc/self/stat`, field 10).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(7))
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

fn payload() -> Vec<u8> {
    let mut payload = vec![0u8; FRAGMENT];
    for (i, b) in payload.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    payload
}

fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool")
}

/// `streams` concurrent PutMedia sessions of `media` (`per` fragments each).
fn ingest(pool: &rayon::ThreadPool, kvs: &Kvs, names: &[String], media: &[u8], per: usize) {
    pool.install(|| {
        names.par_iter().for_each(|n| {
            let s = kvs
                .put_media(
                    &root(),
                    &PutMediaInput::absolute(StreamRef::Name(n.clone())),
                    media,
                    |_| Ok(()),
                )
                .expect("put_media");
            assert_eq!(s.persisted, per as u64);
        })
    });
}

/// The engine alone, and the 64 fragments it seals.
struct Baseline {
    engine: Engine,
    ec: EncryptionContext,
    fragments: Vec<Bytes>,
}

impl Baseline {
    fn new(payload: &[u8]) -> Self {
        let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
        let key = kms.create_key(&root(), None, "bench").expect("key").arn;
        let keyring = KmsKeyring::strict(kms, &root(), &[&key]).expect("keyring");
        let engine = Engine::new(Arc::new(keyring), EngineConfig::default()).expect("engine");
        let ec = EncryptionContext::new().with(
            "aws:kinesisvideo:arn",
            "arn:aws:kinesisvideo:us-east-1:123456789012:stream/s0/1700000000000",
        );
        let fragments = (0..TOTAL)
            .map(|i| {
                let mut f = payload.to_vec();
                f[0] = i as u8;
                Bytes::from(f)
            })
            .collect();
        Self {
            engine,
            ec,
            fragments,
        }
    }

    fn requests(&self) -> Vec<SealRequest> {
        self.fragments
            .iter()
            .map(|f| SealRequest::new(self.ec.clone(), f.clone()))
            .collect()
    }

    fn seal_batch(&self, pool: &rayon::ThreadPool) -> usize {
        let out = pool.install(|| self.engine.seal_batch(&root(), self.requests()));
        assert!(out.iter().all(Result::is_ok));
        out.len()
    }

    fn seal_each(&self, pool: &rayon::ThreadPool) -> usize {
        let reqs = self.requests();
        let out: Vec<_> = pool.install(|| {
            reqs.par_iter()
                .map(|r| self.engine.seal(&root(), r).expect("seal"))
                .collect()
        });
        out.len()
    }
}

/// Copies the 64 fragments' bytes out of `media` into reused buffers, on the pool.
fn copy(pool: &rayon::ThreadPool, media: &[u8]) -> usize {
    pool.install(|| {
        media
            .par_chunks(FRAGMENT)
            .map_init(
                || Vec::with_capacity(FRAGMENT),
                |buf, chunk| {
                    buf.clear();
                    buf.extend_from_slice(chunk);
                    buf.len()
                },
            )
            .sum()
    })
}

fn bench(c: &mut Criterion) {
    let pool = pool();
    let payload = payload();
    let mut g = c.benchmark_group("kvs_ingest");
    g.throughput(Throughput::Bytes((TOTAL * FRAGMENT) as u64));
    g.sample_size(10);
    for (streams, per) in CASES {
        let media = mkv(per, &payload);
        let (kvs, names) = world(streams);
        g.bench_function(format!("put_media/{streams}x{per}"), |b| {
            b.iter_batched(
                || reset(&kvs, &names),
                |()| ingest(&pool, &kvs, &names, &media, per),
                BatchSize::PerIteration,
            );
        });
        drop(kvs);
        let (kvs, names) = world_in(streams, PutMediaMode::Pipelined);
        g.bench_function(format!("put_media_pipelined/{streams}x{per}"), |b| {
            b.iter_batched(
                || reset(&kvs, &names),
                |()| ingest(&pool, &kvs, &names, &media, per),
                BatchSize::PerIteration,
            );
        });
        drop(kvs);
        g.bench_function(format!("put_media_cold/{streams}x{per}"), |b| {
            b.iter_batched(
                || world(streams),
                |(kvs, names)| {
                    ingest(&pool, &kvs, &names, &media, per);
                    kvs
                },
                BatchSize::PerIteration,
            );
        });
    }
    let base = Baseline::new(&payload);
    g.bench_function("seal_batch/64", |b| b.iter(|| base.seal_batch(&pool)));
    g.bench_function("seal_each/64", |b| b.iter(|| base.seal_each(&pool)));
    let media = mkv(TOTAL, &payload);
    g.bench_function("copy/64", |b| b.iter(|| copy(&pool, &media)));
    g.finish();
}

/// Runs `round` `rounds` times, printing each round's time and minor page faults per MB moved.
fn rounds(case: &str, rounds: usize, mut setup: impl FnMut(), mut round: impl FnMut()) {
    let mb = (TOTAL * FRAGMENT) as f64 / 1e6;
    for r in 0..rounds {
        setup();
        let (faults, t) = (minor_faults(), std::time::Instant::now());
        round();
        let (ms, faults) = (t.elapsed().as_secs_f64() * 1e3, minor_faults() - faults);
        eprintln!(
            "{case} round {r}: {ms:.1} ms, {:.1} minor faults/MB",
            faults as f64 / mb
        );
    }
}

/// One case without criterion (page faults per round; `valgrind --tool=callgrind`).
fn one(case: &str) {
    let n = std::env::var("KVS_INGEST_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let pool = pool();
    let payload = payload();
    match case {
        "seal_batch/64" => {
            let base = Baseline::new(&payload);
            rounds(case, n, || {}, || assert_eq!(base.seal_batch(&pool), TOTAL));
        }
        "seal_each/64" => {
            let base = Baseline::new(&payload);
            rounds(case, n, || {}, || assert_eq!(base.seal_each(&pool), TOTAL));
        }
        "copy/64" => {
            let media = mkv(TOTAL, &payload);
            rounds(
                case,
                n,
                || {},
                || assert_eq!(copy(&pool, &media), media.len()),
            );
        }
        _ => {
            let (cold, mode, shape) = if let Some(shape) = case.strip_prefix("put_media_cold/") {
                (true, PutMediaMode::Auto, shape)
            } else if let Some(shape) = case.strip_prefix("put_media_pipelined/") {
                (false, PutMediaMode::Pipelined, shape)
            } else {
                let shape = case.strip_prefix("put_media/").unwrap_or(case);
                (false, PutMediaMode::Auto, shape)
            };
            let (streams, per) = CASES
                .into_iter()
                .find(|(s, p)| shape == format!("{s}x{p}"))
                .expect(
                    "a case: put_media[_cold|_pipelined]/1x64|8x8|64x1, seal_batch/64, seal_each/64, copy/64",
                );
            let media = mkv(per, &payload);
            // The world is set up before each round and used by it: kept in a cell.
            let cell = std::cell::RefCell::new(world_in(streams, mode));
            let mut first = true;
            rounds(
                case,
                n,
                || {
                    let mut w = cell.borrow_mut();
                    if cold {
                        *w = world(streams);
                    } else if !first {
                        reset(&w.0, &w.1);
                    }
                    first = false;
                },
                || {
                    let w = cell.borrow();
                    ingest(&pool, &w.0, &w.1, &media, per);
                },
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    targets = bench
}

/// Every case once per round (`support/paired.rs`), each case's time as a ratio of
/// `seal_batch/64`'s in the same round: on a machine whose speed drifts between (and within)
/// runs, the per-round ratio is what holds still. Prints the median time of each case and the
/// median, lowest and highest ratio.
fn paired(rounds: usize) {
    let pool = pool();
    let payload = payload();
    let base = Baseline::new(&payload);
    let full = mkv(TOTAL, &payload);
    let mut r = paired::Rounds::default();
    r.case("seal_batch/64", || {
        assert_eq!(base.seal_batch(&pool), TOTAL)
    });
    r.case("copy/64", || assert_eq!(copy(&pool, &full), full.len()));
    let mut names = vec!["copy/64".to_string()];
    for mode in [PutMediaMode::Auto, PutMediaMode::Pipelined] {
        for (streams, per) in CASES {
            let media = mkv(per, &payload);
            let (kvs, streams_made) = world_in(streams, mode);
            let name = match mode {
                PutMediaMode::Auto => format!("put_media/{streams}x{per}"),
                _ => format!("put_media_pipelined/{streams}x{per}"),
            };
            names.push(name.clone());
            let pool = &pool;
            r.timed(name, move || {
                reset(&kvs, &streams_made);
                // Only the ingest is timed, not the reset.
                let t = std::time::Instant::now();
                ingest(pool, &kvs, &streams_made, &media, per);
                t.elapsed()
            });
        }
    }
    // Cold: a fresh `Kvs` per round (made untimed, dropped after the timing): an empty buffer
    // pool, so the sealed bytes the store keeps are fresh pages, and one GenerateDataKey.
    for (streams, per) in CASES {
        let media = mkv(per, &payload);
        let name = format!("put_media_cold/{streams}x{per}");
        names.push(name.clone());
        let pool = &pool;
        r.timed(name, move || {
            let (kvs, streams_made) = world(streams);
            let t = std::time::Instant::now();
            ingest(pool, &kvs, &streams_made, &media, per);
            let elapsed = t.elapsed();
            drop((kvs, streams_made));
            elapsed
        });
    }
    let times = r.run(rounds);
    times.print_times();
    for name in &names {
        times.print_ratio(name, "seal_batch/64", name);
    }
}

fn main() {
    if let Ok(case) = std::env::var("KVS_INGEST_ONE") {
        one(&case);
        return;
    }
    if let Some(rounds) = paired::rounds_from_env("KVS_INGEST_PAIRED") {
        paired(rounds);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

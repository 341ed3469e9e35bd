//! The engine at real fragment sizes, each next to its baseline in the same criterion group (so
//! every ratio comes from one run).
//!
//! `cargo bench --bench engine -- --warm-up-time 1 --measurement-time 3`
//!
//! - `engine_seal/{16KiB,1MiB}`: `raw_ring_seal` (`ring` AES-256-GCM in place over the whole
//!   buffer — the practical limit) vs `engine_seal` (`Engine::seal` with a warm data-key cache
//!   over LocalKms: cache lookup, header, HKDF, frames, one fresh output allocation) and
//!   `engine_seal_into` (the same into a reused buffer).
//! - `engine_large/{4,16,50}MiB`: large fragments against "copy + seal in place" (see
//!   `large`).
//! - `engine_batch/64x1MiB`: `seal_batch`, `seal_batch_into` (reused output buffers) and
//!   `open_batch` of 64 different 1 MiB fragments on a 1-thread and a 2-thread rayon pool
//!   (speedup = time at 1 thread / time at 2 threads). References on the same pools: raw
//!   `ring` sealing the same 64 buffers in place (`raw_ring_seal`), and the same amount sealed
//!   within one 256 KiB buffer per thread that stays in L2 (`raw_ring_cached`: how far the two
//!   vCPUs scale on AES alone, without memory traffic). `single_seal` / `single_open`
//!   (`Engine::seal` / `Engine::open` over the same 64 fragments one after another on the
//!   calling thread) are the per-thread baseline of the batch targets (issue 15.1: batch per
//!   thread ≥ 0.85 × single); `single_seal_kept` / `single_open_kept` keep the 64 results
//!   until the last is done, as a batch does. Batch results are dropped inside the measured
//!   time, so the pool's give-back (and the zeroizing of opened plaintext) is counted. The
//!   engines wipe opened plaintext before reuse (`PlaintextWipe::BeforeReuse`, the default);
//!   `open_batch_wipe_on_release` is `open_batch` on an engine whose pool zeroizes plaintext
//!   when each result is dropped (`PlaintextWipe::OnRelease`).
//!
//! Paired rounds (no criterion), for machines whose speed drifts: `ENGINE_PAIRED=N` runs the
//! batch and large cases once per round each, rotating their order, and prints every issue 15
//! target as a ratio taken within each round, the median (and range) over the N rounds
//! (`scripts/bench.sh engine_paired`: 200 rounds, about 90 s). Criterion runs one case after
//! another, so its ratios also measure how the machine's speed moved between the two.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use bytes::Bytes;
use criterion::{black_box, criterion_group, BenchmarkId, Criterion, Throughput};
use fragseal::engine::{
    BufferPoolLimits, Engine, EngineConfig, OpenRequest, PlaintextWipe, SealRequest,
};
use fragseal::identity::IdentityCheck;
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::LocalKms;
use fragseal::kms::Credential;
use fragseal::EncryptionContext;
use rayon::prelude::*;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::sync::Arc;
use std::time::Duration;

#[path = "support/paired.rs"]
mod paired;

const ACCOUNT: &str = "123456789012";

fn setup() -> (Engine, Credential, String, EncryptionContext) {
    let (engine, _, root, key, ec) = setup_with(EngineConfig::default());
    (engine, root, key, ec)
}

/// An engine with `config` over a fresh LocalKms (returned, so that another engine can share
/// its key).
fn setup_with(
    config: EngineConfig,
) -> (Engine, Arc<LocalKms>, Credential, String, EncryptionContext) {
    let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
    let root = Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT")
        .expect("a valid credential");
    let key = kms
        .create_key(&root, None, "bench")
        .expect("create key")
        .arn;
    let keyring = KmsKeyring::strict(kms.clone(), &root, &[&key]).expect("keyring");
    let engine = Engine::new(Arc::new(keyring), config).expect("engine");
    let ec = EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:123456789012:stream/bench/1700000000000",
    );
    (engine, kms, root, key, ec)
}

fn raw_key() -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).expect("key"))
}

fn raw_seal(raw: &LessSafeKey, buf: &mut [u8]) {
    let tag = raw
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key([1; 12]), Aad::empty(), buf)
        .expect("seal");
    let _ = black_box(tag);
}

fn warm_seal(c: &mut Criterion) {
    let (engine, cred, _key, ec) = setup();
    let raw = raw_key();
    for (size, label) in [(16usize << 10, "16KiB"), (1 << 20, "1MiB")] {
        let mut g = c.benchmark_group(format!("engine_seal/{label}"));
        g.throughput(Throughput::Bytes(size as u64));
        let plaintext: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut buf = plaintext.clone();
        g.bench_function(BenchmarkId::from_parameter("raw_ring_seal"), |b| {
            b.iter(|| raw_seal(&raw, black_box(&mut buf[..])))
        });
        let request = SealRequest::new(ec.clone(), Bytes::from(plaintext));
        engine.seal(&cred, &request).expect("warm the cache");
        g.bench_function(BenchmarkId::from_parameter("engine_seal"), |b| {
            b.iter(|| black_box(engine.seal(&cred, black_box(&request)).expect("seal")))
        });
        let mut out = Vec::new();
        g.bench_function(BenchmarkId::from_parameter("engine_seal_into"), |b| {
            b.iter(|| {
                out.clear();
                engine
                    .seal_into(&cred, black_box(&request), &mut out)
                    .expect("seal");
                black_box(out.len());
            })
        });
        g.finish();
    }
}

/// Large fragments (issue 15.2): the engine against "copy + seal in place" with `ring` over
/// the whole buffer, each with a fresh output (`copy_seal_fresh` vs `engine_seal`) and with a
/// reused one (`copy_seal_reused` vs `engine_seal_into`).
/// One large fragment's cases, shared by criterion and the paired rounds.
struct Large {
    raw: LessSafeKey,
    plaintext: Bytes,
    request: SealRequest,
    reused: Vec<u8>,
    out: Vec<u8>,
}

const LARGE_MIB: [usize; 3] = [4, 16, 50];

impl Large {
    fn new(ec: &EncryptionContext, mib: usize) -> Self {
        let size = mib << 20;
        let plaintext: Bytes = (0..size).map(|i| (i * 7) as u8).collect::<Vec<u8>>().into();
        Self {
            raw: raw_key(),
            request: SealRequest::new(ec.clone(), plaintext.clone()),
            plaintext,
            reused: Vec::with_capacity(size),
            out: Vec::new(),
        }
    }

    fn copy_seal_fresh(&self) {
        let mut out = black_box(&self.plaintext[..]).to_vec();
        raw_seal(&self.raw, &mut out);
        black_box(out);
    }

    fn copy_seal_reused(&mut self) {
        self.reused.clear();
        self.reused
            .extend_from_slice(black_box(&self.plaintext[..]));
        raw_seal(&self.raw, &mut self.reused);
    }

    fn engine_seal(&self, engine: &Engine, cred: &Credential) {
        black_box(engine.seal(cred, black_box(&self.request)).expect("seal"));
    }

    fn engine_seal_into(&mut self, engine: &Engine, cred: &Credential) {
        self.out.clear();
        engine
            .seal_into(cred, black_box(&self.request), &mut self.out)
            .expect("seal");
        black_box(self.out.len());
    }
}

fn large(c: &mut Criterion) {
    let (engine, cred, _key, ec) = setup();
    for mib in LARGE_MIB {
        let mut large = Large::new(&ec, mib);
        let mut g = c.benchmark_group(format!("engine_large/{mib}MiB"));
        g.throughput(Throughput::Bytes(large.plaintext.len() as u64));
        g.sample_size(10);
        g.bench_function(BenchmarkId::from_parameter("copy_seal_fresh"), |b| {
            b.iter(|| large.copy_seal_fresh())
        });
        g.bench_function(BenchmarkId::from_parameter("copy_seal_reused"), |b| {
            b.iter(|| large.copy_seal_reused())
        });
        large.engine_seal(&engine, &cred);
        g.bench_function(BenchmarkId::from_parameter("engine_seal"), |b| {
            b.iter(|| large.engine_seal(&engine, &cred))
        });
        g.bench_function(BenchmarkId::from_parameter("engine_seal_into"), |b| {
            b.iter(|| large.engine_seal_into(&engine, &cred))
        });
        g.finish();
    }
}

/// The 64 × 1 MiB batch cases' fixtures, shared by criterion and the paired rounds.
struct Batch {
    engine: Engine,
    /// The same key, with plaintext zeroized on release instead of before reuse.
    on_release: Engine,
    cred: Credential,
    raw: LessSafeKey,
    requests: Vec<SealRequest>,
    opens: Vec<OpenRequest>,
    raw_bufs: Vec<Vec<u8>>,
    /// One 256 KiB buffer per pool thread, for `raw_ring_cached`.
    cached_bufs: Vec<std::sync::Mutex<Vec<u8>>>,
}

const BATCH_N: usize = 64;
const BATCH_SIZE: usize = 1 << 20;
const CACHED: usize = 256 << 10;

impl Batch {
    fn new() -> Self {
        let (engine, kms, cred, key, ec) = setup_with(EngineConfig::default());
        let on_release = Engine::new(
            Arc::new(KmsKeyring::strict(kms, &cred, &[&key]).expect("keyring")),
            EngineConfig::default().with_buffer_pool(
                BufferPoolLimits::default().with_plaintext_wipe(PlaintextWipe::OnRelease),
            ),
        )
        .expect("engine");
        let requests: Vec<SealRequest> = (0..BATCH_N)
            .map(|n| {
                let p: Vec<u8> = (0..BATCH_SIZE).map(|i| (i ^ n) as u8).collect();
                SealRequest::new(ec.clone(), p)
            })
            .collect();
        let opens = engine
            .seal_batch(&cred, requests.clone())
            .into_iter()
            .map(|r| OpenRequest::new(r.expect("seal"), IdentityCheck::Skip))
            .collect();
        let raw_bufs = requests.iter().map(|r| r.plaintext.to_vec()).collect();
        Self {
            engine,
            on_release,
            cred,
            raw: raw_key(),
            requests,
            opens,
            raw_bufs,
            cached_bufs: (0..2)
                .map(|_| std::sync::Mutex::new(vec![0; CACHED]))
                .collect(),
        }
    }

    fn single_seal(&self) {
        for r in &self.requests {
            black_box(self.engine.seal(&self.cred, r).expect("seal"));
        }
    }

    fn single_open(&self) {
        for r in &self.opens {
            black_box(self.engine.open(&self.cred, r).expect("open"));
        }
    }

    fn single_seal_kept(&self) {
        let kept: Vec<_> = self
            .requests
            .iter()
            .map(|r| self.engine.seal(&self.cred, r).expect("seal"))
            .collect();
        black_box(kept);
    }

    fn single_open_kept(&self) {
        let kept: Vec<_> = self
            .opens
            .iter()
            .map(|r| self.engine.open(&self.cred, r).expect("open"))
            .collect();
        black_box(kept);
    }

    fn raw_ring_seal(&mut self, pool: &rayon::ThreadPool) {
        let raw = &self.raw;
        let bufs = &mut self.raw_bufs;
        pool.install(|| bufs.par_iter_mut().for_each(|buf| raw_seal(raw, buf)));
    }

    /// The hardware's own scaling, without memory traffic: raw `ring` sealing the batch's 64 MiB
    /// as 256 seals of a 256 KiB buffer per pool thread that stays in L2.
    fn raw_ring_cached(&self, pool: &rayon::ThreadPool) {
        let raw = &self.raw;
        let bufs = &self.cached_bufs;
        pool.install(|| {
            (0..BATCH_N * BATCH_SIZE / CACHED)
                .into_par_iter()
                .for_each(|_| {
                    let i = rayon::current_thread_index().unwrap_or(0) % bufs.len();
                    let mut buf = bufs[i].lock().expect("not poisoned");
                    raw_seal(raw, &mut buf);
                })
        });
    }

    /// Cloning the requests clones `Bytes` handles, not fragments.
    fn seal_batch(&self, pool: &rayon::ThreadPool) {
        black_box(pool.install(|| self.engine.seal_batch(&self.cred, self.requests.clone())));
    }

    fn seal_batch_into(&self, pool: &rayon::ThreadPool, outputs: &mut [Vec<u8>]) {
        let r = pool.install(|| {
            self.engine
                .seal_batch_into(&self.cred, &self.requests, outputs)
        });
        black_box(r.expect("same lengths"));
    }

    fn open_batch(&self, pool: &rayon::ThreadPool, engine: &Engine) {
        black_box(pool.install(|| engine.open_batch(&self.cred, self.opens.clone())));
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool")
}

fn batches(c: &mut Criterion) {
    let mut batch = Batch::new();
    let mut g = c.benchmark_group("engine_batch/64x1MiB");
    g.throughput(Throughput::Bytes((BATCH_N * BATCH_SIZE) as u64));
    g.sample_size(10);
    g.bench_function(BenchmarkId::from_parameter("single_seal"), |b| {
        b.iter(|| batch.single_seal())
    });
    g.bench_function(BenchmarkId::from_parameter("single_open"), |b| {
        b.iter(|| batch.single_open())
    });
    // The same single calls with every result kept until all 64 are done, as a batch's
    // results are: each output is then fresh memory for the cache, not the one buffer that the
    // loops above get back from the pool at every call while it is still cached.
    g.bench_function(BenchmarkId::from_parameter("single_seal_kept"), |b| {
        b.iter(|| batch.single_seal_kept())
    });
    g.bench_function(BenchmarkId::from_parameter("single_open_kept"), |b| {
        b.iter(|| batch.single_open_kept())
    });
    for threads in [1usize, 2] {
        let pool = pool(threads);
        g.bench_function(
            BenchmarkId::new("raw_ring_seal", format!("{threads}t")),
            |b| b.iter(|| batch.raw_ring_seal(&pool)),
        );
        g.bench_function(
            BenchmarkId::new("raw_ring_cached", format!("{threads}t")),
            |b| b.iter(|| batch.raw_ring_cached(&pool)),
        );
        g.bench_function(BenchmarkId::new("seal_batch", format!("{threads}t")), |b| {
            b.iter(|| batch.seal_batch(&pool))
        });
        let mut outputs = vec![Vec::new(); BATCH_N];
        g.bench_function(
            BenchmarkId::new("seal_batch_into", format!("{threads}t")),
            |b| b.iter(|| batch.seal_batch_into(&pool, &mut outputs)),
        );
        g.bench_function(BenchmarkId::new("open_batch", format!("{threads}t")), |b| {
            b.iter(|| batch.open_batch(&pool, &batch.engine))
        });
        g.bench_function(
            BenchmarkId::new("open_batch_wipe_on_release", format!("{threads}t")),
            |b| b.iter(|| batch.open_batch(&pool, &batch.on_release)),
        );
    }
    g.finish();
}

/// The paired rounds of `ENGINE_PAIRED=N` (see the module docs): the batch and large cases,
/// each ratio taken per round.
fn paired(rounds: usize) {
    let batch = std::cell::RefCell::new(Batch::new());
    let pools = [pool(1), pool(2)];
    let mut outputs = [vec![Vec::new(); BATCH_N], vec![Vec::new(); BATCH_N]];
    let (engine, cred, _key, ec) = setup();
    let larges: Vec<std::cell::RefCell<Large>> = LARGE_MIB
        .iter()
        .map(|&m| std::cell::RefCell::new(Large::new(&ec, m)))
        .collect();
    let mut r = paired::Rounds::default();
    r.case("single_seal", || batch.borrow().single_seal());
    r.case("single_open", || batch.borrow().single_open());
    r.case("single_seal_kept", || batch.borrow().single_seal_kept());
    r.case("single_open_kept", || batch.borrow().single_open_kept());
    for (i, (pool, outputs)) in pools.iter().zip(&mut outputs).enumerate() {
        let t = i + 1;
        let batch = &batch;
        r.case(format!("raw_ring_seal/{t}t"), move || {
            batch.borrow_mut().raw_ring_seal(pool)
        });
        r.case(format!("raw_ring_cached/{t}t"), move || {
            batch.borrow().raw_ring_cached(pool)
        });
        r.case(format!("seal_batch/{t}t"), move || {
            batch.borrow().seal_batch(pool)
        });
        r.case(format!("seal_batch_into/{t}t"), move || {
            batch.borrow().seal_batch_into(pool, outputs)
        });
        r.case(format!("open_batch/{t}t"), move || {
            let b = batch.borrow();
            b.open_batch(pool, &b.engine)
        });
    }
    for large in &larges {
        let mib = large.borrow().plaintext.len() >> 20;
        // About 10 ms a case at 6 GB/s, so that timer and scheduling noise stay small.
        let reps = (64 / mib).max(1);
        let (engine, cred) = (&engine, &cred);
        r.case(format!("{mib}MiB/copy_seal_fresh"), move || {
            (0..reps).for_each(|_| large.borrow().copy_seal_fresh())
        });
        r.case(format!("{mib}MiB/copy_seal_reused"), move || {
            (0..reps).for_each(|_| large.borrow_mut().copy_seal_reused())
        });
        r.case(format!("{mib}MiB/engine_seal"), move || {
            (0..reps).for_each(|_| large.borrow().engine_seal(engine, cred))
        });
        r.case(format!("{mib}MiB/engine_seal_into"), move || {
            (0..reps).for_each(|_| large.borrow_mut().engine_seal_into(engine, cred))
        });
    }
    let times = r.run(rounds);
    times.print_times();
    println!("-- per thread, batch against single calls (issue 15.1: >= 0.85)");
    times.print_ratio("seal", "single_seal", "seal_batch/1t");
    times.print_ratio("seal, results kept", "single_seal_kept", "seal_batch/1t");
    times.print_ratio("open", "single_open", "open_batch/1t");
    times.print_ratio("open, results kept", "single_open_kept", "open_batch/1t");
    // The dropping single calls write each result into the same L2-resident buffer; a batch
    // keeps 64 MiB of results. Raw AES pays for that working set too: this is its own ratio.
    times.print_ratio(
        "hardware: raw AES over the batch's 64 MiB against within L2",
        "raw_ring_cached/1t",
        "raw_ring_seal/1t",
    );
    println!("-- two threads over one (issue 15.1: >= 1.8)");
    for case in [
        "seal_batch",
        "seal_batch_into",
        "open_batch",
        "raw_ring_seal",
        "raw_ring_cached",
    ] {
        times.print_ratio(case, &format!("{case}/1t"), &format!("{case}/2t"));
    }
    println!("-- large fragments, engine against copy + seal in place (issue 15.2: >= 0.95)");
    for mib in LARGE_MIB {
        let p = |c: &str| format!("{mib}MiB/{c}");
        times.print_ratio(&p("fresh"), &p("copy_seal_fresh"), &p("engine_seal"));
        times.print_ratio(&p("reused"), &p("copy_seal_reused"), &p("engine_seal"));
        times.print_ratio(
            &p("into, reused"),
            &p("copy_seal_reused"),
            &p("engine_seal_into"),
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = warm_seal, batches, large
}

fn main() {
    if let Some(rounds) = paired::rounds_from_env("ENGINE_PAIRED") {
        paired(rounds);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

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
//!   (speedup = time at 1 thread / time at 2 threads), with raw `ring` sealing the same 64
//!   buffers in place on the same pools as the reference, and `single_seal` / `single_open`
//!   (`Engine::seal` / `Engine::open` over the same 64 fragments one after another on the
//!   calling thread) as the per-thread baseline of the batch targets (issue 15.1: batch per
//!   thread ≥ 0.85 × single); `single_seal_kept` / `single_open_kept` keep the 64 results
//!   until the last is done, as a batch does. Batch results are dropped inside the measured
//!   time, so the pool's give-back (and the zeroizing of opened plaintext) is counted. The engines wipe opened
//!   plaintext before reuse (`PlaintextWipe::BeforeReuse`, the default); `open_batch_wipe_on_release`
//!   is `open_batch` on an engine whose pool zeroizes plaintext when each result is dropped
//!   (`PlaintextWipe::OnRelease`).

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
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
fn large(c: &mut Criterion) {
    let (engine, cred, _key, ec) = setup();
    let raw = raw_key();
    for mib in [4usize, 16, 50] {
        let size = mib << 20;
        let mut g = c.benchmark_group(format!("engine_large/{mib}MiB"));
        g.throughput(Throughput::Bytes(size as u64));
        g.sample_size(10);
        let plaintext: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        g.bench_function(BenchmarkId::from_parameter("copy_seal_fresh"), |b| {
            b.iter(|| {
                let mut out = black_box(&plaintext[..]).to_vec();
                raw_seal(&raw, &mut out);
                black_box(out)
            })
        });
        let mut reused = Vec::with_capacity(size);
        g.bench_function(BenchmarkId::from_parameter("copy_seal_reused"), |b| {
            b.iter(|| {
                reused.clear();
                reused.extend_from_slice(black_box(&plaintext[..]));
                raw_seal(&raw, &mut reused);
            })
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

fn batches(c: &mut Criterion) {
    const N: usize = 64;
    const SIZE: usize = 1 << 20;
    let (engine, kms, cred, key, ec) = setup_with(EngineConfig::default());
    // The same key, with plaintext zeroized on release instead of before reuse.
    let on_release = Engine::new(
        Arc::new(KmsKeyring::strict(kms, &cred, &[&key]).expect("keyring")),
        EngineConfig::default().with_buffer_pool(
            BufferPoolLimits::default().with_plaintext_wipe(PlaintextWipe::OnRelease),
        ),
    )
    .expect("engine");
    let raw = raw_key();
    let requests: Vec<SealRequest> = (0..N)
        .map(|n| {
            let p: Vec<u8> = (0..SIZE).map(|i| (i ^ n) as u8).collect();
            SealRequest::new(ec.clone(), p)
        })
        .collect();
    let opens: Vec<OpenRequest> = engine
        .seal_batch(&cred, requests.clone())
        .into_iter()
        .map(|r| OpenRequest::new(r.expect("seal"), IdentityCheck::Skip))
        .collect();
    let mut raw_bufs: Vec<Vec<u8>> = requests.iter().map(|r| r.plaintext.to_vec()).collect();

    let mut g = c.benchmark_group("engine_batch/64x1MiB");
    g.throughput(Throughput::Bytes((N * SIZE) as u64));
    g.sample_size(10);
    g.bench_function(BenchmarkId::from_parameter("single_seal"), |b| {
        b.iter(|| {
            for r in &requests {
                black_box(engine.seal(&cred, r).expect("seal"));
            }
        })
    });
    g.bench_function(BenchmarkId::from_parameter("single_open"), |b| {
        b.iter(|| {
            for r in &opens {
                black_box(engine.open(&cred, r).expect("open"));
            }
        })
    });
    // The same single calls with every result kept until all 64 are done, as a batch's
    // results are: each output is then fresh memory for the cache, not the one buffer that the
    // loops above get back from the pool at every call while it is still cached.
    g.bench_function(BenchmarkId::from_parameter("single_seal_kept"), |b| {
        b.iter(|| {
            let kept: Vec<_> = requests
                .iter()
                .map(|r| engine.seal(&cred, r).expect("seal"))
                .collect();
            black_box(kept)
        })
    });
    g.bench_function(BenchmarkId::from_parameter("single_open_kept"), |b| {
        b.iter(|| {
            let kept: Vec<_> = opens
                .iter()
                .map(|r| engine.open(&cred, r).expect("open"))
                .collect();
            black_box(kept)
        })
    });
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        g.bench_function(
            BenchmarkId::new("raw_ring_seal", format!("{threads}t")),
            |b| {
                b.iter(|| {
                    pool.install(|| raw_bufs.par_iter_mut().for_each(|buf| raw_seal(&raw, buf)))
                })
            },
        );
        // Cloning the requests clones `Bytes` handles, not fragments.
        g.bench_function(BenchmarkId::new("seal_batch", format!("{threads}t")), |b| {
            b.iter(|| black_box(pool.install(|| engine.seal_batch(&cred, requests.clone()))))
        });
        let mut outputs = vec![Vec::new(); N];
        g.bench_function(
            BenchmarkId::new("seal_batch_into", format!("{threads}t")),
            |b| {
                b.iter(|| {
                    let r = pool.install(|| engine.seal_batch_into(&cred, &requests, &mut outputs));
                    black_box(r.expect("same lengths"))
                })
            },
        );
        g.bench_function(BenchmarkId::new("open_batch", format!("{threads}t")), |b| {
            b.iter(|| black_box(pool.install(|| engine.open_batch(&cred, opens.clone()))))
        });
        g.bench_function(
            BenchmarkId::new("open_batch_wipe_on_release", format!("{threads}t")),
            |b| b.iter(|| black_box(pool.install(|| on_release.open_batch(&cred, opens.clone())))),
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = warm_seal, batches, large
}
criterion_main!(benches);

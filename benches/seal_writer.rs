//! `Engine::seal_writer` + `fill_from` against what PutMedia does today, in one criterion
//! group on one thread (so every ratio comes from one run).
//!
//! `cargo bench --bench seal_writer -- --warm-up-time 1 --measurement-time 3`
//!
//! Each case seals 64 fragments of 2 MB read from one 128 MB `&[u8]` (as `kvs_ingest`'s
//! input), dropping each result before the next (its buffer goes back to the engine's pool):
//! - `copy_then_seal`: each fragment copied out of the reader into a reused `Vec`, then
//!   `Engine::seal` (PutMedia's path: the copy, then the seal reads it again);
//! - `writer_fill_from`: `Engine::seal_writer` + `FragmentWriter::fill_from` straight from the
//!   reader into the sealed message's frames;
//! - `seal_split` (the baseline): `Engine::seal` of the 64 fragments already split as `Bytes`.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use fragseal::engine::{Engine, EngineConfig, SealRequest, SealWriterRequest};
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::LocalKms;
use fragseal::kms::Credential;
use fragseal::EncryptionContext;
use std::io::Read;
use std::sync::Arc;

const ACCOUNT: &str = "123456789012";
const FRAGMENT: usize = 2_000_000;
const TOTAL: usize = 64;

fn setup() -> (Engine, Credential, EncryptionContext) {
    let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
    let root = Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT")
        .expect("a valid credential");
    let key = kms
        .create_key(&root, None, "bench")
        .expect("a key is created")
        .arn;
    let keyring = KmsKeyring::strict(kms, &root, &[key]).expect("a strict keyring");
    let engine = Engine::new(Arc::new(keyring), EngineConfig::default()).expect("an engine");
    let ec = EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        format!("arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/bench/1"),
    );
    (engine, root, ec)
}

fn bench(c: &mut Criterion) {
    let (engine, root, ec) = setup();
    let input: Vec<u8> = (0..FRAGMENT * TOTAL).map(|i| (i * 7 + 3) as u8).collect();
    let split: Vec<Bytes> = input.chunks(FRAGMENT).map(Bytes::copy_from_slice).collect();
    let writer_request = SealWriterRequest::new(ec.clone(), FRAGMENT as u64);

    let mut g = c.benchmark_group("seal_writer/64x2MB");
    g.throughput(Throughput::Bytes((FRAGMENT * TOTAL) as u64));
    g.sample_size(10);

    g.bench_function("copy_then_seal", |b| {
        let mut buf: Vec<u8> = Vec::with_capacity(FRAGMENT);
        b.iter(|| {
            let mut reader = &input[..];
            for _ in 0..TOTAL {
                buf.clear();
                let n = (&mut reader)
                    .take(FRAGMENT as u64)
                    .read_to_end(&mut buf)
                    .expect("reading a slice");
                assert_eq!(n, FRAGMENT);
                let plaintext = Bytes::from(core::mem::take(&mut buf));
                let request = SealRequest::new(ec.clone(), plaintext);
                black_box(engine.seal(&root, &request).expect("sealed"));
                // Reuse the fragment buffer (the request was its only other owner).
                buf = request
                    .plaintext
                    .try_into_mut()
                    .map(Vec::from)
                    .unwrap_or_default();
            }
        });
    });

    g.bench_function("writer_fill_from", |b| {
        b.iter(|| {
            let mut reader = &input[..];
            for _ in 0..TOTAL {
                let mut w = engine
                    .seal_writer(&root, &writer_request)
                    .expect("a writer");
                w.fill_from(&mut reader, FRAGMENT as u64).expect("filled");
                black_box(w.finish().expect("sealed"));
            }
        });
    });

    g.bench_function("seal_split", |b| {
        b.iter(|| {
            for fragment in &split {
                let request = SealRequest::new(ec.clone(), fragment.clone());
                black_box(engine.seal(&root, &request).expect("sealed"));
            }
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

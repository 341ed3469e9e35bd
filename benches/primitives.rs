//! Primitive costs behind a sealed fragment, each next to its alternative in the same group:
//!
//! - `aead_seal/{ring,aes-gcm}/{16 KiB,1 MiB}`: AES-256-GCM seal in place, both backends.
//! - `derive_message_keys/{ring-hkdf,hkdf-crate}`: one extract + two expands + AES key setup
//!   (the per-message fixed cost of suite 0x0478), with each HKDF implementation.
//! - `random_16/{fill_random,getrandom}`: userspace CSPRNG vs one OS call.
//!
//! Run: `cargo bench --bench primitives -- --warm-up-time 1 --measurement-time 2`.

#![allow(
    missing_docs,
    reason = "criterion_group! generates undocumented functions"
)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fragseal::crypto::aead::{AeadBackend, Aes256GcmKey};
use fragseal::crypto::kdf::{derive_message_keys_with, KdfBackend};
use fragseal::crypto::{fill_random, DataKey};

const KIB: usize = 1024;

fn aead_seal(c: &mut Criterion) {
    let mut g = c.benchmark_group("aead_seal");
    for size in [16 * KIB, 1024 * KIB] {
        g.throughput(Throughput::Bytes(size as u64));
        for (name, backend) in [
            ("ring", AeadBackend::Ring),
            ("aes-gcm", AeadBackend::RustCrypto),
        ] {
            let key = Aes256GcmKey::new(backend, &[0x42; 32]);
            let mut buf = vec![0x17u8; size];
            let iv = [9u8; 12];
            g.bench_with_input(BenchmarkId::new(name, size), &size, |b, _| {
                b.iter(|| black_box(key.seal_in_place_detached(&iv, b"aad", &mut buf)))
            });
        }
    }
    g.finish();
}

fn derive(c: &mut Criterion) {
    let mut g = c.benchmark_group("derive_message_keys");
    let dk = DataKey::from_bytes([0x33; 32]);
    let mid = [0x44u8; 32];
    for (name, kdf) in [
        ("ring-hkdf", KdfBackend::Ring),
        ("hkdf-crate", KdfBackend::RustCrypto),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(derive_message_keys_with(
                    kdf,
                    AeadBackend::Ring,
                    &dk,
                    0x0478,
                    black_box(&mid),
                ))
            })
        });
    }
    g.finish();
}

fn random(c: &mut Criterion) {
    let mut g = c.benchmark_group("random_16");
    g.bench_function("fill_random", |b| {
        b.iter(|| {
            let mut x = [0u8; 16];
            fill_random(&mut x);
            black_box(x)
        })
    });
    g.bench_function("getrandom", |b| {
        b.iter(|| {
            let mut x = [0u8; 16];
            getrandom::getrandom(&mut x).ok();
            black_box(x)
        })
    });
    g.finish();
}

criterion_group!(benches, aead_seal, derive, random);
criterion_main!(benches);

//! Primitive costs behind a sealed fragment, each next to its alternative in the same group:
//!
//! - `aead_seal/{ring,aes-gcm,aws-lc}/{16 KiB,1 MiB}` and `aead_open/...`: AES-256-GCM seal
//!   and open in place, every backend compiled in (`aws-lc` with `--features aws-lc`).
//! - `derive_message_keys/{ring-hkdf,hkdf-crate,aws-lc-hkdf}`: one extract + two expands + AES
//!   key setup (the per-message fixed cost of suite 0x0478), with each HKDF implementation and
//!   the AEAD of the same provider (what `derive_message_keys` does for that provider).
//! - `hkdf_sha512_32/{ring,hkdf-crate,aws-lc}`: one general HKDF-SHA512 (32-byte salt, IKM,
//!   info, output).
//! - `random_16/{chacha,getrandom}`: a userspace CSPRNG (`rand`'s thread-local ChaCha12) vs
//!   one OS call.
//! - `rng_seal_16k/{fill/chacha,fill/getrandom,seal/chacha,seal/getrandom}`: the 32-byte message
//!   id from each generator, alone and followed by sealing a 16 KiB fragment (issue 10 §6: keep
//!   a userspace generator only if it saves >= 10 % of a 16 KiB seal). Measured with the
//!   crate's own fork-checking ChaCha12 before it was removed: fill 0.56 µs vs 1.63 µs,
//!   seal 21.1 µs vs 18.9 µs (noise larger than the difference); see `src/crypto/rng.rs`.
//!
//! Run: `cargo bench --bench primitives --features internal,aws-lc -- --warm-up-time 1
//! --measurement-time 2` (`scripts/bench.sh primitives` passes the features).

#![allow(
    missing_docs,
    reason = "criterion_group! generates undocumented functions"
)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fragseal::crypto::AeadBackend;
use fragseal::crypto::DataKey;
use fragseal::format::EncryptedDataKey;
use fragseal::internal::crypto::aead::Aes256GcmKey;
use fragseal::internal::crypto::kdf::{derive_message_keys_with, hkdf_sha512_with, KdfBackend};
use fragseal::internal::danger::danger_seal_with_fixed_message_id_for_vectors;
use fragseal::message::SealParams;
use fragseal::EncryptionContext;

const KIB: usize = 1024;

/// Each AEAD backend compiled in, with its bench name.
fn aead_backends() -> Vec<(&'static str, AeadBackend)> {
    AeadBackend::ALL
        .iter()
        .map(|&b| {
            let name = match b.name() {
                "rustcrypto" => "aes-gcm",
                other => other,
            };
            (name, b)
        })
        .collect()
}

/// Each HKDF implementation compiled in, with its bench name and its provider's AEAD.
fn kdf_backends() -> Vec<(&'static str, KdfBackend, AeadBackend)> {
    AeadBackend::ALL
        .iter()
        .map(|&b| {
            let kdf = KdfBackend::for_provider(b);
            let name = match b.name() {
                "ring" => "ring-hkdf",
                "rustcrypto" => "hkdf-crate",
                _ => "aws-lc-hkdf",
            };
            (name, kdf, b)
        })
        .collect()
}

fn aead_seal(c: &mut Criterion) {
    let mut g = c.benchmark_group("aead_seal");
    for size in [16 * KIB, 1024 * KIB] {
        g.throughput(Throughput::Bytes(size as u64));
        for (name, backend) in aead_backends() {
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

fn aead_open(c: &mut Criterion) {
    let mut g = c.benchmark_group("aead_open");
    for size in [16 * KIB, 1024 * KIB] {
        g.throughput(Throughput::Bytes(size as u64));
        for (name, backend) in aead_backends() {
            let key = Aes256GcmKey::new(backend, &[0x42; 32]);
            let iv = [9u8; 12];
            let mut ct = vec![0x17u8; size];
            let tag = key.seal_in_place_detached(&iv, b"aad", &mut ct);
            let mut buf = ct.clone();
            g.bench_with_input(BenchmarkId::new(name, size), &size, |b, _| {
                b.iter(|| {
                    // Open in place, then restore the ciphertext for the next iteration: the
                    // copy is the same for every backend.
                    let ok = key
                        .open_in_place_detached(&iv, b"aad", &mut buf, &tag)
                        .is_ok();
                    buf.copy_from_slice(&ct);
                    black_box(ok)
                })
            });
        }
    }
    g.finish();
}

fn derive(c: &mut Criterion) {
    let mut g = c.benchmark_group("derive_message_keys");
    let dk = DataKey::from_bytes([0x33; 32]);
    let mid = [0x44u8; 32];
    for (name, kdf, aead) in kdf_backends() {
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(derive_message_keys_with(
                    kdf,
                    aead,
                    &dk,
                    0x0478,
                    black_box(&mid),
                ))
            })
        });
    }
    g.finish();
}

fn hkdf(c: &mut Criterion) {
    let mut g = c.benchmark_group("hkdf_sha512_32");
    for (name, kdf, _) in kdf_backends() {
        let name = name.trim_end_matches("-hkdf");
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut out = [0u8; 32];
                hkdf_sha512_with(kdf, &[1; 32], black_box(&[2; 32]), b"COMMITKEY", &mut out).ok();
                black_box(out)
            })
        });
    }
    g.finish();
}

fn random(c: &mut Criterion) {
    let mut g = c.benchmark_group("random_16");
    g.bench_function("chacha", |b| {
        b.iter(|| {
            let mut x = [0u8; 16];
            chacha_fill(&mut x);
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

/// One way to fill a buffer with random bytes.
type Fill = fn(&mut [u8]);

/// A userspace generator: `rand`'s thread-local ChaCha12, seeded from the OS.
fn chacha_fill(buf: &mut [u8]) {
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), buf);
}

fn getrandom_fill(buf: &mut [u8]) {
    getrandom::getrandom(buf).ok();
}

fn rng_seal_16k(c: &mut Criterion) {
    let mut g = c.benchmark_group("rng_seal_16k");
    let dk = DataKey::from_bytes([0x33; 32]);
    let ec = EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam1/1",
    );
    let edks = [EncryptedDataKey {
        provider_id: "aws-kms".into(),
        provider_info: b"arn:aws:kms:us-east-1:111122223333:key/k".to_vec(),
        ciphertext: vec![0x55; 184],
    }];
    let params = SealParams::new(&ec, &edks);
    let fragment = vec![0x17u8; 16 * KIB];
    let fills: [(&str, Fill); 2] = [("chacha", chacha_fill), ("getrandom", getrandom_fill)];
    for (name, fill) in fills {
        g.bench_function(format!("fill/{name}"), |b| {
            b.iter(|| {
                let mut id = [0u8; 32];
                fill(&mut id);
                black_box(id)
            })
        });
    }
    g.throughput(Throughput::Bytes(fragment.len() as u64));
    for (name, fill) in fills {
        g.bench_function(format!("seal/{name}"), |b| {
            b.iter(|| {
                // What `message::seal` does per message: a 32-byte id from the generator, then
                // the seal with that id (through the vector-only entry that takes the id).
                let mut id = [0u8; 32];
                fill(&mut id);
                let mut half = [0u8; 16];
                half.copy_from_slice(&id[..16]);
                black_box(
                    danger_seal_with_fixed_message_id_for_vectors(&dk, &params, &half, &fragment)
                        .ok(),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    aead_seal,
    aead_open,
    derive,
    hkdf,
    random,
    rng_seal_16k
);
criterion_main!(benches);

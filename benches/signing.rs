//! The cost of the signed suite `0x0578`, per fragment, in one run.
//!
//! `cargo bench --bench signing -- --warm-up-time 1 --measurement-time 3`
//! (add `--features aws-lc` for the aws-lc-rs rows)
//!
//! - `sign/<backend>/<size>`: one [`SigningKey::sign`] over a message of that size (SHA-384 of
//!   the message plus one ECDSA P-384 signature at the static DER length), on ring, RustCrypto
//!   and aws-lc-rs. 1 KiB shows the fixed cost of the signature; 1 MiB adds hashing a fragment.
//! - `keygen/<backend>`: one key pair, paid once per cache entry (not per fragment).
//! - `seal_1MiB/{0x0478,0x0578}/<backend>`: `message::seal_into` vs `message::seal_signed_into`
//!   of a 1 MiB fragment into a reused buffer, same AEAD backend; their ratio is the suite's
//!   cost at the engine's usual fragment size.
//! - `open_1MiB/{0x0478,0x0578}/<backend>`: `ParsedMessage::open_into` of those two messages
//!   (parse included) into a reused buffer, same backend: the 0x0578 row adds verifying the
//!   signature (SHA-384 of the message and one ECDSA P-384 verification). ring and aws-lc-rs
//!   verify with their own ECDSA; RustCrypto with `p384`.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use fragseal::crypto::{AeadBackend, DataKey, SigningBackend, SigningKey};
use fragseal::format::EncryptedDataKey;
use fragseal::identity::IdentityCheck;
use fragseal::message::{self, OpenParams, SealParams};
use fragseal::EncryptionContext;

fn backends() -> Vec<(SigningBackend, &'static str)> {
    vec![
        (SigningBackend::Ring, "ring"),
        (SigningBackend::RustCrypto, "rustcrypto"),
        #[cfg(feature = "aws-lc")]
        (SigningBackend::AwsLc, "aws-lc"),
    ]
}

fn sign(c: &mut Criterion) {
    for (size, label) in [(1usize << 10, "1KiB"), (1 << 20, "1MiB")] {
        let mut g = c.benchmark_group(format!("sign/{label}"));
        g.throughput(Throughput::Bytes(size as u64));
        let message: Vec<u8> = (0..size).map(|i| i as u8).collect();
        for (backend, name) in backends() {
            let key = SigningKey::generate(backend).expect("key");
            g.bench_function(name, |b| {
                b.iter(|| black_box(key.sign(black_box(&message)).expect("sign")))
            });
        }
        g.finish();
    }
    let mut g = c.benchmark_group("keygen");
    for (backend, name) in backends() {
        g.bench_function(name, |b| {
            b.iter(|| black_box(SigningKey::generate(backend).expect("key")))
        });
    }
    g.finish();
}

fn seal(c: &mut Criterion) {
    let dk = DataKey::from_bytes([7; 32]);
    let ec = EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:123456789012:stream/bench/1700000000000",
    );
    let edks = [EncryptedDataKey {
        provider_id: "aws-kms".into(),
        provider_info:
            b"arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000".to_vec(),
        ciphertext: vec![0xAB; 184],
    }];
    let size = 1 << 20;
    let plaintext: Vec<u8> = (0..size).map(|i| i as u8).collect();
    // Per provider: its name, its sealing parameters and a signing key of its own.
    let providers: Vec<(&str, SealParams<'_>, SigningKey)> = [
        (AeadBackend::Ring, SigningBackend::Ring, "ring"),
        (
            AeadBackend::RustCrypto,
            SigningBackend::RustCrypto,
            "rustcrypto",
        ),
        #[cfg(feature = "aws-lc")]
        (AeadBackend::AwsLc, SigningBackend::AwsLc, "aws-lc"),
    ]
    .into_iter()
    .map(|(aead, signing, name)| {
        let params = SealParams {
            backend: aead,
            ..SealParams::new(&ec, &edks)
        };
        (name, params, SigningKey::generate(signing).expect("key"))
    })
    .collect();
    let mut g = c.benchmark_group("seal_1MiB");
    g.throughput(Throughput::Bytes(size as u64));
    for (name, params, key) in &providers {
        let mut out = Vec::with_capacity(size + 4096);
        g.bench_function(format!("0x0478/{name}"), |b| {
            b.iter(|| {
                out.clear();
                message::seal_into(&dk, params, black_box(&plaintext), &mut out).expect("seal");
                black_box(out.len())
            })
        });
        g.bench_function(format!("0x0578/{name}"), |b| {
            b.iter(|| {
                out.clear();
                message::seal_signed_into(&dk, key, params, black_box(&plaintext), &mut out)
                    .expect("seal");
                black_box(out.len())
            })
        });
    }
    g.finish();

    let identity = IdentityCheck::Skip;
    let limits = message::OpenLimits::default();
    let mut g = c.benchmark_group("open_1MiB");
    g.throughput(Throughput::Bytes(size as u64));
    for (name, params, key) in &providers {
        let unsigned = message::seal(&dk, params, &plaintext).expect("seal");
        let signed = message::seal_signed(&dk, key, params, &plaintext).expect("seal");
        let open = OpenParams::new(&identity).with_backend(params.backend);
        let mut out = Vec::with_capacity(size);
        for (suite, sealed) in [("0x0478", &unsigned), ("0x0578", &signed)] {
            g.bench_function(format!("{suite}/{name}"), |b| {
                b.iter(|| {
                    out.clear();
                    message::parse(black_box(sealed), &limits)
                        .expect("parse")
                        .open_into(&dk, &open, &mut out)
                        .expect("open");
                    black_box(out.len())
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, sign, seal);
criterion_main!(benches);

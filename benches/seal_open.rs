//! Seal and open one message at real fragment sizes, next to raw `ring` AES-256-GCM in place
//! on the same number of bytes, in the same criterion group (so the ratio is within one run).
//!
//! `cargo bench --bench seal_open -- --warm-up-time 1 --measurement-time 3`
//!
//! - `raw_ring_seal` / `raw_ring_open_in_place`: `ring`
//!   `LessSafeKey::{seal,open}_in_place_separate_tag` over the whole buffer, in place — the
//!   practical limit, and the baseline of the targets.
//! - `raw_ring_copy_seal` / `raw_ring_open`: the same with one copy of the input into the output
//!   buffer first. A framed message cannot be sealed in the plaintext's own buffer (frame headers
//!   interleave with the data), nor opened without destroying the message, so one copy is part
//!   of any non-destructive seal or open: this is the structural floor.
//! - `seal`: `message::seal_into` into a reused buffer (header, HKDF, frames; 64 KiB frames).
//! - `seal_alloc`: `message::seal` (one fresh output allocation per message).
//! - `open`: `ParsedMessage::open_into` a reused buffer (header already parsed, as the engine does
//!   after the data key lookup).
//! - `open_alloc`: `ParsedMessage::open` (one fresh output allocation per message).

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput,
};
use fragseal::crypto::{AeadBackend, DataKey};
use fragseal::format::EncryptedDataKey;
use fragseal::identity::IdentityCheck;
use fragseal::message::{self, OpenLimits, OpenParams, SealParams};
use fragseal::EncryptionContext;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

const SIZES: [(usize, &str); 4] = [
    (16 << 10, "16KiB"),
    (256 << 10, "256KiB"),
    (1 << 20, "1MiB"),
    (4 << 20, "4MiB"),
];

fn bench(c: &mut Criterion) {
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
    let params = SealParams::new(&ec, &edks);
    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).expect("key"));

    for (size, label) in SIZES {
        let mut g = c.benchmark_group(format!("seal_open/{label}"));
        g.throughput(Throughput::Bytes(size as u64));
        let plaintext: Vec<u8> = (0..size).map(|i| i as u8).collect();

        let mut buf = plaintext.clone();
        g.bench_function(BenchmarkId::from_parameter("raw_ring_seal"), |b| {
            b.iter(|| {
                let tag = raw
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key([1; 12]),
                        Aad::empty(),
                        black_box(&mut buf[..]),
                    )
                    .expect("seal");
                let _ = black_box(tag);
            })
        });

        let mut copy_out = vec![0u8; size];
        g.bench_function(BenchmarkId::from_parameter("raw_ring_copy_seal"), |b| {
            b.iter(|| {
                copy_out.copy_from_slice(black_box(&plaintext));
                let tag = raw
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key([1; 12]),
                        Aad::empty(),
                        &mut copy_out[..],
                    )
                    .expect("seal");
                let _ = black_box(tag);
            })
        });

        let mut out = Vec::with_capacity(message::sealed_len(&params, size).expect("len"));
        g.bench_function(BenchmarkId::from_parameter("seal"), |b| {
            b.iter(|| {
                out.clear();
                message::seal_into(&dk, &params, black_box(&plaintext), &mut out).expect("seal");
                black_box(out.len());
            })
        });
        g.bench_function(BenchmarkId::from_parameter("seal_alloc"), |b| {
            b.iter(|| black_box(message::seal(&dk, &params, black_box(&plaintext)).expect("seal")))
        });

        // Raw open: copy a real ciphertext into the work buffer, then verify and decrypt it
        // in place (`open` also copies each frame into its output before decrypting).
        let mut ct = plaintext.clone();
        let tag = raw
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([2; 12]),
                Aad::empty(),
                &mut ct,
            )
            .expect("seal");
        // Place the work buffer 2 KiB apart (mod 4 KiB) from the ciphertext: when the
        // destination of a copy sits a few bytes after its source modulo 4 KiB, the copy hits
        // 4K aliasing and runs several times slower, which would make this baseline depend on
        // where the allocator happened to put the two buffers.
        let mut work_store = vec![0u8; size + 4096];
        let off = (ct.as_ptr() as usize % 4096 + 2048 + 4096 - work_store.as_ptr() as usize % 4096)
            % 4096;
        g.bench_function(BenchmarkId::from_parameter("raw_ring_open_in_place"), |b| {
            b.iter_batched_ref(
                || ct.clone(),
                |buf| {
                    raw.open_in_place_separate_tag(
                        Nonce::assume_unique_for_key([2; 12]),
                        Aad::empty(),
                        tag,
                        black_box(&mut buf[..]),
                        0..,
                    )
                    .expect("open");
                },
                BatchSize::LargeInput,
            )
        });
        let work = &mut work_store[off..off + size];
        g.bench_function(BenchmarkId::from_parameter("raw_ring_open"), |b| {
            b.iter(|| {
                work.copy_from_slice(&ct);
                raw.open_in_place_separate_tag(
                    Nonce::assume_unique_for_key([2; 12]),
                    Aad::empty(),
                    tag,
                    black_box(&mut *work),
                    0..,
                )
                .expect("open");
            })
        });

        let sealed = message::seal(&dk, &params, &plaintext).expect("seal");
        let header = message::parse(&sealed, &OpenLimits::default()).expect("header");
        let skip = IdentityCheck::Skip;
        let open_params = OpenParams::new(&skip).with_backend(AeadBackend::Ring);
        let mut plain = Vec::with_capacity(size);
        g.bench_function(BenchmarkId::from_parameter("open"), |b| {
            b.iter(|| {
                plain.clear();
                black_box(&header)
                    .open_into(&dk, &open_params, &mut plain)
                    .expect("open");
                black_box(plain.len());
            })
        });
        g.bench_function(BenchmarkId::from_parameter("open_alloc"), |b| {
            b.iter(|| black_box(black_box(&header).open(&dk, &open_params).expect("open")))
        });
        g.finish();
    }
}

/// The fixed cost per message: sealing and opening an empty plaintext (HKDF, RNG, header, tag,
/// one empty final frame). It sets the floor of the ratio at small sizes:
/// `floor(n) = t_raw(n) / (t_raw(n) + t_fixed)`.
fn fixed_cost(c: &mut Criterion) {
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
    let params = SealParams::new(&ec, &edks);
    let mut g = c.benchmark_group("seal_open/fixed_cost");
    let mut out = Vec::with_capacity(message::sealed_len(&params, 0).expect("len"));
    g.bench_function("seal_empty", |b| {
        b.iter(|| {
            out.clear();
            message::seal_into(&dk, &params, black_box(&[]), &mut out).expect("seal");
            black_box(out.len());
        })
    });
    let sealed = message::seal(&dk, &params, &[]).expect("seal");
    let header = message::parse(&sealed, &OpenLimits::default()).expect("header");
    let skip = IdentityCheck::Skip;
    let open_params = OpenParams::new(&skip).with_backend(AeadBackend::Ring);
    let mut plain = Vec::new();
    g.bench_function("open_empty", |b| {
        b.iter(|| {
            plain.clear();
            black_box(&header)
                .open_into(&dk, &open_params, &mut plain)
                .expect("open");
        })
    });
    g.bench_function("parse_header", |b| {
        b.iter(|| black_box(message::parse(black_box(&sealed), &OpenLimits::default())))
    });
    g.finish();
}

criterion_group!(benches, bench, fixed_cost);
criterion_main!(benches);

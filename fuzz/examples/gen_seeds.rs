//! Writes the seed corpora (deterministic: fixed data key, fixed message ids) into
//! `fuzz/seeds/<target>/`. Run from the repository root:
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds`.
//!
//! `open_fixed_key` needs valid messages under its fixed key so that mutations get past header
//! authentication; the other message targets start from the same messages.

use fragseal::crypto::AeadBackend;
use fragseal::internal::crypto::kdf::derive_message_keys;
use fragseal::crypto::DataKey;
use fragseal::internal::format::body::BodyKind;
use fragseal::internal::format::header::HeaderFields;
use fragseal::format::{ContentType, EncryptedDataKey, EncryptionContext};
use fragseal::identity::FragmentIdentity;
use fragseal::internal::danger::{FrameSpec, MessageBuilder};
use fragseal::internal::danger::danger_seal_with_fixed_message_id_for_vectors;
use fragseal::message::{SealParams, SUITE_ID};
use std::path::Path;

/// The key `open_fixed_key` opens with (must match the target).
const FIXED_KEY: [u8; 32] = [0x42; 32];

fn identity() -> FragmentIdentity {
    FragmentIdentity {
        stream_arn: "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1".into(),
        fragment_number: 7,
        producer_timestamp_ms: 1_700_000_000_000,
        track: 1,
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("create seed dir");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let key = DataKey::from_bytes(FIXED_KEY);
    let ec = EncryptionContext::new()
        .with(
            "aws:kinesisvideo:arn",
            "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1",
        )
        .with("purpose", "fuzz");
    let empty = EncryptionContext::new();
    let edk = EncryptedDataKey {
        provider_id: "aws-kms".into(),
        provider_info: b"arn:aws:kms:us-east-1:111122223333:key/k".to_vec(),
        ciphertext: vec![0xCC; 24],
    };
    let edk2 = EncryptedDataKey {
        provider_id: "ns".into(),
        provider_info: vec![1, 2, 3],
        ciphertext: vec![0xDD; 48],
    };
    let edks1 = [edk.clone()];
    let edks2 = [edk, edk2];
    let id = identity();
    let plaintext: Vec<u8> = (0..200u8).collect();
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    let mut n = 0u8;
    for (frame_length, len) in [
        (32u32, 0usize),
        (32, 1),
        (32, 31),
        (32, 32),
        (32, 33),
        (32, 100),
        (16, 64),
        (1, 5),
        (64, 200),
    ] {
        for (ec_name, ec) in [("ec", &ec), ("noec", &empty)] {
            for with_id in [false, true] {
                n = n.wrapping_add(1);
                let edks: &[EncryptedDataKey] = if n.is_multiple_of(3) { &edks2 } else { &edks1 };
                let params = SealParams {
                    frame_length,
                    encryption_context: ec,
                    encrypted_data_keys: edks,
                    identity: if with_id { Some(&id) } else { None },
                    authenticate_only: None,
                    backend: AeadBackend::Ring,
                };
                let m = danger_seal_with_fixed_message_id_for_vectors(
                    &key,
                    &params,
                    &[n; 16],
                    &plaintext[..len],
                )
                .expect("seal");
                seeds.push((
                    format!(
                        "fl{frame_length}_len{len}_{ec_name}_id{}",
                        u8::from(with_id)
                    ),
                    m,
                ));
            }
        }
    }
    // An empty final frame after full frames (valid per the spec), and a non-framed body.
    for (name, content_type, frame_length) in [
        ("empty_final", ContentType::Framed, 32u32),
        ("non_framed", ContentType::NonFramed, 0),
    ] {
        let message_id = [0x77u8; 32];
        let keys = derive_message_keys(AeadBackend::Ring, &key, SUITE_ID, &message_id);
        let commit = *keys.commit_key.as_bytes();
        let fields = HeaderFields {
            suite_id: SUITE_ID,
            message_id: &message_id,
            encryption_context: &ec,
            encrypted_data_keys: &edks1,
            content_type,
            frame_length,
            commit_key: &commit,
        };
        let mut b = MessageBuilder::new(&key, AeadBackend::Ring, &fields);
        match content_type {
            ContentType::Framed => {
                b.framed_body(&plaintext[..64], 32, true);
            }
            ContentType::NonFramed => {
                b.frame(&FrameSpec::new(BodyKind::SingleBlock, 1, &plaintext[..50]));
            }
        }
        seeds.push((name.into(), b.finish()));
    }
    for target in ["open_fixed_key", "parse_message", "header_roundtrip"] {
        for (name, bytes) in &seeds {
            write(&root.join(target), name, bytes);
        }
    }
    // The splitter: the start of the real ffmpeg sample (EBML header, Segment, Info, Tracks and
    // the first Cluster's beginning) and the whole sample.
    let mkv = include_bytes!("../../tests/data/testsrc-5s.mkv");
    write(&root.join("mkv_split"), "testsrc-5s.mkv", mkv);
    write(
        &root.join("mkv_split"),
        "testsrc-head",
        &mkv[..mkv.len().min(2048)],
    );
    // Policies: the project's fixtures.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/policies");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(text) = std::fs::read(e.path()) {
                for (sel, prefix) in [(0u8, "key"), (1, "identity")] {
                    let mut bytes = vec![sel];
                    bytes.extend_from_slice(&text);
                    write(
                        &root.join("policy_json"),
                        &format!("{prefix}_{name}"),
                        &bytes,
                    );
                }
            }
        }
    }
    let mut g = vec![1u8];
    g.extend_from_slice(b"kms:GenerateDataKey*\0kms:generatedatakeywithoutplaintext");
    write(&root.join("policy_json"), "glob", &g);
    println!("seeds written under {}", root.display());
}

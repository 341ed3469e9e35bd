//! The seal body loop (each frame's plaintext copied into the output and encrypted there in
//! place while it is in cache) against an independent frame-by-frame writer
//! (`MessageBuilder`, which encrypts each frame on its own), byte for byte, at the sizes where
//! frame boundaries fall: empty, one byte, one frame minus one, one frame, one frame plus
//! one, many frames, and a final frame that is empty. Then every open path (in memory, into a
//! buffer that already holds data, streamed, by range, batch) gives the plaintext back.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use bytes::Bytes;
use fragseal::crypto::{AeadBackend, DataKey, SecretBytes};
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::format::{EncryptedDataKey, OpenLimits};
use fragseal::identity::{IdentityCheck, RANDOM_LEN};
use fragseal::internal::danger::{danger_seal_with_fixed_message_id_for_vectors, MessageBuilder};
use fragseal::keyring::RawAesKeyring;
use fragseal::kms::Credential;
use fragseal::message::{self, OpenParams, SealParams, SealedStream};
use fragseal::EncryptionContext;
use std::io::Read;
use std::sync::Arc;

const BACKENDS: [AeadBackend; 2] = [AeadBackend::Ring, AeadBackend::RustCrypto];
const STREAM: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1";

fn data_key() -> DataKey {
    DataKey::from_bytes(core::array::from_fn(|i| 3 * i as u8))
}

fn plaintext(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i * 13 + 5) as u8 ^ (i >> 11) as u8)
        .collect()
}

fn edks() -> Vec<EncryptedDataKey> {
    vec![EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: b"k".to_vec(),
        ciphertext: vec![1, 2, 3],
    }]
}

/// The sizes around the frame boundaries of frame length `fl`, plus many frames.
fn sizes(fl: usize) -> Vec<usize> {
    let mut v = vec![
        0,
        1,
        fl - 1,
        fl,
        fl + 1,
        2 * fl,
        2 * fl + 1,
        37 * fl + fl / 2,
    ];
    v.sort_unstable();
    v.dedup();
    v
}

/// The plaintext back from every in-memory and streamed open of `sealed`.
fn open_every_way(sealed: &[u8], backend: AeadBackend, expected: &[u8]) {
    let skip = IdentityCheck::Skip;
    let params = OpenParams::new(&skip).with_backend(backend);
    let key = data_key();
    let parsed = message::parse(sealed, &OpenLimits::default()).unwrap();
    assert_eq!(parsed.open(&key, &params).unwrap(), expected);
    let mut into = b"kept".to_vec();
    parsed.open_into(&key, &params, &mut into).unwrap();
    assert_eq!(&into[..4], b"kept");
    assert_eq!(&into[4..], expected);
    let mut streamed = Vec::new();
    SealedStream::new(sealed, &OpenLimits::default())
        .unwrap()
        .open(&key, &params)
        .unwrap()
        .read_to_end(&mut streamed)
        .unwrap();
    assert_eq!(streamed, expected);
    let n = expected.len() as u64;
    for range in [0..n, n / 3..n - n / 4, n.saturating_sub(1)..n] {
        let part = parsed.open_range(&key, &params, range.clone()).unwrap();
        assert_eq!(part, &expected[range.start as usize..range.end as usize]);
    }
}

#[test]
fn the_fused_body_equals_a_frame_by_frame_writer_at_every_boundary() {
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM);
    let edks = edks();
    let random_half = [0x5A; RANDOM_LEN];
    for fl in [1usize, 16, 4096] {
        for len in sizes(fl) {
            let pt = plaintext(len);
            let mut by_backend = Vec::new();
            for backend in BACKENDS {
                let mut params = SealParams::new(&ec, &edks);
                params.frame_length = fl as u32;
                params.backend = backend;
                let sealed = danger_seal_with_fixed_message_id_for_vectors(
                    &data_key(),
                    &params,
                    &random_half,
                    &pt,
                )
                .unwrap();
                assert_eq!(sealed.len(), message::sealed_len(&params, len).unwrap());
                let header = message::parse(&sealed, &OpenLimits::default()).unwrap();
                let reference = {
                    let mut b = MessageBuilder::with_header_body(
                        &data_key(),
                        backend,
                        header.message_id(),
                        header.header_body_bytes(),
                    );
                    b.framed_body(&pt, fl, false);
                    b.finish()
                };
                assert!(
                    sealed == reference,
                    "{len} bytes in frames of {fl} on {backend:?}: bytes differ"
                );
                open_every_way(&sealed, backend, &pt);
                by_backend.push(sealed);
            }
            assert!(
                by_backend.windows(2).all(|w| w[0] == w[1]),
                "{len} bytes in frames of {fl}: backends differ"
            );
        }
    }
}

#[test]
fn a_final_frame_left_empty_by_another_writer_opens() {
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM);
    let edks = edks();
    let fl = 4096;
    for frames in [1usize, 2, 9] {
        let pt = plaintext(frames * fl);
        let mut params = SealParams::new(&ec, &edks);
        params.frame_length = fl as u32;
        let ours = message::seal(&data_key(), &params, &pt).unwrap();
        let header = message::parse(&ours, &OpenLimits::default()).unwrap();
        let mut b = MessageBuilder::with_header_body(
            &data_key(),
            AeadBackend::Ring,
            header.message_id(),
            header.header_body_bytes(),
        );
        b.framed_body(&pt, fl, true);
        let theirs = b.finish();
        // Our writer never leaves the final frame empty: one frame prefix and tag less.
        assert_eq!(theirs.len(), ours.len() + 4 + 12 + 16);
        open_every_way(&theirs, AeadBackend::Ring, &pt);
        open_every_way(&ours, AeadBackend::Ring, &pt);
    }
}

#[test]
fn large_fragments_round_trip_through_every_engine_path() {
    let keyring = RawAesKeyring::new("ns", "k", SecretBytes::from_slice(&[9; 32])).unwrap();
    let engine = Engine::new(Arc::new(keyring), EngineConfig::default()).unwrap();
    let cred =
        Credential::new("111122223333", "arn:aws:iam::111122223333:root", "AKIAROOT").unwrap();
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM);
    let fl = message::DEFAULT_FRAME_LENGTH as usize;
    for len in [4 << 20, (4 << 20) + 1, 3 * fl - 1] {
        let pt = Bytes::from(plaintext(len));
        let request = SealRequest::new(ec.clone(), pt.clone());
        let sealed = engine.seal(&cred, &request).unwrap();
        let mut into = Vec::new();
        engine.seal_into(&cred, &request, &mut into).unwrap();
        assert_eq!(into.len(), sealed.len());
        let batch: Vec<Bytes> = engine
            .seal_batch(&cred, vec![request.clone()])
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        for m in [sealed, Bytes::from(into)].into_iter().chain(batch) {
            let open = OpenRequest::new(m.clone(), IdentityCheck::Skip);
            assert_eq!(engine.open(&cred, &open).unwrap().plaintext, pt);
            let opened = engine.open_batch(&cred, vec![open]);
            assert_eq!(opened[0].as_ref().unwrap().plaintext, pt);
        }
    }
}

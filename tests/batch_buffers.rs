//! The engine's pool of batch output buffers: results stay intact while buffers are reused, an
//! opened plaintext never shares memory with a live result, failures give their buffer back,
//! and the pool's bounds hold. (That plaintext is zeroized before its buffer is reused is
//! checked inside the crate, in `engine::buffers`, where the idle buffers can be read.)
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use bytes::Bytes;
use fragseal::crypto::SecretBytes;
use fragseal::engine::{
    BufferPoolLimits, Engine, EngineConfig, IdleBuffers, OpenRequest, Opened, PlaintextWipe,
    SealRequest,
};
use fragseal::identity::IdentityCheck;
use fragseal::keyring::RawAesKeyring;
use fragseal::kms::Credential;
use fragseal::EncryptionContext;
use std::collections::BTreeSet;
use std::sync::Arc;

const ACCOUNT: &str = "111122223333";
const STREAM: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1";

fn engine(limits: BufferPoolLimits) -> Engine {
    let keyring = RawAesKeyring::new("ns", "k", SecretBytes::from_slice(&[3; 32])).unwrap();
    let config = EngineConfig::default()
        .with_frame_length(4096)
        .with_buffer_pool(limits);
    Engine::new(Arc::new(keyring), config).unwrap()
}

fn cred() -> Credential {
    Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap()
}

/// `n` distinct fragments of `len` bytes, tagged with `salt`.
fn fragments(n: usize, len: usize, salt: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            (0..len)
                .map(|j| (j as u8) ^ (i as u8).wrapping_mul(31) ^ salt)
                .collect()
        })
        .collect()
}

fn seal_all(engine: &Engine, plaintexts: &[Vec<u8>]) -> Vec<Bytes> {
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM);
    let requests = plaintexts
        .iter()
        .map(|p| SealRequest::new(ec.clone(), p.clone()))
        .collect();
    engine
        .seal_batch(&cred(), requests)
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

fn open_all(engine: &Engine, messages: &[Bytes]) -> Vec<Opened> {
    let requests = messages
        .iter()
        .map(|m| OpenRequest::new(m.clone(), IdentityCheck::Skip))
        .collect();
    engine
        .open_batch(&cred(), requests)
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

fn addresses(results: impl IntoIterator<Item = usize>) -> BTreeSet<usize> {
    results.into_iter().collect()
}

#[test]
fn sealed_results_reuse_dropped_buffers_and_stay_intact() {
    let engine = engine(BufferPoolLimits::default());
    let first = seal_all(&engine, &fragments(8, 20_000, 1));
    let first_at = addresses(first.iter().map(|m| m.as_ptr() as usize));
    assert_eq!(engine.idle_batch_buffers(), IdleBuffers::default());
    drop(first);
    assert_eq!(engine.idle_batch_buffers().buffers, 8);

    let plaintexts = fragments(8, 20_000, 2);
    let second = seal_all(&engine, &plaintexts);
    let second_at = addresses(second.iter().map(|m| m.as_ptr() as usize));
    assert_eq!(
        second_at, first_at,
        "the second batch wrote into the first's buffers"
    );
    assert_eq!(engine.idle_batch_buffers().buffers, 0);
    // A third batch while the second is alive gets other memory, and both open intact.
    let third_plaintexts = fragments(8, 20_000, 3);
    let third = seal_all(&engine, &third_plaintexts);
    assert!(third
        .iter()
        .all(|m| !second_at.contains(&(m.as_ptr() as usize))));
    for (messages, expected) in [(&second, &plaintexts), (&third, &third_plaintexts)] {
        let opened = open_all(&engine, messages);
        for (o, p) in opened.iter().zip(expected.iter()) {
            assert_eq!(&o.plaintext[..], &p[..]);
        }
    }
}

#[test]
fn opened_plaintext_is_never_shared_with_a_live_result() {
    let engine = engine(BufferPoolLimits::default());
    let plaintexts = fragments(6, 30_000, 4);
    let sealed = seal_all(&engine, &plaintexts);
    let held = open_all(&engine, &sealed);
    let held_at = addresses(held.iter().map(|o| o.plaintext.as_ptr() as usize));
    let again = open_all(&engine, &sealed);
    assert!(again
        .iter()
        .all(|o| !held_at.contains(&(o.plaintext.as_ptr() as usize))));
    // A clone keeps the buffer out of the pool; the last drop gives it back.
    let kept: Vec<Bytes> = held.iter().map(|o| o.plaintext.clone()).collect();
    let idle_before = engine.idle_batch_buffers().buffers;
    drop(held);
    assert_eq!(engine.idle_batch_buffers().buffers, idle_before);
    for (k, p) in kept.iter().zip(plaintexts.iter()) {
        assert_eq!(&k[..], &p[..]);
    }
    drop(kept);
    assert_eq!(engine.idle_batch_buffers().buffers, idle_before + 6);
    // Sealing into the buffers that held plaintext: messages of other fragments, intact.
    let other = fragments(6, 29_000, 5);
    let resealed = seal_all(&engine, &other);
    assert!(resealed
        .iter()
        .any(|m| held_at.contains(&(m.as_ptr() as usize))));
    for (o, p) in open_all(&engine, &resealed).iter().zip(other.iter()) {
        assert_eq!(&o.plaintext[..], &p[..]);
    }
    for (o, p) in again.iter().zip(plaintexts.iter()) {
        assert_eq!(&o.plaintext[..], &p[..]);
    }
}

#[test]
fn a_failed_open_gives_its_buffer_back_and_the_request_intact() {
    let engine = engine(BufferPoolLimits::default());
    let sealed = seal_all(&engine, &fragments(2, 10_000, 6));
    let mut forged = sealed[1].to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let forged = Bytes::from(forged);
    let idle = engine.idle_batch_buffers().buffers;
    let requests = vec![OpenRequest::new(forged.clone(), IdentityCheck::Skip)];
    let mut results = engine.open_batch(&cred(), requests);
    let failure = results.pop().unwrap().unwrap_err();
    assert_eq!(failure.request.message, forged);
    assert_eq!(
        engine.idle_batch_buffers().buffers,
        idle + 1,
        "the failed open's buffer is back"
    );
    // The next open takes that buffer and yields the right plaintext.
    let opened = open_all(&engine, &sealed[..1]);
    assert_eq!(engine.idle_batch_buffers().buffers, idle);
    assert_eq!(&opened[0].plaintext[..], &fragments(2, 10_000, 6)[0][..]);
}

#[test]
fn the_pool_keeps_no_more_than_its_bounds() {
    let by_count = engine(BufferPoolLimits::default().with_max_buffers(3));
    drop(seal_all(&by_count, &fragments(8, 5_000, 7)));
    assert_eq!(by_count.idle_batch_buffers().buffers, 3);

    let max_bytes = 100_000;
    let by_bytes = engine(BufferPoolLimits::default().with_max_bytes(max_bytes));
    drop(seal_all(&by_bytes, &fragments(8, 20_000, 8)));
    let idle = by_bytes.idle_batch_buffers();
    assert!(idle.bytes <= max_bytes, "{idle:?}");
    assert!(idle.buffers >= 1 && idle.buffers < 8, "{idle:?}");

    let off = engine(BufferPoolLimits::OFF);
    let plaintexts = fragments(4, 5_000, 9);
    let sealed = seal_all(&off, &plaintexts);
    let opened = open_all(&off, &sealed);
    drop(sealed);
    for (o, p) in opened.iter().zip(plaintexts.iter()) {
        assert_eq!(&o.plaintext[..], &p[..]);
    }
    drop(opened);
    assert_eq!(off.idle_batch_buffers(), IdleBuffers::default());
}

#[test]
fn results_outlive_the_engine() {
    let engine = engine(BufferPoolLimits::default());
    let plaintexts = fragments(3, 8_000, 10);
    let sealed = seal_all(&engine, &plaintexts);
    let opened = open_all(&engine, &sealed);
    drop(engine);
    for (o, p) in opened.iter().zip(plaintexts.iter()) {
        assert_eq!(&o.plaintext[..], &p[..]);
    }
    assert!(sealed.iter().all(|m| !m.is_empty()));
}

#[test]
fn wiping_before_reuse_keeps_every_result_intact_across_sizes_and_failures() {
    let engine =
        engine(BufferPoolLimits::default().with_plaintext_wipe(PlaintextWipe::BeforeReuse));
    // Long plaintexts first, so that later, shorter results land in buffers whose stale
    // plaintext is longer than they are.
    for (round, len) in [30_000usize, 29_000, 12_000, 20_000, 1]
        .into_iter()
        .enumerate()
    {
        let salt = 20 + round as u8;
        let plaintexts = fragments(5, len, salt);
        let sealed = seal_all(&engine, &plaintexts);
        let opened = open_all(&engine, &sealed);
        for (o, p) in opened.iter().zip(plaintexts.iter()) {
            assert_eq!(&o.plaintext[..], &p[..], "round {round}");
        }
        let mut forged = sealed[0].to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let failed = engine.open_batch(
            &cred(),
            vec![OpenRequest::new(Bytes::from(forged), IdentityCheck::Skip)],
        );
        assert!(failed[0].is_err());
        drop((sealed, opened));
    }
    let idle = engine.idle_batch_buffers();
    assert!(idle.buffers >= 5, "{idle:?}");
    let plaintexts = fragments(2, 8_000, 40);
    let opened = open_all(&engine, &seal_all(&engine, &plaintexts));
    drop(engine);
    for (o, p) in opened.iter().zip(plaintexts.iter()) {
        assert_eq!(&o.plaintext[..], &p[..]);
    }
}

//! `Engine::seal_writer`: a fragment sealed frame by frame opens with `Engine::open`, for both
//! suites; its limits and failures are typed and fail closed; the engine counts it.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use bytes::Bytes;
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest, SealWriterRequest};
use fragseal::error::SealError;
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::LocalKms;
use fragseal::kms::Credential;
use fragseal::message::SealSuite;
use fragseal::EncryptionContext;
use std::io::{self, Read, Write};
use std::sync::Arc;

const ACCOUNT: &str = "111122223333";
const STREAM: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1";
const FL: u32 = 1000;

fn root() -> Credential {
    Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap()
}

fn engine(suite: SealSuite) -> Engine {
    let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
    let key = kms.create_key(&root(), None, "fragments").unwrap().arn;
    let keyring = KmsKeyring::strict(kms, &root(), &[key]).unwrap();
    let config = EngineConfig::default()
        .with_frame_length(FL)
        .with_seal_suite(suite);
    Engine::new(Arc::new(keyring), config).unwrap()
}

fn ec() -> EncryptionContext {
    EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM)
}

fn identity(n: u64) -> FragmentIdentity {
    FragmentIdentity {
        stream_arn: STREAM.into(),
        fragment_number: n,
        producer_timestamp_ms: 1_700_000_000_000 + n * 200,
        track: 1,
    }
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + 17) as u8).collect()
}

/// A reader of 1..13-byte reads.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.1 += 1;
        let n = (1 + self.1 % 13).min(buf.len()).min(self.0.len());
        let (now, rest) = self.0.split_at(n);
        buf[..n].copy_from_slice(now);
        self.0 = rest;
        Ok(n)
    }
}

const SUITES: [SealSuite; 2] = [
    SealSuite::AesGcmHkdfSha512CommitKey,
    SealSuite::AesGcmHkdfSha512CommitKeyEcdsaP384,
];

#[test]
fn written_fragments_open_with_their_identity_for_both_suites() {
    for suite in SUITES {
        let e = engine(suite);
        let me = root();
        for (n, len) in [0, 1, 999, 1000, 1001, 4321].into_iter().enumerate() {
            let n = n as u64;
            let pt = plaintext(len);
            let request = SealWriterRequest::new(ec(), 10_000)
                .with_identity(identity(n))
                .authenticate_only("purpose", "test")
                .with_size_hint(len / 2);
            let mut w = e.seal_writer(&me, &request).unwrap();
            let (a, b) = pt.split_at(len / 3);
            w.write_all(a).unwrap();
            let half = b.len() / 2;
            w.fill_from(&mut Trickle(&b[..half], 0), half as u64)
                .unwrap();
            assert_eq!(w.write(&b[half..]).unwrap(), b.len() - half);
            assert_eq!(w.len(), len as u64);
            let sealed = w.finish().unwrap();
            assert_eq!(sealed[1..3], suite.id().to_be_bytes(), "{suite:?}");

            let open = |check| {
                let req = OpenRequest::new(sealed.clone(), check).supply("purpose", "test");
                e.open(&me, &req)
            };
            let opened = open(IdentityCheck::Expect(identity(n))).unwrap();
            assert_eq!(opened.plaintext, pt, "{suite:?} len {len}");
            assert!(open(IdentityCheck::Expect(identity(n + 1))).is_err());
            // As long as Engine::seal's message for the same plaintext.
            let plain = SealRequest::new(ec(), pt.clone())
                .with_identity(identity(n))
                .authenticate_only("purpose", "test");
            assert_eq!(e.seal(&me, &plain).unwrap().len(), sealed.len());
        }
    }
}

#[test]
fn writes_past_max_len_are_refused_and_close_the_writer() {
    let e = engine(SealSuite::default());
    let me = root();
    let mut w = e
        .seal_writer(&me, &SealWriterRequest::new(ec(), 10))
        .unwrap();
    w.write_all(&[1; 10]).unwrap();
    match w.write_all(&[2]) {
        Err(SealError::BeyondMaxLen {
            max_len: 10,
            len: 11,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(w.write_all(b""), Err(SealError::WriterClosed)));
    assert!(matches!(w.finish(), Err(SealError::WriterClosed)));

    let mut w = e
        .seal_writer(&me, &SealWriterRequest::new(ec(), 10))
        .unwrap();
    let mut source = &[3u8; 20][..];
    let err = w.fill_from(&mut source, 11).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(source.len(), 20, "nothing read");
    let inner = err.into_inner().unwrap().downcast::<SealError>().unwrap();
    assert!(matches!(
        *inner,
        SealError::BeyondMaxLen { max_len: 10, .. }
    ));
    assert!(w.finish().is_err());
    // Refusals count as seal failures.
    assert_eq!(e.stats(&me).unwrap().seal_failures, 2);
}

#[test]
fn early_eof_is_an_error_and_nothing_is_returned() {
    let e = engine(SealSuite::default());
    let me = root();
    let mut w = e
        .seal_writer(&me, &SealWriterRequest::new(ec(), 5000))
        .unwrap();
    let data = plaintext(2500);
    let err = w.fill_from(&mut &data[..], 2501).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(w.fill_from(&mut &data[..], 1).is_err(), "closed");
    assert!(matches!(w.finish(), Err(SealError::WriterClosed)));
    let stats = e.stats(&me).unwrap();
    assert_eq!((stats.fragments_sealed, stats.seal_failures), (0, 1));
}

#[test]
fn a_dropped_writer_leaves_the_engine_usable_and_stats_count_bytes() {
    for suite in SUITES {
        let e = engine(suite);
        let me = root();
        let request = SealWriterRequest::new(ec(), 1 << 20).with_size_hint(100);
        let mut w = e.seal_writer(&me, &request).unwrap();
        w.write_all(&plaintext(2500)).unwrap();
        drop(w);
        let after_drop = e.stats(&me).unwrap();
        assert_eq!(after_drop.seal_failures, 1, "a dropped writer did not seal");
        assert_eq!(after_drop.fragments_sealed, 0);

        // Grows past its size hint, reusing the pooled buffer of the dropped one.
        let pt = plaintext(3333);
        let mut w = e.seal_writer(&me, &request).unwrap();
        w.write_all(&pt).unwrap();
        let sealed: Bytes = w.finish().unwrap();
        let opened = e
            .open(&me, &OpenRequest::new(sealed, IdentityCheck::Skip))
            .unwrap();
        assert_eq!(opened.plaintext, pt);
        let stats = e.stats(&me).unwrap();
        assert_eq!((stats.fragments_sealed, stats.bytes_sealed), (1, 3333));
        assert_eq!((stats.fragments_opened, stats.bytes_opened), (1, 3333));
        assert_eq!(
            stats.kms_calls, 2,
            "one GenerateDataKey, one Decrypt: {suite:?}"
        );
    }
}

#[test]
fn the_request_is_checked_as_engine_seal_checks_it() {
    let e = engine(SealSuite::default());
    let me = root();
    let reserved = EncryptionContext::new().with("aws-crypto-public-key", "x");
    assert!(matches!(
        e.seal_writer(&me, &SealWriterRequest::new(reserved, 10)),
        Err(SealError::ReservedContextKey { .. })
    ));
    let other = SealWriterRequest::new(ec(), 10).with_identity(FragmentIdentity {
        stream_arn: "arn:aws:kinesisvideo:us-east-1:111122223333:stream/other/2".into(),
        ..identity(1)
    });
    assert!(matches!(
        e.seal_writer(&me, &other),
        Err(SealError::IdentityStreamMismatch { .. })
    ));
    assert_eq!(e.stats(&me).unwrap().seal_failures, 2);
}

/// A writer reserves its `max_len` of the key's byte budget and gives back what it did not
/// write when it finishes or is dropped: five 1,000-byte fragments written with a 6,000-byte
/// `max_len` share one data key under a 10,000-byte budget (without the give-back the second
/// would need a new key), and the budget still holds: a sixth fragment gets a new key.
#[test]
fn a_writer_gives_back_the_budget_it_did_not_use() {
    let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
    let key = kms.create_key(&root(), None, "fragments").unwrap().arn;
    let keyring = KmsKeyring::strict(kms, &root(), &[key]).unwrap();
    // No refresh ahead: a new key is fetched only when the budget is used up.
    let limits = fragseal::cache::CacheLimits::default()
        .with_max_bytes(10_000)
        .with_refresh_ahead(1.0);
    let config = EngineConfig::default()
        .with_frame_length(FL)
        .with_cache(limits);
    let e = Engine::new(Arc::new(keyring), config).unwrap();
    let me = root();
    let request = SealWriterRequest::new(ec(), 6000);
    // One dropped after 1,000 bytes: it too gives back the 5,000 it did not write.
    let mut w = e.seal_writer(&me, &request).unwrap();
    w.write_all(&plaintext(1000)).unwrap();
    drop(w);
    for _ in 0..4 {
        let mut w = e.seal_writer(&me, &request).unwrap();
        w.write_all(&plaintext(1000)).unwrap();
        w.finish().unwrap();
    }
    assert_eq!(e.stats(&me).unwrap().kms_calls, 1, "one GenerateDataKey");
    // 5,000 used: a sixth reservation of 6,000 is over the budget.
    let w = e.seal_writer(&me, &request).unwrap();
    drop(w);
    assert_eq!(e.stats(&me).unwrap().kms_calls, 2, "the budget still holds");
}

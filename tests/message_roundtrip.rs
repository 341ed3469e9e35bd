//! Seal/open round trips (proptest) over sizes, frame lengths, contexts and both AES backends,
//! and "any byte string given to parse_header/open is an error, never a panic".

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::crypto::{AeadBackend, DataKey};
use fragseal::error::{OpenError, SealError};
use fragseal::format::EncryptedDataKey;
use fragseal::format::WriteError;
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::message::{
    self, seal, seal_into, sealed_len, OpenLimits, OpenParams, ParsedMessage, SealParams,
    SealedStream,
};
use fragseal::EncryptionContext;
use proptest::prelude::*;
use std::io::Read;

const BACKENDS: [AeadBackend; 2] = [AeadBackend::Ring, AeadBackend::RustCrypto];

fn parse_header<'a>(m: &'a [u8], limits: &OpenLimits) -> Result<ParsedMessage<'a>, OpenError> {
    message::parse(m, limits)
}

fn check(id: Option<&FragmentIdentity>) -> IdentityCheck {
    id.map_or(IdentityCheck::Skip, |i| IdentityCheck::Expect(i.clone()))
}

fn open(
    dk: &DataKey,
    m: &ParsedMessage<'_>,
    id: Option<&FragmentIdentity>,
    backend: AeadBackend,
) -> Result<Vec<u8>, OpenError> {
    let check = check(id);
    m.open(dk, &OpenParams::new(&check).with_backend(backend))
}

fn open_into(
    dk: &DataKey,
    m: &ParsedMessage<'_>,
    id: Option<&FragmentIdentity>,
    backend: AeadBackend,
    out: &mut Vec<u8>,
) -> Result<(), OpenError> {
    let check = check(id);
    m.open_into(dk, &OpenParams::new(&check).with_backend(backend), out)
}

fn open_range(
    dk: &DataKey,
    m: &ParsedMessage<'_>,
    range: std::ops::Range<u64>,
    id: Option<&FragmentIdentity>,
    backend: AeadBackend,
) -> Result<Vec<u8>, OpenError> {
    let check = check(id);
    m.open_range(dk, &OpenParams::new(&check).with_backend(backend), range)
}

fn stream_open<R: Read>(
    s: SealedStream<R>,
    dk: &DataKey,
    backend: AeadBackend,
) -> Result<message::OpenStream<R>, OpenError> {
    s.open(
        dk,
        &OpenParams::new(&IdentityCheck::Skip).with_backend(backend),
    )
}

fn edks() -> Vec<EncryptedDataKey> {
    vec![EncryptedDataKey {
        provider_id: "test".into(),
        provider_info: b"info".to_vec(),
        ciphertext: vec![1, 2, 3],
    }]
}

fn context_strategy() -> impl Strategy<Value = EncryptionContext> {
    proptest::collection::btree_map("[a-z]{1,6}", "[ -~]{0,8}", 0..4)
        .prop_map(EncryptionContext::from)
}

/// Only canonical encodings are accepted: whatever parses writes back to the same bytes.
fn assert_canonical(h: &fragseal::message::MessageHeader) {
    let mut again = Vec::new();
    h.body().write(&mut again).unwrap();
    assert_eq!(again, h.header_body_bytes());
}

#[test]
fn message_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<fragseal::message::MessageHeader>();
    send_sync::<SealParams<'static>>();
    send_sync::<fragseal::message::OpenStream<std::fs::File>>();
    send_sync::<fragseal::keyring::RawAesKeyring>();
    send_sync::<FragmentIdentity>();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(
        plaintext in proptest::collection::vec(any::<u8>(), 0..700),
        frame_length in 1u32..200,
        ec in context_strategy(),
        backend_index in 0usize..2,
        key in any::<[u8; 32]>(),
    ) {
        let backend = BACKENDS[backend_index];
        let dk = DataKey::from_bytes(key);
        let edks = edks();
        let params = SealParams { frame_length, backend, ..SealParams::new(&ec, &edks) };
        let sealed = seal(&dk, &params, &plaintext).unwrap();
        prop_assert_eq!(sealed.len(), sealed_len(&params, plaintext.len()).unwrap());
        let header = parse_header(&sealed, &OpenLimits::default()).unwrap();
        prop_assert_eq!(header.encryption_context(), &ec);
        prop_assert_eq!(header.frame_length(), frame_length);
        // Open on either backend, whichever sealed.
        for b in BACKENDS {
            let opened = open(&dk, &header, None, b).unwrap();
            prop_assert_eq!(&opened, &plaintext);
        }
        // Streaming open gives the same bytes.
        let s = SealedStream::new(&sealed[..], &OpenLimits::default()).unwrap();
        let mut r = stream_open(s, &dk, backend).unwrap();
        let mut streamed = Vec::new();
        r.read_to_end(&mut streamed).unwrap();
        prop_assert_eq!(&streamed, &plaintext);
        // A range open gives the matching slice.
        let len = plaintext.len() as u64;
        let (a, b) = (len / 3, len - len / 4);
        let part = open_range(&dk, &header, a..b, None, backend).unwrap();
        prop_assert_eq!(&part[..], &plaintext[a as usize..b as usize]);
    }

    #[test]
    fn seal_into_appends(prefix in proptest::collection::vec(any::<u8>(), 0..20),
                         plaintext in proptest::collection::vec(any::<u8>(), 0..300)) {
        let dk = DataKey::from_bytes([3; 32]);
        let ec = EncryptionContext::new();
        let edks = edks();
        let params = SealParams { frame_length: 64, ..SealParams::new(&ec, &edks) };
        let mut out = prefix.clone();
        seal_into(&dk, &params, &plaintext, &mut out).unwrap();
        prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
        let sealed = &out[prefix.len()..];
        let header = parse_header(sealed, &OpenLimits::default()).unwrap();
        prop_assert_eq!(open(&dk, &header, None, AeadBackend::Ring).unwrap(), plaintext.clone());
        // open_into appends, and on failure restores the buffer.
        let mut buf = prefix.clone();
        open_into(&dk, &header, None, AeadBackend::Ring, &mut buf).unwrap();
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        prop_assert_eq!(&buf[prefix.len()..], &plaintext[..]);
        let mut bad = sealed.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let mut buf = prefix.clone();
        let bad_header = parse_header(&bad, &OpenLimits::default()).unwrap();
        prop_assert!(open_into(&dk, &bad_header, None, AeadBackend::Ring, &mut buf).is_err());
        prop_assert_eq!(&buf, &prefix);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let dk = DataKey::from_bytes([0; 32]);
        if let Ok(header) = parse_header(&bytes, &OpenLimits::default()) {
            assert_canonical(&header);
            prop_assert!(open(&dk, &header, None, AeadBackend::Ring).is_err());
        }
        if let Ok(s) = SealedStream::new(&bytes[..], &OpenLimits::default()) {
            prop_assert!(stream_open(s, &dk, AeadBackend::Ring).is_err());
        }
    }

    #[test]
    fn mutated_messages_are_rejected_without_panic(
        plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..4),
    ) {
        let dk = DataKey::from_bytes([8; 32]);
        let ec = EncryptionContext::new().with("stream", "s1");
        let edks = edks();
        let params = SealParams { frame_length: 64, ..SealParams::new(&ec, &edks) };
        let sealed = seal(&dk, &params, &plaintext).unwrap();
        let mut m = sealed.clone();
        for (idx, byte, op) in mutations {
            if m.is_empty() { break; }
            let i = idx.index(m.len());
            match op {
                0 => m[i] ^= byte | 1,
                1 => { m.truncate(i); }
                2 => m.insert(i, byte),
                _ => { m.remove(i); }
            }
        }
        prop_assume!(m != sealed);
        if let Ok(h) = parse_header(&m, &OpenLimits::default()) {
            assert_canonical(&h);
        }
        let opened = parse_header(&m, &OpenLimits::default())
            .and_then(|h| open(&dk, &h, None, AeadBackend::Ring));
        prop_assert!(opened.is_err(), "mutated message opened");
        let streamed = SealedStream::new(&m[..], &OpenLimits::default())
            .and_then(|s| stream_open(s, &dk, AeadBackend::Ring))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            .and_then(|mut r| { let mut v = Vec::new(); r.read_to_end(&mut v).map(|_| v) });
        prop_assert!(streamed.is_err(), "mutated message streamed");
    }
}

#[test]
fn identity_round_trip_and_params_checks() {
    let dk = DataKey::from_bytes([4; 32]);
    let ec = EncryptionContext::new();
    let edks = edks();
    let id = FragmentIdentity {
        stream_arn: "arn:aws:kinesisvideo:us-east-1:123456789012:stream/s/1".into(),
        fragment_number: 7,
        producer_timestamp_ms: 1_700_000_000_000,
        track: 1,
    };
    let params = SealParams {
        identity: Some(&id),
        ..SealParams::new(&ec, &edks)
    };
    let sealed = seal(&dk, &params, b"hello").unwrap();
    let header = parse_header(&sealed, &OpenLimits::default()).unwrap();
    assert_eq!(
        open(&dk, &header, Some(&id), AeadBackend::Ring).unwrap(),
        b"hello"
    );
    // Bad parameters are precise errors.
    let reserved = EncryptionContext::new().with("aws-crypto-public-key", "x");
    assert!(matches!(
        seal(&dk, &SealParams::new(&reserved, &edks), b""),
        Err(SealError::ReservedContextKey { ref key }) if key == "aws-crypto-public-key"
    ));
    assert!(matches!(
        seal(&dk, &SealParams::new(&ec, &[]), b""),
        Err(SealError::Header(WriteError::EncryptedDataKeyCount))
    ));
    let zero = SealParams {
        frame_length: 0,
        ..SealParams::new(&ec, &edks)
    };
    assert!(matches!(
        seal(&dk, &zero, b""),
        Err(SealError::ZeroFrameLength)
    ));
    // A header from another message cannot be used: a ParsedMessage holds the bytes it was
    // parsed from (the 0.1 runtime check is now the type's).
    // Range bounds.
    assert!(matches!(
        open_range(&dk, &header, 2..9, None, AeadBackend::Ring),
        Err(OpenError::RangeBeyondEnd {
            end: 9,
            plaintext_len: 5
        })
    ));
    #[allow(
        clippy::reversed_empty_ranges,
        reason = "the reversed range is the point"
    )]
    let reversed = 3..2;
    assert!(matches!(
        open_range(&dk, &header, reversed, None, AeadBackend::Ring),
        Err(OpenError::RangeReversed { start: 3, end: 2 })
    ));
    let _ = message::DEFAULT_FRAME_LENGTH;
}

/// A reader that hands out at most `step` bytes per call (and sometimes `Interrupted`).
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls % 5 == 0 {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn streaming_open_over_a_trickling_reader() {
    let dk = DataKey::from_bytes([6; 32]);
    let ec = EncryptionContext::new().with("k", "v");
    let edks = edks();
    let params = SealParams {
        frame_length: 33,
        ..SealParams::new(&ec, &edks)
    };
    let plaintext: Vec<u8> = (0..500u32).map(|i| i as u8).collect();
    let sealed = seal(&dk, &params, &plaintext).unwrap();
    for step in [1, 2, 7, 64, 5000] {
        let src = Trickle {
            data: &sealed,
            step,
            calls: 0,
        };
        let s = SealedStream::new(src, &OpenLimits::default()).unwrap();
        assert_eq!(s.header().frame_length(), 33);
        let mut r = stream_open(s, &dk, AeadBackend::Ring).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 13];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("step {step}: {e}"),
            }
        }
        assert_eq!(out, plaintext, "step {step}");
        // Truncated input: an error, never a silent short plaintext.
        let src = Trickle {
            data: &sealed[..sealed.len() - 1],
            step,
            calls: 0,
        };
        let s = SealedStream::new(src, &OpenLimits::default()).unwrap();
        let mut r = stream_open(s, &dk, AeadBackend::Ring).unwrap();
        let mut v = Vec::new();
        assert!(r.read_to_end(&mut v).is_err(), "step {step}");
    }
}

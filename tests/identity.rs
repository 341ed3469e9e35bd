//! Fragment identity binding: moved, reordered or replayed fragments are rejected; standard
//! opening without an expected identity still works.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::crypto::{AeadBackend, DataKey};
use fragseal::format::EncryptedDataKey;
use fragseal::identity::FragmentIdentity;
use fragseal::message::{
    open, open_range, parse_header, seal, OpenLimits, SealParams, SealedStream,
};
use fragseal::{EncryptionContext, Error};

const STREAM_A: &str = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/a/1";
const STREAM_B: &str = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/b/1";

fn identity(stream: &str, n: u64, ts: u64, track: u64) -> FragmentIdentity {
    FragmentIdentity {
        stream_arn: stream.into(),
        fragment_number: n,
        producer_timestamp_ms: ts,
        track,
    }
}

fn sealed_with(id: Option<&FragmentIdentity>) -> (DataKey, Vec<u8>) {
    let dk = DataKey::from_bytes([0x5A; 32]);
    // The data key and context are stream-level and shared by every fragment (as with a
    // cached KMS data key): only the identity tells fragments apart.
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM_A);
    let edks = [EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: vec![],
        ciphertext: vec![1],
    }];
    let params = SealParams {
        frame_length: 32,
        identity: id,
        ..SealParams::new(&ec, &edks)
    };
    let m = seal(&dk, &params, &[7u8; 100]).unwrap();
    (dk, m)
}

fn open_expecting(dk: &DataKey, m: &[u8], id: Option<&FragmentIdentity>) -> Result<Vec<u8>, Error> {
    let h = parse_header(m, &OpenLimits::default())?;
    open(dk, &h, m, id, AeadBackend::Ring)
}

fn rejected(r: Result<Vec<u8>, Error>) -> bool {
    matches!(r, Err(Error::Authentication(_)))
}

#[test]
fn the_right_identity_opens() {
    let id = identity(STREAM_A, 42, 1_700_000_000_123, 1);
    let (dk, m) = sealed_with(Some(&id));
    assert_eq!(open_expecting(&dk, &m, Some(&id)).unwrap(), vec![7u8; 100]);
}

#[test]
fn moved_to_another_stream_is_rejected() {
    let (dk, m) = sealed_with(Some(&identity(STREAM_A, 42, 1000, 1)));
    assert!(rejected(open_expecting(
        &dk,
        &m,
        Some(&identity(STREAM_B, 42, 1000, 1))
    )));
}

#[test]
fn reordered_to_another_fragment_number_is_rejected() {
    let (dk, m) = sealed_with(Some(&identity(STREAM_A, 42, 1000, 1)));
    for n in [41, 43, 0, u64::MAX] {
        assert!(rejected(open_expecting(
            &dk,
            &m,
            Some(&identity(STREAM_A, n, 1000, 1))
        )));
    }
}

#[test]
fn replayed_with_another_timestamp_or_track_is_rejected() {
    let (dk, m) = sealed_with(Some(&identity(STREAM_A, 42, 1000, 1)));
    assert!(rejected(open_expecting(
        &dk,
        &m,
        Some(&identity(STREAM_A, 42, 1001, 1))
    )));
    assert!(rejected(open_expecting(
        &dk,
        &m,
        Some(&identity(STREAM_A, 42, 1000, 2))
    )));
}

#[test]
fn every_open_path_checks_the_identity() {
    let (dk, m) = sealed_with(Some(&identity(STREAM_A, 1, 1, 1)));
    let wrong = identity(STREAM_B, 1, 1, 1);
    let h = parse_header(&m, &OpenLimits::default()).unwrap();
    assert!(rejected(open_range(
        &dk,
        &h,
        &m,
        0..10,
        Some(&wrong),
        AeadBackend::Ring
    )));
    let s = SealedStream::new(&m[..], &OpenLimits::default()).unwrap();
    assert!(matches!(
        s.open(&dk, Some(&wrong), AeadBackend::Ring),
        Err(Error::Authentication(_))
    ));
}

#[test]
fn without_expected_identity_the_message_opens_as_a_standard_one() {
    let (dk, m) = sealed_with(Some(&identity(STREAM_A, 42, 1000, 1)));
    assert_eq!(open_expecting(&dk, &m, None).unwrap(), vec![7u8; 100]);
}

#[test]
fn a_message_sealed_without_identity_fails_an_expected_identity() {
    let (dk, m) = sealed_with(None);
    assert!(rejected(open_expecting(
        &dk,
        &m,
        Some(&identity(STREAM_A, 42, 1000, 1))
    )));
}

#[test]
fn identity_mac_depends_on_the_data_key_and_the_random_half() {
    let id = identity(STREAM_A, 42, 1000, 1);
    let k1 = DataKey::from_bytes([1; 32]);
    let k2 = DataKey::from_bytes([2; 32]);
    let a = id.message_id(&k1, &[0; 16]).unwrap();
    assert_ne!(a, id.message_id(&k2, &[0; 16]).unwrap());
    assert_ne!(a[16..], id.message_id(&k1, &[1; 16]).unwrap()[16..]);
    assert!(id.verify(&k1, &a).is_ok());
    assert!(id.verify(&k2, &a).is_err());
    // Two fresh seals of the same fragment use different message ids.
    let (_, m1) = sealed_with(Some(&id));
    let (_, m2) = sealed_with(Some(&id));
    assert_ne!(m1[3..35], m2[3..35]);
}

#[test]
fn canonical_encoding_is_unambiguous() {
    let id = identity("ab", 1, 2, 3);
    let e = id.canonical_encoding().unwrap();
    assert_eq!(&e[..4], &[0, 2, b'a', b'b']);
    assert_eq!(e.len(), 4 + 24);
    let long = identity(&"x".repeat(70_000), 1, 2, 3);
    assert!(matches!(
        long.canonical_encoding(),
        Err(Error::InvalidArgument(_))
    ));
}

//! Fragment identity binding: moved, reordered or replayed fragments are rejected; standard
//! opening without an expected identity still works.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::crypto::{AeadBackend, DataKey};
use fragseal::error::{OpenError, SealError};
use fragseal::format::EncryptedDataKey;
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::message::{self, seal, OpenLimits, OpenParams, SealParams, SealedStream};
use fragseal::EncryptionContext;

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

fn check(id: Option<&FragmentIdentity>) -> IdentityCheck {
    match id {
        Some(id) => IdentityCheck::Expect(id.clone()),
        None => IdentityCheck::Skip,
    }
}

fn open_expecting(
    dk: &DataKey,
    m: &[u8],
    id: Option<&FragmentIdentity>,
) -> Result<Vec<u8>, OpenError> {
    let parsed = message::parse(m, &OpenLimits::default())?;
    let check = check(id);
    parsed.open(dk, &OpenParams::new(&check).with_backend(AeadBackend::Ring))
}

fn rejected(r: Result<Vec<u8>, OpenError>) -> bool {
    matches!(r, Err(OpenError::Authentication(_)))
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
    let h = message::parse(&m, &OpenLimits::default()).unwrap();
    let wrong = IdentityCheck::Expect(wrong);
    let params = OpenParams::new(&wrong).with_backend(AeadBackend::Ring);
    assert!(rejected(h.open_range(&dk, &params, 0..10)));
    let s = SealedStream::new(&m[..], &OpenLimits::default()).unwrap();
    assert!(matches!(
        s.open(&dk, &params),
        Err(OpenError::Authentication(_))
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
        Err(SealError::IdentityTooLong { len: 70_000 })
    ));
}

/// A message whose context names stream `context_stream` but whose id binds `identity`: what
/// a producer confined to `context_stream` by its key policy could seal with an older
/// fragseal (or by hand), to pass the fragment off as one of another stream. Built with the
/// vector-only sealer, which skips the sealing-side checks.
fn forged(ec: &EncryptionContext, identity: &FragmentIdentity) -> (DataKey, Vec<u8>) {
    let dk = DataKey::from_bytes([0x33; 32]);
    let edks = [EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: vec![],
        ciphertext: vec![1],
    }];
    let params = SealParams {
        frame_length: 32,
        identity: Some(identity),
        ..SealParams::new(ec, &edks)
    };
    let m = fragseal::internal::danger::danger_seal_with_fixed_message_id_for_vectors(
        &dk, &params, &[9; 16], b"x",
    )
    .unwrap();
    (dk, m)
}

#[test]
fn identity_check_refuses_context_of_another_stream() {
    // Issue 11 #1: the context says stream A (what the key policy checked), the identity
    // says stream B (what the consumer expects). The MAC matches B: only the context check
    // refuses it.
    let b = identity(STREAM_B, 0, 0, 1);
    let ec_a = EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM_A);
    let (dk, m) = forged(&ec_a, &b);
    assert!(rejected(open_expecting(&dk, &m, Some(&b))));
    // Every open path refuses it.
    let parsed = message::parse(&m, &OpenLimits::default()).unwrap();
    let expect_b = IdentityCheck::Expect(b.clone());
    let params = OpenParams::new(&expect_b);
    assert!(rejected(parsed.open_range(&dk, &params, 0..1)));
    let s = SealedStream::new(&m[..], &OpenLimits::default()).unwrap();
    assert!(matches!(
        s.open(&dk, &params),
        Err(OpenError::Authentication(_))
    ));
    // Skipping the check opens it as a standard message (the context is authentic).
    assert_eq!(open_expecting(&dk, &m, None).unwrap(), b"x");
    // Control: the same forgery with a context of stream B opens under the expected identity.
    let ec_b = EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM_B);
    let (dk, m) = forged(&ec_b, &b);
    assert_eq!(open_expecting(&dk, &m, Some(&b)).unwrap(), b"x");
}

#[test]
fn identity_check_refuses_a_case_variant_stream_key() {
    // Issue 11 #1 as reproduced: `--context AWS:KINESISVIDEO:ARN=A` passes a policy engine
    // that reads context keys case-insensitively. Alone, the variant key names stream A to
    // such a policy: it must not open as a fragment of B.
    let b = identity(STREAM_B, 0, 0, 1);
    let variant = EncryptionContext::new().with("AWS:KINESISVIDEO:ARN", STREAM_A);
    let (dk, m) = forged(&variant, &b);
    assert!(rejected(open_expecting(&dk, &m, Some(&b))));
    // Next to the real key, the pair of keys that differ only in case is refused outright:
    // even the vector-only sealer cannot write such a header (the header parser refuses one
    // built by hand: tests/format_strict/header_fields.rs and the vector
    // case_variant_context_key_forges_stream), and the context check refuses it too.
    let both = EncryptionContext::new()
        .with("aws:kinesisvideo:arn", STREAM_B)
        .with("AWS:KINESISVIDEO:ARN", STREAM_A);
    let edks = [EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: vec![],
        ciphertext: vec![1],
    }];
    let params = SealParams {
        identity: Some(&b),
        ..SealParams::new(&both, &edks)
    };
    let dk = DataKey::from_bytes([0x33; 32]);
    assert!(
        message::danger_seal_with_fixed_message_id_for_vectors(&dk, &params, &[9; 16], b"x")
            .is_err()
    );
    assert!(matches!(
        message::check_open_context(&both, &EncryptionContext::new(), None, &IdentityCheck::Skip),
        Err(OpenError::CaseVariantKeys(_))
    ));
}

#[test]
fn sealing_with_an_identity_refuses_a_context_of_another_stream() {
    let b = identity(STREAM_B, 0, 0, 1);
    let edks = [EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: vec![],
        ciphertext: vec![1],
    }];
    let dk = DataKey::from_bytes([0x33; 32]);
    for ec in [
        EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM_A),
        EncryptionContext::new().with("AWS:KINESISVIDEO:ARN", STREAM_B),
    ] {
        let params = SealParams {
            identity: Some(&b),
            ..SealParams::new(&ec, &edks)
        };
        assert!(
            matches!(
                seal(&dk, &params, b"x"),
                Err(SealError::IdentityStreamMismatch { .. })
            ),
            "{ec:?}"
        );
    }
    let both = EncryptionContext::new()
        .with("aws:kinesisvideo:arn", STREAM_B)
        .with("Aws:KinesisVideo:Arn", STREAM_B);
    let params = SealParams::new(&both, &edks);
    assert!(matches!(
        seal(&dk, &params, b"x"),
        Err(SealError::CaseVariantKeys(_))
    ));
}

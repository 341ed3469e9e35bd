//! Format version 1 messages built here from the specification alone (no ESDK needed, so this
//! always runs): `data-format/message-header.md` "Header Body Version 1.0" and "Header
//! Authentication Version 1.0", `message-body.md`, `message-body-aad.md` with the 16-byte
//! message id, and the KDFs of `framework/algorithm-suites.md` (identity; HKDF-SHA256 with
//! info = suite id || message id). They open under `RequireEncryptAllowDecrypt` in memory and
//! streaming, framed and non-framed, with the header's own (non-zero) IV; every header field
//! a version 1 header adds is checked.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use aes_gcm::aead::{generic_array::GenericArray, AeadInPlace, KeyInit};
use fragseal::crypto::{DataKey, SecretBytes};
use fragseal::format::{AlgorithmSuite, EncryptionContext, Field, FormatErrorKind};
use fragseal::identity::IdentityCheck;
use fragseal::message::{parse, OpenLimits, OpenParams, SealedStream};
use fragseal::{CommitmentPolicy, OpenError};
use std::io::Read;

const ALLOW: CommitmentPolicy = CommitmentPolicy::RequireEncryptAllowDecrypt;
const ID: [u8; 16] = [0x42; 16];
const HEADER_IV: [u8; 12] = [0x17; 12];

fn seal_gcm(key: &[u8], iv: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
    let n = GenericArray::from_slice(iv);
    let tag = match key.len() {
        16 => aes_gcm::Aes128Gcm::new_from_slice(key)
            .unwrap()
            .encrypt_in_place_detached(n, aad, buf),
        _ => aes_gcm::Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt_in_place_detached(n, aad, buf),
    };
    tag.unwrap().into()
}

fn derived(suite: AlgorithmSuite, dk: &[u8]) -> Vec<u8> {
    if suite.id() & 0xff00 == 0 {
        return dk.to_vec();
    }
    let mut info = suite.id().to_be_bytes().to_vec();
    info.extend_from_slice(&ID);
    let mut out = vec![0u8; dk.len()];
    hkdf::Hkdf::<sha2::Sha256>::new(None, dk)
        .expand(&info, &mut out)
        .unwrap();
    out
}

fn body_aad(kind: &[u8], seq: u32, len: u64) -> Vec<u8> {
    let mut a = ID.to_vec();
    a.extend_from_slice(kind);
    a.extend_from_slice(&seq.to_be_bytes());
    a.extend_from_slice(&len.to_be_bytes());
    a
}

fn iv_of(seq: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&seq.to_be_bytes());
    iv
}

/// A format version 1 message of an unsigned `suite` (AES-128 or AES-256), framed with
/// `frame_length` or non-framed (0).
fn build(suite: AlgorithmSuite, dk: &[u8], frame_length: u32, plaintext: &[u8]) -> Vec<u8> {
    let key = derived(suite, dk);
    let ec = EncryptionContext::new().with("purpose", "legacy-format");
    let ser = ec.serialize().unwrap();
    let mut m = vec![0x01, 0x80];
    m.extend_from_slice(&suite.id().to_be_bytes());
    m.extend_from_slice(&ID);
    m.extend_from_slice(&(ser.len() as u16).to_be_bytes());
    m.extend_from_slice(&ser);
    m.extend_from_slice(&1u16.to_be_bytes());
    for field in [&b"provider"[..], b"info", b"wrapped"] {
        m.extend_from_slice(&(field.len() as u16).to_be_bytes());
        m.extend_from_slice(field);
    }
    m.push(if frame_length == 0 { 0x01 } else { 0x02 });
    m.extend_from_slice(&[0, 0, 0, 0, 12]);
    m.extend_from_slice(&frame_length.to_be_bytes());
    let tag = seal_gcm(&key, &HEADER_IV, &m.clone(), &mut []);
    m.extend_from_slice(&HEADER_IV);
    m.extend_from_slice(&tag);
    if frame_length == 0 {
        let mut ct = plaintext.to_vec();
        let aad = body_aad(b"AWSKMSEncryptionClient Single Block", 1, ct.len() as u64);
        let tag = seal_gcm(&key, &iv_of(1), &aad, &mut ct);
        m.extend_from_slice(&iv_of(1));
        m.extend_from_slice(&(ct.len() as u64).to_be_bytes());
        m.extend_from_slice(&ct);
        m.extend_from_slice(&tag);
        return m;
    }
    let fl = frame_length as usize;
    let regular = if plaintext.is_empty() {
        0
    } else {
        (plaintext.len() - 1) / fl
    };
    for (i, chunk) in plaintext.chunks(fl).take(regular).enumerate() {
        let seq = i as u32 + 1;
        let mut ct = chunk.to_vec();
        let aad = body_aad(b"AWSKMSEncryptionClient Frame", seq, ct.len() as u64);
        let tag = seal_gcm(&key, &iv_of(seq), &aad, &mut ct);
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(&iv_of(seq));
        m.extend_from_slice(&ct);
        m.extend_from_slice(&tag);
    }
    let seq = regular as u32 + 1;
    let mut ct = plaintext[regular * fl..].to_vec();
    let aad = body_aad(b"AWSKMSEncryptionClient Final Frame", seq, ct.len() as u64);
    let tag = seal_gcm(&key, &iv_of(seq), &aad, &mut ct);
    m.extend_from_slice(&[0xff; 4]);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&iv_of(seq));
    m.extend_from_slice(&(ct.len() as u32).to_be_bytes());
    m.extend_from_slice(&ct);
    m.extend_from_slice(&tag);
    m
}

fn open(m: &[u8], key: &SecretBytes) -> Result<Vec<u8>, OpenError> {
    let skip = IdentityCheck::Skip;
    let limits = OpenLimits::default().with_commitment_policy(ALLOW);
    let params = OpenParams::new(&skip).with_commitment_policy(ALLOW);
    let one_shot = parse(m, &limits).and_then(|p| p.open(key, &params));
    let streamed = SealedStream::new(m, &limits)
        .and_then(|s| s.open(key, &params))
        .and_then(|mut r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map_err(OpenError::Io).map(|_| v)
        });
    assert_eq!(
        one_shot.is_ok(),
        streamed.is_ok(),
        "{one_shot:?} / {streamed:?}"
    );
    if let (Ok(a), Ok(b)) = (&one_shot, &streamed) {
        assert_eq!(a, b);
    }
    one_shot
}

fn format_kind(r: Result<Vec<u8>, OpenError>) -> (Field, FormatErrorKind) {
    match r {
        Err(OpenError::Format(f)) => (f.field, f.kind),
        other => panic!("expected a format error, got {other:?}"),
    }
}

const SUITES: [AlgorithmSuite; 4] = [
    AlgorithmSuite::AES_128_GCM_IV12_TAG16_NO_KDF,
    AlgorithmSuite::AES_256_GCM_IV12_TAG16_NO_KDF,
    AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256,
    AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA256,
];

#[test]
fn spec_built_version_1_messages_open() {
    let plaintext: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    for suite in SUITES {
        let dk: Vec<u8> = (0..suite.data_key_len() as u8).map(|b| b ^ 0x5c).collect();
        let key = SecretBytes::from_slice(&dk);
        for (fl, len) in [(64u32, 300usize), (64, 128), (64, 0), (0, 300), (0, 0)] {
            let m = build(suite, &dk, fl, &plaintext[..len]);
            assert_eq!(
                open(&m, &key).unwrap(),
                plaintext[..len],
                "{suite} fl {fl} len {len}"
            );
            // A 32-byte data key also works as a DataKey.
            if dk.len() == 32 {
                let d = DataKey::from_slice(&dk).unwrap();
                let skip = IdentityCheck::Skip;
                let limits = OpenLimits::default().with_commitment_policy(ALLOW);
                let p = parse(&m, &limits).unwrap();
                let got = p.open(&d, &OpenParams::new(&skip).with_commitment_policy(ALLOW));
                assert_eq!(got.unwrap(), plaintext[..len]);
            }
            // A data key of another length is an opaque failure.
            let mut long = dk.clone();
            long.extend_from_slice(&[0; 8]);
            assert!(open(&m, &SecretBytes::new(long))
                .unwrap_err()
                .is_authentication());
        }
    }
}

#[test]
fn version_1_header_fields_are_checked() {
    let suite = AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256;
    let dk = [7u8; 16];
    let key = SecretBytes::from_slice(&dk);
    let m = build(suite, &dk, 64, b"legacy fragment");
    let header_len = parse(&m, &OpenLimits::default().with_commitment_policy(ALLOW))
        .unwrap()
        .header()
        .header_len();
    let (tag_at, iv_at) = (header_len - 16, header_len - 28);
    let (fl_at, iv_len_at) = (iv_at - 4, iv_at - 5);
    let reserved_at = iv_len_at - 4;
    let with = |at: usize, b: u8| {
        let mut x = m.clone();
        x[at] = b;
        x
    };
    let flip = |at: usize| with(at, m[at] ^ 0x20);
    // Header tag, header IV, message id, suite-independent body: opaque.
    for at in [tag_at, tag_at + 15, iv_at, iv_at + 11, 4, 19, m.len() - 1] {
        assert!(
            open(&flip(at), &key).unwrap_err().is_authentication(),
            "byte {at}"
        );
    }
    assert_eq!(
        format_kind(open(&with(1, 0x81), &key)),
        (
            Field::MessageType,
            FormatErrorKind::InvalidMessageType(0x81)
        )
    );
    for i in 0..4 {
        assert_eq!(
            format_kind(open(&with(reserved_at + i, 1), &key)),
            (Field::Reserved, FormatErrorKind::NonZeroReserved)
        );
    }
    for bad in [0u8, 11, 13, 16] {
        assert_eq!(
            format_kind(open(&with(iv_len_at, bad), &key)),
            (Field::IvLength, FormatErrorKind::InvalidIvLength(bad))
        );
    }
    assert_eq!(
        format_kind(open(&with(fl_at + 3, 0), &key)).1,
        FormatErrorKind::InvalidFrameLength(0)
    );
    // A committing suite id in a version 1 header; an unknown one.
    for (id, kind) in [(0x0478u16, 0x0478u16), (0x0999, 0x0999)] {
        let mut x = m.clone();
        x[2..4].copy_from_slice(&id.to_be_bytes());
        assert_eq!(
            format_kind(open(&x, &key)),
            (
                Field::AlgorithmSuite,
                FormatErrorKind::UnsupportedSuite(kind)
            )
        );
    }
    // A truncated header is a format error naming the cut field.
    for cut in [3, 10, reserved_at + 2, iv_at + 5, tag_at + 3] {
        let r = parse(
            &m[..cut],
            &OpenLimits::default().with_commitment_policy(ALLOW),
        );
        assert!(
            matches!(&r, Err(OpenError::Format(f)) if matches!(f.kind, FormatErrorKind::Truncated { .. })),
            "cut at {cut}"
        );
    }
    // Trailing bytes after the final frame.
    let mut long = m.clone();
    long.push(0);
    assert!(matches!(
        format_kind(open(&long, &key)).1,
        FormatErrorKind::TrailingBytes { .. }
    ));
    // Default policy: refused before any key is used, even when the limits let it parse.
    let skip = IdentityCheck::Skip;
    let parsed = parse(&m, &OpenLimits::default().with_commitment_policy(ALLOW)).unwrap();
    assert!(matches!(
        parsed.open(&key, &OpenParams::new(&skip)),
        Err(OpenError::CommitmentPolicy { suite: s }) if s == suite
    ));
    // An expected fragment identity never verifies: fragseal never writes format version 1.
    let expect = IdentityCheck::Expect(fragseal::identity::FragmentIdentity {
        stream_arn: "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1".into(),
        fragment_number: 7,
        producer_timestamp_ms: 1_700_000_000_000,
        track: 1,
    });
    let r = parsed.open(
        &key,
        &OpenParams::new(&expect).with_commitment_policy(ALLOW),
    );
    assert!(r.unwrap_err().is_authentication());
    // The default limits refuse it at the suite: the commitment policy's refusal.
    let e = fragseal::message::parse(&m, &OpenLimits::default()).unwrap_err();
    assert!(matches!(
        e.into_policy_refusal(),
        OpenError::CommitmentPolicy { .. }
    ));
}

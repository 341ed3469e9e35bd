//! `open` is strict: one test per rule of DESIGN.md's "open is strict" list and SPEC.md.
//!
//! Every malformed message here is otherwise valid — built with correct tags by
//! `message::danger::MessageBuilder` — so each test isolates the one rule it names.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::crypto::{AeadBackend, DataKey};
use fragseal::error::OpenError as Error;
use fragseal::format::{ContentType, ContextError, EncryptedDataKey, Field, FormatErrorKind};
use fragseal::identity::IdentityCheck;
use fragseal::internal::danger::{FrameSpec, MessageBuilder};
use fragseal::internal::format::body::{frame_iv, BodyKind};
use fragseal::internal::format::header::HeaderFields;
use fragseal::message::{
    self, seal, OpenLimits, OpenParams, ParsedMessage, SealParams, SealedStream,
};
use fragseal::EncryptionContext;

fn parse_header<'a>(m: &'a [u8], limits: &OpenLimits) -> Result<ParsedMessage<'a>, Error> {
    message::parse(m, limits)
}

/// The identity is never checked here (`None` in every call).
fn skip(_: Option<()>, backend: AeadBackend) -> OpenParams<'static> {
    OpenParams::new(&IdentityCheck::Skip).with_backend(backend)
}

fn open(
    dk: &fragseal::crypto::DataKey,
    h: &ParsedMessage<'_>,
    m: &[u8],
    id: Option<()>,
    backend: AeadBackend,
) -> Result<Vec<u8>, Error> {
    assert_eq!(h.bytes(), m, "parsed from this message");
    h.open(dk, &skip(id, backend))
}

fn open_range(
    dk: &fragseal::crypto::DataKey,
    h: &ParsedMessage<'_>,
    m: &[u8],
    range: std::ops::Range<u64>,
    id: Option<()>,
    backend: AeadBackend,
) -> Result<Vec<u8>, Error> {
    assert_eq!(h.bytes(), m, "parsed from this message");
    h.open_range(dk, &skip(id, backend), range)
}
use std::io::Read;

const ID: [u8; 32] = [0x11; 32];
const FL: u32 = 16;

fn dk() -> DataKey {
    DataKey::from_bytes([0x42; 32])
}

fn edk() -> EncryptedDataKey {
    EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: b"i".to_vec(),
        ciphertext: b"c".to_vec(),
    }
}

/// A builder whose header is valid for `ec`, `edks`, framed, frame length FL, correct commit
/// key (unless `commit` overrides it).
fn builder_with(
    ec: &EncryptionContext,
    edks: &[EncryptedDataKey],
    content_type: ContentType,
    frame_length: u32,
    commit: Option<[u8; 32]>,
) -> MessageBuilder {
    // First derive the real commit key with a throw-away builder.
    let probe = MessageBuilder::new(
        &dk(),
        AeadBackend::Ring,
        &fields(ec, edks, content_type, frame_length, &[0; 32]),
    );
    let ck = commit.unwrap_or(probe.commit_key());
    MessageBuilder::new(
        &dk(),
        AeadBackend::Ring,
        &fields(ec, edks, content_type, frame_length, &ck),
    )
}

fn fields<'a>(
    ec: &'a EncryptionContext,
    edks: &'a [EncryptedDataKey],
    content_type: ContentType,
    frame_length: u32,
    commit: &'a [u8; 32],
) -> HeaderFields<'a> {
    HeaderFields {
        suite_id: 0x0478,
        message_id: &ID,
        encryption_context: ec,
        encrypted_data_keys: edks,
        content_type,
        frame_length,
        commit_key: commit,
    }
}

fn builder() -> MessageBuilder {
    builder_with(
        &EncryptionContext::new(),
        &[edk()],
        ContentType::Framed,
        FL,
        None,
    )
}

fn try_open(m: &[u8]) -> Result<Vec<u8>, Error> {
    try_open_limits(m, &OpenLimits::default())
}

fn try_open_limits(m: &[u8], limits: &OpenLimits) -> Result<Vec<u8>, Error> {
    let h = parse_header(m, limits)?;
    let one_shot = open(&dk(), &h, m, None, AeadBackend::Ring);
    // The streaming path must agree on success or failure.
    let streamed = SealedStream::new(m, limits)
        .and_then(|s| s.open(&dk(), &skip(None, AeadBackend::Ring)))
        .and_then(|mut r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map_err(Error::Io).map(|_| v)
        });
    assert_eq!(
        one_shot.is_ok(),
        streamed.is_ok(),
        "{one_shot:?} vs {streamed:?}"
    );
    if let (Ok(a), Ok(b)) = (&one_shot, &streamed) {
        assert_eq!(a, b);
    }
    one_shot
}

fn format_kind(r: Result<Vec<u8>, Error>) -> (Field, FormatErrorKind) {
    match r {
        Err(Error::Format(e)) => (e.field, e.kind),
        other => panic!("expected a format error, got {other:?}"),
    }
}

fn is_auth(r: Result<Vec<u8>, Error>) -> bool {
    matches!(r, Err(Error::Authentication(_)))
}

fn valid(plaintext: &[u8]) -> Vec<u8> {
    let mut b = builder();
    b.framed_body(plaintext, FL as usize, false);
    b.finish()
}

#[test]
fn builder_baseline_is_valid() {
    for len in [0usize, 1, 15, 16, 17, 40] {
        let p: Vec<u8> = (0..len as u8).collect();
        assert_eq!(try_open(&valid(&p)).unwrap(), p);
    }
}

#[test]
fn exact_multiple_with_empty_final_frame_is_accepted() {
    let p = [7u8; 32];
    let mut b = builder();
    b.framed_body(&p, FL as usize, true);
    let m = b.finish();
    assert_eq!(try_open(&m).unwrap(), p);
}

#[test]
fn non_framed_body_is_accepted() {
    let mut b = builder_with(
        &EncryptionContext::new(),
        &[edk()],
        ContentType::NonFramed,
        0,
        None,
    );
    b.frame(&FrameSpec::new(BodyKind::SingleBlock, 1, b"single block"));
    assert_eq!(try_open(&b.finish()).unwrap(), b"single block");
}

#[test]
fn every_truncation_is_rejected() {
    let m = valid(&[1u8; 40]);
    for cut in 0..m.len() {
        let r = try_open(&m[..cut]);
        assert!(
            matches!(&r, Err(Error::Format(e)) if matches!(e.kind, FormatErrorKind::Truncated { .. })),
            "cut at {cut}: {r:?}"
        );
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut m = valid(b"abc");
    m.push(0);
    assert_eq!(
        format_kind(try_open(&m)),
        (Field::Frame, FormatErrorKind::TrailingBytes { count: 1 })
    );
    // A second final frame is trailing bytes too.
    let mut b = builder();
    b.frame(&FrameSpec::new(BodyKind::Final, 1, b"x"));
    b.frame(&FrameSpec::new(BodyKind::Final, 2, b"y"));
    assert!(matches!(
        format_kind(try_open(&b.finish())).1,
        FormatErrorKind::TrailingBytes { .. }
    ));
}

#[test]
fn edk_count_zero_is_rejected() {
    let ec = EncryptionContext::new();
    let edks = [edk()];
    let probe = builder();
    let ck = probe.commit_key();
    let mut body = Vec::new();
    fields(&ec, &edks, ContentType::Framed, FL, &ck)
        .write(&mut body)
        .unwrap();
    // Replace "count 1 + one entry" with "count 0".
    let entry_len = 2 + 1 + 2 + 1 + 2 + 1;
    let at = 1 + 2 + 32 + 2;
    body.splice(at..at + 2 + entry_len, [0, 0]);
    let mut b = MessageBuilder::with_header_body(&dk(), AeadBackend::Ring, &ID, &body);
    b.framed_body(b"x", FL as usize, false);
    assert_eq!(
        format_kind(try_open(&b.finish())),
        (
            Field::EncryptedDataKeys,
            FormatErrorKind::NoEncryptedDataKeys
        )
    );
}

#[test]
fn edk_count_above_limit_is_rejected_before_parsing_entries() {
    let edks: Vec<_> = (0..3).map(|_| edk()).collect();
    let mut b = builder_with(
        &EncryptionContext::new(),
        &edks,
        ContentType::Framed,
        FL,
        None,
    );
    b.framed_body(b"x", FL as usize, false);
    let m = b.finish();
    let limits = OpenLimits::default().with_max_encrypted_data_keys(2);
    let e = match try_open_limits(&m, &limits) {
        Err(Error::Format(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        e.kind,
        FormatErrorKind::TooManyEncryptedDataKeys { count: 3, max: 2 }
    );
    assert_eq!(
        e.offset,
        1 + 2 + 32 + 2,
        "reported at the count, before any entry"
    );
    assert!(try_open_limits(&m, &OpenLimits::default().with_max_encrypted_data_keys(3)).is_ok());
}

#[test]
fn sequence_numbers_start_at_one_without_gaps() {
    let chunk = [5u8; FL as usize];
    // Starts at 2.
    let mut b = builder();
    b.frame(&FrameSpec::new(BodyKind::Regular, 2, &chunk));
    b.frame(&FrameSpec::new(BodyKind::Final, 3, b""));
    assert_eq!(
        format_kind(try_open(&b.finish())).1,
        FormatErrorKind::SequenceNumber {
            expected: 1,
            found: 2
        }
    );
    // Gap 1, 3.
    let mut b = builder();
    b.frame(&FrameSpec::new(BodyKind::Regular, 1, &chunk));
    b.frame(&FrameSpec::new(BodyKind::Final, 3, b"z"));
    assert_eq!(
        format_kind(try_open(&b.finish())).1,
        FormatErrorKind::SequenceNumber {
            expected: 2,
            found: 3
        }
    );
    // Reordered frames of a valid message.
    let m = valid(&[9u8; 40]);
    let h = parse_header(&m, &OpenLimits::default())
        .unwrap()
        .header_len();
    let frame = 4 + 12 + FL as usize + 16;
    let mut r = m.clone();
    r[h..h + frame].copy_from_slice(&m[h + frame..h + 2 * frame]);
    r[h + frame..h + 2 * frame].copy_from_slice(&m[h..h + frame]);
    assert_eq!(
        format_kind(try_open(&r)).1,
        FormatErrorKind::SequenceNumber {
            expected: 1,
            found: 2
        }
    );
}

#[test]
fn iv_must_equal_the_sequence_number() {
    let mut spec = FrameSpec::new(BodyKind::Final, 1, b"data");
    spec.iv = [9; 12];
    let mut b = builder();
    b.frame(&spec);
    assert_eq!(
        format_kind(try_open(&b.finish())),
        (Field::Frame, FormatErrorKind::InvalidIv)
    );
    assert_eq!(frame_iv(1)[11], 1);
}

#[test]
fn final_frame_longer_than_frame_length_is_rejected() {
    let mut b = builder();
    b.frame(&FrameSpec::new(BodyKind::Final, 1, &[1u8; FL as usize + 1]));
    assert_eq!(
        format_kind(try_open(&b.finish())).1,
        FormatErrorKind::FinalFrameTooLong {
            length: FL + 1,
            frame_length: FL
        }
    );
}

#[test]
fn missing_final_frame_is_rejected() {
    let mut b = builder();
    b.frame(&FrameSpec::new(BodyKind::Regular, 1, &[1u8; FL as usize]));
    let m = b.finish();
    assert!(matches!(
        format_kind(try_open(&m)).1,
        FormatErrorKind::Truncated { .. }
    ));
}

#[test]
fn commit_key_mismatch_is_an_authentication_error() {
    let mut wrong = builder().commit_key();
    wrong[0] ^= 1;
    let mut b = builder_with(
        &EncryptionContext::new(),
        &[edk()],
        ContentType::Framed,
        FL,
        Some(wrong),
    );
    b.framed_body(b"abc", FL as usize, false);
    // The header tag is valid for these bytes; only the commit key is wrong.
    assert!(is_auth(try_open(&b.finish())));
}

#[test]
fn header_bytes_are_authenticated_as_received() {
    let m = valid(b"abc");
    let h = parse_header(&m, &OpenLimits::default()).unwrap();
    // Flip a bit in a field no parser rule checks: the EDK ciphertext, then the tag.
    let edk_ct = h.header_body_bytes().len() - 32 - 4 - 1 - 1;
    for at in [edk_ct, h.header_len() - 1] {
        let mut t = m.clone();
        t[at] ^= 0x01;
        assert!(is_auth(try_open(&t)), "byte {at}");
    }
}

#[test]
fn frame_tag_or_content_change_is_an_authentication_error() {
    let m = valid(&[3u8; 40]);
    for at in [m.len() - 1, m.len() - 20] {
        let mut t = m.clone();
        t[at] ^= 0x80;
        assert!(is_auth(try_open(&t)));
    }
    // Wrong data key.
    let h = parse_header(&m, &OpenLimits::default()).unwrap();
    assert!(is_auth(open(
        &DataKey::from_bytes([1; 32]),
        &h,
        &m,
        None,
        AeadBackend::Ring
    )));
}

#[test]
fn streaming_releases_a_frame_only_after_its_tag_verifies() {
    let p: Vec<u8> = (0..40u8).collect();
    let m = valid(&p);
    let h = parse_header(&m, &OpenLimits::default())
        .unwrap()
        .header_len();
    let frame = 4 + 12 + FL as usize + 16;
    // Corrupt the second frame's tag: the first frame comes out, then an error, never the
    // second frame's bytes.
    let mut t = m.clone();
    t[h + 2 * frame - 1] ^= 1;
    let s = SealedStream::new(&t[..], &OpenLimits::default()).unwrap();
    let mut r = s.open(&dk(), &skip(None, AeadBackend::Ring)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 7];
    let err = loop {
        match r.read(&mut buf) {
            Ok(0) => panic!("stream ended without error"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(got, &p[..FL as usize]);
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
    assert!(matches!(inner, Some(Error::Authentication(_))), "{err:?}");
    // Further reads keep failing.
    assert!(r.read(&mut buf).is_err());
    // Trailing bytes after the final frame: the final frame's plaintext is not released.
    let mut t = valid(b"tail");
    t.push(0);
    let s = SealedStream::new(&t[..], &OpenLimits::default()).unwrap();
    let mut r = s.open(&dk(), &skip(None, AeadBackend::Ring)).unwrap();
    let mut v = Vec::new();
    assert!(r.read_to_end(&mut v).is_err());
    assert!(v.is_empty());
}

#[test]
fn reserved_encryption_context_keys_are_rejected() {
    let ec = EncryptionContext::new().with("aws-crypto-public-key", "x");
    let mut b = builder_with(&ec, &[edk()], ContentType::Framed, FL, None);
    b.framed_body(b"x", FL as usize, false);
    let (f, k) = format_kind(try_open(&b.finish()));
    assert_eq!(f, Field::EncryptionContext);
    assert_eq!(
        k,
        FormatErrorKind::ReservedEncryptionContextKey("aws-crypto-public-key".into())
    );
}

fn header_with_raw_ec(ec_field: &[u8]) -> Vec<u8> {
    let mut body = vec![2, 0x04, 0x78];
    body.extend_from_slice(&ID);
    body.extend_from_slice(ec_field);
    body.extend_from_slice(&[0, 1]);
    edk().write(&mut body).unwrap();
    body.push(2);
    body.extend_from_slice(&FL.to_be_bytes());
    body.extend_from_slice(&builder().commit_key());
    let mut b = MessageBuilder::with_header_body(&dk(), AeadBackend::Ring, &ID, &body);
    b.framed_body(b"x", FL as usize, false);
    b.finish()
}

#[test]
fn encryption_context_must_be_canonical() {
    let pair = |k: &[u8], v: &[u8]| {
        let mut p = (k.len() as u16).to_be_bytes().to_vec();
        p.extend_from_slice(k);
        p.extend_from_slice(&(v.len() as u16).to_be_bytes());
        p.extend_from_slice(v);
        p
    };
    let field = |count: u16, pairs: &[Vec<u8>]| {
        let mut inner = count.to_be_bytes().to_vec();
        for p in pairs {
            inner.extend_from_slice(p);
        }
        let mut f = (inner.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(&inner);
        f
    };
    // Sanity: the canonical form opens.
    assert!(try_open(&header_with_raw_ec(&field(
        2,
        &[pair(b"a", b"1"), pair(b"b", b"2")]
    )))
    .is_ok());
    let cases: Vec<(Vec<u8>, FormatErrorKind)> = vec![
        (
            field(2, &[pair(b"b", b"1"), pair(b"a", b"2")]),
            FormatErrorKind::NonCanonicalEncryptionContext,
        ),
        (
            field(2, &[pair(b"a", b"1"), pair(b"a", b"2")]),
            FormatErrorKind::NonCanonicalEncryptionContext,
        ),
        (
            field(0, &[]),
            FormatErrorKind::NonCanonicalEncryptionContext,
        ),
        (
            field(2, &[pair(b"a", b"1")]),
            FormatErrorKind::EncryptionContextLengthMismatch,
        ),
        (
            field(1, &[pair(b"a", b"1"), vec![0]]),
            FormatErrorKind::EncryptionContextLengthMismatch,
        ),
        (
            field(1, &[pair(b"a", &[0xFF])]),
            FormatErrorKind::InvalidUtf8,
        ),
    ];
    for (f, kind) in cases {
        let (field, k) = format_kind(try_open(&header_with_raw_ec(&f)));
        assert_eq!((field, k), (Field::EncryptionContext, kind));
    }
}

const STREAM_A: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-a/1";
const STREAM_B: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-b/1";

/// One serialized encryption-context pair.
fn ec_pair(k: &str, v: &str) -> Vec<u8> {
    let mut p = (k.len() as u16).to_be_bytes().to_vec();
    p.extend_from_slice(k.as_bytes());
    p.extend_from_slice(&(v.len() as u16).to_be_bytes());
    p.extend_from_slice(v.as_bytes());
    p
}

/// Issue 11 #1. A producer that KMS lets seal only for stream A (its policy condition on
/// `kms:EncryptionContext:aws:kinesisvideo:arn`, which KMS matches case-insensitively) writes
/// a message whose context holds `AWS:KINESISVIDEO:ARN = A` next to
/// `aws:kinesisvideo:arn = B`. The header is canonical (keys sorted by bytes, no duplicate),
/// so only the case rule can refuse it, naming the field and the second key's offset.
#[test]
fn case_variant_context_keys_are_refused_when_parsing() {
    let first = ec_pair("AWS:KINESISVIDEO:ARN", STREAM_A);
    let second = ec_pair("aws:kinesisvideo:arn", STREAM_B);
    let mut inner = 2u16.to_be_bytes().to_vec();
    inner.extend_from_slice(&first);
    inner.extend_from_slice(&second);
    let mut field = (inner.len() as u16).to_be_bytes().to_vec();
    field.extend_from_slice(&inner);
    let m = header_with_raw_ec(&field);
    // version, suite, message id, the field's length, the pair count, then the first pair.
    let second_at = 1 + 2 + 32 + 2 + 2 + first.len();
    let want = FormatErrorKind::CaseVariantEncryptionContextKeys {
        first: "AWS:KINESISVIDEO:ARN".into(),
        second: "aws:kinesisvideo:arn".into(),
    };
    match parse_header(&m, &OpenLimits::default()) {
        Err(Error::Format(e)) => {
            assert_eq!(
                (e.field, e.kind, e.offset),
                (Field::EncryptionContext, want.clone(), second_at)
            );
        }
        other => panic!("a case-variant context must not parse: {other:?}"),
    }
    // The streaming parser refuses it the same way.
    match SealedStream::new(&m[..], &OpenLimits::default()) {
        Err(Error::Format(e)) => assert_eq!((e.field, e.kind), (Field::EncryptionContext, want)),
        Err(other) => panic!("expected a format error, got {other:?}"),
        Ok(_) => panic!("a case-variant context must not parse (streaming)"),
    }
    // Keys that differ in more than case still parse.
    let mut inner = 2u16.to_be_bytes().to_vec();
    inner.extend_from_slice(&ec_pair("AWS:KINESISVIDEO:ARN2", STREAM_A));
    inner.extend_from_slice(&second);
    let mut field = (inner.len() as u16).to_be_bytes().to_vec();
    field.extend_from_slice(&inner);
    assert!(try_open(&header_with_raw_ec(&field)).is_ok());
}

/// Issue 11 #1, the sealing side: a context whose keys differ only in ASCII case is refused
/// by `validate` (typed, naming both keys) and sealing never writes it.
#[test]
fn case_variant_context_keys_are_refused_when_building() {
    let ec = EncryptionContext::new()
        .with("aws:kinesisvideo:arn", STREAM_B)
        .with("AWS:KINESISVIDEO:ARN", STREAM_A);
    assert_eq!(
        ec.validate(),
        Err(ContextError::CaseVariantKeys {
            first: "AWS:KINESISVIDEO:ARN".into(),
            second: "aws:kinesisvideo:arn".into(),
        })
    );
    let sealed = seal(&dk(), &SealParams::new(&ec, &[edk()]), b"forged fragment");
    assert!(sealed.is_err(), "sealed a case-variant context: {sealed:?}");
    // One key per case-folded name is fine.
    let ok = EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM_B);
    assert_eq!(ok.validate(), Ok(()));
    assert!(seal(&dk(), &SealParams::new(&ok, &[edk()]), b"fragment").is_ok());
}

fn patched(at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut m = valid(b"x");
    m[at..at + bytes.len()].copy_from_slice(bytes);
    m
}

#[test]
fn version_suite_content_type_and_frame_length_are_checked() {
    assert_eq!(
        format_kind(try_open(&patched(0, &[3]))).1,
        FormatErrorKind::UnsupportedVersion(3)
    );
    // Suite 0x0578 is supported, and requires the signer's public key in the context.
    assert_eq!(
        format_kind(try_open(&patched(1, &[0x05, 0x78]))),
        (Field::EncryptionContext, FormatErrorKind::MissingPublicKey)
    );
    assert_eq!(
        format_kind(try_open(&patched(1, &[0x06, 0x78]))).1,
        FormatErrorKind::UnsupportedSuite(0x0678)
    );
    // A non-committing suite is refused by the default limits, as soon as the suite is read
    // (which an engine reports as the commitment policy's `OpenError::CommitmentPolicy`)...
    let legacy = fragseal::AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA256;
    let r = try_open(&patched(1, &[0x01, 0x78]));
    assert!(matches!(
        r.unwrap_err().into_policy_refusal(),
        Error::CommitmentPolicy { suite } if suite == legacy
    ));
    assert_eq!(
        format_kind(try_open(&patched(1, &[0x01, 0x78]))).1,
        FormatErrorKind::NonCommittingSuite(0x0178)
    );
    // ... and in a version-1 header (suite 0x0178).
    let mut v1 = vec![0x01, 0x80, 0x01, 0x78];
    v1.extend_from_slice(&[0; 16]);
    assert_eq!(
        format_kind(try_open(&v1)).1,
        FormatErrorKind::NonCommittingSuite(0x0178)
    );
    // Allowed, a format 1 suite in a version 2 header is no valid message at all.
    let allow = OpenLimits::default()
        .with_commitment_policy(fragseal::CommitmentPolicy::RequireEncryptAllowDecrypt);
    assert_eq!(
        format_kind(try_open_limits(&patched(1, &[0x01, 0x78]), &allow)).1,
        FormatErrorKind::UnsupportedSuite(0x0178)
    );
    // Nor is a committing suite in a version 1 header.
    let mut v1c = vec![0x01, 0x80, 0x04, 0x78];
    v1c.extend_from_slice(&[0; 16]);
    assert_eq!(
        format_kind(try_open_limits(&v1c, &allow)).1,
        FormatErrorKind::UnsupportedSuite(0x0478)
    );
    let m = valid(b"x");
    let ct_at = parse_header(&m, &OpenLimits::default())
        .unwrap()
        .header_body_bytes()
        .len()
        - 32
        - 4
        - 1;
    assert_eq!(
        format_kind(try_open(&patched(ct_at, &[3]))).1,
        FormatErrorKind::InvalidContentType(3)
    );
    assert_eq!(
        format_kind(try_open(&patched(ct_at + 1, &[0, 0, 0, 0]))).1,
        FormatErrorKind::InvalidFrameLength(0)
    );
    let big = OpenLimits::default().max_frame_length + 1;
    assert_eq!(
        format_kind(try_open(&patched(ct_at + 1, &big.to_be_bytes()))).1,
        FormatErrorKind::InvalidFrameLength(big)
    );
    // Non-framed with a non-zero frame length.
    assert_eq!(
        format_kind(try_open(&patched(ct_at, &[1]))).1,
        FormatErrorKind::InvalidFrameLength(FL)
    );
}

#[test]
fn seal_output_is_what_the_strict_parser_accepts() {
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", "arn:s");
    let edks = [edk()];
    let params = SealParams {
        frame_length: FL,
        ..SealParams::new(&ec, &edks)
    };
    for n in [0usize, 1, 16, 17, 100] {
        let p = vec![1u8; n];
        let m = seal(&dk(), &params, &p).unwrap();
        assert_eq!(try_open(&m).unwrap(), p);
        let h = parse_header(&m, &OpenLimits::default()).unwrap();
        // Header round trip: parse → write gives back the same bytes.
        let mut again = Vec::new();
        h.body().write(&mut again).unwrap();
        assert_eq!(again, h.header_body_bytes());
    }
}

#[test]
fn range_open_detects_a_forged_end_even_for_an_early_range() {
    let p: Vec<u8> = (0..60u8).collect();
    let m = valid(&p);
    let h = parse_header(&m, &OpenLimits::default()).unwrap();
    let hl = h.header_len();
    let frame = 4 + 12 + FL as usize + 16;
    // Authentic first frame, then a forged final frame (sequence 2, right IV, bogus tag).
    let mut t = m[..hl + frame].to_vec();
    t.extend_from_slice(&[0xFF; 4]);
    t.extend_from_slice(&2u32.to_be_bytes());
    t.extend_from_slice(&frame_iv(2));
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[0u8; 16]);
    let h2 = parse_header(&t, &OpenLimits::default()).unwrap();
    assert!(is_auth(open_range(
        &dk(),
        &h2,
        &t,
        0..4,
        None,
        AeadBackend::Ring
    )));
    // The intact message: the early range opens.
    assert_eq!(
        open_range(&dk(), &h, &m, 0..4, None, AeadBackend::Ring).unwrap(),
        &p[..4]
    );
    assert_eq!(
        open_range(&dk(), &h, &m, 10..60, None, AeadBackend::Ring).unwrap(),
        &p[10..]
    );
    assert!(open_range(&dk(), &h, &m, 10..61, None, AeadBackend::Ring).is_err());
}

//! Header fields: EDK counts, encryption context keys and canonical form, case-variant keys,
//! version, suite, content type, frame length.

use super::*;

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

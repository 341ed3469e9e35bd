//! Opening suite 0x0578 (AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384): in memory,
//! by range and streaming, on every provider; the public key in the encryption context, the
//! footer, and every way of breaking them. Messages come from the test-only signer in
//! tests/suites_support (RustCrypto `p384`), not from the production sealer.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod suites_support;

use fragseal::crypto::{AeadBackend, DataKey};
use fragseal::error::OpenError;
use fragseal::format::{AlgorithmSuite, ContentType, Field, FormatErrorKind};
use fragseal::identity::IdentityCheck;
use fragseal::message::{parse, OpenLimits, OpenParams, SealedStream};
use fragseal::EncryptionContext;
use std::io::Read;
use suites_support::*;

const BACKENDS: [AeadBackend; 2] = [AeadBackend::Ring, AeadBackend::RustCrypto];

fn open_with(m: &[u8], dk: &DataKey, backend: AeadBackend) -> Result<Vec<u8>, OpenError> {
    let skip = IdentityCheck::Skip;
    parse(m, &OpenLimits::default())?.open(dk, &OpenParams::new(&skip).with_backend(backend))
}

fn open(m: &[u8]) -> Result<Vec<u8>, OpenError> {
    open_with(m, &data_key(), AeadBackend::Ring)
}

/// The streaming open: what it released, and the error it ended with.
fn stream(m: &[u8]) -> (Vec<u8>, Option<OpenError>) {
    let skip = IdentityCheck::Skip;
    let sealed = match SealedStream::new(m, &OpenLimits::default()) {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut r = match sealed.open(&data_key(), &OpenParams::new(&skip)) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 777];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                let inner = e
                    .into_inner()
                    .expect("an OpenError inside")
                    .downcast::<OpenError>()
                    .expect("an OpenError");
                return (out, Some(*inner));
            }
        }
    }
}

fn format_kind(r: Result<Vec<u8>, OpenError>) -> (Field, FormatErrorKind) {
    match r {
        Err(OpenError::Format(e)) => (e.field, e.kind),
        other => panic!("expected a format error, got {other:?}"),
    }
}

fn is_auth<T: std::fmt::Debug>(r: &Result<T, OpenError>) -> bool {
    matches!(r, Err(OpenError::Authentication(_)))
}

#[test]
fn signed_messages_open_on_every_backend_framed_and_not() {
    let sk = signing_key(3);
    for (fl, len) in [
        (64, 0),
        (64, 1),
        (64, 64),
        (64, 65),
        (64, 1000),
        (4096, 5000),
        (0, 0),
        (0, 300),
    ] {
        let pt = bytes(len, fl as u8);
        let m = signed_message(&data_key(), &sk, &Spec::signed(&sk, fl, &pt));
        let parsed = parse(&m, &OpenLimits::default()).unwrap();
        assert_eq!(
            parsed.header().suite(),
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
        );
        let key = parsed.header().signer_public_key().expect("a signer key");
        assert_eq!(
            key.compressed_bytes(),
            sk.verifying_key().to_encoded_point(true).as_bytes()
        );
        for backend in BACKENDS {
            assert_eq!(
                open_with(&m, &data_key(), backend).unwrap(),
                pt,
                "{fl} {len} {backend:?}"
            );
        }
        let (released, err) = stream(&m);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(released, pt);
        let summary = parsed.frame_summary().unwrap();
        assert_eq!(summary.plaintext_len, len as u64);
        let expect_ct = if fl == 0 {
            ContentType::NonFramed
        } else {
            ContentType::Framed
        };
        assert_eq!(summary.content_type, expect_ct);
        if fl != 0 && len > 10 {
            let skip = IdentityCheck::Skip;
            let part = parsed
                .open_range(&data_key(), &OpenParams::new(&skip), 3..10)
                .unwrap();
            assert_eq!(part, pt[3..10]);
        }
    }
}

#[test]
fn a_wrong_signature_is_the_opaque_error_everywhere() {
    let sk = signing_key(3);
    let pt = bytes(300, 1);
    let m = signed_message(&data_key(), &sk, &Spec::signed(&sk, 64, &pt));
    // The signature's last byte (inside s), and a byte of r.
    for at in [m.len() - 1, m.len() - 30] {
        let mut bad = m.clone();
        bad[at] ^= 1;
        for backend in BACKENDS {
            let r = open_with(&bad, &data_key(), backend);
            assert!(
                is_auth(&r) || matches!(r, Err(OpenError::Format(_))),
                "{r:?}"
            );
            // A flipped bit either breaks the DER (still refused) or the value: never opens.
            assert!(r.is_err());
        }
        let (released, err) = stream(&bad);
        assert!(err.is_some());
        // Regular frames may be released before the footer; the final frame's never is.
        assert_eq!(released, pt[..256], "the final frame is held back");
        let skip = IdentityCheck::Skip;
        let parsed = parse(&bad, &OpenLimits::default()).unwrap();
        assert!(parsed
            .open_range(&data_key(), &OpenParams::new(&skip), 0..1)
            .is_err());
    }
    // A valid signature by another key: authentication error on every path.
    let other = signing_key(9);
    let hb = header_and_body(&data_key(), &Spec::signed(&sk, 64, &pt));
    let mut forged = hb.clone();
    let sig = sign(&other, &hb);
    forged.extend_from_slice(&(sig.len() as u16).to_be_bytes());
    forged.extend_from_slice(&sig);
    for backend in BACKENDS {
        assert!(is_auth(&open_with(&forged, &data_key(), backend)));
    }
    let (released, err) = stream(&forged);
    assert!(matches!(err, Some(OpenError::Authentication(_))), "{err:?}");
    assert_eq!(released, pt[..256]);
}

#[test]
fn a_signature_over_other_bytes_is_refused_non_framed_releases_nothing() {
    let sk = signing_key(4);
    let pt = bytes(100, 2);
    let spec = Spec::signed(&sk, 0, &pt);
    let hb = header_and_body(&data_key(), &spec);
    let mut m = hb.clone();
    let sig = sign(&sk, &hb[..hb.len() - 1]);
    m.extend_from_slice(&(sig.len() as u16).to_be_bytes());
    m.extend_from_slice(&sig);
    assert!(is_auth(&open(&m)));
    let (released, err) = stream(&m);
    assert!(
        released.is_empty(),
        "unframed data is released only after the signature"
    );
    assert!(matches!(err, Some(OpenError::Authentication(_))));
}

#[test]
fn the_footer_is_required_bounded_and_final() {
    let sk = signing_key(5);
    let pt = bytes(200, 3);
    let m = signed_message(&data_key(), &sk, &Spec::signed(&sk, 64, &pt));
    let hb_len = header_and_body(&data_key(), &Spec::signed(&sk, 64, &pt)).len();
    // No footer at all, half a length, a truncated signature.
    for cut in [hb_len, hb_len + 1, m.len() - 1] {
        let (field, kind) = format_kind(open(&m[..cut]));
        assert_eq!(field, Field::Footer, "cut at {cut}");
        assert!(
            matches!(kind, FormatErrorKind::Truncated { .. }),
            "{kind:?}"
        );
        let (_, err) = stream(&m[..cut]);
        assert!(matches!(err, Some(OpenError::Format(_))), "{err:?}");
    }
    // Trailing bytes after the footer.
    let mut long = m.clone();
    long.push(0);
    assert_eq!(
        format_kind(open(&long)),
        (Field::Footer, FormatErrorKind::TrailingBytes { count: 1 })
    );
    let (_, err) = stream(&long);
    assert!(matches!(err, Some(OpenError::Format(_))));
    // A signature length beyond the longest P-384 DER signature.
    let mut huge = m[..hb_len].to_vec();
    huge.extend_from_slice(&105u16.to_be_bytes());
    huge.extend_from_slice(&[0x30; 105]);
    assert!(matches!(
        format_kind(open(&huge)),
        (
            Field::Footer,
            FormatErrorKind::LengthLimit {
                length: 105,
                max: 104
            }
        )
    ));
    // An empty signature: malformed DER, the opaque error.
    let mut empty = m[..hb_len].to_vec();
    empty.extend_from_slice(&0u16.to_be_bytes());
    assert!(is_auth(&open(&empty)));
}

#[test]
fn the_public_key_is_required_and_checked() {
    let sk = signing_key(6);
    let pt = bytes(10, 4);
    let with_key = |value: Option<&str>| {
        let mut spec = Spec::signed(&sk, 64, &pt);
        let mut ec = EncryptionContext::new().with("purpose", "test");
        if let Some(v) = value {
            ec = ec.with(PUBLIC_KEY_FIELD, v);
        }
        spec.context = ec;
        signed_message(&data_key(), &sk, &spec)
    };
    assert_eq!(
        format_kind(open(&with_key(None))),
        (Field::EncryptionContext, FormatErrorKind::MissingPublicKey)
    );
    let good = public_key_b64(&sk);
    let uncompressed = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(sk.verifying_key().to_encoded_point(false).as_bytes())
    };
    let p256_key = {
        use base64::Engine as _;
        let k = p256::ecdsa::SigningKey::from_slice(&[6; 32]).unwrap();
        base64::engine::general_purpose::STANDARD
            .encode(k.verifying_key().to_encoded_point(true).as_bytes())
    };
    let mut not_on_curve = good.clone().into_bytes();
    not_on_curve[10] = if not_on_curve[10] == b'A' { b'B' } else { b'A' };
    let not_on_curve = String::from_utf8(not_on_curve).unwrap();
    for bad in [
        "",
        "not base64!",
        good.trim_end_matches('='),
        &uncompressed,
        &p256_key,
        &format!("{good}AAAA"),
    ] {
        assert_eq!(
            format_kind(open(&with_key(Some(bad)))),
            (Field::EncryptionContext, FormatErrorKind::InvalidPublicKey),
            "{bad:?}"
        );
    }
    // A point off the curve is refused as invalid; if the changed x happens to be on the
    // curve, the signature no longer verifies. Either way it never opens.
    let r = open(&with_key(Some(&not_on_curve)));
    assert!(
        is_auth(&r)
            || format_kind(r) == (Field::EncryptionContext, FormatErrorKind::InvalidPublicKey)
    );
    // Another valid key in the context (the header tag is recomputed: a data-key holder's
    // forgery with someone else's public key) fails the signature.
    let other = signing_key(7);
    assert!(is_auth(&open(&with_key(Some(&public_key_b64(&other))))));
    // A stored public key edited after sealing breaks the header tag.
    let m = with_key(Some(&good));
    let at = m
        .windows(good.len())
        .position(|w| w == good.as_bytes())
        .unwrap();
    let mut edited = m.clone();
    let other_b64 = public_key_b64(&other);
    edited[at..at + good.len()].copy_from_slice(other_b64.as_bytes());
    assert!(is_auth(&open(&edited)));
}

#[test]
fn reserved_keys_stay_refused_and_the_unsigned_suite_has_no_footer() {
    let sk = signing_key(8);
    let pt = bytes(10, 5);
    // Another aws-crypto- key beside the public key.
    let mut spec = Spec::signed(&sk, 64, &pt);
    spec.context = spec.context.clone().with("aws-crypto-other", "x");
    assert!(matches!(
        format_kind(open(&signed_message(&data_key(), &sk, &spec))),
        (
            Field::EncryptionContext,
            FormatErrorKind::ReservedEncryptionContextKey(_)
        )
    ));
    // The public key in an unsigned (0x0478) message is a reserved key.
    let mut spec = Spec::signed(&sk, 64, &pt);
    spec.suite_id = 0x0478;
    let m = header_and_body(&data_key(), &spec);
    assert!(matches!(
        format_kind(open(&m)),
        (Field::EncryptionContext, FormatErrorKind::ReservedEncryptionContextKey(k))
            if k == PUBLIC_KEY_FIELD
    ));
    // An unsigned message followed by a footer: trailing bytes.
    let mut spec = Spec::signed(&sk, 64, &pt);
    spec.suite_id = 0x0478;
    spec.context = EncryptionContext::new();
    let mut m = header_and_body(&data_key(), &spec);
    assert_eq!(open(&m).unwrap(), pt);
    let sig = sign(&sk, &m);
    m.extend_from_slice(&(sig.len() as u16).to_be_bytes());
    m.extend_from_slice(&sig);
    assert!(matches!(
        format_kind(open(&m)),
        (Field::Frame, FormatErrorKind::TrailingBytes { .. })
    ));
}

#[test]
fn a_high_s_signature_opens_like_its_low_s_twin() {
    use p384::elliptic_curve::PrimeField;
    let sk = signing_key(10);
    let pt = bytes(50, 6);
    let hb = header_and_body(&data_key(), &Spec::signed(&sk, 64, &pt));
    let sig: p384::ecdsa::Signature = p384::ecdsa::signature::Signer::sign(&sk, &hb[..]);
    let (r, s) = sig.split_scalars();
    let neg_s = -*s.as_ref();
    let twin = p384::ecdsa::Signature::from_scalars(r.to_repr(), neg_s.to_repr()).unwrap();
    for sig in [sig, twin] {
        let der = sig.to_der();
        let mut m = hb.clone();
        m.extend_from_slice(&(der.len() as u16).to_be_bytes());
        m.extend_from_slice(der.as_bytes());
        for backend in BACKENDS {
            assert_eq!(open_with(&m, &data_key(), backend).unwrap(), pt);
        }
        assert!(stream(&m).1.is_none());
    }
}

//! The fast path against `aws-sigv4` (`sigv4::compute_signature`), its oracle: the same
//! signature for every request shape it accepts, and a fallback for every other shape.

use super::*;
use crate::server::sigv4::{compute_signature, parse_amz_date, parse_authorization};

const REGION: &str = "us-east-1";
const AKID: &str = "AKIAFRAGSEALTEST0001";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const AMZ_DATE: &str = "20261201T123456Z";

/// A request with `headers` (lowercase names; a name may repeat), signed headers = all names.
fn request(path: &str, headers: &[(&str, &str)]) -> (Parts, Vec<String>) {
    let mut b = http::Request::builder().method("POST").uri(path);
    let mut names: Vec<String> = Vec::new();
    for (k, v) in headers {
        b = b.header(
            *k,
            http::HeaderValue::from_bytes(v.as_bytes()).expect("value"),
        );
        if !names.iter().any(|n| n == k) {
            names.push((*k).to_owned());
        }
    }
    names.sort();
    let (parts, ()) = b.body(()).expect("request").into_parts();
    (parts, names)
}

fn authorization(names: &[String], service: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/20261201/{REGION}/{service}/aws4_request, \
         SignedHeaders={}, Signature={signature}",
        names.join(";")
    )
}

/// aws-sigv4's signature and the fast path's verdict on it (and on a wrong one).
fn both(
    cache: &KeyCache,
    parts: &Parts,
    names: &[String],
    body: &[u8],
    secret: &str,
    service: Service,
) -> (String, Result<bool, Fallback>, Result<bool, Fallback>) {
    let auth = authorization(names, service.name(), &"0".repeat(64));
    let header = parse_authorization(&auth).expect("header");
    let time = parse_amz_date(AMZ_DATE).expect("date");
    let oracle = compute_signature(parts, body, &header, secret, REGION, service, time)
        .unwrap_or_else(|e| format!("error: {e}"));
    let body_hash = hex::encode(Sha256::digest(body));
    let check = |signature: &str| {
        let signed = Signed {
            access_key_id: AKID,
            signed_headers: &header.signed_headers,
            signature,
            amz_date: AMZ_DATE,
            date: &AMZ_DATE[..8],
        };
        verify(cache, parts, &signed, &body_hash, secret, REGION, service)
    };
    let mut wrong = oracle.clone().into_bytes();
    if let Some(c) = wrong.first_mut() {
        *c = if *c == b'0' { b'1' } else { b'0' };
    }
    let wrong = String::from_utf8(wrong).expect("hex");
    (oracle.clone(), check(&oracle), check(&wrong))
}

fn base<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        ("content-type", "application/x-amz-json-1.1"),
        ("host", "127.0.0.1:4566"),
        ("x-amz-date", AMZ_DATE),
        ("x-amz-target", "TrentService.Decrypt"),
    ];
    h.extend_from_slice(extra);
    h
}

#[test]
fn agrees_with_aws_sigv4_on_header_values() {
    let cache = KeyCache::default();
    let body = br#"{"CiphertextBlob":"AQIDBA==","EncryptionContext":{"a":"b"}}"#;
    let cases: Vec<Vec<(&str, &str)>> = vec![
        base(&[]),
        base(&[("user-agent", "  Boto3/1.34  md/Botocore#1.34   ua/2.0  ")]),
        base(&[("x-amz-user-agent", "a\tb  \t  c")]),
        base(&[("x-custom", "one"), ("x-custom", "  two  three ")]),
        base(&[("x-amz-security-token", "FwoGZXIvYXdzE//token+with/chars==")]),
        base(&[(
            "x-amz-content-sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )]),
        base(&[("content-length", "61"), ("x-empty", "")]),
        base(&[("x-spaces", "     ")]),
    ];
    for (i, headers) in cases.iter().enumerate() {
        let (parts, names) = request("/", headers);
        for service in [Service::Kms, Service::Sts] {
            let (oracle, right, wrong) = both(&cache, &parts, &names, body, SECRET, service);
            assert!(!oracle.starts_with("error"), "case {i}: {oracle}");
            assert_eq!(right, Ok(true), "case {i} {service:?}: {headers:?}");
            assert_eq!(wrong, Ok(false), "case {i} {service:?}");
        }
    }
    // One key per (access key, service) for the one date.
    assert_eq!(cache.len(), 2);
}

#[test]
fn agrees_with_aws_sigv4_on_generated_values() {
    // A fixed generator: the same values on every run.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    const ALPHABET: &[u8] = b"  \tab:;,=/+-_.~%\"'()[]{}<>?!@#$&*|\\^`0Z";
    let cache = KeyCache::default();
    for round in 0..200 {
        let len = usize::try_from(next() % 24).unwrap_or(0);
        let value: String = (0..len)
            .map(|_| char::from(ALPHABET[usize::try_from(next()).unwrap_or(0) % ALPHABET.len()]))
            .collect();
        let headers = base(&[("x-generated", value.as_str())]);
        let (parts, names) = request("/", &headers);
        let body = value.as_bytes();
        let (oracle, right, wrong) = both(&cache, &parts, &names, body, SECRET, Service::Kms);
        assert!(!oracle.starts_with("error"), "round {round}: {oracle}");
        assert_eq!(right, Ok(true), "round {round}: {value:?}");
        assert_eq!(wrong, Ok(false), "round {round}: {value:?}");
    }
}

#[test]
fn another_secret_for_the_same_key_id_is_derived_again() {
    let cache = KeyCache::default();
    let (parts, names) = request("/", &base(&[]));
    let (_, first, _) = both(&cache, &parts, &names, b"{}", SECRET, Service::Kms);
    let (_, second, _) = both(
        &cache,
        &parts,
        &names,
        b"{}",
        "another-secret",
        Service::Kms,
    );
    assert_eq!((first, second), (Ok(true), Ok(true)));
    // And a signature made with the first secret does not verify with the second.
    let auth = authorization(&names, "kms", &"0".repeat(64));
    let header = parse_authorization(&auth).expect("header");
    let time = parse_amz_date(AMZ_DATE).expect("date");
    let by_first =
        compute_signature(&parts, b"{}", &header, SECRET, REGION, Service::Kms, time).expect("sig");
    let signed = Signed {
        access_key_id: AKID,
        signed_headers: &header.signed_headers,
        signature: &by_first,
        amz_date: AMZ_DATE,
        date: &AMZ_DATE[..8],
    };
    let hash = hex::encode(Sha256::digest(b"{}"));
    let cached = cache.len();
    assert_eq!(
        verify(
            &cache,
            &parts,
            &signed,
            &hash,
            "another-secret",
            REGION,
            Service::Kms
        ),
        Ok(false)
    );
    assert_eq!(cache.len(), cached);
}

#[test]
fn other_shapes_fall_back_to_aws_sigv4() {
    let cache = KeyCache::default();
    for path in ["/?Action=GetCallerIdentity", "/other", "/./"] {
        let (parts, names) = request(path, &base(&[]));
        let (_, right, _) = both(&cache, &parts, &names, b"", SECRET, Service::Sts);
        assert_eq!(right, Err(Fallback::Shape), "{path}");
    }
    // A signed header the request does not carry, or that is not visible ASCII.
    let (parts, mut names) = request("/", &base(&[]));
    names.push("x-missing".to_owned());
    let (_, right, _) = both(&cache, &parts, &names, b"", SECRET, Service::Kms);
    assert_eq!(right, Err(Fallback::Header));
    let (parts, names) = request("/", &base(&[("x-latin", "caf\u{e9}")]));
    let (_, right, _) = both(&cache, &parts, &names, b"", SECRET, Service::Kms);
    assert_eq!(right, Err(Fallback::Header));
    assert_eq!(cache.len(), 0);
}

#[test]
fn the_cache_is_bounded() {
    let cache = KeyCache::default();
    for i in 0..=MAX_KEYS {
        let _ = cache.key(
            &format!("AKID{i}"),
            SECRET,
            "20261201",
            REGION,
            Service::Kms,
        );
    }
    assert!(cache.len() <= MAX_KEYS, "{}", cache.len());
    assert!(cache.len() >= 1);
}

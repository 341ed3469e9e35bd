//! ECDSA footer verification: every backend (RustCrypto in memory and streaming, ring, and
//! aws-lc-rs with the `aws-lc` feature) agrees on valid and invalid signatures — random
//! messages and keys, high-S (malleated) twins, the wrong curve, malformed DER, and public keys
//! that are not points (the point at infinity has no compressed encoding).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::crypto::AeadBackend;
use fragseal::format::SignatureAlgorithm;
use fragseal::internal::crypto::verify::{verify_message, SignerPublicKey, StreamVerifier};
use p384::elliptic_curve::PrimeField;

const P384: SignatureAlgorithm = SignatureAlgorithm::EcdsaP384Sha384;
const P256: SignatureAlgorithm = SignatureAlgorithm::EcdsaP256Sha256;

/// Every backend's verdict on (key, message, signature).
fn verdicts(key: &SignerPublicKey, message: &[u8], der: &[u8]) -> Vec<(&'static str, bool)> {
    let mut v = vec![
        (
            "ring",
            verify_message(AeadBackend::Ring, key, message, der).is_ok(),
        ),
        (
            "rustcrypto",
            verify_message(AeadBackend::RustCrypto, key, message, der).is_ok(),
        ),
    ];
    let mut s = StreamVerifier::new(key.clone());
    for chunk in message.chunks(7) {
        s.update(chunk);
    }
    v.push(("rustcrypto-stream", s.verify(der).is_ok()));
    #[cfg(feature = "aws-lc")]
    v.push((
        "aws-lc",
        fragseal::internal::crypto::verify::verify_aws_lc(key, message, der).is_ok(),
    ));
    v
}

/// Asserts that all backends say `expected`.
fn agree(key: &SignerPublicKey, message: &[u8], der: &[u8], expected: bool, what: &str) {
    for (backend, ok) in verdicts(key, message, der) {
        assert_eq!(ok, expected, "{what}: {backend}");
    }
}

fn p384_key(seed: u64) -> (p384::ecdsa::SigningKey, SignerPublicKey) {
    let mut bytes = [0u8; 48];
    bytes[40..].copy_from_slice(&seed.wrapping_add(1).to_be_bytes());
    bytes[0] = 0x11;
    let sk = p384::ecdsa::SigningKey::from_slice(&bytes).unwrap();
    let pk = SignerPublicKey::from_compressed(
        P384,
        sk.verifying_key().to_encoded_point(true).as_bytes(),
    )
    .unwrap();
    (sk, pk)
}

fn p256_key(seed: u64) -> (p256::ecdsa::SigningKey, SignerPublicKey) {
    let mut bytes = [0u8; 32];
    bytes[24..].copy_from_slice(&seed.wrapping_add(1).to_be_bytes());
    bytes[0] = 0x22;
    let sk = p256::ecdsa::SigningKey::from_slice(&bytes).unwrap();
    let pk = SignerPublicKey::from_compressed(
        P256,
        sk.verifying_key().to_encoded_point(true).as_bytes(),
    )
    .unwrap();
    (sk, pk)
}

fn message(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn valid_and_altered_signatures_agree_on_random_inputs() {
    use p384::ecdsa::signature::Signer;
    for seed in 0..24u64 {
        let (sk, pk) = p384_key(seed);
        let m = message(seed as usize * 37, seed);
        let sig: p384::ecdsa::Signature = sk.sign(&m);
        let der = sig.to_der().as_bytes().to_vec();
        agree(&pk, &m, &der, true, "valid P-384");
        let mut other = m.clone();
        other.push(1);
        agree(&pk, &other, &der, false, "other message");
        let (_, other_pk) = p384_key(seed + 100);
        agree(&other_pk, &m, &der, false, "other key");
        // The malleated twin (r, n - s): valid on every backend (no low-S rule, as in the ESDKs).
        let (r, s) = sig.split_scalars();
        let twin =
            p384::ecdsa::Signature::from_scalars(r.to_repr(), (-*s.as_ref()).to_repr()).unwrap();
        agree(&pk, &m, twin.to_der().as_bytes(), true, "high-S twin");
    }
    for seed in 0..12u64 {
        use p256::ecdsa::signature::Signer;
        let (sk, pk) = p256_key(seed);
        let m = message(seed as usize * 53, seed);
        let sig: p256::ecdsa::Signature = sk.sign(&m);
        agree(&pk, &m, sig.to_der().as_bytes(), true, "valid P-256");
        let (r, s) = sig.split_scalars();
        let twin =
            p256::ecdsa::Signature::from_scalars(r.to_repr(), (-*s.as_ref()).to_repr()).unwrap();
        agree(&pk, &m, twin.to_der().as_bytes(), true, "P-256 high-S twin");
        let mut bad = sig.to_der().as_bytes().to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        agree(&pk, &m, &bad, false, "P-256 altered s");
    }
}

#[test]
fn the_wrong_curve_is_refused() {
    use p384::ecdsa::signature::Signer;
    let (sk384, pk384) = p384_key(1);
    let (sk256, pk256) = p256_key(1);
    let m = message(100, 1);
    let sig384: p384::ecdsa::Signature = sk384.sign(&m);
    let sig256: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&sk256, &m);
    agree(
        &pk256,
        &m,
        sig384.to_der().as_bytes(),
        false,
        "P-384 signature, P-256 key",
    );
    agree(
        &pk384,
        &m,
        sig256.to_der().as_bytes(),
        false,
        "P-256 signature, P-384 key",
    );
    // A P-384 point is not a P-256 key and vice versa.
    assert!(SignerPublicKey::from_compressed(P256, pk384.compressed_bytes()).is_none());
    assert!(SignerPublicKey::from_compressed(P384, pk256.compressed_bytes()).is_none());
}

/// DER `INTEGER` of a big-endian magnitude, minimal.
fn der_int(mag: &[u8]) -> Vec<u8> {
    let mut m: Vec<u8> = mag.iter().copied().skip_while(|b| *b == 0).collect();
    if m.is_empty() || m[0] & 0x80 != 0 {
        m.insert(0, 0);
    }
    let mut out = vec![0x02, m.len() as u8];
    out.extend_from_slice(&m);
    out
}

fn der_seq(parts: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = parts.concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

#[test]
fn malformed_der_is_refused_everywhere() {
    use p384::ecdsa::signature::Signer;
    let (sk, pk) = p384_key(2);
    let m = message(64, 2);
    let sig: p384::ecdsa::Signature = sk.sign(&m);
    let (r, s) = sig.split_scalars();
    let (r, s) = (r.to_repr().to_vec(), s.to_repr().to_vec());
    let good = der_seq(&[der_int(&r), der_int(&s)]);
    assert_eq!(
        good,
        sig.to_der().as_bytes(),
        "the test's DER writer is canonical"
    );
    agree(&pk, &m, &good, true, "rebuilt DER");
    let order = hex::decode(
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    )
    .unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("trailing byte", [good.clone(), vec![0]].concat()),
        ("truncated", good[..good.len() - 1].to_vec()),
        ("r = 0", der_seq(&[der_int(&[0]), der_int(&s)])),
        ("s = 0", der_seq(&[der_int(&r), der_int(&[0])])),
        ("r = n", der_seq(&[der_int(&order), der_int(&s)])),
        ("s = n", der_seq(&[der_int(&r), der_int(&order)])),
        ("swapped r and s", der_seq(&[der_int(&s), der_int(&r)])),
        ("only r", der_seq(&[der_int(&r)])),
        ("raw r || s", [r.clone(), s.clone()].concat()),
        ("wrong tag", {
            let mut g = good.clone();
            g[0] = 0x31;
            g
        }),
    ];
    // Non-minimal INTEGER: a redundant leading zero on r.
    let mut padded_r = vec![0x02, (r.len() + 2) as u8, 0, 0];
    padded_r.extend_from_slice(&r);
    cases.push(("non-minimal integer", der_seq(&[padded_r, der_int(&s)])));
    // Non-minimal length: the sequence length in long form.
    let body = [der_int(&r), der_int(&s)].concat();
    let mut long_form = vec![0x30, 0x81, body.len() as u8];
    long_form.extend_from_slice(&body);
    cases.push(("long-form length", long_form));
    // A negative s (no sign padding on a high first byte).
    let mut neg_s = s.clone();
    neg_s[0] |= 0x80;
    let mut raw_neg = vec![0x02, neg_s.len() as u8];
    raw_neg.extend_from_slice(&neg_s);
    cases.push(("negative integer", der_seq(&[der_int(&r), raw_neg])));
    for (what, der) in cases {
        agree(&pk, &m, &der, false, what);
    }
}

#[test]
fn public_keys_that_are_not_points_are_refused() {
    let (_, pk) = p384_key(3);
    let c = pk.compressed_bytes().to_vec();
    // The identity's SEC1 encoding, all-zero, wrong prefixes, wrong lengths.
    for bad in [
        vec![0u8],
        vec![0u8; 49],
        [vec![4u8], c[1..].to_vec()].concat(),
        [vec![5u8], c[1..].to_vec()].concat(),
        c[..48].to_vec(),
        [c.clone(), vec![0]].concat(),
    ] {
        assert!(
            SignerPublicKey::from_compressed(P384, &bad).is_none(),
            "{bad:02x?}"
        );
    }
    // x = p - 1 style values off the curve: try a few x until one is not on the curve, and
    // check that it is refused (about half of all x are not).
    let mut refused = 0;
    for i in 0..16u8 {
        let mut x = vec![2u8];
        x.extend_from_slice(&[i; 48]);
        if SignerPublicKey::from_compressed(P384, &x).is_none() {
            refused += 1;
        }
    }
    assert!(refused > 0, "some x off the curve");
}

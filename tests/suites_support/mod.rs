//! A small test-only writer of signed (suite 0x0578) messages, independent of the production
//! signer: header and frames through the codec's writers, the footer signed with the RustCrypto
//! `p384` `SigningKey`. Used by the suites_* tests.

#![allow(dead_code, reason = "each test binary uses part of it")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test support")]

use base64::Engine as _;
use fragseal::crypto::{AeadBackend, DataKey};
use fragseal::format::{ContentType, EncryptedDataKey};
use fragseal::internal::crypto::kdf::derive_message_keys;
use fragseal::internal::format::body::{frame_iv, write_frame_prefix, BodyAad, BodyKind};
use fragseal::internal::format::footer::write_footer;
use fragseal::internal::format::header::{HeaderFields, HEADER_IV};
use fragseal::EncryptionContext;
use p384::ecdsa::signature::Signer;

pub const SIGNED_SUITE: u16 = 0x0578;
pub const PUBLIC_KEY_FIELD: &str = "aws-crypto-public-key";

pub fn data_key() -> DataKey {
    DataKey::from_bytes([0x42; 32])
}

pub fn signing_key(seed: u8) -> p384::ecdsa::SigningKey {
    p384::ecdsa::SigningKey::from_slice(&[seed; 48]).expect("valid scalar")
}

/// base64 of the compressed SEC1 point of `sk`'s public key.
pub fn public_key_b64(sk: &p384::ecdsa::SigningKey) -> String {
    let point = sk.verifying_key().to_encoded_point(true);
    base64::engine::general_purpose::STANDARD.encode(point.as_bytes())
}

pub fn edk() -> EncryptedDataKey {
    EncryptedDataKey {
        provider_id: "test".into(),
        provider_info: b"key".to_vec(),
        ciphertext: vec![1, 2, 3],
    }
}

/// How to write a test message.
pub struct Spec<'a> {
    pub suite_id: u16,
    /// The encryption context as written (the public key included or not by the caller).
    pub context: EncryptionContext,
    /// 0 = non-framed.
    pub frame_length: u32,
    pub plaintext: &'a [u8],
    pub message_id: [u8; 32],
}

impl<'a> Spec<'a> {
    /// A 0x0578 message whose context holds `sk`'s public key and `("purpose", "test")`.
    pub fn signed(sk: &p384::ecdsa::SigningKey, frame_length: u32, plaintext: &'a [u8]) -> Self {
        Self {
            suite_id: SIGNED_SUITE,
            context: EncryptionContext::new()
                .with("purpose", "test")
                .with(PUBLIC_KEY_FIELD, public_key_b64(sk)),
            frame_length,
            plaintext,
            message_id: [0x5a; 32],
        }
    }
}

/// Header and body of `spec` (no footer), authenticated under `dk`.
pub fn header_and_body(dk: &DataKey, spec: &Spec<'_>) -> Vec<u8> {
    let keys = derive_message_keys(AeadBackend::Ring, dk, spec.suite_id, &spec.message_id);
    let edks = [edk()];
    let fields = HeaderFields {
        suite_id: spec.suite_id,
        message_id: &spec.message_id,
        encryption_context: &spec.context,
        encrypted_data_keys: &edks,
        content_type: if spec.frame_length == 0 {
            ContentType::NonFramed
        } else {
            ContentType::Framed
        },
        frame_length: spec.frame_length,
        commit_key: keys.commit_key.as_bytes(),
    };
    let mut out = Vec::new();
    fields.write(&mut out).expect("header writes");
    let tag = keys
        .encryption_key
        .seal_in_place_detached(&HEADER_IV, &out, &mut []);
    out.extend_from_slice(&tag);
    let key = &keys.encryption_key;
    let mut aad = BodyAad::new(&spec.message_id);
    let mut seal = |out: &mut Vec<u8>, kind: BodyKind, seq: u32, chunk: &[u8]| {
        let at = out.len();
        out.extend_from_slice(chunk);
        let tag = key.seal_in_place_detached(
            &frame_iv(seq),
            aad.get(kind, seq, chunk.len() as u64),
            &mut out[at..],
        );
        out.extend_from_slice(&tag);
    };
    if spec.frame_length == 0 {
        out.extend_from_slice(&frame_iv(1));
        out.extend_from_slice(&(spec.plaintext.len() as u64).to_be_bytes());
        seal(&mut out, BodyKind::SingleBlock, 1, spec.plaintext);
        return out;
    }
    let fl = spec.frame_length as usize;
    let mut rest = spec.plaintext;
    let mut seq = 1u32;
    while rest.len() > fl {
        let (chunk, tail) = rest.split_at(fl);
        write_frame_prefix(&mut out, BodyKind::Regular, seq, fl as u32);
        seal(&mut out, BodyKind::Regular, seq, chunk);
        rest = tail;
        seq += 1;
    }
    write_frame_prefix(&mut out, BodyKind::Final, seq, rest.len() as u32);
    seal(&mut out, BodyKind::Final, seq, rest);
    out
}

/// The DER signature of `signed` by `sk` (ECDSA P-384, SHA-384).
pub fn sign(sk: &p384::ecdsa::SigningKey, signed: &[u8]) -> Vec<u8> {
    let sig: p384::ecdsa::Signature = sk.sign(signed);
    sig.to_der().as_bytes().to_vec()
}

/// A complete signed message: header, body and the footer signed by `sk`.
pub fn signed_message(dk: &DataKey, sk: &p384::ecdsa::SigningKey, spec: &Spec<'_>) -> Vec<u8> {
    let mut m = header_and_body(dk, spec);
    let sig = sign(sk, &m);
    write_footer(&mut m, &sig).expect("short signature");
    m
}

/// Deterministic test bytes.
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

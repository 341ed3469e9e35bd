//! Reading a signed (`0x0578`) message without fragseal's parser: suite id, the public key in
//! the context, the first encrypted data key's sizes, the footer, and the footer's verification
//! with the `p384` crate directly (an oracle independent of fragseal's verifier).
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "shared by several test binaries; tests fail loudly"
)]

use base64::Engine as _;
use fragseal::format::EncryptedDataKey;
use fragseal::message::{EC_PUBLIC_KEY_FIELD, FOOTER_LEN};
use fragseal::EncryptionContext;
use p384::ecdsa::signature::Verifier;

/// What a test reads from a signed message.
pub struct SignedParts {
    pub suite: u16,
    pub message_id: [u8; 32],
    pub context: EncryptionContext,
    pub edks: Vec<EncryptedDataKey>,
    pub frame_length: u32,
    /// Header body and tag.
    pub header_len: usize,
    pub public_key_b64: String,
    pub first_edk_info_len: usize,
    pub first_edk_ciphertext_len: usize,
    pub signature: Vec<u8>,
}

fn u16_at(m: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([m[at], m[at + 1]]))
}

/// Walks the v2 header: version, suite, message id (32), AAD length, context pairs, EDKs.
pub fn signed_parts(m: &[u8]) -> SignedParts {
    assert_eq!(m[0], 2, "message format version 2");
    let suite = u16::from_be_bytes([m[1], m[2]]);
    let mut message_id = [0u8; 32];
    message_id.copy_from_slice(&m[3..35]);
    let mut context = EncryptionContext::new();
    let mut at = 3 + 32;
    let aad_len = u16_at(m, at);
    at += 2;
    let aad_end = at + aad_len;
    let mut public_key_b64 = None;
    if aad_len > 0 {
        let pairs = u16_at(m, at);
        at += 2;
        for _ in 0..pairs {
            let kl = u16_at(m, at);
            let k = &m[at + 2..at + 2 + kl];
            at += 2 + kl;
            let vl = u16_at(m, at);
            let v = &m[at + 2..at + 2 + vl];
            at += 2 + vl;
            context.insert(
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            );
            if k == EC_PUBLIC_KEY_FIELD.as_bytes() {
                public_key_b64 = Some(String::from_utf8(v.to_vec()).unwrap());
            }
        }
    }
    assert_eq!(at, aad_end);
    let count = u16_at(m, at);
    assert!(count >= 1);
    at += 2;
    let mut edks = Vec::new();
    for _ in 0..count {
        let mut field = || {
            let len = u16_at(m, at);
            let v = m[at + 2..at + 2 + len].to_vec();
            at += 2 + len;
            v
        };
        let (p, i, c) = (field(), field(), field());
        edks.push(EncryptedDataKey {
            provider_id: String::from_utf8(p).unwrap(),
            provider_info: i,
            ciphertext: c,
        });
    }
    // Content type (1, framed = 2), frame length (4), the commit key (32), the header tag (16).
    assert_eq!(m[at], 2, "framed");
    let frame_length = u32::from_be_bytes([m[at + 1], m[at + 2], m[at + 3], m[at + 4]]);
    let header_len = at + 5 + 32 + 16;
    let (il, cl) = (edks[0].provider_info.len(), edks[0].ciphertext.len());
    let footer = &m[m.len() - FOOTER_LEN..];
    let sig_len = u16_at(footer, 0);
    assert_eq!(sig_len, FOOTER_LEN - 2);
    SignedParts {
        suite,
        message_id,
        context,
        edks,
        frame_length,
        header_len,
        public_key_b64: public_key_b64.expect("aws-crypto-public-key in the context"),
        first_edk_info_len: il,
        first_edk_ciphertext_len: cl,
        signature: footer[2..].to_vec(),
    }
}

/// Whether the footer's signature verifies over header and body under the context's key.
pub fn footer_verifies(m: &[u8]) -> bool {
    let parts = signed_parts(m);
    let public = base64::engine::general_purpose::STANDARD
        .decode(&parts.public_key_b64)
        .unwrap();
    let Ok(vk) = p384::ecdsa::VerifyingKey::from_sec1_bytes(&public) else {
        return false;
    };
    let Ok(sig) = p384::ecdsa::Signature::from_der(&parts.signature) else {
        return false;
    };
    vk.verify(&m[..m.len() - FOOTER_LEN], &sig).is_ok()
}

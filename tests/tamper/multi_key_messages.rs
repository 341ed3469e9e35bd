//! A message whose tags verify under two data keys (invisible salamanders) opens under at most
//! one.

use super::*;

// ---------------------------------------------------------------------------------------------
// Attacks by a key holder: multi-key messages ("invisible salamanders") and nonce reuse
// ---------------------------------------------------------------------------------------------

/// GF(2^128) with GCM's bit order (NIST SP 800-38D, Algorithm 1); blocks as big-endian u128.
fn gf_mul(x: u128, y: u128) -> u128 {
    const R: u128 = 0xE1 << 120;
    let mut z = 0u128;
    let mut v = y;
    for i in 0..128 {
        if (x >> (127 - i)) & 1 == 1 {
            z ^= v;
        }
        v = if v & 1 == 1 { (v >> 1) ^ R } else { v >> 1 };
    }
    z
}

/// The multiplicative identity in GCM's bit order.
const GF_ONE: u128 = 1 << 127;

fn gf_pow(mut a: u128, mut e: u128) -> u128 {
    let mut r = GF_ONE;
    while e > 0 {
        if e & 1 == 1 {
            r = gf_mul(r, a);
        }
        a = gf_mul(a, a);
        e >>= 1;
    }
    r
}

fn gf_inv(a: u128) -> u128 {
    gf_pow(a, u128::MAX - 1) // a^(2^128 - 2)
}

fn aes_block(key: &[u8; 32], block: [u8; 16]) -> u128 {
    use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
    let c = aes::Aes256::new(GenericArray::from_slice(key));
    let mut b = GenericArray::clone_from_slice(&block);
    c.encrypt_block(&mut b);
    u128::from_be_bytes(b.into())
}

/// The GCM tag of (`aad`, `ciphertext`) under `key` and the 96-bit `iv`, computed from the
/// definition, and the coefficient (a power of H) of the 16-byte block of `aad ‖ pad ‖
/// ciphertext` starting at `free_block` (an index in blocks).
fn gcm_tag(
    key: &[u8; 32],
    iv: &[u8; 12],
    aad: &[u8],
    ct: &[u8],
    free_block: usize,
) -> (u128, u128) {
    let h = aes_block(key, [0; 16]);
    let mut j0 = [0u8; 16];
    j0[..12].copy_from_slice(iv);
    j0[15] = 1;
    let mut blocks: Vec<u128> = Vec::new();
    for part in [aad, ct] {
        for chunk in part.chunks(16) {
            let mut b = [0u8; 16];
            b[..chunk.len()].copy_from_slice(chunk);
            blocks.push(u128::from_be_bytes(b));
        }
    }
    blocks.push(((aad.len() as u128 * 8) << 64) | (ct.len() as u128 * 8));
    let mut y = 0u128;
    for b in &blocks {
        y = gf_mul(y ^ b, h);
    }
    let coefficient = gf_pow(h, (blocks.len() - free_block) as u128);
    (y ^ aes_block(key, j0), coefficient)
}

/// Sets the 16 bytes at block `free_block` of `aad ‖ ct` (a block lying entirely inside one of
/// them) so that the GCM tags under both keys are equal; returns that tag.
fn collide(
    keys: [&[u8; 32]; 2],
    iv: &[u8; 12],
    aad: &mut [u8],
    ct: &mut [u8],
    free_block: usize,
) -> [u8; 16] {
    let at = free_block * 16;
    let aad_blocks = aad.len().div_ceil(16);
    let slot: &mut [u8] = if free_block < aad_blocks {
        &mut aad[at..at + 16]
    } else {
        let c = (free_block - aad_blocks) * 16;
        &mut ct[c..c + 16]
    };
    slot.fill(0);
    let (t1, c1) = gcm_tag(keys[0], iv, aad, ct, free_block);
    let (t2, c2) = gcm_tag(keys[1], iv, aad, ct, free_block);
    // t_i(X) = t_i(0) + X·c_i, so t1(X) = t2(X) for X = (t1(0) + t2(0)) / (c1 + c2).
    let x = gf_mul(t1 ^ t2, gf_inv(c1 ^ c2));
    let slot: &mut [u8] = if free_block < aad_blocks {
        &mut aad[at..at + 16]
    } else {
        let c = (free_block - aad_blocks) * 16;
        &mut ct[c..c + 16]
    };
    slot.copy_from_slice(&x.to_be_bytes());
    let (a, _) = gcm_tag(keys[0], iv, aad, ct, free_block);
    let (b, _) = gcm_tag(keys[1], iv, aad, ct, free_block);
    assert_eq!(a, b, "collision construction");
    a.to_be_bytes()
}

fn derived_key(dk: &[u8; 32], message_id: &[u8; 32]) -> [u8; 32] {
    let mut info = fragseal::message::SUITE_ID.to_be_bytes().to_vec();
    info.extend_from_slice(b"DERIVEKEY");
    let mut k = [0u8; 32];
    fragseal::crypto::kdf::hkdf_sha512(message_id, dk, &info, &mut k).unwrap();
    k
}

/// Builds a message whose header tag and frame tag verify under the message keys of *both*
/// data keys (a multi-key ciphertext, "invisible salamander"), carrying the commit key of
/// `committed` (0 or 1). Returns the message and the two derived AES keys.
fn salamander(dks: [&[u8; 32]; 2], committed: usize) -> (Vec<u8>, [[u8; 32]; 2]) {
    use fragseal::crypto::kdf::derive_message_keys;
    use fragseal::format::ContentType;
    use fragseal::internal::format::body::{write_frame_prefix, BodyAad};
    use fragseal::internal::format::header::{HeaderFields, HEADER_IV};
    let message_id = [0x5Au8; 32];
    let k = [
        derived_key(dks[0], &message_id),
        derived_key(dks[1], &message_id),
    ];
    let commit = *derive_message_keys(
        AeadBackend::Ring,
        &DataKey::from_bytes(*dks[committed]),
        fragseal::message::SUITE_ID,
        &message_id,
    )
    .commit_key
    .as_bytes();
    let ec = EncryptionContext::new().with("purpose", "salamander");
    // The attacker's free bytes: an encrypted data key's ciphertext field.
    let edks = [EncryptedDataKey {
        provider_id: "raw".into(),
        provider_info: vec![],
        ciphertext: vec![0; 48],
    }];
    let fields = HeaderFields {
        suite_id: fragseal::message::SUITE_ID,
        message_id: &message_id,
        encryption_context: &ec,
        encrypted_data_keys: &edks,
        content_type: ContentType::Framed,
        frame_length: 32,
        commit_key: &commit,
    };
    let mut body = Vec::new();
    fields.write(&mut body).unwrap();
    // The EDK ciphertext is 48 bytes ending 1 + 4 + 32 bytes before the end of the header body;
    // take the first whole block inside it.
    let ct_start = body.len() - 37 - 48;
    let free = ct_start.div_ceil(16);
    assert!(free * 16 + 16 <= ct_start + 48);
    let header_tag = collide([&k[0], &k[1]], &HEADER_IV, &mut body, &mut [], free);
    let mut m = body.clone();
    m.extend_from_slice(&header_tag);
    // One final frame of 32 bytes whose second ciphertext block is the free one.
    let mut aad = BodyAad::new(&message_id);
    let mut aad = aad.get(BodyKind::Final, 1, 32).to_vec();
    let mut ct = [0x33u8; 32];
    let iv = fragseal::internal::format::body::frame_iv(1);
    let aad_blocks = aad.len().div_ceil(16);
    let frame_tag = collide([&k[0], &k[1]], &iv, &mut aad, &mut ct, aad_blocks + 1);
    write_frame_prefix(&mut m, BodyKind::Final, 1, 32);
    m.extend_from_slice(&ct);
    m.extend_from_slice(&frame_tag);
    (m, k)
}

#[test]
fn a_multi_key_message_opens_under_at_most_one_key() {
    use fragseal::crypto::Aes256GcmKey;
    use fragseal::internal::format::header::HEADER_IV;
    let dk1 = [0x01u8; 32];
    let dk2 = [0x02u8; 32];
    for committed in [0, 1] {
        let (m, k) = salamander([&dk1, &dk2], committed);
        let h = parse_header(&m, &OpenLimits::default()).unwrap();
        // Without key commitment this message would be accepted under both keys: its header
        // tag and its frame tag verify under both derived AES keys (plain AES-GCM)...
        let frame = &m[h.header_len()..];
        let ct = &frame[24..56];
        let tag: [u8; 16] = frame[56..72].try_into().unwrap();
        let mut aad = fragseal::internal::format::body::BodyAad::new(h.message_id());
        let aad = aad.get(BodyKind::Final, 1, 32).to_vec();
        for key in &k {
            for backend in [AeadBackend::Ring, AeadBackend::RustCrypto] {
                let aes = Aes256GcmKey::new(backend, key);
                aes.open_in_place_detached(
                    &HEADER_IV,
                    h.header_body_bytes(),
                    &mut [],
                    h.auth_tag(),
                )
                .expect("header tag verifies under both keys");
                let mut buf = ct.to_vec();
                aes.open_in_place_detached(
                    &fragseal::internal::format::body::frame_iv(1),
                    &aad,
                    &mut buf,
                    &tag,
                )
                .expect("frame tag verifies under both keys");
            }
        }
        // ...but the commit key binds the message to one data key: fragseal opens it only with
        // the committed one, on every path.
        let dks = [DataKey::from_bytes(dk1), DataKey::from_bytes(dk2)];
        for (i, dk) in dks.iter().enumerate() {
            let opened = open(dk, &h, &m, None, AeadBackend::Ring);
            let ranged = open_range(dk, &h, &m, 0..32, None, AeadBackend::Ring);
            let streamed = SealedStream::new(&m[..], &OpenLimits::default())
                .unwrap()
                .open(dk, &stream_params(&IdentityCheck::Skip))
                .map(|mut s| {
                    let mut v = Vec::new();
                    s.read_to_end(&mut v).map(|_| v)
                });
            if i == committed {
                let p = opened.unwrap();
                assert_eq!(p.len(), 32);
                assert_eq!(ranged.unwrap(), p);
                assert_eq!(streamed.unwrap().unwrap(), p);
            } else {
                assert!(matches!(opened, Err(OpenError::Authentication(_))));
                assert!(matches!(ranged, Err(OpenError::Authentication(_))));
                assert!(matches!(streamed, Err(OpenError::Authentication(_))));
            }
        }
    }
}

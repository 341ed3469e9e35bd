//! Exhaustive tampering: for one small sealed fragment of four frames (32-byte frames, with an
//! encryption context and a fragment identity), every single-bit flip of every byte, every
//! truncation and a few extensions are rejected by `open`, by `open_range` over any range
//! touching the damage (and over the whole plaintext), and by the streaming reader — and no
//! plaintext of a frame that fails is ever released: the streaming reader hands out exactly
//! the frames *before* the damaged one, byte for byte, and nothing else.
//!
//! Also attacks by someone who holds keys: a message built to verify under two data keys
//! (an "invisible salamander" multi-key AES-GCM ciphertext) opens under at most one, thanks to
//! the commit key; and sealing many messages under one data key never repeats a message id,
//! hence never a derived key and IV pair.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::crypto::{AeadBackend, DataKey};
use fragseal::error::OpenError;
use fragseal::format::{EncryptedDataKey, Reader};
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::internal::format::body::BodyKind;
use fragseal::internal::format::read_frame;
use fragseal::message::{
    self, seal, OpenLimits, OpenParams, ParsedMessage as MessageHeader, SealParams, SealedStream,
};
use fragseal::EncryptionContext;
use std::io::Read;
use std::ops::Range;

fn parse_header<'a>(m: &'a [u8], limits: &OpenLimits) -> Result<MessageHeader<'a>, OpenError> {
    message::parse(m, limits)
}

fn check(id: Option<&FragmentIdentity>) -> IdentityCheck {
    id.map_or(IdentityCheck::Skip, |i| IdentityCheck::Expect(i.clone()))
}

/// Opens the parsed message `h` (parsed from `m`).
fn open(
    dk: &DataKey,
    h: &MessageHeader<'_>,
    m: &[u8],
    id: Option<&FragmentIdentity>,
    backend: AeadBackend,
) -> Result<Vec<u8>, OpenError> {
    assert_eq!(h.bytes(), m, "parsed from this message");
    let check = check(id);
    h.open(dk, &OpenParams::new(&check).with_backend(backend))
}

/// Opens `range` of the parsed message `h` (parsed from `m`).
fn open_range(
    dk: &DataKey,
    h: &MessageHeader<'_>,
    m: &[u8],
    range: Range<u64>,
    id: Option<&FragmentIdentity>,
    backend: AeadBackend,
) -> Result<Vec<u8>, OpenError> {
    assert_eq!(h.bytes(), m, "parsed from this message");
    let check = check(id);
    h.open_range(dk, &OpenParams::new(&check).with_backend(backend), range)
}

fn stream_params(id: &IdentityCheck) -> OpenParams<'_> {
    OpenParams::new(id).with_backend(AeadBackend::Ring)
}

const FRAME: usize = 32;
/// Three full regular frames and a final frame of 20 bytes.
const PLAINTEXT_LEN: usize = 3 * FRAME + 20;

struct Fixture {
    key: DataKey,
    identity: FragmentIdentity,
    plaintext: Vec<u8>,
    message: Vec<u8>,
    header_len: usize,
    /// Byte range of each frame in `message`.
    frames: Vec<Range<usize>>,
}

fn fixture() -> Fixture {
    let key = DataKey::from_bytes([0x3C; 32]);
    let identity = FragmentIdentity {
        stream_arn: "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam/1".into(),
        fragment_number: 91_343_852_333_181_432,
        producer_timestamp_ms: 1_700_000_000_123,
        track: 1,
    };
    let ec = EncryptionContext::new()
        .with(
            "aws:kinesisvideo:arn",
            "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam/1",
        )
        .with("tenant", "t-1");
    let edks = [EncryptedDataKey {
        provider_id: "aws-kms".into(),
        provider_info: b"arn:aws:kms:us-east-1:123456789012:key/k".to_vec(),
        ciphertext: vec![0xEE; 40],
    }];
    let params = SealParams {
        frame_length: FRAME as u32,
        identity: Some(&identity),
        ..SealParams::new(&ec, &edks)
    };
    // Distinct bytes, so that a frame's plaintext cannot be mistaken for another's.
    let plaintext: Vec<u8> = (0..PLAINTEXT_LEN as u32)
        .map(|i| (i * 7 + 3) as u8)
        .collect();
    let message = seal(&key, &params, &plaintext).unwrap();
    let header = parse_header(&message, &OpenLimits::default()).unwrap();
    let header_len = header.header_len();
    let mut r = Reader::at(&message[header_len..], header_len);
    let mut frames = Vec::new();
    for seq in 1.. {
        let f = read_frame(&mut r, FRAME as u32, seq).unwrap();
        frames.push(f.offset..r.offset());
        if f.kind == BodyKind::Final {
            break;
        }
    }
    assert_eq!(frames.len(), 4, "fixture has four frames");
    assert_eq!(frames.last().unwrap().end, message.len());
    Fixture {
        key,
        identity,
        plaintext,
        message,
        header_len,
        frames,
    }
}

impl Fixture {
    /// Index of the frame containing message byte `pos`; `None` in the header.
    fn frame_of(&self, pos: usize) -> Option<usize> {
        if pos < self.header_len {
            return None;
        }
        self.frames.iter().position(|f| f.contains(&pos))
    }

    /// Plaintext range of frame `i`.
    fn plain_range(&self, i: usize) -> Range<u64> {
        let start = (i * FRAME) as u64;
        let end = ((i + 1) * FRAME).min(PLAINTEXT_LEN) as u64;
        start..end
    }

    /// How many plaintext bytes precede frame `i` (or the header: 0).
    fn released_before(&self, frame: Option<usize>) -> usize {
        frame.map_or(0, |i| i * FRAME)
    }
}

/// Reads a streaming open of `m` to the end or the first error, in small reads; returns the
/// bytes released and whether the stream ended without error.
fn stream_open(fx: &Fixture, m: &[u8]) -> (Vec<u8>, bool) {
    let Ok(sealed) = SealedStream::new(m, &OpenLimits::default()) else {
        return (Vec::new(), false);
    };
    let expect = IdentityCheck::Expect(fx.identity.clone());
    let Ok(mut plain) = sealed.open(&fx.key, &stream_params(&expect)) else {
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 11];
    loop {
        match plain.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {
                assert!(
                    plain.read(&mut buf).is_err(),
                    "a failed stream stays failed"
                );
                return (out, false);
            }
        }
    }
}

/// Checks every open path on a damaged message whose first damaged byte is at `pos` (the
/// position of a flipped bit, or the first missing byte of a truncation).
fn assert_rejected_everywhere(fx: &Fixture, m: &[u8], pos: usize, what: &str) -> Outcome {
    let damaged = fx.frame_of(pos);
    // Streaming: exactly the frames before the damaged one, and not a byte more.
    let (released, ok) = stream_open(fx, m);
    assert!(!ok, "{what}: streaming reader accepted");
    let expect = fx.released_before(damaged);
    assert_eq!(
        released.len(),
        expect,
        "{what}: streaming reader released {} bytes, expected the {} bytes before frame {:?}",
        released.len(),
        expect,
        damaged
    );
    assert_eq!(released, fx.plaintext[..expect], "{what}: released bytes");

    let header = match parse_header(m, &OpenLimits::default()) {
        Ok(h) => h,
        Err(OpenError::Format(_)) => return Outcome::ParseRejected,
        Err(e) => panic!("{what}: unexpected parse error {e:?}"),
    };
    for backend in [AeadBackend::Ring, AeadBackend::RustCrypto] {
        assert!(
            open(&fx.key, &header, m, Some(&fx.identity), backend).is_err(),
            "{what}: open ({backend:?}) accepted"
        );
    }
    assert!(
        open(&fx.key, &header, m, None, AeadBackend::Ring).is_err(),
        "{what}: open without identity accepted"
    );
    check_ranges(fx, &header, m, damaged, what);
    Outcome::OpenRejected
}

/// `open_range` over the whole plaintext and over any range touching the damaged frame fails;
/// over other ranges it may succeed (random access decrypts only the frames it needs, plus the
/// final one), but then only with the original bytes.
fn check_ranges(
    fx: &Fixture,
    header: &MessageHeader<'_>,
    m: &[u8],
    damaged: Option<usize>,
    what: &str,
) {
    let len = PLAINTEXT_LEN as u64;
    let mut ranges = vec![0..len, 0..1, len - 1..len, 5..5];
    ranges.extend((0..4).map(|i| fx.plain_range(i)));
    for range in ranges {
        let r = open_range(
            &fx.key,
            header,
            m,
            range.clone(),
            Some(&fx.identity),
            AeadBackend::Ring,
        );
        let touches = match damaged {
            None => true,
            // The final frame is always verified (it authenticates the length).
            Some(3) => true,
            Some(i) => {
                let f = fx.plain_range(i);
                range == (0..len) || (f.start < range.end && range.start < f.end)
            }
        };
        match r {
            Err(_) => {}
            Ok(bytes) => {
                assert!(!touches, "{what}: open_range {range:?} accepted");
                assert_eq!(
                    bytes,
                    fx.plaintext[range.start as usize..range.end as usize],
                    "{what}: open_range {range:?} released other bytes"
                );
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    ParseRejected,
    OpenRejected,
}

#[test]
fn the_fixture_opens_on_every_path() {
    let fx = fixture();
    let h = parse_header(&fx.message, &OpenLimits::default()).unwrap();
    let m = &fx.message;
    assert_eq!(
        open(&fx.key, &h, m, Some(&fx.identity), AeadBackend::Ring).unwrap(),
        fx.plaintext
    );
    assert_eq!(stream_open(&fx, m), (fx.plaintext.clone(), true));
    for i in 0..4 {
        let r = fx.plain_range(i);
        assert_eq!(
            open_range(
                &fx.key,
                &h,
                m,
                r.clone(),
                Some(&fx.identity),
                AeadBackend::Ring
            )
            .unwrap(),
            fx.plaintext[r.start as usize..r.end as usize]
        );
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let fx = fixture();
    let mut m = fx.message.clone();
    let (mut parse, mut auth) = (0, 0);
    for pos in 0..m.len() {
        for bit in 0..8 {
            m[pos] ^= 1 << bit;
            let what = format!("bit {bit} of byte {pos} (frame {:?})", fx.frame_of(pos));
            match assert_rejected_everywhere(&fx, &m, pos, &what) {
                Outcome::ParseRejected => parse += 1,
                Outcome::OpenRejected => auth += 1,
            }
            m[pos] ^= 1 << bit;
        }
    }
    assert_eq!(m, fx.message);
    assert_eq!(parse + auth, fx.message.len() * 8);
    // Both layers were exercised: structure checks and authentication.
    assert!(parse > 0 && auth > parse, "parse {parse}, auth {auth}");
}

#[test]
fn every_truncation_is_rejected() {
    let fx = fixture();
    for cut in 0..fx.message.len() {
        let m = &fx.message[..cut];
        assert_rejected_everywhere(&fx, m, cut, &format!("truncated to {cut} bytes"));
    }
}

#[test]
fn trailing_bytes_are_rejected_and_release_no_final_frame() {
    let fx = fixture();
    for extra in [&[0u8][..], &[0xFF; 16], &fx.message[fx.header_len..]] {
        let mut m = fx.message.clone();
        m.extend_from_slice(extra);
        // The damage is past the final frame: the regular frames were fine and may be
        // released, the final frame's plaintext must not be.
        let (released, ok) = stream_open(&fx, &m);
        assert!(!ok);
        assert_eq!(released, fx.plaintext[..3 * FRAME]);
        let h = parse_header(&m, &OpenLimits::default()).unwrap();
        assert!(open(&fx.key, &h, &m, Some(&fx.identity), AeadBackend::Ring).is_err());
        let len = PLAINTEXT_LEN as u64;
        for range in [0..len, 0..1] {
            assert!(open_range(&fx.key, &h, &m, range, None, AeadBackend::Ring).is_err());
        }
    }
}

#[test]
fn swapped_and_duplicated_frames_are_rejected() {
    let fx = fixture();
    let body = |i: usize| &fx.message[fx.frames[i].clone()];
    let header = &fx.message[..fx.header_len];
    let cases: Vec<(Vec<&[u8]>, usize)> = vec![
        // (frames in order, index of the first frame that must fail)
        (vec![body(1), body(0), body(2), body(3)], 0),
        (vec![body(0), body(2), body(1), body(3)], 1),
        (vec![body(0), body(1), body(1), body(2), body(3)], 2),
        (vec![body(0), body(1), body(3)], 2),
        (vec![body(0), body(1), body(2)], 3),
    ];
    for (frames, first_bad) in cases {
        let mut m = header.to_vec();
        for f in &frames {
            m.extend_from_slice(f);
        }
        let (released, ok) = stream_open(&fx, &m);
        assert!(!ok);
        assert_eq!(released, fx.plaintext[..first_bad * FRAME]);
        let h = parse_header(&m, &OpenLimits::default()).unwrap();
        assert!(open(&fx.key, &h, &m, Some(&fx.identity), AeadBackend::Ring).is_err());
    }
}

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

#[test]
fn sealing_never_reuses_a_message_key_or_nonce() {
    // One data key (as a cached KMS key is), the same plaintext, context and identity: every
    // seal still draws a fresh message id, hence fresh derived keys; frame IVs repeat only
    // under different keys.
    let fx = fixture();
    let ec = EncryptionContext::new();
    let edks = [EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: vec![],
        ciphertext: vec![1],
    }];
    let params = SealParams {
        frame_length: FRAME as u32,
        identity: Some(&fx.identity),
        ..SealParams::new(&ec, &edks)
    };
    let mut ids = std::collections::HashSet::new();
    let mut bodies = std::collections::HashSet::new();
    let n = 2000;
    for _ in 0..n {
        let m = seal(&fx.key, &params, &fx.plaintext).unwrap();
        let h = parse_header(&m, &OpenLimits::default()).unwrap();
        ids.insert(*h.message_id());
        bodies.insert(m[h.header_len()..].to_vec());
    }
    assert_eq!(ids.len(), n, "a message id repeated");
    assert_eq!(bodies.len(), n, "a ciphertext repeated");
    // Across threads too (each has its own generator).
    let per_thread: Vec<Vec<[u8; 32]>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..250)
                        .map(|_| {
                            let m = seal(&fx.key, &params, b"x").unwrap();
                            *parse_header(&m, &OpenLimits::default())
                                .unwrap()
                                .message_id()
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for v in per_thread {
        for id in v {
            assert!(ids.insert(id), "a message id repeated across threads");
        }
    }
}

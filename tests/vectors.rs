//! Known-answer test vectors in `vectors/` (schema: `vectors/README.md`).
//!
//! - `every_vector_passes_on_both_backends` runs every file against both AES-GCM backends.
//! - `committed_vectors_match_the_generator` re-generates them in memory (fixed keys, IVs and
//!   message ids) and requires byte-identical files: the positive vectors are known answers of
//!   the seal path.
//! - Regenerate with: `cargo test --test vectors -- --ignored generate_vectors`.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::crypto::{AeadBackend, DataKey, SecretBytes};
use fragseal::error::{AuthenticationError, OpenError as Error};
use fragseal::format::{ContentType, EncryptedDataKey, FormatErrorKind, OpenLimits};
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::internal::danger::danger_seal_with_fixed_message_id_for_vectors;
use fragseal::internal::danger::{FrameSpec, MessageBuilder};
use fragseal::internal::format::body::{frame_iv, BodyKind};
use fragseal::internal::format::header::HeaderFields;
use fragseal::keyring::RawAesKeyring;
use fragseal::message::{self, OpenParams, SealParams};
use fragseal::EncryptionContext;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const FRAME: u32 = 64;
const NAMESPACE: &str = "fragseal-vectors";
const KEY_NAME: &str = "wrapping-key-1";
const STREAM_A: &str = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/camera-a/1700000000000";
const STREAM_B: &str = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/camera-b/1700000000000";
const BACKENDS: [AeadBackend; 2] = [AeadBackend::Ring, AeadBackend::RustCrypto];

fn data_key_bytes() -> [u8; 32] {
    core::array::from_fn(|i| i as u8)
}
fn wrapping_key_bytes() -> [u8; 32] {
    core::array::from_fn(|i| 0x80 + i as u8)
}
fn data_key() -> DataKey {
    DataKey::from_bytes(data_key_bytes())
}
fn keyring() -> RawAesKeyring {
    RawAesKeyring::new(
        NAMESPACE,
        KEY_NAME,
        SecretBytes::from_slice(&wrapping_key_bytes()),
    )
    .unwrap()
}
fn context() -> EncryptionContext {
    EncryptionContext::new()
        .with("aws:kinesisvideo:arn", STREAM_A)
        .with("purpose", "fragseal test vector")
}
fn plaintext(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}
fn identity(stream: &str, n: u64) -> FragmentIdentity {
    FragmentIdentity {
        stream_arn: stream.into(),
        fragment_number: n,
        producer_timestamp_ms: 1_700_000_000_500,
        track: 1,
    }
}
fn wrap(ec: &EncryptionContext, iv_byte: u8) -> EncryptedDataKey {
    keyring()
        .with_backend(AeadBackend::Ring)
        .danger_wrap_with_fixed_iv_for_vectors(&data_key(), ec, &[iv_byte; 12])
        .unwrap()
}

fn identity_json(id: &FragmentIdentity) -> Value {
    json!({
        "stream_arn": id.stream_arn,
        "fragment_number": id.fragment_number,
        "producer_timestamp_ms": id.producer_timestamp_ms,
        "track": id.track,
    })
}

struct Vector {
    name: &'static str,
    positive: bool,
    description: &'static str,
    message: Vec<u8>,
    plaintext: Option<Vec<u8>>,
    error: Option<(&'static str, &'static str)>,
    expected_identity: Option<FragmentIdentity>,
    wrapping_key: [u8; 32],
    max_edks: u16,
}

impl Vector {
    fn ok(
        name: &'static str,
        description: &'static str,
        message: Vec<u8>,
        plaintext: Vec<u8>,
    ) -> Self {
        Self {
            name,
            positive: true,
            description,
            message,
            plaintext: Some(plaintext),
            error: None,
            expected_identity: None,
            wrapping_key: wrapping_key_bytes(),
            max_edks: 10,
        }
    }
    fn err(
        name: &'static str,
        description: &'static str,
        message: Vec<u8>,
        class: &'static str,
        kind: &'static str,
    ) -> Self {
        Self {
            name,
            positive: false,
            description,
            message,
            plaintext: None,
            error: Some((class, kind)),
            expected_identity: None,
            wrapping_key: wrapping_key_bytes(),
            max_edks: 10,
        }
    }
    fn expecting(mut self, id: FragmentIdentity) -> Self {
        self.expected_identity = Some(id);
        self
    }
    fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "description": self.description,
            "format": "aws-encryption-sdk message format 2, suite 0x0478",
            "keyring": {
                "type": "raw-aes",
                "namespace": NAMESPACE,
                "name": KEY_NAME,
                "wrapping_key": hex::encode(self.wrapping_key),
            },
            "data_key": hex::encode(data_key_bytes()),
            "max_encrypted_data_keys": self.max_edks,
            "expected_identity": self.expected_identity.as_ref().map(identity_json),
            "message": hex::encode(&self.message),
        });
        match (&self.plaintext, self.error) {
            (Some(p), _) => {
                v["result"] = json!("ok");
                v["plaintext"] = json!(hex::encode(p));
            }
            (None, Some((class, kind))) => {
                v["result"] = json!("error");
                v["error_class"] = json!(class);
                v["error_kind"] = json!(kind);
            }
            _ => unreachable!(),
        }
        v
    }
}

fn seal_fixed(
    n: usize,
    id_byte: u8,
    ec: &EncryptionContext,
    identity: Option<&FragmentIdentity>,
) -> Vec<u8> {
    let edks = [wrap(ec, id_byte)];
    let params = SealParams {
        frame_length: FRAME,
        identity,
        ..SealParams::new(ec, &edks)
    };
    danger_seal_with_fixed_message_id_for_vectors(
        &data_key(),
        &params,
        &[id_byte; 16],
        &plaintext(n),
    )
    .unwrap()
}

/// Header body bytes and body of a valid message.
fn split(m: &[u8]) -> (Vec<u8>, [u8; 32], Vec<u8>) {
    let h = message::parse(m, &OpenLimits::default()).unwrap();
    (
        h.header_body_bytes().to_vec(),
        *h.message_id(),
        m[h.header_len()..].to_vec(),
    )
}

/// `m` with its header body patched by `f` and a fresh valid header tag.
fn reheader(m: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let (mut hb, id, body) = split(m);
    f(&mut hb);
    let mut b = MessageBuilder::with_header_body(&data_key(), AeadBackend::Ring, &id, &hb);
    b.bytes.extend_from_slice(&body);
    b.finish()
}

/// A builder with the valid header of a fresh message `id_byte` (so frames can be written by
/// hand with valid tags).
fn builder(
    id_byte: u8,
    ec: &EncryptionContext,
    content_type: ContentType,
    frame_length: u32,
) -> MessageBuilder {
    let edks = [wrap(ec, id_byte)];
    let id = [id_byte; 32];
    let probe = MessageBuilder::new(
        &data_key(),
        AeadBackend::Ring,
        &HeaderFields {
            suite_id: 0x0478,
            message_id: &id,
            encryption_context: ec,
            encrypted_data_keys: &edks,
            content_type,
            frame_length,
            commit_key: &[0; 32],
        },
    );
    let ck = probe.commit_key();
    MessageBuilder::new(
        &data_key(),
        AeadBackend::Ring,
        &HeaderFields {
            suite_id: 0x0478,
            message_id: &id,
            encryption_context: ec,
            encrypted_data_keys: &edks,
            content_type,
            frame_length,
            commit_key: &ck,
        },
    )
}

fn ec_offset() -> usize {
    1 + 2 + 32
}

fn generate() -> Vec<Vector> {
    let ec = context();
    let mut v = Vec::new();
    let sizes: [(&'static str, usize, &'static str); 7] = [
        ("size_0", 0, "empty plaintext: one empty final frame"),
        ("size_1", 1, "one byte: one final frame"),
        (
            "size_frame_minus_1",
            63,
            "frame length - 1: one final frame",
        ),
        (
            "size_frame",
            64,
            "exactly one frame length: one full final frame",
        ),
        (
            "size_frame_plus_1",
            65,
            "frame length + 1: one regular frame and a 1-byte final frame",
        ),
        (
            "size_several_frames",
            200,
            "three regular frames and an 8-byte final frame",
        ),
        (
            "size_exact_multiple",
            256,
            "four frame lengths: three regular frames and a full final frame",
        ),
    ];
    for (i, (name, n, d)) in sizes.into_iter().enumerate() {
        v.push(Vector::ok(
            name,
            d,
            seal_fixed(n, 0x10 + i as u8, &ec, None),
            plaintext(n),
        ));
    }
    v.push(Vector::ok(
        "empty_encryption_context",
        "empty encryption context: header AAD field 00 00, keyring AAD zero bytes",
        seal_fixed(10, 0x20, &EncryptionContext::new(), None),
        plaintext(10),
    ));
    let id = identity(STREAM_A, 42);
    v.push(
        Vector::ok(
            "identity_bound",
            "message id = random16 || MAC16 binding the expected fragment identity",
            seal_fixed(100, 0x21, &ec, Some(&id)),
            plaintext(100),
        )
        .expecting(id.clone()),
    );
    v.push(Vector::ok(
        "identity_bound_opened_without_identity",
        "an identity-bound message opens as a standard ESDK message when no identity is expected",
        seal_fixed(100, 0x21, &ec, Some(&id)),
        plaintext(100),
    ));
    let mut b = builder(0x22, &ec, ContentType::Framed, FRAME);
    b.framed_body(&plaintext(128), FRAME as usize, true);
    v.push(Vector::ok(
        "exact_multiple_empty_final_frame",
        "128 bytes as two regular frames and an empty final frame (the spec's MAY)",
        b.finish(),
        plaintext(128),
    ));
    let mut b = builder(0x23, &ec, ContentType::NonFramed, 0);
    b.frame(&FrameSpec::new(BodyKind::SingleBlock, 1, &plaintext(77)));
    v.push(Vector::ok(
        "non_framed_body",
        "content type 0x01: accepted on open (never written by fragseal)",
        b.finish(),
        plaintext(77),
    ));
    {
        // A foreign EDK first, ours second.
        let foreign = EncryptedDataKey {
            provider_id: "aws-kms".into(),
            provider_info:
                b"arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
                    .to_vec(),
            ciphertext: vec![0xAB; 40],
        };
        let edks = [foreign, wrap(&ec, 0x24)];
        let params = SealParams {
            frame_length: FRAME,
            ..SealParams::new(&ec, &edks)
        };
        let m = danger_seal_with_fixed_message_id_for_vectors(
            &data_key(),
            &params,
            &[0x24; 16],
            &plaintext(30),
        )
        .unwrap();
        v.push(Vector::ok(
            "second_edk_matches",
            "two EDKs; only the second is this raw AES keyring's",
            m,
            plaintext(30),
        ));
    }

    // ---- negative ----
    let valid = seal_fixed(200, 0x30, &ec, None);
    let hl = message::parse(&valid, &OpenLimits::default())
        .unwrap()
        .header_len();
    let rf = 4 + 12 + FRAME as usize + 16;
    let fmt = "format";
    let auth = "authentication";

    v.push(Vector::err(
        "truncated_final_frame",
        "the final frame is cut off: the body ends after the regular frames",
        valid[..hl + 3 * rf].to_vec(),
        fmt,
        "Truncated",
    ));
    v.push(Vector::err(
        "truncated_mid_frame",
        "the message ends inside the second frame",
        valid[..hl + rf + 20].to_vec(),
        fmt,
        "Truncated",
    ));
    let mut m = valid.clone();
    m[hl..hl + rf].copy_from_slice(&valid[hl + rf..hl + 2 * rf]);
    m[hl + rf..hl + 2 * rf].copy_from_slice(&valid[hl..hl + rf]);
    v.push(Vector::err(
        "frames_reordered",
        "frames 1 and 2 swapped",
        m,
        fmt,
        "SequenceNumber",
    ));
    let mut b = builder(0x31, &ec, ContentType::Framed, FRAME);
    let p = plaintext(130);
    b.frame(&FrameSpec::new(BodyKind::Regular, 1, &p[..64]));
    b.frame(&FrameSpec::new(BodyKind::Regular, 3, &p[64..128]));
    b.frame(&FrameSpec::new(BodyKind::Final, 4, &p[128..]));
    v.push(Vector::err(
        "sequence_gap",
        "sequence numbers 1, 3, 4 (each frame validly encrypted for its number)",
        b.finish(),
        fmt,
        "SequenceNumber",
    ));
    let mut b = builder(0x32, &ec, ContentType::Framed, FRAME);
    b.frame(&FrameSpec::new(BodyKind::Final, 0, &p[..10]));
    v.push(Vector::err(
        "sequence_starts_at_zero",
        "a single final frame numbered 0 (validly encrypted)",
        b.finish(),
        fmt,
        "SequenceNumber",
    ));
    let mut b = builder(0x33, &ec, ContentType::Framed, FRAME);
    let mut spec = FrameSpec::new(BodyKind::Final, 1, &p[..10]);
    spec.iv = [0x5C; 12];
    b.frame(&spec);
    v.push(Vector::err(
        "frame_iv_not_sequence_number",
        "a frame encrypted under a random IV instead of its sequence number",
        b.finish(),
        fmt,
        "InvalidIv",
    ));
    let mut b = builder(0x34, &ec, ContentType::Framed, FRAME);
    b.frame(&FrameSpec::new(BodyKind::Final, 1, &plaintext(65)));
    v.push(Vector::err(
        "final_frame_longer_than_frame_length",
        "a 65-byte final frame with frame length 64",
        b.finish(),
        fmt,
        "FinalFrameTooLong",
    ));
    let mut m = valid.clone();
    m.push(0);
    v.push(Vector::err(
        "trailing_bytes",
        "one zero byte after the final frame",
        m,
        fmt,
        "TrailingBytes",
    ));
    let mut b = builder(0x35, &ec, ContentType::Framed, FRAME);
    b.frame(&FrameSpec::new(BodyKind::Final, 1, &p[..5]));
    b.frame(&FrameSpec::new(BodyKind::Final, 2, &p[5..9]));
    v.push(Vector::err(
        "two_final_frames",
        "a second (valid) final frame after the final frame",
        b.finish(),
        fmt,
        "TrailingBytes",
    ));
    let mut b = builder(0x36, &ec, ContentType::Framed, FRAME);
    b.frame(&FrameSpec::new(BodyKind::Regular, 1, &p[..64]));
    v.push(Vector::err(
        "missing_final_frame",
        "one regular frame and no final frame",
        b.finish(),
        fmt,
        "Truncated",
    ));
    let commit_at = split(&valid).0.len() - 32;
    v.push(Vector::err(
        "wrong_commit_key",
        "commit key with one bit flipped; header tag recomputed so only the commitment fails",
        reheader(&valid, |h| h[commit_at] ^= 1),
        auth,
        "",
    ));
    let mut m = valid.clone();
    m[hl - 1] ^= 1;
    v.push(Vector::err(
        "header_tag_flipped",
        "last bit of the header tag flipped",
        m,
        auth,
        "",
    ));
    let mut m = valid.clone();
    m[hl + 4 + 12 + 5] ^= 0x40;
    v.push(Vector::err(
        "frame_content_flipped",
        "a ciphertext bit of frame 1 flipped",
        m,
        auth,
        "",
    ));
    let mut m = valid.clone();
    let last = m.len() - 1;
    m[last] ^= 1;
    v.push(Vector::err(
        "frame_tag_flipped",
        "last bit of the final frame's tag flipped",
        m,
        auth,
        "",
    ));
    let mut b = builder(0x37, &ec, ContentType::Framed, FRAME);
    let mut spec = FrameSpec::new(BodyKind::Final, 1, &p[..10]);
    spec.kind = BodyKind::Final;
    b.frame(&spec);
    let mut m = b.finish();
    // Re-encrypt as a regular-frame AAD: build with aad content of a regular frame.
    {
        let mut b = builder(0x37, &ec, ContentType::Framed, FRAME);
        b.frame(&FrameSpec::new(BodyKind::Regular, 1, &p[..10]));
        let regular = b.finish();
        let hl37 = message::parse(&regular, &OpenLimits::default())
            .unwrap()
            .header_len();
        // Final-frame layout, but ciphertext and tag computed with the regular-frame AAD.
        let ct_tag = &regular[hl37 + 16..];
        let m_hl = hl37;
        m.truncate(m_hl + 4 + 4 + 12 + 4);
        m.extend_from_slice(ct_tag);
    }
    v.push(Vector::err(
        "final_frame_with_regular_frame_aad",
        "a final frame whose tag was computed with the body AAD of a regular frame",
        m,
        auth,
        "",
    ));
    let value_at = {
        let (hb, _, _) = split(&valid);
        let needle = b"fragseal test vector";
        hb.windows(needle.len()).position(|w| w == needle).unwrap()
    };
    let mut m = valid.clone();
    m[value_at] ^= 0x20;
    v.push(Vector::err(
        "context_value_tampered",
        "one letter of an encryption context value changed (header tag not recomputed)",
        m,
        auth,
        "",
    ));
    let ec_bad = EncryptionContext::new().with("aws-crypto-public-key", "AAAA");
    v.push(Vector::err(
        "aws_crypto_ec_key",
        "encryption context key with the reserved prefix aws-crypto- (otherwise valid message)",
        seal_fixed_unchecked(20, 0x38, &ec_bad),
        fmt,
        "ReservedEncryptionContextKey",
    ));
    v.push(Vector::err(
        "ec_unsorted",
        "encryption context pairs in descending key order (valid header tag)",
        reheader(&valid, swap_pairs),
        fmt,
        "NonCanonicalEncryptionContext",
    ));
    v.push(Vector::err(
        "ec_duplicate_key",
        "the same key twice in the encryption context (valid header tag)",
        reheader(&valid, duplicate_first_key),
        fmt,
        "NonCanonicalEncryptionContext",
    ));
    v.push(Vector::err(
        "case_variant_context_key_forges_stream",
        "issue 11 #1: a producer confined by key policy to stream A adds AWS:KINESISVIDEO:ARN = A \
         (KMS matches the condition key case-insensitively) next to aws:kinesisvideo:arn = B; \
         canonical header, valid tags and an EDK wrapped under this very context",
        seal_case_variant_forgery(20, 0x61),
        fmt,
        "CaseVariantEncryptionContextKeys",
    ));
    v.push(Vector::err(
        "edk_count_zero",
        "encrypted data key count 0 (valid header tag)",
        reheader(&valid, |h| {
            let at = edk_count_offset(h);
            let end = at + 2 + edk_entry_len(&h[at + 2..]);
            h.splice(at..end, [0, 0]);
        }),
        fmt,
        "NoEncryptedDataKeys",
    ));
    v.push(Vector::err(
        "too_many_edks",
        "eleven encrypted data keys; the configured maximum is 10",
        {
            let mut edks: Vec<EncryptedDataKey> = (0..10)
                .map(|i| EncryptedDataKey {
                    provider_id: "other".into(),
                    provider_info: vec![i],
                    ciphertext: vec![i],
                })
                .collect();
            edks.push(wrap(&ec, 0x39));
            let params = SealParams {
                frame_length: FRAME,
                ..SealParams::new(&ec, &edks)
            };
            danger_seal_with_fixed_message_id_for_vectors(
                &data_key(),
                &params,
                &[0x39; 16],
                &plaintext(5),
            )
            .unwrap()
        },
        fmt,
        "TooManyEncryptedDataKeys",
    ));
    let ct_at = split(&valid).0.len() - 32 - 4 - 1;
    v.push(Vector::err(
        "frame_length_zero",
        "framed content with frame length 0 (valid header tag)",
        reheader(&valid, |h| h[ct_at + 1..ct_at + 5].copy_from_slice(&[0; 4])),
        fmt,
        "InvalidFrameLength",
    ));
    v.push(Vector::err(
        "content_type_invalid",
        "content type 0x03 (valid header tag)",
        reheader(&valid, |h| h[ct_at] = 3),
        fmt,
        "InvalidContentType",
    ));
    v.push(Vector::err(
        "signed_suite_0578",
        "suite 0x0578 without aws-crypto-public-key",
        reheader(&valid, |h| h[1..3].copy_from_slice(&[0x05, 0x78])),
        fmt,
        "MissingPublicKey",
    ));
    let mut v1 = vec![0x01, 0x80, 0x01, 0x78];
    v1.extend_from_slice(&[0x40; 16]);
    v1.extend_from_slice(&valid[ec_offset()..]);
    v.push(Vector::err(
        "non_committing_suite_v1",
        "a format-1 header with suite 0x0178 (no key commitment): rejected by default",
        v1,
        fmt,
        "NonCommittingSuite",
    ));
    v.push(Vector::err(
        "unsupported_version",
        "version byte 0x03",
        reheader(&valid, |h| h[0] = 3),
        fmt,
        "UnsupportedVersion",
    ));
    let idm = seal_fixed(100, 0x3A, &ec, Some(&identity(STREAM_A, 42)));
    v.push(
        Vector::err(
            "identity_moved_stream",
            "sealed for fragment 42 of stream A, expected in stream B",
            idm.clone(),
            auth,
            "",
        )
        .expecting(identity(STREAM_B, 42)),
    );
    v.push(
        Vector::err(
            "identity_reordered_fragment",
            "sealed as fragment 42, expected as fragment 43",
            idm.clone(),
            auth,
            "",
        )
        .expecting(identity(STREAM_A, 43)),
    );
    v.push(
        Vector::err(
            "identity_missing",
            "sealed without identity, opened expecting one",
            seal_fixed(100, 0x3B, &ec, None),
            auth,
            "",
        )
        .expecting(identity(STREAM_A, 42)),
    );
    let mut wk = Vector::err(
        "wrapped_key_wrong_wrapping_key",
        "the keyring has the right namespace and name but another wrapping key",
        valid.clone(),
        auth,
        "",
    );
    wk.wrapping_key = [0x77; 32];
    v.push(wk);
    {
        let other_ec = EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM_B);
        let edks = [wrap(&other_ec, 0x3C)];
        let params = SealParams {
            frame_length: FRAME,
            ..SealParams::new(&ec, &edks)
        };
        let m = danger_seal_with_fixed_message_id_for_vectors(
            &data_key(),
            &params,
            &[0x3C; 16],
            &plaintext(20),
        )
        .unwrap();
        v.push(Vector::err(
            "wrapped_key_wrong_context",
            "the data key was wrapped under another stream's encryption context",
            m,
            auth,
            "",
        ));
    }
    {
        let foreign = EncryptedDataKey {
            provider_id: "someone-else".into(),
            provider_info: b"key".to_vec(),
            ciphertext: vec![1; 48],
        };
        let edks = [foreign];
        let params = SealParams {
            frame_length: FRAME,
            ..SealParams::new(&ec, &edks)
        };
        let m = danger_seal_with_fixed_message_id_for_vectors(
            &data_key(),
            &params,
            &[0x3D; 16],
            &plaintext(20),
        )
        .unwrap();
        v.push(Vector::err(
            "no_matching_keyring",
            "the only EDK belongs to another key provider",
            m,
            "no_matching_key",
            "",
        ));
    }
    v
}

/// A valid message whose context holds a reserved key (seal refuses; built by hand).
fn seal_fixed_unchecked(n: usize, id_byte: u8, ec: &EncryptionContext) -> Vec<u8> {
    let mut b = builder(id_byte, ec, ContentType::Framed, FRAME);
    b.framed_body(&plaintext(n), FRAME as usize, false);
    b.finish()
}

/// The case-variant forgery, written field by field: sealing (and `HeaderFields::write`) refuse
/// such a context, so the header body is assembled here from the context's canonical
/// serialization. Everything else is valid: the EDK is wrapped under this context and the
/// commit key and tags are correct, so only the case rule refuses the message.
fn seal_case_variant_forgery(n: usize, id_byte: u8) -> Vec<u8> {
    let ec = EncryptionContext::new()
        .with("aws:kinesisvideo:arn", STREAM_B)
        .with("AWS:KINESISVIDEO:ARN", STREAM_A);
    let id = [id_byte; 32];
    let commit_key =
        MessageBuilder::with_header_body(&data_key(), AeadBackend::Ring, &id, &[]).commit_key();
    let pairs = ec.serialize().unwrap();
    let mut hb = vec![2, 0x04, 0x78];
    hb.extend_from_slice(&id);
    hb.extend_from_slice(&(pairs.len() as u16).to_be_bytes());
    hb.extend_from_slice(&pairs);
    hb.extend_from_slice(&1u16.to_be_bytes());
    wrap(&ec, id_byte).write(&mut hb).unwrap();
    hb.push(ContentType::Framed.to_u8());
    hb.extend_from_slice(&FRAME.to_be_bytes());
    hb.extend_from_slice(&commit_key);
    let mut b = MessageBuilder::with_header_body(&data_key(), AeadBackend::Ring, &id, &hb);
    b.framed_body(&plaintext(n), FRAME as usize, false);
    b.finish()
}

fn edk_count_offset(h: &[u8]) -> usize {
    let at = ec_offset();
    let len = u16::from_be_bytes([h[at], h[at + 1]]) as usize;
    at + 2 + len
}

fn edk_entry_len(e: &[u8]) -> usize {
    let mut at = 0;
    for _ in 0..3 {
        let l = u16::from_be_bytes([e[at], e[at + 1]]) as usize;
        at += 2 + l;
    }
    at
}

/// Pairs of the header's context (which has exactly two).
fn pairs(h: &[u8]) -> (usize, Vec<Vec<u8>>) {
    let start = ec_offset() + 2 + 2;
    let mut at = start;
    let mut out = Vec::new();
    for _ in 0..2 {
        let p0 = at;
        for _ in 0..2 {
            let l = u16::from_be_bytes([h[at], h[at + 1]]) as usize;
            at += 2 + l;
        }
        out.push(h[p0..at].to_vec());
    }
    (start, out)
}

fn swap_pairs(h: &mut Vec<u8>) {
    let (start, p) = pairs(h);
    let swapped = [p[1].clone(), p[0].clone()].concat();
    h.splice(start..start + swapped.len(), swapped);
}

fn duplicate_first_key(h: &mut Vec<u8>) {
    // Replace the second key by a copy of the first, keeping the field length: both keys have
    // different lengths, so rebuild the whole AAD field.
    let (start, p) = pairs(h);
    let old_len = p[0].len() + p[1].len();
    let klen = u16::from_be_bytes([p[0][0], p[0][1]]) as usize;
    let key = &p[0][..2 + klen];
    let second_value = {
        let k2 = u16::from_be_bytes([p[1][0], p[1][1]]) as usize;
        p[1][2 + k2..].to_vec()
    };
    let new_pairs = [p[0].clone(), key.to_vec(), second_value].concat();
    h.splice(start..start + old_len, new_pairs.clone());
    let field_len = (2 + new_pairs.len()) as u16;
    let at = ec_offset();
    h[at..at + 2].copy_from_slice(&field_len.to_be_bytes());
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn path_of(v: &Vector) -> PathBuf {
    vectors_dir()
        .join(if v.positive { "positive" } else { "negative" })
        .join(format!("{}.json", v.name))
}

fn render(v: &Vector) -> String {
    let mut s = serde_json::to_string_pretty(&v.to_json()).unwrap();
    s.push('\n');
    s
}

#[test]
#[ignore = "writes vectors/; run explicitly to regenerate"]
fn generate_vectors() {
    for v in generate() {
        let p = path_of(&v);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, render(&v)).unwrap();
    }
}

#[test]
fn committed_vectors_match_the_generator() {
    let generated = generate();
    assert!(generated.len() >= 40);
    for v in &generated {
        let on_disk = std::fs::read_to_string(path_of(v))
            .unwrap_or_else(|e| panic!("{}: {e}; regenerate the vectors", v.name));
        assert!(
            on_disk == render(v),
            "{} differs from the generator",
            v.name
        );
    }
}

fn kind_name(k: &FormatErrorKind) -> String {
    format!("{k:?}")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

fn parse_identity(v: &Value) -> Option<FragmentIdentity> {
    if v.is_null() {
        return None;
    }
    Some(FragmentIdentity {
        stream_arn: v["stream_arn"].as_str().unwrap().to_owned(),
        fragment_number: v["fragment_number"].as_u64().unwrap(),
        producer_timestamp_ms: v["producer_timestamp_ms"].as_u64().unwrap(),
        track: v["track"].as_u64().unwrap(),
    })
}

/// Opens a vector exactly as another implementation would: parse, unwrap with the raw AES
/// keyring, open with the expected identity.
fn run(v: &Value, backend: AeadBackend) -> Result<Vec<u8>, Error> {
    let kr = &v["keyring"];
    let keyring = RawAesKeyring::new(
        kr["namespace"].as_str().unwrap(),
        kr["name"].as_str().unwrap(),
        SecretBytes::new(hex::decode(kr["wrapping_key"].as_str().unwrap()).unwrap()),
    )
    .unwrap();
    let message = hex::decode(v["message"].as_str().unwrap()).unwrap();
    let limits = OpenLimits::default()
        .with_max_encrypted_data_keys(v["max_encrypted_data_keys"].as_u64().unwrap() as u16);
    let expected = parse_identity(&v["expected_identity"]);
    let keyring = keyring.with_backend(backend);
    let header = message::parse(&message, &limits)?;
    // The first of the keyring's EDKs that decrypts; none of its own is "no matching key",
    // its own that do not decrypt are an authentication failure.
    let mut mine = false;
    let mut dk = None;
    for edk in header.encrypted_data_keys() {
        match keyring.unwrap_key(edk, header.encryption_context()) {
            Some(Ok(k)) => {
                dk = Some(k);
                break;
            }
            Some(Err(_)) => mine = true,
            None => {}
        }
    }
    let dk = match dk {
        Some(k) => k,
        None if mine => return Err(Error::Authentication(AuthenticationError)),
        None => return Err(Error::NoTrustedKey),
    };
    assert_eq!(
        dk.expose_secret().as_slice(),
        hex::decode(v["data_key"].as_str().unwrap()).unwrap()
    );
    let check = expected.map_or(IdentityCheck::Skip, IdentityCheck::Expect);
    let params = OpenParams::new(&check).with_backend(backend);
    let out = header.open(&dk, &params)?;
    // The range and streaming paths agree with the one-shot path.
    let len = out.len() as u64;
    let part = header.open_range(&dk, &params, len / 2..len)?;
    assert_eq!(part, out[out.len() / 2..]);
    Ok(out)
}

#[test]
fn every_vector_passes_on_both_backends() {
    let mut count = 0;
    for dir in ["positive", "negative"] {
        let mut entries: Vec<_> = std::fs::read_dir(vectors_dir().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        entries.sort();
        for path in entries {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for backend in BACKENDS {
                let name = format!("{} ({backend:?})", path.display());
                let r = run(&v, backend);
                match v["result"].as_str().unwrap() {
                    "ok" => {
                        let want = hex::decode(v["plaintext"].as_str().unwrap()).unwrap();
                        assert_eq!(r.unwrap_or_else(|e| panic!("{name}: {e}")), want, "{name}");
                    }
                    "error" => {
                        let class = v["error_class"].as_str().unwrap();
                        let kind = v["error_kind"].as_str().unwrap();
                        match (&r, class) {
                            (Err(Error::Format(e)), "format") => {
                                assert_eq!(kind_name(&e.kind), kind, "{name}: {e}")
                            }
                            (Err(Error::Authentication(_)), "authentication") => {}
                            (Err(Error::NoTrustedKey), "no_matching_key") => {}
                            _ => panic!("{name}: expected {class}/{kind}, got {r:?}"),
                        }
                    }
                    other => panic!("{name}: unknown result {other}"),
                }
            }
            count += 1;
        }
    }
    assert!(count >= 40, "only {count} vectors found");
    let _ = frame_iv(1);
}

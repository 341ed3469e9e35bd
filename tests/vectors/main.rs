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

mod generator;
mod runner;

const FRAME: u32 = 64;
const NAMESPACE: &str = "fragseal-vectors";
const KEY_NAME: &str = "wrapping-key-1";
const STREAM_A: &str = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/camera-a/1700000000000";
const STREAM_B: &str = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/camera-b/1700000000000";

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

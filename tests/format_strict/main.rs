//! `open` is strict: one test per rule of DESIGN.md's "open is strict" list and SPEC.md.
//!
//! Every malformed message here is otherwise valid — built with correct tags by
//! `message::danger::MessageBuilder` — so each test isolates the one rule it names.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::crypto::{AeadBackend, DataKey};
use fragseal::error::OpenError as Error;
use fragseal::format::{ContentType, ContextError, EncryptedDataKey, Field, FormatErrorKind};
use fragseal::identity::IdentityCheck;
use fragseal::internal::danger::{FrameSpec, MessageBuilder};
use fragseal::internal::format::body::{frame_iv, BodyKind};
use fragseal::internal::format::header::HeaderFields;
use fragseal::message::{
    self, seal, OpenLimits, OpenParams, ParsedMessage, SealParams, SealedStream,
};
use fragseal::EncryptionContext;

mod authentication;
mod framing;
mod header_fields;

fn parse_header<'a>(m: &'a [u8], limits: &OpenLimits) -> Result<ParsedMessage<'a>, Error> {
    message::parse(m, limits)
}

/// The identity is never checked here (`None` in every call).
fn skip(_: Option<()>, backend: AeadBackend) -> OpenParams<'static> {
    OpenParams::new(&IdentityCheck::Skip).with_backend(backend)
}

fn open(
    dk: &fragseal::crypto::DataKey,
    h: &ParsedMessage<'_>,
    m: &[u8],
    id: Option<()>,
    backend: AeadBackend,
) -> Result<Vec<u8>, Error> {
    assert_eq!(h.bytes(), m, "parsed from this message");
    h.open(dk, &skip(id, backend))
}

use std::io::Read;

const ID: [u8; 32] = [0x11; 32];
const FL: u32 = 16;

fn dk() -> DataKey {
    DataKey::from_bytes([0x42; 32])
}

fn edk() -> EncryptedDataKey {
    EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: b"i".to_vec(),
        ciphertext: b"c".to_vec(),
    }
}

/// A builder whose header is valid for `ec`, `edks`, framed, frame length FL, correct commit
/// key (unless `commit` overrides it).
fn builder_with(
    ec: &EncryptionContext,
    edks: &[EncryptedDataKey],
    content_type: ContentType,
    frame_length: u32,
    commit: Option<[u8; 32]>,
) -> MessageBuilder {
    // First derive the real commit key with a throw-away builder.
    let probe = MessageBuilder::new(
        &dk(),
        AeadBackend::Ring,
        &fields(ec, edks, content_type, frame_length, &[0; 32]),
    );
    let ck = commit.unwrap_or(probe.commit_key());
    MessageBuilder::new(
        &dk(),
        AeadBackend::Ring,
        &fields(ec, edks, content_type, frame_length, &ck),
    )
}

fn fields<'a>(
    ec: &'a EncryptionContext,
    edks: &'a [EncryptedDataKey],
    content_type: ContentType,
    frame_length: u32,
    commit: &'a [u8; 32],
) -> HeaderFields<'a> {
    HeaderFields {
        suite_id: 0x0478,
        message_id: &ID,
        encryption_context: ec,
        encrypted_data_keys: edks,
        content_type,
        frame_length,
        commit_key: commit,
    }
}

fn builder() -> MessageBuilder {
    builder_with(
        &EncryptionContext::new(),
        &[edk()],
        ContentType::Framed,
        FL,
        None,
    )
}

fn try_open(m: &[u8]) -> Result<Vec<u8>, Error> {
    try_open_limits(m, &OpenLimits::default())
}

fn try_open_limits(m: &[u8], limits: &OpenLimits) -> Result<Vec<u8>, Error> {
    let h = parse_header(m, limits)?;
    let one_shot = open(&dk(), &h, m, None, AeadBackend::Ring);
    // The streaming path must agree on success or failure.
    let streamed = SealedStream::new(m, limits)
        .and_then(|s| s.open(&dk(), &skip(None, AeadBackend::Ring)))
        .and_then(|mut r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map_err(Error::Io).map(|_| v)
        });
    assert_eq!(
        one_shot.is_ok(),
        streamed.is_ok(),
        "{one_shot:?} vs {streamed:?}"
    );
    if let (Ok(a), Ok(b)) = (&one_shot, &streamed) {
        assert_eq!(a, b);
    }
    one_shot
}

fn format_kind(r: Result<Vec<u8>, Error>) -> (Field, FormatErrorKind) {
    match r {
        Err(Error::Format(e)) => (e.field, e.kind),
        other => panic!("expected a format error, got {other:?}"),
    }
}

fn valid(plaintext: &[u8]) -> Vec<u8> {
    let mut b = builder();
    b.framed_body(plaintext, FL as usize, false);
    b.finish()
}

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

mod damaged_messages;
mod message_keys;
mod multi_key_messages;

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

//! DANGER — building deliberately malformed or unusual messages, for test vectors and
//! strictness tests only. Nothing here checks anything: it writes whatever it is told, with
//! valid tags, so that a test can isolate exactly one broken property. Never use it to seal
//! real data (it takes the message id from the caller).

use crate::crypto::aead::{AeadBackend, IV_LEN};
use crate::crypto::kdf::{derive_message_keys, MessageKeys, MESSAGE_ID_LEN};
use crate::crypto::sign::{SignError, SigningKey};
use crate::crypto::DataKey;
use crate::format::body::{frame_iv, BodyAad, BodyKind, FINAL_FRAME_MARKER};
use crate::format::header::{HeaderFields, HEADER_IV};

/// One frame, described field by field.
#[derive(Clone, Debug)]
pub struct FrameSpec<'a> {
    /// Regular, final or single block (non-framed).
    pub kind: BodyKind,
    /// Sequence number written in the frame (ignored for a single block).
    pub seq: u32,
    /// IV written and used.
    pub iv: [u8; IV_LEN],
    /// Sequence number put in the body AAD.
    pub aad_seq: u32,
    /// Content length written (final frame: u32; single block: u64); default the real one.
    pub declared_len: Option<u64>,
    /// Plaintext.
    pub plaintext: &'a [u8],
}

impl<'a> FrameSpec<'a> {
    /// A correct frame of kind `kind` with sequence number `seq`.
    pub fn new(kind: BodyKind, seq: u32, plaintext: &'a [u8]) -> Self {
        Self {
            kind,
            seq,
            iv: frame_iv(seq),
            aad_seq: seq,
            declared_len: None,
            plaintext,
        }
    }
}

/// Writes a message piece by piece with valid tags.
pub struct MessageBuilder {
    keys: MessageKeys,
    message_id: [u8; MESSAGE_ID_LEN],
    /// The bytes written so far.
    pub bytes: Vec<u8>,
}

impl MessageBuilder {
    /// Starts with a header body written from `fields`, then its valid tag.
    pub fn new(data_key: &DataKey, backend: AeadBackend, fields: &HeaderFields<'_>) -> Self {
        let mut body = Vec::new();
        // The writer fails only for unrepresentable sizes; tests do not use those.
        let _ = fields.write(&mut body);
        Self::with_header_body_for_suite(
            data_key,
            backend,
            fields.suite_id,
            fields.message_id,
            &body,
        )
    }

    /// As [`Self::with_header_body`], deriving the message keys for suite `suite_id` (for
    /// example `0x0578`) instead of `0x0478`.
    pub fn with_header_body_for_suite(
        data_key: &DataKey,
        backend: AeadBackend,
        suite_id: u16,
        message_id: &[u8; MESSAGE_ID_LEN],
        header_body: &[u8],
    ) -> Self {
        let keys = derive_message_keys(backend, data_key, suite_id, message_id);
        let tag = keys
            .encryption_key
            .seal_in_place_detached(&HEADER_IV, header_body, &mut []);
        let mut bytes = header_body.to_vec();
        bytes.extend_from_slice(&tag);
        Self {
            keys,
            message_id: *message_id,
            bytes,
        }
    }

    /// Appends a footer holding `signature` as it is (its u16 length, then the bytes).
    pub fn footer(&mut self, signature: &[u8]) -> &mut Self {
        let len = u16::try_from(signature.len()).unwrap_or(u16::MAX);
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(signature);
        self
    }

    /// Signs what is written so far (header and body) with `signer` and appends the footer.
    ///
    /// # Errors
    /// As [`SigningKey::sign`].
    pub fn sign(&mut self, signer: &SigningKey) -> Result<&mut Self, SignError> {
        let signature = signer.sign(&self.bytes)?;
        Ok(self.footer(&signature))
    }

    /// Starts with arbitrary header body bytes (derivation uses suite `0x0478` and
    /// `message_id`), then their valid tag.
    pub fn with_header_body(
        data_key: &DataKey,
        backend: AeadBackend,
        message_id: &[u8; MESSAGE_ID_LEN],
        header_body: &[u8],
    ) -> Self {
        Self::with_header_body_for_suite(
            data_key,
            backend,
            crate::message::SUITE_ID,
            message_id,
            header_body,
        )
    }

    /// The commit key derived for this message.
    pub fn commit_key(&self) -> [u8; 32] {
        *self.keys.commit_key.as_bytes()
    }

    /// Appends one frame as described.
    pub fn frame(&mut self, spec: &FrameSpec<'_>) -> &mut Self {
        let len = spec.plaintext.len() as u64;
        let declared = spec.declared_len.unwrap_or(len);
        match spec.kind {
            BodyKind::Final => {
                self.bytes
                    .extend_from_slice(&FINAL_FRAME_MARKER.to_be_bytes());
                self.bytes.extend_from_slice(&spec.seq.to_be_bytes());
                self.bytes.extend_from_slice(&spec.iv);
                self.bytes
                    .extend_from_slice(&(declared as u32).to_be_bytes());
            }
            BodyKind::Regular => {
                self.bytes.extend_from_slice(&spec.seq.to_be_bytes());
                self.bytes.extend_from_slice(&spec.iv);
            }
            BodyKind::SingleBlock => {
                self.bytes.extend_from_slice(&spec.iv);
                self.bytes.extend_from_slice(&declared.to_be_bytes());
            }
        }
        let at = self.bytes.len();
        self.bytes.extend_from_slice(spec.plaintext);
        let mut aad = BodyAad::new(&self.message_id);
        let tag = self.keys.encryption_key.seal_in_place_detached(
            &spec.iv,
            aad.get(spec.kind, spec.aad_seq, len),
            self.bytes.get_mut(at..).unwrap_or(&mut []),
        );
        self.bytes.extend_from_slice(&tag);
        self
    }

    /// Appends a correct framed body for `plaintext` cut into frames of `frame_length`, ending
    /// with an *empty* final frame when `empty_final` is set (valid per the spec when the
    /// plaintext is a multiple of the frame length), else the usual layout.
    pub fn framed_body(
        &mut self,
        plaintext: &[u8],
        frame_length: usize,
        empty_final: bool,
    ) -> &mut Self {
        let mut seq = 1u32;
        let mut rest = plaintext;
        loop {
            let take_regular = if empty_final {
                rest.len() >= frame_length && frame_length > 0
            } else {
                rest.len() > frame_length
            };
            if !take_regular {
                break;
            }
            let (chunk, tail) = rest.split_at(frame_length);
            self.frame(&FrameSpec::new(BodyKind::Regular, seq, chunk));
            rest = tail;
            seq += 1;
        }
        self.frame(&FrameSpec::new(BodyKind::Final, seq, rest))
    }

    /// The message.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

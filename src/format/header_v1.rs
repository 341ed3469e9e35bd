//! The message header, format version 1 (`data-format/message-header.md`, "Header Body
//! Version 1.0", "Header Authentication Version 1.0"): the header of the nine non-committing
//! suites written by ESDK 1.x (and by later ESDKs under `ForbidEncryptAllowDecrypt`). fragseal
//! parses it only when [`OpenLimits::allow_non_committing`] is set (the commitment policy
//! `RequireEncryptAllowDecrypt`), and never writes it.
//!
//! ```text
//! version 0x01 | type 0x80 | suite u16 | message id [16] | AAD (u16 len ‖ pairs) |
//! EDK count u16 ‖ EDKs | content type u8 | reserved 00 00 00 00 | IV length u8 (12) |
//! frame length u32 | header IV [12] | header auth tag [16]
//! ```
//! The header auth tag is AES-GCM under the derived data key (the suite's key length, see
//! `crate::crypto::legacy`), with the header IV as received (decrypt.md: "the IV MUST be the
//! value serialized in the message header's IV field"), empty plaintext, AAD = the header body
//! bytes exactly as received followed by the serialized supplied context, if any.

use super::context::EncryptionContext;
use super::error::{Field, FormatError, FormatErrorKind};
use super::header::{HeaderBody, MessageHeader, OpenLimits, HEADER_TAG_LEN};
use super::header_common::{
    check_reserved_keys, read_content_type, read_encrypted_data_keys, read_frame_length,
    signer_key_of,
};
use super::reader::Reader;
use super::suite::{AlgorithmSuite, IV_LEN};
use crate::crypto::kdf::{COMMIT_KEY_LEN, MESSAGE_ID_LEN};

/// Message format version 1.
pub const VERSION_1: u8 = 0x01;
/// The only message type: "customer authenticated encrypted data".
pub const MESSAGE_TYPE: u8 = 0x80;
/// Length of a format version 1 message id.
pub const MESSAGE_ID_LEN_V1: usize = 16;
/// Offset of the encryption context field in a format version 1 header.
const EC_OFFSET_V1: usize = 1 + 1 + 2 + MESSAGE_ID_LEN_V1;

/// What a format version 1 header has that version 2 has not (or not the same length).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyFields {
    /// The 16-byte message id.
    pub message_id: [u8; MESSAGE_ID_LEN_V1],
    /// The header authentication IV, as received.
    pub header_iv: [u8; IV_LEN],
}

/// Parses a format version 1 header at the start of `message` (the caller has seen the
/// version byte `01` and allows non-committing suites; the policy is checked again here).
///
/// Spec (message-header.md): "The value of the `Version` field MUST be `01` in the Version 1.0
/// header body"; type `80`; Reserved "MUST have the value (hex) of `00 00 00 00`"; IV Length
/// "MUST be equal to the IV length value of the algorithm suite"; the header authentication is
/// the IV ("Determined by the IV length value of the algorithm suite") and the tag. Every
/// version 1 suite is non-committing: a committing suite id here is
/// [`FormatErrorKind::UnsupportedSuite`]. The other fields follow the version 2 rules
/// (`super::header_common`).
///
/// # Errors
/// A [`FormatError`] naming the field and offset.
pub fn parse(message: &[u8], limits: &OpenLimits) -> Result<MessageHeader, FormatError> {
    let mut r = Reader::new(message);
    let version_at = r.offset();
    let version = r.u8(Field::Version)?;
    if version != VERSION_1 {
        return Err(Reader::error_at(
            version_at,
            Field::Version,
            FormatErrorKind::UnsupportedVersion(version),
        ));
    }
    let type_at = r.offset();
    let message_type = r.u8(Field::MessageType)?;
    if message_type != MESSAGE_TYPE {
        return Err(Reader::error_at(
            type_at,
            Field::MessageType,
            FormatErrorKind::InvalidMessageType(message_type),
        ));
    }
    let suite_at = r.offset();
    let suite_id = r.u16(Field::AlgorithmSuite)?;
    let suite = match AlgorithmSuite::from_id(suite_id) {
        Some(s) if !s.is_committing() => s,
        _ => {
            return Err(Reader::error_at(
                suite_at,
                Field::AlgorithmSuite,
                FormatErrorKind::UnsupportedSuite(suite_id),
            ))
        }
    };
    if !limits.allow_non_committing {
        return Err(Reader::error_at(
            suite_at,
            Field::AlgorithmSuite,
            FormatErrorKind::NonCommittingSuite(suite_id),
        ));
    }
    let id = *r.array::<MESSAGE_ID_LEN_V1>(Field::MessageId)?;
    let ec_at = r.offset();
    let encryption_context = EncryptionContext::read_header_field(&mut r)?;
    check_reserved_keys(&encryption_context, suite, ec_at)?;
    let encrypted_data_keys = read_encrypted_data_keys(&mut r, limits)?;
    let content_type = read_content_type(&mut r)?;
    let reserved_at = r.offset();
    if *r.array::<4>(Field::Reserved)? != [0; 4] {
        return Err(Reader::error_at(
            reserved_at,
            Field::Reserved,
            FormatErrorKind::NonZeroReserved,
        ));
    }
    let iv_len_at = r.offset();
    let iv_len = r.u8(Field::IvLength)?;
    if usize::from(iv_len) != suite.iv_len() {
        return Err(Reader::error_at(
            iv_len_at,
            Field::IvLength,
            FormatErrorKind::InvalidIvLength(iv_len),
        ));
    }
    let frame_length = read_frame_length(&mut r, content_type, limits)?;
    let body_len = r.consumed();
    let header_iv = *r.array::<IV_LEN>(Field::HeaderIv)?;
    let auth_tag = *r.array::<HEADER_TAG_LEN>(Field::HeaderAuthTag)?;
    let raw = r.consumed_bytes().to_vec();
    let signer_key = signer_key_of(&encryption_context, suite, EC_OFFSET_V1)?;
    let mut message_id = [0u8; MESSAGE_ID_LEN];
    if let Some(head) = message_id.get_mut(..MESSAGE_ID_LEN_V1) {
        head.copy_from_slice(&id);
    }
    Ok(MessageHeader {
        body: HeaderBody {
            suite_id,
            message_id,
            encryption_context,
            encrypted_data_keys,
            content_type,
            frame_length,
            commit_key: [0; COMMIT_KEY_LEN],
        },
        suite,
        auth_tag,
        raw,
        body_len,
        signer_key,
        legacy: Some(LegacyFields {
            message_id: id,
            header_iv,
        }),
    })
}

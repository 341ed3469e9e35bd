//! The message header, format version 2 (`data-format/message-header.md`), as fragseal writes
//! and strictly accepts it: suites `0x0478` and `0x0578` (the committing suites).
//!
//! ```text
//! version 0x02 | suite u16 | message id [32] | AAD (u16 len ‖ pairs) | EDK count u16 ‖ EDKs |
//! content type u8 | frame length u32 | commit key [32] | header auth tag [16]
//! ```
//! The header auth tag is AES-256-GCM under the derived message key, IV of twelve zero bytes,
//! empty plaintext, AAD = the header body bytes exactly as received, followed by the
//! serialized context the opener supplies ("required encryption context"), if any.
//!
//! Suite `0x0578` signs the message: its encryption context must hold the signer's public key
//! under `aws-crypto-public-key` (the only `aws-crypto-` key accepted), decoded and checked
//! here ([`MessageHeader::signer_public_key`]); the footer follows the body
//! (`super::footer`). The suites themselves are described in `super::suite`.
//!
//! Format version 1 (the nine non-committing suites, opened only when
//! [`OpenLimits::allow_non_committing`] is set, never written) is parsed by `super::header_v1`
//! into the same [`MessageHeader`]; the fields both versions share are read by
//! `super::header_common`.

use super::context::EncryptionContext;
use super::edk::EncryptedDataKey;
use super::error::{Field, FormatError, FormatErrorKind};
use super::header_common::{
    check_reserved_keys, read_content_type, read_encrypted_data_keys, read_frame_length,
    signer_key_of,
};
use super::header_v1::LegacyFields;
use super::reader::Reader;
use super::suite::AlgorithmSuite;
use crate::crypto::kdf::{COMMIT_KEY_LEN, MESSAGE_ID_LEN};
use crate::crypto::verify::SignerPublicKey;

internal_pub! {
    /// Message format version 2.
    const FORMAT_VERSION: u8 = 0x02;
}
/// AES-256-GCM, HKDF-SHA512 key derivation, key commitment, no signature: the suite fragseal
/// seals with by default (see [`AlgorithmSuite`] for all of them).
pub const SUITE_ID: u16 = 0x0478;
internal_pub! {
    /// Length of the header authentication tag.
    const HEADER_TAG_LEN: usize = 16;
}
internal_pub! {
    /// The IV of the header authentication tag in format version 2: all zero.
    const HEADER_IV: [u8; 12] = [0; 12];
}
internal_pub! {
    /// Default [`OpenLimits::max_encrypted_data_keys`].
    const DEFAULT_MAX_ENCRYPTED_DATA_KEYS: u16 = 10;
}
internal_pub! {
    /// Default [`OpenLimits::max_frame_length`]: 64 MiB, far above any media frame length, and a
    /// bound on what the streaming reader buffers.
    const DEFAULT_MAX_FRAME_LENGTH: u32 = 64 << 20;
}

/// The body's content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `0x01`: one AES-GCM block for the whole plaintext (accepted on open, never written).
    NonFramed,
    /// `0x02`: frames of `frame_length` bytes and a final frame.
    Framed,
}

impl ContentType {
    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            ContentType::NonFramed => 0x01,
            ContentType::Framed => 0x02,
        }
    }
}

/// Limits and policy applied when parsing a message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenLimits {
    /// Most encrypted data keys accepted in one header (default 10). A message with more is
    /// rejected as soon as the count is read, before any entry is parsed.
    pub max_encrypted_data_keys: u16,
    /// Largest frame length accepted (default 64 MiB).
    pub max_frame_length: u32,
    /// Whether headers of the non-committing suites (message format version 1) are parsed.
    /// Default `false`: they are refused with [`FormatErrorKind::NonCommittingSuite`] as soon
    /// as the suite id is read (which `message::parse` reports as
    /// [`crate::OpenError::CommitmentPolicy`]). Set it with [`Self::with_commitment_policy`];
    /// opening such a message also needs [`crate::message::OpenParams::commitment_policy`] to
    /// allow it.
    pub allow_non_committing: bool,
}

impl Default for OpenLimits {
    fn default() -> Self {
        Self {
            max_encrypted_data_keys: DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            allow_non_committing: false,
        }
    }
}

impl OpenLimits {
    /// The defaults with another maximum number of encrypted data keys.
    pub fn with_max_encrypted_data_keys(mut self, max: u16) -> Self {
        self.max_encrypted_data_keys = max;
        self
    }

    /// With [`Self::allow_non_committing`] as `policy` says.
    pub fn with_commitment_policy(mut self, policy: super::suite::CommitmentPolicy) -> Self {
        self.allow_non_committing = policy.allows_non_committing();
        self
    }

    /// The defaults with another maximum frame length.
    pub fn with_max_frame_length(mut self, max: u32) -> Self {
        self.max_frame_length = max;
        self
    }
}

/// The header body: every field before the header authentication tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderBody {
    /// Algorithm suite id (`0x0478` or `0x0578` once parsed).
    pub suite_id: u16,
    /// The 32-byte message id.
    pub message_id: [u8; MESSAGE_ID_LEN],
    /// The encryption context.
    pub encryption_context: EncryptionContext,
    /// The encrypted data keys (at least one).
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// Framed or non-framed body.
    pub content_type: ContentType,
    /// Frame length (0 for non-framed bodies).
    pub frame_length: u32,
    /// The commit key (algorithm suite data of suite `0x0478`).
    pub commit_key: [u8; COMMIT_KEY_LEN],
}

/// Why a header body cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The encryption context serializes to more than 65535 bytes (or has an over-long entry).
    EncryptionContextTooLarge,
    /// Two encryption context keys differ only in ASCII case (see
    /// [`EncryptionContext::validate`]); such a context is never written.
    CaseVariantEncryptionContextKeys,
    /// No encrypted data keys, or more than 65535.
    EncryptedDataKeyCount,
    /// An encrypted data key field is longer than 65535 bytes.
    EncryptedDataKeyTooLarge,
}

impl core::fmt::Display for WriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            WriteError::EncryptionContextTooLarge => {
                "encryption context too large to serialize (65535 bytes at most)"
            }
            WriteError::CaseVariantEncryptionContextKeys => {
                "two encryption context keys differ only in ASCII case"
            }
            WriteError::EncryptedDataKeyCount => "between 1 and 65535 encrypted data keys needed",
            WriteError::EncryptedDataKeyTooLarge => {
                "an encrypted data key field is longer than 65535 bytes"
            }
        })
    }
}

/// The header body's fields, borrowed: what sealing writes without cloning the context or
/// the encrypted data keys.
#[derive(Clone, Copy, Debug)]
pub struct HeaderFields<'a> {
    /// Algorithm suite id.
    pub suite_id: u16,
    /// The 32-byte message id.
    pub message_id: &'a [u8; MESSAGE_ID_LEN],
    /// The encryption context.
    pub encryption_context: &'a EncryptionContext,
    /// The encrypted data keys.
    pub encrypted_data_keys: &'a [EncryptedDataKey],
    /// Content type.
    pub content_type: ContentType,
    /// Frame length.
    pub frame_length: u32,
    /// The commit key.
    pub commit_key: &'a [u8; COMMIT_KEY_LEN],
}

impl HeaderFields<'_> {
    internal_pub! {
        /// Serialized length of the header body (without the tag).
        ///
        /// # Errors
        /// As [`HeaderFields::write`].
        fn serialized_len(&self) -> Result<usize, WriteError> {
            if self.encryption_context.case_variant_keys().is_some() {
                return Err(WriteError::CaseVariantEncryptionContextKeys);
            }
            let ec = self
                .encryption_context
                .serialized_len()
                .ok_or(WriteError::EncryptionContextTooLarge)?;
            if self.encrypted_data_keys.is_empty()
                || self.encrypted_data_keys.len() > usize::from(u16::MAX)
            {
                return Err(WriteError::EncryptedDataKeyCount);
            }
            let mut edks = 2usize;
            for edk in self.encrypted_data_keys {
                edks += edk
                    .serialized_len()
                    .ok_or(WriteError::EncryptedDataKeyTooLarge)?;
            }
            Ok(1 + 2 + MESSAGE_ID_LEN + 2 + ec + edks + 1 + 4 + COMMIT_KEY_LEN)
        }
    }

    internal_pub! {
        /// Appends the header body (the writer side of `HeaderBody::read`). On error `out` is
        /// unchanged.
        ///
        /// # Errors
        /// A [`WriteError`] when a field cannot be represented.
        fn write(&self, out: &mut Vec<u8>) -> Result<(), WriteError> {
            self.serialized_len()?;
            let start = out.len();
            out.push(FORMAT_VERSION);
            out.extend_from_slice(&self.suite_id.to_be_bytes());
            out.extend_from_slice(self.message_id);
            if self.encryption_context.write_header_field(out).is_none() {
                out.truncate(start);
                return Err(WriteError::EncryptionContextTooLarge);
            }
            let count = u16::try_from(self.encrypted_data_keys.len()).unwrap_or(0);
            out.extend_from_slice(&count.to_be_bytes());
            for edk in self.encrypted_data_keys {
                if edk.write(out).is_none() {
                    out.truncate(start);
                    return Err(WriteError::EncryptedDataKeyTooLarge);
                }
            }
            out.push(self.content_type.to_u8());
            out.extend_from_slice(&self.frame_length.to_be_bytes());
            out.extend_from_slice(self.commit_key);
            Ok(())
        }
    }
}

impl HeaderBody {
    internal_pub! {
        /// The fields, borrowed.
        fn fields(&self) -> HeaderFields<'_> {
            HeaderFields {
                suite_id: self.suite_id,
                message_id: &self.message_id,
                encryption_context: &self.encryption_context,
                encrypted_data_keys: &self.encrypted_data_keys,
                content_type: self.content_type,
                frame_length: self.frame_length,
                commit_key: &self.commit_key,
            }
        }
    }

    internal_pub! {
        /// Serialized length of the header body (without the tag).
        ///
        /// # Errors
        /// As [`HeaderFields::write`].
        fn serialized_len(&self) -> Result<usize, WriteError> {
            self.fields().serialized_len()
        }
    }

    /// Appends the header body. The inverse of `HeaderBody::read`. On error `out` is
    /// unchanged.
    ///
    /// # Errors
    /// A [`WriteError`] when a field cannot be represented.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WriteError> {
        self.fields().write(out)
    }

    internal_pub! {
        /// Parses and validates a header body.
        ///
        /// Spec (message-header.md, "Header Body Version 2.0"): "Version | 1; Algorithm Suite ID |
        /// 2; Message ID | 32; AAD | Variable. Self-describing; Encrypted Data Keys | Variable;
        /// Content Type | 1; Frame Length | 4 | UInt32; Algorithm Suite Data | Variable. Determined
        /// by the Algorithm Suite ID". "The value of the `Version` field MUST be `02` in the Version
        /// 2.0 header body." "Encrypted Data Key Count: ... This value MUST be greater than 0."
        /// "When the content type is non-framed, the value of this field [frame length] MUST be 0."
        /// decrypt.md: "If the number of encrypted data keys ... is greater than the maximum number
        /// of encrypted data keys configured ..., then as soon as that can be determined during
        /// deserializing decrypt MUST process no more bytes and yield an error."
        ///
        /// fragseal additionally rejects: any suite other than `0x0478` and `0x0578`
        /// (non-committing suites with [`FormatErrorKind::NonCommittingSuite`]), encryption
        /// context keys starting with `aws-crypto-` (but `aws-crypto-public-key`, which suite
        /// `0x0578` requires: [`FormatErrorKind::MissingPublicKey`] without it), a frame length
        /// of 0 or above [`OpenLimits::max_frame_length`] in a framed message.
        ///
        /// # Errors
        /// A [`FormatError`] naming the field and offset.
        fn read(r: &mut Reader<'_>, limits: &OpenLimits) -> Result<Self, FormatError> {
            let version_at = r.offset();
            let version = r.u8(Field::Version)?;
            if version != FORMAT_VERSION {
                if version == 0x01 {
                    // Version 1: type byte, then the suite id. Every version-1 suite is
                    // non-committing.
                    let _type = r.u8(Field::Version)?;
                    let suite_at = r.offset();
                    let suite = r.u16(Field::AlgorithmSuite)?;
                    if !limits.allow_non_committing {
                        return Err(Reader::error_at(
                            suite_at,
                            Field::AlgorithmSuite,
                            FormatErrorKind::NonCommittingSuite(suite),
                        ));
                    }
                }
                return Err(Reader::error_at(
                    version_at,
                    Field::Version,
                    FormatErrorKind::UnsupportedVersion(version),
                ));
            }
            let suite_at = r.offset();
            let suite_id = r.u16(Field::AlgorithmSuite)?;
            let suite = match AlgorithmSuite::from_id(suite_id) {
                Some(s) if s.is_committing() => s,
                // A format version 1 suite in a version 2 header is no valid message at all.
                Some(_) if limits.allow_non_committing => {
                    return Err(Reader::error_at(
                        suite_at,
                        Field::AlgorithmSuite,
                        FormatErrorKind::UnsupportedSuite(suite_id),
                    ))
                }
                Some(_) => {
                    return Err(Reader::error_at(
                        suite_at,
                        Field::AlgorithmSuite,
                        FormatErrorKind::NonCommittingSuite(suite_id),
                    ))
                }
                None => {
                    return Err(Reader::error_at(
                        suite_at,
                        Field::AlgorithmSuite,
                        FormatErrorKind::UnsupportedSuite(suite_id),
                    ))
                }
            };
            let message_id = *r.array::<MESSAGE_ID_LEN>(Field::MessageId)?;
            let ec_at = r.offset();
            let encryption_context = EncryptionContext::read_header_field(r)?;
            check_reserved_keys(&encryption_context, suite, ec_at)?;
            let encrypted_data_keys = read_encrypted_data_keys(r, limits)?;
            let content_type = read_content_type(r)?;
            let frame_length = read_frame_length(r, content_type, limits)?;
            let commit_key = *r.array::<COMMIT_KEY_LEN>(Field::SuiteData)?;
            Ok(Self {
                suite_id,
                message_id,
                encryption_context,
                encrypted_data_keys,
                content_type,
                frame_length,
                commit_key,
            })
        }
    }
}

/// Offset of the encryption context field in a format version 2 header.
const EC_OFFSET_V2: usize = 1 + 2 + MESSAGE_ID_LEN;

/// A parsed, not yet authenticated, message header. It keeps the header bytes exactly as
/// received: the header authentication tag is verified over those bytes, never over a
/// re-serialization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageHeader {
    /// The fields. For a format version 1 header, `message_id` holds the 16-byte id followed
    /// by 16 zero bytes and `commit_key` is all zero (see `legacy`).
    pub(super) body: HeaderBody,
    pub(super) suite: AlgorithmSuite,
    pub(super) auth_tag: [u8; HEADER_TAG_LEN],
    /// Header body bytes followed by the header IV (version 1) and the tag, as received.
    pub(super) raw: Vec<u8>,
    pub(super) body_len: usize,
    /// The signer's public key (signed suites only), decoded and checked while parsing.
    pub(super) signer_key: Option<SignerPublicKey>,
    /// Format version 1 only: its 16-byte message id and header IV.
    pub(super) legacy: Option<LegacyFields>,
}

impl MessageHeader {
    /// Parses the header at the start of `message` (which may continue with the body).
    ///
    /// Spec (message-header.md, "Header Authentication Version 2.0"): "Authentication Tag |
    /// Variable. Determined by the byte value of the authentication tag of the algorithm suite"
    /// — 16 bytes for `0x0478`; version 2 stores no header IV.
    ///
    /// # Errors
    /// A [`FormatError`] (see `HeaderBody::read`).
    pub fn parse(message: &[u8], limits: &OpenLimits) -> Result<Self, FormatError> {
        if limits.allow_non_committing && message.first() == Some(&super::header_v1::VERSION_1) {
            return super::header_v1::parse(message, limits);
        }
        let mut r = Reader::new(message);
        let body = HeaderBody::read(&mut r, limits)?;
        let body_len = r.consumed();
        let auth_tag = *r.array::<HEADER_TAG_LEN>(Field::HeaderAuthTag)?;
        let raw = r.consumed_bytes().to_vec();
        // `HeaderBody::read` accepted only suites `AlgorithmSuite` knows.
        let suite = AlgorithmSuite::from_id(body.suite_id).ok_or_else(|| {
            Reader::error_at(
                1,
                Field::AlgorithmSuite,
                FormatErrorKind::UnsupportedSuite(body.suite_id),
            )
        })?;
        let signer_key = signer_key_of(&body.encryption_context, suite, EC_OFFSET_V2)?;
        Ok(Self {
            body,
            suite,
            auth_tag,
            raw,
            body_len,
            signer_key,
            legacy: None,
        })
    }

    internal_pub! {
        /// Builds a header from its body (serialized once here) and tag. Used by sealing.
        /// An unknown suite id is kept as written but reported as `0x0478` by
        /// [`Self::suite`], and a signed suite's public key is kept only if it decodes: this
        /// constructor checks nothing that [`Self::parse`] checks.
        ///
        /// # Errors
        /// A [`WriteError`] when the body cannot be serialized.
        fn from_parts(
            body: HeaderBody,
            auth_tag: [u8; HEADER_TAG_LEN],
        ) -> Result<Self, WriteError> {
            let mut raw = Vec::with_capacity(body.serialized_len()? + HEADER_TAG_LEN);
            body.write(&mut raw)?;
            let body_len = raw.len();
            raw.extend_from_slice(&auth_tag);
            let suite = AlgorithmSuite::from_id(body.suite_id)
                .unwrap_or(AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY);
            let signer_key = signer_key_of(&body.encryption_context, suite, EC_OFFSET_V2)
                .ok()
                .flatten();
            Ok(Self {
                body,
                suite,
                auth_tag,
                raw,
                body_len,
                signer_key,
                legacy: None,
            })
        }
    }

    internal_pub! {
        /// The parsed header body fields.
        fn body(&self) -> &HeaderBody {
            &self.body
        }
    }
    /// Algorithm suite id (`0x0478` or `0x0578`; one of the nine format version 1 suites when
    /// [`OpenLimits::allow_non_committing`] is set).
    pub fn suite_id(&self) -> u16 {
        self.body.suite_id
    }
    /// The algorithm suite.
    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }
    /// The signer's public key of a signed suite (from `aws-crypto-public-key`, decoded and
    /// checked to be on the curve; authenticated with the rest of the header once the header
    /// tag verifies). `None` for an unsigned suite.
    pub fn signer_public_key(&self) -> Option<&SignerPublicKey> {
        self.signer_key.as_ref()
    }
    /// The 32-byte message id of a format version 2 header. For a format version 1 header
    /// (16-byte id) this is that id followed by 16 zero bytes: use [`Self::message_id_bytes`].
    pub fn message_id(&self) -> &[u8; MESSAGE_ID_LEN] {
        &self.body.message_id
    }
    /// The message id as written: 32 bytes (format version 2) or 16 (version 1).
    pub fn message_id_bytes(&self) -> &[u8] {
        match &self.legacy {
            Some(l) => &l.message_id,
            None => &self.body.message_id,
        }
    }
    /// The message format version: 2, or 1 for the non-committing suites (parsed only when
    /// [`OpenLimits::allow_non_committing`] is set).
    pub fn format_version(&self) -> u8 {
        if self.legacy.is_some() {
            super::header_v1::VERSION_1
        } else {
            FORMAT_VERSION
        }
    }
    internal_pub! {
        /// Format version 1: the header authentication IV as received (`None` in version 2,
        /// whose header IV is all zero).
        fn header_iv(&self) -> Option<&[u8; 12]> {
            self.legacy.as_ref().map(|l| &l.header_iv)
        }
    }
    /// The encryption context (authenticated only once the header tag is verified).
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.body.encryption_context
    }
    /// The encrypted data keys.
    pub fn encrypted_data_keys(&self) -> &[EncryptedDataKey] {
        &self.body.encrypted_data_keys
    }
    /// Framed or non-framed.
    pub fn content_type(&self) -> ContentType {
        self.body.content_type
    }
    /// Frame length (0 when non-framed).
    pub fn frame_length(&self) -> u32 {
        self.body.frame_length
    }
    /// The commit key stored in the header (not secret: it commits the header to its data key).
    /// All zero in a format version 1 header, which has none.
    pub fn commit_key(&self) -> &[u8; COMMIT_KEY_LEN] {
        &self.body.commit_key
    }
    internal_pub! {
        /// The header authentication tag.
        fn auth_tag(&self) -> &[u8; HEADER_TAG_LEN] {
            &self.auth_tag
        }
    }
    /// Total header length in bytes (body and tag); the message body starts here.
    pub fn header_len(&self) -> usize {
        self.raw.len()
    }
    internal_pub! {
        /// The header body bytes exactly as received (the AAD of the header tag).
        fn header_body_bytes(&self) -> &[u8] {
            self.raw.get(..self.body_len).unwrap_or(&[])
        }
    }
    internal_pub! {
        /// The whole header (body and tag) exactly as received.
        fn raw_bytes(&self) -> &[u8] {
            &self.raw
        }
    }
}

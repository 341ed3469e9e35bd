//! Header fields read the same way in message format versions 1 and 2
//! (`data-format/message-header.md`): the reserved-key rule of the encryption context and the
//! signer's public key, the encrypted data keys, the content type and the frame length.

use super::context::EncryptionContext;
use super::edk::EncryptedDataKey;
use super::error::{Field, FormatError, FormatErrorKind};
use super::header::{ContentType, OpenLimits};
use super::reader::Reader;
use super::suite::AlgorithmSuite;
use crate::crypto::verify::{SignerPublicKey, EC_PUBLIC_KEY_FIELD};

internal_pub! {
    /// The reserved-key rule of a `suite` message's context (starting at `ec_at`): no key with
    /// the prefix `aws-crypto-`, except `aws-crypto-public-key` in a signed suite, where it is
    /// required (ESDK default CMM, decrypt: "If the algorithm suite contains a signing
    /// algorithm ... MUST extract the verification key from the encryption context").
    ///
    /// # Errors
    /// [`FormatErrorKind::ReservedEncryptionContextKey`] or
    /// [`FormatErrorKind::MissingPublicKey`] on [`Field::EncryptionContext`].
    fn check_reserved_keys(
        ec: &EncryptionContext,
        suite: AlgorithmSuite,
        ec_at: usize,
    ) -> Result<(), FormatError> {
        let err = |kind| Reader::error_at(ec_at, Field::EncryptionContext, kind);
        let signed = suite.is_signed();
        if let Some((k, _)) = ec
            .iter()
            .find(|(k, _)| k.starts_with("aws-crypto-") && !(signed && *k == EC_PUBLIC_KEY_FIELD))
        {
            return Err(err(FormatErrorKind::ReservedEncryptionContextKey(
                k.to_owned(),
            )));
        }
        if signed && ec.get(EC_PUBLIC_KEY_FIELD).is_none() {
            return Err(err(FormatErrorKind::MissingPublicKey));
        }
        Ok(())
    }
}

internal_pub! {
    /// The signer's public key of a signed `suite`'s context (`None` for an unsigned suite).
    ///
    /// # Errors
    /// [`FormatErrorKind::MissingPublicKey`] or [`FormatErrorKind::InvalidPublicKey`] on
    /// [`Field::EncryptionContext`], at `ec_at`.
    fn signer_key_of(
        ec: &EncryptionContext,
        suite: AlgorithmSuite,
        ec_at: usize,
    ) -> Result<Option<SignerPublicKey>, FormatError> {
        if !suite.is_signed() {
            return Ok(None);
        }
        let err = |kind| Reader::error_at(ec_at, Field::EncryptionContext, kind);
        let value = ec
            .get(EC_PUBLIC_KEY_FIELD)
            .ok_or_else(|| err(FormatErrorKind::MissingPublicKey))?;
        SignerPublicKey::from_context_value(suite.signature(), value)
            .map(Some)
            .ok_or_else(|| err(FormatErrorKind::InvalidPublicKey))
    }
}

/// The encrypted data keys: "Encrypted Data Key Count ... MUST be greater than 0"; decrypt.md:
/// more than the configured maximum is refused "as soon as that can be determined", before
/// any entry is parsed.
pub(super) fn read_encrypted_data_keys(
    r: &mut Reader<'_>,
    limits: &OpenLimits,
) -> Result<Vec<EncryptedDataKey>, FormatError> {
    let count_at = r.offset();
    let count = r.u16(Field::EncryptedDataKeys)?;
    if count == 0 {
        return Err(Reader::error_at(
            count_at,
            Field::EncryptedDataKeys,
            FormatErrorKind::NoEncryptedDataKeys,
        ));
    }
    if count > limits.max_encrypted_data_keys {
        return Err(Reader::error_at(
            count_at,
            Field::EncryptedDataKeys,
            FormatErrorKind::TooManyEncryptedDataKeys {
                count,
                max: limits.max_encrypted_data_keys,
            },
        ));
    }
    let mut encrypted_data_keys = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        encrypted_data_keys.push(EncryptedDataKey::read(r)?);
    }
    Ok(encrypted_data_keys)
}

/// The content type byte: `01` non-framed, `02` framed.
pub(super) fn read_content_type(r: &mut Reader<'_>) -> Result<ContentType, FormatError> {
    let at = r.offset();
    match r.u8(Field::ContentType)? {
        0x01 => Ok(ContentType::NonFramed),
        0x02 => Ok(ContentType::Framed),
        other => Err(Reader::error_at(
            at,
            Field::ContentType,
            FormatErrorKind::InvalidContentType(other),
        )),
    }
}

/// The frame length: "When the content type is non-framed, the value of this field MUST be
/// 0"; fragseal also refuses 0 and more than [`OpenLimits::max_frame_length`] when framed.
pub(super) fn read_frame_length(
    r: &mut Reader<'_>,
    content_type: ContentType,
    limits: &OpenLimits,
) -> Result<u32, FormatError> {
    let at = r.offset();
    let frame_length = r.u32(Field::FrameLength)?;
    let ok = match content_type {
        ContentType::NonFramed => frame_length == 0,
        ContentType::Framed => frame_length > 0 && frame_length <= limits.max_frame_length,
    };
    if ok {
        Ok(frame_length)
    } else {
        Err(Reader::error_at(
            at,
            Field::FrameLength,
            FormatErrorKind::InvalidFrameLength(frame_length),
        ))
    }
}

//! What an open verified about a message's header.

use crate::crypto::kdf::MESSAGE_ID_LEN;
use crate::format::{EncryptedDataKey, EncryptionContext, MessageHeader};

/// The header of a message that opened: everything in it has been authenticated. Returned
/// with the plaintext, so that the header never needs parsing again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedHeader {
    message_id: [u8; MESSAGE_ID_LEN],
    encryption_context: EncryptionContext,
    supplied_context: EncryptionContext,
    encrypted_data_key: EncryptedDataKey,
    key_id: String,
    frame_length: u32,
}

impl VerifiedHeader {
    /// The verified header of `header`, opened with `encrypted_data_key` by the key `key_id`,
    /// with `supplied_context` authenticated besides the stored context.
    pub(crate) fn new(
        header: &MessageHeader,
        supplied_context: &EncryptionContext,
        encrypted_data_key: &EncryptedDataKey,
        key_id: &str,
    ) -> Self {
        Self {
            message_id: *header.message_id(),
            encryption_context: header.encryption_context().clone(),
            supplied_context: supplied_context.clone(),
            encrypted_data_key: encrypted_data_key.clone(),
            key_id: key_id.to_owned(),
            frame_length: header.frame_length(),
        }
    }

    /// The message id (a format version 1 message's 16-byte id is followed by 16 zero bytes,
    /// as [`MessageHeader::message_id`](crate::format::MessageHeader::message_id) gives it).
    pub fn message_id(&self) -> &[u8; MESSAGE_ID_LEN] {
        &self.message_id
    }

    /// The encryption context stored in the message.
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.encryption_context
    }

    /// The pairs the opener supplied (authenticated, not stored).
    pub fn supplied_context(&self) -> &EncryptionContext {
        &self.supplied_context
    }

    /// The encrypted data key that opened the message.
    pub fn encrypted_data_key(&self) -> &EncryptedDataKey {
        &self.encrypted_data_key
    }

    /// The id of the key that unwrapped the data key (a KMS key ARN, or a raw key's
    /// `namespace/name`).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The frame length.
    pub fn frame_length(&self) -> u32 {
        self.frame_length
    }
}

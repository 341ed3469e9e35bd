//! Encrypted data keys (`data-format/message-header.md`, "Encrypted Data Keys").

use super::error::{Field, FormatError};
use super::reader::{write, Reader};

/// One encrypted data key: which key provider wrapped the data key, provider-specific
/// information (for `aws-kms` the KMS key ARN; for a raw AES keyring the key name, tag and IV
/// lengths and IV), and the wrapped key itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EncryptedDataKey {
    /// Key provider id (UTF-8), e.g. `aws-kms` or a raw keyring's namespace.
    pub provider_id: String,
    /// Key provider information.
    pub provider_info: Vec<u8>,
    /// The wrapped data key.
    pub ciphertext: Vec<u8>,
}

impl EncryptedDataKey {
    internal_pub! {
        /// Parses one encrypted data key entry.
        ///
        /// Spec: "Key Provider ID Length | 2 | UInt16; Key Provider ID | Variable. Equal to the value
        /// specified in the previous 2 bytes | UTF-8 encoded bytes; Key Provider Information Length
        /// | 2 | UInt16; Key Provider Information | Variable ... | Bytes; Encrypted Data Key Length |
        /// 2 | UInt16; Encrypted Data Key | Variable ... | Bytes".
        ///
        /// # Errors
        /// A [`FormatError`] on [`Field::EncryptedDataKeys`] (truncated, or a provider id that is
        /// not UTF-8).
        fn read(r: &mut Reader<'_>) -> Result<Self, FormatError> {
            let f = Field::EncryptedDataKeys;
            let provider_id = r.str_u16(f, u16::MAX)?.to_owned();
            let provider_info = r.bytes_u16(f, u16::MAX)?.to_vec();
            let ciphertext = r.bytes_u16(f, u16::MAX)?.to_vec();
            Ok(Self {
                provider_id,
                provider_info,
                ciphertext,
            })
        }
    }

    internal_pub! {
        /// Appends the entry; `None` (and `out` unchanged) when a field is longer than 65535 bytes.
        fn write(&self, out: &mut Vec<u8>) -> Option<()> {
            self.serialized_len()?;
            write::bytes_u16(out, self.provider_id.as_bytes())?;
            write::bytes_u16(out, &self.provider_info)?;
            write::bytes_u16(out, &self.ciphertext)?;
            Some(())
        }
    }

    internal_pub! {
        /// Serialized length; `None` when a field is longer than 65535 bytes.
        fn serialized_len(&self) -> Option<usize> {
            let mut n = 0usize;
            for field in [
                self.provider_id.as_bytes(),
                &self.provider_info,
                &self.ciphertext,
            ] {
                u16::try_from(field.len()).ok()?;
                n += 2 + field.len();
            }
            Some(n)
        }
    }
}

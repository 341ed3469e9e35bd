//! The data operations a server adds to the [`Kms`](crate::kms::Kms) trait's:
//! `GenerateDataKeyWithoutPlaintext`, `ReEncrypt` and `GenerateRandom`.

use super::authz::{check_context, Call};
use super::{LocalKms, Operation};
use crate::crypto::SecretBytes;
use crate::format::EncryptionContext;
use crate::kms::{
    number_of_bytes_in_range, Credential, DataKeySpec, EncryptedBlob, KmsError, KmsErrorKind,
};
use serde_json::{Map, Value};

/// The result of [`LocalKms::re_encrypt`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReEncrypted {
    /// ARN of the key that had encrypted the blob (`SourceKeyId`).
    pub source_key_id: String,
    /// ARN of the key that encrypted the new blob (`KeyId`).
    pub key_id: String,
    /// The new ciphertext blob.
    pub ciphertext_blob: Vec<u8>,
}

fn context_json(ec: &EncryptionContext) -> Value {
    Value::Object(
        ec.iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect::<Map<String, Value>>(),
    )
}

impl LocalKms {
    /// `GenerateDataKeyWithoutPlaintext`: as `GenerateDataKey` (same checks, order and blob;
    /// use [`DataKeySpec::parse`] for the request's `KeySpec`/`NumberOfBytes`), authorized as
    /// `kms:GenerateDataKeyWithoutPlaintext`; only the encrypted data key is returned (the
    /// plaintext is zeroized here).
    ///
    /// # Errors
    /// As `GenerateDataKey`: `ValidationException`, `NotFoundException`,
    /// `AccessDeniedException`, `DisabledException`, `KMSInvalidStateException`,
    /// throttling and injected faults.
    pub fn generate_data_key_without_plaintext(
        &self,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        encryption_context: &EncryptionContext,
    ) -> Result<EncryptedBlob, KmsError> {
        let generated = self.generate_as(
            Operation::GenerateDataKeyWithoutPlaintext,
            caller,
            key_id,
            spec,
            encryption_context,
            None,
        )?;
        Ok(EncryptedBlob {
            key_id: generated.key_id,
            ciphertext_blob: generated.ciphertext_blob,
        })
    }

    /// `ReEncrypt`: decrypts `ciphertext_blob` under the key that encrypted it (with
    /// `source_context`) and encrypts the plaintext under `destination_key_id` (with
    /// `destination_context`). The plaintext never leaves the KMS.
    ///
    /// Authorized as `kms:ReEncryptFrom` on the source key and `kms:ReEncryptTo` on the
    /// destination key (each with its own context); one audit event `ReEncrypt`.
    /// `source_key_id`, if given, must identify the key that encrypted the blob.
    ///
    /// # Errors
    /// `ValidationException` for an empty `destination_key_id` or a bad context;
    /// `IncorrectKeyException` when `source_key_id` names another key;
    /// `InvalidCiphertextException`; `NotFoundException`, `AccessDeniedException` and key-state
    /// errors for either key.
    #[allow(
        clippy::too_many_arguments,
        reason = "the ReEncrypt request's parameters, as the server hands them over"
    )]
    pub fn re_encrypt(
        &self,
        caller: &Credential,
        ciphertext_blob: &[u8],
        source_context: &EncryptionContext,
        source_key_id: Option<&str>,
        destination_key_id: &str,
        destination_context: &EncryptionContext,
    ) -> Result<ReEncrypted, KmsError> {
        let mut extra = vec![
            ("destinationKeyId", Value::from(destination_key_id)),
            (
                "destinationEncryptionContext",
                context_json(destination_context),
            ),
            (
                "sourceEncryptionAlgorithm",
                Value::from("SYMMETRIC_DEFAULT"),
            ),
            (
                "destinationEncryptionAlgorithm",
                Value::from("SYMMETRIC_DEFAULT"),
            ),
        ];
        if let Some(s) = source_key_id {
            extra.push(("sourceKeyId", Value::from(s)));
        }
        self.audited(
            caller,
            Operation::ReEncrypt,
            None,
            None,
            Some(source_context),
            extra,
            |call, resource| {
                self.faults.apply(call.now)?;
                self.quota.acquire(caller.account(), call.now)?;
                check_context(source_context)?;
                check_context(destination_context)?;
                if destination_key_id.is_empty() {
                    return Err(KmsError::new(
                        KmsErrorKind::InvalidRequest,
                        "1 validation error detected: Value at 'destinationKeyId' failed to \
                         satisfy constraint: Member must have length greater than or equal to 1",
                    ));
                }
                let (source, plaintext) = self.open_blob(
                    call,
                    resource,
                    ciphertext_blob,
                    source_context,
                    source_key_id,
                )?;
                let to = Call {
                    action: "kms:ReEncryptTo",
                    ..*call
                };
                let (key_id, ciphertext_blob) = self.seal_blob(
                    &to,
                    resource,
                    destination_key_id,
                    destination_context,
                    plaintext.expose_secret(),
                )?;
                Ok(ReEncrypted {
                    source_key_id: source.arn,
                    key_id,
                    ciphertext_blob,
                })
            },
        )
    }

    /// `GenerateRandom`: `number_of_bytes` (1..=1024) random bytes from the OS RNG.
    /// Account-level: allowed by an identity policy (`kms:GenerateRandom` on `"*"`) or to the
    /// account root, for a caller of a served account.
    ///
    /// # Errors
    /// `ValidationException` with AWS's message for a count outside 1..=1024;
    /// `AccessDeniedException`; throttling and injected faults.
    pub fn generate_random(
        &self,
        caller: &Credential,
        number_of_bytes: i64,
    ) -> Result<SecretBytes, KmsError> {
        let extra = vec![("numberOfBytes", Value::from(number_of_bytes))];
        self.audited(
            caller,
            Operation::GenerateRandom,
            None,
            None,
            None,
            extra,
            |call, _| {
                self.faults.apply(call.now)?;
                self.quota.acquire(caller.account(), call.now)?;
                let n = number_of_bytes_in_range(number_of_bytes)?;
                {
                    let inner = self.read()?;
                    self.authorize(&inner, call, None, None, None)?;
                }
                Ok(SecretBytes::random(usize::from(n)))
            },
        )
    }
}

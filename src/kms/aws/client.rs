//! The [`Kms`] calls of [`AwsKms`]: `GenerateDataKey`, `Encrypt`, `Decrypt`, `DescribeKey`.

use super::{map_sdk_error, AwsKms};
use crate::crypto::SecretBytes;
use crate::format::EncryptionContext;
use crate::kms::{
    Credential, DataKeySpec, DecryptedDataKey, EncryptedBlob, GeneratedDataKey, KeyDescription,
    KeyState, Kms, KmsError, KmsErrorKind, MAX_ENCRYPT_PLAINTEXT,
};
use aws_sdk_kms::primitives::Blob;
use std::collections::HashMap;

fn context_map(ec: &EncryptionContext) -> Option<HashMap<String, String>> {
    if ec.is_empty() {
        None
    } else {
        Some(
            ec.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

fn missing(op: &str, field: &str) -> KmsError {
    KmsError::new(
        KmsErrorKind::Internal,
        format!("{op}: AWS KMS response has no {field}"),
    )
}

impl Kms for AwsKms {
    fn generate_data_key(
        &self,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        encryption_context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError> {
        const OP: &str = "GenerateDataKey";
        let client = self.client_for(caller)?;
        let mut req = client
            .generate_data_key()
            .key_id(key_id)
            .set_encryption_context(context_map(encryption_context));
        req = match spec {
            DataKeySpec::Aes256 => req.key_spec(aws_sdk_kms::types::DataKeySpec::Aes256),
            DataKeySpec::Bytes(n) => req.number_of_bytes(i32::from(n)),
        };
        let out = self.run(async move { req.send().await.map_err(map_sdk_error) })?;
        let key_id = out.key_id.ok_or_else(|| missing(OP, "KeyId"))?;
        let plaintext = SecretBytes::new(
            out.plaintext
                .ok_or_else(|| missing(OP, "Plaintext"))?
                .into_inner(),
        );
        if plaintext.len() != spec.len() {
            return Err(KmsError::new(
                KmsErrorKind::Internal,
                format!(
                    "{OP}: AWS KMS returned a {}-byte key, {} requested",
                    plaintext.len(),
                    spec.len()
                ),
            ));
        }
        let ciphertext_blob = out
            .ciphertext_blob
            .ok_or_else(|| missing(OP, "CiphertextBlob"))?
            .into_inner();
        Ok(GeneratedDataKey {
            key_id,
            plaintext,
            ciphertext_blob,
        })
    }

    fn decrypt(
        &self,
        caller: &Credential,
        ciphertext_blob: &[u8],
        encryption_context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError> {
        const OP: &str = "Decrypt";
        let client = self.client_for(caller)?;
        let req = client
            .decrypt()
            .ciphertext_blob(Blob::new(ciphertext_blob))
            .set_encryption_context(context_map(encryption_context))
            .set_key_id(expected_key_id.map(str::to_owned));
        let out = self.run(async move { req.send().await.map_err(map_sdk_error) })?;
        let key_id = out.key_id.ok_or_else(|| missing(OP, "KeyId"))?;
        let plaintext = SecretBytes::new(
            out.plaintext
                .ok_or_else(|| missing(OP, "Plaintext"))?
                .into_inner(),
        );
        Ok(DecryptedDataKey { key_id, plaintext })
    }

    /// `Encrypt`. The plaintext length is checked here (1..=4096 bytes, `ValidationException`
    /// otherwise) so that an oversized secret is never sent. The SDK copies the plaintext into
    /// its request body, which fragseal cannot zeroize.
    fn encrypt(
        &self,
        caller: &Credential,
        key_id: &str,
        plaintext: &[u8],
        encryption_context: &EncryptionContext,
    ) -> Result<EncryptedBlob, KmsError> {
        const OP: &str = "Encrypt";
        if plaintext.is_empty() || plaintext.len() > MAX_ENCRYPT_PLAINTEXT {
            return Err(KmsError::new(
                KmsErrorKind::InvalidRequest,
                format!(
                    "{OP}: the plaintext is {} bytes; it must be 1 to {MAX_ENCRYPT_PLAINTEXT}",
                    plaintext.len()
                ),
            ));
        }
        let client = self.client_for(caller)?;
        let req = client
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(plaintext))
            .set_encryption_context(context_map(encryption_context));
        let out = self.run(async move { req.send().await.map_err(map_sdk_error) })?;
        let key_id = out.key_id.ok_or_else(|| missing(OP, "KeyId"))?;
        let ciphertext_blob = out
            .ciphertext_blob
            .ok_or_else(|| missing(OP, "CiphertextBlob"))?
            .into_inner();
        if ciphertext_blob.is_empty() {
            return Err(missing(OP, "CiphertextBlob"));
        }
        Ok(EncryptedBlob {
            key_id,
            ciphertext_blob,
        })
    }

    fn describe_key(&self, caller: &Credential, key_id: &str) -> Result<KeyDescription, KmsError> {
        const OP: &str = "DescribeKey";
        let client = self.client_for(caller)?;
        let req = client.describe_key().key_id(key_id);
        let out = self.run(async move { req.send().await.map_err(map_sdk_error) })?;
        let meta = out.key_metadata.ok_or_else(|| missing(OP, "KeyMetadata"))?;
        Ok(KeyDescription {
            arn: meta.arn().ok_or_else(|| missing(OP, "Arn"))?.to_owned(),
            key_id: meta.key_id().to_owned(),
            account: meta.aws_account_id().unwrap_or_default().to_owned(),
            state: meta.key_state().map_or(KeyState::Unavailable, key_state),
            description: meta.description().unwrap_or_default().to_owned(),
            manager: meta
                .key_manager()
                .map_or("CUSTOMER", |m| m.as_str())
                .to_owned(),
            deletion_date: meta
                .deletion_date()
                .and_then(|d| u64::try_from(d.secs()).ok()),
            creation_date: meta
                .creation_date()
                .and_then(|d| u64::try_from(d.secs()).ok()),
        })
    }
}

fn key_state(state: &aws_sdk_kms::types::KeyState) -> KeyState {
    use aws_sdk_kms::types::KeyState as S;
    match state {
        S::Enabled | S::Updating => KeyState::Enabled,
        S::Disabled => KeyState::Disabled,
        S::PendingDeletion | S::PendingReplicaDeletion => KeyState::PendingDeletion,
        _ => KeyState::Unavailable,
    }
}

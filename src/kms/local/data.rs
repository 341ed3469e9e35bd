//! The data plane: `GenerateDataKey`, `Encrypt`, `Decrypt` and `DescribeKey`, for direct calls
//! and for calls made through a service ([`ViaService`]).

use super::authz::{check_context, Call};
use super::keystore::{KeyRecord, KeyRef};
use super::{blob, not_found, secs, LocalKms, Operation};
use crate::crypto::SecretBytes;
use crate::format::EncryptionContext;
use crate::kms::{
    Credential, DataKeySpec, DecryptedDataKey, EncryptedBlob, GeneratedDataKey, KeyDescription,
    Kms, KmsError, KmsErrorKind, MAX_ENCRYPT_PLAINTEXT,
};
use serde_json::Value;
use std::sync::Arc;

impl LocalKms {
    pub(super) fn generate_impl(
        &self,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        ec: &EncryptionContext,
        via: Option<&str>,
    ) -> Result<GeneratedDataKey, KmsError> {
        self.generate_as(Operation::GenerateDataKey, caller, key_id, spec, ec, via)
    }

    /// `GenerateDataKey` or `GenerateDataKeyWithoutPlaintext` (`op`): the same checks, order
    /// and blob; authorized and audited as `op`.
    pub(super) fn generate_as(
        &self,
        op: Operation,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        ec: &EncryptionContext,
        via: Option<&str>,
    ) -> Result<GeneratedDataKey, KmsError> {
        let extra = match spec {
            DataKeySpec::Aes256 => vec![("keySpec", Value::from("AES_256"))],
            DataKeySpec::Bytes(n) => vec![("numberOfBytes", Value::from(n))],
        };
        self.audited(
            caller,
            op,
            via,
            Some(key_id),
            Some(ec),
            extra,
            |call, resource| {
                self.faults.apply(call.now)?;
                self.quota.acquire(caller.account(), call.now)?;
                check_context(ec)?;
                if let DataKeySpec::Bytes(n) = spec {
                    crate::kms::number_of_bytes_in_range(i64::from(n))?;
                }
                let n = spec.len();
                let plaintext = SecretBytes::random(n);
                let (key_id, ciphertext_blob) =
                    self.seal_blob(call, resource, key_id, ec, plaintext.expose_secret())?;
                Ok(GeneratedDataKey {
                    key_id,
                    plaintext,
                    ciphertext_blob,
                })
            },
        )
    }

    /// `Encrypt`: the same blob format, checks and order as `GenerateDataKey`, authorized as
    /// `kms:Encrypt`; the plaintext (1..=4096 bytes) is the caller's.
    pub(super) fn encrypt_impl(
        &self,
        caller: &Credential,
        key_id: &str,
        plaintext: &[u8],
        ec: &EncryptionContext,
        via: Option<&str>,
    ) -> Result<EncryptedBlob, KmsError> {
        let extra = vec![("encryptionAlgorithm", Value::from("SYMMETRIC_DEFAULT"))];
        self.audited(
            caller,
            Operation::Encrypt,
            via,
            Some(key_id),
            Some(ec),
            extra,
            |call, resource| {
                self.faults.apply(call.now)?;
                self.quota.acquire(caller.account(), call.now)?;
                check_context(ec)?;
                if plaintext.is_empty() || plaintext.len() > MAX_ENCRYPT_PLAINTEXT {
                    return Err(KmsError::new(
                        KmsErrorKind::InvalidRequest,
                        format!(
                            "1 validation error detected: Value at 'plaintext' failed to satisfy \
                             constraint: Member must have length between 1 and \
                             {MAX_ENCRYPT_PLAINTEXT} (got {})",
                            plaintext.len()
                        ),
                    ));
                }
                let (key_id, ciphertext_blob) =
                    self.seal_blob(call, resource, key_id, ec, plaintext)?;
                Ok(EncryptedBlob {
                    key_id,
                    ciphertext_blob,
                })
            },
        )
    }

    /// The step GenerateDataKey and Encrypt share, after their own argument checks: resolve
    /// `key_id` (recording the key as the audited resource), authorize the call, check the key
    /// state, and seal `plaintext` into a blob bound to the key and `ec`. Returns the key ARN
    /// and the blob.
    pub(super) fn seal_blob(
        &self,
        call: &Call<'_>,
        resource: &mut Option<String>,
        key_id: &str,
        ec: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<(String, Vec<u8>), KmsError> {
        let (key, alias) = self.resolve(call, key_id)?;
        *resource = Some(key.arn.clone());
        {
            let inner = self.read()?;
            self.authorize(&inner, call, Some(&key), Some(ec), alias.as_deref())?;
        }
        key.usable()?;
        let blob = blob::seal(
            &key.id,
            &key.arn,
            key.material.expose_secret(),
            plaintext,
            ec,
        )?;
        Ok((key.arn, blob))
    }

    pub(super) fn decrypt_impl(
        &self,
        caller: &Credential,
        ciphertext_blob: &[u8],
        ec: &EncryptionContext,
        expected_key_id: Option<&str>,
        via: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError> {
        let extra = vec![("encryptionAlgorithm", Value::from("SYMMETRIC_DEFAULT"))];
        self.audited(
            caller,
            Operation::Decrypt,
            via,
            expected_key_id,
            Some(ec),
            extra,
            |call, resource| {
                self.faults.apply(call.now)?;
                self.quota.acquire(caller.account(), call.now)?;
                check_context(ec)?;
                let (key, plaintext) =
                    self.open_blob(call, resource, ciphertext_blob, ec, expected_key_id)?;
                Ok(DecryptedDataKey {
                    key_id: key.arn,
                    plaintext,
                })
            },
        )
    }

    /// The source half of Decrypt and ReEncrypt, after the argument checks: parse the blob,
    /// check `expected_key_id` against the key that encrypted it (`IncorrectKeyException`),
    /// authorize the call on that key with `ec`, check its state, open the blob.
    pub(super) fn open_blob(
        &self,
        call: &Call<'_>,
        resource: &mut Option<String>,
        ciphertext_blob: &[u8],
        ec: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> Result<(KeyRecord, SecretBytes), KmsError> {
        let parsed = blob::parse(ciphertext_blob)?;
        let mut alias = None;
        if let Some(expected) = expected_key_id {
            let (want, a) = self.resolve(call, expected)?;
            if want.id != parsed.key_id {
                *resource = Some(want.arn.clone());
                return Err(KmsError::new(
                    KmsErrorKind::IncorrectKey,
                    format!(
                        "The key ID in the request does not identify the KMS key that encrypted the ciphertext ({})",
                        want.arn
                    ),
                ));
            }
            alias = a;
        }
        let key = {
            let inner = self.read()?;
            // The blob names the key by id; ids are unique across accounts, so the key's own
            // account is where it is looked up.
            let account = inner
                .keys
                .get(parsed.key_id)
                .map_or(self.account.as_str(), |k| k.account.as_str())
                .to_owned();
            let arn = self.key_arn_in(&account, parsed.key_id);
            Self::lookup(&inner, &KeyRef::Id(account, parsed.key_id), secs(call.now))
                .map(|(k, _)| k)
                .ok_or_else(|| not_found(&format!("Key '{arn}'")))?
        };
        *resource = Some(key.arn.clone());
        {
            let inner = self.read()?;
            self.authorize(&inner, call, Some(&key), Some(ec), alias.as_deref())?;
        }
        key.usable()?;
        let plaintext = blob::open(&parsed, &key.arn, key.material.expose_secret(), ec)?;
        Ok((key, plaintext))
    }

    pub(super) fn describe_impl(
        &self,
        caller: &Credential,
        key_id: &str,
        via: Option<&str>,
    ) -> Result<KeyDescription, KmsError> {
        self.audited(
            caller,
            Operation::DescribeKey,
            via,
            Some(key_id),
            None,
            Vec::new(),
            |call, resource| {
                self.faults.apply(call.now)?;
                let (key, alias) = self.resolve(call, key_id)?;
                *resource = Some(key.arn.clone());
                let inner = self.read()?;
                self.authorize(&inner, call, Some(&key), None, alias.as_deref())?;
                Ok(key.describe())
            },
        )
    }
}

impl Kms for LocalKms {
    fn generate_data_key(
        &self,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        encryption_context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError> {
        self.generate_impl(caller, key_id, spec, encryption_context, None)
    }

    fn decrypt(
        &self,
        caller: &Credential,
        ciphertext_blob: &[u8],
        encryption_context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError> {
        self.decrypt_impl(
            caller,
            ciphertext_blob,
            encryption_context,
            expected_key_id,
            None,
        )
    }

    fn describe_key(&self, caller: &Credential, key_id: &str) -> Result<KeyDescription, KmsError> {
        self.describe_impl(caller, key_id, None)
    }

    fn encrypt(
        &self,
        caller: &Credential,
        key_id: &str,
        plaintext: &[u8],
        encryption_context: &EncryptionContext,
    ) -> Result<EncryptedBlob, KmsError> {
        self.encrypt_impl(caller, key_id, plaintext, encryption_context, None)
    }
}

/// A [`LocalKms`] seen through an AWS service: calls carry `kms:ViaService` (see
/// [`LocalKms::via_service`]).
#[derive(Clone, Debug)]
pub struct ViaService {
    pub(super) kms: Arc<LocalKms>,
    pub(super) service: String,
}

impl ViaService {
    /// The service endpoint name, e.g. `kinesisvideo.us-east-1.amazonaws.com`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The underlying KMS.
    pub fn kms(&self) -> &Arc<LocalKms> {
        &self.kms
    }
}

impl Kms for ViaService {
    fn generate_data_key(
        &self,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        encryption_context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError> {
        self.kms.generate_impl(
            caller,
            key_id,
            spec,
            encryption_context,
            Some(&self.service),
        )
    }

    fn decrypt(
        &self,
        caller: &Credential,
        ciphertext_blob: &[u8],
        encryption_context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError> {
        self.kms.decrypt_impl(
            caller,
            ciphertext_blob,
            encryption_context,
            expected_key_id,
            Some(&self.service),
        )
    }

    fn describe_key(&self, caller: &Credential, key_id: &str) -> Result<KeyDescription, KmsError> {
        self.kms.describe_impl(caller, key_id, Some(&self.service))
    }

    fn encrypt(
        &self,
        caller: &Credential,
        key_id: &str,
        plaintext: &[u8],
        encryption_context: &EncryptionContext,
    ) -> Result<EncryptedBlob, KmsError> {
        self.kms.encrypt_impl(
            caller,
            key_id,
            plaintext,
            encryption_context,
            Some(&self.service),
        )
    }
}

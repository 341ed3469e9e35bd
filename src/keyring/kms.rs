//! The AWS KMS keyring (`framework/aws-kms/aws-kms-keyring.md` and
//! `aws-kms-discovery-keyring.md`): strict, or discovery with a filter — never a default.
//!
//! An encrypted data key it writes is exactly the ESDK's: provider id `aws-kms`, provider info
//! = the KMS key ARN, ciphertext = the KMS ciphertext blob; the KMS encryption context is the
//! message's whole context (stored and authenticated-only pairs).
//!
//! Opening: only an `aws-kms` encrypted data key whose provider info is a well-formed KMS key
//! ARN ([`KmsKeyArn`]) is ever sent to KMS — never an alias, a bare key id or another
//! service's ARN — and only when it is one of the strict keyring's keys, or of the discovery
//! filter's partition and accounts. `Decrypt` names the key (`KeyId` = the ARN), and the
//! answer must name the same key.

use super::{EncryptionMaterials, Keyring, UnwrappedKey};
use crate::arn::KmsKeyArn;
use crate::crypto::{DataKey, SecretBytes};
use crate::error::KeyringError;
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::kms::{Credential, DataKeySpec, Kms, KmsErrorKind};
use core::fmt;
use std::sync::Arc;

/// The key provider id of encrypted data keys made by AWS KMS (and any [`crate::kms::Kms`]).
pub const AWS_KMS_PROVIDER_ID: &str = "aws-kms";

/// Which KMS keys a discovery keyring may ask KMS to decrypt with, by the partition and
/// account of their ARN (the ESDK discovery keyring's discovery filter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryFilter {
    /// The AWS partition, for example `aws`.
    pub partition: String,
    /// The 12-digit AWS account ids whose keys are allowed.
    pub accounts: Vec<String>,
}

impl DiscoveryFilter {
    /// Keys of `accounts` in `partition`.
    pub fn new(partition: impl Into<String>, accounts: Vec<String>) -> Self {
        Self {
            partition: partition.into(),
            accounts,
        }
    }

    /// Whether the filter allows the key `arn`.
    pub fn allows(&self, arn: &KmsKeyArn<'_>) -> bool {
        arn.partition() == self.partition && self.accounts.iter().any(|a| a == arn.account())
    }
}

#[derive(Clone, Debug)]
enum Mode {
    /// The key ARNs, resolved at construction; the first generates.
    Strict(Vec<String>),
    Discovery(DiscoveryFilter),
}

/// A keyring of AWS KMS keys; see the [module documentation](self).
#[derive(Clone)]
pub struct KmsKeyring {
    kms: Arc<dyn Kms>,
    mode: Mode,
}

impl fmt::Debug for KmsKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsKeyring")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl KmsKeyring {
    /// A strict keyring of `key_ids` (key ids, key ARNs, alias names or alias ARNs): each that
    /// is not already a key ARN is resolved once, now, with `DescribeKey` as `caller`. Seals
    /// under the first; opens only encrypted data keys of these keys.
    ///
    /// A caller that may not call `DescribeKey` (`AccessDenied`; least-privilege producers)
    /// keeps the id unresolved: it still names the key for `GenerateDataKey`, whose answer's
    /// key ARN becomes the provider info (as the ESDK's KMS keyring does), but it trusts no
    /// encrypted data key for opening — an unresolved id never equals a key ARN.
    ///
    /// # Errors
    /// [`KeyringError::NoKeyIds`] for an empty list; [`KeyringError::Kms`] when `DescribeKey`
    /// fails otherwise (for example `NotFound`); [`KeyringError::NotAKeyArn`] when KMS answers
    /// with something that is not a key ARN.
    pub fn strict<S: AsRef<str>>(
        kms: Arc<dyn Kms>,
        caller: &Credential,
        key_ids: &[S],
    ) -> Result<Self, KeyringError> {
        if key_ids.is_empty() {
            return Err(KeyringError::NoKeyIds);
        }
        let mut arns = Vec::with_capacity(key_ids.len());
        for id in key_ids {
            let id = id.as_ref();
            let arn = if KmsKeyArn::parse(id).is_some() {
                id.to_owned()
            } else {
                match kms.describe_key(caller, id) {
                    Ok(d) if KmsKeyArn::parse(&d.arn).is_some() => d.arn,
                    Ok(d) => return Err(KeyringError::NotAKeyArn { value: d.arn }),
                    Err(e) if e.kind() == KmsErrorKind::AccessDenied => id.to_owned(),
                    Err(e) => return Err(e.into()),
                }
            };
            if !arns.contains(&arn) {
                arns.push(arn);
            }
        }
        Ok(Self {
            kms,
            mode: Mode::Strict(arns),
        })
    }

    /// A discovery keyring: opens encrypted data keys of any KMS key in `filter`'s partition
    /// and accounts. It cannot seal.
    pub fn discovery(kms: Arc<dyn Kms>, filter: DiscoveryFilter) -> Self {
        Self {
            kms,
            mode: Mode::Discovery(filter),
        }
    }

    /// The key ARNs of a strict keyring, as resolved (an id the caller could not resolve stays
    /// as given); empty for discovery.
    pub fn key_arns(&self) -> &[String] {
        match &self.mode {
            Mode::Strict(arns) => arns,
            Mode::Discovery(_) => &[],
        }
    }

    /// The discovery filter of a discovery keyring.
    pub fn discovery_filter(&self) -> Option<&DiscoveryFilter> {
        match &self.mode {
            Mode::Strict(_) => None,
            Mode::Discovery(f) => Some(f),
        }
    }

    /// The key ARN of `edk` if this keyring trusts it.
    fn trusted_arn<'e>(&self, edk: &'e EncryptedDataKey) -> Option<&'e str> {
        if edk.provider_id != AWS_KMS_PROVIDER_ID {
            return None;
        }
        let arn = core::str::from_utf8(&edk.provider_info).ok()?;
        let parsed = KmsKeyArn::parse(arn)?;
        let trusted = match &self.mode {
            Mode::Strict(arns) => arns.iter().any(|a| a == arn),
            Mode::Discovery(filter) => filter.allows(&parsed),
        };
        trusted.then_some(arn)
    }
}

impl KmsKeyring {
    /// `data_key` wrapped under `key` with KMS `Encrypt`, as an `aws-kms` encrypted data key.
    /// KMS must answer for that very key (for an unresolved alias: with some key ARN).
    fn encrypt_under(
        &self,
        caller: &Credential,
        key: &str,
        ec: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<EncryptedDataKey, KeyringError> {
        let blob = self
            .kms
            .encrypt(caller, key, data_key.expose_secret(), ec)?;
        let answered_as_configured = if KmsKeyArn::parse(key).is_some() {
            blob.key_id == key
        } else {
            KmsKeyArn::parse(&blob.key_id).is_some()
        };
        if !answered_as_configured {
            return Err(KeyringError::UnexpectedKey {
                expected: key.to_owned(),
                returned: blob.key_id,
            });
        }
        Ok(EncryptedDataKey {
            provider_id: AWS_KMS_PROVIDER_ID.to_owned(),
            provider_info: blob.key_id.into_bytes(),
            ciphertext: blob.ciphertext_blob,
        })
    }
}

fn data_key(plaintext: SecretBytes) -> Result<DataKey, KeyringError> {
    DataKey::try_from(plaintext).map_err(|len| KeyringError::DataKeyLength { len })
}

impl Keyring for KmsKeyring {
    fn generate(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
    ) -> Result<EncryptionMaterials, KeyringError> {
        let Mode::Strict(arns) = &self.mode else {
            return Err(KeyringError::DiscoveryCannotSeal);
        };
        let (first, others) = arns.split_first().ok_or(KeyringError::NoKeyIds)?;
        let g = self
            .kms
            .generate_data_key(caller, first, DataKeySpec::Aes256, ec)?;
        // A resolved key must answer as itself; an unresolved id with some key ARN.
        let answered_as_configured = if KmsKeyArn::parse(first).is_some() {
            &g.key_id == first
        } else {
            KmsKeyArn::parse(&g.key_id).is_some()
        };
        if !answered_as_configured {
            return Err(KeyringError::UnexpectedKey {
                expected: first.clone(),
                returned: g.key_id,
            });
        }
        let mut edks = Vec::with_capacity(arns.len());
        edks.push(EncryptedDataKey {
            provider_id: AWS_KMS_PROVIDER_ID.to_owned(),
            provider_info: g.key_id.as_bytes().to_vec(),
            ciphertext: g.ciphertext_blob,
        });
        let data_key = data_key(g.plaintext)?;
        // Every further key wraps the same data key with KMS Encrypt, as the ESDK's strict
        // KMS keyring does; each of these EDKs opens the message alone.
        for other in others {
            edks.push(self.encrypt_under(caller, other, ec, &data_key)?);
        }
        Ok(EncryptionMaterials::new(data_key, edks, g.key_id))
    }

    fn wrap(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<EncryptedDataKey, KeyringError> {
        match &self.mode {
            Mode::Strict(arns) => {
                let first = arns.first().ok_or(KeyringError::NoKeyIds)?;
                self.encrypt_under(caller, first, ec, data_key)
            }
            Mode::Discovery(_) => Err(KeyringError::DiscoveryCannotSeal),
        }
    }

    fn accepts(&self, edk: &EncryptedDataKey) -> bool {
        self.trusted_arn(edk).is_some()
    }

    fn unwrap(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
        edk: &EncryptedDataKey,
    ) -> Result<UnwrappedKey, KeyringError> {
        let arn = self.trusted_arn(edk).ok_or(KeyringError::NotMine)?;
        let d = self.kms.decrypt(caller, &edk.ciphertext, ec, Some(arn))?;
        if d.key_id != arn {
            return Err(KeyringError::UnexpectedKey {
                expected: arn.to_owned(),
                returned: d.key_id,
            });
        }
        Ok(UnwrappedKey::new(data_key(d.plaintext)?, d.key_id))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn the_discovery_filter_matches_partition_and_account() {
        let arn = KmsKeyArn::parse("arn:aws:kms:us-east-1:111122223333:key/k").unwrap();
        assert!(DiscoveryFilter::new("aws", vec!["111122223333".into()]).allows(&arn));
        assert!(!DiscoveryFilter::new("aws-cn", vec!["111122223333".into()]).allows(&arn));
        assert!(!DiscoveryFilter::new("aws", vec!["444455556666".into()]).allows(&arn));
        assert!(!DiscoveryFilter::new("aws", vec![]).allows(&arn));
    }
}

//! The key store: keys, aliases and their states, identity policies, key-id resolution
//! (ids, ARNs, aliases, the lazily created `alias/aws/kinesisvideo`) and persistence.

use super::authz::Call;
use super::denial::Denial;
use super::{
    malformed, not_found, poisoned, policy, secs, state, LocalKms, KINESIS_VIDEO_ALIAS,
    MAX_POLICY_LEN,
};
use crate::crypto::DataKey;
use crate::kms::local::audit;
use crate::kms::local::policy::{Policy, PolicyKind};
use crate::kms::{Credential, KeyDescription, KeyState, KmsError, KmsErrorKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

/// Who manages a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Manager {
    Customer,
    Aws,
}

impl Manager {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Manager::Customer => "CUSTOMER",
            Manager::Aws => "AWS",
        }
    }
}

/// One KMS key. Cloned on change (copy-on-write); the material is shared, never copied.
#[derive(Clone)]
pub(super) struct KeyRecord {
    pub(super) id: String,
    /// The account that owns the key (one of the served accounts).
    pub(super) account: String,
    pub(super) arn: String,
    pub(super) material: Arc<DataKey>,
    pub(super) state: KeyState,
    pub(super) description: String,
    pub(super) manager: Manager,
    pub(super) policy_json: String,
    pub(super) policy: Arc<Policy>,
    pub(super) created: u64,
    pub(super) deletion_date: Option<u64>,
    /// The key's tags (TagResource), key → value.
    pub(super) tags: BTreeMap<String, String>,
}

impl KeyRecord {
    pub(super) fn describe(&self) -> KeyDescription {
        KeyDescription {
            arn: self.arn.clone(),
            key_id: self.id.clone(),
            account: self.account.clone(),
            state: self.state,
            description: self.description.clone(),
            manager: self.manager.as_str().to_owned(),
            deletion_date: self.deletion_date,
        }
    }

    pub(super) fn is_deleted_at(&self, now: u64) -> bool {
        self.state == KeyState::PendingDeletion && self.deletion_date.is_some_and(|d| now >= d)
    }

    /// The error AWS KMS gives for a cryptographic operation in this key's state.
    pub(super) fn usable(&self) -> Result<(), KmsError> {
        let denial = || Denial::KeyState {
            key_arn: self.arn.clone(),
            state: self.state.as_str().to_owned(),
        };
        match self.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::new(
                KmsErrorKind::Disabled,
                format!("{} is disabled.", self.arn),
            )
            .with_denial(denial())),
            KeyState::PendingDeletion => Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!("{} is pending deletion.", self.arn),
            )
            .with_denial(denial())),
            _ => Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!("{} is not available.", self.arn),
            )
            .with_denial(denial())),
        }
    }
}

/// An identity policy as given and as parsed.
#[derive(Clone)]
pub(super) struct IdentityPolicy {
    pub(super) json: String,
    pub(super) policy: Arc<Policy>,
}

#[derive(Clone, Default)]
pub(super) struct Inner {
    /// Key id → key, for every served account (key ids are unique across accounts).
    pub(super) keys: BTreeMap<String, KeyRecord>,
    /// `(account, "alias/NAME")` → key id (of a key of that account).
    pub(super) aliases: BTreeMap<(String, String), String>,
    /// principal ARN → policies.
    pub(super) identity: HashMap<String, Vec<IdentityPolicy>>,
    /// The grants of every key.
    pub(super) grants: super::grants::GrantStore,
}

/// One entry of [`LocalKms::list_aliases`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasEntry {
    /// `alias/NAME`.
    pub alias_name: String,
    /// `arn:aws:kms:REGION:ACCOUNT:alias/NAME`.
    pub alias_arn: String,
    /// The id of the key the alias points to.
    pub target_key_id: String,
}

/// How a key id named in a request resolved: a key id or an alias name, in an account.
pub(super) enum KeyRef<'a> {
    /// `(account, key id)`.
    Id(String, &'a str),
    /// `(account, "alias/NAME")`.
    Alias(String, String),
}

impl LocalKms {
    pub(super) fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Inner>, KmsError> {
        self.inner.read().map_err(|_| poisoned())
    }

    pub(super) fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, Inner>, KmsError> {
        self.inner.write().map_err(|_| poisoned())
    }

    /// Splits a `KeyId` parameter into a key id or an alias name in an account: a key or
    /// alias ARN names its account (which must be served here, and the region must be this
    /// one, else `NotFoundException`); a bare key id or `alias/NAME` is in the caller's
    /// account.
    pub(super) fn key_ref<'a>(
        &self,
        caller: &Credential,
        key_id: &'a str,
    ) -> Result<KeyRef<'a>, KmsError> {
        if key_id.is_empty() {
            return Err(KmsError::new(
                KmsErrorKind::InvalidRequest,
                "KeyId must not be empty",
            ));
        }
        if let Some(rest) = key_id.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, service, region, account, resource] = parts[..] else {
                return Err(not_found(key_id));
            };
            if partition != "aws" || service != "kms" {
                return Err(KmsError::new(
                    KmsErrorKind::InvalidRequest,
                    format!("{key_id} is not a KMS key ARN"),
                ));
            }
            if region != self.region || !self.serves(account) {
                return Err(not_found(key_id));
            }
            if let Some(id) = resource.strip_prefix("key/") {
                return Ok(KeyRef::Id(account.to_owned(), id));
            }
            if resource.starts_with("alias/") {
                return Ok(KeyRef::Alias(account.to_owned(), resource.to_owned()));
            }
            return Err(not_found(key_id));
        }
        let account = caller.account().to_owned();
        if key_id.starts_with("alias/") {
            return Ok(KeyRef::Alias(account, key_id.to_owned()));
        }
        Ok(KeyRef::Id(account, key_id))
    }

    /// Resolves `key_id` to a key, creating `alias/aws/kinesisvideo` on first use.
    /// Returns the key and the alias named, if any.
    pub(super) fn resolve(
        &self,
        call: &Call<'_>,
        key_id: &str,
    ) -> Result<(KeyRecord, Option<String>), KmsError> {
        let r = self.key_ref(call.caller, key_id)?;
        let now = secs(call.now);
        {
            let inner = self.read()?;
            if let Some(found) = Self::lookup(&inner, &r, now) {
                return Ok(found);
            }
        }
        if let KeyRef::Alias(account, name) = &r {
            // Created lazily by a caller of that (served) account only.
            if name == KINESIS_VIDEO_ALIAS
                && call.caller.account() == account
                && self.serves(account)
            {
                let mut inner = self.write()?;
                if !inner.aliases.contains_key(&(account.clone(), name.clone())) {
                    let mut next = inner.clone();
                    self.create_kinesis_video_key(&mut next, account, call.now)?;
                    self.persist(&next)?;
                    *inner = next;
                }
                if let Some(found) = Self::lookup(&inner, &r, now) {
                    return Ok(found);
                }
            }
        }
        Err(match &r {
            KeyRef::Id(..) if key_id.starts_with("arn:") => not_found(key_id),
            KeyRef::Id(account, id) => {
                not_found(&format!("Key '{}'", self.key_arn_in(account, id)))
            }
            KeyRef::Alias(account, name) => {
                not_found(&format!("Alias {}", self.alias_arn(account, name)))
            }
        })
    }

    /// The key `r` names, if it exists in the account `r` names and is not deleted.
    pub(super) fn lookup(
        inner: &Inner,
        r: &KeyRef<'_>,
        now: u64,
    ) -> Option<(KeyRecord, Option<String>)> {
        let (account, id, alias) = match r {
            KeyRef::Id(account, id) => (account, *id, None),
            KeyRef::Alias(account, name) => (
                account,
                inner
                    .aliases
                    .get(&(account.clone(), name.clone()))?
                    .as_str(),
                Some(name.clone()),
            ),
        };
        let key = inner.keys.get(id)?;
        if key.account != *account || key.is_deleted_at(now) {
            return None;
        }
        Some((key.clone(), alias))
    }

    pub(super) fn create_kinesis_video_key(
        &self,
        inner: &mut Inner,
        account: &str,
        now: SystemTime,
    ) -> Result<(), KmsError> {
        let service = format!("kinesisvideo.{}.amazonaws.com", self.region);
        let doc = serde_json::json!({
            "Version": "2012-10-17",
            "Id": "auto-kinesisvideo-1",
            "Statement": [
                {
                    "Sid": "Allow access through Kinesis Video Streams for all principals in the account that are authorized to use Kinesis Video Streams",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:CallerAccount": account,
                            "kms:ViaService": service
                        }
                    }
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": policy::root_arn(account)},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                    "Resource": "*"
                }
            ]
        });
        let json = serde_json::to_string_pretty(&doc)
            .map_err(|e| KmsError::new(KmsErrorKind::Internal, e.to_string()))?;
        let key = self.new_key_record(
            account,
            &json,
            "Default key that protects my Kinesis Video Streams data when no other key is defined",
            Manager::Aws,
            now,
        )?;
        inner.aliases.insert(
            (account.to_owned(), KINESIS_VIDEO_ALIAS.to_owned()),
            key.id.clone(),
        );
        inner.keys.insert(key.id.clone(), key);
        Ok(())
    }

    pub(super) fn new_key_record(
        &self,
        account: &str,
        policy_json: &str,
        description: &str,
        manager: Manager,
        now: SystemTime,
    ) -> Result<KeyRecord, KmsError> {
        let policy = parse_key_policy(policy_json)?;
        let mut b = [0u8; 16];
        crate::crypto::fill_random(&mut b);
        let id = audit::format_uuid(b);
        Ok(KeyRecord {
            arn: self.key_arn_in(account, &id),
            id,
            account: account.to_owned(),
            material: Arc::new(DataKey::generate()),
            state: KeyState::Enabled,
            description: description.to_owned(),
            manager,
            policy_json: policy_json.to_owned(),
            policy: Arc::new(policy),
            created: secs(now),
            deletion_date: None,
            tags: BTreeMap::new(),
        })
    }

    /// The default key policy of `CreateKey` in the primary account: the account (root) may
    /// do everything, which delegates to identity policies.
    pub fn default_key_policy(&self) -> String {
        Self::default_key_policy_for(&self.account)
    }

    /// The default key policy of `CreateKey` for a key of `account`.
    pub fn default_key_policy_for(account: &str) -> String {
        serde_json::json!({
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [{
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": policy::root_arn(account)},
                "Action": "kms:*",
                "Resource": "*"
            }]
        })
        .to_string()
    }

    /// Writes the state file, if any, with `inner`'s contents.
    pub(super) fn persist(&self, inner: &Inner) -> Result<(), KmsError> {
        match &self.state_file {
            Some(path) => state::save(path, &self.region, !self.identity_from_config, inner)
                .map_err(|e| {
                    KmsError::new(
                        KmsErrorKind::Internal,
                        format!("could not write the state file: {e}"),
                    )
                    .with_source(e)
                }),
            None => Ok(()),
        }
    }
}

pub(super) fn parse_key_policy(json: &str) -> Result<Policy, KmsError> {
    if json.len() > MAX_POLICY_LEN {
        return Err(KmsError::new(
            KmsErrorKind::MalformedPolicyDocument,
            format!(
                "the policy is {} bytes, larger than the {MAX_POLICY_LEN} KMS accepts",
                json.len()
            ),
        ));
    }
    Policy::parse(json, PolicyKind::Key).map_err(malformed)
}

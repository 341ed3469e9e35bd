//! Management calls: keys (create, enable, disable, schedule and cancel deletion), aliases, key
//! policies, and the identity policies of the IAM side.

use super::keystore::{parse_key_policy, KeyRecord, Manager};
use super::{
    not_found, secs, AliasEntry, LocalKms, Operation, MAX_PENDING_WINDOW_DAYS,
    MIN_PENDING_WINDOW_DAYS,
};
use crate::kms::{Credential, KeyDescription, KeyState, KmsError, KmsErrorKind};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

impl LocalKms {
    /// A management call that changes one key: resolve, authorize, then `change` a copy of the
    /// key; the new state is persisted before it replaces the old one.
    pub(super) fn change_key<T>(
        &self,
        caller: &Credential,
        op: Operation,
        key_id: &str,
        extra: Vec<(&'static str, Value)>,
        change: impl FnOnce(&mut KeyRecord, SystemTime) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        self.audited(
            caller,
            op,
            None,
            Some(key_id),
            None,
            extra,
            |call, resource| {
                let (key, alias) = self.resolve(call, key_id)?;
                *resource = Some(key.arn.clone());
                let mut inner = self.write()?;
                // Authorize against the key as it is now, under the write lock.
                let current = inner
                    .keys
                    .get(&key.id)
                    .filter(|k| !k.is_deleted_at(secs(call.now)))
                    .ok_or_else(|| not_found(&key.arn))?;
                self.authorize(&inner, call, Some(current), None, alias.as_deref())?;
                let mut next = inner.clone();
                let rec = next
                    .keys
                    .get_mut(&key.id)
                    .ok_or_else(|| not_found(&key.arn))?;
                let out = change(rec, call.now)?;
                self.persist(&next)?;
                *inner = next;
                Ok(out)
            },
        )
    }

    /// `CreateKey`: a new symmetric key with `policy_json` (or [`Self::default_key_policy`])
    /// and `description`.
    ///
    /// Authorized by the caller's identity (no key exists yet): the caller must be of this
    /// account and be its root or hold an identity policy allowing `kms:CreateKey` on `"*"`.
    /// The policy lockout safety check of AWS is not performed.
    ///
    /// # Errors
    /// `AccessDenied`; `MalformedPolicyDocument` for a policy
    /// that does not parse or is larger than 32 KiB; `Internal` if the state file cannot be
    /// written.
    pub fn create_key(
        &self,
        caller: &Credential,
        policy_json: Option<&str>,
        description: &str,
    ) -> Result<KeyDescription, KmsError> {
        let extra = vec![
            ("description", Value::from(description)),
            ("keySpec", Value::from("SYMMETRIC_DEFAULT")),
            ("keyUsage", Value::from("ENCRYPT_DECRYPT")),
        ];
        self.audited(
            caller,
            Operation::CreateKey,
            None,
            None,
            None,
            extra,
            |call, resource| {
                let mut inner = self.write()?;
                self.authorize(&inner, call, None, None, None)?;
                let default_policy;
                let policy_json = match policy_json {
                    Some(p) => p,
                    None => {
                        default_policy = Self::default_key_policy_for(caller.account());
                        &default_policy
                    }
                };
                let key = self.new_key_record(
                    caller.account(),
                    policy_json,
                    description,
                    Manager::Customer,
                    call.now,
                )?;
                *resource = Some(key.arn.clone());
                let desc = key.describe();
                let mut next = inner.clone();
                next.keys.insert(key.id.clone(), key);
                self.persist(&next)?;
                *inner = next;
                Ok(desc)
            },
        )
    }

    /// `CreateAlias`: `alias_name` (`alias/NAME`, not `alias/aws/...`) → `target_key_id`.
    /// Authorized as `kms:CreateAlias` on the target key.
    ///
    /// # Errors
    /// `InvalidRequest` for a malformed name, `InvalidAliasName` for a reserved one
    /// (`alias/aws/...`), `AlreadyExists` for one that exists; `NotFound`; `AccessDenied`; `InvalidState` when the key is
    /// pending deletion.
    pub fn create_alias(
        &self,
        caller: &Credential,
        alias_name: &str,
        target_key_id: &str,
    ) -> Result<(), KmsError> {
        let extra = vec![
            ("aliasName", Value::from(alias_name)),
            ("targetKeyId", Value::from(target_key_id)),
        ];
        self.audited(
            caller,
            Operation::CreateAlias,
            None,
            None,
            None,
            extra,
            |call, resource| {
                validate_alias_name(alias_name)?;
                let (key, _) = self.resolve(call, target_key_id)?;
                *resource = Some(key.arn.clone());
                let mut inner = self.write()?;
                self.authorize(&inner, call, Some(&key), None, None)?;
                if key.state == KeyState::PendingDeletion {
                    return Err(KmsError::new(
                        KmsErrorKind::InvalidState,
                        format!("{} is pending deletion.", key.arn),
                    ));
                }
                // An alias is in the caller's account and may only point to a key of it
                // (CreateAlias is not a cross-account operation: `authorize` refused others).
                let entry = (key.account.clone(), alias_name.to_owned());
                if inner.aliases.contains_key(&entry) {
                    return Err(KmsError::new(
                        KmsErrorKind::AlreadyExists,
                        format!(
                            "An alias with the name {} already exists",
                            self.alias_arn(&key.account, alias_name)
                        ),
                    ));
                }
                let mut next = inner.clone();
                next.aliases.insert(entry, key.id.clone());
                self.persist(&next)?;
                *inner = next;
                Ok(())
            },
        )
    }

    /// `DeleteAlias`. Authorized as `kms:DeleteAlias` on the key the alias points to.
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`, `InvalidAliasName` for `alias/aws/...`.
    pub fn delete_alias(&self, caller: &Credential, alias_name: &str) -> Result<(), KmsError> {
        let extra = vec![("aliasName", Value::from(alias_name))];
        self.audited(
            caller,
            Operation::DeleteAlias,
            None,
            None,
            None,
            extra,
            |call, resource| {
                validate_alias_name(alias_name)?;
                let (key, _) = self.resolve(call, alias_name)?;
                *resource = Some(key.arn.clone());
                let mut inner = self.write()?;
                self.authorize(&inner, call, Some(&key), None, None)?;
                let mut next = inner.clone();
                next.aliases
                    .remove(&(key.account.clone(), alias_name.to_owned()));
                self.persist(&next)?;
                *inner = next;
                Ok(())
            },
        )
    }

    /// `ListAliases`, optionally only those of `key_id`. Authorized by identity
    /// (`kms:ListAliases` on `"*"`) or as the account root.
    ///
    /// # Errors
    /// `AccessDenied`; `NotFound` for an unknown `key_id`.
    pub fn list_aliases(
        &self,
        caller: &Credential,
        key_id: Option<&str>,
    ) -> Result<Vec<AliasEntry>, KmsError> {
        self.audited(
            caller,
            Operation::ListAliases,
            None,
            key_id,
            None,
            Vec::new(),
            |call, _| {
                let target = match key_id {
                    Some(k) => Some(self.resolve(call, k)?.0.id),
                    None => None,
                };
                let inner = self.read()?;
                self.authorize(&inner, call, None, None, None)?;
                let now = secs(call.now);
                let account = caller.account();
                Ok(inner
                    .aliases
                    .iter()
                    .filter(|((a, _), _)| a == account)
                    .filter(|(_, id)| target.as_ref().is_none_or(|t| t == *id))
                    .filter(|(_, id)| inner.keys.get(*id).is_some_and(|k| !k.is_deleted_at(now)))
                    .map(|((_, name), id)| AliasEntry {
                        alias_name: name.clone(),
                        alias_arn: self.alias_arn(account, name),
                        target_key_id: id.clone(),
                    })
                    .collect())
            },
        )
    }

    /// `ListKeys`: the ARNs of the account's keys (deleted ones excluded). Authorized by
    /// identity (`kms:ListKeys` on `"*"`) or as the account root.
    ///
    /// # Errors
    /// `AccessDenied`.
    pub fn list_keys(&self, caller: &Credential) -> Result<Vec<String>, KmsError> {
        self.audited(
            caller,
            Operation::ListKeys,
            None,
            None,
            None,
            Vec::new(),
            |call, _| {
                let inner = self.read()?;
                self.authorize(&inner, call, None, None, None)?;
                let now = secs(call.now);
                Ok(inner
                    .keys
                    .values()
                    .filter(|k| k.account == caller.account() && !k.is_deleted_at(now))
                    .map(|k| k.arn.clone())
                    .collect())
            },
        )
    }

    /// `EnableKey`.
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`, `InvalidState` when pending deletion.
    pub fn enable_key(&self, caller: &Credential, key_id: &str) -> Result<(), KmsError> {
        self.change_key(caller, Operation::EnableKey, key_id, Vec::new(), |k, _| {
            if k.state == KeyState::PendingDeletion {
                return Err(KmsError::new(
                    KmsErrorKind::InvalidState,
                    format!("{} is pending deletion.", k.arn),
                ));
            }
            k.state = KeyState::Enabled;
            Ok(())
        })
    }

    /// `DisableKey`.
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`, `InvalidState` when pending deletion.
    pub fn disable_key(&self, caller: &Credential, key_id: &str) -> Result<(), KmsError> {
        self.change_key(caller, Operation::DisableKey, key_id, Vec::new(), |k, _| {
            if k.state == KeyState::PendingDeletion {
                return Err(KmsError::new(
                    KmsErrorKind::InvalidState,
                    format!("{} is pending deletion.", k.arn),
                ));
            }
            k.state = KeyState::Disabled;
            Ok(())
        })
    }

    /// `ScheduleKeyDeletion` after `pending_window_days` (7..=30). Returns the deletion date
    /// (seconds since the Unix epoch). The key is deleted once the date has passed.
    ///
    /// # Errors
    /// `InvalidRequest` for a window outside 7..=30; `NotFound`, `AccessDenied`;
    /// `InvalidState` when already pending deletion.
    pub fn schedule_key_deletion(
        &self,
        caller: &Credential,
        key_id: &str,
        pending_window_days: u32,
    ) -> Result<u64, KmsError> {
        let extra = vec![("pendingWindowInDays", Value::from(pending_window_days))];
        self.change_key(
            caller,
            Operation::ScheduleKeyDeletion,
            key_id,
            extra,
            |k, now| {
                if !(MIN_PENDING_WINDOW_DAYS..=MAX_PENDING_WINDOW_DAYS)
                    .contains(&pending_window_days)
                {
                    return Err(KmsError::new(
                        KmsErrorKind::InvalidRequest,
                        "PendingWindowInDays must be between 7 and 30",
                    ));
                }
                if k.state == KeyState::PendingDeletion {
                    return Err(KmsError::new(
                        KmsErrorKind::InvalidState,
                        format!("{} is pending deletion.", k.arn),
                    ));
                }
                let when = now + Duration::from_secs(u64::from(pending_window_days) * 86_400);
                let date = secs(when);
                k.state = KeyState::PendingDeletion;
                k.deletion_date = Some(date);
                Ok(date)
            },
        )
    }

    /// `CancelKeyDeletion`: the key returns to `Disabled`, as in AWS KMS.
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`; `InvalidState` when not pending deletion.
    pub fn cancel_key_deletion(&self, caller: &Credential, key_id: &str) -> Result<(), KmsError> {
        self.change_key(
            caller,
            Operation::CancelKeyDeletion,
            key_id,
            Vec::new(),
            |k, _| {
                if k.state != KeyState::PendingDeletion {
                    return Err(KmsError::new(
                        KmsErrorKind::InvalidState,
                        format!("{} is not pending deletion.", k.arn),
                    ));
                }
                k.state = KeyState::Disabled;
                k.deletion_date = None;
                Ok(())
            },
        )
    }

    /// `GetKeyPolicy`: the policy document as stored.
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`.
    pub fn get_key_policy(&self, caller: &Credential, key_id: &str) -> Result<String, KmsError> {
        let extra = vec![("policyName", Value::from("default"))];
        self.audited(
            caller,
            Operation::GetKeyPolicy,
            None,
            Some(key_id),
            None,
            extra,
            |call, resource| {
                let (key, alias) = self.resolve(call, key_id)?;
                *resource = Some(key.arn.clone());
                let inner = self.read()?;
                self.authorize(&inner, call, Some(&key), None, alias.as_deref())?;
                Ok(key.policy_json)
            },
        )
    }

    /// `PutKeyPolicy`: replaces the key policy (authorized by the *current* policy).
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`, `MalformedPolicyDocument`.
    pub fn put_key_policy(
        &self,
        caller: &Credential,
        key_id: &str,
        policy_json: &str,
    ) -> Result<(), KmsError> {
        let extra = vec![("policyName", Value::from("default"))];
        let parsed = parse_key_policy(policy_json);
        self.change_key(caller, Operation::PutKeyPolicy, key_id, extra, |k, _| {
            k.policy = Arc::new(parsed?);
            k.policy_json = policy_json.to_owned();
            Ok(())
        })
    }

    /// The state file, if persistence is enabled.
    pub fn state_file(&self) -> Option<&Path> {
        self.state_file.as_deref()
    }
}

fn validate_alias_name(name: &str) -> Result<(), KmsError> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(KmsError::new(
            KmsErrorKind::InvalidRequest,
            format!("Alias must start with the prefix \"alias/\": {name}"),
        ));
    };
    if rest.starts_with("aws/") {
        return Err(KmsError::new(
            KmsErrorKind::InvalidAliasName,
            format!("Alias {name} is reserved for AWS managed keys"),
        ));
    }
    if rest.is_empty()
        || name.len() > 256
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err(KmsError::new(
            KmsErrorKind::InvalidRequest,
            format!("Alias {name:?} must be 1 to 256 characters of a-zA-Z0-9/_-"),
        ));
    }
    Ok(())
}

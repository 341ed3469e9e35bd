//! Tags: `TagResource`, `UntagResource`, `ListResourceTags`, and `CreateKey` with `Tags`.
//!
//! As the KMS API reference and "Tags in AWS KMS" document them: a tag key is 1–128
//! characters and a value 0–256 (`ValidationException` otherwise, like every model
//! constraint); a key has at most [`MAX_TAGS_PER_KEY`] tags; tag keys beginning with `aws:`
//! (in any letter case) are reserved for AWS (`TagException`); tagging an existing key replaces
//! its value. None of the tag operations is allowed across accounts. `TagResource` and
//! `UntagResource` refuse a key pending deletion (`KMSInvalidStateException`);
//! `ListResourceTags` works in every state. `CreateKey` with tags also needs
//! `kms:TagResource` (on `"*"`, from the caller's identity), as AWS requires.
//!
//! Not modelled: the `aws:ResourceTag/KEY`, `aws:RequestTag/KEY` and `aws:TagKeys` condition
//! keys (a policy naming them is refused when parsed).

use super::keystore::Manager;
use super::{LocalKms, Operation};
use crate::kms::{Credential, KeyDescription, KeyState, KmsError, KmsErrorKind};
use serde_json::Value;
use std::collections::BTreeMap;

/// Most tags on one key.
pub const MAX_TAGS_PER_KEY: usize = 50;
/// Longest tag key (characters).
pub const MAX_TAG_KEY_LEN: usize = 128;
/// Longest tag value (characters).
pub const MAX_TAG_VALUE_LEN: usize = 256;
const MAX_LIST_LIMIT: u32 = 50;

/// One tag.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tag {
    /// `TagKey`.
    pub tag_key: String,
    /// `TagValue`.
    pub tag_value: String,
}

impl Tag {
    /// A tag `key` = `value`.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            tag_key: key.into(),
            tag_value: value.into(),
        }
    }
}

/// A page of `ListResourceTags`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListTagsPage {
    /// The tags of this page, by key.
    pub tags: Vec<Tag>,
    /// Pass as `marker` for the next page (present when `truncated`).
    pub next_marker: Option<String>,
    /// Whether more tags follow.
    pub truncated: bool,
}

fn check_tag_key(key: &str) -> Result<(), KmsError> {
    let n = key.chars().count();
    if n == 0 || n > MAX_TAG_KEY_LEN {
        return Err(KmsError::new(
            KmsErrorKind::InvalidRequest,
            format!("TagKey must be 1 to {MAX_TAG_KEY_LEN} characters, got {n}"),
        ));
    }
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(KmsError::new(
            KmsErrorKind::Tag,
            format!(
                "Tag key {:?} is not valid: tag keys beginning with \"aws:\" are reserved for AWS use",
                key.escape_debug().to_string()
            ),
        ));
    }
    Ok(())
}

fn validate_tags(tags: &[Tag]) -> Result<BTreeMap<String, String>, KmsError> {
    let mut out = BTreeMap::new();
    for t in tags {
        check_tag_key(&t.tag_key)?;
        let n = t.tag_value.chars().count();
        if n > MAX_TAG_VALUE_LEN {
            return Err(KmsError::new(
                KmsErrorKind::InvalidRequest,
                format!("TagValue must be 0 to {MAX_TAG_VALUE_LEN} characters, got {n}"),
            ));
        }
        if out.insert(t.tag_key.clone(), t.tag_value.clone()).is_some() {
            return Err(KmsError::new(
                KmsErrorKind::Tag,
                format!(
                    "Tag key {:?} appears twice in the request",
                    t.tag_key.escape_debug().to_string()
                ),
            ));
        }
    }
    if out.len() > MAX_TAGS_PER_KEY {
        return Err(too_many(out.len()));
    }
    Ok(out)
}

fn too_many(n: usize) -> KmsError {
    KmsError::new(
        KmsErrorKind::Tag,
        format!(
            "A KMS key can have at most {MAX_TAGS_PER_KEY} tags; this request would give it {n}"
        ),
    )
}

fn tags_json(tags: &[Tag]) -> Value {
    Value::from(
        tags.iter()
            .map(|t| serde_json::json!({"tagKey": t.tag_key, "tagValue": t.tag_value}))
            .collect::<Vec<_>>(),
    )
}

fn not_pending(k: &super::KeyRecord) -> Result<(), KmsError> {
    if k.state == KeyState::PendingDeletion {
        return Err(KmsError::new(
            KmsErrorKind::InvalidState,
            format!("{} is pending deletion.", k.arn),
        ));
    }
    Ok(())
}

impl LocalKms {
    /// `TagResource`: adds `tags` to the key, replacing the values of keys it has.
    /// Authorized as `kms:TagResource` on the key; not across accounts.
    ///
    /// # Errors
    /// `ValidationException` (lengths), `TagException` (reserved `aws:` keys, a key named
    /// twice, more than 50 tags), `NotFoundException`, `AccessDeniedException`,
    /// `KMSInvalidStateException` (pending deletion).
    pub fn tag_resource(
        &self,
        caller: &Credential,
        key_id: &str,
        tags: &[Tag],
    ) -> Result<(), KmsError> {
        let valid = validate_tags(tags);
        let extra = vec![("tags", tags_json(tags))];
        self.change_key(caller, Operation::TagResource, key_id, extra, |k, _| {
            let valid = valid?;
            not_pending(k)?;
            let mut merged = k.tags.clone();
            merged.extend(valid);
            if merged.len() > MAX_TAGS_PER_KEY {
                return Err(too_many(merged.len()));
            }
            k.tags = merged;
            Ok(())
        })
    }

    /// `UntagResource`: removes the tags with `tag_keys` (keys the key does not have are
    /// ignored). Authorized as `kms:UntagResource` on the key; not across accounts.
    ///
    /// # Errors
    /// `ValidationException`, `TagException` (reserved `aws:` keys), `NotFoundException`,
    /// `AccessDeniedException`, `KMSInvalidStateException` (pending deletion).
    pub fn untag_resource(
        &self,
        caller: &Credential,
        key_id: &str,
        tag_keys: &[String],
    ) -> Result<(), KmsError> {
        let valid = tag_keys.iter().try_for_each(|k| check_tag_key(k));
        let extra = vec![("tagKeys", Value::from(tag_keys.to_vec()))];
        self.change_key(caller, Operation::UntagResource, key_id, extra, |k, _| {
            valid?;
            not_pending(k)?;
            for t in tag_keys {
                k.tags.remove(t);
            }
            Ok(())
        })
    }

    /// `ListResourceTags`: the key's tags by key, `limit` (1–50, default 50) per page from
    /// `marker` (a previous page's `next_marker`). Authorized as `kms:ListResourceTags` on the
    /// key; not across accounts; in every key state.
    ///
    /// # Errors
    /// `ValidationException`, `InvalidMarkerException`, `NotFoundException`,
    /// `AccessDeniedException`.
    pub fn list_resource_tags(
        &self,
        caller: &Credential,
        key_id: &str,
        limit: Option<u32>,
        marker: Option<&str>,
    ) -> Result<ListTagsPage, KmsError> {
        self.audited(
            caller,
            Operation::ListResourceTags,
            None,
            Some(key_id),
            None,
            Vec::new(),
            |call, resource| {
                let limit = match limit {
                    None => MAX_LIST_LIMIT as usize,
                    Some(n) if (1..=MAX_LIST_LIMIT).contains(&n) => n as usize,
                    Some(n) => {
                        return Err(KmsError::new(
                            KmsErrorKind::InvalidRequest,
                            format!("Limit must be between 1 and {MAX_LIST_LIMIT}, got {n}"),
                        ))
                    }
                };
                if let Some(m) = marker {
                    let n = m.chars().count();
                    if n == 0 || n > MAX_TAG_KEY_LEN {
                        return Err(KmsError::new(
                            KmsErrorKind::InvalidMarker,
                            "The marker is not valid.",
                        ));
                    }
                }
                let (key, alias) = self.resolve(call, key_id)?;
                *resource = Some(key.arn.clone());
                let inner = self.read()?;
                self.authorize(&inner, call, Some(&key), None, alias.as_deref())?;
                let mut rest = key
                    .tags
                    .iter()
                    .filter(|(k, _)| marker.is_none_or(|m| k.as_str() >= m));
                let tags: Vec<Tag> = rest
                    .by_ref()
                    .take(limit)
                    .map(|(k, v)| Tag::new(k, v))
                    .collect();
                let next = rest.next().map(|(k, _)| k.clone());
                Ok(ListTagsPage {
                    tags,
                    truncated: next.is_some(),
                    next_marker: next,
                })
            },
        )
    }

    /// `CreateKey` with `Tags`: like [`LocalKms::create_key`], and the caller's identity must
    /// also allow `kms:TagResource` (on `"*"`), as AWS requires for the `Tags` parameter.
    ///
    /// # Errors
    /// Those of `create_key`; `ValidationException` / `TagException` for the tags, checked
    /// before the key is created (nothing is created on an error).
    pub fn create_key_with_tags(
        &self,
        caller: &Credential,
        policy_json: Option<&str>,
        description: &str,
        tags: &[Tag],
    ) -> Result<KeyDescription, KmsError> {
        let extra = vec![
            ("description", Value::from(description)),
            ("keySpec", Value::from("SYMMETRIC_DEFAULT")),
            ("keyUsage", Value::from("ENCRYPT_DECRYPT")),
            ("tags", tags_json(tags)),
        ];
        self.audited(
            caller,
            Operation::CreateKey,
            None,
            None,
            None,
            extra,
            |call, resource| {
                let tags = validate_tags(tags)?;
                let mut inner = self.write()?;
                self.authorize(&inner, call, None, None, None)?;
                let tag_call = super::authz::Call {
                    action: Operation::TagResource.action(),
                    ..*call
                };
                self.authorize(&inner, &tag_call, None, None, None)?;
                let default_policy;
                let policy_json = match policy_json {
                    Some(p) => p,
                    None => {
                        default_policy = Self::default_key_policy_for(caller.account());
                        &default_policy
                    }
                };
                let mut key = self.new_key_record(
                    caller.account(),
                    policy_json,
                    description,
                    Manager::Customer,
                    call.now,
                )?;
                key.tags = tags;
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
}

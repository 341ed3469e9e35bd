//! Management operations: keys, aliases, key policies, and list pagination.

use super::input::Input;
use super::{key_metadata, timestamp, Call, Reply, KEY_ID_MAX};
use crate::kms::KmsErrorKind;
use crate::server::errors::ApiError;
use base64::Engine as _;
use serde_json::{json, Value};

/// `PolicyType`: 1 to 131072 characters of `[\u0009\u000A\u000D\u0020-\u00FF]`.
const POLICY_MAX: usize = 131_072;
/// `DescriptionType`: 0 to 8192 characters.
const DESCRIPTION_MAX: usize = 8192;
/// `LimitType` of the List operations: 1 to 1000, default 100.
const LIMIT_MAX: i64 = 1000;
const LIMIT_DEFAULT: i64 = 100;
/// `MarkerType`: 1 to 1024 characters.
const MARKER_MAX: usize = 1024;

fn key_id(input: &mut Input) -> Result<String, ApiError> {
    input.required_string("KeyId", 1, KEY_ID_MAX)
}

fn alias_name(input: &mut Input) -> Result<String, ApiError> {
    let name = input.required_string("AliasName", 1, 256)?;
    input.pattern("AliasName", &name, "^[a-zA-Z0-9:/_-]+$", |b| {
        b.is_ascii_alphanumeric() || b":/_-".contains(&b)
    });
    Ok(name)
}

fn policy_member(input: &mut Input, required: bool) -> Result<Option<String>, ApiError> {
    let p = if required {
        Some(input.required_string("Policy", 1, POLICY_MAX)?)
    } else {
        input.string("Policy", 1, POLICY_MAX)?
    };
    if let Some(p) = &p {
        let ok = p
            .chars()
            .all(|c| matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}'));
        if !ok {
            input.fail(
                "Policy",
                None,
                "satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
            );
        }
    }
    Ok(p)
}

/// `PolicyName`: only `default` exists.
fn policy_name(input: &mut Input) -> Result<(), ApiError> {
    if let Some(name) = input.string("PolicyName", 1, 128)? {
        input.pattern("PolicyName", &name, "[\\w]+", |b| {
            b.is_ascii_alphanumeric() || b == b'_'
        });
        input.finish()?;
        if name != "default" {
            return Err(ApiError::kms(
                KmsErrorKind::NotFound,
                format!("Policy '{name}' is not found; the only key policy name is 'default'."),
            ));
        }
    }
    Ok(())
}

fn refuse_unless(
    input: &mut Input,
    member: &str,
    allowed: &[&str],
    model: &[&str],
) -> Result<(), ApiError> {
    if let Some(v) = input.enumeration(member, model)? {
        input.finish()?;
        if !allowed.contains(&v.as_str()) {
            return Err(ApiError::unsupported(format!(
                "{member} {v} is not supported by this server (only {}).",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

const KEY_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "SYMMETRIC_DEFAULT",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "SM2",
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
    "ECC_NIST_EDWARDS25519",
];

pub(super) fn create_key(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let policy = policy_member(input, false)?;
    let description = input
        .string("Description", 0, DESCRIPTION_MAX)?
        .unwrap_or_default();
    input.boolean("BypassPolicyLockoutSafetyCheck")?;
    refuse_unless(
        input,
        "KeyUsage",
        &["ENCRYPT_DECRYPT"],
        &[
            "SIGN_VERIFY",
            "ENCRYPT_DECRYPT",
            "GENERATE_VERIFY_MAC",
            "KEY_AGREEMENT",
        ],
    )?;
    refuse_unless(input, "KeySpec", &["SYMMETRIC_DEFAULT"], KEY_SPECS)?;
    refuse_unless(
        input,
        "CustomerMasterKeySpec",
        &["SYMMETRIC_DEFAULT"],
        &KEY_SPECS[..13],
    )?;
    refuse_unless(
        input,
        "Origin",
        &["AWS_KMS"],
        &["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"],
    )?;
    if input.string("CustomKeyStoreId", 1, 64)?.is_some() {
        return Err(ApiError::unsupported(
            "Custom key stores are not supported by this server.",
        ));
    }
    if input.string("XksKeyId", 1, 128)?.is_some() {
        return Err(ApiError::unsupported(
            "External key stores are not supported by this server.",
        ));
    }
    if input.boolean("MultiRegion")? == Some(true) {
        return Err(ApiError::unsupported(
            "Multi-Region keys are not supported by this server.",
        ));
    }
    let tags = super::grants::tags(input, false)?;
    input.finish()?;
    let d = call
        .kms
        .create_key_with_tags(call.caller, policy.as_deref(), &description, &tags)?;
    Ok(Reply::json(&json!({"KeyMetadata": key_metadata(&d)})))
}

pub(super) fn describe_key(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let id = key_id(input)?;
    super::grant_tokens(input)?;
    input.finish()?;
    let d = crate::kms::Kms::describe_key(call.kms, call.caller, &id)?;
    Ok(Reply::json(&json!({"KeyMetadata": key_metadata(&d)})))
}

/// `Limit` and `Marker` of a List call.
fn page_params(input: &mut Input) -> Result<(usize, Option<String>), ApiError> {
    let limit = input
        .integer("Limit", 1, LIMIT_MAX)?
        .unwrap_or(LIMIT_DEFAULT);
    let marker = input.string("Marker", 1, MARKER_MAX)?;
    input.finish()?;
    let limit = usize::try_from(limit).unwrap_or(1);
    let marker = marker
        .map(|m| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(m.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    ApiError::kms(
                        KmsErrorKind::InvalidMarker,
                        "The marker is not one this server issued.",
                    )
                })
        })
        .transpose()?;
    Ok((limit, marker))
}

/// One page of `items` (sorted by their key) after `marker`: the page, and the next marker.
fn page(
    mut items: Vec<(String, Value)>,
    limit: usize,
    marker: Option<&str>,
) -> (Vec<Value>, Option<String>) {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let start = marker.map_or(0, |m| items.partition_point(|(k, _)| k.as_str() <= m));
    let rest = items.split_off(start.min(items.len()));
    let truncated = rest.len() > limit;
    let page: Vec<(String, Value)> = rest.into_iter().take(limit).collect();
    let next = if truncated {
        page.last()
            .map(|(k, _)| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k.as_bytes()))
    } else {
        None
    };
    (page.into_iter().map(|(_, v)| v).collect(), next)
}

fn list_reply(member: &str, items: Vec<Value>, next: Option<String>) -> Reply {
    let mut body = serde_json::Map::new();
    body.insert(member.to_owned(), Value::Array(items));
    body.insert("Truncated".into(), Value::Bool(next.is_some()));
    if let Some(n) = next {
        body.insert("NextMarker".into(), Value::String(n));
    }
    Reply::json(&Value::Object(body))
}

pub(super) fn list_keys(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let (limit, marker) = page_params(input)?;
    let arns = call.kms.list_keys(call.caller)?;
    let items = arns
        .into_iter()
        .map(|arn| {
            let id = arn.rsplit_once("key/").map_or("", |(_, id)| id).to_owned();
            (arn.clone(), json!({"KeyId": id, "KeyArn": arn}))
        })
        .collect();
    let (items, next) = page(items, limit, marker.as_deref());
    Ok(list_reply("Keys", items, next))
}

pub(super) fn list_aliases(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let key = input.string("KeyId", 1, KEY_ID_MAX)?;
    let (limit, marker) = page_params(input)?;
    let aliases = call.kms.list_aliases(call.caller, key.as_deref())?;
    let items = aliases
        .into_iter()
        .map(|a| {
            (
                a.alias_arn.clone(),
                json!({"AliasName": a.alias_name, "AliasArn": a.alias_arn, "TargetKeyId": a.target_key_id}),
            )
        })
        .collect();
    let (items, next) = page(items, limit, marker.as_deref());
    Ok(list_reply("Aliases", items, next))
}

pub(super) fn create_alias(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let name = alias_name(input)?;
    let target = input.required_string("TargetKeyId", 1, KEY_ID_MAX)?;
    input.finish()?;
    call.kms.create_alias(call.caller, &name, &target)?;
    Ok(Reply::empty())
}

pub(super) fn delete_alias(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let name = alias_name(input)?;
    input.finish()?;
    call.kms.delete_alias(call.caller, &name)?;
    Ok(Reply::empty())
}

pub(super) fn enable_key(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let id = key_id(input)?;
    input.finish()?;
    call.kms.enable_key(call.caller, &id)?;
    Ok(Reply::empty())
}

pub(super) fn disable_key(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let id = key_id(input)?;
    input.finish()?;
    call.kms.disable_key(call.caller, &id)?;
    Ok(Reply::empty())
}

/// The key ARN for a `KeyId` given as an id or ARN (what the key-state calls answer).
fn key_arn(call: &Call<'_>, id: &str) -> String {
    if id.starts_with("arn:") {
        id.to_owned()
    } else {
        format!(
            "arn:aws:kms:{}:{}:key/{id}",
            call.kms.region(),
            call.caller.account()
        )
    }
}

pub(super) fn schedule_key_deletion(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let id = key_id(input)?;
    let days = input.integer("PendingWindowInDays", 1, 365)?.unwrap_or(30);
    input.finish()?;
    let days = u32::try_from(days).unwrap_or(0);
    let date = call.kms.schedule_key_deletion(call.caller, &id, days)?;
    Ok(Reply::json(&json!({
        "KeyId": key_arn(call, &id),
        "DeletionDate": timestamp(date),
        "KeyState": "PendingDeletion",
        "PendingWindowInDays": days,
    })))
}

pub(super) fn cancel_key_deletion(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let id = key_id(input)?;
    input.finish()?;
    call.kms.cancel_key_deletion(call.caller, &id)?;
    Ok(Reply::json(&json!({"KeyId": key_arn(call, &id)})))
}

pub(super) fn get_key_policy(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let id = key_id(input)?;
    input.finish()?;
    policy_name(input)?;
    let policy = call.kms.get_key_policy(call.caller, &id)?;
    Ok(Reply::json(
        &json!({"Policy": policy, "PolicyName": "default"}),
    ))
}

pub(super) fn put_key_policy(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let id = key_id(input)?;
    let policy = policy_member(input, true)?.unwrap_or_default();
    input.boolean("BypassPolicyLockoutSafetyCheck")?;
    input.finish()?;
    policy_name(input)?;
    call.kms.put_key_policy(call.caller, &id, &policy)?;
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_markers_to_the_end() {
        let items: Vec<(String, Value)> =
            (0..5).map(|i| (format!("k{i}"), Value::from(i))).collect();
        let (p1, m1) = page(items.clone(), 2, None);
        assert_eq!(p1, [Value::from(0), Value::from(1)]);
        let m1 = m1.expect("more");
        let decoded = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&m1)
                .expect("b64"),
        )
        .expect("utf8");
        let (p2, m2) = page(items.clone(), 2, Some(&decoded));
        assert_eq!(p2, [Value::from(2), Value::from(3)]);
        assert!(m2.is_some());
        let (p3, m3) = page(items, 2, Some("k3"));
        assert_eq!(p3, [Value::from(4)]);
        assert!(m3.is_none());
    }
}

//! Grants (`CreateGrant`, `ListGrants`, `ListRetirableGrants`, `RetireGrant`, `RevokeGrant`)
//! and tags (`TagResource`, `UntagResource`, `ListResourceTags`, and `CreateKey`'s `Tags`).

use super::input::Input;
use super::{grant_tokens, no_dry_run, timestamp, Call, Reply, GRANT_TOKEN_MAX, KEY_ID_MAX};
use crate::kms::local::{
    CreateGrantRequest, GrantConstraints, GrantListEntry, GrantOperation, ListGrantsPage, Tag,
};
use crate::server::errors::ApiError;
use serde_json::{json, Map, Value};

/// `PrincipalIdType`: 1 to 256 of `[\w+=,.@:/-]`.
fn principal(input: &mut Input, name: &str, required: bool) -> Result<Option<String>, ApiError> {
    let p = if required {
        Some(input.required_string(name, 1, 256)?)
    } else {
        input.string(name, 1, 256)?
    };
    if let Some(p) = &p {
        input.pattern(name, p, "^[\\w+=,.@:/-]+$", |b| {
            b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b)
        });
    }
    Ok(p)
}

/// `Limit` (1..=1000) and `Marker` (1..=1024) of the list calls; markers are LocalKms's own.
fn page_params(input: &mut Input) -> Result<(Option<u32>, Option<String>), ApiError> {
    let limit = input.integer("Limit", 1, 1000)?;
    let marker = input.string("Marker", 1, 1024)?;
    Ok((limit.and_then(|l| u32::try_from(l).ok()), marker))
}

const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
];

pub(super) fn create_grant(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let key_id = input.required_string("KeyId", 1, KEY_ID_MAX)?;
    let grantee = principal(input, "GranteePrincipal", true)?.unwrap_or_default();
    let retiring = principal(input, "RetiringPrincipal", false)?;
    let names = input.string_list("Operations", usize::MAX, 1, 64)?;
    let mut operations = Vec::new();
    match &names {
        None => input.fail_null("Operations"),
        Some(names) => {
            for n in names {
                match GrantOperation::parse(n) {
                    Some(op) => operations.push(op),
                    None => input.fail(
                        "Operations",
                        Some(n),
                        &format!("satisfy enum value set: [{}]", GRANT_OPERATIONS.join(", ")),
                    ),
                }
            }
        }
    }
    let constraints = match input.structure("Constraints")? {
        Some(mut c) => {
            let constraints = GrantConstraints {
                encryption_context_subset: c.string_map("EncryptionContextSubset")?,
                encryption_context_equals: c.string_map("EncryptionContextEquals")?,
            };
            input.absorb(c);
            Some(constraints)
        }
        None => None,
    };
    let tokens = grant_tokens(input)?;
    let name = input.string("Name", 1, 256)?;
    if let Some(n) = &name {
        input.pattern("Name", n, "^[a-zA-Z0-9:/_-]+$", |b| {
            b.is_ascii_alphanumeric() || b":/_-".contains(&b)
        });
    }
    no_dry_run(input)?;
    input.finish()?;
    let out = call.kms.create_grant(
        call.caller,
        &CreateGrantRequest {
            key_id,
            grantee_principal: grantee,
            retiring_principal: retiring,
            operations,
            constraints,
            name,
            grant_tokens: tokens,
        },
    )?;
    Ok(Reply::json(
        &json!({"GrantToken": out.grant_token, "GrantId": out.grant_id}),
    ))
}

fn context_json(m: &std::collections::BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn grant_entry(g: &GrantListEntry) -> Value {
    let mut e = Map::new();
    e.insert("KeyId".into(), Value::from(g.key_id.as_str()));
    e.insert("GrantId".into(), Value::from(g.grant_id.as_str()));
    if let Some(n) = &g.name {
        e.insert("Name".into(), Value::from(n.as_str()));
    }
    e.insert("CreationDate".into(), timestamp(g.creation_date));
    e.insert(
        "GranteePrincipal".into(),
        Value::from(g.grantee_principal.as_str()),
    );
    if let Some(r) = &g.retiring_principal {
        e.insert("RetiringPrincipal".into(), Value::from(r.as_str()));
    }
    e.insert(
        "IssuingAccount".into(),
        Value::from(format!("arn:aws:iam::{}:root", g.issuing_account)),
    );
    e.insert(
        "Operations".into(),
        Value::from(g.operations.iter().map(|o| o.name()).collect::<Vec<_>>()),
    );
    if let Some(c) = &g.constraints {
        let mut cm = Map::new();
        if let Some(s) = &c.encryption_context_subset {
            cm.insert("EncryptionContextSubset".into(), context_json(s));
        }
        if let Some(q) = &c.encryption_context_equals {
            cm.insert("EncryptionContextEquals".into(), context_json(q));
        }
        e.insert("Constraints".into(), Value::Object(cm));
    }
    Value::Object(e)
}

fn grants_reply(page: &ListGrantsPage) -> Reply {
    let mut body = Map::new();
    body.insert(
        "Grants".into(),
        Value::Array(page.grants.iter().map(grant_entry).collect()),
    );
    body.insert("Truncated".into(), Value::Bool(page.truncated));
    if let Some(m) = &page.next_marker {
        body.insert("NextMarker".into(), Value::from(m.as_str()));
    }
    Reply::json(&Value::Object(body))
}

pub(super) fn list_grants(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let key_id = input.required_string("KeyId", 1, KEY_ID_MAX)?;
    let grant_id = input.string("GrantId", 1, 128)?;
    let grantee = principal(input, "GranteePrincipal", false)?;
    let (limit, marker) = page_params(input)?;
    input.finish()?;
    let page = call.kms.list_grants(
        call.caller,
        &key_id,
        grant_id.as_deref(),
        grantee.as_deref(),
        limit,
        marker.as_deref(),
    )?;
    Ok(grants_reply(&page))
}

pub(super) fn list_retirable_grants(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let retiring = principal(input, "RetiringPrincipal", true)?.unwrap_or_default();
    let (limit, marker) = page_params(input)?;
    input.finish()?;
    let page = call
        .kms
        .list_retirable_grants(call.caller, &retiring, limit, marker.as_deref())?;
    Ok(grants_reply(&page))
}

pub(super) fn retire_grant(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let token = input.string("GrantToken", 1, GRANT_TOKEN_MAX)?;
    let key_id = input.string("KeyId", 1, KEY_ID_MAX)?;
    let grant_id = input.string("GrantId", 1, 128)?;
    no_dry_run(input)?;
    input.finish()?;
    call.kms.retire_grant(
        call.caller,
        token.as_deref(),
        key_id.as_deref(),
        grant_id.as_deref(),
    )?;
    Ok(Reply::empty())
}

pub(super) fn revoke_grant(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let key_id = input.required_string("KeyId", 1, KEY_ID_MAX)?;
    let grant_id = input.required_string("GrantId", 1, 128)?;
    no_dry_run(input)?;
    input.finish()?;
    call.kms.revoke_grant(call.caller, &key_id, &grant_id)?;
    Ok(Reply::empty())
}

/// The `Tags` member (`TagKey` 1..=128, `TagValue` 0..=256, both required).
pub(super) fn tags(input: &mut Input, required: bool) -> Result<Vec<Tag>, ApiError> {
    let Some(items) = input.structure_list("Tags")? else {
        if required {
            input.fail_null("Tags");
        }
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(items.len());
    for mut t in items {
        let tag_key = t.required_string("TagKey", 1, 128)?;
        let tag_value = t.required_string("TagValue", 0, 256)?;
        input.absorb(t);
        out.push(Tag { tag_key, tag_value });
    }
    Ok(out)
}

pub(super) fn tag_resource(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let key_id = input.required_string("KeyId", 1, KEY_ID_MAX)?;
    let tags = tags(input, true)?;
    input.finish()?;
    call.kms.tag_resource(call.caller, &key_id, &tags)?;
    Ok(Reply::empty())
}

pub(super) fn untag_resource(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let key_id = input.required_string("KeyId", 1, KEY_ID_MAX)?;
    let keys = input.string_list("TagKeys", usize::MAX, 1, 128)?;
    if keys.is_none() {
        input.fail_null("TagKeys");
    }
    input.finish()?;
    call.kms
        .untag_resource(call.caller, &key_id, &keys.unwrap_or_default())?;
    Ok(Reply::empty())
}

pub(super) fn list_resource_tags(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let key_id = input.required_string("KeyId", 1, KEY_ID_MAX)?;
    let (limit, marker) = page_params(input)?;
    input.finish()?;
    let page = call
        .kms
        .list_resource_tags(call.caller, &key_id, limit, marker.as_deref())?;
    let mut body = Map::new();
    body.insert(
        "Tags".into(),
        Value::Array(
            page.tags
                .iter()
                .map(|t| json!({"TagKey": t.tag_key, "TagValue": t.tag_value}))
                .collect(),
        ),
    );
    body.insert("Truncated".into(), Value::Bool(page.truncated));
    if let Some(m) = &page.next_marker {
        body.insert("NextMarker".into(), Value::from(m.as_str()));
    }
    Ok(Reply::json(&Value::Object(body)))
}

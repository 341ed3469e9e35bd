//! Grants in the state file: `"grants": [...]`, one object per grant. Loading checks every
//! field as `CreateGrant` does and refuses a grant of a key the file does not hold.

use super::{
    check_grant_id, check_principal, GrantConstraints, GrantOperation, GrantRecord, GrantStore,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(in crate::kms::local) struct StoredGrant {
    grant_id: String,
    key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    created: u64,
    grantee_principal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retiring_principal: Option<String>,
    issuing_account: String,
    operations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption_context_equals: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption_context_subset: Option<BTreeMap<String, String>>,
}

/// The grants to write: those of keys in `keys` (a grant dies with its key).
pub(in crate::kms::local) fn store<'a>(
    grants: &GrantStore,
    has_key: impl Fn(&str) -> bool + 'a,
) -> Vec<StoredGrant> {
    grants
        .by_id
        .values()
        .filter(|g| has_key(&g.key_id))
        .map(|g| {
            let c = g.constraints.clone().unwrap_or_default();
            StoredGrant {
                grant_id: g.grant_id.clone(),
                key_id: g.key_id.clone(),
                name: g.name.clone(),
                created: g.created,
                grantee_principal: g.grantee.clone(),
                retiring_principal: g.retiring.clone(),
                issuing_account: g.issuing_account.clone(),
                operations: g.operations.iter().map(|o| o.name().to_owned()).collect(),
                encryption_context_equals: c.encryption_context_equals,
                encryption_context_subset: c.encryption_context_subset,
            }
        })
        .collect()
}

/// Rebuilds the grant store; `key_arn` gives the ARN of a key id the file holds (`None`: the
/// grant is dangling and the file corrupt). The error names the bad grant.
pub(in crate::kms::local) fn load(
    stored: &[StoredGrant],
    key_arn: impl Fn(&str) -> Option<String>,
) -> Result<GrantStore, String> {
    let mut out = GrantStore::default();
    for (i, s) in stored.iter().enumerate() {
        let at = |what: &str| format!("grants[{i}]: {what}");
        check_grant_id(&s.grant_id).map_err(|_| at("bad grantId"))?;
        let key_arn =
            key_arn(&s.key_id).ok_or_else(|| at("grant of a key the file does not hold"))?;
        check_principal("granteePrincipal", &s.grantee_principal).map_err(|e| at(e.message()))?;
        if let Some(r) = &s.retiring_principal {
            check_principal("retiringPrincipal", r).map_err(|e| at(e.message()))?;
        }
        check_principal("issuingAccount", &s.issuing_account).map_err(|e| at(e.message()))?;
        let mut operations = Vec::with_capacity(s.operations.len());
        for o in &s.operations {
            let op =
                GrantOperation::parse(o).ok_or_else(|| at(&format!("unknown operation {o:?}")))?;
            operations.push(op);
        }
        operations.sort_unstable();
        operations.dedup();
        if operations.is_empty() {
            return Err(at("no operations"));
        }
        let constraints = GrantConstraints {
            encryption_context_equals: s.encryption_context_equals.clone(),
            encryption_context_subset: s.encryption_context_subset.clone(),
        };
        constraints.validate().map_err(|e| at(e.message()))?;
        let record = GrantRecord {
            grant_id: s.grant_id.clone(),
            key_id: s.key_id.clone(),
            key_arn,
            name: s.name.clone(),
            created: s.created,
            grantee: s.grantee_principal.clone(),
            retiring: s.retiring_principal.clone(),
            issuing_account: s.issuing_account.clone(),
            operations,
            constraints: (!constraints.is_empty()).then_some(constraints),
        };
        if out.by_id.insert(s.grant_id.clone(), record).is_some() {
            return Err(at("duplicate grantId"));
        }
    }
    Ok(out)
}

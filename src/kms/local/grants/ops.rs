//! The grant operations on [`LocalKms`], and the hook that lets grants allow a call in
//! [`LocalKms::authorize`].

use super::eval::{grant_check, GrantCheck};
use super::{
    check_grant_id, check_principal, invalid, new_grant_id, new_grant_token, parse_grant_token,
    GrantConstraints, GrantOperation, GrantRecord, MAX_GRANT_NAME_LEN, MAX_GRANT_TOKENS,
    MAX_GRANT_TOKEN_LEN,
};
use crate::format::EncryptionContext;
use crate::kms::local::authz::Call;
use crate::kms::local::keystore::{Inner, KeyRecord};
use crate::kms::local::policy::{self, Decision};
use crate::kms::local::{not_found, secs, Denial, LocalKms, Operation};
use crate::kms::{Credential, KmsError, KmsErrorKind};
use serde_json::{json, Value};
use std::cell::RefCell;

/// `CreateGrant`'s parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateGrantRequest {
    /// The key: id, ARN, alias or alias ARN (an ARN for a key of another account).
    pub key_id: String,
    /// The principal that gets the grant's permissions.
    pub grantee_principal: String,
    /// A principal that may retire the grant.
    pub retiring_principal: Option<String>,
    /// The operations allowed (at least one).
    pub operations: Vec<GrantOperation>,
    /// Encryption context constraints.
    pub constraints: Option<GrantConstraints>,
    /// A name (1–256 characters of `[a-zA-Z0-9:/_-]`) that makes retries idempotent.
    pub name: Option<String>,
    /// Grant tokens (checked with [`LocalKms::check_grant_tokens`]).
    pub grant_tokens: Vec<String>,
}

/// `CreateGrant`'s answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateGrantResponse {
    /// The grant id (64 hex digits).
    pub grant_id: String,
    /// A token for the grant; every token of a grant is equivalent.
    pub grant_token: String,
}

/// One grant, as `ListGrants` and `ListRetirableGrants` return it (`GrantListEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantListEntry {
    /// The key's ARN.
    pub key_id: String,
    /// The grant id.
    pub grant_id: String,
    /// The name, if one was given.
    pub name: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub creation_date: u64,
    /// The grantee principal.
    pub grantee_principal: String,
    /// The retiring principal.
    pub retiring_principal: Option<String>,
    /// `arn:aws:iam::ACCOUNT:root` of the account that created the grant.
    pub issuing_account: String,
    /// The operations allowed.
    pub operations: Vec<GrantOperation>,
    /// The constraints.
    pub constraints: Option<GrantConstraints>,
}

/// A page of `ListGrants` / `ListRetirableGrants`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListGrantsPage {
    /// The grants of this page.
    pub grants: Vec<GrantListEntry>,
    /// Pass as `marker` for the next page (present when `truncated`).
    pub next_marker: Option<String>,
    /// Whether more grants follow.
    pub truncated: bool,
}

/// Largest `Limit` of `ListGrants` and `ListRetirableGrants`, and the default.
const MAX_LIST_LIMIT: u32 = 100;
const DEFAULT_LIST_LIMIT: u32 = 50;

thread_local! {
    /// The constraints of the grant being created, while `create_grant` authorizes it (the
    /// call runs synchronously on this thread).
    static NEW_GRANT: RefCell<Option<GrantConstraints>> = const { RefCell::new(None) };
}

struct NewGrantScope;

impl NewGrantScope {
    fn enter(c: Option<&GrantConstraints>) -> Self {
        NEW_GRANT.with(|n| *n.borrow_mut() = c.cloned());
        NewGrantScope
    }
}

impl Drop for NewGrantScope {
    fn drop(&mut self) {
        NEW_GRANT.with(|n| *n.borrow_mut() = None);
    }
}

fn entry(g: &GrantRecord) -> GrantListEntry {
    GrantListEntry {
        key_id: g.key_arn.clone(),
        grant_id: g.grant_id.clone(),
        name: g.name.clone(),
        creation_date: g.created,
        grantee_principal: g.grantee.clone(),
        retiring_principal: g.retiring.clone(),
        issuing_account: g.issuing_account.clone(),
        operations: g.operations.clone(),
        constraints: g.constraints.clone(),
    }
}

fn check_limit(limit: Option<u32>, max: u32, default: u32) -> Result<usize, KmsError> {
    match limit {
        None => Ok(default as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(invalid(format!(
            "Limit must be between 1 and {max}, got {n}"
        ))),
    }
}

fn check_marker(marker: Option<&str>) -> Result<Option<&str>, KmsError> {
    match marker {
        Some(m) if check_grant_id(m).is_err() => Err(KmsError::new(
            KmsErrorKind::InvalidMarker,
            "The marker is not valid.",
        )),
        m => Ok(m),
    }
}

/// One page of `grants` (ordered by grant id) starting at `marker`.
fn page<'a>(
    grants: impl Iterator<Item = &'a GrantRecord>,
    marker: Option<&str>,
    limit: usize,
) -> ListGrantsPage {
    let mut rest = grants.filter(|g| marker.is_none_or(|m| g.grant_id.as_str() >= m));
    let grants: Vec<GrantListEntry> = rest.by_ref().take(limit).map(entry).collect();
    let next = rest.next().map(|g| g.grant_id.clone());
    ListGrantsPage {
        grants,
        truncated: next.is_some(),
        next_marker: next,
    }
}

fn constraints_json(c: &GrantConstraints) -> Value {
    let mut o = serde_json::Map::new();
    if let Some(m) = &c.encryption_context_equals {
        o.insert("encryptionContextEquals".into(), json!(m));
    }
    if let Some(m) = &c.encryption_context_subset {
        o.insert("encryptionContextSubset".into(), json!(m));
    }
    Value::Object(o)
}

impl LocalKms {
    /// The hook of [`LocalKms::authorize`]: when the policies did not allow the call (and did
    /// not deny it explicitly) and the call names a key, a grant of that key may allow it.
    /// A grant whose constraint the request does not meet is reported in the denial.
    pub(in crate::kms::local) fn consult_grants(
        &self,
        inner: &Inner,
        call: &Call<'_>,
        key: Option<&KeyRecord>,
        ec: Option<&EncryptionContext>,
        decision: Decision,
    ) -> Result<Decision, KmsError> {
        let (Decision::ImplicitDeny, Some(key)) = (decision, key) else {
            return Ok(decision);
        };
        let new_grant = NEW_GRANT.with(|n| n.borrow().clone());
        let check = grant_check(
            inner.grants.of_key(&key.id),
            &key.arn,
            call.caller.principal_arn(),
            call.action,
            ec,
            new_grant.as_ref(),
        );
        match check {
            GrantCheck::Allowed { .. } => Ok(Decision::Allow),
            GrantCheck::NoGrant => Ok(Decision::ImplicitDeny),
            GrantCheck::ConstraintFailed {
                grant_id,
                constraint,
            } => Err(KmsError::new(
                KmsErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {} on resource: {} because the request does not meet the constraint of grant {grant_id}: {constraint}",
                    call.caller.principal_arn(),
                    call.action,
                    key.arn
                ),
            )
            .with_denial(Denial::GrantConstraint {
                grant_id,
                constraint,
            })),
        }
    }

    /// Checks the `GrantTokens` of any request: at most 10, each 1–8192 characters
    /// (`ValidationException`) and a token this KMS issued the form of
    /// (`InvalidGrantTokenException`). Grants take effect immediately here, so a valid token
    /// changes nothing else.
    ///
    /// # Errors
    /// As above.
    pub fn check_grant_tokens(&self, tokens: &[String]) -> Result<(), KmsError> {
        if tokens.len() > MAX_GRANT_TOKENS {
            return Err(invalid(format!(
                "GrantTokens has {} members; at most {MAX_GRANT_TOKENS} are allowed",
                tokens.len()
            )));
        }
        for t in tokens {
            if t.is_empty() || t.len() > MAX_GRANT_TOKEN_LEN {
                return Err(invalid(format!(
                    "each grant token must be 1 to {MAX_GRANT_TOKEN_LEN} characters"
                )));
            }
            parse_grant_token(t)?;
        }
        Ok(())
    }

    /// Sets the "Grants per KMS key" quota (AWS's default, and this KMS's, is
    /// [`super::DEFAULT_GRANTS_PER_KEY`]; AWS lets accounts adjust it). Existing grants stay.
    ///
    /// # Errors
    /// `ValidationException` for 0; `Internal` on a poisoned lock.
    pub fn set_grants_per_key_limit(&self, limit: usize) -> Result<(), KmsError> {
        if limit == 0 {
            return Err(invalid("the grants-per-key limit must be at least 1"));
        }
        self.write()?.grants.per_key_limit = limit;
        Ok(())
    }

    /// `CreateGrant`. Authorized as `kms:CreateGrant` on the key (by its policies, or by a grant
    /// allowing `CreateGrant` whose constraints the new grant's are at least as strict as);
    /// allowed across accounts. `kms:EncryptionContext:` conditions of the policies see the
    /// constraint's pairs, as in AWS.
    ///
    /// # Errors
    /// `ValidationException` (no or unsupported operations, a malformed name, constraint or
    /// principal), `InvalidArnException` (a principal that is not an account, user, role or
    /// role-session ARN), `InvalidGrantTokenException`, `NotFoundException`,
    /// `AccessDeniedException`, `DisabledException` / `KMSInvalidStateException` (the key's
    /// state), `LimitExceededException` (grants per key).
    pub fn create_grant(
        &self,
        caller: &Credential,
        req: &CreateGrantRequest,
    ) -> Result<CreateGrantResponse, KmsError> {
        let mut extra = vec![
            (
                "granteePrincipal",
                Value::from(req.grantee_principal.as_str()),
            ),
            (
                "operations",
                Value::from(req.operations.iter().map(|o| o.name()).collect::<Vec<_>>()),
            ),
        ];
        if let Some(r) = &req.retiring_principal {
            extra.push(("retiringPrincipal", Value::from(r.as_str())));
        }
        if let Some(c) = &req.constraints {
            extra.push(("constraints", constraints_json(c)));
        }
        if let Some(n) = &req.name {
            extra.push(("name", Value::from(n.as_str())));
        }
        self.audited(
            caller,
            Operation::CreateGrant,
            None,
            Some(&req.key_id),
            None,
            extra,
            |call, resource| {
                let mut ops = req.operations.clone();
                ops.sort_unstable();
                ops.dedup();
                validate_create(req, &ops)?;
                self.check_grant_tokens(&req.grant_tokens)?;
                let constraints = req.constraints.clone().filter(|c| !c.is_empty());
                let (key, alias) = self.resolve(call, &req.key_id)?;
                *resource = Some(key.arn.clone());
                let mut inner = self.write()?;
                let current = inner
                    .keys
                    .get(&key.id)
                    .filter(|k| !k.is_deleted_at(secs(call.now)))
                    .ok_or_else(|| not_found(&key.arn))?
                    .clone();
                let ec: Option<EncryptionContext> = constraints
                    .as_ref()
                    .map(|c| c.pairs().map(|(k, v)| (k.to_owned(), v.to_owned())).collect());
                {
                    let _scope = NewGrantScope::enter(constraints.as_ref());
                    self.authorize(&inner, call, Some(&current), ec.as_ref(), alias.as_deref())?;
                }
                current.usable()?;
                let record = GrantRecord {
                    grant_id: new_grant_id(),
                    key_id: current.id.clone(),
                    key_arn: current.arn.clone(),
                    name: req.name.clone(),
                    created: secs(call.now),
                    grantee: req.grantee_principal.clone(),
                    retiring: req.retiring_principal.clone(),
                    issuing_account: policy::root_arn(call.caller.account()),
                    operations: ops,
                    constraints,
                };
                if record.name.is_some() {
                    if let Some(same) = inner
                        .grants
                        .of_key(&current.id)
                        .find(|g| g.same_parameters(&record))
                    {
                        let grant_id = same.grant_id.clone();
                        let grant_token = new_grant_token(&grant_id)?;
                        return Ok(CreateGrantResponse {
                            grant_id,
                            grant_token,
                        });
                    }
                }
                let count = inner.grants.of_key(&current.id).count();
                if count >= inner.grants.per_key_limit {
                    return Err(KmsError::new(
                        KmsErrorKind::LimitExceeded,
                        format!(
                            "The request was rejected because {} already has {count} grants, the quota of grants per KMS key.",
                            current.arn
                        ),
                    ));
                }
                let grant_id = record.grant_id.clone();
                let grant_token = new_grant_token(&grant_id)?;
                let mut next = inner.clone();
                next.grants.by_id.insert(grant_id.clone(), record);
                self.persist(&next)?;
                *inner = next;
                Ok(CreateGrantResponse {
                    grant_id,
                    grant_token,
                })
            },
        )
    }

    /// `ListGrants` of a key, optionally only grant `grant_id` or grants to `grantee`.
    /// Authorized as `kms:ListGrants` on the key; allowed across accounts; in any key state.
    /// `limit` is 1–100 (default 50); `marker` is a previous page's `next_marker`.
    ///
    /// # Errors
    /// `ValidationException`, `InvalidGrantIdException`, `InvalidMarkerException`,
    /// `NotFoundException`, `AccessDeniedException`.
    pub fn list_grants(
        &self,
        caller: &Credential,
        key_id: &str,
        grant_id: Option<&str>,
        grantee: Option<&str>,
        limit: Option<u32>,
        marker: Option<&str>,
    ) -> Result<ListGrantsPage, KmsError> {
        self.audited(
            caller,
            Operation::ListGrants,
            None,
            Some(key_id),
            None,
            Vec::new(),
            |call, resource| {
                let limit = check_limit(limit, MAX_LIST_LIMIT, DEFAULT_LIST_LIMIT)?;
                let marker = check_marker(marker)?;
                if let Some(id) = grant_id {
                    check_grant_id(id)?;
                }
                if let Some(g) = grantee {
                    check_principal("GranteePrincipal", g)?;
                }
                let (key, alias) = self.resolve(call, key_id)?;
                *resource = Some(key.arn.clone());
                let inner = self.read()?;
                self.authorize(&inner, call, Some(&key), None, alias.as_deref())?;
                let matching = inner.grants.of_key(&key.id).filter(|g| {
                    grant_id.is_none_or(|id| g.grant_id == id)
                        && grantee.is_none_or(|p| g.grantee == p)
                });
                Ok(page(matching, marker, limit))
            },
        )
    }

    /// `ListRetirableGrants`: the grants, of the keys of the caller's account, whose retiring
    /// principal is `retiring_principal`. Account-level: authorized as
    /// `kms:ListRetirableGrants` by the caller's identity; not across accounts.
    ///
    /// # Errors
    /// `ValidationException`, `InvalidArnException`, `InvalidMarkerException`,
    /// `AccessDeniedException`.
    pub fn list_retirable_grants(
        &self,
        caller: &Credential,
        retiring_principal: &str,
        limit: Option<u32>,
        marker: Option<&str>,
    ) -> Result<ListGrantsPage, KmsError> {
        let extra = vec![("retiringPrincipal", Value::from(retiring_principal))];
        self.audited(
            caller,
            Operation::ListRetirableGrants,
            None,
            None,
            None,
            extra,
            |call, _| {
                let limit = check_limit(limit, MAX_LIST_LIMIT, DEFAULT_LIST_LIMIT)?;
                let marker = check_marker(marker)?;
                check_principal("RetiringPrincipal", retiring_principal)?;
                let inner = self.read()?;
                self.authorize(&inner, call, None, None, None)?;
                let now = secs(call.now);
                let account = call.caller.account();
                let matching = inner.grants.by_id.values().filter(|g| {
                    g.retiring.as_deref() == Some(retiring_principal)
                        && super::principal_account(&g.key_arn) == Some(account)
                        && inner
                            .keys
                            .get(&g.key_id)
                            .is_some_and(|k| !k.is_deleted_at(now))
                });
                Ok(page(matching, marker, limit))
            },
        )
    }

    /// `RevokeGrant`: deletes grant `grant_id` of the key. Authorized as `kms:RevokeGrant` on
    /// the key; allowed across accounts; in any key state.
    ///
    /// # Errors
    /// `InvalidGrantIdException`, `NotFoundException` (no such key, or no such grant of it),
    /// `AccessDeniedException`.
    pub fn revoke_grant(
        &self,
        caller: &Credential,
        key_id: &str,
        grant_id: &str,
    ) -> Result<(), KmsError> {
        let extra = vec![("grantId", Value::from(grant_id))];
        self.audited(
            caller,
            Operation::RevokeGrant,
            None,
            Some(key_id),
            None,
            extra,
            |call, resource| {
                check_grant_id(grant_id)?;
                let (key, alias) = self.resolve(call, key_id)?;
                *resource = Some(key.arn.clone());
                let mut inner = self.write()?;
                self.authorize(&inner, call, Some(&key), None, alias.as_deref())?;
                if inner
                    .grants
                    .by_id
                    .get(grant_id)
                    .is_none_or(|g| g.key_id != key.id)
                {
                    return Err(not_found(&format!("Grant {grant_id} of {}", key.arn)));
                }
                let mut next = inner.clone();
                next.grants.by_id.remove(grant_id);
                self.persist(&next)?;
                *inner = next;
                Ok(())
            },
        )
    }
}

fn validate_create(req: &CreateGrantRequest, ops: &[GrantOperation]) -> Result<(), KmsError> {
    check_principal("GranteePrincipal", &req.grantee_principal)?;
    if let Some(r) = &req.retiring_principal {
        check_principal("RetiringPrincipal", r)?;
    }
    if ops.is_empty() {
        return Err(invalid("Operations must name at least one grant operation"));
    }
    if let Some(bad) = ops.iter().find(|o| !o.valid_for_symmetric_key()) {
        return Err(invalid(format!(
            "Grant operation {bad} is not valid for a symmetric encryption KMS key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)"
        )));
    }
    if let Some(c) = &req.constraints {
        c.validate()?;
    }
    if let Some(n) = &req.name {
        if n.is_empty()
            || n.len() > MAX_GRANT_NAME_LEN
            || !n
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-'))
        {
            return Err(invalid(format!(
                "Name must be 1 to {MAX_GRANT_NAME_LEN} characters of [a-zA-Z0-9:/_-]"
            )));
        }
    }
    Ok(())
}

//! `RetireGrant`: the grant, not the key policy, decides who may retire it.

use super::eval::grantee_matches;
use super::{
    check_grant_id, invalid, parse_grant_token, principal_account, GrantOperation, GrantRecord,
};
use crate::kms::local::keystore::Inner;
use crate::kms::local::policy::{self, Decision, Policy, Request, RequestContext};
use crate::kms::local::{not_found, secs, LocalKms, Operation};
use crate::kms::{Credential, KmsError, KmsErrorKind};
use serde_json::Value;

impl LocalKms {
    /// `RetireGrant`, naming the grant by `grant_token` or by `key_id` (id or ARN) and
    /// `grant_id`. As AWS documents, the grant decides who may retire it: its retiring
    /// principal, its grantee if it allows `RetireGrant`, the account that created it (root),
    /// and principals to whom the key's account (or a retiring account) delegates
    /// `kms:RetireGrant` in an identity policy. An identity policy that denies
    /// `kms:RetireGrant` wins. Key policies are not consulted. Allowed across accounts.
    ///
    /// # Errors
    /// `ValidationException` (neither a token nor a key and grant id),
    /// `InvalidGrantTokenException`, `InvalidGrantIdException`, `NotFoundException`,
    /// `AccessDeniedException`.
    pub fn retire_grant(
        &self,
        caller: &Credential,
        grant_token: Option<&str>,
        key_id: Option<&str>,
        grant_id: Option<&str>,
    ) -> Result<(), KmsError> {
        let extra = grant_id
            .map(|g| vec![("grantId", Value::from(g))])
            .unwrap_or_default();
        self.audited(
            caller,
            Operation::RetireGrant,
            None,
            key_id,
            None,
            extra,
            |call, resource| {
                let from_token = grant_token.map(parse_grant_token).transpose()?;
                if let Some(id) = grant_id {
                    check_grant_id(id)?;
                }
                let id = match (&from_token, grant_id, key_id) {
                    (Some(t), Some(g), _) if t != g => {
                        return Err(invalid("GrantId does not match the grant token"));
                    }
                    (Some(t), _, _) => t.clone(),
                    (None, Some(g), Some(_)) => g.to_owned(),
                    _ => {
                        return Err(invalid(
                            "Specify a GrantToken, or both a KeyId and a GrantId",
                        ))
                    }
                };
                let named_key = match key_id {
                    Some(k) => Some(self.resolve(call, k)?.0),
                    None => None,
                };
                let mut inner = self.write()?;
                let now = secs(call.now);
                let grant = inner
                    .grants
                    .by_id
                    .get(&id)
                    .filter(|g| named_key.as_ref().is_none_or(|k| k.id == g.key_id))
                    .filter(|g| {
                        inner
                            .keys
                            .get(&g.key_id)
                            .is_some_and(|k| !k.is_deleted_at(now))
                    })
                    .ok_or_else(|| not_found(&format!("Grant {id}")))?;
                *resource = Some(grant.key_arn.clone());
                may_retire(&inner, call.caller, grant)?;
                let mut next = inner.clone();
                next.grants.by_id.remove(&id);
                self.persist(&next)?;
                *inner = next;
                Ok(())
            },
        )
    }
}

/// The identity policies of `principal` (and, for a role session, of its role).
fn identity_of<'a>(inner: &'a Inner, principal: &str) -> Vec<&'a Policy> {
    let mut out: Vec<&Policy> = Vec::new();
    if let Some(list) = inner.identity.get(principal) {
        out.extend(list.iter().map(|p| &*p.policy));
    }
    if let Some(role) = policy::role_of_session(principal) {
        for (arn, list) in &inner.identity {
            if policy::is_role_arn_of(arn, role) {
                out.extend(list.iter().map(|p| &*p.policy));
            }
        }
    }
    out
}

/// Who may retire `grant` (see [`LocalKms::retire_grant`]).
fn may_retire(inner: &Inner, caller: &Credential, grant: &GrantRecord) -> Result<(), KmsError> {
    let principal = caller.principal_arn();
    let identity = identity_of(inner, principal);
    let req = Request {
        action: "kms:RetireGrant",
        resource: &grant.key_arn,
        context: RequestContext {
            principal_arn: principal,
            principal_account: caller.account(),
            via_service: None,
            encryption_context: None,
            request_alias: None,
            external_id: None,
        },
    };
    let denied = |why: &str| {
        KmsError::new(
            KmsErrorKind::AccessDenied,
            format!(
                "User: {principal} is not authorized to perform: kms:RetireGrant on resource: {} {why}",
                grant.key_arn
            ),
        )
    };
    let delegated = |account: &str| policy::authorize(None, account, &identity, &req);
    let key_account = principal_account(&grant.key_arn).unwrap_or_default();
    let decision = delegated(key_account);
    if decision == Decision::ExplicitDeny {
        return Err(denied("with an explicit deny"));
    }
    let by_grant = grant
        .retiring
        .as_deref()
        .is_some_and(|r| grantee_matches(r, principal))
        || (grant.operations.contains(&GrantOperation::RetireGrant)
            && grantee_matches(&grant.grantee, principal))
        || principal == grant.issuing_account;
    let retiring_account_delegates = grant.retiring.as_deref().is_some_and(|r| {
        principal_account(r)
            .is_some_and(|a| r == policy::root_arn(a) && delegated(a) == Decision::Allow)
    });
    if by_grant || decision == Decision::Allow || retiring_account_delegates {
        Ok(())
    } else {
        Err(denied(
            "because it is not the grant's retiring principal, a grantee allowed to retire it, or the account that created it, and no identity policy delegates kms:RetireGrant",
        ))
    }
}

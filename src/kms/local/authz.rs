//! Authorization and the per-call pipeline: every call is one [`Call`], checked against the
//! key policy and the caller's identity policies with the IAM rules of [`super::policy`], and
//! recorded in the audit trail whatever its outcome.

use super::denial::{Denial, Enforcement, PolicyHalf, PolicyRef, StatementRef};
use super::keystore::{Inner, KeyRecord};
use super::policy::{self, Decision, DenyAt, Request, RequestContext};
use super::{audit, AuditEvent, LocalKms, Operation, Policy};
use crate::format::EncryptionContext;
use crate::kms::{Credential, KmsError, KmsErrorKind};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::SystemTime;

/// Per-call data common to every operation.
#[derive(Clone, Copy)]
pub(super) struct Call<'a> {
    pub(super) caller: &'a Credential,
    pub(super) op: Operation,
    /// The IAM action authorized: `op.action()`, except for the second half of a call that
    /// needs two permissions (`ReEncrypt`: `kms:ReEncryptFrom` on the source key, then
    /// `kms:ReEncryptTo` on the destination key, as `Call { action: .., ..*call }`).
    pub(super) action: &'static str,
    pub(super) via_service: Option<&'a str>,
    pub(super) now: SystemTime,
    /// In [`Enforcement::Soft`]: the first denial that was let through, for the audit record.
    pub(super) would_deny: &'a RefCell<Option<Denial>>,
}

impl LocalKms {
    /// Authorizes `call` on `key` (or on the account when `key` is `None`).
    ///
    /// A refusal is `AccessDeniedException` carrying the deciding [`Denial`]. In
    /// [`Enforcement::Soft`] a softenable denial is noted on the call (for its audit record)
    /// and `Ok` is returned.
    pub(super) fn authorize(
        &self,
        inner: &Inner,
        call: &Call<'_>,
        key: Option<&KeyRecord>,
        ec: Option<&EncryptionContext>,
        alias: Option<&str>,
    ) -> Result<(), KmsError> {
        match self.decide(inner, call, key, ec, alias) {
            Ok(()) => Ok(()),
            Err(e) => {
                let soft = self.enforcement() == Enforcement::Soft
                    && e.denial().is_some_and(Denial::softenable);
                if soft {
                    let mut noted = call.would_deny.borrow_mut();
                    if noted.is_none() {
                        *noted = e.denial().cloned();
                    }
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The strict decision of [`Self::authorize`].
    fn decide(
        &self,
        inner: &Inner,
        call: &Call<'_>,
        key: Option<&KeyRecord>,
        ec: Option<&EncryptionContext>,
        alias: Option<&str>,
    ) -> Result<(), KmsError> {
        let caller = call.caller;
        let resource = key.map_or("*", |k| k.arn.as_str());
        let refuse = |why: &str, denial: Denial| {
            KmsError::new(
                KmsErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {} on resource: {resource} {why}",
                    caller.principal_arn(),
                    call.action,
                ),
            )
            .with_denial(denial)
        };
        // The account the call acts in: the key's, or for an account-level call the caller's
        // (which must be served here).
        let key_account = key.map_or(caller.account(), |k| k.account.as_str());
        let foreign = caller.account() != key_account || !self.serves(key_account);
        if foreign && !call.op.cross_account() {
            return Err(refuse(
                "(not permitted across accounts)",
                Denial::NotCrossAccount {
                    action: call.action.to_owned(),
                },
            ));
        }
        // The caller's identity policies, with the principal each is attached to and its
        // position there (for the denial).
        let mut identity: Vec<(&str, usize, &Policy)> = Vec::new();
        if let Some(list) = inner.identity.get(caller.principal_arn()) {
            identity.extend(
                list.iter()
                    .enumerate()
                    .map(|(i, p)| (caller.principal_arn(), i, &*p.policy)),
            );
        }
        if let Some(role) = policy::role_of_session(caller.principal_arn()) {
            let mut roles: Vec<&String> = inner
                .identity
                .keys()
                .filter(|arn| policy::is_role_arn_of(arn, role))
                .collect();
            roles.sort();
            for arn in roles {
                if let Some(list) = inner.identity.get(arn) {
                    identity.extend(
                        list.iter()
                            .enumerate()
                            .map(|(i, p)| (arn.as_str(), i, &*p.policy)),
                    );
                }
            }
        }
        let policies: Vec<&Policy> = identity.iter().map(|(_, _, p)| *p).collect();
        let req = Request {
            action: call.action,
            resource,
            context: RequestContext {
                principal_arn: caller.principal_arn(),
                principal_account: caller.account(),
                via_service: call.via_service,
                encryption_context: ec,
                request_alias: alias,
                external_id: None,
            },
        };
        let x = policy::authorize_explained(key.map(|k| &*k.policy), key_account, &policies, &req);
        let statement_ref = |p: &Policy, i: usize| {
            p.statements()
                .get(i)
                .and_then(|s| s.sid())
                .map_or(StatementRef::Index(i), |sid| {
                    StatementRef::Sid(sid.to_owned())
                })
        };
        // A grant of the key may allow what the policies leave implicitly denied (an explicit
        // Deny still wins); a grant whose constraint fails is the denial's reason.
        let decision = self.consult_grants(inner, call, key, ec, x.decision)?;
        match decision {
            Decision::Allow => Ok(()),
            Decision::ExplicitDeny => {
                let (policy, statement) = match x.deny {
                    Some(DenyAt::IdentityPolicy { policy, statement }) => {
                        let (arn, index, p) = identity[policy];
                        (
                            PolicyRef::IdentityPolicy {
                                principal_arn: arn.to_owned(),
                                index,
                            },
                            statement_ref(p, statement),
                        )
                    }
                    Some(DenyAt::KeyPolicy { statement }) => (
                        PolicyRef::KeyPolicy {
                            key_arn: resource.to_owned(),
                        },
                        key.map_or(StatementRef::Index(statement), |k| {
                            statement_ref(&k.policy, statement)
                        }),
                    ),
                    // `authorize_explained` always says where an explicit deny is.
                    None => (
                        PolicyRef::KeyPolicy {
                            key_arn: resource.to_owned(),
                        },
                        StatementRef::Index(0),
                    ),
                };
                Err(refuse(
                    "with an explicit deny",
                    Denial::ExplicitDeny { policy, statement },
                ))
            }
            Decision::ImplicitDeny => {
                let key_allows = x.key_policy_direct || x.key_policy_account;
                let denial = if key.is_none() {
                    Denial::NoAllow {
                        missing: PolicyHalf::IdentityPolicy,
                        present: None,
                    }
                } else if !key_allows {
                    Denial::NoAllow {
                        missing: PolicyHalf::KeyPolicy,
                        present: x.identity_allows.then_some(PolicyHalf::IdentityPolicy),
                    }
                } else if x.cross_account {
                    Denial::CrossAccountIdentityMissing {
                        key_arn: resource.to_owned(),
                    }
                } else {
                    Denial::NoAllow {
                        missing: PolicyHalf::IdentityPolicy,
                        present: Some(PolicyHalf::KeyPolicy),
                    }
                };
                let why = format!(
                    "because no {} allows the {} action",
                    if key.is_some() && !key_allows {
                        "resource-based policy"
                    } else {
                        "identity-based policy"
                    },
                    call.action
                );
                Err(refuse(&why, denial))
            }
        }
    }

    /// Runs `f` as one audited call.
    #[allow(
        clippy::too_many_arguments,
        reason = "private helper mirroring the audit event's request fields"
    )]
    pub(super) fn audited<T>(
        &self,
        caller: &Credential,
        op: Operation,
        via_service: Option<&str>,
        key_id: Option<&str>,
        ec: Option<&EncryptionContext>,
        extra: Vec<(&'static str, Value)>,
        f: impl FnOnce(&Call<'_>, &mut Option<String>) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let now = self.clock.now();
        let would_deny = RefCell::new(None);
        let call = Call {
            caller,
            op,
            action: op.action(),
            via_service,
            now,
            would_deny: &would_deny,
        };
        let mut resource = None;
        // No identity check here: `Credential::new` refuses control characters (and an account
        // that contradicts the ARN), so the caller can be recorded as it is.
        // A session credential past its expiry on this KMS's clock is refused before anything
        // else (as AWS does), and audited like any refusal.
        let result = self
            .audit
            .check()
            .and_then(|()| session_is_current(caller, now))
            .and_then(|()| f(&call, &mut resource));
        // The key's owner, or the caller's account for an account-level call.
        let recipient_account = resource
            .as_deref()
            .and_then(|arn| arn.split(':').nth(4))
            .unwrap_or(caller.account())
            .to_owned();
        let origin = audit::current_origin();
        let written = self.audit.record(AuditEvent {
            event_time: now,
            operation: op,
            region: self.region.clone(),
            recipient_account,
            caller: caller.clone(),
            via_service: via_service.map(str::to_owned),
            key_id: key_id.map(str::to_owned),
            encryption_context: ec.cloned(),
            extra_parameters: extra,
            resource_arn: resource,
            error: result
                .as_ref()
                .err()
                .map(|e| (e.code().to_owned(), e.message().to_owned())),
            denial: match &result {
                Err(e) => e.denial().cloned(),
                Ok(_) => None,
            },
            would_be_denied: would_deny.into_inner(),
            enforcement: self.enforcement(),
            // A served request already has its id (the record takes it from the origin).
            request_id: origin
                .as_ref()
                .map_or_else(audit::random_uuid, |o| o.request_id.clone()),
            origin,
            event_id: audit::random_uuid(),
        });
        match written {
            Ok(()) => result,
            // Fail closed: a call whose audit record could not be written has no result (a
            // data key in `result` is dropped, and zeroized, here).
            Err(e) => Err(e),
        }
    }
}

/// `ExpiredTokenException` for a credential whose expiry is at or before `now`.
fn session_is_current(caller: &Credential, now: SystemTime) -> Result<(), KmsError> {
    if caller.is_expired_at(now) {
        return Err(KmsError::new(
            KmsErrorKind::ExpiredToken,
            "The security token included in the request is expired",
        ));
    }
    Ok(())
}

/// Refuses an encryption context with two keys that differ only in ASCII letter case.
///
/// AWS KMS matches the KEY of a `kms:EncryptionContext:KEY` condition case-insensitively, so a
/// policy pinning `aws:kinesisvideo:arn` also sees `AWS:KINESISVIDEO:ARN`; with both present, a
/// single-valued condition could be satisfied by either value (issue 11, item 1). AWS accepts
/// such a context; the local KMS refuses it (`ValidationException`), since no key policy can
/// say which of the two it meant.
pub(super) fn check_context(ec: &EncryptionContext) -> Result<(), KmsError> {
    let mut seen: HashMap<String, &str> = HashMap::with_capacity(ec.len());
    for (key, _) in ec.iter() {
        if let Some(first) = seen.insert(key.to_ascii_lowercase(), key) {
            return Err(KmsError::new(
                KmsErrorKind::InvalidRequest,
                format!(
                    "the encryption context has the keys \"{}\" and \"{}\", which differ only in \
                     letter case: kms:EncryptionContext:KEY conditions compare keys \
                     case-insensitively, so this context is ambiguous to key policies and is \
                     refused",
                    first.escape_debug(),
                    key.escape_debug()
                ),
            ));
        }
    }
    Ok(())
}

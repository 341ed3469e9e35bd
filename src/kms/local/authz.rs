//! Authorization and the per-call pipeline: every call is one [`Call`], checked against the
//! key policy and the caller's identity policies with the IAM rules of [`super::policy`], and
//! recorded in the audit trail whatever its outcome.

use super::keystore::{Inner, KeyRecord};
use super::policy::{self, Decision, Request, RequestContext};
use super::{audit, AuditEvent, LocalKms, Operation, Policy};
use crate::format::EncryptionContext;
use crate::kms::{Credential, KmsError, KmsErrorKind};
use serde_json::Value;
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
}

impl LocalKms {
    /// Authorizes `call` on `key` (or on the account when `key` is `None`).
    pub(super) fn authorize(
        &self,
        inner: &Inner,
        call: &Call<'_>,
        key: Option<&KeyRecord>,
        ec: Option<&EncryptionContext>,
        alias: Option<&str>,
    ) -> Result<(), KmsError> {
        let caller = call.caller;
        if caller.account() != self.account && !call.op.cross_account() {
            return Err(KmsError::new(
                KmsErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {} on resource: {} (not permitted across accounts)",
                    caller.principal_arn(),
                    call.action,
                    key.map_or("*", |k| k.arn.as_str())
                ),
            ));
        }
        let mut identity: Vec<&Policy> = Vec::new();
        if let Some(list) = inner.identity.get(caller.principal_arn()) {
            identity.extend(list.iter().map(|p| &*p.policy));
        }
        if let Some(role) = policy::role_of_session(caller.principal_arn()) {
            for (arn, list) in &inner.identity {
                if policy::is_role_arn_of(arn, role) {
                    identity.extend(list.iter().map(|p| &*p.policy));
                }
            }
        }
        let resource = key.map_or("*", |k| k.arn.as_str());
        let req = Request {
            action: call.action,
            resource,
            context: RequestContext {
                principal_arn: caller.principal_arn(),
                principal_account: caller.account(),
                via_service: call.via_service,
                encryption_context: ec,
                request_alias: alias,
            },
        };
        let decision = policy::authorize(key.map(|k| &*k.policy), &self.account, &identity, &req);
        // s3-grants: a grant of the key may allow what the policies leave implicitly denied
        // (an explicit Deny still wins); a grant whose constraint fails is reported.
        let decision = self.consult_grants(inner, call, key, ec, decision)?;
        match decision {
            Decision::Allow => Ok(()),
            Decision::ExplicitDeny => Err(KmsError::new(
                KmsErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {} on resource: {} with an explicit deny",
                    caller.principal_arn(),
                    call.action,
                    resource
                ),
            )),
            Decision::ImplicitDeny => Err(KmsError::new(
                KmsErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {} on resource: {} because no {} allows the {} action",
                    caller.principal_arn(),
                    call.action,
                    resource,
                    if key.is_some() { "resource-based policy" } else { "identity-based policy" },
                    call.action
                ),
            )),
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
        let call = Call {
            caller,
            op,
            action: op.action(),
            via_service,
            now,
        };
        let mut resource = None;
        // No identity check here: `Credential::new` refuses control characters (and an account
        // that contradicts the ARN), so the caller can be recorded as it is.
        let result = self.audit.check().and_then(|()| f(&call, &mut resource));
        let written = self.audit.record(AuditEvent {
            event_time: now,
            operation: op,
            region: self.region.clone(),
            recipient_account: self.account.clone(),
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
            request_id: audit::random_uuid(),
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

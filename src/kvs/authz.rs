//! Authorization of the `kinesisvideo:` actions, with the IAM evaluator of the local KMS.
//!
//! The identity policies are IAM's, so they are read from the same place as the KMS's own
//! checks: [`LocalKms::identity_policies`] of the caller's principal ARN and, for a role
//! session (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`), of the role
//! `arn:aws:iam::ACCOUNT:role/NAME` (a role with a path is named without it, as in the KMS's
//! evaluation). One policy document can therefore hold a producer's `kms:GenerateDataKey` and
//! its `kinesisvideo:PutMedia`, as the KVS documentation's examples do.
//!
//! The decision is IAM's for an identity-only request ([`authorize`] without a resource
//! policy): an explicit `Deny` wins; otherwise an `Allow` must apply to the action and the
//! stream ARN (or `*` for ListStreams); the account root may do everything in its account;
//! principals of another account are refused (KVS has no resource policies on streams).

use super::errors::{KvsError, KvsErrorKind};
use crate::kms::local::policy::{
    self, authorize, Decision, Policy, PolicyKind, Request, RequestContext,
};
use crate::kms::local::LocalKms;
use crate::kms::Credential;

/// A `kinesisvideo:` action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// `kinesisvideo:CreateStream`.
    CreateStream,
    /// `kinesisvideo:DescribeStream`.
    DescribeStream,
    /// `kinesisvideo:ListStreams`.
    ListStreams,
    /// `kinesisvideo:UpdateStream`.
    UpdateStream,
    /// `kinesisvideo:UpdateDataRetention`.
    UpdateDataRetention,
    /// `kinesisvideo:DeleteStream`.
    DeleteStream,
    /// `kinesisvideo:GetDataEndpoint`.
    GetDataEndpoint,
    /// `kinesisvideo:PutMedia`.
    PutMedia,
    /// `kinesisvideo:GetMedia`.
    GetMedia,
    /// `kinesisvideo:ListFragments`.
    ListFragments,
    /// `kinesisvideo:GetMediaForFragmentList`.
    GetMediaForFragmentList,
}

impl Action {
    /// The IAM action name, `kinesisvideo:NAME`.
    pub fn name(self) -> &'static str {
        match self {
            Action::CreateStream => "kinesisvideo:CreateStream",
            Action::DescribeStream => "kinesisvideo:DescribeStream",
            Action::ListStreams => "kinesisvideo:ListStreams",
            Action::UpdateStream => "kinesisvideo:UpdateStream",
            Action::UpdateDataRetention => "kinesisvideo:UpdateDataRetention",
            Action::DeleteStream => "kinesisvideo:DeleteStream",
            Action::GetDataEndpoint => "kinesisvideo:GetDataEndpoint",
            Action::PutMedia => "kinesisvideo:PutMedia",
            Action::GetMedia => "kinesisvideo:GetMedia",
            Action::ListFragments => "kinesisvideo:ListFragments",
            Action::GetMediaForFragmentList => "kinesisvideo:GetMediaForFragmentList",
        }
    }
}

/// The identity policies that apply to `caller`, parsed.
///
/// # Errors
/// `InvalidArgumentException` naming the policy element when a stored policy does not parse
/// (fail closed: it is never skipped).
fn identity_policies(kms: &LocalKms, caller: &Credential) -> Result<Vec<Policy>, KvsError> {
    let mut docs = kms.identity_policies(caller.principal_arn());
    if let Some((account, role)) = policy::role_of_session(caller.principal_arn()) {
        docs.extend(kms.identity_policies(&format!("arn:aws:iam::{account}:role/{role}")));
    }
    docs.iter()
        .map(|d| {
            Policy::parse(d, PolicyKind::Identity).map_err(|e| {
                KvsError::new(
                    KvsErrorKind::NotAuthorized,
                    format!("an identity policy of the caller does not parse ({e}); denied"),
                )
            })
        })
        .collect()
}

/// Checks that `caller` may perform `action` on `resource` (a stream ARN, or `*`).
///
/// # Errors
/// `NotAuthorizedException`, in KVS's words, naming the caller, the action and the resource.
pub fn check(
    kms: &LocalKms,
    caller: &Credential,
    action: Action,
    resource: &str,
    resource_account: &str,
) -> Result<(), KvsError> {
    let policies = identity_policies(kms, caller)?;
    let refs: Vec<&Policy> = policies.iter().collect();
    let req = Request {
        action: action.name(),
        resource,
        context: RequestContext {
            principal_arn: caller.principal_arn(),
            principal_account: caller.account(),
            via_service: None,
            encryption_context: None,
            request_alias: None,
            external_id: None,
        },
    };
    match authorize(None, resource_account, &refs, &req) {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny => Err(KvsError::new(
            KvsErrorKind::NotAuthorized,
            format!(
                "User: {} is not authorized to perform: {} on resource: {} with an explicit deny",
                caller.principal_arn(),
                action.name(),
                resource
            ),
        )),
        Decision::ImplicitDeny => Err(KvsError::new(
            KvsErrorKind::NotAuthorized,
            format!(
                "User: {} is not authorized to perform: {} on resource: {}",
                caller.principal_arn(),
                action.name(),
                resource
            ),
        )),
    }
}

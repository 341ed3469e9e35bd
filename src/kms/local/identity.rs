//! The IAM side: identity policies attached to principals (users, roles), one at a time or
//! replaced all at once from a configuration (the server's IAM file).

use super::keystore::IdentityPolicy;
use super::{malformed, LocalKms, Policy, PolicyKind};
use crate::kms::{KmsError, KmsErrorKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

impl LocalKms {
    /// Attaches an identity policy to `principal_arn` (an IAM user or role ARN; policies of a
    /// role also apply to its sessions). This is IAM, not KMS: it is not audited and needs no
    /// caller.
    ///
    /// # Errors
    /// `MalformedPolicyDocument` (the message names the bad element's path), `Internal` if the
    /// state file cannot be written.
    pub fn attach_identity_policy(
        &self,
        principal_arn: &str,
        policy_json: &str,
    ) -> Result<(), KmsError> {
        let policy = Policy::parse(policy_json, PolicyKind::Identity).map_err(malformed)?;
        let mut inner = self.write()?;
        let mut next = inner.clone();
        next.identity
            .entry(principal_arn.to_owned())
            .or_default()
            .push(IdentityPolicy {
                json: policy_json.to_owned(),
                policy: Arc::new(policy),
            });
        self.persist(&next)?;
        *inner = next;
        Ok(())
    }

    /// Removes every identity policy of `principal_arn`.
    ///
    /// # Errors
    /// `Internal` if the state file cannot be written.
    pub fn detach_identity_policies(&self, principal_arn: &str) -> Result<(), KmsError> {
        let mut inner = self.write()?;
        let mut next = inner.clone();
        next.identity.remove(principal_arn);
        self.persist(&next)?;
        *inner = next;
        Ok(())
    }

    /// The identity policies attached to `principal_arn`, as given.
    pub fn identity_policies(&self, principal_arn: &str) -> Vec<String> {
        self.read()
            .ok()
            .and_then(|i| {
                i.identity
                    .get(principal_arn)
                    .map(|l| l.iter().map(|p| p.json.clone()).collect())
            })
            .unwrap_or_default()
    }

    /// Replaces *every* identity policy with `policies` (principal ARN → policy documents),
    /// atomically: each document is parsed first, and if any is refused nothing changes.
    /// Principals absent from `policies` lose theirs. Not audited (this is IAM, not KMS).
    ///
    /// With [`LocalKmsBuilder::identity_from_config`](super::LocalKmsBuilder::identity_from_config)
    /// the policies are not written to the state file; otherwise it is rewritten.
    ///
    /// # Errors
    /// `MalformedPolicyDocument` naming the principal and the policy's position (nothing is
    /// replaced); `Internal` if the state file cannot be written (nothing is replaced).
    pub fn replace_identity_policies(
        &self,
        policies: BTreeMap<String, Vec<String>>,
    ) -> Result<(), KmsError> {
        let mut parsed: HashMap<String, Vec<IdentityPolicy>> =
            HashMap::with_capacity(policies.len());
        for (principal, docs) in policies {
            let mut list = Vec::with_capacity(docs.len());
            for (i, json) in docs.into_iter().enumerate() {
                let policy = Policy::parse(&json, PolicyKind::Identity).map_err(|e| {
                    KmsError::new(
                        KmsErrorKind::MalformedPolicyDocument,
                        format!("identity policy #{i} of {principal}: {e}"),
                    )
                    .with_source(e)
                })?;
                list.push(IdentityPolicy {
                    json,
                    policy: Arc::new(policy),
                });
            }
            if !list.is_empty() {
                parsed.insert(principal, list);
            }
        }
        let mut inner = self.write()?;
        let mut next = inner.clone();
        next.identity = parsed;
        self.persist(&next)?;
        *inner = next;
        Ok(())
    }
}

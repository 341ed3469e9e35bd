//! The decision: which statements apply to a request, and [`authorize`].

use super::condition::RequestContext;
use super::document::{Effect, Patterns, Policy, PrincipalEntry, PrincipalSpec, Statement};
use super::pattern::{arn_match, glob};
use crate::arn::{Principal, PrincipalArn};

/// How a statement's principal matched the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PrincipalMatch {
    No,
    Direct,
    Account,
}

impl Statement {
    fn principal_match(&self, req: &Request<'_>) -> PrincipalMatch {
        match &self.principal {
            PrincipalSpec::Attached => PrincipalMatch::Direct,
            PrincipalSpec::Principal(entries) => entries
                .iter()
                .map(|e| entry_match(e, req))
                .max_by_key(|m| match m {
                    PrincipalMatch::No => 0,
                    PrincipalMatch::Account => 1,
                    PrincipalMatch::Direct => 2,
                })
                .unwrap_or(PrincipalMatch::No),
            PrincipalSpec::NotPrincipal(entries) => {
                if not_principal_excludes(entries, req) {
                    PrincipalMatch::No
                } else {
                    PrincipalMatch::Direct
                }
            }
        }
    }

    fn action_matches(&self, action: &str) -> bool {
        match &self.actions {
            Patterns::Match(p) => p.iter().any(|p| glob(p, action, true)),
            Patterns::NotMatch(p) => !p.iter().any(|p| glob(p, action, true)),
        }
    }

    fn resource_matches(&self, resource: &str) -> bool {
        match &self.resources {
            Patterns::Match(p) => p.iter().any(|p| arn_match(p, resource)),
            Patterns::NotMatch(p) => !p.iter().any(|p| arn_match(p, resource)),
        }
    }

    /// How this statement applies to `req`: `No` when it does not.
    fn applies(&self, req: &Request<'_>) -> PrincipalMatch {
        if !self.action_matches(req.action) || !self.resource_matches(req.resource) {
            return PrincipalMatch::No;
        }
        let m = self.principal_match(req);
        if m == PrincipalMatch::No {
            return m;
        }
        if self
            .conditions
            .iter()
            .all(|c| c.eval(&req.context, self.effect))
        {
            m
        } else {
            PrincipalMatch::No
        }
    }
}

fn entry_match(entry: &PrincipalEntry, req: &Request<'_>) -> PrincipalMatch {
    let caller = req.context.principal_arn;
    match entry {
        PrincipalEntry::Anyone => PrincipalMatch::Direct,
        PrincipalEntry::Account(acct) => {
            if caller == root_arn(acct) {
                PrincipalMatch::Direct
            } else if req.context.principal_account == acct {
                PrincipalMatch::Account
            } else {
                PrincipalMatch::No
            }
        }
        PrincipalEntry::Arn(arn) => {
            if arn == caller || role_of_session(caller).is_some_and(|r| is_role_arn_of(arn, r)) {
                PrincipalMatch::Direct
            } else {
                PrincipalMatch::No
            }
        }
        PrincipalEntry::Other(_) => PrincipalMatch::No,
    }
}

/// Whether a `NotPrincipal` list (always with `Deny`, checked at parse time) exempts the caller.
///
/// AWS may check the caller's account first, then the principal (for a role session: the
/// account, the role, then the session), and documents that the list must name the account
/// as well as the principal. So the account root is exempt when its account is listed; any
/// other caller only when its account is listed *and* it is named directly (its ARN, or for a
/// role session its role's ARN or the session's ARN). An account entry alone exempts only the
/// account root; a principal's ARN without its account exempts nobody.
fn not_principal_excludes(entries: &[PrincipalEntry], req: &Request<'_>) -> bool {
    let account = req.context.principal_account;
    let names_account = entries.iter().any(|e| match e {
        PrincipalEntry::Anyone => true,
        PrincipalEntry::Account(a) => a == account,
        PrincipalEntry::Arn(_) | PrincipalEntry::Other(_) => false,
    });
    if !names_account {
        return false;
    }
    if req.context.principal_arn == root_arn(account) {
        return true;
    }
    entries.iter().any(|e| {
        matches!(e, PrincipalEntry::Anyone | PrincipalEntry::Arn(_))
            && entry_match(e, req) == PrincipalMatch::Direct
    })
}

/// `arn:aws:iam::ACCOUNT:root`.
pub fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// For `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`, `(ACCOUNT, NAME)`.
pub fn role_of_session(arn: &str) -> Option<(&str, &str)> {
    let p = PrincipalArn::parse(arn).filter(|p| p.arn().partition() == "aws")?;
    match p.principal() {
        Principal::AssumedRole { role, .. } => Some((p.account(), role)),
        _ => None,
    }
}

/// Whether role ARN `arn:aws:iam::ACCOUNT:role[/path]/NAME` is the role `(account, name)`
/// (as returned by [`role_of_session`]).
pub fn is_role_arn_of(role_arn: &str, (account, name): (&str, &str)) -> bool {
    let Some(p) = PrincipalArn::parse(role_arn).filter(|p| p.arn().partition() == "aws") else {
        return false;
    };
    match p.principal() {
        Principal::Role(path_and_name) => {
            p.account() == account && path_and_name.rsplit('/').next() == Some(name)
        }
        _ => false,
    }
}

impl Policy {
    /// This policy's own verdict on `req`, ignoring how principals matched.
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            if s.applies(req) != PrincipalMatch::No {
                match s.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// A verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// A `Deny` statement applies.
    ExplicitDeny,
    /// Nothing allows it (default deny).
    ImplicitDeny,
}

impl Decision {
    /// True for [`Decision::Allow`].
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// A request to authorize.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The action, e.g. `kms:GenerateDataKey`.
    pub action: &'a str,
    /// The resource ARN (the key's ARN), or `*` for account-level calls (`kms:CreateKey`).
    pub resource: &'a str,
    /// Condition-key values.
    pub context: RequestContext<'a>,
}

/// Decides `req` against the key policy of a key owned by `key_account` and the caller's
/// identity policies, with the rules in the module documentation.
///
/// `key_policy` is `None` for account-level calls (`kms:CreateKey`, `kms:ListKeys`): then only
/// identity policies (or being the account root of `key_account`) can allow.
pub fn authorize(
    key_policy: Option<&Policy>,
    key_account: &str,
    identity_policies: &[&Policy],
    req: &Request<'_>,
) -> Decision {
    authorize_explained(key_policy, key_account, identity_policies, req).decision
}

/// Where the deciding `Deny` statement is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyAt {
    /// Statement `statement` (0-based) of the key policy.
    KeyPolicy {
        /// Its index in `Statement`.
        statement: usize,
    },
    /// Statement `statement` of identity policy `policy` (indices into the slice given).
    IdentityPolicy {
        /// Index of the policy in `identity_policies`.
        policy: usize,
        /// Its index in `Statement`.
        statement: usize,
    },
}

/// [`authorize`]'s verdict with the reasons behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The verdict, as [`authorize`] returns it.
    pub decision: Decision,
    /// For [`Decision::ExplicitDeny`]: the first `Deny` statement that applies (key policy
    /// first, then the identity policies in order).
    pub deny: Option<DenyAt>,
    /// Whether the key policy had an applicable `Allow` naming the caller (or `*`) directly.
    pub key_policy_direct: bool,
    /// Whether the key policy had an applicable `Allow` naming the caller's account.
    pub key_policy_account: bool,
    /// Whether an identity policy allowed (the account root counts as allowed).
    pub identity_allows: bool,
    /// Whether the caller is of another account than `key_account`.
    pub cross_account: bool,
}

/// [`authorize`], also telling which rule decided.
pub fn authorize_explained(
    key_policy: Option<&Policy>,
    key_account: &str,
    identity_policies: &[&Policy],
    req: &Request<'_>,
) -> Explanation {
    let caller_account = req.context.principal_account;
    let mut out = Explanation {
        decision: Decision::ImplicitDeny,
        deny: None,
        key_policy_direct: false,
        key_policy_account: false,
        identity_allows: false,
        cross_account: caller_account != key_account,
    };
    if let Some(kp) = key_policy {
        for (i, s) in kp.statements.iter().enumerate() {
            match (s.applies(req), s.effect) {
                (PrincipalMatch::No, _) => {}
                (_, Effect::Deny) => {
                    out.decision = Decision::ExplicitDeny;
                    out.deny = Some(DenyAt::KeyPolicy { statement: i });
                    return out;
                }
                (PrincipalMatch::Direct, Effect::Allow) => out.key_policy_direct = true,
                (PrincipalMatch::Account, Effect::Allow) => out.key_policy_account = true,
            }
        }
    }
    for (pi, p) in identity_policies.iter().enumerate() {
        for (i, s) in p.statements.iter().enumerate() {
            if s.applies(req) == PrincipalMatch::No {
                continue;
            }
            match s.effect {
                Effect::Deny => {
                    out.decision = Decision::ExplicitDeny;
                    out.deny = Some(DenyAt::IdentityPolicy {
                        policy: pi,
                        statement: i,
                    });
                    return out;
                }
                Effect::Allow => out.identity_allows = true,
            }
        }
    }
    // The account root holds every identity permission of its own account.
    if req.context.principal_arn == root_arn(caller_account) {
        out.identity_allows = true;
    }
    let allowed = match key_policy {
        None => caller_account == key_account && out.identity_allows,
        Some(_) if caller_account == key_account => {
            out.key_policy_direct || (out.key_policy_account && out.identity_allows)
        }
        Some(_) => (out.key_policy_direct || out.key_policy_account) && out.identity_allows,
    };
    if allowed {
        out.decision = Decision::Allow;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::kms::local::policy::PolicyKind;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k";

    fn req<'a>(principal: &'a str, account: &'a str, action: &'a str) -> Request<'a> {
        Request {
            action,
            resource: KEY,
            context: RequestContext {
                principal_arn: principal,
                principal_account: account,
                via_service: None,
                encryption_context: None,
                request_alias: None,
                external_id: None,
            },
        }
    }

    fn identity(json: &str) -> Policy {
        Policy::parse(json, PolicyKind::Identity).unwrap()
    }

    #[test]
    fn explained_agrees_with_authorize_and_finds_the_deny() {
        let key = Policy::parse(
            r#"{"Statement":[
                {"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},
                {"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:Decrypt","Resource":"*"}]}"#,
            PolicyKind::Key,
        )
        .unwrap();
        let allow = identity(r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#);
        // The Deny is the second statement of the second policy, after an applicable Allow.
        let deny = identity(
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"},
                {"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}"#,
        );
        let user = "arn:aws:iam::111122223333:user/u";
        let ext = "arn:aws:iam::444455556666:user/x";
        let cases: Vec<(Vec<&Policy>, Request<'_>)> = vec![
            (
                vec![&allow, &deny],
                req(user, "111122223333", "kms:Decrypt"),
            ),
            (vec![&allow], req(user, "111122223333", "kms:Decrypt")),
            (vec![], req(user, "111122223333", "kms:Decrypt")),
            (vec![], req(ext, "444455556666", "kms:Decrypt")),
            (vec![&allow], req(ext, "444455556666", "kms:Encrypt")),
        ];
        for (ids, r) in &cases {
            let x = authorize_explained(Some(&key), "111122223333", ids, r);
            assert_eq!(x.decision, authorize(Some(&key), "111122223333", ids, r));
        }
        let x = authorize_explained(Some(&key), "111122223333", &cases[0].0, &cases[0].1);
        assert_eq!(x.decision, Decision::ExplicitDeny);
        assert_eq!(
            x.deny,
            Some(DenyAt::IdentityPolicy {
                policy: 1,
                statement: 1
            })
        );
        assert_eq!(
            authorize_explained(Some(&key), "111122223333", &cases[1].0, &cases[1].1).decision,
            Decision::Allow
        );
        let x = authorize_explained(Some(&key), "111122223333", &cases[2].0, &cases[2].1);
        assert!(x.key_policy_account && !x.identity_allows && !x.cross_account);
        let x = authorize_explained(Some(&key), "111122223333", &cases[3].0, &cases[3].1);
        assert!(x.cross_account && x.key_policy_account && !x.identity_allows);
        assert_eq!(x.decision, Decision::ImplicitDeny);
        let x = authorize_explained(Some(&key), "111122223333", &cases[4].0, &cases[4].1);
        assert!(!x.key_policy_account && !x.key_policy_direct && x.identity_allows);
    }

    #[test]
    fn sts_external_id_is_read_from_the_request_and_absent_for_kms_calls() {
        let role = "arn:aws:iam::111122223333:role/r";
        let trust = Policy::parse(
            r#"{"Statement":[
                {"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole",
                 "Resource":"*","Condition":{"StringEquals":{"sts:externalid":"x-1"}}},
                {"Effect":"Deny","Principal":{"AWS":"*"},"Action":"sts:AssumeRole",
                 "Resource":"*","Condition":{"StringEquals":{"sts:ExternalId":"banned"}}}]}"#,
            PolicyKind::Key,
        )
        .unwrap();
        let allow = identity(
            r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#,
        );
        let ext = "arn:aws:iam::444455556666:user/x";
        let ask = |id: Option<&'static str>| {
            let mut r = req(ext, "444455556666", "sts:AssumeRole");
            r.resource = role;
            r.context.external_id = id;
            authorize(Some(&trust), "111122223333", &[&allow], &r)
        };
        assert_eq!(ask(Some("x-1")), Decision::Allow);
        assert_eq!(ask(Some("x-2")), Decision::ImplicitDeny);
        assert_eq!(ask(None), Decision::ImplicitDeny);
        assert_eq!(ask(Some("banned")), Decision::ExplicitDeny);
        let ctx = req(ext, "444455556666", "kms:Decrypt").context;
        assert!(ctx.values("sts:ExternalId").is_none());
    }
}

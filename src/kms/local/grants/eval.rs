//! Grant evaluation: pure functions of the grants, the key, the caller, the action and the
//! request's encryption context.

use super::{GrantConstraints, GrantOperation, GrantRecord};
use crate::format::EncryptionContext;
use crate::kms::local::policy;
use std::collections::BTreeMap;

/// What the grants of a key say about one call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrantCheck {
    /// A grant allows the call.
    Allowed {
        /// The grant.
        grant_id: String,
    },
    /// A grant for this caller and operation exists, but the request does not meet its
    /// constraint (the first such grant is named).
    ConstraintFailed {
        /// The grant.
        grant_id: String,
        /// The constraint not met, as `EncryptionContextEquals {"k":"v"}`.
        constraint: String,
    },
    /// No grant of the key gives this caller this operation.
    NoGrant,
}

/// Whether a grant to `grantee` applies to a caller with ARN `principal`: the same ARN, or
/// `grantee` is a role and `principal` one of its sessions.
pub(crate) fn grantee_matches(grantee: &str, principal: &str) -> bool {
    grantee == principal
        || policy::role_of_session(principal).is_some_and(|r| policy::is_role_arn_of(grantee, r))
}

/// Decides whether a grant of `grants` allows `principal` to perform IAM action `action`
/// (`kms:Decrypt`, ...) on the key `key_arn`.
///
/// `ec` is the request's encryption context (none: the empty context); `new_grant` is, for
/// `kms:CreateGrant`, the constraints of the grant being created (which a constrained grant
/// requires to be as strict or stricter).
pub(crate) fn grant_check<'a>(
    grants: impl IntoIterator<Item = &'a GrantRecord>,
    key_arn: &str,
    principal: &str,
    action: &str,
    ec: Option<&EncryptionContext>,
    new_grant: Option<&GrantConstraints>,
) -> GrantCheck {
    let Some(op) = GrantOperation::for_action(action) else {
        return GrantCheck::NoGrant;
    };
    let mut failed: Option<GrantCheck> = None;
    for g in grants {
        if g.key_arn != key_arn
            || !g.operations.contains(&op)
            || !grantee_matches(&g.grantee, principal)
        {
            continue;
        }
        match constraint_result(g.constraints.as_ref(), op, ec, new_grant) {
            Ok(()) => {
                return GrantCheck::Allowed {
                    grant_id: g.grant_id.clone(),
                }
            }
            Err(constraint) => {
                failed.get_or_insert(GrantCheck::ConstraintFailed {
                    grant_id: g.grant_id.clone(),
                    constraint,
                });
            }
        }
    }
    failed.unwrap_or(GrantCheck::NoGrant)
}

fn describe(name: &str, map: &BTreeMap<String, String>) -> String {
    format!(
        "{name} {}",
        serde_json::to_string(map).unwrap_or_else(|_| String::from("{..}"))
    )
}

/// The request's context with keys lowercased; `None` when two keys differ only in case
/// (ambiguous to a case-insensitive constraint: it fails).
fn lowered(ec: Option<&EncryptionContext>) -> Option<BTreeMap<String, &str>> {
    let mut out = BTreeMap::new();
    for (k, v) in ec.into_iter().flat_map(EncryptionContext::iter) {
        if out.insert(k.to_lowercase(), v).is_some() {
            return None;
        }
    }
    Some(out)
}

fn lowered_map(map: &BTreeMap<String, String>) -> BTreeMap<String, &str> {
    map.iter()
        .map(|(k, v)| (k.to_lowercase(), v.as_str()))
        .collect()
}

fn constraint_result(
    constraints: Option<&GrantConstraints>,
    op: GrantOperation,
    ec: Option<&EncryptionContext>,
    new_grant: Option<&GrantConstraints>,
) -> Result<(), String> {
    let Some(c) = constraints.filter(|c| !c.is_empty()) else {
        return Ok(());
    };
    if op == GrantOperation::CreateGrant {
        return match new_grant {
            Some(child) if constraints_at_least_as_strict(c, child) => Ok(()),
            _ => Err(format!(
                "CreateGrant through a constrained grant needs constraints as strict as {}",
                [
                    c.encryption_context_equals
                        .as_ref()
                        .map(|m| describe("EncryptionContextEquals", m)),
                    c.encryption_context_subset
                        .as_ref()
                        .map(|m| describe("EncryptionContextSubset", m)),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" and ")
            )),
        };
    }
    if !op.takes_encryption_context() {
        // DescribeKey, RetireGrant: the constraint does not apply.
        return Ok(());
    }
    let request = lowered(ec);
    if let Some(eq) = &c.encryption_context_equals {
        if request.as_ref() != Some(&lowered_map(eq)) {
            return Err(describe("EncryptionContextEquals", eq));
        }
    }
    if let Some(sub) = &c.encryption_context_subset {
        let ok = request.as_ref().is_some_and(|r| {
            lowered_map(sub)
                .iter()
                .all(|(k, v)| r.get(k).is_some_and(|rv| rv == v))
        });
        if !ok {
            return Err(describe("EncryptionContextSubset", sub));
        }
    }
    Ok(())
}

/// Whether every context that `child` admits is admitted by `parent` (AWS: a grant created
/// through a constrained grant's `CreateGrant` permission must be "equally strict or
/// stricter"). Keys compare case-insensitively, values exactly.
pub fn constraints_at_least_as_strict(parent: &GrantConstraints, child: &GrantConstraints) -> bool {
    let child_eq = child.encryption_context_equals.as_ref().map(lowered_map);
    let child_sub = child.encryption_context_subset.as_ref().map(lowered_map);
    if let Some(p_eq) = &parent.encryption_context_equals {
        // Only an Equals with the same pairs admits nothing but that context.
        if child_eq.as_ref() != Some(&lowered_map(p_eq)) {
            return false;
        }
    }
    if let Some(p_sub) = &parent.encryption_context_subset {
        let need = lowered_map(p_sub);
        let contains = |m: &BTreeMap<String, &str>| {
            need.iter().all(|(k, v)| m.get(k).is_some_and(|cv| cv == v))
        };
        let by_eq = child_eq.as_ref().is_some_and(contains);
        let by_sub = child_sub.as_ref().is_some_and(contains);
        if !(by_eq || by_sub) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k1";
    const ROLE: &str = "arn:aws:iam::111122223333:role/app";
    const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/app/s1";

    fn grant(ops: &[GrantOperation], c: Option<GrantConstraints>) -> GrantRecord {
        GrantRecord {
            grant_id: "g".repeat(64),
            key_id: "k1".into(),
            key_arn: KEY.into(),
            name: None,
            created: 0,
            grantee: ROLE.into(),
            retiring: None,
            issuing_account: "arn:aws:iam::111122223333:root".into(),
            operations: ops.to_vec(),
            constraints: c,
        }
    }

    fn ec(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs
            .iter()
            .fold(EncryptionContext::new(), |e, (k, v)| e.with(*k, *v))
    }

    #[test]
    fn grantee_operation_and_key_must_match() {
        let g = [grant(&[GrantOperation::Decrypt], None)];
        let allowed = |p: &str, a: &str, k: &str| {
            matches!(
                grant_check(&g, k, p, a, None, None),
                GrantCheck::Allowed { .. }
            )
        };
        assert!(allowed(ROLE, "kms:Decrypt", KEY));
        assert!(allowed(SESSION, "kms:Decrypt", KEY));
        assert!(!allowed(SESSION, "kms:Encrypt", KEY));
        assert!(!allowed(
            "arn:aws:sts::111122223333:assumed-role/other/s1",
            "kms:Decrypt",
            KEY
        ));
        assert!(!allowed(
            "arn:aws:iam::111122223333:user/app",
            "kms:Decrypt",
            KEY
        ));
        assert!(!allowed(
            ROLE,
            "kms:Decrypt",
            "arn:aws:kms:us-east-1:111122223333:key/k2"
        ));
        // A session grantee does not cover the role or other sessions.
        let mut s = grant(&[GrantOperation::Decrypt], None);
        s.grantee = SESSION.into();
        let g = [s];
        assert!(matches!(
            grant_check(&g, KEY, SESSION, "kms:Decrypt", None, None),
            GrantCheck::Allowed { .. }
        ));
        assert_eq!(
            grant_check(&g, KEY, ROLE, "kms:Decrypt", None, None),
            GrantCheck::NoGrant
        );
    }

    #[test]
    fn equals_and_subset() {
        let eq = [grant(
            &[GrantOperation::Decrypt, GrantOperation::DescribeKey],
            Some(GrantConstraints::equals([("Stream", "a")])),
        )];
        let check = |g: &[GrantRecord], a: &str, e: &EncryptionContext| {
            grant_check(g, KEY, ROLE, a, Some(e), None)
        };
        assert!(matches!(
            check(&eq, "kms:Decrypt", &ec(&[("stream", "a")])),
            GrantCheck::Allowed { .. }
        ));
        assert!(matches!(
            check(&eq, "kms:Decrypt", &ec(&[("stream", "A")])),
            GrantCheck::ConstraintFailed { .. }
        ));
        assert!(matches!(
            check(&eq, "kms:Decrypt", &ec(&[("stream", "a"), ("x", "y")])),
            GrantCheck::ConstraintFailed { .. }
        ));
        assert!(matches!(
            check(&eq, "kms:Decrypt", &ec(&[])),
            GrantCheck::ConstraintFailed { .. }
        ));
        assert!(matches!(
            check(&eq, "kms:DescribeKey", &ec(&[])),
            GrantCheck::Allowed { .. }
        ));
        let sub = [grant(
            &[GrantOperation::Decrypt],
            Some(GrantConstraints::subset([("stream", "a")])),
        )];
        assert!(matches!(
            check(&sub, "kms:Decrypt", &ec(&[("STREAM", "a"), ("x", "y")])),
            GrantCheck::Allowed { .. }
        ));
        assert!(matches!(
            check(&sub, "kms:Decrypt", &ec(&[("stream", "b")])),
            GrantCheck::ConstraintFailed { .. }
        ));
        let failed = check(&sub, "kms:Decrypt", &ec(&[("x", "y")]));
        assert_eq!(
            failed,
            GrantCheck::ConstraintFailed {
                grant_id: "g".repeat(64),
                constraint: r#"EncryptionContextSubset {"stream":"a"}"#.into()
            }
        );
        // A context ambiguous to the case-insensitive key fails.
        assert!(matches!(
            check(
                &sub,
                "kms:Decrypt",
                &ec(&[("stream", "a"), ("STREAM", "b")])
            ),
            GrantCheck::ConstraintFailed { .. }
        ));
    }

    #[test]
    fn an_unconstrained_grant_wins_over_a_failed_constraint() {
        let mut open = grant(&[GrantOperation::Decrypt], None);
        open.grant_id = "a".repeat(64);
        let g = [
            grant(
                &[GrantOperation::Decrypt],
                Some(GrantConstraints::equals([("k", "v")])),
            ),
            open,
        ];
        assert_eq!(
            grant_check(&g, KEY, ROLE, "kms:Decrypt", None, None),
            GrantCheck::Allowed {
                grant_id: "a".repeat(64)
            }
        );
    }

    #[test]
    fn stricter_constraints() {
        let p_eq = GrantConstraints::equals([("a", "1")]);
        let p_sub = GrantConstraints::subset([("a", "1")]);
        assert!(constraints_at_least_as_strict(
            &p_eq,
            &GrantConstraints::equals([("A", "1")])
        ));
        assert!(!constraints_at_least_as_strict(
            &p_eq,
            &GrantConstraints::subset([("a", "1")])
        ));
        assert!(!constraints_at_least_as_strict(
            &p_eq,
            &GrantConstraints::equals([("a", "1"), ("b", "2")])
        ));
        assert!(constraints_at_least_as_strict(
            &p_sub,
            &GrantConstraints::subset([("a", "1"), ("b", "2")])
        ));
        assert!(constraints_at_least_as_strict(
            &p_sub,
            &GrantConstraints::equals([("a", "1")])
        ));
        assert!(!constraints_at_least_as_strict(
            &p_sub,
            &GrantConstraints::subset([("b", "2")])
        ));
        assert!(!constraints_at_least_as_strict(
            &p_sub,
            &GrantConstraints::default()
        ));
        let g = [grant(&[GrantOperation::CreateGrant], Some(p_sub.clone()))];
        assert!(matches!(
            grant_check(&g, KEY, ROLE, "kms:CreateGrant", None, None),
            GrantCheck::ConstraintFailed { .. }
        ));
        assert!(matches!(
            grant_check(
                &g,
                KEY,
                ROLE,
                "kms:CreateGrant",
                None,
                Some(&GrantConstraints::equals([("a", "1")]))
            ),
            GrantCheck::Allowed { .. }
        ));
    }
}

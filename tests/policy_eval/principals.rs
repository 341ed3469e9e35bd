//! Principal ARNs and NotPrincipal in denies and allows.

use super::*;

/// A key policy that denies key deletion to everyone but the `KeyAdmin` role, through
/// `aws:PrincipalArn` instead of `NotPrincipal`.
const DENY_UNLESS_KEY_ADMIN_ARN: Option<Src> = Some(Src::Json(
    r#"{"Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"},
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/KeyAdmin"},"Action":"kms:ScheduleKeyDeletion","Resource":"*"},
        {"Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*",
         "Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/KeyAdmin"}}}
    ]}"#,
));

#[test]
fn principal_arn_deny_spares_the_roles_sessions() {
    run(&[
        case(
            "KeyAdmin session is not denied",
            DENY_UNLESS_KEY_ADMIN_ARN,
            &[],
            KEY_ADMIN,
            "kms:ScheduleKeyDeletion",
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "another role's session is denied",
            DENY_UNLESS_KEY_ADMIN_ARN,
            &[],
            CAMERA,
            "kms:ScheduleKeyDeletion",
            KEY,
            None,
            &[],
            D,
        ),
        case(
            "a user is denied",
            DENY_UNLESS_KEY_ADMIN_ARN,
            &[Src::Json(
                r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
            )],
            ADMIN,
            "kms:ScheduleKeyDeletion",
            KEY,
            None,
            &[],
            D,
        ),
    ]);
}

/// Decides `kms:ScheduleKeyDeletion` by `principal` under a key policy that allows it to
/// everyone (`"*"`) but denies it to all except the `NotPrincipal` entries `not_principal`
/// (a JSON array).
fn not_principal_case(not_principal: &str, principal: &str) -> Decision {
    let json = format!(
        r#"{{"Statement":[
            {{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}},
            {{"Effect":"Deny","NotPrincipal":{{"AWS":{not_principal}}},"Action":"kms:ScheduleKeyDeletion","Resource":"*"}}
        ]}}"#
    );
    let key = Policy::parse(&json, PolicyKind::Key).unwrap_or_else(|e| panic!("{e}"));
    let req = Request {
        action: "kms:ScheduleKeyDeletion",
        resource: KEY,
        context: RequestContext {
            principal_arn: principal,
            principal_account: account_of(principal),
            ..RequestContext::default()
        },
    };
    authorize(Some(&key), ACCT, &[], &req)
}

/// AWS excludes a caller from a `Deny` with `NotPrincipal` only when the element names the
/// caller's account as well as the caller (for a role session: its role or the session).
#[test]
fn not_principal_deny_needs_the_account_too() {
    const ROLE: &str = "\"arn:aws:iam::123456789012:role/KeyAdmin\"";
    const SESSION: &str = "\"arn:aws:sts::123456789012:assumed-role/KeyAdmin/s\"";
    const USER: &str = "\"arn:aws:iam::123456789012:user/admin\"";
    const ROOT_Q: &str = "\"arn:aws:iam::123456789012:root\"";
    const ACCT_Q: &str = "\"123456789012\"";
    const PARTNER_ROOT: &str = "\"arn:aws:iam::444455556666:root\"";
    const PARTNER: &str = "\"arn:aws:iam::444455556666:user/analyst\"";
    let rows: &[(&[&str], &str, Decision)] = &[
        (&[ROLE, ROOT_Q], KEY_ADMIN, A),
        (&[ROLE, ACCT_Q], KEY_ADMIN, A),
        (&[SESSION, ROOT_Q], KEY_ADMIN, A),
        (&[SESSION, ROLE, ROOT_Q], KEY_ADMIN, A),
        (&[ROLE], KEY_ADMIN, D),
        (&[SESSION], KEY_ADMIN, D),
        (&[SESSION, ROLE], KEY_ADMIN, D),
        (&[ROOT_Q], KEY_ADMIN, D),
        (&[ROLE, ROOT_Q], CAMERA, D),
        (&[ROLE, PARTNER_ROOT], KEY_ADMIN, D),
        (&[USER, ROOT_Q], ADMIN, A),
        (&[USER], ADMIN, D),
        (&[ROOT_Q], ROOT, A),
        (&[ACCT_Q], ROOT, A),
        (&[ROLE], ROOT, D),
        // Not denied, but a caller from another account also needs an identity policy.
        (&[PARTNER, PARTNER_ROOT], PARTNER_USER, I),
        (&[PARTNER, ROOT_Q], PARTNER_USER, D),
        (&["\"*\""], CAMERA, A),
    ];
    let mut failures = Vec::new();
    for (entries, principal, want) in rows {
        let list = format!("[{}]", entries.join(","));
        let got = not_principal_case(&list, principal);
        if got != *want {
            failures.push(format!(
                "NotPrincipal {list}, caller {principal}: expected {want:?}, got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn not_principal_with_allow_is_rejected() {
    for json in [
        r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}}"#,
        r#"{"Statement":{"NotPrincipal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*","Effect":"Allow"}}"#,
        r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"},{"Effect":"Allow","NotPrincipal":"*","Action":"kms:*","Resource":"*"}]}"#,
    ] {
        let e = Policy::parse(json, PolicyKind::Key).unwrap_err();
        assert!(e.path().ends_with("].NotPrincipal"), "{json}: {e}");
        assert!(e.message().contains("\"Deny\""), "{json}: {e}");
    }
    let e = Policy::parse(
        r#"{"Statement":[{"Effect":"Deny","NotPrincipal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Allow","NotPrincipal":"*","Action":"kms:*","Resource":"*"}]}"#,
        PolicyKind::Key,
    )
    .unwrap_err();
    assert_eq!(e.path(), "Statement[1].NotPrincipal");
}

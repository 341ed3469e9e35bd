//! Case-variant encryption context keys (issue 11, item 1) against single-valued conditions
//! and the least-privilege policy.

use super::*;

const STREAM_A: &str = "arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam-a/1700000000000";
const STREAM_B: &str = "arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam-b/1700000000001";
const PROD_A: &str = "arn:aws:iam::123456789012:role/prodA";
const CONS_B: &str = "arn:aws:iam::123456789012:role/consB";

/// The KVS least-privilege key policy the CLI writes, for producer `prodA` of stream A and
/// consumer `consB` of stream B, with `extra` ANDed into both conditions (`""` for none).
fn least_privilege(extra: &str) -> Policy {
    let ec = |stream: &str| {
        format!(
            r#"{{"StringEquals":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{stream}"}}{extra}}}"#
        )
    };
    let json = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"{ROOT}"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":{{"AWS":"{PROD_A}"}},"Action":"kms:GenerateDataKey","Resource":"*","Condition":{}}},
            {{"Effect":"Allow","Principal":{{"AWS":"{CONS_B}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{}}}
        ]}}"#,
        ec(STREAM_A),
        ec(STREAM_B)
    );
    Policy::parse(&json, PolicyKind::Key).unwrap_or_else(|e| panic!("{e}"))
}

fn decide(key: &Policy, principal: &str, action: &str, ec: &[(&str, &str)]) -> Decision {
    let ec: EncryptionContext = ec.iter().copied().collect();
    let req = Request {
        action,
        resource: KEY,
        context: RequestContext {
            principal_arn: principal,
            principal_account: account_of(principal),
            via_service: None,
            encryption_context: Some(&ec),
            request_alias: None,
            external_id: None,
        },
    };
    authorize(Some(key), ACCT, &[], &req)
}

/// Issue 11 #1: `prodA` (confined to stream A) asks for a data key under the context
/// `{aws:kinesisvideo:arn: B, AWS:KINESISVIDEO:ARN: A}`; read as a set, the case variant
/// satisfied prodA's condition and the real key satisfied consB's, so prodA could forge into
/// stream B. No one value of a case-variant key may satisfy a single-valued condition.
#[test]
fn case_variant_context_key_does_not_satisfy_single_valued_condition() {
    const GDK: &str = "kms:GenerateDataKey";
    const DEC: &str = "kms:Decrypt";
    let key = least_privilege("");
    let forged: &[(&str, &str)] = &[
        ("aws:kinesisvideo:arn", STREAM_B),
        ("AWS:KINESISVIDEO:ARN", STREAM_A),
    ];
    type Row<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Decision);
    let rows: &[Row<'_>] = &[
        // The attack, both halves.
        (PROD_A, GDK, forged, I),
        (CONS_B, DEC, forged, I),
        // Either order of the variants, and a third variant.
        (
            PROD_A,
            GDK,
            &[
                ("AWS:KINESISVIDEO:ARN", STREAM_A),
                ("Aws:KinesisVideo:Arn", STREAM_A),
                ("aws:kinesisvideo:arn", STREAM_B),
            ],
            I,
        ),
        // Both variants naming A are still two candidates for one key.
        (
            PROD_A,
            GDK,
            &[
                ("aws:kinesisvideo:arn", STREAM_A),
                ("AWS:KINESISVIDEO:ARN", STREAM_A),
            ],
            I,
        ),
        // Unchanged: one key, exact case or not (AWS reads KEY case-insensitively).
        (PROD_A, GDK, &[("aws:kinesisvideo:arn", STREAM_A)], A),
        (PROD_A, GDK, &[("AWS:KINESISVIDEO:ARN", STREAM_A)], A),
        (CONS_B, DEC, &[("aws:kinesisvideo:arn", STREAM_B)], A),
        (PROD_A, GDK, &[("aws:kinesisvideo:arn", STREAM_B)], I),
    ];
    let mut failures = Vec::new();
    for (principal, action, ec, want) in rows {
        let got = decide(&key, principal, action, ec);
        if got != *want {
            failures.push(format!(
                "{principal} {action} {ec:?}: expected {want:?}, got {got:?}"
            ));
        }
    }
    // Every single-valued operator form, in an Allow statement, refuses the forged context.
    for condition in [
        format!(
            r#"{{"StringEquals":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM_A}"}}}}"#
        ),
        format!(
            r#"{{"StringEqualsIfExists":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM_A}"}}}}"#
        ),
        format!(
            r#"{{"StringEqualsIgnoreCase":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM_A}"}}}}"#
        ),
        r#"{"StringLike":{"kms:EncryptionContext:aws:kinesisvideo:arn":"*/cam-a/*"}}"#.to_owned(),
        format!(r#"{{"ArnLike":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM_A}"}}}}"#),
        format!(
            r#"{{"ForAnyValue:StringEquals":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM_A}"}}}}"#
        ),
        format!(
            r#"{{"StringNotEquals":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM_B}"}}}}"#
        ),
    ] {
        let got = cond_case(&condition, CAMERA, forged);
        if got != I {
            failures.push(format!("Allow {condition}: expected {I:?}, got {got:?}"));
        }
    }
    // `Null` asks only whether the key is present: it is.
    for (condition, want) in [
        (
            r#"{"Null":{"kms:EncryptionContext:aws:kinesisvideo:arn":"false"}}"#,
            A,
        ),
        (
            r#"{"Null":{"kms:EncryptionContext:aws:kinesisvideo:arn":"true"}}"#,
            I,
        ),
    ] {
        let got = cond_case(condition, CAMERA, forged);
        if got != want {
            failures.push(format!("Allow {condition}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The `Deny` mirror of the case-variant attack: a guard such as "deny Decrypt unless the
/// context names stream B" must fire on a context with case variants of the key, whatever
/// their values (a fix that made such conditions simply false would let it pass).
#[test]
fn case_variant_context_key_does_not_escape_single_valued_deny() {
    let deny = |condition: &str| -> Policy {
        let json = format!(
            r#"{{"Statement":[
                {{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}},
                {{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{condition}}}
            ]}}"#
        );
        Policy::parse(&json, PolicyKind::Key).unwrap_or_else(|e| panic!("{e}"))
    };
    let unless_b = [
        format!(
            r#"{{"StringNotEquals":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM_B}"}}}}"#
        ),
        format!(
            r#"{{"StringNotEqualsIfExists":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM_B}"}}}}"#
        ),
        format!(
            r#"{{"ArnNotEquals":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM_B}"}}}}"#
        ),
        r#"{"StringNotLike":{"kms:EncryptionContext:aws:kinesisvideo:arn":"*/cam-b/*"}}"#
            .to_owned(),
        format!(
            r#"{{"StringNotEqualsIgnoreCase":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM_B}"}}}}"#
        ),
    ];
    let mut failures = Vec::new();
    let mut check = |condition: &str, ec: &[(&str, &str)], want: Decision| {
        let got = decide(&deny(condition), CONS_B, "kms:Decrypt", ec);
        if got != want {
            failures.push(format!(
                "Deny {condition} {ec:?}: expected {want:?}, got {got:?}"
            ));
        }
    };
    for condition in &unless_b {
        // Both variants name B: still two candidates, the guard fires.
        check(
            condition,
            &[
                ("aws:kinesisvideo:arn", STREAM_B),
                ("AWS:KINESISVIDEO:ARN", STREAM_B),
            ],
            D,
        );
        check(
            condition,
            &[
                ("aws:kinesisvideo:arn", STREAM_B),
                ("AWS:KINESISVIDEO:ARN", STREAM_A),
            ],
            D,
        );
        // One key naming B, in either case: not denied.
        check(condition, &[("aws:kinesisvideo:arn", STREAM_B)], A);
        check(condition, &[("AWS:KINESISVIDEO:ARN", STREAM_B)], A);
        check(condition, &[("aws:kinesisvideo:arn", STREAM_A)], D);
    }
    // Any Deny on the key fires on case variants, even a positive match that none of their
    // values satisfies: no one of them is the key's value.
    let on_a = format!(
        r#"{{"StringEquals":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM_A}"}}}}"#
    );
    check(
        &on_a,
        &[
            ("aws:kinesisvideo:arn", STREAM_B),
            ("AWS:KINESISVIDEO:ARN", STREAM_B),
        ],
        D,
    );
    check(&on_a, &[("aws:kinesisvideo:arn", STREAM_B)], A);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The least-privilege shape with the key set pinned (`ForAllValues:StringEquals
/// kms:EncryptionContextKeys`, which is case-sensitive) refuses a context whose only key is a
/// case variant of `aws:kinesisvideo:arn`, which the unpinned shape accepts as AWS does.
#[test]
fn least_privilege_with_key_pin_refuses_case_variant_key_only() {
    let pinned = least_privilege(
        r#","ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["aws:kinesisvideo:arn"]}"#,
    );
    let unpinned = least_privilege("");
    let variant_only: &[(&str, &str)] = &[("AWS:KINESISVIDEO:ARN", STREAM_A)];
    assert_eq!(
        decide(&unpinned, PROD_A, "kms:GenerateDataKey", variant_only),
        A
    );
    assert_eq!(
        decide(&pinned, PROD_A, "kms:GenerateDataKey", variant_only),
        I
    );
    assert_eq!(
        decide(
            &pinned,
            CONS_B,
            "kms:Decrypt",
            &[("AWS:KINESISVIDEO:ARN", STREAM_B)]
        ),
        I
    );
    // The exact key still works; an extra pair is refused by the pin.
    assert_eq!(
        decide(
            &pinned,
            PROD_A,
            "kms:GenerateDataKey",
            &[("aws:kinesisvideo:arn", STREAM_A)]
        ),
        A
    );
    assert_eq!(
        decide(
            &pinned,
            PROD_A,
            "kms:GenerateDataKey",
            &[("aws:kinesisvideo:arn", STREAM_A), ("site", "north")]
        ),
        I
    );
    assert_eq!(
        decide(
            &pinned,
            PROD_A,
            "kms:GenerateDataKey",
            &[
                ("aws:kinesisvideo:arn", STREAM_B),
                ("AWS:KINESISVIDEO:ARN", STREAM_A)
            ]
        ),
        I
    );
}

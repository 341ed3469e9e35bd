//! Actions, resources and wildcards, region wildcards in Resource and NotResource.

use super::*;

#[test]
fn actions_resources_and_wildcards() {
    use Src::Json as J;
    let stmt = |action: &str, resource: &str| -> Decision {
        let json = format!(r#"{{"Statement":{{"Effect":"Allow",{action},{resource}}}}}"#);
        let p = Policy::parse(&json, PolicyKind::Identity).unwrap_or_else(|e| panic!("{e}"));
        let req = Request {
            action: "kms:GenerateDataKey",
            resource: KEY,
            context: RequestContext {
                principal_arn: ADMIN,
                principal_account: ACCT,
                ..RequestContext::default()
            },
        };
        p.evaluate(&req)
    };
    let any = r#""Resource":"*""#;
    let rows: &[(&str, &str, Decision)] = &[
        (r#""Action":"kms:GenerateDataKey""#, any, A),
        (r#""Action":"KMS:generatedatakey""#, any, A),
        (r#""Action":"kms:Generate*""#, any, A),
        (r#""Action":"kms:GenerateDataKe?""#, any, A),
        (r#""Action":"kms:GenerateDataKey?""#, any, I),
        (r#""Action":"*""#, any, A),
        (r#""Action":"kinesis:*""#, any, I),
        (r#""Action":["kms:Decrypt","kms:Encrypt"]"#, any, I),
        (r#""NotAction":"kms:Decrypt""#, any, A),
        (r#""NotAction":["kms:Gen*"]"#, any, I),
        (
            r#""Action":"kms:*""#,
            r#""Resource":"arn:aws:kms:*:123456789012:key/*""#,
            A,
        ),
        (
            r#""Action":"kms:*""#,
            r#""Resource":"arn:aws:kms:us-west-2:123456789012:key/1234abcd-*""#,
            A,
        ),
        (
            r#""Action":"kms:*""#,
            r#""Resource":"arn:aws:kms:*:444455556666:key/*""#,
            I,
        ),
        // A `*` that ends a segment matches beyond the colons (IAM's Resource reference).
        (r#""Action":"kms:*""#, r#""Resource":"arn:aws:kms:*""#, A),
        (
            r#""Action":"kms:*""#,
            r#""Resource":"arn:aws:kms:us-west-2:*""#,
            A,
        ),
        (
            r#""Action":"kms:*""#,
            r#""Resource":"arn:aws:kms:us-east-1:*""#,
            I,
        ),
        (
            r#""Action":"kms:*""#,
            r#""Resource":"arn:aws:kms:us-*:key/*""#,
            A,
        ),
        // Any other `*` stays within its segment.
        (
            r#""Action":"kms:*""#,
            r#""Resource":"arn:aws:kms:us-*2:key/*""#,
            I,
        ),
        (
            r#""Action":"kms:*""#,
            r#""Resource":"arn:aws:kms:us-west-?:*:key/*""#,
            A,
        ),
        (
            r#""Action":"kms:*""#,
            r#""NotResource":"arn:aws:kms:*:*:key/99999999-*""#,
            A,
        ),
        (
            r#""Action":"kms:*""#,
            r#""NotResource":["arn:aws:kms:*:*:key/*"]"#,
            I,
        ),
    ];
    let mut failures = Vec::new();
    for (a, r, want) in rows {
        let got = stmt(a, r);
        if got != *want {
            failures.push(format!("{a} {r}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // Identity policies cannot allow what a key policy does not delegate, and a key policy
    // statement for another principal does not apply.
    let key = load(
        J(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:role/Other"]},"Action":"kms:*","Resource":"*"}}"#,
        ),
        PolicyKind::Key,
    );
    let req = Request {
        action: "kms:Decrypt",
        resource: KEY,
        context: RequestContext {
            principal_arn: "arn:aws:sts::123456789012:assumed-role/Other/s1",
            principal_account: ACCT,
            ..RequestContext::default()
        },
    };
    assert_eq!(
        authorize(Some(&key), ACCT, &[], &req),
        A,
        "role matches its sessions"
    );
    let req = Request {
        context: RequestContext {
            principal_arn: "arn:aws:sts::123456789012:assumed-role/Otherwise/s1",
            ..req.context
        },
        ..req
    };
    assert_eq!(authorize(Some(&key), ACCT, &[], &req), I);
}

const KEY_US_EAST_1: &str =
    "arn:aws:kms:us-east-1:123456789012:key/0000aaaa-12ab-34cd-56ef-1234567890ab";
const KEY_EU_WEST_1: &str =
    "arn:aws:kms:eu-west-1:123456789012:key/1111bbbb-12ab-34cd-56ef-1234567890ab";

/// Issue 11 #2: `Deny kms:*` on `arn:aws:kms:us-east-1:*` was skipped because its `*` did not
/// span the colons after the region. It must cover every key of the region, in a key policy
/// and in an identity policy, and leave other regions alone.
#[test]
fn deny_kms_star_on_region_wildcard_covers_every_key() {
    use Src::Json as J;
    const DENY_REGION_KEY: Option<Src> = Some(J(r#"{"Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"},
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/Consumer"},"Action":"kms:Decrypt","Resource":"*"},
        {"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:*"}
    ]}"#));
    const ALLOW_ALL: Src = J(r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#);
    const DENY_REGION_ID: Src = J(
        r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:*"}]}"#,
    );
    run(&[
        case(
            "key policy: consumer, us-east-1 key",
            DENY_REGION_KEY,
            &[],
            CONSUMER,
            "kms:Decrypt",
            KEY_US_EAST_1,
            None,
            &[],
            D,
        ),
        case(
            "key policy: root, us-east-1 key",
            DENY_REGION_KEY,
            &[],
            ROOT,
            "kms:ScheduleKeyDeletion",
            KEY_US_EAST_1,
            None,
            &[],
            D,
        ),
        case(
            "key policy: admin with identity allow, us-east-1 key",
            DENY_REGION_KEY,
            &[ALLOW_ALL],
            ADMIN,
            "kms:GenerateDataKey",
            KEY_US_EAST_1,
            None,
            KVS_EC,
            D,
        ),
        case(
            "key policy: consumer, us-west-2 key",
            DENY_REGION_KEY,
            &[],
            CONSUMER,
            "kms:Decrypt",
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "key policy: consumer, eu-west-1 key",
            DENY_REGION_KEY,
            &[],
            CONSUMER,
            "kms:Decrypt",
            KEY_EU_WEST_1,
            None,
            &[],
            A,
        ),
        case(
            "identity policy: us-east-1 key",
            DEFAULT,
            &[DENY_REGION_ID],
            ADMIN,
            "kms:Decrypt",
            KEY_US_EAST_1,
            None,
            &[],
            D,
        ),
        case(
            "identity policy: another identity policy allows, us-east-1 key",
            DEFAULT,
            &[ALLOW_ALL, DENY_REGION_ID],
            ADMIN,
            "kms:GenerateDataKey",
            KEY_US_EAST_1,
            None,
            &[],
            D,
        ),
        case(
            "identity policy: us-west-2 key",
            DEFAULT,
            &[DENY_REGION_ID],
            ADMIN,
            "kms:Decrypt",
            KEY,
            None,
            &[],
            A,
        ),
    ]);
}

/// Issue 11 #2: `Allow` with `NotResource arn:aws:kms:eu-west-1:*` granted an eu-west-1 key,
/// because the `*` did not span the colons; it must grant every key except that region's.
#[test]
fn notresource_region_wildcard_does_not_grant_that_region() {
    use Src::Json as J;
    const BUT_EU_ID: Src = J(
        r#"{"Statement":{"Effect":"Allow","Action":"kms:*","NotResource":"arn:aws:kms:eu-west-1:*"}}"#,
    );
    const BUT_EU_KEY: Option<Src> = Some(J(r#"{"Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/Consumer"},"Action":"kms:Decrypt","NotResource":"arn:aws:kms:eu-west-1:*"}
    ]}"#));
    run(&[
        case(
            "identity policy: eu-west-1 key",
            DEFAULT,
            &[BUT_EU_ID],
            ADMIN,
            "kms:Decrypt",
            KEY_EU_WEST_1,
            None,
            &[],
            I,
        ),
        case(
            "identity policy: us-east-1 key",
            DEFAULT,
            &[BUT_EU_ID],
            ADMIN,
            "kms:Decrypt",
            KEY_US_EAST_1,
            None,
            &[],
            A,
        ),
        case(
            "key policy: eu-west-1 key",
            BUT_EU_KEY,
            &[],
            CONSUMER,
            "kms:Decrypt",
            KEY_EU_WEST_1,
            None,
            &[],
            I,
        ),
        case(
            "key policy: us-west-2 key",
            BUT_EU_KEY,
            &[],
            CONSUMER,
            "kms:Decrypt",
            KEY,
            None,
            &[],
            A,
        ),
    ]);
}

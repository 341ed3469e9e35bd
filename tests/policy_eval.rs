//! Table tests of IAM policy evaluation (`fragseal::kms::local::policy`), with the producer,
//! consumer and administrator policies of the Kinesis Video Streams and Kinesis Data Streams
//! documentation as fixtures in `tests/fixtures/policies/`.
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::kms::local::policy::{
    authorize, Decision, Policy, PolicyError, PolicyErrorKind, PolicyKind, Request, RequestContext,
};
use fragseal::EncryptionContext;
use std::path::Path;

const ACCT: &str = "123456789012";
const KEY: &str = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_KEY: &str =
    "arn:aws:kms:us-west-2:123456789012:key/99999999-12ab-34cd-56ef-1234567890ab";
const KVS: &str = "kinesisvideo.us-west-2.amazonaws.com";
const STREAM: &str = "arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam-1/1700000000000";

use Decision::{Allow as A, ExplicitDeny as D, ImplicitDeny as I};

/// A policy: a fixture file name or inline JSON.
#[derive(Clone, Copy)]
enum Src {
    File(&'static str),
    Json(&'static str),
}

fn load(src: Src, kind: PolicyKind) -> Policy {
    let text = match src {
        Src::File(name) => {
            let p = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/policies")
                .join(format!("{name}.json"));
            std::fs::read_to_string(&p).unwrap()
        }
        Src::Json(j) => j.to_owned(),
    };
    Policy::parse(&text, kind).unwrap_or_else(|e| panic!("{e}"))
}

struct Case {
    name: &'static str,
    key: Option<Src>,
    identity: &'static [Src],
    principal: &'static str,
    action: &'static str,
    resource: &'static str,
    via: Option<&'static str>,
    ec: &'static [(&'static str, &'static str)],
    expect: Decision,
}

fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap()
}

fn run(cases: &[Case]) {
    let mut failures = Vec::new();
    for c in cases {
        let key = c.key.map(|s| load(s, PolicyKind::Key));
        let ids: Vec<Policy> = c
            .identity
            .iter()
            .map(|s| load(*s, PolicyKind::Identity))
            .collect();
        let id_refs: Vec<&Policy> = ids.iter().collect();
        let ec: EncryptionContext = c.ec.iter().copied().collect();
        let req = Request {
            action: c.action,
            resource: c.resource,
            context: RequestContext {
                principal_arn: c.principal,
                principal_account: account_of(c.principal),
                via_service: c.via,
                encryption_context: Some(&ec),
                request_alias: None,
                external_id: None,
            },
        };
        let got = authorize(key.as_ref(), ACCT, &id_refs, &req);
        if got != c.expect {
            failures.push(format!("{}: expected {:?}, got {got:?}", c.name, c.expect));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

const DEFAULT: Option<Src> = Some(Src::File("key_default"));
const MANAGED: Option<Src> = Some(Src::File("key_kinesisvideo_managed"));
const SCOPED: Option<Src> = Some(Src::File("key_stream_scoped"));
const ROOT: &str = "arn:aws:iam::123456789012:root";
const PRODUCER: &str = "arn:aws:sts::123456789012:assumed-role/Producer/device-17";
const CONSUMER: &str = "arn:aws:iam::123456789012:role/Consumer";
const ADMIN: &str = "arn:aws:iam::123456789012:user/admin";
const CAMERA: &str = "arn:aws:sts::123456789012:assumed-role/Camera/cam-1";
const VIEWER: &str = "arn:aws:sts::123456789012:assumed-role/Viewer/s";
const KEY_ADMIN: &str = "arn:aws:sts::123456789012:assumed-role/KeyAdmin/s";
const PARTNER_USER: &str = "arn:aws:iam::444455556666:user/analyst";
const KVS_EC: &[(&str, &str)] = &[("aws:kinesisvideo:arn", STREAM)];

#[allow(clippy::too_many_arguments, reason = "one table row")]
const fn case(
    name: &'static str,
    key: Option<Src>,
    identity: &'static [Src],
    principal: &'static str,
    action: &'static str,
    resource: &'static str,
    via: Option<&'static str>,
    ec: &'static [(&'static str, &'static str)],
    expect: Decision,
) -> Case {
    Case {
        name,
        key,
        identity,
        principal,
        action,
        resource,
        via,
        ec,
        expect,
    }
}

#[test]
fn documentation_policies_kvs_and_kds() {
    use Src::File as F;
    const KVS_P: &[Src] = &[F("kvs_producer")];
    const KVS_C: &[Src] = &[F("kvs_consumer")];
    const KVS_A: &[Src] = &[F("kvs_administrator")];
    const KDS_P: &[Src] = &[F("kds_producer")];
    const KDS_C: &[Src] = &[F("kds_consumer")];
    const KDS_A: &[Src] = &[F("kds_administrator")];
    let gdk = "kms:GenerateDataKey";
    let dec = "kms:Decrypt";
    run(&[
        case(
            "kvs producer generates",
            DEFAULT,
            KVS_P,
            PRODUCER,
            gdk,
            KEY,
            None,
            KVS_EC,
            A,
        ),
        case(
            "kvs producer cannot decrypt",
            DEFAULT,
            KVS_P,
            PRODUCER,
            dec,
            KEY,
            None,
            KVS_EC,
            I,
        ),
        case(
            "kvs producer only on the named key",
            DEFAULT,
            KVS_P,
            PRODUCER,
            gdk,
            OTHER_KEY,
            None,
            KVS_EC,
            I,
        ),
        case(
            "kvs consumer decrypts",
            DEFAULT,
            KVS_C,
            CONSUMER,
            dec,
            KEY,
            None,
            KVS_EC,
            A,
        ),
        case(
            "kvs consumer cannot generate",
            DEFAULT,
            KVS_C,
            CONSUMER,
            gdk,
            KEY,
            None,
            KVS_EC,
            I,
        ),
        case(
            "kvs admin lists",
            DEFAULT,
            KVS_A,
            ADMIN,
            "kms:ListAliases",
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "kvs admin describes",
            DEFAULT,
            KVS_A,
            ADMIN,
            "kms:DescribeKey",
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "kvs admin cannot decrypt",
            DEFAULT,
            KVS_A,
            ADMIN,
            dec,
            KEY,
            None,
            KVS_EC,
            I,
        ),
        case(
            "kvs admin cannot disable",
            DEFAULT,
            KVS_A,
            ADMIN,
            "kms:DisableKey",
            KEY,
            None,
            &[],
            I,
        ),
        case(
            "kds producer generates",
            DEFAULT,
            KDS_P,
            PRODUCER,
            gdk,
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "kds producer cannot decrypt",
            DEFAULT,
            KDS_P,
            PRODUCER,
            dec,
            KEY,
            None,
            &[],
            I,
        ),
        case(
            "kds consumer decrypts",
            DEFAULT,
            KDS_C,
            CONSUMER,
            dec,
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "kds consumer cannot generate",
            DEFAULT,
            KDS_C,
            CONSUMER,
            gdk,
            KEY,
            None,
            &[],
            I,
        ),
        case(
            "kds admin lists grants",
            DEFAULT,
            KDS_A,
            ADMIN,
            "kms:ListGrants",
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "kds admin describes",
            DEFAULT,
            KDS_A,
            ADMIN,
            "kms:DescribeKey",
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "kds admin cannot schedule deletion",
            DEFAULT,
            KDS_A,
            ADMIN,
            "kms:ScheduleKeyDeletion",
            KEY,
            None,
            &[],
            I,
        ),
        case(
            "producer and consumer together",
            DEFAULT,
            &[F("kvs_producer"), F("kvs_consumer")],
            PRODUCER,
            dec,
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "no identity policy, delegating key policy",
            DEFAULT,
            &[],
            PRODUCER,
            gdk,
            KEY,
            None,
            &[],
            I,
        ),
        case(
            "account root needs no identity policy",
            DEFAULT,
            &[],
            ROOT,
            "kms:ScheduleKeyDeletion",
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "scoped key also delegates to IAM",
            SCOPED,
            KVS_P,
            PRODUCER,
            gdk,
            KEY,
            None,
            KVS_EC,
            A,
        ),
        case(
            "identity allows, key policy names only an admin",
            Some(Src::Json(
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/admin"},"Action":"kms:*","Resource":"*"}}"#,
            )),
            KVS_P,
            PRODUCER,
            gdk,
            KEY,
            None,
            KVS_EC,
            I,
        ),
    ]);
}

#[test]
fn kinesis_video_managed_key_policy() {
    use Src::File as F;
    let gdk = "kms:GenerateDataKey";
    run(&[
        case(
            "via kinesisvideo, same account",
            MANAGED,
            &[],
            PRODUCER,
            gdk,
            KEY,
            Some(KVS),
            KVS_EC,
            A,
        ),
        case(
            "decrypt via kinesisvideo",
            MANAGED,
            &[],
            CONSUMER,
            "kms:Decrypt",
            KEY,
            Some(KVS),
            KVS_EC,
            A,
        ),
        case(
            "GenerateDataKey* covers WithoutPlaintext",
            MANAGED,
            &[],
            PRODUCER,
            "kms:GenerateDataKeyWithoutPlaintext",
            KEY,
            Some(KVS),
            &[],
            A,
        ),
        case(
            "direct call is not via the service",
            MANAGED,
            &[],
            PRODUCER,
            gdk,
            KEY,
            None,
            KVS_EC,
            I,
        ),
        case(
            "direct call even with an identity policy",
            MANAGED,
            &[F("kvs_producer")],
            PRODUCER,
            gdk,
            KEY,
            None,
            KVS_EC,
            I,
        ),
        case(
            "another service",
            MANAGED,
            &[],
            PRODUCER,
            gdk,
            KEY,
            Some("s3.us-west-2.amazonaws.com"),
            KVS_EC,
            I,
        ),
        case(
            "another region's endpoint",
            MANAGED,
            &[],
            PRODUCER,
            gdk,
            KEY,
            Some("kinesisvideo.us-east-1.amazonaws.com"),
            KVS_EC,
            I,
        ),
        case(
            "another account via the service",
            MANAGED,
            &[F("partner_decrypt")],
            PARTNER_USER,
            "kms:Decrypt",
            KEY,
            Some(KVS),
            KVS_EC,
            I,
        ),
        case(
            "root describes directly",
            MANAGED,
            &[],
            ROOT,
            "kms:DescribeKey",
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "root cannot disable",
            MANAGED,
            &[],
            ROOT,
            "kms:DisableKey",
            KEY,
            None,
            &[],
            I,
        ),
        case(
            "user describes with an identity policy",
            MANAGED,
            &[F("kvs_administrator")],
            ADMIN,
            "kms:DescribeKey",
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "user describes without one",
            MANAGED,
            &[],
            ADMIN,
            "kms:DescribeKey",
            KEY,
            None,
            &[],
            I,
        ),
    ]);
}

#[test]
fn scoped_key_policy_with_conditions_and_denies() {
    use Src::{File as F, Json as J};
    let gdk = "kms:GenerateDataKey";
    let dec = "kms:Decrypt";
    const DENY_ALL_DECRYPT: &[Src] = &[J(
        r#"{"Statement":{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}}"#,
    )];
    run(&[
        case(
            "camera, own stream",
            SCOPED,
            &[],
            CAMERA,
            gdk,
            KEY,
            None,
            KVS_EC,
            A,
        ),
        case(
            "camera, another stream",
            SCOPED,
            &[],
            CAMERA,
            gdk,
            KEY,
            None,
            &[(
                "aws:kinesisvideo:arn",
                "arn:aws:kinesisvideo:us-west-2:123456789012:stream/door-1/1",
            )],
            I,
        ),
        case(
            "camera, extra context key",
            SCOPED,
            &[],
            CAMERA,
            gdk,
            KEY,
            None,
            &[("aws:kinesisvideo:arn", STREAM), ("other", "x")],
            I,
        ),
        case(
            "camera, allowed context keys",
            SCOPED,
            &[],
            CAMERA,
            gdk,
            KEY,
            None,
            &[("aws:kinesisvideo:arn", STREAM), ("site", "north")],
            A,
        ),
        case(
            "camera, no context",
            SCOPED,
            &[],
            CAMERA,
            gdk,
            KEY,
            None,
            &[],
            I,
        ),
        case(
            "camera cannot decrypt",
            SCOPED,
            &[],
            CAMERA,
            dec,
            KEY,
            None,
            KVS_EC,
            I,
        ),
        case(
            "second principal of the list",
            SCOPED,
            &[],
            "arn:aws:iam::123456789012:user/bench",
            gdk,
            KEY,
            None,
            KVS_EC,
            A,
        ),
        case(
            "viewer decrypts",
            SCOPED,
            &[],
            VIEWER,
            dec,
            KEY,
            None,
            KVS_EC,
            A,
        ),
        case(
            "context key name is case-insensitive",
            SCOPED,
            &[],
            VIEWER,
            dec,
            KEY,
            None,
            &[("AWS:KinesisVideo:ARN", STREAM)],
            A,
        ),
        case(
            "viewer, another account's stream",
            SCOPED,
            &[],
            VIEWER,
            dec,
            KEY,
            None,
            &[(
                "aws:kinesisvideo:arn",
                "arn:aws:kinesisvideo:us-west-2:999999999999:stream/x/1",
            )],
            I,
        ),
        case(
            "partner with identity policy",
            SCOPED,
            &[F("partner_decrypt")],
            PARTNER_USER,
            dec,
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "partner without identity policy",
            SCOPED,
            &[],
            PARTNER_USER,
            dec,
            KEY,
            None,
            &[],
            I,
        ),
        case(
            "partner cannot generate",
            SCOPED,
            &[J(
                r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
            )],
            PARTNER_USER,
            gdk,
            KEY,
            None,
            &[],
            I,
        ),
        case(
            "NotPrincipal deny hits the camera",
            SCOPED,
            &[],
            CAMERA,
            "kms:ScheduleKeyDeletion",
            KEY,
            None,
            &[],
            D,
        ),
        case(
            "NotPrincipal deny spares KeyAdmin",
            SCOPED,
            &[],
            KEY_ADMIN,
            "kms:ScheduleKeyDeletion",
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "NotPrincipal deny spares root",
            SCOPED,
            &[],
            ROOT,
            "kms:ScheduleKeyDeletion",
            KEY,
            None,
            &[],
            A,
        ),
        case(
            "NotPrincipal account entry spares only root",
            SCOPED,
            &[J(
                r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
            )],
            ADMIN,
            "kms:ScheduleKeyDeletion",
            KEY,
            None,
            &[],
            D,
        ),
        case(
            "quarantined site, direct",
            SCOPED,
            &[],
            VIEWER,
            dec,
            KEY,
            None,
            &[("aws:kinesisvideo:arn", STREAM), ("site", "quarantine")],
            D,
        ),
        case(
            "quarantined site, via kinesisvideo",
            SCOPED,
            &[],
            VIEWER,
            dec,
            KEY,
            Some(KVS),
            &[("aws:kinesisvideo:arn", STREAM), ("site", "quarantine")],
            A,
        ),
        case(
            "identity deny beats key policy allow",
            SCOPED,
            DENY_ALL_DECRYPT,
            VIEWER,
            dec,
            KEY,
            None,
            KVS_EC,
            D,
        ),
        case(
            "deny without context: with context",
            DEFAULT,
            &[F("deny_decrypt_without_context")],
            ADMIN,
            dec,
            KEY,
            None,
            KVS_EC,
            A,
        ),
        case(
            "deny without context: empty context",
            DEFAULT,
            &[F("deny_decrypt_without_context")],
            ADMIN,
            dec,
            KEY,
            None,
            &[],
            D,
        ),
        case(
            "account-level call by identity",
            None,
            &[J(
                r#"{"Statement":{"Effect":"Allow","Action":"kms:Create*","Resource":"*"}}"#,
            )],
            ADMIN,
            "kms:CreateKey",
            "*",
            None,
            &[],
            A,
        ),
        case(
            "account-level call, ARN-scoped identity",
            None,
            &[F("kvs_administrator")],
            ADMIN,
            "kms:ListKeys",
            "*",
            None,
            &[],
            I,
        ),
        case(
            "account-level call by root",
            None,
            &[],
            ROOT,
            "kms:CreateKey",
            "*",
            None,
            &[],
            A,
        ),
        case(
            "account-level call from another account",
            None,
            &[J(
                r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
            )],
            PARTNER_USER,
            "kms:CreateKey",
            "*",
            None,
            &[],
            I,
        ),
    ]);
}

/// A key policy allowing everyone `kms:Decrypt` under `condition`.
fn cond(condition: &str) -> String {
    format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{condition}}}]}}"#
    )
}

/// Evaluates `cond(condition)` for a direct call by `principal` with context `ec`.
fn cond_case(condition: &str, principal: &str, ec: &[(&str, &str)]) -> Decision {
    let key = Policy::parse(&cond(condition), PolicyKind::Key).unwrap_or_else(|e| panic!("{e}"));
    let ec: EncryptionContext = ec.iter().copied().collect();
    let req = Request {
        action: "kms:Decrypt",
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
    authorize(Some(&key), ACCT, &[], &req)
}

#[test]
fn condition_operators() {
    let s = [("stream", "cam-1")];
    let two = [("stream", "cam-1"), ("site", "north")];
    type Row<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Decision);
    let rows: &[Row<'_>] = &[
        (
            r#"{"StringEquals":{"kms:EncryptionContext:stream":"cam-1"}}"#,
            CAMERA,
            &s,
            A,
        ),
        (
            r#"{"StringEquals":{"kms:EncryptionContext:stream":"Cam-1"}}"#,
            CAMERA,
            &s,
            I,
        ),
        (
            r#"{"StringEquals":{"kms:EncryptionContext:stream":["x","cam-1"]}}"#,
            CAMERA,
            &s,
            A,
        ),
        (
            r#"{"StringEquals":{"kms:EncryptionContext:stream":"cam-1"}}"#,
            CAMERA,
            &[],
            I,
        ),
        (
            r#"{"StringNotEquals":{"kms:EncryptionContext:stream":"cam-2"}}"#,
            CAMERA,
            &s,
            A,
        ),
        (
            r#"{"StringNotEquals":{"kms:EncryptionContext:stream":["cam-2","cam-1"]}}"#,
            CAMERA,
            &s,
            I,
        ),
        (
            r#"{"StringNotEquals":{"kms:EncryptionContext:stream":"cam-1"}}"#,
            CAMERA,
            &[],
            A,
        ),
        (
            r#"{"StringEqualsIgnoreCase":{"kms:EncryptionContext:stream":"CAM-1"}}"#,
            CAMERA,
            &s,
            A,
        ),
        (
            r#"{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:stream":"CAM-1"}}"#,
            CAMERA,
            &s,
            I,
        ),
        (
            r#"{"StringLike":{"kms:EncryptionContext:stream":"cam-?"}}"#,
            CAMERA,
            &s,
            A,
        ),
        (
            r#"{"StringLike":{"kms:EncryptionContext:stream":"Cam-*"}}"#,
            CAMERA,
            &s,
            I,
        ),
        (
            r#"{"StringNotLike":{"kms:EncryptionContext:stream":"door-*"}}"#,
            CAMERA,
            &s,
            A,
        ),
        (
            r#"{"StringNotLike":{"kms:EncryptionContext:stream":"cam-*"}}"#,
            CAMERA,
            &s,
            I,
        ),
        (
            r#"{"StringEqualsIfExists":{"kms:EncryptionContext:stream":"cam-1"}}"#,
            CAMERA,
            &[],
            A,
        ),
        (
            r#"{"StringEqualsIfExists":{"kms:EncryptionContext:stream":"cam-2"}}"#,
            CAMERA,
            &s,
            I,
        ),
        (
            r#"{"StringLikeIfExists":{"kms:ViaService":"kinesisvideo.*"}}"#,
            CAMERA,
            &s,
            A,
        ),
        // For a role session, aws:PrincipalArn is the ARN of the role, not of the session.
        (
            r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/Camera"}}"#,
            CAMERA,
            &[],
            A,
        ),
        (
            r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/Camera"}}"#,
            VIEWER,
            &[],
            I,
        ),
        (
            r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:sts::123456789012:assumed-role/Camera/*"}}"#,
            CAMERA,
            &[],
            I,
        ),
        (
            r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:sts::123456789012:assumed-role/*/cam-1"}}"#,
            CAMERA,
            &[],
            I,
        ),
        (
            r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"}}"#,
            CAMERA,
            &[],
            A,
        ),
        (
            r#"{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/Camera"}}"#,
            CAMERA,
            &[],
            I,
        ),
        (
            r#"{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:sts::123456789012:assumed-role/Camera/cam-1"}}"#,
            CAMERA,
            &[],
            A,
        ),
        (
            r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/admin"}}"#,
            ADMIN,
            &[],
            A,
        ),
        (
            r#"{"StringEquals":{"kms:CallerAccount":"123456789012"}}"#,
            CAMERA,
            &[],
            A,
        ),
        (
            r#"{"StringEquals":{"kms:calleraccount":"444455556666"}}"#,
            CAMERA,
            &[],
            I,
        ),
        (
            r#"{"Bool":{"kms:EncryptionContext:archived":true}}"#,
            CAMERA,
            &[("archived", "TRUE")],
            A,
        ),
        (
            r#"{"Bool":{"kms:EncryptionContext:archived":"false"}}"#,
            CAMERA,
            &[("archived", "true")],
            I,
        ),
        (
            r#"{"Null":{"kms:EncryptionContext:stream":"false"}}"#,
            CAMERA,
            &s,
            A,
        ),
        (
            r#"{"Null":{"kms:EncryptionContext:stream":"true"}}"#,
            CAMERA,
            &s,
            I,
        ),
        (r#"{"Null":{"kms:ViaService":"true"}}"#, CAMERA, &[], A),
        (
            r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"site"}}"#,
            CAMERA,
            &two,
            A,
        ),
        (
            r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"site"}}"#,
            CAMERA,
            &s,
            I,
        ),
        (
            r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"site"}}"#,
            CAMERA,
            &[],
            I,
        ),
        (
            r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["stream","site"]}}"#,
            CAMERA,
            &two,
            A,
        ),
        (
            r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["stream"]}}"#,
            CAMERA,
            &two,
            I,
        ),
        (
            r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["stream"]}}"#,
            CAMERA,
            &[],
            A,
        ),
        (
            r#"{"ForAllValues:StringLike":{"kms:EncryptionContextKeys":"s*"}}"#,
            CAMERA,
            &two,
            A,
        ),
        (
            r#"{"ForAnyValue:StringNotLike":{"kms:EncryptionContextKeys":"s*"}}"#,
            CAMERA,
            &two,
            I,
        ),
        (
            r#"{"ForAllValues:StringNotEquals":{"kms:EncryptionContextKeys":"secret"}}"#,
            CAMERA,
            &two,
            A,
        ),
        // Operators and keys are ANDed.
        (
            r#"{"StringEquals":{"kms:EncryptionContext:stream":"cam-1","kms:EncryptionContext:site":"north"}}"#,
            CAMERA,
            &two,
            A,
        ),
        (
            r#"{"StringEquals":{"kms:EncryptionContext:stream":"cam-1","kms:EncryptionContext:site":"south"}}"#,
            CAMERA,
            &two,
            I,
        ),
        (
            r#"{"StringEquals":{"kms:EncryptionContext:stream":"cam-1"},"Null":{"kms:EncryptionContext:site":"true"}}"#,
            CAMERA,
            &two,
            I,
        ),
    ];
    let mut failures = Vec::new();
    for (i, (c, principal, ec, want)) in rows.iter().enumerate() {
        let got = cond_case(c, principal, ec);
        if got != *want {
            failures.push(format!(
                "row {i}: {c} with {ec:?}: expected {want:?}, got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

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

#[test]
fn malformed_policies_name_the_bad_element() {
    let ok = r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}"#;
    let key_rows: Vec<(String, &str)> = vec![
        (
            format!(r#"{{"Statement":[{ok},{ok},{{"Effect":"Permit","Principal":"*","Action":"kms:*","Resource":"*"}}]}}"#),
            r#"Statement[2].Effect: expected "Allow" or "Deny""#,
        ),
        (r#"{"Version":"2012-10-17"}"#.to_owned(), "Statement: missing"),
        (format!(r#"{{"Version":"2020-01-01","Statement":{ok}}}"#), "Version: expected"),
        (format!(r#"{{"Statment":{ok}}}"#), "Statment: unknown policy element"),
        (r#"{"Statement":"allow all"}"#.to_owned(), "Statement: expected an object"),
        (r#"{"Statement":[]}"#.to_owned(), "Statement: must not be empty"),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"Decrypt","Resource":"*"}}"#.to_owned(),
            "Statement[0].Action[0]: expected \"service:action\"",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"}}"#.to_owned(),
            "only one of Action and NotAction",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#.to_owned(),
            "Statement[0].Principal: missing",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kms:*","Resource":"*"}}"#.to_owned(),
            "Statement[0].Principal.AWS[0]: expected",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/*"},"Action":"kms:*","Resource":"*"}}"#.to_owned(),
            "Statement[0].Principal.AWS[0]: wildcards are not allowed",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"IAM":"*"},"Action":"kms:*","Resource":"*"}}"#.to_owned(),
            "Statement[0].Principal.IAM: unknown principal type",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"key/abc"}}"#.to_owned(),
            "Statement[0].Resource[0]: expected an ARN",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*"}}"#.to_owned(),
            "Statement[0].Resource: missing",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NumericLessThan":{"kms:X":"1"}}}}"#.to_owned(),
            "Statement[0].Condition.NumericLessThan: unsupported condition operator",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"kms:ViaService":"yes"}}}}"#.to_owned(),
            "Statement[0].Condition.Bool.kms:ViaService: expected \"true\" or \"false\"",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NullIfExists":{"kms:ViaService":"true"}}}}"#.to_owned(),
            "Statement[0].Condition.NullIfExists: Null has no IfExists form",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":{"a":1}}}}}"#.to_owned(),
            "Statement[0].Condition.StringEquals.kms:ViaService: expected",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":[1],"Resource":"*"}}"#.to_owned(),
            "Statement[0].Action[0]: expected a string",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Extra":1}}"#.to_owned(),
            "Statement[0].Extra: unknown statement element",
        ),
        ("not json".to_owned(), "not valid JSON"),
        ("[1,2]".to_owned(), "expected a JSON object"),
    ];
    for (json, want) in &key_rows {
        let e = Policy::parse(json, PolicyKind::Key).unwrap_err();
        assert!(
            e.to_string().contains(want),
            "{json}\n  got: {e}\n  want: {want}"
        );
    }
    let e = Policy::parse(
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
        PolicyKind::Identity,
    )
    .unwrap_err();
    assert_eq!(e.path(), "Statement[0].Principal");
    assert!(e.message().contains("not allowed in an identity policy"));
}

#[test]
fn every_fixture_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policies");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let kind = if name.starts_with("key_") {
            PolicyKind::Key
        } else {
            PolicyKind::Identity
        };
        let p = Policy::parse(&text, kind).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!p.statements().is_empty());
        n += 1;
    }
    assert!(n >= 10, "{n} fixtures");
}

/// A statement (key policy: with `"Principal":"*"`) denying `kms:*` under `condition`.
fn deny_under(condition: &str, kind: PolicyKind) -> String {
    let principal = match kind {
        PolicyKind::Key => r#""Principal":"*","#,
        PolicyKind::Identity => "",
    };
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny",{principal}"Action":"kms:*","Resource":"*","Condition":{condition}}}]}}"#
    )
}

fn refused(json: &str, kind: PolicyKind) -> PolicyError {
    match Policy::parse(json, kind) {
        Ok(p) => panic!("accepted: {json}\n  as {p:?}"),
        Err(e) => e,
    }
}

/// Fail closed: a condition key LocalKms does not model is refused at parse time, naming the
/// key. Before, it read as absent, so a `Deny` conditioned on it never fired.
#[test]
fn unmodelled_condition_key_is_rejected_naming_it() {
    let rows = [
        (
            r#"{"StringEquals":{"aws:SourceIp":"10.0.0.1"}}"#,
            "aws:SourceIp",
        ),
        (
            r#"{"Bool":{"aws:SecureTransport":"false"}}"#,
            "aws:SecureTransport",
        ),
        (
            r#"{"StringNotEquals":{"kms:EncryptionContex:stream":"cam-1"}}"#,
            "kms:EncryptionContex:stream",
        ),
        (
            r#"{"Null":{"kms:EncryptionContext:":"true"}}"#,
            "kms:EncryptionContext:",
        ),
        (
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"x"}}"#,
            "aws:TagKeys",
        ),
        (
            r#"{"StringLike":{"kms:ViaService":"*","aws:username":"bob"}}"#,
            "aws:username",
        ),
    ];
    for (condition, key) in rows {
        for kind in [PolicyKind::Key, PolicyKind::Identity] {
            let json = deny_under(condition, kind);
            let e = refused(&json, kind);
            assert_eq!(
                e.kind(),
                PolicyErrorKind::UnsupportedConditionKey,
                "{json}: {e}"
            );
            assert!(e.path().ends_with(&format!(".{key}")), "{json}: {e}");
            assert!(e.message().contains(&format!("{key:?}")), "{json}: {e}");
            assert_eq!(e.exception(), "MalformedPolicyDocumentException");
        }
    }
    // Every modelled key parses, its name in any case.
    for key in [
        "kms:CallerAccount",
        "AWS:PrincipalAccount",
        "aws:principalarn",
        "kms:ViaService",
        "kms:RequestAlias",
        "kms:EncryptionContextKeys",
        "KMS:encryptioncontext:Stream",
    ] {
        let json = deny_under(
            &format!(r#"{{"StringEquals":{{"{key}":"x"}}}}"#),
            PolicyKind::Key,
        );
        Policy::parse(&json, PolicyKind::Key).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
}

/// Fail closed: an object that repeats a key, anywhere in the document, is refused. A plain
/// JSON reader keeps the last value, so `"Effect":"Deny", ..., "Effect":"Allow"` allowed.
#[test]
fn duplicate_json_keys_are_rejected() {
    let deny_then_allow = r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Effect":"Allow"}}"#;
    // What a last-value-wins reader makes of it: an Allow for everyone.
    let lax: serde_json::Value = serde_json::from_str(deny_then_allow).unwrap();
    let lax = Policy::from_value(&lax, PolicyKind::Key).unwrap();
    let req = Request {
        action: "kms:Decrypt",
        resource: KEY,
        context: RequestContext {
            principal_arn: CAMERA,
            principal_account: ACCT,
            ..RequestContext::default()
        },
    };
    assert_eq!(authorize(Some(&lax), ACCT, &[], &req), A);

    let rows = [
        (deny_then_allow, "Effect"),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"},"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
            "Statement",
        ),
        (
            r#"{"Version":"2012-10-17","Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
            "Version",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/Consumer","AWS":"*"},"Action":"kms:Decrypt","Resource":"*"}}"#,
            "AWS",
        ),
        (
            r#"{"Statement":{"Effect":"Deny","Principal":"*","NotAction":"kms:Describe*","Resource":"*","Condition":{"StringNotEquals":{"kms:CallerAccount":"123456789012"},"StringNotEquals":{"kms:CallerAccount":"444455556666"}}}}"#,
            "StringNotEquals",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:stream":"cam-1","kms:EncryptionContext:stream":"cam-2"}}}]}"#,
            "kms:EncryptionContext:stream",
        ),
    ];
    for (json, key) in rows {
        let e = refused(json, PolicyKind::Key);
        assert_eq!(e.kind(), PolicyErrorKind::DuplicateKey, "{json}: {e}");
        assert!(
            e.message()
                .contains(&format!("duplicate JSON object key {key:?}")),
            "{json}: {e}"
        );
        assert_eq!(e.exception(), "MalformedPolicyDocumentException");
    }
    // The same key in sibling objects is not a repetition.
    Policy::parse(
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*"}]}"#,
        PolicyKind::Key,
    )
    .unwrap();
}

/// Fail closed, as AWS KMS: `ForAllValues:` on the single-valued `kms:EncryptionContext:KEY`
/// is true when the context lacks `KEY`, and is refused with AWS's OverlyPermissiveCondition.
#[test]
fn for_all_values_on_encryption_context_key_is_overly_permissive() {
    for op in [
        "ForAllValues:StringEquals",
        "ForAllValues:StringLike",
        "ForAllValues:StringEqualsIfExists",
        "ForAllValues:StringNotEquals",
    ] {
        for key in [
            "kms:EncryptionContext:aws:kinesisvideo:arn",
            "kms:encryptioncontext:Stream",
        ] {
            let condition = format!(r#"{{"{op}":{{"{key}":"{STREAM}"}}}}"#);
            for kind in [PolicyKind::Key, PolicyKind::Identity] {
                let e = refused(&deny_under(&condition, kind), kind);
                assert_eq!(e.kind(), PolicyErrorKind::OverlyPermissiveCondition, "{e}");
                assert!(e.message().contains("OverlyPermissiveCondition"), "{e}");
                assert!(e.path().ends_with(&format!("{op}.{key}")), "{e}");
                assert_eq!(e.exception(), "MalformedPolicyDocumentException");
            }
        }
    }
    // The multi-valued kms:EncryptionContextKeys keeps ForAllValues, and ForAnyValue on a
    // single context key is accepted.
    for condition in [
        r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":"aws:kinesisvideo:arn"}}"#,
        r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContext:stream":"cam-1"}}"#,
    ] {
        Policy::parse(&deny_under(condition, PolicyKind::Key), PolicyKind::Key)
            .unwrap_or_else(|e| panic!("{condition}: {e}"));
    }
    // Through LocalKms: CreateKey refuses it, with the PolicyError as the source (from which
    // the exception name is taken).
    let kms = fragseal::kms::local::LocalKms::new("us-west-2", ACCT);
    let root = fragseal::kms::Credential::new(ACCT, ROOT, "AKIAROOT").unwrap();
    let policy = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ROOT}"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
              "Condition":{{"ForAllValues:StringEquals":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM}"}}}}}}]}}"#
    );
    let e = kms.create_key(&root, Some(&policy), "t").unwrap_err();
    assert!(e.message().contains("OverlyPermissiveCondition"), "{e}");
    let source = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<PolicyError>())
        .unwrap();
    assert_eq!(source.kind(), PolicyErrorKind::OverlyPermissiveCondition);
    assert_eq!(source.exception(), "MalformedPolicyDocumentException");
}

/// Fail closed, as AWS KMS since 2025-08-18 for key policies: a statement needs
/// `Action`/`NotAction` and `Resource`/`NotResource`.
#[test]
fn statement_without_action_or_resource_is_rejected() {
    for kind in [PolicyKind::Key, PolicyKind::Identity] {
        let principal = match kind {
            PolicyKind::Key => r#""Principal":"*","#,
            PolicyKind::Identity => "",
        };
        for (body, missing) in [
            (r#""Resource":"*""#, "Statement[0].Action"),
            (r#""Action":"kms:*""#, "Statement[0].Resource"),
            (r#""Sid":"x""#, "Statement[0].Action"),
        ] {
            let json = format!(r#"{{"Statement":[{{"Effect":"Deny",{principal}{body}}}]}}"#);
            let e = refused(&json, kind);
            assert_eq!(e.kind(), PolicyErrorKind::Element, "{json}: {e}");
            assert_eq!(e.path(), missing, "{json}: {e}");
            assert!(e.message().starts_with("missing"), "{json}: {e}");
        }
        for body in [
            r#""NotAction":"kms:Decrypt","Resource":"*""#,
            r#""Action":"kms:*","NotResource":"arn:aws:kms:*:*:key/x""#,
        ] {
            let json = format!(r#"{{"Statement":[{{"Effect":"Deny",{principal}{body}}}]}}"#);
            Policy::parse(&json, kind).unwrap_or_else(|e| panic!("{json}: {e}"));
        }
    }
}

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

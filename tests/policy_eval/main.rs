//! Table tests of IAM policy evaluation (`fragseal::kms::local::policy`), with the producer,
//! consumer and administrator policies of the Kinesis Video Streams and Kinesis Data Streams
//! documentation as fixtures in `tests/fixtures/policies/`.
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::kms::local::policy::{
    authorize, Decision, Policy, PolicyError, PolicyErrorKind, PolicyKind, Request, RequestContext,
};
use fragseal::EncryptionContext;
use std::path::Path;

mod case_variant_keys;
mod condition_operators;
mod documented_policies;
mod malformed_policies;
mod principals;
mod resources_and_wildcards;
mod scoped_key_policy;

const ACCT: &str = "123456789012";
const KEY: &str = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

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

const SCOPED: Option<Src> = Some(Src::File("key_stream_scoped"));
const ROOT: &str = "arn:aws:iam::123456789012:root";

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

fn refused(json: &str, kind: PolicyKind) -> PolicyError {
    match Policy::parse(json, kind) {
        Ok(p) => panic!("accepted: {json}\n  as {p:?}"),
        Err(e) => e,
    }
}

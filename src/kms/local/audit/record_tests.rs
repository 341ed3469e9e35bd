//! The directly serialized audit line ([`super::record::write_line`]) against the `Value`
//! rendering ([`AuditEvent::to_json`]) that defined the file format: byte for byte.

use super::event::AuditEvent;
use super::record::write_line;
use super::{Operation, RequestOrigin};
use crate::format::EncryptionContext;
use crate::kms::local::denial::{Denial, Enforcement, PolicyHalf, PolicyRef, StatementRef};
use crate::kms::Credential;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

const OPERATIONS: [Operation; 26] = [
    Operation::GenerateDataKey,
    Operation::Decrypt,
    Operation::Encrypt,
    Operation::DescribeKey,
    Operation::CreateKey,
    Operation::CreateAlias,
    Operation::DeleteAlias,
    Operation::ListAliases,
    Operation::ListKeys,
    Operation::EnableKey,
    Operation::DisableKey,
    Operation::ScheduleKeyDeletion,
    Operation::CancelKeyDeletion,
    Operation::GetKeyPolicy,
    Operation::PutKeyPolicy,
    Operation::GenerateDataKeyWithoutPlaintext,
    Operation::ReEncrypt,
    Operation::GenerateRandom,
    Operation::TagResource,
    Operation::UntagResource,
    Operation::ListResourceTags,
    Operation::CreateGrant,
    Operation::ListGrants,
    Operation::ListRetirableGrants,
    Operation::RetireGrant,
    Operation::RevokeGrant,
];

/// Fails to compile when an operation is added, so that `OPERATIONS` is extended.
#[allow(dead_code)]
fn every_operation_listed(op: Operation) -> usize {
    match op {
        Operation::GenerateDataKey
        | Operation::Decrypt
        | Operation::Encrypt
        | Operation::DescribeKey
        | Operation::CreateKey
        | Operation::CreateAlias
        | Operation::DeleteAlias
        | Operation::ListAliases
        | Operation::ListKeys
        | Operation::EnableKey
        | Operation::DisableKey
        | Operation::ScheduleKeyDeletion
        | Operation::CancelKeyDeletion
        | Operation::GetKeyPolicy
        | Operation::PutKeyPolicy
        | Operation::GenerateDataKeyWithoutPlaintext
        | Operation::ReEncrypt
        | Operation::GenerateRandom
        | Operation::TagResource
        | Operation::UntagResource
        | Operation::ListResourceTags
        | Operation::CreateGrant
        | Operation::ListGrants
        | Operation::ListRetirableGrants
        | Operation::RetireGrant
        | Operation::RevokeGrant => OPERATIONS.len(),
    }
}

const KEY_ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn user() -> Credential {
    Credential::new(
        "111122223333",
        "arn:aws:iam::111122223333:user/alice",
        "AKIAALICE",
    )
    .expect("credential")
}

fn callers() -> Vec<Credential> {
    vec![
        user(),
        Credential::new("111122223333", "arn:aws:iam::111122223333:root", "AKIAROOT")
            .expect("root"),
        Credential::new(
            "444455556666",
            "arn:aws:sts::444455556666:assumed-role/Producer/session-1",
            "ASIAPRODUCER",
        )
        .expect("session"),
    ]
}

/// Strings that need JSON escapes (quote, backslash, control characters, U+2028, non-ASCII).
const NASTY: &str = "a\"b\\c\n\r\t\u{1}\u{1f}\u{7f}/\u{2028}é😀";

fn denials() -> Vec<Denial> {
    vec![
        Denial::ExplicitDeny {
            policy: PolicyRef::KeyPolicy {
                key_arn: KEY_ARN.into(),
            },
            statement: StatementRef::Sid(NASTY.into()),
        },
        Denial::ExplicitDeny {
            policy: PolicyRef::IdentityPolicy {
                principal_arn: "arn:aws:iam::111122223333:user/alice".into(),
                index: 3,
            },
            statement: StatementRef::Index(7),
        },
        Denial::NoAllow {
            missing: PolicyHalf::IdentityPolicy,
            present: Some(PolicyHalf::KeyPolicy),
        },
        Denial::NoAllow {
            missing: PolicyHalf::KeyPolicy,
            present: None,
        },
        Denial::KeyState {
            key_arn: KEY_ARN.into(),
            state: "PendingDeletion".into(),
        },
        Denial::GrantConstraint {
            grant_id: "g-1".into(),
            constraint: "EncryptionContextEquals".into(),
        },
    ]
}

fn base(op: Operation, caller: Credential) -> AuditEvent {
    AuditEvent {
        event_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_150_000),
        operation: op,
        region: "eu-west-1".into(),
        recipient_account: caller.account().to_owned(),
        caller,
        via_service: None,
        key_id: None,
        encryption_context: None,
        extra_parameters: Vec::new(),
        resource_arn: None,
        error: None,
        denial: None,
        would_be_denied: None,
        enforcement: Enforcement::Strict,
        origin: None,
        request_id: "8f7c6d5e-0000-4000-8000-000000000001".into(),
        event_id: "8f7c6d5e-0000-4000-8000-000000000002".into(),
    }
}

fn full(op: Operation, caller: Credential) -> AuditEvent {
    let mut ec = EncryptionContext::new();
    ec.insert("stream", "cam-1");
    ec.insert(NASTY, NASTY);
    ec.insert("Zeta", "upper case sorts first");
    AuditEvent {
        via_service: Some("kinesisvideo.eu-west-1.amazonaws.com".into()),
        key_id: Some(format!("alias/{NASTY}")),
        encryption_context: Some(ec),
        extra_parameters: vec![
            ("keySpec", Value::from("AES_256")),
            ("numberOfBytes", Value::from(32)),
            ("grantTokens", json!(["t1", NASTY])),
            (
                "constraints",
                json!({"b": 1.5, "a": [null, true, {"z": -3}]}),
            ),
            ("aliasName", Value::from(NASTY)),
        ],
        resource_arn: Some(KEY_ARN.into()),
        origin: Some(RequestOrigin {
            source_ip: "::1".into(),
            user_agent: format!("Boto3/1.35 {NASTY}"),
            request_id: "4e1a0b0c-1111-4111-8111-111111111111".into(),
        }),
        ..base(op, caller)
    }
}

fn assert_same(event: &AuditEvent) {
    let mut line = Vec::new();
    write_line(event, &mut line);
    let mut expected = serde_json::to_string(&event.to_json()).expect("to_string");
    expected.push('\n');
    assert_eq!(
        String::from_utf8(line).expect("utf-8"),
        expected,
        "{event:?}"
    );
}

#[test]
fn every_operation_success_and_error_with_and_without_optional_fields() {
    let mut n = 0;
    for op in OPERATIONS {
        for caller in callers() {
            for event in [base(op, caller.clone()), full(op, caller.clone())] {
                assert_same(&event);
                let failed = AuditEvent {
                    error: Some(("AccessDeniedException".into(), NASTY.into())),
                    ..event.clone()
                };
                assert_same(&failed);
                n += 2;
            }
        }
    }
    assert_eq!(n, OPERATIONS.len() * 3 * 4);
}

#[test]
fn denials_strict_and_soft() {
    for d in denials() {
        for op in [
            Operation::Decrypt,
            Operation::CreateGrant,
            Operation::ListKeys,
        ] {
            let denied = AuditEvent {
                error: Some(("AccessDeniedException".into(), "denied".into())),
                denial: Some(d.clone()),
                ..full(op, user())
            };
            assert_same(&denied);
            assert_same(&AuditEvent {
                enforcement: Enforcement::Soft,
                ..denied.clone()
            });
            // Soft: let through, with the denial it would have had.
            let soft = AuditEvent {
                enforcement: Enforcement::Soft,
                would_be_denied: Some(d.clone()),
                ..base(op, user())
            };
            assert_same(&soft);
            // Both: `denial` is the enforced one.
            assert_same(&AuditEvent {
                denial: Some(denials()[4].clone()),
                ..soft.clone()
            });
            // Strict ignores a would-be denial.
            assert_same(&AuditEvent {
                enforcement: Enforcement::Strict,
                ..soft
            });
        }
    }
    assert_same(&AuditEvent {
        enforcement: Enforcement::Soft,
        ..full(Operation::Encrypt, user())
    });
}

#[test]
fn extra_parameters_override_and_empty_values() {
    let mut event = full(Operation::ReEncrypt, user());
    // A later parameter of the same name replaces the earlier one, as a map insert does.
    event.extra_parameters.extend([
        ("keyId", Value::from("replaced")),
        ("keySpec", Value::from("AES_128")),
        ("encryptionContext", json!({"x": "y"})),
        ("sourceKeyId", Value::from(KEY_ARN)),
    ]);
    assert_same(&event);
    let mut empty = base(Operation::Encrypt, user());
    empty.encryption_context = Some(EncryptionContext::new());
    empty.key_id = Some(String::new());
    empty.origin = Some(RequestOrigin {
        source_ip: String::new(),
        user_agent: String::new(),
        request_id: String::new(),
    });
    assert_same(&empty);
    let via_only = AuditEvent {
        via_service: Some(NASTY.into()),
        ..base(Operation::GenerateDataKey, user())
    };
    assert_same(&via_only);
}

#[test]
fn the_line_is_one_json_object() {
    let mut line = Vec::new();
    write_line(&full(Operation::Decrypt, user()), &mut line);
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    assert_eq!(line.last(), Some(&b'\n'));
    let v: Value = serde_json::from_slice(&line).expect("json");
    assert_eq!(v["eventName"], "Decrypt");
    assert_eq!(v["userIdentity"]["accessKeyId"], "AKIAALICE");
}

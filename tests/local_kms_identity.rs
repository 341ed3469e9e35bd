//! Identity policies installed from a configuration: `replace_identity_policies` is
//! all-or-nothing, and with `identity_from_config` they stay out of the state file.
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::kms::local::LocalKms;
use fragseal::kms::{Credential, Kms, KmsErrorKind};
use std::collections::BTreeMap;

const REGION: &str = "us-east-1";
const A: &str = "111122223333";

fn root() -> Credential {
    Credential::new(A, format!("arn:aws:iam::{A}:root"), "AKIAROOT").unwrap()
}

fn user(name: &str) -> Credential {
    Credential::new(A, user_arn(name), format!("AKIA{}", name.to_uppercase())).unwrap()
}

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{A}:user/{name}")
}

fn allow(action: &str) -> String {
    format!(r#"{{"Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#)
}

fn map(entries: &[(&str, &[String])]) -> BTreeMap<String, Vec<String>> {
    entries
        .iter()
        .map(|(n, docs)| (user_arn(n), docs.to_vec()))
        .collect()
}

#[test]
fn replace_is_all_or_nothing() {
    let kms = LocalKms::new(REGION, A);
    let key = kms.create_key(&root(), None, "k").unwrap();
    kms.attach_identity_policy(&user_arn("old"), &allow("kms:DescribeKey"))
        .unwrap();
    kms.replace_identity_policies(map(&[
        ("alice", &[allow("kms:DescribeKey")]),
        ("bob", &[allow("kms:Encrypt"), allow("kms:DescribeKey")]),
    ]))
    .unwrap();
    assert!(kms.describe_key(&user("alice"), &key.arn).is_ok());
    assert_eq!(kms.identity_policies(&user_arn("bob")).len(), 2);
    // Replaced: the old principal lost its policy.
    assert!(kms.identity_policies(&user_arn("old")).is_empty());
    assert_eq!(
        kms.describe_key(&user("old"), &key.arn).unwrap_err().kind(),
        KmsErrorKind::AccessDenied
    );

    // One bad document: refused, naming the principal; nothing changes.
    let e = kms
        .replace_identity_policies(map(&[
            ("carol", &[allow("kms:DescribeKey")]),
            (
                "mallory",
                &[
                    allow("kms:Decrypt"),
                    r#"{"Statement":[{"Effect":"Maybe"}]}"#.into(),
                ],
            ),
        ]))
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::MalformedPolicyDocument);
    assert!(e.message().contains(&user_arn("mallory")), "{e}");
    assert!(e.message().contains("#1"), "{e}");
    assert!(kms.identity_policies(&user_arn("carol")).is_empty());
    assert!(kms.describe_key(&user("alice"), &key.arn).is_ok());

    // An empty map removes every identity policy.
    kms.replace_identity_policies(BTreeMap::new()).unwrap();
    assert!(kms.identity_policies(&user_arn("alice")).is_empty());
}

#[test]
fn identity_from_config_keeps_policies_out_of_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    // A file written with persisted identity policies.
    let kms = LocalKms::builder(REGION, A)
        .state_file(&path)
        .build()
        .unwrap();
    kms.create_key(&root(), None, "k").unwrap();
    kms.attach_identity_policy(&user_arn("persisted"), &allow("kms:Encrypt"))
        .unwrap();
    drop(kms);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["identityPolicies"].as_object().unwrap().len(), 1);

    let kms = LocalKms::builder(REGION, A)
        .state_file(&path)
        .identity_from_config(true)
        .build()
        .unwrap();
    // The configuration is their source: those in the file are not loaded.
    assert!(kms.identity_policies(&user_arn("persisted")).is_empty());
    kms.replace_identity_policies(map(&[("alice", &[allow("kms:DescribeKey")])]))
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(v["identityPolicies"].as_object().unwrap().is_empty(), "{v}");
    assert_eq!(v["keys"].as_array().unwrap().len(), 1);
    assert_eq!(kms.identity_policies(&user_arn("alice")).len(), 1);
}

//! A multi-account LocalKms: keys of several accounts side by side, per-account aliases and
//! account-level calls, cross-account authorization, and the state file (version 2, and
//! version 1 still read).
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::kms::local::{LocalKms, SetupError, KINESIS_VIDEO_ALIAS};
use fragseal::kms::{Credential, DataKeySpec, Kms, KmsErrorKind};
use fragseal::EncryptionContext;

const REGION: &str = "us-east-1";
const A: &str = "111122223333";
const B: &str = "444455556666";
const C: &str = "777788889999";

fn root(account: &str) -> Credential {
    Credential::new(account, format!("arn:aws:iam::{account}:root"), "AKIAROOT").unwrap()
}

fn user(account: &str, name: &str) -> Credential {
    Credential::new(
        account,
        format!("arn:aws:iam::{account}:user/{name}"),
        format!("AKIA{}", name.to_uppercase()),
    )
    .unwrap()
}

fn two() -> LocalKms {
    LocalKms::builder(REGION, A).accounts([B]).build().unwrap()
}

fn ec() -> EncryptionContext {
    EncryptionContext::new().with("purpose", "test")
}

fn allow(action: &str) -> String {
    format!(r#"{{"Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#)
}

/// A key policy of `owner` that lets `external` (an account) use the key.
fn shared_policy(owner: &str, external: &str) -> String {
    format!(
        r#"{{"Statement":[
            {{"Sid":"Owner","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{owner}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Sid":"External","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{external}:root"}},
              "Action":["kms:GenerateDataKey","kms:Decrypt","kms:DescribeKey","kms:EnableKey","kms:PutKeyPolicy"],"Resource":"*"}}]}}"#
    )
}

#[test]
fn builder_validates_and_lists_accounts() {
    let kms = LocalKms::builder(REGION, A)
        .accounts([B, B, A])
        .build()
        .unwrap();
    assert_eq!(kms.account(), A);
    assert_eq!(kms.accounts(), [A.to_owned(), B.to_owned()]);
    assert!(kms.serves(B) && !kms.serves(C));
    let e = LocalKms::builder(REGION, A)
        .accounts(["12345"])
        .build()
        .unwrap_err();
    assert!(matches!(e, SetupError::InvalidConfig(_)), "{e}");
    assert_eq!(LocalKms::new(REGION, A).accounts(), [A.to_owned()]);
}

#[test]
fn keys_of_two_accounts_live_side_by_side() {
    let kms = two();
    let ka = kms.create_key(&root(A), None, "a").unwrap();
    let kb = kms.create_key(&root(B), None, "b").unwrap();
    assert!(ka
        .arn
        .starts_with(&format!("arn:aws:kms:{REGION}:{A}:key/")));
    assert!(kb
        .arn
        .starts_with(&format!("arn:aws:kms:{REGION}:{B}:key/")));
    assert_eq!(kb.account, B);
    assert_eq!(kms.key_arn_in(B, &kb.key_id), kb.arn);
    assert_eq!(kms.key_arn(&ka.key_id), ka.arn);
    // ListKeys is per account.
    assert_eq!(kms.list_keys(&root(A)).unwrap(), vec![ka.arn.clone()]);
    assert_eq!(kms.list_keys(&root(B)).unwrap(), vec![kb.arn.clone()]);
    // A bare key id resolves in the caller's account only.
    let e = kms.describe_key(&root(A), &kb.key_id).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::NotFound);
    assert!(
        e.message().contains(&format!("{A}:key/{}", kb.key_id)),
        "{e}"
    );
    assert_eq!(kms.describe_key(&root(B), &kb.key_id).unwrap().arn, kb.arn);
    // An ARN naming the wrong account for a key: not found (the key is not in that account).
    let wrong = kms.key_arn_in(A, &kb.key_id);
    let e = kms.describe_key(&root(A), &wrong).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::NotFound);
    // An ARN of an account not served: not found.
    let unserved = kms.key_arn_in(C, &kb.key_id);
    assert_eq!(
        kms.describe_key(&root(C), &unserved).unwrap_err().kind(),
        KmsErrorKind::NotFound
    );
    // Data keys under each account's key, and audit records name the key's owner.
    let g = kms
        .generate_data_key(&root(B), &kb.arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    let d = kms
        .decrypt(&root(B), &g.ciphertext_blob, &ec(), None)
        .unwrap();
    assert_eq!(d.key_id, kb.arn);
    let last = kms.audit().events_json().pop().unwrap();
    assert_eq!(last["recipientAccountId"], B);
    // A caller of an account that is not served may not make account-level calls.
    let e = kms.create_key(&root(C), None, "c").unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert_eq!(
        kms.list_keys(&root(C)).unwrap_err().kind(),
        KmsErrorKind::AccessDenied
    );
}

#[test]
fn aliases_resolve_per_account() {
    let kms = two();
    let ka = kms.create_key(&root(A), None, "a").unwrap();
    let kb = kms.create_key(&root(B), None, "b").unwrap();
    kms.create_alias(&root(A), "alias/cam", &ka.arn).unwrap();
    kms.create_alias(&root(B), "alias/cam", &kb.arn).unwrap();
    assert_eq!(kms.describe_key(&root(A), "alias/cam").unwrap().arn, ka.arn);
    assert_eq!(kms.describe_key(&root(B), "alias/cam").unwrap().arn, kb.arn);
    let alias_b = format!("arn:aws:kms:{REGION}:{B}:alias/cam");
    assert_eq!(kms.describe_key(&root(B), &alias_b).unwrap().arn, kb.arn);
    let listed = kms.list_aliases(&root(B), None).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].alias_arn, alias_b);
    assert_eq!(listed[0].target_key_id, kb.key_id);
    // An alias of one account may not point to another account's key.
    let e = kms.create_alias(&root(A), "alias/b", &kb.arn).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    kms.delete_alias(&root(B), "alias/cam").unwrap();
    assert_eq!(kms.describe_key(&root(A), "alias/cam").unwrap().arn, ka.arn);
    assert_eq!(
        kms.describe_key(&root(B), "alias/cam").unwrap_err().kind(),
        KmsErrorKind::NotFound
    );
    // The KVS managed key is per account.
    let kv_a = kms.describe_key(&root(A), KINESIS_VIDEO_ALIAS).unwrap();
    let kv_b = kms.describe_key(&root(B), KINESIS_VIDEO_ALIAS).unwrap();
    assert_eq!(kv_a.account, A);
    assert_eq!(kv_b.account, B);
    assert_ne!(kv_a.key_id, kv_b.key_id);
    assert!(kms
        .get_key_policy(&root(B), KINESIS_VIDEO_ALIAS)
        .unwrap()
        .contains(B));
}

#[test]
fn cross_account_needs_the_key_policy_and_the_identity_policy() {
    let kms = two();
    let shared = kms
        .create_key(&root(A), Some(&shared_policy(A, B)), "shared")
        .unwrap();
    let private = kms.create_key(&root(A), None, "private").unwrap();
    let bob = user(B, "bob");
    // Key policy allows account B, but bob has no identity policy: refused.
    let e = kms
        .generate_data_key(&bob, &shared.arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    // With the identity policy: allowed, and the owner's account is the recipient.
    kms.attach_identity_policy(
        &format!("arn:aws:iam::{B}:user/bob"),
        &allow("kms:GenerateDataKey"),
    )
    .unwrap();
    let g = kms
        .generate_data_key(&bob, &shared.arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    assert_eq!(g.key_id, shared.arn);
    assert_eq!(
        kms.audit().events_json().pop().unwrap()["recipientAccountId"],
        A
    );
    // Identity policy alone (the key policy does not name B): refused.
    let e = kms
        .generate_data_key(&bob, &private.arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    // Even B's root needs the key policy.
    let e = kms
        .generate_data_key(&root(B), &private.arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
}

#[test]
fn operations_kms_refuses_across_accounts_are_refused() {
    let kms = two();
    let shared = kms
        .create_key(&root(A), Some(&shared_policy(A, B)), "shared")
        .unwrap();
    let bob = user(B, "bob");
    kms.attach_identity_policy(&format!("arn:aws:iam::{B}:user/bob"), &allow("kms:*"))
        .unwrap();
    // Allowed by both halves, yet not a cross-account operation.
    let e = kms.enable_key(&bob, &shared.arn).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert!(e.message().contains("not permitted across accounts"), "{e}");
    let e = kms
        .put_key_policy(&root(B), &shared.arn, &shared_policy(A, B))
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    // DescribeKey is a cross-account operation.
    assert_eq!(kms.describe_key(&bob, &shared.arn).unwrap().account, A);
}

#[test]
fn state_file_round_trip_with_two_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let kms = LocalKms::builder(REGION, A)
        .accounts([B])
        .state_file(&path)
        .build()
        .unwrap();
    let ka = kms.create_key(&root(A), None, "a").unwrap();
    let kb = kms.create_key(&root(B), None, "b").unwrap();
    kms.create_alias(&root(B), "alias/cam", &kb.arn).unwrap();
    let blob = kms
        .generate_data_key(&root(B), "alias/cam", DataKeySpec::Aes256, &ec())
        .unwrap()
        .ciphertext_blob;
    drop(kms);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(v["aliases"][B]["alias/cam"], kb.key_id.as_str());

    let kms = LocalKms::builder(REGION, A)
        .accounts([B])
        .state_file(&path)
        .build()
        .unwrap();
    assert_eq!(kms.list_keys(&root(A)).unwrap(), vec![ka.arn]);
    assert_eq!(kms.describe_key(&root(B), "alias/cam").unwrap().arn, kb.arn);
    assert!(kms.decrypt(&root(B), &blob, &ec(), None).is_ok());
    drop(kms);

    // Without account B the file holds keys of an account not served: refused, untouched.
    let before = std::fs::read(&path).unwrap();
    let e = LocalKms::builder(REGION, A)
        .state_file(&path)
        .build()
        .unwrap_err();
    assert!(matches!(e, SetupError::Foreign { .. }), "{e}");
    assert!(e.to_string().contains(B), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn version_1_state_file_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.json");
    let id = "0a1b2c3d-0000-4000-8000-000000000001";
    let v1 = serde_json::json!({
        "format": "fragseal-localkms-state",
        "version": 1,
        "region": REGION,
        "account": A,
        "keys": [{
            "id": id,
            "state": "Enabled",
            "description": "old",
            "manager": "CUSTOMER",
            "policy": LocalKms::default_key_policy_for(A),
            "created": 1_700_000_000_u64,
            "deletionDate": null,
            "material": "11".repeat(32),
        }],
        "aliases": {"alias/old": id},
        "identityPolicies": {format!("arn:aws:iam::{A}:user/u"): [allow("kms:Encrypt")]},
    });
    let text = serde_json::to_vec(&v1).unwrap();
    std::fs::write(&path, &text).unwrap();
    // Served by a multi-account KMS whose primary is another account: still A's keys.
    let kms = LocalKms::builder(REGION, B)
        .accounts([A])
        .state_file(&path)
        .build()
        .unwrap();
    let d = kms.describe_key(&root(A), "alias/old").unwrap();
    assert_eq!(d.arn, format!("arn:aws:kms:{REGION}:{A}:key/{id}"));
    assert_eq!(
        kms.identity_policies(&format!("arn:aws:iam::{A}:user/u")),
        vec![allow("kms:Encrypt")]
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        text,
        "loading does not rewrite"
    );
    drop(kms);
    // A version 1 file of an account not served: refused, untouched.
    let e = LocalKms::builder(REGION, B)
        .state_file(&path)
        .build()
        .unwrap_err();
    assert!(matches!(e, SetupError::Foreign { .. }), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), text);
    // Version 3 is unknown.
    let mut v3 = v1.clone();
    v3["version"] = serde_json::Value::from(3);
    std::fs::write(&path, serde_json::to_vec(&v3).unwrap()).unwrap();
    let e = LocalKms::builder(REGION, A)
        .state_file(&path)
        .build()
        .unwrap_err();
    assert!(matches!(e, SetupError::Foreign { .. }), "{e}");
}

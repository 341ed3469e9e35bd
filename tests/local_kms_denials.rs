//! Explainable denials: every refusal names its rule (in the error and the audit record), and
//! the soft enforcement mode lets policy denials through while recording them.
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::kms::local::{Denial, Enforcement, LocalKms, PolicyHalf, PolicyRef, StatementRef};
use fragseal::kms::{Credential, DataKeySpec, Kms, KmsErrorKind};
use fragseal::EncryptionContext;

const REGION: &str = "us-east-1";
const A: &str = "111122223333";
const B: &str = "444455556666";

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

fn user_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user/{name}")
}

fn ec() -> EncryptionContext {
    EncryptionContext::new().with("purpose", "test")
}

fn allow(action: &str) -> String {
    format!(r#"{{"Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#)
}

/// Owner root may do everything; account B may generate data keys; "NoDecrypt" denies Decrypt
/// to everyone but the root; an unnamed Deny (statement 3) refuses DescribeKey to alice.
fn key_policy() -> String {
    format!(
        r#"{{"Statement":[
        {{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"External","Effect":"Allow","Principal":{{"AWS":"{B}"}},"Action":["kms:GenerateDataKey","kms:DescribeKey"],"Resource":"*"}},
        {{"Sid":"NoDecrypt","Effect":"Deny","Principal":{{"AWS":"{}"}},"Action":"kms:Decrypt","Resource":"*"}},
        {{"Effect":"Deny","Principal":{{"AWS":"{}"}},"Action":"kms:DescribeKey","Resource":"*"}}]}}"#,
        user_arn(A, "alice"),
        user_arn(A, "alice")
    )
}

fn setup(enforcement: Enforcement) -> (LocalKms, String) {
    let kms = LocalKms::builder(REGION, A)
        .accounts([B])
        .enforcement(enforcement)
        .build()
        .unwrap();
    let key = kms.create_key(&root(A), Some(&key_policy()), "k").unwrap();
    (kms, key.arn)
}

fn last_json(kms: &LocalKms) -> serde_json::Value {
    kms.audit().events_json().pop().unwrap()
}

#[test]
fn each_denial_names_its_rule() {
    let (kms, arn) = setup(Enforcement::Strict);
    let alice = user(A, "alice");
    kms.attach_identity_policy(&user_arn(A, "alice"), &allow("kms:*"))
        .unwrap();

    // Explicit deny in the key policy, named by Sid.
    let blob = kms
        .generate_data_key(&root(A), &arn, DataKeySpec::Aes256, &ec())
        .unwrap()
        .ciphertext_blob;
    let e = kms.decrypt(&alice, &blob, &ec(), None).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    let want = Denial::ExplicitDeny {
        policy: PolicyRef::KeyPolicy {
            key_arn: arn.clone(),
        },
        statement: StatementRef::Sid("NoDecrypt".into()),
    };
    assert_eq!(e.denial(), Some(&want));
    let rec = last_json(&kms);
    assert_eq!(rec["errorCode"], "AccessDeniedException");
    assert_eq!(rec["denial"], want.to_json());
    assert_eq!(rec["denial"]["statement"]["sid"], "NoDecrypt");
    assert!(want.to_string().contains("NoDecrypt"), "{want}");

    // Explicit deny by a statement without a Sid: its index.
    let e = kms.describe_key(&alice, &arn).unwrap_err();
    assert_eq!(
        e.denial(),
        Some(&Denial::ExplicitDeny {
            policy: PolicyRef::KeyPolicy {
                key_arn: arn.clone()
            },
            statement: StatementRef::Index(3),
        })
    );

    // Explicit deny in an identity policy: the principal and the policy's position.
    let carol = user(A, "carol");
    kms.attach_identity_policy(&user_arn(A, "carol"), &allow("kms:*"))
        .unwrap();
    kms.attach_identity_policy(
        &user_arn(A, "carol"),
        r#"{"Statement":[{"Sid":"Ok","Effect":"Allow","Action":"kms:Encrypt","Resource":"*"},
            {"Sid":"NoGen","Effect":"Deny","Action":"kms:GenerateDataKey","Resource":"*"}]}"#,
    )
    .unwrap();
    let e = kms
        .generate_data_key(&carol, &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(
        e.denial(),
        Some(&Denial::ExplicitDeny {
            policy: PolicyRef::IdentityPolicy {
                principal_arn: user_arn(A, "carol"),
                index: 1,
            },
            statement: StatementRef::Sid("NoGen".into()),
        })
    );

    // No identity policy allows (the key policy delegates to the account).
    let dave = user(A, "dave");
    let e = kms
        .generate_data_key(&dave, &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(
        e.denial(),
        Some(&Denial::NoAllow {
            missing: PolicyHalf::IdentityPolicy,
            present: Some(PolicyHalf::KeyPolicy),
        })
    );
    assert_eq!(last_json(&kms)["denial"]["type"], "NoAllow");
    // Account-level call without an identity policy.
    let e = kms.list_keys(&dave).unwrap_err();
    assert_eq!(
        e.denial(),
        Some(&Denial::NoAllow {
            missing: PolicyHalf::IdentityPolicy,
            present: None,
        })
    );

    // Across accounts: the key policy allows B, bob's identity policy is missing.
    let bob = user(B, "bob");
    let e = kms
        .generate_data_key(&bob, &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(
        e.denial(),
        Some(&Denial::CrossAccountIdentityMissing {
            key_arn: arn.clone()
        })
    );
    // Across accounts, the key policy does not allow Encrypt (bob's identity policy does).
    kms.attach_identity_policy(&user_arn(B, "bob"), &allow("kms:*"))
        .unwrap();
    let e = kms.encrypt(&bob, &arn, b"x", &ec()).unwrap_err();
    assert_eq!(
        e.denial(),
        Some(&Denial::NoAllow {
            missing: PolicyHalf::KeyPolicy,
            present: Some(PolicyHalf::IdentityPolicy),
        })
    );
    // An operation KMS refuses across accounts.
    let e = kms.disable_key(&bob, &arn).unwrap_err();
    assert_eq!(
        e.denial(),
        Some(&Denial::NotCrossAccount {
            action: "kms:DisableKey".into()
        })
    );
    assert_eq!(last_json(&kms)["denial"]["action"], "kms:DisableKey");

    // Key state.
    kms.disable_key(&root(A), &arn).unwrap();
    let e = kms
        .generate_data_key(&root(A), &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::Disabled);
    assert_eq!(
        e.denial(),
        Some(&Denial::KeyState {
            key_arn: arn.clone(),
            state: "Disabled".into()
        })
    );
    // A successful call has no denial.
    kms.enable_key(&root(A), &arn).unwrap();
    let rec = last_json(&kms);
    assert!(
        rec.get("denial").is_none() && rec.get("enforcement").is_none(),
        "{rec}"
    );
}

#[test]
fn soft_mode_allows_and_records_policy_denials_only() {
    let (kms, arn) = setup(Enforcement::Soft);
    assert_eq!(kms.enforcement(), Enforcement::Soft);
    let dave = user(A, "dave");
    // No identity policy: would be denied, proceeds.
    let g = kms
        .generate_data_key(&dave, &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    let rec = last_json(&kms);
    assert_eq!(rec["enforcement"], "soft");
    assert_eq!(rec["wouldBeDenied"], true);
    assert_eq!(rec["denial"]["type"], "NoAllow");
    assert!(rec.get("errorCode").is_none(), "{rec}");
    // The data key is real.
    let d = kms
        .decrypt(&root(A), &g.ciphertext_blob, &ec(), None)
        .unwrap();
    assert_eq!(d.plaintext.expose_secret(), g.plaintext.expose_secret());
    let rec = last_json(&kms);
    assert_eq!(rec["enforcement"], "soft");
    assert!(rec.get("wouldBeDenied").is_none(), "{rec}");
    // An explicit deny is softened too.
    let alice = user(A, "alice");
    assert!(kms.decrypt(&alice, &g.ciphertext_blob, &ec(), None).is_ok());
    assert_eq!(last_json(&kms)["denial"]["statement"]["sid"], "NoDecrypt");

    // Never softened: operations refused across accounts, unknown keys, key state, validation.
    let bob = user(B, "bob");
    let e = kms.disable_key(&bob, &arn).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    let missing = kms.key_arn("00000000-0000-4000-8000-000000000000");
    assert_eq!(
        kms.describe_key(&dave, &missing).unwrap_err().kind(),
        KmsErrorKind::NotFound
    );
    kms.disable_key(&root(A), &arn).unwrap();
    let e = kms
        .generate_data_key(&dave, &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::Disabled);
    let e = kms.encrypt(&root(A), &arn, b"", &ec()).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::InvalidRequest);

    // Back to strict: the same call is refused.
    kms.enable_key(&root(A), &arn).unwrap();
    kms.set_enforcement(Enforcement::Strict);
    let e = kms
        .generate_data_key(&dave, &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert!(last_json(&kms).get("enforcement").is_none());
}

#[test]
fn enforcement_names_parse() {
    assert_eq!(Enforcement::parse("soft"), Some(Enforcement::Soft));
    assert_eq!(Enforcement::parse("strict"), Some(Enforcement::Strict));
    assert_eq!(Enforcement::parse("Soft"), None);
    assert_eq!(Enforcement::default(), Enforcement::Strict);
    assert_eq!(Enforcement::Soft.as_str(), "soft");
}

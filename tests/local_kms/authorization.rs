//! Who may call what: management calls, explicit denies, other accounts.

use super::*;

#[test]
fn management_calls_are_authorized() {
    let (kms, arn) = setup();
    let admin = role("admin");
    let e = kms.create_key(&admin, None, "x").unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    let e = kms.list_keys(&admin).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    let e = kms.disable_key(&admin, &arn).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    kms.attach_identity_policy(
        &role_arn("admin"),
        r#"{"Statement":{"Effect":"Allow","Action":["kms:Create*","kms:List*","kms:Describe*","kms:DisableKey","kms:EnableKey","kms:GetKeyPolicy","kms:PutKeyPolicy"],"Resource":"*"}}"#,
    )
    .unwrap();
    let k = kms.create_key(&admin, None, "by admin").unwrap();
    assert_eq!(kms.list_keys(&admin).unwrap().len(), 2);
    kms.disable_key(&admin, &arn).unwrap();
    kms.enable_key(&admin, &arn).unwrap();
    let e = kms.schedule_key_deletion(&admin, &arn, 7).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    // A key policy that no longer delegates to the account locks the admin out.
    let only_root = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*","Condition":{{"StringEquals":{{"aws:PrincipalArn":"arn:aws:iam::{ACCOUNT}:root"}}}}}}]}}"#
    );
    kms.put_key_policy(&admin, &k.arn, &only_root).unwrap();
    assert_eq!(kms.get_key_policy(&root(), &k.arn).unwrap(), only_root);
    let e = kms.describe_key(&admin, &k.arn).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    // Malformed policies name the bad element.
    let e = kms
        .put_key_policy(
            &root(),
            &k.arn,
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
        )
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::MalformedPolicyDocument);
    assert_eq!(e.code(), "MalformedPolicyDocumentException");
    assert!(e.message().contains("Statement[0].Effect"), "{e}");
    let e = kms
        .attach_identity_policy(&role_arn("x"), r#"{"Statement":[]}"#)
        .unwrap_err();
    assert!(e.message().contains("Statement"), "{e}");
}

#[test]
fn explicit_deny_in_key_policy_wins() {
    let kms = LocalKms::new(REGION, ACCOUNT);
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"{ACCOUNT}"}},"Action":"kms:*","Resource":"*"}},
            {{"Sid":"NoProducerDecrypt","Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:role/producer"}},"Action":"kms:Decrypt","Resource":"*"}}
        ]}}"#
    );
    let arn = kms.create_key(&root(), Some(&policy), "").unwrap().arn;
    kms.attach_identity_policy(&role_arn("producer"), &allow("kms:*"))
        .unwrap();
    let g = kms
        .generate_data_key(&role("producer"), &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    let e = kms
        .decrypt(&role("producer"), &g.ciphertext_blob, &ec(), None)
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert!(e.message().contains("explicit deny"), "{e}");
}

#[test]
fn other_accounts_may_only_use_the_key() {
    let kms = LocalKms::new(REGION, ACCOUNT);
    let policy = format!(
        r#"{{"Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":{{"AWS":"{OTHER}"}},"Action":"kms:*","Resource":"*"}}
        ]}}"#
    );
    let arn = kms
        .create_key(&root(), Some(&policy), "shared")
        .unwrap()
        .arn;
    let partner_arn = format!("arn:aws:iam::{OTHER}:user/analyst");
    let partner = Credential::new(OTHER, &partner_arn, "AKIAPARTNER").unwrap();
    // Without an identity policy of its own: denied.
    let e = kms
        .generate_data_key(&partner, &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    kms.attach_identity_policy(&partner_arn, &allow("kms:*"))
        .unwrap();
    let g = kms
        .generate_data_key(&partner, &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    kms.decrypt(&partner, &g.ciphertext_blob, &ec(), Some(&arn))
        .unwrap();
    kms.describe_key(&partner, &arn).unwrap();
    // Management across accounts has no effect, whatever the policies say.
    for e in [
        kms.disable_key(&partner, &arn).unwrap_err(),
        kms.schedule_key_deletion(&partner, &arn, 7)
            .map(|_| ())
            .unwrap_err(),
        kms.put_key_policy(&partner, &arn, &policy).unwrap_err(),
        kms.get_key_policy(&partner, &arn).map(|_| ()).unwrap_err(),
        kms.create_key(&partner, None, "").map(|_| ()).unwrap_err(),
        kms.list_keys(&partner).map(|_| ()).unwrap_err(),
    ] {
        assert_eq!(e.kind(), KmsErrorKind::AccessDenied, "{e}");
    }
    // Throttling counts against the calling account.
    kms.set_quota(Some(QuotaConfig {
        requests_per_second: 0.001,
        burst: 1,
    }))
    .unwrap();
    kms.generate_data_key(&partner, &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    let e = kms
        .generate_data_key(&partner, &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::Throttling);
    kms.generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
}

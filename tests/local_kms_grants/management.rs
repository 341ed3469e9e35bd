//! Creating, listing, retiring, revoking and persisting grants, and their validation.

use super::*;

#[test]
fn create_grant_validation() {
    let (kms, key) = setup();
    let grantee = role_arn(ACCOUNT, "app");
    let check = |req: CreateGrantRequest| kind(kms.create_grant(&root(), &req));
    assert_eq!(
        check(grant_req(&key, &grantee, &[])),
        KmsErrorKind::InvalidRequest
    );
    assert_eq!(
        check(grant_req(&key, &grantee, &[G::Sign])),
        KmsErrorKind::InvalidRequest
    );
    assert_eq!(
        check(grant_req(&key, "arn:aws:s3:::bucket", &[G::Decrypt])),
        KmsErrorKind::InvalidArn
    );
    assert_eq!(
        check(grant_req(&key, "bad principal", &[G::Decrypt])),
        KmsErrorKind::InvalidRequest
    );
    let mut r = grant_req(&key, &grantee, &[G::Decrypt]);
    r.name = Some("no spaces".into());
    assert_eq!(check(r), KmsErrorKind::InvalidRequest);
    let mut r = grant_req(&key, &grantee, &[G::Decrypt]);
    r.constraints = Some(GrantConstraints::subset(
        (0..9).map(|i| (format!("k{i}"), "v".to_owned())),
    ));
    assert_eq!(check(r), KmsErrorKind::InvalidRequest);
    let mut r = grant_req(&key, &grantee, &[G::Decrypt]);
    r.constraints = Some(GrantConstraints::subset([("k", "v".repeat(385))]));
    assert_eq!(check(r), KmsErrorKind::InvalidRequest);
    let mut r = grant_req(&key, &grantee, &[G::Decrypt]);
    r.constraints = Some(GrantConstraints::subset([("k", "1"), ("K", "2")]));
    assert_eq!(check(r), KmsErrorKind::InvalidRequest);
    let mut r = grant_req(&key, &grantee, &[G::Decrypt]);
    r.grant_tokens = vec!["not-a-token".into()];
    assert_eq!(check(r), KmsErrorKind::InvalidGrantToken);
    let token = kms
        .create_grant(&root(), &grant_req(&key, &grantee, &[G::Decrypt]))
        .unwrap()
        .grant_token;
    let mut r = grant_req(&key, &grantee, &[G::Decrypt]);
    r.grant_tokens = vec![token.clone(); 11];
    assert_eq!(check(r), KmsErrorKind::InvalidRequest);
    // A token with one digit changed is refused.
    let mut garbled = token.into_bytes();
    garbled[70] = if garbled[70] == b'0' { b'1' } else { b'0' };
    let garbled = String::from_utf8(garbled).unwrap();
    assert_eq!(
        kind(kms.check_grant_tokens(&[garbled])),
        KmsErrorKind::InvalidGrantToken
    );
    assert_eq!(
        check(grant_req("no-such-key", &grantee, &[G::Decrypt])),
        KmsErrorKind::NotFound
    );
    // A caller without kms:CreateGrant.
    assert_eq!(
        kind(kms.create_grant(
            &session(ACCOUNT, "app"),
            &grant_req(&key, &grantee, &[G::Decrypt])
        )),
        KmsErrorKind::AccessDenied
    );
}

#[test]
fn name_reuse_and_the_grants_per_key_limit() {
    let (kms, key) = setup();
    let grantee = role_arn(ACCOUNT, "app");
    let mut named = grant_req(&key, &grantee, &[G::Decrypt, G::Encrypt]);
    named.name = Some("pipeline:1".into());
    let a = kms.create_grant(&root(), &named).unwrap();
    let mut reordered = named.clone();
    reordered.operations = vec![G::Encrypt, G::Decrypt, G::Encrypt];
    let b = kms.create_grant(&root(), &reordered).unwrap();
    assert_eq!(a.grant_id, b.grant_id);
    assert_ne!(a.grant_token, b.grant_token);
    // The same name with other parameters is another grant.
    let mut other = named.clone();
    other.operations = vec![G::Decrypt];
    let c = kms.create_grant(&root(), &other).unwrap();
    assert_ne!(a.grant_id, c.grant_id);
    // Without a name every call is a new grant.
    let unnamed = grant_req(&key, &grantee, &[G::Decrypt]);
    assert_ne!(
        kms.create_grant(&root(), &unnamed).unwrap().grant_id,
        kms.create_grant(&root(), &unnamed).unwrap().grant_id
    );
    kms.set_grants_per_key_limit(4).unwrap();
    let e = kms.create_grant(&root(), &unnamed).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::LimitExceeded);
    assert_eq!(e.code(), "LimitExceededException");
    // A retry of an existing named grant creates nothing, so it is still answered.
    assert_eq!(
        kms.create_grant(&root(), &named).unwrap().grant_id,
        a.grant_id
    );
    // Both tokens of the grant retire it.
    kms.retire_grant(&root(), Some(&b.grant_token), None, None)
        .unwrap();
    assert_eq!(
        kind(kms.retire_grant(&root(), Some(&a.grant_token), None, None)),
        KmsErrorKind::NotFound
    );
    kms.create_grant(&root(), &unnamed).unwrap();
    assert_eq!(
        kind(kms.set_grants_per_key_limit(0)),
        KmsErrorKind::InvalidRequest
    );
}

#[test]
fn list_grants_filters_pages_and_authorization() {
    let (kms, key) = setup();
    let other_key = kms.create_key(&root(), None, "other").unwrap().arn;
    let mut ids = Vec::new();
    for role in ["a", "b", "b"] {
        let mut r = grant_req(&key, &role_arn(ACCOUNT, role), &[G::Decrypt]);
        r.constraints = Some(GrantConstraints::equals([("r", role)]));
        ids.push(kms.create_grant(&root(), &r).unwrap().grant_id);
    }
    kms.create_grant(
        &root(),
        &grant_req(&other_key, &role_arn(ACCOUNT, "a"), &[G::Decrypt]),
    )
    .unwrap();
    let all = kms
        .list_grants(&root(), &key, None, None, None, None)
        .unwrap();
    assert_eq!(all.grants.len(), 3);
    assert!(!all.truncated);
    assert!(all.grants.iter().all(|g| g.key_id == key));
    assert!(all
        .grants
        .iter()
        .all(|g| g.issuing_account == format!("arn:aws:iam::{ACCOUNT}:root")));
    let b = kms
        .list_grants(
            &root(),
            &key,
            None,
            Some(&role_arn(ACCOUNT, "b")),
            None,
            None,
        )
        .unwrap();
    assert_eq!(b.grants.len(), 2);
    let one = kms
        .list_grants(&root(), &key, Some(&ids[0]), None, None, None)
        .unwrap();
    assert_eq!(one.grants.len(), 1);
    assert_eq!(
        one.grants[0].constraints,
        Some(GrantConstraints::equals([("r", "a")]))
    );
    // Paging: one at a time visits all three once.
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let p = kms
            .list_grants(&root(), &key, None, None, Some(1), marker.as_deref())
            .unwrap();
        seen.extend(p.grants.iter().map(|g| g.grant_id.clone()));
        if !p.truncated {
            assert!(p.next_marker.is_none());
            break;
        }
        marker = p.next_marker;
    }
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    for limit in [0, 101] {
        assert_eq!(
            kind(kms.list_grants(&root(), &key, None, None, Some(limit), None)),
            KmsErrorKind::InvalidRequest
        );
    }
    assert_eq!(
        kind(kms.list_grants(&root(), &key, None, None, None, Some("zz"))),
        KmsErrorKind::InvalidMarker
    );
    assert_eq!(
        kind(kms.list_grants(&root(), &key, Some("xyz"), None, None, None)),
        KmsErrorKind::InvalidGrantId
    );
    assert_eq!(
        kind(kms.list_grants(&session(ACCOUNT, "a"), &key, None, None, None, None)),
        KmsErrorKind::AccessDenied
    );
    kms.attach_identity_policy(&role_arn(ACCOUNT, "a"), &allow("kms:ListGrants"))
        .unwrap();
    kms.list_grants(&session(ACCOUNT, "a"), &key, None, None, None, None)
        .unwrap();
}

#[test]
fn list_retirable_grants_is_account_level() {
    let (kms, key) = setup();
    let retirer = role_arn(ACCOUNT, "ops");
    let mut r = grant_req(&key, &role_arn(ACCOUNT, "app"), &[G::Decrypt]);
    r.retiring_principal = Some(retirer.clone());
    let g = kms.create_grant(&root(), &r).unwrap();
    kms.create_grant(
        &root(),
        &grant_req(&key, &role_arn(ACCOUNT, "app"), &[G::Decrypt]),
    )
    .unwrap();
    let page = kms
        .list_retirable_grants(&root(), &retirer, None, None)
        .unwrap();
    assert_eq!(page.grants.len(), 1);
    assert_eq!(page.grants[0].grant_id, g.grant_id);
    assert_eq!(
        page.grants[0].retiring_principal.as_deref(),
        Some(retirer.as_str())
    );
    let ops = session(ACCOUNT, "ops");
    assert_eq!(
        kind(kms.list_retirable_grants(&ops, &retirer, None, None)),
        KmsErrorKind::AccessDenied
    );
    kms.attach_identity_policy(&retirer, &allow("kms:ListRetirableGrants"))
        .unwrap();
    assert_eq!(
        kms.list_retirable_grants(&ops, &retirer, None, None)
            .unwrap()
            .grants
            .len(),
        1
    );
    assert_eq!(
        kind(kms.list_retirable_grants(&session(OTHER, "x"), &retirer, None, None)),
        KmsErrorKind::AccessDenied
    );
    assert_eq!(
        kind(kms.list_retirable_grants(&root(), "nobody", None, None)),
        KmsErrorKind::InvalidArn
    );
}

#[test]
fn who_may_retire_a_grant() {
    let (kms, key) = setup();
    let mk = |ops: &[GrantOperation], retiring: Option<&str>| {
        let mut r = grant_req(&key, &role_arn(ACCOUNT, "app"), ops);
        r.retiring_principal = retiring.map(str::to_owned);
        kms.create_grant(&root(), &r).unwrap()
    };
    let app = session(ACCOUNT, "app");
    let stranger = session(ACCOUNT, "stranger");
    // The grantee may retire only if the grant allows RetireGrant.
    let g = mk(&[G::Decrypt], None);
    assert_eq!(
        kind(kms.retire_grant(&app, None, Some(&key), Some(&g.grant_id))),
        KmsErrorKind::AccessDenied
    );
    assert_eq!(
        kind(kms.retire_grant(&stranger, Some(&g.grant_token), None, None)),
        KmsErrorKind::AccessDenied
    );
    // The account that created it may.
    kms.retire_grant(&root(), None, Some(&key), Some(&g.grant_id))
        .unwrap();
    let g = mk(&[G::Decrypt, G::RetireGrant], None);
    kms.retire_grant(&app, Some(&g.grant_token), None, None)
        .unwrap();
    // The retiring principal may, and an identity Deny of kms:RetireGrant wins.
    let g = mk(&[G::Decrypt], Some(&role_arn(ACCOUNT, "ops")));
    let ops = session(ACCOUNT, "ops");
    kms.attach_identity_policy(&role_arn(ACCOUNT, "ops"), &deny("kms:RetireGrant"))
        .unwrap();
    assert_eq!(
        kind(kms.retire_grant(&ops, Some(&g.grant_token), None, None)),
        KmsErrorKind::AccessDenied
    );
    kms.detach_identity_policies(&role_arn(ACCOUNT, "ops"))
        .unwrap();
    kms.retire_grant(&ops, Some(&g.grant_token), None, None)
        .unwrap();
    // The key's account delegates kms:RetireGrant with an identity policy.
    let g = mk(&[G::Decrypt], None);
    kms.attach_identity_policy(&role_arn(ACCOUNT, "stranger"), &allow("kms:RetireGrant"))
        .unwrap();
    kms.retire_grant(&stranger, Some(&g.grant_token), None, None)
        .unwrap();
    // A principal of another account with such a policy is not delegated by this account.
    let g = mk(&[G::Decrypt], None);
    kms.attach_identity_policy(&role_arn(OTHER, "x"), &allow("kms:RetireGrant"))
        .unwrap();
    assert_eq!(
        kind(kms.retire_grant(&session(OTHER, "x"), Some(&g.grant_token), None, None)),
        KmsErrorKind::AccessDenied
    );
    // A retiring account delegates to its principals.
    let g = mk(&[G::Decrypt], Some(&format!("arn:aws:iam::{OTHER}:root")));
    kms.retire_grant(&session(OTHER, "x"), Some(&g.grant_token), None, None)
        .unwrap();
}

#[test]
fn retire_and_revoke_errors() {
    let (kms, key) = setup();
    let g = kms
        .create_grant(
            &root(),
            &grant_req(&key, &role_arn(ACCOUNT, "app"), &[G::Decrypt]),
        )
        .unwrap();
    let unknown = "0".repeat(64);
    assert_eq!(
        kind(kms.retire_grant(&root(), None, Some(&key), Some(&unknown))),
        KmsErrorKind::NotFound
    );
    assert_eq!(
        kind(kms.retire_grant(&root(), None, Some(&key), Some("G-1"))),
        KmsErrorKind::InvalidGrantId
    );
    assert_eq!(
        kind(kms.retire_grant(&root(), Some("AQID"), None, None)),
        KmsErrorKind::InvalidGrantToken
    );
    assert_eq!(
        kind(kms.retire_grant(&root(), None, None, Some(&g.grant_id))),
        KmsErrorKind::InvalidRequest
    );
    assert_eq!(
        kind(kms.retire_grant(&root(), Some(&g.grant_token), None, Some(&unknown))),
        KmsErrorKind::InvalidRequest
    );
    let other_key = kms.create_key(&root(), None, "other").unwrap().arn;
    assert_eq!(
        kind(kms.retire_grant(&root(), None, Some(&other_key), Some(&g.grant_id))),
        KmsErrorKind::NotFound
    );
    assert_eq!(
        kind(kms.revoke_grant(&root(), &other_key, &g.grant_id)),
        KmsErrorKind::NotFound
    );
    assert_eq!(
        kind(kms.revoke_grant(&root(), &key, "nope")),
        KmsErrorKind::InvalidGrantId
    );
    assert_eq!(
        kind(kms.revoke_grant(&session(ACCOUNT, "app"), &key, &g.grant_id)),
        KmsErrorKind::AccessDenied
    );
    kms.revoke_grant(&root(), &key, &g.grant_id).unwrap();
    assert_eq!(
        kind(kms.revoke_grant(&root(), &key, &g.grant_id)),
        KmsErrorKind::NotFound
    );
    assert!(kms
        .list_grants(&root(), &key, None, None, None, None)
        .unwrap()
        .grants
        .is_empty());
}

#[test]
fn grants_persist_in_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (key, kept, gone) = {
        let kms = LocalKms::builder(REGION, ACCOUNT)
            .state_file(&path)
            .build()
            .unwrap();
        let key = kms.create_key(&root(), None, "k").unwrap().arn;
        let mut r = grant_req(
            &key,
            &role_arn(ACCOUNT, "app"),
            &[G::DescribeKey, G::Decrypt],
        );
        r.constraints = Some(GrantConstraints::equals([("a", "1")]));
        r.name = Some("n".into());
        r.retiring_principal = Some(role_arn(ACCOUNT, "ops"));
        let kept = kms.create_grant(&root(), &r).unwrap();
        let gone = kms
            .create_grant(
                &root(),
                &grant_req(&key, &role_arn(ACCOUNT, "b"), &[G::Encrypt]),
            )
            .unwrap();
        kms.revoke_grant(&root(), &key, &gone.grant_id).unwrap();
        (key, kept, gone)
    };
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&kept.grant_id) && !text.contains(&gone.grant_id));
    let kms = LocalKms::builder(REGION, ACCOUNT)
        .state_file(&path)
        .build()
        .unwrap();
    kms.describe_key(&session(ACCOUNT, "app"), &key).unwrap();
    let listed = kms
        .list_grants(&root(), &key, None, None, None, None)
        .unwrap();
    assert_eq!(listed.grants.len(), 1);
    let g = &listed.grants[0];
    assert_eq!(g.grant_id, kept.grant_id);
    assert_eq!(g.name.as_deref(), Some("n"));
    assert_eq!(g.operations, vec![G::Decrypt, G::DescribeKey]);
    assert_eq!(g.constraints, Some(GrantConstraints::equals([("a", "1")])));
    // Tokens issued before the restart still name the grant.
    kms.retire_grant(
        &session(ACCOUNT, "ops"),
        Some(&kept.grant_token),
        None,
        None,
    )
    .unwrap();
    drop(kms);
    let kms = LocalKms::builder(REGION, ACCOUNT)
        .state_file(&path)
        .build()
        .unwrap();
    assert!(kms
        .list_grants(&root(), &key, None, None, None, None)
        .unwrap()
        .grants
        .is_empty());
    // A grant of a key the file does not hold is refused, and the file left untouched.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["grants"][0]["keyId"] = "00000000-0000-0000-0000-000000000000".into();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&v).unwrap()).unwrap();
    let before = std::fs::read(&bad).unwrap();
    let e = LocalKms::builder(REGION, ACCOUNT)
        .state_file(&bad)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("grants[0]"), "{e}");
    assert_eq!(std::fs::read(&bad).unwrap(), before);
}

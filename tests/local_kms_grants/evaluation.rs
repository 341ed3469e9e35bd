//! How grants allow calls: grantee, operations, constraints, explicit denies, accounts, key states.

use super::*;

#[test]
fn a_grant_allows_what_policies_do_not_and_retiring_removes_it() {
    let (kms, key) = setup();
    let app = session(ACCOUNT, "app");
    let ctx = ec(&[("stream", "a")]);
    assert_eq!(
        kind(kms.generate_data_key(&app, &key, DataKeySpec::Aes256, &ctx)),
        KmsErrorKind::AccessDenied
    );
    let mut req = grant_req(
        &key,
        &role_arn(ACCOUNT, "app"),
        &[G::GenerateDataKey, G::Decrypt],
    );
    req.retiring_principal = Some(role_arn(ACCOUNT, "app"));
    let g = kms.create_grant(&root(), &req).unwrap();
    assert_eq!(g.grant_id.len(), 64);
    kms.check_grant_tokens(std::slice::from_ref(&g.grant_token))
        .unwrap();
    let dk = kms
        .generate_data_key(&app, &key, DataKeySpec::Aes256, &ctx)
        .unwrap();
    kms.decrypt(&app, &dk.ciphertext_blob, &ctx, None).unwrap();
    // Operations the grant does not name stay denied.
    assert_eq!(
        kind(kms.describe_key(&app, &key)),
        KmsErrorKind::AccessDenied
    );
    assert_eq!(
        kind(kms.encrypt(&app, &key, b"x", &ctx)),
        KmsErrorKind::AccessDenied
    );
    // Another role's session does not match.
    assert_eq!(
        kind(kms.decrypt(&session(ACCOUNT, "other"), &dk.ciphertext_blob, &ctx, None)),
        KmsErrorKind::AccessDenied
    );
    kms.retire_grant(&app, Some(&g.grant_token), None, None)
        .unwrap();
    assert_eq!(
        kind(kms.decrypt(&app, &dk.ciphertext_blob, &ctx, None)),
        KmsErrorKind::AccessDenied
    );
    assert_eq!(
        kms.audit().count(&root(), Operation::CreateGrant),
        1,
        "CreateGrant is audited"
    );
    assert_eq!(kms.audit().count(&app, Operation::RetireGrant), 1);
}

#[test]
fn an_explicit_deny_wins_over_a_grant() {
    let (kms, key) = setup();
    let app = session(ACCOUNT, "app");
    kms.create_grant(
        &root(),
        &grant_req(&key, &role_arn(ACCOUNT, "app"), &[G::DescribeKey]),
    )
    .unwrap();
    kms.describe_key(&app, &key).unwrap();
    kms.attach_identity_policy(&role_arn(ACCOUNT, "app"), &deny("kms:DescribeKey"))
        .unwrap();
    let e = kms.describe_key(&app, &key).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert!(e.message().contains("explicit deny"), "{}", e.message());
}

#[test]
fn constraints_equals_and_subset() {
    let (kms, key) = setup();
    let app = session(ACCOUNT, "app");
    let mut req = grant_req(
        &key,
        &role_arn(ACCOUNT, "app"),
        &[G::GenerateDataKey, G::DescribeKey],
    );
    req.constraints = Some(GrantConstraints::equals([("Stream", "a")]));
    let eq = kms.create_grant(&root(), &req).unwrap();
    // Keys compare case-insensitively, values exactly.
    kms.generate_data_key(&app, &key, DataKeySpec::Aes256, &ec(&[("stream", "a")]))
        .unwrap();
    for bad in [
        ec(&[("stream", "A")]),
        ec(&[("stream", "a"), ("more", "x")]),
        ec(&[]),
    ] {
        let e = kms
            .generate_data_key(&app, &key, DataKeySpec::Aes256, &bad)
            .unwrap_err();
        assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
        assert!(e.message().contains(&eq.grant_id), "{}", e.message());
        // The typed reason names the grant and its failed constraint.
        match e.denial() {
            Some(fragseal::kms::local::Denial::GrantConstraint {
                grant_id,
                constraint,
            }) => {
                assert_eq!(grant_id, &eq.grant_id);
                assert!(
                    constraint.starts_with("EncryptionContextEquals"),
                    "{constraint}"
                );
            }
            other => panic!("expected a grant-constraint denial, got {other:?}"),
        }
        assert!(
            e.message()
                .contains(r#"EncryptionContextEquals {"Stream":"a"}"#),
            "{}",
            e.message()
        );
    }
    // The denial's audit record names the grant and its constraint.
    let last = kms.audit().events().pop().unwrap();
    let (code, message) = last.error.clone().unwrap();
    assert_eq!(code, "AccessDeniedException");
    assert!(message.contains(&eq.grant_id) && message.contains("EncryptionContextEquals"));
    let record = last.to_json();
    assert_eq!(record["denial"]["type"], "GrantConstraint", "{record}");
    // The constraint does not apply to DescribeKey.
    kms.describe_key(&app, &key).unwrap();

    let mut req = grant_req(&key, &role_arn(ACCOUNT, "sub"), &[G::GenerateDataKey]);
    req.constraints = Some(GrantConstraints::subset([("stream", "a")]));
    kms.create_grant(&root(), &req).unwrap();
    let sub = session(ACCOUNT, "sub");
    kms.generate_data_key(
        &sub,
        &key,
        DataKeySpec::Aes256,
        &ec(&[("stream", "a"), ("part", "1")]),
    )
    .unwrap();
    // A pair with another value is not the constraint's pair.
    assert_eq!(
        kind(kms.generate_data_key(
            &sub,
            &key,
            DataKeySpec::Aes256,
            &ec(&[("stream", "b"), ("part", "1")])
        )),
        KmsErrorKind::AccessDenied
    );
    let e = kms
        .generate_data_key(&sub, &key, DataKeySpec::Aes256, &ec(&[("part", "1")]))
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert!(
        e.message().contains("EncryptionContextSubset"),
        "{}",
        e.message()
    );
}

#[test]
fn cross_account_grantee_needs_no_key_policy_or_identity_policy() {
    let kms = LocalKms::new(REGION, ACCOUNT);
    let key = kms.create_key(&root(), None, "shared").unwrap().arn;
    let partner = session(OTHER, "reader");
    let ctx = ec(&[("k", "v")]);
    let blob = kms
        .generate_data_key(&root(), &key, DataKeySpec::Aes256, &ctx)
        .unwrap()
        .ciphertext_blob;
    assert_eq!(
        kind(kms.decrypt(&partner, &blob, &ctx, Some(&key))),
        KmsErrorKind::AccessDenied
    );
    kms.create_grant(
        &root(),
        &grant_req(&key, &role_arn(OTHER, "reader"), &[G::Decrypt]),
    )
    .unwrap();
    kms.decrypt(&partner, &blob, &ctx, Some(&key)).unwrap();
    // Operations KMS refuses across accounts stay refused.
    assert_eq!(
        kind(kms.list_resource_tags(&partner, &key, None, None)),
        KmsErrorKind::AccessDenied
    );
}

#[test]
fn create_grant_through_a_grant() {
    let (kms, key) = setup();
    let mut parent = grant_req(
        &key,
        &role_arn(ACCOUNT, "delegator"),
        &[G::CreateGrant, G::Decrypt],
    );
    parent.constraints = Some(GrantConstraints::subset([("tenant", "t1")]));
    kms.create_grant(&root(), &parent).unwrap();
    let delegator = session(ACCOUNT, "delegator");
    let mut child = grant_req(&key, &role_arn(ACCOUNT, "worker"), &[G::Decrypt]);
    let e = kms.create_grant(&delegator, &child).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert!(e.message().contains("CreateGrant"), "{}", e.message());
    child.constraints = Some(GrantConstraints::subset([("other", "x")]));
    assert_eq!(
        kind(kms.create_grant(&delegator, &child)),
        KmsErrorKind::AccessDenied
    );
    child.constraints = Some(GrantConstraints::subset([("tenant", "t1"), ("job", "7")]));
    kms.create_grant(&delegator, &child).unwrap();
    let worker = session(ACCOUNT, "worker");
    let ctx = ec(&[("tenant", "t1"), ("job", "7")]);
    let blob = kms
        .generate_data_key(&root(), &key, DataKeySpec::Aes256, &ctx)
        .unwrap()
        .ciphertext_blob;
    kms.decrypt(&worker, &blob, &ctx, None).unwrap();
    // An unconstrained CreateGrant grant lets its grantee create any grant.
    kms.create_grant(
        &root(),
        &grant_req(&key, &role_arn(ACCOUNT, "admin"), &[G::CreateGrant]),
    )
    .unwrap();
    kms.create_grant(
        &session(ACCOUNT, "admin"),
        &grant_req(&key, &role_arn(ACCOUNT, "worker2"), &[G::Encrypt]),
    )
    .unwrap();
}

#[test]
fn key_states_and_grants_die_with_their_key() {
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let kms = LocalKms::builder(REGION, ACCOUNT)
        .clock(clock.clone())
        .build()
        .unwrap();
    let key = kms.create_key(&root(), None, "k").unwrap().arn;
    let grantee = role_arn(ACCOUNT, "app");
    let mut r = grant_req(&key, &grantee, &[G::DescribeKey]);
    r.retiring_principal = Some(role_arn(ACCOUNT, "ops"));
    kms.create_grant(&root(), &r).unwrap();
    kms.disable_key(&root(), &key).unwrap();
    assert_eq!(
        kind(kms.create_grant(&root(), &grant_req(&key, &grantee, &[G::Decrypt]))),
        KmsErrorKind::Disabled
    );
    // Listing works in every state.
    assert_eq!(
        kms.list_grants(&root(), &key, None, None, None, None)
            .unwrap()
            .grants
            .len(),
        1
    );
    kms.schedule_key_deletion(&root(), &key, 7).unwrap();
    assert_eq!(
        kind(kms.create_grant(&root(), &grant_req(&key, &grantee, &[G::Decrypt]))),
        KmsErrorKind::InvalidState
    );
    kms.describe_key(&session(ACCOUNT, "app"), &key).unwrap();
    clock.advance(Duration::from_secs(8 * 86_400));
    assert_eq!(
        kind(kms.describe_key(&session(ACCOUNT, "app"), &key)),
        KmsErrorKind::NotFound
    );
    assert!(kms
        .list_retirable_grants(&root(), &role_arn(ACCOUNT, "ops"), None, None)
        .unwrap()
        .grants
        .is_empty());
}

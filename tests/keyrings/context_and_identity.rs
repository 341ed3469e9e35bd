//! Required encryption context and identity checks.

use super::*;

#[test]
fn required_encryption_context_must_be_supplied_exactly() {
    let c = root(ACCOUNT);
    let keyring: Arc<dyn Keyring> = Arc::new(raw("k1", 1));
    let e = engine(keyring);
    let request = SealRequest::new(ec(CAM1), &b"tenant data"[..]).authenticate_only("tenant", "t1");
    let sealed = e.seal(&c, &request).unwrap();
    // Not stored in the message.
    let parsed = message::parse(&sealed, &OpenLimits::default()).unwrap();
    assert_eq!(parsed.encryption_context(), &ec(CAM1));
    // Supplied: opens, and the verified header says what was supplied.
    let ok = e
        .open(
            &c,
            &OpenRequest::new(sealed.clone(), IdentityCheck::Skip).supply("tenant", "t1"),
        )
        .unwrap();
    assert_eq!(ok.plaintext, &b"tenant data"[..]);
    assert_eq!(ok.header.supplied_context().get("tenant"), Some("t1"));
    assert_eq!(ok.header.encryption_context(), &ec(CAM1));
    let fails = |r: OpenRequest| {
        let opener = engine(Arc::new(raw("k1", 1)));
        opener.open(&c, &r).unwrap_err()
    };
    // Missing, wrong or extra supplied pairs: the data key is bound to the whole context, so
    // the raw AES unwrap fails (opaque), as KMS Decrypt would.
    for (what, r) in [
        (
            "missing",
            OpenRequest::new(sealed.clone(), IdentityCheck::Skip),
        ),
        (
            "wrong",
            OpenRequest::new(sealed.clone(), IdentityCheck::Skip).supply("tenant", "t2"),
        ),
        (
            "extra",
            OpenRequest::new(sealed.clone(), IdentityCheck::Skip)
                .supply("tenant", "t1")
                .supply("region", "eu"),
        ),
    ] {
        match fails(r) {
            OpenError::AllKeysFailed(errors) => assert!(
                matches!(errors[..], [KeyringError::Authentication(_)]),
                "{what}: {errors:?}"
            ),
            other => panic!("{what}: {other:?}"),
        }
    }
    // Even with the right data key, the header tag covers the supplied pairs: a message whose
    // EDK was made for the stored context alone (so the unwrap succeeds) fails to authenticate
    // when the supplied pair is missing or wrong.
    let k1 = raw("k1", 1);
    let dk = DataKey::from_bytes([9; 32]);
    let stored = ec(CAM1);
    let extra = EncryptionContext::new().with("tenant", "t1");
    let mut all = stored.clone();
    all.insert("tenant", "t1");
    let edks_all = [k1.wrap_key(&dk, &all).unwrap()];
    let edks_stored = [k1.wrap_key(&dk, &stored).unwrap()];
    let with_extra = SealParams {
        authenticate_only: Some(&extra),
        ..SealParams::new(&stored, &edks_stored)
    };
    let m = message::seal(&dk, &with_extra, b"x").unwrap();
    assert!(matches!(
        e.open(&c, &OpenRequest::new(m, IdentityCheck::Skip)),
        Err(OpenError::Authentication(_))
    ));
    let m = message::seal(
        &dk,
        &SealParams {
            authenticate_only: Some(&extra),
            ..SealParams::new(&stored, &edks_all)
        },
        b"x",
    )
    .unwrap();
    assert!(e
        .open(
            &c,
            &OpenRequest::new(m.clone(), IdentityCheck::Skip).supply("tenant", "t1")
        )
        .is_ok());
    // A supplied key that is also stored is refused before any key is fetched.
    assert!(matches!(
        e.open(
            &c,
            &OpenRequest::new(m.clone(), IdentityCheck::Skip).supply("aws:kinesisvideo:arn", CAM1)
        ),
        Err(OpenError::Context(
            ContextMismatch::SuppliedKeyStored { .. }
        ))
    ));
    // Sealing refuses a key both stored and authenticated only.
    assert!(matches!(
        e.seal(
            &c,
            &SealRequest::new(ec(CAM1), &b"x"[..]).authenticate_only("aws:kinesisvideo:arn", CAM1)
        ),
        Err(SealError::ContextKeyInBoth { .. })
    ));
}

#[test]
fn required_encryption_context_goes_to_kms() {
    let (kms, cam1, _) = attacker_setup();
    let producer = role(ACCOUNT, "producer");
    let consumer = role(ACCOUNT, "consumer");
    let sealer = engine(Arc::new(
        KmsKeyring::strict(kms.clone(), &producer, &[&cam1]).unwrap(),
    ));
    let sealed = sealer
        .seal(
            &producer,
            &SealRequest::new(ec(CAM1), &b"x"[..]).authenticate_only("tenant", "t1"),
        )
        .unwrap();
    let opener = engine(Arc::new(
        KmsKeyring::strict(kms.clone(), &consumer, &[&cam1]).unwrap(),
    ));
    assert!(opener
        .open(
            &consumer,
            &OpenRequest::new(sealed.clone(), IdentityCheck::Skip).supply("tenant", "t1")
        )
        .is_ok());
    match opener.open(&consumer, &OpenRequest::new(sealed, IdentityCheck::Skip)) {
        Err(OpenError::AllKeysFailed(errors)) => {
            assert_eq!(
                errors[0].kms().map(|k| k.kind()),
                Some(KmsErrorKind::InvalidCiphertext)
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn required_stored_pairs_are_checked_before_any_key_is_fetched() {
    let keyring = Arc::new(Counting::new(raw("k1", 1)));
    let e = engine(keyring.clone());
    let c = root(ACCOUNT);
    let sealed = e.seal(&c, &SealRequest::new(ec(CAM1), &b"x"[..])).unwrap();
    let req = || OpenRequest::new(sealed.clone(), IdentityCheck::Skip);
    assert!(e
        .open(&c, &req().require("aws:kinesisvideo:arn", CAM1))
        .is_ok());
    assert!(matches!(
        e.open(&c, &req().require("aws:kinesisvideo:arn", CAM2)),
        Err(OpenError::Context(ContextMismatch::WrongValue { .. }))
    ));
    assert!(matches!(
        e.open(&c, &req().require("tenant", "t1")),
        Err(OpenError::Context(ContextMismatch::Missing { .. }))
    ));
    assert_eq!(keyring.unwraps.load(Ordering::SeqCst), 1);
}

#[test]
fn identity_check_skip_opens_and_expect_checks() {
    let c = root(ACCOUNT);
    let e = engine(Arc::new(raw("k1", 1)));
    let sealed = e
        .seal(
            &c,
            &SealRequest::new(ec(CAM1), &b"x"[..]).with_identity(identity(CAM1, 7)),
        )
        .unwrap();
    assert!(e
        .open(&c, &OpenRequest::new(sealed.clone(), IdentityCheck::Skip))
        .is_ok());
    assert!(e.open(&c, &expect(&sealed, &identity(CAM1, 7))).is_ok());
    assert!(matches!(
        e.open(&c, &expect(&sealed, &identity(CAM1, 8))),
        Err(OpenError::Authentication(_))
    ));
}

#[test]
fn identity_check_refuses_context_of_another_stream_in_the_engine() {
    // Issue 11 #1 through the engine: a message whose authenticated context names cam2 but
    // whose id binds cam1's identity (sealed by hand, as an older fragseal allowed) is refused
    // when opened as cam1's fragment; the engine refuses to seal one.
    let c = root(ACCOUNT);
    let k1 = raw("k1", 1);
    let e = engine(Arc::new(k1.clone()));
    let cam1_id = identity(CAM1, 0);
    assert!(matches!(
        e.seal(
            &c,
            &SealRequest::new(ec(CAM2), &b"x"[..]).with_identity(cam1_id.clone())
        ),
        Err(SealError::IdentityStreamMismatch { .. })
    ));
    let dk = DataKey::from_bytes([5; 32]);
    let ec2 = ec(CAM2);
    let edks = [k1.wrap_key(&dk, &ec2).unwrap()];
    let params = SealParams {
        identity: Some(&cam1_id),
        ..SealParams::new(&ec2, &edks)
    };
    let forged: Bytes = fragseal::internal::danger::danger_seal_with_fixed_message_id_for_vectors(
        &dk, &params, &[3; 16], b"x",
    )
    .unwrap()
    .into();
    assert!(matches!(
        e.open(&c, &expect(&forged, &cam1_id)),
        Err(OpenError::Authentication(_))
    ));
    // The same bytes open as a standard message: only the identity claim is refused.
    assert!(e
        .open(&c, &OpenRequest::new(forged, IdentityCheck::Skip))
        .is_ok());
}

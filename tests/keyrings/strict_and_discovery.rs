//! Strict and discovery keyrings: an attacker's key is refused, aliases are resolved once, an
//! alias the caller may not describe is trusted for nothing.

use super::*;

const OTHER_ACCOUNT: &str = "444455556666";

/// The attacker seals a fragment under its own key, claiming cam1's stream and fragment 0.
fn forge(kms: &Arc<LocalKms>, attacker: &Credential, att_key: &str) -> Bytes {
    let keyring = KmsKeyring::strict(kms.clone(), attacker, &[att_key]).unwrap();
    let request =
        SealRequest::new(ec(CAM1), &b"forged fragment"[..]).with_identity(identity(CAM1, 0));
    engine(Arc::new(keyring)).seal(attacker, &request).unwrap()
}

#[test]
fn attacker_key_is_refused_by_a_strict_keyring_naming_cam1s_key() {
    let (kms, cam1, att) = attacker_setup();
    let attacker = role(ACCOUNT, "attacker");
    let consumer = role(ACCOUNT, "consumer");
    let forged = forge(&kms, &attacker, &att);

    // The consumer names cam1's key: the attacker's EDK is never sent to KMS.
    let strict = KmsKeyring::strict(kms.clone(), &consumer, &[&cam1]).unwrap();
    assert_eq!(strict.key_arns(), std::slice::from_ref(&cam1));
    let e = engine(Arc::new(strict));
    assert!(matches!(
        e.open(&consumer, &expect(&forged, &identity(CAM1, 0))),
        Err(OpenError::NoTrustedKey)
    ));
    assert_eq!(kms.audit().count(&consumer, Operation::Decrypt), 0);

    // What 0.1's default did: a discovery keyring that trusts the whole account opens the
    // forgery, because KMS releases the attacker's data key to anyone.
    let discovery = KmsKeyring::discovery(
        kms.clone(),
        DiscoveryFilter::new("aws", vec![ACCOUNT.into()]),
    );
    let opened = engine(Arc::new(discovery))
        .open(&consumer, &expect(&forged, &identity(CAM1, 0)))
        .unwrap();
    assert_eq!(
        opened.header.key_id(),
        att,
        "the key that opened it is not cam1's"
    );

    // A genuine fragment of cam1 opens under the strict keyring.
    let producer = role(ACCOUNT, "producer");
    let sealer = engine(Arc::new(
        KmsKeyring::strict(kms.clone(), &producer, &["alias/cam1"]).unwrap(),
    ));
    let genuine = sealer
        .seal(
            &producer,
            &SealRequest::new(ec(CAM1), &b"genuine"[..]).with_identity(identity(CAM1, 0)),
        )
        .unwrap();
    let strict = KmsKeyring::strict(kms.clone(), &consumer, &[&cam1]).unwrap();
    let opened = engine(Arc::new(strict))
        .open(&consumer, &expect(&genuine, &identity(CAM1, 0)))
        .unwrap();
    assert_eq!(opened.plaintext, &b"genuine"[..]);
    assert_eq!(opened.header.key_id(), cam1);
}

#[test]
fn attacker_key_in_another_account_is_refused_by_a_filtered_discovery_keyring() {
    // The attacker's key lives in another account (its own KMS); cam1's consumer opens with a
    // discovery keyring filtered to cam1's account.
    let attacker_kms = Arc::new(LocalKms::new(REGION, OTHER_ACCOUNT));
    let att = attacker_kms
        .create_key(
            &root(OTHER_ACCOUNT),
            Some(&key_policy(OTHER_ACCOUNT, "attacker", r#""*""#)),
            "att",
        )
        .unwrap()
        .arn;
    let attacker = role(OTHER_ACCOUNT, "attacker");
    let forged = forge(&attacker_kms, &attacker, &att);

    let consumer = role(ACCOUNT, "consumer");
    let filtered = KmsKeyring::discovery(
        attacker_kms.clone(),
        DiscoveryFilter::new("aws", vec![ACCOUNT.into()]),
    );
    assert!(matches!(
        engine(Arc::new(filtered)).open(&consumer, &expect(&forged, &identity(CAM1, 0))),
        Err(OpenError::NoTrustedKey)
    ));
    assert_eq!(attacker_kms.audit().count(&consumer, Operation::Decrypt), 0);
    // Control: a filter that includes the attacker's account sends the EDK to KMS.
    let careless = KmsKeyring::discovery(
        attacker_kms.clone(),
        DiscoveryFilter::new("aws", vec![ACCOUNT.into(), OTHER_ACCOUNT.into()]),
    );
    let _ = engine(Arc::new(careless)).open(&consumer, &expect(&forged, &identity(CAM1, 0)));
    assert_eq!(attacker_kms.audit().count(&consumer, Operation::Decrypt), 1);
    // A discovery keyring cannot seal.
    let discovery = KmsKeyring::discovery(
        attacker_kms,
        DiscoveryFilter::new("aws", vec![ACCOUNT.into()]),
    );
    assert!(matches!(
        engine(Arc::new(discovery)).seal(&consumer, &SealRequest::new(ec(CAM1), &b"x"[..])),
        Err(SealError::Keyring(KeyringError::DiscoveryCannotSeal))
    ));
}

#[test]
fn strict_mode_with_an_alias_resolves_it_once() {
    let (kms, cam1, _) = attacker_setup();
    let producer = role(ACCOUNT, "producer");
    let keyring = KmsKeyring::strict(kms.clone(), &producer, &["alias/cam1"]).unwrap();
    assert_eq!(keyring.key_arns(), std::slice::from_ref(&cam1));
    assert_eq!(kms.audit().count(&producer, Operation::DescribeKey), 1);
    let e = engine(Arc::new(keyring));
    for i in 0..5u8 {
        let ec = ec(CAM1).with("n", i.to_string());
        let sealed = e
            .seal(&producer, &SealRequest::new(ec, vec![i; 10]))
            .unwrap();
        let parsed = message::parse(&sealed, &OpenLimits::default()).unwrap();
        assert_eq!(
            parsed.encrypted_data_keys()[0].provider_info,
            cam1.as_bytes(),
            "the message names the key ARN, never the alias"
        );
    }
    assert_eq!(
        kms.audit().count(&producer, Operation::DescribeKey),
        1,
        "no further DescribeKey"
    );
    // Unknown aliases are refused at construction.
    assert!(matches!(
        KmsKeyring::strict(kms.clone(), &producer, &["alias/nope"]),
        Err(KeyringError::Kms(ref k)) if k.kind() == KmsErrorKind::NotFound
    ));
    assert!(matches!(
        KmsKeyring::strict(kms, &producer, &[] as &[&str]),
        Err(KeyringError::NoKeyIds)
    ));
}

#[test]
fn an_alias_the_caller_may_not_describe_seals_but_trusts_nothing() {
    let (kms, cam1, _) = attacker_setup();
    let producer = role(ACCOUNT, "producer");
    let consumer = role(ACCOUNT, "consumer"); // Decrypt only: no DescribeKey
    let sealed = engine(Arc::new(
        KmsKeyring::strict(kms.clone(), &producer, &[&cam1]).unwrap(),
    ))
    .seal(&producer, &SealRequest::new(ec(CAM1), &b"x"[..]))
    .unwrap();
    let unresolved = KmsKeyring::strict(kms.clone(), &consumer, &["alias/cam1"]).unwrap();
    assert_eq!(unresolved.key_arns(), ["alias/cam1".to_owned()]);
    assert!(matches!(
        engine(Arc::new(unresolved))
            .open(&consumer, &OpenRequest::new(sealed, IdentityCheck::Skip)),
        Err(OpenError::NoTrustedKey)
    ));
    assert_eq!(kms.audit().count(&consumer, Operation::Decrypt), 0);
}

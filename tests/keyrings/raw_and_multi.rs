//! The raw AES keyring through the engine, multi-keyrings, and every child key failing.

use super::*;

#[test]
fn raw_aes_keyring_through_the_engine_with_the_cache() {
    let keyring = Arc::new(Counting::new(raw("k1", 1)));
    let e = engine(keyring.clone());
    let c = root(ACCOUNT);
    let plaintexts: Vec<Vec<u8>> = (0..20).map(|i| vec![i as u8; 100 + i * 50]).collect();
    let requests: Vec<SealRequest> = plaintexts
        .iter()
        .map(|p| SealRequest::new(ec(CAM1), p.clone()))
        .collect();
    let sealed: Vec<Bytes> = e
        .seal_batch(&c, requests)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(keyring.generates.load(Ordering::SeqCst), 1, "one data key");
    // All share one EDK: one unwrap opens them all.
    let opener = engine(keyring.clone());
    for (m, p) in sealed.iter().zip(&plaintexts) {
        let o = opener
            .open(&c, &OpenRequest::new(m.clone(), IdentityCheck::Skip))
            .unwrap();
        assert_eq!(o.plaintext, p[..]);
        assert_eq!(o.header.key_id(), "fragseal-test/k1");
    }
    assert_eq!(
        keyring.unwraps.load(Ordering::SeqCst),
        1,
        "one unwrap per cached EDK"
    );
    // A second stream is a second EDK: one more unwrap, however many fragments.
    let other: Vec<Bytes> = (0..5)
        .map(|i| {
            e.seal(&c, &SealRequest::new(ec(CAM2), vec![i; 10]))
                .unwrap()
        })
        .collect();
    for m in &other {
        opener
            .open(&c, &OpenRequest::new(m.clone(), IdentityCheck::Skip))
            .unwrap();
    }
    assert_eq!(keyring.unwraps.load(Ordering::SeqCst), 2);
    // Streaming and range opens go through the same cache.
    let mut s = opener
        .open_stream(
            &c,
            &sealed[3][..],
            &fragseal::engine::OpenOptions::new(IdentityCheck::Skip),
        )
        .unwrap();
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut v).unwrap();
    assert_eq!(v, plaintexts[3]);
    let part = opener
        .open_range(
            &c,
            &OpenRequest::new(sealed[5].clone(), IdentityCheck::Skip),
            10..20,
        )
        .unwrap();
    assert_eq!(part.plaintext, plaintexts[5][10..20]);
    assert_eq!(keyring.unwraps.load(Ordering::SeqCst), 2);
    assert_eq!(
        opener.stats(&c).unwrap().kms_calls,
        2,
        "keyring calls are counted"
    );
}

#[test]
fn multi_keyring_message_opens_with_each_key_alone() {
    let (k1, k2, k3) = (raw("k1", 1), raw("k2", 2), raw("k3", 3));
    let multi = MultiKeyring::new(
        Arc::new(k1.clone()),
        vec![Arc::new(k2.clone()), Arc::new(k3.clone())],
    );
    let c = root(ACCOUNT);
    let sealed = engine(Arc::new(multi))
        .seal(&c, &SealRequest::new(ec(CAM1), &b"three keys"[..]))
        .unwrap();
    let parsed = message::parse(&sealed, &OpenLimits::default()).unwrap();
    assert_eq!(parsed.encrypted_data_keys().len(), 3);
    for (i, k) in [k1, k2, k3].into_iter().enumerate() {
        let name = k.key_id();
        let o = engine(Arc::new(k))
            .open(&c, &OpenRequest::new(sealed.clone(), IdentityCheck::Skip))
            .unwrap();
        assert_eq!(o.plaintext, &b"three keys"[..]);
        assert_eq!(o.header.key_id(), name);
        assert_eq!(
            o.header.encrypted_data_key(),
            &parsed.encrypted_data_keys()[i],
            "opened by its own EDK"
        );
    }
    // A key that is none of them does not open it.
    assert!(matches!(
        engine(Arc::new(raw("k4", 4))).open(&c, &OpenRequest::new(sealed, IdentityCheck::Skip)),
        Err(OpenError::NoTrustedKey)
    ));
}

#[test]
fn multi_keyring_with_kms_and_raw_children_seals_under_both() {
    let (kms, cam1, _) = attacker_setup();
    let producer = role(ACCOUNT, "producer");
    let consumer = role(ACCOUNT, "consumer");
    let backup = raw("backup", 7);
    let multi = MultiKeyring::new(
        Arc::new(KmsKeyring::strict(kms.clone(), &producer, &[&cam1]).unwrap()),
        vec![Arc::new(backup.clone())],
    );
    let sealed = engine(Arc::new(multi))
        .seal(&producer, &SealRequest::new(ec(CAM1), &b"kms + raw"[..]))
        .unwrap();
    let by_kms = engine(Arc::new(
        KmsKeyring::strict(kms.clone(), &consumer, &[&cam1]).unwrap(),
    ))
    .open(
        &consumer,
        &OpenRequest::new(sealed.clone(), IdentityCheck::Skip),
    )
    .unwrap();
    assert_eq!(by_kms.header.key_id(), cam1);
    let by_raw = engine(Arc::new(backup))
        .open(&consumer, &OpenRequest::new(sealed, IdentityCheck::Skip))
        .unwrap();
    assert_eq!(by_raw.plaintext, by_kms.plaintext);
    // Two KMS keys: the data key is generated under the first and wrapped under the second
    // with KMS Encrypt; each EDK opens the message alone.
    let consumer_json = format!(r#""arn:aws:iam::{ACCOUNT}:role/consumer""#);
    let cam2 = kms
        .create_key(
            &root(ACCOUNT),
            Some(&key_policy(ACCOUNT, "producer", &consumer_json).replace(
                r#""kms:GenerateDataKey","kms:DescribeKey""#,
                r#""kms:GenerateDataKey","kms:Encrypt","kms:DescribeKey""#,
            )),
            "cam2",
        )
        .unwrap()
        .arn;
    let two = KmsKeyring::strict(kms.clone(), &producer, &[&cam1, &cam2]).unwrap();
    let sealed = engine(Arc::new(two))
        .seal(&producer, &SealRequest::new(ec(CAM1), &b"two keys"[..]))
        .unwrap();
    let parsed = message::parse(&sealed, &OpenLimits::default()).unwrap();
    assert_eq!(parsed.encrypted_data_keys().len(), 2);
    for only in [&cam1, &cam2] {
        let opened = engine(Arc::new(
            KmsKeyring::strict(kms.clone(), &consumer, &[only]).unwrap(),
        ))
        .open(
            &consumer,
            &OpenRequest::new(sealed.clone(), IdentityCheck::Skip),
        )
        .unwrap();
        assert_eq!(opened.plaintext, &b"two keys"[..]);
        assert_eq!(opened.header.key_id(), only.as_str());
    }
    // Without kms:Encrypt on the second key, sealing fails with KMS's refusal, typed.
    let no_encrypt = KmsKeyring::strict(kms.clone(), &producer, &[&cam2, &cam1]).unwrap();
    assert!(matches!(
        engine(Arc::new(no_encrypt)).seal(&producer, &SealRequest::new(ec(CAM1), &b"x"[..])),
        Err(SealError::Keyring(KeyringError::Kms(k))) if k.kind() == KmsErrorKind::AccessDenied
    ));
}

#[test]
fn when_every_key_fails_each_failure_is_reported() {
    let c = root(ACCOUNT);
    // Two EDKs, both trusted by the opener (same names), neither decrypts (other key bytes).
    let multi = MultiKeyring::new(Arc::new(raw("k1", 1)), vec![Arc::new(raw("k2", 2))]);
    let sealed = engine(Arc::new(multi))
        .seal(&c, &SealRequest::new(ec(CAM1), &b"x"[..]))
        .unwrap();
    let impostor = MultiKeyring::new(Arc::new(raw("k1", 11)), vec![Arc::new(raw("k2", 12))]);
    match engine(Arc::new(impostor))
        .open(&c, &OpenRequest::new(sealed.clone(), IdentityCheck::Skip))
    {
        Err(OpenError::AllKeysFailed(errors)) => {
            assert_eq!(errors.len(), 2, "{errors:?}");
            assert!(errors
                .iter()
                .all(|e| matches!(e, KeyringError::Authentication(_))));
        }
        other => panic!("{other:?}"),
    }
    // None trusted.
    assert!(matches!(
        engine(Arc::new(raw("other", 1))).open(&c, &OpenRequest::new(sealed, IdentityCheck::Skip)),
        Err(OpenError::NoTrustedKey)
    ));
    // KMS refusals are reported with their KMS kind.
    let (kms, cam1, _) = attacker_setup();
    let producer = role(ACCOUNT, "producer");
    let stranger = role(ACCOUNT, "stranger");
    let sealed = engine(Arc::new(
        KmsKeyring::strict(kms.clone(), &producer, &[&cam1]).unwrap(),
    ))
    .seal(&producer, &SealRequest::new(ec(CAM1), &b"x"[..]))
    .unwrap();
    let opener = engine(Arc::new(
        KmsKeyring::strict(kms, &producer, &[&cam1]).unwrap(),
    ));
    match opener.open(&stranger, &OpenRequest::new(sealed, IdentityCheck::Skip)) {
        Err(OpenError::AllKeysFailed(errors)) => assert_eq!(
            errors[0].kms().map(|k| k.kind()),
            Some(KmsErrorKind::AccessDenied)
        ),
        other => panic!("{other:?}"),
    }
}

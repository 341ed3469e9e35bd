//! Round trips: a standard AWS KMS EDK, identities, streaming and range opens, buffers the
//! caller gives, strict and discovery keyrings.

use super::*;

/// An engine over a discovery keyring with `filter`.
fn discovery(kms: &Arc<LocalKms>, filter: DiscoveryFilter) -> Engine {
    Engine::new(
        Arc::new(KmsKeyring::discovery(kms.clone(), filter)),
        EngineConfig::default().with_retry(fast_retry()),
    )
    .unwrap()
}

#[test]
fn seal_then_open_round_trips_with_a_standard_aws_kms_edk() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default().with_frame_length(1000));
    let p = role("producer");
    let req = SealRequest::new(ec(), fragment(1, 4500));
    let sealed = e.seal(&p, &req).unwrap();

    let header = message::parse(&sealed, &OpenLimits::default()).unwrap();
    let header = header.header();
    assert_eq!(header.encryption_context(), &ec());
    assert_eq!(header.frame_length(), 1000);
    let edks = header.encrypted_data_keys();
    assert_eq!(edks.len(), 1);
    assert_eq!(edks[0].provider_id, AWS_KMS_PROVIDER_ID);
    assert_eq!(edks[0].provider_info, key.as_bytes());
    // The ciphertext is a KMS blob that KMS itself decrypts under the message's context.
    let d = kms
        .decrypt(&p, &edks[0].ciphertext, &ec(), Some(&key))
        .unwrap();
    assert_eq!(d.key_id, key);

    assert_eq!(
        open(&e, &role("consumer"), &sealed, IdentityCheck::Skip).unwrap(),
        req.plaintext
    );
}

#[test]
fn identity_is_bound_and_checked() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default());
    let p = role("producer");
    let req = SealRequest::new(ec(), fragment(3, 64)).with_identity(identity(3));
    let sealed = e.seal(&p, &req).unwrap();
    assert_eq!(
        open(&e, &p, &sealed, IdentityCheck::Expect(identity(3))).unwrap(),
        req.plaintext
    );
    assert_eq!(
        open(&e, &p, &sealed, IdentityCheck::Skip).unwrap(),
        req.plaintext
    );
    assert!(matches!(
        open(&e, &p, &sealed, IdentityCheck::Expect(identity(4))),
        Err(OpenError::Authentication(_))
    ));
}

#[test]
fn streaming_and_range_opens() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default().with_frame_length(1024));
    let p = role("producer");
    let plaintext = fragment(9, 10_000);
    let sealed = e
        .seal(&p, &SealRequest::new(ec(), plaintext.clone()))
        .unwrap();

    let mut stream = e
        .open_stream(&p, &sealed[..], &OpenOptions::new(IdentityCheck::Skip))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 777];
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out, plaintext);
    assert_eq!(e.stats(&p).unwrap().bytes_opened, 10_000);
    assert_eq!(e.stats(&p).unwrap().fragments_opened, 1);

    // A truncated stream fails instead of ending early.
    let mut s = e
        .open_stream(
            &p,
            &sealed[..sealed.len() - 20],
            &OpenOptions::new(IdentityCheck::Skip),
        )
        .unwrap();
    assert!(std::io::copy(&mut s, &mut std::io::sink()).is_err());
    let before = e.stats(&p).unwrap().bytes_opened;

    for range in [
        0..0u64,
        0..1,
        1000..3000,
        2047..2049,
        9_999..10_000,
        0..10_000,
    ] {
        let got = e
            .open_range(&p, &skip(&sealed), range.clone())
            .map(|o| o.plaintext)
            .unwrap();
        assert_eq!(got, plaintext[range.start as usize..range.end as usize]);
    }
    assert!(matches!(
        e.open_range(&p, &skip(&sealed), 5..10_001)
            .map(|o| o.plaintext),
        Err(OpenError::RangeBeyondEnd {
            end: 10_001,
            plaintext_len: 10_000
        })
    ));
    let s = e.stats(&p).unwrap();
    assert_eq!(s.bytes_opened - before, 1 + 2000 + 2 + 1 + 10_000);
    assert_eq!(s.open_failures, 1);
}

#[test]
fn strict_mode_only_sends_trusted_keys_to_kms() {
    let (kms, key) = kms_with(None);
    let p = role("producer");
    let sealed = engine(&kms, &key, EngineConfig::default())
        .seal(&p, &SealRequest::new(ec(), fragment(1, 10)))
        .unwrap();
    let elsewhere =
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000");
    let strict = engine(&kms, &elsewhere, EngineConfig::default());
    assert!(matches!(
        open(&strict, &p, &sealed, IdentityCheck::Skip),
        Err(OpenError::NoTrustedKey)
    ));
    assert_eq!(kms.audit().count(&p, Operation::Decrypt), 0);
    let trusting = engine(&kms, &key, EngineConfig::default());
    assert_eq!(
        open(&trusting, &p, &sealed, IdentityCheck::Skip).unwrap(),
        fragment(1, 10)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_batch_with_mixed_credentials_round_trips(
        items in prop::collection::vec((0usize..3, 0usize..3, prop::collection::vec(any::<u8>(), 0..3000)), 0..24),
        frame_length in 1u32..2048,
    ) {
        let (kms, key) = kms_with(None);
        // Three producer credentials (sessions of the producer role) and three streams.
        let creds: Vec<Credential> = (0..3)
            .map(|i| Credential::new(
                ACCOUNT,
                format!("arn:aws:sts::{ACCOUNT}:assumed-role/producer/session-{i}"),
                format!("ASIAPRODUCER{i}"),
            ).unwrap())
            .collect();
        let e = engine(&kms, &key, EngineConfig::default().with_frame_length(frame_length));
        let requests: Vec<(Credential, SealRequest)> = items
            .iter()
            .map(|(c, s, data)| {
                let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", format!("stream-{s}"));
                (creds[*c].clone(), SealRequest::new(ec, data.clone()))
            })
            .collect();
        let sealed = e.seal_batch_mixed(requests.clone());
        prop_assert_eq!(sealed.len(), requests.len());
        let opens: Vec<(Credential, OpenRequest)> = sealed
            .into_iter()
            .zip(&requests)
            .map(|(r, (c, _))| (c.clone(), OpenRequest::new(r.unwrap(), IdentityCheck::Skip)))
            .collect();
        let opened = e.open_batch_mixed(opens);
        for (o, (_, req)) in opened.into_iter().zip(&requests) {
            prop_assert_eq!(o.unwrap().plaintext, req.plaintext.clone());
        }
        // At most one GenerateDataKey per (credential, stream).
        for c in &creds {
            prop_assert!(kms.audit().count(c, Operation::GenerateDataKey) <= 3);
        }
    }
}

#[test]
fn seal_into_reuses_caller_buffers() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default().with_frame_length(512));
    let p = role("producer");
    let requests: Vec<SealRequest> = (0..12)
        .map(|i| SealRequest::new(ec(), fragment(i, 1000 + i * 100)))
        .collect();
    let mut outputs = vec![Vec::new(); requests.len()];
    for _round in 0..2 {
        let results = e.seal_batch_into(&p, &requests, &mut outputs).unwrap();
        assert!(results.iter().all(Result::is_ok));
        for (i, out) in outputs.iter().enumerate() {
            assert_eq!(
                open(&e, &p, out, IdentityCheck::Skip).unwrap(),
                requests[i].plaintext
            );
        }
    }
    let caps: Vec<usize> = outputs.iter().map(Vec::capacity).collect();
    e.seal_batch_into(&p, &requests, &mut outputs).unwrap();
    assert_eq!(
        caps,
        outputs.iter().map(Vec::capacity).collect::<Vec<_>>(),
        "no reallocation"
    );
    assert!(matches!(
        e.seal_batch_into(&p, &requests, &mut outputs[..3]),
        Err(SealError::BufferCount {
            requests: 12,
            outputs: 3
        })
    ));
    // seal_into appends, and leaves the buffer unchanged on failure.
    let mut out = b"prefix".to_vec();
    e.seal_into(&p, &requests[0], &mut out).unwrap();
    assert_eq!(
        open(&e, &p, &out[6..], IdentityCheck::Skip).unwrap(),
        requests[0].plaintext
    );
    let bad = SealRequest::new(ec().with("aws-crypto-x", "y"), fragment(0, 10));
    let before = out.clone();
    assert!(matches!(
        e.seal_into(&p, &bad, &mut out),
        Err(SealError::ReservedContextKey { .. })
    ));
    assert_eq!(out, before);
    assert_eq!(e.stats(&p).unwrap().seal_failures, 1);
}

#[test]
fn open_into_appends_and_restores_on_failure() {
    let (kms, key) = kms_with(None);
    let e = engine(&kms, &key, EngineConfig::default().with_frame_length(300));
    let (p, c) = (role("producer"), role("consumer"));
    let plaintext = fragment(5, 2000);
    let sealed = e
        .seal(&p, &SealRequest::new(ec(), plaintext.clone()))
        .unwrap();
    let mut out = b"head".to_vec();
    e.open_into(&c, &skip(&sealed), &mut out).unwrap();
    assert_eq!(&out[..4], b"head");
    assert_eq!(out[4..], plaintext[..]);
    let mut tampered = sealed.to_vec();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x80;
    let before = out.clone();
    assert!(matches!(
        e.open_into(&c, &skip(&tampered), &mut out),
        Err(OpenError::Authentication(_))
    ));
    assert_eq!(out, before);
    let s = e.stats(&c).unwrap();
    assert_eq!(
        (s.fragments_opened, s.bytes_opened, s.open_failures),
        (1, 2000, 1)
    );
}

/// A message whose only `aws-kms` encrypted data key names the KMS key by `provider_info`
/// (the data key and its KMS blob are genuine, so only the provider info decides).
fn message_with_provider_info(kms: &LocalKms, key: &str, provider_info: &str) -> Vec<u8> {
    let g = kms
        .generate_data_key(
            &role("producer"),
            key,
            fragseal::kms::DataKeySpec::Aes256,
            &ec(),
        )
        .unwrap();
    let data_key = fragseal::crypto::DataKey::from_slice(g.plaintext.expose_secret()).unwrap();
    let edks = [fragseal::format::EncryptedDataKey {
        provider_id: AWS_KMS_PROVIDER_ID.into(),
        provider_info: provider_info.as_bytes().to_vec(),
        ciphertext: g.ciphertext_blob,
    }];
    let ec = ec();
    message::seal(
        &data_key,
        &message::SealParams::new(&ec, &edks),
        b"fragment",
    )
    .unwrap()
}

#[test]
fn discovery_sends_only_well_formed_kms_key_arns_to_kms() {
    let (kms, key) = kms_with(None);
    let c = role("consumer");
    let key_id = key.rsplit('/').next().unwrap();
    let alias_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/fragments");
    let refused = [
        "alias/aws/kinesisvideo".to_owned(),
        key_id.to_owned(),
        alias_arn,
        key.replace(":kms:", ":s3:"),
        key.replace(":key/", ":keys/"),
        key.replace(ACCOUNT, "1111222233"),
        key.replace(ACCOUNT, "11112222333a"),
        key.replace(REGION, ""),
        key.replace("arn:aws:", "arn::"),
        format!("{key}/extra"),
        format!("{}:key/", key.rsplit_once(":key/").unwrap().0),
        format!(" {key}"),
    ];
    let e = discovery(&kms, DiscoveryFilter::new("aws", vec![ACCOUNT.into()]));
    for info in &refused {
        let m = message_with_provider_info(&kms, &key, info);
        assert!(
            matches!(
                open(&e, &c, &m, IdentityCheck::Skip),
                Err(OpenError::NoTrustedKey)
            ),
            "{info:?} must not be sent to KMS"
        );
    }
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 0);
    // The well-formed ARN opens (one Decrypt).
    let m = message_with_provider_info(&kms, &key, &key);
    assert_eq!(
        open(&e, &c, &m, IdentityCheck::Skip).unwrap(),
        &b"fragment"[..]
    );
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 1);
}

#[test]
fn the_discovery_filter_keeps_other_accounts_keys_from_kms() {
    let (kms, key) = kms_with(None);
    let c = role("consumer");
    let m = message_with_provider_info(&kms, &key, &key);
    let other = discovery(
        &kms,
        DiscoveryFilter::new("aws", vec!["444455556666".into()]),
    );
    assert!(matches!(
        open(&other, &c, &m, IdentityCheck::Skip),
        Err(OpenError::NoTrustedKey)
    ));
    let other_partition = discovery(&kms, DiscoveryFilter::new("aws-cn", vec![ACCOUNT.into()]));
    assert!(matches!(
        open(&other_partition, &c, &m, IdentityCheck::Skip),
        Err(OpenError::NoTrustedKey)
    ));
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 0);
    let own = discovery(&kms, DiscoveryFilter::new("aws", vec![ACCOUNT.into()]));
    assert_eq!(
        open(&own, &c, &m, IdentityCheck::Skip).unwrap(),
        &b"fragment"[..]
    );
    assert_eq!(kms.audit().count(&c, Operation::Decrypt), 1);
}

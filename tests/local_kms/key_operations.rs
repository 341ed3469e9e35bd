//! Keys, data keys, blobs, aliases, key states, the Kinesis Video managed key, Encrypt, and
//! case-variant context keys.

use super::*;

#[test]
fn arn_shape_and_describe() {
    let (kms, arn) = setup();
    let id = arn
        .strip_prefix(&format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/"))
        .expect("key ARN prefix");
    assert_eq!(id.len(), 36);
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12]);
    assert!(id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
    let d = kms.describe_key(&root(), id).unwrap();
    assert_eq!(d.arn, arn);
    assert_eq!(d.key_id, id);
    assert_eq!(d.state, KeyState::Enabled);
    assert_eq!(d.manager, "CUSTOMER");
    assert_eq!(d.description, "test key");
    // Two keys never share an id.
    let other = kms.create_key(&root(), None, "").unwrap();
    assert_ne!(other.key_id, d.key_id);
}

#[test]
fn producer_generates_consumer_decrypts() {
    let (kms, arn) = setup();
    let g = kms
        .generate_data_key(&role("producer"), &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    assert_eq!(g.key_id, arn);
    assert_eq!(g.plaintext.len(), 32);
    let d = kms
        .decrypt(&role("consumer"), &g.ciphertext_blob, &ec(), Some(&arn))
        .unwrap();
    assert_eq!(d.plaintext, g.plaintext);
    assert_eq!(d.key_id, arn);
    // Without naming the key too.
    let d = kms
        .decrypt(&role("consumer"), &g.ciphertext_blob, &ec(), None)
        .unwrap();
    assert_eq!(d.plaintext, g.plaintext);
    // Roles are limited to their action.
    let e = kms
        .decrypt(&role("producer"), &g.ciphertext_blob, &ec(), None)
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    let e = kms
        .generate_data_key(&role("consumer"), &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert!(e.message().contains("kms:GenerateDataKey"), "{e}");
    assert!(!e.is_retryable());
}

#[test]
fn byte_count_specs() {
    let (kms, arn) = setup();
    for n in [1u16, 16, 64, 1024] {
        let g = kms
            .generate_data_key(&root(), &arn, DataKeySpec::Bytes(n), &ec())
            .unwrap();
        assert_eq!(g.plaintext.len(), usize::from(n));
        let d = kms
            .decrypt(&root(), &g.ciphertext_blob, &ec(), None)
            .unwrap();
        assert_eq!(d.plaintext, g.plaintext);
    }
    for n in [0u16, 1025] {
        let e = kms
            .generate_data_key(&root(), &arn, DataKeySpec::Bytes(n), &ec())
            .unwrap_err();
        assert_eq!(e.kind(), KmsErrorKind::InvalidRequest);
    }
}

#[test]
fn blob_binds_context_and_key() {
    let (kms, arn) = setup();
    let other = kms.create_key(&root(), None, "other").unwrap();
    let g = kms
        .generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    let blob = &g.ciphertext_blob;
    for wrong in [
        EncryptionContext::new(),
        ec().with("extra", "pair"),
        EncryptionContext::new().with("aws:kinesisvideo:arn", "arn:other"),
    ] {
        let e = kms.decrypt(&root(), blob, &wrong, None).unwrap_err();
        assert_eq!(e.kind(), KmsErrorKind::InvalidCiphertext);
    }
    let e = kms
        .decrypt(&root(), blob, &ec(), Some(&other.arn))
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::IncorrectKey);
    let e = kms
        .decrypt(&root(), blob, &ec(), Some(&other.key_id))
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::IncorrectKey);
    // Garbage and damaged blobs: InvalidCiphertext, never a panic.
    for bad in [
        vec![],
        vec![0u8; 100],
        vec![1, 200],
        blob[..blob.len() - 1].to_vec(),
        [blob.as_slice(), &[0]].concat(),
    ] {
        let e = kms.decrypt(&root(), &bad, &ec(), None).unwrap_err();
        assert_eq!(e.kind(), KmsErrorKind::InvalidCiphertext, "{bad:?}");
    }
    let mut flipped = blob.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x80;
    let e = kms.decrypt(&root(), &flipped, &ec(), None).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::InvalidCiphertext);
    // A blob naming an unknown key.
    let mut unknown = blob.clone();
    unknown[2] = if unknown[2] == b'a' { b'b' } else { b'a' };
    let e = kms.decrypt(&root(), &unknown, &ec(), None).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::NotFound);
}

#[test]
fn aliases_and_alias_arns() {
    let (kms, arn) = setup();
    kms.create_alias(&root(), "alias/cam", &arn).unwrap();
    let alias_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/cam");
    for name in ["alias/cam", alias_arn.as_str()] {
        let g = kms
            .generate_data_key(&role("producer"), name, DataKeySpec::Aes256, &ec())
            .unwrap();
        assert_eq!(g.key_id, arn);
        let d = kms
            .decrypt(&role("consumer"), &g.ciphertext_blob, &ec(), Some(name))
            .unwrap();
        assert_eq!(d.plaintext, g.plaintext);
    }
    let list = kms.list_aliases(&root(), None).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].alias_name, "alias/cam");
    assert_eq!(list[0].alias_arn, alias_arn);
    let e = kms.create_alias(&root(), "alias/cam", &arn).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AlreadyExists);
    assert_eq!(e.code(), "AlreadyExistsException");
    for bad in ["cam", "alias/", "alias/sp ace"] {
        let e = kms.create_alias(&root(), bad, &arn).unwrap_err();
        assert_eq!(e.kind(), KmsErrorKind::InvalidRequest, "{bad}");
    }
    let e = kms
        .create_alias(&root(), "alias/aws/mine", &arn)
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::InvalidAliasName);
    let e = kms
        .generate_data_key(&root(), "alias/none", DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::NotFound);
    // Another region or account in an ARN: not found here.
    let foreign = arn.replace(ACCOUNT, OTHER);
    let e = kms.describe_key(&root(), &foreign).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::NotFound);
    kms.delete_alias(&root(), "alias/cam").unwrap();
    assert!(kms.list_aliases(&root(), None).unwrap().is_empty());
}

#[test]
fn key_states_give_aws_errors() {
    let clock = clock_at(1_700_000_000);
    let kms = LocalKms::builder(REGION, ACCOUNT)
        .clock(clock.clone())
        .build()
        .unwrap();
    let arn = kms.create_key(&root(), None, "k").unwrap().arn;
    let g = kms
        .generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec())
        .unwrap();

    kms.disable_key(&root(), &arn).unwrap();
    assert_eq!(
        kms.describe_key(&root(), &arn).unwrap().state,
        KeyState::Disabled
    );
    let e = kms
        .generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::Disabled);
    let e = kms
        .decrypt(&root(), &g.ciphertext_blob, &ec(), None)
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::Disabled);
    kms.enable_key(&root(), &arn).unwrap();
    kms.decrypt(&root(), &g.ciphertext_blob, &ec(), None)
        .unwrap();

    for days in [0, 6, 31] {
        let e = kms.schedule_key_deletion(&root(), &arn, days).unwrap_err();
        assert_eq!(e.kind(), KmsErrorKind::InvalidRequest, "{days}");
    }
    let date = kms.schedule_key_deletion(&root(), &arn, 7).unwrap();
    assert_eq!(date, 1_700_000_000 + 7 * 86_400);
    let d = kms.describe_key(&root(), &arn).unwrap();
    assert_eq!(d.state, KeyState::PendingDeletion);
    assert_eq!(d.deletion_date, Some(date));
    for e in [
        kms.generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec())
            .map(|_| ())
            .unwrap_err(),
        kms.decrypt(&root(), &g.ciphertext_blob, &ec(), None)
            .map(|_| ())
            .unwrap_err(),
        kms.enable_key(&root(), &arn).unwrap_err(),
        kms.disable_key(&root(), &arn).unwrap_err(),
        kms.schedule_key_deletion(&root(), &arn, 10)
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert_eq!(e.kind(), KmsErrorKind::InvalidState, "{e}");
    }
    kms.cancel_key_deletion(&root(), &arn).unwrap();
    let d = kms.describe_key(&root(), &arn).unwrap();
    assert_eq!(d.state, KeyState::Disabled);
    assert_eq!(d.deletion_date, None);
    let e = kms.cancel_key_deletion(&root(), &arn).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::InvalidState);

    // Scheduled again and past the date: the key is gone.
    kms.schedule_key_deletion(&root(), &arn, 30).unwrap();
    clock.advance(Duration::from_secs(29 * 86_400));
    assert!(kms.describe_key(&root(), &arn).is_ok());
    clock.advance(Duration::from_secs(86_400));
    let e = kms.describe_key(&root(), &arn).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::NotFound);
    assert!(kms.list_keys(&root()).unwrap().is_empty());
    let e = kms
        .decrypt(&root(), &g.ciphertext_blob, &ec(), None)
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::NotFound);
}

#[test]
fn kinesis_video_managed_key_is_created_lazily_and_used_via_the_service() {
    let kms = Arc::new(LocalKms::new(REGION, ACCOUNT));
    assert!(kms.list_aliases(&root(), None).unwrap().is_empty());
    let producer = role("producer");
    // Direct use: the managed key's policy allows only calls via Kinesis Video Streams.
    let e = kms
        .generate_data_key(&producer, KINESIS_VIDEO_ALIAS, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    let aliases = kms.list_aliases(&root(), None).unwrap();
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].alias_name, KINESIS_VIDEO_ALIAS);

    let kvs = kms.via_service("kinesisvideo");
    assert_eq!(kvs.service(), "kinesisvideo.us-east-1.amazonaws.com");
    let g = kvs
        .generate_data_key(&producer, KINESIS_VIDEO_ALIAS, DataKeySpec::Aes256, &ec())
        .unwrap();
    let d = kvs
        .decrypt(&role("consumer"), &g.ciphertext_blob, &ec(), None)
        .unwrap();
    assert_eq!(d.plaintext, g.plaintext);
    let desc = kvs.describe_key(&producer, KINESIS_VIDEO_ALIAS).unwrap();
    assert_eq!(desc.manager, "AWS");
    assert_eq!(desc.arn, g.key_id);
    // Another service does not qualify; neither does another account.
    let s3 = kms.via_service("s3");
    let e = s3
        .generate_data_key(&producer, KINESIS_VIDEO_ALIAS, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    let stranger = Credential::new(OTHER, format!("arn:aws:iam::{OTHER}:user/x"), "AKIAX").unwrap();
    let e = kvs
        .generate_data_key(&stranger, &g.key_id, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    let e = kvs
        .generate_data_key(&stranger, KINESIS_VIDEO_ALIAS, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::NotFound);
    // The account root may read its metadata directly but not manage it.
    kms.describe_key(&root(), KINESIS_VIDEO_ALIAS).unwrap();
    kms.get_key_policy(&root(), KINESIS_VIDEO_ALIAS).unwrap();
    for e in [
        kms.disable_key(&root(), KINESIS_VIDEO_ALIAS).unwrap_err(),
        kms.schedule_key_deletion(&root(), KINESIS_VIDEO_ALIAS, 7)
            .map(|_| ())
            .unwrap_err(),
        kms.put_key_policy(&root(), KINESIS_VIDEO_ALIAS, &kms.default_key_policy())
            .unwrap_err(),
    ] {
        assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    }
    // Created once.
    assert_eq!(kms.list_keys(&root()).unwrap().len(), 1);
}

mod blob_fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_decrypt_nor_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let (kms, _) = setup();
            let e = kms.decrypt(&root(), &bytes, &ec(), None).unwrap_err();
            prop_assert!(matches!(e.kind(), KmsErrorKind::InvalidCiphertext | KmsErrorKind::NotFound));
        }

        #[test]
        fn any_single_byte_change_is_rejected(pos in any::<prop::sample::Index>(), delta in 1u8..=255) {
            let (kms, arn) = setup();
            let g = kms.generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec()).unwrap();
            let mut blob = g.ciphertext_blob.clone();
            let i = pos.index(blob.len());
            blob[i] = blob[i].wrapping_add(delta);
            prop_assert!(kms.decrypt(&root(), &blob, &ec(), None).is_err());
        }
    }
}

// ---- Encrypt ----

#[test]
fn encrypt_wraps_a_data_key_under_a_second_key() {
    let (kms, first) = setup();
    let second = kms.create_key(&root(), None, "second key").unwrap().arn;
    kms.attach_identity_policy(&role_arn("wrapper"), &allow("kms:Encrypt"))
        .unwrap();
    let g = kms
        .generate_data_key(&role("producer"), &first, DataKeySpec::Aes256, &ec())
        .unwrap();
    // Encrypt needs kms:Encrypt, not kms:GenerateDataKey.
    let e = kms
        .encrypt(
            &role("producer"),
            &second,
            g.plaintext.expose_secret(),
            &ec(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert!(e.message().contains("kms:Encrypt"), "{e}");
    let wrapped = kms
        .encrypt(
            &role("wrapper"),
            &second,
            g.plaintext.expose_secret(),
            &ec(),
        )
        .unwrap();
    assert_eq!(wrapped.key_id, second);
    // The same blob format: the consumer decrypts it like a GenerateDataKey blob.
    let d = kms
        .decrypt(
            &role("consumer"),
            &wrapped.ciphertext_blob,
            &ec(),
            Some(&second),
        )
        .unwrap();
    assert_eq!(d.plaintext, g.plaintext);
    assert_eq!(d.key_id, second);
    // Bound to the context and the key.
    let other = EncryptionContext::new().with("aws:kinesisvideo:arn", "other");
    let e = kms
        .decrypt(&role("consumer"), &wrapped.ciphertext_blob, &other, None)
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::InvalidCiphertext);
    let e = kms
        .decrypt(
            &role("consumer"),
            &wrapped.ciphertext_blob,
            &ec(),
            Some(&first),
        )
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::IncorrectKey);
    // Plaintext 1..=4096 bytes, else ValidationException; the state of the key applies.
    for n in [1, MAX_ENCRYPT_PLAINTEXT] {
        let b = kms.encrypt(&root(), &second, &vec![9; n], &ec()).unwrap();
        let d = kms
            .decrypt(&root(), &b.ciphertext_blob, &ec(), None)
            .unwrap();
        assert_eq!(d.plaintext.len(), n);
    }
    for n in [0, MAX_ENCRYPT_PLAINTEXT + 1] {
        let e = kms
            .encrypt(&root(), &second, &vec![9; n], &ec())
            .unwrap_err();
        assert_eq!(e.kind(), KmsErrorKind::InvalidRequest, "{n}");
        assert_eq!(e.code(), "ValidationException");
    }
    kms.disable_key(&root(), &second).unwrap();
    let e = kms.encrypt(&root(), &second, &[1], &ec()).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::Disabled);
    // Audited under its own name, without the plaintext.
    assert_eq!(kms.audit().count(&role("wrapper"), Operation::Encrypt), 1);
    let events = kms.audit().events_json();
    let enc: Vec<_> = events
        .iter()
        .filter(|e| e["eventName"] == "Encrypt")
        .collect();
    assert!(!enc.is_empty());
    let hex_key = hex::encode(g.plaintext.expose_secret());
    for e in &events {
        assert!(!e.to_string().contains(&hex_key));
    }
}

// ---- Case-variant context keys (issue 11, item 1) ----

#[test]
fn case_variant_context_keys_are_refused_by_local_kms() {
    // The attack: a producer confined to stream A adds "AWS:KINESISVIDEO:ARN" = A next to the
    // real key naming stream B; a case-insensitive key match lets A's condition pass.
    let (kms, key) = setup();
    let stream_a = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-a/1";
    let stream_b = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-b/1";
    let forged = EncryptionContext::new()
        .with("aws:kinesisvideo:arn", stream_b)
        .with("AWS:KINESISVIDEO:ARN", stream_a);
    let e = kms
        .generate_data_key(&role("producer"), &key, DataKeySpec::Aes256, &forged)
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::InvalidRequest, "{e}");
    assert_eq!(e.code(), "ValidationException");
    assert!(
        e.message()
            .contains("\"AWS:KINESISVIDEO:ARN\" and \"aws:kinesisvideo:arn\""),
        "{e}"
    );
    assert!(e.message().contains("differ only in letter case"), "{e}");
    let e = kms.encrypt(&root(), &key, &[1; 32], &forged).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::InvalidRequest, "{e}");
    // Decrypt refuses it too, before looking at the blob.
    let g = kms
        .generate_data_key(&role("producer"), &key, DataKeySpec::Aes256, &ec())
        .unwrap();
    let e = kms
        .decrypt(&role("consumer"), &g.ciphertext_blob, &forged, None)
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::InvalidRequest, "{e}");
    // Keys that differ otherwise are fine, and so are values differing only in case.
    let fine = EncryptionContext::new()
        .with("aws:kinesisvideo:arn", stream_b)
        .with("tenant", "A")
        .with("Tenant2", "a");
    kms.generate_data_key(&role("producer"), &key, DataKeySpec::Aes256, &fine)
        .unwrap();
    // Refused calls are audited with the error.
    let events = kms.audit().events();
    assert!(events.iter().filter(|e| e.is_error()).any(|e| e
        .error
        .as_ref()
        .is_some_and(|(c, _)| c == "ValidationException")));
}

//! The state file, the builder, threads, `Debug` output and `Send + Sync`.

use super::*;

#[test]
fn state_file_round_trip_permissions_and_refusals() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms-state.json");
    let (arn, blob, plaintext) = {
        let kms = LocalKms::builder(REGION, ACCOUNT)
            .state_file(&path)
            .build()
            .unwrap();
        let arn = kms.create_key(&root(), None, "persisted").unwrap().arn;
        kms.create_alias(&root(), "alias/kept", &arn).unwrap();
        kms.attach_identity_policy(&role_arn("consumer"), &allow("kms:Decrypt"))
            .unwrap();
        let g = kms
            .generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec())
            .unwrap();
        (arn, g.ciphertext_blob, g.plaintext)
    };
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    let kms = LocalKms::builder(REGION, ACCOUNT)
        .state_file(&path)
        .build()
        .unwrap();
    let d = kms
        .decrypt(&role("consumer"), &blob, &ec(), Some("alias/kept"))
        .unwrap();
    assert_eq!(d.plaintext, plaintext);
    assert_eq!(
        kms.describe_key(&root(), &arn).unwrap().description,
        "persisted"
    );
    // State changes are persisted too.
    kms.disable_key(&root(), &arn).unwrap();
    drop(kms);
    let kms = LocalKms::builder(REGION, ACCOUNT)
        .state_file(&path)
        .build()
        .unwrap();
    assert_eq!(
        kms.describe_key(&root(), &arn).unwrap().state,
        KeyState::Disabled
    );
    kms.enable_key(&root(), &arn).unwrap();
    assert_eq!(kms.identity_policies(&role_arn("consumer")).len(), 1);

    // Another account: refused, file untouched.
    let before = std::fs::read(&path).unwrap();
    let e = LocalKms::builder(REGION, OTHER)
        .state_file(&path)
        .build()
        .unwrap_err();
    assert!(matches!(e, SetupError::Foreign { .. }), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // Corrupt: refused, untouched.
    let corrupt = dir.path().join("corrupt.json");
    std::fs::write(
        &corrupt,
        b"{\"format\": \"fragseal-localkms-state\", \"version\": 1,",
    )
    .unwrap();
    let e = LocalKms::builder(REGION, ACCOUNT)
        .state_file(&corrupt)
        .build()
        .unwrap_err();
    assert!(matches!(e, SetupError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("left untouched"));
    // Right header, damaged body.
    let mut v: serde_json::Value = serde_json::from_slice(&before).unwrap();
    v["keys"][0]["material"] = serde_json::Value::from("zz");
    std::fs::write(&corrupt, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = LocalKms::builder(REGION, ACCOUNT)
        .state_file(&corrupt)
        .build()
        .unwrap_err();
    assert!(matches!(e, SetupError::Corrupt { .. }), "{e}");
    // Some other JSON file.
    std::fs::write(&corrupt, b"{\"hello\": 1}").unwrap();
    let e = LocalKms::builder(REGION, ACCOUNT)
        .state_file(&corrupt)
        .build()
        .unwrap_err();
    assert!(matches!(e, SetupError::Foreign { .. }), "{e}");
    assert_eq!(std::fs::read(&corrupt).unwrap(), b"{\"hello\": 1}");
}

#[test]
fn builder_validates_region_and_account() {
    assert!(matches!(
        LocalKms::builder(REGION, "123").build(),
        Err(SetupError::InvalidConfig(_))
    ));
    assert!(matches!(
        LocalKms::builder("US East", ACCOUNT).build(),
        Err(SetupError::InvalidConfig(_))
    ));
}

#[test]
fn concurrent_use_from_many_threads() {
    let (kms, arn) = setup();
    std::thread::scope(|s| {
        for t in 0..8 {
            let kms = &kms;
            let arn = &arn;
            s.spawn(move || {
                let c = EncryptionContext::new().with("thread", t.to_string());
                for _ in 0..50 {
                    let g = kms
                        .generate_data_key(&role("producer"), arn, DataKeySpec::Aes256, &c)
                        .unwrap();
                    let d = kms
                        .decrypt(&role("consumer"), &g.ciphertext_blob, &c, Some(arn))
                        .unwrap();
                    assert_eq!(d.plaintext, g.plaintext);
                }
            });
        }
        // Management calls meanwhile.
        for _ in 0..20 {
            kms.disable_key(&root(), "alias/none").unwrap_err();
            kms.describe_key(&root(), &arn).unwrap();
        }
    });
    assert_eq!(
        kms.audit()
            .count(&role("producer"), Operation::GenerateDataKey),
        400
    );
}

#[test]
fn debug_output_shows_no_key_material() {
    let (kms, arn) = setup();
    let g = kms
        .generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    let s = format!("{kms:?} {g:?}");
    assert!(
        !s.contains(&hex::encode(g.plaintext.expose_secret())),
        "{s}"
    );
    let bytes_list = format!("{:?}", g.plaintext.expose_secret());
    assert!(!s.contains(&bytes_list[1..bytes_list.len() - 1]), "{s}");
}

#[test]
fn local_kms_and_via_service_are_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LocalKms>();
    assert_send_sync::<fragseal::kms::local::ViaService>();
    let kms: Arc<dyn Kms> = Arc::new(LocalKms::new(REGION, ACCOUNT));
    let e = kms.describe_key(&root(), "alias/none").unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::NotFound);
}

#[test]
fn failed_state_write_leaves_memory_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("state");
    std::fs::create_dir(&sub).unwrap();
    let kms = LocalKms::builder(REGION, ACCOUNT)
        .state_file(sub.join("kms.json"))
        .build()
        .unwrap();
    let arn = kms.create_key(&root(), None, "kept").unwrap().arn;
    std::fs::remove_dir_all(&sub).unwrap();
    let e = kms.create_key(&root(), None, "lost").unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::Internal);
    assert!(e.message().contains("state file"), "{e}");
    assert_eq!(kms.list_keys(&root()).unwrap(), vec![arn.clone()]);
    let e = kms.disable_key(&root(), &arn).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::Internal);
    assert_eq!(
        kms.describe_key(&root(), &arn).unwrap().state,
        KeyState::Enabled
    );
}

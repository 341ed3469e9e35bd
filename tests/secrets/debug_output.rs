//! `Debug` of every key-holding public type shows no key bytes; neither do errors.

use super::*;

// ---------------------------------------------------------------------------------------------
// 2. No key bytes in Debug / Display
// ---------------------------------------------------------------------------------------------

/// Fails if `text` shows `secret` (or any 4 consecutive bytes of it) as hex (either case),
/// as a decimal list (`[1, 2, 3, 4` / `1,2,3,4`), as base64, or as raw characters.
fn assert_no_key_bytes(what: &str, text: &str, secret: &[u8]) {
    use base64::Engine as _;
    assert!(secret.len() >= 4, "{what}: secret too short to search");
    let lower = text.to_lowercase();
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    for w in secret.windows(4) {
        let hex = hex::encode(w);
        assert!(!lower.contains(&hex), "{what}: hex of key bytes in {text}");
        let dec = w.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
        assert!(
            !compact.contains(&dec),
            "{what}: key bytes as decimals in {text}"
        );
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    assert!(
        !text.contains(&b64[..8]),
        "{what}: key bytes as base64 in {text}"
    );
    if let Ok(s) = std::str::from_utf8(secret) {
        assert!(!text.contains(s), "{what}: key bytes as text in {text}");
    }
}

fn debug_and_alt<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}\n{v:#?}")
}

/// A recognizable secret: 32 distinct bytes none of which is a common small number.
fn marked(seed: u8) -> [u8; 32] {
    core::array::from_fn(|i| seed.wrapping_add((i as u8).wrapping_mul(37)) | 0x80)
}

#[test]
fn assert_no_key_bytes_catches_leaks() {
    // The checker itself must be able to fail.
    let k = marked(1);
    for leak in [
        format!("{:?}", k),
        hex::encode(k),
        hex::encode_upper(k),
        format!("{:#?}", k),
    ] {
        let r = std::panic::catch_unwind(|| assert_no_key_bytes("probe", &leak, &k));
        assert!(r.is_err(), "undetected leak: {leak}");
    }
}

#[test]
fn data_key_and_secret_bytes() {
    let k = marked(3);
    assert_no_key_bytes("DataKey", &debug_and_alt(&DataKey::from_bytes(k)), &k);
    assert_no_key_bytes(
        "SecretBytes",
        &debug_and_alt(&SecretBytes::from_slice(&k)),
        &k,
    );
    let s: SecretBytes = DataKey::from_bytes(k).into();
    assert_no_key_bytes("SecretBytes from DataKey", &debug_and_alt(&s), &k);
}

#[test]
fn derived_keys_and_aead_keys() {
    let dk = marked(5);
    let message_id = [0x42u8; 32];
    for backend in [AeadBackend::Ring, AeadBackend::RustCrypto] {
        let keys = derive_message_keys(backend, &DataKey::from_bytes(dk), SUITE_ID, &message_id);
        // The derived encryption key, recomputed independently (HKDF-SHA512, salt = message
        // id, info = suite id ‖ "DERIVEKEY").
        let mut info = SUITE_ID.to_be_bytes().to_vec();
        info.extend_from_slice(b"DERIVEKEY");
        let mut enc = [0u8; 32];
        hkdf_sha512(&message_id, &dk, &info, &mut enc).unwrap();
        let commit = *keys.commit_key.as_bytes();
        let text = debug_and_alt(&keys);
        for secret in [&dk[..], &enc[..], &commit[..]] {
            assert_no_key_bytes("MessageKeys", &text, secret);
        }
        assert_no_key_bytes("CommitKey", &debug_and_alt(&keys.commit_key), &commit);
        let aead = Aes256GcmKey::new(backend, &enc);
        assert_no_key_bytes("Aes256GcmKey", &debug_and_alt(&aead), &enc);
        enc.zeroize();
    }
}

#[test]
fn raw_aes_keyring() {
    let wk = marked(7);
    let kr = RawAesKeyring::new("ns", "name", SecretBytes::from_slice(&wk)).unwrap();
    assert_no_key_bytes("RawAesKeyring", &debug_and_alt(&kr), &wk);
}

const ACCOUNT: &str = "111122223333";

fn admin() -> Credential {
    Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAADMIN").unwrap()
}

fn ec() -> EncryptionContext {
    EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1",
    )
}

/// The key material of every key in a LocalKms state file (hex strings, decoded).
fn materials_in_state_file(path: &Path) -> Vec<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| hex::decode(k["material"].as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn local_kms_its_keys_results_audit_cache_and_engine() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let kms = Arc::new(
        LocalKms::builder("us-east-1", ACCOUNT)
            .state_file(&state)
            .build()
            .unwrap(),
    );
    let admin = admin();
    let arn = kms.create_key(&admin, None, "secrets test").unwrap().arn;
    let materials = materials_in_state_file(&state);
    assert_eq!(materials.len(), 1);
    let kms_key = materials[0].clone();
    assert_eq!(kms_key.len(), 32);

    let generated = kms
        .generate_data_key(&admin, &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    let data_key = generated.plaintext.expose_secret().to_vec();
    let decrypted = kms
        .decrypt(&admin, &generated.ciphertext_blob, &ec(), Some(&arn))
        .unwrap();
    assert_eq!(decrypted.plaintext.expose_secret(), data_key.as_slice());
    let texts = [
        ("GeneratedDataKey", debug_and_alt(&generated)),
        ("DecryptedDataKey", debug_and_alt(&decrypted)),
        ("LocalKms", debug_and_alt(&*kms)),
        ("AuditLog", debug_and_alt(kms.audit())),
        ("AuditEvents", debug_and_alt(&kms.audit().events())),
    ];
    for (what, text) in &texts {
        assert_no_key_bytes(what, text, &kms_key);
        assert_no_key_bytes(what, text, &data_key);
    }

    // Cache entries: material, lease, the cache itself.
    let cache = DataKeyCache::new(CacheLimits::default()).unwrap();
    let context = ec();
    let key = CacheKey::for_sealing(&admin, &arn, SUITE_ID, &context);
    let lease = cache
        .get_or_fetch(&key, 10, || {
            let edk = EncryptedDataKey {
                provider_id: "aws-kms".into(),
                provider_info: generated.key_id.as_bytes().to_vec(),
                ciphertext: generated.ciphertext_blob,
            };
            let data_key = DataKey::try_from(generated.plaintext).unwrap();
            Ok::<_, fragseal::KeyringError>(DataKeyMaterial::new(
                data_key,
                vec![edk],
                generated.key_id,
            ))
        })
        .unwrap();
    for (what, text) in [
        ("DataKeyMaterial", debug_and_alt(lease.material())),
        ("Lease", debug_and_alt(&lease)),
        ("DataKeyCache", debug_and_alt(&cache)),
        ("CacheKey", debug_and_alt(&key)),
    ] {
        assert_no_key_bytes(what, &text, &data_key);
    }

    // The engine, after sealing and opening (its cache holds plaintext data keys), and a
    // streaming open in progress.
    let keyring = KmsKeyring::strict(kms.clone(), &admin, &[&arn]).unwrap();
    let engine = Engine::new(
        Arc::new(keyring),
        EngineConfig::default().with_frame_length(16),
    )
    .unwrap();
    let req = SealRequest::new(ec(), Bytes::from_static(b"fragment bytes, three frames"));
    let sealed = engine.seal(&admin, &req).unwrap();
    assert_eq!(
        engine
            .open(
                &admin,
                &OpenRequest::new(sealed.clone(), IdentityCheck::Skip)
            )
            .unwrap()
            .plaintext,
        req.plaintext
    );
    let engine_text = debug_and_alt(&engine);
    // The engine's data key came from another GenerateDataKey: take every data key KMS
    // released from the cache's view of the message (decrypt its EDK with the KMS).
    let header = fragseal::message::parse(&sealed, &OpenLimits::default()).unwrap();
    let edk = &header.encrypted_data_keys()[0];
    let engine_key = kms
        .decrypt(&admin, &edk.ciphertext, &ec(), Some(&arn))
        .unwrap();
    for secret in [&kms_key[..], engine_key.plaintext.expose_secret()] {
        assert_no_key_bytes("Engine", &engine_text, secret);
    }
    let stream = SealedStream::new(&sealed[..], &OpenLimits::default()).unwrap();
    let dk = DataKey::from_slice(engine_key.plaintext.expose_secret()).unwrap();
    let skip = IdentityCheck::Skip;
    let open = stream
        .open(&dk, &OpenParams::new(&skip).with_backend(AeadBackend::Ring))
        .unwrap();
    assert_no_key_bytes(
        "OpenStream",
        &debug_and_alt(&open),
        engine_key.plaintext.expose_secret(),
    );
}

#[test]
fn errors_carry_no_key_bytes() {
    // A wrong key, a bad tag: the error (Debug and Display) says nothing about keys.
    let k = marked(9);
    let edks = [EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: vec![],
        ciphertext: vec![1],
    }];
    let ec = ec();
    let m = seal(&DataKey::from_bytes(k), &SealParams::new(&ec, &edks), b"x").unwrap();
    let h = fragseal::message::parse(&m, &OpenLimits::default()).unwrap();
    let wrong = marked(11);
    let skip = IdentityCheck::Skip;
    let e = h
        .open(
            &DataKey::from_bytes(wrong),
            &OpenParams::new(&skip).with_backend(AeadBackend::Ring),
        )
        .unwrap_err();
    let text = format!("{e:?} {e}");
    assert_no_key_bytes("open error", &text, &k);
    assert_no_key_bytes("open error", &text, &wrong);
}

#[cfg(feature = "aws")]
#[test]
fn aws_kms_builder_and_backend_hide_secret_access_keys() {
    use fragseal::kms::aws::AwsKms;
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let token = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789";
    let builder = AwsKms::builder()
        .region("us-east-1")
        .endpoint_url("http://127.0.0.1:9")
        .default_static_credentials("AKIAEXAMPLE", secret, Some(token.to_owned()))
        .caller_static_credentials(admin(), "AKIAOTHER", secret, None);
    let text = debug_and_alt(&builder);
    assert!(!text.contains(secret) && !text.contains(token), "{text}");
    let kms = builder.build().unwrap();
    let text = debug_and_alt(&kms);
    assert!(!text.contains(secret) && !text.contains(token), "{text}");
}

//! The audit trail: what it records, its memory, its file (a full disk, a symlink), forged
//! lines.

use super::*;

#[test]
fn audit_trail_records_every_call_without_secrets() {
    let (kms, arn) = setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.jsonl");
    kms.audit().set_file(Some(&path)).unwrap();
    let producer = role("producer");
    let g = kms
        .generate_data_key(&producer, &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    kms.generate_data_key(&producer, &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    let denied = kms
        .decrypt(&producer, &g.ciphertext_blob, &ec(), None)
        .unwrap_err();
    assert_eq!(denied.kind(), KmsErrorKind::AccessDenied);

    assert_eq!(kms.audit().count(&producer, Operation::GenerateDataKey), 2);
    assert_eq!(kms.audit().count(&producer, Operation::Decrypt), 1);
    assert_eq!(kms.audit().count(&role("consumer"), Operation::Decrypt), 0);
    assert_eq!(kms.audit().count_operation(Operation::CreateKey), 1);

    let events = kms.audit().events_json();
    let last = events.last().unwrap();
    assert_eq!(last["eventSource"], "kms.amazonaws.com");
    assert_eq!(last["eventName"], "Decrypt");
    assert_eq!(last["awsRegion"], REGION);
    assert_eq!(last["userIdentity"]["arn"], producer.principal_arn());
    assert_eq!(last["userIdentity"]["accountId"], ACCOUNT);
    assert_eq!(last["errorCode"], "AccessDeniedException");
    assert!(last["errorMessage"]
        .as_str()
        .unwrap()
        .contains("kms:Decrypt"));
    assert_eq!(last["resources"][0]["ARN"], arn.as_str());
    assert_eq!(last["resources"][0]["type"], "AWS::KMS::Key");
    assert_eq!(
        last["requestParameters"]["encryptionContext"]["aws:kinesisvideo:arn"],
        "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1"
    );
    assert!(humantime::parse_rfc3339(last["eventTime"].as_str().unwrap()).is_ok());
    assert_ne!(last["eventID"], last["requestID"]);
    let gen = &events[events.len() - 2];
    assert_eq!(gen["requestParameters"]["keyId"], arn.as_str());
    assert_eq!(gen["requestParameters"]["keySpec"], "AES_256");
    assert!(gen.get("errorCode").is_none());

    // The file has one JSON line per call, and no key bytes anywhere.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["eventName"], "Decrypt");
    let key_hex = hex::encode(g.plaintext.expose_secret());
    let key_b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        g.plaintext.expose_secret(),
    );
    assert!(!text.contains(&key_hex) && !text.contains(&key_b64));

    // Cost: 3 calls by the producer at $0.03 per 10k.
    let cost = kms.audit().cost_estimate(0.03);
    let c = cost[&producer];
    assert!((c - 3.0 * 0.03 / 10_000.0).abs() < 1e-12, "{c}");
}

#[test]
fn audit_memory_is_bounded() {
    let kms = LocalKms::builder(REGION, ACCOUNT)
        .audit_capacity(5)
        .build()
        .unwrap();
    let arn = kms.create_key(&root(), None, "").unwrap().arn;
    for _ in 0..20 {
        kms.describe_key(&root(), &arn).unwrap();
    }
    assert_eq!(kms.audit().events().len(), 5);
    assert_eq!(kms.audit().dropped(), 16);
    assert_eq!(kms.audit().count(&root(), Operation::DescribeKey), 20);
    kms.audit().set_capacity(2);
    assert_eq!(kms.audit().events().len(), 2);
}

#[test]
fn builder_audit_file_and_via_service_in_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let kms = Arc::new(
        LocalKms::builder(REGION, ACCOUNT)
            .audit_file(&path)
            .build()
            .unwrap(),
    );
    let kvs = kms.via_service("kinesisvideo");
    kvs.generate_data_key(
        &role("producer"),
        KINESIS_VIDEO_ALIAS,
        DataKeySpec::Aes256,
        &ec(),
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let ev: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(ev["eventName"], "GenerateDataKey");
    assert_eq!(ev["userIdentity"]["invokedBy"], kvs.service());
    assert_eq!(ev["requestParameters"]["keyId"], KINESIS_VIDEO_ALIAS);
    assert!(ev.get("errorCode").is_none());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let missing_dir = dir.path().join("no/such/dir/audit.jsonl");
    let e = LocalKms::builder(REGION, ACCOUNT)
        .audit_file(missing_dir)
        .build()
        .unwrap_err();
    assert!(matches!(e, SetupError::Io { .. }), "{e}");
}

// ---- The audit trail fails closed (issue 11, item 6) ----

#[cfg(target_os = "linux")]
#[test]
fn audit_log_on_dev_full_fails() {
    // The attack (or accident): the audit log cannot be written. Every call must fail, and a
    // data key must not be handed out unaudited.
    let kms = LocalKms::builder(REGION, ACCOUNT)
        .audit_file("/dev/full")
        .build()
        .expect("/dev/full opens; writes to it fail");
    let e = kms.create_key(&root(), None, "k").unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AuditFailure, "{e}");
    assert_eq!(e.code(), "KMSInternalException");
    assert!(e.message().contains("could not be written"), "{e}");
    assert!(!e.is_retryable());
    // The key was created (management calls take effect before their record), but its data
    // keys are withheld.
    kms.audit().set_file(None).unwrap();
    let key = kms
        .list_keys(&root())
        .unwrap()
        .pop()
        .expect("the key exists");
    kms.audit()
        .set_file(Some(std::path::Path::new("/dev/full")))
        .unwrap();
    for r in [
        kms.generate_data_key(&root(), &key, DataKeySpec::Aes256, &ec())
            .map(|_| ()),
        kms.encrypt(&root(), &key, &[1; 32], &ec()).map(|_| ()),
        kms.describe_key(&root(), &key).map(|_| ()),
    ] {
        assert_eq!(r.unwrap_err().kind(), KmsErrorKind::AuditFailure);
    }
    assert!(kms.audit().file_errors() >= 4);
    // The in-memory log still has every event.
    assert_eq!(kms.audit().count(&root(), Operation::GenerateDataKey), 1);
}

#[cfg(unix)]
#[test]
fn audit_log_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let link = dir.path().join("audit.jsonl");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    // Through the builder and through set_file.
    let e = LocalKms::builder(REGION, ACCOUNT)
        .audit_file(&link)
        .build()
        .unwrap_err();
    assert!(matches!(e, SetupError::Io { .. }), "{e}");
    let kms = LocalKms::new(REGION, ACCOUNT);
    let e = kms.audit().set_file(Some(&link)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("symbolic link"), "{e}");
    kms.create_key(&root(), None, "k").unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    // A dangling link is not followed to create its target either.
    let target = dir.path().join("created-through-link");
    let dangling = dir.path().join("dangling.jsonl");
    std::os::unix::fs::symlink(&target, &dangling).unwrap();
    assert!(kms.audit().set_file(Some(&dangling)).is_err());
    assert!(!target.exists());
    // A regular file is appended to, created 0600 when missing.
    let real = dir.path().join("real.jsonl");
    kms.audit().set_file(Some(&real)).unwrap();
    kms.list_keys(&root()).unwrap();
    kms.audit().set_file(Some(&real)).unwrap();
    kms.list_keys(&root()).unwrap();
    assert_eq!(std::fs::read_to_string(&real).unwrap().lines().count(), 2);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn newline_in_principal_cannot_forge_audit_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let kms = LocalKms::builder(REGION, ACCOUNT)
        .audit_file(&path)
        .build()
        .unwrap();
    kms.create_key(&root(), None, "k").unwrap();
    let forged_line = r#"{"eventName":"Decrypt","userIdentity":{"arn":"arn:aws:iam::111122223333:role/consumer"}}"#;
    for (principal, akid) in [
        (
            format!("arn:aws:iam::{ACCOUNT}:root\n{forged_line}"),
            "AKIAROOT".to_owned(),
        ),
        (
            format!("arn:aws:iam::{ACCOUNT}:root"),
            format!("AKIA\r{forged_line}"),
        ),
        (
            format!("arn:aws:iam::{ACCOUNT}:root\u{1b}[1A\u{1b}[2K"),
            "AKIAROOT".to_owned(),
        ),
    ] {
        // Refused where it is built: no credential holding a control character exists, so
        // none reaches the KMS or its audit trail.
        let e = Credential::new(ACCOUNT, principal, akid).unwrap_err();
        assert!(matches!(e, CredentialError::ControlCharacter { .. }), "{e}");
        assert!(e.to_string().contains("control character"), "{e}");
        assert!(!e.to_string().chars().any(char::is_control), "{e}");
    }
    // No recorded identity holds a control character; each record is one line.
    for ev in kms.audit().events() {
        for field in [
            ev.caller.account(),
            ev.caller.principal_arn(),
            ev.caller.access_key_id(),
        ] {
            assert!(!field.chars().any(char::is_control), "{field:?}");
        }
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1, "CreateKey only");
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let arn = v["userIdentity"]["arn"].as_str().unwrap();
        assert!(!arn.chars().any(char::is_control), "{arn:?}");
    }
}

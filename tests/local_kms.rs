//! LocalKms behaviour: keys, aliases, states, ciphertext blob, authorization, audit, quota,
//! faults and persistence.
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::kms::local::{
    audit::Operation, FaultConfig, LocalKms, ManualClock, Outage, QuotaConfig, SetupError,
    KINESIS_VIDEO_ALIAS,
};
use fragseal::kms::{
    Credential, CredentialError, DataKeySpec, KeyState, Kms, KmsErrorKind, MAX_ENCRYPT_PLAINTEXT,
};
use fragseal::EncryptionContext;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";
const OTHER: &str = "444455556666";

fn root() -> Credential {
    Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap()
}

fn role(name: &str) -> Credential {
    Credential::new(
        ACCOUNT,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/{name}/session-1"),
        format!("ASIA{}", name.to_uppercase()),
    )
    .unwrap()
}

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn ec() -> EncryptionContext {
    EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1",
    )
}

fn allow(action: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
    )
}

fn clock_at(secs: u64) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
    ))
}

/// A KMS with one customer key (default policy) and producer/consumer roles.
fn setup() -> (Arc<LocalKms>, String) {
    let kms = Arc::new(LocalKms::new(REGION, ACCOUNT));
    let key = kms.create_key(&root(), None, "test key").unwrap();
    kms.attach_identity_policy(&role_arn("producer"), &allow("kms:GenerateDataKey"))
        .unwrap();
    kms.attach_identity_policy(&role_arn("consumer"), &allow("kms:Decrypt"))
        .unwrap();
    (kms, key.arn)
}

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

#[test]
fn management_calls_are_authorized() {
    let (kms, arn) = setup();
    let admin = role("admin");
    let e = kms.create_key(&admin, None, "x").unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    let e = kms.list_keys(&admin).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    let e = kms.disable_key(&admin, &arn).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    kms.attach_identity_policy(
        &role_arn("admin"),
        r#"{"Statement":{"Effect":"Allow","Action":["kms:Create*","kms:List*","kms:Describe*","kms:DisableKey","kms:EnableKey","kms:GetKeyPolicy","kms:PutKeyPolicy"],"Resource":"*"}}"#,
    )
    .unwrap();
    let k = kms.create_key(&admin, None, "by admin").unwrap();
    assert_eq!(kms.list_keys(&admin).unwrap().len(), 2);
    kms.disable_key(&admin, &arn).unwrap();
    kms.enable_key(&admin, &arn).unwrap();
    let e = kms.schedule_key_deletion(&admin, &arn, 7).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    // A key policy that no longer delegates to the account locks the admin out.
    let only_root = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*","Condition":{{"StringEquals":{{"aws:PrincipalArn":"arn:aws:iam::{ACCOUNT}:root"}}}}}}]}}"#
    );
    kms.put_key_policy(&admin, &k.arn, &only_root).unwrap();
    assert_eq!(kms.get_key_policy(&root(), &k.arn).unwrap(), only_root);
    let e = kms.describe_key(&admin, &k.arn).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    // Malformed policies name the bad element.
    let e = kms
        .put_key_policy(
            &root(),
            &k.arn,
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
        )
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::MalformedPolicyDocument);
    assert_eq!(e.code(), "MalformedPolicyDocumentException");
    assert!(e.message().contains("Statement[0].Effect"), "{e}");
    let e = kms
        .attach_identity_policy(&role_arn("x"), r#"{"Statement":[]}"#)
        .unwrap_err();
    assert!(e.message().contains("Statement"), "{e}");
}

#[test]
fn explicit_deny_in_key_policy_wins() {
    let kms = LocalKms::new(REGION, ACCOUNT);
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"{ACCOUNT}"}},"Action":"kms:*","Resource":"*"}},
            {{"Sid":"NoProducerDecrypt","Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:role/producer"}},"Action":"kms:Decrypt","Resource":"*"}}
        ]}}"#
    );
    let arn = kms.create_key(&root(), Some(&policy), "").unwrap().arn;
    kms.attach_identity_policy(&role_arn("producer"), &allow("kms:*"))
        .unwrap();
    let g = kms
        .generate_data_key(&role("producer"), &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    let e = kms
        .decrypt(&role("producer"), &g.ciphertext_blob, &ec(), None)
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert!(e.message().contains("explicit deny"), "{e}");
}

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
fn quota_throttles_per_account() {
    let clock = clock_at(1_000);
    let kms = LocalKms::builder(REGION, ACCOUNT)
        .clock(clock.clone())
        .build()
        .unwrap();
    let arn = kms.create_key(&root(), None, "").unwrap().arn;
    kms.set_quota(Some(QuotaConfig {
        requests_per_second: 10.0,
        burst: 3,
    }))
    .unwrap();
    for _ in 0..3 {
        kms.generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec())
            .unwrap();
    }
    let e = kms
        .generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::Throttling);
    assert!(e.is_retryable());
    clock.advance(Duration::from_millis(100));
    kms.generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    // Throttled calls are audited too.
    let events = kms.audit().events_json();
    assert!(events
        .iter()
        .any(|e| e["errorCode"] == "ThrottlingException"));
    kms.set_quota(None).unwrap();
    for _ in 0..10 {
        kms.generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec())
            .unwrap();
    }
}

#[test]
fn faults_outage_window_and_seeded_error_rate() {
    let clock = clock_at(10_000);
    let kms = LocalKms::builder(REGION, ACCOUNT)
        .clock(clock.clone())
        .build()
        .unwrap();
    let arn = kms.create_key(&root(), None, "").unwrap().arn;
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(10_060);
    kms.set_faults(FaultConfig {
        outages: vec![Outage {
            start,
            end: start + Duration::from_secs(60),
            kind: KmsErrorKind::Transport,
        }],
        ..FaultConfig::default()
    })
    .unwrap();
    let call = || kms.generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec());
    call().unwrap();
    clock.advance(Duration::from_secs(60));
    assert_eq!(call().unwrap_err().kind(), KmsErrorKind::Transport);
    assert_eq!(
        kms.describe_key(&root(), &arn).unwrap_err().kind(),
        KmsErrorKind::Transport
    );
    clock.advance(Duration::from_secs(60));
    call().unwrap();

    let cfg = FaultConfig {
        error_rate: 0.5,
        error_kind: KmsErrorKind::Internal,
        seed: 7,
        ..FaultConfig::default()
    };
    kms.set_faults(cfg.clone()).unwrap();
    let first: Vec<bool> = (0..64).map(|_| call().is_err()).collect();
    kms.set_faults(cfg).unwrap();
    let second: Vec<bool> = (0..64).map(|_| call().is_err()).collect();
    assert_eq!(first, second);
    assert!(first.iter().any(|x| *x) && first.iter().any(|x| !*x));

    kms.set_faults(FaultConfig {
        latency: Duration::from_millis(20),
        ..FaultConfig::default()
    })
    .unwrap();
    let t = std::time::Instant::now();
    call().unwrap();
    assert!(t.elapsed() >= Duration::from_millis(20));
    kms.set_faults(FaultConfig::default()).unwrap();
}

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

#[test]
fn other_accounts_may_only_use_the_key() {
    let kms = LocalKms::new(REGION, ACCOUNT);
    let policy = format!(
        r#"{{"Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":{{"AWS":"{OTHER}"}},"Action":"kms:*","Resource":"*"}}
        ]}}"#
    );
    let arn = kms
        .create_key(&root(), Some(&policy), "shared")
        .unwrap()
        .arn;
    let partner_arn = format!("arn:aws:iam::{OTHER}:user/analyst");
    let partner = Credential::new(OTHER, &partner_arn, "AKIAPARTNER").unwrap();
    // Without an identity policy of its own: denied.
    let e = kms
        .generate_data_key(&partner, &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    kms.attach_identity_policy(&partner_arn, &allow("kms:*"))
        .unwrap();
    let g = kms
        .generate_data_key(&partner, &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    kms.decrypt(&partner, &g.ciphertext_blob, &ec(), Some(&arn))
        .unwrap();
    kms.describe_key(&partner, &arn).unwrap();
    // Management across accounts has no effect, whatever the policies say.
    for e in [
        kms.disable_key(&partner, &arn).unwrap_err(),
        kms.schedule_key_deletion(&partner, &arn, 7)
            .map(|_| ())
            .unwrap_err(),
        kms.put_key_policy(&partner, &arn, &policy).unwrap_err(),
        kms.get_key_policy(&partner, &arn).map(|_| ()).unwrap_err(),
        kms.create_key(&partner, None, "").map(|_| ()).unwrap_err(),
        kms.list_keys(&partner).map(|_| ()).unwrap_err(),
    ] {
        assert_eq!(e.kind(), KmsErrorKind::AccessDenied, "{e}");
    }
    // Throttling counts against the calling account.
    kms.set_quota(Some(QuotaConfig {
        requests_per_second: 0.001,
        burst: 1,
    }))
    .unwrap();
    kms.generate_data_key(&partner, &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    let e = kms
        .generate_data_key(&partner, &arn, DataKeySpec::Aes256, &ec())
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::Throttling);
    kms.generate_data_key(&root(), &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
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

// ---- Per-credential memory is bounded (issue 10 §6) ----

#[test]
fn rotating_session_credentials_do_not_grow_audit_counts_or_quota_buckets() {
    let (kms, key) = setup();
    kms.audit().set_counted_credentials(100);
    // A burst far above the calls made: nothing here depends on the time.
    kms.set_quota(Some(QuotaConfig {
        requests_per_second: 1.0,
        burst: 100_000,
    }))
    .unwrap();
    let session = |i: u32| {
        Credential::new(
            ACCOUNT,
            format!("arn:aws:sts::{ACCOUNT}:assumed-role/producer/session-{i}"),
            format!("ASIASESSION{i}"),
        )
        .unwrap()
    };
    for i in 0..1000 {
        kms.generate_data_key(&session(i), &key, DataKeySpec::Aes256, &ec())
            .unwrap();
        assert!(kms.audit().counted_credentials() <= 100);
    }
    // The newest are counted apart, the oldest were evicted into the totals.
    assert_eq!(
        kms.audit().count(&session(999), Operation::GenerateDataKey),
        1
    );
    assert_eq!(
        kms.audit().count(&session(0), Operation::GenerateDataKey),
        0
    );
    assert_eq!(
        kms.audit().count_operation(Operation::GenerateDataKey),
        1000
    );
    let (evicted, n) = kms.audit().evicted_counts();
    // The 900 oldest sessions and root (setup's CreateKey).
    assert_eq!(n, 901);
    assert_eq!(evicted.get(&Operation::GenerateDataKey), Some(&900));
    assert_eq!(evicted.get(&Operation::CreateKey), Some(&1));
    assert_eq!(kms.audit().counts().len(), 100);
    // A credential that keeps calling stays counted however many others come and go.
    kms.generate_data_key(&role("producer"), &key, DataKeySpec::Aes256, &ec())
        .unwrap();
    for i in 1000..1200 {
        kms.generate_data_key(&session(i), &key, DataKeySpec::Aes256, &ec())
            .unwrap();
        if i % 50 == 0 {
            kms.generate_data_key(&role("producer"), &key, DataKeySpec::Aes256, &ec())
                .unwrap();
        }
    }
    assert_eq!(
        kms.audit()
            .count(&role("producer"), Operation::GenerateDataKey),
        5
    );
    // Quota buckets are per account: one here, however many sessions.
    assert_eq!(kms.quota_accounts(), 1);
}

#[test]
fn callers_naming_ever_new_accounts_do_not_grow_quota_buckets() {
    let kms = LocalKms::new(REGION, ACCOUNT);
    kms.set_quota(Some(QuotaConfig {
        requests_per_second: 1.0,
        burst: 5,
    }))
    .unwrap();
    let blob = [0u8; 8];
    for i in 0..(fragseal::kms::local::quota::MAX_BUCKETS + 500) {
        let account = format!("{:012}", 100_000_000_000u64 + i as u64);
        let c = Credential::new(
            account.clone(),
            format!("arn:aws:iam::{account}:root"),
            "AKIAX",
        )
        .unwrap();
        // Garbage ciphertext: quota is taken, then the blob is refused.
        let e = kms.decrypt(&c, &blob, &ec(), None).unwrap_err();
        assert_eq!(e.kind(), KmsErrorKind::InvalidCiphertext);
    }
    assert!(kms.quota_accounts() <= fragseal::kms::local::quota::MAX_BUCKETS);
}

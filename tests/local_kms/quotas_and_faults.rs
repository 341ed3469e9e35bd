//! Per-account quotas, injected faults, and per-credential memory that stays bounded.

use super::*;

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

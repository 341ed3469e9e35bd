//! A key disabled, or a policy changed, in the middle of a stream: sealing stops at the
//! cached key's limits.

use super::*;

// ---------------------------------------------------------------------------------------------
// Revocation mid-stream: a disabled key, a policy that now denies the producer
// ---------------------------------------------------------------------------------------------

const MAX_FRAGMENTS: u64 = 5;

/// A producer engine whose cache serves each data key for at most 5 fragments and 60 s, with
/// refresh-ahead off (so the cached key's remaining budget is exact) and the cache on a manual
/// clock.
fn producer_engine(
    kms: &Arc<LocalKms>,
    key: &str,
    refresh_ahead: f64,
) -> (Engine, Arc<CacheClock>) {
    let clock = Arc::new(CacheClock::new());
    let engine = Engine::with_clock(
        keyring(kms.clone(), key),
        EngineConfig::default()
            .with_frame_length(32)
            .with_retry(fast_retry(4))
            .with_cache(
                CacheLimits::default()
                    .with_max_fragments(MAX_FRAGMENTS)
                    .with_max_age(Duration::from_secs(60))
                    .with_refresh_ahead(refresh_ahead),
            ),
        clock.clone(),
    )
    .unwrap();
    (engine, clock)
}

/// The encrypted data key's ciphertext (the KMS blob) of a sealed message.
fn edk_blob(m: &[u8]) -> Vec<u8> {
    let h = message::parse(m, &OpenLimits::default()).unwrap();
    h.header().encrypted_data_keys()[0].ciphertext.clone()
}

/// Index in the audit trail of the first event of `op`.
fn audit_index(kms: &LocalKms, op: Operation) -> usize {
    kms.audit()
        .events()
        .iter()
        .position(|e| e.operation == op)
        .unwrap()
}

/// After audit event `from`, no GenerateDataKey by `who` succeeded.
fn assert_no_key_generated_after(kms: &LocalKms, who: &Credential, from: usize) {
    for e in kms.audit().events().iter().skip(from) {
        if &e.caller == who && e.operation == Operation::GenerateDataKey {
            assert!(
                e.is_error(),
                "a data key was generated after revocation: {e:?}"
            );
        }
    }
}

/// Seals fragments `range` one by one (a stream), returning the sealed ones in order and the
/// first failure.
fn seal_stream(
    engine: &Engine,
    p: &Credential,
    _key: &str,
    range: std::ops::Range<usize>,
) -> (Sealed, Option<(usize, SealError)>) {
    let mut ok = Vec::new();
    for i in range {
        match engine.seal(p, &SealRequest::new(ec(), fragment(i))) {
            Ok(m) => ok.push((i, m)),
            Err(e) => return (ok, Some((i, e))),
        }
    }
    (ok, None)
}

#[test]
fn key_disabled_mid_stream_seals_only_within_the_cached_keys_limits() {
    let (kms, key) = setup(None);
    let p = role("producer");
    let (engine, _clock) = producer_engine(&kms, &key, 1.0);
    // 8 fragments: data key 1 serves 0..5, data key 2 serves 5..8 (2 uses left).
    let (before, err) = seal_stream(&engine, &p, &key, 0..8);
    assert!(err.is_none());
    let last_blob = edk_blob(&before[7].1);
    kms.disable_key(&root(), &key).unwrap();
    let disabled_at = audit_index(&kms, Operation::DisableKey);
    // The stream goes on: exactly the 2 fragments data key 2 still had, then Disabled.
    let (after, err) = seal_stream(&engine, &p, &key, 8..100);
    assert_eq!(
        after.len(),
        2,
        "sealed beyond the cached key's fragment limit"
    );
    for (_, m) in &after {
        assert_eq!(
            edk_blob(m),
            last_blob,
            "sealed with a key obtained after disabling"
        );
    }
    let (failed_at, e) = err.unwrap();
    assert_eq!(failed_at, 10);
    assert_eq!(kms_error(&e), KmsErrorKind::Disabled);
    // Disabled is final: one call, not retried.
    let gen_after: Vec<_> = kms.audit().events()[disabled_at..]
        .iter()
        .filter(|e| e.operation == Operation::GenerateDataKey)
        .cloned()
        .collect();
    assert_eq!(gen_after.len(), 1);
    assert_no_key_generated_after(&kms, &p, disabled_at);

    // A batch now: every fragment is handed back intact, none sealed.
    let input = requests(&key, 8, |_| ec());
    let (ok, failed) = account_for(&input, &p, engine.seal_batch(&p, input.clone()));
    assert!(ok.is_empty());
    for (_, f) in &failed {
        assert_eq!(kms_error(&f.error), KmsErrorKind::Disabled);
    }
    assert_counters_match_audit(&engine, &kms, &p);

    // Opening: a consumer with nothing cached cannot decrypt while the key is disabled; the
    // producer's engine has no opening entry either (sealing and opening entries are separate).
    let c = role("consumer");
    let consumer = Engine::new(keyring(kms.clone(), &key), EngineConfig::default()).unwrap();
    for (_, m) in before.iter().chain(&after) {
        let e = consumer
            .open(&c, &OpenRequest::new(m.clone(), IdentityCheck::Skip))
            .unwrap_err();
        assert_eq!(kms_error(&e), KmsErrorKind::Disabled);
    }
    // Re-enabled: everything sealed opens, and the handed-back fragments seal as they are.
    kms.enable_key(&root(), &key).unwrap();
    let all: Vec<(usize, Bytes)> = before.into_iter().chain(after).collect();
    let stream_input = requests(&key, 10, |_| ec());
    assert_open_to_input(&consumer, &c, &stream_input, &all);
    let retried: Vec<SealRequest> = failed.iter().map(|(_, f)| f.request.clone()).collect();
    let (ok2, failed2) = account_for(&retried, &p, engine.seal_batch(&p, retried.clone()));
    assert!(failed2.is_empty());
    assert_open_to_input(&consumer, &c, &retried, &ok2);
}

#[test]
fn key_disabled_mid_stream_the_cached_key_also_stops_at_its_max_age() {
    let (kms, key) = setup(None);
    let p = role("producer");
    let (engine, clock) = producer_engine(&kms, &key, 1.0);
    let (before, _) = seal_stream(&engine, &p, &key, 0..1);
    kms.disable_key(&root(), &key).unwrap();
    let disabled_at = audit_index(&kms, Operation::DisableKey);
    // Within its age the cached key still seals (up to its fragment limit)...
    clock.advance(Duration::from_secs(59));
    let (ok, err) = seal_stream(&engine, &p, &key, 1..2);
    assert_eq!(ok.len(), 1);
    assert!(err.is_none());
    assert_eq!(edk_blob(&ok[0].1), edk_blob(&before[0].1));
    // ...and at its age nothing more, even though it has fragments left.
    clock.advance(Duration::from_secs(1));
    let (ok, err) = seal_stream(&engine, &p, &key, 2..3);
    assert!(ok.is_empty());
    assert_eq!(kms_error(&err.unwrap().1), KmsErrorKind::Disabled);
    assert_no_key_generated_after(&kms, &p, disabled_at);
}

#[test]
fn key_disabled_with_refresh_ahead_on_still_stops_at_the_limits() {
    // Refresh-ahead (default 0.95) tries to replace the key early; the refresh fails (Disabled)
    // and is not the caller's failure, so the current key keeps serving — only within its
    // limits.
    let (kms, key) = setup(None);
    let p = role("producer");
    let (engine, _clock) = producer_engine(&kms, &key, 0.5);
    let (before, _) = seal_stream(&engine, &p, &key, 0..2);
    kms.disable_key(&root(), &key).unwrap();
    let disabled_at = audit_index(&kms, Operation::DisableKey);
    let (after, err) = seal_stream(&engine, &p, &key, 2..100);
    // Key 1 (fragments 0, 1) is due for refresh at its 3rd use (half of 5, rounded up): that
    // use is served and the refresh fails (Disabled); the cache clock does not move, so no
    // refresh is tried again. Uses 4 and 5 are served; the 6th needs a new key: Disabled.
    assert_eq!(
        after.len(),
        3,
        "sealed beyond the cached key's fragment limit"
    );
    let first_blob = edk_blob(&before[0].1);
    for (_, m) in before.iter().chain(&after) {
        assert_eq!(edk_blob(m), first_blob, "one data key for the whole stream");
    }
    let (failed_at, e) = err.unwrap();
    assert_eq!(failed_at, 5);
    assert_eq!(kms_error(&e), KmsErrorKind::Disabled);
    // Two calls after the disable (the failed refresh, the failed fetch), both refused.
    let gen_after = kms.audit().events()[disabled_at..]
        .iter()
        .filter(|e| e.operation == Operation::GenerateDataKey)
        .count();
    assert_eq!(gen_after, 2);
    assert_no_key_generated_after(&kms, &p, disabled_at);
    assert_counters_match_audit(&engine, &kms, &p);
}

#[test]
fn policy_changed_mid_stream_to_deny_the_producer() {
    let (kms, key) = setup(None);
    let p = role("producer");
    let c = role("consumer");
    let (engine, _clock) = producer_engine(&kms, &key, 1.0);
    // 3 fragments: the cached data key has 2 uses left.
    let (before, err) = seal_stream(&engine, &p, &key, 0..3);
    assert!(err.is_none());
    let original_policy = kms.get_key_policy(&root(), &key).unwrap();
    // The key policy now also denies the producer role GenerateDataKey (explicit deny wins
    // over its identity policy); Decrypt stays allowed.
    let deny = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "Producer revoked",
                "Effect": "Deny",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/producer")},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*"
            }
        ]
    })
    .to_string();
    kms.put_key_policy(&root(), &key, &deny).unwrap();
    let changed_at = audit_index(&kms, Operation::PutKeyPolicy);
    let (after, err) = seal_stream(&engine, &p, &key, 3..100);
    assert_eq!(
        after.len(),
        2,
        "sealed beyond the cached key's fragment limit"
    );
    let last_blob = edk_blob(&before[2].1);
    for (_, m) in &after {
        assert_eq!(edk_blob(m), last_blob);
    }
    let (failed_at, e) = err.unwrap();
    assert_eq!(failed_at, 5);
    assert_eq!(kms_error(&e), KmsErrorKind::AccessDenied);
    assert_no_key_generated_after(&kms, &p, changed_at);
    // AccessDenied is final: not retried.
    let gen_after = kms.audit().events()[changed_at..]
        .iter()
        .filter(|e| e.operation == Operation::GenerateDataKey)
        .count();
    assert_eq!(gen_after, 1);
    // A batch: all handed back intact.
    let input = requests(&key, 6, |_| ec());
    let (ok, failed) = account_for(&input, &p, engine.seal_batch(&p, input.clone()));
    assert!(ok.is_empty());
    for (_, f) in &failed {
        assert_eq!(kms_error(&f.error), KmsErrorKind::AccessDenied);
    }
    assert_counters_match_audit(&engine, &kms, &p);
    // The consumer still opens everything that was sealed (Decrypt is not denied).
    let consumer = Engine::new(keyring(kms.clone(), &key), EngineConfig::default()).unwrap();
    let all: Vec<(usize, Bytes)> = before.into_iter().chain(after).collect();
    assert_open_to_input(&consumer, &c, &requests(&key, 5, |_| ec()), &all);
    // Policy restored: the handed-back fragments seal as they are.
    kms.put_key_policy(&root(), &key, &original_policy).unwrap();
    let retried: Vec<SealRequest> = failed.iter().map(|(_, f)| f.request.clone()).collect();
    let (ok2, failed2) = account_for(&retried, &p, engine.seal_batch(&p, retried.clone()));
    assert!(failed2.is_empty());
    assert_open_to_input(&consumer, &c, &retried, &ok2);
}

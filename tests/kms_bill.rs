//! The KMS bill with the data-key cache (docs/AWS.md, "What a KMS bill looks like"): one hour of
//! a live stream — a 2-second fragment sealed by a producer credential and opened right away by a
//! consumer credential — on a manual clock, counting the KMS calls each side makes.

use fragseal::cache::{CacheLimits, ManualClock};
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::identity::IdentityCheck;
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::LocalKms;
use fragseal::kms::Credential;
use fragseal::EncryptionContext;
use std::sync::Arc;
use std::time::Duration;

const ACCOUNT: &str = "111122223333";

/// (GenerateDataKey calls, Decrypt calls) for one hour of 2-second fragments.
fn one_hour(limits: CacheLimits) -> (u64, u64) {
    let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    let producer =
        Credential::new(ACCOUNT, root.clone(), "AKIDPRODUCER").expect("a valid credential");
    let consumer = Credential::new(ACCOUNT, root, "AKIDCONSUMER").expect("a valid credential");
    let key = kms.create_key(&producer, None, "bill").expect("key").arn;
    let clock = Arc::new(ManualClock::new());
    let config = EngineConfig::default().with_cache(limits);
    let keyring = Arc::new(KmsKeyring::strict(kms, &producer, &[&key]).expect("keyring"));
    let sealer =
        Engine::with_clock(keyring.clone(), config.clone(), clock.clone()).expect("engine");
    let opener = Engine::with_clock(keyring, config, clock.clone()).expect("engine");
    let ec = EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:111122223333:stream/bill/1",
    );
    for _ in 0..1800 {
        let sealed = sealer
            .seal(&producer, &SealRequest::new(ec.clone(), vec![0u8; 64]))
            .expect("seal");
        opener
            .open(&consumer, &OpenRequest::new(sealed, IdentityCheck::Skip))
            .expect("open");
        clock.advance(Duration::from_secs(2));
    }
    let seal_calls = sealer.stats(&producer).expect("stats").kms_calls;
    let open_calls = opener.stats(&consumer).expect("stats").kms_calls;
    // Each credential only ever calls KMS for itself.
    assert_eq!(sealer.stats(&consumer).expect("stats").kms_calls, 0);
    assert_eq!(opener.stats(&producer).expect("stats").kms_calls, 0);
    (seal_calls, open_calls)
}

#[test]
fn one_hour_live_stream_default_limits() {
    let (seal, open) = one_hour(CacheLimits::default());
    println!("default limits: {seal} GenerateDataKey, {open} Decrypt per hour");
    // max_age 5 min with refresh ahead at 95 %: a new data key every 285 s, i.e. 13 per hour
    // (the first at t = 0); the consumer decrypts each data key once, plus at most one refresh
    // per key when its own entry reaches the refresh point while that key is still in use.
    assert_eq!(seal, 13);
    assert!((13..=15).contains(&open), "Decrypt calls: {open}");
}

#[test]
fn one_hour_live_stream_without_refresh_ahead() {
    let limits = CacheLimits::default().with_refresh_ahead(1.0);
    let (seal, open) = one_hour(limits);
    println!("no refresh-ahead: {seal} GenerateDataKey, {open} Decrypt per hour");
    assert_eq!(seal, 12);
    assert_eq!(open, 12);
}

#[test]
fn one_hour_live_stream_fifteen_minute_keys() {
    let (seal, open) = one_hour(CacheLimits::default().with_max_age(Duration::from_secs(900)));
    println!("max_age 15 min: {seal} GenerateDataKey, {open} Decrypt per hour");
    // A new data key every 0.95 × 900 = 855 s: at 0, 855, 1710, 2565 and 3420 s.
    assert_eq!(seal, 5);
    assert!((5..=6).contains(&open), "Decrypt calls: {open}");
}

#[test]
fn one_hour_without_cache_is_one_call_per_fragment() {
    let (seal, open) = one_hour(CacheLimits::disabled());
    assert_eq!((seal, open), (1800, 1800));
}

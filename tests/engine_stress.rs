//! Stress: 8 threads × 10,000 fragments with mixed credentials and small cache limits (so keys
//! rotate, entries are evicted and misses race each other); every open must equal the original,
//! and the engine's KMS call counters must agree with LocalKms's audit trail.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use bytes::Bytes;
use fragseal::cache::CacheLimits;
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::{audit::Operation, LocalKms};
use fragseal::kms::Credential;
use fragseal::EncryptionContext;
use std::sync::Arc;
use std::thread;

const ACCOUNT: &str = "111122223333";
const THREADS: usize = 8;
const PER_THREAD: usize = 10_000;
const CREDENTIALS: usize = 4;
const STREAMS: usize = 3;

#[test]
fn eight_threads_ten_thousand_fragments_mixed_credentials() {
    let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
    let root =
        Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap();
    let key = kms.create_key(&root, None, "stress").unwrap().arn;
    kms.attach_identity_policy(
        &format!("arn:aws:iam::{ACCOUNT}:role/agent"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"*"}]}"#,
    )
    .unwrap();
    let creds: Vec<Credential> = (0..CREDENTIALS)
        .map(|i| {
            Credential::new(
                ACCOUNT,
                format!("arn:aws:sts::{ACCOUNT}:assumed-role/agent/session-{i}"),
                format!("ASIAAGENT{i}"),
            )
            .unwrap()
        })
        .collect();
    let streams: Vec<String> = (0..STREAMS)
        .map(|s| format!("arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/cam-{s}/1"))
        .collect();
    // Small limits: each data key serves 300 fragments or 64 KiB, so keys rotate about every 300
    // fragments and stale opening entries are evicted from the 64 slots.
    let keyring = KmsKeyring::strict(kms.clone(), &root, &[&key]).unwrap();
    let engine = Engine::new(
        Arc::new(keyring),
        EngineConfig::default().with_frame_length(128).with_cache(
            CacheLimits::default()
                .with_max_fragments(300)
                .with_max_bytes(64 * 1024)
                .with_capacity(64),
        ),
    )
    .unwrap();

    thread::scope(|s| {
        for t in 0..THREADS {
            let (engine, creds, streams) = (&engine, &creds, &streams);
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let n = t * PER_THREAD + i;
                    let sealer = &creds[n % CREDENTIALS];
                    let opener = &creds[(n / CREDENTIALS + t) % CREDENTIALS];
                    let stream = &streams[(n / 7) % STREAMS];
                    let len = (n * 37) % 400;
                    let plaintext: Bytes = (0..len).map(|j| (n ^ j) as u8).collect();
                    let identity = FragmentIdentity {
                        stream_arn: stream.clone(),
                        fragment_number: n as u64,
                        producer_timestamp_ms: n as u64 * 200,
                        track: 1,
                    };
                    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", stream);
                    let req =
                        SealRequest::new(ec, plaintext.clone()).with_identity(identity.clone());
                    let sealed = engine.seal(sealer, &req).unwrap();
                    let request = OpenRequest::new(sealed, IdentityCheck::Expect(identity));
                    let opened = engine.open(opener, &request).unwrap();
                    assert_eq!(opened.plaintext, plaintext, "fragment {n}");
                }
            });
        }
    });

    let total = (THREADS * PER_THREAD) as u64;
    let mut sealed = 0;
    let mut opened = 0;
    for c in &creds {
        let st = engine.stats(c).unwrap();
        sealed += st.fragments_sealed;
        opened += st.fragments_opened;
        assert_eq!(st.seal_failures + st.open_failures, 0);
        let audited = kms.audit().count(c, Operation::GenerateDataKey)
            + kms.audit().count(c, Operation::Decrypt);
        assert_eq!(st.kms_calls, audited, "{c:?}");
        // The cache did its job: far fewer KMS calls than fragments.
        assert!(st.kms_calls < st.fragments_sealed / 10, "{st:?}");
    }
    assert_eq!((sealed, opened), (total, total));
}

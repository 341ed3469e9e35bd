//! LocalKms GenerateDataKey and Decrypt with a policy check (target: median ≤ 20 µs).
//!
//! Baselines in the same run: the AES-256-GCM seal of a 32-byte data key alone (ring), and the
//! policy decision alone. Report each KMS call as a ratio to these.
//!
//! Run: `cargo bench --bench local_kms`.
#![allow(clippy::unwrap_used, reason = "bench set-up")]
#![allow(
    missing_docs,
    reason = "criterion_group! generates undocumented functions"
)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fragseal::kms::local::policy::{authorize, Policy, PolicyKind, Request, RequestContext};
use fragseal::kms::local::LocalKms;
use fragseal::kms::{Credential, DataKeySpec, Kms};
use fragseal::EncryptionContext;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::sync::Arc;
use std::time::Duration;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";

fn bench(c: &mut Criterion) {
    let kms = Arc::new(LocalKms::new(REGION, ACCOUNT));
    // Keep the in-memory audit log small so the bench measures calls, not memory growth.
    kms.audit().set_capacity(1024);
    let root =
        Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap();
    // A key policy with conditions on the encryption context, plus delegation to IAM.
    let key_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
          {{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
          {{"Sid":"Producer","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:role/producer"}},"Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"*",
            "Condition":{{"StringLike":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"arn:aws:kinesisvideo:{REGION}:{ACCOUNT}:stream/cam-*"}}}}}},
          {{"Sid":"NoDelete","Effect":"Deny","NotPrincipal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:ScheduleKeyDeletion","Resource":"*"}}
        ]}}"#
    );
    let key = kms.create_key(&root, Some(&key_policy), "bench").unwrap();
    let producer = Credential::new(
        ACCOUNT,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/producer/device-1"),
        "ASIAPRODUCER",
    )
    .unwrap();
    let ec = EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        format!("arn:aws:kinesisvideo:{REGION}:{ACCOUNT}:stream/cam-1/1700000000000"),
    );
    let generated = kms
        .generate_data_key(&producer, &key.arn, DataKeySpec::Aes256, &ec)
        .unwrap();

    let mut g = c.benchmark_group("local_kms");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));

    let ring_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).unwrap());
    g.bench_function("baseline/ring_seal_32B", |b| {
        b.iter(|| {
            let mut buf = [0u8; 32];
            let tag = ring_key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key([1u8; 12]),
                    Aad::from(black_box(&[0u8; 96][..])),
                    &mut buf,
                )
                .unwrap();
            black_box((buf, tag.as_ref()[0]));
        })
    });

    let policy = Policy::parse(&key_policy, PolicyKind::Key).unwrap();
    g.bench_function("baseline/policy_authorize", |b| {
        b.iter(|| {
            let req = Request {
                action: "kms:GenerateDataKey",
                resource: &key.arn,
                context: RequestContext {
                    principal_arn: producer.principal_arn(),
                    principal_account: ACCOUNT,
                    encryption_context: Some(&ec),
                    ..RequestContext::default()
                },
            };
            black_box(authorize(Some(&policy), ACCOUNT, &[], black_box(&req)))
        })
    });

    g.bench_function("generate_data_key", |b| {
        b.iter(|| {
            kms.generate_data_key(&producer, black_box(&key.arn), DataKeySpec::Aes256, &ec)
                .unwrap()
        })
    });
    g.bench_function("decrypt", |b| {
        b.iter(|| {
            kms.decrypt(
                &producer,
                black_box(&generated.ciphertext_blob),
                &ec,
                Some(&key.arn),
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

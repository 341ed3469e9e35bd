//! A simulated hour on one stream: 3 producers and 2 consumers, on a manual clock (no sleep).
//! KMS costs scale with the number of credentials (the KVS SSE page): each producer makes
//! about one `GenerateDataKey` per cache key age and each consumer about one `Decrypt` per
//! data key it meets — never one call per fragment — and the per-credential cost report says
//! so.
#![allow(clippy::unwrap_used, reason = "tests")]

mod kvs_support;

use fragseal::cache::{DEFAULT_MAX_AGE, DEFAULT_REFRESH_AHEAD};
use fragseal::kms::local::Operation;
use fragseal::kvs::get_media::StartSelector;
use fragseal::kvs::put_media::PutMediaInput;
use fragseal::kvs::{CreateStreamInput, StreamRef};
use kvs_support::*;
use std::time::Duration;

const HOUR_S: u64 = 3600;
const FRAGMENT_EVERY_S: u64 = 2;
const CONSUMER_EVERY_S: u64 = 10;

#[test]
fn a_simulated_hour_costs_kms_calls_per_credential_as_the_cache_limits_say() {
    let w = world();
    let key = w.kms.create_key(&root(), None, "cams").unwrap();
    w.kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam")
                .with_kms_key_id(&key.arn)
                .with_retention_hours(2),
        )
        .unwrap();
    allow_producer(&w.kms, "producer");
    allow_consumer(&w.kms, "consumer");
    let producers: Vec<_> = (1..=3)
        .map(|i| session("producer", &format!("cam-{i}")))
        .collect();
    let consumers: Vec<_> = (1..=2)
        .map(|i| session("consumer", &format!("viewer-{i}")))
        .collect();
    let cam = StreamRef::Name("cam".into());
    let mut tokens: Vec<Option<String>> = vec![None; consumers.len()];
    let mut opened = vec![0u64; consumers.len()];
    let t0 = 1_764_547_200_000u64;
    for tick in 0..HOUR_S / FRAGMENT_EVERY_S {
        let now_ms = t0 + tick * FRAGMENT_EVERY_S * 1000;
        for p in &producers {
            let media = live_stream(1, now_ms, 0);
            let (s, _) = put(&w.kvs, p, &PutMediaInput::absolute(cam.clone()), &media);
            assert_eq!(s.failure, None);
            assert_eq!(s.persisted, 1);
        }
        if (tick * FRAGMENT_EVERY_S) % CONSUMER_EVERY_S == CONSUMER_EVERY_S - FRAGMENT_EVERY_S {
            for (i, c) in consumers.iter().enumerate() {
                let sel = tokens[i]
                    .clone()
                    .map_or(StartSelector::Earliest, StartSelector::ContinuationToken);
                let mut out = Vec::new();
                let g = w.kvs.get_media(c, &cam, &sel, &mut out).unwrap();
                assert_eq!(g.failure, None);
                opened[i] += g.fragments;
                if g.continuation_token.is_some() {
                    tokens[i] = g.continuation_token;
                }
            }
        }
        w.clock.advance(Duration::from_secs(FRAGMENT_EVERY_S));
    }
    let fragments = HOUR_S / FRAGMENT_EVERY_S * producers.len() as u64;
    assert_eq!(
        opened,
        vec![fragments; consumers.len()],
        "every consumer read everything"
    );

    // Producers: a new data key when the cached one reaches the refresh point (95 % of the
    // 5-minute age) — between ceil(hour / max age) and ceil(hour / refresh age) keys.
    let max_age = DEFAULT_MAX_AGE.as_secs_f64();
    let lo = (HOUR_S as f64 / max_age).ceil() as u64;
    let hi = (HOUR_S as f64 / (max_age * DEFAULT_REFRESH_AHEAD)).ceil() as u64;
    let audit = w.kms.audit();
    let mut data_keys = 0;
    for p in &producers {
        let n = audit.count(p, Operation::GenerateDataKey);
        assert!(
            (lo..=hi).contains(&n),
            "{p:?}: {n} GenerateDataKey, expected {lo}..={hi}"
        );
        assert_eq!(audit.count(p, Operation::Decrypt), 0);
        data_keys += n;
    }
    // Consumers: each data key is decrypted at least once, at most once more when its cached
    // copy ages out while its fragments are still being read.
    for c in &consumers {
        let n = audit.count(c, Operation::Decrypt);
        assert!(
            (data_keys..=2 * data_keys).contains(&n),
            "{c:?}: {n} Decrypt for {data_keys} data keys"
        );
        assert_eq!(audit.count(c, Operation::GenerateDataKey), 0);
    }
    // The per-credential cost report: the engine's counters and the KMS's agree.
    let engines = w.kvs.engines().unwrap();
    assert_eq!(engines.len(), 1);
    let stats = engines[0].1.all_stats().unwrap();
    let mut report = Vec::new();
    for (cred, s) in &stats {
        let kms_calls =
            audit.count(cred, Operation::GenerateDataKey) + audit.count(cred, Operation::Decrypt);
        assert_eq!(s.kms_calls, kms_calls, "{cred:?}");
        report.push(format!(
            "{:<60} kms_calls={:>3} sealed={:>5} opened={:>5}",
            cred.principal_arn(),
            s.kms_calls,
            s.fragments_sealed,
            s.fragments_opened
        ));
    }
    assert_eq!(
        stats.len(),
        producers.len() + consumers.len(),
        "{:?}",
        stats
            .iter()
            .map(|(c, _)| c.principal_arn())
            .collect::<Vec<_>>()
    );
    // The KMS's own per-credential cost estimate (USD 0.03 per 10,000 requests) names every
    // producer and consumer (and the administrator's CreateKey).
    let cost = audit.cost_estimate(0.03);
    for c in producers.iter().chain(&consumers) {
        let usd = cost.get(c).copied().unwrap_or_default();
        assert!(usd > 0.0, "{c:?}");
        report.push(format!("{:<60} estimated USD {usd:.6}", c.principal_arn()));
    }
    println!(
        "per-credential KMS cost over the hour:\n{}",
        report.join("\n")
    );
    let total: u64 = stats.iter().map(|(_, s)| s.kms_calls).sum();
    assert!(
        total * 20 < fragments,
        "{total} KMS calls for {fragments} fragments"
    );
}

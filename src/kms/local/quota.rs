//! A request-rate quota per account: a token bucket answering `ThrottlingException`.
//!
//! AWS KMS applies a shared per-account quota to cryptographic operations; the local KMS
//! applies this bucket to `GenerateDataKey` and `Decrypt` and counts each call against the
//! caller's account.
//!
//! The buckets are bounded: at most [`MAX_BUCKETS`] accounts have one. A bucket that has refilled
//! to its burst is the same as a new one, so when a new account would exceed the bound, the full
//! buckets are dropped first; if none is full, the bucket used longest ago is evicted (its
//! account starts again with a full bucket). Callers naming ever new accounts therefore cannot
//! grow memory without bound.

use crate::kms::{KmsError, KmsErrorKind};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

/// Most accounts that have a bucket at once.
pub const MAX_BUCKETS: usize = 10_000;

/// Token-bucket parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuotaConfig {
    /// Sustained requests per second (tokens added per second). Must be > 0.
    pub requests_per_second: f64,
    /// Bucket size: how many requests may be made at once after an idle period. Must be ≥ 1.
    pub burst: u32,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: SystemTime,
}

#[derive(Debug)]
struct State {
    config: Option<QuotaConfig>,
    buckets: HashMap<String, Bucket>,
    max_buckets: usize,
}

impl Default for State {
    fn default() -> Self {
        Self {
            config: None,
            buckets: HashMap::new(),
            max_buckets: MAX_BUCKETS,
        }
    }
}

impl State {
    /// Makes room for one more bucket: drops the full ones, else the one used longest ago.
    fn make_room(&mut self, cfg: QuotaConfig, now: SystemTime) {
        if self.buckets.len() < self.max_buckets {
            return;
        }
        let burst = f64::from(cfg.burst);
        self.buckets.retain(|_, b| {
            let elapsed = now.duration_since(b.last).unwrap_or_default();
            b.tokens + elapsed.as_secs_f64() * cfg.requests_per_second < burst
        });
        while self.buckets.len() >= self.max_buckets {
            let Some(oldest) = self
                .buckets
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(k, _)| k.clone())
            else {
                return;
            };
            self.buckets.remove(&oldest);
        }
    }
}

/// The quota of a local KMS (disabled until configured).
#[derive(Debug, Default)]
pub(crate) struct Quota {
    state: Mutex<State>,
}

impl Quota {
    /// Sets (or with `None` removes) the quota; buckets start full.
    pub(crate) fn set(&self, config: Option<QuotaConfig>) -> Result<(), KmsError> {
        if let Some(c) = config {
            if !(c.requests_per_second.is_finite() && c.requests_per_second > 0.0) || c.burst == 0 {
                return Err(KmsError::new(
                    KmsErrorKind::InvalidRequest,
                    "quota: requests_per_second must be > 0 and burst ≥ 1",
                ));
            }
        }
        let mut s = self.state.lock().map_err(|_| poisoned())?;
        s.config = config;
        s.buckets.clear();
        Ok(())
    }

    /// Number of accounts with a bucket now.
    pub(crate) fn buckets(&self) -> usize {
        self.state.lock().map(|s| s.buckets.len()).unwrap_or(0)
    }

    #[cfg(test)]
    fn set_max_buckets(&self, n: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.max_buckets = n;
        }
    }

    /// The current configuration.
    pub(crate) fn config(&self) -> Option<QuotaConfig> {
        self.state.lock().ok().and_then(|s| s.config)
    }

    /// Takes one token from `account`'s bucket at time `now`.
    pub(crate) fn acquire(&self, account: &str, now: SystemTime) -> Result<(), KmsError> {
        let mut s = self.state.lock().map_err(|_| poisoned())?;
        let Some(cfg) = s.config else {
            return Ok(());
        };
        let burst = f64::from(cfg.burst);
        if !s.buckets.contains_key(account) {
            s.make_room(cfg, now);
        }
        let bucket = s.buckets.entry(account.to_owned()).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        // A clock that went backwards adds nothing.
        let elapsed = now.duration_since(bucket.last).unwrap_or_default();
        bucket.tokens =
            (bucket.tokens + elapsed.as_secs_f64() * cfg.requests_per_second).min(burst);
        if now > bucket.last {
            bucket.last = now;
        }
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(KmsError::new(
                KmsErrorKind::Throttling,
                format!("Rate exceeded for account {account}"),
            ))
        }
    }
}

fn poisoned() -> KmsError {
    KmsError::new(KmsErrorKind::Internal, "local KMS quota lock poisoned")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_refills_with_time() {
        let q = Quota::default();
        q.set(Some(QuotaConfig {
            requests_per_second: 2.0,
            burst: 3,
        }))
        .unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        for _ in 0..3 {
            q.acquire("111122223333", t0).unwrap();
        }
        let e = q.acquire("111122223333", t0).unwrap_err();
        assert_eq!(e.kind(), KmsErrorKind::Throttling);
        // Another account has its own bucket.
        q.acquire("444455556666", t0).unwrap();
        // Half a second later: one token.
        let t1 = t0 + Duration::from_millis(500);
        q.acquire("111122223333", t1).unwrap();
        assert!(q.acquire("111122223333", t1).is_err());
        // Long idle: refills to burst, not beyond.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            q.acquire("111122223333", t2).unwrap();
        }
        assert!(q.acquire("111122223333", t2).is_err());
        q.set(None).unwrap();
        q.acquire("111122223333", t2).unwrap();
    }

    #[test]
    fn buckets_are_bounded_and_full_ones_go_first() {
        let q = Quota::default();
        q.set(Some(QuotaConfig {
            requests_per_second: 1.0,
            burst: 2,
        }))
        .unwrap();
        q.set_max_buckets(3);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        // "a" is drained; "b" and "c" each used once.
        q.acquire("a", t0).unwrap();
        q.acquire("a", t0).unwrap();
        q.acquire("b", t0).unwrap();
        q.acquire("c", t0).unwrap();
        assert_eq!(q.buckets(), 3);
        // One second later "b" and "c" are full again, "a" is not: they make room.
        let t1 = t0 + Duration::from_secs(1);
        q.acquire("d", t1).unwrap();
        assert_eq!(q.buckets(), 2, "a and d");
        // "a" kept its state: one token back after 1 s, then throttled.
        q.acquire("a", t1).unwrap();
        assert_eq!(
            q.acquire("a", t1).unwrap_err().kind(),
            KmsErrorKind::Throttling
        );
        // Rotating accounts never exceed the bound, even when no bucket is full.
        for i in 0..1000 {
            let now = t1 + Duration::from_millis(i);
            q.acquire(&format!("acct-{i}"), now).unwrap();
            q.acquire(&format!("acct-{i}"), now).unwrap();
            assert!(q.buckets() <= 3);
        }
    }

    #[test]
    fn bad_config_is_refused() {
        let q = Quota::default();
        for (r, b) in [(0.0, 1), (f64::NAN, 1), (1.0, 0), (-1.0, 5)] {
            assert!(q
                .set(Some(QuotaConfig {
                    requests_per_second: r,
                    burst: b
                }))
                .is_err());
        }
    }
}

//! Fault injection for tests: added latency, a random error rate from a seeded generator
//! (reproducible), and scripted outage windows read from the injectable clock.
//!
//! Faults apply to the three [`crate::kms::Kms`] calls (`GenerateDataKey`, `Decrypt`,
//! `DescribeKey`), before authorization; the failed call is still audited.

use crate::kms::{KmsError, KmsErrorKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A window during which every call fails with `kind`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    /// First instant of the outage (inclusive).
    pub start: SystemTime,
    /// End of the outage (exclusive).
    pub end: SystemTime,
    /// The error returned meanwhile (for example `Transport` or `Internal`).
    pub kind: KmsErrorKind,
}

/// What to inject. The default injects nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// Added to every call (the call really sleeps; keep it short in tests).
    pub latency: Duration,
    /// Probability in `0.0..=1.0` that a call fails with `error_kind`.
    pub error_rate: f64,
    /// The error of the random failures.
    pub error_kind: KmsErrorKind,
    /// Seed of the generator deciding random failures; the same seed and call sequence give
    /// the same failures.
    pub seed: u64,
    /// Scripted outages.
    pub outages: Vec<Outage>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            error_rate: 0.0,
            error_kind: KmsErrorKind::Internal,
            seed: 0,
            outages: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct State {
    config: FaultConfig,
    rng: StdRng,
}

/// The fault injector of a local KMS.
#[derive(Debug)]
pub(crate) struct Faults {
    state: Mutex<State>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                config: FaultConfig::default(),
                rng: StdRng::seed_from_u64(0),
            }),
        }
    }
}

impl Faults {
    /// Replaces the configuration and reseeds the generator.
    pub(crate) fn set(&self, config: FaultConfig) -> Result<(), KmsError> {
        if !(0.0..=1.0).contains(&config.error_rate) {
            return Err(KmsError::new(
                KmsErrorKind::InvalidRequest,
                "faults: error_rate must be within 0.0..=1.0",
            ));
        }
        let mut s = self.state.lock().map_err(|_| poisoned())?;
        s.rng = StdRng::seed_from_u64(config.seed);
        s.config = config;
        Ok(())
    }

    /// The current configuration.
    pub(crate) fn config(&self) -> FaultConfig {
        self.state
            .lock()
            .map(|s| s.config.clone())
            .unwrap_or_default()
    }

    /// Decides the fault for a call at `now`: sleeps for the latency, then returns the
    /// injected error, if any.
    pub(crate) fn apply(&self, now: SystemTime) -> Result<(), KmsError> {
        let (latency, outcome) = {
            let mut s = self.state.lock().map_err(|_| poisoned())?;
            let latency = s.config.latency;
            let outage = s
                .config
                .outages
                .iter()
                .find(|o| o.start <= now && now < o.end)
                .map(|o| o.kind);
            let outcome = if let Some(kind) = outage {
                Some((kind, "injected outage"))
            } else if s.config.error_rate > 0.0 {
                let rate = s.config.error_rate;
                let kind = s.config.error_kind;
                s.rng.gen_bool(rate).then_some((kind, "injected failure"))
            } else {
                None
            };
            (latency, outcome)
        };
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        match outcome {
            Some((kind, msg)) => Err(KmsError::new(kind, msg)),
            None => Ok(()),
        }
    }
}

fn poisoned() -> KmsError {
    KmsError::new(KmsErrorKind::Internal, "local KMS fault lock poisoned")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn pattern(f: &Faults, n: usize) -> Vec<bool> {
        let t = SystemTime::UNIX_EPOCH;
        (0..n).map(|_| f.apply(t).is_err()).collect()
    }

    #[test]
    fn seeded_errors_are_reproducible() {
        let f = Faults::default();
        let cfg = FaultConfig {
            error_rate: 0.3,
            seed: 42,
            ..FaultConfig::default()
        };
        f.set(cfg.clone()).unwrap();
        let a = pattern(&f, 200);
        f.set(cfg).unwrap();
        let b = pattern(&f, 200);
        assert_eq!(a, b);
        let fails = a.iter().filter(|x| **x).count();
        assert!((30..=90).contains(&fails), "{fails}");
        assert!(f
            .set(FaultConfig {
                error_rate: 1.5,
                ..FaultConfig::default()
            })
            .is_err());
    }

    #[test]
    fn outage_window_is_half_open() {
        let f = Faults::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        f.set(FaultConfig {
            outages: vec![Outage {
                start: t0,
                end: t0 + Duration::from_secs(10),
                kind: KmsErrorKind::Transport,
            }],
            ..FaultConfig::default()
        })
        .unwrap();
        assert!(f.apply(t0 - Duration::from_secs(1)).is_ok());
        assert_eq!(f.apply(t0).unwrap_err().kind(), KmsErrorKind::Transport);
        assert!(f.apply(t0 + Duration::from_secs(9)).is_err());
        assert!(f.apply(t0 + Duration::from_secs(10)).is_ok());
    }
}

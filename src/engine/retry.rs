//! Retrying KMS calls: capped exponential backoff with jitter, bounded in attempts and time.

use crate::error::{ConfigError, KeyringError};
use crate::kms::{KmsError, RetryKind};
use core::time::Duration;
use rand::Rng;
use std::time::Instant;

/// How KMS calls that fail with a retryable error (throttling, transport, KMS internal errors;
/// see [`KmsError::is_retryable`]) are retried. Final errors (access denied, not found,
/// disabled, invalid ciphertext, ...) are never retried. Nor is an expired credential
/// ([`RetryKind::RefreshCredentials`]): the same call with it can only fail again, so the
/// engine refreshes it first when it has a credential provider (see
/// [`Engine::with_credential_provider`](super::Engine::with_credential_provider)).
///
/// The wait before retry *n* (n = 1, 2, ...) is drawn uniformly from `[d/2, d]` where
/// `d = min(max_backoff, initial_backoff × 2^(n−1))` ("equal jitter": spreads out clients that
/// were throttled together, yet always backs off). No retry is started whose wait would take the
/// call past `max_total` since its first attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff cap before the first retry.
    pub initial_backoff: Duration,
    /// Cap of any single backoff.
    pub max_backoff: Duration,
    /// Time budget of one call, retries and waits included.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts, 50 ms doubling up to 2 s, 10 s in total.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            max_total: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets [`Self::max_attempts`].
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Sets [`Self::initial_backoff`] and [`Self::max_backoff`].
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Sets [`Self::max_total`].
    pub fn with_max_total(mut self, max_total: Duration) -> Self {
        self.max_total = max_total;
        self
    }

    /// Checks the policy.
    ///
    /// # Errors
    /// [`ConfigError::ZeroRetryAttempts`] when `max_attempts` is 0, [`ConfigError::BackoffOrder`]
    /// when `initial_backoff` exceeds `max_backoff`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::ZeroRetryAttempts);
        }
        if self.initial_backoff > self.max_backoff {
            return Err(ConfigError::BackoffOrder);
        }
        Ok(())
    }

    /// The cap `d` of the wait before retry number `retry` (1-based): `initial × 2^(retry−1)`,
    /// at most `max_backoff`.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// The wait before retry number `retry`, drawn from `[cap/2, cap]` with `rng`.
    pub fn backoff<R: Rng + ?Sized>(&self, retry: u32, rng: &mut R) -> Duration {
        let cap = self.backoff_cap(retry);
        let half = cap / 2;
        let spread = u64::try_from((cap - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rng.gen_range(0..=spread))
    }

    /// Runs `op` until it succeeds, fails with a final error, or the attempt or time budget is
    /// spent; sleeps between attempts. `observe` sees every attempt's outcome.
    ///
    /// # Errors
    /// The last error of `op`.
    pub fn run<T, E: Retryable>(
        &self,
        mut op: impl FnMut() -> Result<T, E>,
        mut observe: impl FnMut(&Result<T, E>),
    ) -> Result<T, E> {
        let start = Instant::now();
        let mut retry = 0u32;
        loop {
            let r = op();
            observe(&r);
            match r {
                Err(e) if e.is_retryable() => {
                    retry += 1;
                    if retry >= self.max_attempts {
                        return Err(e);
                    }
                    let wait = self.backoff(retry, &mut rand::thread_rng());
                    if start.elapsed().saturating_add(wait) > self.max_total {
                        return Err(e);
                    }
                    std::thread::sleep(wait);
                }
                other => return other,
            }
        }
    }
}

/// An error that says whether the failed call may succeed if retried.
pub trait Retryable {
    /// Whether the same call may succeed if retried later.
    fn is_retryable(&self) -> bool;

    /// How the failure may be recovered from: [`RetryKind::Backoff`] when
    /// [`Self::is_retryable`], else [`RetryKind::Final`], unless the implementation knows
    /// better (a KMS `ExpiredTokenException` is [`RetryKind::RefreshCredentials`]).
    fn retry_kind(&self) -> RetryKind {
        if self.is_retryable() {
            RetryKind::Backoff
        } else {
            RetryKind::Final
        }
    }
}

impl Retryable for KmsError {
    fn is_retryable(&self) -> bool {
        KmsError::is_retryable(self)
    }

    fn retry_kind(&self) -> RetryKind {
        KmsError::retry_kind(self)
    }
}

impl Retryable for KeyringError {
    fn is_retryable(&self) -> bool {
        KeyringError::is_retryable(self)
    }

    fn retry_kind(&self) -> RetryKind {
        match self.kms() {
            Some(e) => e.retry_kind(),
            None if self.is_retryable() => RetryKind::Backoff,
            None => RetryKind::Final,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use crate::kms::KmsErrorKind;
    use rand::rngs::mock::StepRng;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::default()
            .with_backoff(Duration::from_millis(10), Duration::from_millis(70));
        let caps: Vec<_> = (1..=6).map(|n| p.backoff_cap(n).as_millis()).collect();
        assert_eq!(caps, [10, 20, 40, 70, 70, 70]);
        assert_eq!(p.backoff_cap(200), Duration::from_millis(70), "no overflow");
    }

    #[test]
    fn jitter_stays_within_half_cap_and_cap() {
        let p =
            RetryPolicy::default().with_backoff(Duration::from_millis(100), Duration::from_secs(1));
        let mut rng = rand::thread_rng();
        for n in 1..8 {
            let cap = p.backoff_cap(n);
            for _ in 0..200 {
                let d = p.backoff(n, &mut rng);
                assert!(d >= cap / 2 && d <= cap, "{d:?} vs {cap:?}");
            }
        }
        // The extremes are reachable.
        assert_eq!(
            p.backoff(1, &mut StepRng::new(0, 0)),
            Duration::from_millis(50)
        );
    }

    fn policy(attempts: u32) -> RetryPolicy {
        RetryPolicy::default()
            .with_max_attempts(attempts)
            .with_backoff(Duration::from_micros(10), Duration::from_micros(100))
    }

    #[test]
    fn retryable_errors_are_retried_up_to_the_attempt_budget() {
        let mut calls = 0;
        let r: Result<(), _> = policy(4).run(
            || {
                calls += 1;
                Err(KmsError::new(KmsErrorKind::Throttling, "slow down"))
            },
            |_| {},
        );
        assert_eq!(r.unwrap_err().kind(), KmsErrorKind::Throttling);
        assert_eq!(calls, 4);
    }

    #[test]
    fn final_errors_are_not_retried_and_success_stops() {
        let mut calls = 0;
        let r: Result<(), _> = policy(4).run(
            || {
                calls += 1;
                Err(KmsError::new(KmsErrorKind::AccessDenied, "no"))
            },
            |_| {},
        );
        assert_eq!(r.unwrap_err().kind(), KmsErrorKind::AccessDenied);
        assert_eq!(calls, 1);
        let mut calls = 0;
        let mut seen = 0;
        let r = policy(4).run(
            || {
                calls += 1;
                if calls < 3 {
                    Err(KmsError::new(KmsErrorKind::Transport, "reset"))
                } else {
                    Ok(calls)
                }
            },
            |_| seen += 1,
        );
        assert_eq!(r.unwrap(), 3);
        assert_eq!(seen, 3);
    }

    #[test]
    fn expired_tokens_are_not_retried_with_backoff() {
        let mut calls = 0;
        let r: Result<(), _> = policy(4).run(
            || {
                calls += 1;
                Err(KmsError::new(KmsErrorKind::ExpiredToken, "expired"))
            },
            |_| {},
        );
        let e = r.unwrap_err();
        assert_eq!(calls, 1, "the same credential cannot succeed");
        assert_eq!(Retryable::retry_kind(&e), RetryKind::RefreshCredentials);
        let k = KeyringError::Child(Box::new(KeyringError::Kms(e)));
        assert_eq!(Retryable::retry_kind(&k), RetryKind::RefreshCredentials);
        let t = KeyringError::Kms(KmsError::new(KmsErrorKind::Throttling, "slow"));
        assert_eq!(Retryable::retry_kind(&t), RetryKind::Backoff);
        assert_eq!(
            Retryable::retry_kind(&KeyringError::NoKeyIds),
            RetryKind::Final
        );
    }

    #[test]
    fn time_budget_stops_retries() {
        let p = RetryPolicy::default()
            .with_max_attempts(1000)
            .with_backoff(Duration::from_millis(20), Duration::from_millis(20))
            .with_max_total(Duration::from_millis(50));
        let mut calls = 0;
        let r: Result<(), _> = p.run(
            || {
                calls += 1;
                Err(KmsError::new(KmsErrorKind::Throttling, "slow down"))
            },
            |_| {},
        );
        assert!(r.is_err());
        // Waits are 10..=20 ms each and never cross 50 ms: at most 5 retries.
        assert!((2..=6).contains(&calls), "{calls}");
    }
}

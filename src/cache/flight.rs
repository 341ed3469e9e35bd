//! Single flight: one fetch per key, which other callers wait on; refresh tickets.

use super::key::{CacheKey, OwnedKey};
use super::store::Inner;
use super::{CredentialCounters, DataKeyCache, DataKeyMaterial};
use crate::kms::{KmsError, KmsErrorKind};
use crate::Error;
use core::fmt;
use core::time::Duration;
use std::sync::{Arc, Condvar, Mutex};

pub(super) const POISONED: &str = "the data-key cache lock was poisoned by a panicking thread";
pub(super) const FETCH_ABANDONED: &str = "the data-key fetch this call waited for panicked";

/// The outcome of a fetch, published to the callers waiting on it.
type FlightResult = Result<(), KmsError>;

/// One in-flight KMS fetch for a key, which other callers wait on.
pub(super) struct Flight {
    done: Mutex<Option<FlightResult>>,
    cv: Condvar,
}

impl Flight {
    pub(super) fn new() -> Self {
        Self {
            done: Mutex::new(None),
            cv: Condvar::new(),
        }
    }

    pub(super) fn complete(&self, result: FlightResult) {
        // A poisoned flight mutex means a waiter panicked while holding it; waiters that are
        // still alive would see the poison and fail closed, so publishing is best effort.
        if let Ok(mut done) = self.done.lock() {
            *done = Some(result);
        }
        self.cv.notify_all();
    }

    pub(super) fn wait(&self) -> Result<FlightResult, Error> {
        let mut done = self.done.lock().map_err(|_| Error::Internal(POISONED))?;
        loop {
            if let Some(r) = done.as_ref() {
                return Ok(r.clone());
            }
            done = self.cv.wait(done).map_err(|_| Error::Internal(POISONED))?;
        }
    }
}

/// A refresh ahead to carry out, handed to the `refresh` callback of
/// [`DataKeyCache::get_or_fetch_with_refresh`]: obtain the replacement data key (on any thread)
/// and pass the result to [`Refresh::complete`]. Until then, other callers keep using the
/// current entry and no second refresh of it starts. A ticket dropped without being completed
/// abandons the refresh, which is then tried again after `refresh_retry_interval`.
#[must_use = "a dropped ticket abandons the refresh"]
pub struct Refresh {
    pub(super) inner: Arc<Inner>,
    pub(super) hash: u64,
    pub(super) key: OwnedKey,
    pub(super) flight: Arc<Flight>,
    pub(super) started: Duration,
    pub(super) counters: Arc<CredentialCounters>,
    pub(super) done: bool,
}

impl Refresh {
    /// The counters of the credential whose entry is refreshed.
    pub fn counters(&self) -> &Arc<CredentialCounters> {
        &self.counters
    }

    /// Installs the replacement key (or records the failure, so that the refresh is retried
    /// after `refresh_retry_interval` while the current entry keeps serving).
    pub fn complete(mut self, fetched: Result<DataKeyMaterial, KmsError>) {
        self.done = true;
        self.finish(fetched);
    }

    fn finish(&self, fetched: Result<DataKeyMaterial, KmsError>) {
        let key = self.key.as_key();
        let outcome = self.inner.install(
            self.hash,
            &key,
            &self.flight,
            self.started,
            0,
            true,
            fetched,
        );
        self.flight.complete(match outcome {
            Ok(_) => Ok(()),
            Err(Error::Kms(e)) => Err(e),
            Err(_) => Err(KmsError::new(KmsErrorKind::Internal, POISONED)),
        });
    }
}

impl Drop for Refresh {
    fn drop(&mut self) {
        if !self.done {
            self.finish(Err(KmsError::new(
                KmsErrorKind::Internal,
                "the refresh was abandoned",
            )));
        }
    }
}

impl fmt::Debug for Refresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refresh")
            .field("key", &self.key.as_key())
            .finish_non_exhaustive()
    }
}

/// Wakes the waiters with an error if the leader's fetch panics, so nobody waits forever.
pub(super) struct FlightGuard<'c, 'k> {
    pub(super) cache: &'c DataKeyCache,
    pub(super) hash: u64,
    pub(super) key: &'c CacheKey<'k>,
    pub(super) flight: Arc<Flight>,
    pub(super) armed: bool,
}

impl Drop for FlightGuard<'_, '_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(mut st) = self.cache.inner.state.lock() {
            if let Some(slot) = st.slot_mut(self.hash, self.key) {
                if slot
                    .flight
                    .as_ref()
                    .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
                {
                    slot.flight = None;
                }
            }
            st.drop_if_empty(self.hash, self.key);
        }
        self.flight
            .complete(Err(KmsError::new(KmsErrorKind::Internal, FETCH_ABANDONED)));
    }
}

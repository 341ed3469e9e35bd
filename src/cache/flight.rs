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

/// A failed fetch as published to the callers waiting on it: each waiter gets its own copy of
/// the fetch's error (of whatever type the fetch closure returned), as an [`Error`].
pub(super) type Published = Arc<dyn Fn() -> Error + Send + Sync>;

/// The outcome of a fetch, published to the callers waiting on it.
pub(super) type FlightResult = Result<(), Published>;

/// Publishes a fetch's error `e` to the waiters.
pub(super) fn publish<E>(e: E) -> Published
where
    E: FetchError,
{
    Arc::new(move || e.clone().into())
}

/// A failure of the cache itself (not of a fetch), published to the waiters as today: a KMS
/// error of kind [`KmsErrorKind::Internal`] carrying `what`.
pub(super) fn publish_internal(what: &'static str) -> Published {
    Arc::new(move || Error::Kms(KmsError::new(KmsErrorKind::Internal, what)))
}

/// What a fetch closure may fail with: the keyring's [`crate::KeyringError`] (what the engine
/// uses), a [`KmsError`], or any error that converts into [`Error`]. It is cloned once per
/// caller that waited for the failed fetch.
pub trait FetchError: Clone + Into<Error> + Send + Sync + 'static {}
impl<E: Clone + Into<Error> + Send + Sync + 'static> FetchError for E {}

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
    pub fn complete<E: FetchError>(mut self, fetched: Result<DataKeyMaterial, E>) {
        self.done = true;
        self.finish(fetched.map_err(publish));
    }

    fn finish(&self, fetched: Result<DataKeyMaterial, Published>) {
        let key = self.key.as_key();
        let failure = fetched.as_ref().err().cloned();
        let outcome = self.inner.install(
            self.hash,
            &key,
            &self.flight,
            self.started,
            0,
            true,
            fetched.map_err(|p| p()),
        );
        self.flight.complete(match (outcome, failure) {
            (Ok(_), _) => Ok(()),
            (Err(_), Some(p)) => Err(p),
            (Err(_), None) => Err(publish_internal(POISONED)),
        });
    }
}

impl Drop for Refresh {
    fn drop(&mut self) {
        if !self.done {
            self.finish(Err(publish_internal("the refresh was abandoned")));
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
        self.flight.complete(Err(publish_internal(FETCH_ABANDONED)));
    }
}

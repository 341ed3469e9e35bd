//! The data-key cache, per credential.
//!
//! One keyring call (for KMS, one KMS call) per credential per key age instead of one per
//! fragment: a data key generated (for sealing) or unwrapped (for opening) is kept and reused for
//! further fragments, within limits. Reusing a data key across messages is safe in the ESDK v2
//! format because every message derives its own AES key from the data key and a fresh 32-byte
//! message id.
//!
//! - **What is cached.** A [`DataKeyMaterial`]: the plaintext data key, the encrypted data keys
//!   that carry it and the id of the key that produced it, as the caller's fetch (a keyring)
//!   returned them. The cache never looks inside an encrypted data key: building EDKs and
//!   deciding which ones to trust is the keyring's job, and one cache serves one keyring.
//! - **Keys.** Sealing: (credential, key id, suite, canonical encryption context). Opening:
//!   (credential, encrypted data key, canonical encryption context). See [`CacheKey`]. A
//!   credential is never served a data key that was not fetched for that same credential: a
//!   stored key compares the whole credential (account, principal ARN and access key id), not
//!   only the access key id that its hash covers.
//! - **Credential expiry.** An entry's age limit is the lesser of `max_age` and the expiry of
//!   the credential it was fetched for ([`Credential::expiry`], compared with the clock's
//!   [`Clock::wall_now`] and turned into a deadline on the monotonic clock when the entry is
//!   stored): a key is never served at or after the end of its session, a key fetched by a
//!   credential that expired meanwhile is not cached at all, and the periodic sweep (below)
//!   retires and zeroizes it: a cache operation made [`SWEEP_INTERVAL`] or more after the
//!   session ended finds it gone. A session-bound entry is not refreshed ahead because of its
//!   age (its replacement would end with the same session). A refreshed session is a new
//!   credential with its own entries ([`Credential`] equality covers the access key id and the
//!   expiry). [`DataKeyCache::retire_credential`] drops a credential's entries at once, for
//!   example when KMS answered `ExpiredTokenException` for it.
//! - **Limits per entry** ([`CacheLimits`]): a maximum age, a maximum number of fragments and a
//!   maximum number of plaintext bytes. Usage is *reserved* under the cache lock before the key is
//!   handed out, so a limit is never exceeded: an entry is usable while its age is strictly below
//!   `max_age`, its fragment count below `max_fragments`, and its byte count plus the new
//!   fragment's length at most `max_bytes`. An entry that cannot take the fragment is retired and
//!   a new key fetched. A fragment larger than `max_bytes` can never share a key, so it gets a
//!   fresh, uncached one (as the ESDK caching CMM does). A caller whose lease produced no
//!   output (a message that failed to authenticate) may give its reservation back with
//!   [`DataKeyCache::release_unused`], so the limits count the fragments a key actually
//!   sealed or opened, plus those in progress.
//! - **Capacity, shared out per credential**: at most `capacity` entries, and at most
//!   [`CacheLimits::entries_per_credential`] of them (by default a quarter of the capacity) for
//!   one credential. A credential at its share that installs a new entry evicts its own least
//!   recently used entry, never another credential's; a full cache evicts the least recently
//!   used entry of the credential holding the most entries. So a co-tenant sealing under many
//!   throw-away contexts cannot push other credentials' keys out (and a KMS outage then does not
//!   break them); only credentials with as many entries as the largest user compete for the
//!   last slots. (Each new access key id is a new credential: a co-tenant that can mint
//!   credentials at will can still fill the cache, one entry each.)
//! - **Erasure**: a retired or evicted entry drops its [`DataKeyMaterial`], whose
//!   [`DataKey`](crate::crypto::DataKey) is
//!   zeroized on drop. Expired entries are retired even when nobody looks them up again (an
//!   idle stream): every lookup and install sweeps the cache for expired entries, at most once
//!   per `min(max_age, `[`SWEEP_INTERVAL`]`)` of the cache's clock — one clock comparison
//!   under the lock already held otherwise — so a cache operation made at least `max_age` plus
//!   that interval after a key was fetched finds it gone. A process that stops using the cache
//!   altogether can call [`DataKeyCache::purge_expired`] from a timer. The cache holds the only
//!   copy of a key; callers get a shared reference
//!   ([`Lease`]) rather than a copy, so once the last lease of a retired key is dropped, no
//!   plaintext copy of it remains.
//! - **Single flight**: when many threads miss the same key at once, one of them (the leader)
//!   fetches; the others wait on a condition variable and get its result — or its error.
//! - **Refresh ahead**: once an entry has used `refresh_ahead` of its age, fragment or byte
//!   budget, the next caller starts fetching a replacement after reserving its own use of the
//!   current entry — itself ([`DataKeyCache::get_or_fetch`]) or through a [`Refresh`] ticket
//!   completed elsewhere, e.g. on a background thread
//!   ([`DataKeyCache::get_or_fetch_with_refresh`]); meanwhile every other caller keeps using the
//!   still-valid entry without waiting. If the refresh fails (KMS down), the entry keeps serving
//!   within its limits and the refresh is tried again after `refresh_retry_interval`. Callers
//!   that find the entry used up while its refresh is in flight wait for that refresh (single
//!   flight) instead of calling KMS again.
//! - **Clock**: injectable ([`Clock`], [`ManualClock`]), so tests move time instead of sleeping.
//! - **Counters** per credential ([`CredentialStats`]): hits, misses, KMS calls, evictions, ...
//!   They are bounded: a credential's counters are tracked while it has an entry or a fetch in
//!   the cache, and afterwards among at most [`MAX_IDLE_CREDENTIALS`] most recently seen
//!   credentials without one; older ones are dropped and read zero again
//!   ([`DataKeyCache::stats`]). Rotating session credentials therefore cannot grow the cache's
//!   memory forever ([`DataKeyCache::tracked_credentials`]).
//! - **Poisoned locks fail closed** with [`Error::Internal`]; the cache never panics on them.
//!
//! # Why not `moka` or `quick_cache`
//! They were considered (DESIGN.md suggests them). Four requirements tipped the balance to this
//! small hand-written cache:
//! 1. *Exact usage limits.* Checking a fragment/byte budget, reserving it and deciding that an
//!    exhausted entry must be replaced has to be one atomic step per key; with moka it would be a
//!    `get`, an atomic add on the value, then an `invalidate` followed by `try_get_with`, and a
//!    concurrent caller can invalidate the *replacement* between those steps, costing an extra
//!    KMS call (or, without care, exceeding a budget).
//! 2. *Refresh ahead while the old entry keeps serving.* moka's sync cache has no refresh; a
//!    replacement under the same key would need a second map and its own single-flight.
//! 3. *An injectable clock.* moka reads time through its own clock, mockable only in its own
//!    tests; our limits must be testable at their exact boundaries without sleeping.
//! 4. *Timely erasure.* moka drops evicted values during deferred maintenance; here a retired key
//!    is dropped (and so zeroized) inside the call that retires it.
//!
//! `quick_cache` has no time-based expiry at all. The whole cache is one mutex over a hash map
//! (held for a hash lookup and a few integer updates, never during a KMS call). A lookup borrows
//! its key from the request ([`CacheKey`]) and allocates nothing; keys are hashed with SipHash
//! under per-cache random keys, because opening keys contain encrypted data keys taken from
//! untrusted messages. The entry to evict is found by a linear scan, which runs only when
//! inserting into a full cache or a full share, i.e. right after a fetch that costs far more.
//! The fetch closures return any [`FetchError`]: the engine's return the keyring's
//! [`crate::KeyringError`], which comes back out of the cache as [`Error::Keyring`] unchanged
//! (to the caller that fetched and to every caller that waited for it).

mod clock;
mod flight;
mod key;
mod limits;
mod material;
mod stats;
mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use flight::{FetchError, Refresh};
pub use key::CacheKey;
pub use limits::{
    CacheLimits, DEFAULT_CAPACITY, DEFAULT_CREDENTIAL_SHARE, DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FRAGMENTS, DEFAULT_REFRESH_AHEAD, DEFAULT_REFRESH_RETRY_INTERVAL,
    MAX_IDLE_CREDENTIALS, SWEEP_INTERVAL,
};
pub use material::{DataKeyMaterial, Lease, LeaseSource};
pub use stats::{CredentialCounters, CredentialStats};

use crate::kms::Credential;
use crate::{ConfigError, Error};
use core::fmt;
use core::time::Duration;
use flight::{publish, publish_internal, Flight, FlightGuard, FETCH_ABANDONED, POISONED};
use limits::RefreshAt;
use std::hash::RandomState;
use std::sync::{Arc, Mutex};
use store::{Inner, State};

/// What a lookup decided, under the lock.
enum Decision {
    /// Use this cached key (usage reserved).
    Use(Arc<DataKeyMaterial>, Arc<CredentialCounters>),
    /// Use this cached key (usage reserved) and fetch its replacement, leading this flight.
    UseAndRefresh(Arc<DataKeyMaterial>, Arc<CredentialCounters>, Arc<Flight>),
    /// Another caller is fetching: wait for it.
    Wait(Arc<Flight>),
    /// Fetch, leading this flight.
    Lead(Arc<Flight>),
}

/// The per-credential data-key cache. See the [module documentation](self).
pub struct DataKeyCache {
    inner: Arc<Inner>,
}

impl fmt::Debug for DataKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKeyCache")
            .field("limits", &self.inner.limits)
            .field("len", &self.len().ok())
            .finish_non_exhaustive()
    }
}

impl DataKeyCache {
    /// A cache with `limits` on the system clock.
    ///
    /// # Errors
    /// A [`ConfigError`] when the limits are invalid (see [`CacheLimits::validate`]).
    pub fn new(limits: CacheLimits) -> Result<Self, ConfigError> {
        Self::with_clock(limits, Arc::new(SystemClock::new()))
    }

    /// A cache with `limits` on `clock`.
    ///
    /// # Errors
    /// A [`ConfigError`] when the limits are invalid (see [`CacheLimits::validate`]).
    pub fn with_clock(limits: CacheLimits, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        limits.validate()?;
        Ok(Self {
            inner: Arc::new(Inner {
                hasher: RandomState::new(),
                #[cfg(test)]
                colliding: false,
                limits,
                refresh_at: RefreshAt::new(&limits),
                clock,
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// The limits.
    pub fn limits(&self) -> &CacheLimits {
        &self.inner.limits
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// A data key for one fragment of `bytes` plaintext bytes under `key`: a cached one when an
    /// entry can take the fragment within its limits, otherwise one obtained by calling
    /// `fetch` (which should call the keyring or KMS, retries included). `fetch` is called at most once, and
    /// only when this caller leads the fetch for `key`: callers that miss while another fetch
    /// for the same key is under way wait for it and share its result or its error.
    ///
    /// The fragment's usage is reserved before the key is returned, whether or not the caller
    /// then uses it.
    ///
    /// When the entry is due for refresh ahead, this caller also fetches its replacement with
    /// `fetch` after reserving its use of the current entry (see
    /// [`Self::get_or_fetch_with_refresh`] to run the refresh elsewhere instead).
    ///
    /// # Errors
    /// The fetch's error converted into an [`Error`] (this caller's or the leader's it waited
    /// for: [`Error::Keyring`] for a [`crate::KeyringError`], [`Error::Kms`] for a
    /// [`crate::kms::KmsError`]); [`Error::Internal`] when a lock was poisoned. A caller that
    /// waited for a leader whose fetch panicked gets [`Error::Kms`] of kind
    /// [`crate::kms::KmsErrorKind::Internal`].
    pub fn get_or_fetch<F, E>(
        &self,
        key: &CacheKey<'_>,
        bytes: u64,
        fetch: F,
    ) -> Result<Lease, Error>
    where
        F: FnOnce() -> Result<DataKeyMaterial, E>,
        E: FetchError,
    {
        self.get_or_fetch_impl(key, bytes, fetch, None::<fn(Refresh)>)
    }

    /// As [`Self::get_or_fetch`], except that a refresh ahead is handed to `refresh` as a
    /// [`Refresh`] ticket, which may complete it on another thread: then no caller waits for
    /// KMS while a valid entry exists. `refresh` is called at most once, without any cache lock
    /// held, and only when this call started a refresh.
    ///
    /// # Errors
    /// As [`Self::get_or_fetch`].
    pub fn get_or_fetch_with_refresh<F, E, R>(
        &self,
        key: &CacheKey<'_>,
        bytes: u64,
        fetch: F,
        refresh: R,
    ) -> Result<Lease, Error>
    where
        F: FnOnce() -> Result<DataKeyMaterial, E>,
        E: FetchError,
        R: FnOnce(Refresh),
    {
        self.get_or_fetch_impl(key, bytes, fetch, Some(refresh))
    }

    fn get_or_fetch_impl<F, E, R>(
        &self,
        key: &CacheKey<'_>,
        bytes: u64,
        fetch: F,
        mut refresh: Option<R>,
    ) -> Result<Lease, Error>
    where
        F: FnOnce() -> Result<DataKeyMaterial, E>,
        E: FetchError,
        R: FnOnce(Refresh),
    {
        if !self.inner.limits.enabled() || bytes > self.inner.limits.max_bytes {
            let counters = {
                let mut st = self.inner.lock()?;
                self.inner.sweep_expired(&mut st, self.inner.clock.now());
                st.counters_for(key.credential())
            };
            counters.miss();
            let material = Arc::new(fetch().map_err(Into::into)?);
            return Ok(Lease {
                material,
                counters,
                source: LeaseSource::Uncached,
            });
        }
        let hash = self.inner.hash(key);
        let mut fetch = Some(fetch);
        let mut waited = false;
        loop {
            let now = self.inner.clock.now();
            let decision = self.decide(hash, key, now, bytes)?;
            match decision {
                Decision::Use(material, counters) => {
                    let source = if waited {
                        LeaseSource::Waited
                    } else {
                        counters.hit();
                        LeaseSource::Hit
                    };
                    return Ok(Lease {
                        material,
                        counters,
                        source,
                    });
                }
                Decision::UseAndRefresh(material, counters, flight) => {
                    let source = if waited {
                        LeaseSource::Waited
                    } else {
                        counters.hit();
                        LeaseSource::Hit
                    };
                    let ticket = Refresh {
                        inner: Arc::clone(&self.inner),
                        hash,
                        key: key.to_owned_key(),
                        flight,
                        started: now,
                        counters: Arc::clone(&counters),
                        done: false,
                    };
                    match (refresh.take(), fetch.take()) {
                        (Some(spawn), _) => spawn(ticket),
                        (None, Some(f)) => ticket.complete(f()),
                        // Unreachable (this branch returns); dropping abandons the refresh.
                        (None, None) => drop(ticket),
                    }
                    return Ok(Lease {
                        material,
                        counters,
                        source,
                    });
                }
                Decision::Wait(flight) => {
                    if !waited {
                        self.inner.lock()?.counters_for(key.credential()).miss();
                        waited = true;
                    }
                    flight.wait()?.map_err(|published| published())?;
                }
                Decision::Lead(flight) => {
                    if !waited {
                        self.inner.lock()?.counters_for(key.credential()).miss();
                    }
                    let f = fetch.take().ok_or(Error::Internal(FETCH_ABANDONED))?;
                    return self.lead(hash, key, flight, now, bytes, f);
                }
            }
        }
    }

    /// Looks `key` up under the lock and reserves the fragment's usage when an entry can take it.
    fn decide(
        &self,
        hash: u64,
        key: &CacheKey<'_>,
        now: Duration,
        bytes: u64,
    ) -> Result<Decision, Error> {
        let l = &self.inner.limits;
        let r = self.inner.refresh_at;
        let mut st = self.inner.lock()?;
        self.inner.sweep_expired(&mut st, now);
        let tick = st.next_tick();
        let mut retired = false;
        let slot = st.slot_or_insert(hash, key);
        if let Some(e) = slot.entry.as_mut() {
            let age = now.saturating_sub(e.created);
            let new_bytes = e.bytes.checked_add(bytes);
            // `now < deadline`: younger than `max_age` and, for a session credential, before
            // its expiry.
            let fits = now < e.deadline
                && e.fragments < l.max_fragments
                && new_bytes.is_some_and(|b| b <= l.max_bytes);
            if fits {
                e.fragments += 1;
                e.bytes = new_bytes.unwrap_or(u64::MAX);
                e.last_used = tick;
                let material = Arc::clone(&e.material);
                let counters = Arc::clone(&e.counters);
                let due = (age >= r.age && !e.session_bound)
                    || e.fragments >= r.fragments
                    || e.bytes >= r.bytes;
                if due && slot.flight.is_none() && now >= e.refresh_not_before {
                    let flight = Arc::new(Flight::new());
                    slot.flight = Some(Arc::clone(&flight));
                    return Ok(Decision::UseAndRefresh(material, counters, flight));
                }
                return Ok(Decision::Use(material, counters));
            }
            // The entry cannot take this fragment: retire it now (its key is zeroized once the
            // last lease on it is dropped).
            if let Some(old) = slot.entry.take() {
                old.counters.expired();
                retired = true;
            }
        }
        let decision = match &slot.flight {
            Some(flight) => Decision::Wait(Arc::clone(flight)),
            None => {
                let flight = Arc::new(Flight::new());
                slot.flight = Some(Arc::clone(&flight));
                Decision::Lead(flight)
            }
        };
        if retired {
            st.entry_removed(key.credential());
        }
        Ok(decision)
    }

    /// Runs `fetch` as the leader of `flight` (a miss), installs its result, wakes the waiters
    /// and returns the lease for this caller's fragment.
    fn lead<F, E>(
        &self,
        hash: u64,
        key: &CacheKey<'_>,
        flight: Arc<Flight>,
        started: Duration,
        bytes: u64,
        fetch: F,
    ) -> Result<Lease, Error>
    where
        F: FnOnce() -> Result<DataKeyMaterial, E>,
        E: FetchError,
    {
        let mut guard = FlightGuard {
            cache: self,
            hash,
            key,
            flight,
            armed: true,
        };
        let fetched = fetch();
        guard.armed = false;
        let flight = Arc::clone(&guard.flight);
        let failure = fetched.as_ref().err().cloned().map(publish);
        let outcome = self.inner.install(
            hash,
            key,
            &flight,
            started,
            bytes,
            false,
            fetched.map_err(Into::into),
        );
        let published = match (&outcome, failure) {
            (Ok(_), _) => Ok(()),
            (Err(_), Some(p)) => Err(p),
            (Err(_), None) => Err(publish_internal(POISONED)),
        };
        flight.complete(published);
        outcome.and_then(|lease| lease.ok_or(Error::Internal(FETCH_ABANDONED)))
    }

    /// Gives back the usage reserved for `lease` under `key` — one fragment and `bytes` — when
    /// the lease was not used after all: for example for a message that failed to authenticate,
    /// so that forged messages cannot use up an opening entry's budget. A no-op when the entry
    /// under `key` no longer holds the lease's key (retired, replaced by a refresh, or never
    /// cached). Only give back usage whose key produced no output.
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn release_unused(
        &self,
        key: &CacheKey<'_>,
        lease: Lease,
        bytes: u64,
    ) -> Result<(), Error> {
        if lease.source == LeaseSource::Uncached {
            return Ok(());
        }
        let hash = self.inner.hash(key);
        let mut st = self.inner.lock()?;
        if let Some(e) = st.slot_mut(hash, key).and_then(|s| s.entry.as_mut()) {
            if Arc::ptr_eq(&e.material, &lease.material) {
                e.fragments = e.fragments.saturating_sub(1);
                e.bytes = e.bytes.saturating_sub(bytes);
            }
        }
        Ok(())
    }

    /// Gives back `bytes` of the byte budget reserved under `key` for a lease of `material`,
    /// keeping its fragment: a streamed seal ([`Engine::seal_writer`](crate::engine::Engine::seal_writer))
    /// reserves the most it may write and, once finished, returns what it did not write, so
    /// that the entry counts the bytes its key actually sealed. A no-op when the entry under
    /// `key` no longer holds `material` (retired, replaced, or never cached).
    pub(crate) fn release_unused_bytes(
        &self,
        key: &CacheKey<'_>,
        material: &Arc<DataKeyMaterial>,
        bytes: u64,
    ) -> Result<(), Error> {
        let hash = self.inner.hash(key);
        let mut st = self.inner.lock()?;
        if let Some(e) = st.slot_mut(hash, key).and_then(|s| s.entry.as_mut()) {
            if Arc::ptr_eq(&e.material, material) {
                e.bytes = e.bytes.saturating_sub(bytes);
            }
        }
        Ok(())
    }

    /// Retires every entry past its maximum age now (zeroizing its key once no lease holds it);
    /// returns how many. Expired entries are otherwise retired when next looked up, when the
    /// cache needs room, or by the periodic sweep of lookups and installs (see the
    /// [module documentation](self)).
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn purge_expired(&self) -> Result<usize, Error> {
        let now = self.inner.clock.now();
        let mut st = self.inner.lock()?;
        Ok(self.inner.retire_expired(&mut st, now))
    }

    /// Retires every entry of `credential` now (zeroizing each key once no lease holds it);
    /// returns how many. The engine does this when KMS answers `ExpiredTokenException` for the
    /// credential: its session is over, whatever expiry it was built with.
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn retire_credential(&self, credential: &Credential) -> Result<usize, Error> {
        Ok(self.inner.lock()?.retire_where(
            |k, _| k.credential() == credential,
            |e| e.counters.expired(),
        ))
    }

    /// Drops every entry (in-flight fetches complete normally but their keys are then cached
    /// anew).
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn clear(&self) -> Result<(), Error> {
        self.inner.lock()?.retire_where(|_, _| true, drop);
        Ok(())
    }

    /// Number of cached entries.
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn len(&self) -> Result<usize, Error> {
        Ok(self.inner.lock()?.entries)
    }

    /// True when no entry is cached.
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len()? == 0)
    }

    /// The live counters of `credential` (tracked from now on if they were not; see
    /// [`Self::stats`] for how long).
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn counters(&self, credential: &Credential) -> Result<Arc<CredentialCounters>, Error> {
        Ok(self.inner.lock()?.counters_for(credential))
    }

    /// A snapshot of `credential`'s counters.
    ///
    /// A credential's counters are tracked while it has an entry or a fetch in the cache, and
    /// afterwards as one of the at most [`MAX_IDLE_CREDENTIALS`] most recently seen
    /// credentials without one. Past that they are dropped (so that rotating session
    /// credentials cannot grow the cache's memory forever): the snapshot of a credential never
    /// seen, or whose counters were dropped, is all zero, and counting starts again from zero
    /// when it comes back. Counters kept elsewhere (a [`Lease`], [`Self::counters`]) stay
    /// valid but are no longer the credential's.
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn stats(&self, credential: &Credential) -> Result<CredentialStats, Error> {
        Ok(self
            .inner
            .lock()?
            .tracked_counters(credential)
            .map(CredentialCounters::snapshot)
            .unwrap_or_default())
    }

    /// Snapshots of every tracked credential's counters (see [`Self::stats`]), ordered by
    /// credential.
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn all_stats(&self) -> Result<Vec<(Credential, CredentialStats)>, Error> {
        let st = self.inner.lock()?;
        let mut v: Vec<_> = st
            .all_counters()
            .map(|(c, k)| (c.clone(), k.snapshot()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(v)
    }

    /// How many credentials have their counters tracked: those with an entry or a fetch in the
    /// cache, plus at most [`MAX_IDLE_CREDENTIALS`] others (see [`Self::stats`]).
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn tracked_credentials(&self) -> Result<usize, Error> {
        Ok(self.inner.lock()?.tracked_credentials())
    }
}

#[cfg(test)]
mod tests;

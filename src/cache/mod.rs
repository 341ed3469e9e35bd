//! The data-key cache, per credential.
//!
//! One KMS call per credential per key age instead of one per fragment: a data key generated (for
//! sealing) or decrypted (for opening) by KMS is kept and reused for further fragments, within
//! limits. Reusing a data key across messages is safe in the ESDK v2 format because every message
//! derives its own AES key from the data key and a fresh 32-byte message id.
//!
//! - **Keys.** Sealing: (credential, KMS key, suite, canonical encryption context). Opening:
//!   (credential, encrypted data key, canonical encryption context). See [`CacheKey`]. A
//!   credential is never served a data key that KMS did not hand to that credential.
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
//! - **Capacity**: at most `capacity` entries; inserting past it evicts the least recently used.
//! - **Erasure**: a retired or evicted entry drops its [`DataKeyMaterial`], whose [`DataKey`] is
//!   zeroized on drop. Expired entries are retired even when nobody looks them up again (an
//!   idle stream): every lookup and install sweeps the cache for expired entries, at most once
//!   per `min(max_age, `[`SWEEP_INTERVAL`]`)` of the cache's clock — one clock comparison
//!   under the lock already held otherwise — so a cache operation made at least `max_age` plus
//!   that interval after a key was fetched finds it gone. A process that stops using the cache
//!   altogether can call [`DataKeyCache::purge_expired`] from a timer. The cache holds the only copy of a key; callers get a shared reference
//!   ([`Lease`]) rather than a copy, so once the last lease of a retired key is dropped, no
//!   plaintext copy of it remains.
//! - **Single flight**: when many threads miss the same key at once, one of them (the leader)
//!   calls KMS; the others wait on a condition variable and get its result — or its error.
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
//! untrusted messages. The least recently used entry is found by a linear scan, which runs only
//! when inserting into a full cache, i.e. right after a KMS call that costs far more.

mod clock;
mod key;
mod stats;

pub use clock::{Clock, ManualClock, SystemClock};
pub use key::CacheKey;
use key::OwnedKey;
pub use stats::{CredentialCounters, CredentialStats};

use crate::crypto::DataKey;
use crate::format::EncryptedDataKey;
use crate::kms::{Credential, DecryptedDataKey, GeneratedDataKey, KmsError, KmsErrorKind};
use crate::Error;
use core::fmt;
use core::hash::{BuildHasher, Hasher};
use core::time::Duration;
use std::collections::HashMap;
use std::hash::RandomState;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Default maximum age of a cached data key: 5 minutes, like Kinesis Data Streams' key rotation.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Default maximum number of fragments per cached data key: 2^32, the ESDK's message limit.
pub const DEFAULT_MAX_FRAGMENTS: u64 = 1 << 32;
/// Default maximum number of plaintext bytes per cached data key: 2^40 (1 TiB).
pub const DEFAULT_MAX_BYTES: u64 = 1 << 40;
/// Default number of entries.
pub const DEFAULT_CAPACITY: usize = 1024;
/// Default fraction of an entry's budget after which it is refreshed ahead.
pub const DEFAULT_REFRESH_AHEAD: f64 = 0.95;
/// Default wait before retrying a failed refresh.
pub const DEFAULT_REFRESH_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Lookups and installs sweep the whole cache for expired entries at most once per this
/// interval (or per `max_age`, when shorter).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Limits of the data-key cache.
///
/// Build from [`CacheLimits::default`] and the `with_*` methods; [`CacheLimits::disabled`]
/// turns caching off (one KMS call per fragment).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct CacheLimits {
    /// An entry is usable while its age is strictly below this.
    pub max_age: Duration,
    /// An entry serves at most this many fragments.
    pub max_fragments: u64,
    /// An entry serves at most this many plaintext bytes in total.
    pub max_bytes: u64,
    /// Maximum number of entries; 0 disables caching.
    pub capacity: usize,
    /// Fraction of the age, fragment or byte budget after which the entry is refreshed ahead,
    /// in `(0, 1]`; 1 disables refresh-ahead.
    pub refresh_ahead: f64,
    /// After a failed refresh, how long to wait before trying again.
    pub refresh_retry_interval: Duration,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_age: DEFAULT_MAX_AGE,
            max_fragments: DEFAULT_MAX_FRAGMENTS,
            max_bytes: DEFAULT_MAX_BYTES,
            capacity: DEFAULT_CAPACITY,
            refresh_ahead: DEFAULT_REFRESH_AHEAD,
            refresh_retry_interval: DEFAULT_REFRESH_RETRY_INTERVAL,
        }
    }
}

impl CacheLimits {
    /// No caching: every fragment gets its own KMS call.
    pub fn disabled() -> Self {
        Self {
            capacity: 0,
            ..Self::default()
        }
    }

    /// Sets [`Self::max_age`].
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets [`Self::max_fragments`].
    pub fn with_max_fragments(mut self, max_fragments: u64) -> Self {
        self.max_fragments = max_fragments;
        self
    }

    /// Sets [`Self::max_bytes`].
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets [`Self::capacity`].
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets [`Self::refresh_ahead`].
    pub fn with_refresh_ahead(mut self, fraction: f64) -> Self {
        self.refresh_ahead = fraction;
        self
    }

    /// Sets [`Self::refresh_retry_interval`].
    pub fn with_refresh_retry_interval(mut self, interval: Duration) -> Self {
        self.refresh_retry_interval = interval;
        self
    }

    /// Checks the limits.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a limit is zero while caching is on, or `refresh_ahead`
    /// is outside `(0, 1]`.
    pub fn validate(&self) -> Result<(), Error> {
        if self.capacity == 0 {
            return Ok(());
        }
        if self.max_age.is_zero() || self.max_fragments == 0 || self.max_bytes == 0 {
            return Err(Error::InvalidArgument(
                "cache limits max_age, max_fragments and max_bytes must be non-zero \
                 (use CacheLimits::disabled() to turn caching off)"
                    .into(),
            ));
        }
        if !(self.refresh_ahead > 0.0 && self.refresh_ahead <= 1.0) {
            return Err(Error::InvalidArgument(format!(
                "cache refresh_ahead must be in (0, 1], got {}",
                self.refresh_ahead
            )));
        }
        Ok(())
    }

    fn enabled(&self) -> bool {
        self.capacity > 0
    }
}

/// The key provider id of encrypted data keys made by AWS KMS (and any [`crate::kms::Kms`]).
pub const AWS_KMS_PROVIDER_ID: &str = "aws-kms";

/// A data key as KMS returned it: the plaintext key, the ARN of the KMS key, and the `aws-kms`
/// encrypted data key (provider info = the key ARN, ciphertext = the KMS ciphertext blob), ready
/// to be written into a message header.
///
/// The plaintext key is zeroized when this is dropped. `Debug` shows the key ARN only.
pub struct DataKeyMaterial {
    data_key: DataKey,
    key_arn: String,
    edk: EncryptedDataKey,
}

impl DataKeyMaterial {
    /// Bundles a data key with the KMS key ARN and ciphertext blob it came with.
    pub fn new(data_key: DataKey, key_arn: String, ciphertext_blob: Vec<u8>) -> Self {
        let edk = EncryptedDataKey {
            provider_id: AWS_KMS_PROVIDER_ID.to_owned(),
            provider_info: key_arn.as_bytes().to_vec(),
            ciphertext: ciphertext_blob,
        };
        Self {
            data_key,
            key_arn,
            edk,
        }
    }

    /// From a `GenerateDataKey` answer.
    ///
    /// # Errors
    /// [`KmsErrorKind::Internal`] when the plaintext key is not 32 bytes long.
    pub fn from_generated(g: GeneratedDataKey) -> Result<Self, KmsError> {
        let data_key = data_key_from_kms(g.plaintext)?;
        Ok(Self::new(data_key, g.key_id, g.ciphertext_blob))
    }

    /// From a `Decrypt` answer for `ciphertext_blob`.
    ///
    /// # Errors
    /// [`KmsErrorKind::Internal`] when the plaintext key is not 32 bytes long.
    pub fn from_decrypted(d: DecryptedDataKey, ciphertext_blob: Vec<u8>) -> Result<Self, KmsError> {
        let data_key = data_key_from_kms(d.plaintext)?;
        Ok(Self::new(data_key, d.key_id, ciphertext_blob))
    }

    /// The plaintext data key.
    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    /// ARN of the KMS key that generated or decrypted the data key.
    pub fn key_arn(&self) -> &str {
        &self.key_arn
    }

    /// The KMS ciphertext blob of the data key.
    pub fn ciphertext_blob(&self) -> &[u8] {
        &self.edk.ciphertext
    }

    /// The `aws-kms` encrypted data key for a message header.
    pub fn encrypted_data_key(&self) -> &EncryptedDataKey {
        &self.edk
    }
}

fn data_key_from_kms(plaintext: crate::crypto::SecretBytes) -> Result<DataKey, KmsError> {
    DataKey::try_from(plaintext).map_err(|len| {
        KmsError::new(
            KmsErrorKind::Internal,
            format!("KMS returned a data key of {len} bytes, expected 32"),
        )
    })
}

impl fmt::Debug for DataKeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKeyMaterial")
            .field("key_arn", &self.key_arn)
            .finish_non_exhaustive()
    }
}

/// How a [`Lease`] was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseSource {
    /// From a cached entry.
    Hit,
    /// This caller fetched the key from KMS and cached it.
    Fetched,
    /// Another caller fetched it while this one waited (single flight).
    Waited,
    /// Fetched for this use only, not cached (caching off, or the fragment exceeds `max_bytes`).
    Uncached,
}

/// A data key handed out by the cache for one fragment, its usage already reserved.
///
/// Shares the cached key instead of copying it; drop the lease when the fragment is done.
pub struct Lease {
    material: Arc<DataKeyMaterial>,
    counters: Arc<CredentialCounters>,
    source: LeaseSource,
}

impl Lease {
    /// The data key and its KMS details.
    pub fn material(&self) -> &Arc<DataKeyMaterial> {
        &self.material
    }

    /// How the key was obtained.
    pub fn source(&self) -> LeaseSource {
        self.source
    }

    /// The counters of the credential the lease belongs to.
    pub fn counters(&self) -> &Arc<CredentialCounters> {
        &self.counters
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("material", &self.material)
            .field("source", &self.source)
            .finish()
    }
}

const POISONED: &str = "the data-key cache lock was poisoned by a panicking thread";
const FETCH_ABANDONED: &str = "the data-key fetch this call waited for panicked";

/// The outcome of a fetch, published to the callers waiting on it.
type FlightResult = Result<(), KmsError>;

/// One in-flight KMS fetch for a key, which other callers wait on.
struct Flight {
    done: Mutex<Option<FlightResult>>,
    cv: Condvar,
}

impl Flight {
    fn new() -> Self {
        Self {
            done: Mutex::new(None),
            cv: Condvar::new(),
        }
    }

    fn complete(&self, result: FlightResult) {
        // A poisoned flight mutex means a waiter panicked while holding it; waiters that are
        // still alive would see the poison and fail closed, so publishing is best effort.
        if let Ok(mut done) = self.done.lock() {
            *done = Some(result);
        }
        self.cv.notify_all();
    }

    fn wait(&self) -> Result<FlightResult, Error> {
        let mut done = self.done.lock().map_err(|_| Error::Internal(POISONED))?;
        loop {
            if let Some(r) = done.as_ref() {
                return Ok(r.clone());
            }
            done = self.cv.wait(done).map_err(|_| Error::Internal(POISONED))?;
        }
    }
}

struct Entry {
    material: Arc<DataKeyMaterial>,
    created: Duration,
    fragments: u64,
    bytes: u64,
    last_used: u64,
    refresh_not_before: Duration,
    counters: Arc<CredentialCounters>,
}

#[derive(Default)]
struct Slot {
    entry: Option<Entry>,
    flight: Option<Arc<Flight>>,
}

/// Hashes of [`CacheKey`]s are already SipHash outputs under random keys: use them as they are.
#[derive(Clone, Copy, Default)]
struct PassThrough;

#[derive(Default)]
struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher::default()
    }
}

/// Slots by key hash; keys with the same hash share a bucket (almost always of one).
type Buckets = HashMap<u64, Vec<(OwnedKey, Slot)>, PassThrough>;

#[derive(Default)]
struct State {
    slots: Buckets,
    entries: usize,
    tick: u64,
    /// No sweep of expired entries runs before this clock reading.
    next_sweep: Duration,
    counters: HashMap<Credential, Arc<CredentialCounters>>,
}

impl State {
    fn slot_mut(&mut self, hash: u64, key: &CacheKey<'_>) -> Option<&mut Slot> {
        self.slots
            .get_mut(&hash)?
            .iter_mut()
            .find(|(k, _)| k.matches(key))
            .map(|(_, s)| s)
    }

    fn slot_or_insert(&mut self, hash: u64, key: &CacheKey<'_>) -> &mut Slot {
        let bucket = self.slots.entry(hash).or_default();
        let i = match bucket.iter().position(|(k, _)| k.matches(key)) {
            Some(i) => i,
            None => {
                bucket.push((key.to_owned_key(), Slot::default()));
                bucket.len() - 1
            }
        };
        &mut bucket[i].1
    }

    /// Removes the slot of `key` if it holds neither an entry nor a flight.
    fn drop_if_empty(&mut self, hash: u64, key: &CacheKey<'_>) {
        if let Some(bucket) = self.slots.get_mut(&hash) {
            bucket.retain(|(k, s)| !(s.entry.is_none() && s.flight.is_none() && k.matches(key)));
            if bucket.is_empty() {
                self.slots.remove(&hash);
            }
        }
    }

    /// Removes every slot's entry for which `retire` holds (calling `on_retired` on it), and
    /// the slots left empty; returns how many entries were removed.
    fn retire_where(
        &mut self,
        mut retire: impl FnMut(&Entry) -> bool,
        mut on_retired: impl FnMut(Entry),
    ) -> usize {
        let mut removed = 0;
        self.slots.retain(|_, bucket| {
            bucket.retain_mut(|(_, slot)| {
                if slot.entry.as_ref().is_some_and(&mut retire) {
                    if let Some(e) = slot.entry.take() {
                        on_retired(e);
                        removed += 1;
                    }
                }
                slot.entry.is_some() || slot.flight.is_some()
            });
            !bucket.is_empty()
        });
        self.entries -= removed;
        removed
    }

    fn counters_for(&mut self, credential: &Credential) -> Arc<CredentialCounters> {
        if let Some(c) = self.counters.get(credential) {
            return Arc::clone(c);
        }
        let c = Arc::new(CredentialCounters::default());
        self.counters.insert(credential.clone(), Arc::clone(&c));
        c
    }

    fn next_tick(&mut self) -> u64 {
        self.tick = self.tick.wrapping_add(1);
        self.tick
    }
}

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

/// Thresholds past which an entry is refreshed ahead.
#[derive(Clone, Copy)]
struct RefreshAt {
    age: Duration,
    fragments: u64,
    bytes: u64,
}

impl RefreshAt {
    fn new(l: &CacheLimits) -> Self {
        if l.refresh_ahead >= 1.0 || !l.enabled() {
            return Self {
                age: Duration::MAX,
                fragments: u64::MAX,
                bytes: u64::MAX,
            };
        }
        // Float to integer casts saturate; the products are below the limits themselves.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "saturating conversions of a fraction of a limit"
        )]
        let part = |n: u64| ((n as f64) * l.refresh_ahead).ceil() as u64;
        Self {
            age: l.max_age.mul_f64(l.refresh_ahead),
            fragments: part(l.max_fragments).max(1),
            bytes: part(l.max_bytes).max(1),
        }
    }
}

/// The per-credential data-key cache. See the [module documentation](self).
pub struct DataKeyCache {
    inner: Arc<Inner>,
}

/// The cache proper, shared with [`Refresh`] tickets that may complete on other threads.
struct Inner {
    hasher: RandomState,
    limits: CacheLimits,
    refresh_at: RefreshAt,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl Inner {
    fn lock(&self) -> Result<MutexGuard<'_, State>, Error> {
        self.state.lock().map_err(|_| Error::Internal(POISONED))
    }

    #[allow(clippy::too_many_arguments, reason = "private helper of get_or_fetch")]
    fn install(
        &self,
        hash: u64,
        key: &CacheKey<'_>,
        flight: &Arc<Flight>,
        started: Duration,
        bytes: u64,
        refresh: bool,
        fetched: Result<DataKeyMaterial, KmsError>,
    ) -> Result<Option<Lease>, Error> {
        let mut st = self.lock()?;
        let tick = st.next_tick();
        let now = self.clock.now();
        self.sweep_expired(&mut st, now);
        let counters = st.counters_for(key.credential());
        let slot = st.slot_or_insert(hash, key);
        if slot.flight.as_ref().is_some_and(|f| Arc::ptr_eq(f, flight)) {
            slot.flight = None;
        }
        let material = match fetched {
            Ok(m) => Arc::new(m),
            Err(e) => {
                if let Some(entry) = slot.entry.as_mut() {
                    entry.refresh_not_before =
                        now.saturating_add(self.limits.refresh_retry_interval);
                }
                st.drop_if_empty(hash, key);
                return Err(Error::Kms(e));
            }
        };
        let (fragments, used_bytes) = if refresh { (0, 0) } else { (1, bytes) };
        let entry = Entry {
            material: Arc::clone(&material),
            created: started,
            fragments,
            bytes: used_bytes,
            last_used: tick,
            refresh_not_before: Duration::ZERO,
            counters: Arc::clone(&counters),
        };
        if slot.entry.replace(entry).is_none() {
            st.entries += 1;
        }
        if refresh {
            counters.refreshed();
        }
        self.make_room(&mut st, tick, now);
        Ok((!refresh).then_some(Lease {
            material,
            counters,
            source: LeaseSource::Fetched,
        }))
    }

    /// Retires expired entries, then evicts least recently used entries (other than the one
    /// just installed at `keep_tick`) until the cache is within its capacity.
    fn make_room(&self, state: &mut State, keep_tick: u64, now: Duration) {
        if state.entries > self.limits.capacity {
            self.retire_expired(state, now);
        }
        while state.entries > self.limits.capacity {
            let victim = state
                .slots
                .values()
                .flatten()
                .filter_map(|(_, s)| s.entry.as_ref().map(|e| e.last_used))
                .filter(|t| *t != keep_tick)
                .min();
            let Some(victim) = victim else { break };
            let evicted = state.retire_where(|e| e.last_used == victim, |e| e.counters.evicted());
            if evicted == 0 {
                break;
            }
        }
    }

    /// Retires every expired entry if no sweep ran in the last [`Self::sweep_interval`]; one
    /// clock comparison otherwise.
    fn sweep_expired(&self, state: &mut State, now: Duration) {
        if now >= state.next_sweep {
            state.next_sweep = now.saturating_add(self.sweep_interval());
            self.retire_expired(state, now);
        }
    }

    /// The least time between two sweeps: `max_age`, at most [`SWEEP_INTERVAL`].
    fn sweep_interval(&self) -> Duration {
        self.limits.max_age.min(SWEEP_INTERVAL)
    }

    fn retire_expired(&self, state: &mut State, now: Duration) -> usize {
        let max_age = self.limits.max_age;
        state.retire_where(
            |e| now.saturating_sub(e.created) >= max_age,
            |e| e.counters.expired(),
        )
    }
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
    /// [`Error::InvalidArgument`] when the limits are invalid (see [`CacheLimits::validate`]).
    pub fn new(limits: CacheLimits) -> Result<Self, Error> {
        Self::with_clock(limits, Arc::new(SystemClock::new()))
    }

    /// A cache with `limits` on `clock`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the limits are invalid (see [`CacheLimits::validate`]).
    pub fn with_clock(limits: CacheLimits, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        limits.validate()?;
        Ok(Self {
            inner: Arc::new(Inner {
                hasher: RandomState::new(),
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
    /// `fetch` (which should call KMS, retries included). `fetch` is called at most once, and
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
    /// [`Error::Kms`] with the fetch's error (this caller's or the leader's it waited for);
    /// [`Error::Internal`] when a lock was poisoned or the leader's fetch panicked.
    pub fn get_or_fetch<F>(&self, key: &CacheKey<'_>, bytes: u64, fetch: F) -> Result<Lease, Error>
    where
        F: FnOnce() -> Result<DataKeyMaterial, KmsError>,
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
    pub fn get_or_fetch_with_refresh<F, R>(
        &self,
        key: &CacheKey<'_>,
        bytes: u64,
        fetch: F,
        refresh: R,
    ) -> Result<Lease, Error>
    where
        F: FnOnce() -> Result<DataKeyMaterial, KmsError>,
        R: FnOnce(Refresh),
    {
        self.get_or_fetch_impl(key, bytes, fetch, Some(refresh))
    }

    fn get_or_fetch_impl<F, R>(
        &self,
        key: &CacheKey<'_>,
        bytes: u64,
        fetch: F,
        mut refresh: Option<R>,
    ) -> Result<Lease, Error>
    where
        F: FnOnce() -> Result<DataKeyMaterial, KmsError>,
        R: FnOnce(Refresh),
    {
        if !self.inner.limits.enabled() || bytes > self.inner.limits.max_bytes {
            let counters = {
                let mut st = self.inner.lock()?;
                self.inner.sweep_expired(&mut st, self.inner.clock.now());
                st.counters_for(key.credential())
            };
            counters.miss();
            let material = Arc::new(fetch().map_err(Error::Kms)?);
            return Ok(Lease {
                material,
                counters,
                source: LeaseSource::Uncached,
            });
        }
        let hash = key.hash_with(&self.inner.hasher);
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
                    flight.wait()?.map_err(Error::Kms)?;
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
            let fits = age < l.max_age
                && e.fragments < l.max_fragments
                && new_bytes.is_some_and(|b| b <= l.max_bytes);
            if fits {
                e.fragments += 1;
                e.bytes = new_bytes.unwrap_or(u64::MAX);
                e.last_used = tick;
                let material = Arc::clone(&e.material);
                let counters = Arc::clone(&e.counters);
                let due = age >= r.age || e.fragments >= r.fragments || e.bytes >= r.bytes;
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
            st.entries -= 1;
        }
        Ok(decision)
    }

    /// Runs `fetch` as the leader of `flight` (a miss), installs its result, wakes the waiters
    /// and returns the lease for this caller's fragment.
    fn lead<F>(
        &self,
        hash: u64,
        key: &CacheKey<'_>,
        flight: Arc<Flight>,
        started: Duration,
        bytes: u64,
        fetch: F,
    ) -> Result<Lease, Error>
    where
        F: FnOnce() -> Result<DataKeyMaterial, KmsError>,
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
        let outcome = self
            .inner
            .install(hash, key, &flight, started, bytes, false, fetched);
        let published = match &outcome {
            Ok(_) => Ok(()),
            Err(Error::Kms(e)) => Err(e.clone()),
            Err(_) => Err(KmsError::new(KmsErrorKind::Internal, POISONED)),
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
        let hash = key.hash_with(&self.inner.hasher);
        let mut st = self.inner.lock()?;
        if let Some(e) = st.slot_mut(hash, key).and_then(|s| s.entry.as_mut()) {
            if Arc::ptr_eq(&e.material, &lease.material) {
                e.fragments = e.fragments.saturating_sub(1);
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

    /// Drops every entry (in-flight fetches complete normally but their keys are then cached
    /// anew).
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn clear(&self) -> Result<(), Error> {
        self.inner.lock()?.retire_where(|_| true, drop);
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

    /// The live counters of `credential` (created empty on first use).
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn counters(&self, credential: &Credential) -> Result<Arc<CredentialCounters>, Error> {
        Ok(self.inner.lock()?.counters_for(credential))
    }

    /// A snapshot of `credential`'s counters (all zero for a credential never seen).
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn stats(&self, credential: &Credential) -> Result<CredentialStats, Error> {
        Ok(self
            .inner
            .lock()?
            .counters
            .get(credential)
            .map(|c| c.snapshot())
            .unwrap_or_default())
    }

    /// Snapshots of every credential's counters, ordered by credential.
    ///
    /// # Errors
    /// [`Error::Internal`] when the lock was poisoned.
    pub fn all_stats(&self) -> Result<Vec<(Credential, CredentialStats)>, Error> {
        let st = self.inner.lock()?;
        let mut v: Vec<_> = st
            .counters
            .iter()
            .map(|(c, k)| (c.clone(), k.snapshot()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(v)
    }
}

/// A refresh ahead to carry out, handed to the `refresh` callback of
/// [`DataKeyCache::get_or_fetch_with_refresh`]: obtain the replacement data key (on any thread)
/// and pass the result to [`Refresh::complete`]. Until then, other callers keep using the
/// current entry and no second refresh of it starts. A ticket dropped without being completed
/// abandons the refresh, which is then tried again after `refresh_retry_interval`.
#[must_use = "a dropped ticket abandons the refresh"]
pub struct Refresh {
    inner: Arc<Inner>,
    hash: u64,
    key: OwnedKey,
    flight: Arc<Flight>,
    started: Duration,
    counters: Arc<CredentialCounters>,
    done: bool,
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
struct FlightGuard<'c, 'k> {
    cache: &'c DataKeyCache,
    hash: u64,
    key: &'c CacheKey<'k>,
    flight: Arc<Flight>,
    armed: bool,
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn cache_types_are_send_sync() {
        assert_send_sync::<DataKeyCache>();
        assert_send_sync::<Lease>();
        assert_send_sync::<DataKeyMaterial>();
    }

    #[test]
    fn colliding_hashes_keep_keys_apart() {
        let a = Credential::new("111122223333", "arn:aws:iam::111122223333:role/a", "A");
        let b = Credential::new("111122223333", "arn:aws:iam::111122223333:role/b", "B");
        let ec = crate::EncryptionContext::new();
        let ka = CacheKey::for_sealing(&a, "k", 1, &ec);
        let kb = CacheKey::for_sealing(&b, "k", 1, &ec);
        let mut st = State::default();
        st.slot_or_insert(7, &ka).flight = Some(Arc::new(Flight::new()));
        assert!(st.slot_mut(7, &kb).is_none());
        st.slot_or_insert(7, &kb);
        assert_eq!(st.slots.get(&7).map(Vec::len), Some(2));
        st.drop_if_empty(7, &kb);
        assert_eq!(st.slots.get(&7).map(Vec::len), Some(1));
        assert!(st.slot_mut(7, &ka).is_some_and(|s| s.flight.is_some()));
    }

    #[test]
    fn a_poisoned_lock_fails_closed() {
        let cache = DataKeyCache::new(CacheLimits::default()).unwrap();
        let a = Credential::new("111122223333", "arn:aws:iam::111122223333:role/a", "A");
        let ec = crate::EncryptionContext::new();
        let key = CacheKey::for_sealing(&a, "k", 1, &ec);
        let fetch = || {
            Ok(DataKeyMaterial::new(
                DataKey::from_bytes([1; 32]),
                "k".into(),
                vec![1],
            ))
        };
        assert!(cache.get_or_fetch(&key, 1, fetch).is_ok());
        let _ = std::thread::scope(|s| {
            s.spawn(|| {
                let _guard = cache.inner.state.lock();
                panic!("poison the cache lock");
            })
            .join()
        });
        assert!(matches!(
            cache.get_or_fetch(&key, 1, fetch),
            Err(Error::Internal(_))
        ));
        assert!(matches!(cache.len(), Err(Error::Internal(_))));
        assert!(matches!(cache.stats(&a), Err(Error::Internal(_))));
    }

    #[test]
    fn refresh_thresholds() {
        let l = CacheLimits::default()
            .with_max_fragments(10)
            .with_max_bytes(100)
            .with_refresh_ahead(0.5);
        let r = RefreshAt::new(&l);
        assert_eq!((r.fragments, r.bytes), (5, 50));
        assert_eq!(r.age, Duration::from_secs(150));
        let r = RefreshAt::new(&l.with_refresh_ahead(1.0));
        assert_eq!(r.fragments, u64::MAX);
    }

    #[test]
    fn invalid_limits_are_refused() {
        for l in [
            CacheLimits::default().with_max_age(Duration::ZERO),
            CacheLimits::default().with_max_fragments(0),
            CacheLimits::default().with_max_bytes(0),
            CacheLimits::default().with_refresh_ahead(0.0),
            CacheLimits::default().with_refresh_ahead(1.5),
            CacheLimits::default().with_refresh_ahead(f64::NAN),
        ] {
            assert!(matches!(
                DataKeyCache::new(l),
                Err(Error::InvalidArgument(_))
            ));
        }
        assert!(DataKeyCache::new(CacheLimits::disabled().with_max_fragments(0)).is_ok());
    }

    #[test]
    fn sweeps_run_at_most_once_per_interval() {
        let clock = Arc::new(ManualClock::new());
        let max_age = Duration::from_secs(10);
        let limits = CacheLimits::default()
            .with_max_age(max_age)
            .with_refresh_ahead(1.0);
        let cache = DataKeyCache::with_clock(limits, clock.clone()).unwrap();
        let ec = crate::EncryptionContext::new();
        let creds: Vec<Credential> = (0..3)
            .map(|i| {
                Credential::new(
                    "111122223333",
                    format!("arn:aws:iam::111122223333:role/{i}"),
                    format!("K{i}"),
                )
            })
            .collect();
        let keys: Vec<CacheKey<'_>> = creds
            .iter()
            .map(|c| CacheKey::for_sealing(c, "k", 1, &ec))
            .collect();
        let fetch = || {
            Ok(DataKeyMaterial::new(
                DataKey::from_bytes([1; 32]),
                "k".into(),
                vec![1],
            ))
        };
        // t = 0: the first lookup sweeps (nothing to retire); the next sweep is due at 1 s.
        cache.get_or_fetch(&keys[0], 1, fetch).unwrap();
        clock.advance(Duration::from_millis(100));
        cache.get_or_fetch(&keys[1], 1, fetch).unwrap();
        // t = 10 s: key 0 expired; this lookup sweeps it and the next sweep is due at 11 s.
        clock.advance(max_age - Duration::from_millis(100));
        cache.get_or_fetch(&keys[2], 1, fetch).unwrap();
        assert_eq!(cache.len().unwrap(), 2, "key 0 swept");
        // t = 10.5 s: key 1 expired at 10.1 s, but no sweep is due: the lookup scans nothing.
        clock.advance(Duration::from_millis(500));
        cache.get_or_fetch(&keys[2], 1, fetch).unwrap();
        assert_eq!(cache.len().unwrap(), 2, "no sweep before its interval");
        // t = 11 s: the sweep is due and retires key 1.
        clock.advance(Duration::from_millis(500));
        cache.get_or_fetch(&keys[2], 1, fetch).unwrap();
        assert_eq!(cache.len().unwrap(), 1, "key 1 swept");
        assert_eq!(cache.inner.sweep_interval(), SWEEP_INTERVAL);
        let short = CacheLimits::default().with_max_age(Duration::from_millis(20));
        let cache = DataKeyCache::with_clock(short, clock).unwrap();
        assert_eq!(cache.inner.sweep_interval(), Duration::from_millis(20));
    }
}

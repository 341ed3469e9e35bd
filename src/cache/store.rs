//! The map of entries: buckets by key hash, LRU eviction, the sweep of expired entries.

use super::flight::{Flight, POISONED};
use super::key::{CacheKey, OwnedKey};
use super::limits::{RefreshAt, MAX_IDLE_CREDENTIALS, SWEEP_INTERVAL};
use super::{CacheLimits, Clock, CredentialCounters, DataKeyMaterial, Lease, LeaseSource};
use crate::kms::Credential;
use crate::Error;
use core::hash::{BuildHasher, Hasher};
use core::time::Duration;
use std::collections::HashMap;
use std::hash::RandomState;
use std::sync::{Arc, Mutex, MutexGuard};

pub(super) struct Entry {
    pub(super) material: Arc<DataKeyMaterial>,
    pub(super) created: Duration,
    /// The entry is usable strictly before this clock reading: `created + max_age`, or the
    /// expiry of the credential it was fetched for if that comes first.
    pub(super) deadline: Duration,
    /// The deadline is the credential's expiry: a replacement fetched for the same credential
    /// would die at the same instant, so the entry's age never calls for a refresh ahead.
    pub(super) session_bound: bool,
    pub(super) fragments: u64,
    pub(super) bytes: u64,
    pub(super) last_used: u64,
    pub(super) refresh_not_before: Duration,
    pub(super) counters: Arc<CredentialCounters>,
}

#[derive(Default)]
pub(super) struct Slot {
    pub(super) entry: Option<Entry>,
    pub(super) flight: Option<Arc<Flight>>,
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

/// What the cache tracks for one credential.
struct Tenant {
    counters: Arc<CredentialCounters>,
    /// Slots (entries or flights) of this credential in the map.
    slots: usize,
    /// Entries of this credential.
    entries: usize,
    /// The tick of the last time the credential was seen.
    last_seen: u64,
}

impl Tenant {
    fn new(tick: u64) -> Self {
        Self {
            counters: Arc::new(CredentialCounters::default()),
            slots: 0,
            entries: 0,
            last_seen: tick,
        }
    }
}

#[derive(Default)]
pub(super) struct State {
    slots: Buckets,
    pub(super) entries: usize,
    pub(super) tick: u64,
    /// No sweep of expired entries runs before this clock reading.
    pub(super) next_sweep: Duration,
    /// Every credential with a slot, plus at most [`MAX_IDLE_CREDENTIALS`] without one.
    tenants: HashMap<Credential, Tenant>,
    /// How many tenants have no slot.
    idle: usize,
}

impl State {
    pub(super) fn slot_mut(&mut self, hash: u64, key: &CacheKey<'_>) -> Option<&mut Slot> {
        self.slots
            .get_mut(&hash)?
            .iter_mut()
            .find(|(k, _)| k.matches(key))
            .map(|(_, s)| s)
    }

    pub(super) fn slot_or_insert(&mut self, hash: u64, key: &CacheKey<'_>) -> &mut Slot {
        let found = self
            .slots
            .get(&hash)
            .and_then(|b| b.iter().position(|(k, _)| k.matches(key)));
        let tick = self.tick;
        let idle = &mut self.idle;
        if found.is_none() {
            let tenant = self
                .tenants
                .entry(key.credential().clone())
                .or_insert_with(|| {
                    *idle += 1;
                    Tenant::new(tick)
                });
            if tenant.slots == 0 {
                *idle = idle.saturating_sub(1);
            }
            tenant.slots += 1;
            tenant.last_seen = tick;
        }
        let bucket = self.slots.entry(hash).or_default();
        let i = found.unwrap_or_else(|| {
            bucket.push((key.to_owned_key(), Slot::default()));
            bucket.len() - 1
        });
        &mut bucket[i].1
    }

    /// Removes the slot of `key` if it holds neither an entry nor a flight.
    pub(super) fn drop_if_empty(&mut self, hash: u64, key: &CacheKey<'_>) {
        let Some(bucket) = self.slots.get_mut(&hash) else {
            return;
        };
        let before = bucket.len();
        bucket.retain(|(k, s)| !(s.entry.is_none() && s.flight.is_none() && k.matches(key)));
        let removed = before - bucket.len();
        if bucket.is_empty() {
            self.slots.remove(&hash);
        }
        if removed > 0 {
            Self::slots_removed(&mut self.tenants, &mut self.idle, key.credential(), removed);
            self.trim_idle();
        }
    }

    /// Records that `n` slots of `credential` left the map.
    fn slots_removed(
        tenants: &mut HashMap<Credential, Tenant>,
        idle: &mut usize,
        credential: &Credential,
        n: usize,
    ) {
        if let Some(t) = tenants.get_mut(credential) {
            t.slots = t.slots.saturating_sub(n);
            if t.slots == 0 {
                *idle += 1;
            }
        }
    }

    /// Records a new entry of `credential` (its slot is in the map).
    pub(super) fn entry_added(&mut self, credential: &Credential) {
        self.entries += 1;
        if let Some(t) = self.tenants.get_mut(credential) {
            t.entries += 1;
        }
    }

    /// Records an entry of `credential` taken out of its slot (the slot stays, with a flight).
    pub(super) fn entry_removed(&mut self, credential: &Credential) {
        self.entries = self.entries.saturating_sub(1);
        if let Some(t) = self.tenants.get_mut(credential) {
            t.entries = t.entries.saturating_sub(1);
        }
    }

    /// Removes every slot's entry for which `retire` holds (calling `on_retired` on it), and
    /// the slots left empty; returns how many entries were removed.
    pub(super) fn retire_where(
        &mut self,
        mut retire: impl FnMut(&OwnedKey, &Entry) -> bool,
        mut on_retired: impl FnMut(Entry),
    ) -> usize {
        let mut removed = 0;
        let Self {
            slots,
            tenants,
            idle,
            ..
        } = self;
        slots.retain(|_, bucket| {
            bucket.retain_mut(|(key, slot)| {
                if slot.entry.as_ref().is_some_and(|e| retire(key, e)) {
                    if let Some(e) = slot.entry.take() {
                        on_retired(e);
                        removed += 1;
                        if let Some(t) = tenants.get_mut(key.credential()) {
                            t.entries = t.entries.saturating_sub(1);
                        }
                    }
                }
                let keep = slot.entry.is_some() || slot.flight.is_some();
                if !keep {
                    Self::slots_removed(tenants, idle, key.credential(), 1);
                }
                keep
            });
            !bucket.is_empty()
        });
        self.entries = self.entries.saturating_sub(removed);
        self.trim_idle();
        removed
    }

    /// The counters of `credential`, tracked from now on if they were not.
    pub(super) fn counters_for(&mut self, credential: &Credential) -> Arc<CredentialCounters> {
        let tick = self.next_tick();
        let counters = match self.tenants.get_mut(credential) {
            Some(t) => {
                t.last_seen = tick;
                return Arc::clone(&t.counters);
            }
            None => {
                let t = Tenant::new(tick);
                let c = Arc::clone(&t.counters);
                self.tenants.insert(credential.clone(), t);
                self.idle += 1;
                c
            }
        };
        self.trim_idle();
        counters
    }

    /// The tracked counters of `credential`, if any.
    pub(super) fn tracked_counters(&self, credential: &Credential) -> Option<&CredentialCounters> {
        self.tenants.get(credential).map(|t| &*t.counters)
    }

    /// Every tracked credential with its counters.
    pub(super) fn all_counters(
        &self,
    ) -> impl Iterator<Item = (&Credential, &CredentialCounters)> + '_ {
        self.tenants.iter().map(|(c, t)| (c, &*t.counters))
    }

    /// How many credentials have counters tracked.
    pub(super) fn tracked_credentials(&self) -> usize {
        self.tenants.len()
    }

    /// How many entries `credential` has.
    fn entries_of(&self, credential: &Credential) -> usize {
        self.tenants.get(credential).map_or(0, |t| t.entries)
    }

    /// Once more than [`MAX_IDLE_CREDENTIALS`] credentials without a slot are tracked, drops the
    /// counters of the least recently seen of them, down to 7/8 of that number (one scan per
    /// `MAX_IDLE_CREDENTIALS / 8` new credentials, not one per credential).
    fn trim_idle(&mut self) {
        if self.idle <= MAX_IDLE_CREDENTIALS {
            return;
        }
        let mut idle: Vec<(u64, &Credential)> = self
            .tenants
            .iter()
            .filter(|(_, t)| t.slots == 0)
            .map(|(c, t)| (t.last_seen, c))
            .collect();
        let keep = MAX_IDLE_CREDENTIALS - MAX_IDLE_CREDENTIALS / 8;
        let drop = idle.len().saturating_sub(keep);
        if drop > 0 && drop < idle.len() {
            idle.select_nth_unstable(drop);
        }
        let gone: Vec<Credential> = idle.iter().take(drop).map(|(_, c)| (*c).clone()).collect();
        for c in &gone {
            self.tenants.remove(c);
        }
        self.idle = self.tenants.values().filter(|t| t.slots == 0).count();
    }

    /// The bucket and tick of the least recently used entry, other than `keep_tick`, among the
    /// entries whose key `pick` selects.
    fn least_recently_used(
        &self,
        keep_tick: u64,
        mut pick: impl FnMut(&OwnedKey) -> bool,
    ) -> Option<(u64, u64)> {
        self.slots
            .iter()
            .flat_map(|(hash, bucket)| bucket.iter().map(move |(k, s)| (*hash, k, s)))
            .filter_map(|(hash, k, s)| s.entry.as_ref().map(|e| (hash, k, e.last_used)))
            .filter(|&(_, k, tick)| tick != keep_tick && pick(k))
            .min_by_key(|&(_, _, tick)| tick)
            .map(|(hash, _, tick)| (hash, tick))
    }

    /// Evicts the entry of bucket `hash` last used at `tick`; returns whether there was one.
    fn evict(&mut self, (hash, tick): (u64, u64)) -> bool {
        let Some(bucket) = self.slots.get_mut(&hash) else {
            return false;
        };
        let Some(i) = bucket
            .iter()
            .position(|(_, s)| s.entry.as_ref().is_some_and(|e| e.last_used == tick))
        else {
            return false;
        };
        let (key, slot) = &mut bucket[i];
        if let Some(e) = slot.entry.take() {
            e.counters.evicted();
        }
        let credential = key.credential().clone();
        let empty = slot.flight.is_none();
        if empty {
            bucket.swap_remove(i);
            if bucket.is_empty() {
                self.slots.remove(&hash);
            }
        }
        self.entry_removed(&credential);
        if empty {
            Self::slots_removed(&mut self.tenants, &mut self.idle, &credential, 1);
            self.trim_idle();
        }
        true
    }

    pub(super) fn next_tick(&mut self) -> u64 {
        self.tick = self.tick.wrapping_add(1);
        self.tick
    }
}

/// The cache proper, shared with [`Refresh`] tickets that may complete on other threads.
pub(super) struct Inner {
    pub(super) hasher: RandomState,
    /// Test seam: every key hashes to 0, so that every lookup goes through `OwnedKey::matches`.
    #[cfg(test)]
    pub(super) colliding: bool,
    pub(super) limits: CacheLimits,
    pub(super) refresh_at: RefreshAt,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) state: Mutex<State>,
}

impl Inner {
    /// The hash of `key` under this cache's random keys.
    pub(super) fn hash(&self, key: &CacheKey<'_>) -> u64 {
        #[cfg(test)]
        if self.colliding {
            return 0;
        }
        key.hash_with(&self.hasher)
    }

    pub(super) fn lock(&self) -> Result<MutexGuard<'_, State>, Error> {
        self.state.lock().map_err(|_| Error::Internal(POISONED))
    }

    #[allow(clippy::too_many_arguments, reason = "private helper of get_or_fetch")]
    pub(super) fn install(
        &self,
        hash: u64,
        key: &CacheKey<'_>,
        flight: &Arc<Flight>,
        started: Duration,
        bytes: u64,
        refresh: bool,
        fetched: Result<DataKeyMaterial, Error>,
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
                return Err(e);
            }
        };
        let by_age = started.saturating_add(self.limits.max_age);
        // The credential's expiry, on this clock: the entry never outlives the session.
        let by_session = key
            .credential()
            .remaining_at(self.clock.wall_now())
            .map(|left| now.saturating_add(left));
        if by_session.is_some_and(|end| end <= now) {
            // The credential expired while the key was being fetched: never cache it. The
            // caller that asked gets the key KMS answered it with, uncached; a refresh ahead
            // is dropped (and its key zeroized) here.
            st.drop_if_empty(hash, key);
            return Ok((!refresh).then_some(Lease {
                material,
                counters,
                source: LeaseSource::Uncached,
            }));
        }
        let (deadline, session_bound) = match by_session {
            Some(end) if end <= by_age => (end, true),
            _ => (by_age, false),
        };
        let (fragments, used_bytes) = if refresh { (0, 0) } else { (1, bytes) };
        let entry = Entry {
            material: Arc::clone(&material),
            created: started,
            deadline,
            session_bound,
            fragments,
            bytes: used_bytes,
            last_used: tick,
            refresh_not_before: Duration::ZERO,
            counters: Arc::clone(&counters),
        };
        if slot.entry.replace(entry).is_none() {
            st.entry_added(key.credential());
        }
        if refresh {
            counters.refreshed();
        }
        self.make_room(&mut st, key.credential(), tick, now);
        Ok((!refresh).then_some(Lease {
            material,
            counters,
            source: LeaseSource::Fetched,
        }))
    }

    /// Makes room after `credential` installed the entry used at `keep_tick` (which is never
    /// evicted): expired entries are retired first; then, while `credential` holds more than
    /// its share ([`CacheLimits::entries_per_credential`]), its own least recently used entry
    /// is evicted, never another credential's; then, while the cache holds more than
    /// `capacity` entries, the least recently used entry of the credential holding the most
    /// entries is evicted (of the least recently used one among those tied for the most).
    pub(super) fn make_room(
        &self,
        state: &mut State,
        credential: &Credential,
        keep_tick: u64,
        now: Duration,
    ) {
        let share = self.limits.entries_per_credential();
        if state.entries > self.limits.capacity || state.entries_of(credential) > share {
            self.retire_expired(state, now);
        }
        while state.entries_of(credential) > share {
            let victim = state.least_recently_used(keep_tick, |k| k.credential() == credential);
            if !victim.is_some_and(|t| state.evict(t)) {
                break;
            }
        }
        while state.entries > self.limits.capacity {
            let most = state.tenants.values().map(|t| t.entries).max().unwrap_or(0);
            let victim = if most <= 1 {
                // Every credential holding an entry holds the most: no need to look them up.
                state.least_recently_used(keep_tick, |_| true)
            } else {
                let tenants = &state.tenants;
                state
                    .least_recently_used(keep_tick, |k| {
                        tenants
                            .get(k.credential())
                            .is_some_and(|t| t.entries == most)
                    })
                    .or_else(|| state.least_recently_used(keep_tick, |_| true))
            };
            if !victim.is_some_and(|v| state.evict(v)) {
                break;
            }
        }
    }

    /// Retires every expired entry if no sweep ran in the last [`Self::sweep_interval`]; one
    /// clock comparison otherwise.
    pub(super) fn sweep_expired(&self, state: &mut State, now: Duration) {
        if now >= state.next_sweep {
            state.next_sweep = now.saturating_add(self.sweep_interval());
            self.retire_expired(state, now);
        }
    }

    /// The least time between two sweeps: `max_age`, at most [`SWEEP_INTERVAL`].
    pub(super) fn sweep_interval(&self) -> Duration {
        self.limits.max_age.min(SWEEP_INTERVAL)
    }

    pub(super) fn retire_expired(&self, state: &mut State, now: Duration) -> usize {
        state.retire_where(|_, e| now >= e.deadline, |e| e.counters.expired())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_hashes_keep_keys_apart() {
        let a = Credential::new("111122223333", "arn:aws:iam::111122223333:role/a", "A").unwrap();
        let b = Credential::new("111122223333", "arn:aws:iam::111122223333:role/b", "B").unwrap();
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

    impl State {
        /// Panics unless the per-credential bookkeeping matches the map.
        pub(crate) fn assert_consistent(&self) {
            let mut slots: HashMap<&Credential, (usize, usize)> = HashMap::new();
            for (k, s) in self.slots.values().flatten() {
                let c = slots.entry(k.credential()).or_default();
                c.0 += 1;
                c.1 += usize::from(s.entry.is_some());
            }
            let entries: usize = slots.values().map(|c| c.1).sum();
            assert_eq!(self.entries, entries, "entry count");
            for (c, t) in &self.tenants {
                let (n, e) = slots.get(c).copied().unwrap_or_default();
                assert_eq!((t.slots, t.entries), (n, e), "{c:?}");
            }
            for c in slots.keys() {
                assert!(self.tenants.contains_key(*c), "untracked {c:?}");
            }
            let idle = self.tenants.values().filter(|t| t.slots == 0).count();
            assert_eq!(self.idle, idle, "idle count");
            assert!(self.idle <= MAX_IDLE_CREDENTIALS);
        }
    }
}

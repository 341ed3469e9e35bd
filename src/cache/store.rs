//! The map of entries: buckets by key hash, LRU eviction, the sweep of expired entries.

use super::flight::{Flight, POISONED};
use super::key::{CacheKey, OwnedKey};
use super::limits::{RefreshAt, SWEEP_INTERVAL};
use super::{CacheLimits, Clock, CredentialCounters, DataKeyMaterial, Lease, LeaseSource};
use crate::kms::{Credential, KmsError};
use crate::Error;
use core::hash::{BuildHasher, Hasher};
use core::time::Duration;
use std::collections::HashMap;
use std::hash::RandomState;
use std::sync::{Arc, Mutex, MutexGuard};

pub(super) struct Entry {
    pub(super) material: Arc<DataKeyMaterial>,
    pub(super) created: Duration,
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

#[derive(Default)]
pub(super) struct State {
    slots: Buckets,
    pub(super) entries: usize,
    pub(super) tick: u64,
    /// No sweep of expired entries runs before this clock reading.
    pub(super) next_sweep: Duration,
    pub(super) counters: HashMap<Credential, Arc<CredentialCounters>>,
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
    pub(super) fn drop_if_empty(&mut self, hash: u64, key: &CacheKey<'_>) {
        if let Some(bucket) = self.slots.get_mut(&hash) {
            bucket.retain(|(k, s)| !(s.entry.is_none() && s.flight.is_none() && k.matches(key)));
            if bucket.is_empty() {
                self.slots.remove(&hash);
            }
        }
    }

    /// Removes every slot's entry for which `retire` holds (calling `on_retired` on it), and
    /// the slots left empty; returns how many entries were removed.
    pub(super) fn retire_where(
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

    pub(super) fn counters_for(&mut self, credential: &Credential) -> Arc<CredentialCounters> {
        if let Some(c) = self.counters.get(credential) {
            return Arc::clone(c);
        }
        let c = Arc::new(CredentialCounters::default());
        self.counters.insert(credential.clone(), Arc::clone(&c));
        c
    }

    pub(super) fn next_tick(&mut self) -> u64 {
        self.tick = self.tick.wrapping_add(1);
        self.tick
    }
}

/// The cache proper, shared with [`Refresh`] tickets that may complete on other threads.
pub(super) struct Inner {
    pub(super) hasher: RandomState,
    pub(super) limits: CacheLimits,
    pub(super) refresh_at: RefreshAt,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) state: Mutex<State>,
}

impl Inner {
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
    pub(super) fn make_room(&self, state: &mut State, keep_tick: u64, now: Duration) {
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
        let max_age = self.limits.max_age;
        state.retire_where(
            |e| now.saturating_sub(e.created) >= max_age,
            |e| e.counters.expired(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! Call counts per credential for the audit log ([`super::AuditLog::count`]), bounded so that
//! rotating session credentials cannot grow memory without bound.

use super::audit::Operation;
use crate::kms::Credential;
use std::collections::{BTreeMap, HashMap};

/// Default number of credentials whose call counts are kept apart (see
/// [`AuditLog::set_counted_credentials`](super::AuditLog::set_counted_credentials)).
pub const DEFAULT_COUNTED_CREDENTIALS: usize = 10_000;

/// Call counts per credential, bounded: at most `capacity` credentials are counted apart; when
/// a new one would exceed that, the credential seen longest ago is evicted and its counts move
/// to `evicted` (so totals per operation stay exact). Rotating session credentials (a new
/// access key id per session) therefore cannot grow memory without bound.
pub(super) struct Counts {
    pub(super) capacity: usize,
    /// A counter that orders the credentials by their last call.
    pub(super) tick: u64,
    pub(super) by_credential: HashMap<Credential, CredentialCounts>,
    /// Last call's tick → credential, oldest first.
    pub(super) order: BTreeMap<u64, Credential>,
    pub(super) evicted: BTreeMap<Operation, u64>,
    pub(super) evicted_credentials: u64,
}

pub(super) struct CredentialCounts {
    pub(super) last: u64,
    pub(super) ops: BTreeMap<Operation, u64>,
}

impl Counts {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            tick: 0,
            by_credential: HashMap::new(),
            order: BTreeMap::new(),
            evicted: BTreeMap::new(),
            evicted_credentials: 0,
        }
    }

    pub(super) fn add(&mut self, caller: &Credential, op: Operation) {
        self.tick += 1;
        let tick = self.tick;
        match self.by_credential.get_mut(caller) {
            Some(c) => {
                self.order.remove(&c.last);
                c.last = tick;
                *c.ops.entry(op).or_insert(0) += 1;
            }
            None => {
                let mut ops = BTreeMap::new();
                ops.insert(op, 1);
                self.by_credential
                    .insert(caller.clone(), CredentialCounts { last: tick, ops });
            }
        }
        self.order.insert(tick, caller.clone());
        self.shrink();
    }

    pub(super) fn shrink(&mut self) {
        while self.by_credential.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                return;
            };
            if let Some(c) = self.by_credential.remove(&oldest) {
                for (op, n) in c.ops {
                    *self.evicted.entry(op).or_insert(0) += n;
                }
                self.evicted_credentials += 1;
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.by_credential.clear();
        self.order.clear();
        self.evicted.clear();
        self.evicted_credentials = 0;
    }
}

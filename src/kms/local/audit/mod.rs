//! The local KMS's audit trail: one event per call, allowed or not, shaped like an AWS
//! CloudTrail record for KMS; a bounded in-memory log; optional JSON-lines file; call counts
//! per credential and operation; a cost estimate per credential. Requests refused before
//! they reach the KMS (by a server: bad signature, malformed request) are recorded with
//! [`AuditLog::record_rejected`] in the same file.
//!
//! Events never contain key material: only key ids, the (non-secret) encryption context, the
//! key spec and error codes.

mod event;
mod operation;
mod origin;
mod record;
#[cfg(test)]
mod record_tests;
mod rejected;
mod writer;

pub use super::counts::DEFAULT_COUNTED_CREDENTIALS;
pub use event::AuditEvent;
pub(crate) use event::{format_uuid, random_uuid};
pub use operation::Operation;
pub(crate) use origin::current_origin;
pub use origin::{OriginGuard, RequestOrigin};
pub use rejected::RejectedRequest;

use super::counts::Counts;
use crate::kms::{Credential, KmsError, KmsErrorKind};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use writer::open_no_follow;

/// Default number of events kept in memory.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The audit file and the buffer each record is rendered into before one `write_all`
/// (reused: no allocation per record).
struct Sink {
    file: Option<File>,
    line: Vec<u8>,
}

/// The largest line buffer kept for the next record, in bytes.
const MAX_KEPT_LINE: usize = 64 * 1024;

struct Ring {
    capacity: usize,
    events: VecDeque<Arc<AuditEvent>>,
    /// Records of [`AuditLog::record_rejected`], bounded by the same capacity.
    rejected: VecDeque<Value>,
    dropped: u64,
}

/// The audit log of a [`super::LocalKms`]. All methods take `&self`.
///
/// With a file ([`AuditLog::set_file`]) the log fails closed: a record that cannot be written
/// makes the KMS call fail with [`KmsErrorKind::AuditFailure`], and its result (a data key, a
/// blob) is not returned. A management call (CreateKey, PutKeyPolicy, ...) may then have taken
/// effect although it reports the failure; the in-memory log still holds its event.
pub struct AuditLog {
    ring: Mutex<Ring>,
    counts: Mutex<Counts>,
    file: Mutex<Sink>,
    file_errors: AtomicU64,
    rejected_count: AtomicU64,
}

impl core::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl Default for AuditLog {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

fn poisoned() -> KmsError {
    KmsError::new(KmsErrorKind::Internal, "local KMS audit lock poisoned")
}

impl AuditLog {
    /// A log keeping at most `capacity` events in memory (oldest dropped first).
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: Mutex::new(Ring {
                capacity,
                events: VecDeque::with_capacity(capacity.min(1024)),
                rejected: VecDeque::new(),
                dropped: 0,
            }),
            counts: Mutex::new(Counts::new(DEFAULT_COUNTED_CREDENTIALS)),
            file: Mutex::new(Sink {
                file: None,
                line: Vec::new(),
            }),
            file_errors: AtomicU64::new(0),
            rejected_count: AtomicU64::new(0),
        }
    }

    /// Records an event: counts it, keeps it in memory, appends it to the file if any.
    ///
    /// # Errors
    /// [`KmsErrorKind::AuditFailure`] when the file write (or its flush) fails, or a lock is
    /// poisoned; the event is still counted and kept in memory.
    pub(crate) fn record(&self, event: AuditEvent) -> Result<(), KmsError> {
        match self.counts.lock() {
            Ok(mut c) => c.add(&event.caller, event.operation),
            Err(_) => return Err(poisoned()),
        }
        let event = Arc::new(event);
        let written = self.write_with(event.operation.name(), |line| {
            record::write_line(&event, line);
        });
        if let Ok(mut r) = self.ring.lock() {
            if r.capacity == 0 {
                r.dropped += 1;
            } else {
                while r.events.len() >= r.capacity {
                    r.events.pop_front();
                    r.dropped += 1;
                }
                r.events.push_back(event);
            }
        }
        written
    }

    /// Appends `record` as one JSON line to the file, if any.
    fn write_line(&self, record: &Value, what: &str) -> Result<(), KmsError> {
        self.write_with(what, |line| {
            // Serializing a `Value` into a Vec cannot fail.
            serde_json::to_writer(&mut *line, record).unwrap_or_default();
            line.push(b'\n');
        })
    }

    /// If there is a file: clears the sink's reused line buffer, lets `render` write one
    /// record into it (ending with `\n`), and appends it to the file. Without a file nothing
    /// is rendered.
    fn write_with(&self, what: &str, render: impl FnOnce(&mut Vec<u8>)) -> Result<(), KmsError> {
        let Ok(mut guard) = self.file.lock() else {
            return Err(KmsError::new(
                KmsErrorKind::AuditFailure,
                "audit file lock poisoned",
            ));
        };
        let Sink { file, line } = &mut *guard;
        let Some(f) = file.as_mut() else {
            return Ok(());
        };
        line.clear();
        render(line);
        let written = f.write_all(line).and_then(|()| f.flush());
        // A rare huge record (a long policy document) does not stay allocated.
        if line.capacity() > MAX_KEPT_LINE {
            *line = Vec::new();
        }
        written.map_err(|e| {
            self.file_errors.fetch_add(1, Ordering::Relaxed);
            KmsError::new(
                KmsErrorKind::AuditFailure,
                format!(
                    "the audit record of this {what} call could not be written \
                     ({e}); the call's result is withheld"
                ),
            )
            .with_source(e)
        })
    }

    /// Records a request refused before it reached the KMS ([`RejectedRequest`]): appended
    /// to the file like every event (same fail-closed rule) and kept in memory
    /// ([`AuditLog::rejected_json`]). It is not counted per credential nor priced: the KMS
    /// did not serve it.
    ///
    /// # Errors
    /// [`KmsErrorKind::AuditFailure`] when the record could not be written; the caller must
    /// then not answer as if it had been recorded.
    pub fn record_rejected(&self, request: &RejectedRequest) -> Result<(), KmsError> {
        let record = request.to_json(&random_uuid());
        let written = self.write_line(&record, &request.event_name.escape_debug().to_string());
        self.rejected_count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut r) = self.ring.lock() {
            if r.capacity > 0 {
                while r.rejected.len() >= r.capacity {
                    r.rejected.pop_front();
                }
                r.rejected.push_back(record);
            }
        }
        written
    }

    /// The rejected requests in memory (see [`AuditLog::record_rejected`]), oldest first.
    pub fn rejected_json(&self) -> Vec<Value> {
        self.ring
            .lock()
            .map(|r| r.rejected.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// How many rejected requests were recorded since creation.
    pub fn rejected_count(&self) -> u64 {
        self.rejected_count.load(Ordering::Relaxed)
    }

    /// Counts calls apart for at most `credentials` credentials (default
    /// [`DEFAULT_COUNTED_CREDENTIALS`]); beyond that the credential whose last call is oldest is
    /// evicted, and its counts are kept only in the totals ([`AuditLog::count_operation`],
    /// [`AuditLog::evicted_counts`]). Shrinking evicts at once.
    pub fn set_counted_credentials(&self, credentials: usize) {
        if let Ok(mut c) = self.counts.lock() {
            c.capacity = credentials;
            c.shrink();
        }
    }

    /// How many credentials are counted apart now.
    pub fn counted_credentials(&self) -> usize {
        self.counts
            .lock()
            .map(|c| c.by_credential.len())
            .unwrap_or(0)
    }

    /// Counts of the credentials evicted from the per-credential table, by operation, and how
    /// many credentials were evicted.
    pub fn evicted_counts(&self) -> (BTreeMap<Operation, u64>, u64) {
        self.counts
            .lock()
            .map(|c| (c.evicted.clone(), c.evicted_credentials))
            .unwrap_or_default()
    }

    /// Changes how many events are kept in memory (dropping the oldest if needed).
    pub fn set_capacity(&self, capacity: usize) {
        if let Ok(mut r) = self.ring.lock() {
            r.capacity = capacity;
            while r.events.len() > capacity {
                r.events.pop_front();
                r.dropped += 1;
            }
        }
    }

    /// Appends every following event as one JSON line to `path`; `None` stops writing.
    ///
    /// The file is created if missing (mode 0600) and never through a symbolic link: a path
    /// that is a link (even a dangling one) is refused. Once a file is set, a record that cannot
    /// be written fails the call it records (see [`AuditLog`]).
    ///
    /// # Errors
    /// The I/O error opening the file; `InvalidInput` for a symbolic link.
    pub fn set_file(&self, path: Option<&Path>) -> std::io::Result<()> {
        let file = match path {
            Some(p) => Some(open_no_follow(p)?),
            None => None,
        };
        let mut g = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("audit file lock poisoned"))?;
        g.file = file;
        Ok(())
    }

    /// Number of events that could not be written to the file.
    pub fn file_errors(&self) -> u64 {
        self.file_errors.load(Ordering::Relaxed)
    }

    /// The events in memory, oldest first.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.ring
            .lock()
            .map(|r| r.events.iter().map(|e| (**e).clone()).collect())
            .unwrap_or_default()
    }

    /// The events in memory as CloudTrail-shaped JSON, oldest first.
    pub fn events_json(&self) -> Vec<Value> {
        self.ring
            .lock()
            .map(|r| r.events.iter().map(|e| e.to_json()).collect())
            .unwrap_or_default()
    }

    /// Number of events dropped from memory because the log was full.
    pub fn dropped(&self) -> u64 {
        self.ring.lock().map(|r| r.dropped).unwrap_or(0)
    }

    /// Number of calls of `operation` made by `caller` (allowed or not), since creation or the
    /// last [`AuditLog::clear`]. Counts are not bounded by the in-memory event capacity, but a
    /// credential evicted from the per-credential table (see
    /// [`AuditLog::set_counted_credentials`]) starts again from 0.
    pub fn count(&self, caller: &Credential, operation: Operation) -> u64 {
        self.counts
            .lock()
            .ok()
            .and_then(|c| {
                c.by_credential
                    .get(caller)
                    .and_then(|cc| cc.ops.get(&operation).copied())
            })
            .unwrap_or(0)
    }

    /// Number of calls of `operation` by every caller, evicted credentials included.
    pub fn count_operation(&self, operation: Operation) -> u64 {
        self.counts
            .lock()
            .map(|c| {
                c.by_credential
                    .values()
                    .filter_map(|cc| cc.ops.get(&operation))
                    .sum::<u64>()
                    + c.evicted.get(&operation).copied().unwrap_or(0)
            })
            .unwrap_or(0)
    }

    /// The counts of the credentials counted apart, by credential then operation.
    pub fn counts(&self) -> BTreeMap<Credential, BTreeMap<Operation, u64>> {
        self.counts
            .lock()
            .map(|c| {
                c.by_credential
                    .iter()
                    .map(|(cred, cc)| (cred.clone(), cc.ops.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Estimated request cost per credential at `price_per_10k_requests` (AWS KMS charges per
    /// 10,000 requests; every call counted here is priced, errors included).
    pub fn cost_estimate(&self, price_per_10k_requests: f64) -> BTreeMap<Credential, f64> {
        self.counts()
            .into_iter()
            .map(|(cred, ops)| {
                let n: u64 = ops.values().sum();
                // Request counts stay far below 2^53, where u64 → f64 is exact.
                #[allow(clippy::cast_precision_loss)]
                let cost = n as f64 * price_per_10k_requests / 10_000.0;
                (cred, cost)
            })
            .collect()
    }

    /// Forgets events and counts.
    pub fn clear(&self) {
        if let Ok(mut r) = self.ring.lock() {
            r.events.clear();
            r.rejected.clear();
            r.dropped = 0;
        }
        if let Ok(mut c) = self.counts.lock() {
            c.clear();
        }
    }

    /// Fails closed if a lock was poisoned (used by the KMS before serving a call).
    pub(crate) fn check(&self) -> Result<(), KmsError> {
        if self.ring.is_poisoned() || self.counts.is_poisoned() {
            return Err(poisoned());
        }
        Ok(())
    }
}

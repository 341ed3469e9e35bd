//! Counters per credential, shared by the cache and the engine.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of one credential's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialStats {
    /// Lookups served from a cached data key.
    pub hits: u64,
    /// Lookups that found no usable cached key (absent, expired or used up) and fetched or
    /// waited for one.
    pub misses: u64,
    /// KMS calls made (`GenerateDataKey` / `Decrypt`), each retry counted.
    pub kms_calls: u64,
    /// KMS calls that failed, each retry counted.
    pub kms_failures: u64,
    /// Entries replaced ahead of their limits by refresh-ahead.
    pub refreshes: u64,
    /// Entries evicted to make room (within the credential's share, or from the largest user
    /// of a full cache; least recently used first).
    pub evictions: u64,
    /// Entries retired because they reached their age, fragment or byte limit.
    pub expirations: u64,
    /// Fragments sealed.
    pub fragments_sealed: u64,
    /// Plaintext bytes sealed.
    pub bytes_sealed: u64,
    /// Fragments opened.
    pub fragments_opened: u64,
    /// Plaintext bytes opened.
    pub bytes_opened: u64,
    /// Fragments whose seal failed (and were handed back).
    pub seal_failures: u64,
    /// Fragments whose open failed (and were handed back).
    pub open_failures: u64,
}

/// One credential's live counters. Read them with [`CredentialCounters::snapshot`].
#[derive(Debug, Default)]
pub struct CredentialCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    kms_calls: AtomicU64,
    kms_failures: AtomicU64,
    refreshes: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
    fragments_sealed: AtomicU64,
    bytes_sealed: AtomicU64,
    fragments_opened: AtomicU64,
    bytes_opened: AtomicU64,
    seal_failures: AtomicU64,
    open_failures: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl CredentialCounters {
    /// The current values.
    pub fn snapshot(&self) -> CredentialStats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CredentialStats {
            hits: r(&self.hits),
            misses: r(&self.misses),
            kms_calls: r(&self.kms_calls),
            kms_failures: r(&self.kms_failures),
            refreshes: r(&self.refreshes),
            evictions: r(&self.evictions),
            expirations: r(&self.expirations),
            fragments_sealed: r(&self.fragments_sealed),
            bytes_sealed: r(&self.bytes_sealed),
            fragments_opened: r(&self.fragments_opened),
            bytes_opened: r(&self.bytes_opened),
            seal_failures: r(&self.seal_failures),
            open_failures: r(&self.open_failures),
        }
    }

    pub(crate) fn hit(&self) {
        bump(&self.hits, 1);
    }
    pub(crate) fn miss(&self) {
        bump(&self.misses, 1);
    }
    pub(crate) fn refreshed(&self) {
        bump(&self.refreshes, 1);
    }
    pub(crate) fn evicted(&self) {
        bump(&self.evictions, 1);
    }
    pub(crate) fn expired(&self) {
        bump(&self.expirations, 1);
    }

    /// Records one KMS call and whether it succeeded.
    pub(crate) fn record_kms_call(&self, ok: bool) {
        bump(&self.kms_calls, 1);
        if !ok {
            bump(&self.kms_failures, 1);
        }
    }

    /// Records one fragment of `bytes` plaintext bytes sealed.
    pub(crate) fn record_sealed(&self, bytes: u64) {
        bump(&self.fragments_sealed, 1);
        bump(&self.bytes_sealed, bytes);
    }

    /// Records one fragment of `bytes` plaintext bytes opened.
    pub(crate) fn record_opened(&self, bytes: u64) {
        bump(&self.fragments_opened, 1);
        bump(&self.bytes_opened, bytes);
    }

    /// Records `bytes` more plaintext bytes opened (streaming).
    pub(crate) fn record_opened_bytes(&self, bytes: u64) {
        bump(&self.bytes_opened, bytes);
    }

    /// Records a fragment whose seal failed.
    pub(crate) fn record_seal_failure(&self) {
        bump(&self.seal_failures, 1);
    }

    /// Records a fragment whose open failed.
    pub(crate) fn record_open_failure(&self) {
        bump(&self.open_failures, 1);
    }
}

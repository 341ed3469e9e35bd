//! Limits of the data-key cache and the refresh-ahead thresholds derived from them.

use crate::ConfigError;
use core::time::Duration;

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
/// By default one credential may hold at most `capacity / DEFAULT_CREDENTIAL_SHARE` entries
/// (rounded up): a quarter of the cache.
pub const DEFAULT_CREDENTIAL_SHARE: usize = 4;
/// The counters of at most this many credentials without an entry or a fetch in the cache are
/// kept (the most recently seen); see [`crate::cache::DataKeyCache::stats`].
pub const MAX_IDLE_CREDENTIALS: usize = 1024;

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
    /// Maximum number of entries of one credential, so that one credential cannot evict the
    /// others' keys: a credential at its share that installs a new entry evicts its own least
    /// recently used entry, never another credential's. `None` (the default) means
    /// `capacity / `[`DEFAULT_CREDENTIAL_SHARE`] rounded up; a value above `capacity` counts as
    /// `capacity`. A process whose one credential seals for many streams (one entry per stream
    /// and context) should raise it. See [`Self::entries_per_credential`].
    pub max_entries_per_credential: Option<usize>,
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
            max_entries_per_credential: None,
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

    /// Sets [`Self::max_entries_per_credential`].
    pub fn with_max_entries_per_credential(mut self, max: usize) -> Self {
        self.max_entries_per_credential = Some(max);
        self
    }

    /// The number of entries one credential may hold: [`Self::max_entries_per_credential`],
    /// or `capacity / `[`DEFAULT_CREDENTIAL_SHARE`] rounded up, at most `capacity`.
    pub fn entries_per_credential(&self) -> usize {
        self.max_entries_per_credential
            .unwrap_or_else(|| self.capacity.div_ceil(DEFAULT_CREDENTIAL_SHARE))
            .min(self.capacity)
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
    /// [`ConfigError::ZeroCacheLimit`] naming the first limit that is zero while caching is on
    /// (`max_age`, `max_fragments`, `max_bytes`, `max_entries_per_credential`; use
    /// [`CacheLimits::disabled`] to turn caching off), or [`ConfigError::RefreshAhead`] when
    /// `refresh_ahead` is outside `(0, 1]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.capacity == 0 {
            return Ok(());
        }
        let zero = [
            ("max_age", self.max_age.is_zero()),
            ("max_fragments", self.max_fragments == 0),
            ("max_bytes", self.max_bytes == 0),
            (
                "max_entries_per_credential",
                self.max_entries_per_credential == Some(0),
            ),
        ];
        if let Some((field, _)) = zero.into_iter().find(|(_, is_zero)| *is_zero) {
            return Err(ConfigError::ZeroCacheLimit { field });
        }
        if !(self.refresh_ahead > 0.0 && self.refresh_ahead <= 1.0) {
            return Err(ConfigError::RefreshAhead {
                value: self.refresh_ahead,
            });
        }
        Ok(())
    }

    pub(super) fn enabled(&self) -> bool {
        self.capacity > 0
    }
}

/// Thresholds past which an entry is refreshed ahead.
#[derive(Clone, Copy)]
pub(super) struct RefreshAt {
    pub(super) age: Duration,
    pub(super) fragments: u64,
    pub(super) bytes: u64,
}

impl RefreshAt {
    pub(super) fn new(l: &CacheLimits) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::DataKeyCache;

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
        let d = CacheLimits::default;
        for (l, name) in [
            (d().with_max_age(Duration::ZERO), "max_age"),
            (d().with_max_fragments(0), "max_fragments"),
            (d().with_max_bytes(0), "max_bytes"),
            (
                d().with_max_entries_per_credential(0),
                "max_entries_per_credential",
            ),
        ] {
            assert!(
                matches!(
                    DataKeyCache::new(l),
                    Err(ConfigError::ZeroCacheLimit { field }) if field == name
                ),
                "{name}"
            );
        }
        for bad in [0.0, 1.5, f64::NAN] {
            assert!(matches!(
                DataKeyCache::new(d().with_refresh_ahead(bad)),
                Err(ConfigError::RefreshAhead { value }) if value.to_bits() == bad.to_bits()
            ));
        }
        assert!(DataKeyCache::new(CacheLimits::disabled().with_max_fragments(0)).is_ok());
    }
}

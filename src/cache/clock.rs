//! The cache's clock, injectable so that tests move time instead of sleeping.

use core::time::Duration;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

/// A monotonic clock: the time elapsed since an arbitrary, fixed origin.
///
/// The cache compares readings of one clock only, so the origin does not matter; readings must
/// never go backwards.
pub trait Clock: Send + Sync {
    /// The current reading.
    fn now(&self) -> Duration;

    /// The wall-clock time of the current reading, against which credential expiries
    /// ([`crate::kms::Credential::expiry`]) are compared. The cache turns a credential's expiry
    /// into a deadline on [`Self::now`] when it stores a key, so later wall-clock jumps do not
    /// move it. The default is [`SystemTime::now`]; a clock that moves time by hand should
    /// override it to move wall time along (as [`ManualClock`] does).
    fn wall_now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The real monotonic clock ([`Instant`]), with its origin at construction.
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    origin: Instant,
    wall_origin: SystemTime,
}

impl SystemClock {
    /// A clock reading zero now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            wall_origin: SystemTime::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The wall time at construction plus the monotonic time elapsed since: a wall-clock step
    /// after construction cannot make a credential look younger.
    fn wall_now(&self) -> SystemTime {
        self.wall_origin + self.origin.elapsed()
    }
}

/// A clock that moves only when told to: for tests and simulations. Its wall time
/// ([`Clock::wall_now`]) is its start time plus its reading.
#[derive(Debug)]
pub struct ManualClock {
    nanos: AtomicU64,
    wall_origin: SystemTime,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A clock reading zero, whose wall time starts at the system's time now.
    pub fn new() -> Self {
        Self::starting_at(SystemTime::now())
    }

    /// A clock reading zero, whose wall time starts at `wall` (to move in step with another
    /// manual clock, for example the local KMS's).
    pub fn starting_at(wall: SystemTime) -> Self {
        Self {
            nanos: AtomicU64::new(0),
            wall_origin: wall,
        }
    }

    /// Moves the clock forward by `by` (saturating at about 584 years).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Sets the reading to `to` if that is not earlier than the current reading (the clock is
    /// monotonic); returns whether it moved.
    pub fn set(&self, to: Duration) -> bool {
        let to = u64::try_from(to.as_nanos()).unwrap_or(u64::MAX);
        self.nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (to >= n).then_some(to)
            })
            .is_ok()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }

    fn wall_now(&self) -> SystemTime {
        self.wall_origin + self.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_forward() {
        let c = ManualClock::new();
        assert_eq!(c.now(), Duration::ZERO);
        c.advance(Duration::from_secs(3));
        assert_eq!(c.now(), Duration::from_secs(3));
        assert!(!c.set(Duration::from_secs(2)));
        assert_eq!(c.now(), Duration::from_secs(3));
        assert!(c.set(Duration::from_secs(10)));
        assert_eq!(c.now(), Duration::from_secs(10));
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let c = ManualClock::starting_at(t);
        c.advance(Duration::from_secs(900));
        assert_eq!(c.wall_now(), t + Duration::from_secs(900));
    }

    #[test]
    fn system_clock_is_monotonic() {
        let c = SystemClock::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
    }
}

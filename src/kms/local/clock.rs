//! An injectable wall clock, so that tests move time instead of sleeping.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A source of the current time. The local KMS reads it for event times, deletion dates,
/// quota refills and outage windows.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to (for tests).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut t) = self.now.lock() {
            *t += by;
        }
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: SystemTime) {
        if let Ok(mut t) = self.now.lock() {
            *t = to;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        // A poisoned lock only means a panic while setting the time; the value is still valid.
        match self.now.lock() {
            Ok(t) => *t,
            Err(p) => *p.into_inner(),
        }
    }
}

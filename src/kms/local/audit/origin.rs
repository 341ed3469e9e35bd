//! Where a request came from, for the audit record: set for the duration of one call with
//! [`LocalKms::with_origin`](crate::kms::local::LocalKms::with_origin).

use std::cell::RefCell;

/// The network origin of a request: CloudTrail's `sourceIPAddress`, `userAgent` and
/// `requestID`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestOrigin {
    /// The client's address (`sourceIPAddress`).
    pub source_ip: String,
    /// The client's `User-Agent` (`userAgent`).
    pub user_agent: String,
    /// The request id answered to the client (`requestID`, `x-amzn-RequestId`).
    pub request_id: String,
}

thread_local! {
    static ORIGIN: RefCell<Option<RequestOrigin>> = const { RefCell::new(None) };
}

/// Restores the previous origin of this thread when dropped (also when the call panics).
#[derive(Debug)]
#[must_use = "the origin is reset when the guard is dropped"]
pub struct OriginGuard {
    previous: Option<RequestOrigin>,
}

impl OriginGuard {
    /// Sets `origin` as this thread's current request origin until the guard is dropped.
    pub fn set(origin: &RequestOrigin) -> Self {
        let previous = ORIGIN.with(|o| o.replace(Some(origin.clone())));
        Self { previous }
    }
}

impl Drop for OriginGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // `try_with`: during thread teardown the slot may be gone; nothing to restore then.
        let _ = ORIGIN.try_with(|o| *o.borrow_mut() = previous);
    }
}

/// This thread's current request origin, if a call is running inside `with_origin`.
pub(crate) fn current_origin() -> Option<RequestOrigin> {
    ORIGIN.try_with(|o| o.borrow().clone()).ok().flatten()
}

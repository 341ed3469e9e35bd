//! Where an engine gets its caller's [`Credential`] when the credential is a session that
//! expires: a [`CredentialProvider`].

use super::{Credential, KmsError, KmsErrorKind};
use core::fmt;
use std::sync::Mutex;

/// The source of the current credential of a caller whose sessions expire (an assumed role).
///
/// An [`Engine`](crate::engine::Engine) given one
/// ([`Engine::with_credential_provider`](crate::engine::Engine::with_credential_provider))
/// seals and opens for [`credential`](Self::credential) (`seal_current`, `open_current`, ...)
/// and, when KMS answers `ExpiredTokenException`, calls [`refresh`](Self::refresh) once and
/// retries once with the new credential.
///
/// Errors are [`KmsError`]s with AWS's names, as STS would answer (`ExpiredTokenException`,
/// `AccessDeniedException`, `TransportError`, ...). Implementations never log secrets; a
/// [`Credential`] holds none.
pub trait CredentialProvider: Send + Sync {
    /// The current credential.
    ///
    /// # Errors
    /// Why no credential could be had.
    fn credential(&self) -> Result<Credential, KmsError>;

    /// A new credential to replace `expired`, which KMS refused as expired. Implementations
    /// should return the already-current credential when another caller refreshed it in the
    /// meantime (it differs from `expired`), so that many callers failing at once cause one
    /// refresh.
    ///
    /// # Errors
    /// Why no new credential could be had.
    fn refresh(&self, expired: &Credential) -> Result<Credential, KmsError>;
}

/// One fixed credential (for example long-term access keys): it cannot be refreshed.
#[derive(Clone, Debug)]
pub struct StaticCredentialProvider {
    credential: Credential,
}

impl StaticCredentialProvider {
    /// Always `credential`.
    pub fn new(credential: Credential) -> Self {
        Self { credential }
    }
}

impl CredentialProvider for StaticCredentialProvider {
    fn credential(&self) -> Result<Credential, KmsError> {
        Ok(self.credential.clone())
    }

    /// # Errors
    /// Always `ExpiredTokenException`: a static credential has no replacement.
    fn refresh(&self, expired: &Credential) -> Result<Credential, KmsError> {
        Err(KmsError::new(
            KmsErrorKind::ExpiredToken,
            format!(
                "the credential {} expired and its provider is static: it cannot be refreshed",
                expired.access_key_id()
            ),
        ))
    }
}

type Fetch = dyn Fn() -> Result<Credential, KmsError> + Send + Sync;

/// A provider that obtains sessions with a closure (for example an STS `AssumeRole` call) and
/// keeps the current one until it is refreshed.
///
/// [`refresh`](CredentialProvider::refresh) fetches a new session only when the current one is
/// still the expired one it is told about (one fetch for many callers failing at once), and
/// refuses a "new" session that is the expired credential again (`ExpiredTokenException`):
/// retrying with it could only fail the same way.
pub struct RefreshingCredentialProvider {
    fetch: Box<Fetch>,
    current: Mutex<Option<Credential>>,
}

impl fmt::Debug for RefreshingCredentialProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current.lock().ok().and_then(|c| c.clone());
        f.debug_struct("RefreshingCredentialProvider")
            .field("current", &current)
            .finish_non_exhaustive()
    }
}

fn poisoned() -> KmsError {
    KmsError::new(
        KmsErrorKind::Internal,
        "credential provider: a lock was poisoned",
    )
}

impl RefreshingCredentialProvider {
    /// A provider calling `fetch` for the first session and for each refresh.
    pub fn new(fetch: impl Fn() -> Result<Credential, KmsError> + Send + Sync + 'static) -> Self {
        Self {
            fetch: Box::new(fetch),
            current: Mutex::new(None),
        }
    }
}

impl CredentialProvider for RefreshingCredentialProvider {
    fn credential(&self) -> Result<Credential, KmsError> {
        let mut current = self.current.lock().map_err(|_| poisoned())?;
        if let Some(c) = current.as_ref() {
            return Ok(c.clone());
        }
        let fresh = (self.fetch)()?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    fn refresh(&self, expired: &Credential) -> Result<Credential, KmsError> {
        let mut current = self.current.lock().map_err(|_| poisoned())?;
        if let Some(c) = current.as_ref().filter(|c| *c != expired) {
            return Ok(c.clone());
        }
        let fresh = (self.fetch)()?;
        if &fresh == expired {
            return Err(KmsError::new(
                KmsErrorKind::ExpiredToken,
                format!(
                    "the credential {} expired and its provider returned it again",
                    expired.access_key_id()
                ),
            ));
        }
        *current = Some(fresh.clone());
        Ok(fresh)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    fn session(n: u32) -> Credential {
        Credential::new(
            "111122223333",
            "arn:aws:sts::111122223333:assumed-role/producer/cam",
            format!("ASIA{n}"),
        )
        .unwrap()
    }

    #[test]
    fn refresh_fetches_once_per_expired_session() {
        let n = Arc::new(AtomicU32::new(0));
        let m = Arc::clone(&n);
        let p = RefreshingCredentialProvider::new(move || {
            Ok(session(m.fetch_add(1, Ordering::SeqCst)))
        });
        let first = p.credential().unwrap();
        assert_eq!(p.credential().unwrap(), first, "kept until refreshed");
        let second = p.refresh(&first).unwrap();
        assert_ne!(second, first);
        // A second caller that saw the first session expire gets the second, no new fetch.
        assert_eq!(p.refresh(&first).unwrap(), second);
        assert_eq!(n.load(Ordering::SeqCst), 2);
        assert_eq!(p.credential().unwrap(), second);
    }

    #[test]
    fn refresh_refuses_the_same_expired_session() {
        let p = RefreshingCredentialProvider::new(|| Ok(session(7)));
        let c = p.credential().unwrap();
        assert_eq!(
            p.refresh(&c).unwrap_err().kind(),
            KmsErrorKind::ExpiredToken
        );
        let s = StaticCredentialProvider::new(session(1));
        assert_eq!(s.credential().unwrap(), session(1));
        assert_eq!(
            s.refresh(&session(1)).unwrap_err().kind(),
            KmsErrorKind::ExpiredToken
        );
    }
}

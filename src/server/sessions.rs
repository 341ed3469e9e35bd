//! The STS sessions this server issued (`AssumeRole`), in memory only: a table keyed by the
//! session's access key id (`ASIA…`), holding the session's principal, its secret access key
//! and session token (both zeroized on drop, never printed) and its expiration.
//!
//! The table is bounded ([`MAX_SESSIONS`]): issuing a session into a full table first drops
//! the expired ones, then the one that expires first. A restart forgets every session (their
//! clients get `UnrecognizedClientException` / `InvalidClientTokenId`, as for a revoked one).

use crate::kms::Credential;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Most sessions held at once.
pub(crate) const MAX_SESSIONS: usize = 100_000;

/// One issued session.
pub(crate) struct Session {
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, with the session's access key id.
    pub(crate) credential: Credential,
    pub(crate) secret: Zeroizing<String>,
    token: Zeroizing<String>,
    pub(crate) expiration: SystemTime,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("credential", &self.credential)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        credential: Credential,
        secret: Zeroizing<String>,
        token: Zeroizing<String>,
        expiration: SystemTime,
    ) -> Self {
        Self {
            credential,
            secret,
            token,
            expiration,
        }
    }

    /// Whether `presented` is this session's token (constant time in the token's content).
    pub(crate) fn token_matches(&self, presented: &[u8]) -> bool {
        self.token.as_bytes().ct_eq(presented).into()
    }
}

/// What a lookup found, copied out of the table (the lock is not held while signing).
pub(crate) struct Found {
    pub(crate) credential: Credential,
    pub(crate) secret: Zeroizing<String>,
    pub(crate) token_ok: bool,
    pub(crate) expiration: SystemTime,
}

/// The table.
#[derive(Default)]
pub(crate) struct Sessions {
    table: Mutex<HashMap<String, Session>>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.table.lock().map_or(0, |t| t.len());
        f.debug_struct("Sessions").field("count", &n).finish()
    }
}

impl Sessions {
    /// Stores `session`; `now` is the (offset) server clock, used to drop expired sessions
    /// when the table is full.
    pub(crate) fn insert(&self, session: Session, now: SystemTime) {
        let mut t = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if t.len() >= MAX_SESSIONS {
            t.retain(|_, s| s.expiration > now);
        }
        if t.len() >= MAX_SESSIONS {
            let first = t
                .iter()
                .min_by_key(|(_, s)| s.expiration)
                .map(|(k, _)| k.clone());
            if let Some(k) = first {
                t.remove(&k);
            }
        }
        t.insert(session.credential.access_key_id().to_owned(), session);
    }

    /// The session of `access_key_id`, with whether `token` is its session token.
    pub(crate) fn find(&self, access_key_id: &str, token: Option<&[u8]>) -> Option<Found> {
        let t = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = t.get(access_key_id)?;
        Some(Found {
            credential: s.credential.clone(),
            secret: s.secret.clone(),
            token_ok: token.is_some_and(|tok| s.token_matches(tok)),
            expiration: s.expiration,
        })
    }

    /// How many sessions are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.lock().map_or(0, |t| t.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn session(akid: &str, exp: SystemTime) -> Session {
        Session::new(
            Credential::new(
                "111122223333",
                "arn:aws:sts::111122223333:assumed-role/r/s",
                akid,
            )
            .expect("credential"),
            Zeroizing::new("secret".to_owned()),
            Zeroizing::new("token".to_owned()),
            exp,
        )
    }

    #[test]
    fn tokens_are_compared_exactly_and_secrets_never_printed() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let t = Sessions::default();
        t.insert(session("ASIAAAAAAAAAAAAAAAAA", now), now);
        let f = t
            .find("ASIAAAAAAAAAAAAAAAAA", Some(b"token"))
            .expect("found");
        assert!(f.token_ok);
        for bad in [&b"toke"[..], b"tokenn", b"Token", b""] {
            let f = t.find("ASIAAAAAAAAAAAAAAAAA", Some(bad)).expect("found");
            assert!(!f.token_ok, "{bad:?}");
        }
        assert!(
            !t.find("ASIAAAAAAAAAAAAAAAAA", None)
                .expect("found")
                .token_ok
        );
        assert!(t.find("ASIABBBBBBBBBBBBBBBB", Some(b"token")).is_none());
        let shown = format!("{:?}", session("ASIAAAAAAAAAAAAAAAAA", now));
        assert!(
            !shown.contains("secret") && !shown.contains("token\""),
            "{shown}"
        );
    }

    #[test]
    fn a_full_table_drops_the_session_that_expires_first() {
        let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let t = Sessions::default();
        for i in 0..MAX_SESSIONS {
            let exp = base + Duration::from_secs(1000 + i as u64);
            t.insert(session(&format!("ASIA{i:016}"), exp), base);
        }
        assert_eq!(t.len(), MAX_SESSIONS);
        t.insert(
            session("ASIANEWNEWNEWNEWNEWN", base + Duration::from_secs(99_999)),
            base,
        );
        assert_eq!(t.len(), MAX_SESSIONS);
        assert!(t.find(&format!("ASIA{:016}", 0), None).is_none());
        assert!(t.find(&format!("ASIA{:016}", 1), None).is_some());
        assert!(t.find("ASIANEWNEWNEWNEWNEWN", None).is_some());
    }
}

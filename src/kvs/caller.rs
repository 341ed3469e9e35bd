//! The caller of a PutMedia or GetMedia session given as a [`CredentialProvider`]
//! ([`Kvs::put_media_with_provider`](super::Kvs::put_media_with_provider),
//! [`Kvs::start_get_media_with_provider`](super::Kvs::start_get_media_with_provider)).
//!
//! The `kinesisvideo:` action is authorized once, at the start, for the provider's current
//! credential. Each fragment is then sealed or opened for the provider's current credential,
//! refreshed once (and the fragment retried once) on `ExpiredTokenException`, so that a role
//! session that expires during a long session is replaced by the next one. A replacement
//! must be for the same principal (a new session of the same role, in the same account): a
//! credential for another principal fails the fragment with `AccessDeniedException` (4500),
//! and the session never continues under another identity than the one authorized.

use crate::engine::{Engine, FragmentWriter, OpenRequest, SealRequest, SealWriterRequest};
use crate::kms::{
    Credential, CredentialProvider, KmsError, KmsErrorKind, StaticCredentialProvider,
};
use crate::message::VerifiedHeader;
use crate::{OpenError, SealError};
use std::sync::Arc;
use std::time::SystemTime;

use super::errors::{KvsError, KvsErrorKind};

/// A session's caller: one fixed credential ([`Kvs::put_media`](super::Kvs::put_media),
/// [`Kvs::get_media`](super::Kvs::get_media): used as given, never refreshed), or a provider
/// bound to the principal the session's action was authorized for.
pub(crate) struct SessionCaller {
    provider: Option<Arc<dyn CredentialProvider>>,
    /// The credential the session started with (and was authorized for).
    first: Credential,
}

impl core::fmt::Debug for SessionCaller {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionCaller")
            .field("principal", &self.first.principal_arn())
            .finish_non_exhaustive()
    }
}

impl SessionCaller {
    /// `credential`, as given.
    pub(crate) fn fixed(credential: &Credential) -> Self {
        Self {
            provider: None,
            first: credential.clone(),
        }
    }

    /// The session of `provider`: its current credential, replaced first by a refreshed one
    /// (for the same principal) when it has already expired at `now` (the KVS clock). When it
    /// cannot be refreshed the expired one is kept: the action is authorized for it, and its
    /// first fragment fails as an expired session's does (4500).
    ///
    /// # Errors
    /// `NotAuthorizedException` when the provider gives no credential.
    pub(crate) fn start(
        provider: Arc<dyn CredentialProvider>,
        now: SystemTime,
    ) -> Result<Self, KvsError> {
        let mut first = provider.credential().map_err(|e| {
            KvsError::new(
                KvsErrorKind::NotAuthorized,
                format!("the credential provider gave no credential: {e}"),
            )
        })?;
        if first.is_expired_at(now) {
            if let Ok(fresh) = provider.refresh(&first) {
                if same_principal(&fresh, &first) {
                    first = fresh;
                }
            }
        }
        Ok(Self {
            provider: Some(provider),
            first,
        })
    }

    /// Seals `request` with `engine`: for the fixed credential, or for the provider's current
    /// one (refreshed once, and retried once, on `ExpiredTokenException`).
    pub(crate) fn seal(
        &self,
        engine: &Engine,
        request: &SealRequest,
    ) -> Result<bytes::Bytes, SealError> {
        match &self.provider {
            None => engine.seal(&self.first, request),
            Some(_) => engine.seal_for(self, request),
        }
    }

    /// Starts a streamed seal with `engine`, as [`Self::seal`] (the data key is leased, and
    /// an expired credential refreshed, when the writer starts).
    pub(crate) fn seal_writer<'e>(
        &self,
        engine: &'e Engine,
        request: &SealWriterRequest,
    ) -> Result<FragmentWriter<'e>, SealError> {
        match &self.provider {
            None => engine.seal_writer(&self.first, request),
            Some(_) => engine.seal_writer_for(self, request),
        }
    }

    /// Opens `request` with `engine` into `out`, as [`Self::seal`].
    pub(crate) fn open_into(
        &self,
        engine: &Engine,
        request: &OpenRequest,
        out: &mut Vec<u8>,
    ) -> Result<VerifiedHeader, OpenError> {
        match &self.provider {
            None => engine.open_into(&self.first, request, out),
            Some(_) => engine.open_into_for(self, request, out),
        }
    }

    /// The credential the session started with: the one its action was authorized for.
    pub(crate) fn first(&self) -> &Credential {
        &self.first
    }

    /// `c`, when it is for the session's principal.
    fn same_principal(&self, c: Credential) -> Result<Credential, KmsError> {
        if same_principal(&c, &self.first) {
            return Ok(c);
        }
        Err(KmsError::new(
            KmsErrorKind::AccessDenied,
            format!(
                "the credential provider's credential {} is for {}, but this session was \
                 authorized for {}: a session never changes identity; start a new session for \
                 the new principal",
                c.access_key_id(),
                c.principal_arn(),
                self.first.principal_arn()
            ),
        ))
    }
}

/// Whether `a` and `b` are credentials of one principal (same account and principal ARN).
fn same_principal(a: &Credential, b: &Credential) -> bool {
    a.account() == b.account() && a.principal_arn() == b.principal_arn()
}

impl CredentialProvider for SessionCaller {
    fn credential(&self) -> Result<Credential, KmsError> {
        match &self.provider {
            None => Ok(self.first.clone()),
            Some(p) => self.same_principal(p.credential()?),
        }
    }

    fn refresh(&self, expired: &Credential) -> Result<Credential, KmsError> {
        match &self.provider {
            None => StaticCredentialProvider::new(self.first.clone()).refresh(expired),
            Some(p) => self.same_principal(p.refresh(expired)?),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cred(principal: &str, key: &str) -> Credential {
        Credential::new("111122223333", principal, key).unwrap()
    }

    #[test]
    fn another_principal_is_refused_and_an_expired_start_refreshes_or_fails() {
        let cam = "arn:aws:sts::111122223333:assumed-role/producer/cam";
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1000);
        let p = Arc::new(StaticCredentialProvider::new(cred(cam, "ASIA1")));
        let s = SessionCaller::start(p, t).unwrap();
        assert_eq!(s.credential().unwrap().access_key_id(), "ASIA1");
        let other = cred(
            "arn:aws:sts::111122223333:assumed-role/producer/eve",
            "ASIA2",
        );
        let e = s.same_principal(other).unwrap_err();
        assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
        assert!(e.to_string().contains("never changes identity"), "{e}");
        assert!(s
            .same_principal(cred(cam, "ASIA3"))
            .is_ok_and(|c| c.access_key_id() == "ASIA3"));

        // An expired start that cannot be refreshed keeps its credential (its first fragment
        // fails); one that can is replaced, for the same principal only.
        let expired = cred(cam, "ASIA4").with_expiry(t);
        let p = Arc::new(StaticCredentialProvider::new(expired.clone()));
        assert_eq!(SessionCaller::start(p, t).unwrap().first(), &expired);
        let n = std::sync::atomic::AtomicU32::new(0);
        let p = Arc::new(crate::kms::RefreshingCredentialProvider::new(move || {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(cred(cam, &format!("ASIA{}", 10 + i))
                .with_expiry(t + Duration::from_secs(u64::from(i) * 900)))
        }));
        let s = SessionCaller::start(p, t).unwrap();
        assert_eq!(s.first().access_key_id(), "ASIA11");
    }
}

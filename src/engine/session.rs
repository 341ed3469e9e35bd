//! Sealing and opening for the current credential of a [`CredentialProvider`]: on
//! `ExpiredTokenException` the engine refreshes the credential once and retries once.

use super::{
    Engine, FragmentWriter, OpenFailure, OpenRequest, Opened, SealFailure, SealRequest,
    SealWriterRequest,
};
use crate::error::{KeyringError, OpenError, SealError};
use crate::kms::{Credential, CredentialProvider, KmsError, KmsErrorKind};
use crate::message::VerifiedHeader;
use bytes::Bytes;
use core::fmt;
use std::sync::Arc;

/// A batch for the provider's credential that could not start: the provider gave no
/// credential. The requests are handed back, unchanged and in order.
#[derive(Debug)]
pub struct NoCredential<R> {
    /// Why the provider gave no credential.
    pub error: KmsError,
    /// The requests, unchanged.
    pub requests: Vec<R>,
}

impl<R> fmt::Display for NoCredential<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} fragments not processed: no credential: {}",
            self.requests.len(),
            self.error
        )
    }
}

impl<R: fmt::Debug> std::error::Error for NoCredential<R> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

fn is_expired(e: &KeyringError) -> bool {
    e.kms().is_some_and(KmsError::is_expired_token)
}

/// Whether a seal failed because KMS refused the credential as expired.
pub(super) fn seal_expired(e: &SealError) -> bool {
    matches!(e, SealError::Keyring(k) if is_expired(k))
}

/// Whether an open failed because KMS refused the credential as expired (for any of the
/// encrypted data keys tried: a refreshed credential may open the message).
pub(super) fn open_expired(e: &OpenError) -> bool {
    matches!(e, OpenError::AllKeysFailed(errors) if errors.iter().any(is_expired))
}

fn seal_error(e: KmsError) -> SealError {
    SealError::Keyring(KeyringError::Kms(e))
}

fn open_error(e: KmsError) -> OpenError {
    OpenError::AllKeysFailed(vec![KeyringError::Kms(e)])
}

impl Engine {
    /// This engine, sealing and opening for `provider`'s credential in
    /// [`Self::seal_current`], [`Self::open_current`], [`Self::seal_batch_current`] and
    /// [`Self::open_batch_current`]. The methods that take a credential are unchanged: they
    /// never substitute another credential for the one named.
    #[must_use]
    pub fn with_credential_provider(mut self, provider: Arc<dyn CredentialProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// The credential provider, if one was given.
    pub fn credential_provider(&self) -> Option<&Arc<dyn CredentialProvider>> {
        self.provider.as_ref()
    }

    fn provider(&self) -> Result<&Arc<dyn CredentialProvider>, KmsError> {
        self.provider.as_ref().ok_or_else(|| {
            KmsError::new(
                KmsErrorKind::UnsupportedOperation,
                "this engine has no credential provider (Engine::with_credential_provider)",
            )
        })
    }

    /// The provider's current credential; refreshed first when it has already expired on the
    /// cache's clock ([`crate::cache::Clock::wall_now`]), so that no KMS call is spent on a
    /// credential known to be expired.
    ///
    /// # Errors
    /// The provider's error; `UnsupportedOperationException` when the engine has no provider;
    /// `ExpiredTokenException` when the refreshed credential is expired too.
    pub fn current_credential(&self) -> Result<Credential, KmsError> {
        self.current_credential_of(&**self.provider()?)
    }

    /// [`Self::current_credential`] of `provider` (not necessarily the engine's own): for an
    /// engine shared by many callers, each with its own provider (the KVS layer's engines).
    pub(crate) fn current_credential_of(
        &self,
        provider: &dyn CredentialProvider,
    ) -> Result<Credential, KmsError> {
        let now = self.cache.clock().wall_now();
        let credential = provider.credential()?;
        if !credential.is_expired_at(now) {
            return Ok(credential);
        }
        let fresh = provider.refresh(&credential)?;
        if fresh.is_expired_at(now) {
            return Err(KmsError::new(
                KmsErrorKind::ExpiredToken,
                format!(
                    "the credential provider's new credential {} has already expired",
                    fresh.access_key_id()
                ),
            ));
        }
        Ok(fresh)
    }

    /// A new credential replacing `expired`, which KMS refused.
    fn refreshed(&self, expired: &Credential) -> Result<Credential, KmsError> {
        self.provider()?.refresh(expired)
    }

    /// Seals one fragment for the provider's current credential
    /// ([`Self::with_credential_provider`]); when KMS answers `ExpiredTokenException`, refreshes
    /// the credential once and retries once.
    ///
    /// # Errors
    /// As [`Self::seal`]; [`SealError::Keyring`] with the provider's [`KmsError`] when no
    /// credential could be had or refreshed.
    pub fn seal_current(&self, request: &SealRequest) -> Result<Bytes, SealError> {
        let provider = self.provider().map_err(seal_error)?;
        self.seal_for(&**provider, request)
    }

    /// [`Self::seal_current`] for `provider`'s current credential (not necessarily the
    /// engine's own provider).
    pub(crate) fn seal_for(
        &self,
        provider: &dyn CredentialProvider,
        request: &SealRequest,
    ) -> Result<Bytes, SealError> {
        self.sealing_for(provider, |credential| self.seal(credential, request))
    }

    /// Runs `seal` for `provider`'s current credential; when KMS answers
    /// `ExpiredTokenException`, refreshes the credential once and runs it once more.
    fn sealing_for<T>(
        &self,
        provider: &dyn CredentialProvider,
        seal: impl Fn(&Credential) -> Result<T, SealError>,
    ) -> Result<T, SealError> {
        let credential = self.current_credential_of(provider).map_err(seal_error)?;
        match seal(&credential) {
            Err(e) if seal_expired(&e) => {
                let fresh = provider.refresh(&credential).map_err(seal_error)?;
                seal(&fresh)
            }
            other => other,
        }
    }

    /// Starts a streamed seal ([`Self::seal_writer`]) for the provider's current credential;
    /// when KMS answers `ExpiredTokenException` for the data key, refreshes the credential
    /// once and retries once (nothing was written yet: the data key is leased when the writer
    /// starts).
    ///
    /// # Errors
    /// As [`Self::seal_current`].
    pub fn seal_writer_current(
        &self,
        request: &SealWriterRequest,
    ) -> Result<FragmentWriter<'_>, SealError> {
        let provider = self.provider().map_err(seal_error)?;
        self.seal_writer_for(&**provider, request)
    }

    /// [`Self::seal_writer_current`] for `provider`'s current credential.
    pub(crate) fn seal_writer_for(
        &self,
        provider: &dyn CredentialProvider,
        request: &SealWriterRequest,
    ) -> Result<FragmentWriter<'_>, SealError> {
        self.sealing_for(provider, |credential| self.seal_writer(credential, request))
    }

    /// Opens one fragment for the provider's current credential, refreshing it once and
    /// retrying once on `ExpiredTokenException` (as [`Self::seal_current`]).
    ///
    /// # Errors
    /// As [`Self::open`]; [`OpenError::AllKeysFailed`] ending with the provider's
    /// [`KmsError`] when no credential could be had or refreshed.
    pub fn open_current(&self, request: &OpenRequest) -> Result<Opened, OpenError> {
        let provider = self.provider().map_err(open_error)?;
        self.open_for(&**provider, |c| self.open(c, request))
    }

    /// [`Self::open_into`] for `provider`'s current credential (as [`Self::open_current`]):
    /// on error `out` keeps its previous contents, and a retry starts from them.
    pub(crate) fn open_into_for(
        &self,
        provider: &dyn CredentialProvider,
        request: &OpenRequest,
        out: &mut Vec<u8>,
    ) -> Result<VerifiedHeader, OpenError> {
        self.open_for(provider, |c| self.open_into(c, request, out))
    }

    /// Runs `open` for `provider`'s current credential, and once more for a refreshed one when
    /// it failed with `ExpiredTokenException`.
    fn open_for<T>(
        &self,
        provider: &dyn CredentialProvider,
        mut open: impl FnMut(&Credential) -> Result<T, OpenError>,
    ) -> Result<T, OpenError> {
        let credential = self.current_credential_of(provider).map_err(open_error)?;
        match open(&credential) {
            Err(e) if open_expired(&e) => match provider.refresh(&credential) {
                Ok(fresh) => open(&fresh),
                Err(refresh) => Err(match e {
                    OpenError::AllKeysFailed(mut errors) => {
                        errors.push(KeyringError::Kms(refresh));
                        OpenError::AllKeysFailed(errors)
                    }
                    other => other,
                }),
            },
            other => other,
        }
    }

    /// Seals many fragments for the provider's current credential in parallel (as
    /// [`Self::seal_batch`]). The fragments refused with `ExpiredTokenException` are retried
    /// once, after one refresh of the credential; any fragment that still fails is handed back
    /// intact (with the refresh's error if the refresh failed).
    ///
    /// # Errors
    /// [`NoCredential`], with every request, when the provider gave no credential.
    #[allow(
        clippy::type_complexity,
        reason = "one result per fragment, as seal_batch"
    )]
    pub fn seal_batch_current(
        &self,
        requests: Vec<SealRequest>,
    ) -> Result<Vec<Result<Bytes, Box<SealFailure>>>, Box<NoCredential<SealRequest>>> {
        let credential = match self.current_credential() {
            Ok(c) => c,
            Err(error) => return Err(Box::new(NoCredential { error, requests })),
        };
        let results = self.seal_batch(&credential, requests);
        Ok(retry_expired(
            results,
            |f| seal_expired(&f.error),
            || self.refreshed(&credential),
            |fresh, again| self.seal_batch(fresh, again),
            |f| f.request,
            |f, e| f.error = seal_error(e),
        ))
    }

    /// Opens many fragments for the provider's current credential in parallel (as
    /// [`Self::open_batch`]), retrying once after one refresh those refused with
    /// `ExpiredTokenException` (as [`Self::seal_batch_current`]).
    ///
    /// # Errors
    /// [`NoCredential`], with every request, when the provider gave no credential.
    #[allow(
        clippy::type_complexity,
        reason = "one result per fragment, as open_batch"
    )]
    pub fn open_batch_current(
        &self,
        requests: Vec<OpenRequest>,
    ) -> Result<Vec<Result<Opened, Box<OpenFailure>>>, Box<NoCredential<OpenRequest>>> {
        let credential = match self.current_credential() {
            Ok(c) => c,
            Err(error) => return Err(Box::new(NoCredential { error, requests })),
        };
        let results = self.open_batch(&credential, requests);
        Ok(retry_expired(
            results,
            |f| open_expired(&f.error),
            || self.refreshed(&credential),
            |fresh, again| self.open_batch(fresh, again),
            |f| f.request,
            |f, e| {
                if let OpenError::AllKeysFailed(errors) = &mut f.error {
                    errors.push(KeyringError::Kms(e));
                }
            },
        ))
    }
}

/// Retries, once and after one refresh, the failures of `results` that `expired` selects:
/// `run` processes their requests (taken out with `request`) for the new credential, and its
/// results take their places. When the refresh fails, `note` adds its error to each of those
/// failures, which are handed back as they were otherwise.
fn retry_expired<T, F, R>(
    results: Vec<Result<T, Box<F>>>,
    expired: impl Fn(&F) -> bool,
    refresh: impl FnOnce() -> Result<Credential, KmsError>,
    run: impl FnOnce(&Credential, Vec<R>) -> Vec<Result<T, Box<F>>>,
    request: impl Fn(F) -> R,
    note: impl Fn(&mut F, KmsError),
) -> Vec<Result<T, Box<F>>> {
    if !results
        .iter()
        .any(|r| r.as_ref().err().is_some_and(|f| expired(f)))
    {
        return results;
    }
    let fresh = match refresh() {
        Ok(c) => c,
        Err(e) => {
            return results
                .into_iter()
                .map(|r| {
                    r.map_err(|mut f| {
                        if expired(&f) {
                            note(&mut f, e.clone());
                        }
                        f
                    })
                })
                .collect()
        }
    };
    let mut out = Vec::with_capacity(results.len());
    let mut places = Vec::new();
    let mut requests = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Err(f) if expired(&f) => {
                places.push(i);
                requests.push(request(*f));
                out.push(None);
            }
            other => out.push(Some(other)),
        }
    }
    for (i, r) in places.into_iter().zip(run(&fresh, requests)) {
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(r);
        }
    }
    // `run` gives one result per request (the batch methods do), so every place is filled.
    out.into_iter().flatten().collect()
}

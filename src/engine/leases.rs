//! Data keys for sealing and opening, from the engine's keyring through its cache.
//!
//! The cache stores what the keyring returns — the data key, and for sealing the encrypted
//! data keys that go with it — and knows nothing about their format. Keyring calls run under
//! the engine's retry policy, each attempt counted as a KMS call of the credential.

use super::{Engine, RetryPolicy};
use crate::cache::{CacheKey, Clock, CredentialCounters, DataKeyMaterial, Lease, Refresh};
use crate::crypto::aead::AeadBackend;
use crate::crypto::sign::{SigningKey, EC_PUBLIC_KEY_FIELD};
use crate::error::{KeyringError, OpenError};
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::keyring::{EncryptionMaterials, Keyring, UnwrappedKey};
use crate::kms::{Credential, KmsError, KmsErrorKind};
use crate::message::SealSuite;
use std::sync::Arc;

/// The sealing cache key's key id: one engine has one keyring, so one name serves.
const SEALING_KEY_ID: &str = "keyring";

/// Calls the keyring through `retry`, counting every attempt in `counters`.
pub(super) fn with_retry<T>(
    retry: &RetryPolicy,
    counters: Option<&CredentialCounters>,
    op: impl FnMut() -> Result<T, KeyringError>,
) -> Result<T, KeyringError> {
    retry.run(op, |r| {
        if let Some(c) = counters {
            c.record_kms_call(r.is_ok());
        }
    })
}

/// What went wrong in a cache call, as the keyring error it carried or an internal failure.
pub(super) enum CacheFailure {
    Keyring(KeyringError),
    Internal(&'static str),
}

/// The cache returns the keyring's error of the fetch (this caller's or the one it waited for)
/// as [`crate::Error::Keyring`], unchanged; a fetch it waited for that was abandoned (its
/// leader panicked) as a KMS error of kind internal.
pub(super) fn from_cache(e: crate::Error) -> CacheFailure {
    match e {
        crate::Error::Keyring(k) => CacheFailure::Keyring(k),
        crate::Error::Kms(k) => CacheFailure::Keyring(KeyringError::Kms(k)),
        crate::Error::Internal(s) => CacheFailure::Internal(s),
        _ => CacheFailure::Internal("data-key cache failure"),
    }
}

/// The cached form of sealing materials: the data key, the encrypted data keys for the
/// header, and the id of the key that generated it.
fn sealing_material(m: EncryptionMaterials) -> DataKeyMaterial {
    let (data_key, edks, key_id) = m.into_parts();
    DataKeyMaterial::new(data_key, edks, key_id)
}

/// The cached form of an unwrapped key: no encrypted data keys (the message's own EDK is the
/// cache key), and the id of the key that unwrapped it.
fn opening_material(k: UnwrappedKey) -> DataKeyMaterial {
    let (data_key, key_id) = k.into_parts();
    DataKeyMaterial::new(data_key, Vec::new(), key_id)
}

/// Fetches sealing materials for the whole context `ec`. For the signed suite, one new
/// signing key pair per fetch (so per cache entry): its public key joins the context *before*
/// the keyring call, so the keyring (KMS) binds it to the data key, and the pair is cached
/// with the data key.
fn fetch_sealing(
    keyring: &dyn Keyring,
    retry: &RetryPolicy,
    counters: Option<&CredentialCounters>,
    credential: &Credential,
    ec: &EncryptionContext,
    suite: SealSuite,
    backend: AeadBackend,
) -> Result<DataKeyMaterial, KeyringError> {
    if !suite.is_signed() {
        return with_retry(retry, counters, || keyring.generate(credential, ec))
            .map(sealing_material);
    }
    let signer = SigningKey::generate(backend.into()).map_err(KeyringError::SigningKey)?;
    let mut bound = ec.clone();
    bound.insert(EC_PUBLIC_KEY_FIELD, signer.public_key_base64());
    with_retry(retry, counters, || keyring.generate(credential, &bound))
        .map(|m| sealing_material(m).with_signing_key(signer))
}

/// A refresh ahead never calls KMS for a credential whose session has ended by the time it
/// runs (a background refresh may start late): it fails with `ExpiredTokenException` instead,
/// which waiters on it get too.
fn session_ended(clock: &dyn Clock, credential: &Credential) -> Result<(), KeyringError> {
    if credential.is_expired_at(clock.wall_now()) {
        return Err(KeyringError::Kms(KmsError::new(
            KmsErrorKind::ExpiredToken,
            format!(
                "refresh ahead not started: the session {} has ended",
                credential.access_key_id()
            ),
        )));
    }
    Ok(())
}

/// Runs a refresh ahead on its own short-lived thread, so that no caller waits for it. If the
/// thread cannot be started, the closure — and the ticket in it — is dropped, which abandons the
/// refresh; the cache tries again after its retry interval.
fn spawn_refresh(
    ticket: Refresh,
    fetch: impl FnOnce(&CredentialCounters) -> Result<DataKeyMaterial, KeyringError> + Send + 'static,
) {
    let spawned = std::thread::Builder::new()
        .name("fragseal-refresh".into())
        .spawn(move || {
            let fetched = fetch(ticket.counters());
            ticket.complete(fetched);
        });
    // The thread is detached: it owns everything it uses.
    drop(spawned);
}

impl Engine {
    /// Gives back `bytes` of a sealing lease's reservation ([`Self::sealing_lease`] for
    /// `credential` and `ec`, of `material`) that were not written: a streamed seal reserved
    /// its `max_len`. A poisoned cache lock fails the next lease anyway.
    pub(super) fn release_unused_sealing_bytes(
        &self,
        credential: &Credential,
        ec: &EncryptionContext,
        material: &Arc<DataKeyMaterial>,
        bytes: u64,
    ) {
        if bytes == 0 {
            return;
        }
        let key =
            CacheKey::for_sealing(credential, SEALING_KEY_ID, self.config.seal_suite.id(), ec);
        let _ = self.cache.release_unused_bytes(&key, material, bytes);
    }

    /// A lease on a data key to seal `bytes` plaintext bytes under the whole context `ec`.
    pub(super) fn sealing_lease(
        &self,
        credential: &Credential,
        ec: &EncryptionContext,
        bytes: u64,
    ) -> Result<Lease, CacheFailure> {
        let (suite, backend) = (self.config.seal_suite, self.config.backend);
        // The suite is part of the key: a 0x0478 entry has no signing key, a 0x0578 one does.
        let key = CacheKey::for_sealing(credential, SEALING_KEY_ID, suite.id(), ec);
        let generate = |keyring: &dyn Keyring, counters: Option<&CredentialCounters>| {
            fetch_sealing(
                keyring,
                &self.config.retry,
                counters,
                credential,
                ec,
                suite,
                backend,
            )
        };
        self.cache
            .get_or_fetch_with_refresh(
                &key,
                bytes,
                || generate(&*self.keyring, self.counters(credential).as_deref()),
                |ticket| {
                    if !self.config.background_refresh {
                        let fetched = session_ended(&**self.cache.clock(), credential)
                            .and_then(|()| generate(&*self.keyring, Some(ticket.counters())));
                        return ticket.complete(fetched);
                    }
                    let (keyring, retry) = (Arc::clone(&self.keyring), self.config.retry);
                    let (credential, ec) = (credential.clone(), ec.clone());
                    let clock = Arc::clone(self.cache.clock());
                    spawn_refresh(ticket, move |counters| {
                        session_ended(&*clock, &credential)?;
                        fetch_sealing(
                            &*keyring,
                            &retry,
                            Some(counters),
                            &credential,
                            &ec,
                            suite,
                            backend,
                        )
                    });
                },
            )
            .map_err(from_cache)
    }

    /// The data key that opens a message with encrypted data keys `edks` and whole context
    /// `ec`, for `credential`: each encrypted data key the keyring accepts, in turn, through
    /// the cache. Also returns the cache key the lease's usage was reserved under, and the
    /// index of the encrypted data key that opened.
    pub(super) fn opening_lease<'h>(
        &self,
        credential: &'h Credential,
        edks: &'h [EncryptedDataKey],
        ec: &'h EncryptionContext,
        usage_bytes: u64,
    ) -> Result<(Lease, CacheKey<'h>, usize), OpenError> {
        let mut errors = Vec::new();
        for (i, edk) in edks.iter().enumerate() {
            if !self.keyring.accepts(edk) {
                continue;
            }
            let key = CacheKey::for_opening(credential, edk, ec);
            let unwrap = |keyring: &dyn Keyring, counters: Option<&CredentialCounters>| {
                with_retry(&self.config.retry, counters, || {
                    keyring.unwrap(credential, ec, edk)
                })
                .map(opening_material)
            };
            let lease = self.cache.get_or_fetch_with_refresh(
                &key,
                usage_bytes,
                || unwrap(&*self.keyring, self.counters(credential).as_deref()),
                |ticket| {
                    if !self.config.background_refresh {
                        let fetched = session_ended(&**self.cache.clock(), credential)
                            .and_then(|()| unwrap(&*self.keyring, Some(ticket.counters())));
                        return ticket.complete(fetched);
                    }
                    let (keyring, retry) = (Arc::clone(&self.keyring), self.config.retry);
                    let (credential, ec, edk) = (credential.clone(), ec.clone(), edk.clone());
                    let clock = Arc::clone(self.cache.clock());
                    spawn_refresh(ticket, move |counters| {
                        session_ended(&*clock, &credential)?;
                        with_retry(&retry, Some(counters), || {
                            keyring.unwrap(&credential, &ec, &edk)
                        })
                        .map(opening_material)
                    });
                },
            );
            match lease.map_err(from_cache) {
                Ok(lease) => return Ok((lease, key, i)),
                Err(CacheFailure::Keyring(e)) => errors.push(e),
                Err(CacheFailure::Internal(s)) => return Err(OpenError::Internal(s)),
            }
        }
        if errors.is_empty() {
            Err(OpenError::NoTrustedKey)
        } else {
            Err(OpenError::AllKeysFailed(errors))
        }
    }
}

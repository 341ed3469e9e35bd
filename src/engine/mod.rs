//! The engine: seal and open fragments with data keys from one [keyring](crate::keyring),
//! cached per credential, across all cores.
//!
//! ```
//! use bytes::Bytes;
//! use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
//! use fragseal::identity::IdentityCheck;
//! use fragseal::keyring::KmsKeyring;
//! use fragseal::kms::{local::LocalKms, Credential};
//! use fragseal::EncryptionContext;
//! use std::sync::Arc;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let kms = Arc::new(LocalKms::new("us-east-1", "111122223333"));
//! let admin = Credential::new("111122223333", "arn:aws:iam::111122223333:root", "AKIAADMIN")?;
//! let key_arn = kms.create_key(&admin, None, "fragments")?.arn;
//! let keyring = KmsKeyring::strict(kms, &admin, &[key_arn])?;
//! let engine = Engine::new(Arc::new(keyring), EngineConfig::default())?;
//!
//! let ec = EncryptionContext::new()
//!     .with("aws:kinesisvideo:arn", "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1");
//! let request = SealRequest::new(ec, Bytes::from_static(b"a media fragment"));
//! let sealed = engine.seal(&admin, &request)?;
//! let opened = engine.open(&admin, &OpenRequest::new(sealed, IdentityCheck::Skip))?;
//! assert_eq!(opened.plaintext, request.plaintext);
//! # Ok(()) }
//! ```
//!
//! - One engine = one keyring = one cache (the ESDK caching CMM's shape), so a cached key is
//!   never served under another keyring's trust decision.
//! - Sealing: the data key and its encrypted data keys come from the [cache](crate::cache)
//!   (one [`Keyring::generate`] per credential and encryption context per key age).
//! - Opening: the message's encrypted data keys that the keyring
//!   [accepts](Keyring::accepts) are tried in order, each through the cache (one
//!   [`Keyring::unwrap`] per credential and encrypted data key per key age); the first that
//!   unwraps opens the message. Before any key is fetched, the stored context is checked
//!   against the request ([`OpenRequest::require`], [`OpenRequest::supply`], and the stream of
//!   [`IdentityCheck::Expect`](crate::identity::IdentityCheck::Expect)).
//! - Opening budgets: the cache reserves a fragment and the message's body length on the
//!   opening entry before the message is authenticated (the key is needed to authenticate it),
//!   and [`Engine::open`], [`Engine::open_into`] and [`Engine::open_range`] give that
//!   reservation back when the open fails — so messages that do not authenticate (for example
//!   a genuine header copied onto a forged body, whose header does authenticate) cannot use up
//!   an entry's budget and force extra unwraps. [`Engine::open_stream`] releases plaintext
//!   frame by frame and keeps its reservation (one fragment, no bytes).
//! - Session credentials: a cached key never outlives the session of the credential it was
//!   fetched for ([`crate::kms::Credential::with_expiry`]; see the [cache](crate::cache)).
//!   When KMS answers `ExpiredTokenException` for a credential, its cached keys are retired.
//!   An engine given a [`CredentialProvider`] ([`Engine::with_credential_provider`]) seals and
//!   opens for the provider's current credential ([`Engine::seal_current`],
//!   [`Engine::open_current`], [`Engine::seal_batch_current`], [`Engine::open_batch_current`])
//!   and on `ExpiredTokenException` refreshes it once and retries once.
//! - Keyring calls are retried per [`RetryPolicy`]; while KMS is down, cached keys keep
//!   working within their limits.
//! - Outputs: [`Engine::seal`] and [`Engine::open`] allocate their output once, at its final
//!   size; [`Engine::seal_into`], [`Engine::open_into`] and [`Engine::seal_batch_into`] write
//!   into caller-provided buffers.
//! - Sealing a fragment as it is produced or read: [`Engine::seal_writer`] returns a
//!   [`FragmentWriter`] that takes the plaintext in pieces (or straight from an
//!   [`io::Read`](std::io::Read)) into the sealed message's frames, encrypting each frame as soon as it is
//!   complete; the same checks, lease and counters as [`Engine::seal`], with the cache's byte
//!   budget charged the request's [`SealWriterRequest::max_len`] while it writes and the
//!   bytes it did not write given back when it finishes (see [`writer`]).
//! - Batches run on the current rayon thread pool (call them inside `ThreadPool::install` to
//!   choose the pool), keep their order and return one result per fragment; a fragment that
//!   fails is handed back intact with the reason.

mod batch;
mod buffers;
mod config;
mod leases;
mod open_stream;
mod request;
mod retry;
mod session;
pub mod writer;

pub use crate::kms::RetryKind;
pub use batch::{OpenFailure, SealFailure};
pub use buffers::{BufferPoolLimits, IdleBuffers, PlaintextWipe};
pub use config::EngineConfig;
pub use open_stream::EngineOpenStream;
pub use request::{OpenOptions, OpenRequest, Opened, SealRequest};
pub use retry::{RetryPolicy, Retryable};
pub use session::NoCredential;
pub use writer::{FragmentWriter, SealWriterRequest, DEFAULT_WRITER_SIZE_HINT};

use crate::cache::SystemClock;
use crate::cache::{CacheKey, Clock, CredentialCounters, CredentialStats, DataKeyCache, Lease};
use crate::crypto::{DataKey, SigningKey};
use crate::error::{ConfigError, OpenError, SealError};
use crate::keyring::Keyring;
use crate::kms::{Credential, CredentialProvider};
use crate::message::{self, OpenParams, ParsedMessage, SealParams, VerifiedHeader};
use bytes::Bytes;
use core::fmt;
use core::ops::Range;
use leases::CacheFailure;
use request::{union, SealParts};
use std::sync::Arc;

/// Seals and opens fragments; see the [module documentation](self). `Send + Sync`: share one
/// engine (for example in an `Arc`) between all threads of a process.
pub struct Engine {
    keyring: Arc<dyn Keyring>,
    config: EngineConfig,
    cache: DataKeyCache,
    provider: Option<Arc<dyn CredentialProvider>>,
    buffers: buffers::BufferPool,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("keyring", &self.keyring)
            .field("config", &self.config)
            .field("cache", &self.cache)
            .field("credential_provider", &self.provider.is_some())
            .finish_non_exhaustive()
    }
}

fn seal_failure(f: CacheFailure) -> SealError {
    match f {
        CacheFailure::Keyring(e) => SealError::Keyring(e),
        CacheFailure::Internal(s) => SealError::Internal(s),
    }
}

impl Engine {
    /// An engine over `keyring` with `config`, on the system clock.
    ///
    /// # Errors
    /// A [`ConfigError`] for an invalid configuration (frame length 0, invalid cache limits or
    /// retry policy).
    pub fn new(keyring: Arc<dyn Keyring>, config: EngineConfig) -> Result<Self, ConfigError> {
        Self::with_clock(keyring, config, Arc::new(SystemClock::new()))
    }

    /// An engine whose data-key cache reads `clock` (tests and simulations move time).
    ///
    /// # Errors
    /// As [`Engine::new`].
    pub fn with_clock(
        keyring: Arc<dyn Keyring>,
        mut config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        // The commitment policy decides whether format version 1 headers are parsed at all.
        config.open_limits = config
            .open_limits
            .with_commitment_policy(config.commitment_policy);
        let cache = DataKeyCache::with_clock(config.cache, clock)?;
        let buffers = buffers::BufferPool::new(config.buffer_pool);
        Ok(Self {
            keyring,
            config,
            cache,
            provider: None,
            buffers,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The keyring.
    pub fn keyring(&self) -> &Arc<dyn Keyring> {
        &self.keyring
    }

    /// The data-key cache (for example to purge expired keys or clear it).
    pub fn cache(&self) -> &DataKeyCache {
        &self.cache
    }

    /// A snapshot of `credential`'s counters.
    ///
    /// # Errors
    /// [`crate::Error::Internal`] when the cache lock was poisoned.
    pub fn stats(&self, credential: &Credential) -> Result<CredentialStats, crate::Error> {
        self.cache.stats(credential)
    }

    /// Snapshots of every credential's counters.
    ///
    /// # Errors
    /// [`crate::Error::Internal`] when the cache lock was poisoned.
    pub fn all_stats(&self) -> Result<Vec<(Credential, CredentialStats)>, crate::Error> {
        self.cache.all_stats()
    }

    /// KMS refused `credential` as expired: its session is over whatever expiry it was built
    /// with, so none of its cached keys is served again. A poisoned cache lock fails the next
    /// call anyway.
    fn forget_expired(&self, credential: &Credential) {
        let _ = self.cache.retire_credential(credential);
    }

    fn counters(&self, credential: &Credential) -> Option<Arc<CredentialCounters>> {
        self.cache.counters(credential).ok()
    }

    /// Seals one fragment for `credential`. The output is written once, into a buffer of its
    /// final size from the engine's buffer pool ([`EngineConfig::buffer_pool`]): the buffer of a
    /// dropped result is reused, so a stream of large fragments does not fault in fresh memory
    /// for every one.
    ///
    /// # Errors
    /// [`SealError::Keyring`] when no data key could be had (after retries); another
    /// [`SealError`] for a request that cannot be sealed (reserved or case-variant context
    /// keys, a context of another stream than the identity's, oversized fields). The request
    /// is left untouched either way.
    pub fn seal(&self, credential: &Credential, request: &SealRequest) -> Result<Bytes, SealError> {
        self.seal_pooled(credential, request)
    }

    /// Seals one fragment for `credential`, appending the message to `out` (which grows at most
    /// once, to the exact size). Reusing `out` across fragments avoids a fresh allocation —
    /// and the page faults of fresh memory — per fragment.
    ///
    /// # Errors
    /// As [`Engine::seal`]; `out` is then unchanged.
    pub fn seal_into(
        &self,
        credential: &Credential,
        request: &SealRequest,
        out: &mut Vec<u8>,
    ) -> Result<(), SealError> {
        self.seal_with(credential, request, |key, signer, params| match signer {
            None => message::seal_into(key, params, &request.plaintext, out),
            Some(signer) => message::seal_signed_into(key, signer, params, &request.plaintext, out),
        })
    }

    /// Checks the request, gets the data key, builds the message parameters, runs `write`, and
    /// counts the outcome.
    fn seal_with<T>(
        &self,
        credential: &Credential,
        request: &SealRequest,
        write: impl FnOnce(&DataKey, Option<&SigningKey>, &SealParams<'_>) -> Result<T, SealError>,
    ) -> Result<T, SealError> {
        let len = request.plaintext.len() as u64;
        self.seal_prepared(credential, request.parts(), len, |lease, params, signer| {
            let sealed = write(lease.material().data_key(), signer, params)?;
            lease.counters().record_sealed(len);
            Ok(sealed)
        })
    }

    /// What [`Engine::seal`] and [`Engine::seal_writer`] share: checks the request's context,
    /// leases a data key reserving `bytes` of its budget, builds the message parameters and
    /// the signer, and runs `start`; a failure is counted (and an expired session forgotten).
    /// `start` counts what it seals.
    fn seal_prepared<T>(
        &self,
        credential: &Credential,
        parts: SealParts<'_>,
        bytes: u64,
        start: impl FnOnce(&Lease, &SealParams<'_>, Option<&SigningKey>) -> Result<T, SealError>,
    ) -> Result<T, SealError> {
        let authenticate_only =
            (!parts.authenticate_only.is_empty()).then_some(parts.authenticate_only);
        let result = (|| {
            for ec in [parts.encryption_context, parts.authenticate_only] {
                if let Some(k) = ec.reserved_key() {
                    return Err(SealError::ReservedContextKey { key: k.to_owned() });
                }
            }
            message::check_seal_context(
                parts.encryption_context,
                authenticate_only,
                parts.identity,
            )?;
            let ec = union(parts.encryption_context, parts.authenticate_only);
            let lease = self
                .sealing_lease(credential, &ec, bytes)
                .map_err(seal_failure)?;
            let material = lease.material();
            let params = SealParams {
                frame_length: self.config.frame_length,
                encryption_context: parts.encryption_context,
                encrypted_data_keys: material.encrypted_data_keys(),
                identity: parts.identity,
                authenticate_only,
                backend: self.config.backend,
            };
            let signer = if self.config.seal_suite.is_signed() {
                Some(
                    material
                        .signing_key()
                        .ok_or(SealError::Internal("signed-suite material without a key"))?,
                )
            } else {
                None
            };
            start(&lease, &params, signer)
        })();
        if let Err(e) = &result {
            if let Some(c) = self.counters(credential) {
                c.record_seal_failure();
            }
            if session::seal_expired(e) {
                self.forget_expired(credential);
            }
        }
        result
    }

    /// [`EngineConfig::signature_policy`]'s check of a parsed header, before any keyring call.
    fn check_signature_policy(
        &self,
        header: &crate::format::MessageHeader,
    ) -> Result<(), OpenError> {
        let suite = header.suite();
        if self.config.signature_policy.allows_decrypt(suite) {
            Ok(())
        } else {
            Err(OpenError::SignaturePolicy { suite })
        }
    }

    /// Parses the message, checks its context, gets the data key, runs `decrypt`, and counts
    /// the outcome (`opened_len` gives the plaintext length of a success).
    fn open_with<T>(
        &self,
        credential: &Credential,
        message: &[u8],
        options: &OpenOptions,
        opened_len: impl FnOnce(&T) -> u64,
        decrypt: impl FnOnce(&ParsedMessage<'_>, &DataKey, &OpenParams<'_>) -> Result<T, OpenError>,
    ) -> Result<(T, VerifiedHeader), OpenError> {
        let fail = |e: OpenError| {
            if let Some(c) = self.counters(credential) {
                c.record_open_failure();
            }
            if session::open_expired(&e) {
                self.forget_expired(credential);
            }
            e
        };
        let parsed = message::parse(message, &self.config.open_limits)
            .map_err(OpenError::into_policy_refusal)
            .map_err(fail)?;
        let header = parsed.header();
        self.check_signature_policy(header).map_err(fail)?;
        let stored = header.encryption_context();
        message::check_open_context(
            stored,
            &options.required,
            options.supplied(),
            &options.identity,
        )
        .map_err(fail)?;
        let ec = union(stored, &options.supplied);
        let body_len = parsed.body_bytes().len() as u64;
        let edks = header.encrypted_data_keys();
        let (lease, key, used): (Lease, CacheKey<'_>, usize) = self
            .opening_lease(credential, edks, &ec, body_len)
            .map_err(fail)?;
        let params = OpenParams {
            identity: &options.identity,
            supplied_context: options.supplied(),
            backend: self.config.backend,
            commitment_policy: self.config.commitment_policy,
        };
        let result = decrypt(&parsed, lease.material().data_key(), &params);
        match result {
            Ok(v) => {
                lease.counters().record_opened(opened_len(&v));
                let edk = edks
                    .get(used)
                    .ok_or(OpenError::Internal("lost the opening key"))?;
                let verified =
                    VerifiedHeader::new(header, &options.supplied, edk, lease.material().key_id());
                Ok((v, verified))
            }
            Err(e) => {
                lease.counters().record_open_failure();
                // Nothing was released: give the reserved usage back, so that messages that
                // fail to authenticate (say, a genuine header with a forged body) cannot use up
                // the entry's budget. A poisoned cache lock fails the next call anyway.
                let _ = self.cache.release_unused(&key, lease, body_len);
                Err(e)
            }
        }
    }

    /// Opens one sealed fragment for `credential`, checking what `request` asks. The plaintext
    /// is written once, into a buffer from the engine's buffer pool, and wiped as
    /// [`BufferPoolLimits::plaintext_wipe`] says (never freed or handed out unwiped).
    ///
    /// # Errors
    /// [`OpenError::Format`] for a malformed message; [`OpenError::Context`] or
    /// [`OpenError::CaseVariantKeys`] for a context that does not meet the request;
    /// [`OpenError::NoTrustedKey`] when the keyring accepts none of its encrypted data keys;
    /// [`OpenError::AllKeysFailed`] when every accepted one failed to unwrap (for example KMS
    /// `AccessDenied` for a credential the key policy does not allow);
    /// [`OpenError::Authentication`] (opaque) when the message does not verify.
    pub fn open(
        &self,
        credential: &Credential,
        request: &OpenRequest,
    ) -> Result<Opened, OpenError> {
        self.open_pooled(credential, request)
    }

    /// Opens one sealed fragment for `credential`, appending the plaintext to `out` (reuse `out`
    /// across fragments to avoid a fresh allocation per fragment); returns the verified header.
    /// On error `out` keeps its previous contents.
    ///
    /// # Errors
    /// As [`Engine::open`].
    pub fn open_into(
        &self,
        credential: &Credential,
        request: &OpenRequest,
        out: &mut Vec<u8>,
    ) -> Result<VerifiedHeader, OpenError> {
        let start = out.len();
        self.open_with(
            credential,
            &request.message,
            &request.options,
            |n: &usize| *n as u64,
            |parsed, key, params| {
                parsed.open_into(key, params, out)?;
                Ok(out.len() - start)
            },
        )
        .map(|(_, header)| header)
    }

    /// Opens only the plaintext bytes in `range` of a sealed fragment, decrypting only the frames
    /// that overlap it (and the final frame, which authenticates the length).
    ///
    /// # Errors
    /// As [`Engine::open`]; [`OpenError::RangeReversed`] or [`OpenError::RangeBeyondEnd`] when
    /// `range` is reversed or ends beyond the plaintext.
    pub fn open_range(
        &self,
        credential: &Credential,
        request: &OpenRequest,
        range: Range<u64>,
    ) -> Result<Opened, OpenError> {
        let (plaintext, header) = self.open_with(
            credential,
            &request.message,
            &request.options,
            |p: &Bytes| p.len() as u64,
            |parsed, key, params| parsed.open_range(key, params, range).map(Bytes::from),
        )?;
        Ok(Opened { plaintext, header })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use crate::cache::CacheLimits;
    use crate::crypto::SecretBytes;
    use crate::keyring::RawAesKeyring;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn engine_is_send_sync() {
        assert_send_sync::<Engine>();
        assert_send_sync::<SealRequest>();
        assert_send_sync::<SealFailure>();
        assert_send_sync::<OpenFailure>();
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let keyring: Arc<dyn Keyring> =
            Arc::new(RawAesKeyring::new("ns", "k", SecretBytes::from_slice(&[1; 32])).unwrap());
        assert!(matches!(
            Engine::new(
                Arc::clone(&keyring),
                EngineConfig::default().with_frame_length(0)
            ),
            Err(ConfigError::ZeroFrameLength)
        ));
        assert!(matches!(
            Engine::new(
                Arc::clone(&keyring),
                EngineConfig::default().with_retry(RetryPolicy::default().with_max_attempts(0))
            ),
            Err(ConfigError::ZeroRetryAttempts)
        ));
        assert!(matches!(
            Engine::new(
                keyring,
                EngineConfig::default().with_cache(CacheLimits::default().with_max_fragments(0))
            ),
            Err(ConfigError::ZeroCacheLimit {
                field: "max_fragments"
            })
        ));
    }
}

//! The engine: seal and open fragments with data keys from any KMS backend, cached per
//! credential, across all cores.
//!
//! ```
//! use bytes::Bytes;
//! use fragseal::engine::{Engine, EngineConfig, SealRequest};
//! use fragseal::kms::{local::LocalKms, Credential};
//! use fragseal::EncryptionContext;
//! use std::sync::Arc;
//!
//! # fn main() -> Result<(), fragseal::Error> {
//! let kms = Arc::new(LocalKms::new("us-east-1", "111122223333"));
//! let admin = Credential::new("111122223333", "arn:aws:iam::111122223333:root", "AKIAADMIN");
//! let key_arn = kms.create_key(&admin, None, "fragments")?.arn;
//! let engine = Engine::new(kms, EngineConfig::default())?;
//!
//! let ec = EncryptionContext::new()
//!     .with("aws:kinesisvideo:arn", "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1");
//! let request = SealRequest::new(key_arn, ec, Bytes::from_static(b"a media fragment"));
//! let sealed = engine.seal(&admin, &request)?;
//! let opened = engine.open(&admin, &sealed, None)?;
//! assert_eq!(opened, request.plaintext);
//! # Ok(()) }
//! ```
//!
//! - Sealing: the data key comes from the [cache](crate::cache) (one `GenerateDataKey` per
//!   credential, KMS key and encryption context per key age); the message carries one `aws-kms`
//!   encrypted data key exactly as the ESDK's KMS keyrings write it (provider info = the KMS key
//!   ARN, ciphertext = the KMS ciphertext blob, KMS encryption context = the message's).
//! - Opening: the message's `aws-kms` encrypted data keys are tried in order, each through the
//!   cache (one `Decrypt` per credential and encrypted data key per key age), with
//!   `expected_key_id` = the provider info; the first whose key KMS releases opens the message.
//!   Only provider info that is a well-formed KMS key ARN
//!   (`arn:<partition>:kms:<region>:<account>:key/<id>`) is ever sent to KMS, never an alias
//!   or a bare key id; [`EngineConfig::trusted_key_arns`] and
//!   [`EngineConfig::discovery_filter`] narrow that further.
//! - Opening budgets: the cache reserves a fragment and the message's body length on the
//!   opening entry before the message is authenticated (the key is needed to authenticate it),
//!   and [`Engine::open`], [`Engine::open_into`] and [`Engine::open_range`] give that
//!   reservation back when the open fails — so messages that do not authenticate (for example
//!   a genuine header copied onto a forged body, whose header does authenticate) cannot use up
//!   an entry's budget and force extra `Decrypt` calls. [`Engine::open_stream`] releases
//!   plaintext frame by frame and keeps its reservation (one fragment, no bytes): someone who
//!   can submit streams with a copied header can use up an opening entry's fragment budget,
//!   which costs extra `Decrypt` calls, never a wrong key.
//! - KMS calls are retried per [`RetryPolicy`]; while KMS is down, cached keys keep working
//!   within their limits.
//! - Outputs: [`Engine::seal`] and [`Engine::open`] allocate their output once, at its final
//!   size, and return it as [`Bytes`]; [`Engine::seal_into`], [`Engine::open_into`] and
//!   [`Engine::seal_batch_into`] write into caller-provided buffers, which avoids a fresh
//!   allocation (and, for large fragments, the page faults of fresh memory) per fragment.
//! - Batches run on the current rayon thread pool (call them inside `ThreadPool::install` to
//!   choose the pool), keep their order and return one result per fragment; a fragment that
//!   fails is handed back intact with the reason.

mod retry;

pub use retry::RetryPolicy;

use crate::cache::{
    CacheKey, CacheLimits, Clock, CredentialCounters, CredentialStats, DataKeyCache,
    DataKeyMaterial, Lease, Refresh, SystemClock,
};
use crate::crypto::aead::AeadBackend;
use crate::format::{EncryptedDataKey, MessageHeader, OpenLimits};
use crate::identity::FragmentIdentity;
use crate::kms::{
    Credential, DataKeySpec, DecryptedDataKey, GeneratedDataKey, Kms, KmsError, KmsErrorKind,
};
use crate::message::{self, OpenStream, SealParams, SealedStream, SUITE_ID};
use crate::{EncryptionContext, Error};
use bytes::Bytes;
use core::fmt;
use core::ops::Range;
use rayon::prelude::*;
use std::io::{self, Read};
use std::sync::Arc;

/// How an [`Engine`] seals and opens.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Frame length of sealed messages (default 64 KiB).
    pub frame_length: u32,
    /// Limits of the data-key cache.
    pub cache: CacheLimits,
    /// Retries of failed KMS calls.
    pub retry: RetryPolicy,
    /// Limits applied when parsing messages to open.
    pub open_limits: OpenLimits,
    /// The AES-GCM implementation.
    pub backend: AeadBackend,
    /// When set, only `aws-kms` encrypted data keys whose KMS key ARN is in this list are sent
    /// to KMS for decryption (the ESDK's "strict" mode); otherwise any is ("discovery").
    pub trusted_key_arns: Option<Vec<String>>,
    /// When set, only `aws-kms` encrypted data keys whose KMS key ARN is in the filter's
    /// partition and accounts are sent to KMS for decryption. In every mode, only provider info
    /// that is a well-formed KMS key ARN is ever sent.
    pub discovery_filter: Option<DiscoveryFilter>,
    /// Run refreshes ahead on a short-lived background thread, so that not even the caller that
    /// starts a refresh waits for KMS (recommended for producers). Off by default: the caller
    /// that reaches the refresh point then fetches the replacement itself — after reserving its
    /// own use of the still-valid key — which keeps refreshes deterministic under a manual
    /// clock. Either way, no other caller waits.
    pub background_refresh: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            frame_length: message::DEFAULT_FRAME_LENGTH,
            cache: CacheLimits::default(),
            retry: RetryPolicy::default(),
            open_limits: OpenLimits::default(),
            backend: AeadBackend::default(),
            trusted_key_arns: None,
            discovery_filter: None,
            background_refresh: false,
        }
    }
}

impl EngineConfig {
    /// Sets [`Self::frame_length`].
    pub fn with_frame_length(mut self, frame_length: u32) -> Self {
        self.frame_length = frame_length;
        self
    }

    /// Sets [`Self::cache`].
    pub fn with_cache(mut self, cache: CacheLimits) -> Self {
        self.cache = cache;
        self
    }

    /// Sets [`Self::retry`].
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets [`Self::open_limits`].
    pub fn with_open_limits(mut self, open_limits: OpenLimits) -> Self {
        self.open_limits = open_limits;
        self
    }

    /// Sets [`Self::backend`].
    pub fn with_backend(mut self, backend: AeadBackend) -> Self {
        self.backend = backend;
        self
    }

    /// Sets [`Self::background_refresh`].
    pub fn with_background_refresh(mut self, on: bool) -> Self {
        self.background_refresh = on;
        self
    }

    /// Sets [`Self::trusted_key_arns`].
    pub fn with_trusted_key_arns(mut self, arns: Vec<String>) -> Self {
        self.trusted_key_arns = Some(arns);
        self
    }

    /// Sets [`Self::discovery_filter`].
    pub fn with_discovery_filter(mut self, filter: DiscoveryFilter) -> Self {
        self.discovery_filter = Some(filter);
        self
    }
}

/// Which KMS keys an opening engine may ask KMS to decrypt with, by the partition and account
/// of their ARN (the ESDK discovery keyring's discovery filter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryFilter {
    /// The AWS partition, for example `aws`.
    pub partition: String,
    /// The 12-digit AWS account ids whose keys are allowed.
    pub account_ids: Vec<String>,
}

impl DiscoveryFilter {
    /// Keys of `account_ids` in `partition`.
    pub fn new(partition: impl Into<String>, account_ids: Vec<String>) -> Self {
        Self {
            partition: partition.into(),
            account_ids,
        }
    }

    fn allows(&self, arn: &KmsKeyArn<'_>) -> bool {
        arn.partition == self.partition && self.account_ids.iter().any(|a| a == arn.account)
    }
}

/// The parts of a well-formed KMS key ARN,
/// `arn:<partition>:kms:<region>:<12-digit account>:key/<key id>`.
#[derive(Debug, PartialEq, Eq)]
struct KmsKeyArn<'a> {
    partition: &'a str,
    account: &'a str,
}

impl<'a> KmsKeyArn<'a> {
    /// Parses `s` strictly: exactly six `:`-separated parts, `arn` prefix, non-empty partition
    /// and region of lowercase letters, digits and `-`, service `kms`, an account of 12 ASCII
    /// digits, and resource `key/<id>` whose id is non-empty ASCII letters, digits and `-`
    /// (key ids are UUIDs or `mrk-` ids). Anything else — alias names and ARNs, bare key ids,
    /// other services or resource types — is `None`.
    fn parse(s: &'a str) -> Option<Self> {
        let mut parts = s.split(':');
        let (prefix, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if parts.next().is_some() || prefix != "arn" || service != "kms" {
            return None;
        }
        let label = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !label(partition) || !label(region) {
            return None;
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let id = resource.strip_prefix("key/")?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return None;
        }
        Some(Self { partition, account })
    }
}

/// One fragment to seal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealRequest {
    /// The KMS key (id, ARN, alias name or alias ARN) that protects the data key.
    pub key_id: String,
    /// Stream-level encryption context (for example `aws:kinesisvideo:arn` = the stream ARN).
    /// It is sent to KMS and is part of the cache key, so keep per-fragment values out of it
    /// and bind them with [`Self::identity`] instead.
    pub encryption_context: EncryptionContext,
    /// The fragment's identity, bound into the message id (see [`crate::identity`]).
    pub identity: Option<FragmentIdentity>,
    /// The fragment.
    pub plaintext: Bytes,
}

impl SealRequest {
    /// A request without fragment identity.
    pub fn new(
        key_id: impl Into<String>,
        encryption_context: EncryptionContext,
        plaintext: impl Into<Bytes>,
    ) -> Self {
        Self {
            key_id: key_id.into(),
            encryption_context,
            identity: None,
            plaintext: plaintext.into(),
        }
    }

    /// Sets [`Self::identity`].
    pub fn with_identity(mut self, identity: FragmentIdentity) -> Self {
        self.identity = Some(identity);
        self
    }
}

/// One sealed fragment to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    /// The sealed message.
    pub message: Bytes,
    /// The identity the fragment must carry, if it is to be checked.
    pub expected_identity: Option<FragmentIdentity>,
}

impl OpenRequest {
    /// A request without identity check.
    pub fn new(message: impl Into<Bytes>) -> Self {
        Self {
            message: message.into(),
            expected_identity: None,
        }
    }

    /// Sets [`Self::expected_identity`].
    pub fn with_expected_identity(mut self, identity: FragmentIdentity) -> Self {
        self.expected_identity = Some(identity);
        self
    }
}

/// A fragment that could not be sealed, handed back intact with the reason.
#[derive(Debug)]
pub struct SealFailure {
    /// The credential it was to be sealed for.
    pub credential: Credential,
    /// The request, unchanged.
    pub request: SealRequest,
    /// Why it failed.
    pub error: Error,
}

/// A fragment that could not be opened, handed back intact with the reason.
#[derive(Debug)]
pub struct OpenFailure {
    /// The credential it was to be opened for.
    pub credential: Credential,
    /// The request, unchanged.
    pub request: OpenRequest,
    /// Why it failed.
    pub error: Error,
}

impl fmt::Display for SealFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fragment of {} bytes not sealed: {}",
            self.request.plaintext.len(),
            self.error
        )
    }
}

impl std::error::Error for SealFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl fmt::Display for OpenFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "message of {} bytes not opened: {}",
            self.request.message.len(),
            self.error
        )
    }
}

impl std::error::Error for OpenFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Seals and opens fragments; see the [module documentation](self). `Send + Sync`: share one
/// engine (for example in an `Arc`) between all threads of a process.
pub struct Engine {
    kms: Arc<dyn Kms>,
    config: EngineConfig,
    cache: DataKeyCache,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `kms` with `config`, on the system clock.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an invalid configuration (frame length 0, invalid cache
    /// limits or retry policy).
    pub fn new(kms: Arc<dyn Kms>, config: EngineConfig) -> Result<Self, Error> {
        Self::with_clock(kms, config, Arc::new(SystemClock::new()))
    }

    /// An engine whose data-key cache reads `clock` (tests and simulations move time).
    ///
    /// # Errors
    /// As [`Engine::new`].
    pub fn with_clock(
        kms: Arc<dyn Kms>,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        if config.frame_length == 0 {
            return Err(Error::InvalidArgument(
                "frame length must be at least 1".into(),
            ));
        }
        config.retry.validate()?;
        let cache = DataKeyCache::with_clock(config.cache, clock)?;
        Ok(Self { kms, config, cache })
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The data-key cache (for example to purge expired keys or clear it).
    pub fn cache(&self) -> &DataKeyCache {
        &self.cache
    }

    /// A snapshot of `credential`'s counters.
    ///
    /// # Errors
    /// [`Error::Internal`] when the cache lock was poisoned.
    pub fn stats(&self, credential: &Credential) -> Result<CredentialStats, Error> {
        self.cache.stats(credential)
    }

    /// Snapshots of every credential's counters.
    ///
    /// # Errors
    /// [`Error::Internal`] when the cache lock was poisoned.
    pub fn all_stats(&self) -> Result<Vec<(Credential, CredentialStats)>, Error> {
        self.cache.all_stats()
    }

    fn counters(&self, credential: &Credential) -> Option<Arc<CredentialCounters>> {
        self.cache.counters(credential).ok()
    }

    fn sealing_lease(
        &self,
        credential: &Credential,
        request: &SealRequest,
    ) -> Result<Lease, Error> {
        if let Some(k) = request.encryption_context.reserved_key() {
            return Err(Error::InvalidArgument(format!(
                "encryption context key {k:?} uses the reserved prefix aws-crypto-"
            )));
        }
        let key = CacheKey::for_sealing(
            credential,
            &request.key_id,
            SUITE_ID,
            &request.encryption_context,
        );
        let generate = |kms: &dyn Kms, counters: Option<&CredentialCounters>| {
            let g = with_retry(&self.config.retry, counters, || {
                kms.generate_data_key(
                    credential,
                    &request.key_id,
                    DataKeySpec::Aes256,
                    &request.encryption_context,
                )
            })?;
            material_from_generated(g)
        };
        self.cache.get_or_fetch_with_refresh(
            &key,
            request.plaintext.len() as u64,
            || generate(&*self.kms, self.counters(credential).as_deref()),
            |ticket| {
                if !self.config.background_refresh {
                    let fetched = generate(&*self.kms, Some(ticket.counters()));
                    return ticket.complete(fetched);
                }
                let (kms, retry) = (Arc::clone(&self.kms), self.config.retry);
                let (credential, key_id) = (credential.clone(), request.key_id.clone());
                let ec = request.encryption_context.clone();
                spawn_refresh(ticket, move |counters| {
                    let g = with_retry(&retry, Some(counters), || {
                        kms.generate_data_key(&credential, &key_id, DataKeySpec::Aes256, &ec)
                    })?;
                    material_from_generated(g)
                });
            },
        )
    }

    /// Seals one fragment for `credential`. The output is allocated once, at its final size.
    ///
    /// # Errors
    /// [`Error::Kms`] when no data key could be obtained (after retries); [`Error::InvalidArgument`]
    /// for a request that cannot be sealed (reserved encryption context key, oversized fields).
    /// The request is left untouched either way.
    pub fn seal(&self, credential: &Credential, request: &SealRequest) -> Result<Bytes, Error> {
        self.seal_with(credential, request, |key, params| {
            message::seal(key, params, &request.plaintext).map(Bytes::from)
        })
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
    ) -> Result<(), Error> {
        self.seal_with(credential, request, |key, params| {
            message::seal_into(key, params, &request.plaintext, out)
        })
    }

    /// Gets the data key, builds the message parameters, runs `write`, and counts the outcome.
    fn seal_with<T>(
        &self,
        credential: &Credential,
        request: &SealRequest,
        write: impl FnOnce(&crate::crypto::DataKey, &SealParams<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let result = self.sealing_lease(credential, request).and_then(|lease| {
            let material = lease.material();
            let params = SealParams {
                frame_length: self.config.frame_length,
                encryption_context: &request.encryption_context,
                encrypted_data_keys: material.encrypted_data_keys(),
                identity: request.identity.as_ref(),
                backend: self.config.backend,
            };
            let sealed = write(material.data_key(), &params)?;
            lease
                .counters()
                .record_sealed(request.plaintext.len() as u64);
            Ok(sealed)
        });
        if result.is_err() {
            if let Some(c) = self.counters(credential) {
                c.record_seal_failure();
            }
        }
        result
    }

    /// The data key that opens the message with `header`, for `credential`: each `aws-kms`
    /// encrypted data key in turn (trusted ones only, in strict mode) through the cache. Also
    /// returns the cache key the lease's usage was reserved under.
    fn opening_lease<'h>(
        &self,
        credential: &'h Credential,
        header: &'h MessageHeader,
        usage_bytes: u64,
    ) -> Result<(Lease, CacheKey<'h>), Error> {
        let ec = header.encryption_context();
        let mut first_error = None;
        for edk in header.encrypted_data_keys() {
            let Some(key_arn) = self.usable_edk(edk) else {
                continue;
            };
            let key = CacheKey::for_opening(credential, edk, ec);
            let decrypt = |kms: &dyn Kms, counters: Option<&CredentialCounters>| {
                let d = with_retry(&self.config.retry, counters, || {
                    kms.decrypt(credential, &edk.ciphertext, ec, Some(key_arn))
                })?;
                material_from_decrypted(d, edk.ciphertext.clone())
            };
            let lease = self.cache.get_or_fetch_with_refresh(
                &key,
                usage_bytes,
                || decrypt(&*self.kms, self.counters(credential).as_deref()),
                |ticket| {
                    if !self.config.background_refresh {
                        let fetched = decrypt(&*self.kms, Some(ticket.counters()));
                        return ticket.complete(fetched);
                    }
                    let (kms, retry) = (Arc::clone(&self.kms), self.config.retry);
                    let (credential, key_arn) = (credential.clone(), key_arn.to_owned());
                    let (ec, blob) = (ec.clone(), edk.ciphertext.clone());
                    spawn_refresh(ticket, move |counters| {
                        let d = with_retry(&retry, Some(counters), || {
                            kms.decrypt(&credential, &blob, &ec, Some(&key_arn))
                        })?;
                        material_from_decrypted(d, blob)
                    });
                },
            );
            match lease {
                Ok(lease) => return Ok((lease, key)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(Error::NoMatchingKeyProvider))
    }

    /// The KMS key ARN of `edk` if the engine may send it to KMS: an `aws-kms` encrypted data
    /// key whose provider info is a well-formed KMS key ARN (never an alias, a bare key id or
    /// another service's ARN, which an attacker could otherwise make KMS resolve), trusted in
    /// strict mode, and allowed by the discovery filter, if any.
    fn usable_edk<'e>(&self, edk: &'e EncryptedDataKey) -> Option<&'e str> {
        if edk.provider_id != AWS_KMS_PROVIDER_ID {
            return None;
        }
        let arn = core::str::from_utf8(&edk.provider_info).ok()?;
        let parsed = KmsKeyArn::parse(arn)?;
        if let Some(trusted) = &self.config.trusted_key_arns {
            if !trusted.iter().any(|t| t == arn) {
                return None;
            }
        }
        if let Some(filter) = &self.config.discovery_filter {
            if !filter.allows(&parsed) {
                return None;
            }
        }
        Some(arn)
    }

    /// Parses the header, gets the data key, runs `decrypt`, and counts the outcome
    /// (`opened_len` gives the plaintext length of a success).
    fn open_with<T>(
        &self,
        credential: &Credential,
        message: &[u8],
        opened_len: impl FnOnce(&T) -> u64,
        decrypt: impl FnOnce(&crate::crypto::DataKey, &MessageHeader) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let header = match message::parse_header(message, &self.config.open_limits) {
            Ok(h) => h,
            Err(e) => {
                if let Some(c) = self.counters(credential) {
                    c.record_open_failure();
                }
                return Err(e);
            }
        };
        let body_len = message.len().saturating_sub(header.header_len()) as u64;
        let (lease, key) = match self.opening_lease(credential, &header, body_len) {
            Ok(k) => k,
            Err(e) => {
                if let Some(c) = self.counters(credential) {
                    c.record_open_failure();
                }
                return Err(e);
            }
        };
        let result = decrypt(lease.material().data_key(), &header);
        match &result {
            Ok(v) => lease.counters().record_opened(opened_len(v)),
            Err(_) => {
                lease.counters().record_open_failure();
                // Nothing was released: give the reserved usage back, so that messages that
                // fail to authenticate (say, a genuine header with a forged body) cannot use up
                // the entry's budget. A poisoned cache lock fails the next call anyway.
                let _ = self.cache.release_unused(&key, lease, body_len);
            }
        }
        result
    }

    /// Opens one sealed fragment for `credential`; with `expected_identity`, the fragment must
    /// carry that identity. The plaintext is allocated once.
    ///
    /// # Errors
    /// [`Error::Format`] for a malformed message; [`Error::NoMatchingKeyProvider`] when it has no
    /// (trusted) `aws-kms` encrypted data key; [`Error::Kms`] when KMS refused every one (for
    /// example `AccessDenied` for a credential the key policy does not allow);
    /// [`Error::Authentication`] (opaque) when the message does not verify.
    pub fn open(
        &self,
        credential: &Credential,
        message: &[u8],
        expected_identity: Option<&FragmentIdentity>,
    ) -> Result<Bytes, Error> {
        self.open_with(
            credential,
            message,
            |p: &Bytes| p.len() as u64,
            |key, header| {
                message::open(key, header, message, expected_identity, self.config.backend)
                    .map(Bytes::from)
            },
        )
    }

    /// Opens one sealed fragment for `credential`, appending the plaintext to `out` (reuse `out`
    /// across fragments to avoid a fresh allocation per fragment). On error `out` keeps its
    /// previous contents.
    ///
    /// # Errors
    /// As [`Engine::open`].
    pub fn open_into(
        &self,
        credential: &Credential,
        message: &[u8],
        expected_identity: Option<&FragmentIdentity>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let start = out.len();
        self.open_with(
            credential,
            message,
            |n: &usize| *n as u64,
            |key, header| {
                message::open_into(
                    key,
                    header,
                    message,
                    expected_identity,
                    self.config.backend,
                    out,
                )?;
                Ok(out.len() - start)
            },
        )
        .map(|_| ())
    }

    /// Opens only the plaintext bytes in `range` of a sealed fragment, decrypting only the frames
    /// that overlap it (and the final frame, which authenticates the length).
    ///
    /// # Errors
    /// As [`Engine::open`]; [`Error::InvalidArgument`] when `range` is reversed or ends beyond
    /// the plaintext.
    pub fn open_range(
        &self,
        credential: &Credential,
        message: &[u8],
        range: Range<u64>,
        expected_identity: Option<&FragmentIdentity>,
    ) -> Result<Bytes, Error> {
        self.open_with(
            credential,
            message,
            |p: &Bytes| p.len() as u64,
            |key, header| {
                message::open_range(
                    key,
                    header,
                    message,
                    range,
                    expected_identity,
                    self.config.backend,
                )
                .map(Bytes::from)
            },
        )
    }

    /// Opens a sealed fragment read from `source` as a stream: the header is read and
    /// authenticated first, then each frame's plaintext is released only after its tag
    /// verifies; a missing final frame is an error. Reading errors are [`io::Error`]s of kind
    /// `InvalidData` wrapping an [`Error`].
    ///
    /// The message length is unknown up front, so the cache's byte limit is not charged for
    /// streamed opens (the fragment limit is).
    ///
    /// # Errors
    /// As [`Engine::open`], for the header; [`Error::Io`] when reading it fails.
    pub fn open_stream<R: Read>(
        &self,
        credential: &Credential,
        source: R,
        expected_identity: Option<&FragmentIdentity>,
    ) -> Result<EngineOpenStream<R>, Error> {
        let result = (|| {
            let sealed = SealedStream::new(source, &self.config.open_limits)?;
            let (lease, _) = self.opening_lease(credential, sealed.header(), 0)?;
            let inner = sealed.open(
                lease.material().data_key(),
                expected_identity,
                self.config.backend,
            )?;
            Ok((inner, Arc::clone(lease.counters())))
        })();
        match result {
            Ok((inner, counters)) => {
                counters.record_opened(0);
                Ok(EngineOpenStream { inner, counters })
            }
            Err(e) => {
                if let Some(c) = self.counters(credential) {
                    c.record_open_failure();
                }
                Err(e)
            }
        }
    }

    /// Seals many fragments for one credential in parallel (on the current rayon pool). The
    /// results keep the order of `requests`, one per fragment; a fragment that fails is handed
    /// back intact in its [`SealFailure`].
    pub fn seal_batch(
        &self,
        credential: &Credential,
        requests: Vec<SealRequest>,
    ) -> Vec<Result<Bytes, Box<SealFailure>>> {
        requests
            .into_par_iter()
            .map(|request| {
                self.seal(credential, &request).map_err(|error| {
                    Box::new(SealFailure {
                        credential: credential.clone(),
                        request,
                        error,
                    })
                })
            })
            .collect()
    }

    /// Seals many fragments for one credential in parallel into caller-provided buffers:
    /// `outputs[i]` is cleared and receives the message of `requests[i]`. Reusing the buffers
    /// from batch to batch avoids fresh allocations (and their page faults). Results keep the
    /// order of `requests`; the requests stay with the caller.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `outputs` and `requests` differ in length; otherwise
    /// one result per fragment.
    pub fn seal_batch_into(
        &self,
        credential: &Credential,
        requests: &[SealRequest],
        outputs: &mut [Vec<u8>],
    ) -> Result<Vec<Result<(), Error>>, Error> {
        if requests.len() != outputs.len() {
            return Err(Error::InvalidArgument(format!(
                "{} requests but {} output buffers",
                requests.len(),
                outputs.len()
            )));
        }
        Ok(requests
            .par_iter()
            .zip(outputs.par_iter_mut())
            .map(|(request, out)| {
                out.clear();
                self.seal_into(credential, request, out)
            })
            .collect())
    }

    /// Seals many fragments, each for its own credential, in parallel; as [`Self::seal_batch`].
    pub fn seal_batch_mixed(
        &self,
        requests: Vec<(Credential, SealRequest)>,
    ) -> Vec<Result<Bytes, Box<SealFailure>>> {
        requests
            .into_par_iter()
            .map(|(credential, request)| {
                self.seal(&credential, &request).map_err(|error| {
                    Box::new(SealFailure {
                        credential,
                        request,
                        error,
                    })
                })
            })
            .collect()
    }

    /// Opens many fragments for one credential in parallel (on the current rayon pool). The
    /// results keep the order of `requests`, one per fragment; a fragment that fails is handed
    /// back intact in its [`OpenFailure`].
    pub fn open_batch(
        &self,
        credential: &Credential,
        requests: Vec<OpenRequest>,
    ) -> Vec<Result<Bytes, Box<OpenFailure>>> {
        requests
            .into_par_iter()
            .map(|request| {
                self.open(
                    credential,
                    &request.message,
                    request.expected_identity.as_ref(),
                )
                .map_err(|error| {
                    Box::new(OpenFailure {
                        credential: credential.clone(),
                        request,
                        error,
                    })
                })
            })
            .collect()
    }

    /// Opens many fragments, each for its own credential, in parallel; as [`Self::open_batch`].
    pub fn open_batch_mixed(
        &self,
        requests: Vec<(Credential, OpenRequest)>,
    ) -> Vec<Result<Bytes, Box<OpenFailure>>> {
        requests
            .into_par_iter()
            .map(|(credential, request)| {
                self.open(
                    &credential,
                    &request.message,
                    request.expected_identity.as_ref(),
                )
                .map_err(|error| {
                    Box::new(OpenFailure {
                        credential,
                        request,
                        error,
                    })
                })
            })
            .collect()
    }
}

/// The key provider id of encrypted data keys made by AWS KMS (and any [`Kms`]).
pub const AWS_KMS_PROVIDER_ID: &str = "aws-kms";

/// The `aws-kms` encrypted data key for `ciphertext_blob` under the KMS key `key_arn`.
fn kms_edk(key_arn: &str, ciphertext_blob: Vec<u8>) -> EncryptedDataKey {
    EncryptedDataKey {
        provider_id: AWS_KMS_PROVIDER_ID.to_owned(),
        provider_info: key_arn.as_bytes().to_vec(),
        ciphertext: ciphertext_blob,
    }
}

fn data_key_from_kms(
    plaintext: crate::crypto::SecretBytes,
) -> Result<crate::crypto::DataKey, KmsError> {
    crate::crypto::DataKey::try_from(plaintext).map_err(|len| {
        KmsError::new(
            KmsErrorKind::Internal,
            format!("KMS returned a data key of {len} bytes, expected 32"),
        )
    })
}

/// Cache material from a `GenerateDataKey` answer: its `aws-kms` EDK and key ARN.
fn material_from_generated(g: GeneratedDataKey) -> Result<DataKeyMaterial, KmsError> {
    let data_key = data_key_from_kms(g.plaintext)?;
    let edk = kms_edk(&g.key_id, g.ciphertext_blob);
    Ok(DataKeyMaterial::new(data_key, vec![edk], g.key_id))
}

/// Cache material from a `Decrypt` answer for `ciphertext_blob`.
fn material_from_decrypted(
    d: DecryptedDataKey,
    ciphertext_blob: Vec<u8>,
) -> Result<DataKeyMaterial, KmsError> {
    let data_key = data_key_from_kms(d.plaintext)?;
    let edk = kms_edk(&d.key_id, ciphertext_blob);
    Ok(DataKeyMaterial::new(data_key, vec![edk], d.key_id))
}

/// Calls KMS through `retry`, counting every attempt in `counters`.
fn with_retry<T>(
    retry: &RetryPolicy,
    counters: Option<&CredentialCounters>,
    op: impl FnMut() -> Result<T, KmsError>,
) -> Result<T, KmsError> {
    retry.run(op, |r| {
        if let Some(c) = counters {
            c.record_kms_call(r.is_ok());
        }
    })
}

/// Runs a refresh ahead on its own short-lived thread, so that no caller waits for it. If the
/// thread cannot be started, the closure — and the ticket in it — is dropped, which abandons the
/// refresh; the cache tries again after its retry interval.
fn spawn_refresh(
    ticket: Refresh,
    fetch: impl FnOnce(&CredentialCounters) -> Result<DataKeyMaterial, KmsError> + Send + 'static,
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

/// The plaintext of a fragment opened as a stream (see [`Engine::open_stream`]); counts the
/// bytes it releases in the credential's `bytes_opened`.
pub struct EngineOpenStream<R> {
    inner: OpenStream<R>,
    counters: Arc<CredentialCounters>,
}

impl<R> fmt::Debug for EngineOpenStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineOpenStream").finish_non_exhaustive()
    }
}

impl<R: Read> Read for EngineOpenStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counters.record_opened_bytes(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

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
        let kms: Arc<dyn Kms> = Arc::new(crate::kms::local::LocalKms::new(
            "us-east-1",
            "111122223333",
        ));
        assert!(Engine::new(
            Arc::clone(&kms),
            EngineConfig::default().with_frame_length(0)
        )
        .is_err());
        assert!(Engine::new(
            Arc::clone(&kms),
            EngineConfig::default().with_retry(RetryPolicy::default().with_max_attempts(0))
        )
        .is_err());
        assert!(Engine::new(
            kms,
            EngineConfig::default().with_cache(CacheLimits::default().with_max_fragments(0))
        )
        .is_err());
    }

    #[test]
    fn only_well_formed_kms_key_arns_parse() {
        let ok = [
            (
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "aws",
                "111122223333",
            ),
            (
                "arn:aws-cn:kms:cn-north-1:000000000000:key/mrk-1234abcd",
                "aws-cn",
                "000000000000",
            ),
        ];
        for (arn, partition, account) in ok {
            assert_eq!(
                KmsKeyArn::parse(arn),
                Some(KmsKeyArn { partition, account }),
                "{arn}"
            );
        }
        let bad = [
            "",
            "alias/aws/kinesisvideo",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:alias/aws/kinesisvideo",
            "arn:aws:kms:us-east-1:111122223333:alias/key/k",
            "arn:aws:s3:us-east-1:111122223333:key/k",
            "arn:aws:kms:us-east-1:111122223333:keys/k",
            "arn:aws:kms:us-east-1:111122223333:key",
            "arn:aws:kms:us-east-1:111122223333:key/",
            "arn:aws:kms:us-east-1:111122223333:key/k/extra",
            "arn:aws:kms:us-east-1:111122223333:key/k:x",
            "arn:aws:kms:us-east-1:11112222333:key/k",
            "arn:aws:kms:us-east-1:1111222233334:key/k",
            "arn:aws:kms:us-east-1:11112222333a:key/k",
            "arn:aws:kms::111122223333:key/k",
            "arn::kms:us-east-1:111122223333:key/k",
            "arn:AWS:kms:us-east-1:111122223333:key/k",
            "arn:aws:KMS:us-east-1:111122223333:key/k",
            "ARN:aws:kms:us-east-1:111122223333:key/k",
            "urn:aws:kms:us-east-1:111122223333:key/k",
            " arn:aws:kms:us-east-1:111122223333:key/k",
            "arn:aws:kms:us-east-1:111122223333:key/k ",
            "arn:aws:kms:us-east-1:111122223333:key/k\0",
            "arn:aws:kms:us-east-1:111122223333",
        ];
        for arn in bad {
            assert_eq!(KmsKeyArn::parse(arn), None, "{arn:?}");
        }
    }

    #[test]
    fn the_discovery_filter_matches_partition_and_account() {
        let arn = KmsKeyArn::parse("arn:aws:kms:us-east-1:111122223333:key/k").unwrap();
        assert!(DiscoveryFilter::new("aws", vec!["111122223333".into()]).allows(&arn));
        assert!(!DiscoveryFilter::new("aws-cn", vec!["111122223333".into()]).allows(&arn));
        assert!(!DiscoveryFilter::new("aws", vec!["444455556666".into()]).allows(&arn));
        assert!(!DiscoveryFilter::new("aws", vec![]).allows(&arn));
    }
}

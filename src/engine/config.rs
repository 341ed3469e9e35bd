//! How an engine seals and opens.

use super::buffers::BufferPoolLimits;
use super::retry::RetryPolicy;
use crate::cache::CacheLimits;
use crate::crypto::aead::AeadBackend;
use crate::error::ConfigError;
use crate::format::{CommitmentPolicy, OpenLimits, SignaturePolicy};
use crate::message::{self, SealSuite};

/// How an [`Engine`](super::Engine) seals and opens. Which keys protect and may open a
/// message is the engine's [keyring](crate::keyring), not a configuration value.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Frame length of sealed messages (default 64 KiB).
    pub frame_length: u32,
    /// Limits of the data-key cache.
    pub cache: CacheLimits,
    /// Retries of failed keyring (KMS) calls.
    pub retry: RetryPolicy,
    /// Limits applied when parsing messages to open.
    pub open_limits: OpenLimits,
    /// The AES-GCM implementation of message keys.
    pub backend: AeadBackend,
    /// Run refreshes ahead on a short-lived background thread, so that not even the caller that
    /// starts a refresh waits for KMS (recommended for producers). Off by default: the caller
    /// that reaches the refresh point then fetches the replacement itself — after reserving its
    /// own use of the still-valid key — which keeps refreshes deterministic under a manual
    /// clock. Either way, no other caller waits.
    pub background_refresh: bool,
    /// Bounds of the pool of idle output buffers that [`Engine::seal_batch`] and
    /// [`Engine::open_batch`] results return to when dropped (see
    /// [`BufferPoolLimits`]; [`BufferPoolLimits::OFF`] turns it off).
    ///
    /// [`Engine::seal_batch`]: super::Engine::seal_batch
    /// [`Engine::open_batch`]: super::Engine::open_batch
    pub buffer_pool: BufferPoolLimits,
    /// The suite messages are sealed with: `0x0478` by default, or the signed `0x0578`
    /// (opt-in), whose signing key pair is cached with each data key and whose public key is
    /// bound by the keyring (see [`SealSuite`]). Opening accepts either, whatever this says.
    pub seal_suite: SealSuite,
    /// Which suites opening accepts (default
    /// [`CommitmentPolicy::RequireEncryptRequireDecrypt`]: only the key-committing `0x0478`
    /// and `0x0578`). [`CommitmentPolicy::RequireEncryptAllowDecrypt`] also opens the nine
    /// non-committing suites of message format version 1 (ESDK 1.x messages). Sealing always
    /// uses a committing suite whatever this says. The engine parses with
    /// [`OpenLimits::allow_non_committing`] set from this policy (overriding
    /// [`Self::open_limits`]'s value), so a refused message fails with
    /// [`OpenError::CommitmentPolicy`](crate::OpenError::CommitmentPolicy) before any keyring
    /// call.
    pub commitment_policy: CommitmentPolicy,
    /// Whether opening requires the signed suite `0x0578` (default
    /// [`SignaturePolicy::AllowUnsigned`]). [`SignaturePolicy::RequireSigned`] refuses an
    /// unsigned message with [`OpenError::SignaturePolicy`](crate::OpenError::SignaturePolicy)
    /// before any keyring call: the setting for consumers of streams whose producers all seal
    /// `0x0578`, so that a holder of `kms:Decrypt` cannot forge fragments by writing `0x0478`.
    pub signature_policy: SignaturePolicy,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            frame_length: message::DEFAULT_FRAME_LENGTH,
            cache: CacheLimits::default(),
            retry: RetryPolicy::default(),
            open_limits: OpenLimits::default(),
            backend: AeadBackend::default(),
            background_refresh: false,
            buffer_pool: BufferPoolLimits::default(),
            seal_suite: SealSuite::default(),
            commitment_policy: CommitmentPolicy::default(),
            signature_policy: SignaturePolicy::default(),
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

    /// Sets [`Self::buffer_pool`].
    pub fn with_buffer_pool(mut self, limits: BufferPoolLimits) -> Self {
        self.buffer_pool = limits;
        self
    }

    /// Sets [`Self::seal_suite`].
    pub fn with_seal_suite(mut self, suite: SealSuite) -> Self {
        self.seal_suite = suite;
        self
    }

    /// Sets [`Self::signature_policy`].
    pub fn with_signature_policy(mut self, policy: SignaturePolicy) -> Self {
        self.signature_policy = policy;
        self
    }

    /// Sets [`Self::commitment_policy`].
    pub fn with_commitment_policy(mut self, policy: CommitmentPolicy) -> Self {
        self.commitment_policy = policy;
        self
    }

    /// Checks the configuration (the cache limits are checked by the cache).
    ///
    /// # Errors
    /// [`ConfigError::ZeroFrameLength`]; the retry policy's errors.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.frame_length == 0 {
            return Err(ConfigError::ZeroFrameLength);
        }
        self.retry.validate()
    }
}

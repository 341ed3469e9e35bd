//! AWS KMS backend (cargo feature `aws`): the [`Kms`] trait on the official `aws-sdk-kms` crate.
//!
//! The SDK is built without its default HTTP stack: requests go through
//! `aws-smithy-http-client` with rustls on `ring` (no `aws-lc`, no `aws-config`). The client
//! configuration is assembled by hand — region, optional endpoint override, one credentials
//! provider per calling [`Credential`], timeouts, and SDK retries off by default because
//! fragseal's engine decides itself when to retry (see [`KmsError::is_retryable`]).
//!
//! # Blocking model
//! The [`Kms`] trait is synchronous. `AwsKms` owns a small private multi-thread tokio runtime
//! (2 worker threads by default, named `fragseal-aws-kms`). Every call is *spawned* onto that
//! runtime and the calling thread waits for the answer on a channel, with a hard deadline of the
//! operation timeout plus a grace period. Consequences:
//! - Plain threads and rayon workers: the call blocks the thread for at most
//!   [`AwsKmsBuilder::operation_timeout`] + 2 s, then fails with a retryable
//!   [`KmsErrorKind::Transport`] error. A rayon worker never blocks forever.
//! - Inside an async runtime: the call never panics (no nested `block_on`, since the work runs
//!   on AwsKms's own runtime, and no `block_in_place`). The caller's thread is blocked for the
//!   duration of the call, within the same deadline: on a current-thread runtime nothing else on
//!   that runtime makes progress meanwhile; on a multi-thread runtime the other workers go on
//!   (and steal the blocked worker's queued tasks). Async callers should wrap engine calls in
//!   `tokio::task::spawn_blocking`.
//! - Dropping `AwsKms` (even inside an async context) shuts its runtime down in the background
//!   without blocking; calls still in flight are abandoned.
//!
//! # Errors
//! Every failure becomes a [`KmsError`]: service errors by their error code (taken from the JSON
//! error, or from an XML `<Code>` when a server answers in XML), and by HTTP status when there is
//! no code at all (some servers answer `403` with an XML body); transport failures and timeouts
//! are [`KmsErrorKind::Transport`]. Every KMS exception has its own kind, and
//! [`KmsError::code`] gives the name the service sent. See [`classify_code`] and
//! [`kind_for_status`].
//!
//! # Layout
//! This module holds the builder and configuration; `client` the [`Kms`] calls; `errors` the
//! mapping of AWS answers to [`KmsError`]. The loopback HTTP server that answers canned
//! responses in the tests is `tests/support/fake_kms_http.rs`.
//!
//! # Plaintext keys
//! Plaintext data keys are moved from the SDK's response into [`SecretBytes`](crate::crypto::SecretBytes) (zeroized on drop)
//! without further copies; the SDK's own transient buffers (HTTP body, JSON decoding) are outside
//! fragseal's control and are not zeroized.

mod client;
mod errors;

pub use errors::{classify_code, kind_for_code, kind_for_status, map_sdk_error};

#[cfg(doc)]
use super::Kms;
use super::{Credential, KmsError, KmsErrorKind};
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{
    BehaviorVersion, Credentials, ProvideCredentials, Region, SharedAsyncSleep,
    SharedCredentialsProvider, StalledStreamProtectionConfig,
};
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use core::fmt;
use core::future::Future;
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::time::Duration;

pub use aws_sdk_kms::Client as SdkClient;

/// What a credentials provider for [`AwsKmsBuilder::caller_credentials_provider`] is made of,
/// re-exported from `aws-credential-types` so that callers need no direct dependency on it.
/// [`provide_credentials_fn`](credentials::provide_credentials_fn) turns an async closure into
/// a provider (for example one that fetches short-lived keys from your own broker).
pub mod credentials {
    pub use aws_credential_types::credential_fn::provide_credentials_fn;
    pub use aws_credential_types::provider::error::CredentialsError;
    pub use aws_credential_types::provider::{
        future, ProvideCredentials, SharedCredentialsProvider,
    };
    pub use aws_credential_types::Credentials;
}

/// Extra time the calling thread waits beyond the SDK's operation timeout before giving up on
/// its own (the SDK's timers should always fire first; this is the backstop that keeps a rayon
/// worker from waiting forever if they cannot).
const WAIT_GRACE: Duration = Duration::from_secs(2);

/// Errors building an [`AwsKms`].
#[derive(Debug)]
#[non_exhaustive]
pub enum AwsConfigError {
    /// No region was given.
    MissingRegion,
    /// Neither default credentials nor any per-credential provider was given.
    NoCredentials,
    /// A configuration value is out of range (the text says which).
    Invalid(&'static str),
    /// The private tokio runtime could not be started.
    Runtime(std::io::Error),
}

impl fmt::Display for AwsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AwsConfigError::MissingRegion => f.write_str("AWS KMS backend: no region configured"),
            AwsConfigError::NoCredentials => {
                f.write_str("AWS KMS backend: no credentials configured (default or per caller)")
            }
            AwsConfigError::Invalid(what) => write!(f, "AWS KMS backend: invalid {what}"),
            AwsConfigError::Runtime(e) => write!(f, "AWS KMS backend: cannot start runtime: {e}"),
        }
    }
}

impl std::error::Error for AwsConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AwsConfigError::Runtime(e) => Some(e),
            _ => None,
        }
    }
}

/// Builder for [`AwsKms`]. Start with [`AwsKms::builder`].
pub struct AwsKmsBuilder {
    region: Option<String>,
    endpoint_url: Option<String>,
    default_credentials: Option<SharedCredentialsProvider>,
    per_caller: BTreeMap<Credential, SharedCredentialsProvider>,
    connect_timeout: Duration,
    read_timeout: Duration,
    operation_timeout: Duration,
    max_attempts: u32,
    worker_threads: usize,
}

impl fmt::Debug for AwsKmsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials providers are not printed (they may hold secret keys).
        f.debug_struct("AwsKmsBuilder")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("default_credentials", &self.default_credentials.is_some())
            .field("callers", &self.per_caller.keys().collect::<Vec<_>>())
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("worker_threads", &self.worker_threads)
            .finish()
    }
}

impl AwsKmsBuilder {
    fn new() -> Self {
        Self {
            region: None,
            endpoint_url: None,
            default_credentials: None,
            per_caller: BTreeMap::new(),
            connect_timeout: Duration::from_secs(3),
            read_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(10),
            max_attempts: 1,
            worker_threads: 2,
        }
    }

    /// The AWS region, for example `us-east-1` (required).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sends requests to `url` instead of the regional KMS endpoint (for example
    /// `http://127.0.0.1:5000` for a local moto server, or a VPC endpoint).
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Static access keys used for callers without their own entry.
    pub fn default_static_credentials(
        self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        self.default_credentials_provider(static_credentials(
            access_key_id.into(),
            secret_access_key.into(),
            session_token,
        ))
    }

    /// A credentials provider (for example one from `aws-config`, or a refreshing provider of
    /// your own) used for callers without their own entry.
    pub fn default_credentials_provider(
        mut self,
        provider: impl ProvideCredentials + 'static,
    ) -> Self {
        self.default_credentials = Some(SharedCredentialsProvider::new(provider));
        self
    }

    /// Static access keys for calls made on behalf of `caller`.
    pub fn caller_static_credentials(
        self,
        caller: Credential,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        self.caller_credentials_provider(
            caller,
            static_credentials(
                access_key_id.into(),
                secret_access_key.into(),
                session_token,
            ),
        )
    }

    /// A credentials provider for calls made on behalf of `caller`. Each caller gets its own SDK
    /// client (sharing the HTTP connection pool), so KMS authorizes each caller separately.
    pub fn caller_credentials_provider(
        mut self,
        caller: Credential,
        provider: impl ProvideCredentials + 'static,
    ) -> Self {
        self.per_caller
            .insert(caller, SharedCredentialsProvider::new(provider));
        self
    }

    /// Timeout for establishing a connection (default 3 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout for reading the first byte of a response (default 5 s).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Timeout for a whole operation including any SDK retries (default 10 s). The calling thread
    /// waits at most this plus 2 s.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Attempts per call made by the SDK itself (default 1: no SDK retries, fragseal's engine
    /// retries). Values above 1 turn on the SDK's standard retry mode with that many attempts.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Worker threads of the private runtime that drives the HTTP client (default 2).
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads;
        self
    }

    /// Builds the backend and starts its runtime.
    ///
    /// # Errors
    /// [`AwsConfigError`] when the region or all credentials are missing, a value is out of
    /// range, or the runtime cannot start.
    pub fn build(self) -> Result<AwsKms, AwsConfigError> {
        let region = self.region.ok_or(AwsConfigError::MissingRegion)?;
        if region.is_empty() {
            return Err(AwsConfigError::Invalid("region (empty)"));
        }
        if self.default_credentials.is_none() && self.per_caller.is_empty() {
            return Err(AwsConfigError::NoCredentials);
        }
        if self.max_attempts == 0 {
            return Err(AwsConfigError::Invalid("max_attempts (must be at least 1)"));
        }
        if self.worker_threads == 0 {
            return Err(AwsConfigError::Invalid(
                "worker_threads (must be at least 1)",
            ));
        }
        for (what, d) in [
            ("connect_timeout (zero)", self.connect_timeout),
            ("read_timeout (zero)", self.read_timeout),
            ("operation_timeout (zero)", self.operation_timeout),
        ] {
            if d.is_zero() {
                return Err(AwsConfigError::Invalid(what));
            }
        }

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.worker_threads)
            .thread_name("fragseal-aws-kms")
            .enable_all()
            .build()
            .map_err(AwsConfigError::Runtime)?;

        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let retry = if self.max_attempts > 1 {
            RetryConfig::standard().with_max_attempts(self.max_attempts)
        } else {
            RetryConfig::disabled()
        };
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .operation_timeout(self.operation_timeout)
            .build();

        let make_client = |provider: SharedCredentialsProvider| {
            let mut config = aws_sdk_kms::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region.clone()))
                .http_client(http_client.clone())
                .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
                .timeout_config(timeouts.clone())
                .retry_config(retry.clone())
                .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
                .credentials_provider(provider);
            if let Some(url) = &self.endpoint_url {
                config = config.endpoint_url(url.clone());
            }
            SdkClient::from_conf(config.build())
        };

        let default_client = self.default_credentials.map(&make_client);
        let clients = self
            .per_caller
            .into_iter()
            .map(|(caller, provider)| (caller, make_client(provider)))
            .collect();

        Ok(AwsKms {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            clients,
            default_client,
            wait_limit: self.operation_timeout.saturating_add(WAIT_GRACE),
            region,
        })
    }
}

fn static_credentials(
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
) -> Credentials {
    Credentials::new(
        access_key_id,
        secret_access_key,
        session_token,
        None,
        "fragseal-static",
    )
}

/// AWS KMS through the official SDK. See the [module docs](self) for the blocking model.
///
/// ```no_run
/// use fragseal::kms::aws::AwsKms;
/// use fragseal::kms::{Credential, DataKeySpec, Kms};
/// use fragseal::EncryptionContext;
///
/// let producer = Credential::new("111122223333", "arn:aws:iam::111122223333:role/producer", "AKIDPRODUCER")?;
/// let kms = AwsKms::builder()
///     .region("eu-west-1")
///     .caller_static_credentials(producer.clone(), "AKIDPRODUCER", "secret", None)
///     .build()?;
/// let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", "arn:aws:kinesisvideo:...");
/// let key = kms.generate_data_key(&producer, "alias/aws/kinesisvideo", DataKeySpec::Aes256, &ec)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AwsKms {
    /// `Some` until drop, where the runtime is shut down in the background.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    clients: HashMap<Credential, SdkClient>,
    default_client: Option<SdkClient>,
    wait_limit: Duration,
    region: String,
}

impl fmt::Debug for AwsKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKms")
            .field("region", &self.region)
            .field("callers", &self.clients.len())
            .field("default_credentials", &self.default_client.is_some())
            .field("wait_limit", &self.wait_limit)
            .finish_non_exhaustive()
    }
}

impl Drop for AwsKms {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Never blocks, so dropping inside an async context is fine.
            rt.shutdown_background();
        }
    }
}

impl AwsKms {
    /// A builder; `region` and some credentials are required.
    pub fn builder() -> AwsKmsBuilder {
        AwsKmsBuilder::new()
    }

    /// The configured region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The SDK client that signs requests as `caller` (its own credentials, or the default
    /// ones), or `None` when no credentials are configured for it.
    pub fn sdk_client(&self, caller: &Credential) -> Option<SdkClient> {
        self.clients
            .get(caller)
            .or(self.default_client.as_ref())
            .cloned()
    }

    /// Runs `f` with `caller`'s SDK client on the backend's runtime and waits for the result,
    /// with the same deadline and async-context behaviour as the [`Kms`] calls. An escape hatch
    /// for administrative calls (CreateKey, CreateAlias, ...) that fragseal does not wrap; map
    /// SDK errors with [`map_sdk_error`].
    ///
    /// # Errors
    /// `AccessDenied` when no credentials are configured for `caller`, `Transport` when the
    /// deadline passes, or what `f` returns.
    pub fn with_sdk_client<T, F, Fut>(&self, caller: &Credential, f: F) -> Result<T, KmsError>
    where
        F: FnOnce(SdkClient) -> Fut,
        Fut: Future<Output = Result<T, KmsError>> + Send + 'static,
        T: Send + 'static,
    {
        let client = self.client_for(caller)?;
        self.run(f(client))
    }

    pub(super) fn client_for(&self, caller: &Credential) -> Result<SdkClient, KmsError> {
        self.sdk_client(caller).ok_or_else(|| {
            KmsError::new(
                KmsErrorKind::AccessDenied,
                format!(
                    "no AWS credentials configured for caller {}",
                    caller.principal_arn()
                ),
            )
        })
    }

    /// Spawns `fut` on the private runtime and waits for it, at most `wait_limit`.
    pub(super) fn run<T, Fut>(&self, fut: Fut) -> Result<T, KmsError>
    where
        Fut: Future<Output = Result<T, KmsError>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let task = self.handle.spawn(async move {
            // The receiver may have given up (deadline); nothing to do then.
            let _ = tx.send(fut.await);
        });
        // A plain blocking wait, whatever runtime the caller is on. (`block_in_place` would
        // let a tokio multi-thread worker hand off its tasks, but it panics in some nested
        // runtime set-ups that cannot be detected beforehand; a bounded block never panics.)
        match rx.recv_timeout(self.wait_limit) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                task.abort();
                Err(KmsError::new(
                    KmsErrorKind::Transport,
                    format!("no answer from AWS KMS within {:?}", self.wait_limit),
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(KmsError::new(
                KmsErrorKind::Internal,
                "AWS KMS call ended without an answer (task aborted or runtime shut down)",
            )),
        }
    }
}

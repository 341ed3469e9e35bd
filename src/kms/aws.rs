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
//! are [`KmsErrorKind::Transport`]. See [`kind_for_code`] and [`kind_for_status`].
//!
//! # Plaintext keys
//! Plaintext data keys are moved from the SDK's response into [`SecretBytes`] (zeroized on drop)
//! without further copies; the SDK's own transient buffers (HTTP body, JSON decoding) are outside
//! fragseal's control and are not zeroized.

use super::{
    Credential, DataKeySpec, DecryptedDataKey, GeneratedDataKey, KeyDescription, KeyState, Kms,
    KmsError, KmsErrorKind,
};
use crate::crypto::SecretBytes;
use crate::format::EncryptionContext;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{
    BehaviorVersion, Credentials, ProvideCredentials, Region, SharedAsyncSleep,
    SharedCredentialsProvider, StalledStreamProtectionConfig,
};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
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
/// let producer = Credential::new("111122223333", "arn:aws:iam::111122223333:role/producer", "AKIDPRODUCER");
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

    fn client_for(&self, caller: &Credential) -> Result<SdkClient, KmsError> {
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
    fn run<T, Fut>(&self, fut: Fut) -> Result<T, KmsError>
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

fn context_map(ec: &EncryptionContext) -> Option<HashMap<String, String>> {
    if ec.is_empty() {
        None
    } else {
        Some(
            ec.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

fn missing(op: &str, field: &str) -> KmsError {
    KmsError::new(
        KmsErrorKind::Internal,
        format!("{op}: AWS KMS response has no {field}"),
    )
}

impl Kms for AwsKms {
    fn generate_data_key(
        &self,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        encryption_context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError> {
        const OP: &str = "GenerateDataKey";
        let client = self.client_for(caller)?;
        let mut req = client
            .generate_data_key()
            .key_id(key_id)
            .set_encryption_context(context_map(encryption_context));
        req = match spec {
            DataKeySpec::Aes256 => req.key_spec(aws_sdk_kms::types::DataKeySpec::Aes256),
            DataKeySpec::Bytes(n) => req.number_of_bytes(i32::from(n)),
        };
        let out = self.run(async move { req.send().await.map_err(map_sdk_error) })?;
        let key_id = out.key_id.ok_or_else(|| missing(OP, "KeyId"))?;
        let plaintext = SecretBytes::new(
            out.plaintext
                .ok_or_else(|| missing(OP, "Plaintext"))?
                .into_inner(),
        );
        if plaintext.len() != spec.len() {
            return Err(KmsError::new(
                KmsErrorKind::Internal,
                format!(
                    "{OP}: AWS KMS returned a {}-byte key, {} requested",
                    plaintext.len(),
                    spec.len()
                ),
            ));
        }
        let ciphertext_blob = out
            .ciphertext_blob
            .ok_or_else(|| missing(OP, "CiphertextBlob"))?
            .into_inner();
        Ok(GeneratedDataKey {
            key_id,
            plaintext,
            ciphertext_blob,
        })
    }

    fn decrypt(
        &self,
        caller: &Credential,
        ciphertext_blob: &[u8],
        encryption_context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError> {
        const OP: &str = "Decrypt";
        let client = self.client_for(caller)?;
        let req = client
            .decrypt()
            .ciphertext_blob(Blob::new(ciphertext_blob))
            .set_encryption_context(context_map(encryption_context))
            .set_key_id(expected_key_id.map(str::to_owned));
        let out = self.run(async move { req.send().await.map_err(map_sdk_error) })?;
        let key_id = out.key_id.ok_or_else(|| missing(OP, "KeyId"))?;
        let plaintext = SecretBytes::new(
            out.plaintext
                .ok_or_else(|| missing(OP, "Plaintext"))?
                .into_inner(),
        );
        Ok(DecryptedDataKey { key_id, plaintext })
    }

    fn describe_key(&self, caller: &Credential, key_id: &str) -> Result<KeyDescription, KmsError> {
        const OP: &str = "DescribeKey";
        let client = self.client_for(caller)?;
        let req = client.describe_key().key_id(key_id);
        let out = self.run(async move { req.send().await.map_err(map_sdk_error) })?;
        let meta = out.key_metadata.ok_or_else(|| missing(OP, "KeyMetadata"))?;
        Ok(KeyDescription {
            arn: meta.arn().ok_or_else(|| missing(OP, "Arn"))?.to_owned(),
            key_id: meta.key_id().to_owned(),
            account: meta.aws_account_id().unwrap_or_default().to_owned(),
            state: meta.key_state().map_or(KeyState::Unavailable, key_state),
            description: meta.description().unwrap_or_default().to_owned(),
            manager: meta
                .key_manager()
                .map_or("CUSTOMER", |m| m.as_str())
                .to_owned(),
            deletion_date: meta
                .deletion_date()
                .and_then(|d| u64::try_from(d.secs()).ok()),
        })
    }
}

fn key_state(state: &aws_sdk_kms::types::KeyState) -> KeyState {
    use aws_sdk_kms::types::KeyState as S;
    match state {
        S::Enabled | S::Updating => KeyState::Enabled,
        S::Disabled => KeyState::Disabled,
        S::PendingDeletion | S::PendingReplicaDeletion => KeyState::PendingDeletion,
        _ => KeyState::Unavailable,
    }
}

/// The [`KmsErrorKind`] for an AWS error code (`NotFoundException`, `ThrottlingException`,
/// `UnrecognizedClientException`, ...). Accepts the code bare or with a `namespace#` prefix or
/// a `:detail` suffix. `None` for codes it does not know.
///
/// Notes on the choices:
/// - `LimitExceededException` is a resource quota (keys, aliases, grants per account), not a
///   request rate: `InvalidRequest`, final. Rate limits (`ThrottlingException`,
///   `RequestLimitExceeded`, ...) are `Throttling`, retryable.
/// - Signing and clock failures (`InvalidSignatureException`, `SignatureDoesNotMatch`,
///   `RequestExpired`, `RequestTimeTooSkewed`) are `AccessDenied`, final: the same signed
///   request cannot succeed on retry.
/// - `ExpiredToken`/`ExpiredTokenException` are `AccessDenied`, final: [`KmsErrorKind`] has no
///   kind for "retry after refreshing credentials", although a refreshing credentials provider
///   could succeed on a new call.
pub fn kind_for_code(code: &str) -> Option<KmsErrorKind> {
    let code = code.rsplit('#').next().unwrap_or(code);
    let code = code.split(':').next().unwrap_or(code).trim();
    use KmsErrorKind as K;
    Some(match code {
        "NotFoundException" | "ResourceNotFoundException" => K::NotFound,
        "DisabledException" => K::Disabled,
        "KMSInvalidStateException" | "CustomKeyStoreInvalidStateException" => K::InvalidState,
        "InvalidCiphertextException" => K::InvalidCiphertext,
        "IncorrectKeyException" => K::IncorrectKey,
        "AccessDeniedException"
        | "AccessDenied"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "MissingAuthenticationTokenException"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "RequestExpired"
        | "RequestTimeTooSkewed"
        | "AuthFailure"
        | "OptInRequired" => K::AccessDenied,
        "ThrottlingException"
        | "Throttling"
        | "ThrottledException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "ProvisionedThroughputExceededException"
        | "BandwidthLimitExceeded"
        | "SlowDown"
        | "PriorRequestNotComplete"
        | "EC2ThrottledException" => K::Throttling,
        "ValidationException"
        | "LimitExceededException"
        | "InvalidKeyUsageException"
        | "InvalidGrantTokenException"
        | "InvalidGrantIdException"
        | "InvalidArnException"
        | "InvalidAliasNameException"
        | "InvalidMarkerException"
        | "UnsupportedOperationException"
        | "DryRunOperationException"
        | "MalformedPolicyDocumentException"
        | "TagException"
        | "AlreadyExistsException"
        | "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "MissingParameter"
        | "SerializationException"
        | "UnknownOperationException"
        | "InvalidAction"
        | "InvalidQueryParameter" => K::InvalidRequest,
        "RequestTimeout" | "RequestTimeoutException" => K::Transport,
        "KMSInternalException"
        | "DependencyTimeoutException"
        | "KeyUnavailableException"
        | "CloudHsmClusterNotActiveException"
        | "CloudHsmClusterInvalidConfigurationException"
        | "XksProxyUriUnreachableException"
        | "XksProxyInvalidResponseException"
        | "XksProxyVpcEndpointServiceNotFoundException"
        | "InternalFailure"
        | "InternalError"
        | "InternalServerError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException" => K::Internal,
        _ => return None,
    })
}

/// The [`KmsErrorKind`] for an HTTP error status when the answer carries no error code we know:
/// 401/403 → `AccessDenied`, 404 → `NotFound`, 408 → `Transport`, 429 → `Throttling`, 5xx →
/// `Internal`, 2xx (a success answer the SDK could not decode) → `Internal`; anything else
/// (400 and the other 4xx, a 3xx redirect to another endpoint, 1xx, a status outside
/// 100–599) → `InvalidRequest`, final.
pub fn kind_for_status(status: u16) -> KmsErrorKind {
    match status {
        401 | 403 => KmsErrorKind::AccessDenied,
        404 => KmsErrorKind::NotFound,
        408 => KmsErrorKind::Transport,
        429 => KmsErrorKind::Throttling,
        200..=299 | 500..=599 => KmsErrorKind::Internal,
        _ => KmsErrorKind::InvalidRequest,
    }
}

/// The text between the first `<tag>` and the following `</tag>` of an XML error body, if any.
fn xml_element<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let rest = body.get(start..)?;
    let end = rest.find(&close)?;
    rest.get(..end).map(str::trim)
}

/// When the call failed because the caller's credentials provider failed (nothing was sent):
/// `Transport` (retryable) for a provider that timed out or failed, `AccessDenied` (final) for
/// one that has no credentials or is misconfigured.
fn credentials_failure(err: &(dyn std::error::Error + 'static)) -> Option<KmsErrorKind> {
    use aws_credential_types::provider::error::CredentialsError as C;
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(c) = e.downcast_ref::<C>() {
            return Some(match c {
                C::CredentialsNotLoaded(_) | C::InvalidConfiguration(_) => {
                    KmsErrorKind::AccessDenied
                }
                _ => KmsErrorKind::Transport,
            });
        }
        next = e.source();
    }
    None
}

/// Maps any error of an `aws-sdk-kms` call to a [`KmsError`]: by error code (the JSON code, or
/// an XML `<Code>` found in the body), then by HTTP status; transport failures and timeouts to
/// [`KmsErrorKind::Transport`]. The SDK error is kept as the source.
pub fn map_sdk_error<E>(err: SdkError<E, aws_sdk_kms::config::http::HttpResponse>) -> KmsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(kind) = credentials_failure(&err) {
        let message = format!(
            "AWS credentials unavailable: {}",
            aws_sdk_kms::error::DisplayErrorContext(&err)
        );
        return KmsError::new(kind, message).with_source(err);
    }
    let (kind, message) = match &err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let body = ctx
                .raw()
                .body()
                .bytes()
                .and_then(|b| core::str::from_utf8(b).ok());
            let xml_code = body.and_then(|b| xml_element(b, "Code"));
            let code = ctx.err().code().or(xml_code);
            let text = ctx
                .err()
                .message()
                .or_else(|| body.and_then(|b| xml_element(b, "Message")))
                .unwrap_or("");
            let kind = code
                .and_then(kind_for_code)
                .unwrap_or_else(|| kind_for_status(status));
            (
                kind,
                format!(
                    "HTTP {status} {}: {text}",
                    code.unwrap_or("(no error code)")
                ),
            )
        }
        SdkError::TimeoutError(_) => (KmsErrorKind::Transport, "AWS KMS call timed out".to_owned()),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_user() {
                KmsErrorKind::InvalidRequest
            } else {
                KmsErrorKind::Transport
            };
            (
                kind,
                format!(
                    "request to AWS KMS failed: {}",
                    aws_sdk_kms::error::DisplayErrorContext(&err)
                ),
            )
        }
        SdkError::ResponseError(_) => (
            KmsErrorKind::Internal,
            format!(
                "unreadable answer from AWS KMS: {}",
                aws_sdk_kms::error::DisplayErrorContext(&err)
            ),
        ),
        SdkError::ConstructionFailure(_) => (
            KmsErrorKind::InvalidRequest,
            format!(
                "request could not be built: {}",
                aws_sdk_kms::error::DisplayErrorContext(&err)
            ),
        ),
        _ => (
            KmsErrorKind::Internal,
            format!(
                "AWS KMS call failed: {}",
                aws_sdk_kms::error::DisplayErrorContext(&err)
            ),
        ),
    };
    KmsError::new(kind, message).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    fn caller() -> Credential {
        Credential::new(
            "111122223333",
            "arn:aws:iam::111122223333:role/test",
            "AKIDTEST",
        )
    }

    #[test]
    fn code_table() {
        use KmsErrorKind as K;
        let table = [
            ("NotFoundException", K::NotFound),
            ("DisabledException", K::Disabled),
            ("KMSInvalidStateException", K::InvalidState),
            ("InvalidCiphertextException", K::InvalidCiphertext),
            ("IncorrectKeyException", K::IncorrectKey),
            ("AccessDeniedException", K::AccessDenied),
            ("UnrecognizedClientException", K::AccessDenied),
            ("InvalidClientTokenId", K::AccessDenied),
            ("InvalidSignatureException", K::AccessDenied),
            ("SignatureDoesNotMatch", K::AccessDenied),
            ("ExpiredTokenException", K::AccessDenied),
            ("ThrottlingException", K::Throttling),
            // A resource quota (number of keys, aliases, grants), not a request rate.
            ("LimitExceededException", K::InvalidRequest),
            ("RequestLimitExceeded", K::Throttling),
            ("TooManyRequestsException", K::Throttling),
            ("ValidationException", K::InvalidRequest),
            ("InvalidKeyUsageException", K::InvalidRequest),
            ("InvalidGrantTokenException", K::InvalidRequest),
            ("InvalidArnException", K::InvalidRequest),
            ("UnsupportedOperationException", K::InvalidRequest),
            ("DryRunOperationException", K::InvalidRequest),
            // Signing and clock problems: retrying the same request cannot help.
            ("RequestExpired", K::AccessDenied),
            ("RequestTimeTooSkewed", K::AccessDenied),
            ("RequestTimeout", K::Transport),
            ("KMSInternalException", K::Internal),
            ("DependencyTimeoutException", K::Internal),
            ("KeyUnavailableException", K::Internal),
            ("ServiceUnavailable", K::Internal),
            ("InternalFailure", K::Internal),
            ("CustomKeyStoreInvalidStateException", K::InvalidState),
            // Namespaced and suffixed forms, as some protocols send them.
            ("com.amazonaws.kms#NotFoundException", K::NotFound),
            (
                "DisabledException:http://internal.amazon.com/coral/",
                K::Disabled,
            ),
        ];
        for (code, kind) in table {
            assert_eq!(kind_for_code(code), Some(kind), "{code}");
        }
        assert_eq!(kind_for_code("SomethingNew"), None);
        assert_eq!(kind_for_code(""), None);
    }

    #[test]
    fn retryable_kinds_follow_the_table() {
        assert!(kind_for_code("ThrottlingException").is_some_and(KmsErrorKind::is_retryable));
        assert!(kind_for_code("KMSInternalException").is_some_and(KmsErrorKind::is_retryable));
        assert!(kind_for_code("DependencyTimeoutException").is_some_and(KmsErrorKind::is_retryable));
        assert!(!kind_for_code("NotFoundException").is_some_and(KmsErrorKind::is_retryable));
        assert!(
            !kind_for_code("InvalidCiphertextException").is_some_and(KmsErrorKind::is_retryable)
        );
        assert!(!kind_for_code("AccessDeniedException").is_some_and(KmsErrorKind::is_retryable));
        for code in [
            "LimitExceededException",
            "RequestTimeTooSkewed",
            "RequestExpired",
            "InvalidSignatureException",
            // No kind means "retry with refreshed credentials"; an expired token is final here.
            "ExpiredTokenException",
        ] {
            let kind = kind_for_code(code);
            assert!(kind.is_some(), "{code}");
            assert!(!kind.is_some_and(KmsErrorKind::is_retryable), "{code}");
        }
    }

    #[test]
    fn status_table() {
        use KmsErrorKind as K;
        for (status, kind) in [
            (400, K::InvalidRequest),
            (401, K::AccessDenied),
            (403, K::AccessDenied),
            (404, K::NotFound),
            (408, K::Transport),
            (429, K::Throttling),
            (500, K::Internal),
            (502, K::Internal),
            (503, K::Internal),
            (599, K::Internal),
            // Other statuses are client-side or misdirected requests: final, never Internal.
            (418, K::InvalidRequest),
            (409, K::InvalidRequest),
            (413, K::InvalidRequest),
            (301, K::InvalidRequest),
            (307, K::InvalidRequest),
            (100, K::InvalidRequest),
            (600, K::InvalidRequest),
            // A success answer that could not be decoded.
            (200, K::Internal),
        ] {
            assert_eq!(kind_for_status(status), kind, "{status}");
        }
        for status in (300..500).filter(|s| ![408, 429].contains(s)) {
            assert!(!kind_for_status(status).is_retryable(), "{status}");
        }
        for status in 500..600 {
            assert!(kind_for_status(status).is_retryable(), "{status}");
        }
    }

    #[test]
    fn xml_element_extraction() {
        let body = "<ErrorResponse><Error><Code>InvalidClientTokenId</Code>\
                    <Message>The security token included in the request is invalid.</Message>\
                    </Error></ErrorResponse>";
        assert_eq!(xml_element(body, "Code"), Some("InvalidClientTokenId"));
        assert_eq!(
            xml_element(body, "Message"),
            Some("The security token included in the request is invalid.")
        );
        assert_eq!(xml_element("<Code>unterminated", "Code"), None);
        assert_eq!(xml_element("", "Code"), None);
    }

    /// A canned answer from the fake KMS endpoint.
    #[derive(Clone)]
    struct Canned {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: &'static str,
        /// Sleep this long before answering.
        delay: Duration,
    }

    /// A one-answer-per-connection HTTP server on loopback that always sends `answer`.
    struct FakeKms {
        port: u16,
        requests: Arc<AtomicUsize>,
    }

    impl FakeKms {
        fn start(answer: Canned) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let requests = Arc::new(AtomicUsize::new(0));
            let counter = requests.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { return };
                    let answer = answer.clone();
                    let counter = counter.clone();
                    std::thread::spawn(move || serve(stream, &answer, &counter));
                }
            });
            FakeKms { port, requests }
        }

        fn endpoint(&self) -> String {
            format!("http://127.0.0.1:{}", self.port)
        }
    }

    fn serve(stream: TcpStream, answer: &Canned, counter: &AtomicUsize) {
        let mut reader = BufReader::new(stream);
        let mut content_length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        counter.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(answer.delay);
        let mut stream = reader.into_inner();
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
            answer.status,
            answer.body.len()
        );
        for (k, v) in &answer.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(answer.body.as_bytes());
    }

    fn kms_for(endpoint: &str) -> AwsKms {
        AwsKms::builder()
            .region("us-east-1")
            .endpoint_url(endpoint)
            .default_static_credentials("AKIDTEST", "secret", None)
            .connect_timeout(Duration::from_millis(500))
            .read_timeout(Duration::from_millis(700))
            .operation_timeout(Duration::from_secs(2))
            .worker_threads(1)
            .build()
            .expect("build")
    }

    fn answer(
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: &'static str,
    ) -> Canned {
        Canned {
            status,
            headers,
            body,
            delay: Duration::ZERO,
        }
    }

    fn describe_error(canned: Canned) -> KmsError {
        let server = FakeKms::start(canned);
        let kms = kms_for(&server.endpoint());
        let err = kms
            .describe_key(&caller(), "alias/x")
            .expect_err("the fake server only sends errors");
        assert_eq!(
            server.requests.load(Ordering::SeqCst),
            1,
            "exactly one attempt (no SDK retries)"
        );
        err
    }

    const JSON: (&str, &str) = ("Content-Type", "application/x-amz-json-1.1");

    #[test]
    fn json_error_code_in_body() {
        let err = describe_error(answer(
            400,
            vec![JSON],
            r#"{"__type":"NotFoundException","message":"Alias alias/x is not found."}"#,
        ));
        assert_eq!(err.kind(), KmsErrorKind::NotFound);
        assert!(
            err.message().contains("Alias alias/x is not found."),
            "{err}"
        );
        assert!(!err.is_retryable());
    }

    #[test]
    fn json_error_code_in_header() {
        let err = describe_error(answer(
            400,
            vec![
                JSON,
                (
                    "x-amzn-ErrorType",
                    "DisabledException:http://internal.amazon.com/",
                ),
            ],
            r#"{"message":"disabled"}"#,
        ));
        assert_eq!(err.kind(), KmsErrorKind::Disabled);
    }

    #[test]
    fn throttling_is_retryable() {
        let err = describe_error(answer(
            400,
            vec![JSON],
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        ));
        assert_eq!(err.kind(), KmsErrorKind::Throttling);
        assert!(err.is_retryable());
    }

    #[test]
    fn xml_403_without_json_code_maps_by_xml_code() {
        // What moto sends when its IAM emulation rejects a request.
        let err = describe_error(answer(
            403,
            vec![("Content-Type", "text/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ErrorResponse><Error>\
             <Code>InvalidClientTokenId</Code><Message>The security token included in the \
             request is invalid.</Message></Error><RequestId>1</RequestId></ErrorResponse>",
        ));
        assert_eq!(err.kind(), KmsErrorKind::AccessDenied);
        assert!(err.message().contains("security token"), "{err}");
    }

    #[test]
    fn xml_403_without_any_code_maps_by_status() {
        let err = describe_error(answer(
            403,
            vec![("Content-Type", "text/xml")],
            "<AccessDenied/>",
        ));
        assert_eq!(err.kind(), KmsErrorKind::AccessDenied);
    }

    #[test]
    fn empty_5xx_is_internal_and_retryable() {
        let err = describe_error(answer(503, vec![], ""));
        assert_eq!(err.kind(), KmsErrorKind::Internal);
        assert!(err.is_retryable());
    }

    #[test]
    fn empty_429_is_throttling() {
        let err = describe_error(answer(429, vec![], ""));
        assert_eq!(err.kind(), KmsErrorKind::Throttling);
    }

    #[test]
    fn unknown_4xx_is_final() {
        let err = describe_error(answer(
            409,
            vec![JSON],
            r#"{"__type":"BrandNewException","message":"?"}"#,
        ));
        assert_eq!(err.kind(), KmsErrorKind::InvalidRequest, "{err}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn limit_exceeded_is_final() {
        let err = describe_error(answer(
            400,
            vec![JSON],
            r#"{"__type":"LimitExceededException","message":"too many aliases"}"#,
        ));
        assert_eq!(err.kind(), KmsErrorKind::InvalidRequest, "{err}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn unknown_code_falls_back_to_status() {
        let err = describe_error(answer(
            404,
            vec![JSON],
            r#"{"__type":"BrandNewException","message":"?"}"#,
        ));
        assert_eq!(err.kind(), KmsErrorKind::NotFound);
    }

    #[test]
    fn unparseable_success_is_internal() {
        let server = FakeKms::start(answer(200, vec![JSON], "not json"));
        let kms = kms_for(&server.endpoint());
        let err = kms
            .generate_data_key(
                &caller(),
                "alias/x",
                DataKeySpec::Aes256,
                &EncryptionContext::new(),
            )
            .expect_err("garbage answer");
        assert_eq!(err.kind(), KmsErrorKind::Internal);
    }

    #[test]
    fn wrong_length_plaintext_is_rejected() {
        // 16 bytes of plaintext for an AES_256 request.
        let server = FakeKms::start(answer(
            200,
            vec![JSON],
            r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k","Plaintext":"AAAAAAAAAAAAAAAAAAAAAA==","CiphertextBlob":"AAAA"}"#,
        ));
        let kms = kms_for(&server.endpoint());
        let err = kms
            .generate_data_key(
                &caller(),
                "alias/x",
                DataKeySpec::Aes256,
                &EncryptionContext::new(),
            )
            .expect_err("short key");
        assert_eq!(err.kind(), KmsErrorKind::Internal);
    }

    #[test]
    fn success_is_decoded() {
        let server = FakeKms::start(answer(
            200,
            vec![JSON],
            r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k","Plaintext":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","CiphertextBlob":"3q2+7w=="}"#,
        ));
        let kms = kms_for(&server.endpoint());
        let key = kms
            .generate_data_key(
                &caller(),
                "alias/x",
                DataKeySpec::Aes256,
                &EncryptionContext::new(),
            )
            .expect("decoded");
        assert_eq!(key.key_id, "arn:aws:kms:us-east-1:111122223333:key/k");
        let expected: Vec<u8> = (0u8..32).collect();
        assert_eq!(key.plaintext.expose_secret(), expected.as_slice());
        assert_eq!(key.ciphertext_blob, vec![0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn silent_server_times_out_as_transport() {
        let server = FakeKms::start(Canned {
            delay: Duration::from_secs(30),
            ..answer(200, vec![JSON], "{}")
        });
        let kms = kms_for(&server.endpoint());
        let start = Instant::now();
        let err = kms
            .describe_key(&caller(), "alias/x")
            .expect_err("no answer");
        assert_eq!(err.kind(), KmsErrorKind::Transport, "{err}");
        assert!(err.is_retryable());
        // Bounded by the operation timeout (2 s) plus the grace period, far below the delay.
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn refused_connection_is_transport() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let kms = kms_for(&format!("http://127.0.0.1:{port}"));
        let err = kms
            .describe_key(&caller(), "alias/x")
            .expect_err("nothing listens");
        assert_eq!(err.kind(), KmsErrorKind::Transport, "{err}");
    }

    #[test]
    fn unknown_caller_without_default_is_access_denied() {
        let known = Credential::new("111122223333", "arn:aws:iam::111122223333:role/a", "AKIDA");
        let kms = AwsKms::builder()
            .region("us-east-1")
            .endpoint_url("http://127.0.0.1:9")
            .caller_static_credentials(known.clone(), "AKIDA", "secret", None)
            .build()
            .expect("build");
        assert!(kms.sdk_client(&known).is_some());
        let err = kms
            .describe_key(&caller(), "alias/x")
            .expect_err("no credentials for this caller");
        assert_eq!(err.kind(), KmsErrorKind::AccessDenied);
    }

    #[test]
    fn credentials_from_a_provider_per_caller() {
        use super::credentials::{provide_credentials_fn, Credentials, CredentialsError};
        let server = FakeKms::start(answer(
            400,
            vec![JSON],
            r#"{"__type":"NotFoundException","message":"signed and sent"}"#,
        ));
        let good = Credential::new("111122223333", "arn:aws:iam::111122223333:role/g", "AKIDG");
        let broken = Credential::new("111122223333", "arn:aws:iam::111122223333:role/b", "AKIDB");
        let empty = Credential::new("111122223333", "arn:aws:iam::111122223333:role/e", "AKIDE");
        let kms = AwsKms::builder()
            .region("us-east-1")
            .endpoint_url(server.endpoint())
            .caller_credentials_provider(
                good.clone(),
                provide_credentials_fn(|| async {
                    Ok(Credentials::new("AKIDG", "secret", None, None, "test"))
                }),
            )
            .caller_credentials_provider(
                broken.clone(),
                provide_credentials_fn(|| async {
                    Err(CredentialsError::provider_error(
                        "credential broker unreachable",
                    ))
                }),
            )
            .caller_credentials_provider(
                empty.clone(),
                provide_credentials_fn(|| async {
                    Err(CredentialsError::not_loaded("no keys for this role"))
                }),
            )
            .build()
            .expect("build");
        // The request went out signed with the provider's keys.
        let e = kms.describe_key(&good, "alias/x").expect_err("not found");
        assert_eq!(e.kind(), KmsErrorKind::NotFound);
        assert_eq!(server.requests.load(Ordering::SeqCst), 1);
        // A provider failure never reaches the server.
        let e = kms
            .describe_key(&broken, "alias/x")
            .expect_err("no credentials");
        assert_eq!(server.requests.load(Ordering::SeqCst), 1);
        assert_eq!(e.kind(), KmsErrorKind::Transport, "{e}");
        assert!(e.message().contains("credentials unavailable"), "{e}");
        let e = kms
            .describe_key(&empty, "alias/x")
            .expect_err("no credentials");
        assert_eq!(server.requests.load(Ordering::SeqCst), 1);
        assert_eq!(e.kind(), KmsErrorKind::AccessDenied, "{e}");
    }

    #[test]
    fn builder_rejects_incomplete_configs() {
        assert!(matches!(
            AwsKms::builder()
                .default_static_credentials("a", "b", None)
                .build(),
            Err(AwsConfigError::MissingRegion)
        ));
        assert!(matches!(
            AwsKms::builder().region("us-east-1").build(),
            Err(AwsConfigError::NoCredentials)
        ));
        assert!(matches!(
            AwsKms::builder()
                .region("us-east-1")
                .default_static_credentials("a", "b", None)
                .max_attempts(0)
                .build(),
            Err(AwsConfigError::Invalid(_))
        ));
    }

    #[test]
    fn works_inside_async_runtimes_and_drops_there() {
        let server = FakeKms::start(answer(
            400,
            vec![JSON],
            r#"{"__type":"NotFoundException","message":"nope"}"#,
        ));
        let endpoint = server.endpoint();
        for multi in [false, true] {
            let rt = if multi {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            }
            .expect("runtime");
            let endpoint = endpoint.clone();
            let kind = rt.block_on(async move {
                // Built, called and dropped inside the caller's runtime: no nested block_on
                // panic, no blocking-drop panic.
                let kms = kms_for(&endpoint);
                let kind = kms
                    .describe_key(&caller(), "alias/x")
                    .expect_err("not found")
                    .kind();
                drop(kms);
                // From a spawned task (a runtime worker thread) and from spawn_blocking.
                let kms = Arc::new(kms_for(&endpoint));
                let k = kms.clone();
                let in_task = tokio::spawn(async move {
                    k.describe_key(&caller(), "alias/x")
                        .expect_err("not found")
                        .kind()
                })
                .await
                .expect("task");
                let k = kms.clone();
                let in_blocking = tokio::task::spawn_blocking(move || {
                    k.describe_key(&caller(), "alias/x")
                        .expect_err("not found")
                        .kind()
                })
                .await
                .expect("blocking task");
                drop(kms);
                assert_eq!(in_task, KmsErrorKind::NotFound);
                assert_eq!(in_blocking, KmsErrorKind::NotFound);
                kind
            });
            assert_eq!(kind, KmsErrorKind::NotFound, "multi_thread={multi}");
        }
    }

    #[test]
    fn shared_by_many_threads() {
        let server = FakeKms::start(answer(
            200,
            vec![JSON],
            r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k","Plaintext":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","CiphertextBlob":"3q2+7w=="}"#,
        ));
        let kms = Arc::new(kms_for(&server.endpoint()));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let kms = kms.clone();
                std::thread::spawn(move || {
                    for _ in 0..5 {
                        kms.generate_data_key(
                            &caller(),
                            "alias/x",
                            DataKeySpec::Aes256,
                            &EncryptionContext::new(),
                        )
                        .expect("ok");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        assert_eq!(server.requests.load(Ordering::SeqCst), 40);
    }
}

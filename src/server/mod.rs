//! `fragseal kms serve`: [`LocalKms`] on the AWS KMS wire protocol, so that real AWS clients
//! (boto3, the AWS CLI, Terraform, the AWS SDKs and Encryption SDKs) meet enforced key
//! policies. Feature `server` (the CLI turns it on). See docs/SERVER.md.
//!
//! - Protocol: KMS JSON 1.1 over HTTP/1.1 (hyper): `POST /`, `X-Amz-Target:
//!   TrentService.<Operation>`, `Content-Type: application/x-amz-json-1.1`, blobs in base64;
//!   errors `{"__type": "<Exception>", "message": "..."}` with AWS's HTTP statuses.
//! - Identities: SigV4 on every request, verified with the `aws-sigv4` crate against the access
//!   keys of an [`IamConfig`]; the caller is the key's user or account root, never anything in
//!   the body.
//! - STS: a request whose SigV4 scope names `sts` is answered in STS's Query protocol
//!   (`GetCallerIdentity`, `AssumeRole`); the sessions it issues (`ASIA…` keys with a session
//!   token) then call KMS as `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
//! - Audit: one CloudTrail-shaped record per KMS request, refused ones included (STS requests
//!   are not KMS events: they are not in the KMS audit log).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fragseal::kms::local::LocalKms;
//! use fragseal::server::{IamConfig, Server, ServerConfig};
//! use std::sync::Arc;
//!
//! let kms = Arc::new(LocalKms::new("us-east-1", "111122223333"));
//! let iam = IamConfig::from_json(r#"{"Accounts": [{"AccountId": "111122223333",
//!     "RootAccessKeys": [{"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "s3cr3t"}]}]}"#)?;
//! let server = Server::bind(ServerConfig::new(kms, iam)).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```

mod audit;
mod canonical;
mod errors;
mod http;
mod iam;
mod kms_api;
mod request;
mod sessions;
mod sigv4;
mod sts;

pub use iam::{IamConfig, IamError, MAX_IAM_FILE};

use crate::kms::local::LocalKms;
use crate::kms::KmsError;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Default largest request body: 1 MiB. The largest valid KMS request is a `PutKeyPolicy` or
/// `CreateKey` with a 131,072-character policy (botocore's `PolicyType`); even with every
/// character JSON-escaped as `\u00XX` (6 bytes each, 786,432 bytes) it fits.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// Default time a client has to send a request head (also the keep-alive idle timeout).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(20);
/// Default time a client has to send a request body.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(20);
/// Default number of connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default time in-flight requests get to finish at shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) max_body: usize,
    pub(crate) max_head: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) shutdown_grace: Duration,
}

/// What the request handlers share.
pub(crate) struct Shared {
    pub(crate) kms: Arc<LocalKms>,
    pub(crate) iam: IamConfig,
    pub(crate) region: String,
    pub(crate) limits: Limits,
    /// The STS sessions issued.
    pub(crate) sessions: sessions::Sessions,
    /// The SigV4 signing keys derived so far.
    pub(crate) signing_keys: canonical::KeyCache,
    /// Seconds added to the real clock for session expiry (see [`ServerConfig::clock_offset`]).
    pub(crate) clock_offset: i64,
}

impl Shared {
    /// The clocks of a request received now.
    pub(crate) fn clocks(&self) -> sigv4::Clocks {
        let real = SystemTime::now();
        let delta = Duration::from_secs(self.clock_offset.unsigned_abs());
        let sessions = if self.clock_offset >= 0 {
            real.checked_add(delta)
        } else {
            real.checked_sub(delta)
        }
        .unwrap_or(real);
        sigv4::Clocks { real, sessions }
    }
}

/// How to run a [`Server`]: the KMS, the identities, the address and the limits.
///
/// The region the server answers for is the KMS's ([`LocalKms::region`]): a request signed
/// for another region is refused.
pub struct ServerConfig {
    kms: Arc<LocalKms>,
    iam: IamConfig,
    listen: SocketAddr,
    limits: Limits,
    clock_offset: i64,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("kms", &self.kms)
            .field("iam", &self.iam)
            .field("listen", &self.listen)
            .field("limits", &self.limits)
            .field("clock_offset", &self.clock_offset)
            .finish()
    }
}

impl ServerConfig {
    /// Serves `kms` to the identities of `iam` on `127.0.0.1:0` (a free loopback port), with
    /// the default limits.
    pub fn new(kms: Arc<LocalKms>, iam: IamConfig) -> Self {
        Self {
            kms,
            iam,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            limits: Limits {
                max_body: DEFAULT_MAX_BODY,
                max_head: 64 * 1024,
                header_timeout: DEFAULT_HEADER_TIMEOUT,
                body_timeout: DEFAULT_BODY_TIMEOUT,
                max_connections: DEFAULT_MAX_CONNECTIONS,
                shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            },
            clock_offset: 0,
        }
    }

    /// Shifts the server's notion of now by `seconds` (negative: back) when it checks whether
    /// an STS session has expired, so that tests see sessions expire without waiting: a server
    /// started 20 minutes ahead (`1200`) refuses a 15-minute session at its first use with
    /// `ExpiredTokenException` and accepts a one-hour one.
    ///
    /// What is not shifted, so that clients keep working with their real clocks: the SigV4
    /// 5-minute window (checked against the real clock), and the `Expiration` that
    /// `AssumeRole` issues (real time + `DurationSeconds`, so the client does not refresh).
    pub fn clock_offset(mut self, seconds: i64) -> Self {
        self.clock_offset = seconds;
        self
    }

    /// Listens on `addr` (port 0 picks a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Largest request body in bytes (default [`DEFAULT_MAX_BODY`]); larger ones get HTTP 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.limits.max_body = bytes;
        self
    }

    /// Time a client has to send a request head, and the idle time after which a keep-alive
    /// connection is closed (default [`DEFAULT_HEADER_TIMEOUT`]).
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_timeout = timeout;
        self
    }

    /// Time a client has to send a request body (default [`DEFAULT_BODY_TIMEOUT`]).
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.limits.body_timeout = timeout;
        self
    }

    /// Connections served at once (default [`DEFAULT_MAX_CONNECTIONS`]); more are closed.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n.max(1);
        self
    }

    /// Time in-flight requests get to finish at shutdown (default [`DEFAULT_SHUTDOWN_GRACE`]).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.limits.shutdown_grace = grace;
        self
    }
}

/// Why the server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The address could not be bound.
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The system's error.
        source: std::io::Error,
    },
    /// The IAM file's identity policies could not be installed in the KMS.
    IdentityPolicies(KmsError),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ServerError::IdentityPolicies(e) => {
                write!(f, "cannot install the IAM file's identity policies: {e}")
            }
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Bind { source, .. } => Some(source),
            ServerError::IdentityPolicies(e) => Some(e),
        }
    }
}

/// A bound KMS server. [`Server::bind`], then [`Server::run`] until a shutdown future
/// completes.
pub struct Server {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Installs the IAM file's identity policies in the KMS (replacing all it had, see
    /// [`LocalKms::replace_identity_policies`]) and binds the address. The KMS should serve
    /// the IAM file's accounts ([`IamConfig::accounts`], `LocalKmsBuilder::accounts`): a caller
    /// of an account it does not serve is refused by it. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`ServerError::IdentityPolicies`] when a policy cannot be installed (the state file
    /// cannot be written); [`ServerError::Bind`] when the address cannot be bound.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        install_identity_policies(&config.kms, &config.iam)
            .map_err(ServerError::IdentityPolicies)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        let region = config.kms.region().to_owned();
        Ok(Server {
            listener,
            addr,
            shared: Arc::new(Shared {
                kms: config.kms,
                iam: config.iam,
                region,
                limits: config.limits,
                sessions: sessions::Sessions::default(),
                signing_keys: canonical::KeyCache::default(),
                clock_offset: config.clock_offset,
            }),
        })
    }

    /// The bound address (with the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes; then stops accepting, lets the requests in flight
    /// finish (within the shutdown grace) and returns. Every answered management call has
    /// written the state file before its answer.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        http::serve(self.listener, self.shared, shutdown).await;
    }
}

/// Replaces every identity policy of the KMS with the IAM file's (all or nothing).
fn install_identity_policies(kms: &LocalKms, iam: &IamConfig) -> Result<(), KmsError> {
    kms.replace_identity_policies(iam.identity_policies().clone())
}

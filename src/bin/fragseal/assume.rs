//! `--assume-role`: the caller is an IAM role's session, obtained with STS `AssumeRole` from the
//! access keys of the environment (never from flags), and refreshed when KMS answers
//! `ExpiredTokenException`.
//!
//! One [`AssumedRole`] per command: its [`RefreshingCredentialProvider`] gives the engine the
//! session's [`Credential`] (the assumed-role ARN, the `ASIA...` key id and the `Expiration`),
//! and the AWS SDK signs with the current session's keys ([`AssumedRole::sdk_provider`]). A
//! refresh is a new `AssumeRole` with the environment's keys: a new session, hence a new
//! credential with its own data-key cache entries.

use crate::error::{CliError, CliResult};
use crate::sts_client::{AccessKeys, AssumeRoleRequest, Endpoint, StsClient};
use clap::Args;
use fragseal::kms::RefreshingCredentialProvider;
use fragseal::kms::{Credential, CredentialProvider, KmsError, KmsErrorKind};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one STS call may take (connect, send, answer).
const STS_TIMEOUT: Duration = Duration::from_secs(10);

/// `--assume-role` and its parameters (with `--kms aws`).
#[derive(Clone, Debug, Default, Args)]
pub struct AssumeRoleOpts {
    /// Call KMS as a session of this IAM role (STS AssumeRole at AWS_ENDPOINT_URL_STS, else
    /// --endpoint-url), signed with the access keys of AWS_ACCESS_KEY_ID /
    /// AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN]; with --kms aws only.
    #[arg(long, global = true, value_name = "ROLE_ARN")]
    pub assume_role: Option<String>,
    /// RoleSessionName of the session [default: fragseal-PID].
    #[arg(long, global = true, value_name = "NAME")]
    pub role_session_name: Option<String>,
    /// ExternalId the role's trust policy asks for (sts:ExternalId).
    #[arg(long, global = true, value_name = "ID")]
    pub external_id: Option<String>,
    /// DurationSeconds of each session (900 to the role's maximum) [default: STS's, 3600].
    #[arg(long, global = true, value_name = "SECONDS",
          value_parser = clap::value_parser!(u32).range(900..=43200))]
    pub duration_seconds: Option<u32>,
}

impl AssumeRoleOpts {
    /// Refuses the session parameters without `--assume-role`.
    pub fn check(&self) -> CliResult<()> {
        if self.assume_role.is_none() {
            for (flag, given) in [
                ("--role-session-name", self.role_session_name.is_some()),
                ("--external-id", self.external_id.is_some()),
                ("--duration-seconds", self.duration_seconds.is_some()),
            ] {
                if given {
                    return Err(CliError::usage(format!(
                        "{flag} needs --assume-role ROLE_ARN"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The current session's keys, shared by the credential provider (which replaces them) and the
/// SDK's credentials provider (which signs with them).
type Slot = Arc<Mutex<Option<Arc<AccessKeys>>>>;

/// An assumed role: its sessions, fetched on first use and on refresh.
pub struct AssumedRole {
    provider: Arc<RefreshingCredentialProvider>,
    #[cfg_attr(
        not(feature = "aws"),
        allow(dead_code, reason = "signs only with --features aws")
    )]
    slot: Slot,
    role_arn: String,
}

impl fmt::Debug for AssumedRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssumedRole")
            .field("role_arn", &self.role_arn)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

fn poisoned() -> KmsError {
    KmsError::new(KmsErrorKind::Internal, "assume-role: a lock was poisoned")
}

/// The session's credential: the assumed-role ARN's account, the ARN, the session's key id,
/// and its expiry.
fn session_credential(arn: &str, access_key_id: &str) -> Result<Credential, KmsError> {
    let account = fragseal::arn::PrincipalArn::parse(arn)
        .map(|p| p.account().to_owned())
        .ok_or_else(|| {
            KmsError::new(
                KmsErrorKind::Internal,
                format!("STS AssumeRole: the answer's Arn {arn:?} is not an assumed-role ARN"),
            )
        })?;
    Credential::new(account, arn, access_key_id)
        .map_err(|e| KmsError::new(KmsErrorKind::Internal, format!("STS AssumeRole: {e}")))
}

impl AssumedRole {
    /// The role of `opts` (which must name one), assumed at `sts` in `region` with the
    /// environment's keys. No call is made yet: the first [`Self::credential`] assumes it.
    ///
    /// # Errors
    /// A usage error when the environment has no access keys or the endpoint is unusable.
    pub fn new(opts: &AssumeRoleOpts, sts_url: &str, region: &str) -> CliResult<Self> {
        let role_arn = opts
            .assume_role
            .clone()
            .ok_or_else(|| CliError::usage("no --assume-role given"))?;
        let caller = Arc::new(AccessKeys::from_env().map_err(|e| {
            CliError::usage(format!("--assume-role {role_arn}: {e}"))
                .with_hint("access keys are read from the environment only, never from flags")
        })?);
        let endpoint =
            Endpoint::parse(sts_url).map_err(|e| CliError::usage(format!("--assume-role: {e}")))?;
        let client = StsClient::new(endpoint, region.to_owned(), STS_TIMEOUT);
        let request = AssumeRoleRequest {
            role_arn: role_arn.clone(),
            session_name: opts
                .role_session_name
                .clone()
                .unwrap_or_else(|| format!("fragseal-{}", std::process::id())),
            external_id: opts.external_id.clone(),
            duration_seconds: opts.duration_seconds,
        };
        let slot: Slot = Arc::new(Mutex::new(None));
        let fill = Arc::clone(&slot);
        let fetches = AtomicU32::new(0);
        let provider = RefreshingCredentialProvider::new(move || {
            let session = client.assume_role(&caller, &request)?;
            let credential =
                session_credential(&session.assumed_role_arn, &session.keys.access_key_id)?
                    .with_expiry(session.expiration);
            *fill.lock().map_err(|_| poisoned())? = Some(Arc::new(session.keys));
            if fetches.fetch_add(1, Ordering::Relaxed) > 0 {
                // A refresh: KMS refused the previous session as expired. The key id is an
                // identifier, not a secret.
                eprintln!(
                    "fragseal: note: the session expired; assumed {} again (new session {})",
                    crate::text::escape(&request.role_arn),
                    crate::text::escape(credential.access_key_id())
                );
            }
            Ok(credential)
        });
        Ok(Self {
            provider: Arc::new(provider),
            slot,
            role_arn,
        })
    }

    /// The current session's credential (the first call assumes the role).
    ///
    /// # Errors
    /// STS's refusal, named as STS names it (`AccessDenied`, `ExpiredToken`, ...).
    pub fn credential(&self) -> CliResult<Credential> {
        self.provider.credential().map_err(|e| CliError::kms(&e))
    }

    /// The provider the engine refreshes the session with.
    pub fn provider(&self) -> Arc<dyn CredentialProvider> {
        Arc::clone(&self.provider) as Arc<dyn CredentialProvider>
    }

    /// The AWS SDK's credentials: the current session's keys, read anew for every call (they
    /// are handed over as already expired, so that the SDK's identity cache never keeps a
    /// session the engine has replaced).
    #[cfg(feature = "aws")]
    pub fn sdk_provider(
        &self,
    ) -> impl fragseal::kms::aws::credentials::ProvideCredentials + 'static {
        use fragseal::kms::aws::credentials::{provide_credentials_fn, CredentialsError};
        let slot = Arc::clone(&self.slot);
        provide_credentials_fn(move || {
            let keys = slot.lock().ok().and_then(|s| s.clone());
            async move {
                match keys {
                    Some(k) => Ok(k.sdk_credentials(Some(std::time::SystemTime::now()))),
                    None => Err(CredentialsError::not_loaded(
                        "no assumed-role session yet (--assume-role)",
                    )),
                }
            }
        })
    }
}

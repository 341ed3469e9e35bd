//! Which KMS to call and as whom (the `--kms`, `--kms-state`, `--region`, `--account`,
//! `--endpoint-url`, `--assume-role`, `--principal`, `--access-key-id` options shared by
//! `seal`, `open`, `kms` and `kvs`). Which keys seal and open: `keys.rs`.
//!
//! Secrets never come from flags: `--kms aws` reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
//! [/ AWS_SESSION_TOKEN] from the environment, and `--assume-role` signs its STS calls with
//! them. `--access-key-id` is an identifier for the local KMS's audit trail, never a secret.

use crate::assume::{AssumeRoleOpts, AssumedRole};
use crate::error::{CliError, CliResult, Exit};
use crate::files;
use clap::{Args, ValueEnum};
use fragseal::engine::Engine;
use fragseal::kms::local::LocalKms;
use fragseal::kms::{Credential, CredentialProvider, Kms};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Default account of the local KMS and of callers (the AWS documentation's example account).
pub const DEFAULT_ACCOUNT: &str = "111122223333";
/// Default region.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Default access key id of callers: an identifier, never a secret (AWS's documentation example).
pub const DEFAULT_ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
/// Default local KMS state file.
pub const DEFAULT_STATE_FILE: &str = "fragseal-kms.json";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// In-process LocalKms persisted to --kms-state (enforces key policies).
    Local,
    /// AWS KMS (or a compatible endpoint such as moto); needs a build with `--features aws`
    /// and credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN].
    Aws,
}

/// Where the KMS is.
#[derive(Clone, Debug, Args)]
pub struct KmsOpts {
    /// KMS backend.
    #[arg(long = "kms", value_enum, default_value_t = Backend::Local, global = true)]
    pub backend: Backend,
    /// Local KMS state file (keys, aliases, policies); created by `fragseal kms create-key`.
    /// Holds key material in the clear: protect it like the keys.
    /// [default: $FRAGSEAL_KMS_STATE, else ./fragseal-kms.json]
    #[arg(long, global = true, value_name = "PATH")]
    pub kms_state: Option<PathBuf>,
    /// Audit log of the local KMS (CloudTrail-shaped JSON lines)
    /// [default: $FRAGSEAL_KMS_AUDIT, else KMS_STATE.audit.jsonl].
    #[arg(long, global = true, value_name = "PATH")]
    pub audit_log: Option<PathBuf>,
    /// Region of the KMS.
    #[arg(long, default_value = DEFAULT_REGION, global = true)]
    pub region: String,
    /// Account that owns the local KMS's keys.
    #[arg(long, default_value = DEFAULT_ACCOUNT, global = true)]
    pub account: String,
    /// KMS endpoint URL (aws backend only), e.g. http://127.0.0.1:5000 for moto, or a
    /// `fragseal kms serve` listener (which also serves STS for --assume-role).
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    #[command(flatten)]
    pub assume: AssumeRoleOpts,
    /// The assumed role of `--assume-role`, made once per command ([`Self::assumed`]).
    #[arg(skip)]
    assumed: OnceLock<Arc<AssumedRole>>,
}

/// Who calls KMS.
#[derive(Clone, Debug, Args)]
pub struct CallerOpts {
    /// Calling principal ARN [default: the account root, arn:aws:iam::ACCOUNT:root].
    #[arg(long, global = true)]
    pub principal: Option<String>,
    /// Calling access key id (an identifier shown in the audit trail; never a secret).
    #[arg(long, default_value = DEFAULT_ACCESS_KEY_ID, global = true)]
    pub access_key_id: String,
}

impl CallerOpts {
    /// The credential: `--principal` (default: the root of `--account`) in `--account`.
    ///
    /// Control characters (and the other characters [`crate::text::escape`] escapes) are
    /// refused in the principal and the access key id: they end up in the audit trail, where
    /// a `\n` would forge lines for a reader that does not escape them.
    ///
    /// With `--assume-role`, the credential is the role session's (STS `AssumeRole` is called
    /// here, once), and `--principal` is refused: the session is the principal.
    pub fn credential(&self, kms: &KmsOpts) -> CliResult<Credential> {
        if let Some(role) = kms.assumed()? {
            if let Some(p) = &self.principal {
                return Err(CliError::usage(format!(
                    "--principal {} contradicts --assume-role: the caller is the role's session",
                    crate::text::escape(p)
                )));
            }
            return role.credential();
        }
        let principal = self
            .principal
            .clone()
            .unwrap_or_else(|| format!("arn:aws:iam::{}:root", kms.account));
        for (flag, v) in [
            ("--principal", principal.as_str()),
            ("--access-key-id", self.access_key_id.as_str()),
        ] {
            if crate::text::escape(v) != v {
                return Err(CliError::usage(format!(
                    "{flag} {} holds control or invisible characters",
                    crate::text::escape(v)
                )));
            }
        }
        // The caller is in --account: a --principal of another account contradicts it, and
        // `Credential::new` refuses that (as it refuses a principal that is not an IAM or STS ARN).
        Credential::new(kms.account.clone(), principal, self.access_key_id.clone())
            .map_err(|e| CliError::usage(format!("--account / --principal: {e}")))
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl KmsOpts {
    /// The assumed role of `--assume-role` (`None` without it), made on first use and shared by
    /// every later use in the command, so that the engine and the SDK see the same sessions.
    ///
    /// # Errors
    /// A usage error for `--assume-role` without `--kms aws`, without an STS endpoint
    /// (AWS_ENDPOINT_URL_STS or --endpoint-url), or without access keys in the environment.
    pub fn assumed(&self) -> CliResult<Option<Arc<AssumedRole>>> {
        self.assume.check()?;
        if self.assume.assume_role.is_none() {
            return Ok(None);
        }
        if let Some(a) = self.assumed.get() {
            return Ok(Some(Arc::clone(a)));
        }
        if self.backend != Backend::Aws {
            return Err(CliError::usage(
                "--assume-role needs --kms aws --endpoint-url URL (a KMS server with STS)",
            ));
        }
        let sts = std::env::var("AWS_ENDPOINT_URL_STS")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| self.endpoint_url.clone())
            .ok_or_else(|| {
                CliError::usage(
                    "--assume-role needs an STS endpoint: AWS_ENDPOINT_URL_STS or --endpoint-url",
                )
            })?;
        let role = Arc::new(AssumedRole::new(&self.assume, &sts, &self.region)?);
        Ok(Some(Arc::clone(self.assumed.get_or_init(|| role))))
    }

    /// The state file: --kms-state, else $FRAGSEAL_KMS_STATE, else ./fragseal-kms.json.
    pub fn state_path(&self) -> PathBuf {
        self.kms_state
            .clone()
            .or_else(|| env_path("FRAGSEAL_KMS_STATE"))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_FILE))
    }

    fn audit_path(&self) -> PathBuf {
        self.audit_log
            .clone()
            .or_else(|| env_path("FRAGSEAL_KMS_AUDIT"))
            .unwrap_or_else(|| {
                let mut s = self.state_path().into_os_string();
                s.push(".audit.jsonl");
                PathBuf::from(s)
            })
    }

    /// The audit log file of the local KMS.
    pub fn audit_file(&self) -> PathBuf {
        self.audit_path()
    }

    /// Opens the local KMS. With `create`, a missing state file is created on first change;
    /// without, a missing state file is an error (there would be no key to use).
    pub fn local(&self, create: bool) -> CliResult<Arc<LocalKms>> {
        if self.backend != Backend::Local {
            return Err(CliError::usage(
                "`fragseal kms` manages the local KMS only (--kms local)",
            ));
        }
        self.assume.check()?;
        if self.assume.assume_role.is_some() {
            return Err(CliError::usage(
                "--assume-role needs --kms aws --endpoint-url URL (a KMS server with STS); \
                 the local KMS takes --principal",
            ));
        }
        let state = self.state_path();
        if !create && !state.exists() {
            return Err(
                CliError::input(format!("no local KMS state file at {}", state.display()))
                    .with_hint(format!(
                "create a key first: fragseal kms --kms-state {} create-key --alias alias/NAME",
                state.display()
            )),
            );
        }
        let kms = LocalKms::builder(self.region.clone(), self.account.clone())
            .state_file(&state)
            .build()
            .map_err(|e| {
                CliError::new(
                    Exit::Local,
                    format!("cannot use the local KMS state {}: {e}", state.display()),
                )
            })?;
        let audit = self.audit_path();
        kms.audit()
            .set_file(Some(&audit))
            .map_err(|e| CliError::write(&audit, &e))?;
        Ok(Arc::new(kms))
    }

    /// The KMS for sealing and opening.
    pub fn open(&self) -> CliResult<KmsHandle> {
        match self.backend {
            Backend::Local => {
                let local = self.local(false)?;
                Ok(KmsHandle {
                    kms: Arc::clone(&local) as Arc<dyn Kms>,
                    local: Some((local, self.audit_path())),
                    provider: None,
                })
            }
            Backend::Aws => {
                let role = self.assumed()?;
                Ok(KmsHandle {
                    kms: self.aws(role.as_deref())?,
                    local: None,
                    provider: role.map(|r| r.provider()),
                })
            }
        }
    }

    /// AWS KMS, signing with the environment's keys, or with `role`'s current session.
    #[cfg(feature = "aws")]
    fn aws(&self, role: Option<&AssumedRole>) -> CliResult<Arc<dyn Kms>> {
        use fragseal::kms::aws::AwsKms;
        let b = AwsKms::builder().region(self.region.clone());
        let mut b = match role {
            Some(r) => b.default_credentials_provider(r.sdk_provider()),
            None => {
                let keys = crate::sts_client::AccessKeys::from_env()
                    .map_err(|e| CliError::usage(format!("--kms aws: {e}")))?;
                b.default_credentials_provider(keys.sdk_credentials(None))
            }
        };
        if let Some(url) = &self.endpoint_url {
            b = b.endpoint_url(url.clone());
        }
        let kms = b
            .build()
            .map_err(|e| CliError::usage(format!("AWS KMS configuration: {e}")))?;
        Ok(Arc::new(kms))
    }

    #[cfg(not(feature = "aws"))]
    fn aws(&self, _role: Option<&AssumedRole>) -> CliResult<Arc<dyn Kms>> {
        Err(CliError::usage(
            "this fragseal was built without the AWS KMS backend; rebuild with `--features aws`",
        ))
    }
}

/// Largest plain input read whole (a file to seal, an MKV stream, a policy file): 16 GiB.
pub const MAX_INPUT_LEN: u64 = 16 << 30;

/// Reads a whole input file: a regular file (not a device or FIFO) of at most
/// [`MAX_INPUT_LEN`] bytes.
pub fn read_file(path: &Path) -> CliResult<Vec<u8>> {
    files::read_regular(path, MAX_INPUT_LEN, "an input file")
}

/// A KMS to seal and open with, and for the local KMS its audit trail, whose write failures
/// fail the command ([`KmsHandle::check_audit`]).
pub struct KmsHandle {
    pub kms: Arc<dyn Kms>,
    local: Option<(Arc<LocalKms>, PathBuf)>,
    /// The sessions of `--assume-role`, refreshed on `ExpiredTokenException`.
    provider: Option<Arc<dyn CredentialProvider>>,
}

impl KmsHandle {
    /// `engine`, sealing and opening for the `--assume-role` sessions when there are any
    /// (refreshed once, and the call retried once, on `ExpiredTokenException`).
    pub fn with_provider(&self, engine: Engine) -> Engine {
        match &self.provider {
            Some(p) => engine.with_credential_provider(Arc::clone(p)),
            None => engine,
        }
    }

    /// Fails when an audit event could not be written to the audit log: a KMS call that left
    /// no trace must not look like success.
    pub fn check_audit(&self) -> CliResult<()> {
        match &self.local {
            Some((kms, path)) => check_audit(kms, path),
            None => Ok(()),
        }
    }
}

/// [`KmsHandle::check_audit`] for a local KMS.
pub fn check_audit(kms: &LocalKms, path: &Path) -> CliResult<()> {
    match kms.audit().file_errors() {
        0 => Ok(()),
        n => Err(CliError::new(
            Exit::Local,
            format!(
                "cannot write the audit log {}: {n} KMS event(s) were not recorded",
                path.display()
            ),
        )
        .with_hint("give a writable --audit-log (the KMS calls themselves were made)")),
    }
}

// ---------------------------------------------------------------------------------------------
// Keys: what `seal` seals under and what `open` trusts.
// ---------------------------------------------------------------------------------------------

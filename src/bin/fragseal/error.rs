//! CLI errors and their exit codes (documented in docs/CLI.md).

use fragseal::kms::{KmsError, KmsErrorKind};
use fragseal::mkv::MkvError;
use fragseal::{ConfigError, KeyringError, OpenError, SealError};
use std::fmt;
use std::path::Path;

/// The process exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 1: bad command line or invalid argument value.
    Usage = 1,
    /// 2: an input is missing, unreadable or malformed (MKV, sealed message, index, policy file).
    Input = 2,
    /// 3: a sealed fragment failed authentication (modified, wrong key, moved, replayed).
    Authentication = 3,
    /// 4: KMS refused the request (access denied, key not found, disabled, pending deletion,
    /// wrong key, invalid ciphertext, invalid request).
    KmsRefused = 4,
    /// 5: KMS unavailable (throttling, network, internal error); retrying later may succeed.
    KmsUnavailable = 5,
    /// 6: local failure: cannot write output, local KMS state file unusable.
    Local = 6,
    /// 7: an internal check failed (a bug: please report it).
    Internal = 7,
}

impl Exit {
    /// The numeric exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A failure to report to the user: what went wrong, a hint, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub fn input(message: impl Into<String>) -> Self {
        Self::new(Exit::Input, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prefixes the message with what was being done.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Reading `path` failed.
    pub fn read(path: &Path, e: &std::io::Error) -> Self {
        Self::input(format!("cannot read {}: {}", path.display(), io_reason(e)))
    }

    /// Writing `path` failed.
    pub fn write(path: &Path, e: &std::io::Error) -> Self {
        Self::new(
            Exit::Local,
            format!("cannot write {}: {}", path.display(), io_reason(e)),
        )
    }

    pub fn kms(e: &KmsError) -> Self {
        let exit = if e.kind() == KmsErrorKind::AuditFailure {
            Exit::Local
        } else if e.kind().is_retryable() {
            Exit::KmsUnavailable
        } else {
            Exit::KmsRefused
        };
        // STS's refusals (--assume-role) carry their own service and name in the message.
        if e.message().starts_with(crate::sts_client::STS_PREFIX) {
            let err = Self::new(exit, e.message().to_owned());
            return match e.kind() {
                KmsErrorKind::AccessDenied => err.with_hint(
                    "the environment's access keys may not sts:AssumeRole this role, or the \
                     role's trust policy does not trust them (check --external-id)",
                ),
                KmsErrorKind::ExpiredToken => err.with_hint(
                    "the environment's AWS_SESSION_TOKEN has expired: export a new session's keys",
                ),
                _ => err,
            };
        }
        let err = Self::new(exit, format!("KMS {}: {}", e.code(), e.message()));
        match e.kind() {
            KmsErrorKind::AccessDenied => err.with_hint(
                "the credential (--principal) is not allowed this call by the key policy; \
                 see `fragseal kms get-policy KEY`",
            ),
            KmsErrorKind::NotFound => {
                err.with_hint("list the keys and aliases with `fragseal kms list`")
            }
            KmsErrorKind::AuditFailure => {
                err.with_hint("the audit log could not be written; the call's result was withheld")
            }
            _ => err,
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The message of every authentication failure: one opaque reason, as the library gives it.
const AUTHENTICATION_FAILED: &str = "authentication failed: the sealed fragment was modified, \
     sealed under another key or encryption context, or moved, reordered or replayed";

impl From<fragseal::Error> for CliError {
    fn from(e: fragseal::Error) -> Self {
        use fragseal::Error as E;
        match e {
            E::Seal(e) => e.into(),
            E::Open(e) => e.into(),
            E::Config(e) => e.into(),
            E::Keyring(e) => e.into(),
            E::Authentication(_) => CliError::new(Exit::Authentication, AUTHENTICATION_FAILED),
            E::Format(f) => CliError::input(format!("not a valid sealed fragment: {f}")),
            E::Kms(k) => CliError::kms(&k),
            E::Io(io) => CliError::new(Exit::Local, format!("I/O error: {io}")),
            other => CliError::new(Exit::Internal, other.to_string()),
        }
    }
}

impl From<KeyringError> for CliError {
    fn from(e: KeyringError) -> Self {
        match e {
            KeyringError::Kms(k) => CliError::kms(&k),
            KeyringError::Child(inner) => (*inner).into(),
            KeyringError::Authentication(_) => {
                CliError::new(Exit::Authentication, AUTHENTICATION_FAILED)
            }
            other => CliError::usage(other.to_string()),
        }
    }
}

impl From<SealError> for CliError {
    fn from(e: SealError) -> Self {
        match e {
            SealError::Keyring(k) => k.into(),
            SealError::Internal(_) => CliError::new(Exit::Internal, e.to_string()),
            other => CliError::usage(other.to_string()),
        }
    }
}

impl From<OpenError> for CliError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Context(_) => CliError::new(
                Exit::Authentication,
                format!("the fragment's encryption context is not the expected one: {e}"),
            ),
            OpenError::Authentication(_) => {
                CliError::new(Exit::Authentication, AUTHENTICATION_FAILED)
            }
            OpenError::Format(f) => CliError::input(format!("not a valid sealed fragment: {f}")),
            OpenError::NoTrustedKey => CliError::input(
                "no encrypted data key in the message is trusted: it names no key of \
                 --key / --discovery / --raw-key-file",
            ),
            // The first key's failure is the most useful one to show; every key failed.
            OpenError::AllKeysFailed(mut errors) if !errors.is_empty() => errors.remove(0).into(),
            OpenError::CaseVariantKeys(_) => CliError::input(e.to_string()),
            OpenError::Io(io) => CliError::new(Exit::Local, format!("I/O error: {io}")),
            other => CliError::new(Exit::Internal, other.to_string()),
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Keyring(k) => k.into(),
            other => CliError::usage(other.to_string()),
        }
    }
}

impl From<KmsError> for CliError {
    fn from(e: KmsError) -> Self {
        CliError::kms(&e)
    }
}

impl From<MkvError> for CliError {
    fn from(e: MkvError) -> Self {
        CliError::input(e.to_string())
    }
}

pub type CliResult<T> = Result<T, CliError>;

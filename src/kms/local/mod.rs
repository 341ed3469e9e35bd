//! `LocalKms`: an in-memory KMS that behaves like AWS KMS and *enforces* key policies.
//!
//! For emulators (Kinesis Video Streams server-side encryption) and tests. It is a test
//! backend: its key material lives in process memory (and, if persistence is enabled, in the
//! state file, which is therefore as sensitive as the keys themselves).
//!
//! - Accounts: one KMS serves one or more accounts ([`LocalKmsBuilder::accounts`]; the
//!   builder's account is the primary, [`LocalKms::account`]). Keys of every account live side
//!   by side; key ids are UUIDs, unique across accounts.
//! - Keys: `arn:aws:kms:REGION:ACCOUNT:key/UUID`, states `Enabled` / `Disabled` /
//!   `PendingDeletion` with AWS KMS's error in each state (`DisabledException`,
//!   `KMSInvalidStateException`); deletion is scheduled 7..=30 days ahead and happens lazily once
//!   the date has passed; cancelling leaves the key `Disabled`, as AWS does.
//! - Resolution, as AWS: a key ARN or alias ARN names its account, which must be served
//!   (and the key must be in it), else `NotFoundException`; a bare key id or `alias/NAME`
//!   resolves in the *caller's* account, so another account's key can only be named by ARN.
//!   Aliases are per account. `alias/aws/kinesisvideo` is created, per account, on first use
//!   by a caller of that account, as an AWS-managed key with AWS's managed-key policy:
//!   principals of the account may use it through Kinesis Video Streams (`kms:ViaService` =
//!   `kinesisvideo.REGION.amazonaws.com`, `kms:CallerAccount` = the account); the account may
//!   describe it directly if an identity policy allows.
//! - *Via a service*: a direct call carries no `kms:ViaService`. A caller that acts through a
//!   service (the KVS emulator) uses [`LocalKms::via_service`], which returns a [`Kms`](crate::kms::Kms) whose
//!   calls carry `kms:ViaService` = `SERVICE.REGION.amazonaws.com`.
//! - Operations: those of the [`Kms`](crate::kms::Kms) trait (`GenerateDataKey`, `Encrypt`,
//!   `Decrypt` with an optional `KeyId`, `DescribeKey`), the management calls, and
//!   [`LocalKms::generate_data_key_without_plaintext`], [`LocalKms::re_encrypt`] (authorized
//!   as `kms:ReEncryptFrom` on the source key and `kms:ReEncryptTo` on the destination) and
//!   [`LocalKms::generate_random`]. [`DataKeySpec::parse`](crate::kms::DataKeySpec::parse)
//!   validates a request's `KeySpec`/`NumberOfBytes` as AWS does.
//! - Authorization: every call, management calls included, is checked with the IAM rules of
//!   [`policy`] against the key policy and the identity policies attached to the caller with
//!   [`LocalKms::attach_identity_policy`] (or installed all at once with
//!   [`LocalKms::replace_identity_policies`]). Account-level calls (`CreateKey`, `ListKeys`,
//!   `ListAliases`, `GenerateRandom`) have no key policy and act in the caller's account,
//!   which must be served: the caller must be its root (`arn:aws:iam::ACCOUNT:root`) or hold
//!   an identity policy allowing the action on `"*"`. Identity policies attached to a role
//!   ARN also apply to that role's sessions (`arn:aws:sts::ACCOUNT:assumed-role/NAME/...`).
//!   Principals of another account than the key's may only make the calls AWS KMS allows
//!   across accounts ([`Operation::cross_account`]), and need both the owner's key policy and
//!   an identity policy of their own to allow them.
//! - Explainable denials: every `AccessDeniedException` carries the rule that decided it
//!   ([`Denial`], [`KmsError::denial`]), and so does its audit record (`"denial"`); key-state
//!   errors carry [`Denial::KeyState`]. With [`Enforcement::Soft`]
//!   ([`LocalKms::set_enforcement`]) a call that policies would deny proceeds and its record
//!   says `"wouldBeDenied": true`; nothing else is softened.
//! - Quota: one token bucket per *calling* account (AWS KMS throttles the account that makes
//!   the request), for the cryptographic operations (`GenerateDataKey`,
//!   `GenerateDataKeyWithoutPlaintext`, `Encrypt`, `Decrypt`, `ReEncrypt`, `GenerateRandom`).
//! - Order of checks, as AWS: faults → quota (cryptographic operations) →
//!   parameter validation → key lookup
//!   (`NotFoundException`) → authorization (`AccessDeniedException`) → key state → the operation.
//! - Every call is audited ([`LocalKms::audit`]); the record names the key's owner as
//!   `recipientAccountId` (the caller's account for account-level calls) and, inside
//!   [`LocalKms::with_origin`], the request's `sourceIPAddress`, `userAgent` and `requestID`.
//!   Requests a server refuses before the KMS sees them go to the same log with
//!   [`AuditLog::record_rejected`]. With an audit file, a call whose record cannot
//!   be written fails with [`KmsErrorKind::AuditFailure`] and returns nothing else (fail
//!   closed); the file is never opened through a symbolic link. A caller whose identity holds a
//!   control character is refused (`ValidationException`) and recorded escaped.
//! - Persistence ([`LocalKmsBuilder::state_file`], format in [`state`]): keys with their
//!   accounts, aliases, and identity policies unless
//!   [`LocalKmsBuilder::identity_from_config`] says a configuration is their source.
//! - Deliberately stricter than AWS: an encryption context with two keys that differ only in
//!   ASCII case (`aws:kinesisvideo:arn` and `AWS:KINESISVIDEO:ARN`) is refused with
//!   `ValidationException`, because `kms:EncryptionContext:KEY` conditions match keys
//!   case-insensitively and such a context is ambiguous to every key policy.
//! - Bounded memory per caller: call counts are kept apart for at most
//!   [`audit::DEFAULT_COUNTED_CREDENTIALS`] credentials and quota buckets for at most
//!   [`quota::MAX_BUCKETS`] accounts, the oldest evicted first, so rotating session credentials
//!   do not grow memory forever.
//!
//! Layout: `keystore` (keys, aliases, states, resolution, persistence), `authz` (the per-call
//! pipeline, authorization, audit), [`denial`] (why a call was refused, enforcement), `data`
//! (`GenerateDataKey`, `Encrypt`, `Decrypt`, `DescribeKey`), `data_ops` (the server's data
//! operations), `admin` (management calls), `identity` (identity policies), [`audit`] (events,
//! origin, rejected requests, the log); the methods are all on [`LocalKms`].
//!
//! It provides **no security** beyond what a test needs: keys are generated from the OS RNG
//! and blobs are real AES-256-GCM, but the key material is in this process (and in the state
//! file). Use it for emulators, tests and benchmarks, never to protect production data.
//!
//! ```
//! use fragseal::kms::local::{LocalKms, Operation};
//! use fragseal::kms::{Credential, DataKeySpec, Kms, KmsErrorKind};
//! use fragseal::EncryptionContext;
//!
//! let kms = LocalKms::new("us-east-1", "111122223333");
//! let admin = Credential::new("111122223333", "arn:aws:iam::111122223333:root", "AKIAADMIN")?;
//! // The default key policy delegates to IAM: identity policies decide.
//! let key = kms.create_key(&admin, None, "camera streams")?;
//! let producer = Credential::new(
//!     "111122223333",
//!     "arn:aws:sts::111122223333:assumed-role/producer/cam-1",
//!     "ASIAPRODUCER",
//! )?;
//! kms.attach_identity_policy(
//!     "arn:aws:iam::111122223333:role/producer",
//!     r#"{"Statement":{"Effect":"Allow","Action":"kms:GenerateDataKey","Resource":"*"}}"#,
//! )?;
//! let ec = EncryptionContext::new().with(
//!     "aws:kinesisvideo:arn",
//!     "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1",
//! );
//! let dk = kms.generate_data_key(&producer, &key.arn, DataKeySpec::Aes256, &ec)?;
//! // The producer may not decrypt; the denial is audited too.
//! let denied = kms.decrypt(&producer, &dk.ciphertext_blob, &ec, None).unwrap_err();
//! assert_eq!(denied.kind(), KmsErrorKind::AccessDenied);
//! assert_eq!(kms.audit().count(&producer, Operation::GenerateDataKey), 1);
//! assert_eq!(kms.audit().count(&producer, Operation::Decrypt), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod admin;
pub mod audit;
mod authz;
pub mod blob;
pub mod clock;
mod counts;
mod data;
mod data_ops;
pub mod denial;
pub mod faults;
pub mod grants;
mod identity;
mod keystore;
pub mod policy;
pub mod quota;
pub mod state;
pub mod tags;

pub use audit::{AuditEvent, AuditLog, Operation, RejectedRequest, RequestOrigin};
pub use clock::{Clock, ManualClock, SystemClock};
pub use data::ViaService;
pub use data_ops::ReEncrypted;
pub use denial::{Denial, Enforcement, PolicyHalf, PolicyRef, StatementRef};
pub use faults::{FaultConfig, Outage};
pub use policy::{Policy, PolicyError, PolicyKind};
pub use quota::QuotaConfig;
pub use state::SetupError;

pub use grants::{
    CreateGrantRequest, CreateGrantResponse, GrantCheck, GrantConstraints, GrantListEntry,
    GrantOperation, ListGrantsPage,
};
pub use tags::{ListTagsPage, Tag};

use crate::kms::{KmsError, KmsErrorKind};
pub use keystore::AliasEntry;
use keystore::Inner;
// The key store's types, under the names `state` uses.
use keystore::{IdentityPolicy, KeyRecord, Manager};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// The alias of the AWS-managed key of Kinesis Video Streams.
pub const KINESIS_VIDEO_ALIAS: &str = "alias/aws/kinesisvideo";
/// Largest key policy AWS KMS accepts (bytes).
pub const MAX_POLICY_LEN: usize = 32 * 1024;
/// Shortest deletion waiting period (days).
pub const MIN_PENDING_WINDOW_DAYS: u32 = 7;
/// Longest deletion waiting period (days).
pub const MAX_PENDING_WINDOW_DAYS: u32 = 30;

/// The in-memory local KMS. See the module documentation.
///
/// All methods take `&self`; share it in an `Arc`.
pub struct LocalKms {
    region: String,
    /// The primary account (the builder's).
    account: String,
    /// Every served account, the primary first, no duplicates.
    accounts: Vec<String>,
    /// Identity policies come from the server's IAM file: not written to the state file.
    identity_from_config: bool,
    /// [`Enforcement::Soft`] when set.
    soft: AtomicBool,
    inner: RwLock<Inner>,
    audit: AuditLog,
    quota: quota::Quota,
    faults: faults::Faults,
    clock: Arc<dyn Clock>,
    state_file: Option<PathBuf>,
}

impl core::fmt::Debug for LocalKms {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalKms")
            .field("region", &self.region)
            .field("accounts", &self.accounts)
            .field("state_file", &self.state_file)
            .finish_non_exhaustive()
    }
}

/// Builds a [`LocalKms`] with a clock, an audit capacity or a state file.
#[derive(Clone)]
pub struct LocalKmsBuilder {
    region: String,
    account: String,
    more_accounts: Vec<String>,
    identity_from_config: bool,
    enforcement: Enforcement,
    clock: Arc<dyn Clock>,
    audit_capacity: usize,
    audit_file: Option<PathBuf>,
    state_file: Option<PathBuf>,
}

impl core::fmt::Debug for LocalKmsBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalKmsBuilder")
            .field("region", &self.region)
            .field("account", &self.account)
            .field("more_accounts", &self.more_accounts)
            .field("identity_from_config", &self.identity_from_config)
            .field("audit_capacity", &self.audit_capacity)
            .field("audit_file", &self.audit_file)
            .field("state_file", &self.state_file)
            .finish_non_exhaustive()
    }
}

impl LocalKmsBuilder {
    /// Also serves `accounts` (12 digits each, validated by [`LocalKmsBuilder::build`]): their
    /// keys live side by side with the primary account's. Repeating an account is harmless.
    pub fn accounts(mut self, accounts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.more_accounts
            .extend(accounts.into_iter().map(Into::into));
        self
    }

    /// How policy and grant denials are enforced (default [`Enforcement::Strict`]); see
    /// [`LocalKms::set_enforcement`].
    pub fn enforcement(mut self, enforcement: Enforcement) -> Self {
        self.enforcement = enforcement;
        self
    }

    /// With `true`, identity policies are not written to the state file (and those a state
    /// file holds are ignored when it is loaded): their source is the configuration that
    /// installs them with [`LocalKms::replace_identity_policies`], such as the server's IAM
    /// file. Default `false`.
    pub fn identity_from_config(mut self, yes: bool) -> Self {
        self.identity_from_config = yes;
        self
    }

    /// Uses `clock` for event times, deletion dates, the quota and outage windows.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Keeps at most `capacity` audit events in memory (default [`audit::DEFAULT_CAPACITY`]).
    pub fn audit_capacity(mut self, capacity: usize) -> Self {
        self.audit_capacity = capacity;
        self
    }

    /// Appends every audit event as a JSON line to `path` (created with mode 0600 if
    /// missing); see [`AuditLog::set_file`].
    pub fn audit_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.audit_file = Some(path.into());
        self
    }

    /// Persists keys, aliases and identity policies to `path`: loaded now if it exists,
    /// rewritten atomically (mode 0600) after every change. The file holds the key material in
    /// the clear: protect it like the keys.
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// Builds the KMS, loading the state file if one is configured and exists.
    ///
    /// # Errors
    /// [`SetupError::InvalidConfig`] for a region or account that is not well-formed;
    /// [`SetupError::Io`] when the audit file cannot be opened;
    /// [`SetupError::Io`], [`SetupError::Corrupt`] or [`SetupError::Foreign`] when the state
    /// file cannot be read, is not a valid state file, or belongs to another region/account.
    /// The file is never modified in these cases.
    pub fn build(self) -> Result<LocalKms, SetupError> {
        let mut accounts = vec![self.account.clone()];
        for a in &self.more_accounts {
            if !accounts.contains(a) {
                accounts.push(a.clone());
            }
        }
        for a in &accounts {
            if !policy::is_account_id(a) {
                return Err(SetupError::InvalidConfig(format!(
                    "account must be 12 digits, got {a:?}"
                )));
            }
        }
        if self.region.is_empty()
            || !self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(SetupError::InvalidConfig(format!(
                "region must be like \"us-east-1\", got {:?}",
                self.region
            )));
        }
        let inner = match &self.state_file {
            Some(p) if p.exists() => {
                state::load(p, &self.region, &accounts, !self.identity_from_config)?
            }
            _ => Inner::default(),
        };
        let audit = AuditLog::new(self.audit_capacity);
        if let Some(p) = &self.audit_file {
            audit.set_file(Some(p)).map_err(|source| SetupError::Io {
                path: p.clone(),
                source,
            })?;
        }
        Ok(LocalKms {
            region: self.region,
            account: self.account,
            accounts,
            identity_from_config: self.identity_from_config,
            soft: AtomicBool::new(self.enforcement == Enforcement::Soft),
            inner: RwLock::new(inner),
            audit,
            quota: quota::Quota::default(),
            faults: faults::Faults::default(),
            clock: self.clock,
            state_file: self.state_file,
        })
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn poisoned() -> KmsError {
    KmsError::new(KmsErrorKind::Internal, "local KMS state lock poisoned")
}

fn not_found(what: &str) -> KmsError {
    KmsError::new(KmsErrorKind::NotFound, format!("{what} is not found."))
}

fn malformed(e: PolicyError) -> KmsError {
    KmsError::new(KmsErrorKind::MalformedPolicyDocument, e.to_string()).with_source(e)
}

impl LocalKms {
    /// A local KMS for `region` and `account` with the system clock and no persistence.
    ///
    /// The values are taken as given; use [`LocalKms::builder`] to have them validated.
    pub fn new(region: impl Into<String>, account: impl Into<String>) -> Self {
        let account = account.into();
        Self {
            region: region.into(),
            accounts: vec![account.clone()],
            account,
            identity_from_config: false,
            soft: AtomicBool::new(false),
            inner: RwLock::new(Inner::default()),
            audit: AuditLog::default(),
            quota: quota::Quota::default(),
            faults: faults::Faults::default(),
            clock: Arc::new(SystemClock),
            state_file: None,
        }
    }

    /// A builder for `region` and `account`.
    pub fn builder(region: impl Into<String>, account: impl Into<String>) -> LocalKmsBuilder {
        LocalKmsBuilder {
            region: region.into(),
            account: account.into(),
            more_accounts: Vec::new(),
            identity_from_config: false,
            enforcement: Enforcement::Strict,
            clock: Arc::new(SystemClock),
            audit_capacity: audit::DEFAULT_CAPACITY,
            audit_file: None,
            state_file: None,
        }
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The primary account (the one given to [`LocalKms::new`] / [`LocalKms::builder`]).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Every served account, the primary first.
    pub fn accounts(&self) -> &[String] {
        &self.accounts
    }

    /// Whether `account` is served here.
    pub fn serves(&self, account: &str) -> bool {
        self.accounts.iter().any(|a| a == account)
    }

    /// Sets how policy and grant denials are enforced: [`Enforcement::Soft`] records each
    /// would-be denial in the audit trail (`"wouldBeDenied": true` with the [`Denial`]) and
    /// lets the call proceed; unknown keys, key states, validation and quotas are never
    /// softened.
    pub fn set_enforcement(&self, enforcement: Enforcement) {
        self.soft
            .store(enforcement == Enforcement::Soft, Ordering::SeqCst);
    }

    /// The current enforcement.
    pub fn enforcement(&self) -> Enforcement {
        if self.soft.load(Ordering::SeqCst) {
            Enforcement::Soft
        } else {
            Enforcement::Strict
        }
    }

    /// Runs `f` with `origin` as the request origin of the calls it makes on this thread:
    /// their audit records carry its `sourceIPAddress`, `userAgent` and `requestID`. The
    /// previous origin is restored when `f` returns or panics. Calls on other threads are not
    /// affected (the calls run synchronously, as a server's blocking handler makes them).
    pub fn with_origin<T>(&self, origin: &RequestOrigin, f: impl FnOnce() -> T) -> T {
        let _guard = audit::OriginGuard::set(origin);
        f()
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Sets (or removes) the request-rate quota for `GenerateDataKey`/`Decrypt`.
    ///
    /// # Errors
    /// `InvalidRequest` for a rate ≤ 0 or a burst of 0.
    pub fn set_quota(&self, config: Option<QuotaConfig>) -> Result<(), KmsError> {
        self.quota.set(config)
    }

    /// How many accounts have a quota bucket now (at most [`quota::MAX_BUCKETS`]).
    pub fn quota_accounts(&self) -> usize {
        self.quota.buckets()
    }

    /// The current quota.
    pub fn quota(&self) -> Option<QuotaConfig> {
        self.quota.config()
    }

    /// Sets the injected faults (`FaultConfig::default()` removes them).
    ///
    /// # Errors
    /// `InvalidRequest` for an error rate outside `0.0..=1.0`.
    pub fn set_faults(&self, config: FaultConfig) -> Result<(), KmsError> {
        self.faults.set(config)
    }

    /// The current fault configuration.
    pub fn faults(&self) -> FaultConfig {
        self.faults.config()
    }

    /// A [`Kms`](crate::kms::Kms) whose calls come through `service` (`kinesisvideo` becomes
    /// `kinesisvideo.REGION.amazonaws.com`; a name containing a dot is taken as is), so that
    /// they carry `kms:ViaService` like calls AWS services make on a caller's behalf.
    pub fn via_service(self: &Arc<Self>, service: &str) -> ViaService {
        let service = if service.contains('.') {
            service.to_owned()
        } else {
            format!("{service}.{}.amazonaws.com", self.region)
        };
        ViaService {
            kms: Arc::clone(self),
            service,
        }
    }

    /// The ARN of key `id` of the primary account.
    pub fn key_arn(&self, id: &str) -> String {
        self.key_arn_in(&self.account, id)
    }

    /// The ARN of key `id` of `account`.
    pub fn key_arn_in(&self, account: &str, id: &str) -> String {
        format!("arn:aws:kms:{}:{account}:key/{id}", self.region)
    }

    /// The ARN of alias `name` (`alias/NAME`) of `account`.
    pub fn alias_arn(&self, account: &str, name: &str) -> String {
        format!("arn:aws:kms:{}:{account}:{name}", self.region)
    }
}

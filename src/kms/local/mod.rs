//! `LocalKms`: an in-memory KMS that behaves like AWS KMS and *enforces* key policies.
//!
//! For emulators (Kinesis Video Streams server-side encryption) and tests. It is a test
//! backend: its key material lives in process memory (and, if persistence is enabled, in the
//! state file, which is therefore as sensitive as the keys themselves).
//!
//! - Keys: `arn:aws:kms:REGION:ACCOUNT:key/UUID`, states `Enabled` / `Disabled` /
//!   `PendingDeletion` with AWS KMS's error in each state (`DisabledException`,
//!   `KMSInvalidStateException`); deletion is scheduled 7..=30 days ahead and happens lazily once
//!   the date has passed; cancelling leaves the key `Disabled`, as AWS does.
//! - Aliases `alias/NAME` and alias ARNs `arn:aws:kms:REGION:ACCOUNT:alias/NAME`, resolved in
//!   this KMS's account. `alias/aws/kinesisvideo` is created on first use by a caller of the
//!   account, as an AWS-managed key with AWS's managed-key policy: principals of the account may
//!   use it through Kinesis Video Streams (`kms:ViaService` =
//!   `kinesisvideo.REGION.amazonaws.com`, `kms:CallerAccount` = the account); the account may
//!   describe it directly if an identity policy allows.
//! - *Via a service*: a direct call carries no `kms:ViaService`. A caller that acts through a
//!   service (the KVS emulator) uses [`LocalKms::via_service`], which returns a [`Kms`](crate::kms::Kms) whose
//!   calls carry `kms:ViaService` = `SERVICE.REGION.amazonaws.com`.
//! - Authorization: every call, management calls included, is checked with the IAM rules of
//!   [`policy`] against the key policy and the identity policies attached to the caller with
//!   [`LocalKms::attach_identity_policy`]. Account-level calls (`CreateKey`, `ListKeys`,
//!   `ListAliases`) have no key policy: the caller must belong to this account and be its root
//!   (`arn:aws:iam::ACCOUNT:root`) or hold an identity policy allowing the action on `"*"`.
//!   Identity policies attached to a role ARN also apply to that role's sessions
//!   (`arn:aws:sts::ACCOUNT:assumed-role/NAME/...`). Principals of other accounts may only make
//!   the calls AWS KMS allows across accounts (`GenerateDataKey`, `Encrypt`, `Decrypt`,
//!   `DescribeKey`),
//!   and need both the key policy and an identity policy of their own to allow them.
//! - Quota: one token bucket per *calling* account (AWS KMS throttles the account that makes
//!   the request), for `GenerateDataKey`, `Encrypt` and `Decrypt`.
//! - Order of checks, as AWS: faults → quota (`GenerateDataKey`, `Encrypt`, `Decrypt`) →
//!   parameter validation → key lookup
//!   (`NotFoundException`) → authorization (`AccessDeniedException`) → key state → the operation.
//! - Every call is audited ([`LocalKms::audit`]). With an audit file, a call whose record cannot
//!   be written fails with [`KmsErrorKind::AuditFailure`] and returns nothing else (fail
//!   closed); the file is never opened through a symbolic link. A caller whose identity holds a
//!   control character is refused (`ValidationException`) and recorded escaped.
//! - Deliberately stricter than AWS: an encryption context with two keys that differ only in
//!   ASCII case (`aws:kinesisvideo:arn` and `AWS:KINESISVIDEO:ARN`) is refused with
//!   `ValidationException`, because `kms:EncryptionContext:KEY` conditions match keys
//!   case-insensitively and such a context is ambiguous to every key policy.
//! - Bounded memory per caller: call counts are kept apart for at most
//!   [`audit::DEFAULT_COUNTED_CREDENTIALS`] credentials and quota buckets for at most
//!   [`quota::MAX_BUCKETS`] accounts, the oldest evicted first, so rotating session credentials
//!   do not grow memory forever.
//!
//! Layout: `keystore` (keys, aliases, states, persistence), `authz` (the per-call pipeline,
//! authorization, audit), `data` (`GenerateDataKey`, `Encrypt`, `Decrypt`, `DescribeKey`),
//! `admin` (management calls); the methods are all on [`LocalKms`].
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
pub mod faults;
// s3-grants: grants and tags.
pub mod grants;
mod keystore;
pub mod policy;
pub mod quota;
pub mod state;
pub mod tags; // s3-grants

pub use audit::{AuditEvent, AuditLog, Operation};
pub use clock::{Clock, ManualClock, SystemClock};
pub use data::ViaService;
pub use faults::{FaultConfig, Outage};
pub use policy::{Policy, PolicyError, PolicyKind};
pub use quota::QuotaConfig;
pub use state::SetupError;

// s3-grants
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
    account: String,
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
            .field("account", &self.account)
            .field("state_file", &self.state_file)
            .finish_non_exhaustive()
    }
}

/// Builds a [`LocalKms`] with a clock, an audit capacity or a state file.
#[derive(Clone)]
pub struct LocalKmsBuilder {
    region: String,
    account: String,
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
            .field("audit_capacity", &self.audit_capacity)
            .field("audit_file", &self.audit_file)
            .field("state_file", &self.state_file)
            .finish_non_exhaustive()
    }
}

impl LocalKmsBuilder {
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
        if !policy::is_account_id(&self.account) {
            return Err(SetupError::InvalidConfig(format!(
                "account must be 12 digits, got {:?}",
                self.account
            )));
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
            Some(p) if p.exists() => state::load(p, &self.region, &self.account)?,
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
        Self {
            region: region.into(),
            account: account.into(),
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

    /// The account that owns the keys.
    pub fn account(&self) -> &str {
        &self.account
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

    /// The ARN of key `id`.
    pub fn key_arn(&self, id: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.account)
    }

    pub(super) fn alias_arn(&self, name: &str) -> String {
        format!("arn:aws:kms:{}:{}:{name}", self.region, self.account)
    }
}

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
//!   service (the KVS emulator) uses [`LocalKms::via_service`], which returns a [`Kms`] whose
//!   calls carry `kms:ViaService` = `SERVICE.REGION.amazonaws.com`.
//! - Authorization: every call, management calls included, is checked with the IAM rules of
//!   [`policy`] against the key policy and the identity policies attached to the caller with
//!   [`LocalKms::attach_identity_policy`]. Account-level calls (`CreateKey`, `ListKeys`,
//!   `ListAliases`) have no key policy: the caller must belong to this account and be its root
//!   (`arn:aws:iam::ACCOUNT:root`) or hold an identity policy allowing the action on `"*"`.
//!   Identity policies attached to a role ARN also apply to that role's sessions
//!   (`arn:aws:sts::ACCOUNT:assumed-role/NAME/...`). Principals of other accounts may only make
//!   the calls AWS KMS allows across accounts (`GenerateDataKey`, `Decrypt`, `DescribeKey`),
//!   and need both the key policy and an identity policy of their own to allow them.
//! - Quota: one token bucket per *calling* account (AWS KMS throttles the account that makes
//!   the request), for `GenerateDataKey` and `Decrypt`.
//! - Order of checks, as AWS: faults → quota (`GenerateDataKey`, `Decrypt`) → key lookup
//!   (`NotFoundException`) → authorization (`AccessDeniedException`) → key state → the operation.
//! - Every call is audited ([`LocalKms::audit`]).
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
//! let admin = Credential::new("111122223333", "arn:aws:iam::111122223333:root", "AKIAADMIN");
//! // The default key policy delegates to IAM: identity policies decide.
//! let key = kms.create_key(&admin, None, "camera streams")?;
//! let producer = Credential::new(
//!     "111122223333",
//!     "arn:aws:sts::111122223333:assumed-role/producer/cam-1",
//!     "ASIAPRODUCER",
//! );
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
//! # Ok::<(), fragseal::kms::KmsError>(())
//! ```

pub mod audit;
pub mod blob;
pub mod clock;
pub mod faults;
pub mod policy;
pub mod quota;
pub mod state;

pub use audit::{AuditEvent, AuditLog, Operation};
pub use clock::{Clock, ManualClock, SystemClock};
pub use faults::{FaultConfig, Outage};
pub use policy::{Policy, PolicyError, PolicyKind};
pub use quota::QuotaConfig;
pub use state::SetupError;

use crate::crypto::{DataKey, SecretBytes};
use crate::format::EncryptionContext;
use crate::kms::{
    Credential, DataKeySpec, DecryptedDataKey, GeneratedDataKey, KeyDescription, KeyState, Kms,
    KmsError, KmsErrorKind,
};
use policy::{Decision, Request, RequestContext};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The alias of the AWS-managed key of Kinesis Video Streams.
pub const KINESIS_VIDEO_ALIAS: &str = "alias/aws/kinesisvideo";
/// Largest key policy AWS KMS accepts (bytes).
pub const MAX_POLICY_LEN: usize = 32 * 1024;
/// Shortest deletion waiting period (days).
pub const MIN_PENDING_WINDOW_DAYS: u32 = 7;
/// Longest deletion waiting period (days).
pub const MAX_PENDING_WINDOW_DAYS: u32 = 30;

/// Who manages a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Manager {
    Customer,
    Aws,
}

impl Manager {
    fn as_str(self) -> &'static str {
        match self {
            Manager::Customer => "CUSTOMER",
            Manager::Aws => "AWS",
        }
    }
}

/// One KMS key. Cloned on change (copy-on-write); the material is shared, never copied.
#[derive(Clone)]
struct KeyRecord {
    id: String,
    arn: String,
    material: Arc<DataKey>,
    state: KeyState,
    description: String,
    manager: Manager,
    policy_json: String,
    policy: Arc<Policy>,
    created: u64,
    deletion_date: Option<u64>,
}

impl KeyRecord {
    fn describe(&self, account: &str) -> KeyDescription {
        KeyDescription {
            arn: self.arn.clone(),
            key_id: self.id.clone(),
            account: account.to_owned(),
            state: self.state,
            description: self.description.clone(),
            manager: self.manager.as_str().to_owned(),
            deletion_date: self.deletion_date,
        }
    }

    fn is_deleted_at(&self, now: u64) -> bool {
        self.state == KeyState::PendingDeletion && self.deletion_date.is_some_and(|d| now >= d)
    }

    /// The error AWS KMS gives for a cryptographic operation in this key's state.
    fn usable(&self) -> Result<(), KmsError> {
        match self.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::new(
                KmsErrorKind::Disabled,
                format!("{} is disabled.", self.arn),
            )),
            KeyState::PendingDeletion => Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!("{} is pending deletion.", self.arn),
            )),
            _ => Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!("{} is not available.", self.arn),
            )),
        }
    }
}

/// An identity policy as given and as parsed.
#[derive(Clone)]
struct IdentityPolicy {
    json: String,
    policy: Arc<Policy>,
}

#[derive(Clone, Default)]
struct Inner {
    keys: BTreeMap<String, KeyRecord>,
    /// `alias/NAME` → key id.
    aliases: BTreeMap<String, String>,
    /// principal ARN → policies.
    identity: HashMap<String, Vec<IdentityPolicy>>,
}

/// One entry of [`LocalKms::list_aliases`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasEntry {
    /// `alias/NAME`.
    pub alias_name: String,
    /// `arn:aws:kms:REGION:ACCOUNT:alias/NAME`.
    pub alias_arn: String,
    /// The id of the key the alias points to.
    pub target_key_id: String,
}

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

/// Per-call data common to every operation.
struct Call<'a> {
    caller: &'a Credential,
    op: Operation,
    via_service: Option<&'a str>,
    now: SystemTime,
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
    KmsError::new(
        KmsErrorKind::InvalidRequest,
        format!("MalformedPolicyDocumentException: {e}"),
    )
    .with_source(e)
}

/// How a key id named in a request resolved.
enum KeyRef<'a> {
    Id(&'a str),
    Alias(String),
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

    /// A [`Kms`] whose calls come through `service` (`kinesisvideo` becomes
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

    fn alias_arn(&self, name: &str) -> String {
        format!("arn:aws:kms:{}:{}:{name}", self.region, self.account)
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Inner>, KmsError> {
        self.inner.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, Inner>, KmsError> {
        self.inner.write().map_err(|_| poisoned())
    }

    /// Splits a `KeyId` parameter into a key id or an alias name, checking region/account.
    fn key_ref<'a>(&self, caller: &Credential, key_id: &'a str) -> Result<KeyRef<'a>, KmsError> {
        if key_id.is_empty() {
            return Err(KmsError::new(
                KmsErrorKind::InvalidRequest,
                "KeyId must not be empty",
            ));
        }
        if let Some(rest) = key_id.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, service, region, account, resource] = parts[..] else {
                return Err(not_found(key_id));
            };
            if partition != "aws" || service != "kms" {
                return Err(KmsError::new(
                    KmsErrorKind::InvalidRequest,
                    format!("{key_id} is not a KMS key ARN"),
                ));
            }
            if region != self.region || account != self.account {
                return Err(not_found(key_id));
            }
            if let Some(id) = resource.strip_prefix("key/") {
                return Ok(KeyRef::Id(id));
            }
            if resource.starts_with("alias/") {
                return Ok(KeyRef::Alias(resource.to_owned()));
            }
            return Err(not_found(key_id));
        }
        if key_id.starts_with("alias/") {
            // Alias names resolve in the caller's account; only this KMS's account lives here.
            if caller.account() != self.account {
                return Err(not_found(&self.alias_arn(key_id)));
            }
            return Ok(KeyRef::Alias(key_id.to_owned()));
        }
        Ok(KeyRef::Id(key_id))
    }

    /// Resolves `key_id` to a key, creating `alias/aws/kinesisvideo` on first use.
    /// Returns the key and the alias named, if any.
    fn resolve(
        &self,
        call: &Call<'_>,
        key_id: &str,
    ) -> Result<(KeyRecord, Option<String>), KmsError> {
        let r = self.key_ref(call.caller, key_id)?;
        let now = secs(call.now);
        {
            let inner = self.read()?;
            if let Some(found) = Self::lookup(&inner, &r, now) {
                return Ok(found);
            }
        }
        if let KeyRef::Alias(name) = &r {
            if name == KINESIS_VIDEO_ALIAS && call.caller.account() == self.account {
                let mut inner = self.write()?;
                if !inner.aliases.contains_key(KINESIS_VIDEO_ALIAS) {
                    let mut next = inner.clone();
                    self.create_kinesis_video_key(&mut next, call.now)?;
                    self.persist(&next)?;
                    *inner = next;
                }
                if let Some(found) = Self::lookup(&inner, &r, now) {
                    return Ok(found);
                }
            }
        }
        Err(match &r {
            KeyRef::Id(_) if key_id.starts_with("arn:") => not_found(key_id),
            KeyRef::Id(id) => not_found(&format!("Key '{}'", self.key_arn(id))),
            KeyRef::Alias(name) => not_found(&format!("Alias {}", self.alias_arn(name))),
        })
    }

    fn lookup(inner: &Inner, r: &KeyRef<'_>, now: u64) -> Option<(KeyRecord, Option<String>)> {
        let (id, alias) = match r {
            KeyRef::Id(id) => (*id, None),
            KeyRef::Alias(name) => (inner.aliases.get(name)?.as_str(), Some(name.clone())),
        };
        let key = inner.keys.get(id)?;
        if key.is_deleted_at(now) {
            return None;
        }
        Some((key.clone(), alias))
    }

    fn create_kinesis_video_key(&self, inner: &mut Inner, now: SystemTime) -> Result<(), KmsError> {
        let service = format!("kinesisvideo.{}.amazonaws.com", self.region);
        let doc = serde_json::json!({
            "Version": "2012-10-17",
            "Id": "auto-kinesisvideo-1",
            "Statement": [
                {
                    "Sid": "Allow access through Kinesis Video Streams for all principals in the account that are authorized to use Kinesis Video Streams",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:CallerAccount": self.account,
                            "kms:ViaService": service
                        }
                    }
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": policy::root_arn(&self.account)},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                    "Resource": "*"
                }
            ]
        });
        let json = serde_json::to_string_pretty(&doc)
            .map_err(|e| KmsError::new(KmsErrorKind::Internal, e.to_string()))?;
        let key = self.new_key_record(
            &json,
            "Default key that protects my Kinesis Video Streams data when no other key is defined",
            Manager::Aws,
            now,
        )?;
        inner
            .aliases
            .insert(KINESIS_VIDEO_ALIAS.to_owned(), key.id.clone());
        inner.keys.insert(key.id.clone(), key);
        Ok(())
    }

    fn new_key_record(
        &self,
        policy_json: &str,
        description: &str,
        manager: Manager,
        now: SystemTime,
    ) -> Result<KeyRecord, KmsError> {
        let policy = parse_key_policy(policy_json)?;
        let mut b = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
        let id = audit::format_uuid(b);
        Ok(KeyRecord {
            arn: self.key_arn(&id),
            id,
            material: Arc::new(DataKey::generate()),
            state: KeyState::Enabled,
            description: description.to_owned(),
            manager,
            policy_json: policy_json.to_owned(),
            policy: Arc::new(policy),
            created: secs(now),
            deletion_date: None,
        })
    }

    /// The default key policy of `CreateKey`: the account (root) may do everything, which
    /// delegates to identity policies.
    pub fn default_key_policy(&self) -> String {
        serde_json::json!({
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [{
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": policy::root_arn(&self.account)},
                "Action": "kms:*",
                "Resource": "*"
            }]
        })
        .to_string()
    }

    /// Authorizes `call` on `key` (or on the account when `key` is `None`).
    fn authorize(
        &self,
        inner: &Inner,
        call: &Call<'_>,
        key: Option<&KeyRecord>,
        ec: Option<&EncryptionContext>,
        alias: Option<&str>,
    ) -> Result<(), KmsError> {
        let caller = call.caller;
        if caller.account() != self.account && !call.op.cross_account() {
            return Err(KmsError::new(
                KmsErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {} on resource: {} (not permitted across accounts)",
                    caller.principal_arn(),
                    call.op.action(),
                    key.map_or("*", |k| k.arn.as_str())
                ),
            ));
        }
        let mut identity: Vec<&Policy> = Vec::new();
        if let Some(list) = inner.identity.get(caller.principal_arn()) {
            identity.extend(list.iter().map(|p| &*p.policy));
        }
        if let Some(role) = policy::role_of_session(caller.principal_arn()) {
            for (arn, list) in &inner.identity {
                if policy::is_role_arn_of(arn, role) {
                    identity.extend(list.iter().map(|p| &*p.policy));
                }
            }
        }
        let resource = key.map_or("*", |k| k.arn.as_str());
        let req = Request {
            action: call.op.action(),
            resource,
            context: RequestContext {
                principal_arn: caller.principal_arn(),
                principal_account: caller.account(),
                via_service: call.via_service,
                encryption_context: ec,
                request_alias: alias,
                extra: &[],
            },
        };
        let decision = policy::authorize(key.map(|k| &*k.policy), &self.account, &identity, &req);
        match decision {
            Decision::Allow => Ok(()),
            Decision::ExplicitDeny => Err(KmsError::new(
                KmsErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {} on resource: {} with an explicit deny",
                    caller.principal_arn(),
                    call.op.action(),
                    resource
                ),
            )),
            Decision::ImplicitDeny => Err(KmsError::new(
                KmsErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {} on resource: {} because no {} allows the {} action",
                    caller.principal_arn(),
                    call.op.action(),
                    resource,
                    if key.is_some() { "resource-based policy" } else { "identity-based policy" },
                    call.op.action()
                ),
            )),
        }
    }

    /// Runs `f` as one audited call.
    #[allow(
        clippy::too_many_arguments,
        reason = "private helper mirroring the audit event's request fields"
    )]
    fn audited<T>(
        &self,
        caller: &Credential,
        op: Operation,
        via_service: Option<&str>,
        key_id: Option<&str>,
        ec: Option<&EncryptionContext>,
        extra: Vec<(&'static str, Value)>,
        f: impl FnOnce(&Call<'_>, &mut Option<String>) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let now = self.clock.now();
        let call = Call {
            caller,
            op,
            via_service,
            now,
        };
        let mut resource = None;
        let result = self.audit.check().and_then(|()| f(&call, &mut resource));
        self.audit.record(AuditEvent {
            event_time: now,
            operation: op,
            region: self.region.clone(),
            recipient_account: self.account.clone(),
            caller: caller.clone(),
            via_service: via_service.map(str::to_owned),
            key_id: key_id.map(str::to_owned),
            encryption_context: ec.cloned(),
            extra_parameters: extra,
            resource_arn: resource,
            error: result
                .as_ref()
                .err()
                .map(|e| (e.kind().code().to_owned(), e.message().to_owned())),
            request_id: audit::random_uuid(),
            event_id: audit::random_uuid(),
        });
        result
    }

    fn generate_impl(
        &self,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        ec: &EncryptionContext,
        via: Option<&str>,
    ) -> Result<GeneratedDataKey, KmsError> {
        let extra = match spec {
            DataKeySpec::Aes256 => vec![("keySpec", Value::from("AES_256"))],
            DataKeySpec::Bytes(n) => vec![("numberOfBytes", Value::from(n))],
        };
        self.audited(
            caller,
            Operation::GenerateDataKey,
            via,
            Some(key_id),
            Some(ec),
            extra,
            |call, resource| {
                self.faults.apply(call.now)?;
                self.quota.acquire(caller.account(), call.now)?;
                let n = spec.len();
                if n == 0 || n > blob::MAX_DATA_KEY_LEN {
                    return Err(KmsError::new(
                        KmsErrorKind::InvalidRequest,
                        "NumberOfBytes must be between 1 and 1024",
                    ));
                }
                let (key, alias) = self.resolve(call, key_id)?;
                *resource = Some(key.arn.clone());
                {
                    let inner = self.read()?;
                    self.authorize(&inner, call, Some(&key), Some(ec), alias.as_deref())?;
                }
                key.usable()?;
                let plaintext = SecretBytes::random(n);
                let ciphertext_blob = blob::seal(
                    &key.id,
                    &key.arn,
                    key.material.expose_secret(),
                    plaintext.expose_secret(),
                    ec,
                )?;
                Ok(GeneratedDataKey {
                    key_id: key.arn,
                    plaintext,
                    ciphertext_blob,
                })
            },
        )
    }

    fn decrypt_impl(
        &self,
        caller: &Credential,
        ciphertext_blob: &[u8],
        ec: &EncryptionContext,
        expected_key_id: Option<&str>,
        via: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError> {
        let extra = vec![("encryptionAlgorithm", Value::from("SYMMETRIC_DEFAULT"))];
        self.audited(
            caller,
            Operation::Decrypt,
            via,
            expected_key_id,
            Some(ec),
            extra,
            |call, resource| {
                self.faults.apply(call.now)?;
                self.quota.acquire(caller.account(), call.now)?;
                let parsed = blob::parse(ciphertext_blob)?;
                let mut alias = None;
                if let Some(expected) = expected_key_id {
                    let (want, a) = self.resolve(call, expected)?;
                    if want.id != parsed.key_id {
                        *resource = Some(want.arn.clone());
                        return Err(KmsError::new(
                            KmsErrorKind::IncorrectKey,
                            format!(
                                "The key ID in the request does not identify the KMS key that encrypted the ciphertext ({})",
                                want.arn
                            ),
                        ));
                    }
                    alias = a;
                }
                let key = {
                    let inner = self.read()?;
                    Self::lookup(&inner, &KeyRef::Id(parsed.key_id), secs(call.now))
                        .map(|(k, _)| k)
                        .ok_or_else(|| not_found(&format!("Key '{}'", self.key_arn(parsed.key_id))))?
                };
                *resource = Some(key.arn.clone());
                {
                    let inner = self.read()?;
                    self.authorize(&inner, call, Some(&key), Some(ec), alias.as_deref())?;
                }
                key.usable()?;
                let plaintext = blob::open(&parsed, &key.arn, key.material.expose_secret(), ec)?;
                Ok(DecryptedDataKey {
                    key_id: key.arn,
                    plaintext,
                })
            },
        )
    }

    fn describe_impl(
        &self,
        caller: &Credential,
        key_id: &str,
        via: Option<&str>,
    ) -> Result<KeyDescription, KmsError> {
        self.audited(
            caller,
            Operation::DescribeKey,
            via,
            Some(key_id),
            None,
            Vec::new(),
            |call, resource| {
                self.faults.apply(call.now)?;
                let (key, alias) = self.resolve(call, key_id)?;
                *resource = Some(key.arn.clone());
                let inner = self.read()?;
                self.authorize(&inner, call, Some(&key), None, alias.as_deref())?;
                Ok(key.describe(&self.account))
            },
        )
    }

    /// Writes the state file, if any, with `inner`'s contents.
    fn persist(&self, inner: &Inner) -> Result<(), KmsError> {
        match &self.state_file {
            Some(path) => state::save(path, &self.region, &self.account, inner).map_err(|e| {
                KmsError::new(
                    KmsErrorKind::Internal,
                    format!("could not write the state file: {e}"),
                )
                .with_source(e)
            }),
            None => Ok(()),
        }
    }

    /// A management call that changes one key: resolve, authorize, then `change` a copy of the
    /// key; the new state is persisted before it replaces the old one.
    fn change_key<T>(
        &self,
        caller: &Credential,
        op: Operation,
        key_id: &str,
        extra: Vec<(&'static str, Value)>,
        change: impl FnOnce(&mut KeyRecord, SystemTime) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        self.audited(
            caller,
            op,
            None,
            Some(key_id),
            None,
            extra,
            |call, resource| {
                let (key, alias) = self.resolve(call, key_id)?;
                *resource = Some(key.arn.clone());
                let mut inner = self.write()?;
                // Authorize against the key as it is now, under the write lock.
                let current = inner
                    .keys
                    .get(&key.id)
                    .filter(|k| !k.is_deleted_at(secs(call.now)))
                    .ok_or_else(|| not_found(&key.arn))?;
                self.authorize(&inner, call, Some(current), None, alias.as_deref())?;
                let mut next = inner.clone();
                let rec = next
                    .keys
                    .get_mut(&key.id)
                    .ok_or_else(|| not_found(&key.arn))?;
                let out = change(rec, call.now)?;
                self.persist(&next)?;
                *inner = next;
                Ok(out)
            },
        )
    }

    /// `CreateKey`: a new symmetric key with `policy_json` (or [`Self::default_key_policy`])
    /// and `description`.
    ///
    /// Authorized by the caller's identity (no key exists yet): the caller must be of this
    /// account and be its root or hold an identity policy allowing `kms:CreateKey` on `"*"`.
    /// The policy lockout safety check of AWS is not performed.
    ///
    /// # Errors
    /// `AccessDenied`; `InvalidRequest` (`MalformedPolicyDocumentException: ...`) for a policy
    /// that does not parse or is larger than 32 KiB; `Internal` if the state file cannot be
    /// written.
    pub fn create_key(
        &self,
        caller: &Credential,
        policy_json: Option<&str>,
        description: &str,
    ) -> Result<KeyDescription, KmsError> {
        let extra = vec![
            ("description", Value::from(description)),
            ("keySpec", Value::from("SYMMETRIC_DEFAULT")),
            ("keyUsage", Value::from("ENCRYPT_DECRYPT")),
        ];
        self.audited(
            caller,
            Operation::CreateKey,
            None,
            None,
            None,
            extra,
            |call, resource| {
                let mut inner = self.write()?;
                self.authorize(&inner, call, None, None, None)?;
                let default_policy;
                let policy_json = match policy_json {
                    Some(p) => p,
                    None => {
                        default_policy = self.default_key_policy();
                        &default_policy
                    }
                };
                let key =
                    self.new_key_record(policy_json, description, Manager::Customer, call.now)?;
                *resource = Some(key.arn.clone());
                let desc = key.describe(&self.account);
                let mut next = inner.clone();
                next.keys.insert(key.id.clone(), key);
                self.persist(&next)?;
                *inner = next;
                Ok(desc)
            },
        )
    }

    /// `CreateAlias`: `alias_name` (`alias/NAME`, not `alias/aws/...`) → `target_key_id`.
    /// Authorized as `kms:CreateAlias` on the target key.
    ///
    /// # Errors
    /// `InvalidRequest` for a bad or reserved name or one that exists
    /// (`AlreadyExistsException`); `NotFound`; `AccessDenied`; `InvalidState` when the key is
    /// pending deletion.
    pub fn create_alias(
        &self,
        caller: &Credential,
        alias_name: &str,
        target_key_id: &str,
    ) -> Result<(), KmsError> {
        let extra = vec![
            ("aliasName", Value::from(alias_name)),
            ("targetKeyId", Value::from(target_key_id)),
        ];
        self.audited(
            caller,
            Operation::CreateAlias,
            None,
            None,
            None,
            extra,
            |call, resource| {
                validate_alias_name(alias_name)?;
                let (key, _) = self.resolve(call, target_key_id)?;
                *resource = Some(key.arn.clone());
                let mut inner = self.write()?;
                self.authorize(&inner, call, Some(&key), None, None)?;
                if key.state == KeyState::PendingDeletion {
                    return Err(KmsError::new(
                        KmsErrorKind::InvalidState,
                        format!("{} is pending deletion.", key.arn),
                    ));
                }
                if inner.aliases.contains_key(alias_name) {
                    return Err(KmsError::new(
                        KmsErrorKind::InvalidRequest,
                        format!(
                            "AlreadyExistsException: An alias with the name {} already exists",
                            self.alias_arn(alias_name)
                        ),
                    ));
                }
                let mut next = inner.clone();
                next.aliases.insert(alias_name.to_owned(), key.id.clone());
                self.persist(&next)?;
                *inner = next;
                Ok(())
            },
        )
    }

    /// `DeleteAlias`. Authorized as `kms:DeleteAlias` on the key the alias points to.
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`, `InvalidRequest` for `alias/aws/...`.
    pub fn delete_alias(&self, caller: &Credential, alias_name: &str) -> Result<(), KmsError> {
        let extra = vec![("aliasName", Value::from(alias_name))];
        self.audited(
            caller,
            Operation::DeleteAlias,
            None,
            None,
            None,
            extra,
            |call, resource| {
                validate_alias_name(alias_name)?;
                let (key, _) = self.resolve(call, alias_name)?;
                *resource = Some(key.arn.clone());
                let mut inner = self.write()?;
                self.authorize(&inner, call, Some(&key), None, None)?;
                let mut next = inner.clone();
                next.aliases.remove(alias_name);
                self.persist(&next)?;
                *inner = next;
                Ok(())
            },
        )
    }

    /// `ListAliases`, optionally only those of `key_id`. Authorized by identity
    /// (`kms:ListAliases` on `"*"`) or as the account root.
    ///
    /// # Errors
    /// `AccessDenied`; `NotFound` for an unknown `key_id`.
    pub fn list_aliases(
        &self,
        caller: &Credential,
        key_id: Option<&str>,
    ) -> Result<Vec<AliasEntry>, KmsError> {
        self.audited(
            caller,
            Operation::ListAliases,
            None,
            key_id,
            None,
            Vec::new(),
            |call, _| {
                let target = match key_id {
                    Some(k) => Some(self.resolve(call, k)?.0.id),
                    None => None,
                };
                let inner = self.read()?;
                self.authorize(&inner, call, None, None, None)?;
                let now = secs(call.now);
                Ok(inner
                    .aliases
                    .iter()
                    .filter(|(_, id)| target.as_ref().is_none_or(|t| t == *id))
                    .filter(|(_, id)| inner.keys.get(*id).is_some_and(|k| !k.is_deleted_at(now)))
                    .map(|(name, id)| AliasEntry {
                        alias_name: name.clone(),
                        alias_arn: self.alias_arn(name),
                        target_key_id: id.clone(),
                    })
                    .collect())
            },
        )
    }

    /// `ListKeys`: the ARNs of the account's keys (deleted ones excluded). Authorized by
    /// identity (`kms:ListKeys` on `"*"`) or as the account root.
    ///
    /// # Errors
    /// `AccessDenied`.
    pub fn list_keys(&self, caller: &Credential) -> Result<Vec<String>, KmsError> {
        self.audited(
            caller,
            Operation::ListKeys,
            None,
            None,
            None,
            Vec::new(),
            |call, _| {
                let inner = self.read()?;
                self.authorize(&inner, call, None, None, None)?;
                let now = secs(call.now);
                Ok(inner
                    .keys
                    .values()
                    .filter(|k| !k.is_deleted_at(now))
                    .map(|k| k.arn.clone())
                    .collect())
            },
        )
    }

    /// `EnableKey`.
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`, `InvalidState` when pending deletion.
    pub fn enable_key(&self, caller: &Credential, key_id: &str) -> Result<(), KmsError> {
        self.change_key(caller, Operation::EnableKey, key_id, Vec::new(), |k, _| {
            if k.state == KeyState::PendingDeletion {
                return Err(KmsError::new(
                    KmsErrorKind::InvalidState,
                    format!("{} is pending deletion.", k.arn),
                ));
            }
            k.state = KeyState::Enabled;
            Ok(())
        })
    }

    /// `DisableKey`.
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`, `InvalidState` when pending deletion.
    pub fn disable_key(&self, caller: &Credential, key_id: &str) -> Result<(), KmsError> {
        self.change_key(caller, Operation::DisableKey, key_id, Vec::new(), |k, _| {
            if k.state == KeyState::PendingDeletion {
                return Err(KmsError::new(
                    KmsErrorKind::InvalidState,
                    format!("{} is pending deletion.", k.arn),
                ));
            }
            k.state = KeyState::Disabled;
            Ok(())
        })
    }

    /// `ScheduleKeyDeletion` after `pending_window_days` (7..=30). Returns the deletion date
    /// (seconds since the Unix epoch). The key is deleted once the date has passed.
    ///
    /// # Errors
    /// `InvalidRequest` for a window outside 7..=30; `NotFound`, `AccessDenied`;
    /// `InvalidState` when already pending deletion.
    pub fn schedule_key_deletion(
        &self,
        caller: &Credential,
        key_id: &str,
        pending_window_days: u32,
    ) -> Result<u64, KmsError> {
        let extra = vec![("pendingWindowInDays", Value::from(pending_window_days))];
        self.change_key(
            caller,
            Operation::ScheduleKeyDeletion,
            key_id,
            extra,
            |k, now| {
                if !(MIN_PENDING_WINDOW_DAYS..=MAX_PENDING_WINDOW_DAYS)
                    .contains(&pending_window_days)
                {
                    return Err(KmsError::new(
                        KmsErrorKind::InvalidRequest,
                        "PendingWindowInDays must be between 7 and 30",
                    ));
                }
                if k.state == KeyState::PendingDeletion {
                    return Err(KmsError::new(
                        KmsErrorKind::InvalidState,
                        format!("{} is pending deletion.", k.arn),
                    ));
                }
                let when = now + Duration::from_secs(u64::from(pending_window_days) * 86_400);
                let date = secs(when);
                k.state = KeyState::PendingDeletion;
                k.deletion_date = Some(date);
                Ok(date)
            },
        )
    }

    /// `CancelKeyDeletion`: the key returns to `Disabled`, as in AWS KMS.
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`; `InvalidState` when not pending deletion.
    pub fn cancel_key_deletion(&self, caller: &Credential, key_id: &str) -> Result<(), KmsError> {
        self.change_key(
            caller,
            Operation::CancelKeyDeletion,
            key_id,
            Vec::new(),
            |k, _| {
                if k.state != KeyState::PendingDeletion {
                    return Err(KmsError::new(
                        KmsErrorKind::InvalidState,
                        format!("{} is not pending deletion.", k.arn),
                    ));
                }
                k.state = KeyState::Disabled;
                k.deletion_date = None;
                Ok(())
            },
        )
    }

    /// `GetKeyPolicy`: the policy document as stored.
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`.
    pub fn get_key_policy(&self, caller: &Credential, key_id: &str) -> Result<String, KmsError> {
        let extra = vec![("policyName", Value::from("default"))];
        self.audited(
            caller,
            Operation::GetKeyPolicy,
            None,
            Some(key_id),
            None,
            extra,
            |call, resource| {
                let (key, alias) = self.resolve(call, key_id)?;
                *resource = Some(key.arn.clone());
                let inner = self.read()?;
                self.authorize(&inner, call, Some(&key), None, alias.as_deref())?;
                Ok(key.policy_json)
            },
        )
    }

    /// `PutKeyPolicy`: replaces the key policy (authorized by the *current* policy).
    ///
    /// # Errors
    /// `NotFound`, `AccessDenied`, `InvalidRequest` (`MalformedPolicyDocumentException`).
    pub fn put_key_policy(
        &self,
        caller: &Credential,
        key_id: &str,
        policy_json: &str,
    ) -> Result<(), KmsError> {
        let extra = vec![("policyName", Value::from("default"))];
        let parsed = parse_key_policy(policy_json);
        self.change_key(caller, Operation::PutKeyPolicy, key_id, extra, |k, _| {
            k.policy = Arc::new(parsed?);
            k.policy_json = policy_json.to_owned();
            Ok(())
        })
    }

    /// Attaches an identity policy to `principal_arn` (an IAM user or role ARN; policies of a
    /// role also apply to its sessions). This is IAM, not KMS: it is not audited and needs no
    /// caller.
    ///
    /// # Errors
    /// `InvalidRequest` (`MalformedPolicyDocumentException: PATH: ...`), `Internal` if the
    /// state file cannot be written.
    pub fn attach_identity_policy(
        &self,
        principal_arn: &str,
        policy_json: &str,
    ) -> Result<(), KmsError> {
        let policy = Policy::parse(policy_json, PolicyKind::Identity).map_err(malformed)?;
        let mut inner = self.write()?;
        let mut next = inner.clone();
        next.identity
            .entry(principal_arn.to_owned())
            .or_default()
            .push(IdentityPolicy {
                json: policy_json.to_owned(),
                policy: Arc::new(policy),
            });
        self.persist(&next)?;
        *inner = next;
        Ok(())
    }

    /// Removes every identity policy of `principal_arn`.
    ///
    /// # Errors
    /// `Internal` if the state file cannot be written.
    pub fn detach_identity_policies(&self, principal_arn: &str) -> Result<(), KmsError> {
        let mut inner = self.write()?;
        let mut next = inner.clone();
        next.identity.remove(principal_arn);
        self.persist(&next)?;
        *inner = next;
        Ok(())
    }

    /// The identity policies attached to `principal_arn`, as given.
    pub fn identity_policies(&self, principal_arn: &str) -> Vec<String> {
        self.read()
            .ok()
            .and_then(|i| {
                i.identity
                    .get(principal_arn)
                    .map(|l| l.iter().map(|p| p.json.clone()).collect())
            })
            .unwrap_or_default()
    }

    /// The state file, if persistence is enabled.
    pub fn state_file(&self) -> Option<&Path> {
        self.state_file.as_deref()
    }
}

fn parse_key_policy(json: &str) -> Result<Policy, KmsError> {
    if json.len() > MAX_POLICY_LEN {
        return Err(KmsError::new(
            KmsErrorKind::InvalidRequest,
            "MalformedPolicyDocumentException: the policy is larger than 32 KiB",
        ));
    }
    Policy::parse(json, PolicyKind::Key).map_err(malformed)
}

fn validate_alias_name(name: &str) -> Result<(), KmsError> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(KmsError::new(
            KmsErrorKind::InvalidRequest,
            format!("Alias must start with the prefix \"alias/\": {name}"),
        ));
    };
    if rest.starts_with("aws/") {
        return Err(KmsError::new(
            KmsErrorKind::InvalidRequest,
            format!("Alias {name} is reserved for AWS managed keys"),
        ));
    }
    if rest.is_empty()
        || name.len() > 256
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err(KmsError::new(
            KmsErrorKind::InvalidRequest,
            format!("Alias {name:?} must be 1 to 256 characters of a-zA-Z0-9/_-"),
        ));
    }
    Ok(())
}

impl Kms for LocalKms {
    fn generate_data_key(
        &self,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        encryption_context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError> {
        self.generate_impl(caller, key_id, spec, encryption_context, None)
    }

    fn decrypt(
        &self,
        caller: &Credential,
        ciphertext_blob: &[u8],
        encryption_context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError> {
        self.decrypt_impl(
            caller,
            ciphertext_blob,
            encryption_context,
            expected_key_id,
            None,
        )
    }

    fn describe_key(&self, caller: &Credential, key_id: &str) -> Result<KeyDescription, KmsError> {
        self.describe_impl(caller, key_id, None)
    }
}

/// A [`LocalKms`] seen through an AWS service: calls carry `kms:ViaService` (see
/// [`LocalKms::via_service`]).
#[derive(Clone, Debug)]
pub struct ViaService {
    kms: Arc<LocalKms>,
    service: String,
}

impl ViaService {
    /// The service endpoint name, e.g. `kinesisvideo.us-east-1.amazonaws.com`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The underlying KMS.
    pub fn kms(&self) -> &Arc<LocalKms> {
        &self.kms
    }
}

impl Kms for ViaService {
    fn generate_data_key(
        &self,
        caller: &Credential,
        key_id: &str,
        spec: DataKeySpec,
        encryption_context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError> {
        self.kms.generate_impl(
            caller,
            key_id,
            spec,
            encryption_context,
            Some(&self.service),
        )
    }

    fn decrypt(
        &self,
        caller: &Credential,
        ciphertext_blob: &[u8],
        encryption_context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError> {
        self.kms.decrypt_impl(
            caller,
            ciphertext_blob,
            encryption_context,
            expected_key_id,
            Some(&self.service),
        )
    }

    fn describe_key(&self, caller: &Credential, key_id: &str) -> Result<KeyDescription, KmsError> {
        self.kms.describe_impl(caller, key_id, Some(&self.service))
    }
}

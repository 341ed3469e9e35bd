//! The local KMS's audit trail: one event per call, allowed or not, shaped like an AWS
//! CloudTrail record for KMS; a bounded in-memory log; optional JSON-lines file; call counts
//! per credential and operation; a cost estimate per credential.
//!
//! Events never contain key material: only key ids, the (non-secret) encryption context, the
//! key spec and error codes.

use super::counts::Counts;
pub use super::counts::DEFAULT_COUNTED_CREDENTIALS;
use super::denial::{Denial, Enforcement};
use crate::format::EncryptionContext;
use crate::kms::{Credential, KmsError, KmsErrorKind};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Default number of events kept in memory.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// A KMS API operation, named as CloudTrail's `eventName`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// `GenerateDataKey`.
    GenerateDataKey,
    /// `Decrypt`.
    Decrypt,
    /// `Encrypt`.
    Encrypt,
    /// `DescribeKey`.
    DescribeKey,
    /// `CreateKey`.
    CreateKey,
    /// `CreateAlias`.
    CreateAlias,
    /// `DeleteAlias`.
    DeleteAlias,
    /// `ListAliases`.
    ListAliases,
    /// `ListKeys`.
    ListKeys,
    /// `EnableKey`.
    EnableKey,
    /// `DisableKey`.
    DisableKey,
    /// `ScheduleKeyDeletion`.
    ScheduleKeyDeletion,
    /// `CancelKeyDeletion`.
    CancelKeyDeletion,
    /// `GetKeyPolicy`.
    GetKeyPolicy,
    /// `PutKeyPolicy`.
    PutKeyPolicy,
    /// `GenerateDataKeyWithoutPlaintext`.
    GenerateDataKeyWithoutPlaintext,
    /// `ReEncrypt` (authorized as `kms:ReEncryptFrom` on the source key and `kms:ReEncryptTo` on the destination key).
    ReEncrypt,
    /// `GenerateRandom`.
    GenerateRandom,
    /// `TagResource`.
    TagResource,
    /// `UntagResource`.
    UntagResource,
    /// `ListResourceTags`.
    ListResourceTags,
    /// `CreateGrant`.
    CreateGrant,
    /// `ListGrants`.
    ListGrants,
    /// `ListRetirableGrants`.
    ListRetirableGrants,
    /// `RetireGrant`.
    RetireGrant,
    /// `RevokeGrant`.
    RevokeGrant,
}

impl Operation {
    /// The API name (`GenerateDataKey`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::GenerateDataKey => "GenerateDataKey",
            Self::Decrypt => "Decrypt",
            Self::Encrypt => "Encrypt",
            Self::DescribeKey => "DescribeKey",
            Self::CreateKey => "CreateKey",
            Self::CreateAlias => "CreateAlias",
            Self::DeleteAlias => "DeleteAlias",
            Self::ListAliases => "ListAliases",
            Self::ListKeys => "ListKeys",
            Self::EnableKey => "EnableKey",
            Self::DisableKey => "DisableKey",
            Self::ScheduleKeyDeletion => "ScheduleKeyDeletion",
            Self::CancelKeyDeletion => "CancelKeyDeletion",
            Self::GetKeyPolicy => "GetKeyPolicy",
            Self::PutKeyPolicy => "PutKeyPolicy",
            Self::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            Self::ReEncrypt => "ReEncrypt",
            Self::GenerateRandom => "GenerateRandom",
            Self::TagResource => "TagResource",
            Self::UntagResource => "UntagResource",
            Self::ListResourceTags => "ListResourceTags",
            Self::CreateGrant => "CreateGrant",
            Self::ListGrants => "ListGrants",
            Self::ListRetirableGrants => "ListRetirableGrants",
            Self::RetireGrant => "RetireGrant",
            Self::RevokeGrant => "RevokeGrant",
        }
    }

    /// The IAM action (`kms:GenerateDataKey`, ...).
    pub fn action(self) -> &'static str {
        match self {
            Self::GenerateDataKey => "kms:GenerateDataKey",
            Self::Decrypt => "kms:Decrypt",
            Self::Encrypt => "kms:Encrypt",
            Self::DescribeKey => "kms:DescribeKey",
            Self::CreateKey => "kms:CreateKey",
            Self::CreateAlias => "kms:CreateAlias",
            Self::DeleteAlias => "kms:DeleteAlias",
            Self::ListAliases => "kms:ListAliases",
            Self::ListKeys => "kms:ListKeys",
            Self::EnableKey => "kms:EnableKey",
            Self::DisableKey => "kms:DisableKey",
            Self::ScheduleKeyDeletion => "kms:ScheduleKeyDeletion",
            Self::CancelKeyDeletion => "kms:CancelKeyDeletion",
            Self::GetKeyPolicy => "kms:GetKeyPolicy",
            Self::PutKeyPolicy => "kms:PutKeyPolicy",
            Self::GenerateDataKeyWithoutPlaintext => "kms:GenerateDataKeyWithoutPlaintext",
            Self::ReEncrypt => "kms:ReEncryptFrom",
            Self::GenerateRandom => "kms:GenerateRandom",
            Self::TagResource => "kms:TagResource",
            Self::UntagResource => "kms:UntagResource",
            Self::ListResourceTags => "kms:ListResourceTags",
            Self::CreateGrant => "kms:CreateGrant",
            Self::ListGrants => "kms:ListGrants",
            Self::ListRetirableGrants => "kms:ListRetirableGrants",
            Self::RetireGrant => "kms:RetireGrant",
            Self::RevokeGrant => "kms:RevokeGrant",
        }
    }

    /// Whether a principal of another account may make this call on a key of this account.
    ///
    /// AWS KMS allows cross-account use only for the cryptographic operations, `DescribeKey`
    /// and the grant operations on a key (`CreateGrant`, `ListGrants`, `RetireGrant`,
    /// `RevokeGrant`); other permissions granted to other accounts have no effect.
    pub fn cross_account(self) -> bool {
        matches!(
            self,
            Self::GenerateDataKey
                | Self::GenerateDataKeyWithoutPlaintext
                | Self::Decrypt
                | Self::Encrypt
                | Self::ReEncrypt
                | Self::DescribeKey
                | Self::CreateGrant
                | Self::ListGrants
                | Self::RetireGrant
                | Self::RevokeGrant
        )
    }

    /// Whether the call only reads (CloudTrail's `readOnly`).
    pub fn read_only(self) -> bool {
        matches!(
            self,
            Self::DescribeKey
                | Self::ListAliases
                | Self::ListKeys
                | Self::GetKeyPolicy
                | Self::ListResourceTags
                | Self::ListGrants
                | Self::ListRetirableGrants
        )
    }
}

/// One audit event. [`AuditEvent::to_json`] renders the CloudTrail shape.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    /// When the call was made.
    pub event_time: SystemTime,
    /// The operation.
    pub operation: Operation,
    /// The region of the local KMS.
    pub region: String,
    /// The account of the local KMS (`recipientAccountId`).
    pub recipient_account: String,
    /// The caller.
    pub caller: Credential,
    /// The service the call came through (`kinesisvideo.REGION.amazonaws.com`), if any.
    pub via_service: Option<String>,
    /// The `KeyId` request parameter as given (id, ARN, alias), if any.
    pub key_id: Option<String>,
    /// The encryption context of the request, if the operation takes one.
    pub encryption_context: Option<EncryptionContext>,
    /// Other request parameters (`keySpec`, `numberOfBytes`, `aliasName`, ...). Never secrets.
    pub extra_parameters: Vec<(&'static str, Value)>,
    /// The ARN of the key the call resolved to, if any (`resources`).
    pub resource_arn: Option<String>,
    /// The error code (`AccessDeniedException`, ...) and message when the call failed.
    pub error: Option<(String, String)>,
    /// The rule that decided the refusal, when the call was refused by policy, grant or key
    /// state (`"denial"`).
    pub denial: Option<Denial>,
    /// In [`Enforcement::Soft`]: the denial that was let through (`"wouldBeDenied": true`).
    pub would_be_denied: Option<Denial>,
    /// The enforcement in force for the call (`"enforcement"`, written in soft mode).
    pub enforcement: Enforcement,
    /// `requestID`.
    pub request_id: String,
    /// `eventID`.
    pub event_id: String,
}

impl AuditEvent {
    /// The event as a CloudTrail-shaped JSON record.
    pub fn to_json(&self) -> Value {
        let caller = &self.caller;
        let principal_type = if caller.principal_arn().ends_with(":root") {
            "Root"
        } else if caller.principal_arn().contains(":assumed-role/") {
            "AssumedRole"
        } else {
            "IAMUser"
        };
        let mut params = Map::new();
        if let Some(k) = &self.key_id {
            params.insert("keyId".into(), Value::String(k.clone()));
        }
        if let Some(ec) = &self.encryption_context {
            let m: Map<String, Value> = ec
                .iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                .collect();
            params.insert("encryptionContext".into(), Value::Object(m));
        }
        for (k, v) in &self.extra_parameters {
            params.insert((*k).to_owned(), v.clone());
        }
        let resources = match &self.resource_arn {
            Some(arn) => json!([{
                "accountId": self.recipient_account,
                "type": "AWS::KMS::Key",
                "ARN": arn,
            }]),
            None => Value::Null,
        };
        let mut v = json!({
            "eventVersion": "1.08",
            "userIdentity": {
                "type": principal_type,
                "principalId": caller.access_key_id(),
                "arn": caller.principal_arn(),
                "accountId": caller.account(),
                "accessKeyId": caller.access_key_id(),
                "invokedBy": self.via_service,
            },
            "eventTime": humantime::format_rfc3339_seconds(self.event_time).to_string(),
            "eventSource": "kms.amazonaws.com",
            "eventName": self.operation.name(),
            "awsRegion": self.region,
            "sourceIPAddress": self.via_service.as_deref().unwrap_or("127.0.0.1"),
            "userAgent": self.via_service.as_deref().unwrap_or("fragseal-localkms"),
            "requestParameters": Value::Object(params),
            "responseElements": Value::Null,
            "requestID": self.request_id,
            "eventID": self.event_id,
            "readOnly": self.operation.read_only(),
            "resources": resources,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": self.recipient_account,
            "eventCategory": "Management",
        });
        if let (Some((code, message)), Some(obj)) = (&self.error, v.as_object_mut()) {
            obj.insert("errorCode".into(), Value::String(code.clone()));
            obj.insert("errorMessage".into(), Value::String(message.clone()));
        }
        if let Some(obj) = v.as_object_mut() {
            if let Some(d) = &self.denial {
                obj.insert("denial".into(), d.to_json());
            }
            if self.enforcement == Enforcement::Soft {
                obj.insert("enforcement".into(), Value::from("soft"));
                if let Some(d) = &self.would_be_denied {
                    obj.insert("wouldBeDenied".into(), Value::Bool(true));
                    obj.entry("denial").or_insert_with(|| d.to_json());
                }
            }
        }
        v
    }

    /// Whether the call failed.
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
}

/// A random UUID (version 4 layout) for request and event ids; not secret.
pub(crate) fn random_uuid() -> String {
    let mut b = [0u8; 16];
    crate::crypto::fill_random(&mut b);
    format_uuid(b)
}

/// Formats 16 bytes as a version-4 UUID string.
pub(crate) fn format_uuid(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

struct Ring {
    capacity: usize,
    events: VecDeque<Arc<AuditEvent>>,
    dropped: u64,
}

/// The audit log of a [`super::LocalKms`]. All methods take `&self`.
///
/// With a file ([`AuditLog::set_file`]) the log fails closed: a record that cannot be written
/// makes the KMS call fail with [`KmsErrorKind::AuditFailure`], and its result (a data key, a
/// blob) is not returned. A management call (CreateKey, PutKeyPolicy, ...) may then have taken
/// effect although it reports the failure; the in-memory log still holds its event.
pub struct AuditLog {
    ring: Mutex<Ring>,
    counts: Mutex<Counts>,
    file: Mutex<Option<File>>,
    file_errors: AtomicU64,
}

impl core::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl Default for AuditLog {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

fn poisoned() -> KmsError {
    KmsError::new(KmsErrorKind::Internal, "local KMS audit lock poisoned")
}

/// Opens `path` for appending without following a symbolic link at its last component.
///
/// Without `O_NOFOLLOW` in safe `std`: a missing file is created with `create_new` (which, as
/// `O_CREAT | O_EXCL`, never follows a link, dangling or not); an existing path is refused if
/// `symlink_metadata` says it is a link, then opened, and the opened file's device and inode
/// must be those `symlink_metadata` saw, so a link swapped in between is detected.
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::io::{Error, ErrorKind};
    let refuse_link = || {
        Error::new(
            ErrorKind::InvalidInput,
            format!(
                "audit log {} is a symbolic link; refusing to follow it",
                path.display()
            ),
        )
    };
    for _ in 0..2 {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let mut o = std::fs::OpenOptions::new();
                o.append(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    o.mode(0o600);
                }
                match o.open(path) {
                    Ok(f) => return Ok(f),
                    // Created (or linked) by someone else meanwhile: look again.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
            Ok(meta) if meta.file_type().is_symlink() => return Err(refuse_link()),
            Ok(meta) => {
                let f = std::fs::OpenOptions::new().append(true).open(path)?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::MetadataExt;
                    let opened = f.metadata()?;
                    if opened.dev() != meta.dev() || opened.ino() != meta.ino() {
                        return Err(refuse_link());
                    }
                }
                #[cfg(not(unix))]
                let _ = meta;
                return Ok(f);
            }
        }
    }
    Err(Error::other(format!(
        "audit log {} keeps changing; not opened",
        path.display()
    )))
}

impl AuditLog {
    /// A log keeping at most `capacity` events in memory (oldest dropped first).
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: Mutex::new(Ring {
                capacity,
                events: VecDeque::with_capacity(capacity.min(1024)),
                dropped: 0,
            }),
            counts: Mutex::new(Counts::new(DEFAULT_COUNTED_CREDENTIALS)),
            file: Mutex::new(None),
            file_errors: AtomicU64::new(0),
        }
    }

    /// Records an event: counts it, keeps it in memory, appends it to the file if any.
    ///
    /// # Errors
    /// [`KmsErrorKind::AuditFailure`] when the file write (or its flush) fails, or a lock is
    /// poisoned; the event is still counted and kept in memory.
    pub(crate) fn record(&self, event: AuditEvent) -> Result<(), KmsError> {
        match self.counts.lock() {
            Ok(mut c) => c.add(&event.caller, event.operation),
            Err(_) => return Err(poisoned()),
        }
        let event = Arc::new(event);
        let written = match self.file.lock() {
            Ok(mut guard) => match guard.as_mut() {
                Some(f) => {
                    let mut line = event.to_json().to_string();
                    line.push('\n');
                    f.write_all(line.as_bytes())
                        .and_then(|()| f.flush())
                        .map_err(|e| {
                            self.file_errors.fetch_add(1, Ordering::Relaxed);
                            KmsError::new(
                                KmsErrorKind::AuditFailure,
                                format!(
                                    "the audit record of this {} call could not be written ({e}); \
                                 the call's result is withheld",
                                    event.operation.name()
                                ),
                            )
                            .with_source(e)
                        })
                }
                None => Ok(()),
            },
            Err(_) => Err(KmsError::new(
                KmsErrorKind::AuditFailure,
                "audit file lock poisoned",
            )),
        };
        if let Ok(mut r) = self.ring.lock() {
            if r.capacity == 0 {
                r.dropped += 1;
            } else {
                while r.events.len() >= r.capacity {
                    r.events.pop_front();
                    r.dropped += 1;
                }
                r.events.push_back(event);
            }
        }
        written
    }

    /// Counts calls apart for at most `credentials` credentials (default
    /// [`DEFAULT_COUNTED_CREDENTIALS`]); beyond that the credential whose last call is oldest is
    /// evicted, and its counts are kept only in the totals ([`AuditLog::count_operation`],
    /// [`AuditLog::evicted_counts`]). Shrinking evicts at once.
    pub fn set_counted_credentials(&self, credentials: usize) {
        if let Ok(mut c) = self.counts.lock() {
            c.capacity = credentials;
            c.shrink();
        }
    }

    /// How many credentials are counted apart now.
    pub fn counted_credentials(&self) -> usize {
        self.counts
            .lock()
            .map(|c| c.by_credential.len())
            .unwrap_or(0)
    }

    /// Counts of the credentials evicted from the per-credential table, by operation, and how
    /// many credentials were evicted.
    pub fn evicted_counts(&self) -> (BTreeMap<Operation, u64>, u64) {
        self.counts
            .lock()
            .map(|c| (c.evicted.clone(), c.evicted_credentials))
            .unwrap_or_default()
    }

    /// Changes how many events are kept in memory (dropping the oldest if needed).
    pub fn set_capacity(&self, capacity: usize) {
        if let Ok(mut r) = self.ring.lock() {
            r.capacity = capacity;
            while r.events.len() > capacity {
                r.events.pop_front();
                r.dropped += 1;
            }
        }
    }

    /// Appends every following event as one JSON line to `path`; `None` stops writing.
    ///
    /// The file is created if missing (mode 0600) and never through a symbolic link: a path
    /// that is a link (even a dangling one) is refused. Once a file is set, a record that cannot
    /// be written fails the call it records (see [`AuditLog`]).
    ///
    /// # Errors
    /// The I/O error opening the file; `InvalidInput` for a symbolic link.
    pub fn set_file(&self, path: Option<&Path>) -> std::io::Result<()> {
        let file = match path {
            Some(p) => Some(open_no_follow(p)?),
            None => None,
        };
        let mut g = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("audit file lock poisoned"))?;
        *g = file;
        Ok(())
    }

    /// Number of events that could not be written to the file.
    pub fn file_errors(&self) -> u64 {
        self.file_errors.load(Ordering::Relaxed)
    }

    /// The events in memory, oldest first.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.ring
            .lock()
            .map(|r| r.events.iter().map(|e| (**e).clone()).collect())
            .unwrap_or_default()
    }

    /// The events in memory as CloudTrail-shaped JSON, oldest first.
    pub fn events_json(&self) -> Vec<Value> {
        self.ring
            .lock()
            .map(|r| r.events.iter().map(|e| e.to_json()).collect())
            .unwrap_or_default()
    }

    /// Number of events dropped from memory because the log was full.
    pub fn dropped(&self) -> u64 {
        self.ring.lock().map(|r| r.dropped).unwrap_or(0)
    }

    /// Number of calls of `operation` made by `caller` (allowed or not), since creation or the
    /// last [`AuditLog::clear`]. Counts are not bounded by the in-memory event capacity, but a
    /// credential evicted from the per-credential table (see
    /// [`AuditLog::set_counted_credentials`]) starts again from 0.
    pub fn count(&self, caller: &Credential, operation: Operation) -> u64 {
        self.counts
            .lock()
            .ok()
            .and_then(|c| {
                c.by_credential
                    .get(caller)
                    .and_then(|cc| cc.ops.get(&operation).copied())
            })
            .unwrap_or(0)
    }

    /// Number of calls of `operation` by every caller, evicted credentials included.
    pub fn count_operation(&self, operation: Operation) -> u64 {
        self.counts
            .lock()
            .map(|c| {
                c.by_credential
                    .values()
                    .filter_map(|cc| cc.ops.get(&operation))
                    .sum::<u64>()
                    + c.evicted.get(&operation).copied().unwrap_or(0)
            })
            .unwrap_or(0)
    }

    /// The counts of the credentials counted apart, by credential then operation.
    pub fn counts(&self) -> BTreeMap<Credential, BTreeMap<Operation, u64>> {
        self.counts
            .lock()
            .map(|c| {
                c.by_credential
                    .iter()
                    .map(|(cred, cc)| (cred.clone(), cc.ops.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Estimated request cost per credential at `price_per_10k_requests` (AWS KMS charges per
    /// 10,000 requests; every call counted here is priced, errors included).
    pub fn cost_estimate(&self, price_per_10k_requests: f64) -> BTreeMap<Credential, f64> {
        self.counts()
            .into_iter()
            .map(|(cred, ops)| {
                let n: u64 = ops.values().sum();
                // Request counts stay far below 2^53, where u64 → f64 is exact.
                #[allow(clippy::cast_precision_loss)]
                let cost = n as f64 * price_per_10k_requests / 10_000.0;
                (cred, cost)
            })
            .collect()
    }

    /// Forgets events and counts.
    pub fn clear(&self) {
        if let Ok(mut r) = self.ring.lock() {
            r.events.clear();
            r.dropped = 0;
        }
        if let Ok(mut c) = self.counts.lock() {
            c.clear();
        }
    }

    /// Fails closed if a lock was poisoned (used by the KMS before serving a call).
    pub(crate) fn check(&self) -> Result<(), KmsError> {
        if self.ring.is_poisoned() || self.counts.is_poisoned() {
            return Err(poisoned());
        }
        Ok(())
    }
}

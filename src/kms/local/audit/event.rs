//! One audit event and its CloudTrail-shaped JSON record.

use super::origin::RequestOrigin;
use super::Operation;
use crate::format::EncryptionContext;
use crate::kms::local::denial::{Denial, Enforcement};
use crate::kms::Credential;
use serde_json::{json, Map, Value};
use std::time::SystemTime;

/// One audit event. [`AuditEvent::to_json`] renders the CloudTrail shape.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    /// When the call was made.
    pub event_time: SystemTime,
    /// The operation.
    pub operation: Operation,
    /// The region of the local KMS.
    pub region: String,
    /// The key's owner, or the caller's account for an account-level call
    /// (`recipientAccountId`).
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
    /// Where the request came from ([`LocalKms::with_origin`](crate::kms::local::LocalKms::with_origin)), if known: then
    /// `sourceIPAddress`, `userAgent` and `requestID` are its values.
    pub origin: Option<RequestOrigin>,
    /// `requestID`.
    pub request_id: String,
    /// `eventID`.
    pub event_id: String,
}

impl AuditEvent {
    /// The event as a CloudTrail-shaped JSON record.
    pub fn to_json(&self) -> Value {
        let caller = &self.caller;
        let principal_type = principal_type(caller);
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
            "sourceIPAddress": self.origin.as_ref().map_or_else(
                || self.via_service.as_deref().unwrap_or("127.0.0.1"),
                |o| o.source_ip.as_str(),
            ),
            "userAgent": self.origin.as_ref().map_or_else(
                || self.via_service.as_deref().unwrap_or("fragseal-localkms"),
                |o| o.user_agent.as_str(),
            ),
            "requestParameters": Value::Object(params),
            "responseElements": Value::Null,
            "requestID": self.origin.as_ref().map_or(&self.request_id, |o| &o.request_id),
            "eventID": self.event_id,
            "readOnly": self.operation.read_only(),
            "resources": resources,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": self.recipient_account,
            "eventCategory": "Management",
        });
        // An assumed-role session: CloudTrail's sessionContext.sessionIssuer names the role.
        if let Some((account, role)) =
            crate::kms::local::policy::role_of_session(caller.principal_arn())
        {
            v["userIdentity"]["sessionContext"] = json!({
                "sessionIssuer": {
                    "type": "Role",
                    "arn": format!("arn:aws:iam::{account}:role/{role}"),
                    "accountId": account,
                    "userName": role,
                },
            });
        }
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

/// How many random bytes [`random_uuid`] draws from the OS at once: 16 ids per `getrandom`.
const ID_POOL_BYTES: usize = 256;

/// A thread's random bytes for ids, drawn from the OS [`ID_POOL_BYTES`] at a time.
struct IdPool {
    bytes: [u8; ID_POOL_BYTES],
    /// Bytes of `bytes` already handed out.
    used: usize,
    /// The process that drew `bytes`.
    pid: u32,
}

impl IdPool {
    /// The next 16 unused bytes, refilling from the OS when the pool is spent or the process
    /// is not the one that drew it (a `fork`ed child must not replay its parent's ids).
    fn take16(&mut self) -> [u8; 16] {
        let pid = std::process::id();
        if self.used + 16 > ID_POOL_BYTES || self.pid != pid {
            crate::crypto::fill_random(&mut self.bytes);
            self.used = 0;
            self.pid = pid;
        }
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.bytes[self.used..self.used + 16]);
        self.used += 16;
        b
    }
}

thread_local! {
    static IDS: core::cell::RefCell<IdPool> = const {
        core::cell::RefCell::new(IdPool {
            bytes: [0; ID_POOL_BYTES],
            used: ID_POOL_BYTES,
            pid: 0,
        })
    };
}

/// A random UUID (version 4 layout) for request and event ids; not secret, but unique.
///
/// Each id is 16 fresh bytes of the operating system's generator, never reused: they are
/// drawn 256 at a time into a per-thread pool instead of one `getrandom` call per id (three
/// ids per served request). The pool is never used for secrets. It remembers the process
/// that filled it and is refilled in a `fork`ed child before its first id, so a child
/// cannot repeat ids its parent had left in the pool.
pub(crate) fn random_uuid() -> String {
    let b = IDS
        .try_with(|p| p.borrow_mut().take16())
        .unwrap_or_else(|_| {
            // During thread teardown the pool may be gone: draw these 16 bytes directly.
            let mut b = [0u8; 16];
            crate::crypto::fill_random(&mut b);
            b
        });
    format_uuid(b)
}

/// Formats 16 bytes as a version-4 UUID string.
pub(crate) fn format_uuid(mut b: [u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(byte >> 4)]));
        s.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    s
}

/// CloudTrail's `userIdentity.type` of `caller`.
pub(super) fn principal_type(caller: &Credential) -> &'static str {
    if caller.principal_arn().ends_with(":root") {
        "Root"
    } else if caller.principal_arn().contains(":assumed-role/") {
        "AssumedRole"
    } else {
        "IAMUser"
    }
}

#[cfg(test)]
mod uuid_tests {
    use super::*;

    #[test]
    fn format_is_the_version_4_layout() {
        let b: [u8; 16] = core::array::from_fn(|i| u8::try_from(i * 17).expect("byte"));
        assert_eq!(format_uuid(b), "00112233-4455-4677-8899-aabbccddeeff");
        assert_eq!(
            format_uuid([0xff; 16]),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(format_uuid([0; 16]), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn ids_are_distinct_across_pool_refills_and_threads() {
        let draw = || {
            (0..3 * ID_POOL_BYTES / 16 + 5)
                .map(|_| random_uuid())
                .collect::<Vec<_>>()
        };
        let mut all: Vec<String> = std::thread::scope(|s| {
            let other = s.spawn(draw);
            let mut mine = draw();
            mine.extend(other.join().expect("thread"));
            mine
        });
        for id in &all {
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "4");
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}

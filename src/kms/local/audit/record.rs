//! The audit line of an [`AuditEvent`], serialized straight from the event's fields.
//!
//! [`AuditEvent::to_json`] builds a `serde_json::Value` tree; writing one per call (allocate a
//! map per object and a `String` per key and value, serialize, drop) cost about a fifth of the
//! instructions of a served `Decrypt`. [`write_line`] writes the same bytes without the tree.
//!
//! The bytes must stay those of `serde_json::to_string(&event.to_json())`: this crate's
//! `serde_json` keeps object keys sorted (a `BTreeMap`, no `preserve_order`), so every object
//! here emits its keys in byte order, and strings go through `serde_json`'s own escaping.
//! The tests in `record_tests.rs` compare both renderings.

use super::event::{principal_type, AuditEvent};
use crate::kms::local::denial::Enforcement;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::Value;

/// Appends the event's CloudTrail record, as one JSON line (with its `\n`), to `out`.
pub(crate) fn write_line(event: &AuditEvent, out: &mut Vec<u8>) {
    // Writing to a Vec fails only if a `Serialize` impl reports an error, and none here does.
    if serde_json::to_writer(&mut *out, &Record(event)).is_err() {
        out.clear();
        serde_json::to_writer(&mut *out, &event.to_json()).unwrap_or_default();
    }
    out.push(b'\n');
}

/// The whole record. Keys in byte order: see the module documentation.
struct Record<'a>(&'a AuditEvent);

impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let soft = e.enforcement == Enforcement::Soft;
        let denial = e
            .denial
            .as_ref()
            .or_else(|| e.would_be_denied.as_ref().filter(|_| soft));
        let request_id = e.origin.as_ref().map_or(&e.request_id, |o| &o.request_id);
        let source_ip = e.origin.as_ref().map_or_else(
            || e.via_service.as_deref().unwrap_or("127.0.0.1"),
            |o| o.source_ip.as_str(),
        );
        let user_agent = e.origin.as_ref().map_or_else(
            || e.via_service.as_deref().unwrap_or("fragseal-localkms"),
            |o| o.user_agent.as_str(),
        );
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("awsRegion", &e.region)?;
        if let Some(d) = denial {
            m.serialize_entry("denial", &d.to_json())?;
        }
        if soft {
            m.serialize_entry("enforcement", "soft")?;
        }
        if let Some((code, message)) = &e.error {
            m.serialize_entry("errorCode", code)?;
            m.serialize_entry("errorMessage", message)?;
        }
        m.serialize_entry("eventCategory", "Management")?;
        m.serialize_entry("eventID", &e.event_id)?;
        m.serialize_entry("eventName", e.operation.name())?;
        m.serialize_entry("eventSource", "kms.amazonaws.com")?;
        m.serialize_entry(
            "eventTime",
            &format_args!("{}", humantime::format_rfc3339_seconds(e.event_time)),
        )?;
        m.serialize_entry("eventType", "AwsApiCall")?;
        m.serialize_entry("eventVersion", "1.08")?;
        m.serialize_entry("managementEvent", &true)?;
        m.serialize_entry("readOnly", &e.operation.read_only())?;
        m.serialize_entry("recipientAccountId", &e.recipient_account)?;
        m.serialize_entry("requestID", request_id)?;
        m.serialize_entry("requestParameters", &Parameters(e))?;
        match &e.resource_arn {
            Some(arn) => m.serialize_entry(
                "resources",
                &Resources {
                    account: &e.recipient_account,
                    arn,
                },
            )?,
            None => m.serialize_entry("resources", &())?,
        }
        m.serialize_entry("responseElements", &())?;
        m.serialize_entry("sourceIPAddress", source_ip)?;
        m.serialize_entry("userAgent", user_agent)?;
        m.serialize_entry("userIdentity", &Identity(e))?;
        if soft && e.would_be_denied.is_some() {
            m.serialize_entry("wouldBeDenied", &true)?;
        }
        m.end()
    }
}

/// `userIdentity`.
struct Identity<'a>(&'a AuditEvent);

impl Serialize for Identity<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let caller = &self.0.caller;
        let arn = caller.principal_arn();
        let kind = principal_type(caller);
        // Only an assumed-role ARN can name a session issuer; skip the parse for the others.
        let issuer = if kind == "AssumedRole" {
            crate::kms::local::policy::role_of_session(arn)
        } else {
            None
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("accessKeyId", caller.access_key_id())?;
        m.serialize_entry("accountId", caller.account())?;
        m.serialize_entry("arn", arn)?;
        m.serialize_entry("invokedBy", &self.0.via_service)?;
        m.serialize_entry("principalId", caller.access_key_id())?;
        if let Some((account, role)) = issuer {
            m.serialize_entry("sessionContext", &SessionContext { account, role })?;
        }
        m.serialize_entry("type", kind)?;
        m.end()
    }
}

/// `userIdentity.sessionContext` of an assumed-role session.
struct SessionContext<'a> {
    account: &'a str,
    role: &'a str,
}

impl Serialize for SessionContext<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Issuer<'a>(&'a SessionContext<'a>);
        impl Serialize for Issuer<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let SessionContext { account, role } = self.0;
                let mut m = s.serialize_map(Some(4))?;
                m.serialize_entry("accountId", account)?;
                m.serialize_entry("arn", &format_args!("arn:aws:iam::{account}:role/{role}"))?;
                m.serialize_entry("type", "Role")?;
                m.serialize_entry("userName", role)?;
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("sessionIssuer", &Issuer(self))?;
        m.end()
    }
}

/// `resources`: the one key the call resolved to.
struct Resources<'a> {
    account: &'a str,
    arn: &'a str,
}

impl Serialize for Resources<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Resource<'a>(&'a Resources<'a>);
        impl Serialize for Resource<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // "ARN" before "accountId": upper case sorts first.
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("ARN", self.0.arn)?;
                m.serialize_entry("accountId", self.0.account)?;
                m.serialize_entry("type", "AWS::KMS::Key")?;
                m.end()
            }
        }
        let mut seq = s.serialize_seq(Some(1))?;
        seq.serialize_element(&Resource(self))?;
        seq.end()
    }
}

/// One value of `requestParameters`.
enum Param<'a> {
    Str(&'a str),
    Context(&'a crate::format::EncryptionContext),
    Value(&'a Value),
}

impl Serialize for Param<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Param::Str(v) => s.serialize_str(v),
            // A BTreeMap<String, String>: already in byte order.
            Param::Context(ec) => ec.as_map().serialize(s),
            Param::Value(v) => v.serialize(s),
        }
    }
}

/// `requestParameters`: `keyId`, `encryptionContext`, then the extra parameters, a later
/// one replacing an earlier one of the same name (as inserting into the map does), sorted.
struct Parameters<'a>(&'a AuditEvent);

impl Serialize for Parameters<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut params: Vec<(&str, Param<'_>)> = Vec::with_capacity(2 + e.extra_parameters.len());
        if let Some(k) = &e.key_id {
            params.push(("keyId", Param::Str(k)));
        }
        if let Some(ec) = &e.encryption_context {
            params.push(("encryptionContext", Param::Context(ec)));
        }
        params.extend(
            e.extra_parameters
                .iter()
                .map(|(k, v)| (*k, Param::Value(v))),
        );
        // Stable: among equal names the last inserted stays last, and is the one kept.
        params.sort_by_key(|p| p.0);
        let mut m = s.serialize_map(None)?;
        for (i, (k, v)) in params.iter().enumerate() {
            if params.get(i + 1).is_some_and(|next| next.0 == *k) {
                continue;
            }
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

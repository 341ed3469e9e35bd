//! Requests refused before they reached the KMS (by a server in front of it: bad signature,
//! unknown access key, malformed body, unknown operation), as CloudTrail-shaped records.

use super::origin::RequestOrigin;
use crate::kms::Credential;
use serde_json::{json, Value};
use std::time::SystemTime;

/// A request refused before the KMS saw it; recorded with
/// [`AuditLog::record_rejected`](super::AuditLog::record_rejected).
#[derive(Clone, Debug)]
pub struct RejectedRequest {
    /// When it arrived.
    pub time: SystemTime,
    /// The operation named (`X-Amz-Target`'s suffix), or what is known of it.
    pub event_name: String,
    /// The access key id the request named, if any (not verified).
    pub access_key_id: Option<String>,
    /// The verified caller, when the signature verified but the request was refused anyway
    /// (malformed body, unknown operation): then `userIdentity` is that identity.
    pub caller: Option<Credential>,
    /// Where it came from.
    pub origin: RequestOrigin,
    /// The AWS error code answered (`InvalidSignatureException`, ...).
    pub error_code: String,
    /// The error message answered.
    pub message: String,
    /// The region served.
    pub region: String,
    /// The account the request was for, when known (`recipientAccountId`).
    pub recipient_account: Option<String>,
}

impl RejectedRequest {
    /// The CloudTrail-shaped record: `userIdentity.type` is `"Unknown"` (with the access key
    /// id when one was named) unless the caller was verified.
    pub fn to_json(&self, event_id: &str) -> Value {
        let identity = match &self.caller {
            Some(c) => json!({
                "type": super::event::principal_type(c),
                "principalId": c.access_key_id(),
                "arn": c.principal_arn(),
                "accountId": c.account(),
                "accessKeyId": c.access_key_id(),
            }),
            None => match &self.access_key_id {
                Some(k) => json!({"type": "Unknown", "accessKeyId": k}),
                None => json!({"type": "Unknown"}),
            },
        };
        let recipient = self
            .recipient_account
            .clone()
            .or_else(|| self.caller.as_ref().map(|c| c.account().to_owned()));
        json!({
            "eventVersion": "1.08",
            "userIdentity": identity,
            "eventTime": humantime::format_rfc3339_seconds(self.time).to_string(),
            "eventSource": "kms.amazonaws.com",
            "eventName": self.event_name,
            "awsRegion": self.region,
            "sourceIPAddress": self.origin.source_ip,
            "userAgent": self.origin.user_agent,
            "errorCode": self.error_code,
            "errorMessage": self.message,
            "requestParameters": Value::Null,
            "responseElements": Value::Null,
            "requestID": self.origin.request_id,
            "eventID": event_id,
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": recipient,
            "eventCategory": "Management",
        })
    }
}

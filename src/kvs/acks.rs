//! PutMedia acknowledgements, as KVS sends them: one JSON object per line,
//! `{"EventType":"PERSISTED","FragmentTimecode":1000,"FragmentNumber":"..."}`, with `ErrorId`
//! on `ERROR`.

use super::errors::ErrorId;
use serde::{Deserialize, Serialize};

/// `EventType` of an acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AckEventType {
    /// The fragment has started arriving.
    Buffering,
    /// The whole fragment has arrived (not yet durable).
    Received,
    /// The fragment is sealed and durable (or, with retention 0, sealed and dropped).
    Persisted,
    /// The fragment failed; `ErrorId` says why. Nothing of it was persisted.
    Error,
    /// The producer is connected but sent nothing (its reader answered `WouldBlock` or
    /// `TimedOut`).
    Idle,
}

/// One acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Ack {
    /// `EventType`.
    pub event_type: AckEventType,
    /// `FragmentTimecode`: the Cluster's timecode as the producer wrote it, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment_timecode: Option<u64>,
    /// `FragmentNumber` (assigned at `RECEIVED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment_number: Option<String>,
    /// `ErrorId`, on `ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_id: Option<u32>,
}

impl Ack {
    pub(crate) fn buffering(timecode: u64) -> Self {
        Self {
            event_type: AckEventType::Buffering,
            fragment_timecode: Some(timecode),
            fragment_number: None,
            error_id: None,
        }
    }

    pub(crate) fn received(timecode: u64, number: &str) -> Self {
        Self {
            event_type: AckEventType::Received,
            fragment_timecode: Some(timecode),
            fragment_number: Some(number.to_owned()),
            error_id: None,
        }
    }

    pub(crate) fn persisted(timecode: u64, number: &str) -> Self {
        Self {
            event_type: AckEventType::Persisted,
            fragment_timecode: Some(timecode),
            fragment_number: Some(number.to_owned()),
            error_id: None,
        }
    }

    pub(crate) fn error(timecode: Option<u64>, number: Option<&str>, id: ErrorId) -> Self {
        Self {
            event_type: AckEventType::Error,
            fragment_timecode: timecode,
            fragment_number: number.map(str::to_owned),
            error_id: Some(id.id()),
        }
    }

    pub(crate) fn idle() -> Self {
        Self {
            event_type: AckEventType::Idle,
            fragment_timecode: None,
            fragment_number: None,
            error_id: None,
        }
    }

    /// The JSON line KVS sends (without the newline).
    pub fn to_json(&self) -> String {
        // Serializing this struct of strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_use_kvs_field_names() {
        assert_eq!(
            Ack::persisted(1000, "00000000000000000001").to_json(),
            r#"{"EventType":"PERSISTED","FragmentTimecode":1000,"FragmentNumber":"00000000000000000001"}"#
        );
        assert_eq!(
            Ack::error(Some(0), None, ErrorId::KmsAccessDenied).to_json(),
            r#"{"EventType":"ERROR","FragmentTimecode":0,"ErrorId":4500}"#
        );
        assert_eq!(Ack::idle().to_json(), r#"{"EventType":"IDLE"}"#);
        let back: Ack = serde_json::from_str(&Ack::buffering(5).to_json()).unwrap();
        assert_eq!(back, Ack::buffering(5));
    }
}

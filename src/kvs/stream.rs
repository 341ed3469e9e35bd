//! Stream metadata: names, ARNs, the KMS key as KVS shows it, and the inputs of CreateStream,
//! UpdateStream and ListStreams.

use super::errors::KvsError;
use crate::kms::local::KINESIS_VIDEO_ALIAS;
use serde::{Deserialize, Serialize};

/// Longest stream name (the API reference's `StreamName` length limit).
pub const MAX_STREAM_NAME_LEN: usize = 256;
/// Longest `DeviceName` and `MediaType`.
pub const MAX_DEVICE_NAME_LEN: usize = 128;
/// Longest `KmsKeyId`.
pub const MAX_KMS_KEY_ID_LEN: usize = 2048;

/// A stream's status (`Status` in `StreamInfo`). This layer creates streams synchronously, so
/// a stream is `ACTIVE` as soon as CreateStream returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatus {
    /// `ACTIVE`.
    Active,
}

/// A stream as DescribeStream and ListStreams show it (`StreamInfo`), with KVS's field names
/// in its JSON form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StreamInfo {
    /// `DeviceName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// `StreamName`.
    pub stream_name: String,
    /// `StreamARN`: `arn:aws:kinesisvideo:REGION:ACCOUNT:stream/NAME/CREATION_MS`.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// `MediaType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// `KmsKeyId`: the key given at CreateStream, as given; without one, the ARN of the alias
    /// `aws/kinesisvideo` in the stream's account and region.
    pub kms_key_id: String,
    /// `Version`: changes at every UpdateStream.
    pub version: String,
    /// `Status`.
    pub status: StreamStatus,
    /// `CreationTime`, in milliseconds since the Unix epoch.
    pub creation_time: u64,
    /// `DataRetentionInHours` (0: nothing is kept).
    pub data_retention_in_hours: u32,
}

impl StreamInfo {
    /// The account that owns the stream (from its ARN).
    pub fn account(&self) -> &str {
        self.stream_arn.split(':').nth(4).unwrap_or_default()
    }

    /// Whether the stream uses the AWS-managed key (`aws/kinesisvideo`).
    pub fn uses_default_key(&self) -> bool {
        self.kms_key_id
            .ends_with(&format!(":{KINESIS_VIDEO_ALIAS}"))
            || self.kms_key_id == KINESIS_VIDEO_ALIAS
    }
}

/// CreateStream's input.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateStreamInput {
    /// `StreamName` (required): 1–256 characters of `[a-zA-Z0-9_.-]`.
    pub stream_name: String,
    /// `DeviceName`.
    #[serde(default)]
    pub device_name: Option<String>,
    /// `MediaType`, for example `video/h264`.
    #[serde(default)]
    pub media_type: Option<String>,
    /// `KmsKeyId`: a key id, key ARN, alias name or alias ARN. Not looked up now: the key is
    /// first used at PutMedia or GetMedia, as in KVS.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// `DataRetentionInHours` (default 0).
    #[serde(default)]
    pub data_retention_in_hours: u32,
}

impl CreateStreamInput {
    /// A stream called `name` with the defaults.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            stream_name: name.into(),
            ..Self::default()
        }
    }

    /// Sets `KmsKeyId`.
    pub fn with_kms_key_id(mut self, key: impl Into<String>) -> Self {
        self.kms_key_id = Some(key.into());
        self
    }

    /// Sets `DataRetentionInHours`.
    pub fn with_retention_hours(mut self, hours: u32) -> Self {
        self.data_retention_in_hours = hours;
        self
    }

    /// Sets `MediaType`.
    pub fn with_media_type(mut self, media_type: impl Into<String>) -> Self {
        self.media_type = Some(media_type.into());
        self
    }

    /// Sets `DeviceName`.
    pub fn with_device_name(mut self, device: impl Into<String>) -> Self {
        self.device_name = Some(device.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), KvsError> {
        validate_stream_name(&self.stream_name)?;
        validate_optional(
            "DeviceName",
            self.device_name.as_deref(),
            MAX_DEVICE_NAME_LEN,
        )?;
        validate_media_type(self.media_type.as_deref())?;
        if let Some(k) = &self.kms_key_id {
            if k.is_empty() || k.len() > MAX_KMS_KEY_ID_LEN || k.chars().any(char::is_control) {
                return Err(KvsError::invalid(format!(
                    "KmsKeyId must be 1 to {MAX_KMS_KEY_ID_LEN} printable characters"
                )));
            }
        }
        Ok(())
    }
}

/// Which stream a call names: by name or by ARN (exactly one, as the API requires).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamRef {
    /// `StreamName`, in the caller's account.
    Name(String),
    /// `StreamARN`.
    Arn(String),
}

impl StreamRef {
    /// From the optional `StreamName` and `StreamARN` of a request.
    ///
    /// # Errors
    /// `InvalidArgumentException` when both or neither are given.
    pub fn from_parts(name: Option<&str>, arn: Option<&str>) -> Result<Self, KvsError> {
        match (name, arn) {
            (Some(n), None) => Ok(StreamRef::Name(n.to_owned())),
            (None, Some(a)) => Ok(StreamRef::Arn(a.to_owned())),
            (Some(_), Some(_)) => Err(KvsError::invalid(
                "specify either StreamName or StreamARN, not both",
            )),
            (None, None) => Err(KvsError::invalid("StreamName or StreamARN is required")),
        }
    }
}

/// UpdateStream's input. The API has no `KmsKeyId`: a stream's key is fixed at CreateStream.
/// [`UpdateStreamInput::kms_key_id`] exists so that an emulator can pass along a request that
/// tries, and get KVS's answer (`InvalidArgumentException`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateStreamInput {
    /// The stream.
    pub stream: StreamRef,
    /// `CurrentVersion` (required).
    pub current_version: String,
    /// New `DeviceName`.
    pub device_name: Option<String>,
    /// New `MediaType`.
    pub media_type: Option<String>,
    /// A key the caller tries to set: always refused.
    pub kms_key_id: Option<String>,
    /// New `DataRetentionInHours` (UpdateDataRetention in KVS; accepted here too).
    pub data_retention_in_hours: Option<u32>,
}

/// ListStreams' input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListStreamsInput {
    /// `MaxResults` (1–10000; default 10000).
    pub max_results: Option<u32>,
    /// `NextToken` from a previous page.
    pub next_token: Option<String>,
    /// `StreamNameCondition` with `ComparisonOperator` `BEGINS_WITH`: the prefix.
    pub name_begins_with: Option<String>,
}

/// ListStreams' output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamsOutput {
    /// `StreamInfoList`.
    pub stream_info_list: Vec<StreamInfo>,
    /// `NextToken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `arn:aws:kinesisvideo:REGION:ACCOUNT:stream/NAME/CREATION_MS`.
pub fn stream_arn(region: &str, account: &str, name: &str, creation_ms: u64) -> String {
    format!("arn:aws:kinesisvideo:{region}:{account}:stream/{name}/{creation_ms:013}")
}

/// The (region, account, name, creation ms) of a stream ARN, if `arn` is one.
pub fn parse_stream_arn(arn: &str) -> Option<(&str, &str, &str, u64)> {
    let rest = arn.strip_prefix("arn:aws:kinesisvideo:")?;
    let mut parts = rest.splitn(3, ':');
    let region = parts.next().filter(|r| !r.is_empty())?;
    let account = parts.next().filter(|a| crate::arn::is_account_id(a))?;
    let resource = parts.next()?.strip_prefix("stream/")?;
    let (name, ms) = resource.rsplit_once('/')?;
    validate_stream_name(name).ok()?;
    if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((region, account, name, ms.parse().ok()?))
}

/// `StreamName`: 1–256 characters of `[a-zA-Z0-9_.-]`.
///
/// # Errors
/// `InvalidArgumentException`.
pub fn validate_stream_name(name: &str) -> Result<(), KvsError> {
    if name.is_empty()
        || name.len() > MAX_STREAM_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(KvsError::invalid(format!(
            "StreamName must be 1 to {MAX_STREAM_NAME_LEN} characters of [a-zA-Z0-9_.-]"
        )));
    }
    Ok(())
}

fn validate_optional(field: &str, value: Option<&str>, max: usize) -> Result<(), KvsError> {
    if let Some(v) = value {
        if v.is_empty()
            || v.len() > max
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(KvsError::invalid(format!(
                "{field} must be 1 to {max} characters of [a-zA-Z0-9_.-]"
            )));
        }
    }
    Ok(())
}

/// `MediaType`: 1–128 characters of `[\w\-\.\+]+/[\w\-\.\+]+` entries separated by commas.
pub(crate) fn validate_media_type(value: Option<&str>) -> Result<(), KvsError> {
    let Some(v) = value else { return Ok(()) };
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'))
    };
    let ok = v.len() <= MAX_DEVICE_NAME_LEN
        && v.split(',')
            .all(|t| t.split_once('/').is_some_and(|(a, b)| word(a) && word(b)));
    if ok {
        Ok(())
    } else {
        Err(KvsError::invalid(
            "MediaType must be type/subtype entries separated by commas, at most 128 characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_arns_round_trip_and_bad_ones_are_refused() {
        let arn = stream_arn("us-east-1", "111122223333", "cam-1", 1_700_000_000_123);
        assert_eq!(
            arn,
            "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1700000000123"
        );
        assert_eq!(
            parse_stream_arn(&arn),
            Some(("us-east-1", "111122223333", "cam-1", 1_700_000_000_123))
        );
        for bad in [
            "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1",
            "arn:aws:kinesisvideo:us-east-1:11112222333:stream/cam-1/1",
            "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam 1/1",
            "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1x",
            "arn:aws:kms:us-east-1:111122223333:stream/cam-1/1",
        ] {
            assert_eq!(parse_stream_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_and_media_types_are_validated() {
        assert!(validate_stream_name("a.b_c-1").is_ok());
        for bad in ["", "a/b", "a b", &"x".repeat(257)] {
            assert!(validate_stream_name(bad).is_err(), "{bad}");
        }
        assert!(validate_media_type(Some("video/h264,audio/aac")).is_ok());
        assert!(validate_media_type(Some("video")).is_err());
        assert!(validate_media_type(Some("video/h264,")).is_err());
    }
}

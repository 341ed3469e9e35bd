//! ListFragments and GetMediaForFragmentList (the archived-media API).

use super::authz::Action;
use super::errors::{ErrorId, FragmentFailure, KvsError};
use super::get_media::{write_failure, GetMediaSummary, TagSet};
use super::store::parse_fragment_number;
use super::stream::StreamRef;
use super::Kvs;
use crate::kms::Credential;
use serde::Serialize;
use std::io::Write;

/// Most fragment numbers GetMediaForFragmentList takes.
pub const MAX_FRAGMENT_LIST: usize = 1000;

/// `FragmentSelectorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragmentSelectorType {
    /// `PRODUCER_TIMESTAMP`.
    ProducerTimestamp,
    /// `SERVER_TIMESTAMP`.
    ServerTimestamp,
}

/// `FragmentSelector`: a type and an inclusive `TimestampRange` (ms since the Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentSelector {
    /// Which timestamp.
    pub selector_type: FragmentSelectorType,
    /// `StartTimestamp`.
    pub start_ms: u64,
    /// `EndTimestamp`.
    pub end_ms: u64,
}

/// ListFragments' input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListFragmentsInput {
    /// The stream.
    pub stream: StreamRef,
    /// `MaxResults` (1–1000; default 1000).
    pub max_results: Option<u32>,
    /// `NextToken`: the last fragment number of the previous page.
    pub next_token: Option<String>,
    /// `FragmentSelector`.
    pub selector: Option<FragmentSelector>,
}

/// One entry of ListFragments (`Fragment`), with KVS's field names; timestamps are seconds
/// since the Unix epoch, as the API's JSON has them.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Fragment {
    /// `FragmentNumber`.
    pub fragment_number: String,
    /// `FragmentSizeInBytes`.
    pub fragment_size_in_bytes: u64,
    /// `ProducerTimestamp`.
    pub producer_timestamp: f64,
    /// `ServerTimestamp`.
    pub server_timestamp: f64,
    /// `FragmentLengthInMilliseconds`.
    pub fragment_length_in_milliseconds: u64,
}

/// ListFragments' output.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFragmentsOutput {
    /// `Fragments`.
    pub fragments: Vec<Fragment>,
    /// `NextToken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

impl Kvs {
    /// ListFragments.
    ///
    /// # Errors
    /// `ResourceNotFoundException`, `NotAuthorizedException`, `InvalidArgumentException`
    /// (`MaxResults` outside 1–1000, a bad token, a reversed range), a store failure.
    pub fn list_fragments(
        &self,
        caller: &Credential,
        input: &ListFragmentsInput,
    ) -> Result<ListFragmentsOutput, KvsError> {
        let info = self.authorized(caller, &input.stream, Action::ListFragments)?;
        let max = input.max_results.unwrap_or(1000);
        if !(1..=1000).contains(&max) {
            return Err(KvsError::invalid("MaxResults must be between 1 and 1000"));
        }
        if let Some(t) = &input.next_token {
            parse_fragment_number(t).ok_or_else(|| KvsError::invalid("invalid NextToken"))?;
        }
        if let Some(s) = &input.selector {
            if s.start_ms > s.end_ms {
                return Err(KvsError::invalid("StartTimestamp is after EndTimestamp"));
            }
        }
        self.apply_retention(&info)?;
        let mut all: Vec<Fragment> = self
            .store
            .fragments(&info.stream_arn)?
            .into_iter()
            .filter(|f| {
                input
                    .next_token
                    .as_deref()
                    .is_none_or(|t| f.fragment_number.as_str() > t)
            })
            .filter(|f| {
                input.selector.is_none_or(|s| {
                    let ts = match s.selector_type {
                        FragmentSelectorType::ProducerTimestamp => f.producer_timestamp_ms,
                        FragmentSelectorType::ServerTimestamp => f.server_timestamp_ms,
                    };
                    (s.start_ms..=s.end_ms).contains(&ts)
                })
            })
            .map(|f| Fragment {
                fragment_number: f.fragment_number,
                fragment_size_in_bytes: f.size,
                producer_timestamp: secs(f.producer_timestamp_ms),
                server_timestamp: secs(f.server_timestamp_ms),
                fragment_length_in_milliseconds: f.duration_ms,
            })
            .collect();
        let more = all.len() > max as usize;
        all.truncate(max as usize);
        let next_token = more
            .then(|| all.last().map(|f| f.fragment_number.clone()))
            .flatten();
        Ok(ListFragmentsOutput {
            fragments: all,
            next_token,
        })
    }

    /// GetMediaForFragmentList: writes the named fragments, in the order given, each followed
    /// by this API's tags (`AWS_KINESISVIDEO_FRAGMENT_NUMBER`,
    /// `AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP`, `AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP`). A
    /// failure ends the output with `AWS_KINESISVIDEO_FRAGMENT_NUMBER` (the fragment that
    /// failed), `AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE` (the integer code: 4000 for a number
    /// that is not stored) and `AWS_KINESISVIDEO_EXCEPTION_MESSAGE`.
    ///
    /// # Errors
    /// `InvalidArgumentException` (no numbers, more than 1000, a malformed one),
    /// `ResourceNotFoundException`, `NotAuthorizedException`, a store failure, or
    /// `InternalFailure` when `out` fails.
    pub fn get_media_for_fragment_list<W: Write>(
        &self,
        caller: &Credential,
        stream: &StreamRef,
        numbers: &[String],
        out: &mut W,
    ) -> Result<GetMediaSummary, KvsError> {
        if numbers.is_empty() || numbers.len() > MAX_FRAGMENT_LIST {
            return Err(KvsError::invalid(format!(
                "Fragments must list 1 to {MAX_FRAGMENT_LIST} fragment numbers"
            )));
        }
        for n in numbers {
            parse_fragment_number(n)
                .ok_or_else(|| KvsError::invalid(format!("{n} is not a fragment number")))?;
        }
        let info = self.authorized(caller, stream, Action::GetMediaForFragmentList)?;
        self.apply_retention(&info)?;
        let stored = self.store.fragments(&info.stream_arn)?;
        let mut summary = GetMediaSummary::default();
        let set = TagSet::FragmentList;
        let engine = match self.reader_engine(caller, &info, false) {
            Ok(e) => e,
            Err(f) => {
                let first = numbers.first().map(String::as_str);
                write_failure(set, first, f, out, &mut summary)?;
                return Ok(summary);
            }
        };
        // Plaintext of the fragment being written; wiped on every way out.
        let mut buf = zeroize::Zeroizing::new(Vec::new());
        for n in numbers {
            let Some(meta) = stored.iter().find(|f| &f.fragment_number == n).cloned() else {
                let f = FragmentFailure::new(
                    ErrorId::FragmentNotFound,
                    format!("fragment {n} is not found"),
                );
                write_failure(set, Some(n), f, out, &mut summary)?;
                return Ok(summary);
            };
            let r = self.write_fragment(
                caller,
                &info,
                &engine,
                set,
                meta,
                &mut buf,
                out,
                &mut summary,
            )?;
            if let Err(f) = r {
                write_failure(set, Some(n), f, out, &mut summary)?;
                return Ok(summary);
            }
        }
        Ok(summary)
    }
}

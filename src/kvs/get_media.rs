//! GetMedia: stored fragments out as MKV, in fragment order, each carrying KVS's tags.
//!
//! Every fragment is one MKV document — EBML header, Segment of unknown size, the producer's
//! Info and Tracks, the Cluster — followed, inside the Segment, by a `Tags` element with
//! `AWS_KINESISVIDEO_FRAGMENT_NUMBER`, `AWS_KINESISVIDEO_SERVER_TIMESTAMP`,
//! `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP` (seconds since the Unix epoch with three decimals),
//! `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW` and `AWS_KINESISVIDEO_CONTINUATION_TOKEN` (the
//! fragment's number: a `CONTINUATION_TOKEN` selector resumes after it). A failure ends the
//! output with a `Tags` element holding `AWS_KINESISVIDEO_ERROR_CODE` and
//! `AWS_KINESISVIDEO_ERROR_ID` (4000: fragment not found; 4500–4506: the stream's KMS key;
//! 5000: internal, for example a stored fragment that does not authenticate).
//!
//! Each fragment is opened with the identity its metadata names (stream ARN, fragment number,
//! producer timestamp) and must carry `aws:kinesisvideo:arn` = the stream's ARN: a sealed
//! fragment moved to another number or stream in the store does not open.

use super::authz::Action;
use super::errors::{ErrorId, FragmentFailure, KvsError};
use super::mkvout::{element, tags, unknown_size_header};
use super::store::{parse_fragment_number, FragmentMeta};
use super::stream::{StreamInfo, StreamRef};
use super::{Kvs, STREAM_ARN_CONTEXT_KEY};
use crate::engine::{Engine, OpenRequest};
use crate::identity::{FragmentIdentity, IdentityCheck};
use crate::kms::Credential;
use crate::mkv::ids;
use std::io::Write;
use std::sync::Arc;

pub use super::mkvout::read_tags;

/// Tag names.
pub const TAG_FRAGMENT_NUMBER: &str = "AWS_KINESISVIDEO_FRAGMENT_NUMBER";
/// Tag names.
pub const TAG_SERVER_TIMESTAMP: &str = "AWS_KINESISVIDEO_SERVER_TIMESTAMP";
/// Tag names.
pub const TAG_PRODUCER_TIMESTAMP: &str = "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP";
/// Tag names.
pub const TAG_MILLIS_BEHIND_NOW: &str = "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW";
/// Tag names.
pub const TAG_CONTINUATION_TOKEN: &str = "AWS_KINESISVIDEO_CONTINUATION_TOKEN";
/// Tag names.
pub const TAG_ERROR_CODE: &str = "AWS_KINESISVIDEO_ERROR_CODE";
/// Tag names.
pub const TAG_ERROR_ID: &str = "AWS_KINESISVIDEO_ERROR_ID";

/// GetMedia's `StartSelector`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartSelector {
    /// `EARLIEST`: the oldest stored fragment.
    Earliest,
    /// `NOW`: fragments that arrive from now on (this layer returns what is stored, so none).
    Now,
    /// `FRAGMENT_NUMBER` with `AfterFragmentNumber`: from that fragment on (inclusive).
    FragmentNumber(String),
    /// `SERVER_TIMESTAMP` with `StartTimestamp` (ms): the first fragment at or after it.
    ServerTimestamp(u64),
    /// `PRODUCER_TIMESTAMP` with `StartTimestamp` (ms): the first fragment at or after it.
    ProducerTimestamp(u64),
    /// `CONTINUATION_TOKEN`: after the fragment whose chunk carried this token.
    ContinuationToken(String),
}

/// What a GetMedia (or GetMediaForFragmentList) call wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GetMediaSummary {
    /// Fragments written.
    pub fragments: u64,
    /// The continuation token of the last fragment written.
    pub continuation_token: Option<String>,
    /// The failure that ended the output (written as error tags), if any.
    pub failure: Option<FragmentFailure>,
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn write_err(e: std::io::Error) -> KvsError {
    KvsError::new(
        super::errors::KvsErrorKind::Internal,
        format!("writing the media failed ({}): {e}", ErrorId::WriteError),
    )
}

impl Kvs {
    /// GetMedia: writes the stream's fragments from `selector` on to `out`.
    ///
    /// # Errors
    /// `ResourceNotFoundException`, `NotAuthorizedException`, `InvalidArgumentException` (a
    /// malformed fragment number or token), a store failure, or `InternalFailure` when `out`
    /// fails (KVS's 3002). Key and fragment failures are written as error tags and reported in
    /// [`GetMediaSummary::failure`].
    pub fn get_media<W: Write>(
        &self,
        caller: &Credential,
        stream: &StreamRef,
        selector: &StartSelector,
        out: &mut W,
    ) -> Result<GetMediaSummary, KvsError> {
        let info = self.authorized(caller, stream, Action::GetMedia)?;
        self.apply_retention(&info)?;
        let all = self.store.fragments(&info.stream_arn)?;
        let check = |n: &str| {
            parse_fragment_number(n)
                .map(|_| ())
                .ok_or_else(|| KvsError::invalid(format!("{n} is not a fragment number")))
        };
        let now = self.now_ms();
        let start = match selector {
            StartSelector::Earliest => Ok(0),
            StartSelector::Now => Ok(all
                .iter()
                .take_while(|f| f.server_timestamp_ms < now)
                .count()),
            StartSelector::FragmentNumber(n) => {
                check(n)?;
                all.iter()
                    .position(|f| &f.fragment_number == n)
                    .ok_or(n.clone())
            }
            StartSelector::ServerTimestamp(t) => Ok(all
                .iter()
                .take_while(|f| f.server_timestamp_ms < *t)
                .count()),
            StartSelector::ProducerTimestamp(t) => Ok(all
                .iter()
                .position(|f| f.producer_timestamp_ms >= *t)
                .unwrap_or(all.len())),
            StartSelector::ContinuationToken(t) => {
                check(t)?;
                Ok(all
                    .iter()
                    .take_while(|f| f.fragment_number.as_str() <= t.as_str())
                    .count())
            }
        };
        let mut summary = GetMediaSummary::default();
        let metas: Vec<Result<FragmentMeta, String>> = match start {
            Ok(i) => all.into_iter().skip(i).map(Ok).collect(),
            Err(missing) => vec![Err(missing)],
        };
        self.write_fragments(caller, &info, metas, out, &mut summary)?;
        Ok(summary)
    }

    /// Writes `metas` in order (an `Err(number)` is a fragment that is not stored).
    pub(crate) fn write_fragments<W: Write>(
        &self,
        caller: &Credential,
        info: &StreamInfo,
        metas: Vec<Result<FragmentMeta, String>>,
        out: &mut W,
        summary: &mut GetMediaSummary,
    ) -> Result<(), KvsError> {
        let fail = |f: FragmentFailure, out: &mut W, summary: &mut GetMediaSummary| {
            let t = tags(&[
                (TAG_ERROR_CODE, f.error_id.name().to_owned()),
                (TAG_ERROR_ID, f.error_id.id().to_string()),
            ]);
            if summary.fragments == 0 {
                // A document of its own, so that the tags sit inside a Segment.
                let ebml = element(ids::EBML, &element(ids::DOC_TYPE, b"matroska"));
                out.write_all(&ebml).map_err(write_err)?;
                out.write_all(&unknown_size_header(ids::SEGMENT))
                    .map_err(write_err)?;
            }
            out.write_all(&t).map_err(write_err)?;
            summary.failure = Some(f);
            Ok::<(), KvsError>(())
        };
        // The key is resolved at every GetMedia, fragments or not: the managed key appears
        // in the account at the first GetMedia.
        let engine: Arc<Engine> = match self
            .resolve_key(caller, info)
            .and_then(|arn| self.engine(caller, &arn))
        {
            Ok(e) => e,
            Err(f) => return fail(f, out, summary),
        };
        if metas.is_empty() {
            // Nothing to decrypt: the key is still checked, so that a stream whose key is
            // missing, disabled or pending deletion fails GetMedia as KVS documents. A caller
            // that may not describe the key (least privilege: kms:Decrypt only) gets nothing
            // either way.
            if let Err(f) = self.probe_key(caller, info) {
                return fail(f, out, summary);
            }
        }
        // Plaintext of the fragment being written; wiped on every way out.
        let mut buf = zeroize::Zeroizing::new(Vec::new());
        for meta in metas {
            let meta = match meta {
                Ok(m) => m,
                Err(n) => {
                    return fail(
                        FragmentFailure::new(
                            ErrorId::FragmentNotFound,
                            format!("fragment {n} is not found"),
                        ),
                        out,
                        summary,
                    )
                }
            };
            let Some(stored) = self
                .store
                .fragment(&info.stream_arn, &meta.fragment_number)?
            else {
                return fail(
                    FragmentFailure::new(
                        ErrorId::FragmentNotFound,
                        format!("fragment {} is not found", meta.fragment_number),
                    ),
                    out,
                    summary,
                );
            };
            let identity = FragmentIdentity {
                stream_arn: info.stream_arn.clone(),
                fragment_number: meta.sequence,
                producer_timestamp_ms: meta.producer_timestamp_ms,
                track: meta.track,
            };
            let request = OpenRequest::new(stored.sealed, IdentityCheck::Expect(identity))
                .require(STREAM_ARN_CONTEXT_KEY, info.stream_arn.as_str());
            buf.clear();
            if let Err(e) = engine.open_into(caller, &request, &mut buf) {
                return fail(FragmentFailure::from_open(&e), out, summary);
            }
            let now = self.now_ms();
            let t = tags(&[
                (TAG_FRAGMENT_NUMBER, meta.fragment_number.clone()),
                (TAG_SERVER_TIMESTAMP, seconds(meta.server_timestamp_ms)),
                (TAG_PRODUCER_TIMESTAMP, seconds(meta.producer_timestamp_ms)),
                (
                    TAG_MILLIS_BEHIND_NOW,
                    now.saturating_sub(meta.server_timestamp_ms).to_string(),
                ),
                (TAG_CONTINUATION_TOKEN, meta.fragment_number.clone()),
            ]);
            out.write_all(&buf).map_err(write_err)?;
            out.write_all(&t).map_err(write_err)?;
            summary.fragments += 1;
            summary.continuation_token = Some(meta.fragment_number);
        }
        Ok(())
    }
}

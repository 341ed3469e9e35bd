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
//! [`Kvs::get_media`] writes what is stored at the call and returns; a live reader that waits
//! for fragments still to come is a [`GetMediaSession`] ([`Kvs::start_get_media`],
//! [`GetMediaSession::follow`]), which is how `NOW` reads anything.
//!
//! Each fragment is opened with the identity its metadata names (stream ARN, fragment number,
//! producer timestamp) and must carry `aws:kinesisvideo:arn` = the stream's ARN: a sealed
//! fragment moved to another number or stream in the store does not open.

use super::caller::SessionCaller;
use super::errors::{ErrorId, FragmentFailure, KvsError};
use super::mkvout::{element, tags, unknown_size_header};
use super::store::FragmentMeta;
use super::stream::{StreamInfo, StreamRef};
use super::{Kvs, STREAM_ARN_CONTEXT_KEY};
use crate::engine::{Engine, OpenRequest};
use crate::identity::{FragmentIdentity, IdentityCheck};
use crate::kms::{Credential, CredentialProvider};
use crate::mkv::ids;
use std::io::Write;
use std::sync::Arc;

pub use super::live::{GetMediaSession, LiveLimits};
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
/// GetMediaForFragmentList's tag names (the archived-media API names them differently).
pub const TAG_SERVER_SIDE_TIMESTAMP: &str = "AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP";
/// GetMediaForFragmentList's tag names.
pub const TAG_PRODUCER_SIDE_TIMESTAMP: &str = "AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP";
/// GetMediaForFragmentList's tag names: the integer code of the exception.
pub const TAG_EXCEPTION_ERROR_CODE: &str = "AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE";
/// GetMediaForFragmentList's tag names: a text description of the exception.
pub const TAG_EXCEPTION_MESSAGE: &str = "AWS_KINESISVIDEO_EXCEPTION_MESSAGE";

/// GetMedia's `StartSelector`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartSelector {
    /// `EARLIEST`: the oldest stored fragment.
    Earliest,
    /// `NOW`: the chunk after the most recent one at the time of the call, that is only
    /// fragments persisted after the call ([`Kvs::get_media`] therefore writes none;
    /// [`GetMediaSession::follow`] waits for them).
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

/// Why a GetMedia output ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GetMediaEnd {
    /// Every fragment stored at the time was written ([`Kvs::get_media`]).
    #[default]
    CaughtUp,
    /// A live read ([`GetMediaSession::follow`]) saw no new fragment for
    /// [`LiveLimits::idle_timeout`].
    Idle,
    /// A live read wrote [`LiveLimits::max_fragments`].
    MaxFragments,
    /// A failure ended the output (written as error tags): [`GetMediaSummary::failure`].
    Failed,
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
    /// Why the output ended.
    pub end: GetMediaEnd,
}

/// Which API's tags a fragment carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TagSet {
    /// GetMedia: `_SERVER_TIMESTAMP`, `_PRODUCER_TIMESTAMP`, `_MILLIS_BEHIND_NOW`,
    /// `_CONTINUATION_TOKEN`; errors as `_ERROR_CODE` / `_ERROR_ID`.
    GetMedia,
    /// GetMediaForFragmentList: `_SERVER_SIDE_TIMESTAMP`, `_PRODUCER_SIDE_TIMESTAMP`; errors as
    /// `_FRAGMENT_NUMBER`, `_EXCEPTION_ERROR_CODE`, `_EXCEPTION_MESSAGE`.
    FragmentList,
}

pub(crate) fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

pub(crate) fn write_err(e: std::io::Error) -> KvsError {
    KvsError::new(
        super::errors::KvsErrorKind::Internal,
        format!("writing the media failed ({}): {e}", ErrorId::WriteError),
    )
}

/// A document of its own (EBML header, Segment of unknown size), so that tags written before
/// any fragment sit inside a Segment.
pub(crate) fn write_empty_document<W: Write>(out: &mut W) -> Result<(), KvsError> {
    let ebml = element(ids::EBML, &element(ids::DOC_TYPE, b"matroska"));
    out.write_all(&ebml).map_err(write_err)?;
    out.write_all(&unknown_size_header(ids::SEGMENT))
        .map_err(write_err)
}

/// Ends the output with `f` as error tags and records it in `summary`.
pub(crate) fn write_failure<W: Write>(
    set: TagSet,
    number: Option<&str>,
    f: FragmentFailure,
    out: &mut W,
    summary: &mut GetMediaSummary,
) -> Result<(), KvsError> {
    let t = match set {
        TagSet::GetMedia => tags(&[
            (TAG_ERROR_CODE, f.error_id.name().to_owned()),
            (TAG_ERROR_ID, f.error_id.id().to_string()),
        ]),
        TagSet::FragmentList => {
            let mut pairs = Vec::with_capacity(3);
            if let Some(n) = number {
                pairs.push((TAG_FRAGMENT_NUMBER, n.to_owned()));
            }
            pairs.push((TAG_EXCEPTION_ERROR_CODE, f.error_id.id().to_string()));
            pairs.push((TAG_EXCEPTION_MESSAGE, f.error_id.name().to_owned()));
            tags(&pairs)
        }
    };
    if summary.fragments == 0 {
        write_empty_document(out)?;
    }
    out.write_all(&t).map_err(write_err)?;
    summary.failure = Some(f);
    summary.end = GetMediaEnd::Failed;
    Ok(())
}

impl Kvs {
    /// GetMedia: writes the stream's fragments stored at the call from `selector` on to `out`,
    /// then returns ([`GetMediaEnd::CaughtUp`]). A reader that waits for new fragments is a
    /// [`GetMediaSession`]; a caller whose credentials are refreshed during the call uses
    /// [`Self::get_media_with_provider`].
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
        self.start_get_media(caller, stream, selector)?
            .read_stored(out)
    }

    /// GetMedia ([`Self::get_media`]) for the caller whose credentials `provider` gives:
    /// `kinesisvideo:GetMedia` is authorized once, at the start, for its current credential;
    /// each fragment is opened for the provider's current credential, refreshed once (and the
    /// fragment retried once) on `ExpiredTokenException`, and only ever for the principal the
    /// call was authorized for (see [`Self::start_get_media_with_provider`]).
    ///
    /// # Errors
    /// As [`Self::get_media`].
    pub fn get_media_with_provider<W: Write>(
        &self,
        provider: Arc<dyn CredentialProvider>,
        stream: &StreamRef,
        selector: &StartSelector,
        out: &mut W,
    ) -> Result<GetMediaSummary, KvsError> {
        self.start_get_media_with_provider(provider, stream, selector)?
            .read_stored(out)
    }

    /// The engine of the stream's key, resolved as the caller (at every GetMedia call,
    /// fragments or not: the managed key appears in the account at the first GetMedia). With
    /// nothing to decrypt (`probe`), the key is still checked, so that a stream whose key is
    /// missing, disabled or pending deletion fails GetMedia as KVS documents; a caller that
    /// may not describe the key (least privilege: `kms:Decrypt` only) gets nothing either way.
    pub(crate) fn reader_engine(
        &self,
        caller: &Credential,
        info: &StreamInfo,
        probe: bool,
    ) -> Result<Arc<Engine>, FragmentFailure> {
        let engine = self
            .resolve_key(caller, info)
            .and_then(|arn| self.engine(caller, &arn))?;
        if probe {
            self.probe_key(caller, info)?;
        }
        Ok(engine)
    }

    /// Writes one stored fragment with `set`'s tags. `Ok(Err(_))`: the fragment failed (not
    /// stored, or it does not open); nothing of it was written.
    #[allow(
        clippy::too_many_arguments,
        reason = "the reader's state, passed explicitly"
    )]
    pub(crate) fn write_fragment<W: Write>(
        &self,
        caller: &Credential,
        info: &StreamInfo,
        engine: &Engine,
        set: TagSet,
        meta: FragmentMeta,
        buf: &mut Vec<u8>,
        out: &mut W,
        summary: &mut GetMediaSummary,
    ) -> Result<Result<(), FragmentFailure>, KvsError> {
        let caller = SessionCaller::fixed(caller);
        self.write_fragment_as(&caller, info, engine, set, meta, buf, out, summary)
    }

    /// [`Self::write_fragment`], opening for the session's current credential.
    #[allow(
        clippy::too_many_arguments,
        reason = "the reader's state, passed explicitly"
    )]
    pub(crate) fn write_fragment_as<W: Write>(
        &self,
        caller: &SessionCaller,
        info: &StreamInfo,
        engine: &Engine,
        set: TagSet,
        meta: FragmentMeta,
        buf: &mut Vec<u8>,
        out: &mut W,
        summary: &mut GetMediaSummary,
    ) -> Result<Result<(), FragmentFailure>, KvsError> {
        let Some(stored) = self
            .store
            .fragment(&info.stream_arn, &meta.fragment_number)?
        else {
            return Ok(Err(FragmentFailure::new(
                ErrorId::FragmentNotFound,
                format!("fragment {} is not found", meta.fragment_number),
            )));
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
        if let Err(e) = caller.open_into(engine, &request, buf) {
            return Ok(Err(FragmentFailure::from_open(&e)));
        }
        let t = match set {
            TagSet::GetMedia => tags(&[
                (TAG_FRAGMENT_NUMBER, meta.fragment_number.clone()),
                (TAG_SERVER_TIMESTAMP, seconds(meta.server_timestamp_ms)),
                (TAG_PRODUCER_TIMESTAMP, seconds(meta.producer_timestamp_ms)),
                (
                    TAG_MILLIS_BEHIND_NOW,
                    self.now_ms()
                        .saturating_sub(meta.server_timestamp_ms)
                        .to_string(),
                ),
                (TAG_CONTINUATION_TOKEN, meta.fragment_number.clone()),
            ]),
            TagSet::FragmentList => tags(&[
                (TAG_FRAGMENT_NUMBER, meta.fragment_number.clone()),
                (TAG_SERVER_SIDE_TIMESTAMP, seconds(meta.server_timestamp_ms)),
                (
                    TAG_PRODUCER_SIDE_TIMESTAMP,
                    seconds(meta.producer_timestamp_ms),
                ),
            ]),
        };
        out.write_all(buf).map_err(write_err)?;
        out.write_all(&t).map_err(write_err)?;
        summary.fragments += 1;
        summary.continuation_token = Some(meta.fragment_number);
        Ok(Ok(()))
    }
}

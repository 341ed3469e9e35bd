//! GetMedia as KVS serves it: a live reader. The start is fixed at the call (`NOW`: the chunk
//! after the most recent one then); the reader writes what is stored from there, then waits
//! for fragments persisted later and writes them as they come, in fragment order.
//!
//! KVS's GetMedia response is a long-lived stream that the service ends (the consumer then
//! resumes with the last `AWS_KINESISVIDEO_CONTINUATION_TOKEN`); the API reference does not
//! say when. Here the read ends after [`LiveLimits::idle_timeout`] without a new fragment, or
//! after [`LiveLimits::max_fragments`], or at the first failure (written as error tags). An
//! idle end that wrote no fragment writes one tags-only document carrying the
//! `AWS_KINESISVIDEO_CONTINUATION_TOKEN` of the start (for `NOW`: the most recent fragment at
//! the call), so that a consumer resumes with no gap and no repeat.

use super::authz::Action;
use super::caller::SessionCaller;
use super::errors::{ErrorId, FragmentFailure, KvsError};
use super::get_media::{
    write_empty_document, write_err, write_failure, GetMediaEnd, GetMediaSummary, StartSelector,
    TagSet, TAG_CONTINUATION_TOKEN,
};
use super::mkvout::tags;
use super::store::{parse_fragment_number, FragmentMeta};
use super::stream::{StreamInfo, StreamRef};
use super::Kvs;
use crate::engine::Engine;
use crate::kms::{Credential, CredentialProvider};
use std::io::Write;
use std::ops::Bound;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

/// When a live read ([`GetMediaSession::follow`]) ends, and how it watches the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LiveLimits {
    /// How long the reader waits for a new fragment before it ends the output
    /// ([`GetMediaEnd::Idle`]). KVS does not document its value; the default is 5 s.
    pub idle_timeout: Duration,
    /// The most fragments written ([`GetMediaEnd::MaxFragments`]); `None`: no limit.
    pub max_fragments: Option<u64>,
    /// Also re-read the store at least this often while waiting; `None` (the default): only
    /// when a PutMedia session of the same [`Kvs`] persists a fragment (it wakes its
    /// readers). Set it when another process writes the store (a [`DirStore`] shared with
    /// another `fragseal kvs put-media`): a wakeup does not cross processes.
    ///
    /// [`DirStore`]: crate::kvs::DirStore
    pub poll_interval: Option<Duration>,
}

impl Default for LiveLimits {
    fn default() -> Self {
        Self::idle(Duration::from_secs(5))
    }
}

impl LiveLimits {
    /// Ends after `idle` without a new fragment.
    pub fn idle(idle: Duration) -> Self {
        Self {
            idle_timeout: idle,
            max_fragments: None,
            poll_interval: None,
        }
    }

    /// Also ends after `n` fragments.
    pub fn with_max_fragments(mut self, n: u64) -> Self {
        self.max_fragments = Some(n);
        self
    }

    /// Also re-reads the store every `interval` (at least 1 ms) while waiting
    /// ([`Self::poll_interval`]).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval.max(Duration::from_millis(1)));
        self
    }
}

/// A timestamp the first fragment written must reach (the timestamp selectors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AtOrAfter {
    Server(u64),
    Producer(u64),
}

impl AtOrAfter {
    fn matches(self, f: &FragmentMeta) -> bool {
        match self {
            AtOrAfter::Server(t) => f.server_timestamp_ms >= t,
            AtOrAfter::Producer(t) => f.producer_timestamp_ms >= t,
        }
    }
}

/// Where the next fragment is: a bound on the fragment number (string order is numeric
/// order), and, until one is found, the timestamp the first one must reach.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cursor {
    from: Bound<String>,
    first: Option<AtOrAfter>,
}

impl Cursor {
    /// The fragments of `all` (in number order) from the cursor on. Fragments before the first
    /// one a timestamp selector accepts are passed over for good.
    fn select(&mut self, all: Vec<FragmentMeta>) -> Vec<FragmentMeta> {
        let mut v: Vec<FragmentMeta> = all
            .into_iter()
            .filter(|f| match &self.from {
                Bound::Unbounded => true,
                Bound::Included(n) => f.fragment_number >= *n,
                Bound::Excluded(n) => f.fragment_number > *n,
            })
            .collect();
        if let Some(first) = self.first {
            let at = v.iter().position(|f| first.matches(f)).unwrap_or(v.len());
            if let Some(skipped) = at.checked_sub(1).and_then(|i| v.get(i)) {
                self.from = Bound::Excluded(skipped.fragment_number.clone());
            }
            v.drain(..at);
            if !v.is_empty() {
                self.first = None;
            }
        }
        v
    }

    fn written(&mut self, number: &str) {
        self.from = Bound::Excluded(number.to_owned());
        self.first = None;
    }
}

/// A GetMedia call in progress: its start was fixed when it was made
/// ([`Kvs::start_get_media`]).
pub struct GetMediaSession<'k> {
    kvs: &'k Kvs,
    caller: SessionCaller,
    info: StreamInfo,
    cursor: Cursor,
    /// A `FRAGMENT_NUMBER` that is not stored: error 4000 at the first read.
    missing: Option<String>,
    /// The engine of the stream's key, resolved at the first read.
    engine: Option<Arc<Engine>>,
    /// A failure was written: nothing more is.
    ended: bool,
}

impl core::fmt::Debug for GetMediaSession<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GetMediaSession")
            .field("stream_arn", &self.info.stream_arn)
            .field("cursor", &self.cursor)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Kvs {
    /// Starts a GetMedia call: authorizes it, applies retention and fixes where `selector`
    /// starts, now (`NOW`: after the most recent fragment stored at this moment). Nothing is
    /// written until [`GetMediaSession::read_stored`] or [`GetMediaSession::follow`].
    ///
    /// # Errors
    /// `ResourceNotFoundException`, `NotAuthorizedException`, `InvalidArgumentException` (a
    /// malformed fragment number or token), a store failure.
    pub fn start_get_media(
        &self,
        caller: &Credential,
        stream: &StreamRef,
        selector: &StartSelector,
    ) -> Result<GetMediaSession<'_>, KvsError> {
        self.start_get_media_as(SessionCaller::fixed(caller), stream, selector)
    }

    /// [`Self::start_get_media`] for the caller whose credentials `provider` gives: a consumer
    /// on a role session that ends while it follows the stream keeps reading on the next
    /// session. `kinesisvideo:GetMedia` is authorized here, once, for the provider's current
    /// credential (refreshed first when it has already expired on the KVS clock). Each
    /// fragment is then opened for the provider's current credential; when KMS answers
    /// `ExpiredTokenException`, the provider is asked once for a new credential and the open is
    /// retried once. A new credential for another principal than the one authorized fails the
    /// fragment with 4500 (written as error tags, the message in
    /// [`GetMediaSummary::failure`]), as does a provider that cannot refresh.
    ///
    /// # Errors
    /// As [`Self::start_get_media`]; `NotAuthorizedException` also when the provider gives
    /// no credential.
    pub fn start_get_media_with_provider(
        &self,
        provider: Arc<dyn CredentialProvider>,
        stream: &StreamRef,
        selector: &StartSelector,
    ) -> Result<GetMediaSession<'_>, KvsError> {
        let caller = SessionCaller::start(provider, self.clock.now())?;
        self.start_get_media_as(caller, stream, selector)
    }

    fn start_get_media_as(
        &self,
        caller: SessionCaller,
        stream: &StreamRef,
        selector: &StartSelector,
    ) -> Result<GetMediaSession<'_>, KvsError> {
        let check = |n: &str| {
            parse_fragment_number(n)
                .map(|_| ())
                .ok_or_else(|| KvsError::invalid(format!("{n} is not a fragment number")))
        };
        let info = self.authorized(caller.first(), stream, Action::GetMedia)?;
        if let StartSelector::FragmentNumber(n) | StartSelector::ContinuationToken(n) = selector {
            check(n)?;
        }
        self.apply_retention(&info)?;
        let all = self.store.fragments(&info.stream_arn)?;
        let mut missing = None;
        let (from, first) = match selector {
            StartSelector::Earliest => (Bound::Unbounded, None),
            StartSelector::Now => (
                all.last().map_or(Bound::Unbounded, |f| {
                    Bound::Excluded(f.fragment_number.clone())
                }),
                None,
            ),
            StartSelector::FragmentNumber(n) => {
                if !all.iter().any(|f| &f.fragment_number == n) {
                    missing = Some(n.clone());
                }
                (Bound::Included(n.clone()), None)
            }
            StartSelector::ServerTimestamp(t) => (Bound::Unbounded, Some(AtOrAfter::Server(*t))),
            StartSelector::ProducerTimestamp(t) => {
                (Bound::Unbounded, Some(AtOrAfter::Producer(*t)))
            }
            StartSelector::ContinuationToken(t) => (Bound::Excluded(t.clone()), None),
        };
        Ok(GetMediaSession {
            kvs: self,
            caller,
            info,
            cursor: Cursor { from, first },
            missing,
            engine: None,
            ended: false,
        })
    }

    /// How many fragments were persisted in `stream_arn` so far (a generation counter that
    /// live readers wait on).
    pub(crate) fn persisted_generation(&self, stream_arn: &str) -> u64 {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.get(stream_arn).copied().unwrap_or(0)
    }

    /// A fragment of `stream_arn` was persisted: wakes the live readers.
    pub(crate) fn notify_persisted(&self, stream_arn: &str) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        *live.entry(stream_arn.to_owned()).or_insert(0) += 1;
        self.live_changed.notify_all();
    }

    /// Waits until `stream_arn`'s generation differs from `seen`, or `timeout`.
    fn wait_persisted(&self, stream_arn: &str, seen: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        while live.get(stream_arn).copied().unwrap_or(0) == seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            live = self
                .live_changed
                .wait_timeout(live, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl GetMediaSession<'_> {
    /// The stream.
    pub fn stream(&self) -> &StreamInfo {
        &self.info
    }

    /// The continuation token of the position: the last fragment written, or passed over by
    /// the selector (for `NOW`, the most recent fragment at the call). `None` before the
    /// first fragment of a stream, or while a fragment-number start is still to be written.
    pub fn continuation_token(&self) -> Option<&str> {
        match &self.cursor.from {
            Bound::Excluded(n) => Some(n),
            _ => None,
        }
    }

    /// Writes the fragments stored now from the position on, then returns
    /// ([`GetMediaEnd::CaughtUp`], or [`GetMediaEnd::Failed`]).
    ///
    /// # Errors
    /// A store failure, or `InternalFailure` when `out` fails (KVS's 3002).
    pub fn read_stored<W: Write>(&mut self, out: &mut W) -> Result<GetMediaSummary, KvsError> {
        let mut summary = GetMediaSummary::default();
        self.read_batch(out, &mut summary, None)?;
        Ok(summary)
    }

    /// Writes the fragments from the position on, waiting for new ones as they are persisted,
    /// until `limits` or a failure ends the output.
    ///
    /// # Errors
    /// A store failure, or `InternalFailure` when `out` fails (KVS's 3002).
    pub fn follow<W: Write>(
        &mut self,
        out: &mut W,
        limits: &LiveLimits,
    ) -> Result<GetMediaSummary, KvsError> {
        let mut summary = GetMediaSummary::default();
        let mut last_new = Instant::now();
        loop {
            let left = limits
                .max_fragments
                .map(|m| m.saturating_sub(summary.fragments));
            if left == Some(0) {
                summary.end = GetMediaEnd::MaxFragments;
                return Ok(summary);
            }
            // Read the generation first: a fragment persisted while the store is read wakes
            // the wait below at once.
            let seen = self.kvs.persisted_generation(&self.info.stream_arn);
            if self.read_batch(out, &mut summary, left)? > 0 {
                last_new = Instant::now();
                continue;
            }
            if summary.failure.is_some() {
                return Ok(summary);
            }
            let idle = last_new.elapsed();
            if idle >= limits.idle_timeout {
                if summary.fragments == 0 {
                    if let Some(token) = self.continuation_token() {
                        write_empty_document(out)?;
                        out.write_all(&tags(&[(TAG_CONTINUATION_TOKEN, token.to_owned())]))
                            .map_err(write_err)?;
                    }
                }
                summary.end = GetMediaEnd::Idle;
                return Ok(summary);
            }
            let mut wait = limits.idle_timeout.saturating_sub(idle);
            if let Some(poll) = limits.poll_interval {
                wait = wait.min(poll);
            }
            self.kvs.wait_persisted(&self.info.stream_arn, seen, wait);
        }
    }

    /// Writes at most `max` of the fragments stored now from the position on; returns how
    /// many were written.
    fn read_batch<W: Write>(
        &mut self,
        out: &mut W,
        summary: &mut GetMediaSummary,
        max: Option<u64>,
    ) -> Result<u64, KvsError> {
        if self.ended {
            return Ok(0);
        }
        let kvs = self.kvs;
        let batch = self
            .cursor
            .select(kvs.store.fragments(&self.info.stream_arn)?);
        let engine = match &self.engine {
            Some(e) => Arc::clone(e),
            None => {
                let probe = batch.is_empty() && self.missing.is_none();
                match kvs.reader_engine(self.caller.first(), &self.info, probe) {
                    Ok(e) => {
                        self.engine = Some(Arc::clone(&e));
                        e
                    }
                    Err(f) => return self.fail(f, out, summary),
                }
            }
        };
        if let Some(n) = self.missing.take() {
            let f = FragmentFailure::new(
                ErrorId::FragmentNotFound,
                format!("fragment {n} is not found"),
            );
            return self.fail(f, out, summary);
        }
        // Plaintext of the fragment being written; wiped on every way out.
        let mut buf = zeroize::Zeroizing::new(Vec::new());
        let mut written = 0u64;
        for meta in batch {
            if max.is_some_and(|m| written >= m) {
                break;
            }
            let number = meta.fragment_number.clone();
            let r = kvs.write_fragment_as(
                &self.caller,
                &self.info,
                &engine,
                TagSet::GetMedia,
                meta,
                &mut buf,
                out,
                summary,
            )?;
            if let Err(f) = r {
                self.fail(f, out, summary)?;
                return Ok(written);
            }
            self.cursor.written(&number);
            written += 1;
        }
        Ok(written)
    }

    fn fail<W: Write>(
        &mut self,
        f: FragmentFailure,
        out: &mut W,
        summary: &mut GetMediaSummary,
    ) -> Result<u64, KvsError> {
        self.ended = true;
        write_failure(TagSet::GetMedia, None, f, out, summary)?;
        Ok(0)
    }
}

//! PutMedia: an MKV byte stream in, one sealed fragment per Cluster, acknowledgements out.
//!
//! The input is read incrementally from an [`io::Read`] — a long-running producer session —
//! one element at a time, so a Cluster of unknown size (as the producer SDK writes them) is
//! complete when the next top-level element (the next Cluster) starts or the input ends
//! (RFC 8794 §6.2). Each complete fragment — the stream's header (EBML header, Segment of
//! unknown size, Info, Tracks) followed by the Cluster — is checked with the crate's MKV
//! splitter, numbered, sealed with its identity, persisted, and acknowledged:
//! `BUFFERING` once the Cluster's timecode is read, `RECEIVED` when it is complete,
//! `PERSISTED` when it is durable, or `ERROR` with KVS's error id (after which the session
//! ends, and nothing of that fragment is stored). A reader answering `WouldBlock` or
//! `TimedOut` gets an `IDLE` acknowledgement and is read again.
//!
//! How each fragment is read and sealed is the [`PutMediaMode`]'s choice: read into a buffer
//! and sealed on the rayon pool while the session reads on (`pipeline`), or read straight into
//! its sealed message (`put_streamed`); the acknowledgements, failures and stored fragments are
//! the same either way.

use super::acks::Ack;
use super::authz::Action;
use super::caller::SessionCaller;
use super::duration::{fragment_length_ms, TrackDurations};
use super::errors::{ErrorId, FragmentFailure, KvsError};
use super::pipeline::{Pipeline, SealFailed};
use super::put_streamed::StreamCtx;
use super::received::Drain;
use super::source::{invalid, Failed, Source};
use super::stream::StreamRef;
use super::{Kvs, STREAM_ARN_CONTEXT_KEY};
use crate::engine::Engine;
use crate::kms::{Credential, CredentialProvider};
use crate::mkv::{self, ids};
use crate::EncryptionContext;
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Largest fragment accepted: KVS's 50 MB fragment limit.
pub const MAX_FRAGMENT_SIZE: u64 = 50 * 1000 * 1000;
/// Largest header element (EBML header, Info, Tracks, ...) accepted.
const MAX_HEADER_ELEMENT: u64 = 1024 * 1024;

/// `FragmentTimecodeType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragmentTimecodeType {
    /// Cluster timecodes are absolute (milliseconds since the Unix epoch).
    Absolute,
    /// Cluster timecodes are relative to `ProducerStartTimestamp`.
    Relative,
}

/// PutMedia's parameters (KVS sends them as HTTP headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutMediaInput {
    /// The stream, by name or ARN (exactly one).
    pub stream: StreamRef,
    /// `FragmentTimecodeType`.
    pub timecode_type: FragmentTimecodeType,
    /// `ProducerStartTimestamp`, milliseconds since the Unix epoch (used with `RELATIVE`).
    pub producer_start_timestamp_ms: u64,
}

impl PutMediaInput {
    /// Absolute timecodes into `stream`.
    pub fn absolute(stream: StreamRef) -> Self {
        Self {
            stream,
            timecode_type: FragmentTimecodeType::Absolute,
            producer_start_timestamp_ms: 0,
        }
    }

    /// Timecodes relative to `start_ms`.
    pub fn relative(stream: StreamRef, start_ms: u64) -> Self {
        Self {
            stream,
            timecode_type: FragmentTimecodeType::Relative,
            producer_start_timestamp_ms: start_ms,
        }
    }
}

/// How a PutMedia session reads and seals its fragments ([`KvsBuilder::put_media_mode`]).
/// Every mode gives the same acknowledgements for the same input, persists the same
/// fragments whole or not at all, and stores messages that open to the same media. In every
/// mode a session's first fragment is sealed and persisted before the next is read, so that
/// a session whose key or credential fails makes its KMS calls (and refreshes) once.
///
/// [`KvsBuilder::put_media_mode`]: super::KvsBuilder::put_media_mode
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PutMediaMode {
    /// Per fragment: streamed while at least as many PutMedia sessions run as the rayon pool
    /// the session runs on has threads (each session keeps one thread busy, and streaming
    /// saves the copy); else pipelined while the pool has a thread free or no seal queued,
    /// and streamed by the session itself while every pool thread seals one of its fragments
    /// and one more waits (so that a lone session keeps every thread sealing and copies only
    /// the fragments the pool seals; fragments are persisted in order either way). Always pipelined when a streamed
    /// fragment's reservation — the stream's header plus [`MAX_FRAGMENT_SIZE`], or the
    /// Cluster's size when it is known — is above the data-key cache's `max_bytes`: such a
    /// fragment could not share a key, so streaming would cost a KMS call per fragment.
    #[default]
    Auto,
    /// Fragment N+1 is read into a buffer while fragment N is sealed on the rayon pool, one
    /// fragment in flight per pool thread.
    Pipelined,
    /// Each fragment is read straight into a [`FragmentWriter`](crate::engine::FragmentWriter)
    /// and encrypted frame by frame as it arrives (module `put_streamed`), then persisted,
    /// before the next is read. The data key is leased when the Cluster's timestamp is read,
    /// reserving the most the fragment may hold; what it did not use is given back.
    Streamed,
    /// Each fragment is read into a buffer, then sealed and persisted before the next is
    /// read (the acknowledgements come strictly fragment after fragment).
    Sequential,
}

/// What a session did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutMediaSummary {
    /// Fragments acknowledged `PERSISTED`.
    pub persisted: u64,
    /// Fragments acknowledged `PERSISTED` that were sealed as they were read
    /// ([`PutMediaMode::Streamed`], or [`PutMediaMode::Auto`] choosing it); with a retention
    /// of 0 they are counted here but not in [`Self::persisted`].
    pub streamed: u64,
    /// The failure that ended the session, if any (it was acknowledged `ERROR`).
    pub failure: Option<FragmentFailure>,
}

/// The stream's header as it is being read: the EBML header, then the Segment's children
/// before the first Cluster, and the timestamp scale.
pub(super) struct Header {
    ebml: Vec<u8>,
    children: Vec<u8>,
    pub(super) scale_ns: u64,
    pub(super) durations: TrackDurations,
}

impl Header {
    /// The length of [`Self::prefix_into`]'s prefix.
    fn prefix_len(&self) -> u64 {
        (self.ebml.len()
            + super::mkvout::unknown_size_header(ids::SEGMENT).len()
            + self.children.len()) as u64
    }

    /// EBML header ‖ Segment (unknown size) ‖ children: the start of every fragment.
    /// Writes the prefix into the (empty) fragment buffer `v`, with room for `body` more
    /// bytes: no allocation when `v` held a fragment of this size before, else one.
    pub(super) fn prefix_into(&self, v: &mut Vec<u8>, body: usize) {
        let segment = super::mkvout::unknown_size_header(ids::SEGMENT);
        v.reserve(self.ebml.len() + segment.len() + self.children.len() + body);
        v.extend_from_slice(&self.ebml);
        v.extend(segment);
        v.extend_from_slice(&self.children);
    }
}

/// `TimestampScale` in an `Info` body (default 1,000,000 ns).
fn timestamp_scale(info: &[u8]) -> u64 {
    let mut pos = 0;
    while let Some((id, hl, Some(size))) = super::mkvout::header(info, pos) {
        let start = pos + hl;
        let Some(end) = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
        else {
            break;
        };
        let Some(data) = info.get(start..end) else {
            break;
        };
        if id == ids::TIMESTAMP_SCALE && (1..=8).contains(&data.len()) {
            return mkv::be_uint(data).max(1);
        }
        pos = end;
    }
    mkv::DEFAULT_TIMESTAMP_SCALE_NS
}

impl Kvs {
    /// PutMedia: reads `media` to its end (or to the first failure), calling `on_ack` with each
    /// acknowledgement in order. Every fragment is sealed for `caller`, as given (an expired
    /// session fails the next fragment that needs KMS with 4500); for a caller whose
    /// credentials are refreshed during the session, see [`Self::put_media_with_provider`].
    ///
    /// # Errors
    /// Before any media is read: `ResourceNotFoundException`, `NotAuthorizedException`,
    /// `InvalidArgumentException`. A failing `on_ack` (the client went away) ends the session
    /// with `InternalFailure`; fragments acknowledged before stay persisted. Every other
    /// failure is an `ERROR` acknowledgement and [`PutMediaSummary::failure`].
    pub fn put_media<R: Read, F: FnMut(&Ack) -> io::Result<()>>(
        &self,
        caller: &Credential,
        input: &PutMediaInput,
        media: R,
        on_ack: F,
    ) -> Result<PutMediaSummary, KvsError> {
        self.put_media_as(&SessionCaller::fixed(caller), input, media, on_ack)
    }

    /// PutMedia ([`Self::put_media`]) for the caller whose credentials `provider` gives: a
    /// producer on a role session (15 minutes to 12 hours) whose session ends during a long
    /// PutMedia session keeps going on the next session.
    ///
    /// `kinesisvideo:PutMedia` is authorized once, at the start, for the provider's current
    /// credential (refreshed first when it has already expired on the KVS clock). Each fragment
    /// is then sealed for the provider's current credential; when KMS answers
    /// `ExpiredTokenException`, the provider is asked once for a new credential and the seal is
    /// retried once. A new credential must be for the principal the session was authorized
    /// for (a new session of the same role): one for another principal fails the fragment with
    /// 4500 (`AccessDeniedException`, the message says why), and so does a provider that cannot
    /// refresh. Acknowledgements, their order, and the persistence of each fragment whole or
    /// not at all are as for [`Self::put_media`]; fragments persisted before a failure stay.
    ///
    /// # Errors
    /// As [`Self::put_media`]; `NotAuthorizedException` also when the provider gives no
    /// credential at the start.
    pub fn put_media_with_provider<R: Read, F: FnMut(&Ack) -> io::Result<()>>(
        &self,
        provider: Arc<dyn CredentialProvider>,
        input: &PutMediaInput,
        media: R,
        on_ack: F,
    ) -> Result<PutMediaSummary, KvsError> {
        let caller = SessionCaller::start(provider, self.clock.now())?;
        self.put_media_as(&caller, input, media, on_ack)
    }

    fn put_media_as<R: Read, F: FnMut(&Ack) -> io::Result<()>>(
        &self,
        session: &SessionCaller,
        input: &PutMediaInput,
        media: R,
        mut on_ack: F,
    ) -> Result<PutMediaSummary, KvsError> {
        let caller = session.first();
        let info = self.authorized(caller, &input.stream, Action::PutMedia)?;
        let _running = Running::start(&self.put_media_sessions);
        let mut summary = PutMediaSummary::default();
        let mut last_timecode = None;
        let mut last_number = None;
        let result = (|| -> Result<(), Failed> {
            self.apply_retention(&info)
                .map_err(|e| FragmentFailure::new(ErrorId::Internal, e.to_string()))?;
            let key_arn = self.resolve_key(caller, &info)?;
            let engine = self.engine(caller, &key_arn)?;
            let ec =
                EncryptionContext::new().with(STREAM_ARN_CONTEXT_KEY, info.stream_arn.as_str());
            let mut src = Source {
                src: media,
                on_ack: &mut on_ack,
                peeked: None,
                offset: 0,
            };
            let cx = StreamCtx {
                info: &info,
                ec: &ec,
                input,
                engine: &engine,
                session,
            };
            rayon::in_place_scope(|scope| {
                // Auto keeps one more seal queued (see `streams_fragment`).
                let queued = usize::from(self.put_media_mode == PutMediaMode::Auto);
                let mut pipe = Pipeline::new(scope, &engine, session, queued);
                let read = (|| -> Result<(), Failed> {
                    let mut header: Option<Header> = None;
                    let mut segment_children = false;
                    // The session's last Cluster; before its first, the last one this layer
                    // read in any session (a first guess at the size of a Cluster of unknown
                    // size: a buffer that is too small grows by copying).
                    let mut last_cluster_len = self.last_cluster_len.load(Ordering::Relaxed);
                    // The session's first fragment is sealed and persisted alone, in every
                    // mode: a session whose key or credential fails makes its KMS calls (and
                    // credential refreshes) once, not once per fragment in flight.
                    let mut first = true;
                    while let Some((id, head, size)) = src.header()? {
                        match id {
                            ids::EBML => {
                                let mut ebml = head;
                                let size = size.ok_or_else(|| {
                                    invalid(src.offset, "EBML header of unknown size")
                                })?;
                                src.data(size, MAX_HEADER_ELEMENT, &mut ebml)?;
                                header = Some(Header {
                                    ebml,
                                    children: Vec::new(),
                                    scale_ns: mkv::DEFAULT_TIMESTAMP_SCALE_NS,
                                    durations: TrackDurations::default(),
                                });
                                segment_children = false;
                            }
                            ids::SEGMENT => {
                                if header.is_none() {
                                    return Err(invalid(
                                        src.offset,
                                        "Segment before the EBML header",
                                    ));
                                }
                                // Its children follow; a known size is not needed to split.
                                segment_children = true;
                            }
                            ids::CLUSTER => {
                                let h = header.as_ref().filter(|_| segment_children).ok_or_else(
                                    || invalid(src.offset, "Cluster before the stream header"),
                                )?;
                                // A new fragment: an ERROR from here on names it, not the last one.
                                last_number = None;
                                last_timecode = None;
                                // Room for the Cluster: its size when known, else the last one's.
                                let room = size
                                    .map_or(last_cluster_len, |s| {
                                        usize::try_from(s.min(MAX_FRAGMENT_SIZE)).unwrap_or(0)
                                    })
                                    .saturating_add(head.len() + 64);
                                let reserve = h.prefix_len()
                                    + size.map_or(MAX_FRAGMENT_SIZE, |s| {
                                        s.saturating_add(head.len() as u64).min(MAX_FRAGMENT_SIZE)
                                    });
                                if self.streams_fragment(&engine, reserve, &mut pipe) {
                                    let f = self.stream_cluster(
                                        &cx,
                                        h,
                                        &mut src,
                                        &head,
                                        size,
                                        room,
                                        &mut last_timecode,
                                        &mut last_number,
                                    )?;
                                    last_cluster_len = (f.meta.size - h.prefix_len()) as usize;
                                    self.last_cluster_len
                                        .store(last_cluster_len, Ordering::Relaxed);
                                    // Persisted in its turn, after what the pipeline holds.
                                    pipe.push_sealed(f.meta, f.timecode_ms, f.sealed);
                                    let how =
                                        if first || self.put_media_mode == PutMediaMode::Streamed {
                                            Drain::All
                                        } else {
                                            Drain::Ready
                                        };
                                    self.drain(&mut pipe, how, &info, &mut summary, src.on_ack)?;
                                    first = false;
                                    continue;
                                }
                                let mut doc = pipe.doc();
                                h.prefix_into(&mut doc, room);
                                let cluster_at = doc.len();
                                doc.extend_from_slice(&head);
                                let body_at = doc.len();
                                let mut buffering_sent = false;
                                let mut read = 0u64;
                                while let Some((cid, chead, csize)) =
                                    src.cluster_child(size, read)?
                                {
                                    doc.extend_from_slice(&chead);
                                    let at = doc.len();
                                    src.data(csize, MAX_FRAGMENT_SIZE, &mut doc)?;
                                    self.drain(
                                        &mut pipe,
                                        Drain::Ready,
                                        &info,
                                        &mut summary,
                                        src.on_ack,
                                    )?;
                                    read += (chead.len() as u64) + csize;
                                    if (doc.len() - cluster_at) as u64 > MAX_FRAGMENT_SIZE {
                                        return Err(Failed::Fragment(FragmentFailure::new(
                                            ErrorId::MaxFragmentSize,
                                            format!(
                                                "the fragment exceeds {MAX_FRAGMENT_SIZE} bytes"
                                            ),
                                        )));
                                    }
                                    if cid == ids::CLUSTER_TIMESTAMP && !buffering_sent {
                                        let tc = mkv::be_uint(&doc[at..]);
                                        let tc_ms = tc.saturating_mul(h.scale_ns) / 1_000_000;
                                        last_timecode = Some(tc_ms);
                                        (src.on_ack)(&Ack::buffering(tc_ms))
                                            .map_err(Failed::Sink)?;
                                        buffering_sent = true;
                                    }
                                }
                                if size.is_some_and(|s| read != s) {
                                    return Err(invalid(
                                        src.offset,
                                        "a Cluster child overruns the Cluster",
                                    ));
                                }
                                last_cluster_len = doc.len() - cluster_at;
                                self.last_cluster_len
                                    .store(last_cluster_len, Ordering::Relaxed);
                                let duration_ms =
                                    fragment_length_ms(&doc[body_at..], h.scale_ns, &h.durations);
                                let (request, meta, timecode_ms) = self.receive(
                                    &info,
                                    &ec,
                                    pipe.plaintext(doc),
                                    duration_ms,
                                    input,
                                    &mut last_timecode,
                                    &mut last_number,
                                    src.on_ack,
                                )?;
                                while !pipe.has_room() {
                                    self.drain(
                                        &mut pipe,
                                        Drain::One,
                                        &info,
                                        &mut summary,
                                        src.on_ack,
                                    )?;
                                }
                                pipe.submit(request, meta, timecode_ms);
                                if first || self.put_media_mode == PutMediaMode::Sequential {
                                    self.drain(
                                        &mut pipe,
                                        Drain::All,
                                        &info,
                                        &mut summary,
                                        src.on_ack,
                                    )?;
                                }
                                first = false;
                            }
                            _ if header.is_some() && segment_children => {
                                // Info, Tracks, ... before the first fragment: part of the header;
                                // Cues, Tags, ... between fragments: skipped.
                                let size = size.ok_or_else(|| {
                                    invalid(src.offset, "a top-level element of unknown size")
                                })?;
                                let mut el = head;
                                let max = if matches!(id, ids::INFO | ids::TRACKS) {
                                    MAX_HEADER_ELEMENT
                                } else {
                                    MAX_FRAGMENT_SIZE
                                };
                                src.data(size, max, &mut el)?;
                                if let Some(h) = header.as_mut() {
                                    let body = &el[el.len() - size as usize..];
                                    if id == ids::INFO {
                                        h.scale_ns = timestamp_scale(body);
                                    }
                                    if id == ids::TRACKS {
                                        h.durations = TrackDurations::from_tracks(body);
                                    }
                                    if matches!(id, ids::INFO | ids::TRACKS) {
                                        h.children.extend_from_slice(&el);
                                    }
                                }
                            }
                            _ => return Err(invalid(src.offset, "an element outside a Segment")),
                        }
                        self.drain(&mut pipe, Drain::Ready, &info, &mut summary, src.on_ack)?;
                    }
                    Ok(())
                })();
                match read {
                    Err(Failed::Sink(e)) => {
                        pipe.abandon();
                        Err(Failed::Sink(e))
                    }
                    // Fragments received before a failure are complete: they are persisted, and
                    // acknowledged, before the ERROR of the one that failed.
                    other => {
                        self.drain(&mut pipe, Drain::All, &info, &mut summary, src.on_ack)?;
                        other
                    }
                }
            })
        })();
        match result {
            Ok(()) => Ok(summary),
            Err(Failed::Sink(e)) => Err(KvsError::new(
                super::errors::KvsErrorKind::Internal,
                format!("the acknowledgement stream failed: {e}"),
            )),
            Err(Failed::At(SealFailed {
                failure,
                timecode_ms,
                number,
            })) => {
                let ack = Ack::error(Some(timecode_ms), Some(&number), failure.error_id);
                on_ack(&ack).map_err(|e| {
                    KvsError::new(
                        super::errors::KvsErrorKind::Internal,
                        format!("the acknowledgement stream failed: {e}"),
                    )
                })?;
                summary.failure = Some(failure);
                Ok(summary)
            }
            Err(Failed::Fragment(f)) => {
                let ack = Ack::error(last_timecode, last_number.as_deref(), f.error_id);
                on_ack(&ack).map_err(|e| {
                    KvsError::new(
                        super::errors::KvsErrorKind::Internal,
                        format!("the acknowledgement stream failed: {e}"),
                    )
                })?;
                summary.failure = Some(f);
                Ok(summary)
            }
        }
    }
}

impl Kvs {
    /// Whether the next fragment, whose streamed reservation would be `reserve` bytes, is
    /// streamed ([`PutMediaMode`]).
    fn streams_fragment(&self, engine: &Engine, reserve: u64, pipe: &mut Pipeline<'_, '_>) -> bool {
        match self.put_media_mode {
            PutMediaMode::Streamed => true,
            PutMediaMode::Pipelined | PutMediaMode::Sequential => false,
            PutMediaMode::Auto => {
                let cache = &engine.config().cache;
                let shares_a_key = cache.capacity == 0 || reserve <= cache.max_bytes;
                shares_a_key
                    && (self.put_media_sessions.load(Ordering::Relaxed)
                        >= rayon::current_num_threads()
                        || !pipe.has_room())
            }
        }
    }
}

/// One running PutMedia session, counted while it lives.
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn start(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

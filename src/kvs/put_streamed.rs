//! PutMedia's streamed fragments: a Cluster read straight into a [`FragmentWriter`], each
//! frame encrypted as soon as it is complete, while it is still in cache — no plaintext
//! document of the whole fragment, no second pass over it (docs/PERFORMANCE.md).
//!
//! A fragment is numbered, and its writer started (the data key leased), when its
//! `ClusterTimestamp` is read: the identity the message binds needs the number and the
//! producer timestamp. What came before the timestamp (the stream's header, the Cluster's
//! header, any child before it) is held until then. The Cluster is checked with the crate's
//! MKV splitter at its end, on its *skeleton*: the stream's header and the Cluster with every
//! element as read, except that element data beyond [`KEEP`] bytes is left out (and the sizes
//! rewritten to match). The splitter reads nothing of an element beyond its first 11 bytes
//! (a block's track number, timecode and flags; integers are at most 8 bytes), so the check,
//! the timecode and the fragment's duration are those of the whole fragment.
//!
//! Acknowledgements and failures are those of a buffered fragment, in the same order:
//! `BUFFERING` at the timecode, `RECEIVED` when the Cluster is complete and checked, then
//! `PERSISTED` or `ERROR`. A KMS failure when the writer starts is held until the Cluster is
//! complete (the rest of it is read and dropped), so that it is reported as a buffered
//! fragment's seal failure is: `RECEIVED`, then `ERROR` with the fragment's number. An
//! invalid or incomplete Cluster drops its writer, which zeroizes the plaintext it had not
//! encrypted; nothing of the fragment is stored either way.

use super::acks::Ack;
use super::caller::SessionCaller;
use super::duration::fragment_length_ms;
use super::errors::{ErrorId, FragmentFailure};
use super::pipeline::SealFailed;
use super::put_media::{Header, PutMediaInput, MAX_FRAGMENT_SIZE};
use super::received::{check_fragment, Numbered};
use super::source::{invalid, read_error, Failed, Source};
use super::store::FragmentMeta;
use super::{Kvs, StreamInfo};
use crate::engine::{Engine, FragmentWriter, SealWriterRequest};
use crate::mkv::{self, ids};
use crate::EncryptionContext;
use bytes::Bytes;
use std::io::{self, Read};
use zeroize::Zeroize;

/// Element data kept in the skeleton: every integer whole, and a block's header.
const KEEP: u64 = 16;
/// How deep master elements may nest inside a Cluster (the splitter's default limit).
const MAX_DEPTH: usize = 8;
/// The chunk in which the data of a fragment that cannot be sealed is read and dropped.
const DISCARD_CHUNK: u64 = 64 * 1024;

/// What a streamed fragment's session needs.
pub(super) struct StreamCtx<'a> {
    pub(super) info: &'a StreamInfo,
    pub(super) ec: &'a EncryptionContext,
    pub(super) input: &'a PutMediaInput,
    pub(super) engine: &'a Engine,
    pub(super) session: &'a SessionCaller,
}

/// A fragment sealed as it was read, ready to be persisted.
pub(super) struct StreamedFragment {
    pub(super) meta: FragmentMeta,
    pub(super) timecode_ms: u64,
    pub(super) sealed: Bytes,
}

/// Where a streamed fragment's plaintext goes.
enum Sink<'e> {
    /// Before the timestamp: held, to be written once the writer starts.
    Held(Vec<u8>),
    /// Into the sealed message (boxed: the writer holds the AEAD's key schedule).
    Writer(Box<FragmentWriter<'e>>),
    /// The writer could not start: the rest of the Cluster is read and dropped, and the
    /// fragment then fails with this.
    Refused(FragmentFailure),
}

/// The session's input as an [`io::Read`] for [`FragmentWriter::fill_from`] (which reads
/// straight into the message's frames), through [`Source::read_patiently`]: `IDLE` while the
/// producer sends nothing. Its failure (a read error, the acknowledgement sink) is kept, to be
/// returned as it is.
struct Patient<'s, 'a, R, F> {
    src: &'s mut Source<'a, R, F>,
    failed: Option<Failed>,
}

impl<R: Read, F: FnMut(&Ack) -> io::Result<()>> Read for Patient<'_, '_, R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.src.read_patiently(buf).map_err(|f| {
            self.failed = Some(f);
            io::Error::other("the PutMedia input failed")
        })
    }
}

/// A fragment being streamed: where its plaintext goes and what its check will read.
struct Streaming<'e> {
    sink: Sink<'e>,
    /// The stream's header, then the Cluster (unknown size) with its elements' data cut at
    /// [`KEEP`] bytes.
    skeleton: Vec<u8>,
}

impl Streaming<'_> {
    /// Appends plaintext that was read already.
    fn write(&mut self, data: &[u8]) -> Result<(), Failed> {
        match &mut self.sink {
            Sink::Held(v) => v.extend_from_slice(data),
            Sink::Writer(w) => w
                .write_all(data)
                .map_err(|e| Failed::Fragment(FragmentFailure::from_seal(&e)))?,
            Sink::Refused(_) => {}
        }
        Ok(())
    }

    /// Reads `n` more plaintext bytes from `src` where they go.
    fn fill<R: Read, F: FnMut(&Ack) -> io::Result<()>>(
        &mut self,
        src: &mut Source<'_, R, F>,
        n: u64,
    ) -> Result<(), Failed> {
        match &mut self.sink {
            Sink::Held(v) => src.data(n, MAX_FRAGMENT_SIZE, v),
            Sink::Writer(w) => {
                let mut patient = Patient { src, failed: None };
                let filled = w.fill_from(&mut patient, n);
                if let Some(f) = patient.failed {
                    return Err(f);
                }
                let offset = patient.src.offset;
                filled.map_err(|e| match e.kind() {
                    io::ErrorKind::UnexpectedEof => {
                        invalid(offset, "the input ends inside an element")
                    }
                    _ => match e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<crate::SealError>())
                    {
                        Some(seal) => Failed::Fragment(FragmentFailure::from_seal(seal)),
                        None => read_error(&e),
                    },
                })
            }
            Sink::Refused(_) => {
                let mut scratch = Vec::new();
                let mut left = n;
                while left > 0 {
                    let chunk = left.min(DISCARD_CHUNK);
                    scratch.clear();
                    src.data(chunk, DISCARD_CHUNK, &mut scratch)?;
                    left -= chunk;
                }
                Ok(())
            }
        }
    }

    /// Reads one element whose header `head` (of id `id`, size `size`) was just read, and
    /// returns its skeleton: the header and data of a leaf cut at [`KEEP`] bytes, a master's
    /// children read the same way, its size rewritten to match when it changed. Only a cut
    /// element (17 data bytes or more) and the masters around it get an 8-byte size, so the
    /// skeleton of a Cluster is a few hundred bytes for real media and bounded by a small
    /// multiple of the Cluster for any input (within its 50 MB).
    fn element<R: Read, F: FnMut(&Ack) -> io::Result<()>>(
        &mut self,
        src: &mut Source<'_, R, F>,
        id: u32,
        head: &[u8],
        size: u64,
        depth: usize,
    ) -> Result<Vec<u8>, Failed> {
        self.write(head)?;
        let mut data = Vec::new();
        if ids::is_master(id) {
            if depth >= MAX_DEPTH {
                return Err(invalid(src.offset, "elements nested too deep in a Cluster"));
            }
            let mut read = 0u64;
            while read < size {
                let Some((cid, chead, csize)) = src.header()? else {
                    return Err(invalid(src.offset, "the input ends inside a Cluster"));
                };
                let csize = csize.ok_or_else(|| {
                    invalid(src.offset, "an element of unknown size inside a Cluster")
                })?;
                read = read
                    .saturating_add(chead.len() as u64)
                    .saturating_add(csize);
                if read > size {
                    return Err(invalid(src.offset, "an element overruns its parent"));
                }
                data.extend(self.element(src, cid, &chead, csize, depth + 1)?);
            }
        } else {
            let keep = size.min(KEEP);
            src.data(keep, KEEP, &mut data)?;
            self.write(&data)?;
            self.fill(src, size - keep)?;
        }
        // Unchanged: as read (so the skeleton is never larger than the Cluster for elements
        // that are not cut: an empty element is 2 bytes, not 9); cut: with its new size.
        if data.len() as u64 == size {
            let mut whole = head.to_vec();
            whole.extend_from_slice(&data);
            return Ok(whole);
        }
        Ok(super::mkvout::element(id, &data))
    }
}

impl Kvs {
    /// Reads one Cluster, whose header `head` (size `size`) was just read, straight into a
    /// fragment writer (see the [module documentation](self)); returns the sealed fragment,
    /// acknowledged `BUFFERING` and `RECEIVED`, for the caller to persist.
    #[allow(
        clippy::too_many_arguments,
        reason = "the session's state, passed explicitly"
    )]
    pub(super) fn stream_cluster<'e, R: Read, F: FnMut(&Ack) -> io::Result<()>>(
        &self,
        cx: &StreamCtx<'e>,
        header: &Header,
        src: &mut Source<'_, R, F>,
        head: &[u8],
        size: Option<u64>,
        size_hint: usize,
        last_timecode: &mut Option<u64>,
        last_number: &mut Option<String>,
    ) -> Result<StreamedFragment, Failed> {
        let mut held = Vec::new();
        header.prefix_into(&mut held, head.len());
        let prefix_len = held.len() as u64;
        let mut skeleton = held.clone();
        skeleton.extend(super::mkvout::unknown_size_header(ids::CLUSTER));
        let body_at = skeleton.len();
        held.extend_from_slice(head);
        let mut st = Streaming {
            sink: Sink::Held(held),
            skeleton,
        };
        let mut numbered: Option<(Numbered, u64)> = None;
        let mut cluster_len = head.len() as u64;
        let mut read = 0u64;
        while let Some((cid, chead, csize)) = src.cluster_child(size, read)? {
            let child_len = (chead.len() as u64).saturating_add(csize);
            cluster_len = cluster_len.saturating_add(child_len);
            if cluster_len > MAX_FRAGMENT_SIZE {
                return Err(Failed::Fragment(FragmentFailure::new(
                    ErrorId::MaxFragmentSize,
                    format!("the fragment exceeds {MAX_FRAGMENT_SIZE} bytes"),
                )));
            }
            read = read.saturating_add(child_len);
            let child = st.element(src, cid, &chead, csize, 1)?;
            st.skeleton.extend_from_slice(&child);
            if cid == ids::CLUSTER_TIMESTAMP && numbered.is_none() {
                let data = &child[child.len() - csize.min(KEEP) as usize..];
                let tc = mkv::be_uint(data);
                let tc_ms = tc.saturating_mul(header.scale_ns) / 1_000_000;
                *last_timecode = Some(tc_ms);
                (src.on_ack)(&Ack::buffering(tc_ms)).map_err(Failed::Sink)?;
                // Numbered now (the identity needs it), acknowledged with its number only
                // once RECEIVED, as a buffered fragment is: an ERROR before names none.
                let n = self.number_fragment(cx.info, cx.input, tc_ms)?;
                let max_len = prefix_len
                    + size.map_or(MAX_FRAGMENT_SIZE, |s| {
                        s.saturating_add(head.len() as u64).min(MAX_FRAGMENT_SIZE)
                    });
                let request = SealWriterRequest::new(cx.ec.clone(), max_len)
                    .with_identity(n.identity(cx.info))
                    .with_size_hint(size_hint);
                let Sink::Held(mut held) = std::mem::replace(&mut st.sink, Sink::Held(Vec::new()))
                else {
                    return Err(internal("a fragment's writer started twice"));
                };
                st.sink = match cx.session.seal_writer(cx.engine, &request) {
                    Ok(mut w) => {
                        let wrote = w.write_all(&held);
                        held.zeroize();
                        wrote.map_err(|e| Failed::Fragment(FragmentFailure::from_seal(&e)))?;
                        Sink::Writer(Box::new(w))
                    }
                    Err(e) => {
                        held.zeroize();
                        Sink::Refused(FragmentFailure::from_seal(&e))
                    }
                };
                numbered = Some((n, tc_ms));
            }
        }
        if size.is_some_and(|s| read != s) {
            return Err(invalid(src.offset, "a Cluster child overruns the Cluster"));
        }
        let timecode_ms = check_fragment(&st.skeleton)?;
        let Some((n, tc_ms)) = numbered else {
            return Err(internal("a checked Cluster without its timestamp"));
        };
        if timecode_ms != tc_ms {
            return Err(internal("the checked timecode differs from the one read"));
        }
        let duration_ms =
            fragment_length_ms(&st.skeleton[body_at..], header.scale_ns, &header.durations);
        *last_number = Some(n.number.clone());
        (src.on_ack)(&Ack::received(tc_ms, &n.number)).map_err(Failed::Sink)?;
        let failed = |failure| {
            Failed::At(SealFailed {
                failure,
                timecode_ms: tc_ms,
                number: n.number.clone(),
            })
        };
        let sealed = match st.sink {
            Sink::Writer(w) => w
                .finish()
                .map_err(|e| failed(FragmentFailure::from_seal(&e)))?,
            Sink::Refused(f) => return Err(failed(f)),
            Sink::Held(_) => return Err(internal("a numbered fragment without its writer")),
        };
        Ok(StreamedFragment {
            meta: n.meta(prefix_len + cluster_len, duration_ms),
            timecode_ms: tc_ms,
            sealed,
        })
    }
}

fn internal(what: &str) -> Failed {
    Failed::Fragment(FragmentFailure::new(ErrorId::Internal, what))
}

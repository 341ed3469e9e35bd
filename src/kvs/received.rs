//! A PutMedia fragment once it is complete: checked with the MKV splitter, numbered and
//! acknowledged `RECEIVED`, then stored and acknowledged `PERSISTED` — for the fragments the
//! pipeline sealed ([`Kvs::drain`]) and for those sealed as they were read
//! ([`put_streamed`](super::put_streamed)).

use super::acks::Ack;
use super::errors::{ErrorId, FragmentFailure};
use super::pipeline::{Pipeline, SealFailed};
use super::put_media::{FragmentTimecodeType, PutMediaInput, PutMediaSummary};
use super::source::{invalid, Failed};
use super::store::{fragment_number, FragmentMeta, StoredFragment};
use super::{Kvs, StreamInfo};
use crate::engine::SealRequest;
use crate::identity::FragmentIdentity;
use crate::mkv;
use crate::EncryptionContext;
use bytes::Bytes;
use std::io;

/// A fragment's number and timestamps, given when it is numbered.
#[derive(Clone, Debug)]
pub(super) struct Numbered {
    /// The fragment number's value (what the identity binds).
    pub(super) sequence: u64,
    /// The fragment number, as acknowledged.
    pub(super) number: String,
    /// The producer timestamp (`ABSOLUTE`, or `RELATIVE` to `ProducerStartTimestamp`), ms.
    pub(super) producer_timestamp_ms: u64,
    /// The server timestamp, ms.
    pub(super) server_timestamp_ms: u64,
}

impl Numbered {
    /// The identity the fragment is sealed with.
    pub(super) fn identity(&self, info: &StreamInfo) -> FragmentIdentity {
        FragmentIdentity {
            stream_arn: info.stream_arn.clone(),
            fragment_number: self.sequence,
            producer_timestamp_ms: self.producer_timestamp_ms,
            track: 1,
        }
    }

    /// The store's record of the fragment: `size` bytes of media playing `duration_ms`.
    pub(super) fn meta(&self, size: u64, duration_ms: u64) -> FragmentMeta {
        FragmentMeta {
            fragment_number: self.number.clone(),
            sequence: self.sequence,
            producer_timestamp_ms: self.producer_timestamp_ms,
            server_timestamp_ms: self.server_timestamp_ms,
            size,
            duration_ms,
            track: 1,
        }
    }
}

/// Checks that `doc` — a fragment document, or the skeleton of a streamed one — is the
/// stream's header and exactly one Cluster, and returns that Cluster's timecode in ms.
pub(super) fn check_fragment(doc: &[u8]) -> Result<u64, Failed> {
    let parsed = mkv::split(doc)
        .map_err(|e| FragmentFailure::new(ErrorId::InvalidMkvData, e.to_string()))?;
    let [f] = parsed.fragments() else {
        return Err(invalid(0, "a fragment is not exactly one Cluster"));
    };
    Ok(f.producer_timestamp_ms())
}

impl Kvs {
    /// Numbers the next fragment of `info` whose Cluster timecode is `timecode_ms`.
    pub(super) fn number_fragment(
        &self,
        info: &StreamInfo,
        input: &PutMediaInput,
        timecode_ms: u64,
    ) -> Result<Numbered, Failed> {
        let producer_timestamp_ms = match input.timecode_type {
            FragmentTimecodeType::Absolute => timecode_ms,
            FragmentTimecodeType::Relative => input
                .producer_start_timestamp_ms
                .saturating_add(timecode_ms),
        };
        let server_timestamp_ms = self.now_ms();
        let sequence = self.next_sequence(&info.stream_arn, server_timestamp_ms)?;
        Ok(Numbered {
            sequence,
            number: fragment_number(sequence),
            producer_timestamp_ms,
            server_timestamp_ms,
        })
    }

    /// Checks and numbers one complete fragment document and acknowledges it `RECEIVED`:
    /// the request that seals it, its metadata, and its timecode.
    #[allow(
        clippy::too_many_arguments,
        reason = "the session's state, passed explicitly"
    )]
    pub(super) fn receive<F: FnMut(&Ack) -> io::Result<()>>(
        &self,
        info: &StreamInfo,
        ec: &EncryptionContext,
        doc: Bytes,
        duration_ms: u64,
        input: &PutMediaInput,
        last_timecode: &mut Option<u64>,
        last_number: &mut Option<String>,
        on_ack: &mut F,
    ) -> Result<(SealRequest, FragmentMeta, u64), Failed> {
        let timecode_ms = check_fragment(&doc)?;
        *last_timecode = Some(timecode_ms);
        let numbered = self.number_fragment(info, input, timecode_ms)?;
        *last_number = Some(numbered.number.clone());
        on_ack(&Ack::received(timecode_ms, &numbered.number)).map_err(Failed::Sink)?;
        let meta = numbered.meta(doc.len() as u64, duration_ms);
        let request = SealRequest::new(ec.clone(), doc).with_identity(numbered.identity(info));
        Ok((request, meta, timecode_ms))
    }

    /// Stores one sealed fragment (unless the retention is 0) and acknowledges it
    /// `PERSISTED`. A store failure fails the fragment: nothing of it was persisted.
    pub(super) fn persist<F: FnMut(&Ack) -> io::Result<()>>(
        &self,
        info: &StreamInfo,
        meta: FragmentMeta,
        timecode_ms: u64,
        sealed: Bytes,
        summary: &mut PutMediaSummary,
        on_ack: &mut F,
    ) -> Result<(), Failed> {
        let number = meta.fragment_number.clone();
        if info.data_retention_in_hours > 0 {
            let fragment = StoredFragment { meta, sealed };
            if let Err(e) = self.store.put_fragment(&info.stream_arn, fragment) {
                return Err(Failed::At(SealFailed {
                    failure: FragmentFailure::new(ErrorId::Internal, e.to_string()),
                    timecode_ms,
                    number,
                }));
            }
            self.notify_persisted(&info.stream_arn);
            summary.persisted += 1;
        }
        on_ack(&Ack::persisted(timecode_ms, &number)).map_err(Failed::Sink)
    }

    /// Takes sealed fragments off `pipe` in order — each stored (unless the retention is 0),
    /// then acknowledged `PERSISTED` — as `how` says. A fragment that failed to seal or to be
    /// stored ends the session: what is in flight behind it is dropped, never persisted.
    pub(super) fn drain<F: FnMut(&Ack) -> io::Result<()>>(
        &self,
        pipe: &mut Pipeline<'_, '_>,
        how: Drain,
        info: &StreamInfo,
        summary: &mut PutMediaSummary,
        on_ack: &mut F,
    ) -> Result<(), Failed> {
        while !pipe.is_empty() {
            let Some((f, sealed)) = pipe.next_done(how != Drain::Ready) else {
                return Ok(());
            };
            let sealed = match sealed {
                Ok(b) => b,
                Err(e) => {
                    pipe.abandon();
                    return Err(Failed::At(SealFailed {
                        failure: FragmentFailure::from_seal(&e),
                        timecode_ms: f.timecode_ms,
                        number: f.meta.fragment_number,
                    }));
                }
            };
            if let Err(e) = self.persist(info, f.meta, f.timecode_ms, sealed, summary, on_ack) {
                pipe.abandon();
                return Err(e);
            }
            summary.streamed += u64::from(f.streamed);
            if how == Drain::One {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// How much [`Kvs::drain`] takes off the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Drain {
    /// The results that are in, in order, without waiting.
    Ready,
    /// The oldest, waiting for it.
    One,
    /// Everything, waiting.
    All,
}

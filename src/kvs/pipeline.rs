//! PutMedia's sealing pipeline: a session reads and splits fragment N+1 while fragments
//! N, N-1, ... are sealed on the rayon pool: at most one seal per pool thread, plus the queued
//! ones the session asks for ([`Pipeline::new`]). A fragment the session sealed itself as it
//! read it ([`Pipeline::push_sealed`], `put_streamed`: while the pool's window is full, in
//! `PutMediaMode::Auto`) joins the queue already done. Results are taken in fragment order: each is stored, then acknowledged
//! `PERSISTED`, so the acknowledgements of one fragment keep KVS's order (`BUFFERING`,
//! `RECEIVED`, `PERSISTED`) and fragments are persisted in the order they were received.
//!
//! A session that waits for a result never blocks a pool thread: it runs pending pool jobs
//! (`rayon::yield_now`) while it waits, so sessions running on the pool (the benchmark's 8
//! and 64 concurrent streams) cannot starve their own sealing jobs.
//!
//! Credentials: each fragment is sealed for the session's current credential
//! ([`SessionCaller`]: refreshed once, and the seal retried once, on `ExpiredTokenException`;
//! never for another principal than the one authorized).
//!
//! Buffers (docs/PERFORMANCE.md): each fragment is sealed into a buffer of the engine's pool
//! ([`Engine::seal`] writes into it), so that the sealed bytes the store keeps go back to
//! that pool when the store drops them (retention, DeleteStream) and a later fragment is
//! sealed into memory that is already faulted in; and the plaintext document a fragment was
//! read into comes back to the session when its seal is done, for the session's next fragment
//! (at most one more than the fragments in flight are kept, freed when the session ends).

use super::caller::SessionCaller;
use super::errors::FragmentFailure;
use super::store::FragmentMeta;
use crate::engine::{Engine, SealRequest};
use crate::SealError;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// A received fragment whose seal is in flight.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// Its metadata (what the store records).
    pub(crate) meta: FragmentMeta,
    /// The Cluster's timecode as the producer wrote it (the acknowledgements' value).
    pub(crate) timecode_ms: u64,
    /// Sealed as it was read, by the session itself ([`Pipeline::push_sealed`]).
    pub(crate) streamed: bool,
    slot: u64,
}

type Sealed = Result<Bytes, SealError>;

/// The fragments in flight, in order, and their results as they come.
pub(crate) struct Pipeline<'s, 'e> {
    scope: &'s rayon::Scope<'e>,
    engine: &'e Engine,
    caller: &'e SessionCaller,
    window: usize,
    queue: VecDeque<InFlight>,
    done: HashMap<u64, Sealed>,
    tx: Sender<(u64, Sealed)>,
    rx: Receiver<(u64, Sealed)>,
    next_slot: u64,
    /// Seals submitted to the pool whose results have not come back yet.
    running: usize,
    docs: Docs,
}

/// A session's fragment documents whose seal is done, for its next fragments: at most `keep`
/// idle, freed with the session.
pub(crate) struct Docs {
    idle: Arc<Mutex<Vec<Vec<u8>>>>,
    keep: usize,
}

impl Docs {
    /// Keeps at most `keep` idle documents.
    pub(crate) fn new(keep: usize) -> Self {
        Self {
            idle: Arc::default(),
            keep,
        }
    }

    /// An empty buffer: an idle document, or a fresh (unallocated) one.
    pub(crate) fn take(&self) -> Vec<u8> {
        let mut doc = self
            .idle
            .lock()
            .ok()
            .and_then(|mut idle| idle.pop())
            .unwrap_or_default();
        doc.clear();
        doc
    }

    /// `doc` as a [`Bytes`] that gives the buffer back here when its last clone drops (if
    /// these `Docs` still exist and keep fewer than `keep`; else it is freed).
    pub(crate) fn wrap(&self, doc: Vec<u8>) -> Bytes {
        Bytes::from_owner(Doc {
            buf: doc,
            home: Arc::downgrade(&self.idle),
            keep: self.keep,
        })
    }
}

/// The owner behind a document's [`Bytes`] (see [`Docs::wrap`]).
struct Doc {
    buf: Vec<u8>,
    home: Weak<Mutex<Vec<Vec<u8>>>>,
    keep: usize,
}

impl AsRef<[u8]> for Doc {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Doc {
    fn drop(&mut self) {
        let Some(home) = self.home.upgrade() else {
            return;
        };
        let Ok(mut idle) = home.lock() else {
            return;
        };
        if idle.len() < self.keep {
            idle.push(core::mem::take(&mut self.buf));
        }
    }
}

impl<'s, 'e> Pipeline<'s, 'e> {
    /// A pipeline spawning into `scope`, with one seal in flight per pool thread and
    /// `queued` more waiting behind them (with one queued, a pool thread that finishes a seal
    /// starts the next at once, while a lone session seals what it reads itself:
    /// `PutMediaMode::Auto`).
    pub(crate) fn new(
        scope: &'s rayon::Scope<'e>,
        engine: &'e Engine,
        caller: &'e SessionCaller,
        queued: usize,
    ) -> Self {
        let (tx, rx) = channel();
        let window = rayon::current_num_threads().max(1) + queued;
        Self {
            scope,
            engine,
            caller,
            window,
            queue: VecDeque::new(),
            done: HashMap::new(),
            tx,
            rx,
            next_slot: 0,
            running: 0,
            // The fragments in flight and the one being read.
            docs: Docs::new(window + 1),
        }
    }

    /// An empty buffer for the next fragment document: one whose seal is done, or fresh.
    pub(crate) fn doc(&self) -> Vec<u8> {
        self.docs.take()
    }

    /// `doc` as the plaintext of a seal request: it comes back to [`Self::doc`] when the
    /// request (and every clone of the bytes) is dropped.
    pub(crate) fn plaintext(&self, doc: Vec<u8>) -> Bytes {
        self.docs.wrap(doc)
    }

    /// Whether another fragment may start sealing on the pool without waiting: fewer seals
    /// run or wait there than its window.
    pub(crate) fn has_room(&mut self) -> bool {
        while let Ok((s, r)) = self.rx.try_recv() {
            self.received(s, r);
        }
        self.running < self.window
    }

    fn received(&mut self, slot: u64, r: Sealed) {
        self.running = self.running.saturating_sub(1);
        self.done.insert(slot, r);
    }

    /// Whether nothing is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Starts sealing `request` (a received fragment described by `meta`).
    pub(crate) fn submit(&mut self, request: SealRequest, meta: FragmentMeta, timecode_ms: u64) {
        let slot = self.next_slot;
        self.next_slot += 1;
        let tx = self.tx.clone();
        let (engine, caller) = (self.engine, self.caller);
        self.scope.spawn(move |_| {
            // Written into a buffer of the engine's pool, for the current credential.
            let r = caller.seal(engine, &request);
            // The receiver outlives the scope's jobs: a send cannot fail while it is read.
            let _ = tx.send((slot, r));
        });
        self.running += 1;
        self.queue.push_back(InFlight {
            meta,
            timecode_ms,
            streamed: false,
            slot,
        });
    }

    /// Queues a fragment the session sealed itself as it read it: it is persisted in its
    /// turn, after the fragments before it.
    pub(crate) fn push_sealed(&mut self, meta: FragmentMeta, timecode_ms: u64, sealed: Bytes) {
        let slot = self.next_slot;
        self.next_slot += 1;
        self.done.insert(slot, Ok(sealed));
        self.queue.push_back(InFlight {
            meta,
            timecode_ms,
            streamed: true,
            slot,
        });
    }

    /// The oldest fragment and its result, if that result is in (`wait`: waits for it).
    pub(crate) fn next_done(&mut self, wait: bool) -> Option<(InFlight, Sealed)> {
        let slot = self.queue.front()?.slot;
        loop {
            if let Some(r) = self.done.remove(&slot) {
                let f = self.queue.pop_front()?;
                return Some((f, r));
            }
            match self.rx.try_recv() {
                Ok((s, r)) => {
                    self.received(s, r);
                    continue;
                }
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) if !wait => return None,
                Err(TryRecvError::Empty) => {}
            }
            match rayon::yield_now() {
                Some(rayon::Yield::Executed) => {}
                // The job runs on another thread: wait a little, then look for work again.
                Some(rayon::Yield::Idle) => {
                    match self.rx.recv_timeout(Duration::from_micros(200)) {
                        Ok((s, r)) => {
                            self.received(s, r);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return None,
                    }
                }
                // Not on a pool thread: the pool runs the job; block until it is done.
                None => match self.rx.recv() {
                    Ok((s, r)) => {
                        self.received(s, r);
                    }
                    Err(_) => return None,
                },
            }
        }
    }

    /// Drops what is in flight (the session failed): none of it is persisted.
    pub(crate) fn abandon(&mut self) {
        self.queue.clear();
        self.done.clear();
    }
}

/// A seal failure of the fragment `(timecode, number)`.
#[derive(Debug)]
pub(crate) struct SealFailed {
    pub(crate) failure: FragmentFailure,
    pub(crate) timecode_ms: u64,
    pub(crate) number: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_fragments_document_is_reused_and_at_most_keep_are_kept() {
        let docs = Docs::new(1);
        let mut doc = docs.take();
        doc.extend_from_slice(&[7; 1000]);
        let addr = doc.as_ptr() as usize;
        let plain = docs.wrap(doc);
        let clone = plain.clone();
        drop(plain);
        assert_eq!(docs.take().capacity(), 0, "a clone still holds it");
        assert_eq!(&clone[..], &[7; 1000][..]);
        drop(clone);
        let again = docs.take();
        assert_eq!(again.as_ptr() as usize, addr, "the same buffer");
        assert!(again.is_empty() && again.capacity() >= 1000);

        let (a, b) = (docs.wrap(vec![1; 10]), docs.wrap(vec![2; 10]));
        drop((a, b));
        assert_eq!(docs.take().capacity(), 10);
        assert_eq!(docs.take().capacity(), 0, "only one was kept");
    }

    #[test]
    fn a_document_outlives_its_session() {
        let docs = Docs::new(2);
        let plain = docs.wrap(b"fragment".to_vec());
        drop(docs);
        assert_eq!(&plain[..], b"fragment");
    }
}

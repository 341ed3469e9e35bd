//! PutMedia's sealing pipeline: a session reads and splits fragment N+1 while fragments
//! N, N-1, ... are sealed on the rayon pool, at most one per pool thread in flight. Results
//! are taken in fragment order: each is stored, then acknowledged `PERSISTED`, so the
//! acknowledgements of one fragment keep KVS's order (`BUFFERING`, `RECEIVED`, `PERSISTED`)
//! and fragments are persisted in the order they were received.
//!
//! A session that waits for a result never blocks a pool thread: it runs pending pool jobs
//! (`rayon::yield_now`) while it waits, so sessions running on the pool (the benchmark's 8
//! and 64 concurrent streams) cannot starve their own sealing jobs.

use super::errors::FragmentFailure;
use super::store::FragmentMeta;
use crate::engine::{Engine, SealRequest};
use crate::kms::Credential;
use crate::SealError;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::Duration;

/// A received fragment whose seal is in flight.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// Its metadata (what the store records).
    pub(crate) meta: FragmentMeta,
    /// The Cluster's timecode as the producer wrote it (the acknowledgements' value).
    pub(crate) timecode_ms: u64,
    slot: u64,
}

type Sealed = Result<Bytes, SealError>;

/// The fragments in flight, in order, and their results as they come.
pub(crate) struct Pipeline<'s, 'e> {
    scope: &'s rayon::Scope<'e>,
    engine: &'e Engine,
    caller: &'e Credential,
    window: usize,
    queue: VecDeque<InFlight>,
    done: HashMap<u64, Sealed>,
    tx: Sender<(u64, Sealed)>,
    rx: Receiver<(u64, Sealed)>,
    next_slot: u64,
}

impl<'s, 'e> Pipeline<'s, 'e> {
    /// A pipeline spawning into `scope`, with one fragment in flight per pool thread.
    pub(crate) fn new(
        scope: &'s rayon::Scope<'e>,
        engine: &'e Engine,
        caller: &'e Credential,
    ) -> Self {
        let (tx, rx) = channel();
        Self {
            scope,
            engine,
            caller,
            window: rayon::current_num_threads().max(1),
            queue: VecDeque::new(),
            done: HashMap::new(),
            tx,
            rx,
            next_slot: 0,
        }
    }

    /// Whether another fragment may start sealing without waiting.
    pub(crate) fn has_room(&self) -> bool {
        self.queue.len() < self.window
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
            let r = engine.seal(caller, &request);
            // The receiver outlives the scope's jobs: a send cannot fail while it is read.
            let _ = tx.send((slot, r));
        });
        self.queue.push_back(InFlight {
            meta,
            timecode_ms,
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
                    self.done.insert(s, r);
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
                            self.done.insert(s, r);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return None,
                    }
                }
                // Not on a pool thread: the pool runs the job; block until it is done.
                None => match self.rx.recv() {
                    Ok((s, r)) => {
                        self.done.insert(s, r);
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

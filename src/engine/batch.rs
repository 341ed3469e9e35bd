//! Batches: many fragments in parallel on the current rayon pool, in order, one result each.
//!
//! [`Engine::seal_batch`] and [`Engine::open_batch`] (and their `_mixed` and `_current`
//! forms) write each result into a buffer of the engine's [pool](super::buffers): the result
//! is an ordinary [`Bytes`], and dropping its last clone returns the buffer, so that the next
//! batch writes into memory that is already faulted in (docs/PERFORMANCE.md).

use super::buffers::{Contents, IdleBuffers};
use super::{Engine, OpenRequest, Opened, SealRequest};
use crate::error::{OpenError, SealError};
use crate::kms::Credential;
use crate::message;
use bytes::Bytes;
use core::fmt;
use rayon::prelude::*;

/// A fragment that could not be sealed, handed back intact with the reason.
#[derive(Debug)]
pub struct SealFailure {
    /// The credential it was to be sealed for.
    pub credential: Credential,
    /// The request, unchanged.
    pub request: SealRequest,
    /// Why it failed.
    pub error: SealError,
}

/// A fragment that could not be opened, handed back intact with the reason.
#[derive(Debug)]
pub struct OpenFailure {
    /// The credential it was to be opened for.
    pub credential: Credential,
    /// The request, unchanged.
    pub request: OpenRequest,
    /// Why it failed.
    pub error: OpenError,
}

impl fmt::Display for SealFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fragment of {} bytes not sealed: {}",
            self.request.plaintext.len(),
            self.error
        )
    }
}

impl std::error::Error for SealFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl fmt::Display for OpenFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "message of {} bytes not opened: {}",
            self.request.message.len(),
            self.error
        )
    }
}

impl std::error::Error for OpenFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl Engine {
    /// Seals one fragment into a pooled buffer of the message's exact length (see the
    /// [module documentation](self)).
    pub(super) fn seal_pooled(
        &self,
        credential: &Credential,
        request: &SealRequest,
    ) -> Result<Bytes, SealError> {
        let plaintext = &request.plaintext;
        self.seal_with(credential, request, |key, signer, params| {
            // The exact length, so that the buffer never grows (and moves) while it is written.
            let need = match signer {
                None => message::sealed_len(params, plaintext.len())?,
                Some(_) => message::signed_sealed_len(params, plaintext.len())?,
            };
            let mut taken = self.buffers.take(need);
            let written = match signer {
                None => message::seal_into(key, params, plaintext, &mut taken.buf),
                Some(signer) => {
                    message::seal_signed_into(key, signer, params, plaintext, &mut taken.buf)
                }
            };
            match written {
                Ok(()) => Ok(self.buffers.wrap(taken, Contents::Sealed)),
                Err(e) => {
                    self.buffers.give(taken, Contents::Sealed);
                    Err(e)
                }
            }
        })
    }

    /// Opens one fragment into a pooled buffer, wiped per
    /// [`BufferPoolLimits::plaintext_wipe`](super::BufferPoolLimits::plaintext_wipe).
    pub(super) fn open_pooled(
        &self,
        credential: &Credential,
        request: &OpenRequest,
    ) -> Result<Opened, OpenError> {
        // The plaintext is never longer than the message: the buffer never grows.
        let mut taken = self.buffers.take(request.message.len());
        match self.open_into(credential, request, &mut taken.buf) {
            Ok(header) => Ok(Opened {
                plaintext: self.buffers.wrap(taken, Contents::Plaintext),
                header,
            }),
            Err(e) => {
                self.buffers.give(taken, Contents::Plaintext);
                Err(e)
            }
        }
    }

    /// What the pool of batch output buffers holds idle: the buffers of dropped batch results,
    /// kept for the next batch within [`EngineConfig::buffer_pool`](super::EngineConfig::buffer_pool).
    pub fn idle_batch_buffers(&self) -> IdleBuffers {
        self.buffers.idle()
    }

    /// Seals many fragments for one credential in parallel (on the current rayon pool). The
    /// results keep the order of `requests`, one per fragment; a fragment that fails is handed
    /// back intact in its [`SealFailure`]. Each message lives in a buffer of the engine's pool,
    /// which gets it back when the last clone of the [`Bytes`] is dropped.
    pub fn seal_batch(
        &self,
        credential: &Credential,
        requests: Vec<SealRequest>,
    ) -> Vec<Result<Bytes, Box<SealFailure>>> {
        requests
            .into_par_iter()
            .map(|request| {
                self.seal_pooled(credential, &request).map_err(|error| {
                    Box::new(SealFailure {
                        credential: credential.clone(),
                        request,
                        error,
                    })
                })
            })
            .collect()
    }

    /// Seals many fragments for one credential in parallel into caller-provided buffers:
    /// `outputs[i]` is cleared and receives the message of `requests[i]`. Reusing the buffers
    /// from batch to batch avoids fresh allocations (and their page faults). Results keep the
    /// order of `requests`; the requests stay with the caller.
    ///
    /// # Errors
    /// [`SealError::BufferCount`] when `outputs` and `requests` differ in length; otherwise
    /// one result per fragment.
    pub fn seal_batch_into(
        &self,
        credential: &Credential,
        requests: &[SealRequest],
        outputs: &mut [Vec<u8>],
    ) -> Result<Vec<Result<(), SealError>>, SealError> {
        if requests.len() != outputs.len() {
            return Err(SealError::BufferCount {
                requests: requests.len(),
                outputs: outputs.len(),
            });
        }
        Ok(requests
            .par_iter()
            .zip(outputs.par_iter_mut())
            .map(|(request, out)| {
                out.clear();
                self.seal_into(credential, request, out)
            })
            .collect())
    }

    /// Seals many fragments, each for its own credential, in parallel; as [`Self::seal_batch`].
    pub fn seal_batch_mixed(
        &self,
        requests: Vec<(Credential, SealRequest)>,
    ) -> Vec<Result<Bytes, Box<SealFailure>>> {
        requests
            .into_par_iter()
            .map(|(credential, request)| {
                self.seal_pooled(&credential, &request).map_err(|error| {
                    Box::new(SealFailure {
                        credential,
                        request,
                        error,
                    })
                })
            })
            .collect()
    }

    /// Opens many fragments for one credential in parallel (on the current rayon pool). The
    /// results keep the order of `requests`, one per fragment; a fragment that fails is handed
    /// back intact in its [`OpenFailure`]. Each plaintext lives in a buffer of the engine's
    /// pool: when the last clone of [`Opened::plaintext`] is dropped, the buffer is zeroized and
    /// then given back (or freed when the pool is full).
    pub fn open_batch(
        &self,
        credential: &Credential,
        requests: Vec<OpenRequest>,
    ) -> Vec<Result<Opened, Box<OpenFailure>>> {
        requests
            .into_par_iter()
            .map(|request| {
                self.open_pooled(credential, &request).map_err(|error| {
                    Box::new(OpenFailure {
                        credential: credential.clone(),
                        request,
                        error,
                    })
                })
            })
            .collect()
    }

    /// Opens many fragments, each for its own credential, in parallel; as [`Self::open_batch`].
    pub fn open_batch_mixed(
        &self,
        requests: Vec<(Credential, OpenRequest)>,
    ) -> Vec<Result<Opened, Box<OpenFailure>>> {
        requests
            .into_par_iter()
            .map(|(credential, request)| {
                self.open_pooled(&credential, &request).map_err(|error| {
                    Box::new(OpenFailure {
                        credential,
                        request,
                        error,
                    })
                })
            })
            .collect()
    }
}

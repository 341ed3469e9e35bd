//! [`Engine::open_stream`]: a fragment opened from an `io::Read`, frame by frame.

use super::{session, union, Engine};
use crate::cache::CredentialCounters;
use crate::engine::OpenOptions;
use crate::error::OpenError;
use crate::kms::Credential;
use crate::message::{self, OpenParams, OpenStream, SealedStream, VerifiedHeader};
use core::fmt;
use std::io::{self, Read};
use std::sync::Arc;

impl Engine {
    /// Opens a sealed fragment read from `source` as a stream: the header is read and
    /// authenticated first, then each frame's plaintext is released only after its tag
    /// verifies; a missing final frame is an error. Reading errors are [`io::Error`]s of kind
    /// `InvalidData` wrapping an [`OpenError`].
    ///
    /// The message length is unknown up front, so the cache's byte limit is not charged for
    /// streamed opens (the fragment limit is).
    ///
    /// # Errors
    /// As [`Engine::open`], for the header; [`OpenError::Io`] when reading it fails.
    pub fn open_stream<R: Read>(
        &self,
        credential: &Credential,
        source: R,
        options: &OpenOptions,
    ) -> Result<EngineOpenStream<R>, OpenError> {
        let result = (|| {
            let sealed = SealedStream::new(source, &self.config.open_limits)
                .map_err(OpenError::into_policy_refusal)?;
            let header = sealed.header();
            self.check_signature_policy(header)?;
            message::check_open_context(
                header.encryption_context(),
                &options.required,
                options.supplied(),
                &options.identity,
            )?;
            let ec = union(header.encryption_context(), &options.supplied);
            let edks = header.encrypted_data_keys();
            let (lease, _, used) = self.opening_lease(credential, edks, &ec, 0)?;
            let edk = edks
                .get(used)
                .ok_or(OpenError::Internal("lost the opening key"))?;
            let verified =
                VerifiedHeader::new(header, &options.supplied, edk, lease.material().key_id());
            let params = OpenParams {
                identity: &options.identity,
                supplied_context: options.supplied(),
                backend: self.config.backend,
                commitment_policy: self.config.commitment_policy,
            };
            let inner = sealed.open(lease.material().data_key(), &params)?;
            Ok((inner, Arc::clone(lease.counters()), verified))
        })();
        match result {
            Ok((inner, counters, header)) => {
                counters.record_opened(0);
                Ok(EngineOpenStream {
                    inner,
                    counters,
                    header,
                })
            }
            Err(e) => {
                if let Some(c) = self.counters(credential) {
                    c.record_open_failure();
                }
                if session::open_expired(&e) {
                    self.forget_expired(credential);
                }
                Err(e)
            }
        }
    }
}

/// The plaintext of a fragment opened as a stream (see [`Engine::open_stream`]); counts the
/// bytes it releases in the credential's `bytes_opened`.
pub struct EngineOpenStream<R> {
    inner: OpenStream<R>,
    counters: Arc<CredentialCounters>,
    header: VerifiedHeader,
}

impl<R> EngineOpenStream<R> {
    /// The verified header.
    pub fn header(&self) -> &VerifiedHeader {
        &self.header
    }
}

impl<R> fmt::Debug for EngineOpenStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineOpenStream").finish_non_exhaustive()
    }
}

impl<R: Read> Read for EngineOpenStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counters.record_opened_bytes(n as u64);
        Ok(n)
    }
}

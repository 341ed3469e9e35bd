//! Sealing a fragment as it is produced or read: [`Engine::seal_writer`] returns a
//! [`FragmentWriter`] that writes the plaintext straight into the sealed message's frames and
//! encrypts each frame as soon as it is complete, while it is still in cache (no plaintext
//! buffer of the whole fragment, no second copy). The message is byte for byte what
//! [`Engine::seal`] would write for the same plaintext (with another random message id).
//!
//! ```
//! use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealWriterRequest};
//! use fragseal::identity::IdentityCheck;
//! use fragseal::keyring::RawAesKeyring;
//! use fragseal::crypto::SecretBytes;
//! use fragseal::kms::Credential;
//! use fragseal::EncryptionContext;
//! use std::sync::Arc;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keyring = RawAesKeyring::new("ns", "key", SecretBytes::from_slice(&[7; 32]))?;
//! let engine = Engine::new(Arc::new(keyring), EngineConfig::default())?;
//! let me = Credential::new("111122223333", "arn:aws:iam::111122223333:root", "AKIAME")?;
//! let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", "arn:aws:kinesisvideo:...");
//!
//! let mut writer = engine.seal_writer(&me, &SealWriterRequest::new(ec, 1 << 20))?;
//! writer.write_all(b"a media ")?;
//! writer.fill_from(&mut &b"fragment"[..], 8)?; // exactly 8 bytes from a reader
//! let sealed = writer.finish()?;
//!
//! let opened = engine.open(&me, &OpenRequest::new(sealed, IdentityCheck::Skip))?;
//! assert_eq!(&opened.plaintext[..], b"a media fragment");
//! # Ok(()) }
//! ```

use super::buffers::{Contents, Taken};
use super::request::union;
use super::{Engine, SealParts};
use crate::cache::{CredentialCounters, DataKeyMaterial};
use crate::error::SealError;
use crate::identity::FragmentIdentity;
use crate::kms::Credential;
use crate::message::writer::{FrameWriter, MARGIN};
use crate::message::{self, SealParams};
use crate::EncryptionContext;
use bytes::Bytes;
use core::fmt;
use std::io::{self, Read};
use std::sync::Arc;

/// The output buffer's default plaintext room: [`SealWriterRequest::max_len`] capped at this.
pub const DEFAULT_WRITER_SIZE_HINT: usize = 4 << 20;

/// A fragment to seal with [`Engine::seal_writer`]: [`SealRequest`](super::SealRequest)
/// without the plaintext, plus the most plaintext the writer takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealWriterRequest {
    /// As [`SealRequest::encryption_context`](super::SealRequest::encryption_context).
    pub encryption_context: EncryptionContext,
    /// As [`SealRequest::authenticate_only`](super::SealRequest::authenticate_only).
    pub authenticate_only: EncryptionContext,
    /// As [`SealRequest::identity`](super::SealRequest::identity).
    pub identity: Option<FragmentIdentity>,
    /// The most plaintext bytes the writer takes: a write beyond it is refused with
    /// [`SealError::BeyondMaxLen`]. The data-key cache's byte budget is charged this much
    /// when the writer starts, and what was not written is given back when it finishes (or is
    /// dropped), so that an entry counts the bytes its key sealed. A `max_len` above the
    /// cache's [`CacheLimits::max_bytes`](crate::cache::CacheLimits::max_bytes) cannot share a
    /// key: the writer then gets a fresh, uncached data key (one KMS call), as
    /// [`Engine::seal`] does for a fragment that large.
    pub max_len: u64,
    /// The plaintext length to size the output buffer for (`None`: `max_len` capped at
    /// [`DEFAULT_WRITER_SIZE_HINT`]); a longer fragment grows the buffer (a copy; the old
    /// buffer is zeroized).
    pub size_hint: Option<usize>,
}

impl SealWriterRequest {
    /// A request without fragment identity, for at most `max_len` plaintext bytes.
    pub fn new(encryption_context: EncryptionContext, max_len: u64) -> Self {
        Self {
            encryption_context,
            authenticate_only: EncryptionContext::new(),
            identity: None,
            max_len,
            size_hint: None,
        }
    }

    /// Sets [`Self::identity`].
    pub fn with_identity(mut self, identity: FragmentIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Adds a pair to [`Self::authenticate_only`].
    pub fn authenticate_only(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.authenticate_only.insert(key, value);
        self
    }

    /// Sets [`Self::size_hint`].
    pub fn with_size_hint(mut self, plaintext_len: usize) -> Self {
        self.size_hint = Some(plaintext_len);
        self
    }

    fn parts(&self) -> SealParts<'_> {
        SealParts {
            encryption_context: &self.encryption_context,
            authenticate_only: &self.authenticate_only,
            identity: self.identity.as_ref(),
        }
    }

    fn hint(&self) -> usize {
        self.size_hint.unwrap_or_else(|| {
            usize::try_from(self.max_len)
                .unwrap_or(usize::MAX)
                .min(DEFAULT_WRITER_SIZE_HINT)
        })
    }
}

/// A fragment being sealed frame by frame (see [`Engine::seal_writer`]).
///
/// - Fail closed: after any error (a write beyond `max_len` or the message limits, a reader's
///   error or early end in [`Self::fill_from`]) the writer is closed, every later call returns
///   [`SealError::WriterClosed`], and the fragment counts as a seal failure of the credential.
/// - Plaintext not yet encrypted (at most one frame) sits in the output buffer; a writer
///   dropped without [`Self::finish`], or failed, zeroizes it (`zeroize`) and returns the
///   buffer, which then holds only ciphertext, to the engine's pool. A dropped writer counts
///   as a seal failure.
pub struct FragmentWriter<'e> {
    engine: &'e Engine,
    material: Arc<DataKeyMaterial>,
    counters: Arc<CredentialCounters>,
    frames: FrameWriter,
    /// The output; `None` once finished.
    taken: Option<Taken>,
    max_len: u64,
    /// A failure was counted already.
    failed: bool,
    /// Whose reservation this is (the cache key's parts): what is not written goes back.
    reserved_for: Credential,
    /// The whole encryption context the data key was leased under.
    leased_under: EncryptionContext,
}

impl fmt::Debug for FragmentWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FragmentWriter")
            .field("len", &self.frames.len())
            .field("max_len", &self.max_len)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts sealing one fragment for `credential` whose plaintext is then written in pieces
    /// ([`FragmentWriter::write_all`], [`FragmentWriter::fill_from`], [`io::Write`]); see the
    /// [module documentation](self). The request is checked, and the data key leased (for
    /// [`SealWriterRequest::max_len`] bytes), exactly as [`Engine::seal`] does; the output goes
    /// into a buffer of the engine's pool sized for [`SealWriterRequest::size_hint`].
    ///
    /// # Errors
    /// As [`Engine::seal`].
    pub fn seal_writer(
        &self,
        credential: &Credential,
        request: &SealWriterRequest,
    ) -> Result<FragmentWriter<'_>, SealError> {
        let hint = request.hint();
        self.seal_prepared(
            credential,
            request.parts(),
            request.max_len,
            |lease, params, signer| {
                let mut taken = self
                    .buffers
                    .take(output_len(params, signer.is_some(), hint));
                let frames = match FrameWriter::new(
                    lease.material().data_key(),
                    signer,
                    params,
                    &mut taken.buf,
                ) {
                    Ok(frames) => frames,
                    Err(e) => {
                        self.buffers.give(taken, Contents::Sealed);
                        return Err(e);
                    }
                };
                Ok(FragmentWriter {
                    engine: self,
                    material: Arc::clone(lease.material()),
                    counters: Arc::clone(lease.counters()),
                    frames,
                    taken: Some(taken),
                    max_len: request.max_len,
                    failed: false,
                    reserved_for: credential.clone(),
                    leased_under: union(&request.encryption_context, &request.authenticate_only)
                        .into_owned(),
                })
            },
        )
    }
}

/// The buffer for a message of `plaintext_len` bytes, with the writer's working margin.
fn output_len(params: &SealParams<'_>, signed: bool, plaintext_len: usize) -> usize {
    let exact = if signed {
        message::signed_sealed_len(params, plaintext_len)
    } else {
        message::sealed_len(params, plaintext_len)
    };
    exact.unwrap_or(plaintext_len).saturating_add(MARGIN)
}

impl FragmentWriter<'_> {
    /// Plaintext bytes written so far.
    pub fn len(&self) -> u64 {
        self.frames.len()
    }

    /// Whether no plaintext was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The [`SealWriterRequest::max_len`] of the request.
    pub fn max_len(&self) -> u64 {
        self.max_len
    }

    /// Gives back the reserved bytes that were not written (once: the writer is done).
    fn release_unused(&mut self) {
        let unused = self.max_len.saturating_sub(self.frames.len());
        self.engine.release_unused_sealing_bytes(
            &self.reserved_for,
            &self.leased_under,
            &self.material,
            unused,
        );
    }

    /// Counts the fragment as a seal failure, once.
    fn fail(&mut self) {
        if !self.failed {
            self.failed = true;
            self.counters.record_seal_failure();
        }
    }

    /// Refuses `n` more bytes beyond `max_len`, closing the writer.
    fn check_max(&mut self, n: u64) -> Result<(), SealError> {
        match self.len().checked_add(n) {
            Some(len) if len <= self.max_len => Ok(()),
            len => {
                self.fail();
                // Close the frame writer too: it refuses anything after an error.
                self.frames.close();
                Err(SealError::BeyondMaxLen {
                    max_len: self.max_len,
                    len: len.unwrap_or(u64::MAX),
                })
            }
        }
    }

    /// Appends `data` to the fragment; every full frame is encrypted as soon as more follows.
    ///
    /// # Errors
    /// [`SealError::BeyondMaxLen`] past the request's `max_len`; [`SealError::TooManyFrames`]
    /// or [`SealError::MessageTooLarge`] past the message limits (nothing is written either
    /// way); [`SealError::WriterClosed`] after an earlier error. Any error closes the writer.
    pub fn write_all(&mut self, data: &[u8]) -> Result<(), SealError> {
        self.check_max(data.len() as u64)?;
        let Some(taken) = self.taken.as_mut() else {
            return Err(SealError::WriterClosed);
        };
        let written = self.frames.write(&mut taken.buf, data);
        if written.is_err() {
            self.fail();
        }
        written
    }

    /// Appends exactly `n` bytes read from `reader`, read straight into the frames of the
    /// message (no staging buffer). Short reads are continued and `Interrupted` is retried.
    ///
    /// # Errors
    /// The reader's error; `UnexpectedEof` when it ends before `n` bytes; an error of
    /// [`Self::write_all`] as an [`io::Error`] of kind `InvalidInput` wrapping the
    /// [`SealError`] (nothing read). Any error closes the writer: the fragment cannot be
    /// finished.
    pub fn fill_from<R: Read + ?Sized>(&mut self, reader: &mut R, n: u64) -> io::Result<()> {
        self.check_max(n)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let Some(taken) = self.taken.as_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                SealError::WriterClosed,
            ));
        };
        let filled = self.frames.fill_from(&mut taken.buf, reader, n);
        if filled.is_err() {
            self.fail();
        }
        filled
    }

    /// Seals the final frame (and signs, for the signed suite) and returns the message,
    /// counted in the credential's sealed fragments and bytes.
    ///
    /// # Errors
    /// [`SealError::WriterClosed`] after an earlier error; [`SealError::Signing`] when the
    /// signature fails.
    pub fn finish(mut self) -> Result<Bytes, SealError> {
        let Some(mut taken) = self.taken.take() else {
            return Err(SealError::WriterClosed);
        };
        self.release_unused();
        let signer = self.material.signing_key();
        match self.frames.finish(&mut taken.buf, signer) {
            Ok(()) => {
                self.counters.record_sealed(self.frames.len());
                Ok(self.engine.buffers.wrap(taken, Contents::Sealed))
            }
            Err(e) => {
                self.fail();
                self.frames.wipe(&mut taken.buf);
                self.engine.buffers.give(taken, Contents::Sealed);
                Err(e)
            }
        }
    }
}

impl Drop for FragmentWriter<'_> {
    /// Not finished: the plaintext not yet encrypted is zeroized and the buffer (ciphertext
    /// only) goes back to the pool.
    fn drop(&mut self) {
        if let Some(mut taken) = self.taken.take() {
            self.release_unused();
            self.fail();
            self.frames.wipe(&mut taken.buf);
            self.engine.buffers.give(taken, Contents::Sealed);
        }
    }
}

impl io::Write for FragmentWriter<'_> {
    /// Takes all of `buf` ([`FragmentWriter::write_all`]); its errors are of kind
    /// `InvalidInput`, wrapping the [`SealError`].
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)
            .map(|()| buf.len())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }

    /// Nothing to flush: the message is only returned by [`FragmentWriter::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

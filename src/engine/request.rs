//! What callers hand the engine: fragments to seal, messages to open and what to check.

use crate::identity::{FragmentIdentity, IdentityCheck};
use crate::message::VerifiedHeader;
use crate::EncryptionContext;
use bytes::Bytes;
use std::borrow::Cow;

/// One fragment to seal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealRequest {
    /// Stream-level encryption context, stored in the message (for example
    /// `aws:kinesisvideo:arn` = the stream ARN). It goes to the keyring (KMS) and is part of the
    /// cache key, so keep per-fragment values out of it and bind them with [`Self::identity`].
    pub encryption_context: EncryptionContext,
    /// Encryption context authenticated but not stored (the ESDK's "required encryption
    /// context"): the opener must [supply](OpenRequest::supply) exactly these pairs. It goes to
    /// the keyring with the stored pairs.
    pub authenticate_only: EncryptionContext,
    /// The fragment's identity, bound into the message id (see [`crate::identity`]).
    pub identity: Option<FragmentIdentity>,
    /// The fragment.
    pub plaintext: Bytes,
}

impl SealRequest {
    /// A request without fragment identity.
    pub fn new(encryption_context: EncryptionContext, plaintext: impl Into<Bytes>) -> Self {
        Self {
            encryption_context,
            authenticate_only: EncryptionContext::new(),
            identity: None,
            plaintext: plaintext.into(),
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

    /// What sealing checks and binds, besides the plaintext.
    pub(super) fn parts(&self) -> SealParts<'_> {
        SealParts {
            encryption_context: &self.encryption_context,
            authenticate_only: &self.authenticate_only,
            identity: self.identity.as_ref(),
        }
    }
}

/// The parts of a [`SealRequest`] or a
/// [`SealWriterRequest`](super::SealWriterRequest) that sealing checks and binds.
#[derive(Clone, Copy)]
pub(super) struct SealParts<'r> {
    pub(super) encryption_context: &'r EncryptionContext,
    pub(super) authenticate_only: &'r EncryptionContext,
    pub(super) identity: Option<&'r FragmentIdentity>,
}

pub(super) fn union<'a>(
    stored: &'a EncryptionContext,
    other: &EncryptionContext,
) -> Cow<'a, EncryptionContext> {
    if other.is_empty() {
        return Cow::Borrowed(stored);
    }
    let mut all = stored.clone();
    for (k, v) in other.iter() {
        all.insert(k, v);
    }
    Cow::Owned(all)
}

/// What an open checks and supplies besides the key: the identity check (explicit), the
/// stored pairs it requires, and the authenticated-only pairs it supplies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// The identity check.
    pub identity: IdentityCheck,
    /// Pairs the stored context must contain with these values.
    pub required: EncryptionContext,
    /// Pairs authenticated but not stored (the sealer's
    /// [`authenticate_only`](SealRequest::authenticate_only)); none of them may be stored.
    pub supplied: EncryptionContext,
}

impl OpenOptions {
    /// With `identity`, nothing required and nothing supplied.
    pub fn new(identity: IdentityCheck) -> Self {
        Self {
            identity,
            required: EncryptionContext::new(),
            supplied: EncryptionContext::new(),
        }
    }

    /// Requires the stored pair `key` = `value`.
    pub fn require(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.required.insert(key, value);
        self
    }

    /// Supplies the authenticated-only pair `key` = `value`.
    pub fn supply(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.supplied.insert(key, value);
        self
    }

    pub(super) fn supplied(&self) -> Option<&EncryptionContext> {
        (!self.supplied.is_empty()).then_some(&self.supplied)
    }
}

/// One sealed fragment to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    /// The sealed message.
    pub message: Bytes,
    /// What to check and supply.
    pub options: OpenOptions,
}

impl OpenRequest {
    /// A request with the explicit `identity` check.
    pub fn new(message: impl Into<Bytes>, identity: IdentityCheck) -> Self {
        Self {
            message: message.into(),
            options: OpenOptions::new(identity),
        }
    }

    /// Requires the stored pair `key` = `value` (see [`OpenOptions::require`]).
    pub fn require(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options = self.options.require(key, value);
        self
    }

    /// Supplies the authenticated-only pair `key` = `value` (see [`OpenOptions::supply`]).
    pub fn supply(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options = self.options.supply(key, value);
        self
    }
}

/// An opened fragment: its plaintext and its verified header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The plaintext.
    pub plaintext: Bytes,
    /// The verified header: context, the encrypted data key used and its key id.
    pub header: VerifiedHeader,
}

//! Binding a fragment's identity into a standard ESDK message, without a KMS call per fragment.
//!
//! The encryption context is part of the KMS request and of the data-key cache key, so it holds
//! only stream-level values. A fragment's own identity — stream ARN, fragment number, producer
//! timestamp, track — is bound through the 32-byte message id instead:
//!
//! ```text
//! message_id = R ‖ MAC
//! R          = 16 random bytes
//! K_id       = HKDF-SHA512(salt = "", ikm = data key, info = "fragseal/v1/identity-mac-key", 32)
//! MAC        = HMAC-SHA256(K_id, "fragseal/v1/fragment-identity" ‖ R ‖ encode(identity))[..16]
//! encode(id) = u16(len(stream_arn)) ‖ stream_arn ‖ u64(fragment_number)
//!              ‖ u64(producer_timestamp_ms) ‖ u64(track)          (big-endian)
//! ```
//!
//! Every ESDK sees a random message id and decrypts as usual. fragseal's `open`, given the
//! identity the caller expects, recomputes the MAC and answers the opaque authentication error
//! when it differs: a fragment moved to another stream, put at another fragment number,
//! replayed with another timestamp or track, or sealed without identity is rejected. The
//! message id is authenticated by the header tag and is the HKDF salt of every message key, so
//! it cannot be changed without breaking the message. `K_id` is separated from the ESDK's own
//! derivations (which use the message id as salt and the labels `DERIVEKEY` / `COMMITKEY`) by
//! its empty salt and its own label.

use crate::crypto::kdf::{hkdf_sha512, MESSAGE_ID_LEN};
use crate::crypto::DataKey;
use crate::error::{AuthenticationError, OpenError, SealError};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// HKDF info of the identity MAC key.
pub const IDENTITY_KEY_LABEL: &[u8] = b"fragseal/v1/identity-mac-key";
/// Domain-separation prefix of the identity MAC input.
pub const IDENTITY_MAC_LABEL: &[u8] = b"fragseal/v1/fragment-identity";
/// Length of the random half of the message id.
pub const RANDOM_LEN: usize = 16;
/// Length of the MAC half of the message id.
pub const MAC_LEN: usize = MESSAGE_ID_LEN - RANDOM_LEN;

/// Where a fragment belongs: the values a fragment carries that must not be moved, reordered
/// or replayed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FragmentIdentity {
    /// The stream's ARN.
    pub stream_arn: String,
    /// The fragment number within the stream.
    pub fragment_number: u64,
    /// Producer-side timestamp of the fragment, in milliseconds.
    pub producer_timestamp_ms: u64,
    /// Track number.
    pub track: u64,
}

/// What [`open`](crate::message::ParsedMessage::open) checks about a fragment's identity —
/// always an explicit choice, never an `Option`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IdentityCheck {
    /// The fragment must carry exactly this identity (bound into its message id), and the
    /// authenticated encryption context's `aws:kinesisvideo:arn`, when present, must equal
    /// the identity's stream ARN, byte for byte.
    Expect(FragmentIdentity),
    /// Do not check the identity (messages sealed without one, or by other ESDKs).
    Skip,
}

impl IdentityCheck {
    /// The expected identity, if any.
    pub fn expected(&self) -> Option<&FragmentIdentity> {
        match self {
            IdentityCheck::Expect(identity) => Some(identity),
            IdentityCheck::Skip => None,
        }
    }
}

impl From<FragmentIdentity> for IdentityCheck {
    fn from(identity: FragmentIdentity) -> Self {
        IdentityCheck::Expect(identity)
    }
}

/// The encryption context key that names a Kinesis Video stream.
pub const STREAM_ARN_CONTEXT_KEY: &str = "aws:kinesisvideo:arn";

impl FragmentIdentity {
    /// The canonical encoding (see the module documentation).
    ///
    /// # Errors
    /// [`SealError::IdentityTooLong`] when the stream ARN is longer than 65535 bytes.
    pub fn canonical_encoding(&self) -> Result<Vec<u8>, SealError> {
        let len = self.arn_len().ok_or(SealError::IdentityTooLong {
            len: self.stream_arn.len(),
        })?;
        let mut v = Vec::with_capacity(2 + self.stream_arn.len() + 24);
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(self.stream_arn.as_bytes());
        v.extend_from_slice(&self.fragment_number.to_be_bytes());
        v.extend_from_slice(&self.producer_timestamp_ms.to_be_bytes());
        v.extend_from_slice(&self.track.to_be_bytes());
        Ok(v)
    }

    fn arn_len(&self) -> Option<u16> {
        u16::try_from(self.stream_arn.len()).ok()
    }

    /// The MAC, or `None` when the identity cannot be encoded (stream ARN too long) or the
    /// MAC key cannot be derived.
    fn mac(&self, data_key: &DataKey, random: &[u8; RANDOM_LEN]) -> Option<[u8; MAC_LEN]> {
        let len = self.arn_len()?;
        let mut k = Zeroizing::new([0u8; 32]);
        hkdf_sha512(
            &[],
            data_key.expose_secret(),
            IDENTITY_KEY_LABEL,
            &mut k[..],
        )
        .ok()?;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &k[..]);
        let mut ctx = ring::hmac::Context::with_key(&key);
        ctx.update(IDENTITY_MAC_LABEL);
        ctx.update(random);
        ctx.update(&len.to_be_bytes());
        ctx.update(self.stream_arn.as_bytes());
        ctx.update(&self.fragment_number.to_be_bytes());
        ctx.update(&self.producer_timestamp_ms.to_be_bytes());
        ctx.update(&self.track.to_be_bytes());
        let tag = ctx.sign();
        let mut mac = [0u8; MAC_LEN];
        let full = tag.as_ref();
        for (m, t) in mac.iter_mut().zip(full) {
            *m = *t;
        }
        Some(mac)
    }

    /// The message id `random ‖ MAC` that binds this identity under `data_key`.
    ///
    /// # Errors
    /// As [`FragmentIdentity::canonical_encoding`].
    pub fn message_id(
        &self,
        data_key: &DataKey,
        random: &[u8; RANDOM_LEN],
    ) -> Result<[u8; MESSAGE_ID_LEN], SealError> {
        let mac = self
            .mac(data_key, random)
            .ok_or(SealError::IdentityTooLong {
                len: self.stream_arn.len(),
            })?;
        let mut id = [0u8; MESSAGE_ID_LEN];
        let (r, m) = id.split_at_mut(RANDOM_LEN);
        r.copy_from_slice(random);
        m.copy_from_slice(&mac);
        Ok(id)
    }

    /// Checks that `message_id` binds this identity under `data_key` (MAC compared in constant
    /// time).
    ///
    /// # Errors
    /// [`OpenError::Authentication`] (opaque) when it does not, or when the identity cannot be
    /// encoded (no message can bind it).
    pub fn verify(
        &self,
        data_key: &DataKey,
        message_id: &[u8; MESSAGE_ID_LEN],
    ) -> Result<(), OpenError> {
        let (r, m) = message_id.split_at(RANDOM_LEN);
        let random: &[u8; RANDOM_LEN] = r.try_into().map_err(|_| AuthenticationError)?;
        let expected = self.mac(data_key, random).ok_or(AuthenticationError)?;
        if bool::from(expected.ct_eq(m)) {
            Ok(())
        } else {
            Err(OpenError::Authentication(AuthenticationError))
        }
    }
}

//! Secret key material.
//!
//! Every type here zeroizes its bytes on drop, prints no key bytes through `Debug`, has no
//! `Display`, and compares in constant time. Bytes are exposed only through methods whose
//! names say so.

use core::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length in bytes of an AES-256 data key.
pub const DATA_KEY_LEN: usize = 32;

/// A plaintext AES-256 data key, as returned by a KMS `GenerateDataKey` or `Decrypt`.
///
/// The 32 bytes live in one heap allocation that never moves: moving a `DataKey` moves only the
/// pointer, so no copy of the key is left behind in the frames it passed through. Zeroized on
/// drop. `Debug` shows only that it is a data key. Not `Clone` on purpose.
///
/// ```compile_fail
/// let k = fragseal::crypto::DataKey::from_bytes([1; 32]);
/// let _copy = k.clone(); // DataKey is not Clone
/// ```
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DataKey(Box<[u8; DATA_KEY_LEN]>);

impl DataKey {
    /// Takes 32 key bytes. The array argument is a copy on the caller's stack: the caller
    /// should zeroize its own copy (or use [`DataKey::from_slice`] on a buffer it erases).
    pub fn from_bytes(bytes: [u8; DATA_KEY_LEN]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let mut key = Self::zeroed();
        key.0.copy_from_slice(&bytes[..]);
        key
    }

    /// Copies a key from a slice straight into its heap allocation; `None` unless the slice is
    /// exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != DATA_KEY_LEN {
            return None;
        }
        let mut key = Self::zeroed();
        key.0.copy_from_slice(bytes);
        Some(key)
    }

    /// Generates a fresh random data key from the operating system's CSPRNG, written directly
    /// into its heap allocation.
    pub fn generate() -> Self {
        let mut key = Self::zeroed();
        fill_os_random(&mut key.0[..]);
        key
    }

    fn zeroed() -> Self {
        Self(Box::new([0u8; DATA_KEY_LEN]))
    }

    /// The key bytes. Named so that every use is visible in review.
    pub fn expose_secret(&self) -> &[u8; DATA_KEY_LEN] {
        &self.0
    }

    /// An explicit copy of the key, for the few places in the crate that must hand out a key
    /// they also keep. Not public: a caller that needs two owners shares one `DataKey`.
    #[allow(
        dead_code,
        reason = "kept for the cache and keyrings; exercised by the unit tests"
    )]
    pub(crate) fn duplicate(&self) -> Self {
        let mut key = Self::zeroed();
        key.0.copy_from_slice(&self.0[..]);
        key
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey").finish_non_exhaustive()
    }
}

impl PartialEq for DataKey {
    fn eq(&self, other: &Self) -> bool {
        self.0[..].ct_eq(&other.0[..]).into()
    }
}
impl Eq for DataKey {}

impl TryFrom<SecretBytes> for DataKey {
    type Error = usize;
    /// Converts a variable-length secret into a data key; the error is the wrong length.
    fn try_from(value: SecretBytes) -> Result<Self, usize> {
        DataKey::from_slice(value.expose_secret()).ok_or(value.len())
    }
}

/// Variable-length secret bytes (a data key of a byte count other than 32, a wrapping key).
///
/// The bytes live on the heap (moves copy only the pointer). Zeroized on drop; `Debug` shows
/// only the length; compares in constant time. Not `Clone` on purpose: a holder that needs two
/// owners shares one `SecretBytes` (as `keyring::RawAesKeyring` does, in an `Arc`).
///
/// ```compile_fail
/// let s = fragseal::crypto::SecretBytes::from_slice(&[1]);
/// let _copy = s.clone(); // SecretBytes is not Clone
/// ```
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// `n` random bytes from the operating system's CSPRNG.
    pub fn random(n: usize) -> Self {
        let mut v = Zeroizing::new(vec![0u8; n]);
        fill_os_random(&mut v);
        Self(v)
    }

    /// The secret bytes. Named so that every use is visible in review.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBytes")
            .field("len", &self.0.len())
            .finish_non_exhaustive()
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        // Lengths are public; contents are compared in constant time.
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}
impl Eq for SecretBytes {}

impl From<DataKey> for SecretBytes {
    fn from(k: DataKey) -> Self {
        SecretBytes::from_slice(k.expose_secret())
    }
}

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill_os_random(buf: &mut [u8]) {
    // The OS RNG failing is not recoverable and must never yield predictable keys.
    #[allow(clippy::expect_used)]
    getrandom::getrandom(buf).expect("the operating system's random number generator failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_key_bytes() {
        let k = DataKey::from_bytes([0xAB; 32]);
        let s = format!("{k:?}");
        assert!(!s.to_lowercase().contains("ab"), "{s}");
        let b = SecretBytes::from_slice(&[0xCD; 7]);
        let s = format!("{b:?}");
        assert!(
            s.contains("len: 7") && !s.to_lowercase().contains("cd"),
            "{s}"
        );
    }

    #[test]
    fn constant_time_eq_semantics() {
        assert_eq!(DataKey::from_bytes([1; 32]), DataKey::from_bytes([1; 32]));
        assert_ne!(DataKey::from_bytes([1; 32]), DataKey::from_bytes([2; 32]));
        assert_ne!(
            SecretBytes::from_slice(&[1, 2]),
            SecretBytes::from_slice(&[1, 2, 3])
        );
        assert!(DataKey::from_slice(&[0; 31]).is_none());
        assert!(DataKey::from_slice(&[0; 33]).is_none());
        let k = DataKey::from_slice(&[3; 32]).expect("32 bytes");
        assert_eq!(k.duplicate(), k);
        assert_eq!(k.expose_secret(), &[3; 32]);
        assert_ne!(DataKey::generate(), DataKey::generate());
    }

    #[test]
    fn key_bytes_do_not_move_with_the_key() {
        // The bytes are boxed: moving the key (into a Vec, out of a function) keeps their
        // address, so no stale copy is left where the key used to be.
        let k = DataKey::generate();
        let at = k.expose_secret().as_ptr();
        let moved = vec![k];
        let back = moved.into_iter().next().expect("one key");
        assert_eq!(back.expose_secret().as_ptr(), at);
    }
}

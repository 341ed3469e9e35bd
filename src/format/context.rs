//! The encryption context: authenticated, non-secret key/value pairs bound to a message.
//!
//! Spec (ESDK `data-format/message-header.md`, "Key Value Pairs"): the pairs MUST be sorted by
//! key, comparing the UTF-8 bytes; each key and value is a UTF-8 string with a 2-byte big-endian
//! length prefix; the whole list is preceded by a 2-byte pair count. An empty context serializes
//! to zero bytes.

use super::error::{Field, FormatError, FormatErrorKind};
use super::reader::Reader;
use std::collections::BTreeMap;

/// Prefix reserved by the AWS Encryption SDK for its own context keys.
pub const RESERVED_PREFIX: &str = "aws-crypto-";

/// Largest serialized encryption context (the header field's length is a `u16`).
pub const MAX_SERIALIZED_LEN: usize = u16::MAX as usize;

/// Why an encryption context cannot be sealed ([`EncryptionContext::validate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContextError {
    /// A key uses the prefix `aws-crypto-`, reserved by the AWS Encryption SDK.
    ReservedKey(String),
    /// Two keys differ only in ASCII case. KMS condition keys on the encryption context
    /// (`kms:EncryptionContext:KEY`) match key names case-insensitively, so such a pair would
    /// let a policy see one value while the message also carries the other.
    CaseVariantKeys {
        /// The first of the two keys in canonical (byte) order.
        first: String,
        /// The second.
        second: String,
    },
    /// The context does not fit the header field (65535 bytes serialized at most, each key
    /// and value 65535 bytes at most).
    TooLarge,
}

impl core::fmt::Display for ContextError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ContextError::ReservedKey(k) => write!(
                f,
                "encryption context key {k:?} uses the reserved prefix {RESERVED_PREFIX}"
            ),
            ContextError::CaseVariantKeys { first, second } => write!(
                f,
                "encryption context keys {first:?} and {second:?} differ only in ASCII case"
            ),
            ContextError::TooLarge => write!(
                f,
                "encryption context too large to serialize ({MAX_SERIALIZED_LEN} bytes at most)"
            ),
        }
    }
}

impl std::error::Error for ContextError {}

/// Finds two keys that are equal ignoring ASCII case, in the order the iterator gives them.
fn find_case_variant<'a>(keys: impl Iterator<Item = &'a str>) -> Option<(&'a str, &'a str)> {
    let mut folded: BTreeMap<String, &'a str> = BTreeMap::new();
    for key in keys {
        if let Some(prev) = folded.insert(key.to_ascii_lowercase(), key) {
            return Some((prev, key));
        }
    }
    None
}

/// An encryption context: an ordered map of UTF-8 key/value pairs.
///
/// `BTreeMap<String, String>` orders keys by their UTF-8 bytes, which is exactly the canonical
/// order of the wire format, so iteration order is serialization order.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// Adds or replaces a pair; returns `self` for chaining.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// Adds or replaces a pair, returning the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(key.into(), value.into())
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Pairs in canonical (serialization) order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The underlying map.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// The first key that starts with the reserved prefix `aws-crypto-`, if any.
    pub fn reserved_key(&self) -> Option<&str> {
        self.0
            .keys()
            .find(|k| k.starts_with(RESERVED_PREFIX))
            .map(String::as_str)
    }

    /// The first two keys (in canonical order) that differ only in ASCII case, if any.
    pub fn case_variant_keys(&self) -> Option<(&str, &str)> {
        find_case_variant(self.0.keys().map(String::as_str))
    }

    /// Checks that this context can be sealed: no reserved key, no two keys that differ only
    /// in ASCII case, and a serialization that fits the header. Sealing calls this; building
    /// a context ([`Self::with`], [`Self::insert`]) does not, so that a context can be
    /// assembled in any order and checked once.
    ///
    /// # Errors
    /// The first [`ContextError`] found, in the order above.
    pub fn validate(&self) -> Result<(), ContextError> {
        if let Some(k) = self.reserved_key() {
            return Err(ContextError::ReservedKey(k.to_owned()));
        }
        if let Some((first, second)) = self.case_variant_keys() {
            return Err(ContextError::CaseVariantKeys {
                first: first.to_owned(),
                second: second.to_owned(),
            });
        }
        self.serialized_len()
            .map(|_| ())
            .ok_or(ContextError::TooLarge)
    }

    /// Canonical serialization: empty for an empty context, otherwise
    /// `count:u16 ‖ (key_len:u16 ‖ key ‖ value_len:u16 ‖ value)*` in key order.
    ///
    /// Returns `None` when the context cannot be serialized (more than 65535 pairs, a key or
    /// value longer than 65535 bytes, or a total longer than 65535 bytes).
    pub fn serialize(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.serialize_into(&mut out)?;
        Some(out)
    }

    /// Appends the canonical serialization to `out` (see [`Self::serialize`]). On `None`, `out`
    /// is left as it was.
    pub fn serialize_into(&self, out: &mut Vec<u8>) -> Option<()> {
        if self.0.is_empty() {
            return Some(());
        }
        let start = out.len();
        let count = u16::try_from(self.0.len()).ok()?;
        out.extend_from_slice(&count.to_be_bytes());
        for (k, v) in &self.0 {
            for s in [k, v] {
                let Ok(len) = u16::try_from(s.len()) else {
                    out.truncate(start);
                    return None;
                };
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        if out.len() - start > MAX_SERIALIZED_LEN {
            out.truncate(start);
            return None;
        }
        Some(())
    }
}

/// Reading and writing the header's AAD field (`data-format/message-header.md`, "AAD").
impl EncryptionContext {
    internal_pub! {
        /// Parses the header's AAD field.
        ///
        /// Spec: "Key Value Pairs Length: The length of the Key Value Pairs field in bytes. When the
        /// encryption context is empty, the value of this field MUST be 0." — "Key Value Pair Count
        /// ... MUST be greater than 0." — "This sequence MUST not contain duplicate entries. These
        /// entries MUST have entries sorted, by key, in ascending order according to UTF-8 encoded
        /// binary value." Keys and values are UTF-8.
        ///
        /// Only the canonical encoding is accepted: a present-but-empty pair list, unsorted or
        /// duplicated keys, invalid UTF-8, or a length that disagrees with the pairs are errors.
        /// fragseal also refuses two keys that differ only in ASCII case
        /// ([`FormatErrorKind::CaseVariantEncryptionContextKeys`], at the second key's offset):
        /// KMS matches context keys in policy conditions case-insensitively, so such a context
        /// could satisfy a condition on one key while carrying another value under its variant.
        /// Reserved keys (`aws-crypto-`) are *not* checked here; the header parser does that.
        ///
        /// # Errors
        /// A [`FormatError`] on [`Field::EncryptionContext`].
        fn read_header_field(r: &mut Reader<'_>) -> Result<Self, FormatError> {
            let f = Field::EncryptionContext;
            let len = usize::from(r.u16(f)?);
            if len == 0 {
                return Ok(Self::new());
            }
            let mut pairs = r.sub(len, f)?;
            let count_at = pairs.offset();
            let count = pairs.u16(f)?;
            if count == 0 {
                return Err(Reader::error_at(
                    count_at,
                    f,
                    FormatErrorKind::NonCanonicalEncryptionContext,
                ));
            }
            let mut map = BTreeMap::new();
            let mut folded: BTreeMap<String, &str> = BTreeMap::new();
            let mut last: Option<&[u8]> = None;
            for _ in 0..count {
                let key_at = pairs.offset();
                let key = pairs.str_u16(f, u16::MAX).map_err(length_mismatch)?;
                let value = pairs.str_u16(f, u16::MAX).map_err(length_mismatch)?;
                // Strictly increasing keys: sorted and without duplicates.
                if last.is_some_and(|prev| prev >= key.as_bytes()) {
                    return Err(Reader::error_at(
                        key_at,
                        f,
                        FormatErrorKind::NonCanonicalEncryptionContext,
                    ));
                }
                last = Some(key.as_bytes());
                if let Some(prev) = folded.insert(key.to_ascii_lowercase(), key) {
                    return Err(Reader::error_at(
                        key_at,
                        f,
                        FormatErrorKind::CaseVariantEncryptionContextKeys {
                            first: prev.to_owned(),
                            second: key.to_owned(),
                        },
                    ));
                }
                map.insert(key.to_owned(), value.to_owned());
            }
            if !pairs.is_empty() {
                return Err(pairs.error(f, FormatErrorKind::EncryptionContextLengthMismatch));
            }
            Ok(Self(map))
        }
    }

    internal_pub! {
        /// Writes the header's AAD field: `len:u16 ‖ serialization` (`00 00` when empty). The
        /// inverse of [`Self::read_header_field`]; `None` (and `out` unchanged) when the context
        /// cannot be serialized.
        fn write_header_field(&self, out: &mut Vec<u8>) -> Option<()> {
            let start = out.len();
            out.extend_from_slice(&[0, 0]);
            if self.serialize_into(out).is_none() {
                out.truncate(start);
                return None;
            }
            let len = out.len() - start - 2;
            let Ok(len) = u16::try_from(len) else {
                out.truncate(start);
                return None;
            };
            let be = len.to_be_bytes();
            out.splice(start..start + 2, be);
            Some(())
        }
    }

    /// Length in bytes of [`Self::serialize`]'s output, without allocating; `None` when the
    /// context cannot be serialized.
    pub fn serialized_len(&self) -> Option<usize> {
        if self.0.is_empty() {
            return Some(0);
        }
        u16::try_from(self.0.len()).ok()?;
        let mut n: usize = 2;
        for (k, v) in &self.0 {
            u16::try_from(k.len()).ok()?;
            u16::try_from(v.len()).ok()?;
            n = n.checked_add(4 + k.len() + v.len())?;
        }
        (n <= MAX_SERIALIZED_LEN).then_some(n)
    }
}

/// A read running past the end of the declared pair list means the declared length is wrong.
fn length_mismatch(e: FormatError) -> FormatError {
    match e.kind {
        FormatErrorKind::Truncated { .. } => FormatError::new(
            e.offset,
            e.field,
            FormatErrorKind::EncryptionContextLengthMismatch,
        ),
        _ => e,
    }
}

impl core::fmt::Debug for EncryptionContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl From<BTreeMap<String, String>> for EncryptionContext {
    fn from(m: BTreeMap<String, String>) -> Self {
        Self(m)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn empty_serializes_to_nothing() {
        assert_eq!(EncryptionContext::new().serialize(), Some(vec![]));
    }

    #[test]
    fn sorted_by_utf8_bytes() {
        let ec = EncryptionContext::new()
            .with("b", "2")
            .with("a", "1")
            .with("é", "3");
        let s = ec.serialize().unwrap();
        assert_eq!(
            s,
            [
                &[0, 3][..],
                &[0, 1, b'a', 0, 1, b'1'],
                &[0, 1, b'b', 0, 1, b'2'],
                &[0, 2, 0xC3, 0xA9, 0, 1, b'3']
            ]
            .concat()
        );
    }

    #[test]
    fn validate_refuses_case_variants_reserved_keys_and_oversize() {
        let ok = EncryptionContext::new()
            .with("aws:kinesisvideo:arn", "A")
            .with("purpose", "x");
        assert_eq!(ok.validate(), Ok(()));
        let bad = ok.clone().with("AWS:KinesisVideo:ARN", "B");
        assert_eq!(
            bad.validate(),
            Err(ContextError::CaseVariantKeys {
                first: "AWS:KinesisVideo:ARN".into(),
                second: "aws:kinesisvideo:arn".into(),
            })
        );
        // Non-ASCII case is not folded (KMS folds ASCII only).
        assert_eq!(
            EncryptionContext::new()
                .with("é", "1")
                .with("É", "2")
                .validate(),
            Ok(())
        );
        assert!(matches!(
            ok.clone().with("aws-crypto-public-key", "k").validate(),
            Err(ContextError::ReservedKey(_))
        ));
        assert_eq!(
            EncryptionContext::new()
                .with("k", "v".repeat(70_000))
                .validate(),
            Err(ContextError::TooLarge)
        );
    }

    #[test]
    fn too_long_is_refused() {
        let ec = EncryptionContext::new().with("k", "v".repeat(70_000));
        assert_eq!(ec.serialize(), None);
        let mut out = vec![9];
        assert_eq!(ec.serialize_into(&mut out), None);
        assert_eq!(out, vec![9]);
    }
}

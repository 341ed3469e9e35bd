//! Where streams and sealed fragments are kept: the [`Store`] trait, in memory
//! ([`MemoryStore`]) and in a directory ([`DirStore`]).
//!
//! A store holds only what is safe at rest: stream metadata and *sealed* fragments (ESDK
//! messages). Media plaintext never reaches it. A fragment is written whole or not at all;
//! once [`Store::put_fragment`] returns `Ok`, the fragment survives a crash of the process
//! (the directory store fsyncs the file and its directory before returning).

mod dir;
mod memory;

pub use dir::DirStore;
pub use memory::MemoryStore;

use super::stream::StreamInfo;
use bytes::Bytes;
use core::fmt;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What ListFragments shows of a fragment, plus what the store needs to check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FragmentMeta {
    /// The fragment number (a decimal string, increasing within a stream).
    pub fragment_number: String,
    /// The fragment number's value (what the fragment identity binds).
    pub sequence: u64,
    /// Producer timestamp, milliseconds since the Unix epoch.
    pub producer_timestamp_ms: u64,
    /// Server timestamp (when the fragment was received), milliseconds since the Unix epoch.
    pub server_timestamp_ms: u64,
    /// Size of the fragment's media (its MKV bytes), bytes.
    pub size: u64,
    /// Duration of the fragment, milliseconds.
    pub duration_ms: u64,
    /// Track the identity binds (1: the fragment as a whole).
    pub track: u64,
}

/// A sealed fragment and its metadata.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredFragment {
    /// Metadata.
    pub meta: FragmentMeta,
    /// The sealed message (AWS Encryption SDK v2, identity bound in the message id).
    pub sealed: Bytes,
}

impl fmt::Debug for StoredFragment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredFragment")
            .field("meta", &self.meta)
            .field("sealed_len", &self.sealed.len())
            .finish()
    }
}

/// A store failure.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file of this store that does not have the store's format (truncated, altered). It is
    /// left as it is.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A directory or file that is not a fragseal KVS store's: refused, never overwritten.
    Foreign {
        /// The file or directory.
        path: PathBuf,
        /// Why it is not ours.
        reason: String,
    },
    /// A fragment of that number is stored already: never overwritten.
    FragmentExists {
        /// The stream.
        stream_arn: String,
        /// The fragment number.
        fragment_number: String,
    },
    /// No such stream in the store.
    NoSuchStream {
        /// The stream.
        stream_arn: String,
    },
    /// A lock was poisoned.
    Poisoned,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            StoreError::Corrupt { path, reason } => {
                write!(f, "{}: corrupt store file: {reason}", path.display())
            }
            StoreError::Foreign { path, reason } => write!(
                f,
                "{}: not a fragseal KVS store ({reason}); refusing to use it",
                path.display()
            ),
            StoreError::FragmentExists {
                stream_arn,
                fragment_number,
            } => write!(
                f,
                "fragment {fragment_number} of {stream_arn} is stored already"
            ),
            StoreError::NoSuchStream { stream_arn } => {
                write!(f, "no stream {stream_arn} in the store")
            }
            StoreError::Poisoned => write!(f, "a store lock was poisoned"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A place for streams and sealed fragments. Implementations are `Send + Sync`; every method
/// is atomic: it takes effect whole or not at all.
pub trait Store: Send + Sync + fmt::Debug {
    /// Every stream, in no particular order.
    ///
    /// # Errors
    /// A [`StoreError`].
    fn streams(&self) -> Result<Vec<StreamInfo>, StoreError>;

    /// Creates or replaces a stream's metadata (by ARN).
    ///
    /// # Errors
    /// A [`StoreError`].
    fn put_stream(&self, info: &StreamInfo) -> Result<(), StoreError>;

    /// Removes a stream and all its fragments.
    ///
    /// # Errors
    /// [`StoreError::NoSuchStream`] or another [`StoreError`].
    fn delete_stream(&self, stream_arn: &str) -> Result<(), StoreError>;

    /// Stores a fragment of a stored stream, taking ownership of it (a store that keeps
    /// fragments in memory keeps this one without copying it). When this returns `Ok` the
    /// fragment is durable.
    ///
    /// # Errors
    /// [`StoreError::FragmentExists`] (nothing is overwritten), [`StoreError::NoSuchStream`],
    /// or another [`StoreError`]; on error nothing of the fragment is stored.
    fn put_fragment(&self, stream_arn: &str, fragment: StoredFragment) -> Result<(), StoreError>;

    /// The metadata of a stream's fragments, in fragment-number order.
    ///
    /// # Errors
    /// A [`StoreError`].
    fn fragments(&self, stream_arn: &str) -> Result<Vec<FragmentMeta>, StoreError>;

    /// One fragment.
    ///
    /// # Errors
    /// A [`StoreError`].
    fn fragment(
        &self,
        stream_arn: &str,
        fragment_number: &str,
    ) -> Result<Option<StoredFragment>, StoreError>;

    /// Removes the fragments whose server timestamp is below `before_ms`; returns how many.
    ///
    /// # Errors
    /// A [`StoreError`].
    fn expire(&self, stream_arn: &str, before_ms: u64) -> Result<usize, StoreError>;
}

/// A fragment number as a decimal string: 20 digits, zero-padded, so that string order is
/// numeric order.
pub fn fragment_number(sequence: u64) -> String {
    format!("{sequence:020}")
}

/// The value of a fragment number, if `s` is one.
pub fn parse_fragment_number(s: &str) -> Option<u64> {
    if s.len() != 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_numbers_are_fixed_width_decimal() {
        assert_eq!(fragment_number(42), "00000000000000000042");
        assert_eq!(parse_fragment_number("00000000000000000042"), Some(42));
        assert_eq!(parse_fragment_number("42"), None);
        assert_eq!(parse_fragment_number("0000000000000000004x"), None);
        assert!(fragment_number(9) < fragment_number(10));
    }
}

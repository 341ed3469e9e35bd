//! Cryptographic primitives behind one internal interface.
//!
//! - [`keys`]: secret key material types (zeroized on drop, no `Debug` of bytes, constant-time
//!   comparison).

pub mod keys;

pub use keys::{DataKey, SecretBytes};

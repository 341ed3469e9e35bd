//! `From` conversions between the error types, and into the umbrella [`Error`].

use super::{AuthenticationError, ConfigError, Error, KeyringError, OpenError, SealError};
use crate::format::header::WriteError;
use crate::format::FormatError;
use crate::kms::KmsError;

impl From<KmsError> for KeyringError {
    fn from(e: KmsError) -> Self {
        KeyringError::Kms(e)
    }
}

impl From<AuthenticationError> for KeyringError {
    fn from(e: AuthenticationError) -> Self {
        KeyringError::Authentication(e)
    }
}

impl From<KeyringError> for ConfigError {
    fn from(e: KeyringError) -> Self {
        ConfigError::Keyring(e)
    }
}

impl From<KeyringError> for SealError {
    fn from(e: KeyringError) -> Self {
        SealError::Keyring(e)
    }
}

impl From<WriteError> for SealError {
    fn from(e: WriteError) -> Self {
        SealError::Header(e)
    }
}

impl From<AuthenticationError> for OpenError {
    fn from(e: AuthenticationError) -> Self {
        OpenError::Authentication(e)
    }
}

impl From<FormatError> for OpenError {
    fn from(e: FormatError) -> Self {
        OpenError::Format(e)
    }
}

impl From<std::io::Error> for OpenError {
    fn from(e: std::io::Error) -> Self {
        OpenError::Io(e)
    }
}

macro_rules! from_impls {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::$v(e)
            }
        })*
    };
}

from_impls!(
    SealError => Seal,
    OpenError => Open,
    ConfigError => Config,
    KeyringError => Keyring,
    AuthenticationError => Authentication,
    FormatError => Format,
    KmsError => Kms,
    std::io::Error => Io,
);

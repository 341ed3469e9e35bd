//! Audit glue: every request gets exactly one CloudTrail-shaped record. Requests that reach
//! [`LocalKms`] are recorded by it (inside [`with_origin`], so the record carries the peer's
//! address, the User-Agent and the request id this server answers with); every request refused
//! before (bad signature, unknown key, malformed, unknown operation, too large, ...) is recorded
//! here by [`record_rejected`].

use super::errors::ApiError;
use crate::kms::local::{LocalKms, RejectedRequest, RequestOrigin};
use crate::kms::Credential;
use std::time::SystemTime;

/// Where a request came from (CloudTrail's `sourceIPAddress`, `userAgent`, `requestID`).
pub(crate) type Origin = RequestOrigin;

/// A request refused before it reached the KMS.
pub(crate) struct Rejection<'a> {
    /// The operation named in `X-Amz-Target` (or `Unknown`).
    pub(crate) event_name: &'a str,
    /// The access key id the `Authorization` header named, if any.
    pub(crate) access_key_id: Option<&'a str>,
    /// The account of that access key, if the IAM file declares it.
    pub(crate) key_account: Option<&'a str>,
    /// The caller, when the signature was verified.
    pub(crate) caller: Option<&'a Credential>,
    /// The answer sent.
    pub(crate) error: &'a ApiError,
}

/// Runs `call` (one LocalKms call) with `origin` as the request origin of its audit record.
pub(crate) fn with_origin<T>(kms: &LocalKms, origin: &Origin, call: impl FnOnce() -> T) -> T {
    kms.with_origin(origin, call)
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
    let request = RejectedRequest {
        time,
        event_name: r.event_name.to_owned(),
        access_key_id: r.access_key_id.map(str::to_owned),
        caller: r.caller.cloned(),
        origin: origin.clone(),
        error_code: r.error.code.to_owned(),
        message: r.error.message.clone(),
        region: kms.region().to_owned(),
        recipient_account: r
            .caller
            .map(|c| c.account().to_owned())
            .or_else(|| r.key_account.map(str::to_owned)),
    };
    kms.audit()
        .record_rejected(&request)
        .map_err(|e| ApiError::internal(e.message().to_owned()))
}

//! One request, from received headers and body to the answer, synchronously (the HTTP layer
//! runs it on the worker thread or on a blocking thread, see [`runs_inline`]): header rules → SigV4 → content type → operation → JSON →
//! the operation on LocalKms. A request whose SigV4 scope names `sts` (or, unsigned, with a
//! form-encoded body) is answered by [`sts`] in the Query protocol instead. Exactly one audit record per request: LocalKms writes it for the
//! calls that reach it, [`audit::record_rejected`] for every other.

use super::audit::{self, Origin, Rejection};
use super::errors::{ApiError, SERIALIZATION, UNKNOWN_OPERATION};
use super::kms_api::{self, input::Input};
use super::sigv4::{AuthHeader, Refusal, Service};
use super::sts::{self, StsError};
use super::{sigv4, Shared};
use crate::kms::local::{LocalKms, Operation};
use crate::kms::Credential;
use http::request::Parts;
use http::{Method, StatusCode};

/// The media type of KMS requests and answers.
pub(crate) const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The `X-Amz-Target` prefix of KMS.
const TARGET_PREFIX: &str = "TrentService.";

/// The body as the HTTP layer received it.
pub(crate) enum Body {
    /// All of it.
    Complete(bytes::Bytes),
    /// Larger than the limit (not read further).
    TooLarge,
    /// Not received within the body timeout, or the connection failed mid-body.
    Incomplete(&'static str),
}

/// The answer: status, media type and body (KMS: JSON, empty for operations without output;
/// STS: XML).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
    /// Close the connection after answering (the body was not read to its end).
    pub(crate) close: bool,
}

impl Answer {
    fn error(e: &ApiError) -> Self {
        Answer {
            status: e.status,
            content_type: CONTENT_TYPE,
            body: e.body(),
            close: false,
        }
    }

    fn sts_error(e: &StsError, request_id: &str) -> Self {
        Answer {
            status: e.status,
            content_type: sts::XML_TYPE,
            body: e.body(request_id),
            close: false,
        }
    }
}

/// The protocol an answer is in: the SigV4 scope's service when the `Authorization` header
/// (`auth`, [`sigv4::read_authorization`] of `parts`) names one; else STS for a
/// form-encoded body (the Query protocol), else KMS.
pub(crate) fn protocol(parts: &Parts, auth: &Result<AuthHeader<'_>, Refusal>) -> Service {
    sigv4::scope_service(auth).unwrap_or_else(|| {
        let form = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(sts::FORM_TYPE));
        if form {
            Service::Sts
        } else {
            Service::Kms
        }
    })
}

/// Headers that must appear at most once: a second copy could make the signed value and the
/// value acted on differ.
const SINGLE_HEADERS: &[(&str, &str)] = &[
    ("authorization", "Authorization"),
    ("x-amz-date", "X-Amz-Date"),
    ("x-amz-security-token", "X-Amz-Security-Token"),
    ("x-amz-content-sha256", "X-Amz-Content-Sha256"),
    ("x-amz-target", "X-Amz-Target"),
    ("content-type", "Content-Type"),
    ("host", "Host"),
];

fn check_single_headers(parts: &Parts) -> Result<(), ApiError> {
    for (lower, name) in SINGLE_HEADERS {
        if parts.headers.get_all(*lower).iter().count() > 1 {
            let code = match *lower {
                "x-amz-target" => UNKNOWN_OPERATION,
                "content-type" => SERIALIZATION,
                _ => super::errors::INCOMPLETE_SIGNATURE,
            };
            return Err(ApiError::client(
                code,
                format!("The {name} header appears more than once."),
            ));
        }
    }
    Ok(())
}

fn check_route(parts: &Parts) -> Result<(), ApiError> {
    if parts.method != Method::POST {
        return Err(ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            ..ApiError::client(UNKNOWN_OPERATION, "KMS requests are POST /.")
        });
    }
    if parts.uri.path() != "/" {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            ..ApiError::client(UNKNOWN_OPERATION, "KMS requests are POST /.")
        });
    }
    Ok(())
}

fn check_content_type(parts: &Parts, wanted: &str) -> Result<(), ApiError> {
    let ct = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if ct.as_deref() == Some(wanted) {
        Ok(())
    } else {
        Err(ApiError::client(
            SERIALIZATION,
            format!("Content-Type must be {wanted}."),
        ))
    }
}

/// The operation name `X-Amz-Target` gives, as far as it can be read (for the audit record).
fn target_name(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.strip_prefix(TARGET_PREFIX).unwrap_or(t))
}

/// An event name safe for the audit trail: the target if it is a plain identifier.
fn event_name(parts: &Parts) -> &str {
    match target_name(parts) {
        Some(t)
            if !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            t
        }
        _ => "Unknown",
    }
}

/// Largest body answered on the runtime's worker thread (see [`runs_inline`]).
const INLINE_BODY_MAX: usize = 64 * 1024;

/// KMS operations that never write the state file (the cryptographic and the read-only ones),
/// with one exception [`runs_inline`] screens out: a data call naming
/// `alias/aws/kinesisvideo` may create that key, lazily, and write the state file.
fn never_writes_state(op: Operation) -> bool {
    matches!(
        op,
        Operation::GenerateDataKey
            | Operation::GenerateDataKeyWithoutPlaintext
            | Operation::Encrypt
            | Operation::Decrypt
            | Operation::ReEncrypt
            | Operation::GenerateRandom
            | Operation::DescribeKey
            | Operation::ListKeys
            | Operation::ListAliases
            | Operation::GetKeyPolicy
            | Operation::ListGrants
            | Operation::ListRetirableGrants
            | Operation::ListResourceTags
    )
}

/// Whether [`handle`] may run this request on the runtime's worker thread instead of a
/// blocking thread: true when its only I/O is the append of one audit record (one `write(2)`
/// of a few hundred bytes to the audit file, no fsync), and its CPU work is bounded by a small
/// body. That is: a KMS request refused before any KMS call (bad route, body too large or
/// incomplete, unknown operation), or a call of an operation that never writes the state file
/// ([`never_writes_state`]), with a body of at most [`INLINE_BODY_MAX`] bytes that cannot name
/// `alias/aws/kinesisvideo` (no `kinesisvideo`, no JSON escape that could spell it), on a KMS
/// without injected latency. Everything else (management calls, which write and fsync the
/// state file before answering; STS; large bodies) runs on a blocking thread.
///
/// The same checks run either way: only the thread differs.
pub(crate) fn runs_inline(parts: &Parts, protocol: Service, body: &Body, kms: &LocalKms) -> bool {
    if protocol == Service::Sts {
        return false;
    }
    let Body::Complete(bytes) = body else {
        // Refused before the KMS: only the audit record is written.
        return true;
    };
    let Some(op) = target_name(parts).and_then(kms_api::operation) else {
        return true;
    };
    never_writes_state(op)
        && bytes.len() <= INLINE_BODY_MAX
        && !bytes.contains(&b'\\')
        && !bytes
            .windows(KINESIS_VIDEO.len())
            .any(|w| w == KINESIS_VIDEO)
        && kms.faults().latency.is_zero()
}

/// What an alias name that LocalKms creates lazily contains (`alias/aws/kinesisvideo`).
const KINESIS_VIDEO: &[u8] = b"kinesisvideo";

/// Answers one request in `protocol` (what [`protocol`] decided for it); `auth` is
/// [`sigv4::read_authorization`] of `parts`.
pub(crate) fn handle(
    shared: &Shared,
    parts: &Parts,
    auth: Result<AuthHeader<'_>, Refusal>,
    protocol: Service,
    body: Body,
    origin: &Origin,
) -> Answer {
    if protocol == Service::Sts {
        return handle_sts(shared, parts, auth, body, origin);
    }
    let clocks = shared.clocks();
    let now = clocks.real;
    // A body not read to its end leaves the connection unusable: close it after answering.
    let close = !matches!(body, Body::Complete(_));
    let mut akid: Option<String> = None;
    let mut caller: Option<Credential> = None;
    let outcome = (|| -> Result<Answer, ApiError> {
        check_single_headers(parts)?;
        check_route(parts)?;
        let bytes = match body {
            Body::Complete(b) => b,
            Body::TooLarge => return Err(ApiError::too_large(shared.limits.max_body)),
            Body::Incomplete(why) => {
                return Err(ApiError {
                    status: StatusCode::REQUEST_TIMEOUT,
                    ..ApiError::client("RequestTimeoutException", why)
                });
            }
        };
        let verified = sigv4::verify(
            &shared.signing_keys,
            parts,
            auth,
            &bytes,
            &shared.iam,
            &shared.sessions,
            &shared.region,
            clocks,
        )
        .map_err(|r| {
            akid = r.access_key_id;
            r.error
        })?;
        let who = verified.credential;
        akid = Some(who.access_key_id().to_owned());
        caller = Some(who.clone());
        check_content_type(parts, CONTENT_TYPE)?;
        let op = match parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
        {
            Some(t) => t
                .strip_prefix(TARGET_PREFIX)
                .and_then(kms_api::operation)
                .ok_or_else(|| {
                    ApiError::client(
                        UNKNOWN_OPERATION,
                        format!("Unknown operation '{}'.", t.escape_default()),
                    )
                })?,
            None => {
                return Err(ApiError::client(
                    UNKNOWN_OPERATION,
                    "The X-Amz-Target header is missing.",
                ))
            }
        };
        let mut input = Input::parse(&bytes)?;
        let reply = audit::with_origin(&shared.kms, origin, || {
            kms_api::dispatch(&shared.kms, &who, op, &mut input)
        })?;
        Ok(Answer {
            status: StatusCode::OK,
            content_type: CONTENT_TYPE,
            body: reply.0,
            close: false,
        })
    })();
    match outcome {
        Ok(a) => a,
        Err(e) if e.audited => Answer::error(&e),
        Err(e) => {
            let session_account = akid
                .as_deref()
                .and_then(|k| shared.sessions.find(k, None))
                .map(|f| f.credential.account().to_owned());
            let key_account = akid
                .as_deref()
                .and_then(|k| shared.iam.access_key(k))
                .map(|k| k.credential.account())
                .or(session_account.as_deref());
            let rejection = Rejection {
                event_name: event_name(parts),
                access_key_id: akid.as_deref(),
                key_account,
                caller: caller.as_ref(),
                error: &e,
            };
            let mut answer = match audit::record_rejected(&shared.kms, origin, now, &rejection) {
                Ok(()) => Answer::error(&e),
                Err(audit_error) => Answer::error(&audit_error),
            };
            answer.close = close;
            answer
        }
    }
}

/// Answers one STS request (Query protocol). STS calls are not KMS events: they are not
/// written to the KMS audit log.
fn handle_sts(
    shared: &Shared,
    parts: &Parts,
    auth: Result<AuthHeader<'_>, Refusal>,
    body: Body,
    origin: &Origin,
) -> Answer {
    let clocks = shared.clocks();
    let close = !matches!(body, Body::Complete(_));
    let outcome = (|| -> Result<Vec<u8>, StsError> {
        check_single_headers(parts).map_err(|e| StsError::from(&e))?;
        check_route(parts).map_err(|e| StsError::from(&e))?;
        let bytes = match body {
            Body::Complete(b) => b,
            Body::TooLarge => {
                return Err(StsError::from(&ApiError::too_large(shared.limits.max_body)))
            }
            Body::Incomplete(why) => {
                return Err(StsError::from(&ApiError {
                    status: StatusCode::REQUEST_TIMEOUT,
                    ..ApiError::client("RequestTimeoutException", why)
                }))
            }
        };
        let verified = sigv4::verify(
            &shared.signing_keys,
            parts,
            auth,
            &bytes,
            &shared.iam,
            &shared.sessions,
            &shared.region,
            clocks,
        )
        .map_err(|r| StsError::from(&r.error))?;
        if verified.service != Service::Sts {
            // A KMS-scoped signature on a form body: the wrong protocol for the service.
            return Err(StsError::new(
                "InvalidAction",
                "Requests signed for kms use the KMS JSON protocol.",
            ));
        }
        check_content_type(parts, sts::FORM_TYPE)
            .map_err(|e| StsError::new("InvalidAction", e.message))?;
        sts::handle(
            shared,
            &verified.credential,
            &bytes,
            &origin.request_id,
            clocks,
        )
    })();
    match outcome {
        Ok(body) => Answer {
            status: StatusCode::OK,
            content_type: sts::XML_TYPE,
            body,
            close,
        },
        Err(e) => {
            let mut a = Answer::sts_error(&e, &origin.request_id);
            a.close = close;
            a
        }
    }
}

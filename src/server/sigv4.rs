//! SigV4 verification of every request (`Authorization: AWS4-HMAC-SHA256 ...` in headers).
//!
//! The canonical request and the signature are computed by the official `aws-sigv4` crate over
//! exactly the headers the client listed in `SignedHeaders` (nothing excluded, nothing added:
//! `host` and `x-amz-date`, which the crate always canonicalizes, must be among them), the
//! request's method, path, query and the SHA-256 of the body as received. The result is
//! compared with the client's signature in constant time (`subtle`).
//!
//! Checks, in order, each with AWS's exception:
//! - no `Authorization` → `MissingAuthenticationTokenException`;
//! - not `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/kms/aws4_request, SignedHeaders=...,
//!   Signature=<64 hex>`, no `X-Amz-Date`, or `host`/`x-amz-date` unsigned →
//!   `IncompleteSignatureException`;
//! - a scope whose date is not X-Amz-Date's, whose region is not the server's, whose service is
//!   not `kms` or `sts` or whose terminator is not `aws4_request` → `InvalidSignatureException`;
//! - an unknown access key, an IAM-file key with an `X-Amz-Security-Token`, or a session key
//!   (issued by this server's STS) without its token or with another (compared in constant
//!   time) → `UnrecognizedClientException` "The security token included in the request is
//!   invalid.";
//! - X-Amz-Date more than 5 minutes from the server's clock → `InvalidSignatureException`
//!   "Signature expired: ..." / "Signature not yet current: ...";
//! - an `x-amz-content-sha256` that is not the body's hash, or a signature that does not match →
//!   `InvalidSignatureException`;
//! - a session whose expiration has passed (on the server's offset clock) →
//!   `ExpiredTokenException`, checked last so that only the holder of the session learns it.
//!
//! The names are KMS's; STS answers map them to its own (`sts::error_code`).

use super::canonical::{self, KeyCache};
use super::errors::{
    ApiError, EXPIRED_TOKEN, INCOMPLETE_SIGNATURE, INVALID_SIGNATURE, MISSING_AUTH,
    UNRECOGNIZED_CLIENT,
};
use super::iam::IamConfig;
use super::sessions::Sessions;
use crate::kms::Credential;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use http::request::Parts;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// How far X-Amz-Date may be from the server's clock (AWS's window for SigV4 headers).
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const BAD_SIGNATURE: &str = "The request signature we calculated does not match the signature \
     you provided. Check your AWS Secret Access Key and signing method. Consult the service \
     documentation for details.";
const BAD_TOKEN: &str = "The security token included in the request is invalid.";
const EXPIRED: &str = "The security token included in the request is expired";

/// A refused request: the error, and the access key id if the header named one.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) error: ApiError,
    pub(crate) access_key_id: Option<String>,
}

fn refuse(code: &'static str, message: impl Into<String>, akid: Option<&str>) -> Refusal {
    Refusal {
        error: ApiError::client(code, message),
        access_key_id: akid.map(str::to_owned),
    }
}

/// The parts of an `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AuthHeader<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) date: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
    pub(crate) terminator: &'a str,
    pub(crate) signed_headers: Vec<&'a str>,
    pub(crate) signature: &'a str,
}

/// Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
pub(crate) fn parse_authorization(value: &str) -> Result<AuthHeader<'_>, Refusal> {
    let incomplete = |m: String| refuse(INCOMPLETE_SIGNATURE, m, None);
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{}' (only {ALGORITHM} is accepted).",
            algorithm.escape_default()
        )));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim_matches(' ');
        let Some((k, v)) = part.split_once('=') else {
            return Err(incomplete(format!(
                "Authorization header is malformed near '{}'.",
                part.escape_default()
            )));
        };
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => {
                return Err(incomplete(format!(
                    "Authorization header has an unknown parameter '{}'.",
                    k.escape_default()
                )))
            }
        };
        if slot.replace(v).is_some() {
            return Err(incomplete(format!(
                "Authorization header has '{k}' more than once."
            )));
        }
    }
    let mut missing = Vec::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed),
    ] {
        if v.is_none_or(str::is_empty) {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(incomplete(missing.join(" ")));
    };
    if !missing.is_empty() {
        return Err(incomplete(missing.join(" ")));
    }
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(incomplete(format!(
            "Credential '{}' must be AKID/YYYYMMDD/REGION/SERVICE/aws4_request.",
            credential.escape_default()
        )));
    };
    if access_key_id.is_empty()
        || !access_key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(incomplete(
            "The access key id in the Credential is malformed.".to_owned(),
        ));
    }
    let signed_headers: Vec<&str> = signed.split(';').collect();
    let well_formed = signed_headers.iter().all(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
    }) && signed_headers.windows(2).all(|w| w[0] < w[1]);
    if !well_formed {
        return Err(refuse(
            INCOMPLETE_SIGNATURE,
            "SignedHeaders must be lowercase header names, sorted, each once, separated by ';'.",
            Some(access_key_id),
        ));
    }
    for required in ["host", "x-amz-date"] {
        if !signed_headers.contains(&required) {
            return Err(refuse(
                INCOMPLETE_SIGNATURE,
                format!("'{required}' must be a 'SignedHeader' in the AWS Authorization."),
                Some(access_key_id),
            ));
        }
    }
    if signed_headers.contains(&"authorization") {
        return Err(refuse(
            INCOMPLETE_SIGNATURE,
            "'authorization' cannot be a 'SignedHeader'.",
            Some(access_key_id),
        ));
    }
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(refuse(
            INCOMPLETE_SIGNATURE,
            "Signature must be 64 lowercase hexadecimal digits.",
            Some(access_key_id),
        ));
    }
    Ok(AuthHeader {
        access_key_id,
        date,
        region,
        service,
        terminator,
        signed_headers,
        signature,
    })
}

/// `YYYYMMDDTHHMMSSZ` → time.
pub(crate) fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16
        || b[8] != b'T'
        || b[15] != b'Z'
        || !b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
    {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    );
    humantime::parse_rfc3339(&rfc3339).ok()
}

/// time → `YYYYMMDDTHHMMSSZ`.
pub(crate) fn format_amz_date(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.chars().filter(|c| *c != '-' && *c != ':').collect()
}

fn single_header<'a>(parts: &'a Parts, name: &str) -> Option<&'a http::HeaderValue> {
    parts.headers.get(name)
}

/// The service a request is signed for (its credential scope's), which decides its protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    /// KMS, JSON 1.1.
    Kms,
    /// STS, the Query protocol.
    Sts,
}

impl Service {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Service::Kms => "kms",
            Service::Sts => "sts",
        }
    }

    fn parse(scope: &str) -> Option<Self> {
        match scope {
            "kms" => Some(Service::Kms),
            "sts" => Some(Service::Sts),
            _ => None,
        }
    }
}

/// The request's `Authorization` header, parsed: read once per request, then used to pick
/// the protocol of the answer ([`scope_service`]) and by [`verify`].
///
/// # Errors
/// No header → `MissingAuthenticationTokenException`; not visible ASCII or malformed →
/// `IncompleteSignatureException` (see [`parse_authorization`]).
pub(crate) fn read_authorization(parts: &Parts) -> Result<AuthHeader<'_>, Refusal> {
    let Some(auth) = single_header(parts, "authorization") else {
        return Err(refuse(MISSING_AUTH, "Missing Authentication Token", None));
    };
    let auth = auth.to_str().map_err(|_| {
        refuse(
            INCOMPLETE_SIGNATURE,
            "Authorization header is not visible ASCII.",
            None,
        )
    })?;
    parse_authorization(auth)
}

/// The service named by the `Authorization` header's credential scope, if the header
/// parsed ([`read_authorization`]) and names one this server answers (used to pick the
/// protocol of the answer, before the signature is verified).
pub(crate) fn scope_service(auth: &Result<AuthHeader<'_>, Refusal>) -> Option<Service> {
    Service::parse(auth.as_ref().ok()?.service)
}

/// A verified caller.
pub(crate) struct Verified {
    pub(crate) credential: Credential,
    pub(crate) service: Service,
}

/// The clocks a request is checked against: `real` for the 5-minute SigV4 window (clients
/// sign with the real time), `sessions` (the real time plus the server's clock offset) for
/// session expiry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clocks {
    pub(crate) real: SystemTime,
    pub(crate) sessions: SystemTime,
}

/// Verifies the request's signature against the IAM file's access keys and the STS sessions
/// this server issued; returns the caller and the service. `auth` is
/// [`read_authorization`] of `parts` (its refusal is returned as is). The signature of a
/// `POST /` request is computed by [`canonical`] with the signing key cached in `keys`; any
/// other shape's by `aws-sigv4`.
///
/// `parts` must have no duplicate `Authorization`, `X-Amz-Date`, `X-Amz-Security-Token` or
/// `x-amz-content-sha256` (the HTTP layer refuses those first).
#[allow(clippy::too_many_arguments)]
pub(crate) fn verify(
    keys: &KeyCache,
    parts: &Parts,
    auth: Result<AuthHeader<'_>, Refusal>,
    body: &[u8],
    iam: &IamConfig,
    sessions: &Sessions,
    region: &str,
    clocks: Clocks,
) -> Result<Verified, Refusal> {
    let now = clocks.real;
    let header = auth?;
    let akid = Some(header.access_key_id);
    let Some(amz_date) = single_header(parts, "x-amz-date").and_then(|v| v.to_str().ok()) else {
        return Err(refuse(
            INCOMPLETE_SIGNATURE,
            "Authorization header requires existence of a 'X-Amz-Date' header.",
            akid,
        ));
    };
    let Some(request_time) = parse_amz_date(amz_date) else {
        return Err(refuse(
            INCOMPLETE_SIGNATURE,
            format!(
                "X-Amz-Date '{}' is not YYYYMMDD'T'HHMMSS'Z'.",
                amz_date.escape_default()
            ),
            akid,
        ));
    };
    if header.date != &amz_date[..8] {
        return Err(refuse(
            INVALID_SIGNATURE,
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{}' != '{}', from '{amz_date}'.",
                header.date.escape_default(),
                &amz_date[..8]
            ),
            akid,
        ));
    }
    if header.region != region {
        return Err(refuse(
            INVALID_SIGNATURE,
            format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                header.region.escape_default()
            ),
            akid,
        ));
    }
    let Some(service) = Service::parse(header.service) else {
        return Err(refuse(
            INVALID_SIGNATURE,
            "Credential should be scoped to correct service: 'kms'. ",
            akid,
        ));
    };
    if header.terminator != "aws4_request" {
        return Err(refuse(
            INVALID_SIGNATURE,
            format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
                header.terminator.escape_default()
            ),
            akid,
        ));
    }
    let token = single_header(parts, "x-amz-security-token").map(http::HeaderValue::as_bytes);
    // A long-term key never comes with a session token; a session key always with its own.
    let (credential, secret, expiration) = if let Some(key) = iam.access_key(header.access_key_id) {
        if token.is_some() {
            return Err(refuse(UNRECOGNIZED_CLIENT, BAD_TOKEN, akid));
        }
        (
            key.credential.clone(),
            Zeroizing::new(key.secret.expose_secret().to_owned()),
            None,
        )
    } else if let Some(found) = sessions.find(header.access_key_id, token) {
        if !found.token_ok {
            return Err(refuse(UNRECOGNIZED_CLIENT, BAD_TOKEN, akid));
        }
        (found.credential, found.secret, Some(found.expiration))
    } else {
        return Err(refuse(UNRECOGNIZED_CLIENT, BAD_TOKEN, akid));
    };
    check_skew(request_time, now).map_err(|m| refuse(INVALID_SIGNATURE, m, akid))?;
    let body_hash = hex::encode(Sha256::digest(body));
    if let Some(claimed) = single_header(parts, "x-amz-content-sha256") {
        if claimed.as_bytes() != body_hash.as_bytes() {
            return Err(refuse(
                INVALID_SIGNATURE,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                akid,
            ));
        }
    }
    let signed = canonical::Signed {
        access_key_id: header.access_key_id,
        signed_headers: &header.signed_headers,
        signature: header.signature,
        amz_date,
        date: header.date,
    };
    // The cached-key path only ever accepts: a signature it does not reproduce (a wrong one,
    // or one over a canonical form it would build differently), another request shape, or a
    // signed header it cannot read goes to `aws-sigv4`, which decides (and words the refusal).
    let matches =
        match canonical::verify(keys, parts, &signed, &body_hash, &secret, region, service) {
            Ok(true) => true,
            Ok(false) | Err(_) => {
                let expected =
                    compute_signature(parts, body, &header, &secret, region, service, request_time)
                        .map_err(|m| refuse(INVALID_SIGNATURE, m, akid))?;
                bool::from(expected.as_bytes().ct_eq(header.signature.as_bytes()))
            }
        };
    if !matches {
        return Err(refuse(INVALID_SIGNATURE, BAD_SIGNATURE, akid));
    }
    if expiration.is_some_and(|exp| clocks.sessions >= exp) {
        return Err(refuse(EXPIRED_TOKEN, EXPIRED, akid));
    }
    Ok(Verified {
        credential,
        service,
    })
}

fn check_skew(request: SystemTime, now: SystemTime) -> Result<(), String> {
    // The dates are formatted only for a refusal: an accepted request does not pay for it.
    let r = || format_amz_date(request);
    if let Ok(behind) = now.duration_since(request) {
        if behind > MAX_SKEW {
            return Err(format!(
                "Signature expired: {} is now earlier than {} ({} - 5 min.)",
                r(),
                format_amz_date(now - MAX_SKEW),
                format_amz_date(now)
            ));
        }
    } else if request.duration_since(now).unwrap_or_default() > MAX_SKEW {
        return Err(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            r(),
            format_amz_date(now + MAX_SKEW),
            format_amz_date(now)
        ));
    }
    Ok(())
}

/// The signature `aws-sigv4` computes for this request over exactly `header.signed_headers`.
pub(super) fn compute_signature(
    parts: &Parts,
    body: &[u8],
    header: &AuthHeader<'_>,
    secret: &str,
    region: &str,
    service: Service,
    time: SystemTime,
) -> Result<String, String> {
    let mut signed = Vec::new();
    for name in &header.signed_headers {
        let mut any = false;
        for v in parts.headers.get_all(*name) {
            let v = v
                .to_str()
                .map_err(|_| format!("signed header '{name}' is not visible ASCII"))?;
            signed.push((*name, v));
            any = true;
        }
        if !any {
            return Err(BAD_SIGNATURE.to_owned());
        }
    }
    let credentials = aws_credential_types::Credentials::new(
        header.access_key_id,
        secret,
        // A session token is canonicalized as the client sent it, among its signed headers.
        None,
        None,
        "fragseal-iam-file",
    );
    let identity: aws_smithy_runtime_api::client::identity::Identity = credentials.into();
    let mut settings = SigningSettings::default();
    // Sign exactly the headers the client listed: exclude none.
    settings.excluded_headers = Some(Vec::new());
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service.name())
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot build the signing parameters: {e}"))?
        .into();
    let uri = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let request = SignableRequest::new(
        parts.method.as_str(),
        uri,
        signed.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("the request cannot be canonicalized: {e}"))?;
    let output = sign(request, &params).map_err(|e| format!("cannot sign: {e}"))?;
    Ok(output.signature().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_well_formed_header() {
        let sig = "a".repeat(64);
        let v = format!(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261201/us-east-1/kms/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={sig}"
        );
        let h = parse_authorization(&v).expect("parses");
        assert_eq!(h.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(
            (h.date, h.region, h.service, h.terminator),
            ("20261201", "us-east-1", "kms", "aws4_request")
        );
        assert_eq!(
            h.signed_headers,
            ["content-type", "host", "x-amz-date", "x-amz-target"]
        );
    }

    #[test]
    fn garbled_headers_are_incomplete() {
        let sig = "a".repeat(64);
        for v in [
            String::from("AWS4-HMAC-SHA256"),
            String::from("Basic dXNlcjpwYXNz"),
            format!("AWS4-HMAC-SHA256 Credential=A/20261201/us-east-1/kms/aws4_request, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=A/20261201/us-east-1/kms, SignedHeaders=host;x-amz-date, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=A/20261201/us-east-1/kms/aws4_request, SignedHeaders=x-amz-date;host, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=A/20261201/us-east-1/kms/aws4_request, SignedHeaders=x-amz-date, Signature={sig}"),
            String::from("AWS4-HMAC-SHA256 Credential=A/20261201/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=xyz"),
            format!("AWS4-HMAC-SHA256 Credential=A/20261201/us-east-1/kms/aws4_request, Credential=B/1/2/3/4, SignedHeaders=host;x-amz-date, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=A/20261201/us-east-1/kms/aws4_request, Foo=1, SignedHeaders=host;x-amz-date, Signature={sig}"),
        ] {
            let e = parse_authorization(&v).expect_err(&v);
            assert_eq!(e.error.code, INCOMPLETE_SIGNATURE, "{v}: {}", e.error.message);
        }
    }

    #[test]
    fn amz_dates_round_trip_and_skew_has_aws_wording() {
        let t = parse_amz_date("20261201T123456Z").expect("date");
        assert_eq!(format_amz_date(t), "20261201T123456Z");
        for bad in [
            "20261201T123456",
            "2026-12-01T12:34:56Z",
            "20261301T123456Z",
            "",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
        let now = parse_amz_date("20261201T121000Z").expect("date");
        let old = parse_amz_date("20261201T120000Z").expect("date");
        assert_eq!(
            check_skew(old, now).expect_err("expired"),
            "Signature expired: 20261201T120000Z is now earlier than 20261201T120500Z \
             (20261201T121000Z - 5 min.)"
        );
        let new = parse_amz_date("20261201T122000Z").expect("date");
        assert_eq!(
            check_skew(new, now).expect_err("future"),
            "Signature not yet current: 20261201T122000Z is still later than 20261201T121500Z \
             (20261201T121000Z + 5 min.)"
        );
        let edge = parse_amz_date("20261201T120500Z").expect("date");
        assert!(check_skew(edge, now).is_ok());
    }
}

//! STS on the `kms serve` listener: requests whose SigV4 credential scope names `sts`, in the
//! Query protocol (form-encoded `POST /` with `Action=...&Version=2011-06-15`, XML answers in
//! STS's namespace, XML errors `<ErrorResponse><Error><Type>Sender</Type><Code>...`).
//!
//! Operations: `GetCallerIdentity` and `AssumeRole` ([`assume`]). Sessions are kept in the
//! server's memory ([`super::sessions`]).
//!
//! Errors use STS's codes and statuses: a KMS-side signature refusal is renamed
//! ([`error_code`]): `MissingAuthenticationToken` (403), `IncompleteSignature` (400),
//! `SignatureDoesNotMatch` (403), `InvalidClientTokenId` (403), `ExpiredToken` (400);
//! `AccessDenied` (403), `ValidationError` (400), `MissingAction` / `InvalidAction` (400),
//! `InternalFailure` (500).

mod assume;
mod ids;
pub(crate) mod xml;

use super::errors::{self, ApiError};
use super::sigv4::Clocks;
use super::Shared;
use crate::kms::Credential;
use http::StatusCode;
use std::collections::BTreeMap;
use xml::Xml;

/// The media type of Query-protocol requests.
pub(crate) const FORM_TYPE: &str = "application/x-www-form-urlencoded";
/// The media type of STS answers.
pub(crate) const XML_TYPE: &str = "text/xml";
/// The API version of every request.
const VERSION: &str = "2011-06-15";

/// An STS error answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct StsError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) status: StatusCode,
}

impl StsError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        let status = match code {
            "AccessDenied"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "MissingAuthenticationToken" => StatusCode::FORBIDDEN,
            "InternalFailure" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            code,
            message: message.into(),
            status,
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", message)
    }

    /// `<ErrorResponse>` with `request_id`.
    pub(crate) fn body(&self, request_id: &str) -> Vec<u8> {
        let kind = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        let mut x = Xml::root("ErrorResponse");
        x.open("Error")
            .leaf("Type", kind)
            .leaf("Code", self.code)
            .leaf("Message", &self.message)
            .close("Error")
            .leaf("RequestId", request_id);
        x.finish("ErrorResponse")
    }
}

/// STS's name for an error found by the shared layers (signature, body, route), which use
/// KMS's names.
pub(crate) fn error_code(kms_code: &str) -> &'static str {
    match kms_code {
        errors::MISSING_AUTH => "MissingAuthenticationToken",
        errors::INCOMPLETE_SIGNATURE => "IncompleteSignature",
        errors::INVALID_SIGNATURE => "SignatureDoesNotMatch",
        errors::UNRECOGNIZED_CLIENT => "InvalidClientTokenId",
        errors::EXPIRED_TOKEN => "ExpiredToken",
        errors::TOO_LARGE => "RequestEntityTooLarge",
        "RequestTimeoutException" => "RequestTimeout",
        errors::SERIALIZATION | errors::UNKNOWN_OPERATION => "InvalidAction",
        errors::VALIDATION => "ValidationError",
        _ => "InternalFailure",
    }
}

impl From<&ApiError> for StsError {
    fn from(e: &ApiError) -> Self {
        let code = error_code(e.code);
        let mut out = StsError::new(code, e.message.clone());
        if matches!(code, "RequestEntityTooLarge" | "RequestTimeout") {
            out.status = e.status;
        }
        out
    }
}

/// The form's parameters; a repeated one is refused (which copy would be acted on?).
fn parse_form(body: &[u8]) -> Result<BTreeMap<String, String>, StsError> {
    let mut out = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(StsError::validation(format!(
                "The parameter {} appears more than once.",
                k.escape_default()
            )));
        }
    }
    Ok(out)
}

/// Parameters of an operation, each taken once; what is left over is refused.
pub(crate) struct Params(BTreeMap<String, String>);

impl Params {
    pub(crate) fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    /// Refuses any parameter not taken.
    pub(crate) fn finish(self, action: &str) -> Result<(), StsError> {
        match self.0.keys().next() {
            None => Ok(()),
            Some(k) => Err(StsError::validation(format!(
                "The parameter {} of {action} is not supported by this server \
                 (fragseal kms serve models RoleArn, RoleSessionName, DurationSeconds and \
                 ExternalId).",
                k.escape_default()
            ))),
        }
    }
}

/// Answers one verified STS request: the XML body.
pub(crate) fn handle(
    shared: &Shared,
    caller: &Credential,
    body: &[u8],
    request_id: &str,
    clocks: Clocks,
) -> Result<Vec<u8>, StsError> {
    let mut form = parse_form(body)?;
    let Some(action) = form.remove("Action") else {
        return Err(StsError::new("MissingAction", "Missing Action"));
    };
    let version = form.remove("Version");
    if version.as_deref() != Some(VERSION) {
        return Err(StsError::new(
            "InvalidAction",
            format!(
                "Could not find operation {} for version {}",
                action.escape_default(),
                version
                    .as_deref()
                    .unwrap_or("NO_VERSION_SPECIFIED")
                    .escape_default()
            ),
        ));
    }
    let params = Params(form);
    match action.as_str() {
        "GetCallerIdentity" => {
            params.finish("GetCallerIdentity")?;
            Ok(assume::get_caller_identity(caller, request_id))
        }
        "AssumeRole" => assume::assume_role(shared, caller, params, request_id, clocks),
        other => Err(StsError::new(
            "InvalidAction",
            format!(
                "Could not find operation {} for version {VERSION}",
                other.escape_default()
            ),
        )),
    }
}

/// `<ResponseMetadata><RequestId>ID</RequestId></ResponseMetadata>`.
pub(crate) fn metadata(x: &mut Xml, request_id: &str) {
    x.open("ResponseMetadata")
        .leaf("RequestId", request_id)
        .close("ResponseMetadata");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_errors_get_sts_names_and_statuses() {
        for (kms, sts, status) in [
            (errors::MISSING_AUTH, "MissingAuthenticationToken", 403),
            (errors::INCOMPLETE_SIGNATURE, "IncompleteSignature", 400),
            (errors::INVALID_SIGNATURE, "SignatureDoesNotMatch", 403),
            (errors::UNRECOGNIZED_CLIENT, "InvalidClientTokenId", 403),
            (errors::EXPIRED_TOKEN, "ExpiredToken", 400),
            ("KMSInternalException", "InternalFailure", 500),
        ] {
            let e = StsError::from(&ApiError::client(kms, "m"));
            assert_eq!((e.code, e.status.as_u16()), (sts, status), "{kms}");
        }
        let e = StsError::from(&ApiError::too_large(10));
        assert_eq!((e.code, e.status.as_u16()), ("RequestEntityTooLarge", 413));
    }

    #[test]
    fn error_bodies_are_sts_shaped_and_escaped() {
        let e = StsError::new("AccessDenied", "User: <x> is not authorized");
        let body = String::from_utf8(e.body("req-1")).expect("utf-8");
        assert_eq!(
            body,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
             <Type>Sender</Type><Code>AccessDenied</Code>\
             <Message>User: &lt;x&gt; is not authorized</Message></Error>\
             <RequestId>req-1</RequestId></ErrorResponse>"
        );
        let e = StsError::new("InternalFailure", "disk");
        assert!(String::from_utf8(e.body("r"))
            .expect("utf-8")
            .contains("<Type>Receiver</Type>"));
    }

    #[test]
    fn forms_decode_and_refuse_repeats() {
        let f = parse_form(b"Action=AssumeRole&RoleSessionName=a%2Bb+c&Version=2011-06-15")
            .expect("form");
        assert_eq!(f["RoleSessionName"], "a+b c");
        assert_eq!(f["Action"], "AssumeRole");
        let e = parse_form(b"Action=A&Action=B").expect_err("repeat");
        assert_eq!(e.code, "ValidationError");
    }
}

//! A small STS client for `--assume-role`: `AssumeRole` in the Query protocol (form-encoded
//! `POST`, XML answers), signed with SigV4 by the official `aws-sigv4` crate (as the AWS SDKs
//! sign), over plain HTTP/1.1 to a `fragseal kms serve` endpoint (or any `http://` STS).
//!
//! Secrets (the caller's secret access key and session token, the session's) live in
//! [`Secret`]s: boxed, zeroized on drop, never cloned or printed. The signer and the AWS SDK
//! receive copies in their own credential types (`aws-credential-types` zeroizes the secret
//! key; the HTTP request buffers are outside fragseal's control).

use fragseal::kms::{KmsError, KmsErrorKind};
use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime};
use zeroize::Zeroizing;

/// How the messages of STS's refusals start (the CLI shows them without a "KMS" prefix).
pub const STS_PREFIX: &str = "STS AssumeRole";
/// The STS API version of every request.
const VERSION: &str = "2011-06-15";
/// Largest answer read.
const MAX_ANSWER: u64 = 1 << 20;

/// A secret text (a secret access key, a session token): boxed, zeroized on drop, not `Clone`,
/// and its `Debug` shows no byte of it.
pub struct Secret(Box<Zeroizing<String>>);

impl Secret {
    /// Takes `text` (its buffer is zeroized when the secret is dropped).
    pub fn new(text: String) -> Self {
        Self(Box::new(Zeroizing::new(text)))
    }

    /// The text, for the signer.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Access keys: an access key id (an identifier), its secret and, for a session, its token.
#[derive(Debug)]
pub struct AccessKeys {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl AccessKeys {
    /// The keys of `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (never
    /// from a flag: a flag's value shows in `ps` and in shell histories).
    ///
    /// # Errors
    /// The names of the missing variables.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Ok(Self {
                access_key_id: id,
                secret_access_key: Secret::new(secret),
                session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
            }),
            _ => Err(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set in the environment".into(),
            ),
        }
    }

    /// The signer's copy of these keys.
    pub fn sdk_credentials(&self, expiry: Option<SystemTime>) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.expose().to_owned(),
            self.session_token.as_ref().map(|t| t.expose().to_owned()),
            expiry,
            "fragseal-assume-role",
        )
    }
}

/// An `http://HOST[:PORT][/PATH]` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `HOST[:PORT]` as given (the `Host` header and the signed URL).
    authority: String,
    host: String,
    port: u16,
    path: String,
}

impl Endpoint {
    /// Parses `url`: `http://` only (this client speaks no TLS).
    ///
    /// # Errors
    /// Why the URL is not usable.
    pub fn parse(url: &str) -> Result<Self, String> {
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(format!(
                "{url}: the STS client of `--assume-role` speaks plain http:// (a `fragseal kms \
                 serve` endpoint); for AWS itself, get the session with `aws sts assume-role` \
                 and export its keys as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / \
                 AWS_SESSION_TOKEN"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') || path.contains(['?', '#']) {
            return Err(format!("{url}: not an http://HOST[:PORT][/PATH] URL"));
        }
        let bad_port = |p: &str| format!("{url}: the port {p:?} is not a number");
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (h, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("{url}: an unclosed [IPv6] host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse::<u16>().map_err(|_| bad_port(p))?,
                None if after.is_empty() => 80,
                None => return Err(format!("{url}: not an http://HOST[:PORT][/PATH] URL")),
            };
            (h, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad_port(p))?),
                None => (authority, 80),
            }
        };
        if host.is_empty() {
            return Err(format!("{url}: no host"));
        }
        Ok(Self {
            authority: authority.to_owned(),
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }
}

/// What `AssumeRole` is asked for.
#[derive(Clone, Debug)]
pub struct AssumeRoleRequest {
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    pub duration_seconds: Option<u32>,
}

/// A session that `AssumeRole` answered.
#[derive(Debug)]
pub struct Session {
    pub keys: AccessKeys,
    pub expiration: SystemTime,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub assumed_role_arn: String,
}

/// STS at one endpoint, in one region.
#[derive(Clone, Debug)]
pub struct StsClient {
    endpoint: Endpoint,
    region: String,
    timeout: Duration,
}

/// `(code, kind)` of an STS error code: the code as STS spells it, the kind callers act on
/// (`ExpiredToken` is the refresh-and-retry kind; the authentication failures are denials).
fn sts_code(code: &str) -> (&'static str, KmsErrorKind) {
    const CODES: &[(&str, KmsErrorKind)] = &[
        ("AccessDenied", KmsErrorKind::AccessDenied),
        ("ExpiredToken", KmsErrorKind::ExpiredToken),
        ("InvalidClientTokenId", KmsErrorKind::AccessDenied),
        ("SignatureDoesNotMatch", KmsErrorKind::AccessDenied),
        ("IncompleteSignature", KmsErrorKind::AccessDenied),
        ("MissingAuthenticationToken", KmsErrorKind::AccessDenied),
        ("RegionDisabledException", KmsErrorKind::AccessDenied),
        ("ValidationError", KmsErrorKind::InvalidRequest),
        (
            "MalformedPolicyDocument",
            KmsErrorKind::MalformedPolicyDocument,
        ),
        ("PackedPolicyTooLarge", KmsErrorKind::InvalidRequest),
        ("InvalidAction", KmsErrorKind::InvalidRequest),
        ("MissingAction", KmsErrorKind::InvalidRequest),
        ("RequestEntityTooLarge", KmsErrorKind::InvalidRequest),
        ("Throttling", KmsErrorKind::Throttling),
        ("RequestTimeout", KmsErrorKind::Transport),
        ("ServiceUnavailable", KmsErrorKind::Transport),
        ("InternalFailure", KmsErrorKind::Internal),
    ];
    CODES
        .iter()
        .find(|(c, _)| *c == code)
        .copied()
        .unwrap_or(("UnknownError", KmsErrorKind::Internal))
}

fn transport(what: impl fmt::Display) -> KmsError {
    KmsError::new(KmsErrorKind::Transport, format!("{STS_PREFIX}: {what}"))
}

impl StsClient {
    /// STS at `endpoint` in `region`, each call bounded by `timeout` (connect, write, read).
    pub fn new(endpoint: Endpoint, region: String, timeout: Duration) -> Self {
        Self {
            endpoint,
            region,
            timeout,
        }
    }

    /// `AssumeRole` signed with `caller`'s keys.
    ///
    /// # Errors
    /// STS's refusal with its name (`AccessDenied`, `ExpiredToken`, `ValidationError`, ...) as
    /// [`KmsError::code`], the kind to act on (`ExpiredToken` → refresh, `Throttling` → back
    /// off); `TransportError` when no answer came.
    pub fn assume_role(
        &self,
        caller: &AccessKeys,
        request: &AssumeRoleRequest,
    ) -> Result<Session, KmsError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", "AssumeRole")
            .append_pair("Version", VERSION)
            .append_pair("RoleArn", &request.role_arn)
            .append_pair("RoleSessionName", &request.session_name);
        if let Some(e) = &request.external_id {
            form.append_pair("ExternalId", e);
        }
        if let Some(d) = request.duration_seconds {
            form.append_pair("DurationSeconds", &d.to_string());
        }
        let body = form.finish();
        let headers = self.signed_headers(caller, body.as_bytes())?;
        let (status, answer) = self.post(&headers, body.as_bytes())?;
        if status == 200 {
            return parse_session(&answer);
        }
        let code = xml_text(&answer, "Code").unwrap_or_default();
        let message = xml_text(&answer, "Message").unwrap_or_default();
        let (name, kind) = sts_code(&code);
        let shown = if code.is_empty() {
            format!("HTTP {status}")
        } else {
            code.clone()
        };
        Err(KmsError::new(
            kind,
            format!(
                "{STS_PREFIX} {shown}: {message} (role {})",
                request.role_arn
            ),
        )
        .with_code(name))
    }

    fn signed_headers(
        &self,
        caller: &AccessKeys,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, KmsError> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let mut headers = vec![
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
            ),
            ("host".to_owned(), self.endpoint.authority.clone()),
        ];
        let identity = caller.sdk_credentials(None).into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("sts")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| KmsError::new(KmsErrorKind::Internal, format!("SigV4: {e}")))?
            .into();
        let url = format!("http://{}{}", self.endpoint.authority, self.endpoint.path);
        let signable = SignableRequest::new(
            "POST",
            url,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| KmsError::new(KmsErrorKind::Internal, format!("SigV4: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| KmsError::new(KmsErrorKind::Internal, format!("SigV4: {e}")))?
            .into_parts();
        for (n, v) in instructions.headers() {
            headers.push((n.to_owned(), v.to_owned()));
        }
        Ok(headers)
    }

    /// One request on a new connection (`connection: close`): the status and the body.
    fn post(&self, headers: &[(String, String)], body: &[u8]) -> Result<(u16, Vec<u8>), KmsError> {
        let e = &self.endpoint;
        let addr = (e.host.as_str(), e.port)
            .to_socket_addrs()
            .map_err(|err| transport(format_args!("cannot resolve {}: {err}", e.host)))?
            .next()
            .ok_or_else(|| transport(format_args!("no address for {}", e.host)))?;
        let mut stream = TcpStream::connect_timeout(&addr, self.timeout)
            .map_err(|err| transport(format_args!("cannot connect to {addr}: {err}")))?;
        let io = |err: std::io::Error| transport(format_args!("{addr}: {err}"));
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let mut request = format!(
            "POST {} HTTP/1.1\r\nuser-agent: fragseal/{}\r\nconnection: close\r\n",
            e.path,
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes();
        for (n, v) in headers {
            request.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        request.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body);
        // The request holds the session token header: zeroized once sent.
        let request = Zeroizing::new(request);
        stream.write_all(&request).map_err(io)?;
        let mut raw = Zeroizing::new(Vec::new());
        (&mut stream)
            .take(MAX_ANSWER + 1)
            .read_to_end(&mut raw)
            .map_err(io)?;
        if raw.len() as u64 > MAX_ANSWER {
            return Err(transport(format_args!(
                "{addr}: answer over {MAX_ANSWER} bytes"
            )));
        }
        parse_http(&raw).ok_or_else(|| transport(format_args!("{addr}: not an HTTP/1.1 answer")))
    }
}

/// `(status, body)` of a whole HTTP/1.1 answer (`content-length` or chunked, or to the end).
fn parse_http(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(raw.get(..split)?).ok()?;
    let rest = raw.get(split + 4..)?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        let (n, v) = l.split_once(':')?;
        let (n, v) = (n.trim(), v.trim());
        if n.eq_ignore_ascii_case("content-length") {
            length = Some(v.parse::<usize>().ok()?);
        } else if n.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.eq_ignore_ascii_case("chunked");
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)?.to_vec()
    } else {
        rest.to_vec()
    };
    Some((status, body))
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(rest.get(..eol)?).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = rest.get(eol + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// The text of the first `<name>...</name>`, entities decoded.
fn xml_text(body: &[u8], name: &str) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    let open = format!("<{name}>");
    let start = s.find(&open)? + open.len();
    let end = s.get(start..)?.find(&format!("</{name}>"))? + start;
    Some(
        s.get(start..end)?
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#13;", "\r")
            .replace("&amp;", "&"),
    )
}

fn parse_session(body: &[u8]) -> Result<Session, KmsError> {
    let field = |name: &str| {
        xml_text(body, name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                KmsError::new(
                    KmsErrorKind::Internal,
                    format!("STS AssumeRole: the answer has no {name}"),
                )
            })
    };
    let expiration_text = field("Expiration")?;
    let expiration = humantime::parse_rfc3339_weak(&expiration_text).map_err(|e| {
        KmsError::new(
            KmsErrorKind::Internal,
            format!("STS AssumeRole: Expiration {expiration_text:?}: {e}"),
        )
    })?;
    Ok(Session {
        keys: AccessKeys {
            access_key_id: field("AccessKeyId")?,
            secret_access_key: Secret::new(field("SecretAccessKey")?),
            session_token: Some(Secret::new(field("SessionToken")?)),
        },
        expiration,
        assumed_role_arn: field("Arn")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_http_urls() {
        let e = Endpoint::parse("http://127.0.0.1:4566").expect("endpoint");
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("127.0.0.1", 4566, "/")
        );
        let e = Endpoint::parse("http://sts.local/x").expect("endpoint");
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("sts.local", 80, "/x")
        );
        let e = Endpoint::parse("http://[::1]:9/").expect("endpoint");
        assert_eq!((e.host.as_str(), e.port), ("::1", 9));
        let e = Endpoint::parse("http://[::1]").expect("endpoint");
        assert_eq!((e.host.as_str(), e.port), ("::1", 80));
        for bad in [
            "https://sts.amazonaws.com",
            "http://",
            "http://u@h/",
            "http://h:x/",
            "http://h/?a",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_parse_and_errors_keep_sts_names() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloEXTRA";
        assert_eq!(parse_http(ok), Some((200, b"hello".to_vec())));
        let chunked = b"HTTP/1.1 403 Forbidden\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_http(chunked), Some((403, b"abcde".to_vec())));
        assert_eq!(parse_http(b"garbage"), None);
        assert_eq!(
            sts_code("AccessDenied"),
            ("AccessDenied", KmsErrorKind::AccessDenied)
        );
        assert_eq!(
            sts_code("ExpiredToken"),
            ("ExpiredToken", KmsErrorKind::ExpiredToken)
        );
        assert_eq!(sts_code("<script>").0, "UnknownError");
        let body = b"<R><Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s&amp;1</SecretAccessKey>\
            <SessionToken>t</SessionToken><Expiration>2026-12-01T17:00:00Z</Expiration></Credentials>\
            <AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/r/s</Arn></AssumedRoleUser></R>";
        let s = parse_session(body).expect("session");
        assert_eq!(s.keys.access_key_id, "ASIA1");
        assert_eq!(s.keys.secret_access_key.expose(), "s&1");
        assert_eq!(
            s.assumed_role_arn,
            "arn:aws:sts::111122223333:assumed-role/r/s"
        );
        assert!(!format!("{s:?}").contains("s&1"), "no secret in Debug");
        assert!(parse_session(b"<R></R>").is_err());
    }
}

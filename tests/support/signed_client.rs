//! A small keep-alive HTTP/1.1 client over a std `TcpStream` that sends KMS JSON 1.1 requests
//! signed with SigV4 by AWS's own signer (the `aws-sigv4` crate).
//!
//! Used by the server tests (tests/server_*.rs) and by benches/kms_server.rs, against
//! `fragseal kms serve` and `moto_server` alike, so both servers see the same client.
//!
//! - One request at a time on one connection, reused while the server keeps it open. A
//!   request is never re-sent: when a reused connection turns out to be closed before any
//!   byte of the answer arrived, the call fails ([`CallError::Io`]) and the next call opens a
//!   new connection. (A silent retry could make the server see a request twice, which the
//!   load test's audit count would flag as a duplicate it did not cause.)
//! - Answers are read by `Content-Length` or `Transfer-Encoding: chunked`.
//! - The secret access key lives in `aws-credential-types`' `Credentials` (zeroized on drop)
//!   and is never printed: `Debug` of [`SignedClient`] shows the access key id only.
#![allow(dead_code)]

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

/// Largest answer body accepted (KMS answers are a few KiB; this bounds a broken server).
const MAX_BODY: usize = 1 << 20;

/// Why a call produced no HTTP answer.
#[derive(Debug)]
pub enum CallError {
    /// Connecting, writing or reading failed (or the peer closed the connection early).
    Io(std::io::Error),
    /// The answer was not HTTP/1.1 as expected.
    Protocol(String),
    /// Signing failed.
    Sign(String),
}

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CallError::Io(e) => write!(f, "I/O: {e}"),
            CallError::Protocol(m) => write!(f, "bad HTTP answer: {m}"),
            CallError::Sign(m) => write!(f, "signing: {m}"),
        }
    }
}

impl std::error::Error for CallError {}

impl From<std::io::Error> for CallError {
    fn from(e: std::io::Error) -> Self {
        CallError::Io(e)
    }
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Value::Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The request id the server assigned (`x-amzn-RequestId`).
    pub fn request_id(&self) -> Option<&str> {
        self.header("x-amzn-requestid")
    }

    /// The AWS error name of a failed call: `__type` of the body without a `namespace#`
    /// prefix, else the `x-amzn-ErrorType` header (up to its first `:`). `None` on 2xx.
    pub fn error_type(&self) -> Option<String> {
        if (200..300).contains(&self.status) {
            return None;
        }
        let from_body = self.json()["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned());
        from_body.or_else(|| {
            self.header("x-amzn-errortype")
                .map(|t| t.split(':').next().unwrap_or(t).to_owned())
        })
    }

    /// The error message (`message` or `Message`) of a failed call.
    pub fn error_message(&self) -> String {
        let v = self.json();
        v["message"]
            .as_str()
            .or_else(|| v["Message"].as_str())
            .unwrap_or("")
            .to_owned()
    }

    /// Panics unless the call succeeded; returns the JSON body.
    #[track_caller]
    pub fn ok(&self, what: &str) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "{what}: HTTP {} {:?}: {}",
            self.status,
            self.error_type(),
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }

    /// Panics unless the call failed with AWS error `code`.
    #[track_caller]
    pub fn expect_error(&self, what: &str, code: &str) {
        assert_eq!(
            self.error_type().as_deref(),
            Some(code),
            "{what}: expected {code}, got HTTP {} {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
    }
}

/// A signing KMS client on one keep-alive connection.
pub struct SignedClient {
    addr: SocketAddr,
    host: String,
    region: String,
    access_key_id: String,
    identity: Identity,
    user_agent: String,
    timeout: Duration,
    conn: Option<BufReader<TcpStream>>,
    /// Connections opened so far (1 for a client whose connection was always kept alive).
    pub connects: u64,
}

impl core::fmt::Debug for SignedClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignedClient")
            .field("addr", &self.addr)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl SignedClient {
    /// A client of the KMS at `addr` in `region`, signing as `access_key_id` / `secret`.
    pub fn new(addr: SocketAddr, region: &str, access_key_id: &str, secret: &str) -> Self {
        let creds = Credentials::new(access_key_id, secret, None, None, "fragseal-tests");
        SignedClient {
            addr,
            host: addr.to_string(),
            region: region.to_owned(),
            access_key_id: access_key_id.to_owned(),
            identity: Identity::from(creds),
            user_agent: "fragseal-signed-client/1".to_owned(),
            timeout: Duration::from_secs(30),
            conn: None,
            connects: 0,
        }
    }

    /// Sets the `User-Agent` header.
    pub fn with_user_agent(mut self, ua: &str) -> Self {
        self.user_agent = ua.to_owned();
        self
    }

    /// Sets the read/write timeout of the connection.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The access key id this client signs with.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// Calls `TrentService.<operation>` with JSON `body`, signed at the current time.
    pub fn call(&mut self, operation: &str, body: &Value) -> Result<Response, CallError> {
        self.call_at(operation, body, SystemTime::now())
    }

    /// As [`SignedClient::call`], signed as if the clock read `time` (clock-skew tests).
    pub fn call_at(
        &mut self,
        operation: &str,
        body: &Value,
        time: SystemTime,
    ) -> Result<Response, CallError> {
        let payload = serde_json::to_vec(body).map_err(|e| CallError::Sign(e.to_string()))?;
        let target = format!("TrentService.{operation}");
        let mut headers = self.sign(&target, &payload, time)?;
        headers.push(("Content-Length".to_owned(), payload.len().to_string()));
        let mut head = String::with_capacity(512);
        head.push_str("POST / HTTP/1.1\r\n");
        for (k, v) in &headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        self.exchange(head.as_bytes(), &payload)
    }

    /// Sends `head` (the request line and headers, ending in a blank line) and `body` as
    /// given, unsigned unless the caller signed them: for malformed-request tests.
    pub fn raw(&mut self, head: &[u8], body: &[u8]) -> Result<Response, CallError> {
        self.exchange(head, body)
    }

    /// Closes the connection; the next call opens a new one.
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    /// The signed headers of a request (Host, Content-Type, X-Amz-Target, User-Agent,
    /// X-Amz-Date, Authorization).
    fn sign(
        &self,
        target: &str,
        payload: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(String, String)>, CallError> {
        let mut headers: Vec<(String, String)> = vec![
            ("Host".to_owned(), self.host.clone()),
            (
                "Content-Type".to_owned(),
                "application/x-amz-json-1.1".to_owned(),
            ),
            ("X-Amz-Target".to_owned(), target.to_owned()),
            ("User-Agent".to_owned(), self.user_agent.clone()),
        ];
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("kms")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| CallError::Sign(e.to_string()))?
            .into();
        let uri = format!("http://{}/", self.host);
        let signable = SignableRequest::new(
            "POST",
            uri.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(payload),
        )
        .map_err(|e| CallError::Sign(e.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| CallError::Sign(e.to_string()))?
            .into_parts();
        for (k, v) in instructions.headers() {
            headers.push((k.to_owned(), v.to_owned()));
        }
        Ok(headers)
    }

    fn exchange(&mut self, head: &[u8], body: &[u8]) -> Result<Response, CallError> {
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, self.timeout)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(self.timeout))?;
            stream.set_write_timeout(Some(self.timeout))?;
            self.conn = Some(BufReader::new(stream));
            self.connects += 1;
        }
        let result = match self.conn.as_mut() {
            Some(conn) => send_and_read(conn, head, body),
            None => Err(CallError::Protocol("no connection".to_owned())),
        };
        match &result {
            Ok(resp) if !keeps_alive(resp) => self.conn = None,
            Ok(_) => {}
            Err(_) => self.conn = None,
        }
        result
    }
}

fn keeps_alive(resp: &Response) -> bool {
    !resp
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
}

fn send_and_read(
    conn: &mut BufReader<TcpStream>,
    head: &[u8],
    body: &[u8],
) -> Result<Response, CallError> {
    {
        let stream = conn.get_mut();
        stream.write_all(head)?;
        stream.write_all(body)?;
        stream.flush()?;
    }
    read_response(conn)
}

fn read_line(conn: &mut BufReader<TcpStream>) -> Result<String, CallError> {
    let mut line = Vec::with_capacity(64);
    let n = conn.by_ref().take(16 * 1024).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(CallError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed before the answer",
        )));
    }
    if !line.ends_with(b"\n") {
        return Err(CallError::Protocol(
            "header line too long or cut".to_owned(),
        ));
    }
    let s = String::from_utf8(line).map_err(|_| CallError::Protocol("non-UTF-8 header".into()))?;
    Ok(s.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reads one answer (status line, headers, body).
pub fn read_response(conn: &mut BufReader<TcpStream>) -> Result<Response, CallError> {
    let status_line = read_line(conn)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(CallError::Protocol(format!("status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CallError::Protocol(format!("status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(conn)?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| CallError::Protocol(format!("header line {line:?}")))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        if headers.len() > 100 {
            return Err(CallError::Protocol("more than 100 headers".to_owned()));
        }
    }
    // HTTP/1.0 closes after each answer unless the server says keep-alive.
    let http10_close = version == "HTTP/1.0"
        && !headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("keep-alive"));
    if http10_close {
        headers.push(("connection".to_owned(), "close".to_owned()));
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        resp.body = read_chunked(conn)?;
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| CallError::Protocol(format!("Content-Length {len:?}")))?;
        if len > MAX_BODY {
            return Err(CallError::Protocol(format!("body of {len} bytes")));
        }
        let mut body = vec![0u8; len];
        conn.read_exact(&mut body)?;
        resp.body = body;
    } else if status != 204 && status != 304 && !(100..200).contains(&status) {
        // No length: the body runs to the end of the connection.
        let mut body = Vec::new();
        conn.by_ref()
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body)?;
        if body.len() > MAX_BODY {
            return Err(CallError::Protocol("body over 1 MiB".to_owned()));
        }
        resp.body = body;
        resp.headers
            .push(("connection".to_owned(), "close".to_owned()));
    }
    Ok(resp)
}

fn read_chunked(conn: &mut BufReader<TcpStream>) -> Result<Vec<u8>, CallError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(conn)?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| CallError::Protocol(format!("chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, then the blank line.
            while !read_line(conn)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(CallError::Protocol("chunked body over 1 MiB".to_owned()));
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        conn.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(CallError::Protocol("chunk not followed by CRLF".to_owned()));
        }
    }
}

//! Shared by the server tests: start `fragseal kms serve` on a free loopback port (stopped by
//! PID when dropped), send raw HTTP/1.1 requests, and sign them with the `aws-sigv4` crate.
#![allow(dead_code, reason = "each test binary uses part of this")]

pub mod sts;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

pub const ACCOUNT: &str = "111122223333";
pub const ROOT_KEY: &str = "AKIAROOTEXAMPLE00001";
pub const ROOT_SECRET: &str = "root-secret-0000000000000000000000000000";
pub const ALICE_KEY: &str = "AKIAALICEEXAMPLE0001";
pub const ALICE_SECRET: &str = "alice-secret-000000000000000000000000000";

/// An IAM file with the account's root key and alice, who may only GenerateDataKey.
pub fn iam_json() -> String {
    format!(
        r#"{{"Accounts": [{{"AccountId": "{ACCOUNT}",
          "RootAccessKeys": [{{"AccessKeyId": "{ROOT_KEY}", "SecretAccessKey": "{ROOT_SECRET}"}}],
          "Users": [{{"UserName": "alice",
            "AccessKeys": [{{"AccessKeyId": "{ALICE_KEY}", "SecretAccessKey": "{ALICE_SECRET}"}}],
            "Policies": [{{"PolicyName": "gdk", "PolicyDocument":
              {{"Statement": {{"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": "*"}}}}}}]}}]}}]}}"#
    )
}

/// A running `fragseal kms serve`, killed by PID when dropped.
pub struct ServerProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts the server with `iam` as the IAM file and `extra` serve options.
    pub fn start(iam: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("iam.json"), iam).expect("iam file");
        Self::start_in(dir, extra)
    }

    /// Starts the server on the files in `dir` (state.json, audit.jsonl, iam.json).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fragseal"))
            .arg("kms")
            .arg("--kms-state")
            .arg(dir.path().join("state.json"))
            .arg("--audit-log")
            .arg(dir.path().join("audit.jsonl"))
            .arg("serve")
            .arg("--iam")
            .arg(dir.path().join("iam.json"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn fragseal kms serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("address");
        Self {
            child: Some(child),
            addr,
            dir,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends SIGTERM and waits: the exit status.
    pub fn terminate(mut self) -> (std::process::ExitStatus, tempfile::TempDir) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = child.wait().expect("wait");
        let dir = tempfile::tempdir().expect("tempdir");
        let dir = std::mem::replace(&mut self.dir, dir);
        (exit, dir)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        if self.body.is_empty() {
            return serde_json::json!({});
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// `(__type, message)` of an error answer.
    pub fn error(&self) -> (String, String) {
        let v = self.json();
        (
            v["__type"].as_str().unwrap_or("").to_owned(),
            v["message"].as_str().unwrap_or("").to_owned(),
        )
    }
}

/// Reads one HTTP/1.1 answer from `stream`.
pub fn read_answer(stream: &mut TcpStream) -> std::io::Result<Answer> {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    if reader.read_line(&mut status_line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        reader.read_line(&mut l)?;
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').expect("header");
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().expect("length"));
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Opens a connection with a 10 s read timeout (a test never hangs).
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// Sends `request` on a new connection and reads the answer.
pub fn raw(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut s = connect(addr);
    s.write_all(request).expect("write");
    read_answer(&mut s).expect("answer")
}

/// How to sign a request.
#[derive(Clone)]
pub struct Signing<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
    pub session_token: Option<&'a str>,
}

impl<'a> Signing<'a> {
    pub fn new(access_key_id: &'a str, secret: &'a str) -> Self {
        Self {
            access_key_id,
            secret,
            region: "us-east-1",
            service: "kms",
            time: SystemTime::now(),
            session_token: None,
        }
    }
}

/// The headers of a KMS request for `target`, signed with `signing` over `body`: returned as
/// (name, value) pairs, `authorization` and `x-amz-date` included.
pub fn signed_headers(
    addr: SocketAddr,
    target: &str,
    body: &[u8],
    signing: &Signing<'_>,
) -> Vec<(String, String)> {
    let host = addr.to_string();
    let mut headers = vec![
        (
            "content-type".to_owned(),
            "application/x-amz-json-1.1".to_owned(),
        ),
        ("host".to_owned(), host.clone()),
        ("x-amz-target".to_owned(), format!("TrentService.{target}")),
    ];
    let identity = aws_credential_types::Credentials::new(
        signing.access_key_id,
        signing.secret,
        signing.session_token.map(str::to_owned),
        None,
        "test",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(signing.region)
        .name(signing.service)
        .time(signing.time)
        .settings(SigningSettings::default())
        .build()
        .expect("params")
        .into();
    let request = SignableRequest::new(
        "POST",
        format!("http://{host}/"),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, _) = sign(request, &params).expect("sign").into_parts();
    for (n, v) in instructions.headers() {
        headers.push((n.to_owned(), v.to_owned()));
    }
    headers
}

/// A raw HTTP/1.1 request with `headers` and `body`.
pub fn request_bytes(headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut r = b"POST / HTTP/1.1\r\nuser-agent: fragseal-test/1.0\r\n".to_vec();
    for (n, v) in headers {
        r.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    r.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    r.extend_from_slice(body);
    r
}

/// Signs and sends one KMS request on a new connection.
pub fn call(addr: SocketAddr, target: &str, body: &str, signing: &Signing<'_>) -> Answer {
    let headers = signed_headers(addr, target, body.as_bytes(), signing);
    raw(addr, &request_bytes(&headers, body.as_bytes()))
}

/// Calls as the account root.
pub fn root_call(addr: SocketAddr, target: &str, body: &str) -> Answer {
    call(addr, target, body, &Signing::new(ROOT_KEY, ROOT_SECRET))
}

/// The audit log's records.
pub fn audit_records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line"))
        .collect()
}

/// Signs and sends one STS Query-protocol request (`form` is the form-encoded body).
pub fn sts_call(addr: SocketAddr, form: &str, signing: &Signing<'_>) -> Answer {
    let host = addr.to_string();
    let mut headers = vec![
        (
            "content-type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        ),
        ("host".to_owned(), host.clone()),
    ];
    let identity = aws_credential_types::Credentials::new(
        signing.access_key_id,
        signing.secret,
        signing.session_token.map(str::to_owned),
        None,
        "test",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(signing.region)
        .name("sts")
        .time(signing.time)
        .settings(SigningSettings::default())
        .build()
        .expect("params")
        .into();
    let request = SignableRequest::new(
        "POST",
        format!("http://{host}/"),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(form.as_bytes()),
    )
    .expect("signable");
    let (instructions, _) = sign(request, &params).expect("sign").into_parts();
    for (n, v) in instructions.headers() {
        headers.push((n.to_owned(), v.to_owned()));
    }
    raw(addr, &request_bytes(&headers, form.as_bytes()))
}

/// The text of the first `<name>...</name>` in an XML answer, entities decoded.
pub fn xml_text(body: &[u8], name: &str) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    let open = format!("<{name}>");
    let start = s.find(&open)? + open.len();
    let end = s[start..].find(&format!("</{name}>"))? + start;
    Some(
        s[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#13;", "\r")
            .replace("&amp;", "&"),
    )
}

/// An in-process server (`fragseal::server::Server` on its own tokio runtime thread), for
/// tests that need a `ServerConfig` option the CLI does not expose; stopped when dropped.
pub struct InProcess {
    pub addr: SocketAddr,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcess {
    /// Serves every account of `iam` (the first is the primary) with `clock_offset` seconds.
    pub fn start(iam: &str, clock_offset: i64) -> Self {
        let config = fragseal::server::IamConfig::from_json(iam).expect("IAM file");
        let accounts = config.accounts().to_vec();
        let kms = fragseal::kms::local::LocalKms::builder("us-east-1", accounts[0].clone())
            .accounts(accounts.clone())
            .identity_from_config(true)
            .build()
            .expect("LocalKms");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let server = fragseal::server::Server::bind(
                    fragseal::server::ServerConfig::new(std::sync::Arc::new(kms), config)
                        .clock_offset(clock_offset),
                )
                .await
                .expect("bind");
                addr_tx.send(server.local_addr()).expect("address");
                let stop = tokio::task::spawn_blocking(move || {
                    let _ = stop_rx.recv();
                });
                server
                    .run(async move {
                        let _ = stop.await;
                    })
                    .await;
            });
        });
        let addr = addr_rx.recv().expect("server address");
        Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

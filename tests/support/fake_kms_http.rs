//! A one-answer-per-connection HTTP server on loopback that sends canned KMS answers, for the
//! AwsKms tests of error mapping, timeouts and decoding (tests/aws_kms/error_mapping.rs and
//! tests/aws_kms/client_behaviour.rs). No moto needed.

#![allow(dead_code, reason = "each test binary uses part of the helpers")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A canned answer from the fake KMS endpoint.
#[derive(Clone)]
pub struct Canned {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(&'static str, &'static str)>,
    /// The body.
    pub body: &'static str,
    /// Sleep this long before answering.
    pub delay: Duration,
}

/// A one-answer-per-connection HTTP server on loopback that always sends `answer`.
pub struct FakeKms {
    port: u16,
    /// Requests received (complete bodies read).
    pub requests: Arc<AtomicUsize>,
    /// The `X-Amz-Target` header and body of the last request.
    pub last: Arc<Mutex<(String, Vec<u8>)>>,
}

impl FakeKms {
    /// Starts the server; it runs until the test process ends.
    pub fn start(answer: Canned) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let last = Arc::new(Mutex::new((String::new(), Vec::new())));
        let record = last.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let answer = answer.clone();
                let counter = counter.clone();
                let record = record.clone();
                std::thread::spawn(move || serve(stream, &answer, &counter, &record));
            }
        });
        FakeKms {
            port,
            requests,
            last,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve(
    stream: TcpStream,
    answer: &Canned,
    counter: &AtomicUsize,
    record: &Mutex<(String, Vec<u8>)>,
) {
    let mut reader = BufReader::new(stream);
    let mut content_length = 0usize;
    let mut target = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = lower.strip_prefix("x-amz-target:") {
            target = v.trim().to_owned();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; content_length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    if let Ok(mut r) = record.lock() {
        *r = (target, body);
    }
    counter.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(answer.delay);
    let mut stream = reader.into_inner();
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(answer.body.as_bytes());
}

/// A canned answer without delay.
pub fn answer(
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
) -> Canned {
    Canned {
        status,
        headers,
        body,
        delay: Duration::ZERO,
    }
}

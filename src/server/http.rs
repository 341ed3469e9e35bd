//! The HTTP layer, on hyper's HTTP/1.1 server: the listener, the connection limit, the
//! timeouts, the body limit, graceful shutdown, and the answer's headers.
//!
//! - At most `max_connections` connections at once; a connection beyond that is closed at
//!   once (the accept loop keeps serving the others).
//! - A client that does not send a complete request head within `header_timeout` is
//!   disconnected; hyper applies the same timer while a keep-alive connection waits for its
//!   next request, so it is also the idle timeout.
//! - A body must arrive within `body_timeout` and be at most `max_body` bytes: a declared
//!   `Content-Length` over the limit is refused before reading, a chunked body as soon as it
//!   passes it (HTTP 413, and the connection is closed).
//! - A request is handled synchronously (signature check, JSON, the LocalKms call, which
//!   writes the audit record, and for management calls the state file, before the answer):
//!   on the connection's worker thread when its only I/O is the audit append and its work is
//!   small (the cryptographic and read-only calls, and requests refused before the KMS: see
//!   `request::runs_inline`), else on a blocking thread (`spawn_blocking`). Inline, a request
//!   costs no thread hand-off: two context switches fewer per request.
//! - Shutdown: stop accepting, let in-flight requests finish (at most `shutdown_grace`), then
//!   return.

use super::audit::Origin;
use super::request::{self, Body, CONTENT_TYPE};
use super::sigv4;
use super::{Limits, Shared};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Serves `listener` until `shutdown` completes, then drains.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) {
    let limits = shared.limits.clone();
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let svc = service_fn(move |req| answer(Arc::clone(&shared), peer, req));
                    let mut builder = http1::Builder::new();
                    builder
                        .timer(TokioTimer::new())
                        .header_read_timeout(limits.header_timeout)
                        .keep_alive(true)
                        .max_buf_size(limits.max_head.max(8192));
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        let _ = conn.await;
                        drop(permit);
                    });
                }
                // Out of file descriptors or a reset before accept: wait a little, go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {}
    }
}

async fn read_body(body: Incoming, declared: Option<u64>, limits: &Limits) -> Body {
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return Body::TooLarge;
    }
    let collect = Limited::new(body, limits.max_body).collect();
    match tokio::time::timeout(limits.body_timeout, collect).await {
        Err(_) => Body::Incomplete("The request body was not received in time."),
        Ok(Ok(c)) => Body::Complete(c.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Body::TooLarge,
        Ok(Err(_)) => Body::Incomplete("The request body could not be read."),
    }
}

/// The answer when the handler panicked.
fn handler_failed() -> request::Answer {
    request::Answer {
        status: http::StatusCode::INTERNAL_SERVER_ERROR,
        content_type: CONTENT_TYPE,
        body: super::errors::ApiError::internal("the request handler failed").body(),
        close: true,
    }
}

async fn answer(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let request_id = crate::kms::local::audit::random_uuid();
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = read_body(body, declared, &shared.limits).await;
    let origin = Origin {
        source_ip: peer.ip().to_string(),
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default(),
        request_id: request_id.clone(),
    };
    let auth = sigv4::read_authorization(&parts);
    let protocol = request::protocol(&parts, &auth);
    let answer = if request::runs_inline(&parts, protocol, &body, &shared.kms) {
        // No thread hop: the request's work is bounded CPU plus one audit append.
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            request::handle(&shared, &parts, auth, protocol, body, &origin)
        }))
        .unwrap_or_else(|_| handler_failed())
    } else {
        drop(auth);
        tokio::task::spawn_blocking(move || {
            // `auth` borrowed the head, which moves to this thread: read it again here.
            let auth = sigv4::read_authorization(&parts);
            request::handle(&shared, &parts, auth, protocol, body, &origin)
        })
        .await
        .unwrap_or_else(|_| handler_failed())
    };
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() = answer.status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(answer.content_type),
    );
    if let Ok(v) = http::HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    if answer.close {
        headers.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    Ok(response)
}

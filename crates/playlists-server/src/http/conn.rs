//! One accepted connection: choose HTTP/1.1 or HTTP/2, then hand it to hyper.
//!
//! On the plain port the client's first bytes are *peeked* (not read) for the HTTP/2
//! connection preface (h2c with prior knowledge, RFC 9113 §3.3); over TLS, ALPN decides. The
//! chosen hyper server then reads the socket from its first byte. Peeking instead of a
//! generic "read a prefix, then replay it" wrapper matters for held requests: hyper's HTTP/1
//! read buffer would otherwise be grown (and copied) to 16 KB for every connection, which
//! doubles the memory a held request costs.
//!
//! Plain TCP sockets are wrapped in [`ZeroCopyStream`](crate::part_store::ZeroCopyStream) when
//! parts live in the part arena, so part bytes go out with `sendfile`.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::first_byte::FirstByteDeadline;
use super::request_head::ClientAddr;
use super::{router, AppState, HttpOptions, MIN_HEADER_BYTES};

/// Errors that end a connection (logged at debug level, counted in the metrics).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The HTTP/2 connection preface a client sends first.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// hyper's connection builders, configured once from [`HttpOptions`].
#[derive(Debug)]
pub struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Builders {
    /// Builders with the limits and timers of `opts`.
    pub fn new(opts: &HttpOptions) -> Self {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            .keep_alive(true)
            // hyper starts this timer whenever the connection waits for a request head, so it
            // is also the keep-alive idle timeout.
            .header_read_timeout(opts.idle_timeout)
            .max_buf_size(opts.max_header_bytes.max(MIN_HEADER_BYTES));
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(opts.max_header_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(opts.idle_timeout / 2)
            .keep_alive_timeout(opts.idle_timeout / 2)
            // A player holds two requests (playlist + hinted part); a page of players a few more.
            .max_concurrent_streams(256)
            // Rapid reset (CVE-2023-44487): streams a client cancels before they are served
            // cost the server work but count against no stream limit, so past 20 of them the
            // connection gets GOAWAY; so does one that makes the server refuse 1024 streams.
            // hyper's defaults, stated here so the bound does not move with a dependency
            // (tests/bad_input_connections.rs holds the server to it).
            .max_pending_accept_reset_streams(20)
            .max_local_error_reset_streams(1024);
        Self {
            http1: h1,
            http2: h2,
        }
    }
}

/// Serves a plain TCP connection: HTTP/1.1, or h2c when it starts with the preface.
pub async fn serve_tcp(
    builders: &Builders,
    state: &Arc<AppState>,
    watcher: Watcher,
    tcp: TcpStream,
) -> Result<(), BoxError> {
    let protocol = sniff(&tcp, state.opts.idle_timeout).await?;
    let peer = tcp.peer_addr().ok().map(|a| a.ip());
    #[cfg(target_os = "linux")]
    if let Some(arena) = state.parts.arena() {
        let io = crate::part_store::ZeroCopyStream::new(tcp, arena.clone());
        return serve_as(builders, state, watcher, io, protocol, peer).await;
    }
    serve_as(builders, state, watcher, tcp, protocol, peer).await
}

/// Serves a TLS connection: h2 when ALPN chose it, HTTP/1.1 otherwise.
pub async fn serve_tls(
    builders: &Builders,
    state: &Arc<AppState>,
    watcher: Watcher,
    tcp: TcpStream,
    acceptor: TlsAcceptor,
) -> Result<(), BoxError> {
    let idle = state.opts.idle_timeout;
    let peer = tcp.peer_addr().ok().map(|a| a.ip());
    let stream = tokio::time::timeout(idle, acceptor.accept(tcp))
        .await
        .map_err(|_| "TLS handshake timed out")??;
    let protocol = match stream.get_ref().1.alpn_protocol() {
        Some(b"h2") => Protocol::Http2,
        _ => Protocol::Http1,
    };
    // hyper's HTTP/2 server waits for the preface without a timer of its own.
    let io = FirstByteDeadline::new(stream, idle);
    serve_as(builders, state, watcher, io, protocol, peer).await
}

async fn serve_as<I>(
    builders: &Builders,
    state: &Arc<AppState>,
    watcher: Watcher,
    io: I,
    protocol: Protocol,
    peer: Option<IpAddr>,
) -> Result<(), BoxError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::clone(state);
    let service = service_fn(move |mut req: Request<Incoming>| {
        // Only ingest reads the address (to slow down refused attempts per client); the
        // first extension of a request allocates, so GETs go without it.
        if let (Some(ip), &Method::PUT | &Method::POST) = (peer, req.method()) {
            req.extensions_mut().insert(ClientAddr(ip));
        }
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(router::handle(state, req).await) }
    });
    let io = TokioIo::new(io);
    match protocol {
        Protocol::Http1 => watcher
            .watch(builders.http1.serve_connection(io, service))
            .await
            .map_err(Into::into),
        // Boxed: HTTP/2 connection state is several times an HTTP/1 one, and every
        // connection's task would otherwise reserve room for it.
        Protocol::Http2 => Box::pin(watcher.watch(builders.http2.serve_connection(io, service)))
            .await
            .map_err(Into::into),
    }
}

/// Waits for the client's first bytes (at most `idle`) and tells HTTP/2 from HTTP/1.1.
async fn sniff(tcp: &TcpStream, idle: Duration) -> Result<Protocol, BoxError> {
    let deadline = tokio::time::Instant::now() + idle;
    let mut buf = [0u8; 24];
    loop {
        let n = tokio::time::timeout_at(deadline, tcp.peek(&mut buf))
            .await
            .map_err(|_| "no request before the idle timeout")??;
        if n == 0 {
            return Err("connection closed before a request".into());
        }
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(Protocol::Http1);
        }
        if n == H2_PREFACE.len() {
            return Ok(Protocol::Http2);
        }
        // Part of the preface so far (rare: it is one small write). `peek` would return the
        // same bytes at once, so wait a moment before looking again.
        tokio::time::sleep(Duration::from_millis(1)).await;
        if tokio::time::Instant::now() >= deadline {
            return Err("incomplete HTTP/2 preface".into());
        }
    }
}

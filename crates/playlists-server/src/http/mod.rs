//! The HTTP origin: LL-HLS delivery of what a [`Playlists`] registry holds.
//!
//! ```text
//!  TcpListener ─accept─▶ (round-robin to an event loop: serve_on)
//!    ─▶ conn.rs: peek for the h2 preface (or TLS + ALPN) ─▶ hyper HTTP/1.1 | h2
//!       (plain TCP wrapped in zero_copy::ZeroCopyStream)     │ one task per connection
//!                                                              ▼
//!   router::handle ── route ──▶ playlist.rs  media + multivariant playlists, blocking reload
//!        │ CORS, metrics    ├─▶ media.rs     init / segment / part, ETag, Range, hinted parts
//!        │                  ├─▶ page.rs      `GET /` with hls.js
//!        │                  ├─▶ scrape.rs    `GET /metrics` (metrics.rs: the counters)
//!        │                  └─▶ ingest.rs    `PUT`/`POST /ingest/{stream}` → crate::ingest
//!        ▼
//!   error.rs: every refusal → one status (status_for) + a one-line reason
//! ```
//!
//! [`serve`] takes its listener and a shutdown future (tests bind `127.0.0.1:0` and talk real
//! HTTP). On shutdown it stops accepting, answers every held request with 503, lets in-flight
//! responses finish and closes connections, waiting at most
//! [`HttpOptions::shutdown_grace`].

mod body;
mod conn;
mod cors;
mod delta_v2;
mod directives;
mod encoding;
mod error;
mod first_byte;
mod held;
mod ingest;
mod limits;
mod lookup;
mod media;
mod metrics;
mod page;
mod playlist;
mod request_head;
mod route_kind;
mod router;
mod scrape;
mod tls;
mod validators;

pub use body::Body;
pub use directives::{parse_directives, DeliveryDirectives, DirectiveError};
pub use encoding::{negotiate, Coding};
pub use error::{status_for, ErrorSource, HttpError};
pub use limits::{Shutdown, WaitPermit, Waiting};
pub use metrics::Metrics;
pub use route_kind::RouteKind;
pub use router::{handle, Route};
pub use tls::{server_config, TlsError};

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use hyper_util::server::graceful::GracefulShutdown;
use playlists::Playlists;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::ingest::{IngestConfig, Ingests};

/// hyper refuses (panics on) a read buffer below this; see [`HttpOptions::max_header_bytes`].
pub const MIN_HEADER_BYTES: usize = 8192;

/// How the origin behaves on the wire. Built from the server's configuration; every field has
/// a usable default.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// `Access-Control-Allow-Origin` on every response. Default `*`.
    pub cors_origin: HeaderValue,
    /// Where the page at `GET /` loads hls.js from when no local copy is given.
    pub hls_js_url: String,
    /// A local hls.js served at `/assets/hls.min.js` (and used by the page) instead of
    /// `hls_js_url`.
    pub hls_js: Option<Bytes>,
    /// Held requests (blocking reloads, hinted parts) allowed per stream; more get 503.
    pub max_waiting_per_stream: usize,
    /// Held requests allowed across all streams; more get 503.
    pub max_waiting_total: usize,
    /// Largest request head accepted (HTTP/1.1 read buffer, HTTP/2 header list); larger
    /// heads get 431. At least [`MIN_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// An HTTP/1.1 connection that sends no complete request head for this long is closed
    /// (idle keep-alive included); HTTP/2 connections are pinged at half this interval and
    /// closed when a ping goes unanswered as long. An ingest body that completes no part for
    /// this long is ended with 408.
    pub idle_timeout: Duration,
    /// Longest time to produce a response head; beyond it the answer is 503. Only held
    /// requests wait, so it bounds them: keep it above 3 × TARGETDURATION (the hold limit of
    /// rule 10), or held requests are cut short.
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight responses before closing connections anyway.
    pub shutdown_grace: Duration,
    /// `max-age` of parts, segments and init sections. Their URIs never change meaning while
    /// a stream lives, but a stream that restarts under the same name reuses them, so this is
    /// long, not forever.
    pub media_max_age: Duration,
    /// TLS (h2 and http/1.1 by ALPN) on the listener; plain HTTP/1.1 + h2c when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// When set, `PUT`/`POST /ingest/...` needs `Authorization: Bearer <token>` (401
    /// otherwise).
    pub ingest_token: Option<String>,
    /// How ingest sessions behave (reconnect grace, takeover, parser limits).
    pub ingest: IngestConfig,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            cors_origin: HeaderValue::from_static("*"),
            hls_js_url: DEFAULT_HLS_JS_URL.to_owned(),
            hls_js: None,
            max_waiting_per_stream: 20_000,
            max_waiting_total: 50_000,
            max_header_bytes: 16 * 1024,
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            media_max_age: Duration::from_secs(300),
            tls: None,
            ingest_token: None,
            ingest: IngestConfig::default(),
        }
    }
}

/// Where the page loads hls.js from by default: the project's published build on a public CDN.
pub const DEFAULT_HLS_JS_URL: &str = "https://cdn.jsdelivr.net/npm/hls.js@1/dist/hls.min.js";

/// Everything a request handler reads: shared by every connection as `Arc<AppState>`.
#[derive(Debug)]
pub struct AppState {
    /// The streams served. Sources publish into it concurrently; handlers only read and wait.
    pub playlists: Arc<Playlists>,
    /// Wire behaviour; fixed for the server's life.
    pub opts: HttpOptions,
    /// Counters for `/metrics`; every handler writes them, the scrape reads them.
    pub metrics: Metrics,
    /// Held-request admission; playlist and part handlers take a permit before they wait.
    pub waiting: Waiting,
    /// Set by [`serve`] when it stops accepting; held requests, HTTP ingest sessions (and the
    /// binary's other sources) watch it.
    pub shutdown: Shutdown,
    /// The ingest sessions of every source: HTTP `PUT`/`POST /ingest/...` here, and stdin or
    /// the demo in the binary, so one encoder per stream holds across all of them.
    pub ingests: Arc<Ingests>,
    /// Pre-rendered `Cache-Control` values (rule 27), so handlers do not format per request.
    cache: CacheControls,
    /// Per stream slot, the media type of its parts (`video/mp4` or `audio/mp4`) with the
    /// generation it was computed for; see `media::content_type`.
    media_types: Box<[AtomicU64]>,
    /// `_HLS_skip=v2` variants derived from the cached delta updates.
    delta_v2: delta_v2::DeltaV2Cache,
}

/// `Cache-Control` header values derived from TARGETDURATION (App. B.1, rule 27).
#[derive(Debug)]
struct CacheControls {
    /// Blocking playlist 200: 6 × TD (the same URL always gets the same bytes).
    blocking: HeaderValue,
    /// Non-blocking playlist 200: ½ TD.
    live: HeaderValue,
    /// Parts, segments, init: [`HttpOptions::media_max_age`].
    media: HeaderValue,
    /// TARGETDURATION, for error lifetimes.
    target_duration: Duration,
}

impl AppState {
    /// State for serving `playlists` with `opts`.
    pub fn new(playlists: Arc<Playlists>, opts: HttpOptions) -> Self {
        let num = playlists.options().num_playlists;
        let td = u64::from(playlists.options().target_duration_s);
        // Leaked once per state (a few dozen bytes): a static header value is cloned without
        // touching a shared reference count, and both worker threads clone these into every
        // response. The texts are digits and ASCII, always valid header values.
        let value = |s: String| HeaderValue::from_static(Box::leak(s.into_boxed_str()));
        let cache = CacheControls {
            blocking: value(format!("public, max-age={}", 6 * td)),
            // ½ TD rounded down, but never 0 (which some caches read as "do not cache").
            live: value(format!("public, max-age={}", (td / 2).max(1))),
            media: value(format!(
                "public, max-age={}, immutable",
                opts.media_max_age.as_secs()
            )),
            target_duration: Duration::from_secs(td),
        };
        Self {
            ingests: Ingests::new(Arc::clone(&playlists), opts.ingest.clone()),
            waiting: Waiting::new(num, opts.max_waiting_per_stream, opts.max_waiting_total),
            media_types: (0..num).map(|_| AtomicU64::new(0)).collect(),
            delta_v2: delta_v2::DeltaV2Cache::new(num),
            playlists,
            opts,
            metrics: Metrics::default(),
            shutdown: Shutdown::default(),
            cache,
        }
    }

    /// 3 × TARGETDURATION: how long a held request waits before 503 (rule 10).
    pub fn hold_limit(&self) -> Duration {
        3 * self.cache.target_duration
    }

    /// Holds `wait` (a blocking reload or a hinted part, waiting until
    /// [`hold_deadline`](Self::hold_deadline)): its library errors become HTTP errors, the
    /// deadline a 503 that names the limit reached, and shutdown a 503 at once.
    ///
    /// Held requests are the only ones that wait, so this single deadline is also the
    /// request timeout: a burst of thousands of woken requests then has one timer each to
    /// clear, not two.
    pub(crate) async fn hold<T>(
        &self,
        wait: impl std::future::Future<Output = playlists::Result<T>>,
    ) -> Result<T, HttpError> {
        let by_request_timeout = self.opts.request_timeout < self.hold_limit();
        tokio::select! {
            // Rule 10: the library's WaitTimeout maps to 503.
            result = wait => result.map_err(|e| match e {
                playlists::Error::WaitTimeout(_) if by_request_timeout => request_timed_out(self),
                e => e.into(),
            }),
            () = self.shutdown.wait() => Err(held::shutting_down()),
        }
    }

    /// When a request held from `since` must be answered: the earlier of the hold limit
    /// and the request timeout (503 either way).
    pub(crate) fn hold_deadline(&self, since: Instant) -> Instant {
        since + self.hold_limit().min(self.opts.request_timeout)
    }
}

/// 503 for a response not ready within [`HttpOptions::request_timeout`].
fn request_timed_out(state: &AppState) -> HttpError {
    HttpError::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "no response within the request timeout ({:?})",
            state.opts.request_timeout
        ),
    )
}

/// Serves HTTP/1.1 and HTTP/2 (h2c by prior knowledge, or h2 by ALPN over TLS when
/// [`HttpOptions::tls`] is set) on `listener` until `shutdown` completes, then drains.
/// Connections are served on the current runtime; see [`serve_on`] to spread them.
///
/// # Errors
/// None in practice: accept errors (such as running out of file descriptors) are logged and
/// retried after a pause, since they are transient for a server.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_on(listener, state, shutdown, &[]).await
}

/// [`serve`], with each accepted connection handed, round-robin, to one of `runtimes` (the
/// current runtime when empty), where it lives until it closes.
///
/// With one single-threaded runtime per core (see [`crate::event_loops`]) every connection
/// stays on one thread, as in nginx's worker model: no work-stealing, no cross-thread wakes
/// for its I/O. On the 2-core bench machine, with the load generator on the same cores, that
/// served 8 % more playlist requests per second than one work-stealing runtime, and 1–17 %
/// more part requests (alternating runs of `bench_origin` under wrk).
///
/// # Errors
/// As [`serve`].
pub async fn serve_on(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
    runtimes: &[tokio::runtime::Handle],
) -> std::io::Result<()> {
    let mut next_runtime = 0usize;
    let builders = Arc::new(conn::Builders::new(&state.opts));
    let tls = state.opts.tls.clone().map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning on a full table.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Parts and playlists are small and latency-bound: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        state.metrics.connection_opened();
        let watcher = graceful.watcher();
        let state = Arc::clone(&state);
        let builders = Arc::clone(&builders);
        let tls = tls.clone();
        // Takes the socket, or why it could not be handed over to its runtime.
        let connection = move |tcp: std::io::Result<tokio::net::TcpStream>| async move {
            let tcp = match tcp {
                Ok(tcp) => tcp,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot hand a connection over to its runtime");
                    state.metrics.connection_failed();
                    state.metrics.connection_closed();
                    return;
                }
            };
            let result = match tls {
                None => conn::serve_tcp(&builders, &state, watcher, tcp).await,
                // Boxed: a TLS connection's state is large, and an unboxed branch would make
                // every plain connection's task as large as a TLS one.
                Some(acceptor) => {
                    Box::pin(conn::serve_tls(&builders, &state, watcher, tcp, acceptor)).await
                }
            };
            if let Err(e) = result {
                state.metrics.connection_failed();
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            state.metrics.connection_closed();
        };
        if runtimes.is_empty() {
            tokio::spawn(connection(Ok(tcp)));
            continue;
        }
        let runtime = &runtimes[next_runtime % runtimes.len()];
        next_runtime = next_runtime.wrapping_add(1);
        // The socket moves to the other runtime's reactor: deregistered here, registered
        // there (two epoll_ctl calls, once per connection).
        let std = tcp.into_std();
        runtime.spawn(async move {
            connection(std.and_then(tokio::net::TcpStream::from_std)).await;
        });
    }
    drop(listener);
    tracing::info!("shutting down: answering held requests, draining connections");
    state.shutdown.begin();
    if tokio::time::timeout(state.opts.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?state.opts.shutdown_grace,
            "connections still open after the shutdown grace period; closing them"
        );
    }
    Ok(())
}

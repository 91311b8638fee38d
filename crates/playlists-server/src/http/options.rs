//! [`HttpOptions`]: how the origin behaves on the wire.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use super::StaticAsset;

/// hyper refuses (panics on) a read buffer below this; see [`HttpOptions::max_header_bytes`].
pub const MIN_HEADER_BYTES: usize = 8192;

/// How the origin behaves on the wire. Built from the server's configuration; every field has
/// a usable default.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// `Access-Control-Allow-Origin` on every response. Default `*`.
    pub cors_origin: HeaderValue,
    /// Where the page at `GET /` loads hls.js from instead of this origin's
    /// [`HLS_JS_PATH`](super::HLS_JS_PATH) (e.g. a public CDN). Default `None`: the page needs only this origin.
    pub hls_js_url: Option<String>,
    /// The hls.js served at [`HLS_JS_PATH`](super::HLS_JS_PATH). Default: the release embedded in the binary
    /// ([`HLS_JS_VERSION`](super::HLS_JS_VERSION)).
    pub hls_js: StaticAsset,
    /// Held requests (blocking reloads, hinted parts) allowed per stream; more get 503.
    pub max_waiting_per_stream: usize,
    /// Held requests allowed across all streams; more get 503.
    pub max_waiting_total: usize,
    /// Largest request head accepted (HTTP/1.1 read buffer, HTTP/2 header list); larger
    /// heads get 431. At least [`MIN_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// An HTTP/1.1 connection that sends no complete request head for this long is closed
    /// (idle keep-alive included); HTTP/2 connections are pinged at half this interval and
    /// closed when a ping goes unanswered as long.
    pub idle_timeout: Duration,
    /// Longest time to produce a response head; beyond it the answer is 503. Only held
    /// requests wait, so it bounds them: keep it above 3 × TARGETDURATION (the hold limit of
    /// §6.2.5.2 [docs/conformance.md R10]), or held requests are cut short.
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight responses before closing connections anyway.
    pub shutdown_grace: Duration,
    /// For this long after the server starts, a media playlist request for a stream it does
    /// not have is held until the stream starts (then answered as any request for it) rather
    /// than answered 404: after an origin restart, players reload streams whose encoders are
    /// still reconnecting, and a 404 ends their playback. Give it the ingest grace period,
    /// the time an encoder has to come back (the binary does). Default 0: off, a stream that
    /// is not there is 404 at once.
    pub restart_hold: Duration,
    /// `max-age` of parts, segments and init sections. Their URIs never change meaning while
    /// a stream lives, and parts and segments are numbered above the previous run's when a
    /// stream starts again (docs/conformance.md R34), but init sections are named per run
    /// (`init.mp4` again after a restart), so this is long, not forever.
    pub media_max_age: Duration,
    /// TLS (h2 and http/1.1 by ALPN) on the listener; plain HTTP/1.1 + h2c when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Signed playback: with a key, every playlist, part, segment and init request needs a
    /// token for its path (403 otherwise), and multivariant playlists pass the viewer's token
    /// on to the media playlists they list. Media playlists get their shared tokens from the
    /// registry ([`SharedTokens`](crate::playback::SharedTokens) as its
    /// [`UriQuery`](playlists::UriQuery)): give both the same key. See [`crate::playback`].
    /// Default `None`: playback is open.
    pub playback: Option<crate::playback::PlaybackKey>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            cors_origin: HeaderValue::from_static("*"),
            hls_js_url: None,
            hls_js: StaticAsset::embedded_hls_js(),
            max_waiting_per_stream: 20_000,
            max_waiting_total: 50_000,
            max_header_bytes: 16 * 1024,
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            restart_hold: Duration::ZERO,
            media_max_age: Duration::from_secs(300),
            tls: None,
            playback: None,
        }
    }
}

//! The HTTP origin: LL-HLS delivery of what a [`Playlists`](playlists::Playlists) registry holds.
//!
//! ```text
//!  TcpListener ─accept─▶ (round-robin to an event loop: serve_on)
//!    ─▶ conn.rs: peek for the h2 preface (or TLS + ALPN) ─▶ hyper HTTP/1.1 | h2
//!       (plain TCP wrapped in part_store::ZeroCopyStream)   │ one task per connection
//!                                                              ▼
//!   router::handle ── route ──▶ playlist.rs  media + multivariant playlists, blocking reload
//!        │ CORS, metrics    ├─▶ media.rs     init / segment / part, ETag, Range, hinted parts
//!        │                  ├─▶ page.rs      `GET /` with hls.js
//!        │                  ├─▶ recordings.rs `/recordings`: recordings as VOD
//!        │                  ├─▶ scrape.rs    `GET /metrics` (metrics.rs: the counters)
//!        │                  └─▶ ingest.rs    `PUT`/`POST /ingest/{stream}`: the HTTP push
//!        │                                   source, an adapter of the ingest layer
//!        ▼
//!   error.rs: every refusal → one status (status_for) + a one-line reason
//! ```
//!
//! [`serve`] takes its listener and a shutdown future (tests bind `127.0.0.1:0` and talk real
//! HTTP). On shutdown it stops accepting, answers every held request with 503, lets in-flight
//! responses finish and closes connections, waiting at most
//! [`HttpOptions::shutdown_grace`].

mod assets;
mod body;
mod conn;
mod cors;
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
mod options;
mod page;
mod playlist;
mod predecessor;
mod recordings;
mod request_head;
mod route_kind;
mod router;
mod scrape;
mod server;
mod state;
mod tls;
mod validators;

pub use assets::{StaticAsset, HLS_JS_PATH, HLS_JS_VERSION};
pub use body::Body;
pub use directives::{parse_directives, DeliveryDirectives, DirectiveError};
pub use encoding::{negotiate, Coding};
pub use error::{status_for, ErrorSource, HttpError};
pub use limits::{WaitPermit, Waiting};
pub use metrics::Metrics;
pub use options::{HttpOptions, MIN_HEADER_BYTES};
pub use predecessor::{serve_link, PredecessorLink};
pub use recordings::RecordingPath;
pub use route_kind::RouteKind;
pub use router::{handle, Route};
pub use server::{serve, serve_on};
pub use state::AppState;
pub use tls::{server_config, TlsError};

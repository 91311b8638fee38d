//! The Playlists LL-HLS origin server, on top of the [`playlists`] library crate: an ingest
//! layer with its sources, delivery over HTTP, the part store they share, media formats, and
//! the CLI configuration.
//!
//! ```text
//!            sources (ingest/sources/, http/ingest.rs)        delivery (http/)
//!  encoder ─PUT/POST─▶ http/ingest.rs ─┐                      player ◀─HTTP/1.1, h2c, h2+TLS─┐
//!  OBS ─RTMP─▶ rtmp/ ─▶ packager/ ─────┤ (FLV frames → CMAF)                                 │
//!  stdin ────────────▶ stdin.rs ───────┼─▶ ingest/ ─▶ fmp4/ ─▶ Playlists ──reads, waits──▶ http/
//!  looped clip ──────▶ demo.rs ────────┘   sessions   split     (library)                    │
//!                                             │ copy                                         │
//!                                             ▼                                              │
//!                                        part_store/ ◀──────── sendfile of arena slices ─────┘
//!
//!  main.rs   wiring: Config → Playlists + PartStore + Ingests + Shutdown → AppState, sources,
//!            serve_on(event loops) until SIGINT/SIGTERM
//! ```
//!
//! | module | owns |
//! |---|---|
//! | [`ingest`] | sessions (one encoder per stream, takeover, reconnect grace, access), the byte-stream [`feed`](ingest::feed) loop, and the sources in [`ingest::sources`] |
//! | [`http`] | delivery: routing, playlists, parts, segments, metrics, the page, and the HTTP push source's adapter |
//! | [`part_store`] | where parts live (an arena or the heap) and how plain-TCP sockets send them |
//! | [`fmp4`] | the fMP4 (CMAF) format: splitting a byte stream into init sections and parts |
//! | [`packager`] | writing CMAF for sources that carry frames, not fMP4 (RTMP): init sections and one `moof`+`mdat` per part |
//! | [`shutdown`] | the one signal that stops delivery and every source |
//! | [`upgrade`] | handing the listening socket to a new process (Linux): upgrades without a gap |
//! | [`config`], [`event_loops`] | the binary's settings; one single-threaded runtime per core |
//!
//! The layers are library ← server ← binary: this crate uses only the library's public API,
//! `main.rs` is wiring, and ingest and delivery meet only in the registry and the part store
//! the binary hands to both.
//!
//! ## Example: serve a registry on a loopback port, with HTTP ingest
//!
//! ```no_run
//! use std::sync::Arc;
//! use playlists::{Options, Playlists};
//! use playlists_server::http::{serve, AppState, HttpOptions};
//! use playlists_server::ingest::{IngestConfig, Ingests};
//! use playlists_server::part_store::PartStore;
//!
//! # async fn run() -> std::io::Result<()> {
//! let playlists = Arc::new(Playlists::new(Options::default()).expect("default options are valid"));
//! let parts = PartStore::heap();
//! let ingests = Ingests::new(Arc::clone(&playlists), parts.clone(), IngestConfig::default());
//! let state = AppState::new(Arc::clone(&playlists), HttpOptions::default())
//!     .with_parts(parts)
//!     .with_ingest(ingests);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // Encoders PUT to /ingest/{stream}; an embedder may also call `playlists.add(...)`.
//! // Stop by completing the future.
//! serve(listener, Arc::new(state), async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

#![warn(missing_docs, missing_debug_implementations)]

pub mod config;
pub mod event_loops;
pub mod fmp4;
pub mod http;
pub mod ingest;
pub mod packager;
pub mod part_store;
pub mod playback;
pub mod recording;
pub mod shutdown;
mod sync;
pub mod upgrade;

/// A canonical decimal: digits only, no leading zero except for `0` itself. URL paths name
/// numbers (segments, parts, init sections) this way only: one resource, one URL.
pub(crate) fn canonical<T: std::str::FromStr>(s: &str) -> Option<T> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s.len() == 1 || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

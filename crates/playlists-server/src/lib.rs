//! The Playlists LL-HLS origin server: HTTP delivery, fMP4 ingest, the demo stream and the CLI
//! configuration, on top of the [`playlists`] library crate.
//!
//! ```text
//!  encoder ──fMP4──▶ http/ingest.rs (PUT/POST /ingest/…) ─┐
//!  stdin (`playlists ingest`) ────────────────────────────┼─▶ ingest.rs ─▶ fmp4/ (split) ─▶ Playlists::add
//!  demo.rs (looped clip, `playlists` with no arguments) ──┘
//!  player ◀──HTTP/1.1, h2c, h2+TLS── http/ serve(listener, state, shutdown) ◀── Playlists (reads, waits)
//!  config.rs  Config (clap flags + TOML file) ──▶ playlists::Options + http::HttpOptions
//!  main.rs    wiring: config → Playlists → AppState → sources → serve until SIGINT/SIGTERM
//!  zero_copy/ where ingest stores parts (a memfd arena) and how sockets send them (sendfile)
//!  event_loops.rs  one single-threaded runtime per core; http::serve_on spreads connections
//! ```
//!
//! The layers are library ← server ← binary: this crate uses only the library's public API,
//! and `main.rs` is wiring.
//!
//! ## Example: serve a registry on a loopback port
//!
//! ```no_run
//! use std::sync::Arc;
//! use playlists::{Options, Playlists};
//! use playlists_server::http::{serve, AppState, HttpOptions};
//!
//! # async fn run() -> std::io::Result<()> {
//! let playlists = Arc::new(Playlists::new(Options::default()).expect("default options are valid"));
//! let state = Arc::new(AppState::new(Arc::clone(&playlists), HttpOptions::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // Publish with `playlists.add(...)` from any task; stop by completing the future.
//! serve(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

#![warn(missing_docs, missing_debug_implementations)]

pub mod config;
pub mod demo;
pub mod event_loops;
pub mod fmp4;
pub mod http;
pub mod ingest;
pub mod zero_copy;

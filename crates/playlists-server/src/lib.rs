//! The Playlists LL-HLS origin server: HTTP delivery, fMP4 ingest, the demo stream and the CLI
//! configuration, on top of the [`playlists`] library crate.
//!
//! The layers are library ← server ← binary: this crate uses only the library's public API,
//! and `main.rs` is wiring.

#![warn(missing_docs, missing_debug_implementations)]

pub mod demo;
pub mod fmp4;
pub mod ingest;

//! # Playlists — the core of an LL-HLS origin
//!
//! (crate map written when the modules land)

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod chunk_cache;
mod error;
pub mod manifest;
mod options;
mod sync;
pub mod wait;

pub use error::{Error, Result};
pub use options::Options;

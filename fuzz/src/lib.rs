//! The fuzz targets' bodies, as a library so the server crate's corpus replay test can run
//! the very same code on stable Rust (it includes `checks.rs` with `#[path]`).

pub mod checks;

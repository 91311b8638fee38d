//! Zero-copy delivery of parts: they are stored in a shared-memory file ([`PartArena`]) and
//! sent from it with `sendfile(2)` ([`ZeroCopyStream`]).
//!
//! Ingest copies each part once (out of the transport's buffers) into the arena instead of
//! onto the heap; to the rest of the server a stored part is still an ordinary `Bytes`. Only
//! the plain-TCP listener wraps its sockets in [`ZeroCopyStream`]; TLS encrypts into its own
//! buffers and gains nothing.
//!
//! Linux only (memfd, `fallocate(PUNCH_HOLE)`, `sendfile` to a socket). Elsewhere
//! [`PartArena::new`] fails with [`std::io::ErrorKind::Unsupported`] and parts stay on the
//! heap.

#[cfg(target_os = "linux")]
mod arena;
#[cfg(target_os = "linux")]
mod stream;

#[cfg(target_os = "linux")]
pub use arena::{ArenaOptions, ArenaStats, ArenaWriter, PartArena};
#[cfg(target_os = "linux")]
pub use stream::ZeroCopyStream;

#[cfg(not(target_os = "linux"))]
mod fallback;
#[cfg(not(target_os = "linux"))]
pub use fallback::{ArenaOptions, ArenaStats, ArenaWriter, PartArena};

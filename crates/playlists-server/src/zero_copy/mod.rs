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
pub use arena::{ArenaWriter, PartArena};
#[cfg(target_os = "linux")]
pub use stream::ZeroCopyStream;

#[cfg(not(target_os = "linux"))]
mod fallback;
#[cfg(not(target_os = "linux"))]
pub use fallback::{ArenaWriter, PartArena};

/// Sizes of a [`PartArena`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArenaOptions {
    /// Bytes per block. Parts larger than half a block are stored on the heap instead (they
    /// would waste too much of a block's tail). Default 1 MiB.
    pub block_bytes: usize,
    /// Blocks in the file: its size is `blocks × block_bytes` of address space, of which only
    /// the pages written hold memory. When every block is in use, parts go to the heap.
    /// Default 16,384 (16 GiB of address space).
    pub blocks: usize,
}

impl Default for ArenaOptions {
    fn default() -> Self {
        Self {
            block_bytes: 1 << 20,
            blocks: 16 * 1024,
        }
    }
}

/// A moment's view of a [`PartArena`], for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArenaStats {
    /// Blocks holding live parts (or being filled).
    pub blocks_in_use: u64,
    /// Bytes per block.
    pub block_bytes: u64,
    /// Parts stored on the heap because they were too large or every block was in use.
    pub heap_fallbacks: u64,
    /// Bytes sent from the arena with `sendfile`.
    pub sent_bytes: u64,
}

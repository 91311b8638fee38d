//! Part storage: where published parts live, built by the binary and handed to both ingest
//! (which writes parts into it) and delivery (which sends them from it).
//!
//! ```text
//!  ingest session ──PartWriter::copy──▶ PartStore ──Bytes──▶ Playlists (ring slots)
//!                                          │
//!  delivery (plain TCP) ◀── sendfile ──────┘ ZeroCopyStream: slices of the arena go out
//!                                            as page references, not copies
//! ```
//!
//! A [`PartStore`] is either a [`PartArena`] (shared memory, or an unlinked file in a chosen
//! directory) or the heap. Every source copies each part once, out of its transport's
//! buffers, into the store; to the rest of the server a stored part is an ordinary `Bytes`.
//! Only the plain-TCP listener wraps its sockets in [`ZeroCopyStream`]; TLS encrypts into
//! its own buffers and gains nothing from an arena.
//!
//! Linux only (memfd, `fallocate(PUNCH_HOLE)`, `sendfile` to a socket). Elsewhere
//! [`PartArena::new`] fails with [`std::io::ErrorKind::Unsupported`] and parts stay on the
//! heap.

use std::path::PathBuf;

#[cfg(target_os = "linux")]
mod arena;
#[cfg(target_os = "linux")]
mod mapped;
mod store;
#[cfg(target_os = "linux")]
mod stream;

#[cfg(target_os = "linux")]
pub use arena::{largest_folio_bytes, ArenaWriter, PartArena};
#[cfg(target_os = "linux")]
pub use mapped::map_file;
#[cfg(target_os = "linux")]
pub use stream::ZeroCopyStream;

/// The bytes of the file at `path`, read (where files cannot be mapped).
///
/// # Errors
/// Reading the file failed.
#[cfg(not(target_os = "linux"))]
pub fn map_file(path: &std::path::Path) -> std::io::Result<bytes::Bytes> {
    std::fs::read(path).map(bytes::Bytes::from)
}

#[cfg(not(target_os = "linux"))]
mod fallback;
#[cfg(not(target_os = "linux"))]
pub use fallback::{ArenaWriter, PartArena};
pub use store::{PartStore, PartWriter};

/// Where and how large a [`PartArena`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArenaOptions {
    /// Bytes per block: a multiple of the largest page-cache folio (see [`PartArena`]'s
    /// module doc). Parts larger than half a block are stored on the heap instead (they
    /// would waste too much of a block's tail). Default 2 MiB.
    pub block_bytes: usize,
    /// Blocks in the file: its size is `blocks × block_bytes` of address space, of which only
    /// the pages written hold memory. When every block is in use, parts go to the heap.
    /// Default 8,192 (16 GiB of address space).
    pub blocks: usize,
    /// `None` (the default): the arena is shared memory. `Some(dir)`: it is an unlinked file
    /// in `dir`, which on a filesystem that caches in large folios (ext4, XFS on recent
    /// Linux) makes each `sendfile` cheaper, at the price of the kernel writing parts to
    /// that disk in the background. The filesystem must support punching holes.
    pub dir: Option<PathBuf>,
}

impl Default for ArenaOptions {
    fn default() -> Self {
        Self {
            block_bytes: 2 << 20,
            blocks: 8 * 1024,
            dir: None,
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

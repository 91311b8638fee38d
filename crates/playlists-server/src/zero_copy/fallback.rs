//! Off Linux: the same API, with no arena (every part on the heap).

use std::io;

use bytes::Bytes;

/// Sizes of a [`PartArena`] (unused off Linux).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArenaOptions {
    /// Bytes per block.
    pub block_bytes: usize,
    /// Blocks in the file.
    pub blocks: usize,
}

/// Counters of a [`PartArena`]; always zero off Linux.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArenaStats {
    /// Blocks holding live parts.
    pub blocks_in_use: u64,
    /// Bytes per block.
    pub block_bytes: u64,
    /// Parts stored on the heap.
    pub heap_fallbacks: u64,
    /// Bytes sent with `sendfile`.
    pub sent_bytes: u64,
}

/// Never constructed off Linux.
#[derive(Debug, Clone)]
pub struct PartArena(());

impl PartArena {
    /// Always [`io::ErrorKind::Unsupported`] off Linux.
    pub fn new(_opts: ArenaOptions) -> io::Result<Self> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    /// A writer (unreachable: no arena exists).
    pub fn writer(&self) -> ArenaWriter {
        ArenaWriter(())
    }

    /// Zero counters.
    pub fn stats(&self) -> ArenaStats {
        ArenaStats::default()
    }
}

/// Copies parts onto the heap.
#[derive(Debug)]
pub struct ArenaWriter(());

impl ArenaWriter {
    /// `data` copied onto the heap.
    pub fn copy(&mut self, data: &[u8]) -> Bytes {
        Bytes::copy_from_slice(data)
    }
}

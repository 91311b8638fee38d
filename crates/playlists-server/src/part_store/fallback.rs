//! Off Linux: the same API, with no arena (every part on the heap).

use std::io;

use bytes::Bytes;

use super::{ArenaOptions, ArenaStats};

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

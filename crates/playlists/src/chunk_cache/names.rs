//! The stream-name registry: which name is live on which ring, under which generation.
//!
//! Only `register`, `lookup`, `streams`, `is_live` and `fin` take its lock; the add/get path
//! never does (a [`StreamIdx`] carries all it needs).

use super::{validate_stream_name, ChunkCache};
use crate::error::{Error, Result};

/// A handle to a registered stream: its ring index and the generation it was registered
/// under. Once the stream is finished the handle is stale: every call with it reads nothing
/// and writes nothing, even after a new stream took the same ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamIdx {
    pub(super) index: u32,
    pub(super) generation: u32,
}

impl StreamIdx {
    /// The ring (and stream slot) index, `0..num_streams`.
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// Which registration of that ring this handle belongs to.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    pub(super) fn stale(self) -> Error {
        Error::StaleStream {
            index: self.index(),
            generation: self.generation,
        }
    }
}

impl ChunkCache {
    /// The handle of stream `name`, registering it on a free ring if it is not live.
    ///
    /// # Errors
    /// [`Error::InvalidStreamName`] (see [`validate_stream_name`]), and
    /// [`Error::StreamsExhausted`] when every ring holds a live stream.
    pub fn register(&self, name: &str) -> Result<StreamIdx> {
        validate_stream_name(name)?;
        let mut names = self.names.lock();
        if let Some(index) = names.iter().position(|n| n.as_deref() == Some(name)) {
            return Ok(self.handle(index));
        }
        let Some(index) = names.iter().position(Option::is_none) else {
            return Err(Error::StreamsExhausted {
                name: name.to_owned(),
                capacity: self.rings.len(),
            });
        };
        // The ring's slots are written on its first registration, not when the cache is made
        // (see `Ring::new`): capacity no stream has used costs no resident memory.
        self.rings[index].init();
        names[index] = Some(name.to_owned());
        Ok(self.handle(index))
    }

    /// The handle of ring `index` as it is now. Callers hold the names lock, under which
    /// `fin` bumps the generation, so the pairing Acquire/Release is belt and braces.
    fn handle(&self, index: usize) -> StreamIdx {
        StreamIdx {
            index: index as u32,
            generation: self.rings[index].generation(),
        }
    }

    /// The handle of the live stream `name`, if any.
    pub fn lookup(&self, name: &str) -> Option<StreamIdx> {
        let names = self.names.lock();
        let index = names.iter().position(|n| n.as_deref() == Some(name))?;
        Some(self.handle(index))
    }

    /// The live streams and their handles, in ring order.
    pub fn streams(&self) -> Vec<(String, StreamIdx)> {
        let names = self.names.lock();
        names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((n.clone()?, self.handle(i))))
            .collect()
    }

    /// Whether `stream` is registered and not finished.
    pub fn is_live(&self, stream: StreamIdx) -> bool {
        self.ring(stream).is_some()
            && self
                .names
                .lock()
                .get(stream.index())
                .is_some_and(Option::is_some)
    }

    /// Ends `stream`: its handle becomes stale, its slots are emptied without allocating, and
    /// its ring and name are free for a new registration. Waking whoever waits on the stream
    /// is the owner's part (the registry does it; see [`crate::wait`]).
    ///
    /// # Errors
    /// [`Error::StaleStream`] when the handle is not current.
    pub fn fin(&self, stream: StreamIdx) -> Result<()> {
        // The names lock is held throughout so no one registers the ring while it is cleared.
        let mut names = self.names.lock();
        let ring = self.ring(stream).ok_or_else(|| stream.stale())?;
        if names.get(stream.index()).is_none_or(Option::is_none) {
            return Err(stream.stale());
        }
        ring.retire();
        names[stream.index()] = None;
        Ok(())
    }
}

//! [`PartStore`]: the arena when there is one, else the heap, behind one handle.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{ArenaOptions, ArenaWriter, PartArena};
use crate::sync::lock;

/// Where published parts are stored; cheap to clone (a handle), shared by every source and
/// by delivery.
///
/// Guarantees: a stored part's bytes never change while any `Bytes` of it is alive (see
/// [`PartArena`]), and a store without an arena behaves exactly like one with an arena to
/// everything but `sendfile` (parts are then plain heap copies).
#[derive(Debug, Clone, Default)]
pub struct PartStore {
    /// `None`: parts live on the heap.
    arena: Option<PartArena>,
    /// The writer behind [`PartStore::store`], shared by its callers so that their parts
    /// fill blocks together instead of taking a block each.
    shared: Arc<Mutex<PartWriter>>,
}

impl PartStore {
    /// A store on the heap: no arena, parts are sent by copy.
    pub fn heap() -> Self {
        Self::default()
    }

    /// A store in a new arena made with `opts`; on the heap when `opts` is `None`, or when
    /// the system cannot make the arena (logged once, here: a server without an arena still
    /// serves every part, only by copy).
    pub fn new(opts: Option<ArenaOptions>) -> Self {
        let arena = opts.and_then(|opts| match PartArena::new(opts) {
            Ok(arena) => Some(arena),
            Err(e) => {
                tracing::warn!(error = %e, "no part arena; parts are stored on the heap and sent by copy");
                None
            }
        });
        Self::with_arena(arena)
    }

    /// A store in `arena` (the heap when `None`).
    pub fn with_arena(arena: Option<PartArena>) -> Self {
        Self {
            shared: Arc::new(Mutex::new(PartWriter::new(arena.as_ref()))),
            arena,
        }
    }

    /// The arena, when parts live in one: delivery sends slices of it with `sendfile`.
    pub fn arena(&self) -> Option<&PartArena> {
        self.arena.as_ref()
    }

    /// A writer of its own for one source session, so that parts which expire together (one
    /// stream's) share blocks and are freed together.
    pub fn writer(&self) -> PartWriter {
        PartWriter::new(self.arena.as_ref())
    }

    /// A copy of `data` in the store, written through one writer shared by every caller: for
    /// parts that come from no session (an embedder publishing directly, a test, a bench).
    pub fn store(&self, data: &[u8]) -> Bytes {
        // Held for one write into storage; nothing in it can panic half-way.
        lock(&self.shared).copy(data)
    }
}

/// Copies parts into a store: into arena blocks of its own, or onto the heap.
#[derive(Debug, Default)]
pub struct PartWriter(Option<ArenaWriter>);

impl PartWriter {
    fn new(arena: Option<&PartArena>) -> Self {
        Self(arena.map(PartArena::writer))
    }

    /// A copy of `data` in the store. One copy per part is the price of not pinning the
    /// transport's read buffers: a slice of them would keep a whole buffer alive for as long
    /// as the part stays in the ring (~1.8× the payload in RSS over HTTP, measured).
    pub fn copy(&mut self, data: &[u8]) -> Bytes {
        match &mut self.0 {
            Some(writer) => writer.copy(data),
            None => Bytes::copy_from_slice(data),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn stored_parts_share_arena_blocks() {
        let store = PartStore::new(Some(ArenaOptions::default()));
        let arena = store.arena().expect("an arena on Linux").clone();
        let parts: Vec<Bytes> = (0..10u8).map(|i| store.store(&[i; 1000])).collect();
        assert_eq!(
            arena.stats().blocks_in_use,
            1,
            "one block for ten small parts"
        );
        for (i, p) in parts.iter().enumerate() {
            assert!(arena.locate(p).is_some());
            assert!(p.iter().all(|&b| usize::from(b) == i));
        }
    }

    #[test]
    fn a_heap_store_has_no_arena_and_copies() {
        let store = PartStore::heap();
        assert!(store.arena().is_none());
        let part = store.store(b"abc");
        assert_eq!(&part[..], b"abc");
        assert_eq!(&store.writer().copy(b"xy")[..], b"xy");
    }
}

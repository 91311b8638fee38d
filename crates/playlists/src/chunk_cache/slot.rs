//! One slot of a ring: an entry kept in a few replicas, each on a cache line of its own.

use bytes::Bytes;

use crate::sync::Mutex;

/// `Entry::id` of a slot that holds nothing.
pub(super) const EMPTY: u64 = u64::MAX;

/// What a slot holds: the id, the generation of the stream it was written under, the xxh3
/// hash and the payload. Read and written whole under a replica's lock, so never torn.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) id: u64,
    pub(super) generation: u32,
    pub(super) hash: u64,
    pub(super) bytes: Bytes,
}

impl Entry {
    /// An entry that holds nothing; `Bytes::new()` is a static empty buffer, so making one
    /// allocates nothing.
    pub(super) const fn empty() -> Self {
        Self {
            id: EMPTY,
            generation: 0,
            hash: 0,
            bytes: Bytes::new(),
        }
    }
}

/// How many copies of its entry a slot keeps (see [`Slot`]). Under loom, two: enough to model
/// the protocol, small enough to explore.
#[cfg(not(playlists_loom))]
pub(super) const REPLICAS: usize = 4;
#[cfg(playlists_loom)]
pub(super) const REPLICAS: usize = 2;

/// One copy of a slot's entry, on a cache line of its own. A mutex, not a reader-writer
/// lock: each replica is mostly used by one thread, a hold is one compare and clone, and a
/// `Mutex<Entry>` fits the 64-byte line where an `RwLock<Entry>` (72 bytes) would need two.
#[derive(Debug)]
#[repr(align(64))]
pub(super) struct Replica(pub(super) Mutex<Entry>);

/// A slot: `REPLICAS` copies of one entry, each behind its own lock and with its own `Bytes`
/// handle (replica 0 holds the caller's, the others a `Bytes::from_owner` of it: the same
/// payload, no copy, but a reference count of their own).
///
/// Why copies: the newest part of a live stream is what every player asks for at once, so
/// its slot is read by every core. With one lock and one `Bytes`, each read writes the lock
/// word and the payload's reference count, and both cache lines bounce between the cores on
/// every read. A reader instead uses the replica picked by its thread
/// ([`crate::sync::replica_hint`]), so readers on different threads mostly touch different
/// lines. A writer pays for it with `REPLICAS - 1` small allocations and lock swaps, next to
/// the microseconds of hashing the payload.
///
/// Replica 0 also serialises writers: a writer holds its lock while it swaps every other
/// replica, so all replicas of a slot always hold the same entry once a write returns, and
/// `fin` (which takes every replica-0 lock) can never be overtaken by a write.
#[derive(Debug)]
pub(super) struct Slot(pub(super) [Replica; REPLICAS]);

impl Slot {
    pub(super) fn empty() -> Self {
        Self(std::array::from_fn(|_| Replica(Mutex::new(Entry::empty()))))
    }

    /// The lock of replica 0, which every writer of this slot holds (see [`Slot`]).
    #[inline]
    pub(super) fn primary(&self) -> impl std::ops::DerefMut<Target = Entry> + '_ {
        self.0[0].0.lock()
    }

    /// The replica a reader on this thread uses.
    #[inline]
    pub(super) fn for_reader(&self) -> impl std::ops::DerefMut<Target = Entry> + '_ {
        self.0[crate::sync::replica_hint() % REPLICAS].0.lock()
    }

    /// Empties every replica, the primary last. The caller holds the primary's lock
    /// (`primary`), as writers do, so no write of this slot interleaves; each old payload is
    /// dropped after its lock is released, since it may be the last reference to a buffer.
    pub(super) fn clear(&self, mut primary: impl std::ops::DerefMut<Target = Entry>) {
        for replica in &self.0[1..] {
            let old = std::mem::replace(&mut *replica.0.lock(), Entry::empty());
            drop(old);
        }
        let old = std::mem::replace(&mut *primary, Entry::empty());
        drop(primary);
        drop(old);
    }
}

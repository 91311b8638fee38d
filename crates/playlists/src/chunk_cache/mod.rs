//! [`ChunkCache`]: a fixed ring of byte slots per stream, allocated once.
//!
//! ```text
//!  stream s (slots_per_stream = n)            last = newest id + 1 (0 = nothing yet)
//!  ┌────────┬────────┬────────┬─────┬──────────┐
//!  │ id n   │ id n+1 │ id 2   │ ... │ id n-1   │   slot = id % n
//!  └────────┴────────┴────────┴─────┴──────────┘
//!      ▲ ids 0 and 1 were overwritten by n and n+1: `get(s, 0)` is None, never id n's bytes
//! ```
//!
//! Each slot holds `Entry = (id, generation, xxh3 hash, Bytes)` in a few replicas, each an
//! `Mutex<Entry>` on a cache line of its own:
//!
//! ```text
//!  slot ┌─ replica 0 ─┐┌─ replica 1 ─┐┌─ replica 2 ─┐┌─ replica 3 ─┐   one 64-byte line each
//!       │ lock│entry  ││ lock│entry  ││ lock│entry  ││ lock│entry  │   same (id, gen, hash),
//!       └─────────────┘└─────────────┘└─────────────┘└─────────────┘   same payload bytes
//!         ▲ writers lock this one first and hold it while they swap the others
//!  a reader locks only the replica of its thread (`sync::replica_hint() % REPLICAS`)
//! ```
//!
//! Why this shape:
//!
//! * **Exactly the right bytes or nothing.** The entry carries the id and the stream generation
//!   it was written under; a reader compares both with what it asked for under its replica's
//!   lock, so an id overwritten by wrap-around, never written, or left over from a
//!   finished stream reads as `None`, and the tuple can never be seen half-written.
//! * **No copies.** Payloads are [`Bytes`]: a write moves the caller's buffer in (replicas
//!   other than the first hold a `Bytes::from_owner` of it: the same bytes, their own
//!   reference count), a read clones a reference count. The hash (xxh3, SIMD at runtime) is
//!   computed *before* any lock is taken, and the old payloads are dropped *after* they are
//!   released, so a writer holds a replica's lock for one swap and a reader for one compare
//!   and clone.
//! * **Readers of one slot do not share cache lines.** The newest part is read by every
//!   player at once; with one lock word and one reference count per slot, every read on every
//!   core would write the same two lines. Readers on different threads use different
//!   replicas, so concurrent reads of one slot scale with the cores (see `Slot`).
//! * **Lock-free `last`.** `last` is an `AtomicU64` raised with `fetch_max`, so an older id
//!   added late never moves it backwards; reading it is one atomic load.
//! * **Streams are independent.** Every stream has its own slots and counters; the only
//!   shared lock is the name registry, which is taken on register/lookup/fin, never on
//!   add/get.
//! * **No wait event of its own.** Who waits for what is the owner's business: the registry
//!   ([`crate::Playlists`]) wakes a stream's blocked requests once a part's playlist version is
//!   published, which is after the part is stored here, so an event notified by `add` would
//!   wake every held request once too early. A caller that waits for chunks notifies its own
//!   [`crate::wait::Event`] after `append` and asks [`try_get`](ChunkCache::try_get) on each
//!   wake-up (the `chunk_cache` example does).
//! * **Memory follows what is still wanted, not the ring's size.** A ring is sized for the
//!   worst case (`max_segments × max_parts_per_segment`), which at 200 ms parts is over ten
//!   minutes of media. [`release_below`](ChunkCache::release_below) raises a per-stream
//!   *floor*: ids below it read as nothing at once, and their slots drop their payloads, so
//!   a stream holds only what its owner still serves.
//! * **Capacity costs nothing until used.** A ring's slots are allocated with the cache but
//!   written only when a stream first registers on the ring (`Ring::new`, `Ring::init`):
//!   memory nothing has written is address space, not resident memory, so a cache sized for
//!   a thousand streams with none live holds next to nothing. `add`/`get` still never
//!   allocate, and registering allocates nothing either (it writes empty slots in place).
//! * **Reuse without allocation.** `fin` bumps the stream's generation (old handles stop
//!   matching at once), then replaces every entry with an empty one — `Bytes::new()` is a
//!   static empty buffer, so clearing allocates nothing, however large the ring.
//!
//! The code is split by what each part owns: `slot` (one slot and its replicas),
//! `ring` (a stream's ring and the slot protocol: add, get, last, release), `names` (the
//! stream-name registry: register, lookup, fin) and `stream_name` (what a name may be).

mod names;
mod ring;
mod slot;
mod stream_name;

use std::fmt;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::options::Options;
use crate::sync::Mutex;

pub use names::StreamIdx;
pub use stream_name::validate_stream_name;

use ring::Ring;
#[cfg(all(test, not(playlists_loom)))]
use slot::{Replica, Slot, EMPTY, REPLICAS};

/// One stored payload: its id, the xxh3-64 hash of its bytes (usable as an HTTP ETag) and the
/// bytes themselves, shared with the cache (cloning a `Chunk` copies no payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The id it was stored under.
    pub id: u64,
    /// `xxh3_64(bytes)`.
    pub hash: u64,
    /// The payload.
    pub bytes: Bytes,
}

impl Chunk {
    /// The payload size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// A fixed-size, pre-allocated cache of byte payloads: `num_streams` rings of
/// `slots_per_stream` slots, addressed by `(stream, id)`.
///
/// Guarantees (each has a test):
/// * [`get`](Self::get) returns exactly the bytes stored under that id, or `None` — never the
///   bytes of an id that overwrote it by wrap-around, never an empty `Some` for an id that was
///   never written, never data of a finished stream.
/// * Reads and writes are O(1), copy no payload, and never see a torn slot.
/// * [`last`](Self::last) is one atomic load and never moves backwards within a stream.
/// * Streams never contend: different streams share no lock on the add/get path.
/// * At most `num_streams` streams are live; one more is [`Error::StreamsExhausted`], never a
///   silently shared ring.
/// * [`fin`](Self::fin) and re-registration allocate nothing per slot.
/// * A ring takes resident memory only once a stream has registered on it: until then its
///   slots are allocated but never written, and nothing reads them.
/// * Once [`release_below`](Self::release_below) returns, every id below its floor reads as
///   nothing, and the ring no longer holds the payloads that were stored under them.
///
/// ```
/// use bytes::Bytes;
/// use playlists::ChunkCache;
///
/// # fn main() -> Result<(), playlists::Error> {
/// let cache = ChunkCache::with_capacity(2, 4)?;
/// let cam = cache.register("cam1")?;
/// for i in 0..6u8 {
///     cache.append(cam, Bytes::from(vec![i; 3]))?;
/// }
/// assert_eq!(cache.last(cam), Some(5));
/// assert_eq!(cache.get(cam, 5).unwrap().bytes, Bytes::from(vec![5u8; 3]));
/// assert!(cache.get(cam, 1).is_none(), "overwritten by id 5: gone, not id 5's bytes");
/// # Ok(())
/// # }
/// ```
pub struct ChunkCache {
    slots_per_stream: usize,
    rings: Box<[Ring]>,
    /// Ring index → name of the stream registered on it. Only register/lookup/fin take it.
    names: Mutex<Vec<Option<String>>>,
}

impl fmt::Debug for ChunkCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkCache")
            .field("num_streams", &self.rings.len())
            .field("slots_per_stream", &self.slots_per_stream)
            .field("streams", &self.streams())
            .finish()
    }
}

impl ChunkCache {
    /// A cache for `opts.num_playlists` streams of `opts.slots_per_stream()` slots each.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when `opts` does not validate.
    pub fn new(opts: &Options) -> Result<Self> {
        opts.validate()?;
        Self::with_capacity(opts.num_playlists, opts.slots_per_stream())
    }

    /// A cache of `num_streams` rings of `slots_per_stream` slots, for embedders that do not
    /// use [`Options`].
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when either is 0 or their product exceeds 16 Mi slots.
    pub fn with_capacity(num_streams: usize, slots_per_stream: usize) -> Result<Self> {
        let invalid = |name, value: usize, reason| Error::InvalidOption {
            name,
            value: value.to_string(),
            reason,
        };
        if num_streams == 0 || num_streams > u32::MAX as usize {
            return Err(invalid("num_streams", num_streams, "must be at least 1"));
        }
        if slots_per_stream == 0 {
            return Err(invalid(
                "slots_per_stream",
                slots_per_stream,
                "must be at least 1",
            ));
        }
        if num_streams.saturating_mul(slots_per_stream) > 1 << 24 {
            return Err(invalid(
                "slots_per_stream",
                slots_per_stream,
                "num_streams × slots_per_stream exceeds 16 Mi slots",
            ));
        }
        let rings = (0..num_streams)
            .map(|_| Ring::new(slots_per_stream))
            .collect();
        Ok(Self {
            slots_per_stream,
            rings,
            names: Mutex::new(vec![None; num_streams]),
        })
    }

    /// How many streams can be live at once.
    pub fn num_streams(&self) -> usize {
        self.rings.len()
    }

    /// How many ids of one stream are kept.
    pub fn slots_per_stream(&self) -> usize {
        self.slots_per_stream
    }
}

#[cfg(all(test, not(playlists_loom)))]
mod tests;

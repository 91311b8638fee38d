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
//! * **Streams are independent.** Every stream has its own slots, counters and wait event; the
//!   only shared lock is the name registry, which is taken on register/lookup/fin, never on
//!   add/get.
//! * **Memory follows what is still wanted, not the ring's size.** A ring is sized for the
//!   worst case (`max_segments × max_parts_per_segment`), which at 200 ms parts is over ten
//!   minutes of media. [`release_below`](ChunkCache::release_below) raises a per-stream
//!   *floor*: ids below it read as nothing at once, and their slots drop their payloads, so
//!   a stream holds only what its owner still serves.
//! * **Reuse without allocation.** `fin` bumps the stream's generation (old handles stop
//!   matching at once), then replaces every entry with an empty one — `Bytes::new()` is a
//!   static empty buffer, so clearing allocates nothing, however large the ring.

use std::fmt;

use bytes::Bytes;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::options::Options;
use crate::sync::{AtomicU32, AtomicU64, Mutex, Ordering};
use crate::wait::Event;

/// `Entry::id` of a slot that holds nothing.
const EMPTY: u64 = u64::MAX;

/// A handle to a registered stream: its ring index and the generation it was registered
/// under. Once the stream is finished the handle is stale: every call with it reads nothing
/// and writes nothing, even after a new stream took the same ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamIdx {
    index: u32,
    generation: u32,
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

    fn stale(self) -> Error {
        Error::StaleStream {
            index: self.index(),
            generation: self.generation,
        }
    }
}

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

#[derive(Debug)]
struct Entry {
    id: u64,
    generation: u32,
    hash: u64,
    bytes: Bytes,
}

impl Entry {
    const fn empty() -> Self {
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
const REPLICAS: usize = 4;
#[cfg(playlists_loom)]
const REPLICAS: usize = 2;

/// One copy of a slot's entry, on a cache line of its own. A mutex, not a reader-writer
/// lock: each replica is mostly used by one thread, a hold is one compare and clone, and a
/// `Mutex<Entry>` fits the 64-byte line where an `RwLock<Entry>` (72 bytes) would need two.
#[derive(Debug)]
#[repr(align(64))]
struct Replica(Mutex<Entry>);

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
struct Slot([Replica; REPLICAS]);

impl Slot {
    fn empty() -> Self {
        Self(std::array::from_fn(|_| Replica(Mutex::new(Entry::empty()))))
    }

    /// Empties every replica, the primary last. The caller holds the primary's lock
    /// (`primary`), as writers do, so no write of this slot interleaves; each old payload is
    /// dropped after its lock is released, since it may be the last reference to a buffer.
    fn clear(&self, mut primary: impl std::ops::DerefMut<Target = Entry>) {
        for replica in &self.0[1..] {
            let old = std::mem::replace(&mut *replica.0.lock(), Entry::empty());
            drop(old);
        }
        let old = std::mem::replace(&mut *primary, Entry::empty());
        drop(primary);
        drop(old);
    }
}

/// One stream's ring and counters.
struct Ring {
    /// Bumped by `fin`; a handle with another generation is stale.
    generation: AtomicU32,
    /// The id `append` hands out next.
    next: AtomicU64,
    /// Newest id + 1, 0 when the ring holds nothing.
    last: AtomicU64,
    /// Ids below this are released (see `release_below`); only rises, until `fin`.
    floor: AtomicU64,
    event: Event,
    slots: Box<[Slot]>,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .field("last", &self.last.load(Ordering::Relaxed))
            .field("slots", &self.slots.len())
            .finish()
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

/// Checks a stream name: 1 to 128 bytes of `[A-Za-z0-9._-]`, at most one `/` between a group
/// and a rendition (`cam1`, `live/720p`), no part empty or starting with a `.`. Names become
/// URL paths, so this is what keeps `..`, percent-escapes and control bytes out of them.
pub fn validate_stream_name(name: &str) -> Result<()> {
    let refuse = |reason| {
        Err(Error::InvalidStreamName {
            name: name.chars().take(64).collect(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 128 {
        return refuse("must be 1 to 128 bytes long");
    }
    let mut parts = 0;
    for part in name.split('/') {
        parts += 1;
        if part.is_empty() {
            return refuse("an empty path segment");
        }
        if part.starts_with('.') {
            return refuse("a segment may not start with `.`");
        }
        if !part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return refuse("only ASCII letters, digits, `.`, `_`, `-` and one `/` are allowed");
        }
    }
    if parts > 2 {
        return refuse("at most one `/` (group/rendition)");
    }
    Ok(())
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
            .map(|_| Ring {
                generation: AtomicU32::new(0),
                next: AtomicU64::new(0),
                last: AtomicU64::new(0),
                floor: AtomicU64::new(0),
                event: Event::new(),
                slots: (0..slots_per_stream).map(|_| Slot::empty()).collect(),
            })
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
        names[index] = Some(name.to_owned());
        Ok(self.handle(index))
    }

    fn handle(&self, index: usize) -> StreamIdx {
        StreamIdx {
            index: index as u32,
            // Acquire: pairs with the Release bump in `fin`, which precedes freeing the name
            // (under the same names lock, so this is belt and braces).
            generation: self.rings[index].generation.load(Ordering::Acquire),
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

    /// The slot of `id` in its ring: `id % slots_per_stream`, as a mask when that is a power
    /// of two (the default 4096 is), since a 64-bit division is a noticeable part of a read.
    fn slot_of(&self, id: u64) -> usize {
        let n = self.slots_per_stream as u64;
        (if n.is_power_of_two() {
            id & (n - 1)
        } else {
            id % n
        }) as usize
    }

    /// The ring of a handle that is still current.
    fn ring(&self, stream: StreamIdx) -> Option<&Ring> {
        let ring = self.rings.get(stream.index())?;
        // Acquire: pairs with the Release bump in `fin`; once it is visible, the handle is
        // stale and nothing of the old stream is returned or written.
        (ring.generation.load(Ordering::Acquire) == stream.generation).then_some(ring)
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

    /// Ends `stream`: its handle becomes stale, its slots are emptied without allocating, its
    /// waiters are woken (and see [`Error::StaleStream`]), and its ring and name are free for
    /// a new registration.
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
        // Release: a reader or writer that sees the new generation also sees everything
        // before it; one that does not may still touch a slot, but entries are tagged with
        // the old generation, so nothing of them is ever returned under a new handle.
        ring.generation.fetch_add(1, Ordering::AcqRel);
        for slot in ring.slots.iter() {
            // The primary first, as writers do: it orders us with any write of this slot.
            slot.clear(slot.0[0].0.lock());
        }
        // Only now: a writer that passed its generation check raises `last` while it still
        // holds its slot's primary lock (see `add`), so once every primary lock has been taken
        // above, no write of the old stream can raise the counters after they are reset here.
        ring.last.store(0, Ordering::Release);
        ring.next.store(0, Ordering::Release);
        ring.floor.store(0, Ordering::Release);
        ring.event.notify_all();
        names[stream.index()] = None;
        Ok(())
    }

    /// Stores `bytes` under `id`, replacing whatever id shared its slot.
    ///
    /// # Errors
    /// [`Error::StaleStream`] for a finished stream's handle; [`Error::IdOutOfRange`] for
    /// `u64::MAX`; [`Error::DuplicateId`] when `id` is already stored; [`Error::IdTooOld`]
    /// when the slot already holds a newer id (the ring has moved past `id`);
    /// [`Error::IdReleased`] when `id` is below the stream's release floor.
    pub fn add(&self, stream: StreamIdx, id: u64, bytes: Bytes) -> Result<Chunk> {
        if id == EMPTY {
            return Err(Error::IdOutOfRange(id));
        }
        let ring = self.ring(stream).ok_or_else(|| stream.stale())?;
        // Hash before locking: the lock then covers only the compare and the swap.
        let hash = crate::hash::xxh3_64(&bytes);
        let slot = &ring.slots[self.slot_of(id)];
        // Built before locking too: the replicas' own `Bytes` handles allocate. Swapped into
        // the slot under the locks, so afterwards `entries` holds what they replaced.
        let mut entries: [Entry; REPLICAS] = std::array::from_fn(|r| Entry {
            id,
            generation: stream.generation,
            hash,
            bytes: if r == 0 {
                bytes.clone()
            } else {
                Bytes::from_owner(bytes.clone())
            },
        });
        {
            let mut primary = slot.0[0].0.lock();
            // Re-check under the lock: `fin` clears a slot under this lock after bumping the
            // generation, so either we see the bump here or `fin` clears our entry after us.
            if ring.generation.load(Ordering::Acquire) != stream.generation {
                return Err(stream.stale());
            }
            let floor = ring.floor.load(Ordering::Acquire);
            if id < floor {
                return Err(Error::IdReleased { id, floor });
            }
            if primary.id != EMPTY && primary.generation == stream.generation {
                if primary.id == id {
                    return Err(Error::DuplicateId { id });
                }
                if primary.id > id {
                    return Err(Error::IdTooOld {
                        id,
                        last: primary.id,
                        capacity: self.slots_per_stream,
                    });
                }
            }
            // Every other replica first, each locked for one swap only; the primary last.
            for (replica, entry) in slot.0[1..].iter().zip(&mut entries[1..]) {
                std::mem::swap(&mut *replica.0.lock(), entry);
            }
            std::mem::swap(&mut *primary, &mut entries[0]);
            // Still under the primary lock, so that `fin` (which takes every primary lock
            // before it resets the counters) can never be overtaken by this write: a late
            // writer of a finished stream would otherwise hand its `last` to the next stream
            // of the ring. Release: pairs with the Acquire in `last`; a reader that sees id+1
            // finds the entry in every replica. fetch_max: an older id added after a newer
            // one never moves `last` back.
            ring.last.fetch_max(id + 1, Ordering::AcqRel);
            ring.next.fetch_max(id + 1, Ordering::AcqRel);
        }
        // The old payload may be the last reference to a large buffer: free it unlocked.
        drop(entries);
        ring.event.notify_all();
        Ok(Chunk { id, hash, bytes })
    }

    /// Stores `bytes` under the next id of `stream` (one more than the newest id handed out
    /// or added). Concurrent appenders each get a distinct id.
    ///
    /// # Errors
    /// As [`add`](Self::add).
    pub fn append(&self, stream: StreamIdx, bytes: Bytes) -> Result<Chunk> {
        let ring = self.ring(stream).ok_or_else(|| stream.stale())?;
        // Relaxed: the counter only has to hand out distinct ids; the slot lock and `last`
        // publish the data. An appender holding a handle that `fin` makes stale meanwhile may
        // still bump the next stream's counter (its own write is then refused): the new
        // stream's first id is 1 instead of 0, which no reader can tell from a gap.
        // Saturating at the reserved id: a plain `fetch_add` would wrap to 0 once the id space
        // is used up and start handing out ids the ring has long moved past.
        let id = ring
            .next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < EMPTY).then(|| n + 1)
            })
            .map_err(Error::IdOutOfRange)?;
        self.add(stream, id, bytes)
    }

    /// The chunk stored under `id`, if the ring still holds it.
    pub fn get(&self, stream: StreamIdx, id: u64) -> Option<Chunk> {
        if id == EMPTY {
            return None;
        }
        let ring = self.ring(stream)?;
        // Acquire: pairs with the raise in `release_below`; once it is seen, a released id
        // reads as nothing even if its slot has not been emptied yet.
        if id < ring.floor.load(Ordering::Acquire) {
            return None;
        }
        let slot = &ring.slots[self.slot_of(id)];
        let entry = slot.0[crate::sync::replica_hint() % REPLICAS].0.lock();
        (entry.id == id && entry.generation == stream.generation).then(|| Chunk {
            id,
            hash: entry.hash,
            bytes: entry.bytes.clone(),
        })
    }

    /// The newest id stored on `stream`, `None` when it holds nothing (or the handle is stale).
    pub fn last(&self, stream: StreamIdx) -> Option<u64> {
        // Acquire: pairs with the AcqRel `fetch_max` in `add`.
        self.ring(stream)?
            .last
            .load(Ordering::Acquire)
            .checked_sub(1)
    }

    /// The newest chunk of `stream`.
    pub fn get_last(&self, stream: StreamIdx) -> Option<Chunk> {
        // A wrap-around can replace the newest id between the two steps only if a whole
        // ring's worth was written meanwhile; then the next `last` is newer and we retry.
        for _ in 0..4 {
            let id = self.last(stream)?;
            if let Some(chunk) = self.get(stream, id) {
                return Some(chunk);
            }
        }
        None
    }

    /// Releases every id of `stream` below `floor`: from the return on, [`get`](Self::get)
    /// answers them with nothing and [`add`](Self::add) refuses them
    /// ([`Error::IdReleased`]), and their slots no longer hold their payloads (a reader
    /// that already cloned one keeps it). Ids at or above the floor are untouched.
    ///
    /// The floor only rises (a lower `floor` than the current one does nothing) and never
    /// passes the next id [`append`](Self::append) would hand out, so appending always
    /// works; [`fin`](Self::fin) resets it. The cost is one slot's swap per released id
    /// still held, at most one ring's worth, done by the caller: a publisher that releases
    /// as it appends pays about what it paid to write.
    ///
    /// # Errors
    /// [`Error::StaleStream`] for a finished stream's handle.
    pub fn release_below(&self, stream: StreamIdx, floor: u64) -> Result<()> {
        let ring = self.ring(stream).ok_or_else(|| stream.stale())?;
        let (old, floor) = {
            // Under a primary lock with the generation re-checked, as `add` raises `last`:
            // `fin` takes every primary lock before it resets the floor, so a release of a
            // finished stream can never raise the floor of the next stream on this ring.
            let _fin_guard = ring.slots[0].0[0].0.lock();
            if ring.generation.load(Ordering::Acquire) != stream.generation {
                return Err(stream.stale());
            }
            let floor = floor.min(ring.next.load(Ordering::Acquire));
            // Raised before any slot is emptied, so a reader that finds a slot not yet
            // emptied below the floor reads nothing all the same (see `get`).
            (ring.floor.fetch_max(floor, Ordering::AcqRel), floor)
        };
        if floor <= old {
            return Ok(());
        }
        // Ids below `old` went in an earlier call. And one ring's worth of consecutive ids
        // visits every slot, where any id below the floor is cleared, not only the one in the
        // range: so the sweep never needs more than the last `slots` ids below the floor.
        let from = old.max(floor.saturating_sub(self.slots_per_stream as u64));
        for id in from..floor {
            let slot = &ring.slots[self.slot_of(id)];
            let primary = slot.0[0].0.lock();
            // Under the primary lock, as writers hold it: the slot holds a released id of this
            // stream, or a newer id (left alone), or nothing.
            if primary.id < floor && primary.generation == stream.generation {
                slot.clear(primary);
            }
        }
        Ok(())
    }

    /// The stream's release floor: ids below it are released (0 when none are).
    pub fn floor(&self, stream: StreamIdx) -> Option<u64> {
        Some(self.ring(stream)?.floor.load(Ordering::Acquire))
    }

    /// The event notified after every add to `stream` and when it is finished, for callers
    /// that wait on conditions of their own (see [`crate::wait`]).
    pub fn event(&self, stream: StreamIdx) -> Option<&Event> {
        self.rings.get(stream.index()).map(|r| &r.event)
    }

    /// Waits until `id` is stored on `stream` and returns it.
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] at `deadline`; [`Error::StaleStream`] if the stream is finished
    /// meanwhile; [`Error::IdTooOld`] if a newer id has been published and `id` is not held
    /// (overwritten by wrap-around, or skipped).
    pub async fn wait_for(&self, stream: StreamIdx, id: u64, deadline: Instant) -> Result<Chunk> {
        let started = Instant::now();
        let event = self.event(stream).ok_or_else(|| stream.stale())?;
        loop {
            let listener = event.listen();
            if let Some(chunk) = self.get(stream, id) {
                return Ok(chunk);
            }
            if !self.is_live(stream) {
                return Err(stream.stale());
            }
            if let Some(last) = self.last(stream) {
                if last >= id {
                    // `id` may have been stored between the `get` above and this load of
                    // `last`: look once more before calling it gone. `last` only grows and is
                    // raised after the entry is in place, so a miss now is a real one.
                    if let Some(chunk) = self.get(stream, id) {
                        return Ok(chunk);
                    }
                    return Err(Error::IdTooOld {
                        id,
                        last,
                        capacity: self.slots_per_stream,
                    });
                }
            }
            if tokio::time::timeout_at(deadline, listener).await.is_err() {
                return Err(Error::WaitTimeout(
                    deadline.saturating_duration_since(started),
                ));
            }
        }
    }
}

#[cfg(all(test, not(playlists_loom)))]
mod tests;

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
//! Each slot is an `RwLock<Entry>` where `Entry = (id, generation, xxh3 hash, Bytes)`, padded
//! to its own cache lines. Why this shape:
//!
//! * **Exactly the right bytes or nothing.** The entry carries the id and the stream generation
//!   it was written under; a reader compares both with what it asked for under the slot's read
//!   lock, so an id overwritten by wrap-around, never written, or left over from a finished
//!   stream reads as `None`, and the tuple can never be seen half-written.
//! * **No copies.** Payloads are [`Bytes`]: a write moves the caller's buffer in, a read clones
//!   a reference count. The hash (xxh3, SIMD at runtime) is computed *before* the lock is taken,
//!   and the old payload is dropped *after* it is released, so a writer holds a slot lock for
//!   one compare and swap and a reader for one compare and clone.
//! * **Lock-free `last`.** `last` is an `AtomicU64` raised with `fetch_max`, so an older id
//!   added late never moves it backwards; reading it is one atomic load.
//! * **Streams are independent.** Every stream has its own slots, counters and wait event; the
//!   only shared lock is the name registry, which is taken on register/lookup/fin, never on
//!   add/get.
//! * **Reuse without allocation.** `fin` bumps the stream's generation (old handles stop
//!   matching at once), then replaces every entry with an empty one — `Bytes::new()` is a
//!   static empty buffer, so clearing allocates nothing, however large the ring.

use std::fmt;

use bytes::Bytes;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::options::Options;
use crate::sync::{AtomicU32, AtomicU64, Mutex, Ordering, RwLock};
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

/// A slot on cache lines of its own: neighbouring slots are written by one writer and read
/// by many readers, and sharing a line would make every read bounce it between cores.
#[derive(Debug)]
#[repr(align(128))]
struct Slot(RwLock<Entry>);

/// One stream's ring and counters.
struct Ring {
    /// Bumped by `fin`; a handle with another generation is stale.
    generation: AtomicU32,
    /// The id `append` hands out next.
    next: AtomicU64,
    /// Newest id + 1, 0 when the ring holds nothing.
    last: AtomicU64,
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
                event: Event::new(),
                slots: (0..slots_per_stream)
                    .map(|_| Slot(RwLock::new(Entry::empty())))
                    .collect(),
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
            let old = std::mem::replace(&mut *slot.0.write(), Entry::empty());
            drop(old);
        }
        // Only now: a writer that passed its generation check raises `last` while it still
        // holds its slot lock (see `add`), so once every slot lock has been taken above, no
        // write of the old stream can raise the counters after they are reset here.
        ring.last.store(0, Ordering::Release);
        ring.next.store(0, Ordering::Release);
        ring.event.notify_all();
        names[stream.index()] = None;
        Ok(())
    }

    /// Stores `bytes` under `id`, replacing whatever id shared its slot.
    ///
    /// # Errors
    /// [`Error::StaleStream`] for a finished stream's handle; [`Error::IdOutOfRange`] for
    /// `u64::MAX`; [`Error::DuplicateId`] when `id` is already stored; [`Error::IdTooOld`]
    /// when the slot already holds a newer id (the ring has moved past `id`).
    pub fn add(&self, stream: StreamIdx, id: u64, bytes: Bytes) -> Result<Chunk> {
        if id == EMPTY {
            return Err(Error::IdOutOfRange(id));
        }
        let ring = self.ring(stream).ok_or_else(|| stream.stale())?;
        // Hash before locking: the lock then covers only the compare and the swap.
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        let slot = &ring.slots[(id % self.slots_per_stream as u64) as usize];
        let old = {
            let mut entry = slot.0.write();
            // Re-check under the lock: `fin` clears a slot under this lock after bumping the
            // generation, so either we see the bump here or `fin` clears our entry after us.
            if ring.generation.load(Ordering::Acquire) != stream.generation {
                return Err(stream.stale());
            }
            if entry.id != EMPTY && entry.generation == stream.generation {
                if entry.id == id {
                    return Err(Error::DuplicateId { id });
                }
                if entry.id > id {
                    return Err(Error::IdTooOld {
                        id,
                        last: entry.id,
                        capacity: self.slots_per_stream,
                    });
                }
            }
            let old = std::mem::replace(
                &mut *entry,
                Entry {
                    id,
                    generation: stream.generation,
                    hash,
                    bytes: bytes.clone(),
                },
            );
            // Still under the slot lock, so that `fin` (which takes every slot lock before it
            // resets the counters) can never be overtaken by this write: a late writer of a
            // finished stream would otherwise hand its `last` to the next stream of the ring.
            // Release: pairs with the Acquire in `last`; a reader that sees id+1 finds the
            // entry. fetch_max: an older id added after a newer one never moves `last` back.
            ring.last.fetch_max(id + 1, Ordering::AcqRel);
            ring.next.fetch_max(id + 1, Ordering::AcqRel);
            old
        };
        // The old payload may be the last reference to a large buffer: free it unlocked.
        drop(old);
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
        let entry = ring.slots[(id % self.slots_per_stream as u64) as usize]
            .0
            .read();
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

    /// The event notified after every add to `stream` and when it is finished, for callers
    /// that wait on conditions of their own (see [`crate::wait`]).
    pub fn event(&self, stream: StreamIdx) -> Option<&Event> {
        self.rings.get(stream.index()).map(|r| &r.event)
    }

    /// Waits until `id` is stored on `stream` and returns it.
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] at `deadline`; [`Error::StaleStream`] if the stream is finished
    /// meanwhile; [`Error::IdTooOld`] if the ring has moved past `id` without holding it.
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
mod tests {
    use super::*;

    fn payload(id: u64) -> Bytes {
        Bytes::from(id.to_le_bytes().repeat(1 + (id % 5) as usize))
    }

    #[test]
    fn wrapped_id_is_gone_not_answered_with_the_newer_bytes() {
        let cache = ChunkCache::with_capacity(1, 4).unwrap();
        let s = cache.register("a").unwrap();
        for id in 0..6 {
            cache.add(s, id, payload(id)).unwrap();
        }
        assert!(cache.get(s, 0).is_none());
        assert!(cache.get(s, 1).is_none());
        for id in 2..6 {
            let c = cache.get(s, id).unwrap();
            assert_eq!((c.id, c.bytes.clone()), (id, payload(id)));
            assert_eq!(c.hash, xxhash_rust::xxh3::xxh3_64(&c.bytes));
        }
    }

    #[test]
    fn never_written_ids_are_nothing() {
        let cache = ChunkCache::with_capacity(1, 8).unwrap();
        let s = cache.register("a").unwrap();
        assert!(cache.get(s, 0).is_none(), "fresh stream, id 0");
        assert!(cache.get_last(s).is_none());
        assert_eq!(cache.last(s), None);
        cache.add(s, 3, payload(3)).unwrap();
        assert!(cache.get(s, 2).is_none());
        assert!(cache.get(s, 11).is_none(), "same slot as 3, never written");
        assert!(cache.get(s, u64::MAX).is_none());
    }

    #[test]
    fn an_older_add_never_moves_last_backwards() {
        let cache = ChunkCache::with_capacity(1, 8).unwrap();
        let s = cache.register("a").unwrap();
        cache.add(s, 5, payload(5)).unwrap();
        cache.add(s, 2, payload(2)).unwrap();
        assert_eq!(cache.last(s), Some(5));
        assert_eq!(cache.get_last(s).unwrap().id, 5);
    }

    #[test]
    fn rejects_duplicates_too_old_and_reserved_ids() {
        let cache = ChunkCache::with_capacity(1, 4).unwrap();
        let s = cache.register("a").unwrap();
        cache.add(s, 6, payload(6)).unwrap();
        assert_eq!(
            cache.add(s, 6, payload(6)),
            Err(Error::DuplicateId { id: 6 })
        );
        assert!(matches!(
            cache.add(s, 2, payload(2)),
            Err(Error::IdTooOld { id: 2, last: 6, .. })
        ));
        assert_eq!(
            cache.add(s, u64::MAX, payload(1)),
            Err(Error::IdOutOfRange(u64::MAX))
        );
        assert_eq!(cache.get(s, 6).unwrap().bytes, payload(6), "untouched");
    }

    #[test]
    fn one_stream_too_many_is_an_error_not_a_shared_ring() {
        let cache = ChunkCache::with_capacity(5, 4).unwrap();
        let handles: Vec<_> = (0..5)
            .map(|i| cache.register(&format!("s{i}")).unwrap())
            .collect();
        assert!(matches!(
            cache.register("s5"),
            Err(Error::StreamsExhausted { capacity: 5, .. })
        ));
        let distinct: std::collections::HashSet<_> = handles.iter().map(|h| h.index()).collect();
        assert_eq!(distinct.len(), 5);
        assert_eq!(
            cache.register("s1").unwrap(),
            handles[1],
            "same name, same handle"
        );
    }

    #[test]
    fn fin_then_reregister_shows_nothing_of_the_old_stream() {
        let cache = ChunkCache::with_capacity(1, 4).unwrap();
        let old = cache.register("a").unwrap();
        for id in 0..3 {
            cache.append(old, payload(id)).unwrap();
        }
        cache.fin(old).unwrap();
        assert!(!cache.is_live(old));
        assert_eq!(cache.last(old), None);
        assert!(cache.get(old, 1).is_none());
        assert!(matches!(
            cache.append(old, payload(9)),
            Err(Error::StaleStream { .. })
        ));
        let new = cache.register("b").unwrap();
        assert_eq!(new.index(), old.index());
        assert_ne!(new.generation(), old.generation());
        assert_eq!(cache.last(new), None, "no inherited last");
        for id in 0..3 {
            assert!(cache.get(new, id).is_none(), "no inherited data");
        }
        assert_eq!(cache.append(new, payload(0)).unwrap().id, 0);
        assert_eq!(cache.fin(old), Err(old.stale()));
    }

    #[test]
    fn out_of_range_and_forged_handles_never_panic() {
        let cache = ChunkCache::with_capacity(2, 4).unwrap();
        let bogus = StreamIdx {
            index: 99,
            generation: 0,
        };
        assert!(cache.get(bogus, 0).is_none());
        assert_eq!(cache.last(bogus), None);
        assert!(cache.get_last(bogus).is_none());
        assert!(cache.add(bogus, 0, payload(0)).is_err());
        assert!(cache.append(bogus, payload(0)).is_err());
        assert!(cache.fin(bogus).is_err());
        assert!(cache.event(bogus).is_none());
        assert!(!cache.is_live(bogus));
    }

    #[test]
    fn invalid_capacities_are_typed_errors() {
        assert!(matches!(
            ChunkCache::with_capacity(0, 4),
            Err(Error::InvalidOption { .. })
        ));
        assert!(matches!(
            ChunkCache::with_capacity(4, 0),
            Err(Error::InvalidOption { .. })
        ));
        assert!(matches!(
            ChunkCache::with_capacity(1 << 12, 1 << 13),
            Err(Error::InvalidOption { .. })
        ));
    }

    #[test]
    fn stream_names() {
        for ok in ["cam1", "live/720p", "a.b-c_d", &"x".repeat(128)] {
            assert!(validate_stream_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".hidden",
            "a/../b",
            "a/b/c",
            "a//b",
            "/a",
            "a/",
            "%2e%2e",
            "a b",
            "a\0b",
            "é",
            &"x".repeat(129),
        ] {
            assert!(
                matches!(
                    validate_stream_name(bad),
                    Err(Error::InvalidStreamName { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn concurrent_appenders_lose_no_id() {
        let cache = std::sync::Arc::new(ChunkCache::with_capacity(1, 4096).unwrap());
        let s = cache.register("a").unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let cache = std::sync::Arc::clone(&cache);
                std::thread::spawn(move || {
                    (0..1000)
                        .map(|_| cache.append(s, Bytes::from_static(b"x")).unwrap().id)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut ids: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..4000).collect::<Vec<_>>());
        assert!((0..4000).all(|id| cache.get(s, id).is_some()));
    }

    #[test]
    fn reads_share_the_payload() {
        let cache = ChunkCache::with_capacity(1, 4).unwrap();
        let s = cache.register("a").unwrap();
        let bytes = Bytes::from(vec![7u8; 1 << 16]);
        let ptr = bytes.as_ptr();
        cache.add(s, 0, bytes).unwrap();
        assert_eq!(cache.get(s, 0).unwrap().bytes.as_ptr(), ptr, "no copy");
    }

    #[tokio::test(start_paused = true)]
    async fn wait_for_wakes_on_publish_and_times_out() {
        let cache = std::sync::Arc::new(ChunkCache::with_capacity(1, 8).unwrap());
        let s = cache.register("a").unwrap();
        let c2 = std::sync::Arc::clone(&cache);
        let waiter = tokio::spawn(async move {
            c2.wait_for(s, 1, Instant::now() + std::time::Duration::from_secs(5))
                .await
        });
        tokio::task::yield_now().await;
        cache.append(s, payload(0)).unwrap();
        cache.append(s, payload(1)).unwrap();
        assert_eq!(waiter.await.unwrap().unwrap().bytes, payload(1));
        let deadline = Instant::now() + std::time::Duration::from_secs(3);
        assert!(matches!(
            cache.wait_for(s, 7, deadline).await,
            Err(Error::WaitTimeout(_))
        ));
        cache.fin(s).unwrap();
        assert!(matches!(
            cache.wait_for(s, 2, deadline).await,
            Err(Error::StaleStream { .. })
        ));
    }
}

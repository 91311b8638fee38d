//! The ring of one stream and the slot protocol on it: `add`, `get`, `last` and
//! `release_below`, none of which takes a lock shared with another stream.

use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;

use bytes::Bytes;

use super::slot::{Entry, Slot, EMPTY, REPLICAS};
use super::{Chunk, ChunkCache, StreamIdx};
use crate::error::{Error, Result};
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// The memory of one slot before its ring is first registered: any bytes, never read.
type SlotCell = UnsafeCell<MaybeUninit<Slot>>;

/// One stream's ring and counters.
pub(super) struct Ring {
    /// Bumped by `fin`; a handle with another generation is stale.
    pub(super) generation: AtomicU32,
    /// The id `append` hands out next.
    pub(super) next: AtomicU64,
    /// Newest id + 1, 0 when the ring holds nothing.
    pub(super) last: AtomicU64,
    /// Ids below this are released (see `release_below`); only rises, until `fin`.
    pub(super) floor: AtomicU64,
    /// Set (Release) once `cells` hold empty slots, by the first `register` of this ring;
    /// never cleared. Nothing reads a cell before it has seen this (Acquire).
    ready: AtomicBool,
    /// The ring's slots, allocated with the cache but written only when the ring is first
    /// registered (see [`Ring::new`]).
    cells: Box<[SlotCell]>,
}

// SAFETY: `cells` is written once, by `init`, which runs under the names lock before `ready`
// is set with Release; every other access goes through `slots`, which first sees `ready`
// with Acquire and then only hands out `&Slot` (itself `Sync`: a lock per replica). So no
// cell is ever written while shared, and no cell is read before it was written.
unsafe impl Sync for Ring {}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .field("last", &self.last.load(Ordering::Relaxed))
            .field("slots", &self.cells.len())
            .field("ready", &self.ready.load(Ordering::Relaxed))
            .finish()
    }
}

impl Ring {
    /// A ring of `slots` slots, generation 0, whose memory is allocated now but written only
    /// by [`init`](Self::init), when a stream first registers on it.
    ///
    /// Why: a slot is 256 bytes (four cache-line replicas), a ring at the default sizes is
    /// 4,096 of them (1 MiB), and a server is sized for its peak number of streams. Writing
    /// every ring here made capacity cost its full size in resident memory before any part
    /// arrived (about 1 GB for 1,000 streams). An allocation this large that nothing writes
    /// is address space only: the allocator takes it from fresh pages of the kernel, which
    /// map a page of memory on its first write. So the allocation still happens once, here,
    /// and fails here if it must; a ring no stream has used costs no resident memory; and
    /// `add`/`get` still never allocate. (On a host with transparent huge pages set to
    /// `always`, the kernel may back a written ring and an unwritten neighbour with one 2 MiB
    /// page: at most one more ring's worth per ring in use, never a cost for capacity alone.)
    pub(super) fn new(slots: usize) -> Self {
        Self {
            generation: AtomicU32::new(0),
            next: AtomicU64::new(0),
            last: AtomicU64::new(0),
            floor: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            // SAFETY: a `SlotCell` is a `MaybeUninit` (in an `UnsafeCell`), valid whatever
            // its bytes, so uninitialised memory is an initialised `[SlotCell]`.
            cells: unsafe { Box::<[SlotCell]>::new_uninit_slice(slots).assume_init() },
        }
    }

    /// Writes an empty slot into every cell, once per ring: on the first registration of
    /// the ring (later ones find it ready and reuse the slots as `retire` left them, so
    /// re-registering writes nothing). The caller holds the names lock, so no two `init`s of
    /// one ring run at once, and no handle of this ring exists yet that could read a cell.
    pub(super) fn init(&self) {
        if self.ready.load(Ordering::Acquire) {
            return;
        }
        for cell in self.cells.iter() {
            // SAFETY: not ready, so no `&Slot` of this ring exists (see `slots`), and the
            // names lock excludes another `init`: this is the only access to the cell.
            unsafe { (*cell.get()).write(Slot::empty()) };
        }
        // Release: a thread that sees `ready` sees every slot written above.
        self.ready.store(true, Ordering::Release);
    }

    /// Whether `init` has run (Acquire: then every slot is visible).
    #[inline]
    pub(super) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The ring's slots; empty until the ring was first registered.
    #[inline]
    pub(super) fn slots(&self) -> &[Slot] {
        if !self.is_ready() {
            return &[];
        }
        // SAFETY: `ready` was seen with Acquire, so `init` wrote every cell and will never
        // write one again; `SlotCell` is `UnsafeCell<MaybeUninit<Slot>>`, the same layout as
        // `Slot`, and from here on the cells are only shared, never written through.
        unsafe { std::slice::from_raw_parts(self.cells.as_ptr().cast::<Slot>(), self.cells.len()) }
    }

    /// The current generation: the one a new handle of this ring gets.
    #[inline]
    pub(super) fn generation(&self) -> u32 {
        // Acquire: pairs with the Release bump in `retire`.
        self.generation.load(Ordering::Acquire)
    }

    /// Ends the stream on this ring: handles of the current generation become stale, every
    /// slot is emptied (without allocating) and the counters start over. The caller (`fin`)
    /// holds the names lock, so no one registers the ring meanwhile.
    pub(super) fn retire(&self) {
        // Release: a reader or writer that sees the new generation also sees everything
        // before it; one that does not may still touch a slot, but entries are tagged with
        // the old generation, so nothing of them is ever returned under a new handle.
        self.generation.fetch_add(1, Ordering::AcqRel);
        for slot in self.slots() {
            // The primary first, as writers do: it orders us with any write of this slot.
            slot.clear(slot.primary());
        }
        // Only now: a writer that passed its generation check raises `last` while it still
        // holds its slot's primary lock (see `add`), so once every primary lock has been taken
        // above, no write of the old stream can raise the counters after they are reset here.
        self.last.store(0, Ordering::Release);
        self.next.store(0, Ordering::Release);
        self.floor.store(0, Ordering::Release);
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if !self.ready.load(Ordering::Acquire) {
            return; // never written: nothing to drop
        }
        for cell in self.cells.iter_mut() {
            // SAFETY: ready, so `init` wrote every cell; `&mut self` means no one else
            // holds a slot, and each is dropped once (the cells themselves drop nothing).
            unsafe { cell.get_mut().assume_init_drop() };
        }
    }
}

impl ChunkCache {
    /// The slot of `id` in its ring: `id % slots_per_stream`, as a mask when that is a power
    /// of two (the default 4096 is), since a 64-bit division is a noticeable part of a read.
    #[inline]
    pub(super) fn slot_of(&self, id: u64) -> usize {
        let n = self.slots_per_stream as u64;
        (if n.is_power_of_two() {
            id & (n - 1)
        } else {
            id % n
        }) as usize
    }

    /// The ring of a handle that is still current.
    #[inline]
    pub(super) fn ring(&self, stream: StreamIdx) -> Option<&Ring> {
        let ring = self.rings.get(stream.index())?;
        // A ring no stream registered on yet has no slots: a handle of it can only come from
        // another cache (a handle of this one exists only after `register` ran `init`).
        if !ring.is_ready() {
            return None;
        }
        // Once the bump of `retire` is visible, the handle is stale and nothing of the old
        // stream is returned or written.
        (ring.generation() == stream.generation()).then_some(ring)
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
        let slot = &ring.slots()[self.slot_of(id)];
        // Built before locking too: the replicas' own `Bytes` handles allocate. Swapped into
        // the slot under the locks, so afterwards `entries` holds what they replaced.
        let mut entries: [Entry; REPLICAS] = std::array::from_fn(|r| Entry {
            id,
            generation: stream.generation(),
            hash,
            bytes: if r == 0 {
                bytes.clone()
            } else {
                Bytes::from_owner(bytes.clone())
            },
        });
        {
            let mut primary = slot.primary();
            // Re-check under the lock: `fin` clears a slot under this lock after bumping the
            // generation, so either we see the bump here or `fin` clears our entry after us.
            if ring.generation() != stream.generation() {
                return Err(stream.stale());
            }
            let floor = ring.floor.load(Ordering::Acquire);
            if id < floor {
                return Err(Error::IdReleased { id, floor });
            }
            if primary.id != EMPTY && primary.generation == stream.generation() {
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
        let entry = ring.slots()[self.slot_of(id)].for_reader();
        (entry.id == id && entry.generation == stream.generation()).then(|| Chunk {
            id,
            hash: entry.hash,
            bytes: entry.bytes.clone(),
        })
    }

    /// The chunk stored under `id`, telling an id that may still come from one that is gone:
    /// what a caller that waits for `id` asks after each wake-up of its own event (the ring
    /// has none; see the `chunk_cache` example).
    ///
    /// `Ok(Some(chunk))` is exactly the bytes stored under `id`; `Ok(None)` means no id as
    /// new as `id` has been stored yet, so it may still come.
    ///
    /// # Errors
    /// [`Error::StaleStream`] once the stream is finished; [`Error::IdTooOld`] when `id` or a
    /// newer id has been stored and `id` is not held (overwritten by wrap-around, released,
    /// or skipped); [`Error::IdOutOfRange`] for `u64::MAX`, which is never stored.
    pub fn try_get(&self, stream: StreamIdx, id: u64) -> Result<Option<Chunk>> {
        if id == EMPTY {
            return Err(Error::IdOutOfRange(id));
        }
        if let Some(chunk) = self.get(stream, id) {
            return Ok(Some(chunk));
        }
        let ring = self.ring(stream).ok_or_else(|| stream.stale())?;
        // Acquire: pairs with the AcqRel `fetch_max` in `add`.
        let Some(last) = ring.last.load(Ordering::Acquire).checked_sub(1) else {
            return Ok(None);
        };
        if last < id {
            return Ok(None);
        }
        // `id` may have been stored between the `get` above and this load of `last`: look
        // once more before calling it gone. `last` only grows and is raised after the entry
        // is in place, so a miss now is a real one.
        match self.get(stream, id) {
            Some(chunk) => Ok(Some(chunk)),
            None => Err(Error::IdTooOld {
                id,
                last,
                capacity: self.slots_per_stream,
            }),
        }
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
            let _fin_guard = ring.slots()[0].primary();
            if ring.generation() != stream.generation() {
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
            let slot = &ring.slots()[self.slot_of(id)];
            let primary = slot.primary();
            // Under the primary lock, as writers hold it: the slot holds a released id of this
            // stream, or a newer id (left alone), or nothing.
            if primary.id < floor && primary.generation == stream.generation() {
                slot.clear(primary);
            }
        }
        Ok(())
    }

    /// The stream's release floor: ids below it are released (0 when none are).
    pub fn floor(&self, stream: StreamIdx) -> Option<u64> {
        Some(self.ring(stream)?.floor.load(Ordering::Acquire))
    }
}

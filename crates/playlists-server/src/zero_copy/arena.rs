//! [`PartArena`]: part payloads stored in one shared-memory file, so they can be sent with
//! `sendfile(2)`.
//!
//! The file is a `memfd` of a large, sparse size, mapped once. It is cut into fixed blocks;
//! each [`ArenaWriter`] (one per ingest session) fills one block at a time with the parts of
//! its stream, one after another, and hands each out as a [`Bytes`] that points into the
//! mapping. Readers see ordinary `Bytes`; nothing else in the server knows.
//!
//! # Why blocks are freed by punching a hole
//!
//! `sendfile` does not copy: the socket's queued packets hold references to the file's
//! pages until the peer has acknowledged them (and, on loopback, read them). Writing new
//! parts into those same pages would change bytes already "sent". So a block whose parts
//! have all been dropped is not simply reused: its pages are first removed from the file
//! with `fallocate(PUNCH_HOLE)`. Packets still in flight keep the old pages alive and
//! unchanged; the next writer of the block faults in fresh zeroed pages.
//! (`tests/zero_copy.rs` sends a part, frees and rewrites its block before the peer reads,
//! and checks the peer still gets the original bytes.)
//!
//! A block is freed when the last `Bytes` into it drops: one `Arc` per block counts the
//! writer and every part. Parts of one stream expire in order, so a stream pins at most
//! about one block of expired parts.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rustix::fs::{FallocateFlags, MemfdFlags};
use rustix::mm::{MapFlags, ProtFlags};

use super::{ArenaOptions, ArenaStats};

/// Part storage in a shared-memory file; cheap to clone (a handle).
///
/// Guarantees: the bytes of a [`Bytes`] from [`ArenaWriter::copy`] never change while any
/// clone of it lives, and bytes already queued on a socket by `sendfile` never change either
/// (see the module doc). [`PartArena::locate`] finds the file range behind any slice of
/// such a `Bytes`.
#[derive(Clone)]
pub struct PartArena {
    inner: Arc<Inner>,
}

struct Inner {
    file: OwnedFd,
    /// Start of the mapping of the whole file (read-write, shared).
    base: NonNull<u8>,
    len: usize,
    opts: ArenaOptions,
    /// Blocks whose parts were all dropped and whose pages were released.
    free: Mutex<Vec<usize>>,
    /// Blocks never used yet: `next_fresh..opts.blocks`.
    next_fresh: AtomicU64,
    stats: Counters,
}

// SAFETY: `base` points into a mapping owned by `Inner` for its whole life. Every byte range
// is written by exactly one `ArenaWriter` (which owns the block) before any `Bytes` to it
// exists, and only read afterwards, so sharing the pointer between threads is sound.
unsafe impl Send for Inner {}
// SAFETY: as above; `&Inner` gives no way to write through `base`.
unsafe impl Sync for Inner {}

#[derive(Default)]
struct Counters {
    blocks_in_use: AtomicU64,
    heap_fallbacks: AtomicU64,
    sent_bytes: AtomicU64,
}

impl PartArena {
    /// A new, empty arena: a sparse memfd of `blocks × block_bytes`, mapped once.
    ///
    /// # Errors
    /// The system refused the memfd or the mapping (`ENOSYS` off Linux, `ENOMEM` when the
    /// address space is too small). Callers fall back to heap storage.
    pub fn new(opts: ArenaOptions) -> io::Result<Self> {
        let page = rustix::param::page_size();
        if opts.block_bytes == 0 || opts.block_bytes % page != 0 || opts.blocks == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("arena blocks must be a non-zero multiple of the {page}-byte page"),
            ));
        }
        let len = opts
            .block_bytes
            .checked_mul(opts.blocks)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "arena too large"))?;
        let file = rustix::fs::memfd_create("playlists-parts", MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&file, len as u64)?;
        // SAFETY: a fresh mapping (null hint) of a file we own; nothing else aliases it.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::NORESERVE,
                &file,
                0,
            )?
        };
        let base = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                file,
                base,
                len,
                opts,
                free: Mutex::new(Vec::new()),
                next_fresh: AtomicU64::new(0),
                stats: Counters::default(),
            }),
        })
    }

    /// A writer that fills blocks of its own; give each stream's ingest session one, so
    /// that parts which expire together share blocks.
    pub fn writer(&self) -> ArenaWriter {
        ArenaWriter {
            arena: self.clone(),
            block: None,
            used: 0,
        }
    }

    /// The arena's file and the offset in it of `slice`, when `slice` lies inside the arena
    /// (it is then a part, or a piece of one, from [`ArenaWriter::copy`]).
    pub fn locate(&self, slice: &[u8]) -> Option<(BorrowedFd<'_>, u64)> {
        let start = self.inner.base.as_ptr() as usize;
        let at = slice.as_ptr() as usize;
        let offset = at.checked_sub(start)?;
        let end = offset.checked_add(slice.len())?;
        (end <= self.inner.len && !slice.is_empty())
            .then(|| (self.inner.file.as_fd(), offset as u64))
    }

    /// Counts `n` bytes as sent from the arena (called by the socket wrapper).
    pub(crate) fn count_sent(&self, n: usize) {
        self.inner
            .stats
            .sent_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Current counters.
    pub fn stats(&self) -> ArenaStats {
        let s = &self.inner.stats;
        ArenaStats {
            blocks_in_use: s.blocks_in_use.load(Ordering::Relaxed),
            block_bytes: self.inner.opts.block_bytes as u64,
            heap_fallbacks: s.heap_fallbacks.load(Ordering::Relaxed),
            sent_bytes: s.sent_bytes.load(Ordering::Relaxed),
        }
    }

    /// A block to fill: a released one if any, else a never-used one.
    fn take_block(&self) -> Option<Arc<Block>> {
        let reused = self
            .inner
            .free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let index = reused.or_else(|| {
            let i = self.inner.next_fresh.fetch_add(1, Ordering::Relaxed);
            usize::try_from(i)
                .ok()
                .filter(|&i| i < self.inner.opts.blocks)
        })?;
        self.inner
            .stats
            .blocks_in_use
            .fetch_add(1, Ordering::Relaxed);
        Some(Arc::new(Block {
            arena: self.clone(),
            index,
        }))
    }
}

impl fmt::Debug for PartArena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartArena")
            .field("opts", &self.inner.opts)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`; every `Bytes` into it holds an `Arc<Inner>`
        // (through its block), so none is left.
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// One block; dropped when its writer has moved on and its last part is gone.
struct Block {
    arena: PartArena,
    index: usize,
}

impl Block {
    fn offset(&self) -> usize {
        self.index * self.arena.inner.opts.block_bytes
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        let inner = &self.arena.inner;
        let bytes = inner.opts.block_bytes as u64;
        // Release the pages (see the module doc: packets in flight keep the old ones).
        match rustix::fs::fallocate(
            &inner.file,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            self.offset() as u64,
            bytes,
        ) {
            Ok(()) => {
                inner
                    .free
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(self.index);
            }
            // Without a hole, rewriting the block could change bytes in flight: retire it.
            Err(e) => {
                tracing::warn!(error = %e, block = self.index, "cannot release an arena block; retiring it")
            }
        }
        inner.stats.blocks_in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A part's bytes inside a block; the owner behind the [`Bytes`] handed out.
struct Slice {
    block: Arc<Block>,
    offset: usize,
    len: usize,
}

impl AsRef<[u8]> for Slice {
    fn as_ref(&self) -> &[u8] {
        let inner = &self.block.arena.inner;
        // SAFETY: `offset..offset + len` lies in this block, inside the mapping, which lives
        // as long as `inner`; it was fully written before this `Slice` was made, and nothing
        // writes it again while the block (held by this slice) lives.
        unsafe { std::slice::from_raw_parts(inner.base.as_ptr().add(self.offset), self.len) }
    }
}

/// Fills blocks of a [`PartArena`] with parts; not shared between tasks.
pub struct ArenaWriter {
    arena: PartArena,
    block: Option<Arc<Block>>,
    /// Bytes of `block` already handed out.
    used: usize,
}

impl fmt::Debug for ArenaWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArenaWriter")
            .field("block", &self.block.as_ref().map(|b| b.index))
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl ArenaWriter {
    /// `data` copied into the arena (or onto the heap when it is larger than half a block or
    /// every block is in use): the returned `Bytes` is immutable and independent of `data`.
    pub fn copy(&mut self, data: &[u8]) -> Bytes {
        let block_bytes = self.arena.inner.opts.block_bytes;
        if data.is_empty() {
            return Bytes::new();
        }
        if data.len() > block_bytes / 2 {
            return self.heap(data);
        }
        if self.block.is_none() || self.used + data.len() > block_bytes {
            // The old block (if any) now lives only as long as its parts.
            self.block = self.arena.take_block();
            self.used = 0;
        }
        let Some(block) = &self.block else {
            return self.heap(data);
        };
        let offset = block.offset() + self.used;
        // SAFETY: `offset..offset + len` is inside the block this writer owns (checked
        // above) and not yet handed out, so no `Bytes` reads it; the block's pages are either
        // fresh or were punched out, so no packet in flight references them.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.arena.inner.base.as_ptr().add(offset),
                data.len(),
            );
        }
        self.used += data.len();
        Bytes::from_owner(Slice {
            block: Arc::clone(block),
            offset,
            len: data.len(),
        })
    }

    fn heap(&self, data: &[u8]) -> Bytes {
        self.arena
            .inner
            .stats
            .heap_fallbacks
            .fetch_add(1, Ordering::Relaxed);
        Bytes::copy_from_slice(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PartArena {
        PartArena::new(ArenaOptions {
            block_bytes: 64 * 1024,
            blocks: 4,
        })
        .expect("memfd arena")
    }

    fn pattern(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| seed.wrapping_add((i % 251) as u8))
            .collect()
    }

    #[test]
    fn parts_read_back_and_are_located_in_the_file() {
        let arena = small();
        let mut w = arena.writer();
        let a = w.copy(&pattern(1, 30_000));
        let b = w.copy(&pattern(2, 30_000));
        assert_eq!(&a[..], &pattern(1, 30_000)[..]);
        assert_eq!(&b[..], &pattern(2, 30_000)[..]);
        let (_, off_a) = arena.locate(&a).expect("in the arena");
        let (_, off_b) = arena.locate(&b).expect("in the arena");
        assert_eq!(
            off_b,
            off_a + 30_000,
            "one stream's parts are packed in its block"
        );
        // A sub-slice (a Range response, an h2 DATA frame) is found at its own offset.
        assert_eq!(
            arena.locate(&b.slice(100..200)).map(|l| l.1),
            Some(off_b + 100)
        );
        assert!(arena.locate(b"not in the arena").is_none());
        assert_eq!(arena.stats().blocks_in_use, 1);
    }

    #[test]
    fn large_parts_and_a_full_arena_fall_back_to_the_heap() {
        let arena = small();
        let mut w = arena.writer();
        let big = w.copy(&pattern(3, 40_000));
        assert!(arena.locate(&big).is_none());
        assert_eq!(&big[..], &pattern(3, 40_000)[..]);
        // 4 blocks of 64 KiB take 8 parts of 30 KB (2 per block); the 9th goes to the heap.
        let kept: Vec<Bytes> = (0..9).map(|i| w.copy(&pattern(i, 30_000))).collect();
        assert!(kept[..8].iter().all(|p| arena.locate(p).is_some()));
        assert!(arena.locate(&kept[8]).is_none());
        for (i, p) in kept.iter().enumerate() {
            assert_eq!(&p[..], &pattern(i as u8, 30_000)[..]);
        }
        assert_eq!(arena.stats().heap_fallbacks, 2);
    }

    #[test]
    fn blocks_are_released_when_their_parts_drop_and_then_reused() {
        let arena = small();
        let mut w = arena.writer();
        // Many more parts than the arena holds at once, each dropped soon (a ring's life):
        // every one fits, so blocks are being recycled.
        let mut ring = std::collections::VecDeque::new();
        for i in 0..1000u32 {
            let data = pattern(i as u8, 20_000 + (i as usize % 7) * 1000);
            let part = w.copy(&data);
            assert!(arena.locate(&part).is_some(), "part {i} went to the heap");
            ring.push_back((part, data));
            if ring.len() > 4 {
                let (part, data) = ring.pop_front().expect("non-empty");
                assert_eq!(part, data, "a stored part changed before it was dropped");
            }
        }
        assert_eq!(arena.stats().heap_fallbacks, 0);
        assert!(arena.stats().blocks_in_use <= 4);
        drop(ring);
        drop(w);
        assert_eq!(arena.stats().blocks_in_use, 0);
    }

    #[test]
    fn writers_on_many_threads_never_see_each_others_bytes() {
        let arena = PartArena::new(ArenaOptions {
            block_bytes: 256 * 1024,
            blocks: 64,
        })
        .expect("memfd arena");
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let arena = arena.clone();
                s.spawn(move || {
                    let mut w = arena.writer();
                    let mut ring = std::collections::VecDeque::new();
                    for i in 0..2000usize {
                        let data =
                            pattern(t.wrapping_mul(31).wrapping_add(i as u8), 1000 + i % 9000);
                        let hash = playlists::xxh3_64(&data);
                        let part = w.copy(&data);
                        ring.push_back((part, hash));
                        if ring.len() > 50 {
                            let (part, hash) = ring.pop_front().expect("non-empty");
                            assert_eq!(playlists::xxh3_64(&part), hash);
                        }
                    }
                });
            }
        });
        assert_eq!(arena.stats().blocks_in_use, 0);
    }

    #[test]
    fn options_must_be_whole_pages() {
        let bad = ArenaOptions {
            block_bytes: 1000,
            blocks: 1,
        };
        assert_eq!(
            PartArena::new(bad).map(|_| ()).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}

//! [`PartArena`]: part payloads stored in one file, so they can be sent with `sendfile(2)`.
//!
//! The file is large and sparse, mapped once (read-only: bytes go in with `pwrite`). By
//! default it is a `memfd` (shared memory); with [`ArenaOptions::dir`] it is an unlinked file
//! in a directory of the caller's choice. It is cut into fixed blocks; each [`ArenaWriter`]
//! (one per ingest session) fills one block at a time with the parts of its stream, one after
//! another, and hands each out as a [`Bytes`] that points into the mapping. Readers see
//! ordinary `Bytes`; nothing else in the server knows.
//!
//! # Why blocks are freed by punching a hole
//!
//! `sendfile` does not copy: the socket's queued packets hold references to the file's
//! pages until the peer has acknowledged them (and, on loopback, read them). Writing new
//! parts into those same pages would change bytes already "sent". So a block whose parts
//! have all been dropped is not simply reused: its pages are first removed from the file
//! with `fallocate(PUNCH_HOLE)`. Packets still in flight keep the old pages alive and
//! unchanged; the next writer of the block gets fresh pages.
//! (`tests/zero_copy.rs` sends a part, frees and rewrites its block before the peer reads,
//! and checks the peer still gets the original bytes.)
//!
//! This holds only while no cached folio (the kernel's unit of page cache, up to a PMD,
//! 2 MiB on x86-64) straddles two blocks: punching part of a folio that cannot be split,
//! because packets hold it, zeroes that part in place. Folios are aligned to their size in
//! the file, so blocks must be whole multiples of the largest one ([`largest_folio_bytes`]).
//!
//! # Why a file on disk can be faster than memory
//!
//! `sendfile` takes and drops a reference per 4 KiB page, and looks each folio up in the
//! page cache. Shared memory is cached in 4 KiB folios unless the host enables huge pages
//! for it (`shmem_enabled`), while filesystems such as ext4 and XFS cache in large folios on
//! recent kernels. A block of a file-backed arena is therefore written once with zeros in
//! one call when it is taken, which lets the kernel cache it in a few large folios; a 30 KB
//! part then costs one or two lookups instead of eight and its references all land on one
//! cache line. The price: the kernel writes the parts to the directory's disk in the
//! background (those dropped before writeback never reach it), and freeing a block may wait
//! for a write of its pages that is under way.
//!
//! A block is freed when the last `Bytes` into it drops: one `Arc` per block counts the
//! writer and every part.
//!
//! # Why, and when, an expired part's pages are released before its block
//!
//! A 2 MiB block holds 5 s of a 3 Mbit/s stream and 70 s of a 230 kbit/s one, so holding
//! expired parts until their block is free would cost each stream up to a block beyond its
//! window: 2 GB for a thousand small streams. So as each part drops, the pages that no live
//! part touches and that the writer will not write again (it writes after the last part)
//! are punched out at once ([`LiveParts`](live::LiveParts) tracks, per block, which parts
//! live; one mutex and at most one `fallocate` per part, when it expires, never on a GET).
//! The boundary page between an expired part and a live one stays until both are gone.
//! (`tests/zero_copy.rs` also sends a part, releases its pages while its block is still
//! being filled, and checks the peer gets the original bytes.)
//!
//! Punching part of a block is safe for the same reason as punching all of it, but only in
//! whole folios: a page removed from the file whole stays alive and unchanged in the packets
//! that hold it, while punching part of a folio those packets hold zeroes that part in place.
//! So the unit released is the largest folio the file may be cached in, read when the arena
//! is made:
//! - shared memory: 4 KiB pages unless `shmem_enabled` (the global setting or one of the
//!   per-size ones) allows larger folios; then the largest allowed size, and with 2 MiB
//!   allowed nothing is released before its block (`folio::shmem_folio_bytes`);
//! - a file (`--part-dir`): [`largest_folio_bytes`], since filesystems cache it in large
//!   folios and blocks are written so that they are: a 2 MiB block is released only whole.
//!
//! The settings are read once (reading them costs about 60 µs, too much for the ingest path
//! each time a block is taken): allowing large folios for shared memory while the server
//! runs would make releasing 4 KiB pages unsafe (the kernel could then cache the unwritten
//! parts of blocks in large folios), so change `shmem_enabled` with the server stopped.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rustix::fs::{FallocateFlags, MemfdFlags, Mode, OFlags};
use rustix::mm::{MapFlags, ProtFlags};

use super::{ArenaOptions, ArenaStats};
use crate::sync::lock;
use live::LiveParts;

/// Part storage in one file; cheap to clone (a handle).
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
    file: File,
    /// Start of the read-only, shared mapping of the whole file.
    base: NonNull<u8>,
    len: usize,
    opts: ArenaOptions,
    /// A block of zeros written over each block a file-backed arena hands out (see the
    /// module doc); `None` for shared memory. Allocated zeroed and never written, so the
    /// allocator usually backs it with the kernel's zero page.
    zeros: Option<Box<[u8]>>,
    /// The unit in which the pages of expired parts are released before their block (see
    /// the module doc); `block_bytes` or more: only with the block.
    granule: usize,
    /// Blocks whose parts were all dropped and whose pages were released.
    free: Mutex<Vec<usize>>,
    /// Blocks never used yet: `next_fresh..opts.blocks`.
    next_fresh: AtomicU64,
    stats: Counters,
    /// Whether a failed write was already logged (a full disk would fail every part).
    warned: AtomicBool,
}

// SAFETY: `base` points into a mapping owned by `Inner` for its whole life and is only ever
// read. Every byte range is written (through the file) by exactly one `ArenaWriter`, which
// owns the block, before any `Bytes` to it exists, and never again while one does.
unsafe impl Send for Inner {}
// SAFETY: as above; nothing writes through `base`.
unsafe impl Sync for Inner {}

#[derive(Default)]
struct Counters {
    blocks_in_use: AtomicU64,
    heap_fallbacks: AtomicU64,
    sent_bytes: AtomicU64,
}

/// The largest page-cache folio this kernel may make: a PMD (2 MiB on x86-64 and on arm64
/// with 4 KiB pages), read from sysfs, and never less than 2 MiB. Arena blocks are whole
/// multiples of it (see the module doc).
pub fn largest_folio_bytes() -> usize {
    const TWO_MIB: usize = 2 << 20;
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .map_or(TWO_MIB, |pmd| pmd.max(TWO_MIB))
}

impl PartArena {
    /// A new, empty arena of `blocks × block_bytes` (sparse: only written pages hold memory
    /// or disk), in a memfd or, with [`ArenaOptions::dir`], in an unlinked file there.
    ///
    /// # Errors
    /// `InvalidInput` when `block_bytes` is not a non-zero multiple of
    /// [`largest_folio_bytes`]; otherwise the system refused the file, the mapping, or
    /// punching holes in the file (`ENOSYS` off Linux, `EOPNOTSUPP` on a filesystem without
    /// holes, `ENOMEM` when the address space is too small). Callers fall back to the heap.
    pub fn new(opts: ArenaOptions) -> io::Result<Self> {
        let unit = largest_folio_bytes();
        if opts.block_bytes == 0 || opts.block_bytes % unit != 0 || opts.blocks == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "arena blocks must be a non-zero multiple of the largest folio, {unit} bytes"
                ),
            ));
        }
        let len = opts
            .block_bytes
            .checked_mul(opts.blocks)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "arena too large"))?;
        let file = match &opts.dir {
            None => File::from(rustix::fs::memfd_create(
                "playlists-parts",
                MemfdFlags::CLOEXEC,
            )?),
            Some(dir) => unlinked_file_in(dir)?,
        };
        file.set_len(len as u64)?;
        // Fail now, not at the first freed block, where the filesystem cannot punch holes.
        punch(&file, 0, opts.block_bytes)?;
        // SAFETY: a fresh mapping (null hint) of a file we own; nothing else aliases it.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED | MapFlags::NORESERVE,
                &file,
                0,
            )?
        };
        let base = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
        let zeros = opts
            .dir
            .is_some()
            .then(|| vec![0u8; opts.block_bytes].into_boxed_slice());
        let granule = if opts.dir.is_none() {
            folio::shmem_folio_bytes()
        } else {
            unit
        };
        Ok(Self {
            inner: Arc::new(Inner {
                file,
                base,
                len,
                zeros,
                granule,
                opts,
                free: Mutex::new(Vec::new()),
                next_fresh: AtomicU64::new(0),
                stats: Counters::default(),
                warned: AtomicBool::new(false),
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
        let reused = lock(&self.inner.free).pop();
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
        let granule = self.inner.granule;
        let block = Arc::new(Block {
            arena: self.clone(),
            index,
            live: (granule < self.inner.opts.block_bytes)
                .then(|| Mutex::new(LiveParts::new(granule))),
        });
        if let Some(zeros) = &self.inner.zeros {
            // One write of the whole block, so that the page cache holds it in large folios.
            // On failure (a full disk) the block goes back, punched, and the part to the heap.
            if let Err(e) = self.inner.file.write_all_at(zeros, block.offset() as u64) {
                self.warn_once(&e);
                return None;
            }
        }
        Some(block)
    }

    /// Logs the first failed write to the file; later ones only count as heap fallbacks.
    fn warn_once(&self, e: &io::Error) {
        if !self.inner.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %e, "cannot write to the part arena; parts go to the heap until it can");
        }
    }
}

/// An unlinked file in `dir`: `O_TMPFILE` where the filesystem has it, else a new file that
/// is removed at once. Either way nothing is left behind when the process ends.
fn unlinked_file_in(dir: &Path) -> io::Result<File> {
    let mode = Mode::RUSR | Mode::WUSR;
    match rustix::fs::open(dir, OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC, mode) {
        Ok(fd) => Ok(File::from(fd)),
        Err(rustix::io::Errno::NOTSUP | rustix::io::Errno::ISDIR | rustix::io::Errno::INVAL) => {
            named_then_unlinked(dir)
        }
        Err(e) => Err(e.into()),
    }
}

/// A new file in `dir`, removed as soon as it is open.
fn named_then_unlinked(dir: &Path) -> io::Result<File> {
    // Unique within the process too: arenas may be made side by side (tests, a probe).
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!(".playlists-parts-{}-{n}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// Releases `len` bytes at `offset` from the file (its size stays).
fn punch(file: &File, offset: usize, len: usize) -> io::Result<()> {
    rustix::fs::fallocate(
        file,
        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
        offset as u64,
        len as u64,
    )?;
    Ok(())
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
    /// Which parts of the block live, when its pages can be released in units smaller than
    /// the block; `None` when they are released only with the whole block.
    live: Option<Mutex<LiveParts>>,
}

impl Block {
    fn offset(&self) -> usize {
        self.index * self.arena.inner.opts.block_bytes
    }

    /// Records the next part, `len` bytes at the writer's cursor, before it is written.
    fn push(&self, len: usize) -> u64 {
        self.live.as_ref().map_or(0, |live| lock(live).push(len))
    }

    /// Part `number` is gone: release the pages around it that nothing uses any more.
    fn expire(&self, number: u64) {
        let Some(live) = &self.live else { return };
        let range = lock(live).expire(number);
        if range.is_empty() {
            return;
        }
        // Outside the lock: the range touches no live part and lies below the cursor's
        // unit, so neither a reader nor the writer uses it, and it stays so (the writer
        // only moves on). The caller (a part's `Slice`, or the writer) holds the block, so
        // it is not freed and reused meanwhile.
        if let Err(e) = punch(
            &self.arena.inner.file,
            self.offset() + range.start,
            range.len(),
        ) {
            // Not a safety matter: the pages simply stay until the block is freed.
            tracing::debug!(error = %e, block = self.index, "cannot release expired parts' pages");
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        let inner = &self.arena.inner;
        // Release the pages (see the module doc: packets in flight keep the old ones).
        match punch(&inner.file, self.offset(), inner.opts.block_bytes) {
            Ok(()) => {
                lock(&inner.free).push(self.index);
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
    /// The part's number in its block's [`LiveParts`].
    number: u64,
}

impl Drop for Slice {
    fn drop(&mut self) {
        self.block.expire(self.number);
    }
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
        // Recorded as live first, so that no expiring neighbour releases its pages while
        // they are written.
        let number = block.push(data.len());
        self.used += data.len();
        // `offset..offset + len` is inside the block this writer owns (checked above) and not
        // yet handed out, so no `Bytes` reads it; the block's pages are either fresh or were
        // punched out, so no packet in flight references them.
        if let Err(e) = self.arena.inner.file.write_all_at(data, offset as u64) {
            // The space is skipped, its record expired like a dropped part's.
            block.expire(number);
            self.arena.warn_once(&e);
            return self.heap(data);
        }
        Bytes::from_owner(Slice {
            block: Arc::clone(block),
            offset,
            len: data.len(),
            number,
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

mod folio;
mod live;
#[cfg(test)]
mod tests;

//! **The reference** every workload is measured against: the chunk cache of the project's first
//! published design, written plainly for this bench (it is not part of the library and carries
//! none of its guarantees).
//!
//! What that design described and published, and what is kept here on purpose:
//! * one `tokio::sync::RwLock<Bytes>` per slot, `num_streams × slots_per_stream` of them;
//! * each write builds a new `size (u32) | hash (u64) | payload` packet by **copying** the
//!   payload, hashed with the compile-time (scalar) `const_xxh3` that design used. That hash
//!   is most of its write cost (W1 also prints the reference hashing with the SIMD xxh3, for
//!   context), but hashing with SIMD here would measure a design that was never shipped;
//! * an `AtomicUsize` last index per stream, stored after the slot write; `append` reads it
//!   and writes `last + 1` (a read-then-write, not an atomic claim);
//! * `get` checks `id <= last`, takes the slot's read lock, parses the header and slices the
//!   payload out of the packet (a reference count, no copy).
//!
//! Two things are *kinder* than the original, so ratios against it are conservative: the packet
//! buffer is allocated at its final size (the original grew a `BytesMut::new()`, reallocating),
//! and the hash and copy happen before the slot lock is taken (as in the original).
//!
//! Its known correctness faults (an overwritten id answers with the newer id's bytes, no
//! stream generations, lost ids under concurrent appends) are irrelevant to a speed yardstick
//! and are not fixed: fixing them would no longer be the design it stands for.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::RwLock;
use xxhash_rust::const_xxh3::xxh3_64 as const_xxh3;

/// Header of a packet: payload size (u32, big endian) then its xxh3 (u64, big endian).
const HEADER: usize = 12;

/// The reference chunk cache, plainly.
pub struct Reference {
    slots_per_stream: usize,
    slots: Vec<RwLock<Bytes>>,
    last: Vec<AtomicUsize>,
}

impl Reference {
    /// Allocates every slot (each an empty `Bytes`, as the original did).
    pub fn new(num_streams: usize, slots_per_stream: usize) -> Self {
        Self {
            slots_per_stream,
            slots: (0..num_streams * slots_per_stream)
                .map(|_| RwLock::new(Bytes::new()))
                .collect(),
            last: (0..num_streams).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    fn offset(&self, stream: usize, id: usize) -> usize {
        stream * self.slots_per_stream + id % self.slots_per_stream
    }

    /// `size | hash | payload`, copied into a new buffer.
    fn packet(data: &[u8]) -> Bytes {
        let hash = const_xxh3(data);
        let mut packet = BytesMut::with_capacity(HEADER + data.len());
        packet.put_u32(data.len() as u32);
        packet.put_u64(hash);
        packet.put_slice(data);
        packet.freeze()
    }

    fn parse(packet: &Bytes) -> Option<(Bytes, u64)> {
        let size = u32::from_be_bytes(packet.get(0..4)?.try_into().ok()?) as usize;
        let hash = u64::from_be_bytes(packet.get(4..HEADER)?.try_into().ok()?);
        (packet.len() >= HEADER + size).then(|| (packet.slice(HEADER..HEADER + size), hash))
    }

    /// Stores `data` under `id` and publishes `id` as the stream's last.
    pub async fn add(&self, stream: usize, id: usize, data: &[u8]) {
        let packet = Self::packet(data);
        *self.slots[self.offset(stream, id)].write().await = packet;
        self.last[stream].store(id, Ordering::Release);
    }

    /// [`append`](Self::append) with the runtime (SIMD) xxh3 instead of the original's
    /// `const_xxh3`: context for the W1 figures, not the reference itself.
    pub async fn append_simd_hash(&self, stream: usize, data: &[u8]) {
        let id = self.last[stream].load(Ordering::Acquire) + 1;
        let hash = xxhash_rust::xxh3::xxh3_64(data);
        let mut packet = BytesMut::with_capacity(HEADER + data.len());
        packet.put_u32(data.len() as u32);
        packet.put_u64(hash);
        packet.put_slice(data);
        *self.slots[self.offset(stream, id)].write().await = packet.freeze();
        self.last[stream].store(id, Ordering::Release);
    }

    /// `add(last + 1)`.
    pub async fn append(&self, stream: usize, data: &[u8]) {
        let id = self.last[stream].load(Ordering::Acquire) + 1;
        self.add(stream, id, data).await;
    }

    /// The payload and hash in `id`'s slot (the original's unchecked read).
    pub async fn get(&self, stream: usize, id: usize) -> Option<(Bytes, u64)> {
        if id > self.last[stream].load(Ordering::Acquire) {
            return None;
        }
        let packet = self.slots[self.offset(stream, id)].read().await;
        Self::parse(&packet)
    }

    /// The newest id's payload.
    pub async fn get_last(&self, stream: usize) -> Option<(usize, Bytes, u64)> {
        let id = self.last[stream].load(Ordering::Acquire);
        let (bytes, hash) = self.get(stream, id).await?;
        Some((id, bytes, hash))
    }

    /// [`append`](Self::append) for plain threads: tokio's `blocking_write` parks the thread
    /// while the lock is contended, which is what an async caller's task would do.
    pub fn append_blocking(&self, stream: usize, data: &[u8]) {
        let id = self.last[stream].load(Ordering::Acquire) + 1;
        let packet = Self::packet(data);
        *self.slots[self.offset(stream, id)].blocking_write() = packet;
        self.last[stream].store(id, Ordering::Release);
    }

    /// [`get_last`](Self::get_last) for plain threads (`blocking_read`).
    pub fn get_last_blocking(&self, stream: usize) -> Option<(usize, Bytes, u64)> {
        let id = self.last[stream].load(Ordering::Acquire);
        let packet = self.slots[self.offset(stream, id)].blocking_read();
        let (bytes, hash) = Self::parse(&packet)?;
        Some((id, bytes, hash))
    }
}

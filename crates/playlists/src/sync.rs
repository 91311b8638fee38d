//! The one place the library takes its synchronisation primitives from.
//!
//! Under `RUSTFLAGS="--cfg playlists_loom"` every atomic and lock below comes from `loom`, so the slot
//! publish/read protocol ([`crate::chunk_cache`]) and the wait primitive ([`crate::wait`]) can be
//! model-checked exhaustively (`tests/loom_*.rs`). Otherwise they are the standard library's.
//!
//! Locks are wrapped so that callers never see poisoning: no code in the library panics while
//! holding a lock (it runs no user code there), so a poisoned lock still guards consistent data
//! and we take it back instead of spreading a panic to every reader.

#[cfg(playlists_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(playlists_loom)]
use loom::sync::{Mutex as InnerMutex, RwLock as InnerRwLock};

#[cfg(not(playlists_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(not(playlists_loom))]
use std::sync::{Mutex as InnerMutex, RwLock as InnerRwLock};

pub(crate) use std::sync::Arc;

/// A mutex that hands back its data even if a previous holder panicked.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(InnerMutex<T>);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(InnerMutex::new(value))
    }

    pub(crate) fn lock(&self) -> impl std::ops::DerefMut<Target = T> + '_ {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A reader-writer lock that hands back its data even if a previous holder panicked.
#[derive(Debug, Default)]
pub(crate) struct RwLock<T>(InnerRwLock<T>);

impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(InnerRwLock::new(value))
    }

    pub(crate) fn read(&self) -> impl std::ops::Deref<Target = T> + '_ {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn write(&self) -> impl std::ops::DerefMut<Target = T> + '_ {
        self.0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Which copy of a slot this thread reads (see `chunk_cache::Slot`): a number fixed per
/// thread, handed out in turn, so that threads reading the same slot mostly use different
/// copies and do not share cache lines.
#[cfg(not(playlists_loom))]
pub(crate) fn replica_hint() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        // Relaxed: only distinctness matters, and not even that for correctness.
        static HINT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    HINT.with(|h| *h)
}

/// Under loom a thread reads a different copy on every call, so the models cover readers of
/// every replica, deterministically.
#[cfg(playlists_loom)]
pub(crate) fn replica_hint() -> usize {
    loom::thread_local! {
        static HINT: std::cell::Cell<usize> = std::cell::Cell::new(0);
    }
    HINT.with(|h| {
        let r = h.get();
        h.set(r.wrapping_add(1));
        r
    })
}

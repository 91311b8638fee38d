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
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(playlists_loom)]
use loom::sync::{Mutex as InnerMutex, RwLock as InnerRwLock};

#[cfg(not(playlists_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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

//! Lock helpers shared by the whole server crate.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering the guard if a holder panicked.
///
/// Why recovering is right here: every mutex of this crate guards plain data that each
/// critical section leaves valid at every step (a map insert, an id store, a writer's
/// cursor), and none of them calls code that can panic half-way. A poisoned lock therefore
/// still guards consistent data, and refusing it would turn one panic into a dead server.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

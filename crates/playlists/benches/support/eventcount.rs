//! The REFERENCE of `benches/wait.rs`: the eventcount the library used before
//! `tokio::sync::Notify` replaced it, kept here so the comparison that decided it can be re-run.
//!
//! A counter of notifications (the *epoch*) and a slab of parked wakers: a listener captures
//! the epoch when it is made and completes once the epoch has moved, so a notify between "check
//! the condition" and "await" is never lost. A notify with nobody parked is two atomic
//! read-modify-writes and no lock; wakers are woken outside the lock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Wakes every task that [`listen`](Event::listen)ed before a [`notify_all`](Event::notify_all).
///
/// Guarantees: a [`Listener`] created before a `notify_all` completes (no lost wake-up, even
/// if it is first polled after the notification); a listener created after it waits for the
/// next one. Dropping a listener deregisters it, so abandoned requests leave nothing behind.
#[derive(Debug, Default)]
pub struct Event {
    /// Number of `notify_all` calls so far.
    epoch: AtomicU64,
    /// Wakers currently parked; read without the lock so that a notify with nobody parked
    /// stays off the mutex.
    parked: AtomicU64,
    waiters: Mutex<Waiters>,
}

#[derive(Debug, Default)]
struct Waiters {
    wakers: Slab<Waker>,
    /// Bumped every time `wakers` is emptied by a notify. A listener remembers the value at
    /// which it parked, so after a drain it never removes a slab key that has since been given
    /// to another listener.
    drained: u64,
}

/// The waiter list, even if a holder panicked (the bench's own lock use never does).
fn lock(waiters: &Mutex<Waiters>) -> MutexGuard<'_, Waiters> {
    waiters.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Event {
    /// An event nobody listens to yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A listener that completes on the first `notify_all` after this call.
    pub fn listen(&self) -> Listener<'_> {
        Listener {
            event: self,
            // An RMW read (see `notify_all`): the newest epoch, so a notify that happened
            // before this call is not waited for, and one after it always completes the
            // listener (a plain load could return an older epoch: a spurious wake-up).
            epoch: self.epoch.fetch_add(0, Ordering::AcqRel),
            key: None,
        }
    }

    /// Wakes every listener created before this call.
    pub fn notify_all(&self) {
        // With `poll`'s "count myself parked, then re-check the epoch" this is a Dekker pair:
        // either the poller sees the new epoch, or we see it parked. Both sides read with a
        // read-modify-write (`fetch_add(0)`) rather than a SeqCst load: an RMW reads the
        // newest value of its atomic, so the argument needs only acquire/release (RMW chains
        // order the two sides), which is also what `loom` can check exhaustively.
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if self.parked.fetch_add(0, Ordering::AcqRel) == 0 {
            return;
        }
        let wakers = {
            let mut waiters = lock(&self.waiters);
            waiters.drained = waiters.drained.wrapping_add(1);
            // Under the lock, like every other write of `parked`.
            self.parked.store(0, Ordering::Release);
            std::mem::take(&mut waiters.wakers)
        };
        // Outside the lock: waking runs executor code, and parked tasks re-listen at once.
        for (_, waker) in wakers {
            waker.wake();
        }
    }
}

/// A future that completes on the first [`Event::notify_all`] after it was created.
///
/// It is `Unpin` and cheap to drop: dropping it removes its waker from the event.
#[derive(Debug)]
#[must_use = "a listener does nothing unless awaited"]
pub struct Listener<'a> {
    event: &'a Event,
    epoch: u64,
    /// `(slab key, drain generation)` while parked.
    key: Option<(usize, u64)>,
}

impl Listener<'_> {
    fn notified(&self) -> bool {
        // An RMW read of the newest epoch: see `Event::notify_all`.
        self.event.epoch.fetch_add(0, Ordering::AcqRel) != self.epoch
    }

    /// Removes our waker if it is still in the current slab generation.
    fn unpark(&mut self) {
        if let Some((key, drained)) = self.key.take() {
            let mut waiters = lock(&self.event.waiters);
            if waiters.drained == drained && waiters.wakers.try_remove(key).is_some() {
                self.event.parked.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

impl Future for Listener<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notified() {
            self.unpark();
            return Poll::Ready(());
        }
        let event = self.event;
        let mut waiters = lock(&event.waiters);
        match self.key {
            // Still parked in this generation: keep the newest waker (tasks can move).
            Some((key, drained)) if drained == waiters.drained => {
                if let Some(parked) = waiters.wakers.get_mut(key) {
                    if !parked.will_wake(cx.waker()) {
                        parked.clone_from(cx.waker());
                    }
                }
            }
            // Not parked yet, or drained by a notify we have not observed yet: park anew.
            _ => {
                let key = waiters.wakers.insert(cx.waker().clone());
                event.parked.fetch_add(1, Ordering::AcqRel);
                self.key = Some((key, waiters.drained));
            }
        }
        drop(waiters);
        // Re-check after parking: a notify that counted no parked waiter before our increment
        // is seen here (the other half of the Dekker pair in `notify_all`).
        if self.notified() {
            self.unpark();
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Listener<'_> {
    fn drop(&mut self) {
        self.unpark();
    }
}

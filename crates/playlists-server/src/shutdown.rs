//! [`Shutdown`]: the one signal that stops delivery and every source together.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use playlists::Event;

/// Set once when the server starts shutting down; cheap to clone (a handle).
///
/// The binary makes one and hands it to delivery (held requests are woken by it and
/// answered 503, so draining connections does not wait out 3 × TARGETDURATION) and to every
/// source (an ingest loop stops reading and its stream enters its grace period).
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    started: AtomicBool,
    handed_over: AtomicBool,
    /// The library's eventcount: one notify wakes every waiter.
    event: Event,
}

impl Shutdown {
    /// Starts the shutdown and wakes every waiter.
    pub fn begin(&self) {
        // Release, before the notify: a woken waiter that re-checks sees `true`.
        self.0.started.store(true, Ordering::Release);
        self.0.event.notify_all();
    }

    /// Says that another process accepts on the listening socket now (an upgrade,
    /// [`crate::upgrade`]). Called before the accept loop stops, it makes
    /// [`serve_on`](crate::http::serve_on) drain gently: held requests are answered as the
    /// streams go on, and [`begin`](Self::begin) comes only once the players' connections
    /// have closed.
    pub fn hand_over(&self) {
        self.0.handed_over.store(true, Ordering::Release);
    }

    /// Whether [`hand_over`](Self::hand_over) was called.
    pub fn is_handed_over(&self) -> bool {
        self.0.handed_over.load(Ordering::Acquire)
    }

    /// Whether [`begin`](Self::begin) was called.
    pub fn is_started(&self) -> bool {
        self.0.started.load(Ordering::Acquire)
    }

    /// Completes once the shutdown has begun.
    pub async fn wait(&self) {
        loop {
            // Listen before checking, so a `begin` in between is not missed.
            let listener = self.0.event.listen();
            if self.is_started() {
                return;
            }
            listener.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_wakes_waiters_of_every_clone() {
        let s = Shutdown::default();
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!s.is_started());
        s.begin();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        s.wait().await; // already begun: returns at once
    }
}

//! The wait primitive: an *eventcount* on `tokio::sync::Notify`.
//!
//! A blocking playlist request (`_HLS_msn=M&_HLS_part=P`) or a request for the hinted part has
//! to sleep until a publisher makes its condition true, with no polling and with thousands of
//! such requests per stream. [`Event`] does that:
//!
//! ```text
//!  waiter                                   publisher
//!  ──────                                   ─────────
//!  let l = ev.listen();                     store the data
//!  if condition() { done }                  ev.notify_all()   // wakes every listener made
//!  l.await                                                    // before this call
//! ```
//!
//! A listener counts the notifications from the moment it is *made*, not first polled, so a
//! publish that lands between the check and the `await` is never lost: the listener completes
//! at once. [`Event::wait_until`] is that loop with a deadline.
//!
//! # Why `Notify`, and why a wrapper
//!
//! The library had its own eventcount (an epoch counter and a slab of wakers, model-checked
//! with loom). `benches/wait.rs` measures it (kept as the bench's reference) against
//! `tokio::sync::Notify` in one run: 10,000 tasks parked on one event on a 2-worker runtime,
//! one notify from a publisher thread wakes them all. Medians of 9 alternating runs
//! (`PLAYLISTS_BENCH_ROUNDS=9 cargo bench -p playlists --bench wait`), on two cores shared
//! with other builds:
//!
//! | figure                                  | hand-written | `Notify` |
//! |-----------------------------------------|--------------|----------|
//! | notify → last of 10,000 tasks running   | 13.4 ms      | 13.4 ms  |
//! | the notifying call itself               | 7.0 ms       | 6.0 ms   |
//! | heap per parked task (task + waiter)    | 282 B        | 256 B    |
//! | notify with nobody parked               | 17.6 ns      | 26.4 ns  |
//!
//! Wake-up latency is a tie within this machine's noise (single runs of 5 ranged from 0.7×
//! to 1.7× either way); `Notify` parks without allocating (its waiter node lives in the
//! future, where the slab grew again after every notify) and so holds less per waiter; the
//! hand-written one is 9 ns cheaper per publish nobody waits for, against the tens of
//! microseconds a publish spends rendering and compressing. With no figure for it, the
//! hand-written primitive is not worth its upkeep; `Notify` is maintained and model-checked
//! with loom by tokio.
//!
//! `Event` stays a type of its own so that only the eventcount half of `Notify` is reachable:
//! `notify_waiters`, which wakes the listeners that exist and stores nothing. `Notify`'s other
//! half (`notify_one`) stores a permit that a *later* listener would consume, which here would
//! complete a request's wait before its condition was made true.

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{Error, Result};

/// Wakes every task that [`listen`](Event::listen)ed before a [`notify_all`](Event::notify_all).
///
/// Guarantees: a [`Listener`] made before a `notify_all` completes (no lost wake-up, even if it
/// is first polled after the notification); a listener made after it waits for the next one.
/// Dropping a listener deregisters it, so abandoned requests leave nothing behind, and parking
/// allocates nothing.
#[derive(Debug, Default)]
pub struct Event(Notify);

/// A future that completes on the first [`Event::notify_all`] after it was made. Cheap to
/// drop: dropping it unlinks it from the event.
pub type Listener<'a> = tokio::sync::futures::Notified<'a>;

impl Event {
    /// An event nobody listens to yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A listener that completes on the first `notify_all` after this call.
    pub fn listen(&self) -> Listener<'_> {
        self.0.notified()
    }

    /// Wakes every listener made before this call. Make the condition true first: a woken
    /// waiter checks it again and waits anew if it does not hold.
    pub fn notify_all(&self) {
        self.0.notify_waiters();
    }

    /// Waits, without polling, until `check` gives an answer: it listens, then runs `check`,
    /// and awaits the next [`notify_all`](Self::notify_all) only while `check` returns
    /// `Ok(None)` ("not yet"). Whoever makes the condition true notifies after doing so.
    ///
    /// # Errors
    /// What `check` returns, and [`Error::WaitTimeout`] (the time waited) at `deadline`.
    pub async fn wait_until<T>(
        &self,
        deadline: Instant,
        mut check: impl FnMut() -> Result<Option<T>>,
    ) -> Result<T> {
        let started = Instant::now();
        loop {
            // Listen before checking: a publish between the check and the await is not lost.
            let listener = self.listen();
            if let Some(answer) = check()? {
                return Ok(answer);
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
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    fn poll_once(listener: std::pin::Pin<&mut Listener<'_>>) -> Poll<()> {
        listener.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn notify_before_first_poll_is_not_lost() {
        let ev = Event::new();
        let mut l = pin!(ev.listen());
        ev.notify_all();
        assert_eq!(poll_once(l.as_mut()), Poll::Ready(()));
    }

    #[test]
    fn listener_after_notify_waits_for_the_next_and_nothing_is_stored() {
        let ev = Event::new();
        ev.notify_all();
        let mut l = pin!(ev.listen());
        assert_eq!(
            poll_once(l.as_mut()),
            Poll::Pending,
            "no permit left behind"
        );
        ev.notify_all();
        assert_eq!(poll_once(l.as_mut()), Poll::Ready(()));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_until_answers_fails_or_times_out() {
        let ev = Arc::new(Event::new());
        let ready = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (ev, ready) = (Arc::clone(&ev), Arc::clone(&ready));
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(5);
                ev.wait_until(deadline, || Ok(ready.load(Ordering::Acquire).then_some(7)))
                    .await
            })
        };
        tokio::task::yield_now().await;
        ready.store(true, Ordering::Release);
        ev.notify_all();
        assert_eq!(waiter.await.unwrap(), Ok(7));

        let deadline = Instant::now() + Duration::from_secs(3);
        let never = ev.wait_until(deadline, || Ok(None::<()>)).await;
        assert_eq!(never, Err(Error::WaitTimeout(Duration::from_secs(3))));
        let refused = ev
            .wait_until(deadline, || Err::<Option<()>, _>(Error::IdOutOfRange(1)))
            .await;
        assert_eq!(refused, Err(Error::IdOutOfRange(1)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thousands_of_tasks_wake_on_one_notify() {
        const TASKS: usize = 2000;
        let ev = Arc::new(Event::new());
        let ready = Arc::new(AtomicBool::new(false));
        let parked = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (ev, ready, parked) =
                    (Arc::clone(&ev), Arc::clone(&ready), Arc::clone(&parked));
                tokio::spawn(async move {
                    let l = ev.listen();
                    assert!(
                        !ready.load(Ordering::Acquire),
                        "listened before the publish"
                    );
                    parked.fetch_add(1, Ordering::Relaxed);
                    // Exactly one notify follows: this completes only if it reaches us.
                    l.await;
                })
            })
            .collect();
        for _ in 0..400 {
            if parked.load(Ordering::Relaxed) == TASKS {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ready.store(true, Ordering::Release);
        ev.notify_all();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .expect("every task woke on the one notify")
                .expect("task ran");
        }
    }
}

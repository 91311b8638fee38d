//! Model checks of the wait primitive: no lost wake-up between "check the condition" and
//! "await the listener", under every interleaving `loom` can produce. A lost wake-up shows as
//! a deadlock, which loom reports. Run with
//! `RUSTFLAGS="--cfg playlists_loom" cargo test -p playlists --release --test loom_wait`.
#![cfg(playlists_loom)]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use playlists::wait::Event;

async fn wait_until(ev: &Event, flag: &AtomicBool) {
    loop {
        let listener = ev.listen();
        if flag.load(Ordering::Acquire) {
            return;
        }
        listener.await;
    }
}

#[test]
fn a_publish_between_check_and_await_is_never_lost() {
    loom::model(|| {
        let ev = Arc::new(Event::new());
        let flag = Arc::new(AtomicBool::new(false));
        let publisher = {
            let (ev, flag) = (Arc::clone(&ev), Arc::clone(&flag));
            thread::spawn(move || {
                flag.store(true, Ordering::Release);
                ev.notify_all();
            })
        };
        loom::future::block_on(wait_until(&ev, &flag));
        publisher.join().unwrap();
    });
}

#[test]
fn two_waiters_both_wake_on_one_notify() {
    loom::model(|| {
        let ev = Arc::new(Event::new());
        let flag = Arc::new(AtomicBool::new(false));
        let other = {
            let (ev, flag) = (Arc::clone(&ev), Arc::clone(&flag));
            thread::spawn(move || loom::future::block_on(wait_until(&ev, &flag)))
        };
        let publisher = {
            let (ev, flag) = (Arc::clone(&ev), Arc::clone(&flag));
            thread::spawn(move || {
                flag.store(true, Ordering::Release);
                ev.notify_all();
            })
        };
        loom::future::block_on(wait_until(&ev, &flag));
        other.join().unwrap();
        publisher.join().unwrap();
    });
}

#[test]
fn a_dropped_listener_never_steals_a_wake_up() {
    loom::model(|| {
        let ev = Arc::new(Event::new());
        let flag = Arc::new(AtomicBool::new(false));
        let quitter = {
            let ev = Arc::clone(&ev);
            thread::spawn(move || {
                // Registers (maybe) and leaves.
                let l = ev.listen();
                drop(l);
            })
        };
        let publisher = {
            let (ev, flag) = (Arc::clone(&ev), Arc::clone(&flag));
            thread::spawn(move || {
                flag.store(true, Ordering::Release);
                ev.notify_all();
            })
        };
        loom::future::block_on(wait_until(&ev, &flag));
        quitter.join().unwrap();
        publisher.join().unwrap();
    });
}

//! [`EventLoops`]: single-threaded Tokio runtimes on threads of their own, for
//! [`serve_on`](crate::http::serve_on) to spread connections over.
//!
//! The binary runs one event loop per core: its main thread's runtime plus `cores - 1` of
//! these. A connection then lives on one thread for its whole life (nginx's worker model)
//! instead of being stolen between the workers of a multi-threaded runtime, which on a small
//! machine shared with other processes (a load generator, an encoder) costs throughput.
//! Everything else (held-request wake-ups from a publish, shutdown) crosses runtimes through
//! wakers, which Tokio supports between any runtimes.

use std::io;
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// Running event loops; dropping this stops them (their tasks are dropped) and joins their
/// threads.
#[derive(Debug)]
pub struct EventLoops {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl EventLoops {
    /// Starts `count` single-threaded runtimes (I/O and timers enabled), each on its own
    /// thread named `playlists-loop-N`.
    ///
    /// # Errors
    /// A runtime or a thread could not be created (the ones already started are stopped).
    pub fn start(count: usize) -> io::Result<Self> {
        let mut loops = Self {
            handles: Vec::with_capacity(count),
            stops: Vec::with_capacity(count),
            threads: Vec::with_capacity(count),
        };
        for i in 0..count {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            loops.handles.push(runtime.handle().clone());
            let thread = std::thread::Builder::new()
                .name(format!("playlists-loop-{}", i + 1))
                .spawn(move || {
                    // Runs the tasks handed to this runtime until told to stop (or until the
                    // `EventLoops` is dropped, which drops `stop`).
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                })?;
            loops.stops.push(stop);
            loops.threads.push(thread);
        }
        Ok(loops)
    }

    /// The runtimes' handles, to spawn on.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// The calling task's runtime followed by these loops: what a server that also serves
    /// connections on its own thread passes to [`serve_on`](crate::http::serve_on).
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn with_current(&self) -> Vec<Handle> {
        std::iter::once(Handle::current())
            .chain(self.handles.iter().cloned())
            .collect()
    }
}

impl Drop for EventLoops {
    fn drop(&mut self) {
        self.stops.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_the_loops_own_threads_and_drop_stops_them() {
        let loops = EventLoops::start(2).unwrap();
        let names: Vec<String> = loops
            .handles()
            .iter()
            .map(|h| {
                let (tx, rx) = std::sync::mpsc::channel();
                h.spawn(async move {
                    let _ = tx.send(std::thread::current().name().map(str::to_owned));
                });
                rx.recv().unwrap().unwrap()
            })
            .collect();
        assert_eq!(names, ["playlists-loop-1", "playlists-loop-2"]);
        drop(loops); // joins: would hang if a loop did not stop
    }
}

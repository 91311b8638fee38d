//! The library's wait primitive ([`playlists::wait::Event`], a hand-written eventcount)
//! against `tokio::sync::Notify` on the workload it exists for, in one process and one run.
//! Prints one JSON object per line: `{"bench":…,"impl":"wait::Event"|"tokio::Notify",…}` with
//! the median of the alternating runs, then one `"impl":"ratio"` line (Notify ÷ Event, so
//! above 1 means Notify costs more). The figures and the verdict are in `src/wait.rs`.
//!
//! Workloads, on a 2-worker tokio runtime like the server's per-core loops:
//! * `wake_all` — `PLAYLISTS_BENCH_WAITERS` tasks (default 10,000; the held requests of one
//!   stream) each listen, find their condition false and park; a publisher thread outside the
//!   runtime sets the condition and notifies once; then again, `PLAYLISTS_BENCH_CYCLES`
//!   times (default 10) once every task has parked anew, as held requests do after each part.
//!   Figures (the median cycle): `wake_all_ms`, from just before the notify to the last task
//!   running after it; `notify_call_us`, how long the notifying
//!   call itself takes (the publisher's cost); `heap_bytes_per_waiter`, the heap a parked
//!   task holds (its task cell with the future, plus the primitive's own bookkeeping),
//!   counted exactly by this binary's allocator; `future_bytes`, the size of that future.
//! * `notify_no_waiters` — one thread notifies with nobody parked, as a publisher does for
//!   every part of a stream nobody is blocked on: `ns_per_notify`.
//!
//! `cargo bench -p playlists --bench wait` (`PLAYLISTS_BENCH_ROUNDS`, default 3, runs each;
//! `PLAYLISTS_BENCH_SECS` sets the length of a `notify_no_waiters` run; arguments filter
//! workloads by name). Under `cargo test --all-targets` it makes a silent smoke run.

#[path = "support/report.rs"]
#[allow(dead_code)] // `rss_bytes`: this bench counts heap bytes exactly instead
mod report;

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::sync::atomic::{AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use playlists::wait::Event;
use report::{duration, median, rounds, selected, smoke, Figures, Line};
use tokio::sync::Notify;

type BenchResult = Result<(), Box<dyn std::error::Error>>;

/// The system allocator, counting the bytes live: what a parked waiter holds, measured
/// exactly rather than read off the resident set (which the previous run's freed pages blur).
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` with the caller's arguments unchanged; the
// counter is bookkeeping only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// What the waiting tasks of one run share.
struct Shared {
    /// The publish the tasks wait for: cycle `c` waits until this is at least `c`.
    cycle: AtomicUsize,
    /// Tasks that found the condition false and are about to await.
    parked: AtomicUsize,
    /// Tasks that ran after the notify.
    woken: AtomicUsize,
    waiters: usize,
    base: Instant,
    /// Nanoseconds after `base` at which the notify started, and the last task ran.
    notified_ns: AtomicU64,
    last_ns: AtomicU64,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    fn woke(&self, cycle: usize) {
        if self.woken.fetch_add(1, Ordering::AcqRel) + 1 == self.waiters * cycle {
            self.last_ns.store(self.now_ns(), Ordering::Release);
        }
    }
}

/// A wait primitive under test, used the way the library uses one: listen, check, await.
trait Primitive: Send + Sync + Sized + 'static {
    const NAME: &'static str;
    fn create() -> Self;
    fn publish(&self);
    fn waiter(this: Arc<Self>, shared: Arc<Shared>) -> impl Future<Output = ()> + Send + 'static;
}

impl Primitive for Event {
    const NAME: &'static str = "wait::Event";

    fn create() -> Self {
        Event::new()
    }

    fn publish(&self) {
        self.notify_all();
    }

    async fn waiter(this: Arc<Self>, shared: Arc<Shared>) {
        for cycle in 1..=cycles() {
            loop {
                let listener = this.listen();
                if shared.cycle.load(Ordering::Acquire) >= cycle {
                    break;
                }
                shared.parked.fetch_add(1, Ordering::Relaxed);
                listener.await;
            }
            shared.woke(cycle);
        }
    }
}

impl Primitive for Notify {
    const NAME: &'static str = "tokio::Notify";

    fn create() -> Self {
        Notify::new()
    }

    fn publish(&self) {
        self.notify_waiters();
    }

    async fn waiter(this: Arc<Self>, shared: Arc<Shared>) {
        for cycle in 1..=cycles() {
            loop {
                // A `Notified` counts `notify_waiters` calls from its creation on, so a
                // notify between the check and the await is not lost (as with `Event`).
                let notified = this.notified();
                if shared.cycle.load(Ordering::Acquire) >= cycle {
                    break;
                }
                shared.parked.fetch_add(1, Ordering::Relaxed);
                notified.await;
            }
            shared.woke(cycle);
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
}

fn waiters() -> usize {
    if smoke() {
        return 200;
    }
    std::env::var("PLAYLISTS_BENCH_WAITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(10_000)
}

/// How many publishes each `wake_all` run makes to the same parked tasks (a stream's held
/// requests re-park after every part): `PLAYLISTS_BENCH_CYCLES`, default 10.
fn cycles() -> usize {
    if smoke() {
        return 2;
    }
    std::env::var("PLAYLISTS_BENCH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(10)
}

/// Sleeps until `count` reaches `target`, or fails after 30 s.
fn await_count(count: &AtomicUsize, target: usize, what: &str) -> Result<(), String> {
    let give_up = Instant::now() + Duration::from_secs(30);
    while count.load(Ordering::Acquire) < target {
        if Instant::now() > give_up {
            return Err(format!(
                "{what}: {} of {target}",
                count.load(Ordering::Relaxed)
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}

/// One `wake_all` run of `P` with `n` waiters: `cycles()` publishes, each once every task has
/// parked again; figures are the median cycle (the heap is read once, all tasks parked).
fn wake_all<P: Primitive>(rt: &tokio::runtime::Runtime, n: usize) -> Result<Figures, String> {
    let primitive = Arc::new(P::create());
    let shared = Arc::new(Shared {
        cycle: AtomicUsize::new(0),
        parked: AtomicUsize::new(0),
        woken: AtomicUsize::new(0),
        waiters: n,
        base: Instant::now(),
        notified_ns: AtomicU64::new(0),
        last_ns: AtomicU64::new(0),
    });
    let future_bytes =
        std::mem::size_of_val(&P::waiter(Arc::clone(&primitive), Arc::clone(&shared)));
    let mut tasks = Vec::with_capacity(n);
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    for _ in 0..n {
        tasks.push(rt.spawn(P::waiter(Arc::clone(&primitive), Arc::clone(&shared))));
    }
    let (mut wake_ms, mut call_us, mut held) = (Vec::new(), Vec::new(), 0);
    for cycle in 1..=cycles() {
        await_count(&shared.parked, n * cycle, P::NAME)?;
        // Counted as parked just before their await: let the last polls return.
        std::thread::sleep(Duration::from_millis(20));
        if cycle == 1 {
            held = LIVE_BYTES.load(Ordering::Relaxed) - before;
        }
        shared.cycle.store(cycle, Ordering::Release);
        shared.notified_ns.store(shared.now_ns(), Ordering::Release);
        let call = Instant::now();
        primitive.publish();
        call_us.push(call.elapsed().as_secs_f64() * 1e6);
        await_count(&shared.woken, n * cycle, P::NAME)?;
        let ns =
            shared.last_ns.load(Ordering::Acquire) - shared.notified_ns.load(Ordering::Acquire);
        wake_ms.push(ns as f64 / 1e6);
    }
    rt.block_on(async {
        for task in tasks {
            task.await.map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(())
    })?;
    Ok(vec![
        ("waiters", n as f64),
        ("wake_all_ms", median(&mut wake_ms)),
        ("notify_call_us", median(&mut call_us)),
        ("heap_bytes_per_waiter", held as f64 / n as f64),
        ("future_bytes", future_bytes as f64),
    ])
}

/// One `notify_no_waiters` run of `P`.
fn notify_no_waiters<P: Primitive>() -> Figures {
    let primitive = P::create();
    let secs = duration();
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < secs {
        for _ in 0..1024 {
            primitive.publish();
        }
        calls += 1024;
    }
    vec![(
        "ns_per_notify",
        start.elapsed().as_nanos() as f64 / calls as f64,
    )]
}

/// Runs both primitives `rounds()` times, alternating, and prints each one's median figures
/// and the ratio line (Notify ÷ Event).
fn compare(bench: &str, mut run: impl FnMut(bool) -> Result<Figures, String>) -> BenchResult {
    let mut runs: [Vec<Figures>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..rounds() {
        runs[0].push(run(false)?);
        runs[1].push(run(true)?);
    }
    let keys: Vec<&'static str> = runs[0][0].iter().map(|(k, _)| *k).collect();
    let mut lines = Vec::new();
    for (name, runs) in [Event::NAME, Notify::NAME].into_iter().zip(&runs) {
        let mut line = Line::new(bench, name);
        for &key in &keys {
            let mut xs: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
                .collect();
            line = line.with(key, median(&mut xs));
        }
        line = line.with("runs", runs.len());
        line.print();
        lines.push(line);
    }
    let mut ratio = Line::new(bench, "ratio");
    for &key in &keys {
        ratio = ratio.with(
            key,
            lines[1].num(key).zip(lines[0].num(key)).map(|(n, e)| n / e),
        );
    }
    ratio.print();
    Ok(())
}

fn main() -> BenchResult {
    if selected("wake_all") {
        let rt = runtime()?;
        let n = waiters();
        compare("wake_all", |notify| {
            if notify {
                wake_all::<Notify>(&rt, n)
            } else {
                wake_all::<Event>(&rt, n)
            }
        })?;
    }
    if selected("notify_no_waiters") {
        compare("notify_no_waiters", |notify| {
            Ok(if notify {
                notify_no_waiters::<Notify>()
            } else {
                notify_no_waiters::<Event>()
            })
        })?;
    }
    Ok(())
}

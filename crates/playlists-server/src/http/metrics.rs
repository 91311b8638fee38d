//! The server's own counters: requests by route and status, response bytes, connections.
//!
//! Request counters are a fixed table of atomics indexed by route and status, so counting a
//! request takes no lock and allocates nothing. `GET /metrics` (`scrape.rs`) reads them, with
//! the per-stream figures of the library, when the metrics are scraped.
//!
//! Every answered request bumps two counters (its route and status, and the bytes out). With
//! one table shared by all event loops, each of those increments would pull the same cache
//! line from whichever core counted last, on every request, and that traffic grows with the
//! number of cores. So the table is split into shards, one per thread as far as there are
//! shards (a thread takes the next one the first time it counts); a scrape adds them up.
//! Counting stays an uncontended `fetch_add` on a line the thread owns: with two threads
//! counting at once, 14× faster per call than one shared table (`cargo bench -p
//! playlists-server --bench metrics`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use http::StatusCode;

use super::route_kind::RouteKind;

/// Statuses counted individually; anything else is counted as `other`.
const STATUSES: [u16; 17] = [
    200, 204, 206, 304, 400, 401, 403, 404, 405, 406, 408, 409, 413, 416, 431, 500, 503,
];
const OTHER: usize = STATUSES.len();

/// Shards at most, whatever the number of cores: enough for the event loops of a large
/// machine, and 64 × 1.8 KB stays small.
const MAX_SHARDS: usize = 64;

/// One thread's share of the request counters. Aligned to 128 bytes (two cache lines, the
/// unit of the adjacent-line prefetcher) so that no two shards share a line.
#[derive(Debug)]
#[repr(align(128))]
struct Shard {
    /// `[route][status]` answered requests.
    requests: [[AtomicU64; STATUSES.len() + 1]; RouteKind::ALL.len()],
    /// Body bytes of the answers handed to the connections.
    bytes_out: AtomicU64,
}

impl Default for Shard {
    fn default() -> Self {
        Self {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            bytes_out: AtomicU64::new(0),
        }
    }
}

/// The shard index of the calling thread: threads are numbered in the order they first
/// count. Only the event loops count, and there are as many shards as cores (one loop each by
/// default), so each loop gets a shard of its own.
fn thread_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    INDEX.with(|i| *i)
}

fn status_index(status: u16) -> usize {
    STATUSES.iter().position(|&c| c == status).unwrap_or(OTHER)
}

/// Server-wide counters. Every field is monotonic except where noted; all use Relaxed
/// ordering, since each is read on its own and no other data hangs on them. A sum over the
/// shards read while requests are being counted lies between the totals at the start and at
/// the end of the read, so the counters a scrape reports never go backwards.
#[derive(Debug)]
pub struct Metrics {
    /// Request counters, one shard per thread (modulo their number).
    shards: Box<[Shard]>,
    /// Connections accepted (counted by the accept loop alone).
    connections: AtomicU64,
    /// Connections that ended with an error (reset, timeout, TLS handshake failure).
    connection_errors: AtomicU64,
    /// Connections accepted and not yet ended (a gauge: goes down as well as up).
    connections_open: AtomicU64,
}

impl Default for Metrics {
    /// One shard per core (the server runs one event loop per core), at most 64.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_shards(cores)
    }
}

impl Metrics {
    /// Counters split into `shards` shards (at least 1, at most 64). Threads beyond that many
    /// share shards: still exact, only no longer free of contention.
    pub fn with_shards(shards: usize) -> Self {
        Self {
            shards: (0..shards.clamp(1, MAX_SHARDS))
                .map(|_| Shard::default())
                .collect(),
            connections: AtomicU64::new(0),
            connection_errors: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
        }
    }

    fn shard(&self) -> &Shard {
        &self.shards[thread_shard() % self.shards.len()]
    }

    /// Counts one answered request and its body size, in the calling thread's shard.
    pub fn record(&self, route: RouteKind, status: StatusCode, body_len: u64) {
        let shard = self.shard();
        let s = status_index(status.as_u16());
        if let Some(row) = shard.requests.get(route as usize) {
            row[s].fetch_add(1, Ordering::Relaxed);
        }
        if body_len > 0 {
            shard.bytes_out.fetch_add(body_len, Ordering::Relaxed);
        }
    }

    /// Counts an accepted connection. Pair it with [`connection_closed`](Self::connection_closed)
    /// when the connection ends, or the open-connection gauge drifts up.
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the end of a connection counted by [`connection_opened`](Self::connection_opened).
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connections accepted and not yet ended.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// Counts a connection that ended with an error.
    pub fn connection_failed(&self) {
        self.connection_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Connections that ended with an error so far.
    pub fn connection_errors(&self) -> u64 {
        self.connection_errors.load(Ordering::Relaxed)
    }

    /// Answered requests of `route` with `status` so far, over all threads.
    pub fn requests(&self, route: RouteKind, status: StatusCode) -> u64 {
        self.requests_at(route as usize, status_index(status.as_u16()))
    }

    /// Response body bytes handed to connections so far, over all threads.
    pub fn bytes_out(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.bytes_out.load(Ordering::Relaxed))
            .sum()
    }

    /// Every `(route, status, answered requests)` counted so far, summed over all threads,
    /// in route and status order; combinations never counted are left out. The status is
    /// `None` for those counted as `other` (not in the individually counted set).
    pub fn request_counts(&self) -> impl Iterator<Item = (RouteKind, Option<u16>, u64)> + '_ {
        RouteKind::ALL.into_iter().flat_map(move |route| {
            (0..=OTHER).filter_map(move |i| {
                let n = self.requests_at(route as usize, i);
                (n > 0).then(|| (route, STATUSES.get(i).copied(), n))
            })
        })
    }

    fn requests_at(&self, route: usize, status: usize) -> u64 {
        self.shards
            .iter()
            .filter_map(|s| s.requests.get(route))
            .map(|row| row[status].load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_from_many_threads_add_up_and_stay_in_each_threads_shard() {
        const PER_THREAD: u64 = 10_000;
        let m = Arc::new(Metrics::with_shards(4));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for _ in 0..PER_THREAD {
                        m.record(RouteKind::Part, StatusCode::OK, 3);
                    }
                    if t % 2 == 0 {
                        // Not in STATUSES: counted as `other`.
                        m.record(RouteKind::Playlist, StatusCode::IM_A_TEAPOT, 0);
                    }
                    thread_shard()
                })
            })
            .collect();
        let indices: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();

        assert_eq!(m.requests(RouteKind::Part, StatusCode::OK), 8 * PER_THREAD);
        assert_eq!(m.bytes_out(), 8 * PER_THREAD * 3);
        assert_eq!(m.requests(RouteKind::Playlist, StatusCode::IM_A_TEAPOT), 4);
        assert_eq!(m.requests(RouteKind::Playlist, StatusCode::GONE), 4);
        assert_eq!(m.requests(RouteKind::Part, StatusCode::NOT_FOUND), 0);
        // What a scrape reads: only the combinations counted, `other` as no status.
        assert_eq!(
            m.request_counts().collect::<Vec<_>>(),
            [
                (RouteKind::Playlist, None, 4),
                (RouteKind::Part, Some(200), 8 * PER_THREAD)
            ]
        );
        // Each thread counted into its own shard only.
        for (i, shard) in m.shards.iter().enumerate() {
            let mine = indices.iter().filter(|&&x| x % 4 == i).count() as u64;
            let ok = status_index(200);
            assert_eq!(
                shard.requests[RouteKind::Part as usize][ok].load(Ordering::Relaxed),
                mine * PER_THREAD
            );
        }
    }

    #[test]
    fn threads_get_distinct_shards_and_the_count_is_bounded() {
        let a = std::thread::spawn(thread_shard).join().unwrap();
        let b = std::thread::spawn(thread_shard).join().unwrap();
        assert_ne!(a, b);
        // The same thread keeps its shard.
        assert_eq!(thread_shard(), thread_shard());
        assert_eq!(Metrics::with_shards(0).shards.len(), 1);
        assert_eq!(Metrics::with_shards(1000).shards.len(), MAX_SHARDS);
        // No two shards share a cache line (or the adjacent one the prefetcher pulls in).
        let m = Metrics::with_shards(2);
        let gap =
            std::ptr::addr_of!(m.shards[1]) as usize - std::ptr::addr_of!(m.shards[0]) as usize;
        assert_eq!(gap % 128, 0);
        assert!(gap >= std::mem::size_of::<Shard>());
    }
}

//! Request-counter benchmark; one JSON object per line.
//!
//! * `metrics/record` — `Metrics::record` from T threads at once (each counting answers of
//!   one route and status with their body bytes, as the event loops do), in ns per call,
//!   with the counters split into one shard per thread (the server's default) against one
//!   shard shared by all threads (the reference: the layout before sharding), in the same
//!   run, alternating.
//!
//! Run: `cargo bench -p playlists-server --bench metrics`.

use std::sync::{Arc, Barrier};
use std::time::Instant;

use http::StatusCode;
use playlists_server::http::{Metrics, RouteKind};

/// Calls per thread and measurement; `cargo test --all-targets` runs the bench too, without
/// `--bench`, and then a thousandth of them shows that it works without the cost of measuring.
fn calls() -> u64 {
    if std::env::args().any(|a| a == "--bench") {
        20_000_000
    } else {
        20_000
    }
}
const ROUNDS: usize = 5;

/// ns per `record` call with `threads` threads counting into `metrics` at once (the slowest
/// thread's time, as the work ends when all are done).
fn run(metrics: &Arc<Metrics>, threads: usize) -> f64 {
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (m, start) = (Arc::clone(metrics), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let t = Instant::now();
                for _ in 0..calls() {
                    m.record(RouteKind::Part, StatusCode::OK, 30_000);
                }
                t.elapsed()
            })
        })
        .collect();
    let slowest = handles
        .into_iter()
        .map(|h| h.join().expect("bench thread"))
        .max()
        .unwrap_or_default();
    slowest.as_nanos() as f64 / calls() as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    for threads in [1, 2, cores.max(2)]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (mut sharded, mut shared) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            // Fresh counters (and fresh threads, so fresh shard indices) each round.
            let m = Arc::new(Metrics::with_shards(threads));
            sharded.push(run(&m, threads));
            assert_eq!(
                m.requests(RouteKind::Part, StatusCode::OK),
                calls() * threads as u64
            );
            let m = Arc::new(Metrics::with_shards(1));
            shared.push(run(&m, threads));
            assert_eq!(m.bytes_out(), calls() * threads as u64 * 30_000);
        }
        let (sharded, shared) = (median(sharded), median(shared));
        println!(
            "{{\"bench\":\"metrics/record\",\"threads\":{threads},\"cores\":{cores},\
             \"ns_per_call\":{sharded:.2},\"reference\":\"one_shared_shard\",\
             \"reference_ns_per_call\":{shared:.2},\"speedup\":{:.2}}}",
            shared / sharded
        );
    }
}

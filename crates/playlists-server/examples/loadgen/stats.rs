//! Counters and latency histograms of the simulated players.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use std::collections::HashMap;
use std::time::Instant;

use super::{lock, Failure};

/// Latencies in µs, in buckets about 3 % wide: bounded memory over any run length, the
/// percentiles exact to a bucket, the maximum exact.
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    pub(crate) counts: BTreeMap<u32, u64>,
    pub(crate) total: u64,
    pub(crate) max_us: u64,
}

impl Histogram {
    /// 32 buckets per doubling above 64 µs; each µs its own bucket below.
    pub(crate) fn bucket(us: u64) -> u32 {
        if us < 64 {
            return us as u32;
        }
        let log = 63 - us.leading_zeros(); // ≥ 6
        let frac = ((us >> (log - 5)) & 31) as u32;
        64 + (log - 6) * 32 + frac
    }

    /// The largest value in bucket `b`.
    pub(crate) fn upper(b: u32) -> u64 {
        if b < 64 {
            return u64::from(b);
        }
        let log = (b - 64) / 32 + 6;
        let frac = u64::from((b - 64) % 32);
        ((32 + frac + 1) << (log - 5)) - 1
    }

    pub(crate) fn record(&mut self, us: u64) {
        *self.counts.entry(Self::bucket(us)).or_default() += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    /// The `p` quantile in ms (the upper end of its bucket, at most the maximum).
    pub(crate) fn percentile_ms(&self, p: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((self.total as f64 * p).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, n) in &self.counts {
            seen += n;
            if seen >= rank {
                return Self::upper(*b).min(self.max_us) as f64 / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Streams played (sizes the fan-out map's pruning).
    pub(crate) streams: usize,
    pub(crate) requests: AtomicU64,
    pub(crate) errors: AtomicU64,
    /// A hint that did not follow the previous one by exactly one part.
    pub(crate) gaps: AtomicU64,
    /// Parts skipped by those hints.
    pub(crate) lost_parts: AtomicU64,
    /// A hint equal to or before the previous one.
    pub(crate) duplicates: AtomicU64,
    /// A playlist whose listed part numbers have a hole.
    pub(crate) listing_gaps: AtomicU64,
    pub(crate) msn_regressions: AtomicU64,
    pub(crate) parts: AtomicU64,
    pub(crate) part_bytes: AtomicU64,
    /// The highest discontinuity number (EXT-X-DISCONTINUITY-SEQUENCE plus the tags listed)
    /// any player has seen.
    pub(crate) discontinuities: AtomicU64,
    /// Times a player found the stream started over under new numbers (an origin restart,
    /// or the new process after a hand-over) and followed it.
    pub(crate) new_runs: AtomicU64,
    /// Requests sent again after the origin closed a kept-alive connection before answering.
    pub(crate) retries: AtomicU64,
    /// First arrival per (stream, part number), for the fan-out spread; pruned as the
    /// streams move on (their part numbers come from the date, so they move alike).
    pub(crate) first_arrival: Mutex<HashMap<(usize, u64), Instant>>,
    /// (this interval, whole run).
    pub(crate) fanout: Mutex<(Histogram, Histogram)>,
    pub(crate) blocking: Mutex<(Histogram, Histogram)>,
    pub(crate) error_kinds: Mutex<BTreeMap<&'static str, u64>>,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Stats {
    pub(crate) fn error(&self, f: &Failure) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *lock(&self.error_kinds).entry(f.kind).or_default() += 1;
        *lock(&self.last_error) = Some(format!("{}: {:#}", f.kind, f.error));
    }

    /// Part `part` of stream `stream` reached a player at `at`.
    pub(crate) fn arrived(&self, stream: usize, part: u64, at: Instant) {
        let first = {
            let mut map = lock(&self.first_arrival);
            if map.len() > 4096 + 64 * self.streams {
                let newest = map.keys().map(|k| k.1).max().unwrap_or(part);
                map.retain(|k, _| k.1 + 64 >= newest);
            }
            *map.entry((stream, part)).or_insert(at)
        };
        let us = at.duration_since(first).as_micros() as u64;
        let mut h = lock(&self.fanout);
        h.0.record(us);
        h.1.record(us);
    }

    pub(crate) fn blocking(&self, took: Duration) {
        let us = took.as_micros() as u64;
        let mut h = lock(&self.blocking);
        h.0.record(us);
        h.1.record(us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(crate) fn histogram_percentiles_are_within_a_bucket() {
        let mut h = Histogram::default();
        for us in 1..=10_000 {
            h.record(us);
        }
        let p50 = h.percentile_ms(0.5);
        let p99 = h.percentile_ms(0.99);
        assert!((5.0..=5.0 * 1.04).contains(&p50), "{p50}");
        assert!((9.9..=10.0).contains(&p99), "{p99}");
        assert_eq!(h.percentile_ms(1.0), 10.0);
        for us in [0, 1, 63, 64, 65, 1_000, 123_456, u64::from(u32::MAX)] {
            let b = Histogram::bucket(us);
            assert!(Histogram::upper(b) >= us, "{us}");
            assert!(b == 0 || Histogram::upper(b - 1) < us, "{us}");
        }
    }
}

//! [`PublishDelay`]: how long parts take from the input to being served, per stream.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds, in microseconds, of the [`PublishDelay`] buckets; a last, unbounded bucket
/// follows them. 2 ms is a bound because it is the publish-delay target of the many-streams
/// load (docs/scale.md): whether p99 meets it must be readable off the histogram.
pub const PUBLISH_DELAY_BUCKETS_US: [u64; 13] = [
    50, 100, 250, 500, 1_000, 2_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

/// How long parts took from the arrival of the input chunk that completed them to the end of
/// [`Playlists::add`](playlists::Playlists::add) (the part is then served, and held requests for it are woken): a
/// histogram of lock-free counters, so recording costs a few relaxed atomic adds per part.
#[derive(Debug, Default)]
pub struct PublishDelay {
    /// Parts per bucket (not cumulative); the last entry counts parts above every bound.
    buckets: [AtomicU64; PUBLISH_DELAY_BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

/// A copy of a [`PublishDelay`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishDelaySnapshot {
    /// Parts per bucket of [`PUBLISH_DELAY_BUCKETS_US`] (not cumulative), then those above.
    pub buckets: Vec<u64>,
    /// Sum of all delays, µs.
    pub sum_us: u64,
    /// The longest delay, µs.
    pub max_us: u64,
}

impl PublishDelay {
    /// Counts one part published `delay` after its input arrived.
    pub fn observe(&self, delay: Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        let i = PUBLISH_DELAY_BUCKETS_US.partition_point(|&bound| bound < us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The counts so far. Each counter is read on its own, so a part published during the call
    /// may be in the sum but not yet in a bucket; scrapes tolerate that.
    pub fn snapshot(&self) -> PublishDelaySnapshot {
        PublishDelaySnapshot {
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            sum_us: self.sum_us.load(Ordering::Relaxed),
            max_us: self.max_us.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_delay_counts_each_part_in_its_bucket() {
        let h = PublishDelay::default();
        h.observe(Duration::from_micros(50)); // on a bound: that bucket
        h.observe(Duration::from_micros(51));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(1)); // above every bound
        let s = h.snapshot();
        assert_eq!(s.buckets.len(), PUBLISH_DELAY_BUCKETS_US.len() + 1);
        assert_eq!(s.buckets[0], 1);
        assert_eq!(s.buckets[1], 1);
        let five_ms = PUBLISH_DELAY_BUCKETS_US
            .iter()
            .position(|&b| b == 5_000)
            .unwrap();
        assert_eq!(s.buckets[five_ms], 1, "3 ms is in the 5 ms bucket");
        assert_eq!(s.buckets[PUBLISH_DELAY_BUCKETS_US.len()], 1);
        assert_eq!(s.buckets.iter().sum::<u64>(), 4);
        assert_eq!(s.sum_us, 50 + 51 + 3_000 + 1_000_000);
        assert_eq!(s.max_us, 1_000_000);
    }
}

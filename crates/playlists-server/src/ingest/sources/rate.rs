//! [`RateLimit`]: the byte-rate cap of one connection of a listening source (RTMP, SRT).
//!
//! A token bucket: a connection may send `rate` on average and bursts of up to
//! [`BURST`] worth of it (an encoder sends a key frame, many times the average frame, at
//! once). Written here rather than taken from a crate: it is a dozen lines of arithmetic on
//! an instant the caller passes, which keeps it testable on a paused clock.

use std::time::Duration;

use tokio::time::Instant;

/// How much of the rate a connection may send at once: the average is taken over this long.
pub const BURST: Duration = Duration::from_secs(2);

/// A byte budget refilled at a fixed rate.
#[derive(Debug)]
pub struct RateLimit {
    bytes_per_sec: f64,
    capacity: f64,
    available: f64,
    last: Instant,
}

impl RateLimit {
    /// A full budget of `bits_per_sec` × [`BURST`], refilled at `bits_per_sec`.
    pub fn new(bits_per_sec: u64, now: Instant) -> Self {
        let bytes_per_sec = bits_per_sec as f64 / 8.0;
        let capacity = bytes_per_sec * BURST.as_secs_f64();
        Self {
            bytes_per_sec,
            capacity,
            available: capacity,
            last: now,
        }
    }

    /// Spends `n` bytes received at `now`; `false` when the budget does not cover them (the
    /// peer sends faster than the cap, averaged over [`BURST`]).
    pub fn take(&mut self, n: usize, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.available = (self.available + elapsed * self.bytes_per_sec).min(self.capacity);
        self.available -= n as f64;
        self.available >= 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_and_a_sustained_excess_does_not() {
        let t0 = Instant::now();
        // 8 Mbit/s: 1 MB/s, bursts of 2 MB.
        let mut limit = RateLimit::new(8_000_000, t0);
        assert!(limit.take(2_000_000, t0), "a full burst");
        assert!(!limit.take(1, t0), "nothing more at once");

        let mut limit = RateLimit::new(8_000_000, t0);
        // The average rate, sent for a minute in 100 ms slices, always passes.
        for i in 1..=600 {
            assert!(limit.take(100_000, t0 + Duration::from_millis(100 * i)));
        }
        // 50 % above it fails within a few seconds (the burst is used up after 4 s).
        let t1 = t0 + Duration::from_secs(60);
        let over = (1..=60)
            .find(|&i| !limit.take(150_000, t1 + Duration::from_millis(100 * i)))
            .expect("cut off");
        assert!((35..=45).contains(&over), "after {over} slices");
    }
}

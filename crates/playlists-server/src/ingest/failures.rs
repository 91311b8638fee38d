//! [`AuthFailures`]: network ingest attempts refused for their credential, counted, and slowed
//! down per client address.
//!
//! A publish key is 256 bits, out of reach of guessing, but an operator's `--ingest-token` may
//! be a short word. So an address that keeps failing waits for its answers: the first
//! [`FREE_FAILURES`] failures are answered at once (an operator pasting the wrong key should
//! not wait), then each further 401 comes after [`FIRST_DELAY`], doubling with every failure,
//! at most [`MAX_DELAY`]. An address that stays quiet for [`FORGET_AFTER`] starts afresh. A
//! success does not reset the count: an attacker who holds one stream's key must not clear
//! their record by publishing it between guesses at another.
//!
//! Only failures wait: an encoder with the right key is never delayed, even from an address
//! that failed before (a NAT shared with a misconfigured one).
//!
//! The table is bounded ([`MAX_ADDRESSES`]): when it is full, a new address replaces the one
//! whose last failure is the oldest, so an attacker with many addresses cannot grow the
//! server's memory (at worst they push other addresses out, which costs those only their
//! slowdown). IPv6 addresses count by their /64 prefix, what one host usually gets, so one
//! host cannot start afresh by moving within its own prefix.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::lock;

/// Failures from one address answered without a delay.
pub const FREE_FAILURES: u32 = 3;
/// The delay of the first failure past [`FREE_FAILURES`]; it doubles at each further one.
pub const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest an answer is delayed.
pub const MAX_DELAY: Duration = Duration::from_secs(4);
/// An address with no failure for this long starts afresh.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Addresses remembered at most (a few hundred KB at most).
pub const MAX_ADDRESSES: usize = 4096;

/// What one address (an IPv4 address, or an IPv6 /64 prefix) has failed.
#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
}

/// Refused network ingest attempts: the total, and the recent failures of each client address.
#[derive(Debug, Default)]
pub struct AuthFailures {
    total: AtomicU64,
    by_address: Mutex<HashMap<IpAddr, Record>>,
}

/// The delay of the answer to an address's `failures`-th failure.
pub fn delay_after(failures: u32) -> Duration {
    let Some(past_free) = failures.checked_sub(FREE_FAILURES + 1) else {
        return Duration::ZERO;
    };
    // 2^past_free, without overflow for large counts: the cap is reached long before.
    FIRST_DELAY
        .checked_mul(1u32.checked_shl(past_free).unwrap_or(u32::MAX))
        .map_or(MAX_DELAY, |d| d.min(MAX_DELAY))
}

/// The address a record is kept under: IPv4 as is (an IPv4-mapped IPv6 address too), IPv6 by
/// its /64 prefix.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

impl AuthFailures {
    /// Refused attempts so far, from every address (and from sources with none).
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Addresses remembered now (at most [`MAX_ADDRESSES`]).
    pub fn addresses(&self) -> usize {
        lock(&self.by_address).len()
    }

    /// Counts a refused attempt from `peer` (if known) and returns how long its answer is to
    /// be delayed.
    pub fn record(&self, peer: Option<IpAddr>) -> Duration {
        delay_after(self.count(peer))
    }

    /// Counts a refused attempt from `peer` and returns the address's recent failures, this
    /// one included (1 without an address).
    pub(super) fn count(&self, peer: Option<IpAddr>) -> u32 {
        self.total.fetch_add(1, Ordering::Relaxed);
        let Some(peer) = peer else {
            return 1;
        };
        let key = address_key(peer);
        let now = Instant::now();
        let mut table = lock(&self.by_address);
        if table.len() >= MAX_ADDRESSES && !table.contains_key(&key) {
            evict(&mut table, now);
        }
        let record = table.entry(key).or_insert(Record {
            failures: 0,
            last: now,
        });
        if now.duration_since(record.last) >= FORGET_AFTER {
            record.failures = 0;
        }
        record.failures = record.failures.saturating_add(1);
        record.last = now;
        record.failures
    }
}

/// Makes room for one more address: drops the forgotten ones, or else the one whose last
/// failure is the oldest. A scan of the table, done only when a new address fails while the
/// table is full.
fn evict(table: &mut HashMap<IpAddr, Record>, now: Instant) {
    table.retain(|_, r| now.duration_since(r.last) < FORGET_AFTER);
    if table.len() < MAX_ADDRESSES {
        return;
    }
    if let Some(oldest) = table.iter().min_by_key(|(_, r)| r.last).map(|(ip, _)| *ip) {
        table.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_after_the_free_failures_and_is_capped() {
        let delays: Vec<u64> = (0..=10)
            .map(|n| delay_after(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [0, 0, 0, 0, 250, 500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn each_address_has_its_own_count_which_is_forgotten_after_a_quiet_while() {
        let f = AuthFailures::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let delays: Vec<Duration> = (0..5).map(|_| f.record(Some(a))).collect();
        assert_eq!(delays[3], FIRST_DELAY);
        assert_eq!(delays[4], 2 * FIRST_DELAY);
        assert_eq!(f.record(Some(b)), Duration::ZERO, "another address");
        assert_eq!(f.record(None), Duration::ZERO, "no address: counted only");
        assert_eq!(f.total(), 7);
        tokio::time::advance(FORGET_AFTER).await;
        assert_eq!(f.record(Some(a)), Duration::ZERO, "forgotten");
    }

    #[test]
    fn ipv6_counts_by_prefix_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("2001:db8::1"), key("2001:db8::ffff:2"));
        assert_ne!(key("2001:db8::1"), key("2001:db8:0:1::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_is_bounded_and_drops_the_oldest() {
        let f = AuthFailures::default();
        let first: IpAddr = "198.18.0.0".parse().unwrap();
        for _ in 0..5 {
            f.record(Some(first));
        }
        for i in 1..=(2 * MAX_ADDRESSES as u32) {
            tokio::time::advance(Duration::from_millis(1)).await;
            f.record(Some(IpAddr::V4((0xc612_0000 + i).into())));
        }
        assert_eq!(f.addresses(), MAX_ADDRESSES);
        assert_eq!(
            f.record(Some(first)),
            Duration::ZERO,
            "the oldest address was dropped"
        );
    }
}

//! [`SrtStats`]: the SRT source's figures, counted as callers come and go and read by
//! `/metrics` at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Why the SRT source refused a caller or cut a connection off: the `reason` label of
/// `playlists_srt_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A stream id in neither form, or none (SRT reject code 1400).
    StreamId,
    /// No valid credential for the stream (1401).
    Unauthorized,
    /// A name in the reserved group `ingest` (1403).
    Forbidden,
    /// A name the server cannot serve (1404).
    BadName,
    /// A stream another encoder holds (1409).
    Busy,
    /// A play request (`m=request` or `bidirectional`): playback is over HLS (1405).
    Play,
    /// Every connection slot was taken (`--srt-max-connections`), or every stream slot is
    /// live, or the server is shutting down (1402).
    Unavailable,
    /// Encryption that does not match: a wrong passphrase, none where `--srt-passphrase`
    /// asks for one, or one where it does not.
    Passphrase,
    /// An admitted caller that did not complete its handshake within the handshake timeout,
    /// or sent no media within it.
    Handshake,
    /// No media within the ingest layer's stall limit.
    Stalled,
    /// More than the rate cap allows (`--srt-max-mbits`).
    Rate,
    /// Media the packager or the ingest layer refused.
    Media,
    /// Datagrams on the SRT port that are not SRT packets (counted per datagram, dropped).
    Garbage,
}

impl Refusal {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [Refusal; 13] = [
        Refusal::StreamId,
        Refusal::Unauthorized,
        Refusal::Forbidden,
        Refusal::BadName,
        Refusal::Busy,
        Refusal::Play,
        Refusal::Unavailable,
        Refusal::Passphrase,
        Refusal::Handshake,
        Refusal::Stalled,
        Refusal::Rate,
        Refusal::Media,
        Refusal::Garbage,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::StreamId => "stream_id",
            Refusal::Unauthorized => "unauthorized",
            Refusal::Forbidden => "forbidden",
            Refusal::BadName => "bad_name",
            Refusal::Busy => "busy",
            Refusal::Play => "play",
            Refusal::Unavailable => "unavailable",
            Refusal::Passphrase => "passphrase",
            Refusal::Handshake => "handshake",
            Refusal::Stalled => "stalled",
            Refusal::Rate => "rate",
            Refusal::Media => "media",
            Refusal::Garbage => "garbage",
        }
    }
}

/// The SRT source's counters. Relaxed atomics: each figure is read on its own.
#[derive(Debug, Default)]
pub struct SrtStats {
    connections: AtomicU64,
    open: AtomicU64,
    publishing: AtomicU64,
    bytes: AtomicU64,
    retransmitted: AtomicU64,
    dropped: AtomicU64,
    refusals: [AtomicU64; Refusal::ALL.len()],
}

/// A connection's SRT packet figures at one moment (each only grows), as srt-tokio reports
/// them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Losses {
    /// Data packets received again after a loss (SRT asked for them).
    pub retransmitted: u64,
    /// Data packets discarded (srt-tokio's `rx_dropped_data`): too late (a hole given up
    /// on, or a retransmission that came after its time), too early, or no buffer room.
    pub dropped: u64,
}

impl SrtStats {
    /// Connection requests (handshakes that reached the access check), refused or not.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Connection requests being served now (checked, or connected).
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections publishing a stream now.
    pub fn publishing(&self) -> u64 {
        self.publishing.load(Ordering::Relaxed)
    }

    /// Payload bytes (MPEG-TS) received from SRT callers.
    pub fn bytes_received(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Data packets received again from callers after a loss (SRT asked for them): the
    /// losses SRT recovered, give or take a packet sent twice.
    pub fn packets_retransmitted(&self) -> u64 {
        self.retransmitted.load(Ordering::Relaxed)
    }

    /// Data packets SRT discarded: too late (a loss not recovered within the latency, which
    /// leaves a hole the demuxer skips to the next key frame, or a retransmission that came
    /// after its time and was not needed), too early, or no buffer room.
    pub fn packets_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Adds what a connection's figures grew by from `before` to `now`.
    pub(super) fn count_losses(&self, before: Losses, now: Losses) {
        let grew = |a: u64, b: u64| b.saturating_sub(a);
        self.retransmitted.fetch_add(
            grew(before.retransmitted, now.retransmitted),
            Ordering::Relaxed,
        );
        self.dropped
            .fetch_add(grew(before.dropped, now.dropped), Ordering::Relaxed);
    }

    /// How often each reason refused a caller or cut one off.
    pub fn refusals(&self) -> [(Refusal, u64); Refusal::ALL.len()] {
        Refusal::ALL.map(|r| (r, self.refused(r)))
    }

    /// How often `reason` refused a caller or cut one off.
    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refusals[reason as usize].load(Ordering::Relaxed)
    }

    pub(super) fn count_refusal(&self, reason: Refusal) {
        self.refusals[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Raises the garbage count to `total` (the listener's own count of datagrams it could
    /// not parse, which only grows).
    pub(super) fn set_garbage(&self, total: u64) {
        self.refusals[Refusal::Garbage as usize].fetch_max(total, Ordering::Relaxed);
    }

    pub(super) fn count_bytes(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn count_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection being served until the guard drops.
    pub(super) fn open_guard(self: &Arc<Self>) -> Gauge {
        Gauge::new(Arc::clone(self), |s| &s.open)
    }

    /// Counts a publishing connection until the guard drops.
    pub(super) fn publishing_guard(self: &Arc<Self>) -> Gauge {
        Gauge::new(Arc::clone(self), |s| &s.publishing)
    }
}

/// One unit of a gauge of [`SrtStats`].
pub(super) type Gauge = crate::ingest::sources::gauge::Gauge<SrtStats>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_count_while_held_and_garbage_only_grows() {
        let stats = Arc::new(SrtStats::default());
        let open = stats.open_guard();
        let publishing = stats.publishing_guard();
        assert_eq!((stats.open(), stats.publishing()), (1, 1));
        drop((open, publishing));
        assert_eq!((stats.open(), stats.publishing()), (0, 0));
        let seen = Losses {
            retransmitted: 4,
            dropped: 1,
        };
        stats.count_losses(Losses::default(), seen);
        stats.count_losses(
            seen,
            Losses {
                retransmitted: 6,
                dropped: 1,
            },
        );
        assert_eq!(
            (stats.packets_retransmitted(), stats.packets_dropped()),
            (6, 1)
        );
        stats.set_garbage(5);
        stats.set_garbage(3);
        stats.count_refusal(Refusal::Play);
        assert_eq!(stats.refused(Refusal::Garbage), 5);
        assert_eq!(stats.refusals().iter().map(|(_, n)| n).sum::<u64>(), 6);
        for (i, r) in Refusal::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert_eq!(
                Refusal::ALL
                    .iter()
                    .filter(|o| o.label() == r.label())
                    .count(),
                1
            );
        }
    }
}

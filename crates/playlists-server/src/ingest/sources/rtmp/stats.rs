//! [`RtmpStats`]: the RTMP source's figures, counted as connections go and read by
//! `/metrics` at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Why the RTMP source cut a connection off or refused what it asked for: the `reason`
/// label of `playlists_rtmp_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A malformed handshake (a wrong version byte), or none within the handshake timeout.
    Handshake,
    /// Bytes that are not RTMP chunks and messages (a bad chunk header, AMF garbage), or a
    /// connection that ended inside a message.
    Protocol,
    /// A message larger than the limit (`--rtmp-max-message-bytes`).
    TooLarge,
    /// More bytes than the rate cap allows (`--rtmp-max-mbits`).
    Rate,
    /// Every connection slot was taken (`--rtmp-max-connections`).
    Connections,
    /// No media (or no publish request) within the ingest layer's stall limit.
    Stalled,
    /// A publish request without a valid credential.
    Unauthorized,
    /// A publish request whose name cannot be served (invalid, reserved, or busy).
    BadName,
    /// A publish request for a stream another encoder holds.
    Busy,
    /// A play request: playback is over HLS.
    Play,
    /// A publish request the server cannot take now (every stream slot live, shutting down).
    Unavailable,
    /// Media the packager or the ingest layer refused after publishing began.
    Media,
}

impl Refusal {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [Refusal; 12] = [
        Refusal::Handshake,
        Refusal::Protocol,
        Refusal::TooLarge,
        Refusal::Rate,
        Refusal::Connections,
        Refusal::Stalled,
        Refusal::Unauthorized,
        Refusal::BadName,
        Refusal::Busy,
        Refusal::Play,
        Refusal::Unavailable,
        Refusal::Media,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Handshake => "handshake",
            Refusal::Protocol => "protocol",
            Refusal::TooLarge => "too_large",
            Refusal::Rate => "rate",
            Refusal::Connections => "connections",
            Refusal::Stalled => "stalled",
            Refusal::Unauthorized => "unauthorized",
            Refusal::BadName => "bad_name",
            Refusal::Busy => "busy",
            Refusal::Play => "play",
            Refusal::Unavailable => "unavailable",
            Refusal::Media => "media",
        }
    }
}

/// The RTMP source's counters. Relaxed atomics: each figure is read on its own, and a scrape
/// that sees one a few events behind another is fine.
#[derive(Debug, Default)]
pub struct RtmpStats {
    connections: AtomicU64,
    open: AtomicU64,
    publishing: AtomicU64,
    bytes: AtomicU64,
    refusals: [AtomicU64; Refusal::ALL.len()],
}

impl RtmpStats {
    /// Connections accepted (including those refused at once for want of a slot).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections publishing a stream now.
    pub fn publishing(&self) -> u64 {
        self.publishing.load(Ordering::Relaxed)
    }

    /// Bytes received from RTMP peers, handshakes included.
    pub fn bytes_received(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// How often each reason cut a connection off or refused a request.
    pub fn refusals(&self) -> [(Refusal, u64); Refusal::ALL.len()] {
        Refusal::ALL.map(|r| (r, self.refusals[r as usize].load(Ordering::Relaxed)))
    }

    /// How often `reason` cut a connection off or refused a request.
    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refusals[reason as usize].load(Ordering::Relaxed)
    }

    pub(super) fn count_refusal(&self, reason: Refusal) {
        self.refusals[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_bytes(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn count_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection open until the guard drops.
    pub(super) fn open_guard(self: &Arc<Self>) -> Gauge {
        Gauge::new(Arc::clone(self), |s| &s.open)
    }

    /// Counts a publishing connection until the guard drops.
    pub(super) fn publishing_guard(self: &Arc<Self>) -> Gauge {
        Gauge::new(Arc::clone(self), |s| &s.publishing)
    }
}

/// One unit of a gauge of [`RtmpStats`].
pub(super) type Gauge = crate::ingest::sources::gauge::Gauge<RtmpStats>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_count_while_held_and_refusals_by_reason() {
        let stats = Arc::new(RtmpStats::default());
        let open = stats.open_guard();
        let publishing = stats.publishing_guard();
        assert_eq!((stats.open(), stats.publishing()), (1, 1));
        drop(publishing);
        assert_eq!((stats.open(), stats.publishing()), (1, 0));
        drop(open);
        assert_eq!(stats.open(), 0);
        stats.count_refusal(Refusal::Rate);
        stats.count_refusal(Refusal::Rate);
        stats.count_refusal(Refusal::Play);
        assert_eq!(stats.refused(Refusal::Rate), 2);
        let all = stats.refusals();
        assert_eq!(all.iter().map(|(_, n)| n).sum::<u64>(), 3);
        // Every label is distinct, and `ALL` is in discriminant order (the array index).
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

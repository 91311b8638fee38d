//! The SRT source: encoders (OBS, vMix, hardware encoders, ffmpeg with libsrt) publish
//! MPEG-TS over SRT in caller mode to this listener; the TS is packaged into CMAF parts and
//! published like any other ingest.
//!
//! ```text
//!  UDP ─▶ srt-tokio listener ─▶ listener.rs ─▶ connection.rs ─▶ stream_id.rs ─▶ Ingests::admit
//!         (handshakes, cookies,  connection cap   │ accept (passphrase) or reject (code)
//!          retransmission)                        │ payloads ─▶ media.rs: TS demuxer ─▶ IngestSession
//!                                                 ▼
//!                                           stats.rs (/metrics)
//! ```
//!
//! `srt://HOST:PORT?streamid=publish:live/720p` (or SRT's access-control form
//! `#!::r=live/720p,m=publish`) publishes the stream `live/720p`, played at
//! `/live/720p/index.m3u8`; the names and the `?token=` credential are RTMP's and HTTP
//! ingest's ([`stream_id`]). The credential is checked by the ingest layer, which answers an
//! address that keeps failing late. A refused caller is told why with an SRT reject code
//! (1400 bad stream id, 1401 unauthorized, 1403 forbidden, 1404 bad name, 1405 play
//! request, 1409 busy, 1402 no slot; libsrt's `srt_getrejectreason`, while ffmpeg 5.1 logs
//! only "Application-defined rejection reason": this log names the reason). A second encoder for a stream
//! is refused while the first sends media, and takes over once the first has been silent
//! for the ingest layer's takeover delay, as for every source.
//!
//! With [`SrtConfig::passphrase`], callers must encrypt with it (AES, any key length); a
//! caller without it is refused before admission, one with a wrong one fails the handshake
//! (SRT answers it). The passphrase is never logged.
//!
//! Every connection is bounded: its first media within [`SrtConfig::handshake_timeout`],
//! then media within the ingest layer's stall limit, at most [`SrtConfig::max_bitrate`] on
//! average, at most [`SrtConfig::max_connections`] callers at once. A caller that breaks a
//! rule is cut off, counted by reason ([`SrtStats`]) and logged; nothing it sent affects
//! another connection, and the stream it published (if any) enters its grace period.
//! Datagrams that are not SRT are dropped by the listener and counted.
//!
//! Not bounded here: srt-tokio 0.4.4's listener remembers every source address that sent it
//! a parseable packet, for the life of the process (about 0.9 KB each), so a flood from many
//! (spoofed) addresses grows memory; a firewall rate limit on the port bounds it until the
//! listener expires them.

mod connection;
mod error;
mod listener;
pub mod media;
mod stats;
pub mod stream_id;

use std::sync::Arc;
use std::time::Duration;

pub use error::SrtError;
pub use listener::SrtListener;
pub use stats::{Refusal, SrtStats};

use crate::ingest::Ingests;
use crate::shutdown::Shutdown;

/// An SRT passphrase (`--srt-passphrase`): 10 to 79 characters, as SRT requires. Its
/// `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Passphrase(String);

impl Passphrase {
    /// `s`, if SRT takes it as a passphrase.
    ///
    /// # Errors
    /// A message saying the length SRT requires.
    pub fn new(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        if (10..=79).contains(&n) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "an SRT passphrase has 10 to 79 characters, not {n}"
            ))
        }
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(…)")
    }
}

/// The SRT source's settings and limits.
#[derive(Debug, Clone)]
pub struct SrtConfig {
    /// The receiver latency offered (SRT takes the larger of the caller's and this): how
    /// long the listener holds a packet for retransmissions before handing it on. Default
    /// 200 ms (`--srt-latency-ms`): four round trips of 50 ms, enough to recover losses on
    /// most paths, and under one part of the default part target, so it adds little to the
    /// LL-HLS latency.
    pub latency: Duration,
    /// Callers must encrypt with this (`--srt-passphrase`); `None`: they must not.
    pub passphrase: Option<Passphrase>,
    /// A caller admitted must complete its handshake and send its first media within this.
    /// Default 5 s.
    pub handshake_timeout: Duration,
    /// The most a connection may send, in bit/s, averaged over a couple of seconds. Default
    /// 100 Mbit/s (`--srt-max-mbits`).
    pub max_bitrate: u64,
    /// Callers served at once; more are refused with 1402. Default 256
    /// (`--srt-max-connections`).
    pub max_connections: usize,
    /// The largest frame the demuxer takes. Default 8 MiB.
    pub max_frame_bytes: usize,
}

impl Default for SrtConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(200),
            passphrase: None,
            handshake_timeout: Duration::from_secs(5),
            max_bitrate: 100_000_000,
            max_connections: 256,
            max_frame_bytes: 8 << 20,
        }
    }
}

/// What every connection of a listener shares.
#[derive(Debug)]
struct Shared {
    ingests: Arc<Ingests>,
    config: SrtConfig,
    stats: Arc<SrtStats>,
    shutdown: Shutdown,
    new_demux: media::NewDemux,
}

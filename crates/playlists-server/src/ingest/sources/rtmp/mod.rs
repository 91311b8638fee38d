//! The RTMP source: encoders (OBS, ffmpeg, hardware encoders) publish over RTMP, and their
//! FLV audio and video messages are packaged into CMAF parts and published like any other
//! ingest.
//!
//! ```text
//!  TCP ─▶ listener.rs ─▶ connection.rs ──bytes──▶ protocol.rs (sans IO: handshake, chunks,
//!         connection cap   timeouts, rate cap,     │            commands; rml_rtmp)
//!                          the socket              │ Publish{app, key} ─▶ name.rs ─▶ Ingests::admit
//!                                                  │ Video/Audio bodies ─▶ media.rs: Packager ─▶ IngestSession
//!                                                  ▼
//!                                            stats.rs (/metrics)
//! ```
//!
//! `rtmp://HOST:PORT/live/720p` (or OBS's server `rtmp://HOST:PORT/live` with stream key
//! `720p`) publishes the stream `live/720p`, played at `/live/720p/index.m3u8`; the names
//! are HTTP ingest's ([`name`]). A credential goes in the stream key's query
//! (`720p?token=KEY`) and is checked by the ingest layer, which answers an address that keeps
//! failing late. A second encoder for a stream is refused (`NetStream.Publish.BadName`)
//! while the first sends media, and takes over once the first has been silent for the
//! ingest layer's takeover delay, as for every source. A play request is refused: playback
//! is over HLS.
//!
//! Every connection is bounded: a handshake within [`RtmpConfig::handshake_timeout`], a
//! publish request and then media within the ingest layer's stall limit, messages of at most
//! [`RtmpConfig::max_message_bytes`], at most [`RtmpConfig::max_bitrate`] on average, and
//! at most [`RtmpConfig::max_connections`] connections. A peer that breaks a rule is cut
//! off, counted by reason ([`RtmpStats`]) and logged; nothing it sent affects another
//! connection, and the stream it published (if any) enters its grace period.

mod connection;
mod error;
mod listener;
mod media;
pub mod name;
pub mod protocol;
mod stats;

use std::sync::Arc;
use std::time::Duration;

pub use error::RtmpError;
pub use listener::RtmpListener;
pub use protocol::{Event, RtmpProtocol};
pub use stats::{Refusal, RtmpStats};

use crate::ingest::Ingests;
use crate::shutdown::Shutdown;

/// The RTMP source's limits.
#[derive(Debug, Clone)]
pub struct RtmpConfig {
    /// The handshake must complete within this long. Default 5 s.
    pub handshake_timeout: Duration,
    /// The largest message (an audio or video frame, a command) accepted, and the largest
    /// frame the packager takes. Default 8 MiB (`--rtmp-max-message-bytes`); RTMP's own
    /// bound is 16 MiB.
    pub max_message_bytes: usize,
    /// The most a connection may send, in bit/s, averaged over a couple of seconds. Default
    /// 100 Mbit/s (`--rtmp-max-mbits`).
    pub max_bitrate: u64,
    /// Connections served at once; more are closed at accept. Default 256
    /// (`--rtmp-max-connections`).
    pub max_connections: usize,
    /// Bind with `SO_REUSEPORT` (Unix), so that the process of an upgrade without a gap
    /// binds the port while this one still listens. Default off; the binary sets it with
    /// `--upgrade-socket`.
    pub reuse_port: bool,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(5),
            max_message_bytes: 8 << 20,
            max_bitrate: 100_000_000,
            max_connections: 256,
            reuse_port: false,
        }
    }
}

/// What every connection of a listener shares.
#[derive(Debug)]
struct Shared {
    ingests: Arc<Ingests>,
    config: RtmpConfig,
    stats: Arc<RtmpStats>,
    shutdown: Shutdown,
}

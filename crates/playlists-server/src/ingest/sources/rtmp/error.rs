//! [`RtmpError`]: why an RTMP connection ended early, and the refusal it counts as.

use std::time::Duration;

use super::stats::Refusal;
use crate::ingest::{IngestError, IngestErrorKind};
use crate::packager::PackagerError;

/// Why an RTMP connection ended early. Each ends this connection only: its stream, if it
/// published one, enters the ingest layer's grace period as at any disconnect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RtmpError {
    /// The handshake is malformed (the version byte is not 3, …).
    #[error("malformed RTMP handshake: {0}")]
    Handshake(String),
    /// No complete handshake within the limit.
    #[error("no complete RTMP handshake within {0:?}")]
    HandshakeTimeout(Duration),
    /// Bytes that are not RTMP chunks or messages (a chunk header without its stream's first
    /// header, AMF that does not decode, …).
    #[error("RTMP protocol error: {0}")]
    Protocol(String),
    /// The connection ended inside a message.
    #[error("the connection ended inside an RTMP message")]
    Truncated,
    /// A message larger than the limit.
    #[error("an RTMP message larger than {limit} bytes")]
    TooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The peer sends faster than the cap.
    #[error("more than {bits_per_sec} bit/s (averaged over {over:?})")]
    Rate {
        /// The cap.
        bits_per_sec: u64,
        /// The window of the average.
        over: Duration,
    },
    /// No media message (or, before publishing, no publish request) within the limit.
    #[error("no media within {0:?}")]
    Stalled(Duration),
    /// A play request: this server plays over HLS only.
    #[error("play request for `{0}` refused: playback is over HLS")]
    Play(String),
    /// A second publish request on a connection that publishes already.
    #[error("this connection publishes `{0}` already; one stream per connection")]
    SecondPublish(String),
    /// The publish request names no stream.
    #[error(transparent)]
    Name(#[from] super::name::NameError),
    /// The ingest layer refused the publish request ([`Ingests::admit`](crate::ingest::Ingests::admit)).
    #[error("publish refused: {0}")]
    Refused(IngestError),
    /// The ingest layer refused the media, once publishing.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The packager refused the media.
    #[error("media refused: {0}")]
    Packager(#[from] PackagerError),
    /// Reading or writing the socket failed (the peer is gone).
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
}

impl RtmpError {
    /// The refusal this error counts as in `/metrics`; `None` for the ends that are nobody's
    /// fault (the peer gone, the server shutting down).
    pub fn refusal(&self) -> Option<Refusal> {
        Some(match self {
            Self::Handshake(_) | Self::HandshakeTimeout(_) => Refusal::Handshake,
            Self::Protocol(_) | Self::Truncated => Refusal::Protocol,
            Self::TooLarge { .. } => Refusal::TooLarge,
            Self::Rate { .. } => Refusal::Rate,
            Self::Stalled(_) => Refusal::Stalled,
            Self::Play(_) => Refusal::Play,
            Self::Name(_) | Self::SecondPublish(_) => Refusal::BadName,
            Self::Packager(_) => Refusal::Media,
            Self::Io(_) => return None,
            Self::Refused(e) => match e.kind() {
                IngestErrorKind::Unauthorized => Refusal::Unauthorized,
                IngestErrorKind::Busy => Refusal::Busy,
                IngestErrorKind::Unavailable => Refusal::Unavailable,
                _ => Refusal::BadName,
            },
            Self::Ingest(e) => match e.kind() {
                IngestErrorKind::Transport | IngestErrorKind::Unavailable => return None,
                _ => Refusal::Media,
            },
        })
    }
}

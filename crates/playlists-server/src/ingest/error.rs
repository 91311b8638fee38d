//! [`IngestError`]: why an ingest session ended early, and its class for a transport.

use std::time::Duration;

use crate::fmp4::Fmp4Error;

/// Why an ingest session ended early. [`IngestError::kind`] classifies it for a transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The byte stream is not fMP4 we can split, or breaks a size limit.
    #[error("stream `{stream}`: {source}")]
    Fmp4 {
        /// The stream being ingested.
        stream: String,
        /// What the parser found.
        #[source]
        source: Fmp4Error,
    },
    /// The library refused the part (invalid name, every stream slot busy, …).
    #[error("stream `{stream}`: {source}")]
    Publish {
        /// The stream being ingested.
        stream: String,
        /// What the library said.
        #[source]
        source: playlists::Error,
    },
    /// The name is valid for the library but cannot be served: its group is `ingest`, so its
    /// playlist and media paths would start with `/ingest/`, where encoders push.
    #[error(
        "invalid stream name `{0}`: the group name `{group}` is reserved for the ingest and recording paths",
        group = playlists::group_of(.0)
    )]
    ReservedName(String),
    /// A publisher asked for a playlist type other than `event`.
    #[error("stream `{stream}`: playlist_type `{asked}`: the only type a live run may ask for is `event`")]
    PlaylistType {
        /// The stream.
        stream: String,
        /// The type asked for (at most 32 characters of it).
        asked: String,
    },
    /// A publisher asked for an EVENT playlist of an origin that does not record.
    #[error(
        "stream `{0}`: playlist_type=event needs the origin to record (--record-dir): segments \
         past the live window are served from the recording"
    )]
    EventNeedsRecording(String),
    /// A network source presented no credential for the stream (its publish key, its group's,
    /// or the server's ingest token).
    #[error("publishing `{0}` needs a publish key for it or the server's ingest token")]
    Unauthorized(String),
    /// Another encoder is sending this stream and has sent data recently.
    #[error("stream `{0}` already has an encoder connected")]
    Busy(String),
    /// A newer connection took this stream over (this one had been silent too long).
    #[error("stream `{0}`: another encoder connection took the stream over")]
    Superseded(String),
    /// A segment came before any CMAF header of its track (DASH-IF ingest: the header is
    /// posted first, and again after the stream's ingest state expired).
    #[error("track `{0}`: a segment before its CMAF header; post the header first")]
    NoHeader(String),
    /// The input is fMP4 but not media this origin serves (a DASH-IF track that is neither
    /// audio nor video).
    #[error("track `{stream}`: unsupported media: {reason}")]
    UnsupportedMedia {
        /// The stream being ingested.
        stream: String,
        /// What is unsupported.
        reason: String,
    },
    /// The session already failed; it accepts no more input.
    #[error("stream `{0}`: the session already ended with an error")]
    Closed(String),
    /// Reading the transport failed (a dropped connection, a read error on stdin).
    #[error("stream `{stream}`: reading the input failed: {reason}")]
    Read {
        /// The stream being ingested.
        stream: String,
        /// The transport's error, rendered.
        reason: String,
    },
    /// The input completed no part for [`IngestConfig::stall_after`](super::IngestConfig::stall_after).
    #[error(
        "no complete part of `{stream}` within {after:?} ({parts} published); \
         the input is too slow or stalled"
    )]
    Stalled {
        /// The stream being ingested.
        stream: String,
        /// Parts the session had published.
        parts: u64,
        /// The limit reached.
        after: Duration,
    },
    /// The server began shutting down; the stream enters its grace period like at any
    /// disconnect.
    #[error("the server is shutting down after {parts} parts of `{stream}`")]
    Stopped {
        /// The stream being ingested.
        stream: String,
        /// Parts the session had published.
        parts: u64,
    },
}

/// What kind of failure an [`IngestError`] is, so a transport maps it to a status in one
/// place. The suggested HTTP status is given with each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestErrorKind {
    /// The input is malformed, or the stream name is invalid: 400.
    BadInput,
    /// The source presented no valid credential for the stream: 401.
    Unauthorized,
    /// The input completed no part in time: 408.
    Stalled,
    /// The input breaks a size limit: 413.
    TooLarge,
    /// Another encoder holds the stream (or took it over): 409.
    Busy,
    /// The server cannot take another stream now (every slot holds a live stream), or is
    /// shutting down: 503.
    Unavailable,
    /// The transport failed; the peer is probably gone and no answer will reach it.
    Transport,
    /// A bug or an inconsistent state in the server: 500.
    Internal,
}

impl IngestError {
    /// The class of this error (see [`IngestErrorKind`]).
    pub fn kind(&self) -> IngestErrorKind {
        use playlists::Error as E;
        match self {
            Self::Fmp4 { source, .. } if source.is_limit() => IngestErrorKind::TooLarge,
            Self::Fmp4 { .. }
            | Self::Closed(_)
            | Self::ReservedName(_)
            | Self::PlaylistType { .. }
            | Self::EventNeedsRecording(_)
            | Self::NoHeader(_)
            | Self::UnsupportedMedia { .. } => IngestErrorKind::BadInput,
            Self::Unauthorized(_) => IngestErrorKind::Unauthorized,
            Self::Stalled { .. } => IngestErrorKind::Stalled,
            Self::Stopped { .. } => IngestErrorKind::Unavailable,
            Self::Busy(_) | Self::Superseded(_) => IngestErrorKind::Busy,
            Self::Read { .. } => IngestErrorKind::Transport,
            Self::Publish { source, .. } => match source {
                E::StreamsExhausted { .. } => IngestErrorKind::Unavailable,
                E::InvalidStreamName { .. } | E::InvalidPart(_) | E::MissingInit(_) => {
                    IngestErrorKind::BadInput
                }
                _ => IngestErrorKind::Internal,
            },
        }
    }

    /// The stream the error is about.
    pub fn stream(&self) -> &str {
        match self {
            Self::Fmp4 { stream, .. }
            | Self::Publish { stream, .. }
            | Self::Read { stream, .. }
            | Self::Stalled { stream, .. }
            | Self::Stopped { stream, .. }
            | Self::PlaylistType { stream, .. }
            | Self::UnsupportedMedia { stream, .. } => stream,
            Self::Busy(s)
            | Self::Superseded(s)
            | Self::Closed(s)
            | Self::ReservedName(s)
            | Self::NoHeader(s)
            | Self::EventNeedsRecording(s)
            | Self::Unauthorized(s) => s,
        }
    }
}

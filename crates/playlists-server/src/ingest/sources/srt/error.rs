//! [`SrtError`]: why an SRT caller was refused or cut off, the refusal it counts as, and
//! the SRT reject code a refused caller is told.

use std::time::Duration;

use srt_protocol::packet::CoreRejectReason;
use srt_tokio::access::{RejectReason, ServerRejectReason};

use super::stats::Refusal;
use super::stream_id::StreamIdError;
use crate::ingest::{IngestError, IngestErrorKind};
use crate::packager::PackagerError;

/// Why an SRT caller was refused or cut off. Each ends this connection only: its stream,
/// if it published one, enters the ingest layer's grace period as at any disconnect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SrtError {
    /// The stream id is in neither form, or names no stream.
    #[error(transparent)]
    StreamId(#[from] StreamIdError),
    /// A play request: this server plays over HLS only.
    #[error("play request for `{0}` refused: playback is over HLS")]
    Play(String),
    /// Every connection slot is taken.
    #[error("every SRT connection slot ({0}) is taken")]
    Connections(usize),
    /// The caller does not encrypt and the listener asks for a passphrase, or the other way
    /// round.
    #[error("encryption mismatch: {0}")]
    Unsecure(&'static str),
    /// The handshake did not complete after the caller was admitted: a wrong passphrase
    /// (SRT answers it itself), or the caller gave up.
    #[error("the SRT handshake failed after admission (a wrong passphrase?): {0}")]
    Handshake(std::io::Error),
    /// No complete handshake, or no first media, within the limit.
    #[error("no media within {0:?} of the connection request")]
    HandshakeTimeout(Duration),
    /// No media within the stall limit.
    #[error("no media within {0:?}")]
    Stalled(Duration),
    /// The caller sends faster than the cap.
    #[error("more than {bits_per_sec} bit/s (averaged over {over:?})")]
    Rate {
        /// The cap.
        bits_per_sec: u64,
        /// The window of the average.
        over: Duration,
    },
    /// The ingest layer refused the publish request ([`Ingests::admit`](crate::ingest::Ingests::admit)).
    #[error("publish refused: {0}")]
    Refused(IngestError),
    /// The ingest layer refused the media, once publishing.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The packager refused the media.
    #[error("media refused: {0}")]
    Packager(#[from] PackagerError),
    /// The connection failed (the peer is gone, or timed out at the SRT layer).
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
}

impl SrtError {
    /// The refusal this error counts as in `/metrics`; `None` for the ends that are nobody's
    /// fault (the peer gone, the server shutting down).
    pub fn refusal(&self) -> Option<Refusal> {
        Some(match self {
            Self::StreamId(_) => Refusal::StreamId,
            Self::Play(_) => Refusal::Play,
            Self::Connections(_) => Refusal::Unavailable,
            Self::Unsecure(_) | Self::Handshake(_) => Refusal::Passphrase,
            Self::HandshakeTimeout(_) => Refusal::Handshake,
            Self::Stalled(_) => Refusal::Stalled,
            Self::Rate { .. } => Refusal::Rate,
            Self::Packager(_) => Refusal::Media,
            Self::Io(_) => return None,
            Self::Refused(e) => match e.kind() {
                IngestErrorKind::Unauthorized => Refusal::Unauthorized,
                IngestErrorKind::Busy => Refusal::Busy,
                IngestErrorKind::Unavailable | IngestErrorKind::Internal => Refusal::Unavailable,
                _ if matches!(e, IngestError::ReservedName(_)) => Refusal::Forbidden,
                _ => Refusal::BadName,
            },
            Self::Ingest(e) => match e.kind() {
                IngestErrorKind::Transport | IngestErrorKind::Unavailable => return None,
                _ => Refusal::Media,
            },
        })
    }

    /// The reject code a caller refused for this is told, for the refusals made before the
    /// connection opens. SRT's access-control codes are HTTP's plus 1000 (1401
    /// unauthorized, …); on the wire, and in `srt-tokio`, they are offset by another 1000
    /// (2401), which libsrt takes off again (`srt_getrejectreason` gives 1401; ffmpeg 5.1 logs
    /// only "Application-defined rejection reason").
    pub fn reject_reason(&self) -> RejectReason {
        use ServerRejectReason as S;
        RejectReason::Server(match self.refusal() {
            Some(Refusal::StreamId) => S::BadRequest,
            Some(Refusal::Unauthorized) => S::Unauthorized,
            Some(Refusal::Forbidden) => S::Forbidden,
            Some(Refusal::BadName) => S::Notfound,
            Some(Refusal::Busy) => S::Conflict,
            Some(Refusal::Play) => S::BadMode,
            Some(Refusal::Unavailable) => S::Overload,
            // libsrt's own code for it: the caller reports "password required or unexpected".
            Some(Refusal::Passphrase) => return RejectReason::Core(CoreRejectReason::Unsecure),
            _ => S::InternalServerError,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_the_access_control_codes() {
        let code = |e: SrtError| i32::from(e.reject_reason());
        // libsrt's SRT_REJX_* plus the wire offset of 1000.
        assert_eq!(code(SrtError::StreamId(StreamIdError::Form)), 2400);
        assert_eq!(
            code(SrtError::Refused(IngestError::Unauthorized("s".into()))),
            2401
        );
        assert_eq!(
            code(SrtError::Refused(IngestError::ReservedName(
                "ingest/x".into()
            ))),
            2403
        );
        assert_eq!(code(SrtError::Refused(IngestError::Busy("s".into()))), 2409);
        assert_eq!(code(SrtError::Play("s".into())), 2405);
        assert_eq!(code(SrtError::Connections(1)), 2402);
        assert_eq!(code(SrtError::Unsecure("x")), 1011);
        assert_eq!(
            SrtError::Io(std::io::ErrorKind::BrokenPipe.into()).refusal(),
            None
        );
    }
}

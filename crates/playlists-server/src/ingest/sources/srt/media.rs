//! [`MediaSink`]: a published SRT stream's MPEG-TS payload, through the TS demuxer and
//! packager into its ingest session.

use bytes::Bytes;

use super::SrtError;
use crate::ingest::restamp::unix_now_ms;
use crate::ingest::IngestSession;
use crate::packager::{PackagerConfig, PackagerError, TsDemuxer};

/// What turns a caller's MPEG-TS into the CMAF bytes an ingest session takes: the
/// packager's [`TsDemuxer`]. A trait so that the connection code names no demuxer.
pub trait Demux: Send + std::fmt::Debug {
    /// Takes the next bytes of the transport stream, received at `received_unix_ms`.
    ///
    /// # Errors
    /// The packager's: the stream is not MPEG-TS it can package.
    fn push(&mut self, data: &[u8], received_unix_ms: u64) -> Result<(), PackagerError>;
    /// The init sections and fragments completed so far, in order.
    fn take_output(&mut self) -> Vec<Bytes>;
    /// Closes the open part.
    ///
    /// # Errors
    /// As [`push`](Self::push).
    fn finish(&mut self) -> Result<(), PackagerError>;
}

/// Makes the demuxer of one publishing connection.
pub type NewDemux = fn(PackagerConfig) -> Box<dyn Demux>;

/// The demuxer of one publishing connection and the session its output goes to. Dropped
/// without [`finish`](Self::finish), the session counts as a disconnect (the stream's grace
/// period starts; a reconnect continues it).
#[derive(Debug)]
pub struct MediaSink {
    session: IngestSession,
    demux: Box<dyn Demux>,
}

impl MediaSink {
    /// Packages into `session` with `demux`.
    pub fn new(session: IngestSession, demux: Box<dyn Demux>) -> Self {
        Self { session, demux }
    }

    /// The stream published.
    pub fn stream(&self) -> &str {
        self.session.stream()
    }

    /// Takes one SRT payload (whole TS packets, 1316 bytes from most encoders) and publishes
    /// what it completes.
    ///
    /// # Errors
    /// [`SrtError::Packager`] or [`SrtError::Ingest`]: the media is refused; the session is
    /// spent.
    pub fn push(&mut self, data: &[u8]) -> Result<(), SrtError> {
        // The wall clock at arrival: the packager dates parts (`prft`) with it.
        self.demux.push(data, unix_now_ms())?;
        self.drain()
    }

    fn drain(&mut self) -> Result<(), SrtError> {
        for bytes in self.demux.take_output() {
            self.session.push(bytes)?;
        }
        Ok(())
    }

    /// Closes the open part, publishes it and ends the session (the stream's grace period
    /// starts). Returns the parts the session published.
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn finish(mut self) -> Result<u64, SrtError> {
        self.demux.finish()?;
        self.drain()?;
        Ok(self.session.finish()?)
    }
}

/// The demuxer every publishing connection uses: the packager's MPEG-TS demuxer.
pub(super) fn ts_demux(config: PackagerConfig) -> Box<dyn Demux> {
    Box::new(TsDemuxer::new(config))
}

impl Demux for TsDemuxer {
    fn push(&mut self, data: &[u8], received_unix_ms: u64) -> Result<(), PackagerError> {
        TsDemuxer::push(self, data, received_unix_ms)
    }
    fn take_output(&mut self) -> Vec<Bytes> {
        TsDemuxer::take_output(self)
    }
    fn finish(&mut self) -> Result<(), PackagerError> {
        TsDemuxer::finish(self)
    }
}

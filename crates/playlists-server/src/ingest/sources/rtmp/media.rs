//! [`MediaSink`]: a published RTMP stream's media, through the packager into its ingest
//! session.

use std::time::Duration;

use bytes::Bytes;

use super::RtmpError;
use crate::ingest::restamp::unix_now_ms;
use crate::ingest::IngestSession;
use crate::packager::{Packager, PackagerConfig};

/// The packager of one publishing connection and the session its output goes to. Dropped
/// without [`finish`](Self::finish), the session counts as a disconnect (the stream's grace
/// period starts; a reconnect continues it).
#[derive(Debug)]
pub struct MediaSink {
    session: IngestSession,
    packager: Packager,
}

/// Which kind of message a body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// RTMP message type 9.
    Video,
    /// RTMP message type 8.
    Audio,
}

impl MediaSink {
    /// Packages into `session`, cutting parts of `part_target` (the library's PART-TARGET)
    /// and refusing frames over `max_frame_bytes`.
    pub fn new(session: IngestSession, part_target: Duration, max_frame_bytes: usize) -> Self {
        let packager = Packager::new(PackagerConfig {
            part_target,
            max_frame_bytes,
        });
        Self { session, packager }
    }

    /// The stream published.
    pub fn stream(&self) -> &str {
        self.session.stream()
    }

    /// Takes the body of one audio or video message and publishes what it completes.
    ///
    /// # Errors
    /// [`RtmpError::Packager`] or [`RtmpError::Ingest`]: the media is refused; the session
    /// is spent.
    pub fn push(&mut self, track: Track, timestamp: u32, data: Bytes) -> Result<(), RtmpError> {
        // The wall clock at arrival: the packager dates parts (`prft`) with it.
        let received = unix_now_ms();
        match track {
            Track::Video => self.packager.push_video(timestamp, data, received)?,
            Track::Audio => self.packager.push_audio(timestamp, data, received)?,
        }
        self.drain()
    }

    fn drain(&mut self) -> Result<(), RtmpError> {
        for bytes in self.packager.take_output() {
            self.session.push(bytes)?;
        }
        Ok(())
    }

    /// Closes the open part, publishes it and ends the session (the stream's grace period
    /// starts). Returns the parts the session published.
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn finish(mut self) -> Result<u64, RtmpError> {
        self.packager.finish()?;
        self.drain()?;
        Ok(self.session.finish()?)
    }
}

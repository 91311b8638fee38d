//! [`SegmentObserver`]: what a recorder, an archiver or a DVR store is told of each stream's
//! completed segments.

use bytes::Bytes;

use crate::chunk_cache::StreamIdx;
use crate::manifest::SegmentParts;

/// One segment that has just closed, with everything needed to keep it: its bytes (the parts
/// in order, shared with the chunk cache: nothing is copied) and its init section.
#[derive(Debug, Clone)]
pub struct CompletedSegment {
    /// The stream's handle. A stream that ends and starts again under its name gets a new
    /// handle, so an observer can tell a new run (a new recording) from the one it follows.
    pub stream: StreamIdx,
    /// Its number, date, duration, init id and discontinuity.
    pub info: SegmentParts,
    /// Its parts' bytes, in order; their concatenation is the segment.
    pub parts: Vec<Bytes>,
    /// The init section its parts need (`info.init_id`).
    pub init: Bytes,
}

/// Told of every segment a stream completes, and of its end; registered with
/// [`Playlists::with_observer`](crate::Playlists::with_observer).
///
/// Calls come on the publisher's thread, in order per stream (a stream's segments in media
/// sequence order, then its end), after the playlist that lists the segment is published:
/// they add nothing to the latency of a part. An observer must still return at once, since
/// the stream's next part waits for it: hand the work (disk, network) to a task or thread of
/// its own and drop it, rather than wait, when that falls behind.
pub trait SegmentObserver: Send + Sync + std::fmt::Debug {
    /// `stream`'s segment `segment.info.msn` is complete: it will never change.
    fn segment_completed(&self, stream: &str, segment: CompletedSegment);

    /// The run of `stream` whose handle is `idx` has ended (EXT-X-ENDLIST), or was removed:
    /// no segment of it follows.
    fn stream_ended(&self, stream: &str, idx: StreamIdx);
}

//! [`SegmentObserver`]: what a recorder, an archiver or a DVR store is told of each stream's
//! completed segments.

use std::sync::Arc;

use bytes::Bytes;

use super::Playlists;
use crate::chunk_cache::StreamIdx;
#[cfg(doc)]
use crate::manifest::M3u8Manifest;
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

/// Registering an observer, asking for EVENT runs, and reporting to the observer.
impl Playlists {
    /// Has `observer` told of every segment completed and every stream ended from now on (see
    /// [`SegmentObserver`] for when and how). Without one, nothing is collected for it.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn SegmentObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Whether the next run of `stream` (the next time it starts: now, if it has not published
    /// yet or has ended) is an EVENT playlist ([`M3u8Manifest::keep_everything`]): every
    /// segment listed from its start, `EXT-X-PLAYLIST-TYPE:EVENT`. A run that is live keeps
    /// what it started as. The parts of segments past the live window are not kept, so a
    /// server serves those segments from its own store ([`SegmentObserver`]).
    pub fn set_event(&self, stream: &str, event: bool) {
        let mut events = self.events.lock();
        if event {
            events.insert(stream.to_owned());
        } else {
            events.remove(stream);
        }
    }

    /// Hands a completed segment, with its bytes, to the observer. Called by its stream's
    /// publisher (holding the writer lock), so the parts are still in the ring.
    pub(super) fn report_segment(&self, idx: StreamIdx, stream: &str, info: SegmentParts) {
        let Some(observer) = &self.observer else {
            return;
        };
        let parts: Option<Vec<Bytes>> = (0..u64::from(info.count))
            .map(|i| self.chunks.get(idx, info.first_id + i).map(|c| c.bytes))
            .collect();
        let init = self.m3u8.init(idx, info.init_id).map(|c| c.bytes);
        // Both are there while the publisher holds the writer lock: the segment is the newest
        // complete one, and its init section the current or the previous one. Should the ring
        // have been sized below one segment, the segment is not reported rather than torn.
        if let (Some(parts), Some(init)) = (parts, init) {
            observer.segment_completed(
                stream,
                CompletedSegment {
                    stream: idx,
                    info,
                    parts,
                    init,
                },
            );
        }
    }
}

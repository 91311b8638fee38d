//! [`StreamRef`]: the read side of one stream, as the HTTP layer uses it.

use std::sync::Arc;

use tokio::time::Instant;

use super::listing::status_of;
use super::{Playlists, StreamSlot, StreamState};
use crate::chunk_cache::{Chunk, StreamIdx};
use crate::error::{Error, Result};
use crate::m3u8_cache::PlaylistVersion;
use crate::manifest::PartPosition;

/// A borrowed handle to one stream. Cheap to make ([`Playlists::stream`]); every read checks
/// that the stream is still the one the handle was made for, so a handle that outlives its
/// stream reads nothing rather than the next stream's data.
#[derive(Debug, Clone, Copy)]
pub struct StreamRef<'a> {
    playlists: &'a Playlists,
    idx: StreamIdx,
    slot: &'a StreamSlot,
}

/// A complete segment as the sequence of its parts' chunks: served by writing the parts one
/// after another, so the segment is never copied into one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The parts, in order.
    pub parts: Vec<Chunk>,
    /// Total length in bytes.
    pub len: u64,
    /// xxh3 over the parts' hashes: a strong validator for the whole segment.
    pub hash: u64,
}

/// What a blocking playlist request waits for (§6.2.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockingRequest {
    /// `_HLS_msn`.
    pub msn: u64,
    /// `_HLS_part`, if given.
    pub part: Option<u32>,
}

impl<'a> StreamRef<'a> {
    pub(super) fn new(playlists: &'a Playlists, idx: StreamIdx, slot: &'a StreamSlot) -> Self {
        Self {
            playlists,
            idx,
            slot,
        }
    }

    /// The chunk-cache handle of the stream.
    pub fn idx(&self) -> StreamIdx {
        self.idx
    }

    fn stale(&self) -> Error {
        Error::StaleStream {
            index: self.idx.index(),
            generation: self.idx.generation(),
        }
    }

    /// Runs `f` on the stream's state if the handle still names it.
    fn with_state<T>(&self, f: impl FnOnce(&StreamState) -> T) -> Option<T> {
        let state = self.slot.state.read();
        state.as_ref().filter(|st| st.idx == self.idx).map(f)
    }

    /// A snapshot of the stream's state; `None` once the stream is gone.
    pub fn status(&self) -> Option<crate::StreamStatus> {
        self.with_state(status_of)
    }

    /// The stream's EXT-X-TARGETDURATION; `None` while it is being measured (before the first
    /// playlist) or once the stream is gone.
    pub fn target_duration_s(&self) -> Option<u32> {
        self.with_state(|st| st.manifest.target_duration_s())
            .flatten()
    }

    /// The newest playlist version.
    pub fn playlist(&self) -> Option<Arc<PlaylistVersion>> {
        self.playlists.m3u8.latest(self.idx)
    }

    /// Checks a blocking request against §6.2.5.2 without waiting: `_HLS_msn` more than two
    /// past the newest segment is [`Error::MsnTooFar`] (§6.2.5.2 [docs/conformance.md R7]), and
    /// `_HLS_part` further ahead of the newest part than the Advance Part Limit is
    /// [`Error::PartTooFar`] (§6.2.5.2 [docs/conformance.md R8]). An ended stream accepts anything:
    /// its directives are ignored (§6.2.5 [docs/conformance.md R13]).
    pub fn check(&self, req: BlockingRequest) -> Result<()> {
        self.with_state(|st| {
            let Some(last) = st.manifest.last_position() else {
                return Ok(());
            };
            if st.ended {
                return Ok(());
            }
            if req.msn > last.msn + 2 {
                return Err(Error::MsnTooFar {
                    requested: req.msn,
                    last: last.msn,
                });
            }
            let Some(part) = req.part else {
                return Ok(());
            };
            // Parts of a segment after the open one are counted from its start; how many
            // parts the open segment will still get is unknown, so the distance is the
            // smallest it can be (§6.2.5.2 speaks of the limit as a bound on how far ahead
            // the client may ask; a lower estimate never rejects a legitimate request).
            let ahead = if req.msn == last.msn {
                u64::from(part).saturating_sub(u64::from(last.part))
            } else if req.msn > last.msn {
                u64::from(part) + 1
            } else {
                0
            };
            let limit = advance_part_limit(st.manifest.part_target_secs());
            if ahead > limit {
                return Err(Error::PartTooFar {
                    msn: req.msn,
                    requested: part,
                    ahead,
                    limit,
                });
            }
            Ok(())
        })
        .unwrap_or_else(|| Err(self.stale()))
    }

    /// The playlist version a blocking request is answered with, waiting (without polling)
    /// until it exists or `deadline` passes.
    ///
    /// * with `part`: the version whose newest part is `(msn, part)`; a part index past the
    ///   end of a complete segment means part 0 of the next one
    ///   (§6.2.5.2 [docs/conformance.md R11]);
    /// * without `part`: the version in which segment `msn` is complete, which is the one
    ///   that lists the first part of segment `msn + 1`;
    /// * a position older than the versions kept → the newest version
    ///   (§6.2.5.2 [docs/conformance.md R12]);
    /// * once the stream has ended → the final version, whatever was asked
    ///   (§6.2.5 [docs/conformance.md R13]).
    ///
    /// Call [`check`](Self::check) first to reject requests too far ahead
    /// (§6.2.5.2 [docs/conformance.md R7, R8]).
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] at the deadline (the server answers 503,
    /// §6.2.5.2 [docs/conformance.md R10]), [`Error::StaleStream`] if the stream is removed
    /// meanwhile.
    pub async fn wait_playlist(
        &self,
        req: BlockingRequest,
        deadline: Instant,
    ) -> Result<Arc<PlaylistVersion>> {
        let target = match req.part {
            Some(part) => PartPosition { msn: req.msn, part },
            None => PartPosition {
                msn: req.msn.saturating_add(1),
                part: 0,
            },
        };
        self.slot
            .event
            .wait_until(deadline, || {
                let (ended, normalized) = self
                    .with_state(|st| (st.ended, st.manifest.normalize(target)))
                    .ok_or_else(|| self.stale())?;
                // Decide from the *published* versions, not the builder: the builder learns
                // of a part before its version is in the cache, and answering in between
                // would hand out an older version.
                // No version yet: the stream is measuring its target duration.
                let Some(latest) = self.playlist() else {
                    return Ok(None);
                };
                if ended || latest.finished {
                    return Ok(Some(latest));
                }
                Ok((latest.position >= normalized).then(|| {
                    self.playlists
                        .m3u8
                        .at(self.idx, normalized)
                        .unwrap_or(latest)
                }))
            })
            .await
    }

    /// The newest playlist version, waiting (without polling) until the stream publishes its
    /// first one or `deadline` passes. A stream publishes nothing until it knows its target
    /// duration ([`TargetDuration::Measured`](crate::TargetDuration::Measured)), which takes its
    /// first segment; a player that asks meanwhile is better held than told the stream does not
    /// exist (§6.2.5.2 holds blocking requests the same way).
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] at the deadline, [`Error::StaleStream`] if the stream is removed
    /// meanwhile.
    pub async fn wait_first_playlist(&self, deadline: Instant) -> Result<Arc<PlaylistVersion>> {
        self.slot
            .event
            .wait_until(deadline, || {
                self.with_state(|_| ()).ok_or_else(|| self.stale())?;
                Ok(self.playlist())
            })
            .await
    }

    /// The published part at `pos`, if it is still kept.
    pub fn part_at(&self, pos: PartPosition) -> Option<Chunk> {
        let number = self.with_state(|st| st.manifest.part_id(pos)).flatten()?;
        self.part(number)
    }

    /// Part `number` of the stream (`p{number}.mp4` in its playlists), if it is still kept.
    pub fn part(&self, number: u64) -> Option<Chunk> {
        self.playlists.chunks.get(self.idx, number)
    }

    /// Part `number`, waiting until it is complete when it is the preload-hinted part
    /// (§6.2.6 [docs/conformance.md R22]). `Ok(None)` when the part is unknown, expired, or ahead
    /// of the hint (§6.2.6 [docs/conformance.md R24]: the server answers 404).
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] at the deadline, [`Error::StaleStream`] if the stream goes away.
    pub async fn wait_part(&self, number: u64, deadline: Instant) -> Result<Option<Chunk>> {
        self.slot
            .event
            .wait_until(deadline, || {
                // The hint before the ring: a part's bytes are stored before the builder
                // (under the state lock) moves the hint past it, so once the hint has moved
                // the bytes are visible here. In the other order a publish between the two
                // looks would make the hinted part look unknown.
                let hinted = self
                    .with_state(|st| !st.ended && st.manifest.preload_hint() == Some(number))
                    .ok_or_else(|| self.stale())?;
                match self.part(number) {
                    Some(chunk) => Ok(Some(Some(chunk))),
                    None if hinted => Ok(None),
                    // Unknown, expired or ahead of the hint: answered now, not waited for.
                    None => Ok(Some(None)),
                }
            })
            .await
    }

    /// The complete segment `msn`, if every one of its parts is still kept.
    pub fn segment(&self, msn: u64) -> Option<Segment> {
        let parts = self.with_state(|st| st.manifest.segment(msn)).flatten()?;
        if !parts.complete {
            return None;
        }
        let chunks = (0..u64::from(parts.count))
            .map(|i| self.playlists.chunks.get(self.idx, parts.first_id + i))
            .collect::<Option<Vec<Chunk>>>()?;
        let len = chunks.iter().map(|c| c.bytes.len() as u64).sum();
        let hashes: Vec<u8> = chunks.iter().flat_map(|c| c.hash.to_le_bytes()).collect();
        Some(Segment {
            parts: chunks,
            len,
            hash: crate::hash::xxh3_64(&hashes),
        })
    }

    /// Whether segment `msn` is listed in the DVR window without its parts
    /// ([`M3u8Manifest::is_archived`](crate::M3u8Manifest::is_archived)): a server serves it
    /// from its own store.
    pub fn is_archived(&self, msn: u64) -> bool {
        self.with_state(|st| st.manifest.is_archived(msn))
            .unwrap_or(false)
    }

    /// Init section `id` (`init.mp4` is 0, `init-{id}.mp4` the later ones), as a [`Chunk`]
    /// whose `id` is the init id and whose hash is its ETag.
    pub fn init(&self, id: u32) -> Option<Chunk> {
        self.playlists.m3u8.init(self.idx, id)
    }
}

/// The Advance Part Limit of §6.2.5.2: 3 divided by PART-TARGET when PART-TARGET is under one
/// second, otherwise 3 (PART-TARGET 0.2 s ⇒ 15 parts).
pub fn advance_part_limit(part_target_secs: f64) -> u64 {
    if part_target_secs > 0.0 && part_target_secs < 1.0 {
        // Rounded up (a fractional limit never rejects a part the spec allows); the epsilon
        // keeps 3 / 0.2 = 15.000000000000002 from becoming 16.
        ((3.0 / part_target_secs) - 1e-9).ceil() as u64
    } else {
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_part_limit_follows_6_2_5_2() {
        assert_eq!(advance_part_limit(0.2), 15);
        assert_eq!(advance_part_limit(0.5), 6);
        assert_eq!(advance_part_limit(1.0), 3);
        assert_eq!(advance_part_limit(2.0), 3);
    }
}

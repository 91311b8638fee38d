//! Sizing and timing of a [`Playlists`](crate::Playlists) instance, validated once.

use crate::error::{Error, Result};

/// Sizes and timings shared by every stream of one [`Playlists`](crate::Playlists) (and of a
/// bare [`ChunkCache`](crate::ChunkCache)).
///
/// Every cache is allocated from these numbers once, at construction, and never grows: at most
/// `num_playlists × max_segments × max_parts_per_segment` chunk slots plus
/// `num_playlists × playlist_versions` playlist versions, whatever the traffic. A stream's
/// slots take resident memory only once a stream has registered on its ring (256 bytes a
/// slot, 1 MiB a ring at the default sizes); before that they are address space. The slots are
/// the upper bound for part *payloads*; a [`Playlists`](crate::Playlists) holds only the parts
/// of the segments it still serves (the window and the segments past it within their
/// availability duration), and releases older ones as it forgets them, not when the ring wraps.
/// [`Options::validate`] rejects zero and absurd values with [`Error::InvalidOption`];
/// every constructor calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How many streams can be live at once. Registering one more is
    /// [`Error::StreamsExhausted`]. Default 500: capacity no stream has used costs next to no
    /// memory (a stream's chunk ring is written when a stream first registers on it, see
    /// [`ChunkCache`](crate::ChunkCache)), so the bound is what live streams cost: 500
    /// streams of 3 Mbit/s (about 31 MB each at the default sizes) fit a 2-core, 24 GB machine
    /// with room for their players (the server's `--num-playlists` explains how).
    pub num_playlists: usize,
    /// Segments a stream keeps: the playlist window and the ring depth. Default 32.
    pub max_segments: usize,
    /// Parts a segment may hold. Together with `max_segments` this sizes each stream's ring
    /// (`max_segments × max_parts_per_segment` chunks), a bound that has to fit the longest
    /// segments, not what a stream holds at a time. Default 128.
    pub max_parts_per_segment: usize,
    /// A new segment starts at the first independent part once the current segment has lasted
    /// this long. Default 1500 ms.
    pub segment_min_ms: u64,
    /// How EXT-X-TARGETDURATION is chosen; whichever way, a stream keeps its target duration
    /// for its whole life (§4.4.3.1). Default [`TargetDuration::Measured`] up to 10 s.
    pub target_duration: TargetDuration,
    /// PART-TARGET of EXT-X-PART-INF in milliseconds; fixed for the life of a stream
    /// (§4.4.3.7). Default 200 ms.
    pub part_target_ms: u32,
    /// Rendered playlist versions each stream keeps for `_HLS_msn`/`_HLS_part` requests, so the
    /// same URL is answered with the same bytes. Default 64.
    pub playlist_versions: usize,
    /// Where a stream's segment, part and init section numbers start. Default
    /// [`Numbering::WallClock`], so that a stream that starts again under its name (after an
    /// origin restart) numbers above what players saw before.
    pub numbering: Numbering,
    /// A DVR window, ms: segments stay listed this long after they end, without EXT-X-PART
    /// tags and without their parts in memory (the parts of the live window, `max_segments`,
    /// are all that is kept), so players can seek back while the live edge stays
    /// low-latency. A server serves the older segments from a store of its own
    /// ([`SegmentObserver`](crate::SegmentObserver) hands it every segment). Delta updates
    /// skip the whole DVR part. Default `None`: a live window only.
    pub dvr_window_ms: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            num_playlists: 500,
            max_segments: 32,
            max_parts_per_segment: 128,
            segment_min_ms: 1500,
            target_duration: TargetDuration::default(),
            part_target_ms: 200,
            playlist_versions: 64,
            numbering: Numbering::default(),
            dvr_window_ms: None,
        }
    }
}

/// Upper bounds past which a value is a typo, not a configuration: they keep a mistyped
/// option from reserving gigabytes up front.
const MAX_PLAYLISTS: usize = 4096;
const MAX_SEGMENTS: usize = 4096;
const MAX_PARTS_PER_SEGMENT: usize = 4096;
/// Chunk slots across all streams (each slot is one cache line).
const MAX_TOTAL_SLOTS: usize = 1 << 24;
const MAX_TARGET_DURATION_S: u32 = 3600;
/// The longest target duration a stream may measure: a key-frame interval past a minute is not
/// a live stream's, and a fixed target duration says so explicitly. It also bounds what a server
/// precomputes per target duration (cache lifetimes).
pub const MAX_MEASURED_TARGET_DURATION_S: u32 = 60;

/// How a stream's EXT-X-TARGETDURATION is chosen (§4.4.3.1: every EXTINF, rounded to the
/// nearest integer, is at most the target duration, which never changes).
///
/// Segments are cut at key frames (see [`M3u8Manifest`](crate::M3u8Manifest)), so the right
/// target duration depends on the encoder's key-frame interval, which only the stream knows. A
/// fixed value that is too large costs every player: HOLD-BACK is 3 × TD, and players that
/// reload once per target duration start further behind; one that is too small forces cuts
/// between key frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetDuration {
    /// Measured per stream: the first segment (cut at the first independent part after
    /// `segment_min_ms`, so its length follows from the key-frame interval) is rounded to the
    /// nearest second, and never below `segment_min_ms` rounded; no playlist is published
    /// before that. Renditions of one group share the target duration the first of them
    /// measured (§6.2.4). A first segment that reaches `max_s` without a key frame is cut
    /// there and the stream gets `max_s`.
    Measured {
        /// The most a stream may measure, at most [`MAX_MEASURED_TARGET_DURATION_S`].
        max_s: u32,
    },
    /// The same target duration, in seconds, for every stream.
    Fixed(u32),
}

impl Default for TargetDuration {
    fn default() -> Self {
        Self::Measured { max_s: 10 }
    }
}

impl TargetDuration {
    /// The longest target duration a stream may get: what no part may exceed, and what bounds
    /// how long a server holds a request for a stream it knows nothing of yet.
    pub fn max_s(self) -> u32 {
        match self {
            Self::Measured { max_s } => max_s,
            Self::Fixed(s) => s,
        }
    }
}
const MAX_PLAYLIST_VERSIONS: usize = 65_536;

/// Where a stream starts numbering its segments (EXT-X-MEDIA-SEQUENCE), parts (`p{n}.mp4`) and
/// init sections (`init-{n}.mp4`); after the first, each counts up by one.
///
/// A stream lives in memory only, so an origin that restarts (a crash, a deploy) knows nothing
/// of the numbers its players last saw. A player's next reload must land on a newer playlist,
/// never an older one, and a URI must never name other media than it did before the restart
/// (a cache in front, or the player's own, would answer with the old bytes). The numbers must
/// also match across origins fed the same encoder, so they come from something both outlive
/// and share: the date of the stream's first sample (the encoder's `prft`, or the origin's
/// clock).
///
/// EXT-X-DISCONTINUITY-SEQUENCE starts at 0 either way: players index tables by it (hls.js
/// keeps an array indexed by discontinuity number and scans it from 0), so a date-sized value
/// costs them seconds of main-thread time per scan (docs/conformance.md R34).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Numbering {
    /// The first segment is numbered by its date: whole halves of `segment_min_ms` since the
    /// Unix epoch; the first part by its date in milliseconds
    /// ([`first_part`](Self::first_part)) and the first init section by its date in seconds
    /// ([`first_init`](Self::first_init)).
    ///
    /// Segments are cut no shorter than `segment_min_ms` (but for the last one before a
    /// discontinuity or the end, and for segments cut at `max_parts_per_segment` parts when
    /// those are shorter), so a run of `n` segments takes at least `n` halves of it: a stream
    /// that starts again under the same name, however soon, numbers above every segment of
    /// the previous run, with half of the cadence to spare for an encoder whose clock runs
    /// ahead of the wall clock. With the defaults (1.5 s) the numbers are around 2.4 × 10⁹ in
    /// 2026, far below what players handle (2⁵³).
    #[default]
    WallClock,
    /// The first segment, part and init section are number 0: a stream that starts again
    /// restarts its numbers, which players that saw the previous run take for an older
    /// playlist, and its URIs, which caches answer with the previous run's bytes. For tests
    /// and for streams that never restart.
    FromZero,
}

impl Numbering {
    /// The number of a stream's first segment when it is dated `pdt_us` (µs since the Unix
    /// epoch), with `segment_min_ms` as in [`Options`].
    pub fn first(self, pdt_us: u64, segment_min_ms: u64) -> u64 {
        match self {
            Self::WallClock => pdt_us / (segment_min_ms.max(1) * 500),
            Self::FromZero => 0,
        }
    }

    /// The number of a stream's first part (its chunk id, which names it: `p{number}.mp4`)
    /// when its first sample is dated `start_ms` (ms since the Unix epoch): the date itself
    /// with [`WallClock`](Self::WallClock), 0 with [`FromZero`](Self::FromZero).
    ///
    /// Parts last far more than a millisecond, so a stream that starts again numbers its
    /// parts above every part of its previous run, and a part's URI never names other media
    /// than it did before a restart (a cache in front of the origin would serve the old
    /// bytes for it).
    pub fn first_part(self, start_ms: u64) -> u64 {
        match self {
            Self::WallClock => start_ms,
            Self::FromZero => 0,
        }
    }

    /// The number of a stream's first init section (`init-{number}.mp4`, `init.mp4` for 0)
    /// when its first sample is dated `start_ms`: the date in seconds with
    /// [`WallClock`](Self::WallClock) (an encoder sends a new init section far less than once a
    /// second), 0 with [`FromZero`](Self::FromZero). A restarted encoder may send another init
    /// section, which must not be served from a cache under the previous run's name.
    pub fn first_init(self, start_ms: u64) -> u32 {
        match self {
            Self::WallClock => u32::try_from(start_ms / 1000).unwrap_or(u32::MAX / 2),
            Self::FromZero => 0,
        }
    }
}

impl Options {
    /// Slots in one stream's ring: `max_segments × max_parts_per_segment`.
    pub fn slots_per_stream(&self) -> usize {
        self.max_segments.saturating_mul(self.max_parts_per_segment)
    }

    /// Checks every field; the first offending one is reported.
    pub fn validate(&self) -> Result<()> {
        range("num_playlists", self.num_playlists, 1, MAX_PLAYLISTS)?;
        range("max_segments", self.max_segments, 1, MAX_SEGMENTS)?;
        range(
            "max_parts_per_segment",
            self.max_parts_per_segment,
            1,
            MAX_PARTS_PER_SEGMENT,
        )?;
        let total = self.slots_per_stream().saturating_mul(self.num_playlists);
        if total > MAX_TOTAL_SLOTS {
            return Err(invalid(
                "max_segments",
                self.max_segments,
                "num_playlists × max_segments × max_parts_per_segment exceeds 16 Mi slots",
            ));
        }
        let max_td = match self.target_duration {
            TargetDuration::Measured { .. } => MAX_MEASURED_TARGET_DURATION_S,
            TargetDuration::Fixed(_) => MAX_TARGET_DURATION_S,
        };
        range(
            "target_duration",
            self.target_duration.max_s() as usize,
            1,
            max_td as usize,
        )?;
        range(
            "part_target_ms",
            self.part_target_ms as usize,
            10,
            self.target_duration.max_s() as usize * 1000,
        )?;
        range(
            "segment_min_ms",
            self.segment_min_ms as usize,
            1,
            self.target_duration.max_s() as usize * 1000,
        )?;
        range(
            "playlist_versions",
            self.playlist_versions,
            1,
            MAX_PLAYLIST_VERSIONS,
        )?;
        Ok(())
    }
}

fn range(name: &'static str, value: usize, min: usize, max: usize) -> Result<()> {
    if value < min {
        return Err(invalid(name, value, "below the minimum"));
    }
    if value > max {
        return Err(invalid(name, value, "above the maximum"));
    }
    Ok(())
}

fn invalid(name: &'static str, value: impl ToString, reason: &'static str) -> Error {
    Error::InvalidOption {
        name,
        value: value.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_as_documented() {
        let o = Options::default();
        o.validate().unwrap();
        assert_eq!(
            (o.max_segments, o.num_playlists, o.max_parts_per_segment),
            (32, 500, 128)
        );
        assert_eq!(o.segment_min_ms, 1500);
    }

    #[test]
    fn zero_values_are_rejected_by_name() {
        for (name, o) in [
            (
                "num_playlists",
                Options {
                    num_playlists: 0,
                    ..Default::default()
                },
            ),
            (
                "max_segments",
                Options {
                    max_segments: 0,
                    ..Default::default()
                },
            ),
            (
                "max_parts_per_segment",
                Options {
                    max_parts_per_segment: 0,
                    ..Default::default()
                },
            ),
            (
                "segment_min_ms",
                Options {
                    segment_min_ms: 0,
                    ..Default::default()
                },
            ),
            (
                "target_duration",
                Options {
                    target_duration: TargetDuration::Fixed(0),
                    ..Default::default()
                },
            ),
            (
                "target_duration",
                Options {
                    target_duration: TargetDuration::Measured { max_s: 0 },
                    ..Default::default()
                },
            ),
            (
                "part_target_ms",
                Options {
                    part_target_ms: 0,
                    ..Default::default()
                },
            ),
            (
                "playlist_versions",
                Options {
                    playlist_versions: 0,
                    ..Default::default()
                },
            ),
        ] {
            match o.validate() {
                Err(Error::InvalidOption { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: expected InvalidOption, got {other:?}"),
            }
        }
    }

    #[test]
    fn absurd_values_are_rejected() {
        let huge = Options {
            num_playlists: 4096,
            max_segments: 4096,
            max_parts_per_segment: 4096,
            ..Default::default()
        };
        assert!(matches!(huge.validate(), Err(Error::InvalidOption { .. })));
        let part_over_target = Options {
            part_target_ms: 11_000,
            ..Default::default()
        };
        assert!(matches!(
            part_over_target.validate(),
            Err(Error::InvalidOption {
                name: "part_target_ms",
                ..
            })
        ));
        let measured_past_a_minute = Options {
            target_duration: TargetDuration::Measured { max_s: 61 },
            ..Default::default()
        };
        assert!(matches!(
            measured_past_a_minute.validate(),
            Err(Error::InvalidOption {
                name: "target_duration",
                ..
            })
        ));
        let fixed_past_a_minute = Options {
            target_duration: TargetDuration::Fixed(61),
            ..Default::default()
        };
        fixed_past_a_minute.validate().unwrap();
        let usize_overflow = Options {
            max_segments: usize::MAX,
            ..Default::default()
        };
        assert!(usize_overflow.validate().is_err());
    }
}

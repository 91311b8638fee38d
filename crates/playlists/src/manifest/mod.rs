//! [`M3u8Manifest`]: rolls parts into segments and renders LL-HLS media playlists (§4.4).
//!
//! The builder is fed one [`PartMeta`] per CMAF chunk and keeps, per segment, the parts' ids,
//! durations, independence and sizes. Everything it renders derives from those and from the
//! stream's start time, never from the clock at render time, so two builders fed the same
//! parts produce byte-identical playlists (two origins can stand behind one CDN).
//!
//! ```text
//!   retired (kept for lookups, rule 18/20) │ listed window (≥ 3 × TD, rule 19)   │ open
//!   ┌──────┬──────┐                        │ ┌──────┬──────┬ ─ ─ ┬──────┬──────┐ │ ┌────┐
//!   │ s3   │ s4   │                        │ │ s5   │ s6   │     │ s35  │ s36  │ │ │s37 │ ◀ push
//!   └──────┴──────┘                        │ └──────┴──────┴ ─ ─ ┴──────┴──────┘ │ └────┘
//!                                          MEDIA-SEQUENCE = 5     parts listed for the
//!                                                                 last 3 × TD (rule 18)
//! ```
//!
//! Rolling (`push`): a part starts a new segment when it is independent and the open segment
//! has reached `segment_min_ms`; when its timestamps do not continue the previous part or its
//! init section changed (then with EXT-X-DISCONTINUITY); or, as a last resort, when the open
//! segment would otherwise round above TARGETDURATION (rule 1) or exceed
//! `max_parts_per_segment` — such forced cuts are counted ([`M3u8Manifest::forced_cuts`]).

mod bandwidth;
mod multivariant;
mod render;

pub use bandwidth::Bandwidth;
pub use multivariant::{render_multivariant, Variant};

use std::collections::VecDeque;

use crate::error::{Error, Result};
use crate::options::Options;

/// One part as the builder needs it. Times are in the media timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartMeta {
    /// Id of the part's bytes in the chunk cache; a segment's parts have consecutive ids.
    pub id: u64,
    /// Duration in ticks.
    pub duration: u64,
    /// Ticks per second.
    pub timescale: u32,
    /// Base media decode time (`tfdt`) of the part's first sample, in ticks.
    pub decode_time: u64,
    /// The part starts with a sync sample (EXT-X-PART INDEPENDENT=YES).
    pub independent: bool,
    /// Size in bytes, for the bandwidth figures.
    pub len: u64,
    /// The init section (EXT-X-MAP) the part needs: `init.mp4` for 0, `init-{n}.mp4` otherwise.
    pub init_id: u32,
}

/// Where a part is: the Media Sequence Number of its segment and its index in that segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartPosition {
    /// Media Sequence Number of the parent segment.
    pub msn: u64,
    /// Index of the part within its segment, from 0.
    pub part: u32,
}

/// The `_HLS_skip` delivery directive (§6.2.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Skip {
    /// The full playlist.
    #[default]
    No,
    /// A Playlist Delta Update skipping old segments.
    Yes,
    /// As `Yes`, and old date ranges too (this builder emits no EXT-X-DATERANGE, so the
    /// update is the same as `Yes` plus an empty RECENTLY-REMOVED-DATERANGES).
    V2,
}

/// An EXT-X-RENDITION-REPORT (§4.4.5.4) for another rendition of the same group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionReport {
    /// The rendition's playlist URI, relative to this playlist.
    pub uri: String,
    /// Its newest Media Sequence Number.
    pub last_msn: u64,
    /// Its newest part index in that segment.
    pub last_part: u32,
}

/// The parts of one segment, for serving the segment as their concatenation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentParts {
    /// The segment's Media Sequence Number.
    pub msn: u64,
    /// Chunk id of its first part; the others follow consecutively.
    pub first_id: u64,
    /// How many parts it has (so far, if not complete).
    pub count: u32,
    /// Whether the segment is closed (listed with EXTINF and a URI).
    pub complete: bool,
    /// Its duration in seconds so far.
    pub duration_secs: f64,
}

/// Whether a part starts a new segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// It continues the open segment.
    No,
    /// It starts one: the first part, an independent part after `segment_min_ms`, or a
    /// discontinuity.
    Start,
    /// It starts one although it is not independent, to keep rule 1 or the part limit.
    Forced,
}

#[derive(Debug, Clone, Copy)]
struct PartEntry {
    id: u64,
    duration: u64,
    independent: bool,
}

#[derive(Debug, Clone)]
struct Segment {
    msn: u64,
    timescale: u32,
    /// Sum of the parts' durations, in ticks.
    duration: u64,
    /// Wall-clock time of the first sample, µs since the Unix epoch (PROGRAM-DATE-TIME).
    pdt_us: u64,
    discontinuity: bool,
    init_id: u32,
    bytes: u64,
    complete: bool,
    parts: Vec<PartEntry>,
}

impl Segment {
    fn secs(&self) -> f64 {
        self.duration as f64 / f64::from(self.timescale)
    }

    fn duration_us(&self) -> u64 {
        (u128::from(self.duration) * 1_000_000 / u128::from(self.timescale)) as u64
    }

    fn part_count(&self) -> u32 {
        self.parts.len() as u32
    }
}

/// How many segments stay known after leaving the listed window, so that their parts and
/// segment URIs keep resolving while players that saw them still ask (rule 18: parts for
/// 3 × TD after removal; rule 20).
const RETIRED: usize = 8;

/// The LL-HLS media playlist of one stream.
///
/// Guarantees: every rendered playlist obeys the playlist rules of `llhls-rules.md`
/// (TARGETDURATION and PART-TARGET fixed for the stream's life, MEDIA-SEQUENCE and
/// DISCONTINUITY-SEQUENCE never decrease, the window never below 3 × TD, one PRELOAD-HINT
/// while live, EXT-X-ENDLIST once finished); rendering is a pure function of the parts pushed
/// and the start time.
#[derive(Debug, Clone)]
pub struct M3u8Manifest {
    target_duration_s: u32,
    part_target_ms: u32,
    segment_min_ms: u64,
    max_segments: usize,
    max_parts_per_segment: u32,
    start_unix_ms: u64,
    /// Retired segments, then the listed window, then the open segment (if any).
    segments: VecDeque<Segment>,
    /// Index in `segments` of the first listed segment.
    first_listed: usize,
    /// Discontinuities before the first listed segment.
    discontinuity_sequence: u64,
    /// CAN-SKIP-UNTIL is advertised from the first version whose window reaches past the
    /// skip boundary, and in every version after (the attribute never disappears).
    can_skip: bool,
    finished: bool,
    /// `(decode_time + duration, duration, timescale)` of the newest part.
    last_part: Option<(u64, u64, u32)>,
    last_id: Option<u64>,
    forced_cuts: u64,
}

impl M3u8Manifest {
    /// A builder with `opts`' durations and window. `start_unix_ms` is the wall-clock time of
    /// the first part's first sample: every PROGRAM-DATE-TIME is it plus media time.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when `opts` does not validate.
    pub fn new(opts: &Options, start_unix_ms: u64) -> Result<Self> {
        opts.validate()?;
        Ok(Self {
            target_duration_s: opts.target_duration_s,
            part_target_ms: opts.part_target_ms,
            segment_min_ms: opts.segment_min_ms,
            max_segments: opts.max_segments,
            max_parts_per_segment: opts.max_parts_per_segment as u32,
            start_unix_ms,
            segments: VecDeque::new(),
            first_listed: 0,
            discontinuity_sequence: 0,
            can_skip: false,
            finished: false,
            last_part: None,
            last_id: None,
            forced_cuts: 0,
        })
    }

    /// Adds a part and returns its position.
    ///
    /// # Errors
    /// [`Error::InvalidPart`] for a zero duration or timescale or an id that does not follow
    /// the previous one; [`Error::StreamFinished`] after [`finish`](Self::finish). On error
    /// nothing changes.
    pub fn push(&mut self, part: PartMeta) -> Result<PartPosition> {
        if self.finished {
            return Err(Error::StreamFinished(String::from("(manifest)")));
        }
        if part.duration == 0 || part.timescale == 0 {
            return Err(Error::InvalidPart(format!(
                "duration {} / timescale {}: both must be > 0",
                part.duration, part.timescale
            )));
        }
        if let Some(last) = self.last_id {
            if part.id != last.wrapping_add(1) {
                return Err(Error::InvalidPart(format!(
                    "part id {} does not follow {last}",
                    part.id
                )));
            }
        }
        let discontinuity = self.is_discontinuity(&part);
        let cut = match self.segments.back() {
            None => Cut::Start,
            Some(open) if open.complete || discontinuity => Cut::Start,
            Some(open) => self.cut_before(open, &part),
        };
        if cut == Cut::Forced {
            self.forced_cuts += 1;
        }
        if cut != Cut::No {
            self.open_segment(&part, discontinuity);
        }
        let open = self
            .segments
            .back_mut()
            .ok_or_else(|| Error::InvalidPart("no open segment".to_owned()))?;
        open.parts.push(PartEntry {
            id: part.id,
            duration: part.duration,
            independent: part.independent,
        });
        open.duration += part.duration;
        open.bytes += part.len;
        let position = PartPosition {
            msn: open.msn,
            part: open.part_count() - 1,
        };
        self.last_part = Some((
            part.decode_time.saturating_add(part.duration),
            part.duration,
            part.timescale,
        ));
        self.last_id = Some(part.id);
        Ok(position)
    }

    /// Whether `part` does not continue the newest part: its init section changed, its
    /// timescale changed, or its decode time is off by more than one part duration (an
    /// encoder restart or a gap).
    fn is_discontinuity(&self, part: &PartMeta) -> bool {
        let (Some(open), Some((expected, duration, timescale))) =
            (self.segments.back(), self.last_part)
        else {
            return false;
        };
        open.init_id != part.init_id
            || timescale != part.timescale
            || expected.abs_diff(part.decode_time) > duration.max(part.duration)
    }

    /// Whether the open segment ends before `part` (which continues it), and why.
    fn cut_before(&self, open: &Segment, part: &PartMeta) -> Cut {
        let elapsed_ms = open.duration * 1000 / u64::from(open.timescale);
        if part.independent && elapsed_ms >= self.segment_min_ms {
            return Cut::Start;
        }
        // Rule 1: EXTINF rounded to the nearest integer must not exceed TARGETDURATION.
        let after_us = (u128::from(open.duration + part.duration) * 1_000_000
            / u128::from(open.timescale)) as u64;
        let limit_us = u64::from(self.target_duration_s) * 1_000_000 + 500_000;
        if after_us >= limit_us || open.part_count() >= self.max_parts_per_segment {
            return Cut::Forced;
        }
        Cut::No
    }

    fn open_segment(&mut self, part: &PartMeta, discontinuity: bool) {
        let (msn, pdt_us) = match self.segments.back_mut() {
            Some(prev) => {
                prev.complete = true;
                (prev.msn + 1, prev.pdt_us + prev.duration_us())
            }
            None => (0, self.start_unix_ms.saturating_mul(1000)),
        };
        self.segments.push_back(Segment {
            msn,
            timescale: part.timescale,
            duration: 0,
            pdt_us,
            discontinuity,
            init_id: part.init_id,
            bytes: 0,
            complete: false,
            parts: Vec::new(),
        });
        self.slide_window();
    }

    /// Drops listed segments beyond `max_segments`, never letting the listed duration fall
    /// below 3 × TD (rule 19), and forgets retired segments beyond [`RETIRED`].
    fn slide_window(&mut self) {
        let min_us = 3 * u64::from(self.target_duration_s) * 1_000_000;
        loop {
            let listed: Vec<&Segment> = self.listed().filter(|s| s.complete).collect();
            if listed.len() <= self.max_segments {
                break;
            }
            let total: u64 = listed.iter().map(|s| s.duration_us()).sum();
            if total - listed[0].duration_us() < min_us {
                break;
            }
            // Rule 21: one more per removed segment; a removed discontinuity counts.
            if self.segments[self.first_listed].discontinuity {
                self.discontinuity_sequence += 1;
            }
            self.first_listed += 1;
        }
        while self.first_listed > RETIRED {
            self.segments.pop_front();
            self.first_listed -= 1;
        }
        // The skip boundary is 6 × TD; once the window reaches past it, deltas are possible
        // and stay possible (the window never shrinks below its size again).
        let skip_us = self.skip_boundary_us();
        let listed_us: u64 = self
            .listed()
            .filter(|s| s.complete)
            .map(Segment::duration_us)
            .sum();
        if listed_us > skip_us + u64::from(self.target_duration_s) * 1_000_000 {
            self.can_skip = true;
        }
    }

    fn skip_boundary_us(&self) -> u64 {
        6 * u64::from(self.target_duration_s) * 1_000_000
    }

    fn listed(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().skip(self.first_listed)
    }

    fn find(&self, msn: u64) -> Option<&Segment> {
        let first = self.segments.front()?.msn;
        let i = usize::try_from(msn.checked_sub(first)?).ok()?;
        self.segments.get(i)
    }

    /// Ends the stream: the open segment is closed, the next render carries EXT-X-ENDLIST and
    /// no preload hint.
    pub fn finish(&mut self) {
        if let Some(open) = self.segments.back_mut() {
            open.complete = true;
        }
        self.finished = true;
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether CAN-SKIP-UNTIL is advertised, i.e. `_HLS_skip` gets a delta update.
    pub fn can_skip(&self) -> bool {
        self.can_skip && !self.finished
    }

    /// How many segments were cut at a non-independent part to keep rule 1 or the part limit
    /// (an encoder whose GOP is longer than the target duration).
    pub fn forced_cuts(&self) -> u64 {
        self.forced_cuts
    }

    /// The newest part.
    pub fn last_position(&self) -> Option<PartPosition> {
        let last = self.segments.back()?;
        Some(PartPosition {
            msn: last.msn,
            part: last.part_count().checked_sub(1)?,
        })
    }

    /// The part the next PRELOAD-HINT names: the one after the newest, while live.
    pub fn preload_hint(&self) -> Option<PartPosition> {
        if self.finished {
            return None;
        }
        let last = self.segments.back()?;
        Some(PartPosition {
            msn: last.msn,
            part: last.part_count(),
        })
    }

    /// Rule 11 (§6.2.5.2): a part index past the final part of a complete segment means part
    /// 0 of the next segment. Other positions are returned unchanged.
    pub fn normalize(&self, pos: PartPosition) -> PartPosition {
        match self.find(pos.msn) {
            Some(seg) if seg.complete && pos.part >= seg.part_count() => PartPosition {
                msn: pos.msn + 1,
                part: 0,
            },
            _ => pos,
        }
    }

    /// The chunk id of the part at `pos`, if the builder still knows it. Positions are
    /// exact: a hinted position that a new segment made obsolete is unknown (rule 24).
    pub fn part_id(&self, pos: PartPosition) -> Option<u64> {
        let seg = self.find(pos.msn)?;
        seg.parts.get(pos.part as usize).map(|p| p.id)
    }

    /// The parts of segment `msn`, while the builder knows it.
    pub fn segment(&self, msn: u64) -> Option<SegmentParts> {
        let seg = self.find(msn)?;
        Some(SegmentParts {
            msn,
            first_id: seg.parts.first()?.id,
            count: seg.part_count(),
            complete: seg.complete,
            duration_secs: seg.secs(),
        })
    }

    /// The Media Sequence Number of the first listed segment (EXT-X-MEDIA-SEQUENCE).
    pub fn media_sequence(&self) -> u64 {
        self.listed().next().map_or(0, |s| s.msn)
    }

    /// EXT-X-DISCONTINUITY-SEQUENCE.
    pub fn discontinuity_sequence(&self) -> u64 {
        self.discontinuity_sequence
    }

    /// EXT-X-TARGETDURATION, fixed for the stream's life (rule 1).
    pub fn target_duration_s(&self) -> u32 {
        self.target_duration_s
    }

    /// PART-TARGET in seconds, fixed for the stream's life.
    pub fn part_target_secs(&self) -> f64 {
        f64::from(self.part_target_ms) / 1000.0
    }

    /// Peak and average segment bit rates of the listed window (§4.1, rule 33).
    pub fn bandwidth(&self) -> Bandwidth {
        let complete: Vec<(f64, u64)> = self
            .listed()
            .filter(|s| s.complete)
            .map(|s| (s.secs(), s.bytes))
            .collect();
        Bandwidth::measure(&complete, self.target_duration_s)
    }
}

#[cfg(test)]
mod tests;

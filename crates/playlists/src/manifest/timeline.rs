//! Lining renditions up: the segment grid a group's renditions share, so that the same Media
//! Sequence Number covers the same media time and carries the same date in every rendition
//! (§6.2.4: a client switching renditions finds the matching content by either).
//!
//! Each encoder of a group stamps its own clock and starts at its own moment, so numbering and
//! dating each rendition from its own first part (as a lone stream is) leaves them off by a few
//! milliseconds of date, and by whole segments of numbering when one starts later. Instead,
//! the first rendition to close a segment lays down a [`Timeline`]: segments start on a grid
//! of the first segment's length (the encoder's key-frame cadence), numbered and dated from
//! it. A rendition that starts while a sibling has one joins it before anything of it is
//! published: its segments are cut at the first key frame at each grid line, numbered by grid
//! cell and dated from the grid, whatever its own clock said.
//!
//! "The same media time" needs the encoders' timestamps to agree (encoders fed the same
//! source with its timestamps, or started together). Whether they do is judged by the clock:
//! the joiner's own date for its first sample (its `prft` wall clock, or the origin's clock
//! when it arrived) against the date the grid gives that timestamp. Within one segment they
//! agree and the grid's date wins; further apart (an encoder whose timestamps restarted at 0
//! while the group's are at an hour), the joiner's timestamps are shifted by the difference,
//! so it still lines up to within one GOP. Judging by the sources' clocks rather than by
//! arrival keeps two origins fed the same encoders in step, whatever order their inputs
//! arrive in, as long as the same rendition starts first.
//!
//! The grid holds for a continuous run of timestamps: a rendition whose timestamps jump (a
//! discontinuity: an encoder restart) leaves it and cuts segments by `segment_min_ms` again.

use super::numbers::ticks_to_us;
use super::{M3u8Manifest, PartTiming, Run};

/// A group's segment grid as one rendition sees it; what a rendition that starts later joins
/// ([`M3u8Manifest::join`](super::M3u8Manifest::join)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// The group's EXT-X-TARGETDURATION (§6.2.4: the same in every rendition).
    pub target_duration_s: u32,
    /// Where segment `origin_msn` starts on the group's media clock, µs.
    pub origin_us: u64,
    /// The Media Sequence Number of the segment starting at `origin_us`.
    pub origin_msn: u64,
    /// The date (EXT-X-PROGRAM-DATE-TIME) of `origin_us`, µs since the Unix epoch.
    pub origin_pdt_us: u64,
    /// The grid's spacing, µs: the length of the group's first segment.
    pub len_us: u64,
}

/// A rendition's place on a [`Timeline`]: the grid, and the shift from its own timestamps to
/// the group's media clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Grid {
    pub(super) origin_us: u64,
    pub(super) origin_msn: u64,
    pub(super) origin_pdt_us: u64,
    pub(super) len_us: u64,
    /// Added to this rendition's decode times (µs) to put them on the group's clock.
    pub(super) offset_us: i64,
}

impl Grid {
    /// The grid a rendition lays down from its first segment: starting at `start_us` (its own
    /// decode time, µs), numbered `msn`, dated `pdt_us`, `len_us` long.
    pub(super) fn first(start_us: u64, msn: u64, pdt_us: u64, len_us: u64) -> Option<Self> {
        (len_us > 0).then_some(Self {
            origin_us: start_us,
            origin_msn: msn,
            origin_pdt_us: pdt_us,
            len_us,
            offset_us: 0,
        })
    }

    /// The grid of `timeline` for a rendition that dates its decode time `own_us` (µs) at
    /// `own_pdt_us` by its own clock: no shift when that is within one segment of the date the
    /// grid gives `own_us`, else the difference (see the module docs).
    pub(super) fn join(timeline: &Timeline, own_us: u64, own_pdt_us: u64) -> Option<Self> {
        let unshifted = Self {
            origin_us: timeline.origin_us,
            origin_msn: timeline.origin_msn,
            origin_pdt_us: timeline.origin_pdt_us,
            len_us: timeline.len_us,
            offset_us: 0,
        };
        if timeline.len_us == 0 {
            return None;
        }
        let diff = i128::from(own_pdt_us) - i128::from(unshifted.pdt_us(own_us));
        if diff.unsigned_abs() <= u128::from(timeline.len_us) {
            return Some(unshifted);
        }
        Some(Self {
            offset_us: i64::try_from(diff).ok()?,
            ..unshifted
        })
    }

    /// `own_us` (a decode time of this rendition, µs) on the group's clock, relative to the
    /// origin.
    fn since_origin(&self, own_us: u64) -> i128 {
        i128::from(own_us) + i128::from(self.offset_us) - i128::from(self.origin_us)
    }

    /// The grid cell of a part starting at `own_us` and lasting `duration_us`. A part counts
    /// in the cell where most of it lies, so a key frame a little before a grid line (audio
    /// frames rarely land on it exactly) starts that line's segment.
    pub(super) fn cell(&self, own_us: u64, duration_us: u64) -> i64 {
        let t = self.since_origin(own_us) + i128::from(duration_us / 2);
        let cell = t.div_euclid(i128::from(self.len_us));
        i64::try_from(cell).unwrap_or(if cell < 0 { i64::MIN } else { i64::MAX })
    }

    /// The Media Sequence Number of cell `cell` (never below 0: a rendition starting before
    /// the origin numbers its first segment as the origin's).
    pub(super) fn msn(&self, cell: i64) -> u64 {
        self.origin_msn
            .saturating_add(u64::try_from(cell.max(0)).unwrap_or(0))
    }

    /// The date of `own_us` (a decode time of this rendition, µs), µs since the Unix epoch.
    pub(super) fn pdt_us(&self, own_us: u64) -> u64 {
        let pdt = i128::from(self.origin_pdt_us) + self.since_origin(own_us);
        u64::try_from(pdt.max(0)).unwrap_or(u64::MAX)
    }

    /// This grid seen from the group: the [`Timeline`] a joiner gets.
    pub(super) fn timeline(&self, target_duration_s: u32) -> Timeline {
        Timeline {
            target_duration_s,
            origin_us: self.origin_us,
            origin_msn: self.origin_msn,
            origin_pdt_us: self.origin_pdt_us,
            len_us: self.len_us,
        }
    }
}

impl M3u8Manifest {
    /// Makes this stream a rendition of a group: nothing is published until its first
    /// segment closes ([`is_publishable`](Self::is_publishable)), which lays down the group's
    /// [`Timeline`] (unless it joins a sibling's first), and its later segments are cut on it,
    /// at the first key frame of each grid cell rather than the first after `segment_min_ms`
    /// (the two agree for a steady key-frame interval). The registry does this for every
    /// stream named `group/rendition`.
    pub fn share_timeline(&mut self) {
        self.shares_timeline = true;
    }

    /// Makes this rendition one that follows its siblings' grid rather than laying down its
    /// own: its first segment stays open past `segment_min_ms` until a sibling's timeline is
    /// joined, or until one more part would make it round above the target duration
    /// `segment_min_ms` gives (2 s for 1.5 s), when it closes and lays down the grid itself.
    /// For a rendition whose every part is independent (audio alone): it can be cut anywhere,
    /// so it is the one that should line up with the key frames of a video sibling, whose
    /// first segment closes later (at its first key frame after `segment_min_ms`) though they
    /// started together. Without this the audio's grid, one part past `segment_min_ms`, would
    /// be the group's and the video's segments would lie up to a GOP off it
    /// [docs/conformance.md R26, R35]. Implies [`share_timeline`](Self::share_timeline).
    pub fn wait_for_grid(&mut self) {
        self.shares_timeline = true;
        self.waits_for_grid = true;
    }

    /// Whether [`join`](Self::join) would take a timeline now: the stream has no grid yet and
    /// nothing of it can have been published (no segment yet, or a measured target duration
    /// still unknown).
    pub fn can_join(&self) -> bool {
        !self.grid_settled && !self.is_publishable()
    }

    /// Whether a playlist may be published: the target duration is known, and a rendition
    /// ([`share_timeline`](Self::share_timeline)) has settled its timeline (its first segment
    /// closed, or it joined a sibling's), so nothing published is renumbered or redated.
    pub fn is_publishable(&self) -> bool {
        self.target_duration_s.is_some() && (self.grid_settled || !self.shares_timeline)
    }

    /// Lines this rendition up with a sibling's `timeline` (see [`Timeline`]), given the timing
    /// of the part about to be pushed: the sibling's target duration is adopted, the open
    /// segment (if any) is renumbered and redated from the grid, and later segments are cut at
    /// the grid's lines. Returns whether it joined; a stream that cannot
    /// ([`can_join`](Self::can_join)) is left as it is.
    pub fn join(&mut self, timeline: &Timeline, next: &PartTiming) -> bool {
        if !self.can_join() {
            return false;
        }
        // The stream's own date for a sample: its open segment's (dated by its run), or, before
        // its first part, the start time it was made with (the first sample's date).
        let (own_us, own_pdt_us) = match self.segments.back() {
            Some(open) => (ticks_to_us(open.decode, open.timescale), open.pdt_us),
            None => (
                ticks_to_us(next.decode_time, next.timescale),
                self.start_unix_ms.saturating_mul(1000),
            ),
        };
        let Some(grid) = Grid::join(timeline, own_us, own_pdt_us) else {
            return false;
        };
        self.adopt_target_duration(timeline.target_duration_s);
        self.grid = Some(grid);
        self.grid_settled = true;
        self.shares_timeline = true;
        if let Some(open) = self.segments.back_mut() {
            let first = open.parts.first().map_or(0, |p| p.duration);
            let start_us = ticks_to_us(open.decode, open.timescale);
            open.cell = grid.cell(start_us, ticks_to_us(first, open.timescale));
            open.msn = grid.msn(open.cell);
            open.pdt_us = grid.pdt_us(start_us);
            open.text.redate(open.pdt_us);
            self.run = Some(Run {
                anchor_pdt_us: open.pdt_us,
                anchor_decode: open.decode,
                timescale: open.timescale,
            });
        }
        true
    }

    /// The segment grid renditions of this stream's group line up on ([`Timeline`]), once the
    /// stream has one and knows its target duration.
    pub fn timeline(&self) -> Option<Timeline> {
        Some(self.grid?.timeline(self.target_duration_s?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        Grid::first(10_000_000, 0, START, 2_000_000).unwrap()
    }

    #[test]
    fn a_part_counts_in_the_cell_where_most_of_it_lies() {
        let g = grid();
        assert_eq!(g.cell(10_000_000, 200_000), 0);
        assert_eq!(g.cell(11_800_000, 200_000), 0);
        // 21 ms before the line: most of the part is past it.
        assert_eq!(g.cell(11_979_000, 200_000), 1);
        assert_eq!(g.cell(12_000_000, 200_000), 1);
        assert_eq!(g.cell(9_000_000, 200_000), -1);
        assert_eq!(g.msn(-1), 0);
        assert_eq!(g.msn(7), 7);
    }

    #[test]
    fn agreeing_timestamps_join_unshifted_and_others_are_shifted() {
        let g = grid();
        let tl = g.timeline(2);
        // The grid dates 20 s (10 s past the origin) at origin + 10 s. A joiner whose clock
        // says 0.3 s later agrees, and takes the grid's date.
        let agreeing = Grid::join(&tl, 20_000_000, START + 10_300_000).unwrap();
        assert_eq!(agreeing.offset_us, 0);
        assert_eq!(agreeing.pdt_us(20_000_000), START + 10_000_000);
        // One whose timestamps restarted at 0 at that moment is shifted onto the group's clock.
        let shifted = Grid::join(&tl, 0, START + 10_000_000).unwrap();
        assert_eq!(shifted.offset_us, 20_000_000);
        assert_eq!(shifted.cell(0, 0), 5);
        assert_eq!(shifted.pdt_us(0), START + 10_000_000);
    }

    const START: u64 = 1_700_000_000_000_000;
}

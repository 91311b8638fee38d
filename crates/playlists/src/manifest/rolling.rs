//! Rolling parts into segments: where a segment is cut, how it is dated, and when it leaves
//! the listed window and then the builder's memory (§4.4.3.1, §4.4.4.9,
//! §6.2.2 [docs/conformance.md R1, R2, R18–R21]; see the module docs of [`manifest`](super) for the
//! policy).

use super::numbers::{rounded_secs, rounds_above, ticks_to_us};
use super::render::SegmentText;
use super::timeline;
use super::{check_date, M3u8Manifest, PartEntry, PartMeta, PartPosition, Run, Segment};
use crate::error::{Error, Result};
use crate::options::Options;

/// Whether a part starts a new segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// It continues the open segment.
    No,
    /// It starts one: the first part, an independent part after `segment_min_ms` (or when the
    /// open segment is full), or a discontinuity.
    Start,
    /// It starts one although it is not independent, to keep §4.4.3.1 [docs/conformance.md R1] or
    /// the part limit.
    Forced,
}

/// The refusals of [`M3u8Manifest::push`] that do not depend on what the builder was fed.
fn check_part(target_duration_s: u32, part: &PartMeta) -> Result<()> {
    if part.timing.duration == 0 || part.timing.timescale == 0 {
        return Err(Error::InvalidPart(format!(
            "duration {} / timescale {}: both must be > 0",
            part.timing.duration, part.timing.timescale
        )));
    }
    if let Some(ms) = part.timing.wallclock_ms {
        check_date(ms)?;
    }
    if rounds_above(
        part.timing.duration,
        part.timing.timescale,
        target_duration_s,
    ) {
        return Err(Error::InvalidPart(format!(
            "a part of {} ticks at {} Hz is longer than TARGETDURATION {} s allows (§4.4.3.1 [docs/conformance.md R1]); \
             the encoder's fragments must be shorter",
            part.timing.duration, part.timing.timescale, target_duration_s
        )));
    }
    Ok(())
}

impl M3u8Manifest {
    /// Whether a builder made from `opts` would refuse `part` whatever it was fed before
    /// (everything [`push`](Self::push) checks but the id and the end of the stream). Call it
    /// before storing the part's bytes, so that a refused part leaves nothing behind.
    ///
    /// # Errors
    /// [`Error::InvalidPart`], as [`push`](Self::push).
    pub fn check_part(opts: &Options, part: &PartMeta) -> Result<()> {
        check_part(opts.target_duration.max_s(), part)
    }

    /// Adds a part and returns its position.
    ///
    /// # Errors
    /// [`Error::InvalidPart`] for a zero duration or timescale, an id that does not follow
    /// the previous one, a part that alone renders longer than TARGETDURATION allows
    /// (§4.4.3.1 [docs/conformance.md R1]), or a wall-clock time past
    /// [`LATEST_DATE_MS`](super::LATEST_DATE_MS); [`Error::StreamFinished`] after
    /// [`finish`](Self::finish). On error nothing changes.
    pub fn push(&mut self, part: PartMeta) -> Result<PartPosition> {
        if self.finished {
            return Err(Error::StreamFinished(String::from("(manifest)")));
        }
        check_part(self.td(), &part)?;
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
        match cut {
            Cut::No => self.count_short_predecessor(),
            Cut::Forced => {
                self.anomalies.forced_cuts += 1;
                self.open_segment(&part, false);
            }
            Cut::Start => self.open_segment(&part, discontinuity),
        }
        if self.is_long(part.timing.duration, part.timing.timescale) {
            self.anomalies.long_parts += 1;
        }
        let open = self
            .segments
            .back_mut()
            .ok_or_else(|| Error::InvalidPart("no open segment".to_owned()))?;
        let entry = PartEntry {
            id: part.id,
            duration: part.timing.duration,
            independent: part.timing.independent,
        };
        open.text.add_part(entry, open.timescale);
        open.parts.push(entry);
        open.duration += part.timing.duration;
        open.bytes += part.len;
        let position = PartPosition {
            msn: open.msn,
            part: open.part_count() - 1,
        };
        self.last_part = Some((
            part.timing.decode_time.saturating_add(part.timing.duration),
            part.timing.duration,
            part.timing.timescale,
        ));
        self.last_id = Some(part.id);
        Ok(position)
    }

    /// Ends the stream: the open segment is closed, the next render carries EXT-X-ENDLIST and
    /// no preload hint. Nothing is removed from the window (§6.2.2 [docs/conformance.md R19] no
    /// longer binds, but the final playlist keeps every segment the last live one listed).
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        let mut closed = None;
        if let Some(open) = self.segments.back_mut() {
            if !open.complete {
                open.close();
                self.window_us += open.duration_us();
                closed = Some((open.duration, open.timescale));
            }
        }
        // A stream that ends within its first segment still renders one final playlist.
        if let Some((duration, timescale)) = closed {
            self.measure_target_duration(duration, timescale);
        }
        // Whatever it had, a stream's timeline is settled once it ends (its final playlist
        // must be published).
        self.grid_settled = true;
        self.longest_window_us = self.longest_window_us.max(self.window_us);
        self.finished = true;
    }

    /// Whether `part` does not continue the newest part: its init section changed, its
    /// timescale changed, or its decode time is off by more than one part duration (an
    /// encoder restart, or a gap too long to be a dropped frame).
    fn is_discontinuity(&self, part: &PartMeta) -> bool {
        let (Some(open), Some((expected, duration, timescale))) =
            (self.segments.back(), self.last_part)
        else {
            return false;
        };
        open.init_id != part.init_id
            || timescale != part.timing.timescale
            || expected.abs_diff(part.timing.decode_time) > duration.max(part.timing.duration)
    }

    /// Whether the open segment ends before `part` (which continues its timeline), and why.
    fn cut_before(&self, open: &Segment, part: &PartMeta) -> Cut {
        let must_cut = rounds_above(
            open.duration + part.timing.duration,
            open.timescale,
            self.td(),
        ) || open.part_count() >= self.max_parts_per_segment;
        // On a grid, at the first key frame of each cell, so renditions cut alike; before
        // (the first segment), at the first key frame after `segment_min_ms`.
        let due = match self.grid {
            Some(grid) => grid.cell(part_start_us(part), part_duration_us(part)) > open.cell,
            // A rendition without key frames of its own waits for a sibling's grid to join
            // (see `wait_for_grid`), as long as waiting keeps its length within the target
            // duration `segment_min_ms` would measure.
            None if self.waits_for_grid && !self.grid_settled => rounds_above(
                open.duration + part.timing.duration,
                open.timescale,
                rounded_secs(self.segment_min_ms, 1000),
            ),
            None => open.duration * 1000 / u64::from(open.timescale) >= self.segment_min_ms,
        };
        match (part.timing.independent, must_cut) {
            (true, _) if must_cut || due => Cut::Start,
            (false, true) => Cut::Forced,
            _ => Cut::No,
        }
    }

    /// §4.4.4.9 [docs/conformance.md R2] exempts the last part of a segment from the 85 % minimum;
    /// a part continuing the segment makes its predecessor not the last, so the minimum now applies
    /// to it.
    fn count_short_predecessor(&mut self) {
        let Some(open) = self.segments.back() else {
            return;
        };
        if let Some(prev) = open.parts.last() {
            // duration / timescale < 0.85 × part_target_ms / 1000
            let short = u128::from(prev.duration) * 100_000
                < 85 * u128::from(self.part_target_ms) * u128::from(open.timescale);
            if short && !prev.independent {
                self.anomalies.short_parts += 1;
            }
        }
    }

    /// duration / timescale > part_target_ms / 1000 (the maximum of
    /// §4.4.4.9 [docs/conformance.md R2]), exactly.
    fn is_long(&self, duration: u64, timescale: u32) -> bool {
        u128::from(duration) * 1000 > u128::from(self.part_target_ms) * u128::from(timescale)
    }

    /// Closes the open segment (it now has an EXTINF and a URI) and opens the one `part`
    /// starts.
    fn open_segment(&mut self, part: &PartMeta, discontinuity: bool) {
        let mut closed = None;
        let prev = match self.segments.back_mut() {
            Some(prev) => {
                if !prev.complete {
                    prev.close();
                    self.window_us += prev.duration_us();
                    closed = Some(Closed {
                        duration: prev.duration,
                        timescale: prev.timescale,
                        decode: prev.decode,
                        msn: prev.msn,
                        pdt_us: prev.pdt_us,
                    });
                }
                Some((prev.msn, prev.end_us(), prev.pdt_us, prev.duration_us()))
            }
            None => None,
        };
        // TargetDuration::Measured: the first segment to close sets it, before the first
        // render (the registry publishes nothing until then).
        if let Some(seed) = closed {
            self.measure_target_duration(seed.duration, seed.timescale);
        }
        if discontinuity {
            // The grid holds for one run of timestamps (see `timeline`).
            self.grid = None;
            self.grid_settled = true;
        } else if let (Some(seed), false, true) = (closed, self.grid_settled, self.shares_timeline)
        {
            // The stream's first segment, cut by `segment_min_ms` at a key frame: its length
            // is the key-frame cadence its siblings line up on.
            self.grid = timeline::Grid::first(
                ticks_to_us(seed.decode, seed.timescale),
                seed.msn,
                seed.pdt_us,
                ticks_to_us(seed.duration, seed.timescale),
            );
            self.grid_settled = true;
        }
        let cell = self.grid.map_or(0, |grid| {
            grid.cell(part_start_us(part), part_duration_us(part))
        });
        let (pdt_us, msn) = match (prev, self.grid) {
            // A rendition that joined its group's grid before its first part.
            (None, Some(grid)) => {
                let pdt_us = grid.pdt_us(part_start_us(part));
                self.run = Some(Run {
                    anchor_pdt_us: pdt_us,
                    anchor_decode: part.timing.decode_time,
                    timescale: part.timing.timescale,
                });
                (pdt_us, grid.msn(cell))
            }
            (Some(prev), _) => (
                self.date(part, discontinuity, Some((prev.2, prev.3))),
                prev.0 + 1,
            ),
            // The stream's first segment: numbered from its date (`Numbering`).
            (None, None) => {
                let pdt_us = self.date(part, discontinuity, None);
                (pdt_us, self.numbering.first(pdt_us, self.segment_min_ms))
            }
        };
        let start_us = prev.map_or(0, |p| p.1);
        self.segments.push_back(Segment {
            msn,
            timescale: part.timing.timescale,
            duration: 0,
            start_us,
            pdt_us,
            discontinuity,
            decode: part.timing.decode_time,
            cell,
            init_id: part.init_id,
            bytes: 0,
            complete: false,
            parts: Vec::new(),
            text: SegmentText::new(pdt_us),
        });
        self.slide_window();
        self.retire();
    }

    /// The date of a segment that `part` starts, after a segment dated `prev` =
    /// `(pdt_us, duration_us)`. See "Dates" in the module docs.
    fn date(&mut self, part: &PartMeta, discontinuity: bool, prev: Option<(u64, u64)>) -> u64 {
        let run = self
            .run
            .filter(|run| !discontinuity && run.timescale == part.timing.timescale);
        match (prev, run) {
            (Some((prev_pdt, _)), Some(run)) => {
                let offset = part.timing.decode_time.saturating_sub(run.anchor_decode);
                let pdt = run
                    .anchor_pdt_us
                    .saturating_add(ticks_to_us(offset, run.timescale));
                // Strictly after the previous segment's date, at the millisecond the tag
                // prints, whatever the timestamps did within the tolerance of a continuous run.
                pdt.max(prev_pdt + 1000)
            }
            _ => {
                let anchor_pdt_us = match prev {
                    None => self.start_unix_ms.saturating_mul(1000),
                    Some((prev_pdt, prev_us)) => {
                        let prev_end = prev_pdt + prev_us;
                        part.timing
                            .wallclock_ms
                            .map_or(prev_end, |ms| ms.saturating_mul(1000).max(prev_end))
                    }
                };
                self.run = Some(Run {
                    anchor_pdt_us,
                    anchor_decode: part.timing.decode_time,
                    timescale: part.timing.timescale,
                });
                anchor_pdt_us
            }
        }
    }

    /// Removes listed segments beyond `max_segments`, never letting the listed duration fall
    /// below 3 × TD (§6.2.2 [docs/conformance.md R19]); each removal raises MEDIA-SEQUENCE by one,
    /// and by one more DISCONTINUITY-SEQUENCE if the segment carried EXT-X-DISCONTINUITY
    /// (§6.2.2 [docs/conformance.md R21]).
    fn slide_window(&mut self) {
        let min_us = 3 * u64::from(self.td()) * 1_000_000;
        let mut archived = false;
        loop {
            let open = usize::from(self.segments.back().is_some_and(|s| !s.complete));
            let complete_listed = self.segments.len() - self.first_listed - open;
            if complete_listed <= self.max_segments {
                break;
            }
            let first = &self.segments[self.first_listed];
            let first_us = first.duration_us();
            if self.window_us - first_us < min_us {
                break;
            }
            if self.archive.is_some() {
                // DVR: it stays listed, in the archive, once it is past the Skip Boundary
                // (so that delta updates skip the whole archive); its parts are released.
                if self.end_us() - first.end_us() <= self.skip_boundary_us() {
                    break;
                }
                self.window_us -= first_us;
                if let (Some(seg), Some(archive)) = (self.segments.pop_front(), &mut self.archive) {
                    archive.push(&seg);
                    archived = true;
                }
                continue;
            }
            if first.discontinuity {
                self.discontinuity_sequence += 1;
            }
            self.window_us -= first_us;
            self.first_listed += 1;
        }
        self.longest_window_us = self.longest_window_us.max(self.window_us);
        let end_us = self.end_us();
        if let Some(archive) = &mut self.archive {
            let before = archive.len();
            self.discontinuity_sequence += archive.trim(end_us);
            if archived || archive.len() != before {
                archive.refresh();
            }
        }
    }

    /// Forgets retired segments once no client may still ask for them: a segment's URI stays
    /// valid until its first appearance plus its Availability Duration (its duration plus the
    /// longest playlist, §6.2.2 [docs/conformance.md R20]), its parts 3 × TD past their removal
    /// from the playlist (§6.2.2 [docs/conformance.md R18]), both measured on the media clock.
    /// Memory stays bounded: no more segments are retired than `max_segments` or the listed ones,
    /// whichever is more (the window's length is what the availability duration is made of).
    fn retire(&mut self) {
        let now = self.end_us();
        let td_us = u64::from(self.td()) * 1_000_000;
        let cap = self
            .max_segments
            .max(self.segments.len() - self.first_listed);
        while self.first_listed > 0 {
            let oldest = &self.segments[0];
            // It appeared (with a URI) when it was completed, at its end.
            let uri_until = oldest.end_us() + oldest.duration_us() + self.longest_window_us;
            // Its parts left the playlist once its start was 3 × TD from the end.
            let parts_until = oldest.start_us + 6 * td_us;
            if now < uri_until.max(parts_until) && self.first_listed <= cap {
                break;
            }
            self.segments.pop_front();
            self.first_listed -= 1;
        }
    }
}

/// A part's decode time in µs.
fn part_start_us(part: &PartMeta) -> u64 {
    ticks_to_us(part.timing.decode_time, part.timing.timescale)
}

/// A part's duration in µs.
fn part_duration_us(part: &PartMeta) -> u64 {
    ticks_to_us(part.timing.duration, part.timing.timescale)
}

/// What [`M3u8Manifest::open_segment`] needs of the segment it closed.
#[derive(Debug, Clone, Copy)]
struct Closed {
    duration: u64,
    timescale: u32,
    decode: u64,
    msn: u64,
    pdt_us: u64,
}

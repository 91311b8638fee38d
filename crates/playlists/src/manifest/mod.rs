//! [`M3u8Manifest`]: rolls parts into segments and renders LL-HLS media playlists (§4.4).
//!
//! The builder is fed one [`PartMeta`] per CMAF chunk and keeps, per segment, the parts' ids,
//! durations, independence and sizes. Everything it renders derives from those and from the
//! stream's start time, never from the clock at render time, so two builders fed the same
//! parts produce byte-identical playlists (two origins can stand behind one CDN).
//!
//! ```text
//!   retired (still served)             │ listed window (≥ 3 × TD)             │ open segment
//!   ┌──────┬──────┐                    │ ┌──────┬──────┬ ─ ─ ┬──────┬──────┐ │ ┌────┐
//!   │ s3   │ s4   │                    │ │ s5   │ s6   │     │ s35  │ s36  │ │ │s37 │ ◀ push
//!   └──────┴──────┘                    │ └──────┴──────┴ ─ ─ ┴──────┴──────┘ │ └────┘
//!                                      MEDIA-SEQUENCE = 5     EXT-X-PART listed for the
//!                                                             segments within 3 × TD of
//!                                                             the end
//! ```
//!
//! Retired segments and their parts stay served for their availability
//! (§6.2.2 [docs/conformance.md R18, R20]); a removal never leaves less than 3 × TD listed
//! (§6.2.2 [docs/conformance.md R19]); EXT-X-PART is listed only near the end
//! (§6.2.2 [docs/conformance.md R18]).
//!
//! # Rolling ([`M3u8Manifest::push`])
//!
//! A part starts a new segment when
//! * it is independent and the open segment has lasted `segment_min_ms`;
//! * its timestamps do not continue the previous part, its timescale changed or its init
//!   section changed: an encoder restart, marked with EXT-X-DISCONTINUITY (§4.4.4.3);
//! * the open segment would otherwise render an EXTINF that rounds above TARGETDURATION
//!   (§4.4.3.1 [docs/conformance.md R1]), or hold more than `max_parts_per_segment` parts. If the
//!   part is independent this is an ordinary cut; if not (the encoder's GOP is longer than the
//!   target duration) the segment is cut anyway, because TARGETDURATION never changes and must
//!   never be exceeded, and the cut is counted in [`Anomalies::forced_cuts`] for the server to log. Such a
//!   segment does not start with an independent frame, so the stream stops claiming
//!   EXT-X-INDEPENDENT-SEGMENTS ([`M3u8Manifest::independent_segments`]).
//!
//! # TARGETDURATION
//!
//! Fixed by the options, or (the default, [`TargetDuration::Measured`]) measured when the first
//! segment closes: that segment was cut by the first rule, so its length follows from the
//! encoder's key-frame interval, and its rounded length is the smallest target duration the
//! stream's segments fit. Until then [`M3u8Manifest::target_duration_s`] is `None` and nothing
//! should be published; cuts are judged against the maximum meanwhile. Once known, it never
//! changes (§4.4.3.1 [docs/conformance.md R1]).
//!
//! # Parts off PART-TARGET
//!
//! §4.4.4.9 [docs/conformance.md R2] bounds a part's duration by PART-TARGET. PART-TARGET is
//! configured and fixed (§4.4.3.7), and the library never splits media, so a part it is given is
//! either listed as it is or lost. Losing media is worse than a part off its target, so a part
//! longer than PART-TARGET is accepted and counted ([`Anomalies::long_parts`]), and so is a part
//! shorter than 85 % of PART-TARGET that is neither independent nor the last of its segment
//! ([`Anomalies::short_parts`]); the fix is the encoder's fragment duration or `part_target_ms`,
//! which the server's log should name. Only a part whose duration alone renders above
//! TARGETDURATION is refused ([`Error::InvalidPart`]): no segment could hold it without breaking
//! §4.4.3.1 [docs/conformance.md R1].
//!
//! # Dates (EXT-X-PROGRAM-DATE-TIME)
//!
//! Every segment carries one (§6.2.1 SHOULD for discontinuities; we do it for all). Within a
//! run of continuous timestamps a segment's date is the run's anchor plus its first part's
//! decode time minus the run's first decode time. The first run is anchored at the
//! `start_unix_ms` given to [`M3u8Manifest::new`]; a run after a discontinuity at the part's
//! [`PartTiming::wallclock_ms`], or at the end of the previous segment when that is absent or
//! later (dates never go backwards, so the mapping never becomes ambiguous).

mod archive;
mod bandwidth;
mod multivariant;
mod numbers;
mod render;
mod rolling;
mod target_duration;
mod timeline;

pub use archive::ArchiveText;
pub use bandwidth::Bandwidth;
pub use multivariant::{
    attribute_safe, render_multivariant, valid_codecs, AudioRendition, Variant,
};
pub use timeline::Timeline;

use std::collections::VecDeque;

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::options::{Numbering, Options, TargetDuration};

/// The latest wall-clock time (ms since the Unix epoch) the builder accepts as a start time or
/// [`PartTiming::wallclock_ms`]: 9999-01-01T00:00:00Z, a year before EXT-X-PROGRAM-DATE-TIME's
/// four-digit years run out.
pub const LATEST_DATE_MS: u64 = 253_370_764_800_000;

fn check_date(ms: u64) -> Result<()> {
    if ms > LATEST_DATE_MS {
        return Err(crate::error::Error::InvalidPart(format!(
            "wall-clock time {ms} ms since the Unix epoch is past the year 9998"
        )));
    }
    Ok(())
}

/// When a part plays and whether a segment may start with it: everything the playlist
/// builder needs of a part besides its bytes. One type from the source to the builder: an
/// fMP4 splitter fills it from `tfdt`/`trun`/`prft`, [`Part`](crate::Part) carries it into
/// [`Playlists::add`](crate::Playlists::add), and [`PartMeta`] keeps it in the window.
/// Times are in the media timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartTiming {
    /// Duration in ticks (§4.4.4.9 EXT-X-PART DURATION). Must be > 0.
    pub duration: u64,
    /// Ticks per second of `duration` and `decode_time`. Must be > 0.
    pub timescale: u32,
    /// Base media decode time (`tfdt`) of the part's first sample, in ticks. A jump marks a
    /// discontinuity.
    pub decode_time: u64,
    /// The part starts with a sync sample, so a segment may start here (§4.4.4.9
    /// INDEPENDENT=YES).
    pub independent: bool,
    /// Wall-clock time of `decode_time` (ms since the Unix epoch), if the source knows it
    /// (e.g. from an fMP4 `prft` box), anchoring EXT-X-PROGRAM-DATE-TIME. Read from the first
    /// part of a stream (when absent the registry uses the system clock at that moment less
    /// the part's duration: a live part is published once it has ended) and from a part that
    /// starts a run after a discontinuity (when absent, or earlier than the end of the
    /// previous segment, dates continue from there; see the module docs). Sources that want
    /// two origins fed the same input to serve byte-identical playlists pass a value taken
    /// from the input. At most [`LATEST_DATE_MS`].
    pub wallclock_ms: Option<u64>,
}

/// One part as the builder keeps it in the window: where its bytes are, how large they are,
/// which init section it needs, and its [`PartTiming`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartMeta {
    /// Id of the part's bytes in the chunk cache; a segment's parts have consecutive ids.
    pub id: u64,
    /// Size in bytes, for the bandwidth figures.
    pub len: u64,
    /// The init section (EXT-X-MAP) the part needs: `init.mp4` for 0, `init-{n}.mp4` otherwise.
    /// A change starts a new segment with EXT-X-DISCONTINUITY.
    pub init_id: u32,
    /// When the part plays.
    pub timing: PartTiming,
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
    /// `_HLS_skip=YES`: a Playlist Delta Update skipping old segments.
    Yes,
    /// `_HLS_skip=v2`: as `Yes`, and old date ranges too, which a client asks for only where
    /// CAN-SKIP-DATERANGES=YES is advertised (§6.3.7). This builder writes no EXT-X-DATERANGE
    /// and does not advertise it, so it answers `v2` exactly as `Yes`: §6.2.5.1 wants a delta
    /// update for either, and one that skips no date range needs neither EXT-X-VERSION 10 nor
    /// RECENTLY-REMOVED-DATERANGES (§4.4.5.2, §8).
    V2,
}

/// An EXT-X-RENDITION-REPORT (§4.4.5.4) for another rendition of the same group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionReport {
    /// The rendition's playlist URI, relative to this playlist. Written inside a
    /// quoted-string, so it must not contain `"`, CR or LF (stream names cannot).
    pub uri: String,
    /// Its newest Media Sequence Number (that of its newest part).
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
    /// The date of its first sample (EXT-X-PROGRAM-DATE-TIME), µs since the Unix epoch.
    pub pdt_unix_us: u64,
    /// It is preceded by EXT-X-DISCONTINUITY: its timestamps do not continue the previous
    /// segment's, or its init section differs.
    pub discontinuity: bool,
    /// The init section (EXT-X-MAP) its parts need: `init.mp4` for 0, `init-{n}.mp4`
    /// otherwise.
    pub init_id: u32,
    /// The size of its parts together, bytes.
    pub bytes: u64,
}

/// Counts of input the builder accepted although it could not list it to the letter of the
/// rules; each names an encoder setting to fix. The server logs changes of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Anomalies {
    /// Segments cut at a part that is not independent, because the open segment would
    /// otherwise have exceeded TARGETDURATION (§4.4.3.1 [docs/conformance.md R1]) or
    /// `max_parts_per_segment`: the GOP is longer than the target duration allows.
    pub forced_cuts: u64,
    /// Parts longer than PART-TARGET (§4.4.4.9 [docs/conformance.md R2]): the encoder's fragments
    /// are longer than `part_target_ms`.
    pub long_parts: u64,
    /// Parts shorter than 85 % of PART-TARGET that are neither independent nor the last of
    /// their segment (§4.4.4.9 [docs/conformance.md R2]).
    pub short_parts: u64,
}

/// One part as the builder keeps it.
#[derive(Debug, Clone, Copy)]
struct PartEntry {
    id: u64,
    /// Ticks, in the segment's timescale.
    duration: u64,
    independent: bool,
}

/// One segment: the open one, a listed one or a retired one.
#[derive(Debug, Clone)]
struct Segment {
    msn: u64,
    timescale: u32,
    /// Sum of the parts' durations, in ticks.
    duration: u64,
    /// Where the segment starts on the stream's media clock: the sum of the durations of every
    /// earlier segment, µs. Distances from the end of the playlist
    /// (§6.2.2 [docs/conformance.md R18, R19], the skip boundary) are measured on this clock, not
    /// on dates, which jump at discontinuities.
    start_us: u64,
    /// Date of the first sample, µs since the Unix epoch (EXT-X-PROGRAM-DATE-TIME).
    pdt_us: u64,
    /// Preceded by EXT-X-DISCONTINUITY.
    discontinuity: bool,
    /// Decode time of its first part, ticks.
    decode: u64,
    /// Its cell on the group's grid ([`timeline`]), when the stream has one.
    cell: i64,
    init_id: u32,
    bytes: u64,
    /// Closed: listed with EXTINF and a URI. Only the last segment can be open.
    complete: bool,
    parts: Vec<PartEntry>,
    /// The segment's own lines, each written once (see [`render`]'s module docs).
    text: render::SegmentText,
}

impl Segment {
    fn secs(&self) -> f64 {
        self.duration as f64 / f64::from(self.timescale)
    }

    fn duration_us(&self) -> u64 {
        numbers::ticks_to_us(self.duration, self.timescale)
    }

    fn end_us(&self) -> u64 {
        self.start_us + self.duration_us()
    }

    fn part_count(&self) -> u32 {
        self.parts.len() as u32
    }

    fn starts_independent(&self) -> bool {
        self.parts.first().is_some_and(|p| p.independent)
    }
}

/// The timestamps of the current run of continuous parts, to date its segments.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Date of the run's first sample, µs since the Unix epoch.
    anchor_pdt_us: u64,
    /// Decode time of the run's first sample, ticks.
    anchor_decode: u64,
    timescale: u32,
}

/// The LL-HLS media playlist of one stream.
///
/// Guarantees, for every playlist [`render`](Self::render) writes (each checked by a test
/// named after its rule in `docs/conformance.md`):
/// * EXT-X-VERSION is the lowest §8 allows for the tags present: 6 for EXT-X-MAP, 9 with
///   EXT-X-SKIP (§8 [docs/conformance.md R15]);
/// * TARGETDURATION (configured, or measured before the first render: [`TargetDuration`]) and
///   PART-TARGET are the same for the stream's whole life, and no EXTINF rounds above
///   TARGETDURATION (§4.4.3.1 [docs/conformance.md R1]);
/// * EXT-X-SERVER-CONTROL is a function of the [`Options`] and the target duration alone, so
///   it is byte-identical in every version and in every rendition that shares the target
///   duration (§6.2.4): PART-HOLD-BACK
///   = 3 × PART-TARGET, HOLD-BACK = 3 × TD, CAN-SKIP-UNTIL = 6 × TD when the window can ever
///   reach past it (§4.4.3.8 [docs/conformance.md R3–R5]);
/// * MEDIA-SEQUENCE and DISCONTINUITY-SEQUENCE never decrease, and the listed duration never
///   drops below 3 × TD by a removal (§6.2.2 [docs/conformance.md R19, R21]); MEDIA-SEQUENCE
///   starts where [`Numbering`] says, by default from the first segment's date, so a stream
///   that starts again under its name numbers above its previous run (docs/conformance.md R34);
/// * every segment has EXT-X-PROGRAM-DATE-TIME; EXT-X-PART is listed for exactly the segments
///   that start within 3 × TD of the end (§6.2.2 [docs/conformance.md R18]); exactly one
///   EXT-X-PRELOAD-HINT while live, none and EXT-X-ENDLIST once finished
///   (§6.2.6 [docs/conformance.md R23]);
/// * rendering is a pure function of the parts pushed and the start time.
#[derive(Debug, Clone)]
pub struct M3u8Manifest {
    /// EXT-X-TARGETDURATION once known: from the options when fixed, else measured when the
    /// first segment closes or adopted from a sibling rendition (see [`TargetDuration`]).
    target_duration_s: Option<u32>,
    /// What no segment may round above while the target duration is not known yet.
    max_target_duration_s: u32,
    part_target_ms: u32,
    segment_min_ms: u64,
    max_segments: usize,
    max_parts_per_segment: u32,
    start_unix_ms: u64,
    /// CAN-SKIP-UNTIL is advertised: `max_segments` segments of at least `segment_min_ms`
    /// outlast the skip boundary, so delta updates can skip something. Fixed with the target
    /// duration, before the first render, so that SERVER-CONTROL never changes (see the type's
    /// docs).
    skip_advertised: bool,
    /// Retired segments, then the listed window, then the open segment (if any).
    segments: VecDeque<Segment>,
    /// Index in `segments` of the first listed segment.
    first_listed: usize,
    /// Total duration of the complete listed segments, µs (the playlist duration, §4.1).
    window_us: u64,
    /// The largest `window_us` so far: the longest playlist distributed
    /// (§6.2.2 [docs/conformance.md R20]).
    longest_window_us: u64,
    /// Discontinuities before the first listed segment (EXT-X-DISCONTINUITY-SEQUENCE).
    discontinuity_sequence: u64,
    numbering: Numbering,
    run: Option<Run>,
    /// The group's segment grid, once laid down by the first segment or joined
    /// ([`timeline`]); `None` before, and after a discontinuity left it.
    grid: Option<timeline::Grid>,
    /// Whether the grid was settled (laid down, joined or left): only the first segment may
    /// lay one down, and only before that may a rendition join one.
    grid_settled: bool,
    /// Lays down a grid at the first segment for siblings to join
    /// ([`share_timeline`](Self::share_timeline)).
    shares_timeline: bool,
    /// Holds the first segment open for a sibling's grid
    /// ([`wait_for_grid`](Self::wait_for_grid)).
    waits_for_grid: bool,
    finished: bool,
    /// The DVR window's segments before the live window ([`archive`]), when
    /// [`Options::dvr_window_ms`] is set.
    archive: Option<archive::Archive>,
    /// An EVENT playlist ([`keep_everything`](Self::keep_everything)).
    event: bool,
    /// `(decode_time + duration, duration, timescale)` of the newest part.
    last_part: Option<(u64, u64, u32)>,
    last_id: Option<u64>,
    anomalies: Anomalies,
}

impl M3u8Manifest {
    /// A builder with `opts`' durations and window. `start_unix_ms` is the wall-clock time of
    /// the first part's first sample: the first run's dates are it plus media time.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when `opts` does not validate, [`Error::InvalidPart`] when
    /// `start_unix_ms` is past [`LATEST_DATE_MS`].
    pub fn new(opts: &Options, start_unix_ms: u64) -> Result<Self> {
        opts.validate()?;
        check_date(start_unix_ms)?;
        let mut manifest = Self {
            target_duration_s: None,
            max_target_duration_s: opts.target_duration.max_s(),
            part_target_ms: opts.part_target_ms,
            segment_min_ms: opts.segment_min_ms,
            max_segments: opts.max_segments,
            max_parts_per_segment: opts.max_parts_per_segment as u32,
            start_unix_ms,
            skip_advertised: false,
            segments: VecDeque::new(),
            first_listed: 0,
            window_us: 0,
            longest_window_us: 0,
            discontinuity_sequence: 0,
            numbering: opts.numbering,
            run: None,
            grid: None,
            grid_settled: false,
            shares_timeline: false,
            waits_for_grid: false,
            finished: false,
            archive: opts.dvr_window_ms.map(archive::Archive::new),
            event: false,
            last_part: None,
            last_id: None,
            anomalies: Anomalies::default(),
        };
        if let TargetDuration::Fixed(s) = opts.target_duration {
            manifest.set_target_duration(s);
        }
        Ok(manifest)
    }

    fn listed(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().skip(self.first_listed)
    }

    fn find(&self, msn: u64) -> Option<&Segment> {
        let first = self.segments.front()?.msn;
        let i = usize::try_from(msn.checked_sub(first)?).ok()?;
        self.segments.get(i)
    }

    /// The end of the newest part on the stream's media clock, µs.
    fn end_us(&self) -> u64 {
        self.segments.back().map_or(0, Segment::end_us)
    }

    fn skip_boundary_us(&self) -> u64 {
        6 * u64::from(self.td()) * 1_000_000
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether a `_HLS_skip` request gets a Playlist Delta Update: CAN-SKIP-UNTIL is
    /// advertised and the stream has not ended (§6.2.5.1 [docs/conformance.md R13]).
    pub fn can_skip(&self) -> bool {
        self.skip_advertised && !self.finished
    }

    /// How many segments a delta update would replace with EXT-X-SKIP now: 0 when
    /// [`can_skip`](Self::can_skip) is false, or while no listed segment is past the Skip
    /// Boundary yet. At 0 a `_HLS_skip` request gets the full playlist, which is the delta
    /// update that skips nothing (an EXT-X-SKIP with SKIPPED-SEGMENTS=0 trips strict parsers).
    pub fn skippable_segments(&self) -> usize {
        if self.can_skip() {
            self.skippable()
        } else {
            0
        }
    }

    /// How many segments were cut at a part that is not independent (see [`Anomalies`]).
    pub fn forced_cuts(&self) -> u64 {
        self.anomalies.forced_cuts
    }

    /// Everything accepted although it could not be listed to the letter of the rules.
    pub fn anomalies(&self) -> Anomalies {
        self.anomalies
    }

    /// Whether every segment the builder still serves starts with an independent part, so a
    /// multivariant playlist may claim EXT-X-INDEPENDENT-SEGMENTS (§4.4.2.1).
    pub fn independent_segments(&self) -> bool {
        self.segments.iter().all(Segment::starts_independent)
    }

    /// The newest part.
    pub fn last_position(&self) -> Option<PartPosition> {
        let last = self.segments.back()?;
        Some(PartPosition {
            msn: last.msn,
            part: last.part_count().checked_sub(1)?,
        })
    }

    /// The number of the part the PRELOAD-HINT names (`p{number}.mp4`): the one after the
    /// newest, while live.
    ///
    /// Parts are named by their number in the stream (their chunk id), not by their position:
    /// whether the next part continues the open segment or starts a new one is only known when
    /// it arrives, so a position-named hint (`p{msn}.{n}`) would be abandoned at every segment
    /// boundary, and a player that fetched it would wait for a 404 instead of the part.
    pub fn preload_hint(&self) -> Option<u64> {
        if self.finished {
            return None;
        }
        self.last_id?.checked_add(1)
    }

    /// §6.2.5.2 [docs/conformance.md R11]: a part index past the final part of a complete segment
    /// means part 0 of the next segment. Other positions are returned unchanged.
    pub fn normalize(&self, pos: PartPosition) -> PartPosition {
        match self.find(pos.msn) {
            Some(seg) if seg.complete && pos.part >= seg.part_count() => PartPosition {
                msn: pos.msn + 1,
                part: 0,
            },
            _ => pos,
        }
    }

    /// The number (chunk id) of the part at `pos`, if the builder still knows it.
    pub fn part_id(&self, pos: PartPosition) -> Option<u64> {
        let seg = self.find(pos.msn)?;
        seg.parts.get(pos.part as usize).map(|p| p.id)
    }

    /// The parts of segment `msn`, while the builder knows it: listed segments and, for the
    /// availability duration of §6.2.2 [docs/conformance.md R18, R20], retired ones.
    pub fn segment(&self, msn: u64) -> Option<SegmentParts> {
        let seg = self.find(msn)?;
        Some(SegmentParts {
            msn,
            first_id: seg.parts.first()?.id,
            count: seg.part_count(),
            complete: seg.complete,
            duration_secs: seg.secs(),
            pdt_unix_us: seg.pdt_us,
            discontinuity: seg.discontinuity,
            init_id: seg.init_id,
            bytes: seg.bytes,
        })
    }

    /// The number (chunk id) of the oldest part the builder still knows: every older part
    /// belongs to a segment past its availability (§6.2.2 [docs/conformance.md R18, R20]) and may
    /// be dropped.
    pub fn oldest_part_id(&self) -> Option<u64> {
        self.segments.front()?.parts.first().map(|p| p.id)
    }

    /// The Media Sequence Number of the first listed segment (EXT-X-MEDIA-SEQUENCE).
    pub fn media_sequence(&self) -> u64 {
        self.archive
            .as_ref()
            .and_then(archive::Archive::first_msn)
            .or_else(|| self.listed().next().map(|s| s.msn))
            .unwrap_or(0)
    }

    /// EXT-X-DISCONTINUITY-SEQUENCE.
    pub fn discontinuity_sequence(&self) -> u64 {
        self.discontinuity_sequence
    }

    /// EXT-X-TARGETDURATION, fixed for the stream's life (§4.4.3.1 [docs/conformance.md R1]);
    /// `None` while it is still to be measured (see [`TargetDuration::Measured`]), when nothing
    /// should be published: a render would carry the maximum instead.
    pub fn target_duration_s(&self) -> Option<u32> {
        self.target_duration_s
    }

    /// PART-TARGET in seconds, fixed for the stream's life.
    pub fn part_target_secs(&self) -> f64 {
        f64::from(self.part_target_ms) / 1000.0
    }

    /// Peak and average segment bit rates of the listed window (§4.1 [docs/conformance.md R33]).
    pub fn bandwidth(&self) -> Bandwidth {
        let complete: Vec<(f64, u64)> = self
            .listed()
            .filter(|s| s.complete)
            .map(|s| (s.secs(), s.bytes))
            .collect();
        Bandwidth::measure(&complete, self.td())
    }
}

#[cfg(test)]
mod tests;

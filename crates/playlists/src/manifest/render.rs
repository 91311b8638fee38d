//! Rendering a media playlist (§4.4) or a Playlist Delta Update (§6.2.5.1).
//!
//! Durations are printed from integer ticks with five decimals ([`numbers`](super::numbers)),
//! the configured targets (PART-TARGET, hold-backs, CAN-SKIP-UNTIL), whole milliseconds, with
//! three, dates with millisecond precision: the text is a pure function of the builder's
//! state.
//!
//! A playlist is rendered once per published part (twice, with the delta update), and all but
//! a few of its lines belong to segments that no longer change. So each segment keeps its own
//! lines ([`SegmentText`]), formatted once: the date when it opens, a line per part as it is
//! pushed, EXTINF and URI when it closes. Rendering writes the header, decides per segment
//! whether DISCONTINUITY, MAP and the part lines go in, and copies the rest; it appends to the
//! caller's buffer and allocates nothing else.

use std::io::{self, Write};

use std::sync::Arc;

use bytes::Bytes;
use std::time::{Duration, UNIX_EPOCH};

use super::archive::ArchiveText;
use super::numbers::{write_duration, write_millis};
use super::{M3u8Manifest, PartEntry, RenditionReport, Segment, Skip};

/// 9999-12-31T23:59:59.999Z, the last date RFC 3339's four-digit year can print.
const LAST_PRINTABLE_US: u64 = 253_402_300_799_999_000;

/// The MAP URI of init section `init_id`: `init.mp4`, then `init-{n}.mp4`.
pub(super) struct InitUri(pub(super) u32);

impl std::fmt::Display for InitUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => f.write_str("init.mp4"),
            n => write!(f, "init-{n}.mp4"),
        }
    }
}

/// §8: the lowest EXT-X-VERSION for the tags a media playlist of this builder uses. EXT-X-MAP
/// without EXT-X-I-FRAMES-ONLY needs 6 (fractional EXTINF needs only 3); EXT-X-PART,
/// PART-INF, SERVER-CONTROL, PRELOAD-HINT and RENDITION-REPORT need none.
const VERSION_WITH_MAP: u32 = 6;
/// §8: EXT-X-SKIP needs 9. 10 is for a SKIP that replaces EXT-X-DATERANGE tags, which never
/// happens here: the builder writes no date ranges, so even a `v2` update replaces none.
const VERSION_WITH_SKIP: u32 = 9;

impl M3u8Manifest {
    /// Appends the playlist to `out`: the full playlist for [`Skip::No`], a Playlist Delta
    /// Update for `Yes`/`V2` (the same bytes, see [`Skip::V2`]) when
    /// [`skippable_segments`](Self::skippable_segments) is above 0, and the full playlist
    /// otherwise: §6.2.5.1 requires the directive to be ignored without CAN-SKIP-UNTIL or
    /// after EXT-X-ENDLIST (§6.2.5 [docs/conformance.md R13]), and while nothing is past the
    /// Skip Boundary the full playlist is the update. Rendition reports are written in the
    /// order given.
    pub fn render(&self, skip: Skip, reports: &[RenditionReport], out: &mut Vec<u8>) {
        // io::Write into a Vec never fails.
        let _ = self.write_media(skip, reports, true, out);
    }

    /// Appends the full playlist to `out` without the DVR archive's lines
    /// ([`Options::dvr_window_ms`](crate::Options::dvr_window_ms)), and returns where in
    /// `out` they belong: the full playlist is `out[..at]`, then
    /// [`archive_text`](Self::archive_text), then `out[at..]`. `None` (and the whole playlist
    /// in `out`) when nothing is archived. For a server that publishes a version per part:
    /// the archive's lines (hours of segments) are shared by every version, not copied into
    /// each.
    pub fn render_split(&self, reports: &[RenditionReport], out: &mut Vec<u8>) -> Option<usize> {
        let archived = self.archive.as_ref().is_some_and(|a| a.len() > 0);
        let start = out.len();
        // io::Write into a Vec never fails.
        let _ = self.write_media(Skip::No, reports, !archived, out);
        archived.then(|| self.archive_at(&out[start..]) + start)
    }

    /// Where the archive's lines go in a playlist rendered without them: after the header,
    /// before the first line of a segment or a hint (the header's tags are all `#EXT-X-`
    /// tags this module writes before any segment).
    fn archive_at(&self, text: &[u8]) -> usize {
        const HEADER: [&[u8]; 7] = [
            b"#EXTM3U",
            b"#EXT-X-VERSION:",
            b"#EXT-X-TARGETDURATION:",
            b"#EXT-X-PLAYLIST-TYPE:",
            b"#EXT-X-SERVER-CONTROL:",
            b"#EXT-X-PART-INF:",
            b"#EXT-X-MEDIA-SEQUENCE:",
        ];
        let mut at = 0;
        for line in text.split_inclusive(|&b| b == b'\n') {
            let header = HEADER.iter().any(|h| line.starts_with(h))
                || line.starts_with(b"#EXT-X-DISCONTINUITY-SEQUENCE:");
            if !header {
                break;
            }
            at += line.len();
        }
        at
    }

    /// The DVR archive's lines (see [`render_split`](Self::render_split)); `None` without a
    /// DVR window or while nothing is archived.
    pub fn archive_text(&self) -> Option<Bytes> {
        let archive = self.archive()?;
        let mut out = Vec::new();
        archive.write(&mut out);
        Some(Bytes::from(out))
    }

    /// The DVR archive as it is now, shared (see [`ArchiveText`]); `None` without a DVR
    /// window or while nothing is archived.
    pub(crate) fn archive(&self) -> Option<Arc<ArchiveText>> {
        self.archive
            .as_ref()
            .filter(|a| a.len() > 0)
            .map(|a| Arc::clone(a.snapshot()))
    }

    fn write_media(
        &self,
        skip: Skip,
        reports: &[RenditionReport],
        inline_archive: bool,
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        let skipped = if skip == Skip::No {
            0
        } else {
            self.skippable_segments()
        };
        let delta = skipped > 0;
        let archived = self.archive.as_ref().map_or(0, |a| a.len());
        let td = self.td();
        let version = if delta {
            VERSION_WITH_SKIP
        } else if archived > 0 || self.listed().next().is_some() {
            VERSION_WITH_MAP
        } else {
            // Nothing to list yet, so no EXT-X-MAP: nothing needs more than version 1.
            1
        };
        out.extend_from_slice(b"#EXTM3U\n#EXT-X-VERSION:");
        write!(out, "{version}\n#EXT-X-TARGETDURATION:{td}\n")?;
        if self.event {
            out.extend_from_slice(b"#EXT-X-PLAYLIST-TYPE:EVENT\n");
        }
        self.write_server_control(out)?;
        out.extend_from_slice(b"#EXT-X-PART-INF:PART-TARGET=");
        write_millis(out, u64::from(self.part_target_ms))?;
        write!(out, "\n#EXT-X-MEDIA-SEQUENCE:{}\n", self.media_sequence())?;
        // §4.4.3.3: before the first segment and before any EXT-X-DISCONTINUITY; §6.2.2: needed
        // once a removed segment could have carried one. Skipping does not change it (§4.4.5.2).
        let archive_discontinuity = self.archive.as_ref().is_some_and(|a| a.has_discontinuity());
        if self.discontinuity_sequence > 0
            || archive_discontinuity
            || self.listed().any(|s| s.discontinuity)
        {
            writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            )?;
        }
        if delta {
            writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")?;
        }
        // §6.2.2 [docs/conformance.md R18]: EXT-X-PART only for segments that start within 3 × TD
        // of the end.
        let parts_from_us = self.end_us().saturating_sub(3 * u64::from(td) * 1_000_000);
        let mut map = None;
        // The archive is skipped whole by a delta update (only segments past the Skip
        // Boundary are archived); in a full playlist it comes first.
        let live_skipped = skipped.saturating_sub(archived);
        if let (false, Some(archive)) = (delta, &self.archive) {
            if archived > 0 {
                if inline_archive {
                    archive.snapshot().write(out);
                }
                map = archive.last_init();
            }
        }
        for seg in self.listed().skip(live_skipped) {
            // The first segment written (after a skip too) gets every tag it needs:
            // DISCONTINUITY, MAP and the date, all before its first EXT-X-PART (§4.4.4.9).
            if seg.discontinuity {
                out.extend_from_slice(b"#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(seg.init_id) {
                writeln!(out, "#EXT-X-MAP:URI=\"{}\"", InitUri(seg.init_id))?;
                map = Some(seg.init_id);
            }
            out.extend_from_slice(&seg.text.date);
            if !seg.complete || seg.start_us >= parts_from_us {
                out.extend_from_slice(&seg.text.parts);
            }
            // Empty until the segment is complete.
            out.extend_from_slice(&seg.text.extinf);
        }
        if let Some(hint) = self.preload_hint() {
            // §6.2.6 [docs/conformance.md R23]: one hint, for the next part. A whole resource, so
            // no BYTERANGE-START or BYTERANGE-LENGTH (§6.2.6 [docs/conformance.md R25] concerns
            // hints into a larger resource).
            writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p{hint}.mp4\"")?;
        }
        for r in reports {
            writeln!(
                out,
                "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={},LAST-PART={}",
                r.uri, r.last_msn, r.last_part
            )?;
        }
        if self.finished {
            out.extend_from_slice(b"#EXT-X-ENDLIST\n");
        }
        Ok(())
    }

    /// EXT-X-SERVER-CONTROL: a function of the options alone, so it never changes between
    /// versions and is the same in every rendition of a group (§6.2.4).
    fn write_server_control(&self, out: &mut Vec<u8>) -> io::Result<()> {
        let td_ms = u64::from(self.td()) * 1000;
        out.extend_from_slice(b"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES");
        if self.skip_advertised {
            // §4.4.3.8 [docs/conformance.md R5]: the Skip Boundary is at least 6 × TD.
            out.extend_from_slice(b",CAN-SKIP-UNTIL=");
            write_millis(out, 6 * td_ms)?;
        }
        // §4.4.3.8 [docs/conformance.md R3]: PART-HOLD-BACK ≥ 3 × PART-TARGET (the SHOULD; every
        // rendition shares the PART-TARGET). §4.4.3.8 [docs/conformance.md R4]: HOLD-BACK ≥ 3 × TD.
        out.extend_from_slice(b",PART-HOLD-BACK=");
        write_millis(out, 3 * u64::from(self.part_target_ms))?;
        out.extend_from_slice(b",HOLD-BACK=");
        write_millis(out, 3 * td_ms)?;
        out.push(b'\n');
        Ok(())
    }

    /// How many leading listed segments a delta update replaces: those whose end lies further
    /// from the end of the playlist (the end of its last part) than the Skip Boundary
    /// (§6.2.5.1). Only complete segments qualify.
    pub(super) fn skippable(&self) -> usize {
        let end_us = self.end_us();
        let boundary = self.skip_boundary_us();
        let archived = self.archive.as_ref().map_or(0, |a| a.len());
        archived
            + self
                .listed()
                .take_while(|s| s.complete && end_us - s.end_us() > boundary)
                .count()
    }
}

/// The lines a segment contributes to every playlist that lists it, formatted once.
#[derive(Debug, Clone, Default)]
pub(super) struct SegmentText {
    /// `#EXT-X-PROGRAM-DATE-TIME:…` (§4.4.4.6).
    pub(super) date: Vec<u8>,
    /// One `#EXT-X-PART:…` per part (§4.4.4.9), listed near the live edge only
    /// (§6.2.2 [docs/conformance.md R18]).
    parts: Vec<u8>,
    /// `#EXTINF:…,` and the URI line, once the segment is complete (§4.4.4.1).
    pub(super) extinf: Vec<u8>,
}

impl SegmentText {
    pub(super) fn new(pdt_us: u64) -> Self {
        let mut date = Vec::with_capacity(56);
        // io::Write into a Vec never fails.
        let _ = write_pdt(&mut date, pdt_us);
        Self {
            date,
            parts: Vec::new(),
            extinf: Vec::new(),
        }
    }

    /// Replaces the date line: a rendition joining its group's timeline before it was
    /// published takes the group's date.
    pub(super) fn redate(&mut self, pdt_us: u64) {
        self.date.clear();
        // io::Write into a Vec never fails.
        let _ = write_pdt(&mut self.date, pdt_us);
    }

    /// Appends the line of `part`, named by its number in the stream (see
    /// [`M3u8Manifest::preload_hint`]).
    pub(super) fn add_part(&mut self, part: PartEntry, timescale: u32) {
        let out = &mut self.parts;
        out.extend_from_slice(b"#EXT-X-PART:DURATION=");
        let _ = write_duration(out, part.duration, timescale);
        let _ = write!(out, ",URI=\"p{}.mp4\"", part.id);
        if part.independent {
            out.extend_from_slice(b",INDEPENDENT=YES");
        }
        out.push(b'\n');
    }
}

impl Segment {
    /// Marks the segment complete and writes its EXTINF and URI.
    pub(super) fn close(&mut self) {
        self.complete = true;
        let out = &mut self.text.extinf;
        out.clear();
        out.extend_from_slice(b"#EXTINF:");
        let _ = write_duration(out, self.duration, self.timescale);
        let _ = write!(out, ",\ns{}.mp4\n", self.msn);
    }
}

/// EXT-X-PROGRAM-DATE-TIME in UTC with milliseconds (§4.4.4.6: `YYYY-MM-DDThh:mm:ss.SSSZ`).
fn write_pdt(out: &mut Vec<u8>, pdt_us: u64) -> io::Result<()> {
    // humantime refuses years past 9999 with a fmt::Error, which `write!` into a Vec turns
    // into a panic. Dates are validated far below that (`LATEST_DATE_MS`); the clamp keeps a
    // stream that ran for millennia from panicking all the same.
    let at = UNIX_EPOCH + Duration::from_micros(pdt_us.min(LAST_PRINTABLE_US));
    writeln!(
        out,
        "#EXT-X-PROGRAM-DATE-TIME:{}",
        humantime::format_rfc3339_millis(at)
    )
}

//! Rendering a media playlist (§4.4) or a Playlist Delta Update (§6.2.5.1).
//!
//! Numbers are written with a fixed number of decimals so the text is a pure function of the
//! builder's state: durations (EXTINF, EXT-X-PART DURATION) with 5, which is finer than one
//! 90 kHz tick, and the configured targets (PART-TARGET, hold-backs, CAN-SKIP-UNTIL), which are
//! whole milliseconds, with 3.

use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use super::{M3u8Manifest, RenditionReport, Segment, Skip};

/// The MAP URI of init section `init_id`.
pub(crate) fn init_uri(init_id: u32) -> String {
    if init_id == 0 {
        "init.mp4".to_owned()
    } else {
        format!("init-{init_id}.mp4")
    }
}

impl M3u8Manifest {
    /// Appends the playlist to `out`: the full playlist for [`Skip::No`], a Playlist Delta
    /// Update for `Yes`/`V2` when [`can_skip`](Self::can_skip) (the full playlist otherwise,
    /// as §6.2.5.1 requires the directive to be ignored then). Rendition reports are written
    /// in the order given.
    pub fn render(&self, skip: Skip, reports: &[RenditionReport], out: &mut Vec<u8>) {
        // io::Write into a Vec never fails.
        let _ = self.write_media(skip, reports, out);
    }

    fn write_media(
        &self,
        skip: Skip,
        reports: &[RenditionReport],
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        let delta = skip != Skip::No && self.can_skip();
        let skipped = if delta { self.skippable() } else { 0 };
        let td = self.target_duration_s;
        let part_target = self.part_target_secs();
        // §8: EXT-X-MAP needs 6, EXT-X-SKIP 9, a skip of date ranges (v2) 10 (rule 15).
        let version = match (delta, skip) {
            (true, Skip::V2) => 10,
            (true, _) => 9,
            _ => 6,
        };
        writeln!(out, "#EXTM3U")?;
        writeln!(out, "#EXT-X-VERSION:{version}")?;
        writeln!(out, "#EXT-X-TARGETDURATION:{td}")?;
        write!(out, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES")?;
        if self.can_skip {
            // Rule 5: the skip boundary is 6 × TD.
            write!(out, ",CAN-SKIP-UNTIL={:.3}", 6.0 * f64::from(td))?;
        }
        // Rule 3 (PART-HOLD-BACK ≥ 3 × PART-TARGET) and rule 4 (HOLD-BACK ≥ 3 × TD).
        writeln!(
            out,
            ",PART-HOLD-BACK={:.3},HOLD-BACK={:.3}",
            3.0 * part_target,
            3.0 * f64::from(td)
        )?;
        writeln!(out, "#EXT-X-PART-INF:PART-TARGET={part_target:.3}")?;
        writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence())?;
        if self.discontinuity_sequence > 0 || self.listed().any(|s| s.discontinuity) {
            writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            )?;
        }
        if delta {
            write!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")?;
            if skip == Skip::V2 {
                // No EXT-X-DATERANGE is ever emitted, so none was removed.
                write!(out, ",RECENTLY-REMOVED-DATERANGES=\"\"")?;
            }
            writeln!(out)?;
        }
        let end_us = self
            .listed()
            .last()
            .map_or(0, |s| s.pdt_us + s.duration_us());
        let parts_from_us = end_us.saturating_sub(3 * u64::from(td) * 1_000_000);
        let mut map = None;
        for seg in self.listed().skip(skipped) {
            // The first segment after a skip gets every tag it needs: DISCONTINUITY, MAP, PDT.
            if seg.discontinuity {
                writeln!(out, "#EXT-X-DISCONTINUITY")?;
            }
            if map != Some(seg.init_id) {
                writeln!(out, "#EXT-X-MAP:URI=\"{}\"", init_uri(seg.init_id))?;
                map = Some(seg.init_id);
            }
            write_pdt(out, seg.pdt_us)?;
            // Rule 18: parts only for segments within 3 × TD of the end.
            if seg.pdt_us >= parts_from_us || !seg.complete {
                write_parts(out, seg)?;
            }
            if seg.complete {
                writeln!(out, "#EXTINF:{:.5},", seg.secs())?;
                writeln!(out, "s{}.mp4", seg.msn)?;
            }
        }
        if let Some(hint) = self.preload_hint() {
            // Rule 23: one hint, for the next part.
            writeln!(
                out,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p{}.{}.mp4\"",
                hint.msn, hint.part
            )?;
        }
        for r in reports {
            writeln!(
                out,
                "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={},LAST-PART={}",
                r.uri, r.last_msn, r.last_part
            )?;
        }
        if self.finished {
            writeln!(out, "#EXT-X-ENDLIST")?;
        }
        Ok(())
    }

    /// How many leading listed segments a delta update replaces: those ending further from
    /// the end of the playlist than the skip boundary (§6.2.5.1). Only complete segments
    /// qualify, and at least one segment always stays.
    fn skippable(&self) -> usize {
        let Some(last) = self.listed().last() else {
            return 0;
        };
        let end_us = last.pdt_us + last.duration_us();
        let boundary = self.skip_boundary_us();
        self.listed()
            .take_while(|s| s.complete && end_us - (s.pdt_us + s.duration_us()) > boundary)
            .count()
    }
}

fn write_parts(out: &mut Vec<u8>, seg: &Segment) -> io::Result<()> {
    let timescale = f64::from(seg.timescale);
    for (i, part) in seg.parts.iter().enumerate() {
        write!(
            out,
            "#EXT-X-PART:DURATION={:.5},URI=\"p{}.{i}.mp4\"",
            part.duration as f64 / timescale,
            seg.msn
        )?;
        if part.independent {
            write!(out, ",INDEPENDENT=YES")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn write_pdt(out: &mut Vec<u8>, pdt_us: u64) -> io::Result<()> {
    let at = UNIX_EPOCH + Duration::from_micros(pdt_us);
    writeln!(
        out,
        "#EXT-X-PROGRAM-DATE-TIME:{}",
        humantime::format_rfc3339_millis(at)
    )
}

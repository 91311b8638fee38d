//! A recording's playlist: VOD once it ended (§4.4.3.5 EXT-X-PLAYLIST-TYPE:VOD, with
//! EXT-X-ENDLIST), EVENT while it grows.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use super::catalog::Recording;

/// Renders `recording`'s media playlist. Every URI is relative to the playlist and gets
/// `query` (`?token=…` under signed playback) when there is one.
///
/// * A finished (or stopped, or interrupted) recording is `EXT-X-PLAYLIST-TYPE:VOD` with
///   `EXT-X-ENDLIST`; one still recording is `EVENT` (segments are only appended), or has no
///   type once retention removed segments from its start (§4.4.3.5 forbids removing
///   segments from an EVENT playlist).
/// * TARGETDURATION is the longest segment rounded to the nearest second (§4.4.3.1).
/// * `EXT-X-DISCONTINUITY` is written where the live playlist had it, and an `EXT-X-MAP`
///   wherever the init section changes.
/// * Every segment has its EXT-X-PROGRAM-DATE-TIME, so a player can seek by date.
pub fn render(recording: &Recording, query: Option<&str>) -> String {
    let suffix = query.map(|q| format!("?{q}")).unwrap_or_default();
    let target = recording
        .segments
        .iter()
        .map(|s| s.duration_us.saturating_add(500_000) / 1_000_000)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = String::with_capacity(64 + recording.segments.len() * 96);
    // Version 6: EXT-X-MAP in a playlist without EXT-X-I-FRAMES-ONLY (§8).
    out.push_str("#EXTM3U\n#EXT-X-VERSION:6\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let first = recording.segments.front().map_or(0, |s| s.msn);
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
    match (recording.is_live(), recording.trimmed) {
        (false, _) => out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n"),
        (true, false) => out.push_str("#EXT-X-PLAYLIST-TYPE:EVENT\n"),
        (true, true) => {}
    }
    let mut init = None;
    for (i, s) in recording.segments.iter().enumerate() {
        if i > 0 && s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if init != Some(s.init) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"init-{}.mp4{suffix}\"", s.init);
            init = Some(s.init);
        }
        let at = UNIX_EPOCH + Duration::from_micros(s.pdt_us);
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            humantime::format_rfc3339_millis(at)
        );
        let _ = writeln!(
            out,
            "#EXTINF:{:.3},\n{}.m4s{suffix}",
            s.duration_us as f64 / 1e6,
            s.msn
        );
    }
    if !recording.is_live() {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::catalog::RecordingState;
    use super::super::index::SegmentEntry;
    use super::*;

    fn recording(state: RecordingState) -> Recording {
        let mut rec = Recording::new(1_765_139_492_000);
        for msn in 7..10 {
            rec.segments.push_back(SegmentEntry {
                msn,
                duration_us: if msn == 8 { 2_499_000 } else { 2_000_000 },
                pdt_us: 1_765_139_492_000_000 + (msn - 7) * 2_000_000,
                discontinuity: msn == 9,
                init: if msn == 9 { 1 } else { 0 },
                bytes: 1,
            });
        }
        rec.state = state;
        rec
    }

    #[test]
    fn a_finished_recording_is_vod_with_its_maps_discontinuities_and_dates() {
        let text = render(&recording(RecordingState::Finished), None);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXT-X-MAP:URI=\"init-0.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-12-07T20:31:32.000Z\n#EXTINF:2.000,\n7.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-12-07T20:31:34.000Z\n#EXTINF:2.499,\n8.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-12-07T20:31:36.000Z\n#EXTINF:2.000,\n9.m4s\n\
             #EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn a_growing_recording_is_an_event_until_trimmed_and_uris_carry_the_query() {
        let mut rec = recording(RecordingState::Recording);
        let text = render(&rec, Some("token=1.ab"));
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"));
        assert!(!text.contains("ENDLIST"));
        assert!(text.contains("URI=\"init-0.mp4?token=1.ab\""));
        assert!(text.contains("\n7.m4s?token=1.ab\n"));
        rec.trimmed = true;
        assert!(!render(&rec, None).contains("PLAYLIST-TYPE"));
    }
}

//! The few things a simulated player reads from a playlist.

use anyhow::{bail, Context, Result};

/// What a player reads from a playlist.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) media_sequence: u64,
    /// The preload hint's part number.
    pub(crate) hint: Option<u64>,
    /// The position the hinted part will have: (media sequence number of the open segment,
    /// parts it has so far). Asking for it blocks until the hinted part is listed.
    pub(crate) next: (u64, u64),
    /// Part numbers listed, in order.
    pub(crate) parts: Vec<u64>,
    /// EXT-X-DISCONTINUITY-SEQUENCE plus the discontinuities listed: the number of the newest.
    pub(crate) discontinuity: u64,
    /// A delta update (EXT-X-SKIP): discontinuities in the skipped segments are not listed.
    pub(crate) delta: bool,
    pub(crate) ended: bool,
}

pub(crate) fn read_playlist(text: &str) -> Result<Seen> {
    if !text.starts_with("#EXTM3U") {
        bail!("not a playlist");
    }
    let mut seen = Seen::default();
    let mut segments = 0;
    let mut open_parts = 0;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            seen.media_sequence = v.trim().parse().context("MEDIA-SEQUENCE")?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            seen.discontinuity += v.trim().parse::<u64>().context("DISCONTINUITY-SEQUENCE")?;
        } else if line == "#EXT-X-DISCONTINUITY" {
            seen.discontinuity += 1;
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-SKIP:") {
            seen.delta = true;
            segments += attr(attrs, "SKIPPED-SEGMENTS")
                .and_then(|v| v.parse::<u64>().ok())
                .context("SKIPPED-SEGMENTS")?;
        } else if line.starts_with("#EXTINF:") {
            segments += 1;
            open_parts = 0;
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-PART:") {
            seen.parts.push(part_number(attrs).context("PART URI")?);
            open_parts += 1;
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-PRELOAD-HINT:") {
            seen.hint = Some(part_number(attrs).context("PRELOAD-HINT URI")?);
        } else if line == "#EXT-X-ENDLIST" {
            seen.ended = true;
        }
    }
    seen.next = (seen.media_sequence + segments, open_parts);
    Ok(seen)
}

/// The value of attribute `name` in an attribute list (quotes removed).
pub(crate) fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let rest = attrs
        .split(',')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?;
    Some(rest.trim_matches('"'))
}

/// `TYPE=PART,URI="p12.mp4"` → 12.
pub(crate) fn part_number(attrs: &str) -> Option<u64> {
    let uri = attrs.split("URI=\"").nth(1)?.split('"').next()?;
    uri.strip_prefix('p')?.strip_suffix(".mp4")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(crate) fn reads_hint_position_parts_and_discontinuities() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n\
            #EXT-X-PART:DURATION=0.2,URI=\"p40.mp4\"\n#EXTINF:0.2,\ns7.mp4\n\
            #EXT-X-DISCONTINUITY\n#EXT-X-PART:DURATION=0.2,URI=\"p41.mp4\",INDEPENDENT=YES\n\
            #EXT-X-PART:DURATION=0.2,URI=\"p42.mp4\"\n\
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p43.mp4\"\n";
        let seen = read_playlist(text).unwrap();
        assert_eq!(seen.media_sequence, 7);
        assert_eq!(seen.hint, Some(43));
        assert_eq!(seen.next, (8, 2), "segment 8 is open with two parts");
        assert_eq!(seen.parts, [40, 41, 42]);
        assert_eq!(seen.discontinuity, 3);
        assert!(!seen.ended && !seen.delta);
        assert!(read_playlist("garbage").is_err());
    }

    #[test]
    pub(crate) fn a_delta_update_counts_the_skipped_segments() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-SKIP:SKIPPED-SEGMENTS=5\n\
            #EXTINF:2.0,\ns8.mp4\n#EXT-X-PART:DURATION=0.2,URI=\"p90.mp4\"\n\
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p91.mp4\"\n";
        let seen = read_playlist(text).unwrap();
        assert!(seen.delta);
        assert_eq!(seen.next, (9, 1));
    }
}

//! A strict reader of the media playlists this builder writes, for the rule checks.
//!
//! It knows only the tags the builder uses and refuses anything else, so a tag written in the
//! wrong place, twice, or with a malformed attribute list fails the test that rendered it.
//! Durations are kept in the printed units of 10⁻⁵ s so that the checks compare exactly what a
//! player reads.

use std::collections::BTreeMap;

/// A duration as printed, in units of 10⁻⁵ s.
pub(crate) type Units = u64;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PartTag {
    pub duration: Units,
    pub uri: String,
    pub independent: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Seg {
    pub msn: u64,
    pub discontinuity: bool,
    /// The URI of an EXT-X-MAP written right before this segment.
    pub map: Option<String>,
    /// The EXT-X-MAP in force for this segment.
    pub effective_map: Option<String>,
    /// EXT-X-PROGRAM-DATE-TIME, ms since the Unix epoch.
    pub pdt_ms: Option<i64>,
    pub parts: Vec<PartTag>,
    pub extinf: Option<Units>,
    pub uri: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hint {
    pub attrs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    pub uri: String,
    pub last_msn: u64,
    pub last_part: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Playlist {
    pub version: u32,
    pub target_duration: u64,
    /// The whole SERVER-CONTROL line and its attributes.
    pub server_control_line: String,
    pub server_control: BTreeMap<String, String>,
    pub part_target: Units,
    pub media_sequence: u64,
    pub discontinuity_sequence: Option<u64>,
    /// `(SKIPPED-SEGMENTS, RECENTLY-REMOVED-DATERANGES)`.
    pub skip: Option<(u64, Option<String>)>,
    /// Listed segments in order; the last one has no URI while it is open.
    pub segments: Vec<Seg>,
    pub hints: Vec<Hint>,
    pub reports: Vec<Report>,
    pub endlist: bool,
}

impl Playlist {
    /// Discontinuity Sequence Number of segment `i` (§6.2.1): the tag's value plus the
    /// EXT-X-DISCONTINUITY tags before its URI.
    pub fn dsn_of(&self, i: usize) -> u64 {
        self.discontinuity_sequence.unwrap_or(0)
            + self.segments[..=i]
                .iter()
                .filter(|s| s.discontinuity)
                .count() as u64
    }

    /// Duration of segment `i` as listed: its EXTINF, or the sum of its parts while open.
    pub fn duration_of(&self, i: usize) -> Units {
        let seg = &self.segments[i];
        seg.extinf
            .unwrap_or_else(|| seg.parts.iter().map(|p| p.duration).sum())
    }
}

/// Parses `"1.23456"` (any number of decimals up to five) into units of 10⁻⁵ s.
pub(crate) fn units(s: &str) -> Result<Units, String> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || frac.len() > 5
        || !(int.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    {
        return Err(format!(
            "not a decimal-floating-point with ≤ 5 decimals: {s:?}"
        ));
    }
    let int: u64 = int.parse().map_err(|e| format!("{s:?}: {e}"))?;
    let frac: u64 = format!("{frac:0<5}")
        .parse()
        .map_err(|e| format!("{s:?}: {e}"))?;
    Ok(int * 100_000 + frac)
}

/// An attribute list (§4.2): names from `[A-Z0-9-]`, no whitespace, no repeated names,
/// quoted-strings without `"`, CR or LF. Quoted values keep their quotes.
pub(crate) fn attributes(list: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut rest = list;
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("attribute without `=` in {list:?}"))?;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!("bad attribute name {name:?} in {list:?}"));
        }
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| format!("unterminated quoted-string in {list:?}"))?;
            (&after[..end + 2], &after[end + 2..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if value.is_empty() || value.contains(char::is_whitespace) {
            return Err(format!("bad value for {name} in {list:?}"));
        }
        if out.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(format!("attribute {name} twice in {list:?}"));
        }
        rest = match next.strip_prefix(',') {
            Some(r) if !r.is_empty() => r,
            Some(_) => return Err(format!("trailing comma in {list:?}")),
            None if next.is_empty() => "",
            None => return Err(format!("junk after {name} in {list:?}")),
        };
    }
    Ok(out)
}

/// The content of a quoted-string attribute value.
pub(crate) fn unquote(v: &str) -> Result<&str, String> {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or_else(|| format!("{v:?} is not a quoted-string"))
}

/// `YYYY-MM-DDThh:mm:ss.SSSZ` to ms since the Unix epoch.
pub(crate) fn date_ms(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z';
    if !shape_ok {
        return Err(format!("date {s:?} is not YYYY-MM-DDThh:mm:ss.SSSZ"));
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        s[r].parse().map_err(|e| format!("date {s:?}: {e}"))
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    // Days from civil (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 24 + num(11..13)?) * 60 + num(14..16)?) * 60_000
        + num(17..19)? * 1000
        + num(20..23)?)
}

/// Reads a media playlist written by the builder, refusing anything out of place.
pub(crate) fn parse(text: &str) -> Result<Playlist, String> {
    let body = text
        .strip_prefix("#EXTM3U\n")
        .ok_or("the playlist does not start with #EXTM3U")?;
    if !text.ends_with('\n') {
        return Err("the last line is not terminated".into());
    }
    let mut p = Playlist::default();
    let mut seen = BTreeMap::<&str, usize>::new();
    let mut in_segments = false;
    let mut after_segments = false;
    let mut seg = Seg::default();
    let mut map: Option<String> = None;
    let mut expect_uri = false;
    for line in body.lines() {
        if line.is_empty() || line.contains(char::is_whitespace) || line.bytes().any(|b| b < 0x20) {
            return Err(format!(
                "blank line, whitespace or control character in {line:?}"
            ));
        }
        if expect_uri {
            if line.starts_with('#') {
                return Err(format!("EXTINF not followed by a URI but {line:?}"));
            }
            seg.uri = Some(line.to_owned());
            seg.msn =
                p.media_sequence + p.skip.as_ref().map_or(0, |s| s.0) + p.segments.len() as u64;
            p.segments.push(std::mem::take(&mut seg));
            expect_uri = false;
            continue;
        }
        let (tag, value) = line.split_once(':').unwrap_or((line, ""));
        let header = matches!(
            tag,
            "#EXT-X-VERSION"
                | "#EXT-X-TARGETDURATION"
                | "#EXT-X-SERVER-CONTROL"
                | "#EXT-X-PART-INF"
                | "#EXT-X-MEDIA-SEQUENCE"
                | "#EXT-X-DISCONTINUITY-SEQUENCE"
                | "#EXT-X-SKIP"
        );
        if header {
            if in_segments || after_segments {
                return Err(format!("{tag} after the first segment"));
            }
            *seen.entry(tag).or_default() += 1;
            if seen[tag] > 1 {
                return Err(format!("{tag} appears twice"));
            }
        }
        let segment_tag = matches!(
            tag,
            "#EXT-X-DISCONTINUITY"
                | "#EXT-X-MAP"
                | "#EXT-X-PROGRAM-DATE-TIME"
                | "#EXT-X-PART"
                | "#EXTINF"
        );
        if segment_tag {
            if after_segments {
                return Err(format!("{tag} after the preload hint or reports"));
            }
            in_segments = true;
            // §4.4.4.9: DISCONTINUITY, MAP and the date come before the segment's first part.
            if tag != "#EXT-X-PART" && tag != "#EXTINF" && !seg.parts.is_empty() {
                return Err(format!("{tag} after an EXT-X-PART of the same segment"));
            }
        }
        match tag {
            "#EXT-X-VERSION" => p.version = value.parse().map_err(|e| format!("{line}: {e}"))?,
            "#EXT-X-TARGETDURATION" => {
                p.target_duration = value.parse().map_err(|e| format!("{line}: {e}"))?
            }
            "#EXT-X-SERVER-CONTROL" => {
                p.server_control_line = line.to_owned();
                p.server_control = attributes(value)?;
            }
            "#EXT-X-PART-INF" => {
                let a = attributes(value)?;
                p.part_target = units(a.get("PART-TARGET").ok_or("PART-INF without PART-TARGET")?)?;
            }
            "#EXT-X-MEDIA-SEQUENCE" => {
                p.media_sequence = value.parse().map_err(|e| format!("{line}: {e}"))?
            }
            "#EXT-X-DISCONTINUITY-SEQUENCE" => {
                if seen.contains_key("#EXT-X-SKIP") {
                    return Err("DISCONTINUITY-SEQUENCE after EXT-X-SKIP".into());
                }
                p.discontinuity_sequence = Some(value.parse().map_err(|e| format!("{line}: {e}"))?)
            }
            "#EXT-X-SKIP" => {
                if !seen.contains_key("#EXT-X-MEDIA-SEQUENCE") {
                    return Err("EXT-X-SKIP before MEDIA-SEQUENCE".into());
                }
                let a = attributes(value)?;
                let skipped = a
                    .get("SKIPPED-SEGMENTS")
                    .ok_or("SKIP without SKIPPED-SEGMENTS")?
                    .parse()
                    .map_err(|e| format!("{line}: {e}"))?;
                let removed = match a.get("RECENTLY-REMOVED-DATERANGES") {
                    Some(v) => Some(unquote(v)?.to_owned()),
                    None => None,
                };
                if a.len() != 1 + usize::from(removed.is_some()) {
                    return Err(format!("unknown SKIP attribute in {line}"));
                }
                p.skip = Some((skipped, removed));
            }
            "#EXT-X-DISCONTINUITY" if value.is_empty() => {
                if p.discontinuity_sequence.is_none() {
                    return Err(
                        "EXT-X-DISCONTINUITY without DISCONTINUITY-SEQUENCE before it".into(),
                    );
                }
                seg.discontinuity = true;
            }
            "#EXT-X-MAP" => {
                let a = attributes(value)?;
                if a.len() != 1 {
                    return Err(format!("unexpected MAP attributes in {line}"));
                }
                let uri = unquote(a.get("URI").ok_or("MAP without URI")?)?.to_owned();
                seg.map = Some(uri.clone());
                map = Some(uri);
            }
            "#EXT-X-PROGRAM-DATE-TIME" => {
                if seg.pdt_ms.is_some() {
                    return Err("two dates for one segment".into());
                }
                seg.pdt_ms = Some(date_ms(value)?);
            }
            "#EXT-X-PART" => {
                let a = attributes(value)?;
                let independent = match a.get("INDEPENDENT").map(String::as_str) {
                    None => false,
                    Some("YES") => true,
                    Some(other) => return Err(format!("INDEPENDENT={other}")),
                };
                if a.len() != 2 + usize::from(independent) {
                    return Err(format!("unexpected PART attributes in {line}"));
                }
                seg.effective_map = map.clone();
                seg.parts.push(PartTag {
                    duration: units(a.get("DURATION").ok_or("PART without DURATION")?)?,
                    uri: unquote(a.get("URI").ok_or("PART without URI")?)?.to_owned(),
                    independent,
                });
            }
            "#EXTINF" => {
                let d = value
                    .strip_suffix(',')
                    .ok_or_else(|| format!("EXTINF without the comma: {line}"))?;
                seg.extinf = Some(units(d)?);
                seg.effective_map = map.clone();
                expect_uri = true;
            }
            "#EXT-X-PRELOAD-HINT" | "#EXT-X-RENDITION-REPORT" | "#EXT-X-ENDLIST" => {
                if p.endlist {
                    return Err(format!("{tag} after EXT-X-ENDLIST"));
                }
                if !after_segments && seg != Seg::default() {
                    // The open segment: parts without EXTINF.
                    seg.effective_map = map.clone();
                    seg.msn = p.media_sequence
                        + p.skip.as_ref().map_or(0, |s| s.0)
                        + p.segments.len() as u64;
                    p.segments.push(std::mem::take(&mut seg));
                }
                after_segments = true;
                match tag {
                    "#EXT-X-PRELOAD-HINT" => {
                        if !p.reports.is_empty() {
                            return Err("PRELOAD-HINT after a RENDITION-REPORT".into());
                        }
                        p.hints.push(Hint {
                            attrs: attributes(value)?,
                        });
                    }
                    "#EXT-X-RENDITION-REPORT" => {
                        let a = attributes(value)?;
                        let num = |k: &str| -> Result<u64, String> {
                            a.get(k)
                                .ok_or(format!("report without {k}"))?
                                .parse()
                                .map_err(|e| format!("{line}: {e}"))
                        };
                        p.reports.push(Report {
                            uri: unquote(a.get("URI").ok_or("report without URI")?)?.to_owned(),
                            last_msn: num("LAST-MSN")?,
                            last_part: num("LAST-PART")?,
                        });
                    }
                    _ => p.endlist = true,
                }
            }
            _ => return Err(format!("unexpected line {line:?}")),
        }
    }
    if expect_uri {
        return Err("the playlist ends after an EXTINF".into());
    }
    if seg != Seg::default() {
        seg.effective_map = map.clone();
        seg.msn = p.media_sequence + p.skip.as_ref().map_or(0, |s| s.0) + p.segments.len() as u64;
        p.segments.push(seg);
    }
    for required in [
        "#EXT-X-VERSION",
        "#EXT-X-TARGETDURATION",
        "#EXT-X-SERVER-CONTROL",
        "#EXT-X-PART-INF",
        "#EXT-X-MEDIA-SEQUENCE",
    ] {
        if !seen.contains_key(required) {
            return Err(format!("{required} is missing"));
        }
    }
    Ok(p)
}

#[test]
fn the_reader_refuses_what_the_rules_forbid() {
    let ok = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n\
              #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600\n\
              #EXT-X-PART-INF:PART-TARGET=0.200\n#EXT-X-MEDIA-SEQUENCE:3\n\
              #EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n\
              #EXT-X-PART:DURATION=0.20000,URI=\"p3.0.mp4\",INDEPENDENT=YES\n\
              #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p3.1.mp4\"\n";
    let p = parse(ok).unwrap();
    assert_eq!(p.segments.len(), 1);
    assert_eq!(p.segments[0].msn, 3);
    assert_eq!(p.segments[0].pdt_ms, Some(1_700_000_000_000));
    for (from, to) in [
        ("#EXT-X-VERSION:6\n", "#EXT-X-VERSION:6\n#EXT-X-VERSION:6\n"),
        ("PART-HOLD-BACK=0.600", "PART-HOLD-BACK=0.600,PART-HOLD-BACK=0.600"),
        ("URI=\"init.mp4\"", "URI=\"init.mp4"),
        ("#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n#EXT-X-PART:DURATION=0.20000,URI=\"p3.0.mp4\",INDEPENDENT=YES\n",
         "#EXT-X-PART:DURATION=0.20000,URI=\"p3.0.mp4\",INDEPENDENT=YES\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n"),
        ("#EXT-X-MAP", "#EXT-X-DISCONTINUITY\n#EXT-X-MAP"),
        ("DURATION=0.20000", "DURATION=0.200001"),
        ("\n#EXT-X-PRELOAD", "\n\n#EXT-X-PRELOAD"),
        ("#EXT-X-MEDIA-SEQUENCE:3\n", ""),
    ] {
        assert!(ok.contains(from), "{from}");
        let bad = ok.replacen(from, to, 1);
        assert!(parse(&bad).is_err(), "accepted:\n{bad}");
    }
}

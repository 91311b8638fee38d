//! The playlist rules of `docs/conformance.md`, checked on rendered text (through [`parse`]).
//!
//! [`check`] judges one playlist on its own, [`History`] a stream of versions against each
//! other, [`check_delta`] a delta update against the full playlist of the same version. The
//! rule tests and the property test both use them; each failure names its rule.

use std::collections::HashMap;

use super::parse::{parse, units, PartTag, Playlist, Units};
use crate::options::Options;

/// 1 ms in printed units: the slack for comparing distances that the builder measures in
/// whole µs with distances summed from printed (10 µs) durations.
const SLACK: Units = 100;
const SECOND: Units = 100_000;

/// What a playlist must declare, from the options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub td: u64,
    pub part_target: Units,
    pub skip_advertised: bool,
    /// The stream's first Media Sequence Number (`Numbering`): a higher MEDIA-SEQUENCE means
    /// segments were removed.
    pub first_msn: u64,
}

impl Config {
    /// For a stream of `opts` whose target duration is `td` (the fixed one, or what it
    /// measured).
    pub fn of(opts: &Options, td: u32) -> Self {
        Self {
            td: u64::from(td),
            part_target: u64::from(opts.part_target_ms) * 100,
            skip_advertised: opts.max_segments as u64 * opts.segment_min_ms > 6000 * u64::from(td),
            first_msn: 0,
        }
    }
}

fn ensure(ok: bool, rule: &str, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{rule}: {}", what()))
    }
}

/// Parses `text` and checks every rule one playlist can be judged on alone.
pub(crate) fn check(text: &str, cfg: &Config) -> Result<Playlist, String> {
    let p = parse(text)?;
    let td = cfg.td;
    // §8 [docs/conformance.md R15]: the lowest version for the tags present.
    let lowest = if p.skip.is_some() {
        9
    } else if p.segments.iter().any(|s| s.map.is_some()) {
        6
    } else {
        1
    };
    ensure(p.version == lowest, "§8 [docs/conformance.md R15]", || {
        format!("EXT-X-VERSION {} where {lowest} is the lowest", p.version)
    })?;
    // §4.4.3.1 [docs/conformance.md R1].
    ensure(
        p.target_duration == td && td >= 1,
        "§4.4.3.1 [docs/conformance.md R1]",
        || format!("TARGETDURATION {} instead of {td}", p.target_duration),
    )?;
    for s in &p.segments {
        if let Some(d) = s.extinf {
            ensure(
                d < td * SECOND + SECOND / 2,
                "§4.4.3.1 [docs/conformance.md R1]",
                || format!("EXTINF of s{} is {d}e-5 s, which rounds above {td}", s.msn),
            )?;
        }
    }
    check_server_control(&p, cfg)?;
    check_segments(&p, cfg)?;
    // §6.2.2 [docs/conformance.md R18]: EXT-X-PART for exactly the segments that start within
    // 3 × TD of the end.
    let mut from_end: Units = 0;
    for (i, s) in p.segments.iter().enumerate().rev() {
        from_end += p.duration_of(i);
        let close = from_end <= 3 * td * SECOND;
        let listed = !s.parts.is_empty();
        if s.uri.is_none() {
            ensure(listed, "§6.2.2 [docs/conformance.md R18]", || {
                format!("open segment s{} has no parts", s.msn)
            })?;
        } else if listed {
            ensure(
                from_end <= 3 * td * SECOND + SLACK,
                "§6.2.2 [docs/conformance.md R18]",
                || {
                    format!(
                        "s{} starts {from_end}e-5 s from the end and lists parts",
                        s.msn
                    )
                },
            )?;
        } else {
            ensure(
                !close || from_end + SLACK > 3 * td * SECOND,
                "§6.2.2 [docs/conformance.md R18]",
                || {
                    format!(
                        "s{} starts {from_end}e-5 s from the end but lists no parts",
                        s.msn
                    )
                },
            )?;
        }
    }
    // §6.2.2 [docs/conformance.md R19]: once a segment was removed, at least 3 × TD stay listed.
    if p.skip.is_none() && p.media_sequence > cfg.first_msn && !p.endlist {
        let listed: Units = p.segments.iter().filter_map(|s| s.extinf).sum();
        let slack = p.segments.len() as Units;
        ensure(
            listed + slack >= 3 * td * SECOND,
            "§6.2.2 [docs/conformance.md R19]",
            || format!("only {listed}e-5 s listed after removals"),
        )?;
    }
    // §6.2.6 [docs/conformance.md R23] (and §4.4.5.3: none with ENDLIST),
    // §6.2.6 [docs/conformance.md R25].
    if p.endlist {
        ensure(
            p.hints.is_empty(),
            "§6.2.6 [docs/conformance.md R23]",
            || "a preload hint with ENDLIST".into(),
        )?;
    } else {
        ensure(
            p.hints.len() == 1,
            "§6.2.6 [docs/conformance.md R23]",
            || format!("{} preload hints while live", p.hints.len()),
        )?;
        let hint = &p.hints[0].attrs;
        // Parts are named by their number in the stream; the hint names the next one.
        let newest = p.segments.iter().flat_map(|s| &s.parts).last();
        let expected = newest
            .and_then(|part| part_number(&part.uri))
            .map(|n| format!("\"p{}.mp4\"", n + 1));
        ensure(
            hint.get("TYPE").map(String::as_str) == Some("PART")
                && hint.get("URI") == expected.as_ref()
                && hint.len() == 2,
            "§6.2.6 [docs/conformance.md R25]",
            || format!("hint {hint:?}, expected a whole part {expected:?}"),
        )?;
    }
    if let Some((_, removed)) = &p.skip {
        ensure(
            cfg.skip_advertised && !p.endlist,
            "§6.2.5 [docs/conformance.md R13]",
            || "EXT-X-SKIP without CAN-SKIP-UNTIL or with ENDLIST".into(),
        )?;
        // §6.2.5.1 [docs/conformance.md R14]: no date range is ever written, so none can be listed
        // as removed.
        ensure(
            removed.as_deref().is_none_or(str::is_empty),
            "§6.2.5.1 [docs/conformance.md R14]",
            || format!("RECENTLY-REMOVED-DATERANGES={removed:?}"),
        )?;
    }
    Ok(p)
}

/// §4.4.3.8 [docs/conformance.md R3–R5], and the attributes §4.4.3.8 makes REQUIRED.
fn check_server_control(p: &Playlist, cfg: &Config) -> Result<(), String> {
    let sc = &p.server_control;
    let get = |k: &str| sc.get(k).map(|v| units(v)).transpose();
    ensure(
        sc.get("CAN-BLOCK-RELOAD").map(String::as_str) == Some("YES"),
        "§6.2.5.2",
        || "no CAN-BLOCK-RELOAD=YES".into(),
    )?;
    ensure(p.part_target == cfg.part_target, "§4.4.3.7", || {
        format!(
            "PART-TARGET {} instead of {}",
            p.part_target, cfg.part_target
        )
    })?;
    let part_hold_back = get("PART-HOLD-BACK")?;
    ensure(
        part_hold_back.is_some_and(|v| v >= 3 * p.part_target),
        "§4.4.3.8 [docs/conformance.md R3]",
        || format!("PART-HOLD-BACK {part_hold_back:?} < 3 × {}", p.part_target),
    )?;
    let hold_back = get("HOLD-BACK")?;
    ensure(
        hold_back.is_none_or(|v| v >= 3 * cfg.td * SECOND),
        "§4.4.3.8 [docs/conformance.md R4]",
        || format!("HOLD-BACK {hold_back:?}"),
    )?;
    let skip_until = get("CAN-SKIP-UNTIL")?;
    ensure(
        skip_until.is_some() == cfg.skip_advertised
            && skip_until.is_none_or(|v| v >= 6 * cfg.td * SECOND),
        "§4.4.3.8 [docs/conformance.md R5]",
        || format!("CAN-SKIP-UNTIL {skip_until:?}"),
    )?;
    ensure(
        sc.len() == 3 + usize::from(skip_until.is_some()),
        "§4.4.3.8",
        || format!("unexpected SERVER-CONTROL attributes {sc:?}"),
    )
}

/// URIs, dates, MAP and §4.4.4.9 [docs/conformance.md R2] per segment.
fn check_segments(p: &Playlist, cfg: &Config) -> Result<(), String> {
    let mut prev_pdt = None;
    // Listed parts are a suffix of the stream, so their numbers follow one another.
    let mut prev_part: Option<u64> = None;
    for (i, s) in p.segments.iter().enumerate() {
        let last = i + 1 == p.segments.len();
        ensure(last || s.uri.is_some(), "§4.4.4.1", || {
            format!("s{} has no URI and is not the last segment", s.msn)
        })?;
        if let Some(uri) = &s.uri {
            ensure(*uri == format!("s{}.mp4", s.msn), "§3", || {
                format!("segment {} has URI {uri}", s.msn)
            })?;
        }
        let pdt = s
            .pdt_ms
            .ok_or_else(|| format!("§6.2.1: s{} has no date", s.msn))?;
        ensure(prev_pdt.is_none_or(|prev| pdt > prev), "§6.2.1", || {
            format!("s{} dated {pdt}, not after the previous segment", s.msn)
        })?;
        prev_pdt = Some(pdt);
        ensure(i > 0 || s.map.is_some(), "§4.4.4.5", || {
            "the first segment has no EXT-X-MAP".into()
        })?;
        for (j, part) in s.parts.iter().enumerate() {
            let number = part_number(&part.uri);
            ensure(
                number.is_some() && (prev_part.is_none() || number == prev_part.map(|n| n + 1)),
                "§3.2",
                || {
                    format!(
                        "part {j} of s{} has URI {} after {prev_part:?}",
                        s.msn, part.uri
                    )
                },
            )?;
            prev_part = number;
            check_part_duration(part, j + 1 == s.parts.len(), cfg, s.msn)?;
        }
        if let (Some(extinf), false) = (s.extinf, s.parts.is_empty()) {
            let sum: Units = s.parts.iter().map(|p| p.duration).sum();
            ensure(
                extinf.abs_diff(sum) <= s.parts.len() as Units,
                "§3.2",
                || format!("s{}: EXTINF {extinf} but its parts sum to {sum}", s.msn),
            )?;
        }
    }
    Ok(())
}

/// §4.4.4.9 [docs/conformance.md R2]: ≤ PART-TARGET; ≥ 85 % of it unless independent or the last of
/// its segment.
fn check_part_duration(part: &PartTag, last: bool, cfg: &Config, msn: u64) -> Result<(), String> {
    ensure(
        part.duration <= cfg.part_target,
        "§4.4.4.9 [docs/conformance.md R2]",
        || format!("{} lasts {} > PART-TARGET", part.uri, part.duration),
    )?;
    ensure(
        part.independent || last || part.duration * 100 >= 85 * cfg.part_target,
        "§4.4.4.9 [docs/conformance.md R2]",
        || {
            format!(
                "{} of s{msn} lasts {} < 85 % of PART-TARGET",
                part.uri, part.duration
            )
        },
    )
}

/// What a segment looked like when first seen, to compare later versions with.
#[derive(Debug, Clone)]
struct Facts {
    pdt_ms: Option<i64>,
    dsn: u64,
    map: Option<String>,
    discontinuity: bool,
    extinf: Option<Units>,
    parts: Vec<PartTag>,
}

/// The rules between versions of one stream: TARGETDURATION, PART-TARGET and SERVER-CONTROL
/// never change (§4.4.3.1 [docs/conformance.md R1], §6.2.4), MEDIA-SEQUENCE and
/// DISCONTINUITY-SEQUENCE never decrease (§6.2.2 [docs/conformance.md R21]), and a segment keeps
/// its date, Discontinuity Sequence Number, init section, duration and parts in every version that
/// lists it.
#[derive(Debug, Default)]
pub(crate) struct History {
    first: Option<Playlist>,
    media_sequence: u64,
    discontinuity_sequence: u64,
    segments: HashMap<u64, Facts>,
}

impl History {
    /// Records the next full playlist of the stream.
    pub fn observe(&mut self, p: &Playlist) -> Result<(), String> {
        ensure(p.skip.is_none(), "History", || {
            "give full playlists only".into()
        })?;
        if self.first.is_none() {
            // The history starts at the first version observed (numbering may start anywhere:
            // `Numbering::WallClock`).
            self.media_sequence = p.media_sequence;
            self.discontinuity_sequence = p.discontinuity_sequence.unwrap_or(0);
        }
        let first = self.first.get_or_insert_with(|| p.clone());
        ensure(
            first.target_duration == p.target_duration,
            "§4.4.3.1 [docs/conformance.md R1]",
            || "TARGETDURATION changed".into(),
        )?;
        ensure(first.part_target == p.part_target, "§4.4.3.7", || {
            "PART-TARGET changed".into()
        })?;
        ensure(
            first.server_control_line == p.server_control_line,
            "§6.2.4",
            || {
                format!(
                    "{} became {}",
                    first.server_control_line, p.server_control_line
                )
            },
        )?;
        let dsn = p.discontinuity_sequence.unwrap_or(0);
        ensure(
            p.media_sequence >= self.media_sequence && dsn >= self.discontinuity_sequence,
            "§6.2.2 [docs/conformance.md R21]",
            || format!("sequence numbers went back to {}/{dsn}", p.media_sequence),
        )?;
        // §6.2.2 [docs/conformance.md R21]: +1 DISCONTINUITY-SEQUENCE per removed segment that
        // carried a DISCONTINUITY.
        let removed_discontinuities = (self.media_sequence..p.media_sequence)
            .filter(|msn| self.segments.get(msn).is_some_and(|f| f.discontinuity))
            .count() as u64;
        if (self.media_sequence..p.media_sequence).all(|msn| self.segments.contains_key(&msn)) {
            ensure(
                dsn == self.discontinuity_sequence + removed_discontinuities,
                "§6.2.2 [docs/conformance.md R21]",
                || {
                    format!("DISCONTINUITY-SEQUENCE {dsn} after removing {removed_discontinuities} discontinuities from {}", self.discontinuity_sequence)
                },
            )?;
        }
        self.media_sequence = p.media_sequence;
        self.discontinuity_sequence = dsn;
        for (i, s) in p.segments.iter().enumerate() {
            let now = Facts {
                pdt_ms: s.pdt_ms,
                dsn: p.dsn_of(i),
                map: s.effective_map.clone(),
                discontinuity: s.discontinuity,
                extinf: s.extinf,
                parts: s.parts.clone(),
            };
            let Some(before) = self.segments.get_mut(&s.msn) else {
                self.segments.insert(s.msn, now);
                continue;
            };
            ensure(
                before.pdt_ms == now.pdt_ms
                    && before.dsn == now.dsn
                    && before.map == now.map
                    && before.discontinuity == now.discontinuity,
                "§6.2.1",
                || format!("s{} changed from {before:?} to {now:?}", s.msn),
            )?;
            if before.extinf.is_some() {
                ensure(before.extinf == now.extinf, "§6.2.1", || {
                    format!("EXTINF of s{} changed", s.msn)
                })?;
            }
            // An open segment grows; a listing of parts never rewrites an earlier part.
            if !now.parts.is_empty() {
                let common = before.parts.len().min(now.parts.len());
                ensure(
                    before.parts[..common] == now.parts[..common],
                    "§6.2.1",
                    || format!("parts of s{} changed", s.msn),
                )?;
                if now.parts.len() > before.parts.len() {
                    before.parts = now.parts.clone();
                }
            }
            before.extinf = now.extinf.or(before.extinf);
        }
        Ok(())
    }
}

/// A delta update against the full playlist of the same version (§6.2.5.1,
/// §8 [docs/conformance.md R15]): the same header with EXT-X-SKIP after MEDIA-SEQUENCE, exactly the
/// segments further than the Skip Boundary from the end replaced, and every other tag kept, MAP and
/// date included.
pub(crate) fn check_delta(full: &Playlist, delta: &Playlist) -> Result<(), String> {
    let (skipped, _) = delta.skip.clone().ok_or("the delta has no EXT-X-SKIP")?;
    let k = skipped as usize;
    ensure(delta.version == 9, "§8 [docs/conformance.md R15]", || {
        format!("delta version {}", delta.version)
    })?;
    ensure(
        full.target_duration == delta.target_duration
            && full.server_control_line == delta.server_control_line
            && full.part_target == delta.part_target
            && full.media_sequence == delta.media_sequence
            && full.discontinuity_sequence == delta.discontinuity_sequence,
        "§6.2.5.1",
        || "the delta's header differs from the full playlist's".into(),
    )?;
    ensure(k < full.segments.len(), "§6.2.5.1", || {
        format!("skipped {k} of {}", full.segments.len())
    })?;
    let boundary = units(
        full.server_control
            .get("CAN-SKIP-UNTIL")
            .ok_or("a delta without CAN-SKIP-UNTIL")?,
    )?;
    // Distance from each segment's end to the end of the playlist.
    let mut to_end = vec![0; full.segments.len()];
    for i in (0..full.segments.len().saturating_sub(1)).rev() {
        to_end[i] = to_end[i + 1] + full.duration_of(i + 1);
    }
    for (i, s) in full.segments.iter().enumerate() {
        if i < k {
            ensure(
                s.uri.is_some() && to_end[i] + SLACK > boundary,
                "§6.2.5.1",
                || {
                    format!(
                        "s{} skipped but ends {}e-5 s from the end",
                        s.msn, to_end[i]
                    )
                },
            )?;
        } else if i == k {
            ensure(
                s.uri.is_none() || to_end[i] <= boundary + SLACK,
                "§6.2.5.1",
                || format!("s{} kept but ends {}e-5 s from the end", s.msn, to_end[i]),
            )?;
        }
    }
    for (d, f) in delta.segments.iter().zip(&full.segments[k..]) {
        let same = d.msn == f.msn
            && d.discontinuity == f.discontinuity
            && d.pdt_ms == f.pdt_ms
            && d.effective_map == f.effective_map
            && d.parts == f.parts
            && d.extinf == f.extinf
            && d.uri == f.uri;
        ensure(same, "§6.2.5.1", || format!("delta {d:?} vs full {f:?}"))?;
    }
    ensure(
        delta.segments.len() == full.segments.len() - k
            && delta.segments.first().is_some_and(|s| s.map.is_some()),
        "§6.2.5.1",
        || "the first segment after the skip lacks EXT-X-MAP, or segments are missing".into(),
    )?;
    ensure(
        delta.hints == full.hints && delta.reports == full.reports && delta.endlist == full.endlist,
        "§6.2.5.1",
        || "the delta's hint or reports differ".into(),
    )?;
    Ok(())
}

/// `N` of a part URI `pN.mp4`.
fn part_number(uri: &str) -> Option<u64> {
    uri.strip_prefix('p')?.strip_suffix(".mp4")?.parse().ok()
}

//! Random part sequences: every rendered playlist (full, YES and v2 deltas) obeys every rule
//! [`check`](super::check) knows, versions agree with each other, and each part lands where
//! the rolling policy says, with the date its timestamps give.

use proptest::prelude::*;

use super::*;
use crate::manifest::numbers::{printed_duration, ticks_to_us};

#[derive(Debug, Clone)]
enum Step {
    /// A part of `permille` of PART-TARGET: 850‰–1000‰ (§4.4.4.9 [docs/conformance.md R2]), or down
    /// to 100‰ when independent (the exception of §4.4.4.9 [docs/conformance.md R2]).
    Part { permille: u64, key: bool },
    /// The next part's timestamps skip less than 4 % of PART-TARGET (a dropped frame): less
    /// than any part lasts, so not a discontinuity.
    Gap { permille: u64 },
    /// An encoder restart: timestamps jump forward an hour, or back ten seconds.
    Jump { forward: bool },
    /// A new init section.
    NewInit,
    /// The next part carries a wall-clock time this far past the stream's start.
    Wallclock { offset_ms: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        40 => (prop::bool::weighted(0.2), 850u64..=1000, 100u64..=1000)
            .prop_map(|(key, long, any)| Step::Part { permille: if key { any } else { long }, key }),
        2 => (1u64..40).prop_map(|permille| Step::Gap { permille }),
        1 => any::<bool>().prop_map(|forward| Step::Jump { forward }),
        1 => Just(Step::NewInit),
        1 => (0u64..7_200_000).prop_map(|offset_ms| Step::Wallclock { offset_ms }),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    opts: Options,
    timescale: u32,
    steps: Vec<Step>,
    finish: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec![1u32, 2, 4]),
        prop::sample::select(vec![100u32, 200, 333, 500]),
        prop::sample::select(vec![250u64, 500, 1000]),
        prop::sample::select(vec![1usize, 3, 8, 20]),
        prop::sample::select(vec![1000u32, 48_000, 90_000]),
        prop::collection::vec(step(), 1..260),
        any::<bool>(),
    )
        .prop_map(
            |(td, part_ms, min_permille, max_segments, timescale, steps, finish)| {
                let mut o = opts(td, part_ms, u64::from(td) * min_permille, max_segments);
                o.max_parts_per_segment = 16;
                Case {
                    opts: o,
                    timescale,
                    steps,
                    finish,
                }
            },
        )
}

/// What the rolling policy of the module docs predicts, written from its text.
#[derive(Debug, Default)]
struct Model {
    msn: Option<u64>,
    open_ticks: u64,
    open_parts: u32,
    discontinuity: bool,
    forced: u64,
    /// Date of the open segment's first sample and of its run's anchor, µs.
    pdt_us: u64,
    anchor_us: u64,
    anchor_decode: u64,
}

fn run_case(case: &Case) -> Result<(), TestCaseError> {
    let o = &case.opts;
    let ts = case.timescale;
    let target_ticks = u64::from(o.part_target_ms) * u64::from(ts) / 1000;
    let mut f = Feeder::new(o);
    f.timescale = ts;
    let mut model = Model::default();
    let mut pending_discontinuity = false;
    let mut pending_gap = 0;
    for step in &case.steps {
        let (permille, key) = match *step {
            Step::Part { permille, key } => (permille, key),
            Step::Gap { permille } => {
                pending_gap = (target_ticks * permille / 1000).max(1);
                continue;
            }
            Step::Jump { forward } => {
                let back = 10 * u64::from(ts);
                if forward || f.decode < back {
                    f.decode += 3600 * u64::from(ts);
                } else {
                    f.decode -= back;
                }
                pending_discontinuity |= model.msn.is_some();
                continue;
            }
            Step::NewInit => {
                f.init_id += 1;
                pending_discontinuity |= model.msn.is_some();
                continue;
            }
            Step::Wallclock { offset_ms } => {
                f.wallclock_ms = Some(START_MS + offset_ms);
                continue;
            }
        };
        let ticks = (target_ticks * permille).div_ceil(1000);
        f.decode += std::mem::take(&mut pending_gap);
        let decode = f.decode;
        let wallclock = f.wallclock_ms;
        // A new segment: the first part, a discontinuity, an independent part once
        // `segment_min_ms` has passed, or any part that would make the open segment round
        // above TARGETDURATION or exceed the part limit.
        let limit = u128::from(o.target_duration.max_s()) * 100_000 + 50_000;
        let must = printed_duration(model.open_ticks + ticks, ts) >= limit
            || model.open_parts as usize >= o.max_parts_per_segment;
        let elapsed_ms = model.open_ticks * 1000 / u64::from(ts);
        let first = model.msn.is_none();
        let new = first || pending_discontinuity || must || (key && elapsed_ms >= o.segment_min_ms);
        let pos = f
            .push(ticks, key)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        f.wallclock_ms = None;
        prop_assert_eq!(pos.part == 0, new, "cut at {:?}, model {:?}", pos, model);
        if new {
            if !first && !pending_discontinuity && !key {
                model.forced += 1;
            }
            if first || pending_discontinuity {
                let prev_end = model.pdt_us + ticks_to_us(model.open_ticks, ts);
                // The first run starts at the stream's start; a later one at the part's wall
                // clock, unless absent or earlier than the previous segment's end.
                model.anchor_us = if first {
                    START_MS * 1000
                } else {
                    wallclock.map_or(prev_end, |ms| (ms * 1000).max(prev_end))
                };
                model.anchor_decode = decode;
                model.pdt_us = model.anchor_us;
            } else {
                model.pdt_us = model.anchor_us + ticks_to_us(decode - model.anchor_decode, ts);
            }
            model.msn = Some(model.msn.map_or(0, |m| m + 1));
            model.open_ticks = 0;
            model.open_parts = 0;
            model.discontinuity = pending_discontinuity;
        }
        model.open_ticks += ticks;
        model.open_parts += 1;
        pending_discontinuity = false;

        let p = f.checked();
        let open = p
            .segments
            .last()
            .ok_or_else(|| TestCaseError::fail("no open segment"))?;
        prop_assert_eq!(Some(open.msn), model.msn);
        prop_assert_eq!(open.parts.len(), model.open_parts as usize);
        let last = open
            .parts
            .last()
            .ok_or_else(|| TestCaseError::fail("no part"))?;
        prop_assert_eq!(u128::from(last.duration), printed_duration(ticks, ts));
        prop_assert_eq!(last.independent, key);
        prop_assert_eq!(open.discontinuity, model.discontinuity);
        prop_assert_eq!(open.pdt_ms, Some((model.pdt_us / 1000) as i64));
    }
    prop_assert_eq!(f.m.forced_cuts(), model.forced);
    prop_assert_eq!(f.m.anomalies().long_parts + f.m.anomalies().short_parts, 0);
    if case.finish {
        f.m.finish();
        let p = f.checked();
        prop_assert!(p.endlist && p.hints.is_empty());
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn every_rendered_playlist_obeys_the_rules(case in case()) {
        run_case(&case)?;
    }
}

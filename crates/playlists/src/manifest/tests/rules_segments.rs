//! Rules about segments and parts: how they are cut, dated, listed and removed
//! (§4.4.3.1, §4.4.4.9, §6.2.1, §6.2.2 [docs/conformance.md R1, R2, R16–R21], and §4.4.4.3 / §6.2.1
//! for discontinuities and dates).

use super::parse::parse;
use super::*;
use crate::error::Error;

#[test]
fn rule_01_extinf_never_exceeds_target_duration() {
    // TD 2 with 250 ms parts and no keyframe for 10 s: nine parts (2.25 s) round to 2, a
    // tenth would make 2.5, which may round up, so the segment is cut before it.
    let mut f = Feeder::new(&opts(2, 250, 1000, 8));
    let positions = f.run(120, 40, 250);
    let longest =
        f.m.segments
            .iter()
            .filter(|s| s.complete)
            .map(|s| s.duration)
            .max();
    assert_eq!(longest, Some(2250));
    assert_eq!(positions[9], PartPosition { msn: 1, part: 0 });
    // TARGETDURATION never changed: every version was checked by `f.checked()` (History).
    assert!(f.render(Skip::No).contains("#EXT-X-TARGETDURATION:2\n"));
}

#[test]
fn rule_01_a_part_that_alone_rounds_above_the_target_duration_is_refused() {
    let mut f = Feeder::new(&opts(2, 250, 1000, 8));
    f.ms(250, true);
    let before = f.render(Skip::No);
    assert!(matches!(f.push(2500, true), Err(Error::InvalidPart(_))));
    assert_eq!(f.render(Skip::No), before, "a refused part changes nothing");
    // 2.49999 s prints as 2.49999 and rounds to 2: accepted (and counted,
    // §4.4.4.9 [docs/conformance.md R2]).
    f.timescale = 100_000;
    f.decode = 25_000;
    f.push(249_999, true).unwrap();
    assert_eq!(f.m.anomalies().long_parts, 1);
}

#[test]
fn rule_01_a_gop_longer_than_the_target_duration_is_cut_and_counted() {
    // 300 ms parts, a keyframe every 34 parts (10.2 s), TD 2: segments of 8 parts (2.4 s).
    let gop = 34;
    let mut f = Feeder::new(&opts(2, 300, 1000, 8));
    let positions = f.run(150, gop, 300);
    let forced = positions
        .iter()
        .enumerate()
        .filter(|(i, pos)| pos.part == 0 && *i as u64 % gop != 0)
        .count() as u64;
    assert!(forced > 10);
    assert_eq!(f.m.forced_cuts(), forced);
    assert_eq!(f.m.anomalies().forced_cuts, forced);
    // Those segments start mid-GOP: no EXT-X-INDEPENDENT-SEGMENTS for this stream.
    assert!(!f.m.independent_segments());
}

#[test]
fn rule_02_a_part_longer_than_part_target_is_listed_as_it_is_and_counted() {
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    f.ms(200, true);
    f.ms(250, false);
    assert_eq!(f.m.anomalies().long_parts, 1);
    let text = f.render(Skip::No);
    assert!(
        text.contains("#EXT-X-PART:DURATION=0.25000,URI=\"p1.mp4\"\n"),
        "{text}"
    );
    // The tolerance is none: one tick over is over.
    f.timescale = 90_000;
    f.decode = 40_500;
    f.push(18_001, false).unwrap();
    assert_eq!(f.m.anomalies().long_parts, 2);
}

#[test]
fn rule_02_short_parts_are_counted_unless_independent_or_last_of_their_segment() {
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    f.ms(100, true); // short but independent
    f.ms(200, false);
    f.ms(100, false); // short, and the next part continues the segment: counted
    f.ms(200, false);
    f.ms(200, false);
    f.ms(200, false);
    f.ms(100, false); // short, but the last of its segment
    f.ms(200, true); // starts segment 1 (1.1 s elapsed)
    assert_eq!(f.m.anomalies().short_parts, 1);
    assert_eq!(f.m.last_position(), Some(PartPosition { msn: 1, part: 0 }));

    // The same shapes without the counted one obey §4.4.4.9 [docs/conformance.md R2] in every
    // version.
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    let shapes = [
        (100, true),
        (200, false),
        (170, false),
        (200, false),
        (200, false),
        (200, false),
        (90, false),
        (200, true),
    ];
    for (ms, key) in shapes {
        f.ms(ms, key);
        f.checked();
    }
    for _ in 0..20 {
        f.ms(200, f.m.last_position().is_some_and(|p| p.part == 4));
        f.checked();
    }
    assert_eq!(f.m.anomalies(), Default::default());
}

#[test]
fn rule_16_every_part_is_listed_in_the_version_rendered_after_it() {
    // With parts no longer than PART-TARGET (§4.4.4.9 [docs/conformance.md R2]) and a version
    // rendered per part, a real-time source adds a part to the playlist at least every PART-TARGET.
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    for i in 0..40u64 {
        let ms = if i % 5 == 4 { 180 } else { 200 };
        let pos = f.ms(ms, i % 5 == 0);
        let p = f.checked();
        let open = p.segments.last().unwrap();
        let last = open.parts.last().unwrap();
        assert_eq!(last.uri, format!("p{i}.mp4"));
        assert_eq!((pos.part as usize) + 1, open.parts.len(), "{pos:?}");
        assert_eq!(last.duration, ms * 100);
        assert_eq!(last.independent, i % 5 == 0);
        assert!(last.duration <= p.part_target);
    }
}

#[test]
fn rule_17_no_segment_outlasts_one_and_a_half_target_durations() {
    // A new segment is published when the next one starts, so with a real-time source the
    // gap between segment updates is one segment's duration. TD + 0.5 ≤ 1.5 × TD for TD ≥ 1,
    // so the cut of §4.4.3.1 [docs/conformance.md R1] keeps it within 1.5 × TD even for a GOP three
    // times the target.
    let mut f = Feeder::new(&opts(1, 100, 500, 16));
    f.run(200, 30, 100);
    for s in f.m.segments.iter() {
        assert!(s.duration <= 1400, "s{} lasts {} ms", s.msn, s.duration);
    }
    assert!(f.m.forced_cuts() > 0);
}

#[test]
fn rule_18_parts_are_listed_only_within_three_target_durations_of_the_end() {
    // TD 1, 1 s segments: the open segment (≤ 1 s) and the two complete segments before it
    // start within 3 s of the end; the third one before it does not.
    let mut f = Feeder::new(&opts(1, 200, 1000, 8));
    f.run(60, 5, 200);
    let p = f.checked();
    let with_parts: Vec<u64> = p
        .segments
        .iter()
        .filter(|s| !s.parts.is_empty())
        .map(|s| s.msn)
        .collect();
    assert_eq!(with_parts, [9, 10, 11], "{p:?}");
}

#[test]
fn rule_18_parts_removed_from_the_playlist_stay_fetchable_for_three_target_durations() {
    // TD 4 with 1 s segments and a window of 3 × TD: a segment loses its EXT-X-PART tags
    // 12 s after it starts, and leaves the playlist at about the same time, but its parts
    // must still resolve 12 s later.
    let mut f = Feeder::new(&opts(4, 200, 1000, 1));
    let mut removed_ms = std::collections::HashMap::new();
    let mut listed_parts = std::collections::HashSet::new();
    for i in 0..400u64 {
        f.ms(200, i % 5 == 0);
        let now_ms = (i + 1) * 200;
        let p = f.checked();
        let now_listed: std::collections::HashSet<u64> = p
            .segments
            .iter()
            .filter(|s| !s.parts.is_empty())
            .map(|s| s.msn)
            .collect();
        for gone in listed_parts.difference(&now_listed) {
            removed_ms.entry(*gone).or_insert(now_ms);
        }
        listed_parts = now_listed;
        for (&msn, &at) in &removed_ms {
            if now_ms < at + 12_000 {
                let last = PartPosition { msn, part: 4 };
                assert!(
                    f.m.part_id(last).is_some(),
                    "the last part of s{msn} gone at {now_ms} ms"
                );
            }
        }
    }
    assert!(removed_ms.len() > 50);
}

#[test]
fn rule_19_the_window_never_drops_below_three_target_durations() {
    // One segment configured, but TD 2 needs 6 s listed: six 1 s segments stay.
    let mut f = Feeder::new(&opts(2, 200, 1000, 1));
    f.run(100, 5, 200);
    let p = f.checked();
    let complete = p.segments.iter().filter(|s| s.extinf.is_some()).count();
    assert_eq!(complete, 6);
    assert!(p.media_sequence > 0);
}

/// Feeds 200 ms parts at TD 1, a keyframe every `gop` parts, and checks that every segment
/// URI resolves from its first appearance until its duration plus the longest playlist so far
/// have passed.
fn availability(max_segments: usize, gop: u64) {
    let mut f = Feeder::new(&opts(1, 200, 1000, max_segments));
    let mut appeared_ms = std::collections::HashMap::new();
    let mut longest_ms = 0;
    for i in 0..300u64 {
        f.ms(200, i % gop == 0);
        let now_ms = (i + 1) * 200;
        let p = f.checked();
        let listed_ms = p.segments.iter().filter_map(|s| s.extinf).sum::<u64>() / 100;
        longest_ms = longest_ms.max(listed_ms);
        for s in p.segments.iter().filter(|s| s.uri.is_some()) {
            let duration_ms = s.extinf.unwrap() / 100;
            appeared_ms.entry(s.msn).or_insert((now_ms, duration_ms));
        }
        for (&msn, &(at, duration)) in &appeared_ms {
            if now_ms < at + duration + longest_ms {
                assert!(
                    f.m.segment(msn).is_some(),
                    "s{msn} forgotten at {now_ms} ms"
                );
            }
        }
    }
    // …and memory stays bounded: no more retired segments than listed ones.
    let listed = f.m.segments.len() - f.m.first_listed;
    assert!(f.m.first_listed <= listed.max(max_segments));
    assert!(f.m.first_listed > 0, "some segments were retired");
}

#[test]
fn rule_20_a_removed_segment_stays_fetchable_for_its_availability_duration() {
    // 1 s segments, four listed: a 4 s playlist.
    availability(4, 5);
    // One configured, but three 1 s segments stay listed for 3 × TD
    // (§6.2.2 [docs/conformance.md R19]).
    availability(1, 5);
    // A keyframe every 0.4 s: 1.2 s segments (the first keyframe after 1 s), three listed.
    availability(2, 2);
}

#[test]
fn rule_21_sequence_numbers_never_decrease_and_count_removed_segments_and_discontinuities() {
    let mut f = Feeder::new(&opts(1, 200, 1000, 4));
    let mut discontinuities = 0;
    for round in 0..12 {
        f.run(10, 5, 200);
        if round % 3 == 2 {
            f.decode += 3_600_000; // the encoder restarted an hour later
            discontinuities += 1;
        }
    }
    // Every version passed the checks History makes for §6.2.2 [docs/conformance.md R21]; and at
    // the end every discontinuity that left the window is counted.
    let p = f.checked();
    let listed = p.segments.iter().filter(|s| s.discontinuity).count() as u64;
    assert!(p.media_sequence > 0);
    let realized = discontinuities - 1; // the last jump has no part after it yet
    assert_eq!(p.discontinuity_sequence, Some(realized - listed));
    assert!(realized - listed >= 2);
}

#[test]
fn a_timestamp_jump_starts_a_segment_with_a_discontinuity_dated_from_the_previous_end() {
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    f.run(7, 5, 200); // s0 (1 s) and two parts of s1
    f.decode = 90_000_000; // the encoder restarted with other timestamps, mid-GOP
    let pos = f.ms(200, false);
    assert_eq!(pos, PartPosition { msn: 2, part: 0 });
    let p = f.checked();
    let s2 = &p.segments[2];
    assert!(s2.discontinuity && !p.segments[1].discontinuity);
    assert_eq!(p.discontinuity_sequence, Some(0));
    // No wall clock given: the dates continue where s1 (0.4 s) ended.
    assert_eq!(s2.pdt_ms, Some(START_MS as i64 + 1400));
    assert!(!f.m.independent_segments(), "s2 starts mid-GOP");
}

#[test]
fn a_discontinuity_with_a_wall_clock_is_dated_by_it_but_never_backwards() {
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    f.run(5, 5, 200);
    f.decode = 0;
    f.wallclock_ms = Some(START_MS + 60_000);
    f.ms(200, true);
    f.wallclock_ms = None;
    f.run(4, 5, 200);
    f.decode = 0;
    f.wallclock_ms = Some(START_MS); // earlier than the end of the previous segment
    f.ms(200, true);
    let p = f.checked();
    let dates: Vec<i64> = p.segments.iter().map(|s| s.pdt_ms.unwrap()).collect();
    let start = START_MS as i64;
    assert_eq!(dates, [start, start + 60_000, start + 61_000]);
}

#[test]
fn a_small_gap_is_not_a_discontinuity_but_moves_the_next_date() {
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    f.ms(200, true);
    f.decode += 150; // one dropped fragment's worth, less than a part
    f.run(9, 5, 200);
    let p = f.checked();
    assert!(p.segments.iter().all(|s| !s.discontinuity));
    assert_eq!(p.segments[1].pdt_ms, Some(START_MS as i64 + 1150));
}

#[test]
fn a_new_init_section_starts_a_segment_with_a_discontinuity_and_its_map() {
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    f.run(3, 5, 200);
    f.init_id = 1;
    let pos = f.ms(200, true);
    assert_eq!(pos, PartPosition { msn: 1, part: 0 });
    let p = f.checked();
    assert_eq!(p.segments[0].map.as_deref(), Some("init.mp4"));
    assert!(p.segments[1].discontinuity);
    assert_eq!(p.segments[1].map.as_deref(), Some("init-1.mp4"));
    // Timestamps continued, so the date does too.
    assert_eq!(p.segments[1].pdt_ms, Some(START_MS as i64 + 600));
}

#[test]
fn every_segment_is_dated_from_its_timestamps_and_the_start_time() {
    let mut f = Feeder::new(&opts(4, 200, 1500, 32));
    f.timescale = 90_000;
    f.decode = 123_456_789;
    for i in 0..50u64 {
        f.push(18_000, i % 10 == 0).unwrap();
    }
    let text = f.render(Skip::No);
    let p = parse(&text).unwrap();
    for (k, s) in p.segments.iter().enumerate() {
        assert_eq!(s.pdt_ms, Some(START_MS as i64 + 2000 * k as i64), "{text}");
    }
    assert!(text.contains("#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n"));
}

#[test]
fn dates_past_the_year_9998_are_refused() {
    let o = opts(2, 200, 1000, 8);
    assert!(matches!(
        M3u8Manifest::new(&o, super::super::LATEST_DATE_MS + 1),
        Err(Error::InvalidPart(_))
    ));
    let mut f = Feeder::new(&o);
    f.wallclock_ms = Some(u64::MAX);
    assert!(matches!(f.push(200, true), Err(Error::InvalidPart(_))));
}

/// The default options (TargetDuration::Measured, up to 10 s) with 200 ms parts.
fn measured() -> Options {
    Options {
        num_playlists: 1,
        max_parts_per_segment: 64,
        ..Options::default()
    }
}

#[test]
fn rule_01_a_measured_target_duration_is_the_first_segment_rounded() {
    // (key-frame interval in 200 ms parts, expected TARGETDURATION): segments are cut at the
    // first key frame after 1.5 s, so a 1 s GOP gives 2 s segments, a 0.6 s GOP 1.8 s.
    for (gop, td) in [(5, 2), (10, 2), (3, 2), (15, 3), (20, 4), (1, 2), (35, 7)] {
        let mut f = Feeder::new(&measured());
        let mut first_version = None;
        for i in 0..(gop * 6).max(40) {
            f.ms(200, i % gop == 0);
            match (f.m.target_duration_s(), first_version.is_some()) {
                // Nothing to publish until the first segment closes.
                (None, _) => assert_eq!(f.m.segments.iter().filter(|s| s.complete).count(), 0),
                (Some(_), false) => first_version = Some(f.checked()),
                (Some(_), true) => {
                    f.checked();
                }
            }
        }
        assert_eq!(f.m.target_duration_s(), Some(td), "GOP of {gop} parts");
        let first = first_version.expect("a first version");
        assert_eq!(first.target_duration, u64::from(td));
        assert!(
            first.segments[0].extinf.is_some(),
            "the first version lists a segment"
        );
        assert!(
            f.m.independent_segments(),
            "GOP of {gop} parts: no forced cut"
        );
    }
}

#[test]
fn rule_01_key_frames_later_than_the_measured_target_duration_force_a_cut() {
    // A 1 s GOP measures TD 2; then the encoder moves to 4 s key frames. No EXTINF may round
    // above 2, so segments are cut between key frames (counted), and the stream stops
    // claiming EXT-X-INDEPENDENT-SEGMENTS.
    let mut f = Feeder::new(&measured());
    f.run(20, 5, 200);
    assert_eq!(f.m.target_duration_s(), Some(2));
    for i in 0..100 {
        f.ms(200, i % 20 == 0);
        f.checked();
    }
    assert_eq!(f.m.target_duration_s(), Some(2), "it never changes");
    assert!(f.m.anomalies().forced_cuts > 0);
    assert!(!f.m.independent_segments());
}

#[test]
fn rule_01_no_key_frame_within_the_maximum_cuts_the_first_segment_there() {
    let mut f = Feeder::new(&measured());
    for i in 0..120 {
        f.ms(200, i == 0);
        f.checked();
    }
    assert_eq!(f.m.target_duration_s(), Some(10));
    assert!(f.m.anomalies().forced_cuts > 0);
}

#[test]
fn a_stream_that_ends_within_its_first_segment_measures_it_then() {
    let mut f = Feeder::new(&measured());
    f.run(4, 5, 200);
    assert_eq!(f.m.target_duration_s(), None);
    f.m.finish();
    // 0.8 s rounds to 1, but segments are at least segment_min_ms (1.5 s → 2) when the
    // stream goes on, and the target duration is the same for every stream of one encoder.
    assert_eq!(f.m.target_duration_s(), Some(2));
    let text = f.checked();
    assert!(text.endlist);
}

#[test]
fn an_adopted_target_duration_holds_from_the_first_part_and_is_never_replaced() {
    let mut f = Feeder::new(&measured());
    assert_eq!(f.m.adopt_target_duration(3), 3);
    f.run(40, 5, 200);
    assert_eq!(
        f.m.target_duration_s(),
        Some(3),
        "the first segment did not re-measure it"
    );
    assert_eq!(f.m.adopt_target_duration(2), 3);
    // A fixed target duration is never replaced either.
    let mut f = Feeder::new(&opts(4, 200, 1500, 8));
    assert_eq!(f.m.adopt_target_duration(2), 4);
}

/// `opts` numbered from the first segment's date (the default).
fn wall_clock(mut o: Options) -> Options {
    o.numbering = crate::Numbering::WallClock;
    o
}

#[test]
fn rule_34_numbers_follow_the_first_segment_date() {
    let o = wall_clock(opts(2, 200, 1500, 8));
    let mut f = Feeder::new(&o);
    let first = f.ms(200, true);
    // Halves of segment_min_ms (750 ms) since the epoch.
    let expected = START_MS / 750;
    assert_eq!(
        first,
        PartPosition {
            msn: expected,
            part: 0
        }
    );
    f.run(40, 5, 200);
    let p = f.checked();
    // 8.2 s of 2 s segments: nothing has left the window yet.
    assert_eq!(p.media_sequence, expected);
    assert_eq!(p.segments[0].msn, p.media_sequence);
    // EXT-X-DISCONTINUITY-SEQUENCE stays small (docs/conformance.md R34): none yet, no tag.
    assert_eq!(p.discontinuity_sequence, None);
    // The numbering is a function of the date: another builder fed the same gets the same.
    let mut g = Feeder::new(&o);
    g.ms(200, true);
    g.run(40, 5, 200);
    assert_eq!(g.render(Skip::No), f.render(Skip::No));
}

#[test]
fn rule_34_a_stream_started_again_numbers_above_its_previous_run() {
    // Segments as short as the cut rule makes them (a key frame every 0.5 s, 250 ms parts:
    // every segment is 1.5 s = segment_min_ms), an encoder restart (timestamp jump, a short
    // segment) every minute, for an hour; then the stream starts again at once (an origin
    // restart), dated by the wall clock, which an encoder running 10 % fast left behind its
    // media time.
    let o = wall_clock(opts(2, 250, 1500, 8));
    let mut f = Feeder::new(&o);
    let mut last = PartPosition { msn: 0, part: 0 };
    for minute in 0..60 {
        if minute > 0 {
            f.decode = 0;
        }
        for i in 0..240 {
            last = f.ms(250, i % 2 == 0);
        }
    }
    let before = f.checked();
    let media_ms = 60 * 60 * 1000;
    for elapsed_ms in [media_ms, media_ms * 10 / 11] {
        let mut again = Feeder::starting_at(&o, START_MS + elapsed_ms);
        let first = again.ms(250, true);
        again.run(12, 2, 250);
        let after = again.checked();
        assert!(
            first.msn > last.msn,
            "{elapsed_ms} ms later: segment {} after {}",
            first.msn,
            last.msn
        );
        assert!(after.media_sequence > before.media_sequence);
    }
}

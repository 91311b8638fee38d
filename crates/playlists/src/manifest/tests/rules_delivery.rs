//! Rules about what a playlist advertises and how it is delivered: SERVER-CONTROL
//! (§4.4.3.8, App. B.1 [docs/conformance.md R3–R5, R26]), versions (§8 [docs/conformance.md R15]),
//! delta updates (§6.2.5.1 [docs/conformance.md R13, R14]), blocking positions
//! (§6.2.5.2 [docs/conformance.md R11]), preload hints (§6.2.6 [docs/conformance.md R23, R25]),
//! rendition reports, the end of a stream, bit rates (§4.1 [docs/conformance.md R33]).

use super::check::{check, check_delta};
use super::*;
use crate::error::Error;
use crate::manifest::RenditionReport;

fn server_control(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("#EXT-X-SERVER-CONTROL:"))
        .unwrap()
}

#[test]
fn rule_03_part_hold_back_is_three_part_targets() {
    for (part_ms, expected) in [(200, "PART-HOLD-BACK=0.600"), (333, "PART-HOLD-BACK=0.999")] {
        let mut f = Feeder::new(&opts(2, part_ms, 1000, 8));
        f.ms(u64::from(part_ms), true);
        let text = f.render(Skip::No);
        assert!(server_control(&text).contains(expected), "{text}");
        assert!(text.contains(&format!("#EXT-X-PART-INF:PART-TARGET=0.{part_ms}\n")));
        f.checked();
    }
}

#[test]
fn rule_04_hold_back_is_three_target_durations() {
    let mut f = Feeder::new(&fixed_td(4));
    f.ms(200, true);
    assert!(server_control(&f.render(Skip::No)).ends_with(",HOLD-BACK=12.000"));
    f.checked();
    // Measured (the default): three times what the first segment gave, 2 s with a 1 s GOP.
    let mut f = Feeder::new(&Options::default());
    f.run(11, 5, 200);
    assert_eq!(f.m.target_duration_s(), Some(2));
    assert!(server_control(&f.render(Skip::No)).ends_with(",HOLD-BACK=6.000"));
}

/// The default options with TARGETDURATION fixed at `td`.
fn fixed_td(td: u32) -> Options {
    Options {
        target_duration: crate::TargetDuration::Fixed(td),
        ..Options::default()
    }
}

#[test]
fn rule_05_can_skip_until_is_six_target_durations_from_the_first_version_on() {
    // 32 segments of at least 1.5 s outlast the 24 s skip boundary of TD 4.
    let mut f = Feeder::new(&fixed_td(4));
    let first = {
        f.ms(200, true);
        f.render(Skip::No)
    };
    assert_eq!(
        server_control(&first),
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=24.000,\
         PART-HOLD-BACK=0.600,HOLD-BACK=12.000"
    );
    // Every later version has the same line (History checks each).
    f.run(400, 10, 200);
    assert_eq!(server_control(&f.render(Skip::No)), server_control(&first));
    // Eight segments of at least 1 s can never outlast 6 × TD = 12 s: no CAN-SKIP-UNTIL.
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    f.run(100, 5, 200);
    assert!(!f.render(Skip::No).contains("CAN-SKIP-UNTIL"));
    assert!(!f.m.can_skip());
}

#[test]
fn rule_11_a_part_index_past_the_end_of_a_segment_means_part_0_of_the_next() {
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    f.run(7, 5, 200); // s0 has parts 0..=4
    let next = PartPosition { msn: 1, part: 0 };
    assert_eq!(f.m.normalize(PartPosition { msn: 0, part: 5 }), next);
    assert_eq!(f.m.normalize(PartPosition { msn: 0, part: 99 }), next);
    for unchanged in [
        PartPosition { msn: 0, part: 4 },
        PartPosition { msn: 1, part: 7 }, // the open segment may still get part 7
        PartPosition { msn: 5, part: 0 },
    ] {
        assert_eq!(f.m.normalize(unchanged), unchanged);
    }
}

#[test]
fn rule_13_skip_is_ignored_without_can_skip_until_and_after_endlist() {
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    f.run(60, 5, 200);
    for skip in [Skip::Yes, Skip::V2] {
        assert_eq!(f.render(skip), f.render(Skip::No));
    }
    let mut f = Feeder::new(&opts(1, 200, 1000, 16));
    f.run(60, 5, 200);
    assert!(f.render(Skip::Yes).contains("#EXT-X-SKIP:"));
    f.m.finish();
    assert!(!f.m.can_skip());
    for skip in [Skip::Yes, Skip::V2] {
        assert_eq!(f.render(skip), f.render(Skip::No));
    }
    f.checked();
}

#[test]
fn rule_14_v2_is_answered_as_yes_without_can_skip_dateranges() {
    let mut f = Feeder::new(&opts(1, 200, 1000, 16));
    f.run(100, 5, 200); // every version's v2 update is checked by `f.checked()`
    let text = f.render(Skip::V2);
    // CAN-SKIP-DATERANGES is not advertised (there are no date ranges to skip), so a v2
    // request gets the YES update: version 9, no RECENTLY-REMOVED-DATERANGES.
    assert!(!text.contains("CAN-SKIP-DATERANGES"));
    assert_eq!(text, f.render(Skip::Yes));
    assert!(text.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=10\n"), "{text}");
    assert!(!text.contains("DATERANGE"), "{text}");
}

#[test]
fn rule_13_a_delta_with_nothing_to_skip_is_the_full_playlist() {
    let mut f = Feeder::new(&opts(1, 200, 1000, 16));
    // CAN-SKIP-UNTIL is advertised from the start, but no segment is past the Skip Boundary
    // (6 × TD) until more than 6 s are listed.
    f.run(10, 5, 200);
    assert!(f.m.can_skip());
    assert_eq!(f.m.skippable_segments(), 0);
    for skip in [Skip::Yes, Skip::V2] {
        let text = f.render(skip);
        assert!(!text.contains("EXT-X-SKIP"), "{text}");
        assert_eq!(text, f.render(Skip::No));
    }
    f.run(60, 5, 200);
    assert!(f.m.skippable_segments() > 0);
    assert!(f
        .render(Skip::Yes)
        .contains("#EXT-X-SKIP:SKIPPED-SEGMENTS="));
    f.checked();
}

#[test]
fn rule_15_the_version_is_the_lowest_the_tags_need() {
    let mut f = Feeder::new(&opts(1, 200, 1000, 16));
    // Nothing listed yet: no EXT-X-MAP, so version 1.
    assert!(f.render(Skip::No).contains("#EXT-X-VERSION:1\n"));
    f.run(100, 5, 200);
    // EXT-X-MAP without I-FRAMES-ONLY: 6. EXT-X-SKIP: 9, also for v2 (it replaces no
    // EXT-X-DATERANGE, which is what needs 10).
    assert!(f.render(Skip::No).contains("#EXT-X-VERSION:6\n"));
    assert!(f.render(Skip::Yes).contains("#EXT-X-VERSION:9\n"));
    assert!(f.render(Skip::V2).contains("#EXT-X-VERSION:9\n"));
}

#[test]
fn a_delta_replaces_exactly_the_segments_past_the_skip_boundary() {
    // TD 1, 1 s segments, 16 listed. After 100 parts the window is s3..=s18 plus the open
    // s19, ending at 20 s; s12 ends at 13 s, 7 s (> 6 s) from the end; s13 ends 6 s from it.
    let mut f = Feeder::new(&opts(1, 200, 1000, 16));
    f.run(100, 5, 200);
    let full = check(&f.render(Skip::No), &f.cfg).unwrap();
    let delta_text = f.render(Skip::Yes);
    let delta = check(&delta_text, &f.cfg).unwrap();
    assert_eq!(full.media_sequence, 3);
    assert_eq!(delta.skip, Some((10, None)));
    assert_eq!(delta.segments[0].msn, 13);
    assert!(delta_text.contains(
        "#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-SKIP:SKIPPED-SEGMENTS=10\n#EXT-X-MAP:URI=\"init.mp4\"\n\
         #EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:33.000Z\n#EXTINF:1.00000,\ns13.mp4\n"
    ));
    check_delta(&full, &delta).unwrap();
}

#[test]
fn a_delta_keeps_discontinuity_map_and_date_of_the_first_unskipped_segment() {
    // An encoder restart with a new init every 7 s: some version's delta starts right at a
    // restart, and some skips one. `checked` compares each delta with its full playlist.
    let mut f = Feeder::new(&opts(1, 200, 1000, 16));
    let (mut starts_at_restart, mut skips_a_restart) = (0, 0);
    for i in 0..400u64 {
        if i % 35 == 34 {
            f.decode += 10_000_000;
            f.init_id += 1;
        }
        f.ms(200, i % 5 == 0 || i % 35 == 34);
        let full = f.checked();
        let delta = check(&f.render(Skip::Yes), &f.cfg).unwrap();
        // Early versions skip nothing and are the full playlist (checked by `checked`).
        let Some((skipped, _)) = delta.skip else {
            continue;
        };
        let skipped = skipped as usize;
        let first = &delta.segments[0];
        if first.discontinuity {
            starts_at_restart += 1;
            assert!(first.map.as_deref().is_some_and(|m| m.starts_with("init-")));
            assert!(first.pdt_ms.is_some());
        }
        if full.segments[..skipped].iter().any(|s| s.discontinuity) {
            skips_a_restart += 1;
            // The DISCONTINUITY-SEQUENCE before the skip is the full playlist's.
            assert_eq!(delta.discontinuity_sequence, full.discontinuity_sequence);
        }
    }
    assert!(starts_at_restart > 0 && skips_a_restart > 0);
}

#[test]
fn rule_23_exactly_one_preload_hint_while_live_and_none_after_endlist() {
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    for i in 0..12u64 {
        f.ms(200, i % 5 == 0);
        let text = f.render(Skip::No);
        assert_eq!(text.matches("#EXT-X-PRELOAD-HINT:").count(), 1);
        // Parts are numbered from 0 in the stream: after part i the hint names part i + 1.
        assert_eq!(f.m.preload_hint(), Some(i + 1));
        assert!(text.contains(&format!(
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p{}.mp4\"\n",
            i + 1
        )));
    }
    f.m.finish();
    let text = f.render(Skip::No);
    assert!(!text.contains("PRELOAD-HINT") && text.ends_with("#EXT-X-ENDLIST\n"));
    let p = f.checked();
    assert!(
        p.segments.iter().all(|s| s.uri.is_some()),
        "the open segment was closed"
    );
    assert!(matches!(f.push(200, true), Err(Error::StreamFinished(_))));
}

#[test]
fn rule_24_the_hint_is_never_abandoned_at_a_segment_boundary() {
    // 1 s segments of five 200 ms parts: every fifth part opens a segment. Whatever the next
    // part turns out to be, the hinted URI is the URI it gets, so a player that fetched the
    // hint is answered with the part and never with a 404 (§6.2.6).
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    let mut hinted: Option<String> = None;
    for i in 0..23u64 {
        let pos = f.ms(200, i % 5 == 0);
        let text = f.render(Skip::No);
        let p = f.checked();
        let newest = p.segments.last().unwrap().parts.last().unwrap();
        if let Some(uri) = hinted.take() {
            assert_eq!(newest.uri, uri, "part {i} at {pos:?} is not the one hinted");
        }
        let hint = text
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
            .unwrap();
        hinted = Some(hint.trim_end_matches('"').to_owned());
    }
}

#[test]
fn rule_25_the_hint_names_a_whole_part_with_no_byte_range() {
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    f.run(3, 5, 200);
    let text = f.render(Skip::No);
    let hint = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT"))
        .unwrap();
    assert_eq!(hint, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p3.mp4\"");
    assert!(!text.contains("BYTERANGE"));
}

#[test]
fn rule_26_renditions_built_from_the_same_options_advertise_the_same_server_control() {
    // Two renditions of a group: different part durations, GOPs and restarts. §6.2.4 wants
    // the same SERVER-CONTROL in both; it depends on the options and the target duration
    // alone, which the registry makes the same in both (a measured one is adopted by the
    // second rendition: `playlists_registry.rs`).
    let o = fixed_td(4);
    let mut video = Feeder::new(&o);
    let mut audio = Feeder::new(&o);
    audio.timescale = 48_000;
    for i in 0..300u64 {
        video.ms(200, i % 10 == 0);
        audio.push(9600 - (i % 3) * 1024, true).unwrap();
        if i == 150 {
            audio.decode += 480_000_000;
        }
        let (v, a) = (video.render(Skip::No), audio.render(Skip::No));
        assert_eq!(server_control(&v), server_control(&a));
    }
    video.checked();
    audio.checked();
}

#[test]
fn rendition_reports_follow_the_hint_in_the_order_given() {
    let mut f = Feeder::new(&opts(2, 200, 1000, 8));
    f.run(6, 5, 200);
    let reports = [
        RenditionReport {
            uri: "../360p/index.m3u8".into(),
            last_msn: 1,
            last_part: 0,
        },
        RenditionReport {
            uri: "../720p/index.m3u8".into(),
            last_msn: 0,
            last_part: 4,
        },
    ];
    let mut out = Vec::new();
    f.m.render(Skip::No, &reports, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with(
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p6.mp4\"\n\
         #EXT-X-RENDITION-REPORT:URI=\"../360p/index.m3u8\",LAST-MSN=1,LAST-PART=0\n\
         #EXT-X-RENDITION-REPORT:URI=\"../720p/index.m3u8\",LAST-MSN=0,LAST-PART=4\n"
    ));
    let p = check(&text, &f.cfg).unwrap();
    assert_eq!(p.reports.len(), 2);
}

#[test]
fn rule_33_bandwidth_is_the_peak_over_sets_of_half_to_one_and_a_half_td_plus_half_a_second() {
    // TD 2: sets between 1 s and 3.5 s. Five 1 s segments, the middle one 100 kB.
    let mut m = M3u8Manifest::new(&opts(2, 200, 1000, 8), START_MS).unwrap();
    let sizes = [10_000u64, 10_000, 100_000, 10_000, 10_000, 10_000];
    for (i, size) in sizes.iter().enumerate() {
        for k in 0..5u64 {
            let id = i as u64 * 5 + k;
            m.push(PartMeta {
                id,
                len: size / 5,
                init_id: 0,
                timing: PartTiming {
                    duration: 200,
                    timescale: 1000,
                    decode_time: id * 200,
                    independent: k == 0,
                    wallclock_ms: None,
                },
            })
            .unwrap();
        }
    }
    // The sixth segment is still open, so it does not count.
    let bw = m.bandwidth();
    assert_eq!(bw.peak_bps, 800_000, "100 kB in one second");
    assert_eq!(bw.average_bps, 140_000 * 8 / 5);
}

//! The registry end to end: publishing, reading, waiting, ending and evicting streams.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use playlists::{BlockingRequest, Error, Init, Options, Part, PartPosition, PartTiming, Playlists};
use tokio::time::Instant;

const TIMESCALE: u32 = 1000;
const PART_MS: u64 = 200;
const START_MS: u64 = 1_700_000_000_000;

fn options() -> Options {
    Options {
        num_playlists: 3,
        max_segments: 8,
        max_parts_per_segment: 16,
        segment_min_ms: 1000,
        target_duration: playlists::TargetDuration::Fixed(2),
        part_target_ms: 200,
        playlist_versions: 16,
        // Numbered from 0 so that tests name positions; R34's test uses the default.
        numbering: playlists::Numbering::FromZero,
        dvr_window_ms: None,
    }
}

fn init(tag: &str) -> Init {
    Init {
        bytes: Bytes::from(format!("init of {tag}")),
        codecs: "avc1.64001f,mp4a.40.2".to_owned(),
        resolution: Some((640, 360)),
        frame_rate: Some(30.0),
        video: true,
        audio: Some(playlists::AudioTrack::default()),
    }
}

/// Part `n` of a stream: 200 ms, a keyframe every fifth part (1 s GOP), bytes derived from `n`
/// and the stream name so a mix-up is visible.
fn part(stream: &str, n: u64) -> Part {
    Part {
        bytes: Bytes::from(format!("{stream}:{n:08}").repeat(10)),
        init: Some(init(stream)),
        timing: PartTiming {
            duration: PART_MS,
            timescale: TIMESCALE,
            decode_time: n * PART_MS,
            independent: n % 5 == 0,
            wallclock_ms: Some(START_MS),
        },
    }
}

fn publish(p: &Playlists, stream: &str, parts: std::ops::Range<u64>) -> Vec<PartPosition> {
    parts
        .map(|n| p.add(stream, part(stream, n)).unwrap())
        .collect()
}

fn text(b: &Bytes) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn parts_roll_into_segments_and_are_served_without_copies() {
    let p = Playlists::new(options()).unwrap();
    let positions = publish(&p, "cam1", 0..12);
    // 1 s minimum, keyframe every 5 parts: segments of 5 parts.
    assert_eq!(positions[0], PartPosition { msn: 0, part: 0 });
    assert_eq!(positions[5], PartPosition { msn: 1, part: 0 });
    assert_eq!(positions[11], PartPosition { msn: 2, part: 1 });

    let cam1 = p.stream("cam1").unwrap();
    let chunk = cam1.part_at(PartPosition { msn: 1, part: 2 }).unwrap();
    assert_eq!(chunk.bytes, part("cam1", 7).bytes);
    assert_eq!(chunk.hash, xxhash_rust::xxh3::xxh3_64(&chunk.bytes));

    let segment = cam1.segment(1).unwrap();
    let joined: Vec<u8> = segment
        .parts
        .iter()
        .flat_map(|c| c.bytes.to_vec())
        .collect();
    let expected: Vec<u8> = (5..10)
        .flat_map(|n| part("cam1", n).bytes.to_vec())
        .collect();
    assert_eq!(joined, expected);
    assert_eq!(segment.len as usize, expected.len());
    assert!(
        cam1.segment(2).is_none(),
        "the open segment is not a segment yet"
    );

    let playlist = cam1.playlist().unwrap();
    assert_eq!(playlist.position, positions[11]);
    let body = text(&playlist.full.plain);
    assert!(body.contains("s1.mp4"), "{body}");
    // Parts are named by their number in the stream: (2, 1) is the twelfth part.
    assert!(body.contains("p11.mp4"), "{body}");
    assert_eq!(cam1.init(0).unwrap().bytes, init("cam1").bytes);
}

/// Memory follows the segments still served, not the ring's size: parts of segments past
/// their availability (§6.2.2 [docs/conformance.md R18, R20]) are gone at once, although the ring
/// still has room.
#[test]
fn parts_of_forgotten_segments_leave_the_ring_before_it_wraps() {
    let p = Playlists::new(options()).unwrap();
    let total = 400;
    publish(&p, "cam1", 0..total);
    let cam1 = p.stream("cam1").unwrap();
    let ring = (options().max_segments * options().max_parts_per_segment) as u64;
    let oldest_msn = (0..total / 5)
        .find(|&msn| cam1.segment(msn).is_some())
        .unwrap();
    let first = cam1.segment(oldest_msn).unwrap().parts[0].id;
    assert_eq!(first, oldest_msn * 5);
    assert!(
        first > total - ring,
        "the window must end before the ring does, or this test shows nothing"
    );
    for n in total - ring..first {
        assert!(cam1.part(n).is_none(), "part {n} of a forgotten segment");
    }
    for n in first..total {
        assert_eq!(cam1.part(n).unwrap().bytes, part("cam1", n).bytes);
    }
    // Every segment still served is whole: its parts were not released with the older ones.
    for msn in oldest_msn..total / 5 - 1 {
        let segment = cam1.segment(msn).unwrap();
        assert_eq!(segment.parts.len(), 5, "segment {msn}");
    }
}

#[test]
fn gzip_is_the_same_playlist() {
    use std::io::Read;
    let p = Playlists::new(options()).unwrap();
    publish(&p, "cam1", 0..7);
    let v = p.stream("cam1").unwrap().playlist().unwrap();
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&v.full.gzip[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, v.full.plain);
}

#[test]
fn a_new_stream_needs_an_init_and_bad_parts_change_nothing() {
    let p = Playlists::new(options()).unwrap();
    let mut first = part("cam1", 0);
    first.init = None;
    assert_eq!(p.add("cam1", first), Err(Error::MissingInit("cam1".into())));

    publish(&p, "cam1", 0..3);
    let before = p.stream("cam1").unwrap().playlist().unwrap();
    let mut zero = part("cam1", 3);
    zero.timing.duration = 0;
    assert!(matches!(p.add("cam1", zero), Err(Error::InvalidPart(_))));
    let mut empty = part("cam1", 3);
    empty.bytes = Bytes::new();
    assert!(matches!(p.add("cam1", empty), Err(Error::InvalidPart(_))));
    assert!(matches!(
        p.add("../etc", part("x", 0)),
        Err(Error::InvalidStreamName { .. })
    ));
    assert_eq!(p.stream("cam1").unwrap().playlist().unwrap(), before);
}

#[test]
fn more_live_streams_than_slots_is_an_error_and_ended_streams_make_room() {
    let p = Playlists::new(options()).unwrap();
    for name in ["a", "b", "c"] {
        publish(&p, name, 0..2);
    }
    assert!(matches!(
        p.add("d", part("d", 0)),
        Err(Error::StreamsExhausted { capacity: 3, .. })
    ));
    // Nothing of the others was touched.
    for name in ["a", "b", "c"] {
        let s = p.stream(name).unwrap();
        assert_eq!(
            s.part_at(PartPosition { msn: 0, part: 1 }).unwrap().bytes,
            part(name, 1).bytes
        );
    }
    p.fin("b").unwrap();
    publish(&p, "d", 0..2);
    assert!(
        p.stream("b").is_none(),
        "the ended stream gave its slot to d"
    );
    let d = p.stream("d").unwrap();
    assert_eq!(
        d.part_at(PartPosition { msn: 0, part: 0 }).unwrap().bytes,
        part("d", 0).bytes
    );
    let names: Vec<String> = p.active().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a", "c", "d"]);
}

#[test]
fn fin_publishes_endlist_and_keeps_the_stream_readable() {
    let p = Playlists::new(options()).unwrap();
    publish(&p, "cam1", 0..8);
    p.fin("cam1").unwrap();
    p.fin("cam1").unwrap();
    let s = p.stream("cam1").unwrap();
    let v = s.playlist().unwrap();
    assert!(v.finished);
    let body = text(&v.full.plain);
    assert!(body.contains("#EXT-X-ENDLIST"), "{body}");
    assert!(!body.contains("PRELOAD-HINT"), "{body}");
    assert!(s.part_at(PartPosition { msn: 0, part: 0 }).is_some());
    assert!(p.active().is_empty());
    assert_eq!(p.list().len(), 1);
    // Publishing again restarts the stream from scratch.
    let restarted = p.add("cam1", part("cam1", 0)).unwrap();
    assert_eq!(restarted, PartPosition { msn: 0, part: 0 });
    assert!(!p.stream("cam1").unwrap().playlist().unwrap().finished);
}

#[test]
fn remove_forgets_everything() {
    let p = Playlists::new(options()).unwrap();
    publish(&p, "cam1", 0..4);
    let stale = p.stream("cam1").unwrap();
    p.remove("cam1").unwrap();
    assert!(p.stream("cam1").is_none());
    assert!(stale.playlist().is_none());
    assert!(stale.part_at(PartPosition { msn: 0, part: 0 }).is_none());
    publish(&p, "other", 0..1);
    assert!(stale.part_at(PartPosition { msn: 0, part: 0 }).is_none());
    assert_eq!(p.remove("cam1"), Err(Error::UnknownStream("cam1".into())));
}

#[test]
fn rule_7_and_8_requests_too_far_ahead_are_refused() {
    let p = Playlists::new(options()).unwrap();
    publish(&p, "cam1", 0..7); // last = (1, 1)
    let s = p.stream("cam1").unwrap();
    let req = |msn, part| BlockingRequest { msn, part };
    assert!(s.check(req(3, None)).is_ok());
    assert!(matches!(
        s.check(req(4, None)),
        Err(Error::MsnTooFar {
            requested: 4,
            last: 1
        })
    ));
    // Advance Part Limit for PART-TARGET 0.2 s is 15 parts.
    assert!(s.check(req(1, Some(16))).is_ok());
    assert!(matches!(
        s.check(req(1, Some(17))),
        Err(Error::PartTooFar { limit: 15, .. })
    ));
    assert!(s.check(req(2, Some(14))).is_ok());
    assert!(s.check(req(2, Some(15))).is_err());
    // §6.2.5 [docs/conformance.md R13]: an ended stream ignores directives.
    p.fin("cam1").unwrap();
    assert!(s.check(req(100, Some(100))).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_request_is_answered_with_the_version_at_its_position() {
    let p = Arc::new(Playlists::new(options()).unwrap());
    publish(&p, "cam1", 0..3); // last = (0, 2)
    let waiters: Vec<_> = (0..200)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move {
                let s = p.stream("cam1").unwrap();
                let deadline = Instant::now() + Duration::from_secs(5);
                s.wait_playlist(
                    BlockingRequest {
                        msn: 0,
                        part: Some(4),
                    },
                    deadline,
                )
                .await
                .unwrap()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    publish(&p, "cam1", 3..6);
    for w in waiters {
        let v = w.await.unwrap();
        assert_eq!(v.position, PartPosition { msn: 0, part: 4 });
        let body = text(&v.full.plain);
        assert!(body.contains("URI=\"p4.mp4\""));
        // Part 5 only as the hint: the version does not list it yet.
        assert!(
            body.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p5.mp4\"")
                && body.matches("p5.mp4").count() == 1,
            "answered with a later version"
        );
    }
    // The same request later gets the same bytes.
    let s = p.stream("cam1").unwrap();
    let again = s
        .wait_playlist(
            BlockingRequest {
                msn: 0,
                part: Some(4),
            },
            Instant::now() + Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(again.position, PartPosition { msn: 0, part: 4 });
}

#[tokio::test]
async fn rule_11_a_part_past_the_end_of_a_segment_is_part_0_of_the_next() {
    let p = Playlists::new(options()).unwrap();
    publish(&p, "cam1", 0..6); // segment 0 has parts 0..=4, last = (1, 0)
    let s = p.stream("cam1").unwrap();
    let v = s
        .wait_playlist(
            BlockingRequest {
                msn: 0,
                part: Some(9),
            },
            Instant::now() + Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(v.position, PartPosition { msn: 1, part: 0 });
    // Without _HLS_part: the version in which segment 0 is complete.
    let v = s
        .wait_playlist(
            BlockingRequest { msn: 0, part: None },
            Instant::now() + Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(v.position, PartPosition { msn: 1, part: 0 });
}

#[tokio::test]
async fn rule_12_a_position_no_longer_kept_gets_the_current_playlist() {
    let p = Playlists::new(options()).unwrap();
    publish(&p, "cam1", 0..40); // 16 versions kept
    let s = p.stream("cam1").unwrap();
    let v = s
        .wait_playlist(
            BlockingRequest {
                msn: 0,
                part: Some(1),
            },
            Instant::now() + Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(v.position, s.playlist().unwrap().position);
}

#[tokio::test(start_paused = true)]
async fn rule_10_a_wait_ends_at_its_deadline() {
    let p = Playlists::new(options()).unwrap();
    publish(&p, "cam1", 0..2);
    let s = p.stream("cam1").unwrap();
    let deadline = Instant::now() + Duration::from_secs(6);
    let err = s
        .wait_playlist(
            BlockingRequest {
                msn: 0,
                part: Some(3),
            },
            deadline,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WaitTimeout(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_13_waiters_are_answered_with_the_final_playlist_when_the_stream_ends() {
    let p = Arc::new(Playlists::new(options()).unwrap());
    publish(&p, "cam1", 0..2);
    let waiter = {
        let p = p.clone();
        tokio::spawn(async move {
            let s = p.stream("cam1").unwrap();
            s.wait_playlist(
                BlockingRequest { msn: 5, part: None },
                Instant::now() + Duration::from_secs(5),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    p.fin("cam1").unwrap();
    let v = waiter.await.unwrap().unwrap();
    assert!(v.finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_22_the_hinted_part_is_sent_once_complete_and_rule_24_others_are_not_found() {
    let p = Arc::new(Playlists::new(options()).unwrap());
    publish(&p, "cam1", 0..2); // the hint names part 2
    let s = p.stream("cam1").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    // Not hinted, not published: nothing to wait for.
    assert_eq!(s.wait_part(3, deadline).await, Ok(None));
    let waiter = {
        let p = p.clone();
        tokio::spawn(async move { p.stream("cam1").unwrap().wait_part(2, deadline).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    publish(&p, "cam1", 2..3);
    let chunk = waiter.await.unwrap().unwrap().unwrap();
    assert_eq!(chunk.bytes, part("cam1", 2).bytes);

    // At a segment boundary the hint still names the part that comes next: part 5 is a
    // keyframe after 1 s and opens segment 1, and the request for it gets it, not a 404.
    publish(&p, "cam1", 3..5);
    let waiter = {
        let p = p.clone();
        tokio::spawn(async move { p.stream("cam1").unwrap().wait_part(5, deadline).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        publish(&p, "cam1", 5..6)[0],
        PartPosition { msn: 1, part: 0 }
    );
    let chunk = waiter.await.unwrap().unwrap().unwrap();
    assert_eq!(chunk.bytes, part("cam1", 5).bytes);
    assert_eq!(s.part_at(PartPosition { msn: 1, part: 0 }), Some(chunk));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_stream_ends_its_waiters() {
    let p = Arc::new(Playlists::new(options()).unwrap());
    publish(&p, "cam1", 0..2);
    let waiter = {
        let p = p.clone();
        tokio::spawn(async move {
            let s = p.stream("cam1").unwrap();
            s.wait_playlist(
                BlockingRequest { msn: 3, part: None },
                Instant::now() + Duration::from_secs(5),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    p.remove("cam1").unwrap();
    assert!(matches!(
        waiter.await.unwrap(),
        Err(Error::StaleStream { .. })
    ));
}

#[test]
fn renditions_of_a_group_report_each_other_and_share_a_multivariant_playlist() {
    let p = Playlists::new(options()).unwrap();
    for n in 0..7 {
        p.add("live/720p", part("live/720p", n)).unwrap();
        p.add("live/360p", part("live/360p", n)).unwrap();
    }
    let v = p.stream("live/720p").unwrap().playlist().unwrap();
    let body = text(&v.full.plain);
    // 720p's part 6 was published while 360p's newest part was its part 5, i.e. (1, 0).
    let report = body
        .lines()
        .find(|l| l.starts_with("#EXT-X-RENDITION-REPORT:"))
        .unwrap_or_else(|| panic!("no rendition report: {body}"));
    for attr in ["URI=\"../360p/index.m3u8\"", "LAST-MSN=1", "LAST-PART=0"] {
        assert!(report.contains(attr), "{report}");
    }
    assert!(
        !body.contains("../720p/"),
        "a playlist does not report itself: {body}"
    );
    let master = text(&p.multivariant("live").unwrap().plain);
    assert!(master.contains("720p/index.m3u8"), "{master}");
    assert!(master.contains("360p/index.m3u8"), "{master}");
    assert!(
        master.contains("CODECS=\"avc1.64001f,mp4a.40.2\""),
        "{master}"
    );
    assert!(p.multivariant("nope").is_none());
}

#[test]
fn two_registries_fed_the_same_parts_render_the_same_bytes() {
    let a = Playlists::new(options()).unwrap();
    let b = Playlists::new(options()).unwrap();
    // b has an unrelated stream first, so slot indices differ.
    publish(&b, "other", 0..1);
    for n in 0..30 {
        a.add("cam1", part("cam1", n)).unwrap();
        b.add("cam1", part("cam1", n)).unwrap();
        let va = a.stream("cam1").unwrap().playlist().unwrap();
        let vb = b.stream("cam1").unwrap().playlist().unwrap();
        assert_eq!(va.full.plain, vb.full.plain);
        assert_eq!(va.delta, vb.delta);
    }
}

#[test]
fn a_wall_clock_past_the_year_9998_is_refused() {
    let p = Playlists::new(options()).unwrap();
    let mut first = part("cam1", 0);
    first.timing.wallclock_ms = Some(u64::MAX / 2);
    assert!(matches!(p.add("cam1", first), Err(Error::InvalidPart(_))));
}

#[test]
fn a_part_the_builder_refuses_leaves_nothing_behind() {
    let p = Playlists::new(options()).unwrap();
    publish(&p, "cam1", 0..3);
    let before = p.stream("cam1").unwrap().playlist().unwrap();
    // 3 s: longer than TARGETDURATION 2 allows for any segment (§4.4.3.1 [docs/conformance.md R1]).
    let base = part("cam1", 3);
    let long = Part {
        timing: PartTiming {
            duration: 3000,
            ..base.timing
        },
        ..base
    };
    assert!(matches!(p.add("cam1", long), Err(Error::InvalidPart(_))));
    assert_eq!(p.stream("cam1").unwrap().playlist().unwrap(), before);
    // The next parts still publish: no chunk id was used up by the refused part.
    let positions = publish(&p, "cam1", 3..8);
    assert_eq!(positions[2], PartPosition { msn: 1, part: 0 });
}

/// ms since the Unix epoch of an EXT-X-PROGRAM-DATE-TIME value (RFC 3339, as rendered).
fn pdt_ms(value: &str) -> u64 {
    let at = humantime::parse_rfc3339(value).expect("an RFC 3339 date-time");
    let since = at
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(since.as_millis()).expect("fits")
}

#[test]
fn without_a_source_clock_the_first_sample_is_dated_one_part_before_its_publication() {
    // A live part is published once it has ended, so its first sample is one part duration
    // older than the moment it arrives (hls.js's wall clock − playingDate showed 0.2 s less
    // than hls.latency while PDT was the arrival time).
    assert_eq!(pdt_ms("2023-11-14T22:13:20.000Z"), START_MS);
    let p = Playlists::new(options()).unwrap();
    let mut first = part("cam1", 0);
    first.timing.wallclock_ms = None;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let before = now();
    p.add("cam1", first).unwrap();
    let after = now();
    let body = text(&p.stream("cam1").unwrap().playlist().unwrap().full.plain);
    let date = body
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:"))
        .unwrap();
    let dated = pdt_ms(date);
    assert!(
        (before - PART_MS..=after - PART_MS).contains(&dated),
        "first sample dated {date} ({dated}), published between {before} and {after}"
    );
}

/// [`options`] with the target duration measured (the default) rather than fixed.
fn measured() -> Options {
    Options {
        target_duration: playlists::TargetDuration::default(),
        segment_min_ms: 1500,
        ..options()
    }
}

/// Part `n` of `stream` with a key frame every `gop` parts.
fn part_gop(stream: &str, n: u64, gop: u64) -> Part {
    let mut p = part(stream, n);
    p.timing.independent = n % gop == 0;
    p
}

#[tokio::test]
async fn a_measured_target_duration_is_known_before_the_first_playlist_is_published() {
    let p = Arc::new(Playlists::new(measured()).unwrap());
    // 1 s GOP: the first segment closes at part 10 (2 s), the first key frame after 1.5 s.
    for n in 0..10 {
        p.add("cam1", part_gop("cam1", n, 5)).unwrap();
    }
    let cam1 = p.stream("cam1").unwrap();
    assert!(
        cam1.playlist().is_none(),
        "nothing published before the first segment closes"
    );
    assert_eq!(cam1.status().unwrap().target_duration_s, None);
    // A player asking now is held, then answered with the first version.
    let waiter = {
        let p = Arc::clone(&p);
        tokio::spawn(async move {
            let cam1 = p.stream("cam1").unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            cam1.wait_first_playlist(deadline).await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiter.is_finished());
    p.add("cam1", part_gop("cam1", 10, 5)).unwrap();
    let first = waiter.await.unwrap().unwrap();
    let text = text(&first.full.plain);
    assert!(text.contains("#EXT-X-TARGETDURATION:2\n"), "{text}");
    assert!(text.contains("#EXTINF:2.00000,\ns0.mp4\n"), "{text}");
    assert_eq!(cam1.status().unwrap().target_duration_s, Some(2));
    // A stream that never publishes: the wait ends at its deadline.
    p.add("cam2", part_gop("cam2", 0, 5)).unwrap();
    let cam2 = p.stream("cam2").unwrap();
    let deadline = Instant::now() + Duration::from_millis(30);
    assert!(matches!(
        cam2.wait_first_playlist(deadline).await,
        Err(Error::WaitTimeout(_))
    ));
}

#[test]
fn renditions_of_a_group_share_the_target_duration_the_first_measured() {
    let p = Playlists::new(measured()).unwrap();
    // `hi` has a 3 s GOP and measures 3; `lo` (1 s GOP, which alone would measure 2) starts
    // after `hi` knows it and adopts it (§6.2.4), with `hi`'s timeline.
    for n in 0..16 {
        p.add("live/hi", part_gop("live/hi", n, 15)).unwrap();
    }
    assert_eq!(
        p.stream("live/hi")
            .unwrap()
            .status()
            .unwrap()
            .target_duration_s,
        Some(3)
    );
    for n in 0..40 {
        p.add("live/lo", part_gop("live/lo", n, 5)).unwrap();
    }
    let lo = p.stream("live/lo").unwrap();
    assert_eq!(lo.status().unwrap().target_duration_s, Some(3));
    let text = text(&lo.playlist().unwrap().full.plain);
    assert!(text.contains("#EXT-X-TARGETDURATION:3\n"), "{text}");
    // It joined `hi`'s timeline too: its segments are cut at the first of its key frames on
    // each line of the group's 3 s grid, so they line up with `hi`'s.
    assert!(text.contains("#EXTINF:3.00000,"), "{text}");
    assert!(!text.contains("#EXTINF:2.00000,"), "{text}");
    // A stream of another group measures its own.
    for n in 0..12 {
        p.add("cam1", part_gop("cam1", n, 5)).unwrap();
    }
    assert_eq!(
        p.stream("cam1")
            .unwrap()
            .status()
            .unwrap()
            .target_duration_s,
        Some(2)
    );
}

/// `msn → (PROGRAM-DATE-TIME, EXTINF)` of the complete segments a full playlist lists.
fn dated_segments(text: &str) -> std::collections::BTreeMap<u64, (String, String)> {
    let mut msn: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .unwrap()
        .parse()
        .unwrap();
    let (mut out, mut date, mut extinf) = (std::collections::BTreeMap::new(), None, None);
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            date = Some(d.to_owned());
        } else if let Some(d) = line.strip_prefix("#EXTINF:") {
            extinf = Some(d.to_owned());
        } else if line.starts_with('s') && line.ends_with(".mp4") {
            out.insert(msn, (date.take().unwrap(), extinf.take().unwrap()));
            msn += 1;
        }
    }
    out
}

/// [`dated_segments`] of `stream`'s newest full playlist.
fn dated(p: &Playlists, stream: &str) -> std::collections::BTreeMap<u64, (String, String)> {
    dated_segments(&text(
        &p.stream(stream).unwrap().playlist().unwrap().full.plain,
    ))
}

/// Part `n` of `stream` (1 s GOP) whose encoder's clock reads `clock_ms` at its decode time 0.
fn part_clocked(stream: &str, n: u64, clock_ms: u64) -> Part {
    let mut p = part(stream, n);
    p.timing.wallclock_ms = Some(clock_ms + n * PART_MS);
    p
}

#[test]
fn renditions_starting_together_carry_the_same_dates_whatever_their_clocks() {
    let p = Playlists::new(measured()).unwrap();
    // Two encoders with the same timestamps whose clocks differ by 4 ms.
    for n in 0..60 {
        p.add("live/hi", part_clocked("live/hi", n, START_MS))
            .unwrap();
        p.add("live/lo", part_clocked("live/lo", n, START_MS + 4))
            .unwrap();
    }
    let hi = dated(&p, "live/hi");
    let lo = dated(&p, "live/lo");
    assert!(hi.len() >= 5, "{hi:?}");
    assert_eq!(
        hi, lo,
        "the same numbers, dates and durations in both renditions"
    );
}

#[test]
fn a_rendition_starting_mid_segment_lines_up_from_its_second_segment() {
    let p = Playlists::new(measured()).unwrap();
    for n in 0..15 {
        p.add("live/hi", part_clocked("live/hi", n, START_MS))
            .unwrap();
    }
    // `lo` starts at the key frame at 3 s, in the middle of `hi`'s segment 1 (2–4 s), with a
    // clock 1.234 s off.
    for n in 15..70 {
        p.add("live/hi", part_clocked("live/hi", n, START_MS))
            .unwrap();
        p.add("live/lo", part_clocked("live/lo", n, START_MS + 1234))
            .unwrap();
    }
    let lo_stream = p.stream("live/lo").unwrap();
    let hi = dated(&p, "live/hi");
    let lo = dated(&p, "live/lo");
    // Its first segment is the rest of cell 1: numbered 1, dated from the group's clock.
    let (first_msn, (first_date, first_extinf)) = lo.iter().next().unwrap();
    assert_eq!(*first_msn, 1);
    assert_eq!(first_extinf, "1.00000,");
    assert_eq!(
        first_date, "2023-11-14T22:13:23.000Z",
        "3 s after hi's start"
    );
    assert!(lo.len() >= 5, "{lo:?}");
    for (msn, seg) in lo.iter().skip(1) {
        assert_eq!(Some(seg), hi.get(msn), "segment {msn}");
    }
    assert_eq!(lo_stream.status().unwrap().anomalies, Default::default());
}

#[test]
fn a_rendition_whose_timestamps_disagree_is_shifted_onto_the_group_clock() {
    let p = Playlists::new(measured()).unwrap();
    for n in 0..150 {
        p.add("live/hi", part_clocked("live/hi", n, START_MS))
            .unwrap();
    }
    // `lo`'s encoder starts its timestamps at 0 while `hi` is at 30 s.
    for n in 0..60 {
        p.add("live/hi", part_clocked("live/hi", 150 + n, START_MS))
            .unwrap();
        p.add("live/lo", part_clocked("live/lo", n, START_MS + 30_000))
            .unwrap();
    }
    let hi = dated(&p, "live/hi");
    let lo = dated(&p, "live/lo");
    // Shifted by the 30 s measured at joining (its parts are published in step with hi's),
    // its key frames fall on the grid: the same segments.
    assert!(lo.len() >= 5, "{lo:?}");
    for (msn, seg) in lo.iter().skip(1) {
        assert_eq!(Some(seg), hi.get(msn), "segment {msn}");
    }
}

/// docs/conformance.md R34: a stream that ends (its encoder gone past the grace period) and
/// starts again under its name, as after an origin restart, numbers its segments, parts and
/// init sections above everything the previous run served, so neither a player's next reload
/// nor a cached URI lands on older media.
#[test]
fn rule_34_a_stream_ended_and_started_again_numbers_above_what_was_served() {
    let opts = Options {
        numbering: playlists::Numbering::default(),
        ..options()
    };
    let p = Playlists::new(opts).unwrap();
    let dated = |n: u64, start_ms: u64| {
        let mut part = part("cam1", n);
        part.timing.wallclock_ms = Some(start_ms);
        part
    };
    // One minute of 200 ms parts, 1 s segments.
    for n in 0..300 {
        p.add("cam1", dated(n, START_MS)).unwrap();
    }
    let cam1 = p.stream("cam1").unwrap();
    let before = text(&cam1.playlist().unwrap().full.plain);
    p.fin("cam1").unwrap();
    // The encoder comes back at once, its timestamps from 0 again, dated by the wall clock.
    for n in 0..12 {
        p.add("cam1", dated(n, START_MS + 60_000)).unwrap();
    }
    let cam1 = p.stream("cam1").unwrap();
    let after = text(&cam1.playlist().unwrap().full.plain);
    let number = |text: &str, tag: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(tag))
            .unwrap_or_else(|| panic!("no {tag} in\n{text}"))
            .parse()
            .unwrap()
    };
    let last_msn = |text: &str| {
        number(text, "#EXT-X-MEDIA-SEQUENCE:") + text.matches("#EXTINF:").count() as u64
    };
    assert!(number(&after, "#EXT-X-MEDIA-SEQUENCE:") > last_msn(&before));
    let parts = |text: &str| -> Vec<u64> {
        text.lines()
            .filter_map(|l| l.strip_prefix("#EXT-X-PART:"))
            .filter_map(|l| l.split("URI=\"p").nth(1)?.split('.').next()?.parse().ok())
            .collect()
    };
    let last_part = *parts(&before).last().unwrap();
    let first_part_after = parts(&after)[0];
    assert!(
        first_part_after > last_part,
        "part p{first_part_after} after p{last_part}"
    );
    // The init section too is named per run, whatever its bytes.
    let map = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("#EXT-X-MAP:"))
            .map(str::to_owned)
    };
    assert_ne!(map(&before), map(&after));
}

/// A query naming the stream it was asked for.
#[derive(Debug)]
struct StreamQuery;

impl playlists::UriQuery for StreamQuery {
    fn query(&self, stream: &str) -> Option<String> {
        Some(format!("s={}", stream.replace('/', "-")))
    }
}

#[test]
fn a_uri_query_is_in_every_uri_of_the_cached_versions_full_and_delta() {
    // A window longer than the Skip Boundary (6 × TD = 12 s), so that there is a delta.
    let opts = Options {
        max_segments: 24,
        ..options()
    };
    let p = Playlists::new(opts)
        .unwrap()
        .with_uri_query(Arc::new(StreamQuery));
    // `b` first, so that `a`'s versions report it.
    publish(&p, "live/b", 0..100);
    publish(&p, "live/a", 0..100);
    let a = p.stream("live/a").unwrap().playlist().unwrap();
    let full = text(&a.full.plain);
    let uri_lines = full.lines().filter(|l| !l.starts_with('#')).count();
    assert!(uri_lines > 0, "{full}");
    for line in full.lines() {
        let report = line.starts_with("#EXT-X-RENDITION-REPORT:");
        if !report && (!line.starts_with('#') || line.contains("URI=\"")) {
            assert!(line.contains("?s=live-a"), "{line}");
        }
    }
    // Rendition reports name the other playlist as it is.
    assert!(
        full.contains("#EXT-X-RENDITION-REPORT:URI=\"../b/index.m3u8\","),
        "{full}"
    );
    let delta = text(
        &a.delta
            .as_ref()
            .expect("20 s of segments reach past the Skip Boundary")
            .plain,
    );
    assert!(delta.contains("#EXT-X-SKIP:"), "{delta}");
    assert!(delta.contains("?s=live-a\""), "{delta}");
    // The gzip is of the same text.
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&a.full.gzip[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, full);
    // Multivariant playlists are the caller's to rewrite.
    let master = text(&p.multivariant("live").unwrap().plain);
    assert!(!master.contains('?'), "{master}");
}

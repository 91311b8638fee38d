//! Renditions of a group through the registry: one SERVER-CONTROL for all
//! (App. B.1 [docs/conformance.md R26], §6.2.4), rendition reports as up to date as the playlist
//! carrying them (§4.4.5.4), the same bytes whatever order the renditions registered in, and what
//! the multivariant playlist claims.

use bytes::Bytes;
use playlists::{AudioTrack, Error, Init, Options, Part, PartPosition, PartTiming, Playlists};

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
        // Numbered from 0, so that tests name positions (docs/conformance.md R34).
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

/// Part `n`: 200 ms at 1 kHz, a keyframe every fifth part.
fn part(stream: &str, n: u64) -> Part {
    Part {
        bytes: Bytes::from(format!("{stream}:{n:08}").repeat(10)),
        init: Some(init(stream)),
        timing: PartTiming {
            duration: 200,
            timescale: 1000,
            decode_time: n * 200,
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

fn server_control(body: &str) -> &str {
    body.lines()
        .find(|l| l.starts_with("#EXT-X-SERVER-CONTROL:"))
        .unwrap()
}

#[test]
fn rule_26_renditions_of_a_group_advertise_one_server_control_and_report_each_other() {
    // Options whose window outlasts the skip boundary, so CAN-SKIP-UNTIL is advertised from
    // the first version on, in both renditions alike (§6.2.4).
    let opts = Options {
        max_segments: 16,
        ..options()
    };
    let p = Playlists::new(opts).unwrap();
    let audio_part = |n: u64| {
        let base = part("live/audio", n);
        Part {
            timing: PartTiming {
                duration: 9600,
                timescale: 48_000,
                decode_time: n * 9600,
                independent: true,
                ..base.timing
            },
            ..base
        }
    };
    let report = |rendition: &str, pos: PartPosition| {
        format!(
            "#EXT-X-RENDITION-REPORT:URI=\"../{rendition}/index.m3u8\",LAST-MSN={},LAST-PART={}\n",
            pos.msn, pos.part
        )
    };
    // A rendition publishes once its first segment has closed (it then knows its place on
    // the group's timeline), and only then is it reported.
    let published = |name: &str| p.stream(name).and_then(|s| s.playlist());
    let mut audio_last = None;
    for n in 0..40 {
        let video_last = p.add("live/720p", part("live/720p", n)).unwrap();
        let video = published("live/720p").map(|v| text(&v.full.plain));
        // Reports are as up to date as the playlist carrying them (§4.4.5.4).
        match (&video, audio_last) {
            (Some(video), Some(pos)) => {
                assert!(video.contains(&report("audio", pos)), "{video}");
            }
            (Some(video), None) => assert!(!video.contains("RENDITION-REPORT"), "{video}"),
            (None, _) => assert!(n < 5, "the first segment closes at part 5"),
        }
        p.add("live/audio", audio_part(n)).unwrap();
        let Some(audio) = published("live/audio").map(|v| text(&v.full.plain)) else {
            assert!(n < 5, "the first segment closes at part 5");
            continue;
        };
        audio_last = p
            .stream("live/audio")
            .and_then(|s| s.status())
            .and_then(|s| s.last);
        let Some(video) = video else { continue };
        assert!(audio.contains(&report("720p", video_last)), "{audio}");
        assert_eq!(server_control(&video), server_control(&audio));
        assert!(server_control(&video).contains("CAN-SKIP-UNTIL=12.000"));
    }
    // 8 s listed, nothing past the Skip Boundary (12 s): no delta update yet, so `_HLS_skip`
    // gets the full playlist. Once a segment is past it, the delta has the same header.
    assert!(p
        .stream("live/720p")
        .unwrap()
        .playlist()
        .unwrap()
        .delta
        .is_none());
    for n in 40..80 {
        p.add("live/720p", part("live/720p", n)).unwrap();
    }
    let v = p.stream("live/720p").unwrap().playlist().unwrap();
    let delta = text(&v.delta.as_ref().unwrap().plain);
    assert!(delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS="), "{delta}");
    assert_eq!(server_control(&delta), server_control(&text(&v.full.plain)));
}

#[test]
fn registries_fed_the_same_group_in_any_registration_order_render_the_same_bytes() {
    let a = Playlists::new(options()).unwrap();
    let b = Playlists::new(options()).unwrap();
    // b registers the renditions in the other order, after an unrelated stream.
    publish(&b, "other", 0..1);
    b.add("live/360p", part("live/360p", 0)).unwrap();
    a.add("live/720p", part("live/720p", 0)).unwrap();
    a.add("live/360p", part("live/360p", 0)).unwrap();
    b.add("live/720p", part("live/720p", 0)).unwrap();
    for n in 1..30 {
        for p in [&a, &b] {
            p.add("live/720p", part("live/720p", n)).unwrap();
            p.add("live/360p", part("live/360p", n)).unwrap();
        }
        for name in ["live/720p", "live/360p"] {
            // Nothing is published before a rendition's first segment closes, on both alike.
            let va = a
                .stream(name)
                .unwrap()
                .playlist()
                .map(|v| v.full.plain.clone());
            let vb = b
                .stream(name)
                .unwrap()
                .playlist()
                .map(|v| v.full.plain.clone());
            assert_eq!(va, vb, "{name} after part {n}");
            assert_eq!(va.is_some(), n >= 5, "{name} after part {n}");
        }
    }
    assert_eq!(
        a.multivariant("live").unwrap().plain,
        b.multivariant("live").unwrap().plain
    );
}

#[test]
fn codecs_that_cannot_be_written_are_refused_and_change_nothing() {
    let p = Playlists::new(options()).unwrap();
    publish(&p, "cam1", 0..3);
    let before = p.stream("cam1").unwrap().playlist().unwrap();
    let mut bad = part("cam1", 3);
    bad.init = Some(Init {
        codecs: "avc1.64001f\",mp4a".to_owned(),
        ..init("other")
    });
    assert!(matches!(p.add("cam1", bad), Err(Error::InvalidPart(_))));
    assert_eq!(p.stream("cam1").unwrap().playlist().unwrap(), before);
    // An empty codecs string is allowed: the multivariant playlist then omits CODECS.
    let mut silent = part("cam2", 0);
    silent.init = Some(Init {
        codecs: String::new(),
        ..init("cam2")
    });
    p.add("cam2", silent).unwrap();
    let master = text(&p.multivariant("cam2").unwrap().plain);
    assert!(!master.contains("CODECS"), "{master}");
}

#[test]
fn a_gop_longer_than_the_target_duration_shows_in_the_status_and_the_multivariant_playlist() {
    let p = Playlists::new(options()).unwrap();
    for n in 0..40 {
        // A keyframe every 4 s with TD 2: segments are cut between keyframes.
        p.add("cam1", {
            let base = part("cam1", n);
            Part {
                timing: PartTiming {
                    independent: n % 20 == 0,
                    ..base.timing
                },
                ..base
            }
        })
        .unwrap();
    }
    let status = p.stream("cam1").unwrap().status().unwrap();
    assert!(status.anomalies.forced_cuts > 0, "{status:?}");
    assert!(!status.independent_segments);
    let master = text(&p.multivariant("cam1").unwrap().plain);
    assert!(!master.contains("INDEPENDENT-SEGMENTS"), "{master}");
    // A well-behaved stream claims it.
    publish(&p, "cam2", 0..12);
    let master = text(&p.multivariant("cam2").unwrap().plain);
    assert!(
        master.starts_with("#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n"),
        "{master}"
    );
}

/// A part of `stream` whose init section says what the stream carries.
fn part_of(stream: &str, n: u64, video: bool, audio: Option<AudioTrack>) -> Part {
    let codecs = match (video, &audio) {
        (true, Some(_)) => "avc1.64001f,mp4a.40.2",
        (true, None) => "avc1.64001f",
        (false, _) => "mp4a.40.2",
    };
    let base = part(stream, n);
    Part {
        init: Some(Init {
            codecs: codecs.to_owned(),
            resolution: video.then_some((640, 360)),
            frame_rate: video.then_some(30.0),
            video,
            audio,
            ..init(stream)
        }),
        ..base
    }
}

fn track(language: &str) -> Option<AudioTrack> {
    Some(AudioTrack {
        language: Some(language.to_owned()),
        channels: Some(2),
    })
}

#[test]
fn audio_only_streams_beside_silent_video_become_the_variants_audio_renditions() {
    let opts = Options {
        num_playlists: 4,
        ..options()
    };
    let p = Playlists::new(opts).unwrap();
    for n in 0..12 {
        p.add("live/video", part_of("live/video", n, true, None))
            .unwrap();
        p.add(
            "live/audio_fr",
            part_of("live/audio_fr", n, false, track("fr")),
        )
        .unwrap();
        p.add(
            "live/audio_en",
            part_of("live/audio_en", n, false, track("en")),
        )
        .unwrap();
    }
    let master = text(&p.multivariant("live").unwrap().plain);
    let bps = |name: &str| {
        let s = p.stream(name).unwrap().status().unwrap();
        (s.peak_bps.max(s.average_bps), s.average_bps)
    };
    let (video_peak, video_avg) = bps("live/video");
    let (en_peak, en_avg) = bps("live/audio_en");
    let (fr_peak, fr_avg) = bps("live/audio_fr");
    assert!(video_peak > 0 && en_peak > 0, "{master}");
    assert_eq!(
        master,
        format!(
            "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio_en\",LANGUAGE=\"en\",\
             DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio_en/index.m3u8\"\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio_fr\",LANGUAGE=\"fr\",\
             DEFAULT=NO,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio_fr/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},\
             CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=30.000,\
             AUDIO=\"audio\"\nvideo/index.m3u8\n",
            video_peak + en_peak.max(fr_peak),
            video_avg + en_avg.max(fr_avg),
        )
    );
    // Every playlist of the group reports every other (§4.4.5.4).
    let en = text(
        &p.stream("live/audio_en")
            .unwrap()
            .playlist()
            .unwrap()
            .full
            .plain,
    );
    for other in ["../audio_fr/", "../video/"] {
        assert!(en.contains(other), "{en}");
    }
}

#[test]
fn audio_only_streams_stay_variants_where_no_variant_lacks_sound() {
    let p = Playlists::new(options()).unwrap();
    for n in 0..12 {
        // A ladder of a muxed variant and an audio-only one (a radio fallback)...
        p.add("tv/hd", part_of("tv/hd", n, true, track("en")))
            .unwrap();
        p.add("tv/radio", part_of("tv/radio", n, false, track("en")))
            .unwrap();
        // ...and a group of audio only.
        p.add("fm/aac", part_of("fm/aac", n, false, track("en")))
            .unwrap();
    }
    for group in ["tv", "fm"] {
        let master = text(&p.multivariant(group).unwrap().plain);
        assert!(!master.contains("EXT-X-MEDIA"), "{master}");
        assert!(!master.contains("AUDIO="), "{master}");
    }
    let tv = text(&p.multivariant("tv").unwrap().plain);
    assert_eq!(tv.matches("#EXT-X-STREAM-INF").count(), 2, "{tv}");
}

/// Audio part `n` of a rendition: nine AAC frames (192 ms at 48 kHz), every one independent.
fn audio_part(stream: &str, n: u64, language: &str) -> Part {
    let mut part = part_of(stream, n, false, track(language));
    part.timing = PartTiming {
        duration: 9 * 1024,
        timescale: 48_000,
        decode_time: n * 9 * 1024,
        independent: true,
        wallclock_ms: Some(START_MS),
    };
    part
}

/// The start (µs of media time) and date of every complete segment of `name`, by MSN.
fn segment_starts(p: &Playlists, name: &str) -> Vec<(u64, String)> {
    let text = text(&p.stream(name).unwrap().playlist().unwrap().full.plain);
    let mut msn: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .unwrap()
        .parse()
        .unwrap();
    let mut date = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            date = d.to_owned();
        } else if line.starts_with('s') && line.ends_with(".mp4") {
            out.push((msn, date.clone()));
            msn += 1;
        }
    }
    out
}

#[test]
fn audio_started_with_its_video_waits_for_the_videos_segment_grid() {
    // The server's defaults: 1.5 s minimum, measured TARGETDURATION; a 2 s GOP.
    let opts = Options {
        segment_min_ms: 1500,
        target_duration: playlists::TargetDuration::Measured { max_s: 10 },
        ..options()
    };
    let p = Playlists::new(opts).unwrap();
    let video_part = |n: u64| {
        let mut part = part_of("live/video", n, true, None);
        part.timing.independent = n % 10 == 0;
        part
    };
    // 14 s of both, in the order they arrive in real time. The audio's first segment could
    // close at 1.536 s (eight 192 ms parts), before the video's first key frame after 1.5 s
    // (2 s): laid down by the audio, the grid would be 1.536 s and the video's segments up to
    // a GOP off it.
    let (mut v, mut a) = (0u64, 0u64);
    while v < 70 {
        if a * 192_000 <= v * 200_000 {
            p.add("live/audio_en", audio_part("live/audio_en", a, "en"))
                .unwrap();
            a += 1;
        } else {
            p.add("live/video", video_part(v)).unwrap();
            v += 1;
        }
    }
    let video = segment_starts(&p, "live/video");
    let audio = segment_starts(&p, "live/audio_en");
    // The same numbers, dated within one audio part (192 ms) of each other.
    let date_ms = |d: &str| {
        let (secs, ms) = d.trim_end_matches('Z').rsplit_once('.').unwrap();
        let s: u64 = secs.rsplit(':').next().unwrap().parse().unwrap();
        s * 1000 + ms.parse::<u64>().unwrap()
    };
    let mut common = 0;
    for (msn, date) in &video {
        if let Some((_, audio_date)) = audio.iter().find(|(m, _)| m == msn) {
            common += 1;
            assert!(
                date_ms(date).abs_diff(date_ms(audio_date)) < 192,
                "segment {msn}: video {date}, audio {audio_date}"
            );
        }
    }
    assert!(common >= 4, "video {video:?}\naudio {audio:?}");
    let td = |name: &str| p.stream(name).unwrap().status().unwrap().target_duration_s;
    assert_eq!((td("live/video"), td("live/audio_en")), (Some(2), Some(2)));
}

#[test]
fn audio_alone_lays_down_its_own_grid_within_the_target_duration_it_would_measure() {
    let opts = Options {
        segment_min_ms: 1500,
        target_duration: playlists::TargetDuration::Measured { max_s: 10 },
        ..options()
    };
    let p = Playlists::new(opts).unwrap();
    for n in 0..40 {
        p.add("fm/aac", audio_part("fm/aac", n, "en")).unwrap();
    }
    let status = p.stream("fm/aac").unwrap().status().unwrap();
    // It waited past 1.5 s for a sibling, but not beyond what rounds to 2 s (13 parts, 2.496 s).
    assert_eq!(status.target_duration_s, Some(2));
    let text = text(&p.stream("fm/aac").unwrap().playlist().unwrap().full.plain);
    assert!(text.contains("#EXTINF:2.49600,"), "{text}");
}

//! Two encoders feeding renditions of one group (`live/a`, `live/b`): the group's
//! multivariant playlist lists both with the CODECS and RESOLUTION read from their init
//! sections, and each media playlist reports the other (§4.4.5.4 EXT-X-RENDITION-REPORT).

mod common;
mod origin;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::fixture;
use http::StatusCode;
use origin::TestServer;
use playlists::Playlists;
use playlists_server::fmp4::TrackKind;
use playlists_server::ingest::Access;
use playlists_server::ingest::{IngestConfig, Ingests};
use playlists_server::part_store::PartStore;

#[tokio::test]
async fn renditions_of_a_group_carry_their_codecs_and_report_each_other() {
    // The fixtures are 2 s with key frames at 0 and 1 s: 1 s segments, so each rendition's
    // first segment closes (a rendition publishes nothing before).
    let options = playlists::Options {
        segment_min_ms: 1000,
        ..common::fixed_td_options()
    };
    let playlists = Arc::new(Playlists::new(options).unwrap());
    let ingests = Ingests::new(
        Arc::clone(&playlists),
        PartStore::heap(),
        IngestConfig::default(),
    );
    let mut a = ingests.start("live/a", Access::Local).unwrap();
    let mut b = ingests.start("live/b", Access::Local).unwrap();
    let (h264, hevc) = (fixture("h264.mp4"), fixture("hevc.mp4"));
    // Interleave so each publishes while the other is live.
    let cut = h264.len() / 2;
    a.push(h264.slice(..cut)).unwrap();
    b.push(hevc.slice(..hevc.len() / 2)).unwrap();
    a.push(h264.slice(cut..)).unwrap();
    b.push(hevc.slice(hevc.len() / 2..)).unwrap();

    let master = playlists
        .multivariant("live")
        .expect("a group with live renditions");
    let text = String::from_utf8(master.plain.to_vec()).unwrap();
    assert!(text.contains("CODECS=\"avc1.64000d\""), "{text}");
    assert!(text.contains("CODECS=\"hvc1.1.6.L60.90\""), "{text}");
    assert_eq!(text.matches("RESOLUTION=320x180").count(), 2, "{text}");
    assert_eq!(text.matches("FRAME-RATE=30").count(), 2, "{text}");

    let b_playlist = playlists.stream("live/b").unwrap().playlist().unwrap();
    let b_text = String::from_utf8(b_playlist.full.plain.to_vec()).unwrap();
    assert!(
        b_text.contains("#EXT-X-RENDITION-REPORT:URI=\"../a/"),
        "{b_text}"
    );
}

/// `secs` of ffmpeg's live test pattern (keyframe a second, 200 ms fragments, no `prft`),
/// its video in `video_timescale` Hz.
fn encode(secs: u32, video_timescale: u32) -> Bytes {
    encode_with(
        secs,
        &["-video_track_timescale", &video_timescale.to_string()],
    )
}

/// As [`encode`], with `extra` output options (`-an`, `-metadata:s:a:0 language=fra`).
fn encode_with(secs: u32, extra: &[&str]) -> Bytes {
    assert!(
        common::have_ffmpeg(),
        "ffmpeg is needed (scripts/test.sh installs it)"
    );
    let mut args = common::live_encoder_args(secs, false);
    // Before the output's own options (`-f mp4 … pipe:1`).
    let at = args.iter().rposition(|a| a == "-f").unwrap();
    args.splice(at..at, extra.iter().map(|a| (*a).to_owned()));
    let out = Command::new("ffmpeg")
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Bytes::from(out.stdout)
}

#[tokio::test]
async fn audio_only_encoders_beside_a_silent_video_become_its_audio_renditions() {
    let options = playlists::Options {
        segment_min_ms: 1000,
        ..common::fixed_td_options()
    };
    let playlists = Arc::new(Playlists::new(options).unwrap());
    let ingests = Ingests::new(
        Arc::clone(&playlists),
        PartStore::heap(),
        IngestConfig::default(),
    );
    // What a broadcast encoder sends as separate tracks: the picture without sound, and
    // the sound in two languages (ffmpeg writes the language into each track's `mdhd`).
    let video = encode_with(3, &["-an"]);
    let english = encode_with(3, &["-vn", "-ac", "2", "-metadata:s:a:0", "language=eng"]);
    let french = encode_with(3, &["-vn", "-ac", "1", "-metadata:s:a:0", "language=fra"]);
    for (name, bytes) in [
        ("live/video", video),
        ("live/audio_en", english),
        ("live/audio_fr", french),
    ] {
        let mut session = ingests.start(name, Access::Local).unwrap();
        session.push(bytes).unwrap();
    }
    let master = playlists.multivariant("live").unwrap();
    let text = String::from_utf8(master.plain.to_vec()).unwrap();
    assert!(
        text.contains(
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio_en\",LANGUAGE=\"eng\",\
             DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio_en/index.m3u8\"\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio_fr\",LANGUAGE=\"fra\",\
             DEFAULT=NO,AUTOSELECT=YES,CHANNELS=\"1\",URI=\"audio_fr/index.m3u8\"\n"
        ),
        "{text}"
    );
    // One variant, the video, playing its sound from the group, its CODECS covering both.
    assert_eq!(text.matches("#EXT-X-STREAM-INF").count(), 1, "{text}");
    assert!(
        text.contains("CODECS=\"avc1.64000d,mp4a.40.2\",RESOLUTION=320x180"),
        "{text}"
    );
    assert!(
        text.contains(",AUDIO=\"audio\"\nvideo/index.m3u8\n"),
        "{text}"
    );
}

/// Seconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn unix_s(date: &str) -> f64 {
    let (d, t) = date.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = d.split('-').map(|x| x.parse().unwrap()).collect();
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    // Days from the civil date (Howard Hinnant's algorithm), March-based years.
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let t: Vec<f64> = t.split(':').map(|x| x.parse().unwrap()).collect();
    days as f64 * 86_400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}

/// Per segment of `rendition` listed complete: its Media Sequence Number, its date, and the
/// media time (s) of its first video sample as served: the `tfdt` of `s{msn}.mp4` read against
/// the served init section.
async fn served_segments(server: &TestServer, rendition: &str) -> Vec<(u64, f64, f64)> {
    let base = format!("/live/{rendition}");
    let text = server.get(&format!("{base}/index.m3u8")).await.text();
    let map = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|l| l.split('"').next())
        .expect("an EXT-X-MAP");
    let init = server.get(&format!("{base}/{map}")).await.body;
    let mut out = Vec::new();
    let mut date = None;
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            date = Some(unix_s(d));
        }
        let Some(msn) = line.strip_prefix('s').and_then(|l| l.strip_suffix(".mp4")) else {
            continue;
        };
        let msn: u64 = msn.parse().unwrap();
        let segment = server.get(&format!("{base}/{line}")).await;
        assert_eq!(segment.status, StatusCode::OK, "{base}/{line}");
        let mut bytes = init.to_vec();
        bytes.extend_from_slice(&segment.body);
        let (movie, fragments) = common::split(bytes.into());
        let video = movie
            .tracks
            .iter()
            .find(|t| t.kind == TrackKind::Video)
            .unwrap();
        let first = fragments[0]
            .tracks
            .iter()
            .find(|t| t.track_id == video.track_id)
            .unwrap();
        let media_s = first.decode_time as f64 / f64::from(video.timescale);
        out.push((msn, date.expect("a date before every segment"), media_s));
    }
    out
}

#[tokio::test]
async fn renditions_are_restamped_with_one_anchor_per_group() {
    // Two renditions of one encoder timeline (both from 0), their video in different
    // timescales; the second starts 500 ms after the first by the origin's clock, as a second
    // encoder (or output) that starts a little later does. Restamped each on its own clock,
    // the second would be 500 ms off the first for the same content; with the group's
    // anchor both are on the first one's wall clock and the same MSN starts at the same media
    // time.
    const FRAME_S: f64 = 1.0 / 30.0;
    let (hi, lo) = (encode(6, 15360), encode(6, 90000));
    let server = TestServer::start().await; // segments of at least 1 s, TD 1
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let mut a = server.ingests.start("live/hi", Access::Local).unwrap();
    let mut b = server.ingests.start("live/lo", Access::Local).unwrap();
    let chunks = 12;
    let piece = |input: &Bytes, i: usize| {
        let len = input.len().div_ceil(chunks);
        input.slice((i * len).min(input.len())..((i + 1) * len).min(input.len()))
    };
    a.push(piece(&hi, 0)).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..chunks {
        b.push(piece(&lo, i)).unwrap();
        a.push(piece(&hi, i + 1)).unwrap();
    }
    let (hi_segments, lo_segments) = (
        served_segments(&server, "hi").await,
        served_segments(&server, "lo").await,
    );
    let mut compared = 0;
    for (msn, hi_date, hi_media) in &hi_segments {
        // On the wall clock: media time is the date (within a frame), about now.
        assert!((hi_media - started).abs() < 30.0, "hi s{msn}: {hi_media}");
        assert!(
            (hi_media - hi_date).abs() <= FRAME_S,
            "hi s{msn}: {hi_media} vs {hi_date}"
        );
        let Some((_, lo_date, lo_media)) = lo_segments.iter().find(|(m, ..)| m == msn) else {
            continue;
        };
        assert!(
            (lo_media - lo_date).abs() <= FRAME_S,
            "lo s{msn}: {lo_media} vs {lo_date}"
        );
        assert!(
            (lo_media - hi_media).abs() <= FRAME_S,
            "s{msn}: lo starts at {lo_media}, hi at {hi_media}"
        );
        compared += 1;
    }
    assert!(
        compared >= 3,
        "segments listed in both: {hi_segments:?} / {lo_segments:?}"
    );
    a.finish().unwrap();
    b.finish().unwrap();
    server.stop().await;
}

//! The splitter's view of real encoder output (fixtures made by scripts/make-fixtures.sh)
//! against ffprobe's view of the same files: per-part durations, decode times and
//! independence, and the codec strings, resolution and frame rate of the init section.

mod common;

use common::{ffprobe_packets, ffprobe_streams, fixture, fixture_path, split, FIXTURES};
use playlists_server::fmp4::TrackKind;

/// Per fixture: the primary track's ffprobe stream index and the CODECS we expect, derived
/// from ffprobe's profile/level below rather than written down blind.
#[test]
fn parts_match_ffprobe_packets() {
    for name in FIXTURES {
        let (init, fragments) = split(fixture(name));
        let packets = ffprobe_packets(&fixture_path(name));
        // ffprobe numbers streams in moov order, as `init.tracks` is.
        let primary = init.primary;
        let track_id = init.primary_track().track_id;
        let ours: Vec<_> = packets.iter().filter(|p| p.stream == primary).collect();
        let total: u64 = fragments
            .iter()
            .map(|f| {
                f.tracks
                    .iter()
                    .find(|t| t.track_id == track_id)
                    .map_or(0, |t| t.sample_count)
            })
            .sum();
        assert_eq!(total, ours.len() as u64, "{name}: sample count vs packets");
        assert!(
            fragments.len() >= 8,
            "{name}: {} fragments",
            fragments.len()
        );

        let mut index = 0usize;
        for (i, f) in fragments.iter().enumerate() {
            // The muxed fixture ends with the audio that outlasts the video: a part without
            // primary samples, timed by the audio (checked in the unit tests).
            let Some(run) = f.tracks.iter().find(|t| t.track_id == track_id) else {
                assert_eq!(
                    i,
                    fragments.len() - 1,
                    "{name}: part {i} lacks the primary track"
                );
                continue;
            };
            let first = ours[index];
            let n = run.sample_count as usize;
            // Decode times relative to the first packet (an edit list may shift ffprobe's).
            assert_eq!(
                f.timing.decode_time as i64 - fragments[0].timing.decode_time as i64,
                first.dts - ours[0].dts,
                "{name}: part {i} decode time"
            );
            assert_eq!(
                f.timing.independent, first.key,
                "{name}: part {i} independence"
            );
            // Durations: ffprobe's packet durations, or the dts steps where it prints N/A.
            let mut expected = 0u64;
            let mut known = true;
            for j in index..index + n {
                match (ours[j].duration, ours.get(j + 1)) {
                    (Some(d), _) => expected += d,
                    (None, Some(next)) => expected += (next.dts - ours[j].dts) as u64,
                    (None, None) => known = false,
                }
            }
            if known {
                assert_eq!(f.timing.duration, expected, "{name}: part {i} duration");
            }
            index += n;
        }
        // Keyframes every 30 frames at 200 ms parts: every fifth part is independent.
        if init.primary_track().kind == TrackKind::Video {
            let independent: Vec<usize> = fragments
                .iter()
                .enumerate()
                .filter(|(_, f)| f.timing.independent)
                .map(|(i, _)| i)
                .collect();
            assert_eq!(independent, [0, 5], "{name}");
        } else {
            assert!(
                fragments.iter().all(|f| f.timing.independent),
                "{name}: audio parts"
            );
        }
    }
}

fn h264_profile(name: &str) -> u8 {
    match name {
        "Baseline" | "Constrained Baseline" => 66,
        "Main" => 77,
        "High" => 100,
        other => panic!("unmapped H.264 profile {other}"),
    }
}

#[test]
fn init_sections_match_ffprobe_streams() {
    for name in FIXTURES {
        let (init, fragments) = split(fixture(name));
        let streams = ffprobe_streams(&fixture_path(name));
        assert_eq!(streams.len(), init.tracks.len(), "{name}");
        for (track, s) in init.tracks.iter().zip(&streams) {
            let tb = format!("1/{}", track.timescale);
            assert_eq!(s.time_base, tb, "{name}: timescale");
            let codec = &track.codec;
            match s.codec_name.as_str() {
                "h264" => {
                    let p = h264_profile(&s.profile);
                    assert!(
                        codec.starts_with(&format!("avc1.{p:02x}")),
                        "{name}: {codec}"
                    );
                    assert!(
                        codec.ends_with(&format!("{:02x}", s.level)),
                        "{name}: {codec}"
                    );
                    assert_eq!(codec.len(), "avc1.PPCCLL".len());
                }
                "hevc" => {
                    assert_eq!(s.profile, "Main");
                    assert!(codec.starts_with("hvc1.1."), "{name}: {codec}");
                    assert!(codec.contains(&format!(".L{}", s.level)), "{name}: {codec}");
                }
                "av1" => {
                    assert_eq!(s.profile, "Main");
                    assert_eq!(codec, &format!("av01.0.{:02}M.08", s.level), "{name}");
                }
                "aac" => {
                    assert_eq!(s.profile, "LC");
                    assert_eq!(codec, "mp4a.40.2", "{name}");
                }
                "opus" => assert_eq!(codec, "Opus", "{name}"),
                other => panic!("{name}: unexpected codec {other}"),
            }
            if track.kind == TrackKind::Video {
                assert_eq!(track.resolution, Some((s.width, s.height)), "{name}");
            }
        }
        if init.primary_track().kind == TrackKind::Video {
            assert_eq!(init.init.resolution, init.primary_track().resolution);
            // ffprobe's r_frame_rate against the rate measured on the first fragment.
            let (num, den) = init_rate(&streams[init.primary].r_frame_rate);
            let measured = init
                .init
                .frame_rate
                .or_else(|| fragments[0].frame_rate(&init));
            assert_eq!(measured, Some(num / den), "{name}");
        }
    }
    let (muxed, _) = split(fixture("h264_aac.mp4"));
    assert_eq!(
        muxed.init.codecs,
        format!("{},mp4a.40.2", muxed.tracks[0].codec)
    );
}

fn init_rate(r: &str) -> (f64, f64) {
    let (n, d) = r.split_once('/').unwrap();
    (n.parse().unwrap(), d.parse().unwrap())
}

#[test]
fn prft_gives_a_plausible_wallclock() {
    let (_, fragments) = split(fixture("h264.mp4"));
    // Written by ffmpeg's -write_prft wallclock when the fixture was made: after 2020, and
    // advancing with the media (wall-clock encoding runs faster than real time, so not equal).
    let first = fragments[0]
        .timing
        .wallclock_ms
        .expect("prft before every moof");
    assert!(first > 1_577_836_800_000, "{first}");
    for f in &fragments {
        assert!(f.timing.wallclock_ms.is_some_and(|w| w >= first));
    }
}

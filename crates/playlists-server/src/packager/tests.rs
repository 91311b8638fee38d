//! The packager end to end: FLV files written by ffmpeg pushed tag by tag, the output read
//! back with the repo's own fMP4 splitter and with ffprobe.

use std::path::Path;
use std::process::Command;

use bytes::Bytes;

use super::*;
use crate::fmp4::{split_all, Fragment, Limits, Unit};

/// One FLV tag of a file: type (8 audio, 9 video, 18 script), timestamp, body.
#[derive(Debug, Clone)]
struct Tag {
    kind: u8,
    timestamp: u32,
    body: Bytes,
}

/// Reads an FLV file (video_file_format_spec_v10_1 Annex E.2/E.3): a 9-byte header, the
/// 4-byte PreviousTagSize0, then tags of an 11-byte header, the body and a 4-byte
/// PreviousTagSize. Test-only; the RTMP source gets the bodies as messages.
fn read_flv(file: &[u8]) -> Vec<Tag> {
    assert_eq!(&file[..3], b"FLV", "not an FLV file");
    let header = u32::from_be_bytes(file[5..9].try_into().unwrap()) as usize;
    let mut pos = header + 4;
    let mut tags = Vec::new();
    while pos + 11 <= file.len() {
        let h = &file[pos..pos + 11];
        let size = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
        let timestamp = (u32::from(h[7]) << 24)
            | (u32::from(h[4]) << 16)
            | (u32::from(h[5]) << 8)
            | u32::from(h[6]);
        let body = Bytes::copy_from_slice(&file[pos + 11..pos + 11 + size]);
        tags.push(Tag {
            kind: h[0] & 0x1f,
            timestamp,
            body,
        });
        pos += 11 + size + 4;
    }
    tags
}

const BASE_UNIX_MS: u64 = 1_700_000_000_000;

fn package(tags: &[Tag], config: PackagerConfig) -> Vec<Bytes> {
    let mut p = Packager::new(config);
    let mut out = Vec::new();
    for tag in tags {
        let now = BASE_UNIX_MS + u64::from(tag.timestamp) + 5;
        match tag.kind {
            8 => p.push_audio(tag.timestamp, tag.body.clone(), now).unwrap(),
            9 => p.push_video(tag.timestamp, tag.body.clone(), now).unwrap(),
            _ => {}
        }
        out.extend(p.take_output());
    }
    p.finish().unwrap();
    out.extend(p.take_output());
    out
}

fn ffmpeg_available() -> bool {
    Command::new("ffmpeg").arg("-version").output().is_ok()
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (codec_type, frames read, start_time) per stream, from ffprobe.
fn ffprobe(path: &Path) -> Vec<(String, u64, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .arg("stream=codec_type,nb_read_frames,start_time")
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut streams: Vec<_> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_owned(),
                f[2].parse().unwrap(),
                f[1].parse().unwrap_or(0.0),
            )
        })
        .collect();
    streams.sort_by(|a, b| a.0.cmp(&b.0));
    streams
}

fn fragments(units: &[Unit]) -> Vec<&Fragment> {
    units
        .iter()
        .filter_map(|u| match u {
            Unit::Fragment(f) => Some(f),
            Unit::Init(_) => None,
        })
        .collect()
}

#[test]
fn h264_with_b_frames_and_aac_from_an_ffmpeg_flv_round_trip() {
    if !ffmpeg_available() {
        eprintln!("ffmpeg missing: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let flv = dir.path().join("in.flv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-bf",
        "2",
        "-g",
        "30",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-f",
        "flv",
        flv.to_str().unwrap(),
    ]);
    let tags = read_flv(&std::fs::read(&flv).unwrap());
    let video_frames: Vec<(u32, bool, i32)> = tags
        .iter()
        .filter(|t| t.kind == 9)
        .filter_map(|t| match flv::parse_video(&t.body).unwrap() {
            VideoTag::Frame {
                key,
                composition_ms,
                ..
            } => Some((t.timestamp, key, composition_ms)),
            _ => None,
        })
        .collect();
    let audio_frames = tags
        .iter()
        .filter(|t| t.kind == 8)
        .filter(|t| matches!(flv::parse_audio(&t.body).unwrap(), AudioTag::Frame { .. }))
        .count();
    assert!(
        video_frames.iter().any(|f| f.2 > 0),
        "no B-frames in the input"
    );
    let config = PackagerConfig::default();
    let out = package(&tags, config.clone());
    // Deterministic: the same input gives the same bytes.
    assert_eq!(out, package(&tags, config));

    let stream = Bytes::from(out.concat());
    let units = split_all(stream.clone(), Limits::default()).unwrap();
    let Unit::Init(movie) = &units[0] else {
        panic!("no init section first")
    };
    assert_eq!(movie.init.codecs, "avc1.64000d,mp4a.40.2");
    assert_eq!(movie.init.resolution, Some((320, 240)));
    assert_eq!(
        units.iter().filter(|u| matches!(u, Unit::Init(_))).count(),
        1
    );
    let parts = fragments(&units);
    let sum = |id: u32| -> u64 {
        parts
            .iter()
            .flat_map(|f| f.tracks.iter())
            .filter(|t| t.track_id == id)
            .map(|t| t.sample_count)
            .sum()
    };
    assert_eq!(sum(1), video_frames.len() as u64);
    assert_eq!(sum(2), audio_frames as u64);
    let keys = video_frames.iter().filter(|f| f.1).count();
    let independent = parts.iter().filter(|f| f.timing.independent).count();
    assert_eq!(
        independent, keys,
        "every key frame starts a part, no other does"
    );
    let mut next_decode = 0;
    for f in &parts {
        assert!(
            f.timing.duration <= 18_000,
            "part of {} ticks",
            f.timing.duration
        );
        assert_eq!(f.timing.decode_time, next_decode);
        next_decode = f.timing.decode_time + f.timing.duration;
        // prft: the anchor (first frame received 5 ms after its timestamp) plus media time.
        assert_eq!(
            f.timing.wallclock_ms,
            Some(BASE_UNIX_MS + 5 + f.timing.decode_time / 90)
        );
    }
    // Video durations are the DTS differences: the timeline ends one frame after the last,
    // which gets the duration of the one before.
    let dts = |i: usize| u64::from(video_frames[video_frames.len() - i].0) * 90;
    assert_eq!(next_decode, dts(1) + (dts(1) - dts(2)));

    let mp4 = dir.path().join("out.mp4");
    std::fs::write(&mp4, &stream).unwrap();
    let (source, packaged) = (ffprobe(&flv), ffprobe(&mp4));
    eprintln!("ffprobe flv: {source:?}\nffprobe packaged: {packaged:?}");
    assert_eq!(packaged.len(), 2);
    for (s, p) in source.iter().zip(&packaged) {
        assert_eq!(s.0, p.0);
        assert_eq!(s.1, p.1, "{} frames", s.0);
        assert!(
            (s.2 - p.2).abs() <= 0.034,
            "{} start {} vs {}",
            s.0,
            s.2,
            p.2
        );
    }
}

#[test]
fn audio_only_parts_are_cut_by_audio_time() {
    let mut p = Packager::new(PackagerConfig::default());
    p.push_audio(0, Bytes::from_static(&[0xaf, 0, 0x11, 0x90]), 10)
        .unwrap(); // AAC LC 48 kHz stereo
    for i in 0..100u32 {
        let ts = i * 1024 * 1000 / 48_000;
        p.push_audio(
            ts,
            Bytes::from_static(&[0xaf, 1, 1, 2, 3]),
            10 + u64::from(ts),
        )
        .unwrap();
    }
    p.finish().unwrap();
    let units = split_all(Bytes::from(p.take_output().concat()), Limits::default()).unwrap();
    let parts = fragments(&units);
    let samples: u64 = parts.iter().map(|f| f.tracks[0].sample_count).sum();
    assert_eq!(samples, 100);
    let mut next = 0;
    for f in &parts {
        assert!(f.timing.independent);
        assert!(f.timing.duration <= 9_600, "{}", f.timing.duration);
        assert_eq!(f.timing.decode_time, next);
        next += f.timing.duration;
    }
    assert_eq!(next, 102_400);
}

#[test]
fn errors_spend_the_packager() {
    let config = PackagerConfig {
        max_frame_bytes: 4,
        ..Default::default()
    };
    let mut p = Packager::new(config);
    assert!(matches!(
        p.push_video(0, Bytes::from_static(&[0x17, 1, 0, 0, 0, 1]), 0),
        Err(PackagerError::FrameTooLarge { len: 6, .. })
    ));
    assert_eq!(
        p.push_video(0, Bytes::from_static(&[0x17]), 0),
        Err(PackagerError::Spent)
    );
    let mut p = Packager::new(PackagerConfig::default());
    assert!(matches!(
        p.push_video(0, Bytes::from_static(&[0x12, 0]), 0),
        Err(PackagerError::Unsupported { .. })
    ));
    assert_eq!(p.finish(), Err(PackagerError::Spent));
}

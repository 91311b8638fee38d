//! The packager end to end: FLV files written by ffmpeg pushed tag by tag, the output read
//! back with the repo's own fMP4 splitter and with ffprobe.

use std::path::Path;

use bytes::Bytes;

use super::testutil::*;
use super::*;
use crate::fmp4::{split_all, Fragment, Limits, Unit};

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

/// Packages the messages of `tracks` (from a plain MP4 file ffmpeg wrote at `source`) and
/// checks the output against them: sample counts, one independent part per video sync
/// sample, parts within the target, and what ffprobe reads.
fn round_trip_mp4(source: &std::path::Path, codecs_prefix: &str) {
    let tracks = read_mp4(&std::fs::read(source).unwrap());
    let tags = interleave(tracks.iter().map(enhanced_messages).collect());
    let config = PackagerConfig::default();
    let out = package(&tags, config.clone());
    assert_eq!(out, package(&tags, config));
    let stream = Bytes::from(out.concat());
    let units = split_all(stream.clone(), Limits::default()).unwrap();
    let Unit::Init(movie) = &units[0] else {
        panic!("no init section first")
    };
    assert!(
        movie.init.codecs.starts_with(codecs_prefix),
        "{}",
        movie.init.codecs
    );
    assert_eq!(
        units.iter().filter(|u| matches!(u, Unit::Init(_))).count(),
        1
    );
    let parts = fragments(&units);
    for (i, track) in tracks.iter().enumerate() {
        let packaged: u64 = parts
            .iter()
            .flat_map(|f| f.tracks.iter())
            .filter(|t| t.track_id == movie.tracks[i].track_id)
            .map(|t| t.sample_count)
            .sum();
        assert_eq!(packaged, track.samples.len() as u64, "track {i}");
    }
    let video = tracks
        .iter()
        .find(|t| matches!(t.codec, mp4_atom::Codec::Hvc1(_) | mp4_atom::Codec::Av01(_)));
    let target = |ts: u32| u64::from(ts) / 5;
    for f in &parts {
        assert!(
            f.timing.duration <= target(f.timing.timescale),
            "{:?}",
            f.timing
        );
    }
    match video {
        Some(v) => {
            let syncs = v.samples.iter().filter(|s| s.sync).count();
            assert_eq!(parts.iter().filter(|f| f.timing.independent).count(), syncs);
            let (w, h) = movie.init.resolution.expect("RESOLUTION");
            assert_eq!((w, h), (320, 240));
        }
        None => assert!(parts.iter().all(|f| f.timing.independent)),
    }
    let out_path = source.with_extension("packaged.mp4");
    std::fs::write(&out_path, &stream).unwrap();
    let (source, packaged) = (ffprobe(source), ffprobe(&out_path));
    eprintln!("ffprobe source: {source:?}\nffprobe packaged: {packaged:?}");
    assert_eq!(source.len(), packaged.len());
    for (s, p) in source.iter().zip(&packaged) {
        assert_eq!((&s.0, s.1), (&p.0, p.1));
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
fn hevc_with_b_frames_over_enhanced_rtmp_round_trip() {
    if !ffmpeg_available() {
        eprintln!("ffmpeg missing: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mp4 = dir.path().join("hevc.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=30",
        "-t",
        "2",
        "-c:v",
        "libx265",
        "-x265-params",
        "bframes=2:keyint=30:min-keyint=30:scenecut=0:log-level=error",
        "-tag:v",
        "hvc1",
        "-pix_fmt",
        "yuv420p",
        mp4.to_str().unwrap(),
    ]);
    round_trip_mp4(&mp4, "hvc1.");
}

#[test]
fn av1_and_opus_over_enhanced_rtmp_round_trip() {
    if !ffmpeg_available() {
        eprintln!("ffmpeg missing: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mp4 = dir.path().join("av1.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "2",
        "-c:v",
        "libaom-av1",
        "-cpu-used",
        "8",
        "-g",
        "30",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "libopus",
        mp4.to_str().unwrap(),
    ]);
    round_trip_mp4(&mp4, "av01.");
}

#[test]
fn opus_alone_is_an_audio_only_stream() {
    if !ffmpeg_available() {
        eprintln!("ffmpeg missing: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mp4 = dir.path().join("opus.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "2",
        "-c:a",
        "libopus",
        mp4.to_str().unwrap(),
    ]);
    round_trip_mp4(&mp4, "Opus");
}

/// A synthetic H.264 stream: a real x264 SPS/PPS, and frames whose payload is one byte.
mod synthetic {
    use super::*;

    const SPS: [u8; 25] = [
        0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60,
    ];
    const PPS: [u8; 6] = [0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];

    /// The legacy AVC sequence header, with `level` as the avcC's level byte (to make a
    /// changed configuration).
    pub fn avc_header(level: u8) -> Bytes {
        let mut b = vec![0x17, 0, 0, 0, 0, 1, 0x64, 0x00, level, 0xff, 0xe1, 0, 25];
        b.extend(SPS);
        b.extend([1, 0, 6]);
        b.extend(PPS);
        Bytes::from(b)
    }

    pub fn avc_frame(key: bool, cts_ms: i32) -> Bytes {
        let mut b = vec![if key { 0x17 } else { 0x27 }, 1];
        b.extend_from_slice(&cts_ms.to_be_bytes()[1..]);
        b.extend([0, 0, 0, 1, 0x65]);
        Bytes::from(b)
    }

    /// AAC LC, 48 kHz, stereo.
    pub fn aac_header() -> Bytes {
        Bytes::from_static(&[0xaf, 0, 0x11, 0x90])
    }

    pub fn aac_frame() -> Bytes {
        Bytes::from_static(&[0xaf, 1, 0x21, 0x10])
    }

    pub fn units(p: &mut Packager) -> Vec<Unit> {
        p.finish().unwrap();
        split_all(Bytes::from(p.take_output().concat()), Limits::default()).unwrap()
    }

    pub fn inits(units: &[Unit]) -> usize {
        units.iter().filter(|u| matches!(u, Unit::Init(_))).count()
    }
}

use synthetic::*;

/// Video at 25 fps from `from_ms`, a key frame every `gop` frames, `n` frames.
fn push_gops(p: &mut Packager, from_ms: u32, n: u32, gop: u32) {
    for i in 0..n {
        let ts = from_ms.wrapping_add(i * 40);
        p.push_video(ts, avc_frame(i % gop == 0, 0), 1_000 + u64::from(i) * 40)
            .unwrap();
    }
}

#[test]
fn frames_before_the_first_key_frame_are_dropped() {
    let mut p = Packager::new(PackagerConfig::default());
    p.push_video(0, avc_header(0x0d), 0).unwrap();
    p.push_video(0, avc_frame(false, 0), 0).unwrap();
    p.push_video(40, avc_frame(false, 0), 0).unwrap();
    push_gops(&mut p, 80, 10, 100);
    let units = units(&mut p);
    let parts = fragments(&units);
    assert_eq!(parts[0].timing.decode_time, 80 * 90);
    assert!(parts[0].timing.independent);
    let total: u64 = parts.iter().map(|f| f.tracks[0].sample_count).sum();
    assert_eq!(total, 10);
}

#[test]
fn timestamps_continue_across_the_32_bit_wrap() {
    let mut p = Packager::new(PackagerConfig::default());
    p.push_video(0, avc_header(0x0d), 0).unwrap();
    push_gops(&mut p, u32::MAX - 399, 30, 10);
    let units = units(&mut p);
    let mut next = (u64::from(u32::MAX) - 399) * 90;
    for f in fragments(&units) {
        assert_eq!(f.timing.decode_time, next);
        next += f.timing.duration;
    }
    assert_eq!(next, (u64::from(u32::MAX) - 399 + 30 * 40) * 90);
}

#[test]
fn a_timestamp_jump_starts_a_new_run_at_a_key_frame_with_its_own_anchor() {
    let mut p = Packager::new(PackagerConfig::default());
    p.push_video(0, avc_header(0x0d), 0).unwrap();
    push_gops(&mut p, 50_000, 20, 10);
    // The encoder restarts at 0, 30 s later by the origin's clock, mid-GOP.
    p.push_video(0, avc_frame(false, 0), 100_000).unwrap();
    p.push_video(40, avc_frame(true, 0), 100_040).unwrap();
    p.push_video(80, avc_frame(false, 0), 100_080).unwrap();
    let units = units(&mut p);
    assert_eq!(inits(&units), 1);
    let parts = fragments(&units);
    let last = parts.last().unwrap();
    assert_eq!(last.timing.decode_time, 40 * 90);
    assert!(last.timing.independent);
    assert_eq!(last.tracks[0].sample_count, 2);
    // Anchored at its own first frame: received at 100 040 for media time 40 ms.
    assert_eq!(last.timing.wallclock_ms, Some(100_040));
    // The old run kept its anchor: 1 000 for 50 000 ms.
    assert_eq!(parts[0].timing.wallclock_ms, Some(1_000));
}

#[test]
fn video_timestamps_that_step_back_or_repeat_are_refused() {
    let mut p = Packager::new(PackagerConfig::default());
    p.push_video(0, avc_header(0x0d), 0).unwrap();
    push_gops(&mut p, 1_000, 3, 10);
    assert_eq!(
        p.push_video(1_040, avc_frame(false, 0), 0),
        Err(PackagerError::TimestampsBackwards {
            media: Media::Video,
            by_ms: 40
        })
    );
    let mut p = Packager::new(PackagerConfig::default());
    p.push_video(0, avc_header(0x0d), 0).unwrap();
    push_gops(&mut p, 1_000, 3, 10);
    assert!(matches!(
        p.push_video(1_080, avc_frame(false, 0), 0),
        Err(PackagerError::TimestampsBackwards { by_ms: 0, .. })
    ));
}

#[test]
fn repeated_sequence_headers_change_nothing_and_changed_ones_bring_a_new_init_at_a_key_frame() {
    let mut p = Packager::new(PackagerConfig::default());
    p.push_video(0, avc_header(0x0d), 0).unwrap();
    push_gops(&mut p, 0, 10, 5);
    p.push_video(400, avc_header(0x0d), 0).unwrap();
    push_gops(&mut p, 400, 10, 5);
    p.push_video(800, avc_header(0x1e), 0).unwrap();
    // Frames of the new configuration before its key frame cannot be decoded: dropped.
    p.push_video(800, avc_frame(false, 0), 0).unwrap();
    push_gops(&mut p, 840, 10, 5);
    let units = units(&mut p);
    assert_eq!(inits(&units), 2);
    let second = units
        .iter()
        .position(|u| matches!(u, Unit::Init(m) if m.init.codecs == "avc1.64001e"))
        .unwrap();
    let Unit::Fragment(after) = &units[second + 1] else {
        panic!("no part after the new init")
    };
    assert!(after.timing.independent);
    assert_eq!(after.timing.decode_time, 840 * 90);
    let total: u64 = fragments(&units)
        .iter()
        .map(|f| f.tracks[0].sample_count)
        .sum();
    assert_eq!(total, 30);
}

#[test]
fn audio_whose_header_comes_late_joins_at_the_next_key_frame() {
    let mut p = Packager::new(PackagerConfig::default());
    p.push_video(0, avc_header(0x0d), 0).unwrap();
    push_gops(&mut p, 0, 15, 10);
    p.push_audio(600, aac_header(), 0).unwrap();
    let mut audio_ms = 600u32;
    for i in 15..40u32 {
        while audio_ms <= i * 40 {
            p.push_audio(audio_ms, aac_frame(), 0).unwrap();
            audio_ms += 21;
        }
        p.push_video(i * 40, avc_frame(i % 10 == 0, 0), 0).unwrap();
    }
    let units = units(&mut p);
    assert_eq!(inits(&units), 2);
    let Unit::Init(last) = units.iter().rfind(|u| matches!(u, Unit::Init(_))).unwrap() else {
        unreachable!()
    };
    assert_eq!(last.init.codecs, "avc1.64000d,mp4a.40.2");
    // The muxed parts start at the key frame of 800 ms; audio before it was dropped.
    let muxed: Vec<_> = fragments(&units)
        .into_iter()
        .filter(|f| f.tracks.len() == 2)
        .collect();
    assert_eq!(muxed[0].timing.decode_time, 800 * 90);
    assert!(muxed[0].timing.independent);
    assert!(muxed[0].tracks[1].decode_time >= 48 * 780);
}

/// Writes the seed inputs of the `flv_packager` fuzz target (`fuzz/corpus/flv_packager/`,
/// format in `fuzz/src/checks_packager.rs`) from ffmpeg output: legacy FLV H.264+AAC, and
/// Enhanced RTMP HEVC, AV1+Opus built from MP4s. Run after changing the input format:
/// `cargo test -p playlists-server --lib write_fuzz_seeds -- --ignored`.
#[test]
#[ignore = "writes the fuzz corpus seeds"]
fn write_fuzz_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/flv_packager");
    std::fs::create_dir_all(&corpus).unwrap();
    let encode = |tags: &[Tag]| {
        let mut out = Vec::new();
        for t in tags.iter().filter(|t| t.kind == 8 || t.kind == 9) {
            let len = u16::try_from(t.body.len()).expect("a seed frame over 64 KiB");
            out.push(u8::from(t.kind == 9));
            out.extend(t.timestamp.to_be_bytes());
            out.extend(len.to_be_bytes());
            out.extend_from_slice(&t.body);
        }
        out
    };
    let video = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25"];
    let audio = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"];
    let flv = dir.path().join("seed.flv");
    let args: Vec<&str> = [&video[..], &audio[..]].concat();
    let mut flv_args = args.clone();
    flv_args.extend([
        "-t", "1", "-c:v", "libx264", "-bf", "2", "-g", "10", "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-f", "flv",
    ]);
    flv_args.push(flv.to_str().unwrap());
    ffmpeg(&flv_args);
    let tags = read_flv(&std::fs::read(&flv).unwrap());
    std::fs::write(corpus.join("seed-h264-aac"), encode(&tags)).unwrap();

    let hevc = dir.path().join("hevc.mp4");
    let mut hevc_args = video.to_vec();
    hevc_args.extend([
        "-t",
        "1",
        "-c:v",
        "libx265",
        "-x265-params",
        "bframes=2:keyint=10:log-level=error",
        "-tag:v",
        "hvc1",
        "-pix_fmt",
        "yuv420p",
    ]);
    hevc_args.push(hevc.to_str().unwrap());
    ffmpeg(&hevc_args);
    let tracks = read_mp4(&std::fs::read(&hevc).unwrap());
    let tags = interleave(tracks.iter().map(enhanced_messages).collect());
    std::fs::write(corpus.join("seed-hevc"), encode(&tags)).unwrap();

    let av1 = dir.path().join("av1.mp4");
    let mut av1_args = args.clone();
    av1_args.extend([
        "-t",
        "1",
        "-c:v",
        "libaom-av1",
        "-cpu-used",
        "8",
        "-g",
        "10",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "libopus",
    ]);
    av1_args.push(av1.to_str().unwrap());
    ffmpeg(&av1_args);
    let tracks = read_mp4(&std::fs::read(&av1).unwrap());
    let tags = interleave(tracks.iter().map(enhanced_messages).collect());
    std::fs::write(corpus.join("seed-av1-opus"), encode(&tags)).unwrap();
}

#[test]
fn audio_counts_samples_and_follows_the_timestamps_only_beyond_a_frame() {
    let mut p = Packager::new(PackagerConfig::default());
    p.push_audio(0, aac_header(), 0).unwrap();
    // 21 ms timestamps for 21.33 ms frames: within a frame, the count rules.
    for i in 0..60u32 {
        p.push_audio(i * 21, aac_frame(), 0).unwrap();
    }
    // A gap of 500 ms: decode times jump to the timestamp.
    p.push_audio(60 * 21 + 500, aac_frame(), 0).unwrap();
    // A timestamp two frames behind the count: that frame is dropped.
    p.push_audio(60 * 21 + 500 - 22, aac_frame(), 0).unwrap();
    p.push_audio(60 * 21 + 521, aac_frame(), 0).unwrap();
    let units = units(&mut p);
    let parts = fragments(&units);
    let samples: u64 = parts.iter().map(|f| f.tracks[0].sample_count).sum();
    assert_eq!(samples, 62);
    let before_gap: u64 = parts
        .iter()
        .filter(|f| f.timing.decode_time < 60 * 1024)
        .map(|f| f.timing.duration)
        .sum();
    assert_eq!(before_gap, 60 * 1024);
    let last = parts.last().unwrap();
    assert_eq!(last.timing.decode_time, (60 * 21 + 500) * 48);
    assert_eq!(last.timing.duration, 2048);
}

#[test]
fn an_audio_only_run_after_a_jump_is_anchored_at_its_first_frame() {
    let mut p = Packager::new(PackagerConfig::default());
    p.push_audio(0, aac_header(), 0).unwrap();
    for i in 0..60u32 {
        p.push_audio(5_000 + i * 21, aac_frame(), 7_000 + u64::from(i) * 21)
            .unwrap();
    }
    for i in 0..20u32 {
        p.push_audio(i * 21, aac_frame(), 60_000 + u64::from(i) * 21)
            .unwrap();
    }
    let units = units(&mut p);
    let parts = fragments(&units);
    assert_eq!(parts[0].timing.wallclock_ms, Some(7_000));
    let last = parts.last().unwrap();
    assert!(last.timing.decode_time < 48 * 500);
    let date = last.timing.wallclock_ms.expect("a prft in the new run");
    assert_eq!(date, 60_000 + last.timing.decode_time / 48);
}

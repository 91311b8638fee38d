//! The packager end to end: FLV files written by ffmpeg pushed tag by tag, the output read
//! back with the repo's own fMP4 splitter and with ffprobe.

use std::path::Path;

use bytes::Bytes;

use super::testutil::*;
use super::*;
use crate::fmp4::{split_all, Limits, Unit};

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

#[test]
fn h264_with_b_frames_and_aac_from_an_ffmpeg_flv_round_trip() {
    require_ffmpeg();
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
    require_ffmpeg();
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
    require_ffmpeg();
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
    require_ffmpeg();
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

/// The packager's output taken by the ingest path as an encoder's fMP4 would be: every part
/// published, a segment per key frame starting with an INDEPENDENT part, no discontinuity,
/// dates from the `prft`.
#[test]
fn the_ingest_path_publishes_every_part() {
    use std::sync::Arc;

    use crate::ingest::{Access, IngestConfig, Ingests};
    use crate::part_store::PartStore;

    require_ffmpeg();
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
        "6",
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
    let keys = tags
        .iter()
        .filter(|t| t.kind == 9)
        .filter(|t| {
            matches!(
                flv::parse_video(&t.body),
                Ok(VideoTag::Frame { key: true, .. })
            )
        })
        .count();
    let out = package(&tags, PackagerConfig::default());
    let options = playlists::Options {
        segment_min_ms: 1000,
        ..playlists::Options::default()
    };
    let playlists = Arc::new(playlists::Playlists::new(options).unwrap());
    let ingests = Ingests::new(
        Arc::clone(&playlists),
        PartStore::heap(),
        IngestConfig::default(),
    );
    let mut session = ingests.start("rtmp", Access::Local).unwrap();
    for unit in &out {
        session.push(unit.clone()).unwrap();
    }
    assert_eq!(session.parts(), out.len() as u64 - 1);
    let playlist = playlists.stream("rtmp").unwrap().playlist().unwrap();
    let text = String::from_utf8(playlist.full.plain.to_vec()).unwrap();
    assert!(text.contains("#EXT-X-PART-INF:PART-TARGET=0.2"), "{text}");
    assert!(!text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
    // A 1 s segment per key frame (the last one still open), dated by the prft (the first
    // frame was received 5 ms after its timestamp, from 1 700 000 000 000 ms); every segment
    // listed with parts starts with an INDEPENDENT one, and no other part is.
    assert_eq!(text.matches("#EXTINF:1.00000,").count(), keys - 1, "{text}");
    assert!(
        text.contains("#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.005Z"),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    let mut starts = 0;
    for pair in lines.windows(2) {
        if pair[1].starts_with("#EXT-X-PART:") {
            let first = pair[0].starts_with("#EXT-X-PROGRAM-DATE-TIME");
            assert_eq!(pair[1].contains("INDEPENDENT=YES"), first, "{text}");
            starts += usize::from(first);
        }
    }
    assert!(starts >= 2, "{text}");
}

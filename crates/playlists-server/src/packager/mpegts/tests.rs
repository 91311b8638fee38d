//! The TS path end to end: transport streams written by ffmpeg, pushed in random cuts, the
//! output read back with the repo's fMP4 splitter and compared with ffprobe's view of the
//! input.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::super::testutil::{ffmpeg, ffprobe, fragments, require_ffmpeg};
use super::*;
use crate::fmp4::{split_all, Limits, Unit};

const BASE_UNIX_MS: u64 = 1_700_000_000_000;
pub(super) const PACKET: usize = framing::PACKET;

/// Cut sizes from a fixed xorshift, 1..=2000 bytes: every header split somewhere.
fn cuts(seed: u64) -> impl Iterator<Item = usize> {
    let mut x = seed | 1;
    std::iter::repeat_with(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        1 + (x % 2000) as usize
    })
}

/// Pushes `ts` in random cuts, then finishes. One arrival time for all: the output is then a
/// function of the bytes alone, whatever the cuts.
pub(super) fn package(ts: &[u8], config: PackagerConfig, seed: u64) -> Vec<Bytes> {
    let mut d = TsDemuxer::new(config);
    let mut out = Vec::new();
    let mut rest = ts;
    for (i, cut) in cuts(seed).enumerate() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(cut.min(rest.len()));
        d.push(chunk, BASE_UNIX_MS)
            .unwrap_or_else(|e| panic!("push {i}: {e}"));
        out.extend(d.take_output());
        rest = tail;
    }
    d.finish().unwrap();
    out.extend(d.take_output());
    assert_eq!(d.push(&[0x47], 0), Err(PackagerError::Spent));
    out
}

/// Writes a transport stream with ffmpeg: `video` codec arguments, AAC audio (unless
/// `extra`, the output options that follow, say otherwise), 3 s long.
pub(super) fn make_ts(
    dir: &Path,
    name: &str,
    video: &[&str],
    size: &str,
    extra: &[&str],
) -> PathBuf {
    let path = dir.join(name);
    let source = format!("testsrc=size={size}:rate=30");
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        &source,
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        "3",
        "-pix_fmt",
        "yuv420p",
    ];
    args.extend_from_slice(video);
    args.extend_from_slice(&["-c:a", "aac"]);
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-f", "mpegts"]);
    let p = path.to_str().unwrap().to_owned();
    args.push(&p);
    ffmpeg(&args);
    path
}

pub(super) const H264: [&str; 6] = ["-c:v", "libx264", "-bf", "2", "-g", "30"];
pub(super) const HEVC: [&str; 4] = [
    "-c:v",
    "libx265",
    "-x265-params",
    "bframes=2:keyint=30:min-keyint=30:scenecut=0:log-level=error",
];

/// Every unit the splitter reads, every part continuing the last one's timeline within its
/// run (`runs` init sections expected), and the parts written to `out.mp4` for ffprobe.
pub(super) fn check(dir: &Path, output: &[Bytes], inits: usize) -> (Vec<Unit>, PathBuf) {
    let stream = Bytes::from(output.concat());
    let units = split_all(stream.clone(), Limits::default()).unwrap();
    assert_eq!(units.len(), output.len(), "a Bytes is not exactly one unit");
    assert!(matches!(units[0], Unit::Init(_)), "no init section first");
    let codecs: Vec<_> = units
        .iter()
        .filter_map(|u| match u {
            Unit::Init(m) => Some(m.init.codecs.clone()),
            Unit::Fragment(_) => None,
        })
        .collect();
    assert_eq!(codecs.len(), inits, "init sections: {codecs:?}");
    let mp4 = dir.join("out.mp4");
    std::fs::write(&mp4, &stream).unwrap();
    (units, mp4)
}

fn round_trip(video: &[&str], extra: &[&str], codecs: &str, audio_codec: &str) {
    require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let ts = make_ts(dir.path(), "in.ts", video, "320x240", extra);
    let bytes = std::fs::read(&ts).unwrap();
    let config = PackagerConfig::default();
    let out = package(&bytes, config.clone(), 1);
    // The cuts change nothing.
    assert!(
        out == package(&bytes, config, 7),
        "output depends on the cuts"
    );
    let (units, mp4) = check(dir.path(), &out, 1);
    let Unit::Init(movie) = &units[0] else {
        unreachable!()
    };
    assert!(
        movie.init.codecs.starts_with(codecs),
        "{}",
        movie.init.codecs
    );
    assert!(
        movie.init.codecs.ends_with(audio_codec),
        "{}",
        movie.init.codecs
    );
    assert_eq!(movie.init.resolution, Some((320, 240)));
    let parts = fragments(&units);
    let mut next = parts[0].timing.decode_time;
    for f in &parts {
        assert!(f.timing.duration <= 18_000, "part of {}", f.timing.duration);
        assert_eq!(f.timing.decode_time, next);
        next += f.timing.duration;
    }
    // 90 independent parts = 3 key frames; the timeline is the input's, in 90 kHz ticks.
    assert_eq!(parts.iter().filter(|f| f.timing.independent).count(), 3);
    let (source, packaged) = (ffprobe(&ts), ffprobe(&mp4));
    eprintln!("ffprobe ts: {source:?}\nffprobe packaged: {packaged:?}");
    assert_eq!(packaged.len(), 2);
    for (s, p) in source.iter().zip(&packaged) {
        assert_eq!(s.0, p.0);
        assert_eq!(s.1, p.1, "{} frames", s.0);
        assert!(
            (s.2 - p.2).abs() < 0.0001,
            "{} start {} vs {}",
            s.0,
            s.2,
            p.2
        );
    }
}

#[test]
fn h264_with_b_frames_and_aac_from_ffmpeg_mpegts_round_trip() {
    round_trip(&H264, &[], "avc1.", ",mp4a.40.2");
}

#[test]
fn hevc_with_b_frames_and_aac_from_ffmpeg_mpegts_round_trip() {
    round_trip(&HEVC, &[], "hvc1.", ",mp4a.40.2");
}

#[test]
fn h264_and_opus_from_ffmpeg_mpegts_round_trip() {
    round_trip(
        &H264,
        &["-c:a", "libopus", "-ar", "48000"],
        "avc1.",
        ",Opus",
    );
}

/// Every 50th transport packet lost (as SRT's too-late drop loses them): no error, every
/// unit written reads back and decodes, video resumes at key frames and audio continues.
#[test]
fn lost_packets_never_end_the_stream() {
    require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let ts = make_ts(dir.path(), "in.ts", &H264, "320x240", &[]);
    let bytes = std::fs::read(&ts).unwrap();
    let lossy: Vec<u8> = bytes
        .chunks(PACKET)
        .enumerate()
        .filter(|(i, _)| i % 50 != 49)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    // And some garbage in the middle: found sync again.
    let mut input = lossy[..lossy.len() / 2].to_vec();
    input.extend_from_slice(b"not a transport packet\x47\x47");
    input.extend_from_slice(&lossy[lossy.len() / 2..]);
    let out = package(&input, PackagerConfig::default(), 3);
    let (units, mp4) = check(dir.path(), &out, 1);
    let parts = fragments(&units);
    let count = |id: u32| -> u64 {
        parts
            .iter()
            .flat_map(|f| f.tracks.iter())
            .filter(|t| t.track_id == id)
            .map(|t| t.sample_count)
            .sum()
    };
    let (source, packaged) = (ffprobe(&ts), ffprobe(&mp4));
    eprintln!("ffprobe ts: {source:?}\nffprobe lossy: {packaged:?}");
    assert_eq!(packaged.len(), 2);
    // Video: some frames until a key frame are gone, but the stream goes on to its end.
    assert!(count(1) > 30 && count(1) < 90, "{} video frames", count(1));
    // Audio: only the frames of the PES hit.
    assert!(count(2) > 60, "{} audio frames", count(2));
    assert_eq!(packaged[0].1, count(2));
    assert_eq!(packaged[1].1, count(1));
    let last = parts.last().unwrap();
    assert!(
        last.timing.decode_time + last.timing.duration > 126_000 + 2 * 90_000,
        "the stream ended early"
    );
}

/// A PES over `max_frame_bytes` is discarded, not refused: the stream goes on with the
/// frames that fit (video from the next key frame that does).
#[test]
fn frames_over_the_limit_are_discarded_and_the_rest_goes_on() {
    require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let ts = make_ts(dir.path(), "in.ts", &H264, "320x240", &[]);
    let bytes = std::fs::read(&ts).unwrap();
    let samples = |out: &[Bytes], track: u32| -> u64 {
        let units = split_all(Bytes::from(out.concat()), Limits::default()).unwrap();
        fragments(&units)
            .iter()
            .flat_map(|f| f.tracks.iter())
            .filter(|t| t.track_id == track)
            .map(|t| t.sample_count)
            .sum()
    };
    let all = package(&bytes, PackagerConfig::default(), 11);
    // Room for the P and B frames and the audio, not for the first key frame (x264's
    // first IDR of testsrc is several KB, its later frames much smaller).
    let config = PackagerConfig {
        max_frame_bytes: 3_000,
        ..Default::default()
    };
    let out = package(&bytes, config, 11);
    let audio = samples(&out, 2);
    assert!(
        samples(&out, 1) < samples(&all, 1),
        "no video frame was discarded"
    );
    assert!(audio > 100, "{audio} audio frames");
}

/// Streams the origin does not package are ignored, not refused: here an MP2 audio stream
/// listed before the AAC one, which is the one packaged.
#[test]
fn unsupported_streams_are_ignored() {
    require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let ts = make_ts(
        dir.path(),
        "in.ts",
        &H264,
        "320x240",
        &[
            "-map", "0:v", "-map", "1:a", "-map", "1:a", "-c:a:0", "mp2", "-c:a:1", "aac",
        ],
    );
    let out = package(&std::fs::read(&ts).unwrap(), PackagerConfig::default(), 17);
    let (units, mp4) = check(dir.path(), &out, 1);
    let Unit::Init(movie) = &units[0] else {
        unreachable!()
    };
    assert!(
        movie.init.codecs.ends_with(",mp4a.40.2"),
        "{}",
        movie.init.codecs
    );
    let packaged = ffprobe(&mp4);
    assert_eq!(packaged.len(), 2, "{packaged:?}");
}

/// Audio PES without a PTS (every other one here: the flags cleared, the bytes left as
/// header stuffing) continue from where the previous PES ended: every frame is kept, at the
/// same time as with every PTS present.
#[test]
fn audio_pes_without_a_pts_continue_the_previous_one() {
    require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let ts = std::fs::read(make_ts(dir.path(), "in.ts", &H264, "320x240", &[])).unwrap();
    let mut stripped = ts.clone();
    let mut n = 0;
    for p in stripped.chunks_mut(PACKET) {
        let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        if pid != 0x101 || p[1] & 0x40 == 0 {
            continue;
        }
        let at = if p[3] & 0x20 != 0 {
            5 + usize::from(p[4])
        } else {
            4
        };
        assert_eq!(&p[at..at + 4], &[0, 0, 1, 0xc0]);
        if n % 2 == 1 {
            p[at + 7] &= 0x3f;
        }
        n += 1;
    }
    assert!(n >= 8, "{n} audio PES");
    let audio = |out: &[Bytes]| -> Vec<(u64, u64)> {
        let units = split_all(Bytes::from(out.concat()), Limits::default()).unwrap();
        fragments(&units)
            .iter()
            .flat_map(|f| f.tracks.iter())
            .filter(|t| t.track_id == 2)
            .map(|t| (t.decode_time, t.sample_count))
            .collect()
    };
    let whole = package(&ts, PackagerConfig::default(), 19);
    let out = package(&stripped, PackagerConfig::default(), 19);
    let sum = |runs: &[(u64, u64)]| runs.iter().map(|r| r.1).sum::<u64>();
    assert_eq!(sum(&audio(&out)), sum(&audio(&whole)));
    assert_eq!(audio(&out)[0], audio(&whole)[0]);
    assert_eq!(audio(&out).last(), audio(&whole).last());
}

/// An ADTS frame split across two PES packets (as some encoders write them) is completed
/// and keeps its time; the second PES's PTS times the first frame that starts in it.
#[test]
fn an_adts_frame_split_across_pes_packets_is_kept() {
    use super::adts::testing::adts;

    let run = |split: bool| -> Vec<(u64, u64)> {
        let mut d = TsDemuxer::new(PackagerConfig::default());
        let frames: Vec<Vec<u8>> = (0..40u8).map(|i| adts(&[i; 50])).collect();
        // PES of 4 frames; with `split`, 30 bytes of each PES's last frame go to the next.
        let mut carry = Vec::new();
        for (n, group) in frames.chunks(4).enumerate() {
            let mut pes = std::mem::take(&mut carry);
            pes.extend(group.concat());
            if split && n < 9 {
                carry = pes.split_off(pes.len() - 30);
            }
            // The PTS of the first frame starting in the PES: 4 frames of 1024 at 44.1 kHz.
            let pts = 90_000 + (n as u64 * 4 * 1024 * 90_000).div_ceil(44_100);
            d.audio_pes(Some(pts), &Bytes::from(pes), 0).unwrap();
        }
        d.packager.finish().unwrap();
        let units = split_all(Bytes::from(d.take_output().concat()), Limits::default()).unwrap();
        fragments(&units)
            .iter()
            .flat_map(|f| f.tracks.iter())
            .map(|t| (t.decode_time, t.sample_count))
            .collect()
    };
    let whole = run(false);
    assert_eq!(whole.iter().map(|t| t.1).sum::<u64>(), 40);
    assert_eq!(run(true), whole);
}

/// The SRT source runs a demuxer per connection on its own task.
#[test]
fn the_demuxer_can_move_between_threads() {
    fn send<T: Send + 'static>() {}
    send::<TsDemuxer>();
}

/// What is not a transport stream is refused once 1 MiB of it holds no packet.
#[test]
fn bytes_without_packets_are_refused() {
    let mut d = TsDemuxer::new(PackagerConfig::default());
    let junk = vec![0u8; 64 << 10];
    let mut result = Ok(());
    for _ in 0..20 {
        result = d.push(&junk, 0);
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(
        result,
        Err(PackagerError::NotTransportStream { .. })
    ));
    assert_eq!(d.finish(), Err(PackagerError::Spent));
}

/// The `ts_packager` fuzz target's seeds: short ffmpeg transport streams (H.264+AAC,
/// HEVC+AAC, H.264+Opus, and the first with every 50th packet dropped). Run after changing the input
/// format: `cargo test -p playlists-server --lib mpegts::tests::write_fuzz_seeds -- --ignored`.
#[test]
#[ignore = "writes the fuzz corpus seeds"]
fn write_fuzz_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ts_packager");
    std::fs::create_dir_all(&corpus).unwrap();
    let short = ["-t", "0.7", "-g", "10"];
    let h264 = make_ts(dir.path(), "h264.ts", &H264[..4], "160x120", &short);
    let hevc = make_ts(
        dir.path(),
        "hevc.ts",
        &[
            HEVC[0],
            HEVC[1],
            HEVC[2],
            "bframes=2:keyint=10:log-level=error",
        ],
        "160x120",
        &["-t", "0.7"],
    );
    let h264 = std::fs::read(h264).unwrap();
    let lossy: Vec<u8> = h264
        .chunks(PACKET)
        .enumerate()
        .filter(|(i, _)| i % 50 != 49)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    std::fs::write(corpus.join("seed-h264-aac"), &h264).unwrap();
    std::fs::write(corpus.join("seed-h264-aac-lossy"), lossy).unwrap();
    std::fs::write(corpus.join("seed-hevc-aac"), std::fs::read(hevc).unwrap()).unwrap();
    let opus = make_ts(
        dir.path(),
        "opus.ts",
        &H264[..4],
        "160x120",
        &["-t", "0.7", "-g", "10", "-c:a", "libopus", "-ar", "48000"],
    );
    std::fs::write(corpus.join("seed-h264-opus"), std::fs::read(opus).unwrap()).unwrap();
}

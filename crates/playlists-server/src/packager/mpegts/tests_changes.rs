//! The TS path when the stream changes under the demuxer: its timestamps wrap (33 bits) or
//! start again (an encoder restart), its SPS or its PMT changes.

use std::path::Path;

use super::super::testutil::{ffprobe, fragments, require_ffmpeg};
use super::tests::{check, make_ts, package, H264, HEVC, PACKET};
use super::*;
use crate::fmp4::Unit;

/// Two ffmpeg encodes of `a` and `b` (video arguments, size) in `dir`, the second's
/// timestamps starting 4 s on, as one encoder's output whose configuration changes.
fn back_to_back(dir: &Path, a: (&[&str], &str), b: (&[&str], &str)) -> (Vec<u8>, Vec<u8>) {
    let first = make_ts(dir, "a.ts", a.0, a.1, &[]);
    let second = make_ts(dir, "b.ts", b.0, b.1, &["-output_ts_offset", "4"]);
    (
        std::fs::read(first).unwrap(),
        std::fs::read(second).unwrap(),
    )
}

/// PTS crossing 2^33 (26.5 h of 90 kHz) continue the timeline: one run, one init section.
#[test]
fn timestamps_continue_across_the_33_bit_wrap() {
    require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    // 2^33 ticks is 95,443.72 s: the stream wraps 1.5 s in.
    let ts = make_ts(
        dir.path(),
        "in.ts",
        &H264,
        "320x240",
        &["-output_ts_offset", "95440.8"],
    );
    let bytes = std::fs::read(&ts).unwrap();
    let out = package(&bytes, PackagerConfig::default(), 5);
    let (units, mp4) = check(dir.path(), &out, 1);
    let parts = fragments(&units);
    let first = parts[0].timing.decode_time;
    assert!(first < 1 << 33 && first > (1 << 33) - 3 * 90_000, "{first}");
    let mut next = first;
    for f in &parts {
        assert_eq!(f.timing.decode_time, next, "a gap or a new run at the wrap");
        next += f.timing.duration;
    }
    assert!(next > (1 << 33) + 90_000, "{next}");
    let packaged = ffprobe(&mp4);
    let source = ffprobe(&ts);
    for (s, p) in source.iter().zip(&packaged) {
        assert_eq!(s.1, p.1, "{} frames", s.0);
    }
}

/// An encoder restart (the same stream sent again: PTS 3 s back, continuity counters
/// restarting) ends the run: the next starts at its key frame with the new timestamps.
#[test]
fn a_restarted_encoder_starts_a_new_run() {
    require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let ts = std::fs::read(make_ts(dir.path(), "in.ts", &H264, "320x240", &[])).unwrap();
    let out = package(&[&ts[..], &ts[..]].concat(), PackagerConfig::default(), 15);
    let (units, _) = check(dir.path(), &out, 1);
    let parts = fragments(&units);
    let back: Vec<usize> = (1..parts.len())
        .filter(|&i| parts[i].timing.decode_time < parts[i - 1].timing.decode_time)
        .collect();
    assert_eq!(back.len(), 1, "one restart");
    let restart = parts[back[0]];
    assert!(restart.timing.independent);
    assert_eq!(restart.timing.decode_time, parts[0].timing.decode_time);
}

/// The SPS changes mid-stream (a second encoder configuration, timestamps continuing): a
/// new init section with the new size at the next key frame.
#[test]
fn a_changed_sps_makes_a_new_init_section_at_the_key_frame() {
    require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = back_to_back(dir.path(), (&H264, "320x240"), (&H264, "640x360"));
    let bytes = [a, b].concat();
    let out = package(&bytes, PackagerConfig::default(), 9);
    let (units, _) = check(dir.path(), &out, 2);
    let inits: Vec<_> = units
        .iter()
        .enumerate()
        .filter_map(|(i, u)| match u {
            Unit::Init(m) => Some((i, m.init.resolution)),
            Unit::Fragment(_) => None,
        })
        .collect();
    assert_eq!(inits[0].1, Some((320, 240)));
    assert_eq!(inits[1].1, Some((640, 360)));
    let Unit::Fragment(after) = &units[inits[1].0 + 1] else {
        panic!("an init section not followed by a part")
    };
    assert!(after.timing.independent);
    // One timeline across the change: b's PTS continue a's (3 s later).
    let before = fragments(&units[..inits[1].0]);
    let end = before.last().unwrap();
    let gap = after.timing.decode_time - (end.timing.decode_time + end.timing.duration);
    assert!(gap < 90_000, "{gap}");
}

/// CRC-32/MPEG-2 (ISO/IEC 13818-1 Annex A), to rewrite a section.
fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(u32::MAX, |mut crc, &b| {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
        crc
    })
}

/// `ts` with its PMT sections (ffmpeg's PID 0x1000, one packet each) made version 1.
fn bump_pmt_version(ts: &mut [u8]) {
    for p in ts.chunks_mut(PACKET) {
        let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        if pid != 0x1000 || p[1] & 0x40 == 0 || p[3] & 0x20 != 0 {
            continue;
        }
        // Payload: pointer_field, then the section.
        let at = 5 + usize::from(p[4]);
        let len = (usize::from(p[at + 1] & 0x0f) << 8) | usize::from(p[at + 2]);
        p[at + 5] = (p[at + 5] & 0xc1) | (1 << 1);
        let end = at + 3 + len;
        let crc = crc32_mpeg2(&p[at..end - 4]);
        p[end - 4..end].copy_from_slice(&crc.to_be_bytes());
    }
}

/// The PMT changes (a new version): H.264 on the video PID becomes HEVC. The change is
/// followed: a new init section with `hvc1` at the first HEVC key frame.
#[test]
fn a_changed_pmt_is_followed() {
    require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let (a, mut b) = back_to_back(dir.path(), (&H264, "320x240"), (&HEVC, "320x240"));
    bump_pmt_version(&mut b);
    let bytes = [a, b].concat();
    let out = package(&bytes, PackagerConfig::default(), 13);
    let (units, _) = check(dir.path(), &out, 2);
    let codecs: Vec<&str> = units
        .iter()
        .filter_map(|u| match u {
            Unit::Init(m) => Some(m.init.codecs.as_str()),
            Unit::Fragment(_) => None,
        })
        .collect();
    assert!(codecs[0].starts_with("avc1."), "{codecs:?}");
    assert!(codecs[1].starts_with("hvc1."), "{codecs:?}");
    assert!(codecs[1].ends_with(",mp4a.40.2"), "{codecs:?}");
    // The HEVC frames, in the parts after the second init section: all of them but the one
    // whose PES the splice cut.
    let hevc: u64 = fragments(
        &units[units
            .iter()
            .rposition(|u| matches!(u, Unit::Init(_)))
            .unwrap()..],
    )
    .iter()
    .flat_map(|f| f.tracks.iter())
    .filter(|t| t.track_id == 1)
    .map(|t| t.sample_count)
    .sum();
    assert!(hevc >= 89, "{hevc} HEVC frames");
}

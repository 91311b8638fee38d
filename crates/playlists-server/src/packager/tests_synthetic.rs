//! The packager's rules on synthetic streams: a real x264 SPS/PPS and AAC configuration,
//! frames of a few bytes, timestamps chosen to hit each rule (runs, the 32-bit wrap, leading
//! frames, sequence-header changes, late tracks, audio timing).

use bytes::Bytes;

use super::testutil::fragments;
use super::*;
use crate::fmp4::{split_all, Limits, Unit};

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

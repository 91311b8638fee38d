//! Splitter tests on synthetic streams: every framing error, every fallback of the sample
//! fields, and chunkings down to one byte.

use bytes::Bytes;

use super::testutil::{boxed, fragment, full, init_segment, TestTrack, TestTraf};
use super::*;

fn video_init() -> Vec<u8> {
    init_segment(&[TestTrack::video(1, 15360, 0)])
}

fn muxed_init() -> Vec<u8> {
    init_segment(&[TestTrack::video(1, 15360, 0), TestTrack::audio(2, 48000)])
}

/// init + `n` video fragments of 6 × 512 ticks, a keyframe every fifth.
fn video_stream(n: u32) -> Vec<u8> {
    let mut s = video_init();
    for i in 0..n {
        let mut t = TestTraf::new(1, u64::from(i) * 3072, 6, 512);
        if i % 5 != 0 {
            t.samples[0].2 = 0x0101_0000;
        }
        s.extend(fragment(i + 1, &[t]));
    }
    s
}

fn fragments(events: &[Unit]) -> Vec<&Fragment> {
    events
        .iter()
        .filter_map(|e| match e {
            Unit::Fragment(f) => Some(f),
            Unit::Init(_) => None,
        })
        .collect()
}

fn split(bytes: Vec<u8>) -> Result<Vec<Unit>, Fmp4Error> {
    split_all(Bytes::from(bytes), Limits::default())
}

#[test]
fn init_then_parts_with_duration_time_and_independence() {
    let events = split(video_stream(10)).unwrap();
    assert!(matches!(&events[0], Unit::Init(i) if i.init.codecs == "avc1.64001f"));
    let parts = fragments(&events);
    assert_eq!(parts.len(), 10);
    for (i, f) in parts.iter().enumerate() {
        assert_eq!(f.sequence_number, i as u32 + 1);
        assert_eq!((f.timing.timescale, f.timing.duration), (15360, 3072));
        assert_eq!(f.timing.decode_time, i as u64 * 3072);
        assert_eq!(f.timing.independent, i % 5 == 0, "part {i}");
        assert_eq!(f.timing.wallclock_ms, None);
    }
    let Unit::Init(init) = &events[0] else {
        unreachable!()
    };
    assert_eq!(parts[0].frame_rate(init), Some(30.0));
}

#[test]
fn any_chunking_gives_the_same_units_and_whole_chunks_are_not_copied() {
    let stream = video_stream(6);
    let whole = split(stream.clone()).unwrap();
    for chunk in [1, 2, 3, 7, 8, 9, 15, 16, 17, 100, 1000] {
        let mut s = Splitter::new(Limits::default());
        let mut events = Vec::new();
        for c in stream.chunks(chunk) {
            events.extend(s.push(Bytes::copy_from_slice(c)).unwrap());
        }
        s.finish().unwrap();
        assert_eq!(events, whole, "chunk size {chunk}");
    }
    // One chunk: every part is a slice of it.
    let bytes = Bytes::from(stream);
    let range = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
    for f in fragments(&split_all(bytes.clone(), Limits::default()).unwrap()) {
        assert!(range.contains(&(f.bytes.as_ptr() as usize)));
    }
}

#[test]
fn muxed_video_decides_and_audio_only_fragments_are_rescaled() {
    let mut s = muxed_init();
    let mut v = TestTraf::new(1, 15360, 6, 512);
    v.samples[0].2 = 0x0101_0000; // not a keyframe
    let a = TestTraf::new(2, 48000, 10, 1024); // audio: always sync
    s.extend(fragment(1, &[a.clone(), v]));
    // A fragment with audio only: timed by audio in the video timescale, not independent.
    s.extend(fragment(2, &[TestTraf::new(2, 48000 + 10240, 9, 1024)]));
    let events = split(s).unwrap();
    let Unit::Init(init) = &events[0] else {
        unreachable!()
    };
    assert_eq!(init.init.codecs, "avc1.64001f,mp4a.40.2");
    let parts = fragments(&events);
    assert_eq!(
        (parts[0].timing.duration, parts[0].timing.decode_time),
        (3072, 15360)
    );
    assert!(!parts[0].timing.independent);
    assert_eq!(parts[0].tracks.len(), 2);
    assert_eq!(parts[1].timing.timescale, 15360);
    assert_eq!(parts[1].timing.decode_time, (48000 + 10240) * 15360 / 48000);
    assert_eq!(parts[1].timing.duration, 9 * 1024 * 15360 / 48000);
    assert!(!parts[1].timing.independent);
}

#[test]
fn sample_fields_fall_back_from_trun_to_tfhd_to_trex() {
    // Per-sample durations and flags in the trun.
    let mut init = init_segment(&[TestTrack::video(1, 90000, 3000)]);
    let mut t = TestTraf::new(1, 0, 3, 0);
    t.samples = vec![
        (3000, 10, 0x0200_0000),
        (3003, 10, 0x0101_0000),
        (2997, 10, 0),
    ];
    t.per_sample_duration = true;
    t.per_sample_flags = true;
    init.extend(fragment(1, &[t.clone()]));
    // Flags only from the trex (non-sync): not independent.
    let mut t2 = TestTraf::new(1, 9000, 3, 3000);
    t2.flags_from_trex = true;
    init.extend(fragment(2, &[t2]));
    let events = split(init).unwrap();
    let Unit::Init(i) = &events[0] else {
        unreachable!()
    };
    assert_eq!(i.init.frame_rate, Some(30.0)); // from trex
    let parts = fragments(&events);
    assert_eq!(parts[0].timing.duration, 9000);
    assert!(parts[0].timing.independent);
    assert_eq!(parts[1].timing.duration, 9000);
    assert!(!parts[1].timing.independent);
}

#[test]
fn audio_only_stream() {
    let mut s = init_segment(&[TestTrack::audio(1, 48000)]);
    let mut t = TestTraf::new(1, 0, 10, 1024);
    t.flags_from_trex = true; // trex: depends on no other sample
    s.extend(fragment(1, &[t]));
    let events = split(s).unwrap();
    let parts = fragments(&events);
    assert!(parts[0].timing.independent);
    assert_eq!(
        (parts[0].timing.timescale, parts[0].timing.duration),
        (48000, 10240)
    );
}

#[test]
fn boxes_before_the_moof_stay_with_it_and_trailing_boxes_are_dropped() {
    let mut s = video_init();
    let styp = boxed(b"styp", b"msdh\0\0\0\0msdhmsix");
    let frag = fragment(1, &[TestTraf::new(1, 0, 6, 512)]);
    s.extend(&styp);
    s.extend(&frag);
    s.extend(boxed(b"mfra", &[0; 8]));
    let events = split(s).unwrap();
    let parts = fragments(&events);
    assert_eq!(parts.len(), 1);
    assert_eq!(&parts[0].bytes[..styp.len()], &styp[..]);
    assert_eq!(parts[0].bytes.len(), styp.len() + frag.len());
}

#[test]
fn prft_gives_the_wallclock_of_the_decode_time() {
    let mut s = video_init();
    // NTP 2024-01-01T00:00:00Z = Unix 1704067200 s, at media time 15360 (1 s); the part
    // starts at 2 s, so its wall clock is one second later.
    let ntp = (1_704_067_200u64 + 2_208_988_800) << 32;
    let mut p = 1u32.to_be_bytes().to_vec();
    p.extend_from_slice(&ntp.to_be_bytes());
    p.extend_from_slice(&15360u64.to_be_bytes());
    s.extend(full(b"prft", 1, 0, &p));
    s.extend(fragment(1, &[TestTraf::new(1, 30720, 6, 512)]));
    let events = split(s).unwrap();
    assert_eq!(
        fragments(&events)[0].timing.wallclock_ms,
        Some(1_704_067_201_000)
    );
}

#[test]
fn a_second_init_replaces_the_first() {
    let mut s = video_stream(1);
    s.extend(init_segment(&[TestTrack::audio(3, 44100)]));
    s.extend(fragment(1, &[TestTraf::new(3, 0, 4, 1024)]));
    let events = split(s).unwrap();
    assert_eq!(events.len(), 4);
    let parts = fragments(&events);
    assert_eq!(parts[1].timing.timescale, 44100);
}

fn header(size: u32, fourcc: &[u8; 4]) -> Vec<u8> {
    let mut b = size.to_be_bytes().to_vec();
    b.extend_from_slice(fourcc);
    b
}

#[test]
fn framing_errors_are_typed_and_located() {
    let init_len = video_init().len() as u64;
    type Check = fn(&Fmp4Error) -> bool;
    let cases: Vec<(Vec<u8>, Check)> = vec![
        // moof before any moov.
        (fragment(1, &[TestTraf::new(1, 0, 1, 512)]), |e| {
            matches!(e, Fmp4Error::MoofBeforeMoov { offset: 0 })
        }),
        // mdat without moof.
        ([video_init(), boxed(b"mdat", &[0; 4])].concat(), |e| {
            matches!(e, Fmp4Error::MdatWithoutMoof { .. })
        }),
        // size 0 in a live stream.
        ([video_init(), header(0, b"mdat")].concat(), |e| {
            matches!(e, Fmp4Error::SizeToEnd { .. })
        }),
        // sizes below the header.
        ([video_init(), header(5, b"moof")].concat(), |e| {
            matches!(e, Fmp4Error::BoxTooSmall { size: 5, .. })
        }),
        // a largesize of 2^64 - 1.
        (
            [
                video_init(),
                header(1, b"mdat"),
                u64::MAX.to_be_bytes().to_vec(),
            ]
            .concat(),
            |e| matches!(e, Fmp4Error::MdatWithoutMoof { .. }),
        ),
        (
            [
                video_init(),
                header(1, b"free"),
                u64::MAX.to_be_bytes().to_vec(),
            ]
            .concat(),
            |e| matches!(e, Fmp4Error::BoxTooLarge { size: u64::MAX, .. }),
        ),
        // MPEG-TS sync bytes where a box should start.
        (
            [0x47, 0x40, 0x00, 0x10, 0x00, 0x02, 0xb0, 0x0d].to_vec(),
            |e| matches!(e, Fmp4Error::NotIsoBmff { offset: 0, .. }),
        ),
        // something other than mdat after a moof.
        (
            {
                let mut f = fragment(1, &[TestTraf::new(1, 0, 1, 512)]);
                let moof_len = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
                f.truncate(moof_len);
                [video_init(), f, boxed(b"free", &[])].concat()
            },
            |e| matches!(e, Fmp4Error::ExpectedMdat { found, .. } if *found == FourCC(*b"free")),
        ),
    ];
    for (i, (bytes, check)) in cases.into_iter().enumerate() {
        let err = split(bytes).unwrap_err();
        assert!(check(&err), "case {i}: {err}");
        assert!(!err.to_string().is_empty());
    }
    // Offsets count from the stream start.
    let err = split([video_init(), boxed(b"mdat", &[0; 4])].concat()).unwrap_err();
    assert_eq!(err, Fmp4Error::MdatWithoutMoof { offset: init_len });
}

#[test]
fn truncated_input_is_an_error_at_finish_only() {
    let stream = video_stream(2);
    let cut = &stream[..stream.len() - 3];
    let mut s = Splitter::new(Limits::default());
    let events = s.push(Bytes::copy_from_slice(cut)).unwrap();
    assert_eq!(fragments(&events).len(), 1);
    let err = s.finish().unwrap_err();
    assert!(matches!(err, Fmp4Error::Truncated { .. }), "{err}");
    // A header cut in half is truncated too.
    let mut s = Splitter::new(Limits::default());
    s.push(Bytes::from_static(&[0, 0, 0])).unwrap();
    assert!(s.finish().is_err());
}

#[test]
fn limits_stop_before_buffering() {
    let limits = Limits {
        max_box_size: 1000,
        max_part_size: 2000,
        max_init_size: 300,
    };
    // The init section is ~500 bytes with two tracks.
    let err = split_all(Bytes::from(muxed_init()), limits.clone()).unwrap_err();
    assert!(
        matches!(err, Fmp4Error::InitTooLarge { limit: 300, .. }),
        "{err}"
    );
    assert!(err.is_limit());
    // A 1 GB mdat header: refused at the header, nothing is waited for.
    let mut s = Splitter::new(Limits::default());
    let mut stream = video_init();
    let mut f = fragment(1, &[TestTraf::new(1, 0, 1, 512)]);
    let moof_len = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
    f.truncate(moof_len);
    stream.extend(f);
    stream.extend(header(1 << 30, b"mdat"));
    let err = s.push(Bytes::from(stream)).unwrap_err();
    assert!(matches!(err, Fmp4Error::PartTooLarge { .. }), "{err}");
    assert_eq!(s.push(Bytes::new()).unwrap_err(), Fmp4Error::Failed);
    // A moof above the box limit.
    let big = Limits {
        max_box_size: 16,
        ..Limits::default()
    };
    let mut stream = video_init();
    stream.extend(fragment(1, &[TestTraf::new(1, 0, 1, 512)]));
    let mut s = Splitter::new(big);
    let err = s.push(Bytes::from(stream)).unwrap_err();
    assert!(matches!(err, Fmp4Error::BoxTooLarge { .. }), "{err}");
}

#[test]
fn malformed_moofs_are_errors_not_panics() {
    let init = video_init();
    let good = fragment(1, &[TestTraf::new(1, 0, 3, 512)]);
    // Flip every byte of the moof, one at a time: errors or parts, never a panic.
    let moof_len = u32::from_be_bytes([good[0], good[1], good[2], good[3]]) as usize;
    for i in 0..moof_len {
        for v in [0x00, 0xff, 0x7f, 0x01] {
            let mut f = good.clone();
            f[i] = v;
            let _ = split([init.clone(), f].concat());
        }
    }
    // A trun claiming 2^32 - 1 samples with per-sample sizes.
    let mut f = good.clone();
    let at = find(&f, b"trun") + 4;
    f[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let err = split([init.clone(), f].concat()).unwrap_err();
    assert!(err.to_string().contains("sample_count"), "{err}");
    // Sample data past the mdat.
    let mut f = good.clone();
    let at = find(&f, b"trun") + 8;
    f[at..at + 4].copy_from_slice(&10_000u32.to_be_bytes());
    let err = split([init.clone(), f].concat()).unwrap_err();
    assert!(err.to_string().contains("outside the mdat"), "{err}");
    // base-data-offset: absolute offsets cannot be served as parts.
    let mut f = good.clone();
    let at = find(&f, b"tfhd") + 3;
    f[at] |= 0x01;
    let err = split([init.clone(), f].concat()).unwrap_err();
    assert!(err.to_string().contains("default_base_moof"), "{err}");
    // A traf for a track the moov does not have.
    let other = fragment(1, &[TestTraf::new(9, 0, 3, 512)]);
    let err = split([init, other].concat()).unwrap_err();
    assert!(err.to_string().contains("track 9"), "{err}");
}

/// Offset of the first byte after `fourcc`'s type field.
fn find(bytes: &[u8], fourcc: &[u8; 4]) -> usize {
    bytes.windows(4).position(|w| w == fourcc).unwrap() + 4
}

#[test]
fn announced_sizes_are_not_allocated_up_front() {
    // A moof, then an mdat header announcing 16 MiB (within the part limit) and 10 bytes.
    let mut stream = video_init();
    let mut f = fragment(1, &[TestTraf::new(1, 0, 1, 512)]);
    let moof_len = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
    f.truncate(moof_len);
    stream.extend(f);
    stream.extend(header(16 << 20, b"mdat"));
    stream.extend([0u8; 10]);
    let mut s = Splitter::new(Limits::default());
    assert_eq!(s.push(Bytes::from(stream)).unwrap().len(), 1); // the init section
    assert!(s.buffered_capacity() < 1 << 20, "{}", s.buffered_capacity());
}

/// Every one-byte change and every truncation of real encoders' `moov`s (the demo clip's
/// H.264 + AAC, the fixtures' HEVC, AV1 and Opus) gives an init section or a `Malformed`
/// naming a box: never a panic, whatever mp4-atom or the walker makes of the bytes.
#[test]
fn damaged_moovs_give_errors_not_panics() {
    let encoders: [&[u8]; 4] = [
        crate::ingest::sources::demo::DEMO_CLIP,
        include_bytes!("../../tests/fixtures/hevc.mp4"),
        include_bytes!("../../tests/fixtures/av1.mp4"),
        include_bytes!("../../tests/fixtures/opus.mp4"),
    ];
    for clip in encoders {
        let mut at = 0;
        let moov = loop {
            let h = boxes::read_header(&clip[at..]).unwrap();
            let end = at + h.size.unwrap() as usize;
            if h.fourcc == FourCC::MOOV {
                break at + h.header_len..end;
            }
            at = end;
        };
        let bytes = Bytes::copy_from_slice(&clip[..moov.end]);
        let parse = |b: Bytes, range: std::ops::Range<usize>| match init::parse(b, range) {
            Ok(i) => assert!(!i.tracks.is_empty() && !i.init.codecs.is_empty()),
            Err(e) => assert!(!e.reason.is_empty()),
        };
        parse(bytes.clone(), moov.clone());
        for i in moov.clone() {
            for flip in [0xff, bytes[i] ^ 0x80, bytes[i].wrapping_add(1)] {
                let mut b = bytes.to_vec();
                b[i] = flip;
                parse(Bytes::from(b), moov.clone());
            }
            parse(bytes.slice(..i), moov.start..i);
        }
    }
}

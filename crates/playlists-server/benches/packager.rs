//! RTMP packager benchmark; one JSON object per line.
//!
//! * `packager/flv_in_parts_out` — FLV audio/video message bodies in (H.264 at ~6 Mbit/s,
//!   30 fps with B-frame composition offsets, a key frame every 2 s; AAC 48 kHz), CMAF parts
//!   out (`push_video`/`push_audio`, then `take_output`), on one core, in MB/s of message
//!   bytes; against a reference in the same run: copying the same bodies once into a buffer
//!   (`memcpy_bodies`), the least a packager that writes each part's `mdat` must do.
//! * `packager/frame_to_listed` — the RTMP path's own delay: for each message that makes the
//!   packager emit a part, from just before `push_video`/`push_audio` to the end of
//!   `IngestSession::push` of what it emitted and a read of the playlist version that lists
//!   the part (the server's default part store, the memfd arena; restamping on), p50/p99/max
//!   in µs, with the packager's share alone (`packager_*`). The media is the same stream,
//!   repeated with its timestamps continuing; the parts of the first segment are not timed,
//!   since a stream's first playlist waits for its first segment to close (measured
//!   TARGETDURATION). What this does not count, and no packager can avoid: a part ends at
//!   the frame that starts the next one, so it is emitted when that frame arrives, one frame
//!   interval (33 ms at 30 fps) after the part's last frame — the figure is the delay beyond
//!   the part's own duration plus that frame.
//!
//! Run: `cargo bench -p playlists-server --bench packager`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use playlists::{Options, Playlists};
use playlists_server::ingest::{Access, IngestConfig, Ingests};
use playlists_server::packager::{Packager, PackagerConfig};
use playlists_server::part_store::{ArenaOptions, PartStore};

const ROUNDS: usize = 5;
const VIDEO_FRAME: usize = 25_000;
const AUDIO_FRAME: usize = 370;

fn benching() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Seconds of media per measurement; `cargo test --all-targets` runs the bench too, without
/// `--bench`, and then a few seconds of media (enough for the first segment to close and a
/// few parts to be listed after it) show that it works without the cost of measuring.
fn seconds() -> u32 {
    if benching() {
        120
    } else {
        4
    }
}

/// How many times `frame_to_listed` sends the stream (timestamps continuing): 3,000 parts
/// when benching.
fn laps() -> u32 {
    if benching() {
        5
    } else {
        1
    }
}

/// One RTMP message: video or audio, timestamp, body.
struct Message {
    video: bool,
    timestamp: u32,
    body: Bytes,
}

/// A real x264 SPS (320x240 High) and PPS in a legacy AVC sequence header.
fn avc_header() -> Bytes {
    const SPS: [u8; 25] = [
        0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60,
    ];
    const PPS: [u8; 6] = [0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];
    let mut b = vec![0x17, 0, 0, 0, 0, 1, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0, 25];
    b.extend(SPS);
    b.extend([1, 0, 6]);
    b.extend(PPS);
    Bytes::from(b)
}

/// The messages of `seconds` of media, interleaved by timestamp. Bodies are slices of one
/// buffer, as an RTMP reader hands out slices of its chunk buffer.
fn stream(seconds: u32) -> Vec<Message> {
    let frames = seconds * 30;
    let audio_frames = seconds * 48_000 / 1024;
    let mut pool =
        vec![0u8; (frames as usize) * VIDEO_FRAME + (audio_frames as usize) * AUDIO_FRAME];
    // Not all zeros, so nothing is accidentally cheap.
    for (i, b) in pool.iter_mut().enumerate() {
        *b = (i.wrapping_mul(31) >> 3) as u8;
    }
    let pool = Bytes::from(pool);
    let mut at = 0;
    let mut slice = |len: usize, head: &[u8]| {
        let mut b = head.to_vec();
        b.extend_from_slice(&pool[at..at + len]);
        at += len;
        Bytes::from(b)
    };
    let mut messages = vec![
        Message {
            video: true,
            timestamp: 0,
            body: avc_header(),
        },
        Message {
            video: false,
            timestamp: 0,
            body: Bytes::from_static(&[0xaf, 0, 0x11, 0x90]),
        },
    ];
    let (mut v, mut a) = (0u32, 0u32);
    while v < frames || a < audio_frames {
        let v_ms = v * 1000 / 30;
        let a_ms = a * 1024 * 1000 / 48_000;
        if v < frames && (a >= audio_frames || v_ms <= a_ms) {
            let key = v % 60 == 0;
            // Decode order I P B B …: composition offsets of a stream with two B-frames.
            let cts: i32 = if key {
                66
            } else if v % 3 == 1 {
                100
            } else {
                0
            };
            let mut head = vec![if key { 0x17 } else { 0x27 }, 1];
            head.extend_from_slice(&cts.to_be_bytes()[1..]);
            messages.push(Message {
                video: true,
                timestamp: v_ms,
                body: slice(VIDEO_FRAME, &head),
            });
            v += 1;
        } else {
            messages.push(Message {
                video: false,
                timestamp: a_ms,
                body: slice(AUDIO_FRAME, &[0xaf, 1]),
            });
            a += 1;
        }
    }
    messages
}

fn package(messages: &[Message]) -> (usize, usize) {
    let mut p = Packager::new(PackagerConfig::default());
    let (mut parts, mut bytes) = (0, 0);
    for m in messages {
        let result = if m.video {
            p.push_video(m.timestamp, m.body.clone(), u64::from(m.timestamp))
        } else {
            p.push_audio(m.timestamp, m.body.clone(), u64::from(m.timestamp))
        };
        result.expect("valid stream");
        for unit in p.take_output() {
            parts += 1;
            bytes += black_box(unit).len();
        }
    }
    p.finish().expect("finish");
    for unit in p.take_output() {
        parts += 1;
        bytes += unit.len();
    }
    (parts, bytes)
}

fn best(mut f: impl FnMut() -> (usize, usize)) -> (Duration, (usize, usize)) {
    let mut best = Duration::MAX;
    let mut out = (0, 0);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed());
    }
    (best, out)
}

fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// RTMP message in → part listed: the packager and the ingest session as the RTMP source
/// (`MediaSink`) drives them, timed per message that completes a part.
fn frame_to_listed(messages: &[Message], seconds: u32) {
    let playlists = Arc::new(Playlists::new(Options::default()).expect("default options"));
    let ingests = Ingests::new(
        Arc::clone(&playlists),
        PartStore::new(Some(ArenaOptions::default())),
        IngestConfig::default(),
    );
    let mut session = ingests.start("bench", Access::Local).expect("fresh stream");
    let mut packager = Packager::new(PackagerConfig::default());
    // Arrival dates as the media's own pace from now, as a real-time encoder's would be.
    let start_ms = unix_ms();
    let (mut total, mut packaging) = (Vec::new(), Vec::new());
    for lap in 0..laps() {
        let shift = lap * seconds * 1000;
        // The sequence headers once: a later lap continues the same stream.
        let skip = if lap == 0 { 0 } else { 2 };
        for m in &messages[skip..] {
            let timestamp = m.timestamp + shift;
            let received = start_ms + u64::from(timestamp);
            // Timed only once parts are listed as they are published (after the first segment).
            let listed = playlists
                .stream("bench")
                .and_then(|s| s.playlist())
                .map(|v| v.position);
            let t = Instant::now();
            let result = if m.video {
                packager.push_video(timestamp, m.body.clone(), received)
            } else {
                packager.push_audio(timestamp, m.body.clone(), received)
            };
            result.expect("valid stream");
            let output = packager.take_output();
            let packaged = t.elapsed();
            let mut parts = 0;
            for unit in output {
                parts += session.push(unit).expect("publishes");
            }
            let version = playlists.stream("bench").and_then(|s| s.playlist());
            let elapsed = t.elapsed();
            if let (true, Some(before)) = (parts > 0, listed) {
                let now = version.as_ref().map(|v| v.position);
                assert!(now > Some(before), "the part is listed when push returns");
                total.push(elapsed);
                packaging.push(packaged);
            }
            black_box(version);
        }
    }
    assert!(!total.is_empty(), "no part was listed");
    total.sort();
    packaging.sort();
    println!(
        "{{\"bench\":\"packager/frame_to_listed\",\"parts\":{},\"p50_us\":{:.1},\"p99_us\":{:.1},\
         \"max_us\":{:.1},\"packager_p50_us\":{:.1},\"packager_p99_us\":{:.1},\
         \"part_store\":\"arena\",\"threads\":1}}",
        total.len(),
        percentile_us(&total, 0.5),
        percentile_us(&total, 0.99),
        percentile_us(&total, 1.0),
        percentile_us(&packaging, 0.5),
        percentile_us(&packaging, 0.99),
    );
}

fn main() {
    let seconds = seconds();
    let messages = stream(seconds);
    let input: usize = messages.iter().map(|m| m.body.len()).sum();
    let mut buf = Vec::with_capacity(input);
    let (reference, _) = best(|| {
        buf.clear();
        for m in &messages {
            buf.extend_from_slice(&m.body);
        }
        (black_box(&buf).len(), 0)
    });
    let (t, (units, output)) = best(|| package(&messages));
    let mb = input as f64 / 1e6;
    let mb_s = mb / t.as_secs_f64();
    let reference_mb_s = mb / reference.as_secs_f64();
    println!(
        "{{\"bench\":\"packager/flv_in_parts_out\",\"input_bytes\":{input},\
         \"output_bytes\":{output},\"units\":{units},\"messages\":{},\"mb_per_s\":{mb_s:.0},\
         \"reference\":\"memcpy_bodies\",\"reference_mb_per_s\":{reference_mb_s:.0},\
         \"ratio_vs_reference\":{:.2},\"threads\":1}}",
        messages.len(),
        mb_s / reference_mb_s,
    );
    frame_to_listed(&messages, seconds);
}

//! RTMP packager benchmark; one JSON object per line.
//!
//! * `packager/flv_in_parts_out` — FLV audio/video message bodies in (H.264 at ~6 Mbit/s,
//!   30 fps with B-frame composition offsets, a key frame every 2 s; AAC 48 kHz), CMAF parts
//!   out (`push_video`/`push_audio`, then `take_output`), on one core, in MB/s of message
//!   bytes; against a reference in the same run: copying the same bodies once into a buffer
//!   (`memcpy_bodies`), the least a packager that writes each part's `mdat` must do.
//! * `packager/ts_in_parts_out` — the same media as an MPEG-TS byte stream (H.264 in Annex B
//!   with an AUD per access unit and SPS/PPS before each IDR, one ADTS AAC frame per PES;
//!   PAT/PMT once a second), pushed in SRT's 1316-byte payloads through `TsDemuxer` (packet
//!   sync, demultiplexing, PES reassembly, Annex B to length-prefixed, packaging), on one
//!   core, in MB/s of transport stream bytes; against copying the same bytes once
//!   (`memcpy_ts`).
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
//! * `packager/ts_payload_to_listed` — the same for the SRT source: for each 1316-byte SRT
//!   payload of the transport stream that makes `TsDemuxer` emit a part, from just before
//!   `push` to the part listed. The same frame interval applies (a PES ends when the next
//!   one starts).
//!
//! Run: `cargo bench -p playlists-server --bench packager`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use playlists::{Options, Playlists};
use playlists_server::ingest::{Access, IngestConfig, IngestSession, Ingests};
use playlists_server::packager::{Packager, PackagerConfig, TsDemuxer};
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

/// CRC-32/MPEG-2 of a PSI section (ISO/IEC 13818-1 Annex A): polynomial 0x04C11DB7, no
/// reflection, initial value all ones.
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

/// A minimal transport stream writer for the bench: what an encoder's muxer sends.
struct TsWriter {
    out: Vec<u8>,
    cc: [u8; 0x2000],
}

const VIDEO_PID: u16 = 0x100;
const AUDIO_PID: u16 = 0x101;
const PMT_PID: u16 = 0x1000;

impl TsWriter {
    /// `payload` split into packets of `pid`, the first with payload_unit_start; the last
    /// padded with adaptation field stuffing.
    fn packets(&mut self, pid: u16, payload: &[u8]) {
        let mut rest = payload;
        let mut first = true;
        while !rest.is_empty() {
            let take = rest.len().min(184);
            let cc = self.cc[usize::from(pid)];
            self.cc[usize::from(pid)] = (cc + 1) & 0x0f;
            let pusi = if first { 0x40 } else { 0 };
            self.out.extend([0x47, pusi | (pid >> 8) as u8, pid as u8]);
            if take == 184 {
                self.out.push(0x10 | cc);
            } else {
                // Adaptation field of 184 - take bytes: its length byte, flags, stuffing.
                let af = 184 - take;
                self.out.push(0x30 | cc);
                self.out.push((af - 1) as u8);
                if af > 1 {
                    self.out.push(0);
                    self.out.extend(std::iter::repeat_n(0xff, af - 2));
                }
            }
            self.out.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            first = false;
        }
    }

    fn section(&mut self, pid: u16, table_id: u8, id: u16, body: &[u8]) {
        let mut s = vec![0, table_id];
        let len = 5 + body.len() + 4;
        s.extend([0xb0 | (len >> 8) as u8, len as u8]);
        s.extend(id.to_be_bytes());
        s.extend([0xc1, 0, 0]);
        s.extend_from_slice(body);
        let crc = crc32_mpeg2(&s[1..]);
        s.extend(crc.to_be_bytes());
        self.packets(pid, &s);
    }

    fn psi(&mut self) {
        let pat = [0, 1, 0xe0 | (PMT_PID >> 8) as u8, PMT_PID as u8];
        self.section(0, 0, 1, &pat);
        let mut pmt = vec![0xe0 | (VIDEO_PID >> 8) as u8, VIDEO_PID as u8, 0xf0, 0];
        for (stream_type, pid) in [(0x1b, VIDEO_PID), (0x0f, AUDIO_PID)] {
            pmt.extend([stream_type, 0xe0 | (pid >> 8) as u8, pid as u8, 0xf0, 0]);
        }
        self.section(PMT_PID, 2, 1, &pmt);
    }

    fn pes(&mut self, pid: u16, stream_id: u8, pts: u64, dts: u64, es: &[u8]) {
        let stamp = |marker: u8, t: u64| {
            [
                (marker << 4) | ((t >> 29) as u8 & 0x0e) | 1,
                (t >> 22) as u8,
                ((t >> 14) as u8 & 0xfe) | 1,
                (t >> 7) as u8,
                ((t << 1) as u8 & 0xfe) | 1,
            ]
        };
        let mut p = vec![0, 0, 1, stream_id];
        let header: Vec<u8> = if pts == dts {
            [&[0x80, 0x80, 5][..], &stamp(2, pts)].concat()
        } else {
            [&[0x80, 0xc0, 10][..], &stamp(3, pts), &stamp(1, dts)].concat()
        };
        // Video PES of unbounded length (0), as muxers write them; audio bounded.
        let len = header.len() + es.len();
        let len = if stream_id >= 0xe0 || len > 0xffff {
            0
        } else {
            len
        };
        p.extend((len as u16).to_be_bytes());
        p.extend(header);
        p.extend_from_slice(es);
        self.packets(pid, &p);
    }
}

/// The media of `stream(seconds)` as a transport stream.
fn ts_stream(seconds: u32) -> Vec<u8> {
    const SPS: [u8; 25] = [
        0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60,
    ];
    const PPS: [u8; 6] = [0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];
    let frames = seconds * 30;
    let audio_frames = seconds * 48_000 / 1024;
    // Slice data without zero bytes, so that no start code appears inside it.
    let pool: Vec<u8> = (0..VIDEO_FRAME + AUDIO_FRAME)
        .map(|i| ((i.wrapping_mul(31) >> 3) as u8).max(1))
        .collect();
    let mut w = TsWriter {
        out: Vec::new(),
        cc: [0; 0x2000],
    };
    let offset = 126_000u64; // 1.4 s, as ffmpeg starts
    let (mut v, mut a) = (0u32, 0u32);
    while v < frames || a < audio_frames {
        let v_t = u64::from(v) * 3000;
        let a_t = u64::from(a) * 1024 * 90_000 / 48_000;
        if v < frames && (a >= audio_frames || v_t <= a_t) {
            let key = v % 60 == 0;
            if v % 30 == 0 {
                w.psi();
            }
            let cts: u64 = if key {
                6000
            } else if v % 3 == 1 {
                9000
            } else {
                0
            };
            let mut es = vec![0, 0, 0, 1, 9, 0xf0];
            if key {
                es.extend([0, 0, 0, 1]);
                es.extend(SPS);
                es.extend([0, 0, 0, 1]);
                es.extend(PPS);
            }
            es.extend([0, 0, 1, if key { 0x65 } else { 0x41 }]);
            es.extend_from_slice(&pool[..VIDEO_FRAME]);
            w.pes(VIDEO_PID, 0xe0, offset + v_t + cts, offset + v_t, &es);
            v += 1;
        } else {
            // ADTS: AAC LC, 48 kHz (index 3), stereo, no CRC.
            let len = AUDIO_FRAME + 7;
            let mut es = vec![
                0xff,
                0xf1,
                (1 << 6) | (3 << 2),
                (2 << 6) | ((len >> 11) as u8 & 3),
                (len >> 3) as u8,
                ((len as u8 & 7) << 5) | 0x1f,
                0xfc,
            ];
            es.extend_from_slice(&pool[VIDEO_FRAME..]);
            w.pes(AUDIO_PID, 0xc0, offset + a_t, offset + a_t, &es);
            a += 1;
        }
    }
    w.out
}

fn package_ts(ts: &[u8]) -> (usize, usize) {
    let mut d = TsDemuxer::new(PackagerConfig::default());
    let (mut units, mut bytes) = (0, 0);
    for (i, payload) in ts.chunks(1316).enumerate() {
        d.push(payload, i as u64).expect("valid stream");
        for unit in d.take_output() {
            units += 1;
            bytes += black_box(unit).len();
        }
    }
    d.finish().expect("finish");
    for unit in d.take_output() {
        units += 1;
        bytes += unit.len();
    }
    (units, bytes)
}

fn ts_in_parts_out(seconds: u32) {
    let ts = ts_stream(seconds);
    let mut buf = Vec::with_capacity(ts.len());
    let (reference, _) = best(|| {
        buf.clear();
        for payload in ts.chunks(1316) {
            buf.extend_from_slice(payload);
        }
        (black_box(&buf).len(), 0)
    });
    let (t, (units, output)) = best(|| package_ts(&ts));
    // Every frame came out: 30 fps of video, and parts at least once a second.
    assert!(units > seconds as usize, "{units} units");
    let mb = ts.len() as f64 / 1e6;
    let mb_s = mb / t.as_secs_f64();
    let reference_mb_s = mb / reference.as_secs_f64();
    println!(
        "{{\"bench\":\"packager/ts_in_parts_out\",\"input_bytes\":{},\
         \"output_bytes\":{output},\"units\":{units},\"mb_per_s\":{mb_s:.0},\
         \"reference\":\"memcpy_ts\",\"reference_mb_per_s\":{reference_mb_s:.0},\
         \"ratio_vs_reference\":{:.2},\"threads\":1}}",
        ts.len(),
        mb_s / reference_mb_s,
    );
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

/// Input in → part listed: times each step that makes a packager emit a part, from just
/// before the step to the end of `IngestSession::push` of what it emitted and a read of the
/// playlist version that lists the part (the server's default part store, the memfd arena;
/// restamping on).
struct ToListed {
    playlists: Arc<Playlists>,
    session: IngestSession,
    total: Vec<Duration>,
    packaging: Vec<Duration>,
}

impl ToListed {
    fn new() -> Self {
        let playlists = Arc::new(Playlists::new(Options::default()).expect("default options"));
        let ingests = Ingests::new(
            Arc::clone(&playlists),
            PartStore::new(Some(ArenaOptions::default())),
            IngestConfig::default(),
        );
        let session = ingests.start("bench", Access::Local).expect("fresh stream");
        Self {
            playlists,
            session,
            total: Vec::new(),
            packaging: Vec::new(),
        }
    }

    /// Runs `step` (input into a packager, returning what it emitted) and times it if it
    /// completes a part. Parts are timed only once they are listed as they are published
    /// (after the first segment).
    fn step(&mut self, step: impl FnOnce() -> Vec<Bytes>) {
        let listed = self
            .playlists
            .stream("bench")
            .and_then(|s| s.playlist())
            .map(|v| v.position);
        let t = Instant::now();
        let output = step();
        let packaged = t.elapsed();
        let mut parts = 0;
        for unit in output {
            parts += self.session.push(unit).expect("publishes");
        }
        let version = self.playlists.stream("bench").and_then(|s| s.playlist());
        let elapsed = t.elapsed();
        if let (true, Some(before)) = (parts > 0, listed) {
            let now = version.as_ref().map(|v| v.position);
            assert!(now > Some(before), "the part is listed when push returns");
            self.total.push(elapsed);
            self.packaging.push(packaged);
        }
        black_box(version);
    }

    fn report(mut self, bench: &str) {
        assert!(!self.total.is_empty(), "no part was listed");
        self.total.sort();
        self.packaging.sort();
        println!(
            "{{\"bench\":\"packager/{bench}\",\"parts\":{},\"p50_us\":{:.1},\"p99_us\":{:.1},\
             \"max_us\":{:.1},\"packager_p50_us\":{:.1},\"packager_p99_us\":{:.1},\
             \"part_store\":\"arena\",\"threads\":1}}",
            self.total.len(),
            percentile_us(&self.total, 0.5),
            percentile_us(&self.total, 0.99),
            percentile_us(&self.total, 1.0),
            percentile_us(&self.packaging, 0.5),
            percentile_us(&self.packaging, 0.99),
        );
    }
}

/// RTMP message in → part listed: the packager and the ingest session as the RTMP source
/// (`MediaSink`) drives them, timed per message that completes a part.
fn frame_to_listed(messages: &[Message], seconds: u32) {
    let mut timed = ToListed::new();
    let mut packager = Packager::new(PackagerConfig::default());
    // Arrival dates as the media's own pace from now, as a real-time encoder's would be.
    let start_ms = unix_ms();
    for lap in 0..laps() {
        let shift = lap * seconds * 1000;
        // The sequence headers once: a later lap continues the same stream.
        let skip = if lap == 0 { 0 } else { 2 };
        for m in &messages[skip..] {
            let timestamp = m.timestamp + shift;
            let received = start_ms + u64::from(timestamp);
            timed.step(|| {
                let result = if m.video {
                    packager.push_video(timestamp, m.body.clone(), received)
                } else {
                    packager.push_audio(timestamp, m.body.clone(), received)
                };
                result.expect("valid stream");
                packager.take_output()
            });
        }
    }
    timed.report("frame_to_listed");
}

/// SRT payload in → part listed: the SRT source's path after the socket, a 1316-byte
/// payload (seven TS packets, what SRT delivers) through `TsDemuxer` and the ingest session,
/// timed per payload that completes a part.
fn ts_to_listed(seconds: u32) {
    let ts = ts_stream(seconds * laps());
    let payloads: Vec<&[u8]> = ts.chunks(1316).collect();
    let mut timed = ToListed::new();
    let mut demuxer = TsDemuxer::new(PackagerConfig::default());
    // Arrival dates spread over the media's duration, as a real-time encoder's would be.
    let start_ms = unix_ms();
    let media_ms = u64::from(seconds * laps()) * 1000;
    let n = payloads.len() as u64;
    for (i, payload) in payloads.iter().enumerate() {
        let received = start_ms + i as u64 * media_ms / n;
        timed.step(|| {
            demuxer.push(payload, received).expect("valid stream");
            demuxer.take_output()
        });
    }
    timed.report("ts_payload_to_listed");
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
    ts_in_parts_out(seconds);
    frame_to_listed(&messages, seconds);
    ts_to_listed(seconds);
}

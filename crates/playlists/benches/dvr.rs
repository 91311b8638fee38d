//! DVR window benchmark; one JSON object per line.
//!
//! `dvr/publish` — `Playlists::add` of one 200 ms part to a stream whose playlist lists a
//! 2-hour DVR window (3,600 segments of 2 s, 32 of them live), against the same stream with a
//! live window only (the reference), measured in the same run: µs per part (p50, p99), the
//! delta update's size gzip'd (what players reload), and the full playlist's size and the
//! time to assemble and gzip it on its first request (once per version).
//!
//! Run: `cargo bench -p playlists --bench dvr`. Without `--bench` (as `cargo test
//! --all-targets` runs it) the window is 2 minutes.

use std::time::Instant;

use bytes::Bytes;
use playlists::{Init, Options, Part, PartTiming, Playlists};

fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn part(n: u64) -> Part {
    Part {
        bytes: Bytes::from_static(&[0u8; 64]),
        timing: PartTiming {
            duration: 200,
            timescale: 1000,
            decode_time: n * 200,
            // A key frame every 2 s: 2 s segments.
            independent: n % 10 == 0,
            wallclock_ms: Some(1_796_601_600_000),
        },
        init: Some(Init {
            bytes: Bytes::from_static(b"init"),
            codecs: "avc1.64001f,mp4a.40.2".into(),
            resolution: Some((1280, 720)),
            frame_rate: Some(30.0),
            video: true,
            audio: None,
        }),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Fills a stream past `window_s` of DVR window (or a live window only), then measures
/// `measured` more parts.
fn run(label: &str, window_s: Option<u64>, fill_s: u64, measured: u64) {
    let p = Playlists::new(Options {
        num_playlists: 1,
        dvr_window_ms: window_s.map(|s| s * 1000),
        ..Options::default()
    })
    .expect("valid options");
    let fill = fill_s * 5;
    for n in 0..fill {
        p.add("cam", part(n)).expect("a part");
    }
    let mut us = Vec::with_capacity(measured as usize);
    for n in fill..fill + measured {
        let t = Instant::now();
        p.add("cam", part(n)).expect("a part");
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    let version = p
        .stream("cam")
        .and_then(|s| s.playlist())
        .expect("a version");
    let delta_gzip = version.delta.as_ref().map_or(0, |d| d.gzip.len());
    let t = Instant::now();
    let full_plain = version.full.plain.len();
    let assemble_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{{\"bench\":\"dvr/publish\",\"window\":\"{label}\",\"parts\":{measured},\"us_p50\":{:.1},\"us_p99\":{:.1},\"delta_gzip_bytes\":{delta_gzip},\"full_bytes\":{full_plain},\"full_gzip_bytes\":{},\"first_full_ms\":{assemble_ms:.2}}}",
        percentile(&us, 0.5),
        percentile(&us, 0.99),
        version.full.gzip.len(),
    );
}

fn main() {
    let (window, fill, measured) = if full() {
        (7200, 7300, 5000)
    } else {
        (120, 150, 200)
    };
    // Alternating, so that a noisy moment hits both.
    for _ in 0..2 {
        run("live only", None, fill, measured);
        run(&format!("{window} s"), Some(window), fill, measured);
    }
}

//! The cost of publishing one part: roll it into the playlist, render the full playlist and
//! its delta update, gzip both — what `Playlists::add` does per part besides storing the
//! bytes — with the default options but TARGETDURATION fixed at 4 s, as when the README's
//! figures were taken (PART-TARGET 0.2 s, 32 segments: a 64 s window of 2 s segments at 90 kHz
//! with parts listed for the last 12 s). The default measures TARGETDURATION 2 for these
//! segments, which lists parts for the last 6 s only: cheaper.
//!
//! `cargo bench -p playlists --bench manifest` prints one JSON object per line, each with
//! `us_per_part` (median of three runs) and `vs_reference`, its ratio to the reference:
//! * `impl: "Playlists::add"` — the whole publish path (chunk cache, locks, rendition
//!   reports, render, gzip, M3u8Cache) on one stream of a two-rendition group: the figure;
//! * `impl: "render+gzip1 reused"` — push, both renders and the library's gzip
//!   (`playlists::gzip::gzip`: level 1, a deflate state reused between playlists);
//! * `impl: "render+gzip1 per playlist"` — the reference: the same with a fresh
//!   `flate2::write::GzEncoder` per playlist (the obvious way, and what the library did
//!   before);
//! * `impl: "render+gzip6 reused"` — the level choice: flate2's default level instead of 1,
//!   framed as the library frames level 1;
//! * `impl: "render only"` — push and renders without compression, to split the cost.
//!
//! The target is under 50 µs per part: 100 live streams × 5 parts/s then cost < 3 % of a core.
//!
//! `cargo test --all-targets` runs this binary too (without `--bench`, unoptimised): it then
//! only checks that every variant runs, with a few parts and one round.

use std::hint::black_box;
use std::io::Write as _;
use std::time::Instant;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use playlists::{Init, M3u8Manifest, Options, Part, PartMeta, PartTiming, Playlists, Skip};

const TIMESCALE: u32 = 90_000;
const PART_TICKS: u64 = 18_000; // 200 ms
const GOP: u64 = 10; // 2 s
/// Parts pushed before measuring: the 32-segment window is full and sliding.
const WARMUP: u64 = 32 * GOP + 50;
/// Parts measured per run under `cargo bench`.
const MEASURED: u64 = 20_000;
/// Parts per run when `cargo test` runs the binary as a smoke test.
const SMOKE: u64 = 20;
const START_MS: u64 = 1_700_000_000_000;

fn meta(n: u64) -> PartMeta {
    PartMeta {
        id: n,
        // ~2 Mbit/s video: ~50 kB per 200 ms part, keyframe parts larger.
        len: if n % GOP == 0 {
            120_000
        } else {
            42_000 + n % 1000
        },
        init_id: 0,
        timing: PartTiming {
            duration: PART_TICKS,
            timescale: TIMESCALE,
            decode_time: n * PART_TICKS,
            independent: n % GOP == 0,
            wallclock_ms: None,
        },
    }
}

/// gzip with a reused deflate state at another level than the library's, framed as
/// `playlists::gzip` frames it.
fn gzip(deflate: &mut Compress, plain: &[u8]) -> Vec<u8> {
    deflate.reset();
    let mut out = Vec::with_capacity(plain.len() / 4 + 80);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    loop {
        let input = &plain[deflate.total_in() as usize..];
        match deflate.compress_vec(input, &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => break,
            Ok(_) => out.reserve(out.capacity()),
            Err(e) => panic!("deflate: {e}"),
        }
    }
    let mut crc = Crc::new();
    crc.update(plain);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(plain.len() as u32).to_le_bytes());
    out
}

/// gzip with a fresh encoder, which allocates its ~230 KB of deflate tables every time.
fn gzip_once(plain: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(plain.len() / 4 + 80),
        Compression::new(1),
    );
    encoder.write_all(plain).expect("a Vec sink never fails");
    encoder.finish().expect("a Vec sink never fails")
}

#[derive(Debug, Clone, Copy)]
enum Zip {
    /// A new gzip encoder per playlist.
    PerPlaylist,
    /// The library's gzip: level 1, its thread's deflate state reused.
    Library,
    /// A deflate state reused at this level.
    Reused(u32),
    None,
}

#[derive(Debug, Default)]
struct Sizes {
    full: usize,
    delta: usize,
    gzip: usize,
}

/// The defaults with TARGETDURATION fixed at 4 s (see the module docs).
fn options() -> Options {
    Options {
        target_duration: playlists::TargetDuration::Fixed(4),
        ..Options::default()
    }
}

/// Pushes and publishes `MEASURED` parts after a warm-up; returns µs per part.
fn run(zip: Zip, measured: u64) -> (f64, Sizes) {
    let opts = options();
    let mut m = M3u8Manifest::new(&opts, START_MS).expect("default options are valid");
    for n in 0..WARMUP {
        m.push(meta(n)).expect("valid part");
    }
    let level = match zip {
        Zip::Reused(level) => level,
        _ => 1,
    };
    let mut deflate = Compress::new(Compression::new(level), false);
    let (mut full_len, mut delta_len) = (8192, 8192);
    let mut sizes = Sizes::default();
    let started = Instant::now();
    for n in WARMUP..WARMUP + measured {
        m.push(meta(n)).expect("valid part");
        // As the registry does: buffers sized from the previous render, one allocation each.
        let mut full = Vec::with_capacity(full_len + 512);
        m.render(Skip::No, &[], &mut full);
        let mut delta = Vec::with_capacity(delta_len + 512);
        m.render(Skip::Yes, &[], &mut delta);
        (full_len, delta_len) = (full.len(), delta.len());
        sizes.full = full.len();
        sizes.delta = delta.len();
        match zip {
            Zip::PerPlaylist => {
                let (f, d) = (gzip_once(&full), gzip_once(&delta));
                sizes.gzip = f.len();
                black_box((f, d, full, delta));
            }
            Zip::Library => {
                let (f, d) = (playlists::gzip::gzip(&full), playlists::gzip::gzip(&delta));
                sizes.gzip = f.len();
                black_box((f, d, full, delta));
            }
            Zip::Reused(_) => {
                let (f, d) = (gzip(&mut deflate, &full), gzip(&mut deflate, &delta));
                sizes.gzip = f.len();
                black_box((f, d, full, delta));
            }
            Zip::None => {
                black_box((full, delta));
            }
        }
    }
    let us = started.elapsed().as_secs_f64() * 1e6 / measured as f64;
    (us, sizes)
}

/// The whole publish path: `Playlists::add` on `live/720p` while `live/360p` publishes too.
fn run_registry(measured: u64) -> f64 {
    let playlists = Playlists::new(options()).expect("default options are valid");
    let init = Init {
        bytes: Bytes::from_static(b"ftyp+moov"),
        codecs: "avc1.64001f,mp4a.40.2".to_owned(),
        resolution: Some((1280, 720)),
        frame_rate: Some(30.0),
        video: true,
        audio: None,
    };
    let payload = Bytes::from(vec![0u8; 42_000]);
    let part = |n: u64| Part {
        bytes: payload.clone(),
        init: Some(init.clone()),
        timing: PartTiming {
            duration: PART_TICKS,
            timescale: TIMESCALE,
            decode_time: n * PART_TICKS,
            independent: n % GOP == 0,
            wallclock_ms: Some(START_MS),
        },
    };
    for n in 0..WARMUP {
        playlists.add("live/360p", part(n)).expect("valid part");
        playlists.add("live/720p", part(n)).expect("valid part");
    }
    let mut spent = 0.0;
    for n in WARMUP..WARMUP + measured {
        playlists.add("live/360p", part(n)).expect("valid part");
        let started = Instant::now();
        black_box(playlists.add("live/720p", part(n)).expect("valid part"));
        spent += started.elapsed().as_secs_f64();
    }
    spent * 1e6 / measured as f64
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` does not.
    let (measured, rounds) = if std::env::args().any(|a| a == "--bench") {
        (MEASURED, 3)
    } else {
        (SMOKE, 1)
    };
    const REFERENCE: usize = 2;
    let variants: [(&str, Option<Zip>); 5] = [
        ("Playlists::add", None),
        ("render+gzip1 reused", Some(Zip::Library)),
        ("render+gzip1 per playlist", Some(Zip::PerPlaylist)),
        ("render+gzip6 reused", Some(Zip::Reused(6))),
        ("render only", Some(Zip::None)),
    ];
    // Runs of each, interleaved so that a noisy moment does not hit one variant only.
    let mut times = vec![Vec::new(); variants.len()];
    let mut sizes: Vec<Option<Sizes>> = variants.iter().map(|_| None).collect();
    for _ in 0..rounds {
        for (i, (_, zip)) in variants.iter().enumerate() {
            match zip {
                None => times[i].push(run_registry(measured)),
                Some(zip) => {
                    let (us, s) = run(*zip, measured);
                    times[i].push(us);
                    sizes[i] = Some(s);
                }
            }
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let reference = median(&times[REFERENCE]);
    for (i, (name, _)) in variants.iter().enumerate() {
        let us = median(&times[i]);
        let runs: Vec<String> = times[i].iter().map(|t| format!("{t:.2}")).collect();
        let mut line = format!(
            "{{\"bench\":\"manifest/publish_part_32_segments\",\"impl\":\"{name}\",\
             \"us_per_part\":{us:.2},\"runs_us\":[{}],\"parts\":{measured},\
             \"reference\":\"{}\",\"vs_reference\":{:.3}",
            runs.join(","),
            variants[REFERENCE].0,
            us / reference
        );
        if let Some(s) = &sizes[i] {
            line.push_str(&format!(
                ",\"playlist_bytes\":{},\"delta_bytes\":{},\"gzip_bytes\":{}",
                s.full, s.delta, s.gzip
            ));
        }
        line.push_str(",\"threads\":1}");
        println!("{line}");
    }
}

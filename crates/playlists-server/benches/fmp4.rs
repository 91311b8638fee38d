//! fMP4 ingest benchmarks; one JSON object per line.
//!
//! * `fmp4/split_*` — splitter throughput over a ~32 MiB stream (the demo clip's fragments
//!   repeated, timestamps running on), pushed whole and in 64 KiB chunks (as a socket
//!   delivers it), against a reference in the same run: copying the same bytes once into a
//!   buffer (`memcpy_64k_chunks`), the least any parser that owns its input must do.
//! * `fmp4/moof_decode` — reading the `moof` of each of the clip's parts with the splitter's
//!   hand-written parser (`fragment::parse`: sample count, duration, decode time,
//!   independence), against mp4-atom's `Moof` decode of the same bytes in the same run (the
//!   evidence for keeping the per-part path hand-written: `src/fmp4/boxes.rs`).
//! * `ingest/publish_delay` — `IngestSession::push` of one 200 ms part until the playlist
//!   version listing it is readable, p50/p99 in µs, against `Playlists::add` of the same
//!   parts already parsed (the library's own cost).
//!
//! Run: `cargo bench -p playlists-server --bench fmp4`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use playlists::{Init, Options, Part, PartTiming, Playlists};
use playlists_server::fmp4::boxes::read_header;
use playlists_server::fmp4::{fragment, FourCC, Limits, Splitter, Unit};
use playlists_server::ingest::sources::demo::DemoClip;
use playlists_server::ingest::Access;
use playlists_server::ingest::{IngestConfig, Ingests};
use playlists_server::part_store::{ArenaOptions, PartStore};

const TARGET_BYTES: usize = 32 << 20;
const CHUNK: usize = 64 * 1024;
const ROUNDS: usize = 5;

/// init + the clip's parts (with running timestamps) until `TARGET_BYTES`.
fn long_stream(clip: &DemoClip) -> Bytes {
    let mut out = BytesMut::from(&clip.movie().init.bytes[..]);
    let mut index = 0;
    while out.len() < TARGET_BYTES {
        let (bytes, _) = clip.part(index).expect("the shipped clip rewrites");
        out.extend_from_slice(&bytes);
        index += 1;
    }
    out.freeze()
}

/// Best of `ROUNDS` runs of `f`, which returns the number of parts it saw.
fn best(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut parts = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        parts = f();
        best = best.min(t.elapsed());
    }
    (best, parts)
}

fn split(stream: &Bytes, chunk: usize) -> usize {
    let mut splitter = Splitter::new(Limits::default());
    let mut events = Vec::with_capacity(16);
    let mut parts = 0;
    let mut at = 0;
    while at < stream.len() {
        let end = (at + chunk).min(stream.len());
        splitter
            .push_into(stream.slice(at..end), &mut events)
            .expect("valid stream");
        parts += events
            .iter()
            .filter(|e| matches!(e, Unit::Fragment(_)))
            .count();
        black_box(&events);
        events.clear();
        at = end;
    }
    splitter.finish().expect("complete stream");
    parts
}

/// Copies `stream` chunk by chunk into `buf` (allocated once, so page faults of a fresh
/// allocation are not what is measured).
fn memcpy(stream: &Bytes, chunk: usize, buf: &mut Vec<u8>) -> usize {
    buf.clear();
    for c in stream.chunks(chunk) {
        buf.extend_from_slice(c);
    }
    black_box(&buf).len() / chunk
}

fn throughput(stream: &Bytes) {
    let mb = stream.len() as f64 / 1e6;
    let mut buf = Vec::with_capacity(stream.len());
    let (reference, _) = best(|| memcpy(stream, CHUNK, &mut buf));
    let reference_mb_s = mb / reference.as_secs_f64();
    for (name, chunk) in [("split_whole", stream.len()), ("split_64k_chunks", CHUNK)] {
        let (t, parts) = best(|| split(stream, chunk));
        let mb_s = mb / t.as_secs_f64();
        println!(
            "{{\"bench\":\"fmp4/{name}\",\"bytes\":{},\"parts\":{parts},\"mb_per_s\":{mb_s:.0},\
             \"parts_per_s\":{:.0},\"reference\":\"memcpy_64k_chunks\",\
             \"reference_mb_per_s\":{reference_mb_s:.0},\"ratio_vs_reference\":{:.2},\"threads\":1}}",
            stream.len(),
            parts as f64 / t.as_secs_f64(),
            mb_s / reference_mb_s,
        );
    }
}

/// The range of the `moof` box in a part (after any `styp`/`prft`).
fn moof_range(part: &[u8]) -> std::ops::Range<usize> {
    let mut at = 0;
    loop {
        let h = read_header(&part[at..]).expect("a whole box");
        let size = h.size.expect("a sized box") as usize;
        if h.fourcc == FourCC::MOOF {
            return at..at + size;
        }
        at += size;
    }
}

fn moof_decode(clip: &DemoClip) {
    const PARTS: u64 = 1000;
    let init = clip.movie();
    let parts: Vec<(Bytes, std::ops::Range<usize>)> = (0..PARTS)
        .map(|i| {
            let bytes = clip.part(i).expect("rewrites").0;
            let moof = moof_range(&bytes);
            (bytes, moof)
        })
        .collect();
    let (ours, _) = best(|| {
        for (bytes, moof) in &parts {
            let f = fragment::parse(bytes.clone(), moof.clone(), init).expect("valid part");
            black_box(f);
        }
        parts.len()
    });
    let (reference, _) = best(|| {
        for (bytes, moof) in &parts {
            let mut buf = &bytes[moof.clone()];
            let m = <mp4_atom::Moof as mp4_atom::Decode>::decode(&mut buf).expect("valid moof");
            black_box(m);
        }
        parts.len()
    });
    let per = |d: Duration| d.as_secs_f64() * 1e9 / PARTS as f64;
    println!(
        "{{\"bench\":\"fmp4/moof_decode\",\"parts\":{PARTS},\"ns_per_moof\":{:.0},\
         \"reference\":\"mp4_atom_moof_decode\",\"reference_ns_per_moof\":{:.0},\
         \"ratio_vs_reference\":{:.2},\"threads\":1}}",
        per(ours),
        per(reference),
        per(ours) / per(reference),
    );
}

fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn publish_delay(clip: &DemoClip) {
    const PARTS: u64 = 3000;
    let parts: Vec<Bytes> = (0..PARTS)
        .map(|i| clip.part(i).expect("rewrites").0)
        .collect();

    // Ours: bytes in → playlist version out, through the splitter and the session.
    let playlists = Arc::new(Playlists::new(Options::default()).expect("default options"));
    let ingests = Ingests::new(
        Arc::clone(&playlists),
        PartStore::new(Some(ArenaOptions::default())),
        IngestConfig::default(),
    );
    let mut session = ingests.start("bench", Access::Local).expect("fresh stream");
    session.push(clip.movie().init.bytes.clone()).expect("init");

    // Reference: the library alone, fed the same parts already parsed.
    let reference_playlists = Playlists::new(Options::default()).expect("default options");
    let init = clip.movie();
    let library_init = Init {
        bytes: init.init.bytes.clone(),
        codecs: init.init.codecs.clone(),
        resolution: init.init.resolution,
        frame_rate: Some(30.0),
        video: true,
        audio: None,
    };
    let mut splitter = Splitter::new(Limits::default());
    splitter.push(init.init.bytes.clone()).expect("init");
    let prepared: Vec<Part> = parts
        .iter()
        .enumerate()
        .map(
            |(i, bytes)| match splitter.push(bytes.clone()).expect("part").pop() {
                Some(Unit::Fragment(f)) => Part {
                    bytes: f.bytes,
                    init: (i == 0).then(|| library_init.clone()),
                    timing: PartTiming {
                        duration: f.timing.duration,
                        timescale: f.timing.timescale,
                        decode_time: f.timing.decode_time,
                        independent: f.timing.independent,
                        wallclock_ms: None,
                    },
                },
                _ => unreachable!("one fragment per part"),
            },
        )
        .collect();

    // Interleaved, so whatever else the machine does hits both alike.
    let mut ours = Vec::with_capacity(parts.len());
    let mut reference = Vec::with_capacity(prepared.len());
    for (bytes, part) in parts.iter().zip(prepared) {
        let t = Instant::now();
        session.push(bytes.clone()).expect("publishes");
        let version = playlists.stream("bench").and_then(|s| s.playlist());
        ours.push(t.elapsed());
        black_box(version);

        let t = Instant::now();
        reference_playlists.add("bench", part).expect("publishes");
        let version = reference_playlists
            .stream("bench")
            .and_then(|s| s.playlist());
        reference.push(t.elapsed());
        black_box(version);
    }

    ours.sort();
    reference.sort();
    println!(
        "{{\"bench\":\"ingest/publish_delay\",\"parts\":{PARTS},\"p50_us\":{:.1},\"p99_us\":{:.1},\
         \"max_us\":{:.1},\"reference\":\"playlists_add_preparsed\",\"reference_p50_us\":{:.1},\
         \"reference_p99_us\":{:.1},\"ratio_p50\":{:.2},\"threads\":1}}",
        percentile_us(&ours, 0.5),
        percentile_us(&ours, 0.99),
        percentile_us(&ours, 1.0),
        percentile_us(&reference, 0.5),
        percentile_us(&reference, 0.99),
        percentile_us(&ours, 0.5) / percentile_us(&reference, 0.5),
    );
}

fn main() {
    let clip = DemoClip::builtin().expect("the shipped clip parses");
    let stream = long_stream(&clip);
    throughput(&stream);
    moof_decode(&clip);
    publish_delay(&clip);
}

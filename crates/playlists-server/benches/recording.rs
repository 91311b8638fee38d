//! Recording benchmarks; one JSON object per line.
//!
//! * `recording/find_again` — [`Catalog::load`] of one recording holding 24 hours of 2 s
//!   segments (43,200 index lines), as the origin does at start: ms, median of 5 (the index
//!   in the page cache, as after a process restart; target ≤ 1,000 ms).
//! * `recording/bytes_written` — bytes the recorder writes (segments, init section, index
//!   lines) per byte of media published, for a stream of 30 KB parts in 2 s segments (target
//!   ≤ 1.05).
//!
//! Run: `cargo bench -p playlists-server --bench recording`. Without `--bench` (as
//! `cargo test --all-targets` runs it) the sizes are a hundredth.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use playlists::{Init, Options, Part, PartTiming, Playlists, SegmentObserver};
use playlists_server::recording::{Catalog, Line, Recorder, Retention, SegmentEntry};

fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn find_again() {
    let segments: u64 = if full() { 43_200 } else { 432 };
    let root = tempfile::tempdir().expect("a temporary directory");
    let dir = root.path().join("cam").join("20261207T000000Z");
    std::fs::create_dir_all(&dir).expect("the recording's directory");
    let mut index =
        std::io::BufWriter::new(std::fs::File::create(dir.join("index.jsonl")).expect("the index"));
    let start_us = 1_796_601_600_000_000u64;
    let mut lines = vec![
        Line::Start {
            stream: "cam".into(),
            started_ms: start_us / 1000,
        },
        Line::Init { id: 7, bytes: 900 },
    ];
    lines.extend((0..segments).map(|i| {
        Line::Segment(SegmentEntry {
            msn: 898_300_800 + i,
            duration_us: 2_000_000,
            pdt_us: start_us + i * 2_000_000,
            discontinuity: false,
            init: 7,
            bytes: 750_000,
        })
    }));
    for line in &lines {
        index.write_all(&line.encode()).expect("an index line");
    }
    drop(index);
    let mut ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (catalog, report) = Catalog::load(root.path()).expect("the recordings load");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(report.segments as u64, segments);
        assert_eq!(catalog.recordings.len(), 1);
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "{{\"bench\":\"recording/find_again\",\"segments\":{segments},\"ms_p50\":{:.1},\"ms_max\":{:.1},\"target_ms\":1000}}",
        ms[2], ms[4]
    );
}

fn bytes_written() {
    let parts: u64 = if full() { 3_000 } else { 30 };
    let root = tempfile::tempdir().expect("a temporary directory");
    let recorder = Recorder::start(root.path().to_owned(), Retention::default(), None)
        .expect("the recorder starts");
    let playlists = Playlists::new(Options::default())
        .expect("the default options")
        .with_observer(Arc::clone(&recorder) as Arc<dyn SegmentObserver>);
    let init = Bytes::from(vec![7u8; 900]);
    let mut published = init.len() as u64;
    for n in 0..parts {
        let bytes = Bytes::from(vec![(n % 251) as u8; 30_000]);
        published += bytes.len() as u64;
        let part = Part {
            bytes,
            timing: PartTiming {
                duration: 200,
                timescale: 1000,
                decode_time: n * 200,
                // A key frame every 2 s: 2 s segments.
                independent: n % 10 == 0,
                wallclock_ms: Some(1_796_601_600_000 + n * 200),
            },
            init: Some(Init {
                bytes: init.clone(),
                codecs: "avc1.64001f".into(),
                resolution: Some((1280, 720)),
                frame_rate: Some(30.0),
                video: true,
                audio: None,
            }),
        };
        playlists.add("cam", part).expect("a part is published");
    }
    playlists.fin("cam").expect("the stream ends");
    // Writes what is queued and ends the thread.
    recorder.close();
    let stats = &recorder.recordings().stats;
    assert_eq!(stats.segments(), parts / 10);
    println!(
        "{{\"bench\":\"recording/bytes_written\",\"published_bytes\":{published},\"written_bytes\":{},\"per_byte\":{:.4},\"target\":1.05}}",
        stats.bytes_written(),
        stats.bytes_written() as f64 / published as f64
    );
}

fn main() {
    find_again();
    bytes_written();
}

//! [`SegmentObserver`]: every completed segment is reported once, in order, with exactly the
//! bytes the playlist serves for it, and every run's end is reported after its last segment.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use playlists::{
    CompletedSegment, Init, Options, Part, PartTiming, Playlists, SegmentObserver, StreamIdx,
};

#[derive(Debug, PartialEq)]
enum Event {
    Segment {
        stream: String,
        idx: StreamIdx,
        msn: u64,
        bytes: Vec<u8>,
        init: Bytes,
        discontinuity: bool,
        duration_ms: u64,
        pdt_ms: u64,
    },
    Ended(String, StreamIdx),
}

#[derive(Debug, Default)]
struct Log(Mutex<Vec<Event>>);

impl SegmentObserver for Log {
    fn segment_completed(&self, stream: &str, segment: CompletedSegment) {
        self.0.lock().unwrap().push(Event::Segment {
            stream: stream.to_owned(),
            idx: segment.stream,
            msn: segment.info.msn,
            bytes: segment.parts.concat(),
            init: segment.init,
            discontinuity: segment.info.discontinuity,
            duration_ms: (segment.info.duration_secs * 1000.0).round() as u64,
            pdt_ms: segment.info.pdt_unix_us / 1000,
        });
    }

    fn stream_ended(&self, stream: &str, idx: StreamIdx) {
        self.0
            .lock()
            .unwrap()
            .push(Event::Ended(stream.to_owned(), idx));
    }
}

const START_MS: u64 = 1_700_000_000_000;

fn options() -> Options {
    Options {
        num_playlists: 2,
        max_segments: 4,
        segment_min_ms: 1000,
        target_duration: playlists::TargetDuration::Fixed(2),
        part_target_ms: 200,
        numbering: playlists::Numbering::FromZero,
        ..Options::default()
    }
}

/// Part `n`: 200 ms, a key frame every fifth part, bytes naming the stream, `n` and `tag`.
fn part(tag: &str, n: u64, decode_ms: u64) -> Part {
    Part {
        bytes: Bytes::from(format!("{tag}:{n:06};")),
        init: Some(Init {
            bytes: Bytes::from(format!("init {tag}")),
            codecs: String::new(),
            resolution: None,
            frame_rate: None,
            video: true,
            audio: None,
        }),
        timing: PartTiming {
            duration: 200,
            timescale: 1000,
            decode_time: decode_ms,
            independent: n % 5 == 0,
            wallclock_ms: Some(START_MS),
        },
    }
}

fn segments(log: &Log) -> Vec<(u64, String, bool)> {
    log.0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Segment {
                msn,
                bytes,
                discontinuity,
                ..
            } => Some((
                *msn,
                String::from_utf8(bytes.clone()).unwrap(),
                *discontinuity,
            )),
            Event::Ended(..) => None,
        })
        .collect()
}

#[test]
fn every_segment_is_reported_once_in_order_with_the_bytes_served_and_the_end_after_it() {
    let log = Arc::new(Log::default());
    let p = Playlists::new(options())
        .unwrap()
        .with_observer(Arc::clone(&log) as Arc<dyn SegmentObserver>);
    // Far more than the window holds: reports do not depend on what is still listed.
    for n in 0..52 {
        p.add("cam", part("a", n, n * 200)).unwrap();
        if n == 9 {
            assert_eq!(segments(&log).len(), 1, "segment 1 is still open");
        }
        if n == 10 {
            // Part 10 opened segment 2: segment 1 is reported with the bytes the origin
            // serves as s1.mp4.
            let served = p.stream("cam").unwrap().segment(1).unwrap();
            let joined: Vec<u8> = served.parts.iter().flat_map(|c| c.bytes.to_vec()).collect();
            assert_eq!(segments(&log)[1].1.as_bytes(), joined.as_slice());
        }
    }
    let reported = segments(&log);
    // Parts 0..50 make segments 0..9 of five parts; 50 and 51 are the open segment 10.
    assert_eq!(reported.len(), 10);
    for (i, (msn, bytes, discontinuity)) in reported.iter().enumerate() {
        assert_eq!(*msn, i as u64);
        let expected: String = (i as u64 * 5..i as u64 * 5 + 5)
            .map(|n| format!("a:{n:06};"))
            .collect();
        assert_eq!(*bytes, expected);
        assert!(!discontinuity);
    }
    // The end closes the open segment: it is reported, then the end.
    p.fin("cam").unwrap();
    let idx = p.chunk_cache().lookup("cam").unwrap();
    let events = log.0.lock().unwrap();
    let n = events.len();
    assert!(matches!(
        &events[n - 2],
        Event::Segment { msn: 10, bytes, duration_ms: 400, .. } if bytes == b"a:000050;a:000051;"
    ));
    assert_eq!(events[n - 1], Event::Ended("cam".to_owned(), idx));
    assert!(
        matches!(&events[0], Event::Segment { pdt_ms: START_MS, duration_ms: 1000, init, idx: i, .. }
            if init == &Bytes::from("init a") && *i == idx)
    );
    // Ending again reports nothing more.
    drop(events);
    p.fin("cam").unwrap();
    assert_eq!(log.0.lock().unwrap().len(), n);
}

#[test]
fn a_discontinuity_a_new_init_and_a_new_run_are_told_apart() {
    let log = Arc::new(Log::default());
    let p = Playlists::new(options())
        .unwrap()
        .with_observer(Arc::clone(&log) as Arc<dyn SegmentObserver>);
    for n in 0..10 {
        p.add("cam", part("a", n, n * 200)).unwrap();
    }
    // An encoder restart: a new init section and timestamps from 0.
    for n in 10..20 {
        p.add("cam", part("b", n, (n - 10) * 200)).unwrap();
    }
    p.fin("cam").unwrap();
    let first_idx = p.chunk_cache().lookup("cam").unwrap();
    // The same name again: a new run with a new handle.
    for n in 0..6 {
        p.add("cam", part("c", n, n * 200)).unwrap();
    }
    let events = log.0.lock().unwrap();
    let summary: Vec<(u64, bool, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Segment {
                msn,
                discontinuity,
                init,
                ..
            } => Some((
                *msn,
                *discontinuity,
                String::from_utf8(init.to_vec()).unwrap(),
            )),
            Event::Ended(..) => None,
        })
        .collect();
    assert_eq!(
        summary,
        [
            (0, false, "init a".to_owned()),
            (1, false, "init a".to_owned()),
            (2, true, "init b".to_owned()),
            (3, false, "init b".to_owned()),
            (0, false, "init c".to_owned()),
        ]
    );
    let Event::Segment { idx, .. } = &events[events.len() - 1] else {
        panic!("the new run's first segment is the last event")
    };
    assert_ne!(*idx, first_idx);
    assert!(events.contains(&Event::Ended("cam".to_owned(), first_idx)));
}

//! Representative playlists for the snapshot and independent-parser tests.
//!
//! Each [`Scenario`] feeds a builder (or a whole [`Playlists`] registry) like an encoder would
//! and keeps, beside it, a [`Model`] of what the playlist is meant to say, worked out from the
//! parts it was fed and the rules (durations, dates, discontinuities, the window, which
//! segments list parts, what a delta skips). [`Model::describe`] writes that intent in the same
//! one-fact-per-line form `validate_playlists.py` prints for what the Python `m3u8` package
//! reads from the text, so the two can be compared line by line.

#![allow(dead_code)] // each test binary uses part of this module

use std::fmt::Write as _;

use bytes::Bytes;
use playlists::{
    Init, M3u8Manifest, Options, Part, PartMeta, PartPosition, PartTiming, Playlists,
    RenditionReport, Skip, TargetDuration,
};

/// 2023-11-14T22:13:20.000Z.
pub const START_MS: u64 = 1_700_000_000_000;

/// The options of most scenarios: TD 2 s, PART-TARGET 0.25 s, 1 s segments, 16 listed
/// (which outlasts the 12 s skip boundary, so CAN-SKIP-UNTIL is advertised).
pub fn small_options() -> Options {
    Options {
        num_playlists: 4,
        max_segments: 16,
        max_parts_per_segment: 64,
        segment_min_ms: 1000,
        target_duration: TargetDuration::Fixed(2),
        part_target_ms: 250,
        playlist_versions: 8,
        // Numbered from 0, so that tests name positions (docs/conformance.md R34).
        numbering: playlists::Numbering::FromZero,
        dvr_window_ms: None,
    }
}

#[derive(Debug, Clone)]
pub struct ModelSegment {
    pub msn: u64,
    /// The number in the stream of its first part (parts are named `p{number}.mp4`).
    pub first_part: u64,
    /// `(ticks, independent)` per part.
    pub parts: Vec<(u64, bool)>,
    /// Size in bytes.
    pub bytes: u64,
    pub discontinuity: bool,
    pub init_id: u32,
    /// The date of its first sample, µs since the Unix epoch.
    pub pdt_us: u64,
}

impl ModelSegment {
    fn ticks(&self) -> u64 {
        self.parts.iter().map(|p| p.0).sum()
    }
}

/// What a playlist of the stream is meant to contain.
#[derive(Debug, Clone)]
pub struct Model {
    pub opts: Options,
    pub timescale: u32,
    pub segments: Vec<ModelSegment>,
    pub finished: bool,
    /// Date anchor of the current run: `(pdt_us, decode_time)`.
    anchor: (u64, u64),
}

fn us(ticks: u64, timescale: u32) -> u64 {
    (u128::from(ticks) * 1_000_000 / u128::from(timescale)) as u64
}

fn seconds(ticks: u64, timescale: u32) -> String {
    let v = (u128::from(ticks) * 100_000 + u128::from(timescale) / 2) / u128::from(timescale);
    format!("{}.{:05}", v / 100_000, v % 100_000)
}

impl Model {
    pub fn new(opts: Options, timescale: u32) -> Self {
        Self {
            opts,
            timescale,
            segments: Vec::new(),
            finished: false,
            anchor: (START_MS * 1000, 0),
        }
    }

    /// Records a part the builder placed at `pos`. A new segment gets its date: the start
    /// time for the first, the previous segment's end (or `wallclock_ms` if later) after a
    /// discontinuity, else its run's anchor plus its timestamps.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        pos: PartPosition,
        ticks: u64,
        key: bool,
        len: u64,
        decode: u64,
        init_id: u32,
        restart: Option<Option<u64>>,
    ) {
        assert!(
            restart.is_none() || self.segments.is_empty() || pos.part == 0,
            "a restart must open a segment"
        );
        if pos.part == 0 {
            let pdt_us = match (self.segments.last(), restart) {
                (None, _) => {
                    self.anchor = (START_MS * 1000, decode);
                    START_MS * 1000
                }
                (Some(prev), Some(wallclock)) => {
                    let end = prev.pdt_us + us(prev.ticks(), self.timescale);
                    let anchor = wallclock.map_or(end, |ms| (ms * 1000).max(end));
                    self.anchor = (anchor, decode);
                    anchor
                }
                (Some(_), None) => self.anchor.0 + us(decode - self.anchor.1, self.timescale),
            };
            let first_part = self
                .segments
                .last()
                .map_or(0, |s| s.first_part + s.parts.len() as u64);
            self.segments.push(ModelSegment {
                msn: pos.msn,
                first_part,
                parts: Vec::new(),
                bytes: 0,
                discontinuity: restart.is_some() && !self.segments.is_empty(),
                init_id,
                pdt_us,
            });
        }
        let seg = self.segments.last_mut().expect("a segment was opened");
        assert_eq!(
            (seg.msn, seg.parts.len()),
            (pos.msn, pos.part as usize),
            "unexpected position"
        );
        seg.parts.push((ticks, key));
        seg.bytes += len;
    }

    /// `(peak, average)` segment bit rates of the listed complete segments (§4.1): the peak
    /// over contiguous sets lasting from 0.5 × TD to 1.5 × TD + 0.5 s.
    pub fn bandwidth(&self) -> (u64, u64) {
        let (first, _) = self.window();
        let complete = self.segments.len() - usize::from(!self.finished);
        let segs: Vec<(f64, u64)> = self.segments[first..complete]
            .iter()
            .map(|s| (s.ticks() as f64 / f64::from(self.timescale), s.bytes))
            .collect();
        let td = self.td() as f64;
        let total: f64 = segs.iter().map(|s| s.0).sum();
        let bytes: u64 = segs.iter().map(|s| s.1).sum();
        let average = (bytes as f64 * 8.0 / total).round() as u64;
        let mut peak = 0;
        for i in 0..segs.len() {
            for j in i..segs.len() {
                let secs: f64 = segs[i..=j].iter().map(|s| s.0).sum();
                let bits = segs[i..=j].iter().map(|s| s.1).sum::<u64>() as f64 * 8.0;
                if (0.5 * td..=1.5 * td + 0.5).contains(&secs) {
                    peak = peak.max((bits / secs).round() as u64);
                }
            }
        }
        (peak.max(average), average)
    }

    /// Indices of the listed segments and the Discontinuity Sequence Number before them:
    /// the newest `max_segments` complete ones, more while fewer would last under 3 × TD
    /// (§6.2.2 [docs/conformance.md R19]), plus the open one.
    fn window(&self) -> (usize, u64) {
        let ts = self.timescale;
        let complete = self.segments.len() - usize::from(!self.finished);
        let min_us = 3 * self.td() * 1_000_000;
        let (mut first, mut dsn) = (0, 0);
        // Removal happens when a segment completes, so replay the completions.
        for done in 1..=complete {
            let is_final = self.finished && done == complete;
            if is_final {
                break; // ending removes nothing
            }
            loop {
                let listed = &self.segments[first..done];
                let total: u64 = listed.iter().map(|s| us(s.ticks(), ts)).sum();
                if listed.len() <= self.opts.max_segments
                    || total - us(listed[0].ticks(), ts) < min_us
                {
                    break;
                }
                dsn += u64::from(listed[0].discontinuity);
                first += 1;
            }
        }
        (first, dsn)
    }

    /// TARGETDURATION: the fixed one, or (measured) the first segment in whole seconds
    /// rounded half up, at least `segment_min_ms` rounded, at most the maximum.
    fn td(&self) -> u64 {
        match self.opts.target_duration {
            TargetDuration::Fixed(s) => u64::from(s),
            TargetDuration::Measured { max_s } => {
                let ts = u64::from(self.timescale);
                let first = self.segments.first().map_or(0, ModelSegment::ticks);
                let rounded = (first * 2 + ts) / (2 * ts);
                let floor = (self.opts.segment_min_ms + 500) / 1000;
                rounded.max(floor).clamp(1, u64::from(max_s))
            }
        }
    }

    fn skip_advertised(&self) -> bool {
        self.opts.max_segments as u64 * self.opts.segment_min_ms > 6000 * self.td()
    }

    /// The intended content of the playlist rendered with `skip` and `reports`, as lines of
    /// facts (see `validate_playlists.py`).
    pub fn describe(&self, skip: Skip, reports: &[RenditionReport]) -> String {
        let ts = self.timescale;
        let td = self.td();
        let asks_delta = skip != Skip::No && self.skip_advertised() && !self.finished;
        let (first, dsn) = self.window();
        let listed = &self.segments[first..];
        let end_us: u64 = listed.iter().map(|s| us(s.ticks(), ts)).sum();
        // Distance from each listed segment's start and end to the end of the playlist.
        let mut from_start = Vec::new();
        let mut acc = end_us;
        for s in listed {
            from_start.push(acc);
            acc -= us(s.ticks(), ts);
        }
        let skipped = if asks_delta {
            (0..listed.len())
                .take_while(|&i| {
                    let complete = i + 1 < listed.len() || self.finished;
                    complete && from_start[i] - us(listed[i].ticks(), ts) > 6 * td * 1_000_000
                })
                .count()
        } else {
            0
        };
        // Nothing past the Skip Boundary: the full playlist is the answer.
        let delta = skipped > 0;
        let mut out = String::new();
        let _ = writeln!(out, "version {}", if delta { 9 } else { 6 });
        let _ = writeln!(out, "target_duration {td}");
        let _ = writeln!(out, "media_sequence {}", listed[0].msn);
        let any_discontinuity = dsn > 0 || listed.iter().any(|s| s.discontinuity);
        let _ = writeln!(
            out,
            "discontinuity_sequence {}",
            if any_discontinuity {
                dsn.to_string()
            } else {
                "-".into()
            }
        );
        let part_target = u64::from(self.opts.part_target_ms);
        let _ = writeln!(out, "part_target {}", seconds(part_target, 1000));
        let mut sc = String::from("server_control can_block_reload=YES");
        if self.skip_advertised() {
            let _ = write!(sc, " can_skip_until={}", seconds(6 * td, 1));
        }
        let _ = writeln!(
            out,
            "{sc} hold_back={} part_hold_back={}",
            seconds(3 * td, 1),
            seconds(3 * part_target, 1000)
        );
        // `v2` is answered as `YES` (no CAN-SKIP-DATERANGES): never a RECENTLY-REMOVED list.
        if delta {
            let _ = writeln!(out, "skip {skipped} removed=-");
        } else {
            let _ = writeln!(out, "skip -");
        }
        for (i, s) in listed.iter().enumerate().skip(skipped) {
            let complete = i + 1 < listed.len() || self.finished;
            if complete {
                let map = match s.init_id {
                    0 => "init.mp4".to_owned(),
                    n => format!("init-{n}.mp4"),
                };
                let _ = writeln!(
                    out,
                    "segment uri=s{}.mp4 duration={} discontinuity={} pdt={} map={map}",
                    s.msn,
                    seconds(s.ticks(), ts),
                    u8::from(s.discontinuity),
                    s.pdt_us / 1000,
                );
            } else {
                let _ = writeln!(out, "open");
            }
            // §6.2.2 [docs/conformance.md R18]: parts for the segments that start within 3 × TD of
            // the end.
            if !complete || from_start[i] <= 3 * td * 1_000_000 {
                for (k, (ticks, key)) in s.parts.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "part uri=p{}.mp4 duration={} independent={}",
                        s.first_part + k as u64,
                        seconds(*ticks, ts),
                        u8::from(*key)
                    );
                }
            }
        }
        if !self.finished {
            let open = listed.last().expect("a live stream lists its open segment");
            let _ = writeln!(
                out,
                "hint type=PART uri=p{}.mp4",
                open.first_part + open.parts.len() as u64
            );
        }
        for r in reports {
            let _ = writeln!(
                out,
                "report uri={} last_msn={} last_part={}",
                r.uri, r.last_msn, r.last_part
            );
        }
        let _ = writeln!(out, "endlist {}", u8::from(self.finished));
        out
    }
}

/// Where a [`Driver`]'s parts go.
pub enum Sink<'a> {
    Manifest(Box<M3u8Manifest>),
    Registry {
        playlists: &'a Playlists,
        stream: String,
    },
}

/// Feeds parts like an encoder and keeps the [`Model`] in step.
pub struct Driver<'a> {
    pub sink: Sink<'a>,
    pub model: Model,
    pub decode: u64,
    pub init_id: u32,
    next_id: u64,
    /// Set by [`restart`](Self::restart): the next part follows a discontinuity, with this
    /// wall clock.
    restart: Option<Option<u64>>,
    pub bytes_per_ms: u64,
    /// The init section a registry stream's parts carry.
    pub init: Init,
}

pub fn init(
    codecs: &str,
    resolution: Option<(u32, u32)>,
    frame_rate: Option<f64>,
    tag: u8,
) -> Init {
    Init {
        bytes: Bytes::from(vec![tag; 600]),
        codecs: codecs.to_owned(),
        resolution,
        frame_rate,
        video: resolution.is_some(),
        audio: codecs.contains("mp4a").then(playlists::AudioTrack::default),
    }
}

impl<'a> Driver<'a> {
    pub fn manifest(opts: Options, timescale: u32) -> Self {
        let m = M3u8Manifest::new(&opts, START_MS).expect("valid options");
        Self::new(Sink::Manifest(Box::new(m)), opts, timescale)
    }

    pub fn registry(playlists: &'a Playlists, stream: &str, timescale: u32) -> Self {
        let opts = playlists.options().clone();
        Self::new(
            Sink::Registry {
                playlists,
                stream: stream.to_owned(),
            },
            opts,
            timescale,
        )
    }

    fn new(sink: Sink<'a>, opts: Options, timescale: u32) -> Self {
        Self {
            sink,
            model: Model::new(opts, timescale),
            decode: 0,
            init_id: 0,
            next_id: 0,
            restart: None,
            bytes_per_ms: 50,
            init: init("avc1.64001f,mp4a.40.2", Some((1280, 720)), Some(30.0), 0),
        }
    }

    /// Pushes one part of `ticks`.
    pub fn push(&mut self, ticks: u64, key: bool) -> PartPosition {
        let wallclock = self.restart.flatten();
        let len = 100
            + ticks * 1000 / u64::from(self.model.timescale) * self.bytes_per_ms
            + self.next_id % 7;
        let pos = match &mut self.sink {
            Sink::Manifest(m) => m
                .push(PartMeta {
                    id: self.next_id,
                    len,
                    init_id: self.init_id,
                    timing: PartTiming {
                        duration: ticks,
                        timescale: self.model.timescale,
                        decode_time: self.decode,
                        independent: key,
                        wallclock_ms: wallclock,
                    },
                })
                .expect("a valid part"),
            Sink::Registry { playlists, stream } => {
                let part = Part {
                    bytes: Bytes::from(vec![self.init_id as u8; len as usize]),
                    init: Some(self.init.clone()),
                    timing: PartTiming {
                        duration: ticks,
                        timescale: self.model.timescale,
                        decode_time: self.decode,
                        independent: key,
                        wallclock_ms: Some(wallclock.unwrap_or(START_MS)),
                    },
                };
                playlists.add(stream, part).expect("a valid part")
            }
        };
        self.model.record(
            pos,
            ticks,
            key,
            len,
            self.decode,
            self.init_id,
            self.restart.take(),
        );
        self.next_id += 1;
        self.decode += ticks;
        pos
    }

    /// Pushes `n` parts of `ticks`, a keyframe on every `gop`-th part of the stream.
    pub fn run(&mut self, n: u64, gop: u64, ticks: u64) {
        for _ in 0..n {
            self.push(ticks, self.next_id % gop == 0);
        }
    }

    /// An encoder restart: timestamps jump by `jump` ticks, optionally with a new init
    /// section and a wall-clock time for the first part after it.
    pub fn restart(&mut self, jump: u64, new_init: bool, wallclock_ms: Option<u64>) {
        self.decode += jump;
        if new_init {
            self.init_id += 1;
        }
        self.restart = Some(wallclock_ms);
    }

    pub fn finish(&mut self) {
        match &mut self.sink {
            Sink::Manifest(m) => m.finish(),
            Sink::Registry { playlists, stream } => playlists.fin(stream).expect("live stream"),
        }
        self.model.finished = true;
    }

    /// The playlist as the builder renders it (for the registry: the newest published
    /// version, full or delta).
    pub fn render(&self, skip: Skip, reports: &[RenditionReport]) -> String {
        let bytes = match &self.sink {
            Sink::Manifest(m) => {
                let mut out = Vec::new();
                m.render(skip, reports, &mut out);
                out
            }
            Sink::Registry { playlists, stream } => {
                let v = playlists
                    .stream(stream)
                    .and_then(|s| s.playlist())
                    .expect("published");
                let r = if skip == Skip::No {
                    &v.full
                } else {
                    v.delta.as_ref().expect("a delta")
                };
                r.plain.to_vec()
            }
        };
        String::from_utf8(bytes).expect("playlists are UTF-8")
    }
}

/// One representative playlist: its rendered text and what it is meant to say.
pub struct Scenario {
    /// File name under `tests/snapshots/`.
    pub file: &'static str,
    pub text: String,
    /// [`Model::describe`] output, or for the multivariant playlist the same form.
    pub expected: String,
}

fn media(file: &'static str, d: &Driver<'_>, skip: Skip, reports: &[RenditionReport]) -> Scenario {
    Scenario {
        file,
        text: d.render(skip, reports),
        expected: d.model.describe(skip, reports),
    }
}

/// Every scenario, in a fixed order.
pub fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    let o = small_options();
    // 250 ms parts at 1 kHz, a keyframe every 4 parts (1 s GOP), 1 s segments.
    let mut d = Driver::manifest(o.clone(), 1000);
    d.push(250, true);
    out.push(media("start.m3u8", &d, Skip::No, &[]));
    d.run(69, 4, 250); // 70 parts: s0..=s16 complete, s17 open with 2 parts
    out.push(media("mid_stream.m3u8", &d, Skip::No, &[]));
    out.push(media("delta.m3u8", &d, Skip::Yes, &[]));
    out.push(media("delta_v2.m3u8", &d, Skip::V2, &[]));
    d.push(250, false);
    d.push(250, false);
    d.push(250, true); // s18 starts
    out.push(media("segment_boundary.m3u8", &d, Skip::No, &[]));

    // Two encoder restarts: at 2 s (timestamps jump, same init) and at 7 s (new init, with a
    // wall clock a minute later). At 80 parts the first has left the window.
    let mut d = Driver::manifest(o.clone(), 1000);
    d.run(8, 4, 250);
    d.restart(3_600_000, false, None);
    d.run(20, 4, 250);
    d.restart(50_000, true, Some(START_MS + 60_000));
    d.run(52, 4, 250);
    out.push(media("discontinuity.m3u8", &d, Skip::No, &[]));
    out.push(media("delta_discontinuity.m3u8", &d, Skip::Yes, &[]));

    let mut d = Driver::manifest(o.clone(), 1000);
    d.run(30, 4, 250);
    d.push(250, false);
    d.finish();
    out.push(media("ended.m3u8", &d, Skip::No, &[]));

    // The defaults at 90 kHz with a 2 s GOP: the full 32-segment window of an LL stream.
    let mut d = Driver::manifest(Options::default(), 90_000);
    d.run(700, 10, 18_000);
    out.push(media("defaults_full_window.m3u8", &d, Skip::No, &[]));

    // A group of two renditions through the registry: reports and the multivariant playlist.
    let playlists = Playlists::new(o.clone()).expect("valid options");
    let mut hi = Driver::registry(&playlists, "live/720p", 1000);
    let mut lo = Driver::registry(&playlists, "live/360p", 1000);
    lo.bytes_per_ms = 20;
    lo.init = init(
        "avc1.64001e,mp4a.40.2",
        Some((640, 360)),
        Some(30_000.0 / 1001.0),
        1,
    );
    for i in 0..23 {
        lo.push(250, i % 4 == 0);
        hi.push(250, i % 4 == 0);
    }
    let report = {
        let last = playlists
            .stream("live/360p")
            .and_then(|s| s.status())
            .and_then(|s| s.last)
            .expect("published");
        RenditionReport {
            uri: "../360p/index.m3u8".into(),
            last_msn: last.msn,
            last_part: last.part,
        }
    };
    out.push(Scenario {
        file: "rendition_report.m3u8",
        text: hi.render(Skip::No, &[]),
        expected: hi.model.describe(Skip::No, &[report]),
    });
    let master = playlists.multivariant("live").expect("a live group");
    // Variants by bandwidth (360p first), each measured from the parts' sizes.
    let mut expected = String::from("variant_playlist 1\nindependent_segments 1\n");
    for (rendition, d) in [("360p", &lo), ("720p", &hi)] {
        let (peak, average) = d.model.bandwidth();
        let (w, h) = d.init.resolution.expect("video");
        let _ = writeln!(
            expected,
            "variant uri={rendition}/index.m3u8 bandwidth={peak} average_bandwidth={average} codecs={} resolution={w}x{h} frame_rate={:.3}",
            d.init.codecs,
            d.init.frame_rate.expect("video"),
        );
    }
    out.push(Scenario {
        file: "multivariant.m3u8",
        text: String::from_utf8(master.plain.to_vec()).expect("UTF-8"),
        expected,
    });
    out
}

/// The directory of the snapshot files.
pub fn snapshot_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("snapshots")
}

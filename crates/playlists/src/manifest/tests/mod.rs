//! Tests of the playlist builder: one test per playlist rule of `docs/conformance.md` (named
//! `rule_NN_…`), a property test over random part sequences, and determinism. Every rendered
//! playlist is read back by a strict reader ([`parse`]) and judged by the rule checks
//! ([`check`]); snapshots and the independent parser live in `tests/manifest_*.rs`.

mod check;
mod determinism;
mod parse;
mod props;
mod rules_delivery;
mod rules_segments;

use self::check::{check, check_delta, Config, History};
use self::parse::Playlist;
use super::{M3u8Manifest, PartMeta, PartPosition, PartTiming, Skip};
use crate::error::Result;
use crate::options::Options;

/// 2023-11-14T22:13:20.000Z.
pub(crate) const START_MS: u64 = 1_700_000_000_000;

pub(crate) fn opts(td: u32, part_ms: u32, segment_min_ms: u64, max_segments: usize) -> Options {
    Options {
        num_playlists: 1,
        max_segments,
        max_parts_per_segment: 64,
        segment_min_ms,
        target_duration: crate::TargetDuration::Fixed(td),
        part_target_ms: part_ms,
        playlist_versions: 4,
        // Numbers from 0, so that tests can name positions; R34's tests use the default.
        numbering: crate::Numbering::FromZero,
        dvr_window_ms: None,
    }
}

/// Feeds a builder like an encoder would: consecutive ids, decode times that follow on, and
/// every rendered version checked against the rules.
pub(crate) struct Feeder {
    pub m: M3u8Manifest,
    pub cfg: Config,
    pub history: History,
    /// Ticks per second of the next part.
    pub timescale: u32,
    /// Decode time of the next part.
    pub decode: u64,
    pub init_id: u32,
    opts: Options,
    /// `wallclock_ms` of the next part.
    pub wallclock_ms: Option<u64>,
    next_id: u64,
    parts: u64,
    /// The number of the first segment pushed (see `Numbering`).
    first_msn: u64,
}

impl Feeder {
    pub fn new(opts: &Options) -> Self {
        Self::starting_at(opts, START_MS)
    }

    /// A feeder whose first sample is dated `start_ms`.
    pub fn starting_at(opts: &Options, start_ms: u64) -> Self {
        Self {
            m: M3u8Manifest::new(opts, start_ms).unwrap(),
            cfg: Config::of(opts, opts.target_duration.max_s()),
            opts: opts.clone(),
            history: History::default(),
            timescale: 1000,
            decode: 0,
            init_id: 0,
            wallclock_ms: None,
            next_id: 0,
            parts: 0,
            first_msn: 0,
        }
    }

    /// Pushes a part of `ticks` at the current decode time.
    pub fn push(&mut self, ticks: u64, independent: bool) -> Result<PartPosition> {
        let pos = self.m.push(PartMeta {
            id: self.next_id,
            len: 1000 + ticks,
            init_id: self.init_id,
            timing: PartTiming {
                duration: ticks,
                timescale: self.timescale,
                decode_time: self.decode,
                independent,
                wallclock_ms: self.wallclock_ms,
            },
        })?;
        if self.parts == 0 {
            self.first_msn = pos.msn;
        }
        self.next_id += 1;
        self.parts += 1;
        self.decode += ticks;
        Ok(pos)
    }

    /// Pushes a part of `ms` milliseconds.
    pub fn ms(&mut self, ms: u64, independent: bool) -> PartPosition {
        let ticks = ms * u64::from(self.timescale) / 1000;
        self.push(ticks, independent).unwrap()
    }

    /// Pushes `n` parts of `part_ms`, a keyframe on every `gop`-th part the feeder has pushed,
    /// checking the rules after each.
    pub fn run(&mut self, n: usize, gop: u64, part_ms: u64) -> Vec<PartPosition> {
        (0..n)
            .map(|_| {
                let pos = self.ms(part_ms, self.parts % gop == 0);
                self.checked();
                pos
            })
            .collect()
    }

    pub fn render(&self, skip: Skip) -> String {
        let mut out = Vec::new();
        self.m.render(skip, &[], &mut out);
        String::from_utf8(out).unwrap()
    }

    /// Renders the full playlist and the delta update, checks every rule on both and between
    /// versions, and returns the full one.
    ///
    /// While a measured target duration is unknown nothing is published, so nothing is
    /// checked; the playlist is only parsed.
    pub fn checked(&mut self) -> Playlist {
        let full_text = self.render(Skip::No);
        let Some(td) = self.m.target_duration_s() else {
            return parse::parse(&full_text).unwrap_or_else(|e| panic!("{e}\n{full_text}"));
        };
        self.cfg = Config {
            first_msn: self.first_msn,
            ..Config::of(&self.opts, td)
        };
        let full = check(&full_text, &self.cfg).unwrap_or_else(|e| panic!("{e}\n{full_text}"));
        self.history
            .observe(&full)
            .unwrap_or_else(|e| panic!("{e}\n{full_text}"));
        for skip in [Skip::Yes, Skip::V2] {
            let text = self.render(skip);
            if self.m.skippable_segments() == 0 {
                assert_eq!(
                    text, full_text,
                    "§6.2.5 [docs/conformance.md R13]: {skip:?} must be ignored, or skips nothing"
                );
                continue;
            }
            let delta = check(&text, &self.cfg).unwrap_or_else(|e| panic!("{e}\n{text}"));
            check_delta(&full, &delta).unwrap_or_else(|e| panic!("{e}\n{full_text}\n{text}"));
            let (skipped, removed) = delta.skip.clone().expect("a delta update has EXT-X-SKIP");
            assert!(skipped > 0, "SKIPPED-SEGMENTS=0 is never written\n{text}");
            assert_eq!(
                removed, None,
                "§6.2.5.1 [docs/conformance.md R14]: no RECENTLY-REMOVED-DATERANGES without \
                 CAN-SKIP-DATERANGES\n{text}"
            );
        }
        full
    }
}

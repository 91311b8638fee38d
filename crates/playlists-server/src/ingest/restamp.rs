//! [`Restamp`]: puts a stream's media timeline on the wall clock, so that a stream that starts
//! again (an encoder restart, an origin restart) continues where its old timestamps would be.
//!
//! ```text
//!  encoder tfdt:   0 ─── 11.2 s ╳ (origin restarts)     0 ─── …      (timestamps start over)
//!  served tfdt:    T0 ── T0+11.2 s ╳ … outage …         T1 ─── …     (T = the sample's date,
//!                                                                    s since the Unix epoch)
//! ```
//!
//! A player that kept playing across the restart sees the same DISCONTINUITY-SEQUENCE and
//! keeps its mapping of media time to its own timeline; with the encoder's timestamps the new
//! run lands seconds in the past and the player stalls until its playhead catches up. On the
//! wall clock the new run lands after the old one by the outage, a gap the player jumps.
//!
//! Per run of continuous timestamps (a stream's first fragment, and again where the decode
//! times jump or the timescale changes: the library's rule for EXT-X-DISCONTINUITY, applied
//! to the encoder's timestamps) ONE shift is taken: the date of
//! the run's first sample (its `prft` wall clock, else the origin's clock less the fragment's
//! duration, as the library dates a stream's first part) minus that sample's decode time. Each
//! track gets it rounded once to its own timescale, so the tracks keep their offsets to the
//! tick and every fragment of the run moves alike (durations are untouched). The date used is
//! also handed to the library as the part's wall clock, so EXT-X-PROGRAM-DATE-TIME and the
//! media timeline agree; fed the same bytes with `prft`, two origins restamp alike. The run
//! belongs to the stream, not to one encoder connection: an encoder that reconnects with its
//! timestamps continuing keeps its shift (no discontinuity), one that restarts at 0 gets a new
//! one. A new init section with continuing timestamps keeps the run's anchor and recomputes
//! only the per-track shifts (its tracks may differ). Redundant encoders of one stream
//! (DASH-IF ingest) share it the same way: only the copy of a fragment that is published is
//! restamped, and the copies published after a failover continue the encoder timestamps of
//! those before it, so they continue the run and the two encoders' fragments of one
//! timestamp are served at one time.
//!
//! Renditions of a group (`group/rendition`) share ONE anchor ([`GroupAnchor`]), so that
//! renditions whose encoders share a timeline still share it after restamping (the same media
//! time for the same content), which lining them up relies on (docs/conformance.md R26). The
//! anchor is the shift in seconds-since-the-epoch terms, kept exact as a (date, decode time,
//! timescale) triple: the first rendition to start a run sets it from its first sample, as a
//! lone stream does; a rendition whose run starts later takes it, rounded once to each of its
//! track timescales, when the anchor dates the run's first sample within the group's
//! tolerance (`segment_min_ms`, the shortest segment: the library's judgement of agreeing
//! timestamps allows one segment) of that sample's own date (its `prft`, else the origin's
//! clock), and is then dated from the anchor too. A run that starts further off does not
//! continue the group's timeline (an encoder that restarted at 0, one that was never in step)
//! and sets a new anchor from its own date, which the group's later runs take; a rendition
//! keeps its shift until its own run ends, so no timeline moves midway. Two encoders that
//! restart a second apart (both from 0): the first to send sets a new anchor; the second's 0
//! is dated by it a second before the second's own clock, within the default 1.5 s, so it
//! takes it, and both keep the timeline their timestamps say they share, as when they first
//! started. Five seconds apart, the second anchors itself: each is on the wall clock by its
//! own date, lined up by date only. One rendition restarting alone anchors itself the same way
//! while its siblings keep theirs. The anchor lives as long as a rendition of the group has
//! ingest state (an encoder connected, or a grace period running). Decisions depend on the
//! dates only, so two origins fed the same encoders with `prft` restamp alike, as long as the
//! same rendition starts first on both (the library's rule for its timeline too).
//!
//! Only `tfdt` is patched, in place (no size change); the `mfhd` sequence numbers stay the
//! encoder's. A version 0 (32-bit) `tfdt` cannot hold a date in any useful timescale: such a
//! stream keeps its timestamps.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::fmp4::rewrite::shift_decode_times;
use crate::fmp4::{Fragment, Malformed, Movie};
use crate::sync::lock;

/// Restamping state of one stream, kept across its sessions (see the module docs).
#[derive(Debug)]
pub struct Restamp {
    enabled: bool,
    /// The anchor the stream's group shares, for a rendition of a group.
    group: Option<Arc<GroupAnchor>>,
    run: Option<Run>,
}

/// What puts a run on the wall clock: decode time `decode` (of `timescale`) is dated
/// `date_ms`, ms since the Unix epoch. It stands for the shift `date_ms / 1000 − decode /
/// timescale` seconds, kept exact as this pair and rounded only into each track's timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Anchor {
    date_ms: u64,
    decode: u64,
    timescale: u32,
}

/// The anchor the renditions of one group share (see the module docs): a run of a rendition
/// takes it when it dates the run's first sample within `tolerance` of that sample's own date,
/// else the run anchors itself and its anchor becomes the group's.
#[derive(Debug)]
pub struct GroupAnchor {
    tolerance_ms: u64,
    anchor: Mutex<Option<Anchor>>,
}

/// The current run: its shifts and where the encoder's timestamps should go next.
#[derive(Debug)]
struct Run {
    /// Per track id: ticks added to its decode times, in its timescale.
    shifts: Vec<(u32, i64)>,
    /// The same for the fragment timing's decode time (the primary track's timescale).
    timing_shift: i64,
    /// The init section the run's fragments are read against.
    init: bytes::Bytes,
    /// The timescale of the fragment timing's decode times.
    timescale: u32,
    /// What the run's shifts come from: its own first sample's date, or its group's anchor.
    anchor: Anchor,
    /// The encoder's decode time that continues the run, and the last fragment's duration.
    next_decode: u64,
    last_duration: u64,
}

impl Default for Restamp {
    /// On.
    fn default() -> Self {
        Self::new(true)
    }
}

impl Restamp {
    /// Restamping when `enabled` (else [`apply`](Self::apply) leaves every fragment alone).
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            group: None,
            run: None,
        }
    }

    /// Restamping a rendition of a group: its runs take `group`'s anchor when their
    /// timestamps continue its timeline (see the module docs).
    pub fn in_group(group: Arc<GroupAnchor>) -> Self {
        Self {
            group: Some(group),
            ..Self::new(true)
        }
    }

    /// Whether fragments are still restamped (on, and no version 0 `tfdt` met).
    pub fn is_on(&self) -> bool {
        self.enabled
    }

    /// Rewrites `fragment`'s `tfdt`s (into `bytes`, a copy of its bytes) and its timing onto
    /// the wall clock; `now_ms` is the origin's clock, used when the fragment has no `prft`.
    /// Returns whether it did: after `Ok(false)` `bytes` and `fragment` are unchanged. A
    /// fragment whose new decode times do not fit its `tfdt` (version 0) turns restamping
    /// off for the rest of the session and is returned as the error, unchanged.
    pub fn apply(
        &mut self,
        movie: &Movie,
        fragment: &mut Fragment,
        bytes: &mut [u8],
        now_ms: impl FnOnce() -> u64,
    ) -> Result<bool, Malformed> {
        if !self.enabled {
            return Ok(false);
        }
        let timing = fragment.timing;
        let continues = self.run.as_ref().is_some_and(|run| {
            run.timescale == timing.timescale
                && run.next_decode.abs_diff(timing.decode_time)
                    <= run.last_duration.max(timing.duration)
        });
        match self.run.as_mut() {
            // A new init section whose timestamps continue (a changed encoder setting) keeps
            // the run's anchor: its tracks (maybe others, in other timescales) get their
            // shifts from it, so the timeline stays continuous across the change.
            Some(run) if continues && run.init != movie.init.bytes => {
                *run = Run::new(movie, run.anchor, run.timescale);
            }
            Some(_) if continues => {}
            _ => {
                let date_ms = timing.wallclock_ms.unwrap_or_else(|| {
                    let duration_ms =
                        u128::from(timing.duration) * 1000 / u128::from(timing.timescale.max(1));
                    now_ms().saturating_sub(u64::try_from(duration_ms).unwrap_or(u64::MAX))
                });
                let own = Anchor {
                    date_ms,
                    decode: timing.decode_time,
                    timescale: timing.timescale,
                };
                let anchor = self
                    .group
                    .as_ref()
                    .map_or(own, |group| group.anchor_for(own));
                self.run = Some(Run::new(movie, anchor, timing.timescale));
            }
        }
        let Some(run) = self.run.as_mut() else {
            return Ok(false);
        };
        run.next_decode = timing.decode_time.saturating_add(timing.duration);
        run.last_duration = timing.duration;
        let shift_of = |id: u32| {
            run.shifts
                .iter()
                .find(|(track, _)| *track == id)
                .map_or(0, |(_, s)| *s)
        };
        let restamped = i128::from(timing.decode_time) + i128::from(run.timing_shift);
        let restamped = u64::try_from(restamped).map_err(|_| {
            Malformed::new(
                crate::fmp4::FourCC(*b"tfdt"),
                format!("decode time {} shifted below 0", timing.decode_time),
            )
        });
        let result = restamped.and_then(|restamped| {
            shift_decode_times(bytes, shift_of)?;
            Ok(restamped)
        });
        let restamped = match result {
            Ok(restamped) => restamped,
            Err(e) => {
                self.enabled = false;
                self.run = None;
                return Err(e);
            }
        };
        for track in &mut fragment.tracks {
            track.decode_time = track
                .decode_time
                .saturating_add_signed(shift_of(track.track_id));
        }
        fragment.timing.decode_time = restamped;
        // The library dates a run from the wall clock of its first part: the date its anchor
        // gives it (the run's own first sample's, or the group's), so dates and media time
        // agree, and a rendition that took its group's anchor is dated as its siblings are
        // for the same media time. A `prft` date is the encoder's and stays as it is (it may
        // drift from the media clock within a run).
        if fragment.timing.wallclock_ms.is_none() {
            let ms = run.anchor.date_ms_of(timing.decode_time, timing.timescale);
            fragment.timing.wallclock_ms = u64::try_from(ms).ok();
        }
        Ok(true)
    }
}

impl Anchor {
    /// The date, ms since the Unix epoch, this anchor gives decode time `decode` of
    /// `timescale` (any timescale: a sibling's may differ), rounded down.
    fn date_ms_of(&self, decode: u64, timescale: u32) -> i128 {
        let (ts, own_ts) = (
            i128::from(timescale.max(1)),
            i128::from(self.timescale.max(1)),
        );
        // 1000 × (decode / ts − self.decode / own_ts), over the common denominator.
        let since = 1000 * (i128::from(decode) * own_ts - i128::from(self.decode) * ts);
        i128::from(self.date_ms) + since.div_euclid(ts * own_ts)
    }

    /// The shift in ticks of `ts_t`: round(date_ms / 1000 × ts_t − decode / timescale × ts_t),
    /// exact in i128 and rounded once, so no track drifts from another.
    fn shift(&self, ts_t: u32) -> i64 {
        let ts_t = i128::from(ts_t);
        let scale = i128::from(self.timescale.max(1));
        let num = i128::from(self.date_ms) * ts_t * scale - 1000 * i128::from(self.decode) * ts_t;
        let den = 1000 * scale;
        let rounded = (num + den / 2).div_euclid(den);
        i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX })
    }
}

impl GroupAnchor {
    /// No anchor yet; a run's timestamps continue the group's timeline when its anchor dates
    /// the run's first sample within `tolerance` of that sample's own date.
    pub fn new(tolerance: Duration) -> Self {
        Self {
            tolerance_ms: u64::try_from(tolerance.as_millis()).unwrap_or(u64::MAX),
            anchor: Mutex::new(None),
        }
    }

    /// The anchor of a run whose first sample `own` dates by its own clock: the group's, when
    /// it dates that sample within the tolerance of `own`'s date (the run continues the
    /// group's timeline), else `own`, which becomes the group's.
    fn anchor_for(&self, own: Anchor) -> Anchor {
        let mut current = lock(&self.anchor);
        let apart_ms = current
            .map(|group| group.date_ms_of(own.decode, own.timescale) - i128::from(own.date_ms));
        if let (Some(group), Some(apart)) = (*current, apart_ms) {
            if apart.unsigned_abs() <= u128::from(self.tolerance_ms) {
                tracing::info!(apart_ms = %apart, "a run takes its group's restamping anchor");
                return group;
            }
        }
        // Both lines are rare (a run's start): worth having when alignment is in question.
        tracing::info!(
            apart_ms = ?apart_ms,
            tolerance_ms = self.tolerance_ms,
            "a run sets its group's restamping anchor (its timestamps do not continue the group's)"
        );
        *current = Some(own);
        own
    }
}

impl Run {
    /// The run whose fragment timing has `timescale`, put on the wall clock by `anchor`.
    fn new(movie: &Movie, anchor: Anchor, timescale: u32) -> Self {
        Self {
            shifts: movie
                .tracks
                .iter()
                .map(|t| (t.track_id, anchor.shift(t.timescale)))
                .collect(),
            timing_shift: anchor.shift(timescale),
            init: movie.init.bytes.clone(),
            timescale,
            anchor,
            next_decode: 0,
            last_duration: 0,
        }
    }
}

/// The system clock, ms since the Unix epoch (what the library dates a stream's first part by).
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::testutil::{fragment, init_segment, TestTrack, TestTraf};
    use crate::fmp4::{split_all, Unit};

    const NOW_MS: u64 = 1_765_000_000_123;

    /// The movie and fragments of an init section (video 1 at 15360 Hz, audio 2 at 48 kHz)
    /// followed by one fragment per `(video, audio)` decode time pair.
    fn stream(decodes: &[(u64, u64)], v1: bool) -> (Movie, Vec<Fragment>) {
        stream_in(15360, decodes, v1)
    }

    /// [`stream`] with video at `video_ts` Hz (still 200 ms fragments).
    fn stream_in(video_ts: u32, decodes: &[(u64, u64)], v1: bool) -> (Movie, Vec<Fragment>) {
        let mut bytes =
            init_segment(&[TestTrack::video(1, video_ts, 0), TestTrack::audio(2, 48000)]);
        for (i, &(v, a)) in decodes.iter().enumerate() {
            let mut video = TestTraf::new(1, v, 3, video_ts / 15); // 200 ms
            video.tfdt_v1 = v1;
            let mut audio = TestTraf::new(2, a, 9, 1024); // 192 ms
            audio.tfdt_v1 = v1;
            bytes.extend(fragment(i as u32 + 1, &[video, audio]));
        }
        let mut movie = None;
        let mut fragments = Vec::new();
        for unit in split_all(bytes.into(), Default::default()).unwrap() {
            match unit {
                Unit::Init(m) => movie = Some(m),
                Unit::Fragment(f) => fragments.push(f),
            }
        }
        (Movie::clone(&movie.unwrap()), fragments)
    }

    /// Restamps `f` and returns it re-read from its patched bytes, checked against what
    /// `apply` said.
    fn restamp(r: &mut Restamp, movie: &Movie, f: &Fragment, now_ms: u64) -> Fragment {
        let mut out = f.clone();
        let mut bytes = f.bytes.to_vec();
        assert!(r.apply(movie, &mut out, &mut bytes, || now_ms).unwrap());
        assert_eq!(bytes.len(), f.bytes.len());
        let mut stream = movie.init.bytes.to_vec();
        stream.extend(&bytes);
        let units = split_all(stream.into(), Default::default()).unwrap();
        let Unit::Fragment(reread) = &units[1] else {
            panic!("no fragment")
        };
        assert_eq!(reread.tracks, out.tracks);
        assert_eq!(reread.timing.decode_time, out.timing.decode_time);
        assert_eq!(reread.sequence_number, f.sequence_number, "mfhd left alone");
        out
    }

    #[test]
    fn every_track_moves_to_the_wall_clock_and_keeps_its_offset() {
        // Audio starts 10 ms (480 ticks) after video.
        let (movie, fragments) = stream(&[(0, 480), (3072, 480 + 9216)], true);
        let mut r = Restamp::new(true);
        let first = restamp(&mut r, &movie, &fragments[0], NOW_MS);
        // The date is the clock less the part's duration (200 ms), in each timescale.
        let date_ms = NOW_MS - 200;
        let video = first.tracks[0].decode_time;
        let audio = first.tracks[1].decode_time;
        assert_eq!(video, (date_ms * 15360 + 500) / 1000);
        assert_eq!(audio, date_ms * 48 + 480);
        assert_eq!(first.timing.wallclock_ms, Some(date_ms));
        // Within the run the same shift: the clock no longer matters.
        let second = restamp(&mut r, &movie, &fragments[1], NOW_MS + 5000);
        assert_eq!(second.tracks[0].decode_time, video + 3072);
        assert_eq!(second.tracks[1].decode_time, audio + 9216);
        assert_eq!(second.timing.duration, fragments[1].timing.duration);
    }

    #[test]
    fn a_prft_date_is_used_as_given() {
        let (movie, mut fragments) = stream(&[(15360 * 100, 48000 * 100)], true);
        fragments[0].timing.wallclock_ms = Some(1_700_000_000_000);
        let mut r = Restamp::new(true);
        let f = restamp(&mut r, &movie, &fragments[0], NOW_MS);
        assert_eq!(f.tracks[0].decode_time, 1_700_000_000 * 15360);
        assert_eq!(f.tracks[1].decode_time, 1_700_000_000 * 48000);
        assert_eq!(f.timing.wallclock_ms, Some(1_700_000_000_000));
    }

    #[test]
    fn a_jump_in_the_encoder_timestamps_starts_a_new_run() {
        // Timestamps continue, then start over at 0 (an encoder restart) 30 s later.
        let (movie, fragments) = stream(&[(0, 0), (3072, 9216), (0, 0)], true);
        let mut r = Restamp::new(true);
        let a = restamp(&mut r, &movie, &fragments[0], NOW_MS);
        restamp(&mut r, &movie, &fragments[1], NOW_MS + 200);
        let c = restamp(&mut r, &movie, &fragments[2], NOW_MS + 30_000);
        assert_eq!(c.timing.wallclock_ms, Some(NOW_MS + 30_000 - 200));
        let gap = c.tracks[1].decode_time - a.tracks[1].decode_time;
        assert_eq!(gap, 30_000 * 48);
    }

    #[test]
    fn a_version0_tfdt_is_left_alone_and_restamping_ends() {
        let (movie, fragments) = stream(&[(0, 0), (3072, 9216)], false);
        let mut r = Restamp::new(true);
        for f in &fragments {
            let mut out = f.clone();
            let mut bytes = f.bytes.to_vec();
            let _ = r.apply(&movie, &mut out, &mut bytes, || NOW_MS);
            assert_eq!(bytes, f.bytes.to_vec());
            assert_eq!(&out, f);
        }
    }

    /// A group whose renditions agree within 1.5 s (the default `segment_min_ms`).
    fn group() -> Arc<GroupAnchor> {
        Arc::new(GroupAnchor::new(Duration::from_millis(1500)))
    }

    /// A video decode time of `ts` Hz in seconds.
    fn secs(decode: u64, ts: u32) -> f64 {
        decode as f64 / f64::from(ts)
    }

    #[test]
    fn renditions_of_a_group_share_one_shift_whatever_their_clocks_and_timescales() {
        // One encoder timeline: hi (video at 15360 Hz) from 0, lo (video at 90 kHz) from the
        // second fragment on, its first part arriving 1 s later than hi's would put it.
        let (hi_movie, hi) = stream_in(15360, &[(0, 0), (3072, 9216)], true);
        let (lo_movie, lo) = stream_in(90000, &[(18000, 9216)], true);
        let group = group();
        let (mut rh, mut rl) = (
            Restamp::in_group(Arc::clone(&group)),
            Restamp::in_group(group),
        );
        restamp(&mut rh, &hi_movie, &hi[0], NOW_MS);
        let h = restamp(&mut rh, &hi_movie, &hi[1], NOW_MS + 200);
        let l = restamp(&mut rl, &lo_movie, &lo[0], NOW_MS + 1200);
        // The same media time for the same encoder timestamp: to the tick where the timescales
        // agree, within a tick where they differ (each rounds the shift once).
        assert_eq!(l.tracks[1].decode_time, h.tracks[1].decode_time);
        let (hv, lv) = (
            secs(h.tracks[0].decode_time, 15360),
            secs(l.tracks[0].decode_time, 90000),
        );
        assert!((hv - lv).abs() < 1.0 / 15360.0, "{hv} vs {lv}");
        // On the wall clock of the rendition that anchored the group (its first part dated
        // 200 ms before it arrived), and dated alike: lo takes the group's date, not its own.
        assert!(
            (hv - (NOW_MS as f64 / 1000.0)).abs() < 1.0 / 15360.0,
            "{hv}"
        );
        assert_eq!(h.timing.wallclock_ms, Some(NOW_MS));
        assert_eq!(l.timing.wallclock_ms, Some(NOW_MS));
    }

    #[test]
    fn an_encoder_restart_renews_the_group_anchor_which_a_sibling_restarting_soon_after_takes() {
        let group = group();
        let rendition = |video_ts: u32, decodes: &[(u64, u64)]| {
            let (movie, fragments) = stream_in(video_ts, decodes, true);
            (Restamp::in_group(Arc::clone(&group)), movie, fragments)
        };
        // Three renditions at 60 s on their encoders' clocks, then each restarts at 0.
        let at_60 = (15360 * 60, 48000 * 60);
        let (mut hi, hi_movie, hi_f) = rendition(15360, &[at_60, (0, 0), (3072, 9216)]);
        let (mut lo, lo_movie, lo_f) = rendition(15360, &[at_60, (0, 0)]);
        let (mut mid, mid_movie, mid_f) = rendition(15360, &[at_60, (0, 0)]);
        let old_hi = restamp(&mut hi, &hi_movie, &hi_f[0], NOW_MS);
        let old_lo = restamp(&mut lo, &lo_movie, &lo_f[0], NOW_MS + 300);
        restamp(&mut mid, &mid_movie, &mid_f[0], NOW_MS + 600);
        assert_eq!(
            old_lo.tracks, old_hi.tracks,
            "one timeline before the restart"
        );
        // hi restarts first, 30 s later: its 0 is dated 60 s before the group's anchor would
        // date it, so it anchors the group anew, on its own clock.
        let new_hi = restamp(&mut hi, &hi_movie, &hi_f[1], NOW_MS + 30_000);
        assert_eq!(new_hi.tracks[1].decode_time, (NOW_MS + 30_000 - 200) * 48);
        // lo restarts a second later: within the tolerance of hi's new anchor, so it takes it
        // (the encoders' timestamps, both from 0, are the shared timeline), dated as hi.
        let new_lo = restamp(&mut lo, &lo_movie, &lo_f[1], NOW_MS + 31_000);
        assert_eq!(new_lo.tracks, new_hi.tracks);
        assert_eq!(new_lo.timing.wallclock_ms, new_hi.timing.wallclock_ms);
        // mid restarts 5 s after hi: no longer the same timeline by its clock, so its own
        // anchor, which becomes the group's.
        let new_mid = restamp(&mut mid, &mid_movie, &mid_f[1], NOW_MS + 35_000);
        assert_eq!(new_mid.tracks[1].decode_time, (NOW_MS + 35_000 - 200) * 48);
        // A run never changes its shift midway: hi continues on its anchor.
        let next_hi = restamp(&mut hi, &hi_movie, &hi_f[2], NOW_MS + 36_000);
        assert_eq!(
            next_hi.tracks[1].decode_time,
            new_hi.tracks[1].decode_time + 9216
        );
    }

    #[test]
    fn with_prft_two_origins_restamp_a_group_alike_whatever_their_clocks() {
        let (hi_movie, mut hi) = stream_in(15360, &[(0, 0), (3072, 9216)], true);
        let (lo_movie, mut lo) = stream_in(90000, &[(0, 0), (18000, 9216)], true);
        for (i, f) in hi.iter_mut().chain(lo.iter_mut()).enumerate() {
            // lo's encoder dates its samples 40 ms later than hi's.
            let late = if i >= 2 { 40 } else { 0 };
            f.timing.wallclock_ms = Some(1_700_000_000_000 + 200 * (i as u64 % 2) + late);
        }
        let origin = |clock: u64| {
            let group = group();
            let mut rh = Restamp::in_group(Arc::clone(&group));
            let mut rl = Restamp::in_group(group);
            let mut out = Vec::new();
            for i in 0..2 {
                out.push(restamp(&mut rh, &hi_movie, &hi[i], clock + 200 * i as u64));
                out.push(restamp(
                    &mut rl,
                    &lo_movie,
                    &lo[i],
                    clock + 900 + 200 * i as u64,
                ));
            }
            out
        };
        let (a, b) = (origin(NOW_MS), origin(NOW_MS + 5_000));
        assert_eq!(a, b);
        // lo took hi's anchor (its prft 40 ms off is within the tolerance) and keeps its prft.
        assert_eq!(a[1].tracks[1].decode_time, a[0].tracks[1].decode_time);
        assert_eq!(a[1].timing.wallclock_ms, Some(1_700_000_000_040));
    }

    #[test]
    fn off_changes_nothing() {
        let (movie, fragments) = stream(&[(0, 0)], true);
        let mut r = Restamp::new(false);
        let mut out = fragments[0].clone();
        let mut bytes = out.bytes.to_vec();
        assert!(!r.apply(&movie, &mut out, &mut bytes, || NOW_MS).unwrap());
        assert_eq!(out, fragments[0]);
    }
}

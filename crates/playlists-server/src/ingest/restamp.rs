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
//! only the per-track shifts (its tracks may differ).
//!
//! Only `tfdt` is patched, in place (no size change); the `mfhd` sequence numbers stay the
//! encoder's. A version 0 (32-bit) `tfdt` cannot hold a date in any useful timescale: such a
//! stream keeps its timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::fmp4::rewrite::shift_decode_times;
use crate::fmp4::{Fragment, Malformed, Movie};

/// Restamping state of one stream, kept across its sessions (see the module docs).
#[derive(Debug)]
pub struct Restamp {
    enabled: bool,
    run: Option<Run>,
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
    timescale: u32,
    /// The run's first sample: its date and the encoder's decode time.
    date_ms: u64,
    decode: u64,
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
        Self { enabled, run: None }
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
                *run = Run::anchor(movie, run.date_ms, run.decode, run.timescale);
            }
            Some(_) if continues => {}
            _ => {
                let date_ms = timing.wallclock_ms.unwrap_or_else(|| {
                    let duration_ms =
                        u128::from(timing.duration) * 1000 / u128::from(timing.timescale.max(1));
                    now_ms().saturating_sub(u64::try_from(duration_ms).unwrap_or(u64::MAX))
                });
                self.run = Some(Run::anchor(
                    movie,
                    date_ms,
                    timing.decode_time,
                    timing.timescale,
                ));
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
        // The library dates a run from the wall clock of its first part: the date the shift
        // was taken from, so dates and media time agree. A `prft` date is the encoder's and
        // stays as it is (it may drift from the media clock within a run).
        if fragment.timing.wallclock_ms.is_none() {
            let since = i128::from(timing.decode_time) - i128::from(run.decode);
            let ms = i128::from(run.date_ms) + since * 1000 / i128::from(timing.timescale.max(1));
            fragment.timing.wallclock_ms = u64::try_from(ms).ok();
        }
        Ok(true)
    }
}

impl Run {
    /// The run that dates decode time `decode` (of `timescale`, the fragment timing's) at
    /// `date_ms`.
    fn anchor(movie: &Movie, date_ms: u64, decode: u64, timescale: u32) -> Self {
        // shift_t = round(date_ms / 1000 × ts_t − decode / timescale × ts_t), exact in i128
        // and rounded once per run, so no track drifts from another.
        let shift = |ts_t: u32| -> i64 {
            let ts_t = i128::from(ts_t);
            let scale = i128::from(timescale.max(1));
            let num = i128::from(date_ms) * ts_t * scale - 1000 * i128::from(decode) * ts_t;
            let den = 1000 * scale;
            let rounded = (num + den / 2).div_euclid(den);
            i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX })
        };
        Self {
            shifts: movie
                .tracks
                .iter()
                .map(|t| (t.track_id, shift(t.timescale)))
                .collect(),
            timing_shift: shift(timescale),
            init: movie.init.bytes.clone(),
            timescale,
            date_ms,
            decode,
            next_decode: decode,
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
        let mut bytes = init_segment(&[TestTrack::video(1, 15360, 0), TestTrack::audio(2, 48000)]);
        for (i, &(v, a)) in decodes.iter().enumerate() {
            let mut video = TestTraf::new(1, v, 3, 1024); // 200 ms
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

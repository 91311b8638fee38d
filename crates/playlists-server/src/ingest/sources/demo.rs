//! The built-in `demo` stream: a small CMAF clip shipped in the binary, looped forever as
//! one live stream, so a new user sees LL-HLS working with no encoder.
//!
//! ```text
//!  clip: init │ f0 f1 … f39 │            (8 s, 40 parts of 200 ms, scripts/make-demo-clip.sh)
//!  live: init │ f0 f1 … f39 │ f0' f1' … f39' │ f0'' …
//!                             └ copies with tfdt + 1 × loop duration (per track),
//!                               mfhd sequence numbers counting on
//! ```
//!
//! Each part is a copy of a clip fragment with its `mfhd` sequence number and every track's
//! `tfdt` patched in place ([`shift_fragment`]): the loop plays as one continuous timeline,
//! so the playlist has no EXT-X-DISCONTINUITY. Each track is shifted by its own duration in
//! the clip, so each track is gap-free; the shipped clip makes the audio and video durations
//! equal (see the script) so they also never drift apart.
//!
//! Parts are published in real time: the part that ends at media time `t` goes out at
//! `start + t`, on tokio's clock (tests pause it). The demo publishes through an
//! [`IngestSession`](crate::ingest::IngestSession), exactly like an encoder, as a local source.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::fmp4::rewrite::shift_fragment;
use crate::fmp4::{split_all, Fmp4Error, Fragment, Limits, Malformed, Movie, Unit};
use crate::ingest::{Access, IngestError, Ingests};

/// The clip made by `scripts/make-demo-clip.sh`, embedded so the binary runs from anywhere.
pub const DEMO_CLIP: &[u8] = include_bytes!("../../../assets/demo.mp4");

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The clip is not fMP4 the splitter accepts.
    #[error("the demo clip cannot be split: {0}")]
    Split(#[from] Fmp4Error),
    /// The clip splits but cannot be looped (no init section, no parts, …).
    #[error("the demo clip cannot be looped: {0}")]
    Clip(String),
    /// Patching a part's timestamps failed.
    #[error("rewriting demo part {index}: {source}")]
    Rewrite {
        /// The part of the endless stream.
        index: u64,
        /// What the patcher found.
        #[source]
        source: Malformed,
    },
    /// Publishing failed (the stream name is taken by an encoder, no stream slot is free…).
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// A clip ready to loop: its init section, its parts and how far each track moves per loop.
#[derive(Debug, Clone)]
pub struct DemoClip {
    movie: Arc<Movie>,
    fragments: Vec<Fragment>,
    /// Per track id: ticks (in the track's timescale) one loop lasts.
    loop_ticks: Vec<(u32, u64)>,
    /// The primary track's first decode time in the clip, and its timescale.
    start_ticks: u64,
    timescale: u32,
}

impl DemoClip {
    /// The embedded clip.
    pub fn builtin() -> Result<Self, DemoError> {
        Self::parse(Bytes::from_static(DEMO_CLIP))
    }

    /// Prepares `bytes` (an fMP4 file: one init section, then fragments) for looping.
    pub fn parse(bytes: Bytes) -> Result<Self, DemoError> {
        let mut init = None;
        let mut fragments = Vec::new();
        for event in split_all(bytes, Limits::default())? {
            match event {
                Unit::Init(i) if init.is_none() => init = Some(i),
                Unit::Init(_) => return Err(DemoError::Clip("more than one init section".into())),
                Unit::Fragment(f) => fragments.push(f),
            }
        }
        let movie = init.ok_or_else(|| DemoError::Clip("no init section".into()))?;
        let first = fragments
            .first()
            .ok_or_else(|| DemoError::Clip("no fragments".into()))?;
        if !first.timing.independent {
            return Err(DemoError::Clip(
                "the first part does not start with a keyframe".into(),
            ));
        }
        let loop_ticks = movie
            .tracks
            .iter()
            .map(|track| {
                let runs = fragments
                    .iter()
                    .flat_map(|f| &f.tracks)
                    .filter(|r| r.track_id == track.track_id);
                let start = runs.clone().map(|r| r.decode_time).min().unwrap_or(0);
                let end = runs.map(|r| r.decode_time + r.duration).max().unwrap_or(0);
                (track.track_id, end - start)
            })
            .collect();
        Ok(Self {
            start_ticks: first.timing.decode_time,
            timescale: first.timing.timescale,
            movie,
            fragments,
            loop_ticks,
        })
    }

    /// The clip's init section, as read.
    pub fn movie(&self) -> &Movie {
        &self.movie
    }

    /// Parts per loop.
    pub fn parts_per_loop(&self) -> u64 {
        self.fragments.len() as u64
    }

    /// Ticks one loop moves track `track_id` forward (its total duration in the clip).
    pub fn loop_ticks(&self, track_id: u32) -> u64 {
        self.loop_ticks
            .iter()
            .find(|(id, _)| *id == track_id)
            .map_or(0, |(_, t)| *t)
    }

    /// How long one loop plays (the primary track's duration).
    pub fn loop_duration(&self) -> Duration {
        ticks(
            self.loop_ticks(self.movie.primary_track().track_id),
            self.timescale,
        )
    }

    /// Part `index` of the endless stream (counting from 0 over all loops): a copy of clip
    /// fragment `index % n` with timestamps `index / n` loops later, and the media time at
    /// which it ends, from the stream's start.
    pub fn part(&self, index: u64) -> Result<(Bytes, Duration), DemoError> {
        let n = self.parts_per_loop();
        let round = index / n;
        let fragment = &self.fragments[(index % n) as usize];
        let mut bytes = fragment.bytes.to_vec();
        // mfhd sequence numbers start at 1 and only need to increase; u32 wraps after
        // 27 years of 200 ms parts.
        let sequence = (index + 1) as u32;
        shift_fragment(&mut bytes, sequence, |track_id| {
            round.saturating_mul(self.loop_ticks(track_id))
        })
        .map_err(|source| DemoError::Rewrite { index, source })?;
        let primary = self.loop_ticks(self.movie.primary_track().track_id);
        let end = fragment.timing.decode_time + fragment.timing.duration - self.start_ticks;
        let at = ticks(
            round.saturating_mul(primary).saturating_add(end),
            self.timescale,
        );
        Ok((Bytes::from(bytes), at))
    }
}

fn ticks(value: u64, timescale: u32) -> Duration {
    let nanos = u128::from(value) * 1_000_000_000 / u128::from(timescale.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Publishes the embedded clip as the live stream `stream`, looping it in real time until
/// `shutdown` completes; then the session ends and the stream gets its grace period, after
/// which it carries EXT-X-ENDLIST.
///
/// # Errors
/// [`DemoError::Ingest`] when the stream cannot be started or a part is refused (e.g. an
/// encoder already sends `stream`); the clip errors cannot happen with the shipped clip
/// (a test checks it).
pub async fn run_demo(
    ingests: Arc<Ingests>,
    stream: &str,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DemoError> {
    run_clip(ingests, stream, DemoClip::builtin()?, shutdown).await
}

/// Waits (at most `within`) until the demo stream `stream` is ready for players that move to
/// it from another process (an upgrade, [`crate::upgrade`]): two complete segments.
///
/// Why two: players move over about a segment behind the new run's live edge, and hls.js
/// (1.7) loads parts only from past the first listed part plus the open segment's length.
/// With one complete segment listed it loaded that whole segment over what it had buffered,
/// then waited for the next one to complete: a stall of 0.35–0.75 s (e2e scenario 13).
pub async fn wait_ready(playlists: &playlists::Playlists, stream: &str, within: Duration) {
    let deadline = Instant::now() + within;
    let ready = async {
        let stream = playlists.wait_stream(stream, deadline).await?;
        let first = stream.wait_first_playlist(deadline).await?;
        let next = playlists::BlockingRequest {
            msn: first.position.msn,
            part: None,
        };
        stream.wait_playlist(next, deadline).await
    };
    if let Err(e) = ready.await {
        tracing::warn!(%stream, error = %e, "the demo stream is not ready; going on");
    }
}

/// [`run_demo`] with another clip.
pub async fn run_clip(
    ingests: Arc<Ingests>,
    stream: &str,
    clip: DemoClip,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DemoError> {
    let mut session = ingests.start(stream, Access::Local)?;
    session.push(clip.movie.init.bytes.clone())?;
    tracing::info!(%stream, loop_s = clip.loop_duration().as_secs_f64(), "demo stream started");
    let start = Instant::now();
    tokio::pin!(shutdown);
    for index in 0u64.. {
        let (bytes, at) = clip.part(index)?;
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep_until(start + at) => {}
        }
        session.push(bytes)?;
    }
    session.finish()?;
    tracing::info!(%stream, "demo stream stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_clip_loops_without_drift() {
        let clip = DemoClip::builtin().unwrap();
        assert_eq!(clip.parts_per_loop(), 40);
        assert_eq!(clip.loop_duration(), Duration::from_secs(8));
        // Both tracks last exactly 8 s, so shifting each by its own length keeps them in sync.
        for track in &clip.movie().tracks {
            let secs = clip.loop_ticks(track.track_id) as f64 / f64::from(track.timescale);
            assert_eq!(secs, 8.0, "track {}", track.track_id);
        }
        assert!(clip.movie().init.codecs.starts_with("avc1."));
        assert!(clip.movie().init.codecs.ends_with(",mp4a.40.2"));
        assert!(DEMO_CLIP.len() < 400 * 1024);
    }

    #[test]
    fn parts_continue_across_loops() {
        let clip = DemoClip::builtin().unwrap();
        let mut stream = clip.movie().init.bytes.to_vec();
        let n = clip.parts_per_loop();
        let mut last_at = Duration::ZERO;
        for index in 0..3 * n {
            let (bytes, at) = clip.part(index).unwrap();
            assert!(at > last_at);
            assert_eq!(at, Duration::from_millis(200 * (index + 1)));
            last_at = at;
            stream.extend_from_slice(&bytes);
        }
        let events = split_all(Bytes::from(stream), Limits::default()).unwrap();
        let mut next: Vec<(u32, u64)> = Vec::new();
        for (i, event) in events.iter().skip(1).enumerate() {
            let Unit::Fragment(f) = event else {
                panic!("one init only")
            };
            assert_eq!(u64::from(f.sequence_number), i as u64 + 1);
            for run in &f.tracks {
                if let Some((_, expected)) = next.iter().find(|(id, _)| *id == run.track_id) {
                    assert_eq!(
                        run.decode_time, *expected,
                        "part {i} track {}",
                        run.track_id
                    );
                }
                next.retain(|(id, _)| *id != run.track_id);
                next.push((run.track_id, run.decode_time + run.duration));
            }
        }
    }
}

//! The CMAF packager: RTMP (FLV) audio and video messages, or an MPEG-TS byte stream (the
//! SRT source's payload, through [`TsDemuxer`]), in; fragmented MP4 out, as the ingest path
//! takes it from an encoder that sends fMP4 itself.
//!
//! ```text
//!  push_video ─▶ flv.rs ─┬▶ sequence header ─────────┬▶ track.rs (sample entry, dims.rs: size)
//!  push_audio ─▶ flv.rs ─┤  (ms × 90 = 90 kHz ticks) │
//!                        └▶ frame ─────────────────┐ │
//!  TsDemuxer::push ─▶ mpegts/ (framing, demux with │ │
//!   mpeg2ts-reader, h26x, adts) ─▶ avcC/hvcC/ASC ──┼─┘
//!                              └─▶ frame (PTS/DTS, ┤
//!                                   90 kHz as is)  ▼
//!                                   clock.rs (32-bit ms / 33-bit PTS → 64, jumps = new run)
//!                                                  │
//!                                   held video frame (its duration is the next frame's
//!                                                  │  DTS − its own)
//!                                                  ▼
//!                                   open part: one Run per track ──▶ writer.rs ──▶ take_output
//!                                   (cutter.rs: cut at key frames,  init (mp4-atom) when the
//!                                    at PART-TARGET, at run ends)   tracks change; prft+moof+mdat
//! ```
//!
//! * **Timescales**: video 90 kHz (an MPEG-TS source's PTS fit as they are); audio the sample
//!   rate (Opus 48 kHz).
//! * **Video durations** are decode-time differences, so one frame per track is held until
//!   the next arrives; the last frame of a run gets the previous frame's duration.
//!   Composition offsets (B-frames) go into a version 1 `trun`, signed.
//! * **Audio decode times** count samples exactly (1024 or 960 per AAC frame, the Opus TOC's
//!   count, RFC 6716 §3.1); RTMP's millisecond timestamps would make durations jitter. The
//!   count is resynchronised to the timestamp only when the two differ by more than one
//!   frame: a gap in the audio (the count jumps ahead to the timestamp, in a new part), or
//!   an audio clock running ahead of the timestamps (the frame is dropped, so decode times
//!   never go back).
//! * **Parts** hold every track: one `moof` with a `traf` per track and one `mdat`. A part is
//!   cut before a video frame that would make its video longer than PART-TARGET, and before
//!   every video key frame, so each key frame starts an INDEPENDENT part where a segment can
//!   start. Audio goes into the part open when it arrives: audio that arrives late relative
//!   to video lands in the next part, and its `tfdt` keeps its time right (the parser times a
//!   part by its video). Audio-only streams are cut by audio time, every part independent.
//!   An open part holds at most PART-TARGET of video; audio alone (video stalled) closes it
//!   after [`AUDIO_STALL_PARTS`] part targets, so memory stays bounded either way.
//! * **Track set**: RTMP does not announce its tracks (an MPEG-TS PMT does: there the first
//!   init section waits, up to 1 s of video, for the announced audio's configuration, the
//!   parts closed meanwhile held back and written after it). Frames before the first video key
//!   frame are dropped (a segment starts at a key frame). The init section's tracks are
//!   decided when the first part closes: video, with audio if its sequence header has
//!   arrived by then. With no video sequence header after 1 s of audio, the stream is
//!   audio-only. A track that appears later, or a sequence header that changes (an identical
//!   repeat changes nothing), takes effect at the next video key frame (in an audio-only
//!   stream an audio change takes effect at once, and video joins at its first key frame):
//!   a new init section precedes that part, and the library marks
//!   EXT-X-DISCONTINUITY there. Frames of the changed track are dropped until then.
//! * **Runs**: a timestamp more than 1 s back or 10 s forward of its track's previous one
//!   (an encoder restart) ends the run: the open part is closed, and the next run starts at
//!   a video key frame with decode times as the new timestamps say. Decode times are not
//!   made continuous: the jump is what tells the ingest layer (restamp) and the library that
//!   the timeline restarts (EXT-X-DISCONTINUITY), and restamp re-dates the new run from its
//!   `prft`. A smaller step back in video DTS is an error (frames that cannot be ordered).
//! * **Wall clock**: each run is anchored once, at its first frame (`received_unix_ms` less
//!   its media time); every part's `prft` (version 1, reference track the video track) is
//!   that anchor plus the reference track's decode time, so `prft` and media time agree and
//!   the output is a function of the input only (byte-identical for identical input).

mod clock;
mod cutter;
mod dims;
mod error;
pub mod flv;
mod mpegts;
mod track;
mod writer;

use std::time::Duration;

use bytes::Bytes;

pub use error::{Media, PackagerError};
pub use mpegts::TsDemuxer;

use clock::{Clock, Stamp, Step};
use cutter::readable;
use flv::{AudioCodec, AudioTag, VideoCodec, VideoTag};
use track::{opus_packet_samples, TrackConfig, VIDEO_TIMESCALE};
use writer::{InitTrack, Run, Sample, SYNC};

/// The video track's ID in the init sections written.
const VIDEO_TRACK: u32 = 1;
/// The audio track's ID.
const AUDIO_TRACK: u32 = 2;
/// Audio with no video sequence header for this long makes the stream audio-only.
const AUDIO_ONLY_AFTER_MS: u64 = 1_000;
/// A muxed part whose audio spans this many part targets is closed even without video.
pub const AUDIO_STALL_PARTS: u32 = 4;
/// A part is cut before its samples would exceed this many bytes (the splitter's default
/// part limit is 32 MiB; frames are at most `max_frame_bytes`, 8 MiB by default).
const MAX_PART_BYTES: usize = 16 << 20;
/// A video frame's duration when there is no previous one to copy (1/30 s).
const DEFAULT_VIDEO_DURATION: u32 = VIDEO_TIMESCALE / 30;

/// The packager's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagerConfig {
    /// PART-TARGET: no part is longer (parts are cut at frame boundaries; a single frame
    /// longer than this is a part of its own).
    pub part_target: Duration,
    /// Largest frame (audio or video message body) accepted; at most 16 MiB whatever is
    /// set, so that a part of one frame stays within the splitter's part limit.
    pub max_frame_bytes: usize,
}

impl Default for PackagerConfig {
    /// A 200 ms part target, frames up to 8 MiB.
    fn default() -> Self {
        Self {
            part_target: Duration::from_millis(200),
            max_frame_bytes: 8 << 20,
        }
    }
}

/// The video frame held until the next one gives its duration.
#[derive(Debug)]
struct Held {
    dts: u64,
    key: bool,
    cto: i32,
    data: Bytes,
}

/// Packages one RTMP stream's audio and video messages into CMAF (see the module docs).
#[derive(Debug)]
pub struct Packager {
    config: PackagerConfig,
    part_target_90k: u64,
    spent: bool,
    video_config: Option<TrackConfig>,
    audio_config: Option<TrackConfig>,
    video_clock: Clock,
    audio_clock: Clock,
    held: Option<Held>,
    last_video_duration: u32,
    /// Video frames are dropped until a key frame: at the start, after a new video sequence
    /// header, after a new run.
    waiting_key: bool,
    /// The next audio decode time (sample count), if a frame was placed in this run.
    audio_next: Option<u64>,
    /// The run has started (a video key frame, or audio-only decided).
    started: bool,
    /// Audio-only, decided.
    audio_only: bool,
    /// The tracks the open part is written with.
    tracks: Vec<InitTrack>,
    /// The tracks of the last init section written.
    written: Option<Vec<InitTrack>>,
    video: Run,
    audio: Run,
    /// Sample bytes in the open part.
    part_bytes: usize,
    /// Before the run starts without a video sequence header: audio received (decode time,
    /// sample), in case the stream turns out audio-only, and the first frame's
    /// `received_unix_ms` and ms timestamp.
    undecided_audio: Vec<(u64, Sample)>,
    undecided_since: Option<(u64, u64)>,
    /// `received_unix_ms − media ms` of the run's first frame.
    anchor_ms: Option<i128>,
    /// The source announced an audio track (an MPEG-TS PMT does; RTMP does not): the first
    /// init section waits for its configuration, up to [`AUDIO_ONLY_AFTER_MS`] of video,
    /// with the parts closed meanwhile held in `deferred` (written after it).
    expect_audio: bool,
    deferred: Vec<Bytes>,
    deferred_ticks: u64,
    sequence_number: u32,
    output: Vec<Bytes>,
}

impl Packager {
    /// A packager with nothing received.
    pub fn new(config: PackagerConfig) -> Self {
        let part_target_90k = (config.part_target.as_micros() * u128::from(VIDEO_TIMESCALE)
            / 1_000_000)
            .clamp(1, u128::from(u32::MAX)) as u64;
        Self {
            config,
            part_target_90k,
            spent: false,
            video_config: None,
            audio_config: None,
            video_clock: Clock::default(),
            audio_clock: Clock::default(),
            held: None,
            last_video_duration: DEFAULT_VIDEO_DURATION,
            waiting_key: true,
            audio_next: None,
            started: false,
            audio_only: false,
            tracks: Vec::new(),
            written: None,
            video: Run {
                track_id: VIDEO_TRACK,
                with_cto: true,
                ..Default::default()
            },
            audio: Run {
                track_id: AUDIO_TRACK,
                ..Default::default()
            },
            part_bytes: 0,
            undecided_audio: Vec::new(),
            undecided_since: None,
            anchor_ms: None,
            expect_audio: false,
            deferred: Vec::new(),
            deferred_ticks: 0,
            sequence_number: 1,
            output: Vec::new(),
        }
    }

    /// One RTMP video message body (message type 9) at its RTMP timestamp (ms, 32-bit, may
    /// wrap), received when the origin's clock read `received_unix_ms`. On an error the
    /// packager is spent (every later call fails with [`PackagerError::Spent`]).
    pub fn push_video(
        &mut self,
        timestamp_ms: u32,
        body: Bytes,
        received_unix_ms: u64,
    ) -> Result<(), PackagerError> {
        self.guard(Media::Video, &body)?;
        let result = self.video_message(timestamp_ms, body, received_unix_ms);
        self.spent = result.is_err();
        result
    }

    /// Same for an audio message body (message type 8).
    pub fn push_audio(
        &mut self,
        timestamp_ms: u32,
        body: Bytes,
        received_unix_ms: u64,
    ) -> Result<(), PackagerError> {
        self.guard(Media::Audio, &body)?;
        let result = self.audio_message(timestamp_ms, body, received_unix_ms);
        self.spent = result.is_err();
        result
    }

    /// The fMP4 produced so far, in order: an init section (`ftyp`+`moov`) before the first
    /// part and again whenever the tracks or a decoder configuration change; then
    /// `prft`+`moof`+`mdat` per part. Each `Bytes` is one whole unit.
    pub fn take_output(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.output)
    }

    /// End of stream: closes the open part (the held video frame gets the previous frame's
    /// duration). The packager is spent afterwards.
    pub fn finish(&mut self) -> Result<(), PackagerError> {
        if self.spent {
            return Err(PackagerError::Spent);
        }
        self.spent = true;
        self.end_run();
        if !self.started && self.video_config.is_none() {
            self.start_audio_only();
        }
        self.close_part();
        self.release_deferred();
        Ok(())
    }

    fn guard(&mut self, media: Media, body: &Bytes) -> Result<(), PackagerError> {
        if self.spent {
            return Err(PackagerError::Spent);
        }
        let max = self.config.max_frame_bytes.min(MAX_PART_BYTES);
        if body.len() > max {
            self.spent = true;
            return Err(PackagerError::FrameTooLarge {
                media,
                len: body.len(),
                max,
            });
        }
        Ok(())
    }

    fn video_message(&mut self, ts: u32, body: Bytes, now: u64) -> Result<(), PackagerError> {
        match flv::parse_video(&body)? {
            VideoTag::Ignored => Ok(()),
            VideoTag::Config { codec, record } => self.video_config(codec, record),
            VideoTag::Frame {
                codec,
                key,
                composition_ms,
                data,
            } => self.video_frame(
                codec,
                Stamp::Ms(ts),
                key,
                composition_ms.saturating_mul(90),
                data,
                now,
            ),
        }
    }

    /// A video decoder configuration record (`avcC`/`hvcC`/`av1C` payload), from an RTMP
    /// sequence header or built from the parameter sets of a transport stream: a record
    /// that differs from the current one takes effect at the next key frame.
    fn video_config(&mut self, codec: VideoCodec, record: Bytes) -> Result<(), PackagerError> {
        if self
            .video_config
            .as_ref()
            .is_some_and(|c| c.record == record)
        {
            return Ok(());
        }
        self.video_config = Some(readable(TrackConfig::video(codec, record)?, Media::Video)?);
        self.waiting_key = true;
        Ok(())
    }

    /// One coded video frame (length-prefixed NAL units or OBUs) at decode time `dts`, with
    /// its composition offset in 90 kHz ticks: below both sources (RTMP's milliseconds are
    /// converted exactly, MPEG-TS ticks go in as they are).
    fn video_frame(
        &mut self,
        codec: VideoCodec,
        stamp: Stamp,
        key: bool,
        cto: i32,
        data: Bytes,
        now: u64,
    ) -> Result<(), PackagerError> {
        let Some(config) = &self.video_config else {
            // A frame before any sequence header cannot be decoded.
            return Ok(());
        };
        if !matches!(
            (&config.codec, codec),
            (mp4_atom::Codec::Avc1(_), VideoCodec::Avc)
                | (mp4_atom::Codec::Hvc1(_), VideoCodec::Hevc)
                | (mp4_atom::Codec::Av01(_), VideoCodec::Av1)
        ) {
            return Err(PackagerError::NoConfig {
                media: Media::Video,
                codec: codec.name(),
            });
        }
        let dts = match self.video_clock.extend(stamp) {
            // Two frames at one DTS: the first would last 0 ticks, which no part may.
            Step::Continues(dts) if self.held.as_ref().is_some_and(|h| h.dts == dts) => {
                return Err(PackagerError::TimestampsBackwards {
                    media: Media::Video,
                    by_ms: 0,
                })
            }
            Step::Continues(dts) => dts,
            Step::Back(_, by) => {
                return Err(PackagerError::TimestampsBackwards {
                    media: Media::Video,
                    by_ms: by / 90,
                })
            }
            Step::Jump => {
                self.end_run();
                self.video_clock.restart(stamp)
            }
        };
        if self.waiting_key && !key {
            return Ok(());
        }
        if let Some(held) = self.held.take() {
            let duration = u32::try_from(dts.saturating_sub(held.dts)).unwrap_or(u32::MAX);
            self.place_video(held, duration);
        }
        if key {
            self.waiting_key = false;
            // Every key frame starts a part; the tracks change only here (or in audio-only
            // streams), so a new init section is always followed by an independent part.
            self.close_part();
            self.tracks = self.wanted_tracks(true);
            if !self.started {
                self.started = true;
                self.undecided_audio.clear();
                self.undecided_since = None;
                self.audio_next = None;
            }
            // Video appearing in an audio-only stream makes it muxed from here.
            self.audio_only = false;
            if self.anchor_ms.is_none() {
                self.anchor_ms = Some(i128::from(now) - i128::from(dts / 90));
            }
        }
        self.held = Some(Held {
            dts,
            key,
            cto,
            data,
        });
        Ok(())
    }

    /// Video frames are dropped until the next key frame (a source lost data the decoder
    /// needs: frames after the loss reference what is gone).
    fn wait_for_key_frame(&mut self) {
        self.waiting_key = true;
    }

    /// The tracks an init section should have now: video (if wanted and configured) and
    /// audio (if configured).
    fn wanted_tracks(&self, with_video: bool) -> Vec<InitTrack> {
        let video = self
            .video_config
            .as_ref()
            .filter(|_| with_video)
            .map(|config| InitTrack {
                track_id: VIDEO_TRACK,
                video: true,
                config: config.clone(),
            });
        let audio = self.audio_config.as_ref().map(|config| InitTrack {
            track_id: AUDIO_TRACK,
            video: false,
            config: config.clone(),
        });
        video.into_iter().chain(audio).collect()
    }

    fn audio_message(&mut self, ts: u32, body: Bytes, now: u64) -> Result<(), PackagerError> {
        match flv::parse_audio(&body)? {
            AudioTag::Ignored => Ok(()),
            AudioTag::Config { codec, record } => self.audio_config(codec, record),
            AudioTag::Frame { codec, data } => self.audio_frame(codec, Stamp::Ms(ts), 0, data, now),
        }
    }

    /// An audio decoder configuration (AudioSpecificConfig or OpusHead), from an RTMP
    /// sequence header or built from a transport stream's ADTS headers.
    fn audio_config(&mut self, codec: AudioCodec, record: Bytes) -> Result<(), PackagerError> {
        if self
            .audio_config
            .as_ref()
            .is_some_and(|c| c.record == record)
        {
            return Ok(());
        }
        self.audio_config = Some(readable(TrackConfig::audio(codec, record)?, Media::Audio)?);
        if self.audio_only && self.started {
            // Audio-only: the change takes effect at once, in a new part.
            self.close_part();
            self.tracks = self.wanted_tracks(false);
            self.audio_next = None;
        }
        Ok(())
    }

    /// One audio frame timed `stamp` plus `offset` samples (MPEG-TS: the n-th ADTS frame of
    /// a PES is its PTS plus n frames, exactly, in samples).
    fn audio_frame(
        &mut self,
        codec: AudioCodec,
        stamp: Stamp,
        offset: u32,
        data: Bytes,
        now: u64,
    ) -> Result<(), PackagerError> {
        let Some(config) = &self.audio_config else {
            return Ok(());
        };
        let matches = matches!(
            (&config.codec, codec),
            (mp4_atom::Codec::Mp4a(_), AudioCodec::Aac)
                | (mp4_atom::Codec::Opus(_), AudioCodec::Opus)
        );
        if !matches {
            return Err(PackagerError::NoConfig {
                media: Media::Audio,
                codec: codec.name(),
            });
        }
        let samples = match config.frame_samples {
            Some(n) => n,
            None => opus_packet_samples(&data).ok_or_else(|| PackagerError::Malformed {
                media: Media::Audio,
                reason: "Opus packet with an invalid TOC".into(),
            })?,
        };
        let rate = u64::from(config.timescale);
        let record = config.record.clone();
        let ticks = match self.audio_clock.extend(stamp) {
            Step::Continues(t) | Step::Back(t, _) => t,
            Step::Jump => {
                self.end_run();
                self.audio_clock.restart(stamp)
            }
        };
        // ms × 90 × rate / 90,000 is RTMP's ms × rate / 1000 exactly.
        let from_ts = (u128::from(ticks) * u128::from(rate) / u128::from(VIDEO_TIMESCALE)) as u64
            + u64::from(offset);
        let ms = ticks / 90 + u64::from(offset) * 1000 / rate;
        // Accepted when the run has started with this configuration in its tracks (or the
        // first part is still open: its tracks are decided when it closes), or while waiting
        // to see whether the stream is audio-only.
        let in_tracks = self
            .tracks
            .iter()
            .any(|t| !t.video && t.config.record == record);
        let undecided = !self.started && self.video_config.is_none();
        if self.started && !in_tracks && self.written.is_some() {
            return Ok(());
        }
        if !self.started && !undecided {
            return Ok(());
        }
        // Decode times count samples; the timestamp only corrects them when it departs by
        // more than one frame. Ahead of the timestamp (an audio clock faster than the
        // timestamps say): the frame is dropped, so decode times never go back and audio
        // stays in step with video. Behind it (a gap in the audio): they jump to it.
        let decode_time = match self.audio_next {
            Some(next) if next.abs_diff(from_ts) <= u64::from(samples) => next,
            Some(next) if next > from_ts => return Ok(()),
            _ => from_ts,
        };
        self.audio_next = Some(decode_time + u64::from(samples));
        let sample = Sample {
            duration: samples,
            flags: SYNC,
            cto: 0,
            data,
        };
        if undecided {
            let (_, first_ms) = *self.undecided_since.get_or_insert((now, ms));
            self.undecided_audio.push((decode_time, sample));
            if ms.saturating_sub(first_ms) >= AUDIO_ONLY_AFTER_MS {
                self.start_audio_only();
            }
            return Ok(());
        }
        if self.anchor_ms.is_none() {
            // An audio-only run after a jump: anchored at its first frame, as video runs are
            // at their first key frame.
            self.anchor_ms = Some(i128::from(now) - i128::from(ms));
        }
        self.place_audio(decode_time, sample);
        Ok(())
    }

    /// Decides the stream is audio-only and cuts the audio received so far into parts.
    fn start_audio_only(&mut self) {
        let Some((now, first_ms)) = self.undecided_since.take() else {
            return;
        };
        self.started = true;
        self.audio_only = true;
        self.tracks = self.wanted_tracks(false);
        self.anchor_ms = Some(i128::from(now) - i128::from(first_ms));
        for (decode_time, sample) in std::mem::take(&mut self.undecided_audio) {
            self.place_audio(decode_time, sample);
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_synthetic;
#[cfg(test)]
mod testutil;

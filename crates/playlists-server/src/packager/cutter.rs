//! Where parts are cut and written: frames placed into the open part (one run per track),
//! the part closed before a video frame that would make it longer than PART-TARGET, before
//! every key frame, when audio alone fills it (audio-only streams, or video stalled), at a
//! gap in the audio and at the end of a run; the init section written first whenever the
//! tracks changed. The rules are the module docs' (`super`).

use super::track::{TrackConfig, VIDEO_TIMESCALE};
use super::writer::{self, InitTrack, Prft, Sample, NON_SYNC, SYNC};
use super::{
    Held, Media, Packager, PackagerError, AUDIO_ONLY_AFTER_MS, AUDIO_STALL_PARTS, MAX_PART_BYTES,
};

impl Packager {
    pub(super) fn place_video(&mut self, held: Held, duration: u32) {
        if duration > 0 {
            self.last_video_duration = duration;
        }
        if !held.key
            && (self.video.duration() + u64::from(duration) > self.part_target_90k
                || self.part_bytes + held.data.len() > MAX_PART_BYTES)
        {
            self.close_part();
        }
        if self.video.samples.is_empty() {
            self.video.decode_time = held.dts;
        }
        self.part_bytes += held.data.len();
        self.video.samples.push(Sample {
            duration,
            flags: if held.key { SYNC } else { NON_SYNC },
            cto: held.cto,
            data: held.data,
        });
    }

    pub(super) fn place_audio(&mut self, decode_time: u64, sample: Sample) {
        let timescale = self.audio_config.as_ref().map_or(48_000, |c| c.timescale);
        let target = self.config.part_target.as_micros() * u128::from(timescale) / 1_000_000;
        let open = u128::from(self.audio.duration()) + u128::from(sample.duration);
        let limit = if self.audio_only {
            target
        } else {
            target * u128::from(AUDIO_STALL_PARTS)
        };
        // Audio-only: a part never longer than the target. Muxed: only when video stalls.
        if open > limit.max(1) || self.part_bytes + sample.data.len() > MAX_PART_BYTES {
            self.close_part();
        }
        // A gap in the audio (a resynchronised decode time) starts a new part, as a trun
        // cannot hold one.
        if !self.audio.samples.is_empty()
            && self.audio.decode_time + self.audio.duration() != decode_time
        {
            self.close_part();
        }
        if self.audio.samples.is_empty() {
            self.audio.decode_time = decode_time;
        }
        self.part_bytes += sample.data.len();
        self.audio.samples.push(sample);
    }

    /// Ends the run: the held frame gets an estimated duration, the open part is closed, and
    /// the next frames start a new run (at a video key frame unless audio-only).
    pub(super) fn end_run(&mut self) {
        if let Some(held) = self.held.take() {
            let duration = self.last_video_duration;
            self.place_video(held, duration);
        }
        self.close_part();
        self.release_deferred();
        self.video_clock.reset();
        self.audio_clock.reset();
        self.audio_next = None;
        self.anchor_ms = None;
        if !self.audio_only {
            self.started = false;
            self.waiting_key = true;
        }
    }

    /// Writes the open part (and an init section first if the tracks changed).
    pub(super) fn close_part(&mut self) {
        if !self.started || (self.video.samples.is_empty() && self.audio.samples.is_empty()) {
            return;
        }
        if self.written.is_none() && !self.audio_only {
            // The first part: audio joins if its sequence header has arrived by now.
            self.tracks = self.wanted_tracks(true);
        }
        let has = |video: bool| self.tracks.iter().any(|t| t.video == video);
        if !has(true) {
            self.video.samples.clear();
        }
        if !has(false) {
            self.audio.samples.clear();
        }
        if self.video.samples.is_empty() && self.audio.samples.is_empty() {
            return;
        }
        if self.written.is_none()
            && !self.audio_only
            && self.expect_audio
            && self.audio_config.is_none()
            && self.deferred_ticks < AUDIO_ONLY_AFTER_MS * 90
        {
            // The announced audio track has not brought its configuration yet: the part
            // waits for the first init section, which will list the audio.
            self.deferred_ticks += self.video.duration();
            let bytes = self.part_bytes_out();
            self.deferred.push(bytes);
            return;
        }
        if self.written.is_none() && !self.deferred.is_empty() {
            self.tracks = self.wanted_tracks(true);
        }
        if self.written.as_ref() != Some(&self.tracks) {
            match writer::init_section(&self.tracks) {
                Ok(init) => self.output.push(init),
                // mp4-atom encodes what it decoded; if it ever cannot, the part would be
                // unreadable without its init, so it is dropped.
                Err(e) => {
                    tracing::warn!("packager: cannot encode the init section: {e}");
                    self.video.samples.clear();
                    self.audio.samples.clear();
                    return;
                }
            }
            self.written = Some(self.tracks.clone());
        }
        self.output.append(&mut self.deferred);
        let bytes = self.part_bytes_out();
        self.output.push(bytes);
    }

    /// Parts held for the first init section are written, with it, when there will be no
    /// more parts to decide it (the end of a run or of the stream).
    pub(super) fn release_deferred(&mut self) {
        if self.deferred.is_empty() {
            return;
        }
        self.tracks = self.wanted_tracks(true);
        match writer::init_section(&self.tracks) {
            Ok(init) => self.output.push(init),
            Err(e) => {
                tracing::warn!("packager: cannot encode the init section: {e}");
                self.deferred.clear();
                return;
            }
        }
        self.written = Some(self.tracks.clone());
        self.output.append(&mut self.deferred);
    }

    /// The open part as `prft`+`moof`+`mdat`; the part is emptied.
    fn part_bytes_out(&mut self) -> bytes::Bytes {
        let (reference, timescale) = if self.video.samples.is_empty() {
            (
                &self.audio,
                self.audio_config.as_ref().map_or(1, |c| c.timescale),
            )
        } else {
            (&self.video, VIDEO_TIMESCALE)
        };
        let prft = self.anchor_ms.and_then(|anchor| {
            let media_ms = i128::from(reference.decode_time) * 1000 / i128::from(timescale);
            Some(Prft {
                reference_track: reference.track_id,
                media_time: reference.decode_time,
                unix_ms: u64::try_from(anchor + media_ms).ok()?,
            })
        });
        let bytes = writer::fragment(self.sequence_number, &[&self.video, &self.audio], prft);
        self.sequence_number = self.sequence_number.wrapping_add(1);
        self.video.samples.clear();
        self.audio.samples.clear();
        self.part_bytes = 0;
        bytes
    }
}

/// `config` if an init section with it as its one track reads back with the ingest path's
/// own parser (`fmp4::Splitter`: sample entry, RFC 6381 codec string): a configuration
/// record mp4-atom decodes may still be one the splitter refuses (an `hvcC` of another
/// version), and the stream is refused here rather than after the first part.
pub(super) fn readable(config: TrackConfig, media: Media) -> Result<TrackConfig, PackagerError> {
    let track = InitTrack {
        track_id: 1,
        video: media == Media::Video,
        config,
    };
    let bad = |reason: String| PackagerError::BadConfig { media, reason };
    let init = writer::init_section(std::slice::from_ref(&track))
        .map_err(|e| bad(format!("cannot encode the sample entry: {e}")))?;
    match crate::fmp4::split_all(init, crate::fmp4::Limits::default()) {
        Ok(units) if matches!(units.as_slice(), [crate::fmp4::Unit::Init(_)]) => Ok(track.config),
        Ok(_) => Err(bad("the init section does not read back".into())),
        Err(e) => Err(bad(e.to_string())),
    }
}

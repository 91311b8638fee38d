//! MPEG-TS in (what an SRT source delivers), CMAF out: [`TsDemuxer`] finds the transport
//! packets, demultiplexes the first program's first video and first audio stream, turns
//! their PES packets into frames and decoder configurations, and hands those to the
//! [`Packager`] below its RTMP entry points, with times in 90 kHz ticks as the PES headers
//! carry them (no rounding through milliseconds).
//!
//! ```text
//!  push ─▶ framing.rs ─▶ demux.rs (mpeg2ts-reader: PAT, PMT, PES, PTS/DTS, CC)
//!         (sync 0x47)     │ whole PES per stream, or Lost
//!                         ├▶ H.264/HEVC ─▶ h26x.rs: Annex B → length-prefixed, key = IDR/IRAP,
//!                         │                avcC/hvcC from the SPS/PPS/VPS seen ─▶ Packager
//!                         ├▶ AAC ─▶ adts.rs: headers stripped, AudioSpecificConfig from
//!                         │         them; frame n of a PES at PTS + n × 1024 samples (a frame
//!                         │         split across PES completed by the next) ─▶ Packager
//!                         └▶ Opus ─▶ opus.rs: control headers stripped, OpusHead from the
//!                                    channel count; packets timed as AAC frames ─▶ Packager
//! ```
//!
//! * **Loss** (SRT drops packets it could not retransmit in time): a continuity counter
//!   gap, a PES cut short, or a PES over `max_frame_bytes` (discarded, not refused: it cannot
//!   be told from two PES whose boundary was lost) never ends the stream. The PES it hit is
//!   discarded; after a video loss, video frames are dropped until the next key frame (the
//!   frame before the loss lasts until it: a freeze, as a decoder would show); audio goes on,
//!   its decode times jumping over the gap. Bytes that are not packets are skipped until the
//!   sync byte is found again.
//! * **Refused** (a typed [`PackagerError`], the demuxer spent): bytes with no transport
//!   packet in [`NOT_TS_AFTER`] of them (the peer is not sending MPEG-TS), a parameter set
//!   no decoder configuration can be built from, and what the packager refuses from any
//!   source (video DTS that go back).
//! * **Ignored**: streams other than H.264 (0x1B), HEVC (0x24), ADTS AAC (0x0F) and mono or
//!   stereo Opus (0x06 registered `Opus`, opus.rs), and programs after the first. Video PES
//!   packets without a PTS (video waits for the next key frame); an audio PES without one
//!   continues where the previous ended.

mod adts;
mod demux;
mod framing;
mod h26x;
mod opus;

use bytes::Bytes;

use super::clock::Stamp;
use super::flv::{AudioCodec, VideoCodec};
use super::{Packager, PackagerConfig, PackagerError, MAX_PART_BYTES};
use demux::{Demux, Event, Kind};
use framing::Framer;
use h26x::ParameterSets;

/// Bytes without a single transport packet after which the input is refused.
pub const NOT_TS_AFTER: usize = 1 << 20;

/// What the packager's audio configuration was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AudioSetup {
    Aac([u8; 2]),
    Opus(u8),
}

/// Samples per AAC frame (ADTS carries 1024-sample frames).
const AAC_FRAME: u32 = 1024;

/// Packages one MPEG-TS stream (see the module docs).
#[derive(Debug)]
pub struct TsDemuxer {
    packager: Packager,
    framer: Framer,
    demux: Demux,
    events: Vec<Event>,
    /// The parameter sets of the access unit being converted (reused).
    sets: ParameterSets,
    /// The parameter sets the packager's video configuration was built from, and its codec.
    video: Option<(VideoCodec, ParameterSets)>,
    /// The audio configuration given to the packager: an AudioSpecificConfig, or Opus's
    /// channel count.
    audio: Option<AudioSetup>,
    /// The audio PTS last received and the samples since it: a PES without a PTS continues
    /// from there (a PTS is required only every 0.7 s, ISO/IEC 13818-1 §2.7.4). Forgotten
    /// at a loss, as the samples lost are not known.
    audio_time: Option<(u64, u32)>,
    /// The start of an ADTS frame the previous PES cut (some encoders split frames across
    /// PES packets), and its time: the next PES completes it. Forgotten at a loss.
    adts_rest: Option<(Bytes, (u64, u32))>,
    /// The latest `received_unix_ms`: what the PES flushed at the end arrived with.
    last_received: u64,
    spent: bool,
}

impl TsDemuxer {
    /// A demuxer with nothing received, packaging with `config`.
    pub fn new(config: PackagerConfig) -> Self {
        let max_pes = config.max_frame_bytes.min(MAX_PART_BYTES);
        Self {
            packager: Packager::new(config),
            framer: Framer::default(),
            demux: Demux::new(max_pes),
            events: Vec::new(),
            sets: ParameterSets::default(),
            video: None,
            audio: None,
            audio_time: None,
            adts_rest: None,
            last_received: 0,
            spent: false,
        }
    }

    /// Bytes of a transport stream, cut anywhere (SRT delivers 1316-byte payloads of seven
    /// 188-byte packets, but nothing here relies on it). `received_unix_ms`: the origin's
    /// wall clock when they arrived (anchors `prft`, as for RTMP). On an error the demuxer
    /// is spent (every later call fails with [`PackagerError::Spent`]).
    pub fn push(&mut self, data: &[u8], received_unix_ms: u64) -> Result<(), PackagerError> {
        if self.spent {
            return Err(PackagerError::Spent);
        }
        self.last_received = received_unix_ms;
        let (demux, events) = (&mut self.demux, &mut self.events);
        self.framer
            .push(data, |packets| demux.push(packets, events));
        let result = if self.framer.skipped > NOT_TS_AFTER {
            Err(PackagerError::NotTransportStream {
                skipped: self.framer.skipped,
            })
        } else {
            self.handle(received_unix_ms)
        };
        self.spent = result.is_err();
        result
    }

    /// The fMP4 produced so far, as [`Packager::take_output`].
    pub fn take_output(&mut self) -> Vec<Bytes> {
        self.packager.take_output()
    }

    /// End of stream: the PES still open (a video PES ends only with the next), the held
    /// frame and the open part are flushed. Spent afterwards.
    pub fn finish(&mut self) -> Result<(), PackagerError> {
        if self.spent {
            return Err(PackagerError::Spent);
        }
        self.spent = true;
        self.demux.flush(&mut self.events);
        self.handle(self.last_received)?;
        self.packager.finish()
    }

    fn handle(&mut self, now: u64) -> Result<(), PackagerError> {
        // Unlike RTMP, the PMT announces the tracks: the first init section waits (a
        // bounded time) for the audio's configuration, which comes with its first PES.
        self.packager.expect_audio = self.demux.has_audio();
        let mut events = std::mem::take(&mut self.events);
        let mut result = Ok(());
        for event in events.drain(..) {
            result = match event {
                Event::Lost { kind } => {
                    if kind.video() {
                        self.packager.wait_for_key_frame();
                    } else {
                        self.audio_time = None;
                        self.adts_rest = None;
                    }
                    Ok(())
                }
                Event::Pes {
                    kind: kind @ (Kind::H264 | Kind::Hevc),
                    pts,
                    dts,
                    data,
                } => self.video_pes(kind, pts, dts, &data, now),
                Event::Pes {
                    kind: Kind::Adts,
                    pts,
                    data,
                    ..
                } => self.audio_pes(pts, &data, now),
                Event::Pes {
                    kind: Kind::Opus(channels),
                    pts,
                    data,
                    ..
                } => self.opus_pes(channels, pts, &data, now),
            };
            if result.is_err() {
                break;
            }
        }
        // The buffer is kept for the next push.
        self.events = events;
        self.events.clear();
        result
    }

    fn video_pes(
        &mut self,
        kind: Kind,
        pts: Option<u64>,
        dts: Option<u64>,
        data: &[u8],
        now: u64,
    ) -> Result<(), PackagerError> {
        let codec = if kind == Kind::Hevc {
            VideoCodec::Hevc
        } else {
            VideoCodec::Avc
        };
        let (Some(pts), Some(dts)) = (pts, dts) else {
            // Untimed: the frame cannot be placed, and the ones after it need it.
            self.packager.wait_for_key_frame();
            return Ok(());
        };
        self.sets.vps.clear();
        self.sets.sps.clear();
        self.sets.pps.clear();
        let au = h26x::access_unit(codec, data, &mut self.sets);
        let complete = !self.sets.sps.is_empty()
            && !self.sets.pps.is_empty()
            && (codec != VideoCodec::Hevc || !self.sets.vps.is_empty());
        let known = self
            .video
            .as_ref()
            .is_some_and(|(c, s)| *c == codec && *s == self.sets);
        if complete && !known {
            let record = match codec {
                VideoCodec::Hevc => h26x::hvcc(&self.sets)?,
                _ => h26x::avcc(&self.sets)?,
            };
            self.packager.video_config(codec, record)?;
            self.video = Some((codec, self.sets.clone()));
        }
        if au.sample.is_empty() || self.video.as_ref().is_none_or(|(c, _)| *c != codec) {
            // Nothing to decode, or a frame of a codec whose configuration has not come yet
            // (a PMT that changed the codec): skipped like any frame before its key frame.
            return Ok(());
        }
        // PTS − DTS modulo 2^33, signed: a composition offset across the wrap.
        let cto = (((pts.wrapping_sub(dts)) << 31) as i64 >> 31)
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        self.packager
            .video_frame(codec, Stamp::Pts(dts), au.key, cto, au.sample, now)
    }

    /// The time of a PES's first audio frame: its PTS, or where the previous PES ended.
    fn audio_start(&self, pts: Option<u64>) -> Option<(u64, u32)> {
        match pts {
            Some(pts) => Some((pts, 0)),
            None => self.audio_time,
        }
    }

    fn audio_pes(&mut self, pts: Option<u64>, data: &Bytes, now: u64) -> Result<(), PackagerError> {
        // A frame the previous PES cut is completed by this one's first bytes, and keeps its
        // time; the PTS of this PES times the first frame that starts in it (ISO/IEC 13818-1
        // §2.4.3.7).
        let (payload, carried, carried_time) = match self.adts_rest.take() {
            Some((rest, time)) => (
                Bytes::from([&rest[..], &data[..]].concat()),
                rest.len(),
                Some(time),
            ),
            None => (data.clone(), 0, None),
        };
        let mut next = match pts {
            Some(pts) => Some((pts, 0)),
            None if carried > 0 => None,
            None => self.audio_time,
        };
        let (frames, stop) = adts::frames(&payload);
        for frame in frames {
            let from_previous = frame.start < carried;
            let Some((pts, offset)) = (if from_previous { carried_time } else { next }) else {
                continue;
            };
            // Frames of several raw data blocks (which no common encoder writes) are dropped:
            // a CMAF sample is one raw data block. The time after them stays exact.
            let after = Some((pts, offset.saturating_add(AAC_FRAME * frame.blocks)));
            if !from_previous || next.is_none() {
                next = after;
            }
            if frame.blocks != 1 {
                continue;
            }
            if self.audio != Some(AudioSetup::Aac(frame.config)) {
                self.packager
                    .audio_config(AudioCodec::Aac, Bytes::copy_from_slice(&frame.config))?;
                self.audio = Some(AudioSetup::Aac(frame.config));
            }
            self.packager
                .audio_frame(AudioCodec::Aac, Stamp::Pts(pts), offset, frame.data, now)?;
        }
        self.audio_time = next;
        match stop {
            adts::Stop::End => {}
            adts::Stop::Partial(at) if payload.len() - at <= adts::MAX_FRAME => {
                let time = if at < carried { carried_time } else { next };
                self.adts_rest = time.map(|time| (payload.slice(at..), time));
            }
            adts::Stop::Partial(_) | adts::Stop::Broken => {
                tracing::debug!("mpegts: ADTS payload malformed; its rest is dropped");
                // The samples in what was dropped are not known.
                self.audio_time = None;
            }
        }
        Ok(())
    }

    fn opus_pes(
        &mut self,
        channels: u8,
        pts: Option<u64>,
        data: &Bytes,
        now: u64,
    ) -> Result<(), PackagerError> {
        let Some((pts, mut offset)) = self.audio_start(pts) else {
            return Ok(());
        };
        if self.audio != Some(AudioSetup::Opus(channels)) {
            self.packager
                .audio_config(AudioCodec::Opus, opus::head(channels))?;
            self.audio = Some(AudioSetup::Opus(channels));
        }
        for packet in opus::packets(data) {
            self.packager.audio_frame(
                AudioCodec::Opus,
                Stamp::Pts(pts),
                offset,
                packet.data,
                now,
            )?;
            offset = offset.saturating_add(packet.samples);
        }
        self.audio_time = Some((pts, offset));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_changes;

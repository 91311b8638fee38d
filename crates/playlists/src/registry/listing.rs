//! What the registry tells about its streams: listings, rendition reports and the
//! multivariant playlist of a group.

use super::{group_of, rendition_of, unpack, Playlists, StreamState, StreamStatus};
use crate::chunk_cache::StreamIdx;
use crate::m3u8_cache::Rendered;
use crate::manifest::{render_multivariant, AudioRendition, RenditionReport, Timeline, Variant};
use crate::sync::Ordering;

impl Playlists {
    /// EXT-X-RENDITION-REPORT entries (§4.4.5.4) for every other live stream of `idx`'s group.
    pub(super) fn rendition_reports(&self, idx: StreamIdx) -> Vec<RenditionReport> {
        let Some(name) = self
            .slot(idx)
            .and_then(|s| s.state.read().as_ref().map(|st| st.name.clone()))
        else {
            return Vec::new();
        };
        if rendition_of(&name).is_none() {
            return Vec::new();
        }
        let group = group_of(&name);
        let mut reports: Vec<RenditionReport> = self
            .slots
            .iter()
            .filter_map(|slot| {
                let state = slot.state.read();
                let st = state.as_ref()?;
                if st.idx == idx || st.ended || group_of(&st.name) != group {
                    return None;
                }
                let rendition = rendition_of(&st.name)?;
                let last = unpack(slot.last.load(Ordering::Acquire))?;
                Some(RenditionReport {
                    uri: format!("../{rendition}/index.m3u8"),
                    last_msn: last.msn,
                    last_part: last.part,
                })
            })
            .collect();
        // Slot order depends on registration order; sort so two origins render the same bytes.
        reports.sort_by(|a, b| a.uri.cmp(&b.uri));
        reports
    }

    /// What the stream in `slot` should line up with before its next part, while it still
    /// may (nothing of it published yet): the target duration and [`Timeline`] of another
    /// live rendition of `name`'s group (§6.2.4: the media playlists of a variant stream share
    /// a target duration; see [`Timeline`] for the rest). The sibling with the smallest name
    /// that has a target duration is chosen, so the choice does not depend on slot order.
    pub(super) fn group_timing(
        &self,
        slot: &super::StreamSlot,
        idx: StreamIdx,
        name: &str,
    ) -> Option<(u32, Option<Timeline>)> {
        // Only renditions (`group/rendition`) line up.
        rendition_of(name)?;
        let settled = slot
            .state
            .read()
            .as_ref()
            .filter(|st| st.idx == idx && !st.ended)
            .is_some_and(|st| !st.manifest.can_join() && st.manifest.target_duration_s().is_some());
        if settled {
            return None;
        }
        let group = group_of(name);
        let mut best: Option<(String, u32, Option<Timeline>)> = None;
        for other in self.slots.iter() {
            let state = other.state.read();
            let Some(st) = state.as_ref() else { continue };
            if st.idx == idx || st.ended || group_of(&st.name) != group {
                continue;
            }
            let Some(td) = st.manifest.target_duration_s() else {
                continue;
            };
            if best.as_ref().is_none_or(|b| st.name < b.0) {
                best = Some((st.name.clone(), td, st.manifest.timeline()));
            }
        }
        best.map(|(_, td, timeline)| (td, timeline))
    }

    /// Every stream that has published a part and not been removed, ended ones included,
    /// sorted by name.
    pub fn list(&self) -> Vec<StreamStatus> {
        let mut out: Vec<StreamStatus> = self
            .slots
            .iter()
            .filter_map(|slot| slot.state.read().as_ref().map(status_of))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The streams that are live (not ended), sorted by name.
    pub fn active(&self) -> Vec<StreamStatus> {
        let mut list = self.list();
        list.retain(|s| !s.ended);
        list
    }

    /// The multivariant playlist (§4.4.6) of `group`: an EXT-X-STREAM-INF per live stream of
    /// the group, ordered by bandwidth, except alternative audio renditions. `None` when the
    /// group has no live stream.
    ///
    /// A stream with audio and no video ([`Init::audio`](super::Init::audio)) is listed as an
    /// `EXT-X-MEDIA:TYPE=AUDIO` rendition of GROUP-ID `audio` when the group has a variant with
    /// video and no audio of its own; such variants then refer to the group (AUDIO), and
    /// their CODECS and BANDWIDTH cover the audio renditions too (§4.4.6.2: the codecs of every
    /// rendition the variant may play; the peak of its video plus the largest audio). The
    /// renditions are ordered by name and the first is the DEFAULT. Otherwise (audio only, or
    /// every variant with its own sound) every stream is a variant, as a ladder of its own
    /// [docs/conformance.md R35].
    pub fn multivariant(&self, group: &str) -> Option<Rendered> {
        let streams: Vec<StreamStatus> = self
            .active()
            .into_iter()
            .filter(|s| s.group == group)
            .collect();
        if streams.is_empty() {
            return None;
        }
        let silent_video = |s: &StreamStatus| s.video && s.audio.is_none();
        let alternatives = streams.iter().any(silent_video);
        let (audio, streams): (Vec<StreamStatus>, Vec<StreamStatus>) = streams
            .into_iter()
            .partition(|s| alternatives && !s.video && s.audio.is_some());
        // `active()` sorts by name, so the renditions are in name order.
        let renditions: Vec<AudioRendition> = audio
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let track = s.audio.clone().unwrap_or_default();
                AudioRendition {
                    group_id: AUDIO_GROUP.to_owned(),
                    name: rendition_of(&s.name).unwrap_or(&s.name).to_owned(),
                    language: track.language,
                    default: i == 0,
                    channels: track.channels,
                    uri: playlist_uri(&s.name),
                }
            })
            .collect();
        let mut audio_codecs: Vec<&str> = Vec::new();
        for codec in audio.iter().flat_map(|s| s.codecs.split(',')) {
            if !codec.is_empty() && !audio_codecs.contains(&codec) {
                audio_codecs.push(codec);
            }
        }
        let audio_peak = audio.iter().map(|s| bit_rates(s).0).max().unwrap_or(0);
        let audio_average = audio.iter().map(|s| bit_rates(s).1).max().unwrap_or(0);
        let mut variants: Vec<Variant> = streams
            .iter()
            .map(|s| {
                let (peak, average) = bit_rates(s);
                let mut variant = Variant {
                    uri: playlist_uri(&s.name),
                    bandwidth: peak,
                    average_bandwidth: average,
                    codecs: s.codecs.clone(),
                    resolution: s.resolution,
                    frame_rate: s.frame_rate,
                    independent_segments: s.independent_segments,
                    audio_group: None,
                };
                if silent_video(s) && !renditions.is_empty() {
                    variant.bandwidth += audio_peak;
                    variant.average_bandwidth += audio_average;
                    let codecs = std::iter::once(s.codecs.as_str())
                        .chain(audio_codecs.iter().copied())
                        .filter(|c| !c.is_empty());
                    variant.codecs = codecs.collect::<Vec<_>>().join(",");
                    variant.audio_group = Some(AUDIO_GROUP.to_owned());
                }
                variant
            })
            .collect();
        variants.sort_by(|a, b| a.bandwidth.cmp(&b.bandwidth).then(a.uri.cmp(&b.uri)));
        let mut out = Vec::new();
        render_multivariant(&variants, &renditions, &mut out);
        Some(Rendered::new(out))
    }
}

/// The GROUP-ID of a group's alternative audio renditions.
const AUDIO_GROUP: &str = "audio";

/// A stream's media playlist, relative to its group's multivariant playlist.
fn playlist_uri(name: &str) -> String {
    match rendition_of(name) {
        Some(rendition) => format!("{rendition}/index.m3u8"),
        None => "index.m3u8".to_owned(),
    }
}

/// A stream's (peak, average) bit rate for BANDWIDTH and AVERAGE-BANDWIDTH: measured over
/// its segments, else estimated from its parts (see [`estimate_bps`]).
fn bit_rates(s: &StreamStatus) -> (u64, u64) {
    let average = if s.average_bps > 0 {
        s.average_bps
    } else {
        estimate_bps(s)
    };
    (s.peak_bps.max(average), average)
}

pub(super) fn status_of(st: &StreamState) -> StreamStatus {
    let bandwidth = st.manifest.bandwidth();
    StreamStatus {
        name: st.name.clone(),
        group: group_of(&st.name).to_owned(),
        last: st.manifest.last_position(),
        ended: st.ended,
        parts_published: st.parts_published,
        bytes_published: st.bytes_published,
        target_duration_s: st.manifest.target_duration_s(),
        part_target_secs: st.manifest.part_target_secs(),
        codecs: st.init.codecs.clone(),
        resolution: st.init.resolution,
        frame_rate: st.init.frame_rate,
        video: st.init.video,
        audio: st.init.audio.clone(),
        peak_bps: bandwidth.peak_bps,
        average_bps: bandwidth.average_bps,
        independent_segments: st.manifest.independent_segments(),
        anomalies: st.manifest.anomalies(),
    }
}

/// Until a segment completes the builder has no measured bit rate; a multivariant playlist
/// still needs a BANDWIDTH, so estimate from what was published over the parts' nominal time.
fn estimate_bps(s: &StreamStatus) -> u64 {
    let secs = s.parts_published as f64 * s.part_target_secs;
    if secs > 0.0 {
        (s.bytes_published as f64 * 8.0 / secs) as u64
    } else {
        0
    }
}

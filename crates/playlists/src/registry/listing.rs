//! What the registry tells about its streams: listings, rendition reports and the
//! multivariant playlist of a group.

use super::{group_of, rendition_of, unpack, Playlists, StreamState, StreamStatus};
use crate::chunk_cache::StreamIdx;
use crate::m3u8_cache::Rendered;
use crate::manifest::{render_multivariant, RenditionReport, Variant};
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

    /// The target duration another live rendition of `name`'s group has (§6.2.4: the media
    /// playlists of a variant stream share one), when the stream in `slot` has none yet.
    pub(super) fn group_target_duration(
        &self,
        slot: &super::StreamSlot,
        idx: StreamIdx,
        name: &str,
    ) -> Option<u32> {
        let known = slot
            .state
            .read()
            .as_ref()
            .filter(|st| st.idx == idx && !st.ended)
            .and_then(|st| st.manifest.target_duration_s());
        if known.is_some() || rendition_of(name).is_none() {
            return None;
        }
        let group = group_of(name);
        self.slots.iter().find_map(|other| {
            let state = other.state.read();
            let st = state.as_ref()?;
            if st.idx == idx || st.ended || group_of(&st.name) != group {
                return None;
            }
            st.manifest.target_duration_s()
        })
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

    /// The multivariant playlist (§4.4.6) of `group`: one EXT-X-STREAM-INF per live stream
    /// of the group, ordered by bandwidth. `None` when the group has no live stream.
    pub fn multivariant(&self, group: &str) -> Option<Rendered> {
        let mut variants: Vec<Variant> = self
            .active()
            .into_iter()
            .filter(|s| s.group == group)
            .map(|s| {
                let uri = match rendition_of(&s.name) {
                    Some(rendition) => format!("{rendition}/index.m3u8"),
                    None => "index.m3u8".to_owned(),
                };
                let average = if s.average_bps > 0 {
                    s.average_bps
                } else {
                    estimate_bps(&s)
                };
                Variant {
                    uri,
                    bandwidth: s.peak_bps.max(average),
                    average_bandwidth: average,
                    codecs: s.codecs,
                    resolution: s.resolution,
                    frame_rate: s.frame_rate,
                    independent_segments: s.independent_segments,
                }
            })
            .collect();
        if variants.is_empty() {
            return None;
        }
        variants.sort_by(|a, b| a.bandwidth.cmp(&b.bandwidth).then(a.uri.cmp(&b.uri)));
        let mut out = Vec::new();
        render_multivariant(&variants, &mut out);
        Some(Rendered::new(out))
    }
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

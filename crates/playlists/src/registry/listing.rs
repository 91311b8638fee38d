//! What the registry tells about its streams: listings, rendition reports and the
//! multivariant playlist of a group.

use super::{group_of, rendition_of, unpack, Playlists, StreamState, StreamStatus};
use crate::chunk_cache::StreamIdx;
use crate::m3u8_cache::Rendered;
use crate::manifest::{render_multivariant, RenditionReport, Timeline, Variant};
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

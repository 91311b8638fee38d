//! The stream's EXT-X-TARGETDURATION: fixed by the options, adopted from a sibling rendition,
//! or measured from the first segment (see "TARGETDURATION" in the [module docs](super)).

use super::numbers::rounded_secs;
use super::M3u8Manifest;

impl M3u8Manifest {
    /// Fixes the target duration, and with it everything SERVER-CONTROL derives from it.
    pub(super) fn set_target_duration(&mut self, s: u32) {
        let s = s.clamp(1, self.max_target_duration_s);
        self.target_duration_s = Some(s);
        let skip_boundary_ms = 6 * u64::from(s) * 1000;
        // With a DVR window the playlist always reaches past the boundary, and delta updates
        // are what keep its reloads small.
        self.skip_advertised = self.archive.is_some()
            || (self.max_segments as u64).saturating_mul(self.segment_min_ms) > skip_boundary_ms;
    }

    /// Takes `s` as the target duration if the stream has none yet: a rendition joining a
    /// group whose first rendition measured it (§6.2.4: every media playlist of a variant
    /// stream has the same target duration). Clamped to the configured maximum. Returns the
    /// stream's target duration, which does not change once known.
    pub fn adopt_target_duration(&mut self, s: u32) -> u32 {
        if self.target_duration_s.is_none() {
            self.set_target_duration(s);
        }
        self.td()
    }

    /// The target duration to measure from a first segment of `duration` ticks: its rounded
    /// length, never below `segment_min_ms` rounded (a first segment cut short by a
    /// discontinuity says nothing of the key-frame interval).
    pub(super) fn measure_target_duration(&mut self, duration: u64, timescale: u32) {
        if self.target_duration_s.is_some() {
            return;
        }
        let measured = rounded_secs(duration, timescale);
        let floor = rounded_secs(self.segment_min_ms, 1000);
        self.set_target_duration(measured.max(floor));
    }

    /// The target duration, or while it is unknown the most it may become: every bound a
    /// segment must keep before the first one closes.
    pub(super) fn td(&self) -> u32 {
        self.target_duration_s.unwrap_or(self.max_target_duration_s)
    }
}

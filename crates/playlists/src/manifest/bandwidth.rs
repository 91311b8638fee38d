//! Segment bit rates for EXT-X-STREAM-INF BANDWIDTH and AVERAGE-BANDWIDTH
//! (§4.1 [docs/conformance.md R33]).

/// Bit rates of the segments a playlist lists, in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bandwidth {
    /// The peak segment bit rate: the largest bit rate of any contiguous set of segments
    /// whose total duration is between 0.5 times the target duration and 1.5 times it plus
    /// 0.5 s (§4.1: segments may round up to half a second past the target).
    pub peak_bps: u64,
    /// Total bits over total duration of the listed segments.
    pub average_bps: u64,
}

impl Bandwidth {
    /// Measures `segments` (`(duration in seconds, bytes)`, in playlist order).
    ///
    /// A stream whose segments are all shorter than half the target duration still has a
    /// peak: sets are grown until they reach 0.5 × TD, and if none can, the whole list counts.
    pub fn measure(segments: &[(f64, u64)], target_duration_s: u32) -> Self {
        let td = f64::from(target_duration_s);
        let (total_secs, total_bytes) = segments
            .iter()
            .fold((0.0, 0u64), |(s, b), &(secs, bytes)| (s + secs, b + bytes));
        if total_secs <= 0.0 {
            return Self::default();
        }
        let average_bps = (total_bytes as f64 * 8.0 / total_secs).round() as u64;
        let mut peak = 0.0f64;
        for start in 0..segments.len() {
            let (mut secs, mut bytes) = (0.0, 0u64);
            for &(s, b) in &segments[start..] {
                secs += s;
                bytes += b;
                if secs > 1.5 * td + 0.5 {
                    break;
                }
                if secs >= 0.5 * td {
                    peak = peak.max(bytes as f64 * 8.0 / secs);
                }
            }
        }
        let peak_bps = if peak > 0.0 {
            peak.round() as u64
        } else {
            average_bps
        };
        Self {
            peak_bps: peak_bps.max(average_bps),
            average_bps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_33_peak_over_contiguous_sets_of_half_to_one_and_a_half_td() {
        // TD 4: sets from 2 s to 6 s. A 2 s segment of 1 MB is 4 Mbit/s on its own.
        let segs = [(2.0, 250_000), (2.0, 1_000_000), (2.0, 250_000)];
        let bw = Bandwidth::measure(&segs, 4);
        assert_eq!(bw.peak_bps, 4_000_000);
        assert_eq!(bw.average_bps, 2_000_000);
    }

    #[test]
    fn rule_33_sets_reach_half_a_second_past_one_and_a_half_td() {
        // TD 2: sets from 1 s to 3.5 s. A lone 3.4 s segment is a set of its own (the
        // bound without the extra 0.5 s would drop it and report only the average).
        let segs = [(3.4, 425_000), (0.6, 15_000)];
        let bw = Bandwidth::measure(&segs, 2);
        assert_eq!(bw.peak_bps, 1_000_000);
        assert_eq!(bw.average_bps, 880_000);
    }

    #[test]
    fn short_segments_are_grouped_until_half_td() {
        // 0.5 s segments, TD 4: a single one is too short, four make 2 s.
        let segs = [(0.5, 100_000); 8];
        let bw = Bandwidth::measure(&segs, 4);
        assert_eq!(bw.peak_bps, 1_600_000);
        assert_eq!(bw.average_bps, 1_600_000);
    }

    #[test]
    fn nothing_measured_is_zero() {
        assert_eq!(Bandwidth::measure(&[], 4), Bandwidth::default());
    }
}

//! RTMP timestamps (32-bit milliseconds that wrap after 49.7 days) extended to 64 bits, and
//! the jumps that start a new run of timestamps.

/// A backwards step larger than this (ms), or a forward step larger than [`MAX_FORWARD_MS`],
/// is a new run (an encoder that restarted its clock), not a wrap or jitter.
pub const MAX_BACKWARD_MS: i64 = 1_000;
/// See [`MAX_BACKWARD_MS`]: a gap of more than 10 s is not a stream that continues.
pub const MAX_FORWARD_MS: i64 = 10_000;

/// What one timestamp is, relative to the previous one of its track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Continues the run: the extended timestamp in ms.
    Continues(u64),
    /// A small step back (≤ [`MAX_BACKWARD_MS`]), by this many ms. Extended as if it
    /// continued, which audio tolerates (its decode times count samples); video cannot.
    Back(u64, u64),
    /// A jump: the run ends; the timestamp starts the next one.
    Jump,
}

/// One track's timestamp extension.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    last: Option<(u32, i64)>,
}

impl Clock {
    /// Extends `raw`: the difference to the previous timestamp, taken modulo 2^32 as a
    /// signed 32-bit value, is added to the previous extended value, so a wrap continues.
    /// The first timestamp of a run is taken as it is. Nothing is recorded for a
    /// [`Step::Jump`]; call [`Clock::reset`] and extend again.
    pub fn extend(&mut self, raw: u32) -> Step {
        let Some((last_raw, last_ext)) = self.last else {
            self.last = Some((raw, i64::from(raw)));
            return Step::Continues(u64::from(raw));
        };
        let delta = i64::from(raw.wrapping_sub(last_raw) as i32);
        if !(-MAX_BACKWARD_MS..=MAX_FORWARD_MS).contains(&delta) {
            return Step::Jump;
        }
        let ext = (last_ext + delta).max(0);
        self.last = Some((raw, ext));
        if delta < 0 {
            Step::Back(ext as u64, delta.unsigned_abs())
        } else {
            Step::Continues(ext as u64)
        }
    }

    /// Starts a new run at `raw`, returned extended (as it is).
    pub fn restart(&mut self, raw: u32) -> u64 {
        self.last = Some((raw, i64::from(raw)));
        u64::from(raw)
    }

    /// Forgets the run: the next timestamp starts a new one.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_continue_and_jumps_are_reported() {
        let mut c = Clock::default();
        assert_eq!(
            c.extend(u32::MAX - 10),
            Step::Continues(u64::from(u32::MAX) - 10)
        );
        assert_eq!(c.extend(20), Step::Continues(u64::from(u32::MAX) + 21));
        assert_eq!(c.extend(15), Step::Back(u64::from(u32::MAX) + 16, 5));
        assert_eq!(c.extend(20_000), Step::Jump);
        assert_eq!(c.extend(u32::MAX - 5_000), Step::Jump);
        c.reset();
        assert_eq!(c.extend(0), Step::Continues(0));
    }
}

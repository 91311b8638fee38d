//! Source timestamps extended to 64 bits, and the jumps that start a new run of timestamps:
//! RTMP's 32-bit milliseconds (which wrap after 49.7 days) and MPEG-TS's 33-bit 90 kHz
//! PTS/DTS (ISO/IEC 13818-1 §2.4.3.7, which wrap after 26.5 hours). Extended values are in
//! 90 kHz ticks either way (an RTMP millisecond is exactly 90 ticks), so the packager has one
//! timeline below its sources.

/// A backwards step larger than this (1 s, in 90 kHz ticks), or a forward step larger than
/// [`MAX_FORWARD`], is a new run (an encoder that restarted its clock), not a wrap or jitter.
pub const MAX_BACKWARD: i64 = 90_000;
/// See [`MAX_BACKWARD`]: a gap of more than 10 s is not a stream that continues.
pub const MAX_FORWARD: i64 = 900_000;

/// A timestamp as its source sends it, before extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// RTMP: milliseconds modulo 2^32.
    Ms(u32),
    /// MPEG-TS: 90 kHz ticks modulo 2^33 (higher bits are ignored).
    Pts(u64),
}

impl Stamp {
    /// (raw value, its width in bits, 90 kHz ticks per unit).
    fn parts(self) -> (u64, u32, i64) {
        match self {
            Stamp::Ms(ms) => (u64::from(ms), 32, 90),
            Stamp::Pts(t) => (t & ((1 << 33) - 1), 33, 1),
        }
    }
}

/// What one timestamp is, relative to the previous one of its track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Continues the run: the extended timestamp in 90 kHz ticks.
    Continues(u64),
    /// A small step back (≤ [`MAX_BACKWARD`]), by this many ticks. Extended as if it
    /// continued, which audio tolerates (its decode times count samples); video cannot.
    Back(u64, u64),
    /// A jump: the run ends; the timestamp starts the next one.
    Jump,
}

/// One track's timestamp extension.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    /// The previous raw value and its extension, in the raw unit.
    last: Option<(u64, i64)>,
}

impl Clock {
    /// Extends `stamp`: the difference to the previous timestamp, taken modulo 2^bits as a
    /// signed value of that width, is added to the previous extended value, so a wrap
    /// continues. The first timestamp of a run is taken as it is. Nothing is recorded for a
    /// [`Step::Jump`]; call [`Clock::restart`].
    pub fn extend(&mut self, stamp: Stamp) -> Step {
        let (raw, bits, scale) = stamp.parts();
        let Some((last_raw, last_ext)) = self.last else {
            self.last = Some((raw, raw as i64));
            return Step::Continues(raw * scale as u64);
        };
        let shift = 64 - bits;
        // Modulo 2^bits, sign-extended from bit `bits - 1`.
        let delta = ((raw.wrapping_sub(last_raw) << shift) as i64) >> shift;
        if !(-MAX_BACKWARD..=MAX_FORWARD).contains(&delta.saturating_mul(scale)) {
            return Step::Jump;
        }
        let ext = (last_ext + delta).max(0);
        self.last = Some((raw, ext));
        let ticks = ext as u64 * scale as u64;
        if delta < 0 {
            Step::Back(ticks, delta.unsigned_abs() * scale as u64)
        } else {
            Step::Continues(ticks)
        }
    }

    /// Starts a new run at `stamp`, returned extended (as it is, in ticks).
    pub fn restart(&mut self, stamp: Stamp) -> u64 {
        let (raw, _, scale) = stamp.parts();
        self.last = Some((raw, raw as i64));
        raw * scale as u64
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
    fn ms_wraps_continue_and_jumps_are_reported() {
        let mut c = Clock::default();
        let ms = |v: u64| v * 90;
        assert_eq!(
            c.extend(Stamp::Ms(u32::MAX - 10)),
            Step::Continues(ms(u64::from(u32::MAX) - 10))
        );
        assert_eq!(
            c.extend(Stamp::Ms(20)),
            Step::Continues(ms(u64::from(u32::MAX) + 21))
        );
        assert_eq!(
            c.extend(Stamp::Ms(15)),
            Step::Back(ms(u64::from(u32::MAX) + 16), ms(5))
        );
        assert_eq!(c.extend(Stamp::Ms(20_000)), Step::Jump);
        assert_eq!(c.extend(Stamp::Ms(u32::MAX - 5_000)), Step::Jump);
        c.reset();
        assert_eq!(c.extend(Stamp::Ms(0)), Step::Continues(0));
    }

    #[test]
    fn pts_wraps_at_33_bits() {
        const WRAP: u64 = 1 << 33;
        let mut c = Clock::default();
        assert_eq!(
            c.extend(Stamp::Pts(WRAP - 3_000)),
            Step::Continues(WRAP - 3_000)
        );
        assert_eq!(c.extend(Stamp::Pts(3_000)), Step::Continues(WRAP + 3_000));
        assert_eq!(c.extend(Stamp::Pts(1_500)), Step::Back(WRAP + 1_500, 1_500));
        // Bits above the 33rd are not part of a PTS.
        assert_eq!(
            c.extend(Stamp::Pts(WRAP + 4_500)),
            Step::Continues(WRAP + 4_500)
        );
        // 20 s forward, 2 s back: an encoder restart.
        assert_eq!(c.extend(Stamp::Pts(4_500 + 1_800_000)), Step::Jump);
        assert_eq!(c.extend(Stamp::Pts(WRAP - 180_000)), Step::Jump);
        assert_eq!(c.restart(Stamp::Pts(7)), 7);
        assert_eq!(c.extend(Stamp::Pts(3_010)), Step::Continues(3_010));
    }
}

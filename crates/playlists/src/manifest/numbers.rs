//! Integer arithmetic for the numbers a playlist prints.
//!
//! Durations are printed from integer ticks, never through `f64`, so that the text is exactly
//! the value the rules were checked against (a duration that `{:.5}` rounds up to `x.50000`
//! would round to the next whole second, §4.4.3.1 [docs/conformance.md R1]) and identical on every
//! machine.

use std::io::{self, Write};

/// Decimals of every printed duration (EXTINF, EXT-X-PART DURATION): 10 µs, finer than one
/// 90 kHz tick, and what §9.11's example uses.
const DECIMALS: u32 = 5;
const SCALE: u128 = 10u128.pow(DECIMALS);

/// `ticks / timescale` seconds in µs, rounded down.
pub(crate) fn ticks_to_us(ticks: u64, timescale: u32) -> u64 {
    let us = u128::from(ticks) * 1_000_000 / u128::from(timescale.max(1));
    u64::try_from(us).unwrap_or(u64::MAX)
}

/// `ticks / timescale` seconds in units of 10⁻⁵ s, rounded half up: the value a printed
/// duration shows.
pub(crate) fn printed_duration(ticks: u64, timescale: u32) -> u128 {
    let timescale = u128::from(timescale.max(1));
    (u128::from(ticks) * SCALE + timescale / 2) / timescale
}

/// Whether a duration of `ticks`, as printed, rounds to more than `target_s` whole seconds
/// (§4.4.3.1 [docs/conformance.md R1]). `x.5` counts as rounding up: "nearest integer" is ambiguous
/// there, so it is avoided.
pub(crate) fn rounds_above(ticks: u64, timescale: u32, target_s: u32) -> bool {
    printed_duration(ticks, timescale) >= u128::from(target_s) * SCALE + SCALE / 2
}

/// `ticks / timescale` seconds, as printed, rounded to the nearest whole second with `x.5`
/// rounding up: the smallest target duration the duration does not round above
/// (`!rounds_above(ticks, timescale, rounded_secs(ticks, timescale))`).
pub(crate) fn rounded_secs(ticks: u64, timescale: u32) -> u32 {
    let secs = (printed_duration(ticks, timescale) + SCALE / 2) / SCALE;
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// Writes `ticks / timescale` seconds with five decimals (`2.00004`).
pub(crate) fn write_duration(out: &mut Vec<u8>, ticks: u64, timescale: u32) -> io::Result<()> {
    let v = printed_duration(ticks, timescale);
    write!(out, "{}.{:05}", v / SCALE, v % SCALE)
}

/// Writes `ms` milliseconds as seconds with three decimals (`0.600`).
pub(crate) fn write_millis(out: &mut Vec<u8>, ms: u64) -> io::Result<()> {
    write!(out, "{}.{:03}", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duration(ticks: u64, timescale: u32) -> String {
        let mut out = Vec::new();
        write_duration(&mut out, ticks, timescale).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn durations_print_with_five_decimals_rounded_half_up() {
        assert_eq!(duration(18_018, 90_000), "0.20020");
        assert_eq!(duration(200, 1000), "0.20000");
        assert_eq!(duration(1, 3), "0.33333");
        assert_eq!(duration(2, 3), "0.66667");
        assert_eq!(duration(360_007, 90_000), "4.00008");
        assert_eq!(duration(0, 1000), "0.00000");
    }

    #[test]
    fn rounding_above_the_target_is_judged_on_the_printed_value() {
        // 4.499996 s prints as 4.50000, which rounds to 5.
        assert!(rounds_above(4_499_996, 1_000_000, 4));
        assert!(!rounds_above(4_499_994, 1_000_000, 4));
        assert!(!rounds_above(4_000, 1000, 4));
        assert!(rounds_above(4_500, 1000, 4));
    }

    #[test]
    fn millis_print_with_three_decimals() {
        let mut out = Vec::new();
        write_millis(&mut out, 600).unwrap();
        out.push(b' ');
        write_millis(&mut out, 24_000).unwrap();
        assert_eq!(out, b"0.600 24.000");
    }
}

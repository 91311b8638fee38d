//! Patching a fragment's timing fields in place: `mfhd` sequence_number and each `traf`'s
//! `tfdt` baseMediaDecodeTime. Nothing is re-encoded and no size changes, so every offset in
//! the fragment stays valid (the rule: never re-encode a moof, patch its bytes).

use crate::fmp4::boxes::{children, read_header, FourCC, Malformed, Reader};

/// One field to overwrite: where, and the big-endian bytes.
enum Patch {
    U32(usize, u32),
    U64(usize, u64),
}

/// Sets the `mfhd` sequence_number of the fragment `bytes` (the boxes of one part, as the
/// [`Splitter`](crate::fmp4::Splitter) cuts it) to `sequence_number`, and adds
/// `shift(track_id)` to each `traf`'s `tfdt`.
///
/// A version 0 `tfdt` whose new value does not fit 32 bits is an error, and then nothing
/// is changed.
pub fn shift_fragment(
    bytes: &mut [u8],
    sequence_number: u32,
    shift: impl Fn(u32) -> u64,
) -> Result<(), Malformed> {
    let patches = plan(
        bytes,
        Some(sequence_number),
        |id| i128::from(shift(id)),
        Overflow::Wrap,
    )?;
    apply(bytes, patches);
    Ok(())
}

/// Adds `shift(track_id)` (which may be negative) to each `traf`'s `tfdt` of the fragment
/// `bytes`, leaving the `mfhd` sequence number as it is: the ingest's restamping
/// ([`Restamp`](crate::ingest::Restamp)), which keeps the encoder's sequence numbers.
///
/// A decode time that the new value would take below 0 or past its field (32 bits in a
/// version 0 `tfdt`, 64 in version 1) is an error, and then nothing is changed.
pub fn shift_decode_times(bytes: &mut [u8], shift: impl Fn(u32) -> i64) -> Result<(), Malformed> {
    let patches = plan(bytes, None, |id| i128::from(shift(id)), Overflow::Refuse)?;
    apply(bytes, patches);
    Ok(())
}

/// What a version 1 `tfdt` whose new value leaves the u64 range becomes. (A version 0 one
/// that leaves the u32 range is always an error: wrapping there is never meant.)
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    /// Wraps modulo 2^64 ([`shift_fragment`]'s contract, which its fuzz target checks).
    Wrap,
    /// An error.
    Refuse,
}

fn apply(bytes: &mut [u8], patches: Vec<Patch>) {
    for patch in patches {
        match patch {
            Patch::U32(at, v) => bytes[at..at + 4].copy_from_slice(&v.to_be_bytes()),
            Patch::U64(at, v) => bytes[at..at + 8].copy_from_slice(&v.to_be_bytes()),
        }
    }
}

/// Where `p` starts within `base` (both borrow the same buffer).
fn offset_in(base: &[u8], p: &[u8]) -> usize {
    p.as_ptr() as usize - base.as_ptr() as usize
}

fn plan(
    bytes: &[u8],
    sequence_number: Option<u32>,
    shift: impl Fn(u32) -> i128,
    overflow: Overflow,
) -> Result<Vec<Patch>, Malformed> {
    let mut pos = 0;
    let moof = loop {
        let rest = bytes
            .get(pos..)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| Malformed::new(FourCC::MOOF, "no moof in the fragment"))?;
        let h =
            read_header(rest).map_err(|_| Malformed::new(FourCC::MOOF, "unreadable box header"))?;
        let size = h
            .size
            .and_then(|s| usize::try_from(s).ok())
            .filter(|&s| s <= rest.len())
            .ok_or_else(|| Malformed::new(h.fourcc, "size past the end of the fragment"))?;
        if h.fourcc == FourCC::MOOF {
            break &rest[h.header_len..size];
        }
        pos += size;
    };
    let mut patches = Vec::new();
    for child in children(FourCC::MOOF, moof) {
        let child = child?;
        match &child.fourcc.0 {
            b"mfhd" => {
                let mut r = Reader::new(child.fourcc, child.payload);
                r.version_flags()?;
                let at = offset_in(bytes, r.rest());
                r.u32("sequence_number")?;
                if let Some(sequence_number) = sequence_number {
                    patches.push(Patch::U32(at, sequence_number));
                }
            }
            b"traf" => {
                let mut track_id = None;
                for t in children(child.fourcc, child.payload) {
                    let t = t?;
                    let mut r = Reader::new(t.fourcc, t.payload);
                    match &t.fourcc.0 {
                        b"tfhd" => {
                            r.version_flags()?;
                            track_id = Some(r.u32("track_ID")?);
                        }
                        b"tfdt" => {
                            let id = track_id
                                .ok_or_else(|| Malformed::new(child.fourcc, "tfdt before tfhd"))?;
                            let (version, _) = r.version_flags()?;
                            let at = offset_in(bytes, r.rest());
                            let delta = shift(id);
                            // The sum is exact in i128 (a u64 plus an i128 made from a u64
                            // or an i64), so only the field's range is checked.
                            let (old, sum) = if version == 1 {
                                let old = r.u64("baseMediaDecodeTime")?;
                                (old, i128::from(old) + delta)
                            } else {
                                let old = u64::from(r.u32("baseMediaDecodeTime")?);
                                (old, i128::from(old) + delta)
                            };
                            let too_far = || {
                                r.error(format!(
                                    "track {id}: decode time {old} + {delta} does not fit a \
                                     version {version} tfdt"
                                ))
                            };
                            if version == 1 {
                                let v = match overflow {
                                    Overflow::Wrap => sum as u64,
                                    Overflow::Refuse => {
                                        u64::try_from(sum).map_err(|_| too_far())?
                                    }
                                };
                                patches.push(Patch::U64(at, v));
                            } else {
                                // `delta` may be anything up to u64::MAX (the demo saturates).
                                let v = u32::try_from(sum).map_err(|_| too_far())?;
                                patches.push(Patch::U32(at, v));
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(patches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::testutil::{fragment, TestTraf};

    #[test]
    fn shifts_tfdt_per_track_and_sets_sequence() {
        let mut video = TestTraf::new(1, 1000, 2, 512);
        video.tfdt_v1 = true;
        let mut audio = TestTraf::new(2, 70, 2, 1024);
        audio.tfdt_v1 = false;
        let original = fragment(5, &[video, audio]);
        let mut bytes = original.clone();
        shift_fragment(&mut bytes, 42, |id| if id == 1 { 15360 } else { 48000 }).unwrap();
        assert_eq!(bytes.len(), original.len());
        let changed: Vec<usize> = (0..bytes.len())
            .filter(|&i| bytes[i] != original[i])
            .collect();
        assert!(!changed.is_empty() && changed.len() <= 12, "{changed:?}");

        let f = read_back(&bytes);
        assert_eq!(f.sequence_number, 42);
        assert_eq!(f.timing.decode_time, 1000 + 15360);
        assert_eq!(f.tracks[1].decode_time, 70 + 48000);
    }

    /// `bytes` (a video track 1 at 15360 Hz, an audio track 2 at 48 kHz) as the splitter
    /// reads it back behind their init section.
    fn read_back(bytes: &[u8]) -> crate::fmp4::Fragment {
        let mut stream = crate::fmp4::testutil::init_segment(&[
            crate::fmp4::testutil::TestTrack::video(1, 15360, 0),
            crate::fmp4::testutil::TestTrack::audio(2, 48000),
        ]);
        stream.extend_from_slice(bytes);
        let events = crate::fmp4::split_all(stream.into(), Default::default()).unwrap();
        match events.into_iter().nth(1) {
            Some(crate::fmp4::Unit::Fragment(f)) => f,
            _ => panic!("expected a fragment"),
        }
    }

    #[test]
    fn version0_overflow_changes_nothing() {
        let mut t = TestTraf::new(1, u64::from(u32::MAX) - 10, 1, 512);
        t.tfdt_v1 = false;
        let original = fragment(1, &[t]);
        let mut bytes = original.clone();
        let err = shift_fragment(&mut bytes, 2, |_| 100).unwrap_err();
        assert!(err.reason.contains("version 0"), "{err}");
        assert_eq!(bytes, original);
    }

    /// Found by the `fmp4_rewrite` fuzz target: a shift near u64::MAX overflowed the
    /// addition before the version 0 range check (a panic in debug builds).
    #[test]
    fn version0_shift_past_u64_is_an_error() {
        let mut t = TestTraf::new(1, 5, 1, 512);
        t.tfdt_v1 = false;
        let original = fragment(1, &[t]);
        let mut bytes = original.clone();
        let err = shift_fragment(&mut bytes, 2, |_| u64::MAX).unwrap_err();
        assert!(err.reason.contains("version 0"), "{err}");
        assert_eq!(bytes, original);
    }

    #[test]
    fn decode_times_shift_either_way_and_the_sequence_number_stays() {
        let video = TestTraf::new(1, 1000, 2, 512);
        let audio = TestTraf::new(2, 70, 2, 1024);
        let original = fragment(5, &[video, audio]);
        let mut bytes = original.clone();
        shift_decode_times(&mut bytes, |id| if id == 1 { -1000 } else { 1 << 40 }).unwrap();
        let f = read_back(&bytes);
        assert_eq!(f.sequence_number, 5);
        assert_eq!(f.tracks[0].decode_time, 0);
        assert_eq!(f.tracks[1].decode_time, 70 + (1 << 40));

        // Below 0 is refused, and nothing changes.
        let mut again = bytes.clone();
        assert!(shift_decode_times(&mut again, |_| -1).is_err());
        assert_eq!(again, bytes);
    }

    #[test]
    fn no_moof_is_an_error() {
        let mut b = crate::fmp4::testutil::boxed(b"styp", b"msdh");
        assert!(shift_fragment(&mut b, 1, |_| 0).is_err());
    }
}

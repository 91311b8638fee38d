//! A fragment (`moof`+`mdat`, one part): durations, decode times and independence from the
//! `moof`, without touching the media bytes.
//!
//! Sample fields fall back in ISO/IEC 14496-12 §8.8 order: the `trun` per-sample value (or
//! first-sample-flags for the first sample), then the `tfhd` default, then the `trex` default.

use bytes::Bytes;
use playlists::PartTiming;

use crate::fmp4::boxes::{children, read_header, require, FourCC, Malformed, Reader};
use crate::fmp4::init::{round_rate, Movie, Track, TrackKind};

/// One part: the bytes of a `moof`+`mdat` (and the boxes before it) and what the playlist
/// needs to know of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    /// The part's bytes: everything from the end of the previous unit through the `mdat`.
    pub bytes: Bytes,
    /// `mfhd` sequence_number.
    pub sequence_number: u32,
    /// The part's timing, as the library takes it, read from the primary track (the first
    /// video track, else the first track):
    /// * `timescale`: the primary track's;
    /// * `decode_time`: its `tfdt` baseMediaDecodeTime (converted from another track's when
    ///   the primary has no samples here);
    /// * `duration`: the sum of its sample durations;
    /// * `independent`: its first sample is a sync sample (`sample_is_non_sync_sample` = 0
    ///   and it does not depend on others); a fragment without primary samples is
    ///   independent only when the primary track is not video;
    /// * `wallclock_ms`: from a `prft` box before the moof, if there is one.
    pub timing: PartTiming,
    /// Every track fragment, in moof order (one entry per track).
    pub tracks: Vec<TrackRun>,
}

/// What one track contributes to a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackRun {
    /// `tfhd` track_ID.
    pub track_id: u32,
    /// `tfdt` baseMediaDecodeTime, in the track's timescale.
    pub decode_time: u64,
    /// Sum of sample durations, in the track's timescale.
    pub duration: u64,
    /// Samples in the fragment.
    pub sample_count: u64,
    /// The first sample is a sync sample.
    pub first_sync: bool,
}

impl Fragment {
    /// The primary track's frame rate measured over this fragment (samples per second of
    /// duration, three decimals), if the primary track is video. Used for FRAME-RATE when the
    /// init section's `trex` has no default duration.
    pub fn frame_rate(&self, init: &Movie) -> Option<f64> {
        let primary = init.primary_track();
        if primary.kind != TrackKind::Video {
            return None;
        }
        let run = self
            .tracks
            .iter()
            .find(|t| t.track_id == primary.track_id)?;
        (run.duration > 0).then(|| {
            round_rate(run.sample_count as f64 * f64::from(primary.timescale) / run.duration as f64)
        })
    }
}

/// `tfhd` flags (§8.8.7.1).
const BASE_DATA_OFFSET: u32 = 0x01;
const SAMPLE_DESCRIPTION_INDEX: u32 = 0x02;
const DEFAULT_DURATION: u32 = 0x08;
const DEFAULT_SIZE: u32 = 0x10;
const DEFAULT_FLAGS: u32 = 0x20;
const DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// `trun` flags (§8.8.8.1).
const DATA_OFFSET: u32 = 0x01;
const FIRST_SAMPLE_FLAGS: u32 = 0x04;
const SAMPLE_DURATION: u32 = 0x100;
const SAMPLE_SIZE: u32 = 0x200;
const SAMPLE_FLAGS: u32 = 0x400;
const SAMPLE_CTO: u32 = 0x800;

/// Whether sample flags (§8.8.3.1) mark a sync sample: `sample_is_non_sync_sample` clear and
/// `sample_depends_on` not 1 ("depends on others").
pub fn is_sync(flags: u32) -> bool {
    flags & 0x0001_0000 == 0 && (flags >> 24) & 0x03 != 1
}

/// Parses the fragment `bytes`: `moof` is the range of the moof box (header included) and
/// the mdat follows it and ends the bytes.
pub fn parse(
    bytes: Bytes,
    moof: std::ops::Range<usize>,
    init: &Movie,
) -> Result<Fragment, Malformed> {
    let moof_fourcc = FourCC::MOOF;
    let moof_bytes = bytes
        .get(moof.clone())
        .ok_or_else(|| Malformed::new(moof_fourcc, "moof range outside the fragment"))?;
    let moof_header = read_header(moof_bytes)
        .map_err(|_| Malformed::new(moof_fourcc, "unreadable moof header"))?;
    let moof_payload = &moof_bytes[moof_header.header_len..];
    // Sample data must lie inside the mdat payload; offsets are relative to the moof start.
    let mdat_header = bytes
        .get(moof.end..)
        .and_then(|rest| read_header(rest).ok())
        .ok_or_else(|| Malformed::new(FourCC::MDAT, "unreadable mdat header"))?;
    let data_start = (moof.len() + mdat_header.header_len) as u64;
    let data_end = (bytes.len() - moof.start) as u64;

    let mut sequence_number = None;
    let mut tracks: Vec<TrackRun> = Vec::with_capacity(init.tracks.len());
    let mut prev_traf_end = 0u64;
    for child in children(moof_fourcc, moof_payload) {
        let child = child?;
        match &child.fourcc.0 {
            b"mfhd" => {
                let mut r = Reader::new(child.fourcc, child.payload);
                r.version_flags()?;
                sequence_number = Some(r.u32("sequence_number")?);
            }
            b"traf" => {
                let (run, end) = traf(child.payload, init, prev_traf_end, data_start..data_end)?;
                prev_traf_end = end;
                match tracks.iter_mut().find(|t| t.track_id == run.track_id) {
                    // Two trafs of one track (allowed, rare): the samples add up. Each
                    // traf's duration can be near 2^64 (2^32 samples of 2^32 ticks), so
                    // the sum is checked; sample counts (u32 per trun, at most a few
                    // hundred thousand truns in a moof within `max_box_size`) cannot
                    // overflow a u64.
                    Some(t) => {
                        t.duration = t.duration.checked_add(run.duration).ok_or_else(|| {
                            Malformed::new(
                                child.fourcc,
                                format!("track {}: duration overflows", run.track_id),
                            )
                        })?;
                        t.sample_count += run.sample_count;
                    }
                    None => tracks.push(run),
                }
            }
            _ => {}
        }
    }
    let sequence_number =
        sequence_number.ok_or_else(|| Malformed::new(moof_fourcc, "has no mfhd"))?;

    let primary = init.primary_track();
    let (decode_time, duration, independent) = match tracks
        .iter()
        .find(|t| t.track_id == primary.track_id && t.sample_count > 0)
    {
        Some(run) => (run.decode_time, run.duration, run.first_sync),
        None => {
            // The primary track has no samples in this fragment: time it by another
            // track, in the primary's timescale so the stream's timescale never changes.
            let other = tracks
                .iter()
                .find(|t| t.sample_count > 0)
                .ok_or_else(|| Malformed::new(moof_fourcc, "has no samples in any track"))?;
            let from = init.track(other.track_id).map_or(1, |t| t.timescale);
            (
                rescale(other.decode_time, from, primary.timescale),
                rescale(other.duration, from, primary.timescale),
                primary.kind != TrackKind::Video && other.first_sync,
            )
        }
    };
    if duration == 0 {
        return Err(Malformed::new(
            moof_fourcc,
            format!(
                "track {} has samples but a total duration of 0",
                primary.track_id
            ),
        ));
    }
    let wallclock_ms = prft_wallclock(&bytes[..moof.start], init, primary, decode_time)?;
    Ok(Fragment {
        bytes,
        sequence_number,
        timing: PartTiming {
            duration,
            timescale: primary.timescale,
            decode_time,
            independent,
            wallclock_ms,
        },
        tracks,
    })
}

/// `value` ticks of timescale `from` in timescale `to`, rounded down.
fn rescale(value: u64, from: u32, to: u32) -> u64 {
    (u128::from(value) * u128::from(to) / u128::from(from.max(1))) as u64
}

/// One `traf`: returns its run and where its sample data ended (relative to the moof), which
/// is where the next traf's data starts when it names no offset.
fn traf(
    payload: &[u8],
    init: &Movie,
    prev_traf_end: u64,
    data: std::ops::Range<u64>,
) -> Result<(TrackRun, u64), Malformed> {
    let traf_fourcc = FourCC(*b"traf");
    let tfhd = require(traf_fourcc, payload, FourCC(*b"tfhd"))?;
    let mut r = Reader::new(tfhd.fourcc, tfhd.payload);
    let (_, tf_flags) = r.version_flags()?;
    let track_id = r.u32("track_ID")?;
    if tf_flags & BASE_DATA_OFFSET != 0 {
        return Err(r.error(format!(
            "track {track_id} uses base-data-offset, an absolute file offset that is wrong once \
             the stream is cut into parts; encode with -movflags default_base_moof (or cmaf)"
        )));
    }
    let track: &Track = init.track(track_id).ok_or_else(|| {
        r.error(format!(
            "track {track_id} is not in the init section's moov"
        ))
    })?;
    if tf_flags & SAMPLE_DESCRIPTION_INDEX != 0 {
        r.skip(4, "sample_description_index")?;
    }
    let default_duration = if tf_flags & DEFAULT_DURATION != 0 {
        r.u32("default_sample_duration")?
    } else {
        track.defaults.duration
    };
    let default_size = if tf_flags & DEFAULT_SIZE != 0 {
        r.u32("default_sample_size")?
    } else {
        track.defaults.size
    };
    let default_flags = if tf_flags & DEFAULT_FLAGS != 0 {
        r.u32("default_sample_flags")?
    } else {
        track.defaults.flags
    };

    let tfdt = require(traf_fourcc, payload, FourCC(*b"tfdt")).map_err(|_| {
        Malformed::new(
            traf_fourcc,
            format!("track {track_id} has no tfdt (base media decode time); CMAF requires one"),
        )
    })?;
    let mut r = Reader::new(tfdt.fourcc, tfdt.payload);
    let decode_time = match r.version_flags()?.0 {
        1 => r.u64("baseMediaDecodeTime")?,
        _ => u64::from(r.u32("baseMediaDecodeTime")?),
    };

    let mut run = TrackRun {
        track_id,
        decode_time,
        duration: 0,
        sample_count: 0,
        first_sync: false,
    };
    // Without base-data-offset, data is based at the moof when default-base-is-moof is set
    // (CMAF), else the first traf's at the moof and a later one's at the end of the previous
    // traf's data (§8.8.7.1).
    let base = if tf_flags & DEFAULT_BASE_IS_MOOF != 0 {
        0
    } else {
        prev_traf_end
    };
    let mut next = base;
    for child in children(traf_fourcc, payload) {
        let child = child?;
        if child.fourcc != FourCC(*b"trun") {
            continue;
        }
        let t = trun(child.payload, default_duration, default_size, default_flags)?;
        let start = match t.data_offset {
            Some(offset) => base.checked_add_signed(i64::from(offset)),
            None => Some(next),
        };
        let end = start.and_then(|s| s.checked_add(t.data_len));
        match (start, end) {
            (Some(start), Some(end)) if start >= data.start && end <= data.end => next = end,
            _ if t.sample_count == 0 => {}
            _ => {
                return Err(Malformed::new(
                    child.fourcc,
                    format!(
                        "track {track_id}: {} bytes of sample data at offset {start:?} lie \
                         outside the mdat payload ({}..{} from the moof)",
                        t.data_len, data.start, data.end
                    ),
                ))
            }
        }
        if run.sample_count == 0 && t.sample_count > 0 {
            run.first_sync = is_sync(t.first_flags);
        }
        run.sample_count += t.sample_count;
        run.duration = run.duration.checked_add(t.duration).ok_or_else(|| {
            Malformed::new(
                child.fourcc,
                format!("track {track_id}: duration overflows"),
            )
        })?;
    }
    Ok((run, next))
}

/// What one `trun` adds up to.
struct TrunSummary {
    sample_count: u64,
    duration: u64,
    data_len: u64,
    data_offset: Option<i32>,
    first_flags: u32,
}

fn trun(
    payload: &[u8],
    default_duration: u32,
    default_size: u32,
    default_flags: u32,
) -> Result<TrunSummary, Malformed> {
    let mut r = Reader::new(FourCC(*b"trun"), payload);
    let (_, flags) = r.version_flags()?;
    let sample_count = r.u32("sample_count")?;
    let data_offset = if flags & DATA_OFFSET != 0 {
        Some(r.u32("data_offset")? as i32)
    } else {
        None
    };
    let first_sample_flags = if flags & FIRST_SAMPLE_FLAGS != 0 {
        Some(r.u32("first_sample_flags")?)
    } else {
        None
    };
    let per_sample = [SAMPLE_DURATION, SAMPLE_SIZE, SAMPLE_FLAGS, SAMPLE_CTO];
    let entry_len = 4 * per_sample.iter().filter(|&&f| flags & f != 0).count();
    let count = u64::from(sample_count);
    // A sample_count that the box cannot hold is rejected before any loop runs over it.
    if count * entry_len as u64 > r.remaining() as u64 {
        return Err(r.error(format!(
            "sample_count {sample_count} needs {} bytes of entries, the box has {}",
            count * entry_len as u64,
            r.remaining()
        )));
    }
    let mut summary = TrunSummary {
        sample_count: count,
        duration: 0,
        data_len: 0,
        data_offset,
        first_flags: first_sample_flags.unwrap_or(default_flags),
    };
    if flags & (SAMPLE_DURATION | SAMPLE_SIZE | SAMPLE_FLAGS) == 0 {
        // Nothing per sample that we need: no loop, whatever the count.
        summary.duration = count * u64::from(default_duration);
        summary.data_len = count * u64::from(default_size);
        return Ok(summary);
    }
    let entries = r.rest();
    for (i, entry) in entries
        .chunks_exact(entry_len)
        .take(sample_count as usize)
        .enumerate()
    {
        let mut fields = entry
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let mut field = |flag: u32, default: u32| {
            if flags & flag != 0 {
                fields.next().unwrap_or(default)
            } else {
                default
            }
        };
        summary.duration += u64::from(field(SAMPLE_DURATION, default_duration));
        summary.data_len += u64::from(field(SAMPLE_SIZE, default_size));
        let sample_flags = field(SAMPLE_FLAGS, default_flags);
        if i == 0 && first_sample_flags.is_none() {
            summary.first_flags = sample_flags;
        }
    }
    Ok(summary)
}

/// NTP seconds at the Unix epoch (RFC 5905 era 0).
const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;

/// The wall clock of `decode_time` from a `prft` (§8.16.5) among the boxes before the moof:
/// its NTP time belongs to `media_time` of its reference track, and `decode_time` is offset
/// from that by the difference of the two media times.
fn prft_wallclock(
    prefix: &[u8],
    init: &Movie,
    primary: &Track,
    decode_time: u64,
) -> Result<Option<u64>, Malformed> {
    let mut pos = 0;
    while let Some(rest) = prefix.get(pos..).filter(|r| !r.is_empty()) {
        let Ok(h) = read_header(rest) else {
            return Ok(None);
        };
        let Some(size) = h
            .size
            .and_then(|s| usize::try_from(s).ok())
            .filter(|&s| s <= rest.len())
        else {
            return Ok(None);
        };
        if h.fourcc == FourCC::PRFT {
            let mut r = Reader::new(h.fourcc, &rest[h.header_len..size]);
            let (version, _) = r.version_flags()?;
            let reference = r.u32("reference_track_ID")?;
            let ntp = r.u64("ntp_timestamp")?;
            let media_time = if version == 1 {
                r.u64("media_time")?
            } else {
                u64::from(r.u32("media_time")?)
            };
            let ref_scale = init
                .track(reference)
                .map_or(primary.timescale, |t| t.timescale);
            let secs = ntp >> 32;
            let Some(unix_s) = secs.checked_sub(NTP_UNIX_OFFSET_S) else {
                return Ok(None);
            };
            let ntp_ms = i128::from(unix_s) * 1000 + ((i128::from(ntp & 0xffff_ffff) * 1000) >> 32);
            let media_ms = i128::from(media_time) * 1000 / i128::from(ref_scale.max(1));
            let ours_ms = i128::from(decode_time) * 1000 / i128::from(primary.timescale.max(1));
            return Ok(u64::try_from(ntp_ms + ours_ms - media_ms).ok());
        }
        pos += size;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::testutil::{boxed, full, init_segment, moov_range, TestTrack};

    /// A traf of track 1 whose one trun has 2^32 - 1 samples of 2^32 - 1 ticks (tfhd
    /// defaults, no per-sample fields) and no sample data, at `data_offset` from the moof.
    fn huge_traf(data_offset: u32) -> Vec<u8> {
        let mut tfhd = 1u32.to_be_bytes().to_vec();
        tfhd.extend_from_slice(&u32::MAX.to_be_bytes()); // default_sample_duration
        tfhd.extend_from_slice(&0u32.to_be_bytes()); // default_sample_size
        let flags = DEFAULT_BASE_IS_MOOF | DEFAULT_DURATION | DEFAULT_SIZE;
        let mut trun = u32::MAX.to_be_bytes().to_vec();
        trun.extend_from_slice(&data_offset.to_be_bytes());
        let mut p = full(b"tfhd", 0, flags, &tfhd);
        p.extend(full(b"tfdt", 1, 0, &0u64.to_be_bytes()));
        p.extend(full(b"trun", 0, DATA_OFFSET, &trun));
        boxed(b"traf", &p)
    }

    /// Found by review while writing the `fmp4_fragment` fuzz target (the corpus keeps the
    /// input): two trafs of one track whose durations add up past u64 panicked in debug
    /// builds and wrapped in release ones.
    #[test]
    fn two_trafs_of_one_track_cannot_overflow_the_duration() {
        let init = init_segment(&[TestTrack::video(1, 15360, 0)]);
        let moov = moov_range(&init);
        let init = crate::fmp4::init::parse(Bytes::from(init), moov).unwrap();
        let moof = |offset| {
            let mut p = full(b"mfhd", 0, 0, &1u32.to_be_bytes());
            p.extend(huge_traf(offset));
            p.extend(huge_traf(offset));
            boxed(b"moof", &p)
        };
        let moof_len = moof(0).len();
        let mut bytes = moof(moof_len as u32 + 8);
        bytes.extend(boxed(b"mdat", &[]));
        let err = parse(Bytes::from(bytes), 0..moof_len, &init).unwrap_err();
        assert_eq!(err.fourcc, FourCC(*b"traf"));
        assert!(err.reason.contains("duration overflows"), "{err}");
    }
}

//! Writing CMAF: the init section (`ftyp`+`moov`, encoded with mp4-atom) and one part
//! (`prft`+`moof`+`mdat`, written by hand).
//!
//! The part's boxes (`prft`, `moof` with `mfhd`/`traf`/`tfhd`/`tfdt`/`trun`, `mdat`) are
//! written by hand rather than with mp4-atom's `Prft`/`Moof`/`Mdat` because a part is on the
//! hot path (≥ 1 GB/s of media): mp4-atom's `Trun` holds a `Vec` entry per sample and its
//! `Mdat` owns a `Vec<u8>` copy of the payload, and the `trun` data offsets depend on the
//! `moof` size, which is known before writing here. A part is one allocation: every size is
//! computed first, then the boxes and the sample payloads are copied into one buffer. The
//! tests read every part back with the ingest path's own parser (`fmp4::Splitter`).

use bytes::{BufMut, Bytes, BytesMut};
use mp4_atom::{Encode, FourCC};

use super::track::TrackConfig;

/// `tfhd` default-base-is-moof (ISO/IEC 14496-12 §8.8.7.1): CMAF's data offsets.
const DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// `trun` flags (§8.8.8.1): data offset, then per sample duration, size, flags, composition.
const TRUN_DATA_OFFSET: u32 = 0x001;
const TRUN_DURATION: u32 = 0x100;
const TRUN_SIZE: u32 = 0x200;
const TRUN_FLAGS: u32 = 0x400;
const TRUN_CTO: u32 = 0x800;

/// Sample flags (§8.8.3.1) of a sync sample: `sample_depends_on` = 2 (does not depend on
/// others), `sample_is_non_sync_sample` = 0.
pub const SYNC: u32 = 0x0200_0000;
/// Sample flags of a non-sync sample: `sample_depends_on` = 1, `sample_is_non_sync_sample`
/// = 1.
pub const NON_SYNC: u32 = 0x0101_0000;

/// NTP seconds at the Unix epoch (RFC 5905 era 0).
const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;

/// One sample of a part.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Duration in the track's timescale.
    pub duration: u32,
    /// Sample flags ([`SYNC`] or [`NON_SYNC`]).
    pub flags: u32,
    /// Composition time offset (PTS − DTS) in the track's timescale.
    pub cto: i32,
    /// The sample's bytes.
    pub data: Bytes,
}

/// One track's samples in a part.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// `tfhd` track_ID.
    pub track_id: u32,
    /// `tfdt` baseMediaDecodeTime of the first sample.
    pub decode_time: u64,
    /// Whether `trun` carries composition offsets (video).
    pub with_cto: bool,
    /// The samples in decode order.
    pub samples: Vec<Sample>,
}

impl Run {
    /// Sum of the sample durations.
    pub fn duration(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.duration)).sum()
    }
}

/// A track of an init section.
#[derive(Debug, Clone, PartialEq)]
pub struct InitTrack {
    /// `tkhd`/`trex` track_ID.
    pub track_id: u32,
    /// Video (else audio).
    pub video: bool,
    /// Its decoder configuration.
    pub config: TrackConfig,
}

/// The init section of `tracks`: `ftyp` and a `moov` with one `trak` per track and an
/// `mvex` (fragmented). Fails only if mp4-atom cannot encode a structure it decoded.
pub fn init_section(tracks: &[InitTrack]) -> Result<Bytes, mp4_atom::Error> {
    let ftyp = mp4_atom::Ftyp {
        major_brand: FourCC::new(b"iso6"),
        minor_version: 0,
        compatible_brands: vec![
            FourCC::new(b"iso6"),
            FourCC::new(b"cmfc"),
            FourCC::new(b"mp41"),
        ],
    };
    let trak = tracks.iter().map(trak).collect();
    let moov = mp4_atom::Moov {
        mvhd: mp4_atom::Mvhd {
            timescale: 1000,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: tracks.iter().map(|t| t.track_id).max().unwrap_or(0) + 1,
            ..Default::default()
        },
        mvex: Some(mp4_atom::Mvex {
            mehd: None,
            trex: tracks
                .iter()
                .map(|t| mp4_atom::Trex {
                    track_id: t.track_id,
                    default_sample_description_index: 1,
                    ..Default::default()
                })
                .collect(),
        }),
        trak,
        ..Default::default()
    };
    let mut buf = Vec::with_capacity(1024);
    ftyp.encode(&mut buf)?;
    moov.encode(&mut buf)?;
    Ok(Bytes::from(buf))
}

fn trak(t: &InitTrack) -> mp4_atom::Trak {
    let (width, height) = t.config.size.unwrap_or((0, 0));
    let fixed = |v: u32| mp4_atom::FixedPoint::new(u16::try_from(v).unwrap_or(0), 0);
    mp4_atom::Trak {
        tkhd: mp4_atom::Tkhd {
            track_id: t.track_id,
            enabled: true,
            in_movie: true,
            alternate_group: u16::from(!t.video),
            volume: if t.video { 0.into() } else { 1.into() },
            width: fixed(width),
            height: fixed(height),
            ..Default::default()
        },
        mdia: mp4_atom::Mdia {
            mdhd: mp4_atom::Mdhd {
                timescale: t.config.timescale,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: mp4_atom::Hdlr {
                handler: FourCC::new(if t.video { b"vide" } else { b"soun" }),
                name: if t.video { "Video" } else { "Audio" }.into(),
            },
            minf: mp4_atom::Minf {
                vmhd: t.video.then(Default::default),
                smhd: (!t.video).then(Default::default),
                dinf: mp4_atom::Dinf {
                    dref: mp4_atom::Dref {
                        entries: vec![mp4_atom::DrefEntry::Url(Default::default())],
                    },
                },
                stbl: mp4_atom::Stbl {
                    stsd: mp4_atom::Stsd {
                        codecs: vec![t.config.codec.clone()],
                    },
                    ..Default::default()
                },
                ..Default::default()
            },
        },
        ..Default::default()
    }
}

/// The wall clock of a part: `prft` (§8.16.5) version 1 for `reference_track`, whose media
/// time `media_time` was at `unix_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prft {
    /// The reference track (the video track, else the audio track).
    pub reference_track: u32,
    /// The reference track's decode time in this part.
    pub media_time: u64,
    /// Milliseconds since the Unix epoch of that media time.
    pub unix_ms: u64,
}

const PRFT_LEN: usize = 32;

fn ntp(unix_ms: u64) -> u64 {
    let secs = unix_ms / 1000 + NTP_UNIX_OFFSET_S;
    // Rounded up, so that reading it back (rounding down to ms, as fmp4/fragment.rs does)
    // gives `unix_ms` again.
    let frac = ((unix_ms % 1000) << 32).div_ceil(1000);
    (secs << 32) | frac
}

fn traf_len(run: &Run) -> usize {
    let per_sample = if run.with_cto { 16 } else { 12 };
    // traf header, tfhd (v/f + track_ID), tfdt v1, trun (v/f, count, data_offset, entries).
    8 + 16 + 20 + 20 + per_sample * run.samples.len()
}

/// Writes one part: `prft` (if given), `moof` (`mfhd` and one `traf` per non-empty run),
/// `mdat` with the runs' samples in order. One allocation.
pub fn fragment(sequence_number: u32, runs: &[&Run], prft: Option<Prft>) -> Bytes {
    let runs: Vec<&Run> = runs
        .iter()
        .copied()
        .filter(|r| !r.samples.is_empty())
        .collect();
    let moof_len = 8 + 16 + runs.iter().map(|r| traf_len(r)).sum::<usize>();
    let payload: usize = runs
        .iter()
        .flat_map(|r| r.samples.iter())
        .map(|s| s.data.len())
        .sum();
    // mdat: a 64-bit size when the payload does not fit a 32-bit one.
    let mdat_header = if payload + 8 > u32::MAX as usize {
        16
    } else {
        8
    };
    let total = prft.map_or(0, |_| PRFT_LEN) + moof_len + mdat_header + payload;
    let mut out = BytesMut::with_capacity(total);
    if let Some(p) = prft {
        out.put_u32(PRFT_LEN as u32);
        out.put_slice(b"prft");
        out.put_u32(0x0100_0000); // version 1, flags 0
        out.put_u32(p.reference_track);
        out.put_u64(ntp(p.unix_ms));
        out.put_u64(p.media_time);
    }
    out.put_u32(moof_len as u32);
    out.put_slice(b"moof");
    out.put_u32(16);
    out.put_slice(b"mfhd");
    out.put_u32(0);
    out.put_u32(sequence_number);
    let mut data_offset = moof_len + mdat_header;
    for run in &runs {
        out.put_u32(traf_len(run) as u32);
        out.put_slice(b"traf");
        out.put_u32(16);
        out.put_slice(b"tfhd");
        out.put_u32(DEFAULT_BASE_IS_MOOF);
        out.put_u32(run.track_id);
        out.put_u32(20);
        out.put_slice(b"tfdt");
        out.put_u32(0x0100_0000);
        out.put_u64(run.decode_time);
        let per_sample = if run.with_cto { 16 } else { 12 };
        out.put_u32((20 + per_sample * run.samples.len()) as u32);
        out.put_slice(b"trun");
        let mut flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS;
        if run.with_cto {
            flags |= TRUN_CTO;
        }
        // Version 1: composition offsets are signed (an encoder may send negative ones;
        // they are kept as sent).
        out.put_u32(0x0100_0000 | flags);
        out.put_u32(run.samples.len() as u32);
        out.put_i32(data_offset as i32);
        for s in &run.samples {
            out.put_u32(s.duration);
            out.put_u32(s.data.len() as u32);
            out.put_u32(s.flags);
            if run.with_cto {
                out.put_i32(s.cto);
            }
            data_offset += s.data.len();
        }
    }
    if mdat_header == 16 {
        out.put_u32(1);
        out.put_slice(b"mdat");
        out.put_u64((payload + 16) as u64);
    } else {
        out.put_u32((payload + 8) as u32);
        out.put_slice(b"mdat");
    }
    for s in runs.iter().flat_map(|r| r.samples.iter()) {
        out.put_slice(&s.data);
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::{split_all, Limits, Unit};

    #[test]
    fn ntp_of_the_unix_epoch_and_a_half_second() {
        assert_eq!(ntp(0) >> 32, NTP_UNIX_OFFSET_S);
        assert_eq!(ntp(1_500) & 0xffff_ffff, 1 << 31);
    }

    #[test]
    fn a_fragment_reads_back_with_its_prft_wall_clock() {
        let record = Bytes::from_static(&[0x12, 0x10]);
        let config = TrackConfig::audio(super::super::flv::AudioCodec::Aac, record).unwrap();
        let init = init_section(&[InitTrack {
            track_id: 2,
            video: false,
            config,
        }])
        .unwrap();
        let run = Run {
            track_id: 2,
            decode_time: 44_100,
            with_cto: false,
            samples: vec![
                Sample {
                    duration: 1024,
                    flags: SYNC,
                    cto: 0,
                    data: Bytes::from_static(&[1, 2, 3]),
                };
                3
            ],
        };
        let prft = Prft {
            reference_track: 2,
            media_time: 44_100,
            unix_ms: 1_700_000_000_123,
        };
        let frag = fragment(7, &[&run], Some(prft));
        let mut stream = init.to_vec();
        stream.extend_from_slice(&frag);
        let units = split_all(Bytes::from(stream), Limits::default()).unwrap();
        let Unit::Fragment(f) = &units[1] else {
            panic!("{units:?}")
        };
        assert_eq!(f.sequence_number, 7);
        assert_eq!(f.timing.decode_time, 44_100);
        assert_eq!(f.timing.duration, 3072);
        assert!(f.timing.independent);
        assert_eq!(f.timing.wallclock_ms, Some(1_700_000_000_123));
        assert!(frag.ends_with(&[1, 2, 3, 1, 2, 3, 1, 2, 3]));
    }
}

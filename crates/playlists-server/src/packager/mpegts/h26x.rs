//! H.264 and HEVC access units as MPEG-TS carries them (Annex B byte streams: start codes,
//! ITU-T H.264 Annex B, H.265 Annex B) into CMAF samples (4-byte length-prefixed NAL units,
//! ISO/IEC 14496-15 §5.3.2) and the decoder configuration records built from the parameter
//! sets found in the stream.
//!
//! Parameter sets are taken out of the samples (the sample entries are `avc1` and `hvc1`,
//! whose parameter sets belong in the configuration record, ISO/IEC 14496-15 §5.4.2.1 and
//! §8.4.1.1: a change makes a new record, and so a new init section), and so are access
//! unit delimiters and filler data, which a length-prefixed sample has no use for.

use bytes::{BufMut, Bytes};
use mp4_atom::Atom;

use super::super::error::{Media, PackagerError};
use super::super::flv::VideoCodec;

/// One access unit, converted.
#[derive(Debug)]
pub struct AccessUnit {
    /// The sample: length-prefixed NAL units.
    pub sample: Bytes,
    /// It holds an IDR picture (H.264) or an IRAP picture (HEVC).
    pub key: bool,
}

/// The NAL units of an Annex B byte stream (without start codes or trailing zero bytes).
pub fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = memchr::memmem::find_iter(data, &[0, 0, 1]).map(|i| i + 3);
    let mut next = starts.next();
    std::iter::from_fn(move || loop {
        let start = next?;
        next = starts.next();
        let end = next.map_or(data.len(), |n| n - 3);
        let mut nal = &data[start..end];
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        if !nal.is_empty() {
            return Some(nal);
        }
    })
}

/// The parameter sets an access unit carried, as NAL units with their headers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ParameterSets {
    pub vps: Vec<Vec<u8>>,
    pub sps: Vec<Vec<u8>>,
    pub pps: Vec<Vec<u8>>,
}

impl ParameterSets {
    fn add(list: &mut Vec<Vec<u8>>, nal: &[u8]) {
        if !list.iter().any(|n| n == nal) {
            list.push(nal.to_vec());
        }
    }
}

/// Converts one access unit of `codec`; `sets` receives its parameter sets.
pub fn access_unit(codec: VideoCodec, data: &[u8], sets: &mut ParameterSets) -> AccessUnit {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut key = false;
    for nal in nal_units(data) {
        let keep = match codec {
            VideoCodec::Hevc => {
                let t = (nal[0] >> 1) & 0x3f;
                key |= (16..=23).contains(&t);
                match t {
                    32 => ParameterSets::add(&mut sets.vps, nal),
                    33 => ParameterSets::add(&mut sets.sps, nal),
                    34 => ParameterSets::add(&mut sets.pps, nal),
                    _ => {}
                }
                // Parameter sets, AUD (35), filler data (38).
                !matches!(t, 32..=35 | 38)
            }
            _ => {
                let t = nal[0] & 0x1f;
                key |= t == 5;
                match t {
                    7 => ParameterSets::add(&mut sets.sps, nal),
                    8 => ParameterSets::add(&mut sets.pps, nal),
                    _ => {}
                }
                // SPS, PPS, AUD (9), filler data (12).
                !matches!(t, 7..=9 | 12)
            }
        };
        if keep {
            out.put_u32(nal.len() as u32);
            out.extend_from_slice(nal);
        }
    }
    AccessUnit {
        sample: Bytes::from(out),
        key,
    }
}

fn bad(reason: impl Into<String>) -> PackagerError {
    PackagerError::BadConfig {
        media: Media::Video,
        reason: reason.into(),
    }
}

/// The `avcC` record (ISO/IEC 14496-15 §5.3.3.1) of these parameter sets: profile,
/// compatibility and level from the first SPS.
pub fn avcc(sets: &ParameterSets) -> Result<Bytes, PackagerError> {
    let (Some(sps), Some(pps)) = (sets.sps.first(), sets.pps.first()) else {
        return Err(bad("H.264 key frame without its SPS and PPS"));
    };
    let mut avcc = mp4_atom::Avcc::new(sps, pps).map_err(|e| bad(format!("H.264 SPS: {e}")))?;
    avcc.sequence_parameter_sets = sets.sps.clone();
    avcc.picture_parameter_sets = sets.pps.clone();
    let mut record = Vec::new();
    avcc.encode_body(&mut record)
        .map_err(|e| bad(format!("avcC: {e}")))?;
    Ok(Bytes::from(record))
}

/// The `hvcC` record (ISO/IEC 14496-15 §8.3.3.1) of these parameter sets: the general
/// profile, tier and level and the chroma format and bit depths from the first SPS.
pub fn hvcc(sets: &ParameterSets) -> Result<Bytes, PackagerError> {
    let (Some(sps), Some(_), Some(_)) = (sets.sps.first(), sets.pps.first(), sets.vps.first())
    else {
        return Err(bad("HEVC key frame without its VPS, SPS and PPS"));
    };
    let info =
        super::super::dims::hevc_sps_profile(sps).ok_or_else(|| bad("HEVC SPS cannot be read"))?;
    let array = |nal_unit_type: u8, nalus: &Vec<Vec<u8>>| mp4_atom::HvcCArray {
        completeness: true,
        nal_unit_type,
        nalus: nalus.clone(),
    };
    let hvcc = mp4_atom::Hvcc {
        configuration_version: 1,
        general_profile_space: info.profile_tier_level[0] >> 6,
        general_tier_flag: info.profile_tier_level[0] & 0x20 != 0,
        general_profile_idc: info.profile_tier_level[0] & 0x1f,
        general_profile_compatibility_flags: info.profile_tier_level[1..5]
            .try_into()
            .unwrap_or_default(),
        general_constraint_indicator_flags: info.profile_tier_level[5..11]
            .try_into()
            .unwrap_or_default(),
        general_level_idc: info.profile_tier_level[11],
        min_spatial_segmentation_idc: 0,
        parallelism_type: 0,
        chroma_format_idc: info.chroma_format_idc,
        bit_depth_luma_minus8: info.bit_depth_luma_minus8,
        bit_depth_chroma_minus8: info.bit_depth_chroma_minus8,
        avg_frame_rate: 0,
        constant_frame_rate: 0,
        num_temporal_layers: info.max_sub_layers,
        temporal_id_nested: info.temporal_id_nesting,
        length_size_minus_one: 3,
        arrays: vec![
            array(32, &sets.vps),
            array(33, &sets.sps),
            array(34, &sets.pps),
        ],
    };
    let mut record = Vec::new();
    hvcc.encode_body(&mut record)
        .map_err(|e| bad(format!("hvcC: {e}")))?;
    Ok(Bytes::from(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_codes_of_three_and_four_bytes_and_trailing_zeros() {
        let es = [
            0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 4, 5,
        ];
        let nals: Vec<&[u8]> = nal_units(&es).collect();
        assert_eq!(
            nals,
            [&[9, 0xf0][..], &[0x67, 1, 2], &[0x68, 3], &[0x65, 4, 5]]
        );
        let mut sets = ParameterSets::default();
        let au = access_unit(VideoCodec::Avc, &es, &mut sets);
        assert!(au.key);
        assert_eq!(&au.sample[..], &[0, 0, 0, 3, 0x65, 4, 5]);
        assert_eq!(sets.sps, [vec![0x67, 1, 2]]);
        assert_eq!(sets.pps, [vec![0x68, 3]]);
        assert!(nal_units(&[1, 2, 3]).next().is_none());
    }
}

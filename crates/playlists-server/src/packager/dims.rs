//! Picture width and height from a decoder configuration's sequence header (H.264 SPS,
//! ITU-T H.264 §7.3.2.1.1; HEVC SPS, ITU-T H.265 §7.3.2.2; AV1 sequence header OBU, AV1
//! §5.5), for the sample entry's width/height (RESOLUTION). Hand-read: mp4-atom keeps its SPS
//! reader private, and only the first fields are needed. `None` when a header cannot be read:
//! the size is informative, the decoder reads it from the bitstream itself.

/// A big-endian bit reader over an RBSP (emulation prevention bytes already removed).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.pos += n;
        (self.pos <= self.data.len() * 8).then_some(())
    }

    /// Exp-Golomb ue(v), at most 31 leading zeros.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        Some(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }

    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// The RBSP of a NAL unit: `00 00 03` loses its `03`.
fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// (width, height) of an H.264 SPS NAL unit (with its one-byte header).
pub fn h264_sps(nal: &[u8]) -> Option<(u32, u32)> {
    let data = rbsp(nal.get(1..)?);
    let mut r = Bits::new(&data);
    let profile_idc = r.bits(8)?;
    r.skip(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            r.skip(1)?;
        }
        r.ue()?;
        r.ue()?;
        r.skip(1)?;
        if r.bit()? == 1 {
            for i in 0..if chroma_format_idc == 3 { 12 } else { 8 } {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.skip(1)?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()?.min(255) {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.skip(1)?;
    let width_mbs = r.ue()?.checked_add(1)?;
    let height_units = r.ue()?.checked_add(1)?;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.skip(1)?;
    }
    r.skip(1)?;
    let mut width = width_mbs.checked_mul(16)?;
    let mut height = height_units.checked_mul(16 * (2 - frame_mbs_only))?;
    if r.bit()? == 1 {
        let (cx, cy) = match chroma_format_idc {
            0 | 3 => (1, 2 - frame_mbs_only),
            2 => (2, 2 - frame_mbs_only),
            _ => (2, 2 * (2 - frame_mbs_only)),
        };
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        // Crop offsets are read as sent: checked, as a hostile SPS can make them overflow.
        width = width.checked_sub(left.checked_add(right)?.checked_mul(cx)?)?;
        height = height.checked_sub(top.checked_add(bottom)?.checked_mul(cy)?)?;
    }
    Some((width, height))
}

/// The start of an HEVC SPS, which both its size and the `hvcC` fields come after.
struct HevcSpsHead {
    max_sub_layers_minus1: u32,
    temporal_id_nesting: bool,
    chroma_format_idc: u32,
}

/// Reads an HEVC SPS's RBSP up to and including chroma_format_idc (and the
/// separate_colour_plane_flag after it), ITU-T H.265 §7.3.2.2.
fn hevc_sps_head(r: &mut Bits<'_>) -> Option<HevcSpsHead> {
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)?;
    let temporal_id_nesting = r.bit()? == 1;
    // profile_tier_level(1, max_sub_layers_minus1): 88 bits of general profile, 8 of level.
    r.skip(96)?;
    let mut present = Vec::new();
    for _ in 0..max_sub_layers_minus1 {
        present.push((r.bit()?, r.bit()?));
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1 as usize))?;
    }
    for (profile, level) in present {
        r.skip(88 * profile as usize + 8 * level as usize)?;
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc == 3 {
        r.skip(1)?;
    }
    Some(HevcSpsHead {
        max_sub_layers_minus1,
        temporal_id_nesting,
        chroma_format_idc,
    })
}

/// (width, height) of an HEVC SPS NAL unit (with its two-byte header).
pub fn hevc_sps(nal: &[u8]) -> Option<(u32, u32)> {
    let data = rbsp(nal.get(2..)?);
    let mut r = Bits::new(&data);
    let head = hevc_sps_head(&mut r)?;
    let mut width = r.ue()?;
    let mut height = r.ue()?;
    if r.bit()? == 1 {
        let (cx, cy) = match head.chroma_format_idc {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        // Crop offsets are read as sent: checked, as a hostile SPS can make them overflow.
        width = width.checked_sub(left.checked_add(right)?.checked_mul(cx)?)?;
        height = height.checked_sub(top.checked_add(bottom)?.checked_mul(cy)?)?;
    }
    Some((width, height))
}

/// What an `hvcC` record repeats from an HEVC SPS (ITU-T H.265 §7.3.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcProfile {
    /// The general profile_tier_level bytes: profile space, tier and profile idc; 32
    /// compatibility flags; 48 bits of constraint flags; level idc.
    pub profile_tier_level: [u8; 12],
    /// sps_max_sub_layers_minus1 + 1.
    pub max_sub_layers: u8,
    pub temporal_id_nesting: bool,
    pub chroma_format_idc: u8,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
}

/// The fields of an HEVC SPS NAL unit (with its two-byte header) an `hvcC` record needs.
pub fn hevc_sps_profile(nal: &[u8]) -> Option<HevcProfile> {
    let data = rbsp(nal.get(2..)?);
    let profile_tier_level: [u8; 12] = data.get(1..13)?.try_into().ok()?;
    let mut r = Bits::new(&data);
    let head = hevc_sps_head(&mut r)?;
    r.ue()?;
    r.ue()?;
    if r.bit()? == 1 {
        for _ in 0..4 {
            r.ue()?;
        }
    }
    let luma = r.ue()?;
    let chroma = r.ue()?;
    Some(HevcProfile {
        profile_tier_level,
        max_sub_layers: head.max_sub_layers_minus1 as u8 + 1,
        temporal_id_nesting: head.temporal_id_nesting,
        chroma_format_idc: u8::try_from(head.chroma_format_idc).ok()?,
        bit_depth_luma_minus8: u8::try_from(luma).ok()?,
        bit_depth_chroma_minus8: u8::try_from(chroma).ok()?,
    })
}

/// (width, height) from an `av1C` record's configOBUs: the max frame size of its sequence
/// header OBU.
pub fn av1_config_obus(obus: &[u8]) -> Option<(u32, u32)> {
    let mut rest = obus;
    while let Some(&header) = rest.first() {
        let obu_type = (header >> 3) & 0x0f;
        let mut pos = 1 + usize::from((header >> 2) & 1);
        let len = if header & 0x02 != 0 {
            let mut len = 0usize;
            let mut i = 0;
            loop {
                let b = *rest.get(pos)?;
                pos += 1;
                len |= usize::from(b & 0x7f) << (7 * i);
                i += 1;
                if b & 0x80 == 0 || i == 8 {
                    break;
                }
            }
            len
        } else {
            rest.len().checked_sub(pos)?
        };
        let payload = rest.get(pos..pos.checked_add(len)?)?;
        if obu_type == 1 {
            return av1_sequence_header(payload);
        }
        rest = &rest[pos + len..];
    }
    None
}

fn av1_sequence_header(p: &[u8]) -> Option<(u32, u32)> {
    let mut r = Bits::new(p);
    r.skip(4)?; // seq_profile, still_picture
    if r.bit()? == 1 {
        r.skip(5)?; // reduced_still_picture_header: seq_level_idx[0]
    } else {
        let mut decoder_model_info = false;
        let mut buffer_delay_len = 0;
        if r.bit()? == 1 {
            // timing_info
            r.skip(64)?;
            if r.bit()? == 1 {
                // num_ticks_per_picture_minus_1, uvlc()
                let mut zeros = 0;
                while r.bit()? == 0 {
                    zeros += 1;
                    if zeros >= 32 {
                        return None;
                    }
                }
                r.skip(zeros)?;
            }
            decoder_model_info = r.bit()? == 1;
            if decoder_model_info {
                buffer_delay_len = r.bits(5)? + 1;
                r.skip(32 + 10)?;
            }
        }
        let initial_display_delay = r.bit()? == 1;
        for _ in 0..=r.bits(5)? {
            r.skip(12)?;
            if r.bits(5)? > 7 {
                r.skip(1)?;
            }
            if decoder_model_info && r.bit()? == 1 {
                r.skip(2 * buffer_delay_len as usize + 1)?;
            }
            if initial_display_delay && r.bit()? == 1 {
                r.skip(4)?;
            }
        }
    }
    let width_bits = r.bits(4)? + 1;
    let height_bits = r.bits(4)? + 1;
    let width = r.bits(width_bits)?.checked_add(1)?;
    let height = r.bits(height_bits)?.checked_add(1)?;
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_sps_of_x264_at_320x240() {
        // x264's SPS for 320x240 High profile (from ffmpeg -s 320x240 -c:v libx264).
        let sps = [
            0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03,
            0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60,
        ];
        assert_eq!(h264_sps(&sps), Some((320, 240)));
    }

    #[test]
    fn hevc_sps_of_x265_at_352x288() {
        // x265's SPS for 352x288 (ffmpeg -c:v libx265, filter_units=pass_types=33).
        let sps = [
            0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9e, 0x08, 0x00, 0x00, 0x03,
            0x00, 0x00, 0x3c, 0x90, 0x01, 0x61, 0x00, 0x90, 0xb2, 0xca, 0xcd, 0x24, 0x99, 0x5e,
            0x02, 0xdc, 0x08, 0x08, 0x00, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
            0x01, 0xe0, 0x80,
        ];
        assert_eq!(hevc_sps(&sps), Some((352, 288)));
    }

    #[test]
    fn truncated_headers_give_none() {
        assert_eq!(h264_sps(&[0x67, 0x64]), None);
        // Found by the flv_packager fuzz target: crop offsets of 2^31 overflowed a multiply.
        // Baseline profile, 16x16, frame_mbs_only, frame_cropping with left = 2^31 - 1.
        let mut bits = format!("01000010{}1", "0".repeat(16)); // profile 66, flags, level, sps_id 0
        bits += "1"; // log2_max_frame_num_minus4 = 0
        bits += "1"; // pic_order_cnt_type = 0
        bits += "1"; // log2_max_pic_order_cnt_lsb_minus4 = 0
        bits += "1"; // max_num_ref_frames = 0
        bits += "0"; // gaps_in_frame_num_value_allowed_flag
        bits += "1"; // pic_width_in_mbs_minus1 = 0
        bits += "1"; // pic_height_in_map_units_minus1 = 0
        bits += "1"; // frame_mbs_only_flag
        bits += "0"; // direct_8x8_inference_flag
        bits += "1"; // frame_cropping_flag
        bits += &format!("{}1{}", "0".repeat(31), "1".repeat(31)); // left = 2^32 - 2
        bits += "111"; // right, top, bottom = 0
        while bits.len() % 8 != 0 {
            bits.push('0');
        }
        let mut nal = vec![0x67];
        nal.extend(
            bits.as_bytes()
                .chunks(8)
                .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap()),
        );
        assert_eq!(h264_sps(&nal), None);
        assert_eq!(hevc_sps(&[0x42, 0x01, 0x01]), None);
        assert_eq!(av1_config_obus(&[0x0a, 0x0b, 0]), None);
        assert_eq!(av1_config_obus(&[]), None);
    }
}

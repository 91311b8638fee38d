//! RFC 6381 codec strings (the HLS `CODECS` attribute, RFC 8216bis §4.4.6.2) from sample
//! entries (ISO/IEC 14496-12 §8.5.2) and their decoder configuration boxes.
//!
//! The fields come from mp4-atom's structures (`Visual`, `Audio`, `Avcc`, `Hvcc`, `Av1c`,
//! `VpcC`, `Esds`), decoded box by box through [`decode_flat`]; the formatting rules of each
//! codec string are this module's own, as mp4-atom does not write codec strings. Why the
//! sample entry itself is not handed to mp4-atom whole: see [`decode_flat`].

use mp4_atom::{Audio, Av1c, Decode, Esds, Hvcc, Visual, VpcC};

use crate::fmp4::boxes::{atom_error, decode_flat, require, FourCC, Malformed, Reader};

/// What a sample entry tells about its track.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleEntryInfo {
    /// The sample entry type as written (`avc1`, `encv`, …).
    pub entry: FourCC,
    /// The RFC 6381 codec string.
    pub codec: String,
    /// Width and height from a visual sample entry (ISO/IEC 14496-12 §12.1.3), if non-zero.
    pub resolution: Option<(u32, u32)>,
    /// Audio channels: for AAC the AudioSpecificConfig's channelConfiguration, which says
    /// what the decoder outputs; otherwise the audio sample entry's channelcount (§12.2.3).
    /// `None` for other entries, or when neither says (0, or an AAC configuration that
    /// defers to a program config element).
    pub channels: Option<u32>,
}

/// Largest `esds` payload read. mp4-atom decodes the descriptors of an `esds` (ISO/IEC
/// 14496-1 §7.2.6) recursively with no depth bound, and each nesting level costs as little as
/// five bytes of input; an AAC `esds` is about 40 bytes, so 1 KiB bounds the recursion (at
/// most ~200 levels, a few hundred KiB of stack) without refusing any real configuration.
const MAX_ESDS_LEN: usize = 1024;

/// Reads a sample entry of a track whose handler is `handler` (`vide`, `soun`, …).
///
/// Visual entries give a resolution and, for `avc1`/`avc3`/`hvc1`/`hev1`/`av01`/`vp09`, a
/// codec string with profile and level from the configuration box; `mp4a` reads the `esds`;
/// `Opus`, `fLaC`, `ac-3`, `ec-3` and anything else are their four-character code (RFC 6381
/// §3.3 lets codecs without parameters go by their type alone). Encrypted entries
/// (`encv`/`enca`) are described by their original format (`sinf`/`frma`). Malformed input
/// is a [`Malformed`] naming the box, never a panic.
pub fn describe(
    entry: FourCC,
    payload: &[u8],
    handler: FourCC,
) -> Result<SampleEntryInfo, Malformed> {
    let mut rest = payload;
    let fields = |err| atom_error(entry, err, payload.len());
    let (resolution, mut channels) = match &handler.0 {
        b"vide" => {
            let visual = Visual::decode(&mut rest).map_err(fields)?;
            let (width, height) = (u32::from(visual.width), u32::from(visual.height));
            ((width > 0 && height > 0).then_some((width, height)), None)
        }
        // mp4-atom reads the QuickTime sound description versions 1 and 2 too.
        b"soun" => {
            let audio = Audio::decode(&mut rest).map_err(fields)?;
            (
                None,
                Some(u32::from(audio.channel_count)).filter(|&c| c > 0),
            )
        }
        _ => {
            // A plain SampleEntry: six reserved bytes and data_reference_index.
            let mut r = Reader::new(entry, payload);
            r.skip(8, "SampleEntry fields")?;
            rest = r.rest();
            (None, None)
        }
    };
    let format = if matches!(&entry.0, b"encv" | b"enca") {
        original_format(entry, rest)?
    } else {
        entry
    };
    let codec = codec_string(entry, format, rest)?;
    if codec.starts_with("mp4a.40.") {
        // `codec_string` has decoded this `esds` already, so it is there and well formed.
        let esds = require(entry, rest, FourCC(*b"esds"))?.payload;
        let config = decode_flat::<Esds>(esds)?.es_desc.dec_config.dec_specific;
        // ISO/IEC 14496-3 Table 1.19: configurations 1-6 are that many channels, 7 is 7.1.
        if let Some(n) = config.and_then(|d| match d.chan_conf {
            1..=6 => Some(u32::from(d.chan_conf)),
            7 => Some(8),
            _ => None,
        }) {
            channels = Some(n);
        }
    }
    Ok(SampleEntryInfo {
        entry,
        codec,
        resolution,
        channels,
    })
}

/// `sinf`/`frma`: the format an encrypted sample entry stands for (ISO/IEC 14496-12 §8.12).
/// Hand-read: mp4-atom has no protection scheme boxes.
fn original_format(entry: FourCC, children: &[u8]) -> Result<FourCC, Malformed> {
    let sinf = require(entry, children, FourCC(*b"sinf"))?;
    let frma = require(sinf.fourcc, sinf.payload, FourCC(*b"frma"))?;
    let mut r = Reader::new(frma.fourcc, frma.payload);
    let b = r.take(4, "data_format")?;
    Ok(FourCC([b[0], b[1], b[2], b[3]]))
}

fn codec_string(entry: FourCC, format: FourCC, children: &[u8]) -> Result<String, Malformed> {
    let config = |fourcc: [u8; 4]| require(entry, children, FourCC(fourcc)).map(|a| a.payload);
    Ok(match &format.0 {
        b"avc1" | b"avc3" => avc(format, config(*b"avcC")?)?,
        b"hvc1" | b"hev1" => hevc(format, config(*b"hvcC")?)?,
        b"av01" => av1(config(*b"av1C")?)?,
        b"vp09" => vp9(config(*b"vpcC")?)?,
        b"mp4a" => mp4a(config(*b"esds")?)?,
        b"Opus" => "Opus".to_owned(),
        _ => format.to_string(),
    })
}

/// `avc1.PPCCLL`: profile_idc, constraint flags and level_idc of the `avcC`
/// (ISO/IEC 14496-15 §5.3.3.1), in hex.
fn avc(format: FourCC, avcc: &[u8]) -> Result<String, Malformed> {
    let c: mp4_atom::Avcc = decode_flat(avcc)?;
    Ok(format!(
        "{format}.{:02x}{:02x}{:02x}",
        c.avc_profile_indication, c.profile_compatibility, c.avc_level_indication
    ))
}

/// `hvc1.A1.6.L93.B0` per ISO/IEC 14496-15 Annex E.3: profile space letter and profile idc,
/// the 32 compatibility flags bit-reversed in hex, tier letter and level idc, then the six
/// constraint bytes in hex with trailing zero bytes dropped.
fn hevc(format: FourCC, hvcc: &[u8]) -> Result<String, Malformed> {
    let c: Hvcc = decode_flat(hvcc)?;
    // mp4-atom reads any version; the layout is only defined for 1.
    if c.configuration_version != 1 {
        return Err(Malformed::new(
            FourCC(*b"hvcC"),
            format!(
                "configurationVersion {}, expected 1",
                c.configuration_version
            ),
        ));
    }
    let space = match c.general_profile_space {
        0 => "",
        1 => "A",
        2 => "B",
        _ => "C",
    };
    let tier = if c.general_tier_flag { 'H' } else { 'L' };
    let compat = u32::from_be_bytes(c.general_profile_compatibility_flags).reverse_bits();
    let mut s = format!(
        "{format}.{space}{}.{compat:X}.{tier}{}",
        c.general_profile_idc, c.general_level_idc
    );
    let constraints = c.general_constraint_indicator_flags;
    let used = constraints
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    for b in &constraints[..used] {
        s.push_str(&format!(".{b:X}"));
    }
    Ok(s)
}

/// `av01.P.LLT.DD` (AV1 Codec ISO Media File Format Binding §5): profile, level and tier,
/// bit depth. The optional colour fields are left out, as the binding allows.
fn av1(av1c: &[u8]) -> Result<String, Malformed> {
    let c: Av1c = decode_flat(av1c)?;
    let tier = if c.seq_tier_0 { 'H' } else { 'M' };
    let depth = match (c.high_bitdepth, c.twelve_bit) {
        (true, true) => 12,
        (true, false) => 10,
        _ => 8,
    };
    Ok(format!(
        "av01.{}.{:02}{tier}.{depth:02}",
        c.seq_profile, c.seq_level_idx_0
    ))
}

/// `vp09.PP.LL.DD` (VP Codec ISO Media File Format Binding §7) from the `vpcC`.
fn vp9(vpcc: &[u8]) -> Result<String, Malformed> {
    let c: VpcC = decode_flat(vpcc)?;
    Ok(format!(
        "vp09.{:02}.{:02}.{:02}",
        c.profile, c.level, c.bit_depth
    ))
}

/// `mp4a.40.AOT` for MPEG-4 audio (the audio object type of the DecoderSpecificInfo, ISO/IEC
/// 14496-3 §1.6.2.1), `mp4a.OTI` for other object types (RFC 6381 §3.3).
fn mp4a(esds: &[u8]) -> Result<String, Malformed> {
    let fourcc = FourCC(*b"esds");
    if esds.len() > MAX_ESDS_LEN {
        return Err(Malformed::new(
            fourcc,
            format!("{} bytes, above the {MAX_ESDS_LEN}-byte limit", esds.len()),
        ));
    }
    let config = decode_flat::<Esds>(esds)?.es_desc.dec_config;
    let oti = config.object_type_indication;
    if oti != 0x40 {
        return Ok(format!("mp4a.{oti:02X}"));
    }
    // mp4-atom leaves the audio object type 0 when the AudioSpecificConfig is shorter than
    // the two bytes every object type needs; 0 is no object type at all.
    match config.dec_specific.map(|d| d.profile) {
        None => Err(Malformed::new(fourcc, "has no DecoderSpecificInfo (tag 5)")),
        Some(0) => Err(Malformed::new(
            fourcc,
            "DecoderSpecificInfo has no audioObjectType",
        )),
        Some(aot) => Ok(format!("mp4a.40.{aot}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avc_from_avcc() {
        // No SPS or PPS: the codec string needs only the first four bytes.
        let avcc = [1, 0x64, 0x00, 0x1f, 0xff, 0xe0, 0];
        assert_eq!(avc(FourCC(*b"avc1"), &avcc).unwrap(), "avc1.64001f");
        assert_eq!(avc(FourCC(*b"avc3"), &avcc).unwrap(), "avc3.64001f");
        assert!(avc(FourCC(*b"avc1"), &[1, 0x64]).is_err());
        assert!(avc(FourCC(*b"avc1"), &[0, 0x64, 0, 0x1f]).is_err());
    }

    #[test]
    fn hevc_per_annex_e() {
        // Main profile (1), compatibility flags 0x60000000, Main tier, level 3.1 (93),
        // constraint bytes B0 00 00 00 00 00: the spec's own example `hvc1.1.6.L93.B0`.
        let mut hvcc = vec![1, 0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 93];
        // min_spatial_segmentation … numOfArrays: no parameter sets.
        hvcc.extend_from_slice(&[0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0]);
        assert_eq!(hevc(FourCC(*b"hvc1"), &hvcc).unwrap(), "hvc1.1.6.L93.B0");
        // Profile space 1, high tier, profile 2, flags 0x40000000, two constraint bytes.
        hvcc[1] = 0x40 | 0x20 | 0x02;
        hvcc[2] = 0x40;
        hvcc[7] = 0x08;
        assert_eq!(hevc(FourCC(*b"hev1"), &hvcc).unwrap(), "hev1.A2.2.H93.B0.8");
        assert!(hevc(FourCC(*b"hvc1"), &hvcc[..12]).is_err());
        hvcc[0] = 0;
        let err = hevc(FourCC(*b"hvc1"), &hvcc).unwrap_err();
        assert!(err.reason.contains("configurationVersion 0"), "{err}");
    }

    #[test]
    fn av1_from_av1c() {
        // Main profile, level 8 (4.0), Main tier, 8 bit.
        assert_eq!(av1(&[0x81, 0x08, 0x0c, 0]).unwrap(), "av01.0.08M.08");
        // Profile 1, level 13, High tier, 10 bit.
        assert_eq!(av1(&[0x81, 0x2d, 0xc0, 0]).unwrap(), "av01.1.13H.10");
        assert!(av1(&[0x80, 0, 0, 0]).is_err());
    }

    /// An `esds` payload: ES_Descriptor { ES_ID 1, DecoderConfigDescriptor { `oti`, stream
    /// type audio, DecoderSpecificInfo `dsi` }, SLConfigDescriptor }.
    fn esds(oti: u8, dsi: &[u8]) -> Vec<u8> {
        let mut dcd = vec![0x04, 15 + dsi.len() as u8, oti, 0x15];
        dcd.extend_from_slice(&[0; 11]);
        dcd.extend_from_slice(&[0x05, dsi.len() as u8]);
        dcd.extend_from_slice(dsi);
        let mut es = vec![0x03, 3 + dcd.len() as u8 + 3, 0, 1, 0];
        es.extend_from_slice(&dcd);
        es.extend_from_slice(&[0x06, 0x01, 0x02]);
        let mut esds = vec![0, 0, 0, 0];
        esds.extend_from_slice(&es);
        esds
    }

    #[test]
    fn mp4a_from_esds() {
        assert_eq!(mp4a(&esds(0x40, &[0x11, 0x90])).unwrap(), "mp4a.40.2");
        // HE-AAC v2 (AOT 29) and an escaped AOT (31 → 32 + 6 bits: 0b001100 = 12 → 44).
        assert_eq!(mp4a(&esds(0x40, &[29 << 3, 0])).unwrap(), "mp4a.40.29");
        let escaped = [(31 << 3) | 0b001, 0b1000_0000, 0];
        assert_eq!(mp4a(&esds(0x40, &escaped)).unwrap(), "mp4a.40.44");
        // Another object type: MP3 (0x6B).
        assert_eq!(mp4a(&esds(0x6b, &[])).unwrap(), "mp4a.6B");
        // An AudioSpecificConfig too short to hold an object type.
        let err = mp4a(&esds(0x40, &[0x11])).unwrap_err();
        assert!(err.reason.contains("audioObjectType"), "{err}");

        // Multi-byte size fields (ffmpeg writes 0x80 0x80 0x80 n) and truncation.
        let long = [
            0, 0, 0, 0, 0x03, 0x80, 0x80, 0x80, 0x03, 0, 1, 0, // ES_Descriptor header only
        ];
        let err = mp4a(&long).unwrap_err();
        assert!(err.reason.contains("DecoderConfigDescriptor"), "{err}");
        assert!(mp4a(&esds(0x40, &[0x11, 0x90])[..10]).is_err());
    }

    /// mp4-atom decodes nested descriptors recursively: the size limit keeps an `esds` of
    /// ES_Descriptors nested as deep as its bytes allow to an error, not a stack overflow.
    #[test]
    fn nested_descriptors_are_bounded() {
        let nested = |levels: usize| {
            let mut inner = Vec::new();
            for _ in 0..levels {
                let mut d = vec![0x03];
                let len = inner.len() + 3;
                d.extend_from_slice(&[
                    0x80 | (len >> 21) as u8 & 0x7f,
                    0x80 | (len >> 14) as u8 & 0x7f,
                    0x80 | (len >> 7) as u8 & 0x7f,
                    len as u8 & 0x7f,
                ]);
                d.extend_from_slice(&[0, 1, 0]);
                d.extend_from_slice(&inner);
                inner = d;
            }
            let mut esds = vec![0, 0, 0, 0];
            esds.extend_from_slice(&inner);
            esds
        };
        // 8 bytes a level: as deep as fits in the limit, then one level more.
        let within = nested((MAX_ESDS_LEN - 4) / 8);
        assert!(within.len() <= MAX_ESDS_LEN);
        assert!(mp4a(&within).is_err());
        let over = nested((MAX_ESDS_LEN - 4) / 8 + 1);
        let err = mp4a(&over).unwrap_err();
        assert!(err.reason.contains("byte limit"), "{err}");
    }

    #[test]
    fn vp9_from_vpcc() {
        let vpcc = [1, 0, 0, 0, 0, 31, 0x80, 1, 1, 1, 0, 0];
        assert_eq!(vp9(&vpcc).unwrap(), "vp09.00.31.08");
        assert!(vp9(&vpcc[..8]).is_err());
    }
}

//! RFC 6381 codec strings (the HLS `CODECS` attribute, RFC 8216bis §4.4.6.2) from sample
//! entries (ISO/IEC 14496-12 §8.5.2) and their decoder configuration boxes.

use crate::fmp4::boxes::{require, FourCC, Malformed, Reader};

/// What a sample entry tells about its track.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleEntryInfo {
    /// The sample entry type as written (`avc1`, `encv`, …).
    pub entry: FourCC,
    /// The RFC 6381 codec string.
    pub codec: String,
    /// Width and height from a visual sample entry (ISO/IEC 14496-12 §12.1.3), if non-zero.
    pub resolution: Option<(u32, u32)>,
}

/// Bytes of a `VisualSampleEntry` before its child boxes: 8 of `SampleEntry`, then 70.
const VISUAL_ENTRY_LEN: usize = 78;
/// Bytes of a version 0 `AudioSampleEntry` before its child boxes (§12.2.3).
const AUDIO_ENTRY_LEN: usize = 28;

/// Reads a sample entry of a track whose handler is `handler` (`vide`, `soun`, …).
///
/// Visual entries give a resolution and, for `avc1`/`avc3`/`hvc1`/`hev1`/`av01`/`vp09`, a
/// codec string with profile and level from the configuration box; `mp4a` reads the `esds`;
/// `Opus`, `fLaC`, `ac-3`, `ec-3` and anything else are their four-character code (RFC 6381
/// §3.3 lets codecs without parameters go by their type alone). Encrypted entries
/// (`encv`/`enca`) are described by their original format (`sinf`/`frma`).
pub fn describe(
    entry: FourCC,
    payload: &[u8],
    handler: FourCC,
) -> Result<SampleEntryInfo, Malformed> {
    let mut r = Reader::new(entry, payload);
    let (children_at, resolution) = match &handler.0 {
        b"vide" => {
            r.skip(24, "SampleEntry and pre_defined fields")?;
            let width = u32::from(r.u16("width")?);
            let height = u32::from(r.u16("height")?);
            r.skip(VISUAL_ENTRY_LEN - 28, "VisualSampleEntry fields")?;
            let resolution = (width > 0 && height > 0).then_some((width, height));
            (VISUAL_ENTRY_LEN, resolution)
        }
        b"soun" => {
            r.skip(8, "SampleEntry fields")?;
            // QuickTime sound descriptions put a version here; versions 1 and 2 carry 16 and
            // 36 more bytes before the child boxes (ffmpeg writes 0 in mp4 mode).
            let extra = match r.u16("sound description version")? {
                1 => 16,
                2 => 36,
                _ => 0,
            };
            (AUDIO_ENTRY_LEN + extra, None)
        }
        _ => (8, None),
    };
    let children = payload.get(children_at..).unwrap_or(&[]);
    let format = if matches!(&entry.0, b"encv" | b"enca") {
        original_format(entry, children)?
    } else {
        entry
    };
    let codec = codec_string(entry, format, children)?;
    Ok(SampleEntryInfo {
        entry,
        codec,
        resolution,
    })
}

/// `sinf`/`frma`: the format an encrypted sample entry stands for (ISO/IEC 14496-12 §8.12).
fn original_format(entry: FourCC, children: &[u8]) -> Result<FourCC, Malformed> {
    let sinf = require(entry, children, FourCC(*b"sinf"))?;
    let frma = require(sinf.fourcc, sinf.payload, FourCC(*b"frma"))?;
    let mut r = Reader::new(frma.fourcc, frma.payload);
    let b = r.take(4, "data_format")?;
    Ok(FourCC([b[0], b[1], b[2], b[3]]))
}

fn codec_string(entry: FourCC, format: FourCC, children: &[u8]) -> Result<String, Malformed> {
    let config = |fourcc: [u8; 4]| require(entry, children, FourCC(fourcc));
    Ok(match &format.0 {
        b"avc1" | b"avc3" => avc(format, config(*b"avcC")?.payload)?,
        b"hvc1" | b"hev1" => hevc(format, config(*b"hvcC")?.payload)?,
        b"av01" => av1(config(*b"av1C")?.payload)?,
        b"vp09" => vp9(config(*b"vpcC")?.payload)?,
        b"mp4a" => mp4a(config(*b"esds")?.payload)?,
        b"Opus" => "Opus".to_owned(),
        _ => format.to_string(),
    })
}

/// `avc1.PPCCLL`: profile_idc, constraint flags and level_idc of the `avcC`
/// (ISO/IEC 14496-15 §5.3.3.1), in hex.
fn avc(format: FourCC, avcc: &[u8]) -> Result<String, Malformed> {
    let mut r = Reader::new(FourCC(*b"avcC"), avcc);
    let version = r.u8("configurationVersion")?;
    if version != 1 {
        return Err(r.error(format!("configurationVersion {version}, expected 1")));
    }
    let profile = r.u8("AVCProfileIndication")?;
    let compat = r.u8("profile_compatibility")?;
    let level = r.u8("AVCLevelIndication")?;
    Ok(format!("{format}.{profile:02x}{compat:02x}{level:02x}"))
}

/// `hvc1.A1.6.L93.B0` per ISO/IEC 14496-15 Annex E.3: profile space letter and profile idc,
/// the 32 compatibility flags bit-reversed in hex, tier letter and level idc, then the six
/// constraint bytes in hex with trailing zero bytes dropped.
fn hevc(format: FourCC, hvcc: &[u8]) -> Result<String, Malformed> {
    let mut r = Reader::new(FourCC(*b"hvcC"), hvcc);
    let version = r.u8("configurationVersion")?;
    if version != 1 {
        return Err(r.error(format!("configurationVersion {version}, expected 1")));
    }
    let b = r.u8("general_profile_space/tier/profile_idc")?;
    let space = match b >> 6 {
        0 => "",
        1 => "A",
        2 => "B",
        _ => "C",
    };
    let tier = if b & 0x20 != 0 { 'H' } else { 'L' };
    let profile_idc = b & 0x1f;
    let compat = r.u32("general_profile_compatibility_flags")?.reverse_bits();
    let constraints = r.take(6, "general_constraint_indicator_flags")?;
    let level = r.u8("general_level_idc")?;
    let mut s = format!("{format}.{space}{profile_idc}.{compat:X}.{tier}{level}");
    let used = constraints
        .iter()
        .rposition(|&c| c != 0)
        .map_or(0, |last| last + 1);
    for c in &constraints[..used] {
        s.push_str(&format!(".{c:X}"));
    }
    Ok(s)
}

/// `av01.P.LLT.DD` (AV1 Codec ISO Media File Format Binding §5): profile, level and tier,
/// bit depth. The optional colour fields are left out, as the binding allows.
fn av1(av1c: &[u8]) -> Result<String, Malformed> {
    let mut r = Reader::new(FourCC(*b"av1C"), av1c);
    let marker = r.u8("marker/version")?;
    if marker != 0x81 {
        return Err(r.error(format!("marker/version byte 0x{marker:02x}, expected 0x81")));
    }
    let b1 = r.u8("seq_profile/seq_level_idx_0")?;
    let b2 = r.u8("seq_tier_0/bit depth flags")?;
    let profile = b1 >> 5;
    let level = b1 & 0x1f;
    let tier = if b2 & 0x80 != 0 { 'H' } else { 'M' };
    let depth = match (b2 & 0x40 != 0, b2 & 0x20 != 0) {
        (true, true) => 12,
        (true, false) => 10,
        _ => 8,
    };
    Ok(format!("av01.{profile}.{level:02}{tier}.{depth:02}"))
}

/// `vp09.PP.LL.DD` (VP Codec ISO Media File Format Binding §7) from the `vpcC`.
fn vp9(vpcc: &[u8]) -> Result<String, Malformed> {
    let mut r = Reader::new(FourCC(*b"vpcC"), vpcc);
    r.version_flags()?;
    let profile = r.u8("profile")?;
    let level = r.u8("level")?;
    let depth = r.u8("bitDepth/chromaSubsampling")? >> 4;
    Ok(format!("vp09.{profile:02}.{level:02}.{depth:02}"))
}

/// `mp4a.40.AOT` for MPEG-4 audio (the audio object type of the DecoderSpecificInfo, ISO/IEC
/// 14496-3 §1.6.2.1), `mp4a.OTI` for other object types (RFC 6381 §3.3).
fn mp4a(esds: &[u8]) -> Result<String, Malformed> {
    let fourcc = FourCC(*b"esds");
    let mut r = Reader::new(fourcc, esds);
    r.version_flags()?;
    let es = descriptor(&mut r, 0x03, "ES_Descriptor")?;
    let mut r = Reader::new(fourcc, es);
    r.skip(2, "ES_ID")?;
    let flags = r.u8("ES_Descriptor flags")?;
    if flags & 0x80 != 0 {
        r.skip(2, "dependsOn_ES_ID")?;
    }
    if flags & 0x40 != 0 {
        let len = r.u8("URLlength")?;
        r.skip(usize::from(len), "URLstring")?;
    }
    if flags & 0x20 != 0 {
        r.skip(2, "OCR_ES_Id")?;
    }
    let config = descriptor(&mut r, 0x04, "DecoderConfigDescriptor")?;
    let mut r = Reader::new(fourcc, config);
    let oti = r.u8("objectTypeIndication")?;
    if oti != 0x40 {
        return Ok(format!("mp4a.{oti:02X}"));
    }
    r.skip(12, "DecoderConfigDescriptor fields")?;
    let dsi = descriptor(&mut r, 0x05, "DecoderSpecificInfo")?;
    let mut r = Reader::new(fourcc, dsi);
    let b0 = r.u8("audioObjectType")?;
    let mut aot = b0 >> 3;
    if aot == 31 {
        // audioObjectTypeExt: 6 more bits, spanning the byte boundary.
        let b1 = r.u8("audioObjectTypeExt")?;
        aot = 32 + (((b0 & 0x07) << 3) | (b1 >> 5));
    }
    Ok(format!("mp4a.40.{aot}"))
}

/// The payload of the next descriptor (ISO/IEC 14496-1 §8.3.3), which must carry `tag`.
fn descriptor<'a>(r: &mut Reader<'a>, tag: u8, name: &'static str) -> Result<&'a [u8], Malformed> {
    let found = r.u8(name)?;
    if found != tag {
        return Err(r.error(format!("expected {name} (tag {tag}), found tag {found}")));
    }
    // sizeOfInstance: up to four bytes of 7 bits, high bit = more follow.
    let mut len = 0usize;
    for _ in 0..4 {
        let b = r.u8("descriptor size")?;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            return r.take(len, name);
        }
    }
    Err(r.error(format!("{name} size field longer than four bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avc_from_avcc() {
        let avcc = [1, 0x64, 0x00, 0x1f, 0xff];
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
        assert_eq!(hevc(FourCC(*b"hvc1"), &hvcc).unwrap(), "hvc1.1.6.L93.B0");
        // Profile space 1, high tier, profile 2, flags 0x40000000, two constraint bytes.
        hvcc[1] = 0x40 | 0x20 | 0x02;
        hvcc[2] = 0x40;
        hvcc[7] = 0x08;
        assert_eq!(hevc(FourCC(*b"hev1"), &hvcc).unwrap(), "hev1.A2.2.H93.B0.8");
        assert!(hevc(FourCC(*b"hvc1"), &hvcc[..12]).is_err());
    }

    #[test]
    fn av1_from_av1c() {
        // Main profile, level 8 (4.0), Main tier, 8 bit.
        assert_eq!(av1(&[0x81, 0x08, 0x0c, 0]).unwrap(), "av01.0.08M.08");
        // Profile 1, level 13, High tier, 10 bit.
        assert_eq!(av1(&[0x81, 0x2d, 0xc0, 0]).unwrap(), "av01.1.13H.10");
        assert!(av1(&[0x80, 0, 0, 0]).is_err());
    }

    #[test]
    fn mp4a_from_esds() {
        // ES_Descriptor { ES_ID 1, no flags, DecoderConfigDescriptor { 0x40, …, DSI 0x1190 } }
        let dsi = [0x05, 0x02, 0x11, 0x90];
        let mut dcd = vec![0x04, 13 + dsi.len() as u8, 0x40, 0x15];
        dcd.extend_from_slice(&[0; 11]);
        dcd.extend_from_slice(&dsi);
        let mut es = vec![0x03, 3 + dcd.len() as u8, 0, 1, 0];
        es.extend_from_slice(&dcd);
        let mut esds = vec![0, 0, 0, 0];
        esds.extend_from_slice(&es);
        assert_eq!(mp4a(&esds).unwrap(), "mp4a.40.2");

        // HE-AAC v2 (AOT 29) and an escaped AOT (31 → 32 + 6 bits).
        let mut he = esds.clone();
        let at = he.len() - 2;
        he[at] = 29 << 3;
        assert_eq!(mp4a(&he).unwrap(), "mp4a.40.29");
        let mut ext = esds.clone();
        ext[at] = (31 << 3) | 0b001;
        ext[at + 1] = 0b1000_0000; // ext = 0b001100 = 12 → AOT 44
        assert_eq!(mp4a(&ext).unwrap(), "mp4a.40.44");

        // Another object type: MP3 (0x6B).
        let mut mp3 = esds.clone();
        mp3[4 + 5 + 2] = 0x6b;
        assert_eq!(mp4a(&mp3).unwrap(), "mp4a.6B");

        // Multi-byte size fields (ffmpeg writes 0x80 0x80 0x80 n) and truncation.
        let long = [
            0, 0, 0, 0, 0x03, 0x80, 0x80, 0x80, 0x03, 0, 1, 0, // ES_Descriptor header only
        ];
        assert!(mp4a(&long)
            .unwrap_err()
            .reason
            .contains("DecoderConfigDescriptor"));
        assert!(mp4a(&esds[..10]).is_err());
    }

    #[test]
    fn vp9_from_vpcc() {
        assert_eq!(vp9(&[1, 0, 0, 0, 0, 31, 0x80, 0]).unwrap(), "vp09.00.31.08");
    }
}

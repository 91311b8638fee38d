//! The multivariant playlist (§4.4.6) of a group of renditions.

use std::io::{self, Write};

/// One EXT-X-STREAM-INF entry (§4.4.6.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The rendition's media playlist, relative to the multivariant playlist.
    pub uri: String,
    /// Peak segment bit rate, bits/s (BANDWIDTH).
    pub bandwidth: u64,
    /// Average segment bit rate, bits/s (AVERAGE-BANDWIDTH; omitted when 0).
    pub average_bandwidth: u64,
    /// RFC 6381 codec strings of every format in the rendition, comma-separated.
    pub codecs: String,
    /// Width × height of the video, if any.
    pub resolution: Option<(u32, u32)>,
    /// Maximum frame rate of the video, if known.
    pub frame_rate: Option<f64>,
}

/// Appends the multivariant playlist of `variants` (in the order given) to `out`.
///
/// Every rendition's segments start with an independent frame (the builder cuts segments on
/// independent parts), hence EXT-X-INDEPENDENT-SEGMENTS.
pub fn render_multivariant(variants: &[Variant], out: &mut Vec<u8>) {
    // io::Write into a Vec never fails.
    let _ = write_multivariant(variants, out);
}

fn write_multivariant(variants: &[Variant], out: &mut Vec<u8>) -> io::Result<()> {
    writeln!(out, "#EXTM3U")?;
    writeln!(out, "#EXT-X-VERSION:6")?;
    writeln!(out, "#EXT-X-INDEPENDENT-SEGMENTS")?;
    for v in variants {
        // BANDWIDTH is REQUIRED and must be at least 1 for players to pick a variant.
        write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth.max(1))?;
        if v.average_bandwidth > 0 {
            write!(out, ",AVERAGE-BANDWIDTH={}", v.average_bandwidth)?;
        }
        if !v.codecs.is_empty() {
            write!(out, ",CODECS=\"{}\"", v.codecs)?;
        }
        if let Some((w, h)) = v.resolution {
            write!(out, ",RESOLUTION={w}x{h}")?;
        }
        if let Some(fps) = v.frame_rate.filter(|f| f.is_finite() && *f > 0.0) {
            write!(out, ",FRAME-RATE={fps:.3}")?;
        }
        writeln!(out)?;
        writeln!(out, "{}", v.uri)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_variant_with_its_attributes() {
        let variants = [
            Variant {
                uri: "360p/index.m3u8".into(),
                bandwidth: 900_000,
                average_bandwidth: 800_000,
                codecs: "avc1.64001e,mp4a.40.2".into(),
                resolution: Some((640, 360)),
                frame_rate: Some(30.0),
            },
            Variant {
                uri: "audio/index.m3u8".into(),
                bandwidth: 0,
                average_bandwidth: 0,
                codecs: "mp4a.40.2".into(),
                resolution: None,
                frame_rate: None,
            },
        ];
        let mut out = Vec::new();
        render_multivariant(&variants, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=800000,\
             CODECS=\"avc1.64001e,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=30.000\n\
             360p/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"mp4a.40.2\"\naudio/index.m3u8\n"
        );
    }
}

//! The multivariant playlist (§4.4.6) of a group of renditions.

use std::io::{self, Write};

/// One EXT-X-STREAM-INF entry (§4.4.6.2): a variant stream made of one media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The rendition's media playlist, relative to the multivariant playlist. Written as a URI
    /// line, so it must not contain CR or LF (stream names cannot).
    pub uri: String,
    /// Peak segment bit rate, bits/s (BANDWIDTH, §4.1). Written as at least 1.
    pub bandwidth: u64,
    /// Average segment bit rate, bits/s (AVERAGE-BANDWIDTH; omitted when 0).
    pub average_bandwidth: u64,
    /// RFC 6381 codec strings of every format in the rendition, comma-separated (CODECS;
    /// omitted when empty or not [`valid_codecs`]).
    pub codecs: String,
    /// Width × height of the video, if any (RESOLUTION; omitted if either is 0).
    pub resolution: Option<(u32, u32)>,
    /// Maximum frame rate of the video, if known (FRAME-RATE, rounded to three decimals).
    pub frame_rate: Option<f64>,
    /// Every segment of the rendition starts with an independent frame
    /// ([`M3u8Manifest::independent_segments`](super::M3u8Manifest::independent_segments)).
    pub independent_segments: bool,
    /// The GROUP-ID of the [`AudioRendition`]s the variant plays its sound from (AUDIO,
    /// §4.4.6.2.1), if any. `codecs` and `bandwidth` must then already cover them.
    pub audio_group: Option<String>,
}

/// One EXT-X-MEDIA:TYPE=AUDIO entry (§4.4.6.1 [docs/conformance.md R35]): an alternative
/// audio rendition, a media playlist of its own that variants refer to by `group_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioRendition {
    /// GROUP-ID; written as a quoted-string, so it must be [`attribute_safe`].
    pub group_id: String,
    /// NAME, unique within the group; must be [`attribute_safe`].
    pub name: String,
    /// LANGUAGE (RFC 5646), written only when it is letters, digits and `-`, 1 to 35 bytes.
    pub language: Option<String>,
    /// DEFAULT=YES: the rendition a player picks without a choice of the user's. At most one
    /// per group (§4.4.6.1.1).
    pub default: bool,
    /// CHANNELS (the count of audio channels), if known.
    pub channels: Option<u32>,
    /// The rendition's media playlist, relative to the multivariant playlist (URI); must be
    /// [`attribute_safe`].
    pub uri: String,
}

/// Whether `value` can be written inside a quoted-string attribute (§4.2): no `"`, CR or LF,
/// and not empty.
pub fn attribute_safe(value: &str) -> bool {
    !value.is_empty() && !value.bytes().any(|b| matches!(b, b'"' | b'\r' | b'\n'))
}

/// Whether `tag` looks like an RFC 5646 language tag: subtags of letters and digits
/// separated by `-`, at most 35 bytes. (Not a full RFC 5646 parser: the attribute only needs
/// to be a tag players compare, and this keeps anything that could break the line out.)
fn language_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 35
        && tag
            .split('-')
            .all(|sub| !sub.is_empty() && sub.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether `codecs` can be written as the CODECS attribute: comma-separated RFC 6381 format
/// identifiers (`avc1.64001f,mp4a.40.2`), each non-empty and made of ASCII letters, digits and
/// `.`, `-`, `_`, `+`. Anything else could end the quoted-string early or break the line
/// (§4.2), so it is refused rather than escaped (quoted-strings have no escapes).
pub fn valid_codecs(codecs: &str) -> bool {
    !codecs.is_empty()
        && codecs.split(',').all(|format| {
            !format.is_empty()
                && format
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
        })
}

/// Appends the multivariant playlist of `variants` and the `audio` renditions they refer to
/// (each in the order given) to `out`.
///
/// No EXT-X-VERSION: nothing written here needs more than protocol version 1 (§8), and the
/// tag is only required above it. EXT-X-INDEPENDENT-SEGMENTS is written when every variant's
/// segments start with an independent frame (§4.4.2.1: it then applies to all of them).
/// Renditions whose group or name is not [`attribute_safe`] are left out, and so is an AUDIO
/// attribute naming no rendition written (§4.4.6.2.1: it must match an EXT-X-MEDIA tag).
pub fn render_multivariant(variants: &[Variant], audio: &[AudioRendition], out: &mut Vec<u8>) {
    // io::Write into a Vec never fails.
    let _ = write_multivariant(variants, audio, out);
}

fn write_multivariant(
    variants: &[Variant],
    audio: &[AudioRendition],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    out.extend_from_slice(b"#EXTM3U\n");
    if !variants.is_empty() && variants.iter().all(|v| v.independent_segments) {
        out.extend_from_slice(b"#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    let audio: Vec<&AudioRendition> = audio
        .iter()
        .filter(|r| {
            [&r.group_id, &r.name, &r.uri]
                .iter()
                .all(|v| attribute_safe(v))
        })
        .collect();
    for r in &audio {
        write!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{}\",NAME=\"{}\"",
            r.group_id, r.name
        )?;
        if let Some(language) = r.language.as_deref().filter(|l| language_tag(l)) {
            write!(out, ",LANGUAGE=\"{language}\"")?;
        }
        // §4.4.6.1: AUTOSELECT must be YES where DEFAULT is; every rendition here differs
        // only in language, which is what automatic selection chooses by.
        let default = if r.default { "YES" } else { "NO" };
        write!(out, ",DEFAULT={default},AUTOSELECT=YES")?;
        if let Some(channels) = r.channels.filter(|&c| c > 0) {
            write!(out, ",CHANNELS=\"{channels}\"")?;
        }
        writeln!(out, ",URI=\"{}\"", r.uri)?;
    }
    for v in variants {
        // BANDWIDTH is REQUIRED, and players skip a variant that claims 0 bits/s.
        write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth.max(1))?;
        if v.average_bandwidth > 0 {
            write!(out, ",AVERAGE-BANDWIDTH={}", v.average_bandwidth)?;
        }
        if valid_codecs(&v.codecs) {
            write!(out, ",CODECS=\"{}\"", v.codecs)?;
        }
        if let Some((w, h)) = v.resolution.filter(|&(w, h)| w > 0 && h > 0) {
            write!(out, ",RESOLUTION={w}x{h}")?;
        }
        if let Some(fps) = v.frame_rate.filter(|f| f.is_finite() && *f > 0.0) {
            // §4.4.6.2: "rounded to three decimal places".
            write!(out, ",FRAME-RATE={fps:.3}")?;
        }
        if let Some(group) = v
            .audio_group
            .as_deref()
            .filter(|g| audio.iter().any(|r| r.group_id == *g))
        {
            write!(out, ",AUDIO=\"{group}\"")?;
        }
        writeln!(out, "\n{}", v.uri)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video() -> Variant {
        Variant {
            uri: "360p/index.m3u8".into(),
            bandwidth: 900_000,
            average_bandwidth: 800_000,
            codecs: "avc1.64001e,mp4a.40.2".into(),
            resolution: Some((640, 360)),
            frame_rate: Some(30_000.0 / 1001.0),
            independent_segments: true,
            audio_group: None,
        }
    }

    #[test]
    fn lists_every_variant_with_its_attributes() {
        let audio = Variant {
            uri: "audio/index.m3u8".into(),
            bandwidth: 0,
            average_bandwidth: 0,
            codecs: "mp4a.40.2".into(),
            resolution: None,
            frame_rate: None,
            independent_segments: true,
            audio_group: None,
        };
        let mut out = Vec::new();
        render_multivariant(&[video(), audio], &[], &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=800000,\
             CODECS=\"avc1.64001e,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=29.970\n\
             360p/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"mp4a.40.2\"\naudio/index.m3u8\n"
        );
    }

    fn rendition(name: &str, language: Option<&str>, default: bool) -> AudioRendition {
        AudioRendition {
            group_id: "audio".into(),
            name: name.into(),
            language: language.map(Into::into),
            default,
            channels: Some(2),
            uri: format!("{name}/index.m3u8"),
        }
    }

    #[test]
    fn audio_renditions_come_first_and_variants_refer_to_their_group() {
        let mut v = video();
        v.codecs = "avc1.64001e,mp4a.40.2".into();
        v.audio_group = Some("audio".into());
        let mut out = Vec::new();
        render_multivariant(
            &[v],
            &[
                rendition("audio_en", Some("en"), true),
                rendition("audio_fr", Some("fra"), false),
            ],
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio_en\",LANGUAGE=\"en\",\
             DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio_en/index.m3u8\"\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio_fr\",LANGUAGE=\"fra\",\
             DEFAULT=NO,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio_fr/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=800000,\
             CODECS=\"avc1.64001e,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=29.970,AUDIO=\"audio\"\n\
             360p/index.m3u8\n"
        );
    }

    #[test]
    fn what_could_break_a_quoted_string_is_left_out() {
        let mut v = video();
        v.audio_group = Some("audio".into());
        let mut bad_language = rendition("a", Some("en\"x"), false);
        bad_language.channels = None;
        let bad_name = rendition("b\"", None, false);
        let mut out = Vec::new();
        render_multivariant(&[v.clone()], &[bad_language, bad_name], &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("NAME=\"a\",DEFAULT=NO,AUTOSELECT=YES,URI="),
            "{text}"
        );
        assert!(
            !text.contains("LANGUAGE") && !text.contains("b\""),
            "{text}"
        );
        // A group no rendition was written for is not referred to.
        let mut out = Vec::new();
        render_multivariant(&[v], &[rendition("c\n", None, true)], &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains("AUDIO") && !text.contains("EXT-X-MEDIA"),
            "{text}"
        );
        for tag in ["en", "fr-CA", "eng", "zh-Hant-TW"] {
            assert!(language_tag(tag), "{tag}");
        }
        for tag in ["", "-", "en-", "e n", "x\"", &"a".repeat(36)] {
            assert!(!language_tag(tag), "{tag}");
        }
    }

    #[test]
    fn one_variant_with_a_dependent_segment_drops_independent_segments() {
        let mut other = video();
        other.independent_segments = false;
        let mut out = Vec::new();
        render_multivariant(&[video(), other], &[], &mut out);
        assert!(!String::from_utf8(out)
            .unwrap()
            .contains("INDEPENDENT-SEGMENTS"));
    }

    #[test]
    fn codecs_that_could_break_the_quoted_string_are_not_written() {
        for bad in ["", "avc1\"", "avc1,", "avc1, mp4a.40.2", "a\nb"] {
            assert!(!valid_codecs(bad), "{bad:?}");
            let mut v = video();
            v.codecs = bad.into();
            let mut out = Vec::new();
            render_multivariant(&[v], &[], &mut out);
            assert!(
                !String::from_utf8(out).unwrap().contains("CODECS"),
                "{bad:?}"
            );
        }
        for good in [
            "avc1.64001f",
            "hvc1.1.6.L93.B0,mp4a.40.2",
            "opus",
            "ec-3",
            "av01.0.04M.08",
        ] {
            assert!(valid_codecs(good), "{good:?}");
        }
    }
}

//! What a source hands to [`Playlists::add`](crate::Playlists::add), and what the registry
//! reports back about a stream.

use bytes::Bytes;

use crate::manifest::{Anomalies, PartPosition, PartTiming};

/// One part (a CMAF chunk: `moof`+`mdat`) as a source delivers it.
///
/// The library never parses media: the source (e.g. the server's fMP4 ingest) reads the
/// timing from the boxes and the library stores `bytes` as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The part's bytes, served as-is (and concatenated with its siblings as the segment).
    pub bytes: Bytes,
    /// When it plays, whether a segment may start with it, and its wall-clock date.
    pub timing: PartTiming,
    /// The init section the part needs. Required with the first part of a stream; after that
    /// only needed when it changes (an encoder restart). Passing the same bytes again is free.
    pub init: Option<Init>,
}

/// An init section (`ftyp`+`moov`) and what the multivariant playlist needs to know of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Init {
    /// The bytes served as the EXT-X-MAP target.
    pub bytes: Bytes,
    /// RFC 6381 codec strings of every track, comma-separated (`avc1.64001f,mp4a.40.2`), for
    /// the multivariant playlist's CODECS. May be empty; otherwise it must pass
    /// [`valid_codecs`](crate::manifest::valid_codecs) or the part is refused.
    pub codecs: String,
    /// Width and height of the video track, if any.
    pub resolution: Option<(u32, u32)>,
    /// Frames per second of the video track, if known.
    pub frame_rate: Option<f64>,
    /// The init section has a video track. With [`Init::audio`] it decides how the group's
    /// multivariant playlist lists the stream (§4.4.6.1, §4.4.6.2): a stream with audio and
    /// no video, in a group whose variants with video carry no audio of their own, is an
    /// alternative audio rendition (`EXT-X-MEDIA:TYPE=AUDIO`) those variants refer to;
    /// anything else is a variant (`EXT-X-STREAM-INF`). A source that says neither (`false`,
    /// `None`) gets a variant.
    pub video: bool,
    /// The first audio track, if the init section has one.
    pub audio: Option<AudioTrack>,
}

/// What the multivariant playlist says of an audio track (`EXT-X-MEDIA`, §4.4.6.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AudioTrack {
    /// The track's language as a BCP 47 tag (`en`, `fr-CA`) or an ISO 639-2/T code (`eng`,
    /// as an `mdhd` box holds it); `None` if undetermined (`und`). Written as LANGUAGE only
    /// when it is letters, digits and `-` (at most 35 bytes): anything else could break the
    /// quoted-string.
    pub language: Option<String>,
    /// Audio channels (CHANNELS), if known.
    pub channels: Option<u32>,
}

/// A snapshot of one stream's state, for listings, metrics and the multivariant playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamStatus {
    /// The stream's name (`cam1`, `live/720p`).
    pub name: String,
    /// The group the stream belongs to: the part of the name before `/`, or the whole name.
    pub group: String,
    /// The newest part's position, if any.
    pub last: Option<PartPosition>,
    /// EXT-X-ENDLIST has been published.
    pub ended: bool,
    /// Parts published since the stream started.
    pub parts_published: u64,
    /// Part bytes published since the stream started.
    pub bytes_published: u64,
    /// EXT-X-TARGETDURATION, seconds; `None` until the stream's first segment has measured it
    /// (no playlist is published before).
    pub target_duration_s: Option<u32>,
    /// PART-TARGET, seconds.
    pub part_target_secs: f64,
    /// Codec strings of the current init section.
    pub codecs: String,
    /// Video resolution of the current init section.
    pub resolution: Option<(u32, u32)>,
    /// Video frame rate of the current init section.
    pub frame_rate: Option<f64>,
    /// The current init section has a video track ([`Init::video`]).
    pub video: bool,
    /// Its first audio track ([`Init::audio`]).
    pub audio: Option<AudioTrack>,
    /// Peak segment bit rate (§4.1), bits per second; 0 until one segment is complete.
    pub peak_bps: u64,
    /// Average segment bit rate, bits per second; 0 until one segment is complete.
    pub average_bps: u64,
    /// Every segment the stream still serves starts with an independent frame, so its
    /// multivariant playlist may claim EXT-X-INDEPENDENT-SEGMENTS.
    pub independent_segments: bool,
    /// Input accepted although it could not be listed to the letter of the rules (forced
    /// segment cuts, parts off PART-TARGET): the server logs changes of these.
    pub anomalies: Anomalies,
}

/// The group part of a stream name: `live` for `live/720p`, `cam1` for `cam1`.
pub fn group_of(name: &str) -> &str {
    name.split_once('/').map_or(name, |(group, _)| group)
}

/// The rendition part of a stream name: `720p` for `live/720p`, `None` for `cam1`.
pub fn rendition_of(name: &str) -> Option<&str> {
    name.split_once('/').map(|(_, rendition)| rendition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_group_and_rendition() {
        assert_eq!(group_of("live/720p"), "live");
        assert_eq!(rendition_of("live/720p"), Some("720p"));
        assert_eq!(group_of("cam1"), "cam1");
        assert_eq!(rendition_of("cam1"), None);
    }
}

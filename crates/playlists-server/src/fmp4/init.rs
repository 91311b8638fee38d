//! The init section (`ftyp`+`moov`, CMAF header): tracks, timescales, codec strings,
//! resolution, and the `trex` defaults that fragments fall back on.
//!
//! The containers (`moov`/`trak`/`mdia`/`minf`/`stbl`/`stsd`) are walked with the bounded
//! walker of [`boxes`](crate::fmp4::boxes), which says why; the boxes with the fields
//! (`tkhd`, `mdhd`, `hdlr`, `trex`, the sample entry) are decoded with mp4-atom.

use bytes::Bytes;
use mp4_atom::{Hdlr, Mdhd, Tkhd, Trex};
use playlists::{AudioTrack, Init};

use crate::fmp4::boxes::{children, decode_flat, find, require, FourCC, Malformed, Reader};
use crate::fmp4::codecs::describe;

/// What a track carries, from its `hdlr` handler type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    /// `vide`.
    Video,
    /// `soun`.
    Audio,
    /// Any other handler (`subt`, `text`, `meta`, …).
    Other(FourCC),
}

/// Per-sample defaults of a track from its `trex` (ISO/IEC 14496-12 §8.8.3), used when a
/// fragment's `tfhd` and `trun` do not say. All zero when the moov has no `trex` for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleDefaults {
    /// default_sample_duration, in the track's timescale.
    pub duration: u32,
    /// default_sample_size, bytes.
    pub size: u32,
    /// default_sample_flags (§8.8.3.1).
    pub flags: u32,
}

/// One track of the init section.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// `tkhd` track_ID, which fragments' `tfhd` refer to.
    pub track_id: u32,
    /// From the `hdlr`.
    pub kind: TrackKind,
    /// `mdhd` timescale: ticks per second of every duration and decode time of the track.
    pub timescale: u32,
    /// The sample entry type (`avc1`, `mp4a`, …).
    pub sample_entry: FourCC,
    /// RFC 6381 codec string.
    pub codec: String,
    /// Width and height: the visual sample entry's (the coded size, as ffprobe and ffmpeg's
    /// HLS muxer report it), else the `tkhd`'s presentation size; `None` for non-video tracks.
    pub resolution: Option<(u32, u32)>,
    /// The `trex` defaults.
    pub defaults: SampleDefaults,
    /// The track's language: the `elng` box's BCP 47 tag if there is one, else the `mdhd`
    /// ISO 639-2/T code; `None` for `und` (undetermined) or an empty tag.
    pub language: Option<String>,
    /// Audio channels ([`SampleEntryInfo::channels`](crate::fmp4::codecs::SampleEntryInfo)).
    pub channels: Option<u32>,
}

/// An init section as read: the library's [`Init`] (the bytes served as the EXT-X-MAP
/// target, with what the multivariant playlist says of them) and the tracks of its `moov`
/// (movie box), which fragments are read against.
#[derive(Debug, Clone, PartialEq)]
pub struct Movie {
    /// What the library takes with the next part:
    /// * `bytes`: every byte of the init section, as received;
    /// * `codecs`: every track's codec string, comma-separated in track order (`CODECS`);
    /// * `resolution`: the primary video track's;
    /// * `frame_rate`: the primary video track's, when the init section alone tells it (the
    ///   timescale over the `trex` default sample duration). ffmpeg's `empty_moov` leaves
    ///   that default at 0, so ingest measures the rate on the first fragment instead
    ///   ([`Fragment::frame_rate`](crate::fmp4::Fragment::frame_rate)).
    pub init: Init,
    /// The tracks, in `moov` order. Never empty.
    pub tracks: Vec<Track>,
    /// Index into `tracks` of the track that decides a fragment's duration, decode time and
    /// independence: the first video track, else the first track.
    pub primary: usize,
}

impl Movie {
    /// The primary track (see [`Movie::primary`]).
    pub fn primary_track(&self) -> &Track {
        // `parse` guarantees `primary < tracks.len()`.
        &self.tracks[self.primary]
    }

    /// The track with `track_id`, if the moov has one.
    pub fn track(&self, track_id: u32) -> Option<&Track> {
        self.tracks.iter().find(|t| t.track_id == track_id)
    }
}

/// Parses the init section `bytes`, whose `moov` payload is `bytes[moov]`.
pub fn parse(bytes: Bytes, moov: std::ops::Range<usize>) -> Result<Movie, Malformed> {
    let moov_fourcc = FourCC::MOOV;
    let payload = bytes
        .get(moov)
        .ok_or_else(|| Malformed::new(moov_fourcc, "moov range outside the init section"))?;
    let mut tracks = Vec::new();
    for child in children(moov_fourcc, payload) {
        let child = child?;
        if child.fourcc == FourCC(*b"trak") {
            tracks.push(trak(child.payload)?);
        }
    }
    if tracks.is_empty() {
        return Err(Malformed::new(moov_fourcc, "has no trak"));
    }
    let mvex = find(moov_fourcc, payload, FourCC(*b"mvex"))?.ok_or_else(|| {
        Malformed::new(
            moov_fourcc,
            "has no mvex: the input is not fragmented MP4 (use -movflags frag_keyframe+empty_moov or cmaf)",
        )
    })?;
    for child in children(mvex.fourcc, mvex.payload) {
        let child = child?;
        if child.fourcc == FourCC(*b"trex") {
            let trex: Trex = decode_flat(child.payload)?;
            if let Some(track) = tracks.iter_mut().find(|t| t.track_id == trex.track_id) {
                // Hand-mapped: the defaults fragments fall back on (ISO/IEC 14496-12 §8.8.3).
                track.defaults = SampleDefaults {
                    duration: trex.default_sample_duration,
                    size: trex.default_sample_size,
                    flags: trex.default_sample_flags,
                };
            }
        }
    }
    let primary = tracks
        .iter()
        .position(|t| t.kind == TrackKind::Video)
        .unwrap_or(0);
    let codecs = tracks
        .iter()
        .map(|t| t.codec.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let main = &tracks[primary];
    let (resolution, frame_rate) = if main.kind == TrackKind::Video {
        let rate = (main.defaults.duration > 0)
            .then(|| round_rate(f64::from(main.timescale) / f64::from(main.defaults.duration)));
        (main.resolution, rate)
    } else {
        (None, None)
    };
    let audio = tracks
        .iter()
        .find(|t| t.kind == TrackKind::Audio)
        .map(|t| AudioTrack {
            language: t.language.clone(),
            channels: t.channels,
        });
    Ok(Movie {
        init: Init {
            bytes,
            codecs,
            resolution,
            frame_rate,
            video: tracks.iter().any(|t| t.kind == TrackKind::Video),
            audio,
        },
        tracks,
        primary,
    })
}

/// Rounds a frame rate to three decimals, as EXT-X-STREAM-INF FRAME-RATE is written
/// (RFC 8216bis §4.4.6.2), so 30000/1001 reads 29.97.
pub fn round_rate(rate: f64) -> f64 {
    (rate * 1000.0).round() / 1000.0
}

fn trak(payload: &[u8]) -> Result<Track, Malformed> {
    let trak = FourCC(*b"trak");
    let tkhd: Tkhd = decode_flat(require(trak, payload, FourCC(*b"tkhd"))?.payload)?;
    let track_id = tkhd.track_id;
    let mdia = require(trak, payload, FourCC(*b"mdia"))?;
    let mdhd: Mdhd = decode_flat(require(mdia.fourcc, mdia.payload, FourCC(*b"mdhd"))?.payload)?;
    let timescale = mdhd.timescale;
    if timescale == 0 {
        return Err(Malformed::new(
            FourCC(*b"mdhd"),
            format!("track {track_id} has timescale 0"),
        ));
    }
    let hdlr: Hdlr = decode_flat(require(mdia.fourcc, mdia.payload, FourCC(*b"hdlr"))?.payload)?;
    let handler = FourCC(hdlr.handler.into());
    let kind = match &handler.0 {
        b"vide" => TrackKind::Video,
        b"soun" => TrackKind::Audio,
        _ => TrackKind::Other(handler),
    };
    let minf = require(mdia.fourcc, mdia.payload, FourCC(*b"minf"))?;
    let stbl = require(minf.fourcc, minf.payload, FourCC(*b"stbl"))?;
    let stsd = require(stbl.fourcc, stbl.payload, FourCC(*b"stsd"))?;
    // Not mp4-atom's `Stsd`: it would decode every sample entry's children recursively.
    let mut r = Reader::new(stsd.fourcc, stsd.payload);
    r.version_flags()?;
    let entry_count = r.u32("entry_count")?;
    if entry_count == 0 {
        return Err(r.error(format!("track {track_id} has no sample entry")));
    }
    // Fragments of a live stream use the first sample description (ffmpeg writes one; a
    // second would be a mid-stream codec change, which needs a new init section anyway).
    let entry = children(stsd.fourcc, r.rest()).next().ok_or_else(|| {
        r.error(format!(
            "track {track_id}: entry_count {entry_count} but no entry"
        ))
    })??;
    let info = describe(entry.fourcc, entry.payload, handler)?;
    // `tkhd` width and height are 16.16 fixed point; the integer part is the size.
    let (width, height) = (
        u32::from(tkhd.width.integer()),
        u32::from(tkhd.height.integer()),
    );
    let resolution = match kind {
        TrackKind::Video => info
            .resolution
            .or((width > 0 && height > 0).then_some((width, height))),
        _ => None,
    };
    let language = match find(mdia.fourcc, mdia.payload, FourCC(*b"elng"))? {
        Some(elng) => elng_language(elng.payload)?,
        // ISO 639-2/T: three lower-case letters. A zero code (which decodes to "```") or
        // anything else is no language.
        None => Some(mdhd.language).filter(|l| l.bytes().all(|b| b.is_ascii_lowercase())),
    }
    .filter(|l| !l.is_empty() && l != "und");
    Ok(Track {
        track_id,
        kind,
        timescale,
        sample_entry: info.entry,
        codec: info.codec,
        resolution,
        defaults: SampleDefaults::default(),
        language,
        channels: info.channels,
    })
}

/// The extended language tag box (`elng`, ISO/IEC 14496-12 §8.4.6): a full box holding a
/// NUL-terminated BCP 47 tag, which CMAF writers use where the `mdhd` code cannot say it
/// (`fr-CA`). Read by hand: mp4-atom has no `elng`. A tag that is not UTF-8 is malformed.
fn elng_language(payload: &[u8]) -> Result<Option<String>, Malformed> {
    let mut r = Reader::new(FourCC(*b"elng"), payload);
    r.version_flags()?;
    let rest = r.rest();
    let tag = rest.split(|&b| b == 0).next().unwrap_or_default();
    let tag = std::str::from_utf8(tag)
        .map_err(|_| r.error("extended_language is not UTF-8"))?
        .trim();
    Ok((!tag.is_empty()).then(|| tag.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::testutil::{init_segment, TestTrack};

    #[test]
    fn tracks_timescales_codecs_and_defaults() {
        let bytes = init_segment(&[TestTrack::video(1, 15360, 512), TestTrack::audio(2, 48000)]);
        let moov = crate::fmp4::testutil::moov_range(&bytes);
        let init = parse(Bytes::from(bytes), moov).unwrap();
        assert_eq!(init.tracks.len(), 2);
        assert_eq!(init.primary, 0);
        assert_eq!(init.init.codecs, "avc1.64001f,mp4a.40.2");
        assert_eq!(init.init.resolution, Some((640, 360)));
        assert_eq!(init.init.frame_rate, Some(30.0));
        let audio = init.track(2).unwrap();
        assert_eq!((audio.kind, audio.timescale), (TrackKind::Audio, 48000));
        assert_eq!(audio.resolution, None);
        // The AudioSpecificConfig says two channels; the mdhd's zero language code is none.
        assert!(init.init.video);
        assert_eq!(
            init.init.audio,
            Some(AudioTrack {
                language: None,
                channels: Some(2)
            })
        );
    }

    #[test]
    fn the_extended_language_tag_is_read_as_written() {
        let tag = |bytes: &[u8]| elng_language(&[&[0u8; 4][..], bytes].concat());
        assert_eq!(tag(b"fr-CA\0").unwrap().as_deref(), Some("fr-CA"));
        assert_eq!(tag(b"en").unwrap().as_deref(), Some("en"));
        assert_eq!(tag(b"\0").unwrap(), None);
        assert!(tag(b"\xff\xfe\0").is_err());
        assert!(elng_language(&[0, 0]).is_err(), "no version and flags");
    }

    #[test]
    fn audio_only_is_its_own_primary() {
        let bytes = init_segment(&[TestTrack::audio(7, 48000)]);
        let moov = crate::fmp4::testutil::moov_range(&bytes);
        let init = parse(Bytes::from(bytes), moov).unwrap();
        assert_eq!(init.primary_track().track_id, 7);
        assert_eq!((init.init.resolution, init.init.frame_rate), (None, None));
        assert!(!init.init.video && init.init.audio.is_some());
    }

    #[test]
    fn missing_pieces_are_named() {
        // No mvex: a progressive MP4, not a fragmented one.
        let mut t = TestTrack::video(1, 90000, 0);
        t.no_trex = true;
        let bytes = crate::fmp4::testutil::init_segment_without_mvex(&[t]);
        let moov = crate::fmp4::testutil::moov_range(&bytes);
        let err = parse(Bytes::from(bytes), moov).unwrap_err();
        assert!(err.reason.contains("mvex"), "{err}");

        // Timescale 0.
        let bytes = init_segment(&[TestTrack::video(1, 0, 0)]);
        let moov = crate::fmp4::testutil::moov_range(&bytes);
        let err = parse(Bytes::from(bytes), moov).unwrap_err();
        assert!(err.reason.contains("timescale 0"), "{err}");

        // A box mp4-atom refuses: the error names it.
        let mut bytes = init_segment(&[TestTrack::video(1, 90000, 0)]);
        let at = bytes.windows(4).position(|w| w == b"tkhd").unwrap() + 4;
        bytes[at] = 2; // version
        let moov = crate::fmp4::testutil::moov_range(&bytes);
        let err = parse(Bytes::from(bytes), moov).unwrap_err();
        assert_eq!(err.fourcc, FourCC(*b"tkhd"));
        assert!(err.reason.contains("version 2"), "{err}");

        // An empty moov.
        let bytes = crate::fmp4::testutil::boxed(b"moov", &[]);
        let err = parse(Bytes::from(bytes), 8..8).unwrap_err();
        assert!(err.reason.contains("no trak"), "{err}");
    }
}

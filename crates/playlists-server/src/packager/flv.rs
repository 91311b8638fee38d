//! FLV audio and video tag bodies (the payloads of RTMP messages 8 and 9) into decoder
//! configurations and frames: legacy FLV (video_file_format_spec_v10_1 §E.4.2/§E.4.3: H.264
//! with AVCPacketType and a signed 24-bit composition time, AAC with AACPacketType) and
//! Enhanced RTMP (veovera enhanced-rtmp v1/v2: the IsExHeader bit, a FourCC, and a
//! PacketType; ExAudio as SoundFormat 9).
//!
//! Hand-parsed: the headers are a few bytes of bit fields and no maintained crate reads the
//! Enhanced RTMP ones; the payloads are not copied (`Bytes::slice`).

use bytes::Bytes;

use super::error::{Media, PackagerError};

/// A video codec the packager writes into CMAF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264: legacy codec id 7 or FourCC `avc1`; the configuration is an `avcC` record.
    Avc,
    /// HEVC: FourCC `hvc1`; the configuration is an `hvcC` record.
    Hevc,
    /// AV1: FourCC `av01`; the configuration is an `av1C` record.
    Av1,
}

impl VideoCodec {
    /// The codec's name in error messages.
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::Avc => "avc1",
            VideoCodec::Hevc => "hvc1",
            VideoCodec::Av1 => "av01",
        }
    }
}

/// An audio codec the packager writes into CMAF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// AAC: legacy SoundFormat 10 or FourCC `mp4a`; the configuration is an
    /// AudioSpecificConfig.
    Aac,
    /// Opus: FourCC `Opus`; the configuration is an `OpusHead` (RFC 7845 §5.1).
    Opus,
}

impl AudioCodec {
    /// The codec's name in error messages.
    pub fn name(self) -> &'static str {
        match self {
            AudioCodec::Aac => "mp4a",
            AudioCodec::Opus => "Opus",
        }
    }
}

/// What one video tag body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoTag {
    /// A sequence header: the decoder configuration record.
    Config {
        /// The codec.
        codec: VideoCodec,
        /// The record (`avcC`/`hvcC`/`av1C` payload).
        record: Bytes,
    },
    /// One coded frame (length-prefixed NAL units, or AV1 OBUs).
    Frame {
        /// The codec.
        codec: VideoCodec,
        /// A key frame (FrameType 1, or 4 "generated key frame").
        key: bool,
        /// Composition time offset in ms (PTS − DTS), signed.
        composition_ms: i32,
        /// The sample data.
        data: Bytes,
    },
    /// Nothing to package: end of sequence, metadata, command frames, empty frames.
    Ignored,
}

/// What one audio tag body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioTag {
    /// A sequence header: the decoder configuration.
    Config {
        /// The codec.
        codec: AudioCodec,
        /// AudioSpecificConfig or OpusHead.
        record: Bytes,
    },
    /// One coded frame (a raw AAC access unit or an Opus packet).
    Frame {
        /// The codec.
        codec: AudioCodec,
        /// The sample data.
        data: Bytes,
    },
    /// Nothing to package: end of sequence, multichannel configuration.
    Ignored,
}

fn malformed(media: Media, reason: impl Into<String>) -> PackagerError {
    PackagerError::Malformed {
        media,
        reason: reason.into(),
    }
}

fn unsupported(media: Media, what: impl Into<String>) -> PackagerError {
    PackagerError::Unsupported {
        media,
        what: what.into(),
    }
}

fn fourcc_text(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c.is_ascii_graphic() {
                char::from(c)
            } else {
                '?'
            }
        })
        .collect()
}

/// Signed 24-bit big-endian (the FLV composition time).
fn si24(b: &[u8]) -> i32 {
    let v = (i32::from(b[0]) << 16) | (i32::from(b[1]) << 8) | i32::from(b[2]);
    (v << 8) >> 8
}

/// Parses one video message body.
pub fn parse_video(body: &Bytes) -> Result<VideoTag, PackagerError> {
    const M: Media = Media::Video;
    let b0 = *body.first().ok_or_else(|| malformed(M, "empty body"))?;
    if b0 & 0x80 != 0 {
        return parse_ex_video(body, b0);
    }
    let frame_type = b0 >> 4;
    let codec_id = b0 & 0x0f;
    if frame_type == 5 {
        // Video info/command frame: carries no picture.
        return Ok(VideoTag::Ignored);
    }
    if codec_id != 7 {
        return Err(unsupported(M, format!("FLV video codec id {codec_id}")));
    }
    if body.len() < 5 {
        return Err(malformed(
            M,
            format!("AVC tag of {} bytes, the header alone is 5", body.len()),
        ));
    }
    match body[1] {
        0 => Ok(VideoTag::Config {
            codec: VideoCodec::Avc,
            record: body.slice(5..),
        }),
        1 => coded_frame(
            VideoCodec::Avc,
            frame_type,
            si24(&body[2..5]),
            body.slice(5..),
        ),
        2 => Ok(VideoTag::Ignored),
        t => Err(malformed(M, format!("AVCPacketType {t}"))),
    }
}

fn coded_frame(
    codec: VideoCodec,
    frame_type: u8,
    composition_ms: i32,
    data: Bytes,
) -> Result<VideoTag, PackagerError> {
    if data.is_empty() {
        return Ok(VideoTag::Ignored);
    }
    let key = match frame_type {
        1 | 4 => true,
        2 | 3 => false,
        t => return Err(malformed(Media::Video, format!("FrameType {t}"))),
    };
    Ok(VideoTag::Frame {
        codec,
        key,
        composition_ms,
        data,
    })
}

/// Enhanced RTMP ExVideoTagHeader: `IsExHeader | FrameType(3) | PacketType(4)`, FourCC.
fn parse_ex_video(body: &Bytes, b0: u8) -> Result<VideoTag, PackagerError> {
    const M: Media = Media::Video;
    let frame_type = (b0 >> 4) & 0x07;
    let packet_type = b0 & 0x0f;
    match packet_type {
        6 => return Err(unsupported(M, "Enhanced RTMP Multitrack video")),
        7 => return Err(unsupported(M, "Enhanced RTMP ModEx video")),
        8..=15 => return Err(malformed(M, format!("VideoPacketType {packet_type}"))),
        _ => {}
    }
    let fourcc = body
        .get(1..5)
        .ok_or_else(|| malformed(M, "ExVideoTagHeader without its FourCC"))?;
    let codec = match fourcc {
        b"avc1" => VideoCodec::Avc,
        b"hvc1" => VideoCodec::Hevc,
        b"av01" => VideoCodec::Av1,
        other => return Err(unsupported(M, format!("FourCC {}", fourcc_text(other)))),
    };
    if frame_type == 5 {
        // Command frame (no picture); its payload is not a frame.
        return Ok(VideoTag::Ignored);
    }
    match packet_type {
        0 => Ok(VideoTag::Config {
            codec,
            record: body.slice(5..),
        }),
        // CodedFrames: H.264 and HEVC carry a SI24 composition time, AV1 none.
        1 if codec != VideoCodec::Av1 => {
            let cts = body
                .get(5..8)
                .ok_or_else(|| malformed(M, "CodedFrames without its composition time"))?;
            coded_frame(codec, frame_type, si24(cts), body.slice(8..))
        }
        1 | 3 => coded_frame(codec, frame_type, 0, body.slice(5..)),
        // SequenceEnd and Metadata (HDR colour information) change nothing we write.
        2 | 4 => Ok(VideoTag::Ignored),
        5 => Err(unsupported(
            M,
            "MPEG2TSSequenceStart (an AV1 configuration as MPEG-TS carries it)",
        )),
        _ => Err(malformed(M, format!("VideoPacketType {packet_type}"))),
    }
}

/// Parses one audio message body.
pub fn parse_audio(body: &Bytes) -> Result<AudioTag, PackagerError> {
    const M: Media = Media::Audio;
    let b0 = *body.first().ok_or_else(|| malformed(M, "empty body"))?;
    let sound_format = b0 >> 4;
    match sound_format {
        10 => {
            let packet_type = *body
                .get(1)
                .ok_or_else(|| malformed(M, "AAC tag without AACPacketType"))?;
            match packet_type {
                0 => Ok(AudioTag::Config {
                    codec: AudioCodec::Aac,
                    record: body.slice(2..),
                }),
                1 if body.len() == 2 => Ok(AudioTag::Ignored),
                1 => Ok(AudioTag::Frame {
                    codec: AudioCodec::Aac,
                    data: body.slice(2..),
                }),
                t => Err(malformed(M, format!("AACPacketType {t}"))),
            }
        }
        9 => parse_ex_audio(body, b0 & 0x0f),
        f => Err(unsupported(M, format!("FLV SoundFormat {f}"))),
    }
}

/// Enhanced RTMP ExAudioTagHeader: `SoundFormat 9 | AudioPacketType(4)`, FourCC.
fn parse_ex_audio(body: &Bytes, packet_type: u8) -> Result<AudioTag, PackagerError> {
    const M: Media = Media::Audio;
    match packet_type {
        5 => return Err(unsupported(M, "Enhanced RTMP Multitrack audio")),
        7 => return Err(unsupported(M, "Enhanced RTMP ModEx audio")),
        _ => {}
    }
    let fourcc = body
        .get(1..5)
        .ok_or_else(|| malformed(M, "ExAudioTagHeader without its FourCC"))?;
    let codec = match fourcc {
        b"mp4a" => AudioCodec::Aac,
        b"Opus" => AudioCodec::Opus,
        other => return Err(unsupported(M, format!("FourCC {}", fourcc_text(other)))),
    };
    match packet_type {
        0 => Ok(AudioTag::Config {
            codec,
            record: body.slice(5..),
        }),
        1 if body.len() == 5 => Ok(AudioTag::Ignored),
        1 => Ok(AudioTag::Frame {
            codec,
            data: body.slice(5..),
        }),
        // SequenceEnd; MultichannelConfig (the channel layout is in the codec's own
        // configuration for AAC and Opus).
        2 | 4 => Ok(AudioTag::Ignored),
        t => Err(malformed(M, format!("AudioPacketType {t}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &[u8]) -> Bytes {
        Bytes::copy_from_slice(v)
    }

    #[test]
    fn legacy_avc_sequence_header_and_frames_with_negative_composition_time() {
        assert_eq!(
            parse_video(&b(&[0x17, 0, 0, 0, 0, 1, 0x64])).unwrap(),
            VideoTag::Config {
                codec: VideoCodec::Avc,
                record: b(&[1, 0x64])
            }
        );
        assert_eq!(
            parse_video(&b(&[0x27, 1, 0xff, 0xff, 0xd8, 0, 0, 0, 1, 9])).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::Avc,
                key: false,
                composition_ms: -40,
                data: b(&[0, 0, 0, 1, 9])
            }
        );
        assert_eq!(
            parse_video(&b(&[0x17, 2, 0, 0, 0])).unwrap(),
            VideoTag::Ignored
        );
    }

    #[test]
    fn truncated_and_unknown_video_is_a_typed_error() {
        assert!(matches!(
            parse_video(&b(&[])),
            Err(PackagerError::Malformed { .. })
        ));
        assert!(matches!(
            parse_video(&b(&[0x17, 1, 0])),
            Err(PackagerError::Malformed { .. })
        ));
        // Codec id 2: Sorenson H.263.
        assert!(matches!(
            parse_video(&b(&[0x12, 0])),
            Err(PackagerError::Unsupported { .. })
        ));
        assert!(matches!(
            parse_video(&b(&[0x17, 9, 0, 0, 0])),
            Err(PackagerError::Malformed { .. })
        ));
        // FrameType 6 is not defined.
        assert!(matches!(
            parse_video(&b(&[0x67, 1, 0, 0, 0, 1])),
            Err(PackagerError::Malformed { .. })
        ));
    }

    #[test]
    fn enhanced_video_fourccs_and_packet_types() {
        // Key frame SequenceStart hvc1.
        assert_eq!(
            parse_video(&b(&[0x90, b'h', b'v', b'c', b'1', 1, 2])).unwrap(),
            VideoTag::Config {
                codec: VideoCodec::Hevc,
                record: b(&[1, 2])
            }
        );
        // Inter CodedFrames hvc1 with composition time 33.
        assert_eq!(
            parse_video(&b(&[0xa1, b'h', b'v', b'c', b'1', 0, 0, 33, 7])).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::Hevc,
                key: false,
                composition_ms: 33,
                data: b(&[7])
            }
        );
        // CodedFramesX: no composition time.
        assert_eq!(
            parse_video(&b(&[0x93, b'h', b'v', b'c', b'1', 7])).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::Hevc,
                key: true,
                composition_ms: 0,
                data: b(&[7])
            }
        );
        // AV1 CodedFrames has no composition time either.
        assert_eq!(
            parse_video(&b(&[0x91, b'a', b'v', b'0', b'1', 0x12, 0])).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::Av1,
                key: true,
                composition_ms: 0,
                data: b(&[0x12, 0])
            }
        );
        for ignored in [
            &[0x92, b'a', b'v', b'c', b'1'][..],
            &[0x94, b'a', b'v', b'0', b'1', 2],
        ] {
            assert_eq!(parse_video(&b(ignored)).unwrap(), VideoTag::Ignored);
        }
        assert!(matches!(
            parse_video(&b(&[0x95, b'a', b'v', b'0', b'1'])),
            Err(PackagerError::Unsupported { .. })
        ));
        assert!(matches!(
            parse_video(&b(&[0x90, b'v', b'p', b'0', b'9', 1])),
            Err(PackagerError::Unsupported { .. })
        ));
        assert!(matches!(
            parse_video(&b(&[0x90, b'h', b'v'])),
            Err(PackagerError::Malformed { .. })
        ));
        assert!(matches!(
            parse_video(&b(&[0xa1, b'h', b'v', b'c', b'1', 0])),
            Err(PackagerError::Malformed { .. })
        ));
    }

    #[test]
    fn audio_legacy_and_enhanced() {
        assert_eq!(
            parse_audio(&b(&[0xaf, 0, 0x12, 0x10])).unwrap(),
            AudioTag::Config {
                codec: AudioCodec::Aac,
                record: b(&[0x12, 0x10])
            }
        );
        assert_eq!(
            parse_audio(&b(&[0xaf, 1, 0x21])).unwrap(),
            AudioTag::Frame {
                codec: AudioCodec::Aac,
                data: b(&[0x21])
            }
        );
        assert_eq!(
            parse_audio(&b(&[0x91, b'O', b'p', b'u', b's', 0xfc])).unwrap(),
            AudioTag::Frame {
                codec: AudioCodec::Opus,
                data: b(&[0xfc])
            }
        );
        assert!(matches!(
            parse_audio(&b(&[0xaf])),
            Err(PackagerError::Malformed { .. })
        ));
        // MP3.
        assert!(matches!(
            parse_audio(&b(&[0x2f, 0xff])),
            Err(PackagerError::Unsupported { .. })
        ));
        assert!(matches!(
            parse_audio(&b(&[0x90, b'f', b'L', b'a', b'C'])),
            Err(PackagerError::Unsupported { .. })
        ));
        assert!(matches!(
            parse_audio(&b(&[0x90, b'O', b'p'])),
            Err(PackagerError::Malformed { .. })
        ));
    }
}

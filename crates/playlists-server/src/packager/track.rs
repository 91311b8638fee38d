//! Decoder configurations (what sequence headers carry) into the sample entries of the init
//! section, built as mp4-atom structures: `avc1`+`avcC`, `hvc1`+`hvcC`, `av01`+`av1C`,
//! `mp4a`+`esds`, `Opus`+`dOps`.

use bytes::Bytes;
use mp4_atom::{Atom, Codec};

use super::dims;
use super::error::{Media, PackagerError};
use super::flv::{AudioCodec, VideoCodec};

/// Video timescale: 90 kHz, so an MPEG-TS source's PTS/DTS fit without rounding.
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// One track's decoder configuration and what is derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackConfig {
    /// The bytes of the sequence header as received: two configurations are the same when
    /// these are (an encoder repeating its headers changes nothing).
    pub record: Bytes,
    /// The sample entry.
    pub codec: Codec,
    /// Media timescale (90 kHz video; the sample rate for audio).
    pub timescale: u32,
    /// Audio: samples per frame when fixed (AAC: 1024 or 960); `None` for Opus (per packet,
    /// from its TOC) and video.
    pub frame_samples: Option<u32>,
    /// Video width and height, if the sequence header could be read.
    pub size: Option<(u32, u32)>,
}

fn bad(media: Media, reason: impl Into<String>) -> PackagerError {
    PackagerError::BadConfig {
        media,
        reason: reason.into(),
    }
}

fn visual(size: Option<(u32, u32)>) -> mp4_atom::Visual {
    let (w, h) = size.unwrap_or((0, 0));
    mp4_atom::Visual {
        data_reference_index: 1,
        width: u16::try_from(w).unwrap_or(0),
        height: u16::try_from(h).unwrap_or(0),
        ..Default::default()
    }
}

impl TrackConfig {
    /// A video track from its sequence header.
    pub fn video(codec: VideoCodec, record: Bytes) -> Result<Self, PackagerError> {
        const M: Media = Media::Video;
        let err = |e: mp4_atom::Error| bad(M, format!("{}: {e}", codec.name()));
        let (entry, size) = match codec {
            VideoCodec::Avc => {
                let avcc = mp4_atom::Avcc::decode_body(&mut &record[..]).map_err(err)?;
                let size = avcc
                    .sequence_parameter_sets
                    .first()
                    .and_then(|sps| dims::h264_sps(sps));
                let entry = Codec::Avc1(mp4_atom::Avc1 {
                    visual: visual(size),
                    avcc,
                    ..Default::default()
                });
                (entry, size)
            }
            VideoCodec::Hevc => {
                let hvcc = mp4_atom::Hvcc::decode_body(&mut &record[..]).map_err(err)?;
                let size = hvcc
                    .arrays
                    .iter()
                    .filter(|a| a.nal_unit_type == 33)
                    .flat_map(|a| a.nalus.first())
                    .find_map(|sps| dims::hevc_sps(sps));
                let entry = Codec::Hvc1(mp4_atom::Hvc1 {
                    visual: visual(size),
                    hvcc,
                    ..Default::default()
                });
                (entry, size)
            }
            VideoCodec::Av1 => {
                let av1c = mp4_atom::Av1c::decode_body(&mut &record[..]).map_err(err)?;
                let size = dims::av1_config_obus(&av1c.config_obus);
                let entry = Codec::Av01(mp4_atom::Av01 {
                    visual: visual(size),
                    av1c,
                    ..Default::default()
                });
                (entry, size)
            }
        };
        Ok(Self {
            record,
            codec: entry,
            timescale: VIDEO_TIMESCALE,
            frame_samples: None,
            size,
        })
    }

    /// An audio track from its sequence header.
    pub fn audio(codec: AudioCodec, record: Bytes) -> Result<Self, PackagerError> {
        match codec {
            AudioCodec::Aac => Self::aac(record),
            AudioCodec::Opus => Self::opus(record),
        }
    }

    /// AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1): object type, sampling frequency
    /// (index or explicit 24-bit), channel configuration, then GASpecificConfig's
    /// frameLengthFlag (960 instead of 1024 samples per frame).
    fn aac(record: Bytes) -> Result<Self, PackagerError> {
        const M: Media = Media::Audio;
        const RATES: [u32; 13] = [
            96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
        ];
        let mut bits = 0u64;
        for (i, &b) in record.iter().take(8).enumerate() {
            bits |= u64::from(b) << (56 - 8 * i);
        }
        let mut pos = 0;
        let mut take = |n: u32| {
            let v = (bits << pos) >> (64 - n);
            pos += n;
            v as u32
        };
        if record.len() < 2 {
            return Err(bad(M, "AudioSpecificConfig shorter than 2 bytes"));
        }
        let mut object_type = take(5);
        if object_type == 31 {
            object_type = 32 + take(6);
        }
        let index = take(4);
        let rate = if index == 15 {
            if record.len() < 5 {
                return Err(bad(M, "explicit sampling frequency cut short"));
            }
            take(24)
        } else {
            *RATES
                .get(index as usize)
                .ok_or_else(|| bad(M, format!("samplingFrequencyIndex {index}")))?
        };
        let channels = take(4);
        // GASpecificConfig follows for the general audio object types (AAC LC/Main/SSR/LTP,
        // scalable); for SBR/PS (5, 29) the core's follows after the extension fields, and
        // its frames are 1024 core samples too.
        let frame_length_flag = matches!(object_type, 1..=4 | 6 | 7 | 17 | 19..=23) && take(1) == 1;
        if rate == 0 {
            return Err(bad(M, "sampling frequency 0"));
        }
        let dec_specific = mp4_atom::esds::DecoderSpecific {
            profile: object_type.min(255) as u8,
            freq_index: index as u8,
            chan_conf: channels as u8,
            raw: record.to_vec(),
        };
        let esds = mp4_atom::Esds {
            es_desc: mp4_atom::esds::EsDescriptor {
                es_id: 1,
                dec_config: mp4_atom::esds::DecoderConfig {
                    object_type_indication: 0x40,
                    stream_type: 5,
                    up_stream: 0,
                    dec_specific: Some(dec_specific),
                    ..Default::default()
                },
                ..Default::default()
            },
        };
        let entry = Codec::Mp4a(mp4_atom::Mp4a {
            audio: audio_entry(channels.max(1), rate),
            esds,
            btrt: None,
            taic: None,
        });
        Ok(Self {
            record,
            codec: entry,
            timescale: rate,
            frame_samples: Some(if frame_length_flag { 960 } else { 1024 }),
            size: None,
        })
    }

    /// OpusHead (RFC 7845 §5.1, little-endian) into `dOps` (Opus in ISOBMFF §4.3.2,
    /// big-endian). The timescale is 48 kHz whatever the input rate (RFC 7845 §4).
    fn opus(record: Bytes) -> Result<Self, PackagerError> {
        const M: Media = Media::Audio;
        let h = &record[..];
        if h.len() < 19 || &h[..8] != b"OpusHead" {
            return Err(bad(M, "Opus sequence header is not an OpusHead"));
        }
        let channels = h[9];
        let family = h[18];
        let channel_mapping = if family != 0 {
            let table = h
                .get(19..21 + usize::from(channels))
                .ok_or_else(|| bad(M, "OpusHead channel mapping table cut short"))?;
            Some(mp4_atom::OpusChannelMapping {
                family,
                stream_count: table[0],
                coupled_count: table[1],
                channel_mapping: table[2..].to_vec(),
            })
        } else {
            None
        };
        let dops = mp4_atom::Dops {
            output_channel_count: channels,
            pre_skip: u16::from_le_bytes([h[10], h[11]]),
            input_sample_rate: u32::from_le_bytes([h[12], h[13], h[14], h[15]]),
            output_gain: i16::from_le_bytes([h[16], h[17]]),
            channel_mapping,
        };
        let entry = Codec::Opus(mp4_atom::Opus {
            audio: audio_entry(u32::from(channels.max(1)), 48_000),
            dops,
            btrt: None,
        });
        Ok(Self {
            record,
            codec: entry,
            timescale: 48_000,
            frame_samples: None,
            size: None,
        })
    }
}

fn audio_entry(channels: u32, rate: u32) -> mp4_atom::Audio {
    mp4_atom::Audio {
        data_reference_index: 1,
        channel_count: channels.min(u32::from(u16::MAX)) as u16,
        sample_size: 16,
        // 16.16 fixed point: rates above 65535 do not fit (the mdhd timescale is the truth).
        sample_rate: mp4_atom::FixedPoint::new(rate.min(65535) as u16, 0),
    }
}

/// Samples (at 48 kHz) in an Opus packet, from its TOC byte and frame count (RFC 6716
/// §3.1): `None` for an empty or malformed packet.
pub fn opus_packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes in units of 2.5 ms (120 samples at 48 kHz).
    let units = match config {
        0..=11 => [4, 8, 16, 24][usize::from(config % 4)],
        12..=15 => [4, 8][usize::from(config % 2)],
        _ => [1, 2, 4, 8][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let samples = units * 120 * frames;
    // At most 120 ms per packet (§3.2.5).
    (samples > 0 && samples <= 5760).then_some(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_lc_44100_stereo() {
        let t = TrackConfig::audio(AudioCodec::Aac, Bytes::from_static(&[0x12, 0x10])).unwrap();
        assert_eq!(t.timescale, 44100);
        assert_eq!(t.frame_samples, Some(1024));
        let t = TrackConfig::audio(AudioCodec::Aac, Bytes::from_static(&[0x12, 0x14])).unwrap();
        assert_eq!(t.frame_samples, Some(960));
        assert!(TrackConfig::audio(AudioCodec::Aac, Bytes::from_static(&[0x12])).is_err());
        // samplingFrequencyIndex 13 is reserved.
        assert!(TrackConfig::audio(AudioCodec::Aac, Bytes::from_static(&[0x16, 0x90])).is_err());
    }

    #[test]
    fn opus_head_and_toc() {
        let mut head = b"OpusHead".to_vec();
        head.extend([1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        let t = TrackConfig::audio(AudioCodec::Opus, Bytes::from(head)).unwrap();
        assert_eq!(t.timescale, 48_000);
        let mp4_atom::Codec::Opus(o) = &t.codec else {
            panic!("not Opus")
        };
        assert_eq!(o.dops.pre_skip, 312);
        assert_eq!(o.dops.input_sample_rate, 48_000);
        assert!(TrackConfig::audio(AudioCodec::Opus, Bytes::from_static(b"OpusHea")).is_err());
        // CELT 20 ms, one frame; SILK 60 ms two frames; code 3 with 3 frames of 10 ms.
        assert_eq!(opus_packet_samples(&[0xf8]), Some(960));
        assert_eq!(opus_packet_samples(&[(3 << 3) | 1]), Some(5760));
        assert_eq!(opus_packet_samples(&[(18 << 3) | 3, 3]), Some(1440));
        assert_eq!(opus_packet_samples(&[(18 << 3) | 3, 0]), None);
        assert_eq!(opus_packet_samples(&[]), None);
    }

    #[test]
    fn bad_video_records_are_typed_errors() {
        for codec in [VideoCodec::Avc, VideoCodec::Hevc, VideoCodec::Av1] {
            assert!(matches!(
                TrackConfig::video(codec, Bytes::from_static(&[1])),
                Err(PackagerError::BadConfig { .. })
            ));
        }
    }
}

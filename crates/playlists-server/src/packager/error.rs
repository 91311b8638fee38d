//! [`PackagerError`]: every reason the packager (or the MPEG-TS demuxer in front of it)
//! refuses its input. All of them are the sender's fault (the source refuses the stream and
//! cuts the peer off); after one the packager is spent. Losses in an MPEG-TS stream are not
//! errors: the demuxer discards what they hit and goes on.

/// Which stream a message belongs to, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// An RTMP video message (type 9), or the MPEG-TS video stream.
    Video,
    /// An RTMP audio message (type 8), or the MPEG-TS audio stream.
    Audio,
}

impl std::fmt::Display for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Media::Video => "video",
            Media::Audio => "audio",
        })
    }
}

/// Why the packager refused a message. Every variant is bad input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackagerError {
    /// A tag body is shorter than its header says, or a field has a value the format does
    /// not allow.
    #[error("malformed {media} tag: {reason}")]
    Malformed {
        /// The message's stream.
        media: Media,
        /// What is wrong.
        reason: String,
    },
    /// A codec the packager does not write into CMAF (a legacy FLV codec id other than
    /// H.264/AAC, an Enhanced RTMP FourCC other than `avc1`/`hvc1`/`av01`/`Opus`/`mp4a`, or
    /// a packet type it cannot carry).
    #[error("unsupported {media} codec or packet type: {what}")]
    Unsupported {
        /// The message's stream.
        media: Media,
        /// The codec id, FourCC or packet type.
        what: String,
    },
    /// A decoder configuration record (`avcC`, `hvcC`, `av1C`, AudioSpecificConfig,
    /// OpusHead) that cannot be read.
    #[error("bad {media} decoder configuration: {reason}")]
    BadConfig {
        /// The message's stream.
        media: Media,
        /// What is wrong.
        reason: String,
    },
    /// A message body larger than [`PackagerConfig::max_frame_bytes`](super::PackagerConfig).
    #[error("{media} frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// The message's stream.
        media: Media,
        /// The body's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Video decode timestamps stepped backwards by less than a restart would, or did not
    /// advance (an encoder whose DTS are not strictly increasing: the frames cannot be
    /// ordered or would last 0).
    #[error("{media} timestamps did not advance (went back by {by_ms} ms)")]
    TimestampsBackwards {
        /// The message's stream.
        media: Media,
        /// How far back.
        by_ms: u64,
    },
    /// A coded frame arrived after its codec's sequence header announced another codec, or
    /// before any sequence header (for codecs that need one).
    #[error("{media} frame of codec {codec} without its sequence header")]
    NoConfig {
        /// The message's stream.
        media: Media,
        /// The frame's codec.
        codec: &'static str,
    },
    /// MPEG-TS input with no transport packet (sync byte 0x47 every 188 bytes) in this many
    /// bytes: the peer is not sending a transport stream.
    #[error("no MPEG-TS packet in {skipped} bytes")]
    NotTransportStream {
        /// Bytes skipped looking for packet sync.
        skipped: usize,
    },
    /// Called again after an error or after [`Packager::finish`](super::Packager::finish).
    #[error("the packager is spent (an earlier error, or finish)")]
    Spent,
}

//! [`Fmp4Error`]: everything the splitter refuses, and the [`Limits`] it enforces.

use crate::fmp4::boxes::{FourCC, Malformed};

/// Size limits of the splitter. Each bounds how much it buffers for one unit, so a hostile or
/// broken encoder cannot make it allocate more (a memory exhaustion attack: a 4-byte size
/// field can announce 4 GiB, and a `largesize` 16 EiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest box other than `mdat` (a `moof`, `moov`, `styp`, …). Default 4 MiB: a moof of a
    /// 10 s fragment of 120 fps video is under 30 KiB.
    pub max_box_size: u64,
    /// Largest part: the `moof`+`mdat` and the boxes before it. Default 32 MiB (a 2 s
    /// fragment at 100 Mbit/s is 25 MiB).
    pub max_part_size: u64,
    /// Largest init section (`ftyp`+`moov` and what precedes it). Default 1 MiB; ffmpeg's
    /// are about 1 KiB.
    pub max_init_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_box_size: 4 << 20,
            max_part_size: 32 << 20,
            max_init_size: 1 << 20,
        }
    }
}

/// Why a byte stream cannot be split into an init section and parts. Offsets count bytes
/// from the start of the stream, so a log line points at the culprit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Fmp4Error {
    /// The bytes at a box boundary do not start with a box type (an MPEG-TS packet, text, …).
    #[error("byte {offset}: not an ISO BMFF box (type {fourcc}); is the input fragmented MP4?")]
    NotIsoBmff {
        /// Stream offset of the would-be header.
        offset: u64,
        /// The four bytes where the box type should be.
        fourcc: FourCC,
    },
    /// A top-level box with `size == 0` ("to the end of the file"): a live stream has no end.
    #[error("byte {offset}: {fourcc} has size 0 (extends to end of file), which a live stream cannot use")]
    SizeToEnd {
        /// Stream offset of the box.
        offset: u64,
        /// The box type.
        fourcc: FourCC,
    },
    /// A size smaller than the box header (1–7, or a `largesize` under 16).
    #[error("byte {offset}: {fourcc} declares size {size}, smaller than its own header")]
    BoxTooSmall {
        /// Stream offset of the box.
        offset: u64,
        /// The box type.
        fourcc: FourCC,
        /// The declared size.
        size: u64,
    },
    /// A non-`mdat` box above [`Limits::max_box_size`].
    #[error("byte {offset}: {fourcc} declares {size} bytes, above the {limit}-byte box limit")]
    BoxTooLarge {
        /// Stream offset of the box.
        offset: u64,
        /// The box type.
        fourcc: FourCC,
        /// The declared size.
        size: u64,
        /// [`Limits::max_box_size`].
        limit: u64,
    },
    /// A part above [`Limits::max_part_size`].
    #[error(
        "byte {offset}: part would be at least {size} bytes, above the {limit}-byte part limit"
    )]
    PartTooLarge {
        /// Stream offset of the part's first byte.
        offset: u64,
        /// Its size so far, with the box that broke the limit.
        size: u64,
        /// [`Limits::max_part_size`].
        limit: u64,
    },
    /// An init section above [`Limits::max_init_size`].
    #[error(
        "byte {offset}: init section would be {size} bytes, above the {limit}-byte init limit"
    )]
    InitTooLarge {
        /// Stream offset of the init section's first byte.
        offset: u64,
        /// Its size with the moov.
        size: u64,
        /// [`Limits::max_init_size`].
        limit: u64,
    },
    /// A `moof` arrived before any `moov`: there is no track to interpret it with.
    #[error("byte {offset}: moof before any moov; the stream must start with its init section (ftyp+moov)")]
    MoofBeforeMoov {
        /// Stream offset of the moof.
        offset: u64,
    },
    /// An `mdat` with no `moof` right before it.
    #[error("byte {offset}: mdat without a moof before it; is the input fragmented MP4 (-movflags frag_keyframe+empty_moov)?")]
    MdatWithoutMoof {
        /// Stream offset of the mdat.
        offset: u64,
    },
    /// A box other than `mdat` right after a `moof` (CMAF: a fragment is `moof` then `mdat`).
    #[error("byte {offset}: expected mdat after moof, found {found}")]
    ExpectedMdat {
        /// Stream offset of the offending box.
        offset: u64,
        /// Its type.
        found: FourCC,
    },
    /// The input ended inside a box.
    #[error("byte {offset}: input ended inside a box ({pending} bytes of an unfinished unit)")]
    Truncated {
        /// Stream offset of the unfinished unit.
        offset: u64,
        /// Bytes of it received.
        pending: u64,
    },
    /// A `moov` or `moof` whose content cannot be read.
    #[error("byte {offset}: {source}")]
    Malformed {
        /// Stream offset of the top-level box (moov/moof) that holds the error.
        offset: u64,
        /// What is wrong, and in which box.
        #[source]
        source: Malformed,
    },
    /// An earlier error ended this splitter; it accepts no more input.
    #[error("the stream already failed; no more input is accepted")]
    Failed,
}

impl Fmp4Error {
    /// Whether the error is a size limit ([`Limits`]) rather than malformed input: an HTTP
    /// server answers 413 for these and 400 for the rest.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            Self::BoxTooLarge { .. } | Self::PartTooLarge { .. } | Self::InitTooLarge { .. }
        )
    }
}

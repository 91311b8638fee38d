//! Fragmented MP4 (ISO/IEC 14496-12, CMAF ISO/IEC 23000-19) as encoders send it: split a
//! byte stream into the init section and parts, and read what the playlist needs of each.
//!
//! ```text
//!  bytes in any chunking ──▶ Splitter ──▶ Unit::Init(Movie)        playlists::Init (bytes,
//!                            (boxes.rs:                            CODECS, RESOLUTION,
//!                             headers only)                        FRAME-RATE) + tracks
//!                                                                  (init.rs, codecs.rs)
//!                                       └▶ Unit::Fragment(Fragment) bytes + PartTiming
//!                                                                  (duration, decode time,
//!                                                                  INDEPENDENT; fragment.rs)
//! ```
//!
//! * [`boxes`] — the zero-copy box walker and bounds-checked field reader, and which boxes
//!   are decoded with mp4-atom (those without children) and why the rest is not.
//! * [`splitter`] — where the stream is cut, zero-copy, within [`Limits`].
//! * [`init`] / [`codecs`] — the `moov`: tracks, `trex` defaults, RFC 6381 codec strings.
//! * [`fragment`] — the `moof`: `tfhd`/`tfdt`/`trun`, with `trex` fallbacks.
//! * [`has_brand`] — a segment's `styp` brands (DASH-IF `lmsg`).
//! * [`rewrite`] — patching `mfhd`/`tfdt` in place (the demo's endless loop).
//!
//! In a muxed stream (one `moof`, one `traf` per track) the first video track decides a
//! part's duration, decode time and independence; see [`Movie::primary`].

pub mod boxes;
mod brands;
pub mod codecs;
mod error;
pub mod fragment;
pub mod init;
pub mod rewrite;
pub mod splitter;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

pub use boxes::{FourCC, Malformed};
pub use brands::has_brand;
pub use error::{Fmp4Error, Limits};
pub use fragment::{Fragment, TrackRun};
pub use init::{Movie, SampleDefaults, Track, TrackKind};
pub use splitter::{Splitter, Unit};

/// Splits a whole fMP4 file (or a recorded stream) at once: its init sections and parts, in
/// order. Convenience for tests, tools and the demo clip.
pub fn split_all(bytes: bytes::Bytes, limits: Limits) -> Result<Vec<Unit>, Fmp4Error> {
    let mut splitter = Splitter::new(limits);
    let events = splitter.push(bytes)?;
    splitter.finish()?;
    Ok(events)
}

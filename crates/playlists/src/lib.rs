//! # Playlists — the core of an LL-HLS origin
//!
//! An encoder's parts (CMAF chunks) come in; LL-HLS playlists, parts, segments and init
//! sections go out, with sub-second freshness. This crate holds everything between the two
//! and nothing of HTTP, sockets or files, so it can sit inside any server.
//!
//! ```text
//!  source ──Part──▶ Playlists::add ──▶ ChunkCache     part bytes: a fixed ring of slots per stream
//!                                  ├─▶ M3u8Manifest   rolls parts into segments, renders §4.4 playlists
//!                                  ├─▶ M3u8Cache      every rendered version, gzip'd once
//!                                  └─▶ wait::Event    wakes every request blocked on the stream
//!  server ◀── StreamRef::{wait_playlist, wait_part, segment, init} ◀── the same caches
//! ```
//!
//! * [`ChunkCache`] — `num_playlists × max_segments × max_parts_per_segment` slots allocated
//!   once; a stream's ring is written (and so takes memory) when a stream first uses it,
//!   so unused capacity is only address space. `get` returns exactly the bytes stored under an id or nothing; reads clone a
//!   [`bytes::Bytes`] (a reference count, never the payload); `last()` is one atomic load;
//!   streams never share a lock. It stores opaque bytes and is usable on its own.
//! * [`M3u8Manifest`] — the LL-HLS media playlist of one stream (RFC 8216bis §4.4, kept to the
//!   rules of [`docs/conformance.md`][conformance]), deterministic: the same parts give the
//!   same bytes on any machine.
//! * [`M3u8Cache`] — recent playlist versions keyed by the position of their newest part, so a
//!   blocking request `_HLS_msn=M&_HLS_part=P` always gets the same bytes.
//! * [`Playlists`] — the registry: stream names → slots, publishing, ending, listing. It
//!   releases a stream's parts from the ring as soon as their segment is past its
//!   availability (§6.2.2), so a stream's memory follows its window, not the ring's size.
//! * [`wait::Event`] — the wait primitive: thousands of tasks await one publish, no polling.
//! * [`gzip::gzip`] — the one gzip of every playlist, at the level and ratio its docs give.
//!
//! Everything is sized by [`Options`] and validated once; every refusal is an [`Error`].
//!
//! ## Conformance
//!
//! [`docs/conformance.md`][conformance] lists every server rule of draft-pantos-hls-rfc8216bis-22
//! this crate and the server rely on, each with an id (R1 … R34), its section and level, how it
//! is met, and the tests that check it. Comments cite a rule by section and id, e.g.
//! `§6.2.5.2 [docs/conformance.md R7]`.
//!
//! [conformance]: https://github.com/playlists-origin/playlists/blob/main/docs/conformance.md
//!
//! ## Example
//!
//! ```
//! use bytes::Bytes;
//! use playlists::{Init, Options, Part, PartTiming, Playlists};
//!
//! # fn main() -> Result<(), playlists::Error> {
//! let playlists = Playlists::new(Options::default())?;
//! let init = Init {
//!     bytes: Bytes::from_static(b"ftyp+moov bytes from the encoder"),
//!     codecs: "avc1.64001f".to_owned(),
//!     resolution: Some((640, 360)),
//!     frame_rate: Some(30.0),
//!     video: true,
//!     audio: None,
//! };
//! // Twelve 200 ms parts (timescale 1000), a keyframe every fifth. The first playlist is
//! // published when the first segment closes (at the key frame of part 10): the stream's
//! // TARGETDURATION is measured from it (`TargetDuration::Measured`, the default).
//! for i in 0..12u64 {
//!     playlists.add("cam1", Part {
//!         bytes: Bytes::from(vec![0u8; 1500]),
//!         timing: PartTiming {
//!             duration: 200,
//!             timescale: 1000,
//!             decode_time: i * 200,
//!             independent: i % 5 == 0,
//!             wallclock_ms: Some(1_700_000_000_000),
//!         },
//!         init: Some(init.clone()),
//!     })?;
//! }
//! let cam1 = playlists.stream("cam1").expect("registered by add");
//! let playlist = cam1.playlist().expect("one version per part since the first segment");
//! assert!(playlist.full.plain.starts_with(b"#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n"));
//! // The part bytes are served from the ring without a copy. (Numbers start from the first
//! // sample's date, `Numbering::WallClock`: a stream started again after an origin restart
//! // numbers above its previous run.)
//! let newest = cam1.part_at(playlist.position).expect("still kept");
//! assert_eq!(newest.bytes.len(), 1500);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod chunk_cache;
mod error;
pub mod gzip;
mod hash;
pub mod m3u8_cache;
pub mod manifest;
mod options;
mod registry;
mod sync;
pub mod uri_query;
pub mod wait;

pub use chunk_cache::{Chunk, ChunkCache, StreamIdx};
pub use error::{Error, Result};
pub use hash::xxh3_64;
pub use m3u8_cache::{FullPlaylist, M3u8Cache, PlaylistVersion, Rendered};
pub use manifest::{
    render_multivariant, AudioRendition, Bandwidth, M3u8Manifest, PartMeta, PartPosition,
    PartTiming, RenditionReport, SegmentParts, Skip, Variant,
};
pub use options::{Numbering, Options, TargetDuration, MAX_MEASURED_TARGET_DURATION_S};
pub use registry::{
    advance_part_limit, group_of, rendition_of, AudioTrack, BlockingRequest, CompletedSegment,
    Init, Part, Playlists, Segment, SegmentObserver, StreamRef, StreamStatus,
};
pub use uri_query::{append_query, append_query_except, UriQuery};
pub use wait::{Event, Listener};

//! The ingest layer: every way a stream gets in, beside delivery and independent of it.
//!
//! ```text
//!  sources (adapters)                           the layer                             library
//!  http/ingest.rs    PUT/POST /ingest/… ─┐ ChunkSource
//!  sources/stdin.rs  `playlists ingest` ─┴─▶ feed() ─┐
//!  sources/demo.rs   looped clip, paced ─────────────┤─▶ IngestSession ─▶ fmp4 split ─▶ Playlists::add
//!  sources/rtmp/     RTMP → packager (FLV → CMAF) ───┘
//!                                                          │  parts copied into the PartStore
//!                                                          ▼
//!                      Ingests: one encoder per stream, takeover, reconnect grace →
//!                      EXT-X-ENDLIST, access (token, publish keys, slowdown of failures),
//!                      publish-delay histograms
//! ```
//!
//! The binary builds the [`Playlists`](playlists::Playlists) registry, the
//! [`PartStore`](crate::part_store::PartStore) and the [`Ingests`] and hands them to delivery
//! and to every source. A source is a small adapter: it turns its protocol into a
//! [`ChunkSource`] (bytes of an fMP4 stream, in any cut) and calls [`feed`], or pushes into
//! an [`IngestSession`] itself (the demo, which paces parts in real time). Everything else —
//! one encoder per stream, a silent encoder's takeover, the reconnect grace period and the
//! EXT-X-ENDLIST after it, who may publish ([`Credentials`]: the ingest token and the
//! per-stream publish keys, with failed attempts counted and slowed down per address,
//! [`Ingests::admit`]), the parser's size limits, the copy into part
//! storage — is the layer's, shared by every source. A transport (RTMP; SRT, DASH-IF next)
//! is one more adapter in `sources/` and a listener in the binary; nothing in `http/`
//! changes for it.
//!
//! DASH-IF Live Media Ingest (Interface-1, CMAF ingest; `http/cmaf_ingest.rs`) is an HTTP
//! adapter with one thing of its own here: redundant encoders ([`Ownership::Redundant`]).
//! Two encoders may push the same track at once; the stream publishes each fragment once,
//! the first copy past what it holds, so that either encoder dying costs nothing
//! (see [`Ingests`]).
//!
//! Encoders drop and reconnect. When a session ends, the stream stays live for a grace period
//! ([`IngestConfig::grace`]); a new session on the same name within it continues the stream
//! (the media sequence keeps counting, and the library's playlist builder marks
//! EXT-X-DISCONTINUITY where the timestamps jump or the init section changes). After the
//! grace period the stream gets EXT-X-ENDLIST.
//!
//! Every stream's media timeline is put on the wall clock ([`Restamp`], unless
//! [`IngestConfig::restamp`] is off): a stream that starts again, after an encoder restart or
//! the origin's own, continues after its old timestamps rather than at the encoder's 0, which
//! players that kept playing need (docs/conformance.md R34). The renditions of a group share
//! one anchor ([`GroupAnchor`]), so they keep the timeline they line up on (R26).
//!
//! Malformed input ends only its own session, with an [`IngestError`] that says why; what the
//! stream already published stays served, and other streams never notice.

mod access;
mod config;
mod error;
mod failures;
mod feed;
mod playlist_type;
mod publish_delay;
mod restamp;
mod session;
mod sessions;
pub mod sources;

pub(crate) use access::{decode_hex, push_hex};
pub use access::{
    publish_key, token_from_query, validate_scope, Credentials, Secret, RESERVED_GROUP,
    RESERVED_GROUPS,
};
pub use config::IngestConfig;
pub use error::{IngestError, IngestErrorKind};
pub use failures::{
    delay_after, AuthFailures, FIRST_DELAY, FREE_FAILURES, MAX_ADDRESSES, MAX_DELAY,
};
pub use feed::{feed, ChunkSource};
pub use playlist_type::event_from_query;
pub use publish_delay::{PublishDelay, PublishDelaySnapshot, PUBLISH_DELAY_BUCKETS_US};
pub use restamp::{GroupAnchor, Restamp};
pub use session::IngestSession;
pub use sessions::{Access, Ingests, Ownership};
pub use sources::stdin::ingest_reader;

//! The sources of the ingest layer, each a small adapter from its transport to an
//! [`IngestSession`](super::IngestSession).
//!
//! | source | adapter | how it gets in |
//! |---|---|---|
//! | HTTP `PUT`/`POST /ingest/{stream}` | `http/ingest.rs` (routed by delivery, which owns the port) | request body → [`ChunkSource`](super::ChunkSource) → [`feed`](super::feed), `Access::Remote` with the bearer token |
//! | stdin (`playlists ingest --stream S`) | [`stdin`] | any `AsyncRead` → [`feed`](super::feed), `Access::Local` |
//! | the built-in demo | [`demo`] | a looped clip, pushed part by part in real time, `Access::Local` |
//! | RTMP (`--rtmp-listen`; OBS, ffmpeg) | [`rtmp`] | a listener of its own: FLV audio and video messages → the packager → [`IngestSession`](super::IngestSession), `Access::Remote` with the stream key's `?token=` |
//! | SRT (`--srt-listen`; OBS, vMix, ffmpeg) | [`srt`] | a UDP listener of its own: MPEG-TS payloads → the TS demuxer → [`IngestSession`](super::IngestSession), `Access::Remote` with the stream id's `?token=` |
//!
//! | DASH-IF CMAF ingest `POST /ingest/{pp}/Streams({track})` | `http/ingest/cmaf.rs` (delivery's port, like HTTP ingest) | one long-running request per track, or one per segment → [`feed`](super::feed); redundant encoders share a track |
//!
//! A listener of its own (RTMP, SRT) is one more module here, started by the binary with the
//! shared [`Ingests`](super::Ingests) and [`Shutdown`](crate::shutdown::Shutdown); what both
//! listeners do alike is shared: a connection's byte-rate cap ([`rate`]) and the gauges of
//! open connections and publishers ([`gauge`]).

pub mod demo;
pub mod gauge;
pub mod rate;
pub mod rtmp;
pub mod srt;
pub mod stdin;

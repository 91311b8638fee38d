//! The route label of the request counters: which kind of resource a request asked for.
//!
//! A module of its own so that the router (which classifies every request) and the metrics
//! (which keep one counter row per kind) both depend on it and not on each other.

/// The route label of the request counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum RouteKind {
    /// `/`.
    Page,
    /// `/assets/...`.
    Asset,
    /// `/healthz`.
    Healthz,
    /// `/metrics`.
    Metrics,
    /// `/playback-check`.
    PlaybackCheck,
    /// A media playlist without `_HLS_msn`.
    Playlist,
    /// A media playlist with `_HLS_msn` (a blocking reload).
    BlockingPlaylist,
    /// A multivariant playlist.
    Multivariant,
    /// An init section.
    Init,
    /// A segment.
    Segment,
    /// A part.
    Part,
    /// `/recordings` and everything under it.
    Recording,
    /// `PUT`/`POST /ingest/...`.
    Ingest,
    /// `OPTIONS` (CORS preflight).
    Preflight,
    /// Unknown paths and methods.
    Other,
}

impl RouteKind {
    /// Every kind, in index order.
    pub const ALL: [RouteKind; 15] = [
        Self::Page,
        Self::Asset,
        Self::Healthz,
        Self::Metrics,
        Self::PlaybackCheck,
        Self::Playlist,
        Self::BlockingPlaylist,
        Self::Multivariant,
        Self::Init,
        Self::Segment,
        Self::Part,
        Self::Recording,
        Self::Ingest,
        Self::Preflight,
        Self::Other,
    ];

    /// The `route` label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Asset => "asset",
            Self::Healthz => "healthz",
            Self::Metrics => "metrics",
            Self::PlaybackCheck => "playback_check",
            Self::Playlist => "playlist",
            Self::BlockingPlaylist => "blocking_playlist",
            Self::Multivariant => "multivariant",
            Self::Init => "init",
            Self::Segment => "segment",
            Self::Part => "part",
            Self::Recording => "recording",
            Self::Ingest => "ingest",
            Self::Preflight => "preflight",
            Self::Other => "other",
        }
    }
}

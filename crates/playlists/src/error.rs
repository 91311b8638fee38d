//! The one error type of the library.

use std::time::Duration;

/// Everything the library can refuse, each variant carrying the context a caller needs to
/// turn it into a log line or an HTTP status without guessing.
///
/// The library never panics on input; every rejected call returns one of these and leaves
/// what was already stored untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An [`Options`](crate::Options) field is zero, out of range or inconsistent.
    #[error("invalid option `{name}` = {value}: {reason}")]
    InvalidOption {
        /// The field's name, as spelled in [`Options`](crate::Options).
        name: &'static str,
        /// The rejected value, rendered.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Every one of the `num_playlists` stream slots is held by a live stream.
    #[error("all {capacity} stream slots are in use; finish a stream before starting `{name}`")]
    StreamsExhausted {
        /// The stream that could not be registered.
        name: String,
        /// `num_playlists`.
        capacity: usize,
    },
    /// A stream name is empty, too long or contains characters that cannot appear in a URL path
    /// segment.
    #[error("invalid stream name {name:?}: {reason}")]
    InvalidStreamName {
        /// The rejected name (lossy, truncated to 64 characters).
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// No live stream has this name.
    #[error("unknown stream `{0}`")]
    UnknownStream(String),
    /// The stream handle is out of range or names a stream that has since been finished (its
    /// slot may already hold another stream).
    #[error("stale or out-of-range stream handle (index {index}, generation {generation})")]
    StaleStream {
        /// The handle's slot index.
        index: usize,
        /// The handle's generation.
        generation: u32,
    },
    /// The stream has been finished; it accepts no more data.
    #[error("stream `{0}` is finished")]
    StreamFinished(String),
    /// An id that is already stored was written again. Ids are immutable once published, so
    /// that an id, its bytes and its hash (the HTTP ETag) always agree.
    #[error("id {id} is already published on this stream")]
    DuplicateId {
        /// The rejected id.
        id: u64,
    },
    /// An id so far behind the newest one that its ring slot now belongs to a newer id.
    #[error("id {id} is older than the ring holds (newest {last}, capacity {capacity})")]
    IdTooOld {
        /// The rejected id.
        id: u64,
        /// The newest id on the stream.
        last: u64,
        /// Slots per stream.
        capacity: usize,
    },
    /// An id below the stream's release floor (see
    /// [`ChunkCache::release_below`](crate::ChunkCache::release_below)): no longer kept.
    #[error("id {id} was released (ids below {floor} are no longer kept)")]
    IdReleased {
        /// The rejected id.
        id: u64,
        /// The stream's release floor.
        floor: u64,
    },
    /// The id space of a stream is exhausted (`u64::MAX` is reserved).
    #[error("id {0} is out of range")]
    IdOutOfRange(u64),
    /// A part that the playlist builder cannot accept (zero duration, zero timescale, …).
    #[error("invalid part: {0}")]
    InvalidPart(String),
    /// The first part of a stream came without an init section, so no EXT-X-MAP could name one.
    #[error("stream `{0}` has no init section; its first part must carry one")]
    MissingInit(String),
    /// `_HLS_msn` is more than two segments past the newest one (§6.2.5.2).
    #[error("_HLS_msn={requested} is beyond the last media sequence number {last} + 2")]
    MsnTooFar {
        /// The requested media sequence number.
        requested: u64,
        /// The newest media sequence number of the playlist.
        last: u64,
    },
    /// `_HLS_part` is further ahead of the newest part than the Advance Part Limit (§6.2.5.2).
    #[error("_HLS_part={requested} of msn {msn} is {ahead} parts ahead; the advance part limit is {limit}")]
    PartTooFar {
        /// The requested media sequence number.
        msn: u64,
        /// The requested part index.
        requested: u32,
        /// How many parts past the newest one it lies.
        ahead: u64,
        /// The Advance Part Limit.
        limit: u64,
    },
    /// A wait ended at its deadline before the awaited position was published.
    #[error("timed out after {0:?} waiting for the stream to reach the requested position")]
    WaitTimeout(Duration),
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

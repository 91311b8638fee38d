//! Ingest: an encoder's fMP4 byte stream → parts published on a [`Playlists`] stream.
//!
//! Every source (HTTP `PUT`/`POST /ingest/…`, stdin, the demo) goes through an
//! [`IngestSession`]: bytes in whatever chunks the transport delivers are split into the init
//! section and `moof`+`mdat` fragments ([`Splitter`]), and each fragment becomes one part.
//!
//! Encoders drop and reconnect. When a session ends, the stream stays live for a grace period
//! ([`IngestConfig::grace`]); a new session on the same name within it continues the stream
//! (the media sequence keeps counting, and the library's playlist builder marks
//! EXT-X-DISCONTINUITY where the timestamps jump or the init section changes, so an init
//! section can only change with a discontinuity). After the grace period the stream gets
//! EXT-X-ENDLIST.
//!
//! One encoder per stream: a second connection is refused ([`IngestError::Busy`]) while the
//! first delivers data, but takes over when the first has been silent for
//! [`IngestConfig::takeover_after`] — a connection whose encoder vanished without a TCP reset
//! must not lock its stream out until the kernel notices. The replaced session's next call
//! fails with [`IngestError::Superseded`].
//!
//! Malformed input ends only its own session, with an [`IngestError`] that says why; what the
//! stream already published stays served, and other streams never notice (sessions share
//! nothing but the registry's name map, held for a few instructions at start and end).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use playlists::{Init, Part, Playlists};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use crate::fmp4::{Event, Fmp4Error, Fragment, InitSection, Limits, Splitter};
use crate::zero_copy::{ArenaOptions, ArenaWriter, PartArena};

/// How ingest behaves; shared by every source.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// How long a stream stays live after its encoder disconnects, waiting for a reconnect.
    /// Default 10 s.
    pub grace: Duration,
    /// How long a connected encoder may send nothing before a new connection for its stream
    /// replaces it. Default 3 s (fifteen 200 ms parts).
    pub takeover_after: Duration,
    /// Size limits for the fMP4 parser.
    pub limits: Limits,
    /// Where parts are stored: in an arena (shared memory by default, or a file, see
    /// [`ArenaOptions::dir`]) from which the HTTP layer sends them without copying, or on
    /// the heap (`None`, or when the system has no arena; see [`crate::zero_copy`]).
    pub arena: Option<ArenaOptions>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            takeover_after: Duration::from_secs(3),
            limits: Limits::default(),
            arena: Some(ArenaOptions::default()),
        }
    }
}

/// Why an ingest session ended early. [`IngestError::kind`] classifies it for a transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The byte stream is not fMP4 we can split, or breaks a size limit.
    #[error("stream `{stream}`: {source}")]
    Fmp4 {
        /// The stream being ingested.
        stream: String,
        /// What the parser found.
        #[source]
        source: Fmp4Error,
    },
    /// The library refused the part (invalid name, every stream slot busy, …).
    #[error("stream `{stream}`: {source}")]
    Publish {
        /// The stream being ingested.
        stream: String,
        /// What the library said.
        #[source]
        source: playlists::Error,
    },
    /// The name is valid for the library but cannot be served: its group is `ingest`, so its
    /// playlist and media paths would start with `/ingest/`, where encoders push.
    #[error("invalid stream name `{0}`: the group name `{RESERVED_GROUP}` is reserved for the ingest paths")]
    ReservedName(String),
    /// Another encoder is sending this stream and has sent data recently.
    #[error("stream `{0}` already has an encoder connected")]
    Busy(String),
    /// A newer connection took this stream over (this one had been silent too long).
    #[error("stream `{0}`: another encoder connection took the stream over")]
    Superseded(String),
    /// The session already failed; it accepts no more input.
    #[error("stream `{0}`: the session already ended with an error")]
    Closed(String),
    /// Reading the transport failed (a dropped connection, a read error on stdin).
    #[error("stream `{stream}`: reading the input failed: {reason}")]
    Read {
        /// The stream being ingested.
        stream: String,
        /// The transport's error, rendered.
        reason: String,
    },
}

/// The group name no ingested stream may have: `/ingest/…` paths are where encoders push, so
/// the playlist of a stream `ingest` or `ingest/x` could never be requested.
pub const RESERVED_GROUP: &str = "ingest";

/// What kind of failure an [`IngestError`] is, so a transport maps it to a status in one
/// place. The suggested HTTP status is given with each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestErrorKind {
    /// The input is malformed, or the stream name is invalid: 400.
    BadInput,
    /// The input breaks a size limit: 413.
    TooLarge,
    /// Another encoder holds the stream (or took it over): 409.
    Busy,
    /// The server cannot take another stream now (every slot holds a live stream): 503.
    Unavailable,
    /// The transport failed; the peer is probably gone and no answer will reach it.
    Transport,
    /// A bug or an inconsistent state in the server: 500.
    Internal,
}

impl IngestError {
    /// The class of this error (see [`IngestErrorKind`]).
    pub fn kind(&self) -> IngestErrorKind {
        use playlists::Error as E;
        match self {
            Self::Fmp4 { source, .. } if source.is_limit() => IngestErrorKind::TooLarge,
            Self::Fmp4 { .. } | Self::Closed(_) | Self::ReservedName(_) => {
                IngestErrorKind::BadInput
            }
            Self::Busy(_) | Self::Superseded(_) => IngestErrorKind::Busy,
            Self::Read { .. } => IngestErrorKind::Transport,
            Self::Publish { source, .. } => match source {
                E::StreamsExhausted { .. } => IngestErrorKind::Unavailable,
                E::InvalidStreamName { .. } | E::InvalidPart(_) | E::MissingInit(_) => {
                    IngestErrorKind::BadInput
                }
                _ => IngestErrorKind::Internal,
            },
        }
    }

    /// The stream the error is about.
    pub fn stream(&self) -> &str {
        match self {
            Self::Fmp4 { stream, .. }
            | Self::Publish { stream, .. }
            | Self::Read { stream, .. } => stream,
            Self::Busy(s) | Self::Superseded(s) | Self::Closed(s) | Self::ReservedName(s) => s,
        }
    }
}

/// The ingest side of the server: which streams have an encoder, and which are waiting out
/// their grace period.
#[derive(Debug)]
pub struct Ingests {
    /// Where parts are published.
    playlists: Arc<Playlists>,
    config: IngestConfig,
    /// Stream name → its ingest state. Locked only to start and end sessions and by grace
    /// timers, never while publishing; a std mutex since it is never held across an await.
    streams: Mutex<HashMap<String, Arc<StreamIngest>>>,
    /// Source of session ids (0 means "no session").
    next_session: AtomicU64,
    /// Time origin of [`StreamIngest::last_data_ms`] (tokio's clock, so tests can pause it).
    epoch: Instant,
    /// Storage of published parts, when zero-copy delivery is on.
    arena: Option<PartArena>,
    /// The writer behind [`Ingests::store`], shared by its callers so that their parts fill
    /// blocks together instead of taking one each.
    shared_storage: Mutex<PartWriter>,
}

/// Upper bounds, in microseconds, of the [`PublishDelay`] buckets; a last, unbounded bucket
/// follows them.
pub const PUBLISH_DELAY_BUCKETS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

/// How long parts took from the arrival of the input chunk that completed them to the end of
/// [`Playlists::add`] (the part is then served, and held requests for it are woken): a
/// histogram of lock-free counters, so recording costs a few relaxed atomic adds per part.
#[derive(Debug, Default)]
pub struct PublishDelay {
    /// Parts per bucket (not cumulative); the last entry counts parts above every bound.
    buckets: [AtomicU64; PUBLISH_DELAY_BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

/// A copy of a [`PublishDelay`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishDelaySnapshot {
    /// Parts per bucket of [`PUBLISH_DELAY_BUCKETS_US`] (not cumulative), then those above.
    pub buckets: Vec<u64>,
    /// Sum of all delays, µs.
    pub sum_us: u64,
    /// The longest delay, µs.
    pub max_us: u64,
}

impl PublishDelay {
    fn observe(&self, delay: Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        let i = PUBLISH_DELAY_BUCKETS_US.partition_point(|&bound| bound < us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The counts so far. Each counter is read on its own, so a part published during the call
    /// may be in the sum but not yet in a bucket; scrapes tolerate that.
    pub fn snapshot(&self) -> PublishDelaySnapshot {
        PublishDelaySnapshot {
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            sum_us: self.sum_us.load(Ordering::Relaxed),
            max_us: self.max_us.load(Ordering::Relaxed),
        }
    }
}

/// One stream's ingest state.
#[derive(Debug, Default)]
struct StreamIngest {
    /// The id of the session allowed to publish (0: none). Sessions publish while holding it,
    /// so a takeover never interleaves parts of two encoders.
    owner: Mutex<u64>,
    /// When the owner last delivered bytes, ms since [`Ingests::epoch`]. Relaxed: a stale
    /// value only delays or hastens a takeover by one push.
    last_data_ms: AtomicU64,
    /// Bumped (under the `streams` lock) at every session start and end; a grace timer ends
    /// the stream only if it is unchanged when the timer fires.
    generation: AtomicU64,
    /// Ingest-to-publish delays of the stream's parts, across its sessions (the state lives
    /// until the stream ends, so a reconnecting encoder keeps adding to the same histogram).
    publish_delay: PublishDelay,
}

impl StreamIngest {
    fn owner(&self) -> MutexGuard<'_, u64> {
        // Nothing panics while the owner is held; a poisoned lock still holds a valid id.
        self.owner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Ingests {
    /// Ingest into `playlists`.
    pub fn new(playlists: Arc<Playlists>, config: IngestConfig) -> Arc<Self> {
        let arena = config.arena.clone().and_then(|opts| match PartArena::new(opts) {
            Ok(arena) => Some(arena),
            Err(e) => {
                tracing::warn!(error = %e, "no part arena; parts are stored on the heap and sent by copy");
                None
            }
        });
        Arc::new(Self {
            shared_storage: Mutex::new(PartWriter::new(arena.as_ref())),
            arena,
            playlists,
            config,
            streams: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            epoch: Instant::now(),
        })
    }

    /// The registry ingest publishes into.
    pub fn playlists(&self) -> &Arc<Playlists> {
        &self.playlists
    }

    /// The configuration.
    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    /// Where published parts are stored, when it is the part arena: the HTTP layer
    /// sends slices of it with `sendfile`.
    pub fn arena(&self) -> Option<&PartArena> {
        self.arena.as_ref()
    }

    /// A copy of `data` in part storage (the arena when there is one, else the heap): how
    /// sources other than an ingest session (a test, a bench) store parts the way ingest does.
    pub fn store(&self, data: &[u8]) -> Bytes {
        // Held for one write into storage; nothing in it can panic half-way.
        self.shared_storage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .copy(data)
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn lock_streams(&self) -> MutexGuard<'_, HashMap<String, Arc<StreamIngest>>> {
        // Nothing panics while the map is held; a poisoned lock still guards a valid map.
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publish delays ([`PublishDelay`]) of the streams that have ingest state (an encoder
    /// connected, or waiting out its grace period), sorted by name. Takes the name map's lock
    /// for the copy only, as starting or ending a session does.
    pub fn publish_delays(&self) -> Vec<(String, PublishDelaySnapshot)> {
        let streams: Vec<(String, Arc<StreamIngest>)> = self
            .lock_streams()
            .iter()
            .map(|(name, s)| (name.clone(), Arc::clone(s)))
            .collect();
        let mut out: Vec<_> = streams
            .into_iter()
            .map(|(name, s)| (name, s.publish_delay.snapshot()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Starts a session for `stream`.
    ///
    /// # Errors
    /// [`IngestError::Publish`] for a name the library refuses; [`IngestError::ReservedName`]
    /// for a stream of the group `ingest`; [`IngestError::Busy`] while another session of the
    /// stream delivers data (see [`IngestConfig::takeover_after`]).
    pub fn start(self: &Arc<Self>, stream: &str) -> Result<IngestSession, IngestError> {
        playlists::chunk_cache::validate_stream_name(stream).map_err(|source| {
            IngestError::Publish {
                stream: stream.to_owned(),
                source,
            }
        })?;
        // Checked here, not in the library: the clash is with this server's URL layout.
        if stream.split('/').next() == Some(RESERVED_GROUP) {
            return Err(IngestError::ReservedName(stream.to_owned()));
        }
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let shared = {
            let mut streams = self.lock_streams();
            let shared = Arc::clone(streams.entry(stream.to_owned()).or_default());
            let mut owner = shared.owner();
            if *owner != 0 {
                let idle = self
                    .now_ms()
                    .saturating_sub(shared.last_data_ms.load(Ordering::Relaxed));
                if u128::from(idle) < self.config.takeover_after.as_millis() {
                    return Err(IngestError::Busy(stream.to_owned()));
                }
                tracing::warn!(%stream, idle_ms = idle, "silent encoder connection replaced by a new one");
            }
            *owner = id;
            shared.last_data_ms.store(self.now_ms(), Ordering::Relaxed);
            shared.generation.fetch_add(1, Ordering::Relaxed);
            drop(owner);
            shared
        };
        tracing::info!(%stream, session = id, "ingest session started");
        Ok(IngestSession {
            ingests: Arc::clone(self),
            stream: stream.to_owned(),
            id,
            shared,
            splitter: Splitter::new(self.config.limits.clone()),
            storage: PartWriter::new(self.arena.as_ref()),
            init: None,
            pending_init: None,
            parts: 0,
            failed: false,
            ended: false,
        })
    }

    /// Session `id` of `stream` ended: unless it was replaced, arm the grace timer that ends
    /// the stream if no session starts before it fires.
    fn disconnected(self: &Arc<Self>, stream: &str, id: u64) {
        let generation = {
            let streams = self.lock_streams();
            let Some(shared) = streams.get(stream) else {
                return;
            };
            let mut owner = shared.owner();
            if *owner != id {
                return; // superseded: the new owner's session decides.
            }
            *owner = 0;
            shared.generation.fetch_add(1, Ordering::Relaxed) + 1
        };
        // Without a runtime (a synchronous embedder) there is no timer: the stream stays live
        // until the next session or an explicit `fin`.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = Arc::clone(self);
        let stream = stream.to_owned();
        runtime.spawn(async move {
            tokio::time::sleep(this.config.grace).await;
            let expired = {
                let mut streams = this.lock_streams();
                let expired = streams.get(&stream).is_some_and(|s| {
                    s.generation.load(Ordering::Relaxed) == generation && *s.owner() == 0
                });
                if expired {
                    streams.remove(&stream);
                }
                expired
            };
            if expired {
                match this.playlists.fin(&stream) {
                    Ok(()) => {
                        tracing::info!(%stream, "no encoder for the grace period; stream ended")
                    }
                    Err(e) => {
                        tracing::debug!(%stream, error = %e, "grace period over, nothing to end")
                    }
                }
            }
        });
    }
}

/// One encoder connection: feed it bytes as they arrive, then [`finish`](Self::finish) it.
/// Dropping a session without finishing it (a dropped connection) counts as a disconnect.
/// After any error the session is spent: later calls fail with [`IngestError::Closed`].
#[derive(Debug)]
pub struct IngestSession {
    ingests: Arc<Ingests>,
    stream: String,
    /// This session's id, compared with [`StreamIngest::owner`].
    id: u64,
    shared: Arc<StreamIngest>,
    splitter: Splitter,
    /// Where this session's parts are copied (its own arena blocks, so that parts which
    /// expire together are freed together).
    storage: PartWriter,
    /// The current init section and what the library needs of it.
    init: Option<Arc<InitSection>>,
    /// An init section not yet handed to the library: it goes with the next part (the
    /// library takes init sections only with parts; repeating an unchanged one is free there,
    /// since it compares hashes, but this way it is sent once per session and change).
    pending_init: Option<Arc<InitSection>>,
    parts: u64,
    failed: bool,
    ended: bool,
}

impl IngestSession {
    /// The stream this session publishes.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Parts published by this session so far.
    pub fn parts(&self) -> u64 {
        self.parts
    }

    /// Splits `chunk` (any size, any alignment) and publishes every complete fragment.
    /// Returns the number of parts published by this call.
    pub fn push(&mut self, chunk: Bytes) -> Result<u64, IngestError> {
        if self.failed {
            return Err(IngestError::Closed(self.stream.clone()));
        }
        let result = self.push_inner(chunk);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn push_inner(&mut self, chunk: Bytes) -> Result<u64, IngestError> {
        // The wall clock (not tokio's, which tests may pause): the delay is real work.
        let received = std::time::Instant::now();
        self.shared
            .last_data_ms
            .store(self.ingests.now_ms(), Ordering::Relaxed);
        let mut events = Vec::new();
        let split = self.splitter.push_into(chunk, &mut events);
        let before = self.parts;
        // Units completed before bad bytes in the same chunk are published before the error
        // is returned: what a stream keeps must not depend on how the transport happened to
        // cut the input into chunks.
        for event in events {
            match event {
                Event::Init(init) => {
                    self.init = Some(Arc::clone(&init));
                    self.pending_init = Some(init);
                }
                Event::Fragment(fragment) => {
                    self.publish(fragment)?;
                    self.shared.publish_delay.observe(received.elapsed());
                }
            }
        }
        split.map_err(|e| self.fmp4_error(e))?;
        Ok(self.parts - before)
    }

    fn publish(&mut self, fragment: Fragment) -> Result<(), IngestError> {
        // The splitter never yields a fragment before an init section.
        let Some(current) = &self.init else {
            return Err(self.fmp4_error(Fmp4Error::MoofBeforeMoov { offset: 0 }));
        };
        let init = self.pending_init.as_ref().map(|init| Init {
            bytes: init.bytes.clone(),
            codecs: init.codecs.clone(),
            resolution: init.resolution,
            frame_rate: init.frame_rate.or_else(|| fragment.frame_rate(current)),
        });
        let part = Part {
            // One copy into part storage. The splitter hands out slices of the transport's
            // buffers (zero-copy while parsing), but a stored part lives for minutes in the
            // ring, and a slice would keep the whole read buffer it came from alive: over HTTP
            // that was ~1.8× the payload in RSS. A memcpy per part is a few µs next to the
            // render and gzip of its playlist, and in the arena it buys copy-free sends.
            bytes: self.storage.copy(&fragment.bytes),
            duration: fragment.duration,
            timescale: fragment.timescale,
            decode_time: fragment.decode_time,
            independent: fragment.independent,
            init,
            wallclock_ms: fragment.wallclock_ms,
        };
        {
            let owner = self.shared.owner();
            if *owner != self.id {
                return Err(IngestError::Superseded(self.stream.clone()));
            }
            self.ingests
                .playlists
                .add(&self.stream, part)
                .map_err(|source| IngestError::Publish {
                    stream: self.stream.clone(),
                    source,
                })?;
        }
        self.pending_init = None;
        self.parts += 1;
        Ok(())
    }

    fn fmp4_error(&self, source: Fmp4Error) -> IngestError {
        IngestError::Fmp4 {
            stream: self.stream.clone(),
            source,
        }
    }

    /// Ends the session at the end of its input: a box left half-received is an error. Either
    /// way the stream enters its grace period. Returns the parts this session published.
    pub fn finish(mut self) -> Result<u64, IngestError> {
        self.ended = true;
        self.ingests.disconnected(&self.stream, self.id);
        if self.failed {
            return Err(IngestError::Closed(self.stream.clone()));
        }
        self.splitter.finish().map_err(|e| self.fmp4_error(e))?;
        Ok(self.parts)
    }
}

impl Drop for IngestSession {
    fn drop(&mut self) {
        if !self.ended {
            self.ingests.disconnected(&self.stream, self.id);
        }
    }
}

/// Ingests everything `reader` yields (e.g. stdin fed by `ffmpeg … -f mp4 -`) into `stream`,
/// until end of input. Returns the number of parts published.
pub async fn ingest_reader<R: AsyncRead + Unpin>(
    ingests: &Arc<Ingests>,
    stream: &str,
    mut reader: R,
) -> Result<u64, IngestError> {
    let mut session = ingests.start(stream)?;
    // 64 KiB reads: a 200 ms part of a few Mbit/s arrives in one or two reads. Each read is
    // frozen and handed over whole, so units inside it are not copied again.
    let mut buf = bytes::BytesMut::new();
    loop {
        buf.reserve(64 * 1024);
        let n = reader
            .read_buf(&mut buf)
            .await
            .map_err(|e| IngestError::Read {
                stream: stream.to_owned(),
                reason: e.to_string(),
            })?;
        if n == 0 {
            return session.finish();
        }
        session.push(buf.split().freeze())?;
    }
}

/// Copies parts into an arena writer, or onto the heap without an arena.
#[derive(Debug)]
struct PartWriter(Option<ArenaWriter>);

impl PartWriter {
    fn new(arena: Option<&PartArena>) -> Self {
        Self(arena.map(PartArena::writer))
    }

    fn copy(&mut self, data: &[u8]) -> Bytes {
        match &mut self.0 {
            Some(writer) => writer.copy(data),
            None => Bytes::copy_from_slice(data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_delay_counts_each_part_in_its_bucket() {
        let h = PublishDelay::default();
        h.observe(Duration::from_micros(50)); // on a bound: that bucket
        h.observe(Duration::from_micros(51));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(1)); // above every bound
        let s = h.snapshot();
        assert_eq!(s.buckets.len(), PUBLISH_DELAY_BUCKETS_US.len() + 1);
        assert_eq!(s.buckets[0], 1);
        assert_eq!(s.buckets[1], 1);
        assert_eq!(s.buckets[6], 1, "3 ms is in the 5 ms bucket");
        assert_eq!(s.buckets[PUBLISH_DELAY_BUCKETS_US.len()], 1);
        assert_eq!(s.buckets.iter().sum::<u64>(), 4);
        assert_eq!(s.sum_us, 50 + 51 + 3_000 + 1_000_000);
        assert_eq!(s.max_us, 1_000_000);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn stored_parts_share_arena_blocks() {
        let playlists = Arc::new(Playlists::new(playlists::Options::default()).unwrap());
        let ingests = Ingests::new(playlists, IngestConfig::default());
        let arena = ingests
            .arena()
            .expect("an arena by default on Linux")
            .clone();
        let parts: Vec<Bytes> = (0..10u8).map(|i| ingests.store(&[i; 1000])).collect();
        assert_eq!(
            arena.stats().blocks_in_use,
            1,
            "one block for ten small parts"
        );
        for (i, p) in parts.iter().enumerate() {
            assert!(arena.locate(p).is_some());
            assert!(p.iter().all(|&b| usize::from(b) == i));
        }
    }
}

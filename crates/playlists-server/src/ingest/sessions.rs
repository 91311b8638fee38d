//! [`Ingests`]: which streams have an encoder, which wait out their grace period, and who
//! may publish ([`Credentials`](super::Credentials), with refused attempts counted and slowed down per address:
//! [`AuthFailures`]).
//!
//! One encoder per stream: a second connection is refused ([`IngestError::Busy`]) while the
//! first delivers data, but takes over when the first has been silent for
//! [`IngestConfig::takeover_after`] — a connection whose encoder vanished without a TCP reset
//! must not lock its stream out until the kernel notices. The replaced session's next call
//! fails with [`IngestError::Superseded`]. Sessions share nothing but the name map, held for
//! a few instructions at start and end, never while publishing.
//!
//! Redundant encoders ([`Ownership::Redundant`], the DASH-IF ingest protocol's): any number
//! of sessions of one stream publish at once, each a copy of the same track (the same media
//! timestamps), and the stream keeps ONE copy: a fragment is published only when its encoder
//! `tfdt` is at or past the end of the last one published, whichever session sent that one
//! ([`Owners::published_end`]); the others are taken and dropped. The comparison is on the
//! encoder's timeline, before restamping, and only published fragments move the stream's
//! [`Restamp`] run, so the run continues across a failover and both encoders' copies of a
//! timestamp map to the same served time. When one encoder dies the other's next fragment
//! is the next one past the end: no gap, no repeat, no discontinuity. An exclusive session
//! and redundant ones never share a stream (the newcomer is [`IngestError::Busy`], as for
//! two exclusive ones).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use playlists::Playlists;
use tokio::time::Instant;

use super::{
    AuthFailures, GroupAnchor, IngestConfig, IngestError, IngestSession, PublishDelay,
    PublishDelaySnapshot, Restamp, RESERVED_GROUPS,
};
use crate::fmp4::Splitter;
use crate::part_store::PartStore;
use crate::sync::lock;

/// How a session shares its stream with other sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// One encoder per stream (`/ingest/{stream}`, stdin, RTMP): a second session is refused
    /// while the first delivers data, and takes over a silent one.
    Exclusive,
    /// Redundant encoders (DASH-IF ingest): every session of the stream is accepted, and a
    /// fragment is published only if it is past the last one published (see the module
    /// docs).
    Redundant,
}

/// Who is starting a session, for [`Ingests::start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access<'a> {
    /// A source the operator started on this machine (stdin, the demo): trusted.
    Local,
    /// A source on the network (HTTP push, and every listener to come), with the credential
    /// it presented, if any, checked against [`IngestConfig::credentials`].
    Remote {
        /// The token or publish key the source presented. Never logged.
        token: Option<&'a str>,
        /// The client's address, if the transport knows it: refused attempts are slowed
        /// down per address ([`Ingests::admit`]).
        peer: Option<IpAddr>,
    },
}

/// The ingest layer's state: which streams have an encoder, and which are waiting out their
/// grace period. Built once by the binary and shared (`Arc`) by every source.
#[derive(Debug)]
pub struct Ingests {
    /// Where parts are published.
    playlists: Arc<Playlists>,
    /// Where parts are stored before they are published (shared with delivery).
    parts: PartStore,
    config: IngestConfig,
    /// Stream name → its ingest state. Locked only to start and end sessions and by grace
    /// timers, never while publishing; a std mutex since it is never held across an await.
    streams: Mutex<HashMap<String, Arc<StreamIngest>>>,
    /// Source of session ids (0 means "no session").
    next_session: AtomicU64,
    /// Time origin of [`StreamIngest::last_data_ms`] (tokio's clock, so tests can pause it).
    epoch: Instant,
    /// Network attempts refused for their credential.
    auth_failures: AuthFailures,
}

/// One stream's ingest state.
#[derive(Debug, Default)]
pub(super) struct StreamIngest {
    /// The sessions allowed to publish. Sessions publish while holding it, so a takeover
    /// never interleaves parts of two encoders, and redundant ones are compared with what
    /// was published last.
    owners: Mutex<Owners>,
    /// When the owner last delivered bytes, ms since [`Ingests::epoch`]. Relaxed: a stale
    /// value only delays or hastens a takeover by one push.
    last_data_ms: AtomicU64,
    /// Bumped (under the `streams` lock) at every session start and end; a grace timer ends
    /// the stream only if it is unchanged when the timer fires.
    generation: AtomicU64,
    /// Ingest-to-publish delays of the stream's parts, across its sessions (the state lives
    /// until the stream ends, so a reconnecting encoder keeps adding to the same histogram).
    pub(super) publish_delay: PublishDelay,
    /// The stream's restamping run, across its sessions (see [`Restamp`]); moved by the
    /// owner only, while it holds `owner`.
    pub(super) restamp: Mutex<Restamp>,
    /// For a rendition of a group (`group/rendition`): the restamping anchor it shares with
    /// every sibling that has ingest state, handed to a sibling that starts later.
    group: Option<Arc<GroupAnchor>>,
    /// The last CMAF header (init section) a redundant session received, for a session that
    /// starts with a segment (the DASH-IF per-segment POSTs: the header comes in a request
    /// of its own). Kept as long as the stream has ingest state.
    pub(super) header: Mutex<Option<bytes::Bytes>>,
}

/// Who may publish a stream: no session, one exclusive session, or any number of redundant
/// ones; and where the published copy's encoder timeline ends.
#[derive(Debug, Default)]
pub(super) struct Owners {
    /// The publishing sessions' ids: at most one unless `redundant`.
    ids: Vec<u64>,
    /// The sessions are [`Ownership::Redundant`].
    redundant: bool,
    /// The end (decode time + duration, the encoder's, before restamping) of the last
    /// fragment published, in the timescale of the fragment timing.
    pub(super) published_end: Option<EncoderTime>,
}

/// A point of an encoder's media timeline (the fragment timing's timescale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EncoderTime {
    /// Ticks per second.
    pub(super) timescale: u32,
    /// Ticks.
    pub(super) decode: u64,
}

impl Owners {
    /// Whether session `id` may publish.
    pub(super) fn holds(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }

    /// Whether session `id` is the only one publishing.
    pub(super) fn is_sole(&self, id: u64) -> bool {
        self.ids == [id]
    }
}

impl StreamIngest {
    /// The publishing sessions, locked: a session publishes while holding it.
    pub(super) fn owners(&self) -> MutexGuard<'_, Owners> {
        lock(&self.owners)
    }

    /// Notes that the owner delivered bytes now (see [`Ingests::now_ms`]).
    pub(super) fn touch(&self, now_ms: u64) {
        self.last_data_ms.store(now_ms, Ordering::Relaxed);
    }
}

impl Ingests {
    /// Ingest into `playlists`, storing parts in `parts`.
    pub fn new(playlists: Arc<Playlists>, parts: PartStore, config: IngestConfig) -> Arc<Self> {
        Arc::new(Self {
            playlists,
            parts,
            config,
            streams: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            epoch: Instant::now(),
            auth_failures: AuthFailures::default(),
        })
    }

    /// The registry ingest publishes into.
    pub fn playlists(&self) -> &Arc<Playlists> {
        &self.playlists
    }

    /// Where ingest stores parts.
    pub fn parts(&self) -> &PartStore {
        &self.parts
    }

    /// The configuration.
    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    /// Milliseconds since this layer started, on tokio's clock (tests pause it).
    pub(super) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn lock_streams(&self) -> MutexGuard<'_, HashMap<String, Arc<StreamIngest>>> {
        lock(&self.streams)
    }

    /// Whether `access` may publish `stream` (see [`Credentials::permit`](super::Credentials::permit)); a refusal is
    /// counted ([`auth_failures`](Self::auth_failures)) and its address's record grows.
    ///
    /// # Errors
    /// [`IngestError::Unauthorized`] for a remote source without a credential for `stream`.
    pub fn authorize(&self, stream: &str, access: Access<'_>) -> Result<(), IngestError> {
        self.check(stream, access).map_err(|(e, _delay)| e)
    }

    /// [`authorize`](Self::authorize), with how long the refusal's answer is to be delayed.
    fn check(&self, stream: &str, access: Access<'_>) -> Result<(), (IngestError, Duration)> {
        let Access::Remote { token, peer } = access else {
            return Ok(());
        };
        if self.config.credentials.permit(stream, token) {
            return Ok(());
        }
        let failures = self.auth_failures.count(peer);
        let delay = super::delay_after(failures);
        // The address and the stream say who tried; what they presented stays unsaid. An
        // address that keeps trying is logged up to its first delayed answer, then only at
        // debug level: the metric counts the rest, and a guesser cannot flood the log.
        if failures <= super::FREE_FAILURES + 1 {
            tracing::info!(%stream, ?peer, failures, ?delay, "ingest refused: no valid credential");
        } else {
            tracing::debug!(%stream, ?peer, failures, ?delay, "ingest refused: no valid credential");
        }
        Err((IngestError::Unauthorized(stream.to_owned()), delay))
    }

    /// Network attempts refused for their credential so far, and the per-address records
    /// that slow the next ones down.
    pub fn auth_failures(&self) -> &AuthFailures {
        &self.auth_failures
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

    /// Starts a session for a network source: as [`start`](Self::start), but a refused
    /// credential is answered only after its address's delay (growing with its recent
    /// failures, see [`AuthFailures`]), so guessing is slow. Every network source calls this.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub async fn admit(
        self: &Arc<Self>,
        stream: &str,
        access: Access<'_>,
    ) -> Result<IngestSession, IngestError> {
        self.admit_as(stream, access, Ownership::Exclusive).await
    }

    /// [`admit`](Self::admit) with the stream's [`Ownership`]: [`Ownership::Redundant`] for
    /// the DASH-IF ingest protocol, whose redundant encoders push the same track at once.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub async fn admit_as(
        self: &Arc<Self>,
        stream: &str,
        access: Access<'_>,
        ownership: Ownership,
    ) -> Result<IngestSession, IngestError> {
        if let Err((e, delay)) = self.check(stream, access) {
            tokio::time::sleep(delay).await;
            return Err(e);
        }
        self.start_authorized(stream, ownership)
    }

    /// Whether a session of `stream` with `ownership` would be admitted now (the DASH-IF
    /// empty POST that probes a publishing point): the credential (a refusal delayed as by
    /// [`admit`](Self::admit)), the name, and no encoder of the other kind holding it. Starts
    /// nothing and changes no state.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub async fn probe(
        self: &Arc<Self>,
        stream: &str,
        access: Access<'_>,
        ownership: Ownership,
    ) -> Result<(), IngestError> {
        if let Err((e, delay)) = self.check(stream, access) {
            tokio::time::sleep(delay).await;
            return Err(e);
        }
        validate_name(stream)?;
        let Some(shared) = self.lock_streams().get(stream).cloned() else {
            return Ok(());
        };
        let owners = shared.owners();
        self.may_join(stream, &shared, &owners, ownership).map(drop)
    }

    /// Whether a new session with `ownership` may join `owners`: refused (`Err`) while they
    /// hold the stream — an exclusive one, or one of the other kind, that delivered data
    /// within [`IngestConfig::takeover_after`]; else `Ok` with how long the sessions it
    /// would replace have been silent, if there are any. Redundant sessions never refuse
    /// each other.
    fn may_join(
        &self,
        stream: &str,
        shared: &StreamIngest,
        owners: &Owners,
        ownership: Ownership,
    ) -> Result<Option<u64>, IngestError> {
        if owners.ids.is_empty() || (owners.redundant && ownership == Ownership::Redundant) {
            return Ok(None);
        }
        let idle = self
            .now_ms()
            .saturating_sub(shared.last_data_ms.load(Ordering::Relaxed));
        if u128::from(idle) < self.config.takeover_after.as_millis() {
            return Err(IngestError::Busy(stream.to_owned()));
        }
        Ok(Some(idle))
    }

    /// Starts a session for `stream`, from a source with `access`. A refused network source
    /// is answered at once: network sources use [`admit`](Self::admit).
    ///
    /// # Errors
    /// [`IngestError::Unauthorized`] for a remote source without a credential for `stream`;
    /// [`IngestError::Publish`] for a name the library refuses; [`IngestError::ReservedName`]
    /// for a stream of the group `ingest`; [`IngestError::Busy`] while another session of the
    /// stream delivers data (see [`IngestConfig::takeover_after`]).
    pub fn start(
        self: &Arc<Self>,
        stream: &str,
        access: Access<'_>,
    ) -> Result<IngestSession, IngestError> {
        self.start_as(stream, access, Ownership::Exclusive)
    }

    /// [`start`](Self::start) with the stream's [`Ownership`].
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_as(
        self: &Arc<Self>,
        stream: &str,
        access: Access<'_>,
        ownership: Ownership,
    ) -> Result<IngestSession, IngestError> {
        self.authorize(stream, access)?;
        self.start_authorized(stream, ownership)
    }

    /// [`start`](Self::start) once the source may publish.
    fn start_authorized(
        self: &Arc<Self>,
        stream: &str,
        ownership: Ownership,
    ) -> Result<IngestSession, IngestError> {
        validate_name(stream)?;
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let shared = {
            let mut streams = self.lock_streams();
            let shared = match streams.get(stream) {
                Some(shared) => Arc::clone(shared),
                None => {
                    let shared = Arc::new(self.stream_ingest(stream, &streams));
                    streams.insert(stream.to_owned(), Arc::clone(&shared));
                    shared
                }
            };
            let mut owners = shared.owners();
            if let Some(idle_ms) = self.may_join(stream, &shared, &owners, ownership)? {
                tracing::warn!(%stream, idle_ms, "silent encoder connection replaced by a new one");
            }
            let redundant = ownership == Ownership::Redundant;
            if !(redundant && owners.redundant) {
                // A takeover (or the first session): the replaced sessions are superseded.
                owners.ids.clear();
            }
            owners.ids.push(id);
            owners.redundant = redundant;
            shared.touch(self.now_ms());
            shared.generation.fetch_add(1, Ordering::Relaxed);
            drop(owners);
            shared
        };
        tracing::info!(%stream, session = id, "ingest session started");
        Ok(IngestSession::new(
            Arc::clone(self),
            stream,
            id,
            shared,
            Splitter::new(self.config.limits.clone()),
            self.parts.writer(),
            ownership,
        ))
    }

    /// Ends `stream` now (EXT-X-ENDLIST), as its grace period's end would: a DASH-IF track
    /// whose last segment said so (`lmsg`). Its ingest state stays until the grace period
    /// of its sessions passes, so redundant copies of the last segment are still recognised
    /// as already held.
    pub(super) fn end_track(&self, stream: &str) {
        match self.playlists.fin(stream) {
            Ok(()) => tracing::info!(%stream, "last segment received (lmsg); stream ended"),
            Err(e) => tracing::debug!(%stream, error = %e, "lmsg: nothing to end"),
        }
    }

    /// The ingest state of `stream`, new to `streams`. A rendition of a group shares its
    /// siblings' restamping anchor (one anchor per group, so that the renditions keep the
    /// shared timeline of their encoders), or starts the group's if it is the first.
    fn stream_ingest(
        &self,
        stream: &str,
        streams: &HashMap<String, Arc<StreamIngest>>,
    ) -> StreamIngest {
        if playlists::rendition_of(stream).is_none() {
            return StreamIngest::default();
        }
        let group = playlists::group_of(stream);
        // A scan, at session start only: the map holds the streams being ingested.
        let sibling = streams.iter().find_map(|(name, s)| {
            (playlists::rendition_of(name).is_some() && playlists::group_of(name) == group)
                .then(|| s.group.clone())
                .flatten()
        });
        let anchor = sibling.unwrap_or_else(|| {
            // Renditions whose encoders' clocks date one timestamp less than the shortest
            // segment apart share a timeline, as the library judges when it lines them up.
            let tolerance = Duration::from_millis(self.playlists.options().segment_min_ms);
            Arc::new(GroupAnchor::new(tolerance))
        });
        StreamIngest {
            restamp: Mutex::new(Restamp::in_group(Arc::clone(&anchor))),
            group: Some(anchor),
            ..StreamIngest::default()
        }
    }

    /// Session `id` of `stream` ended: unless it was replaced, arm the grace timer that ends
    /// the stream if no session starts before it fires.
    pub(super) fn disconnected(self: &Arc<Self>, stream: &str, id: u64) {
        let generation = {
            let streams = self.lock_streams();
            let Some(shared) = streams.get(stream) else {
                return;
            };
            let mut owners = shared.owners();
            if !owners.holds(id) {
                return; // superseded: the new owner's session decides.
            }
            owners.ids.retain(|&other| other != id);
            if !owners.ids.is_empty() {
                return; // a redundant encoder still sends the stream.
            }
            drop(owners);
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
                    s.generation.load(Ordering::Relaxed) == generation && s.owners().ids.is_empty()
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

/// Refuses a name no ingested stream may have: the library's naming rules, and the group
/// `ingest` (checked here, not in the library: the clash is with this server's URL layout).
fn validate_name(stream: &str) -> Result<(), IngestError> {
    playlists::chunk_cache::validate_stream_name(stream).map_err(|source| {
        IngestError::Publish {
            stream: stream.to_owned(),
            source,
        }
    })?;
    if stream
        .split('/')
        .next()
        .is_some_and(|group| RESERVED_GROUPS.contains(&group))
    {
        return Err(IngestError::ReservedName(stream.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Credentials;

    #[test]
    fn only_remote_sources_need_a_credential() {
        let playlists = Arc::new(Playlists::new(playlists::Options::default()).unwrap());
        let config = IngestConfig {
            credentials: Credentials {
                token: Some("s3cret".into()),
                ..Credentials::default()
            },
            ..IngestConfig::default()
        };
        let ingests = Ingests::new(playlists, PartStore::heap(), config);
        assert!(ingests.authorize("a", Access::Local).is_ok());
        let remote = |token| Access::Remote { token, peer: None };
        assert!(ingests.authorize("a", remote(Some("s3cret"))).is_ok());
        for bad in [None, Some("s3creT"), Some("")] {
            let err = ingests.authorize("a", remote(bad)).unwrap_err();
            assert_eq!(err.kind(), crate::ingest::IngestErrorKind::Unauthorized);
        }
        assert_eq!(ingests.auth_failures().total(), 3);
        let open = Ingests::new(
            Arc::new(Playlists::new(playlists::Options::default()).unwrap()),
            PartStore::heap(),
            IngestConfig::default(),
        );
        assert!(open.authorize("a", remote(None)).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn admit_answers_an_address_that_keeps_failing_late() {
        let playlists = Arc::new(Playlists::new(playlists::Options::default()).unwrap());
        let config = IngestConfig {
            credentials: Credentials {
                secret: Some("s3cret".into()),
                ..Credentials::default()
            },
            ..IngestConfig::default()
        };
        let ingests = Ingests::new(playlists, PartStore::heap(), config);
        let peer = Some("192.0.2.7".parse().unwrap());
        let mut waited = Vec::new();
        for _ in 0..6 {
            let t0 = Instant::now();
            let refused = ingests
                .admit(
                    "cam1",
                    Access::Remote {
                        token: Some("guess"),
                        peer,
                    },
                )
                .await;
            assert!(refused.is_err());
            waited.push(t0.elapsed().as_millis());
        }
        assert_eq!(waited, [0, 0, 0, 250, 500, 1000]);
        // The right key is never held back, even from that address.
        let key = crate::ingest::publish_key(&"s3cret".into(), "cam1").unwrap();
        let t0 = Instant::now();
        let access = Access::Remote {
            token: Some(&key),
            peer,
        };
        assert!(ingests.admit("cam1", access).await.is_ok());
        assert_eq!(t0.elapsed(), Duration::ZERO);
    }
}

//! [`Playlists`]: the registry that ties the caches and the playlist builder together.
//!
//! ```text
//!  add(stream, part) ──▶ ChunkCache::append        (the part's bytes, id = part sequence)
//!                   ├──▶ M3u8Manifest::push        (roll into segments)
//!                   ├──▶ render full (+ delta), gzip once ──▶ M3u8Cache::publish
//!                   └──▶ Event::notify_all         (wake blocking requests)
//! ```
//!
//! Per stream slot, three pieces of state with different readers:
//!
//! * `writer` — a mutex only publishers take: it serialises `add`/`fin` of one stream and owns
//!   the render buffer, so rendering allocates nothing but the published bytes.
//! * `state` — the manifest and stream metadata behind a read-write lock. Publishers hold the
//!   write side only for `push` (a few µs) and render under the read side, so HTTP lookups
//!   (part ids, segment ranges, wait checks) never wait for a render.
//! * `last` — the newest position packed in one atomic, for rendition reports of sibling
//!   streams and for metrics, read without any lock.
//!
//! Streams never share any of these, so publishing on one never delays another.

mod input;
mod listing;
mod observer;
mod rendering;
mod stream;

pub use input::{group_of, rendition_of, AudioTrack, Init, Part, StreamStatus};
pub use observer::{CompletedSegment, SegmentObserver};
pub use stream::{advance_part_limit, BlockingRequest, Segment, StreamRef};

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::chunk_cache::{ChunkCache, StreamIdx};
use crate::error::{Error, Result};
use crate::m3u8_cache::{M3u8Cache, PlaylistVersion};
use crate::manifest::{valid_codecs, M3u8Manifest, PartMeta, PartPosition, Skip};
use crate::options::Options;
use crate::sync::{AtomicU64, Mutex, Ordering, RwLock};
use crate::uri_query::UriQuery;
use crate::wait::Event;
use rendering::{render, render_full};
use tokio::time::Instant;

/// The registry of live streams: at most `num_playlists` of them, each with its chunk ring,
/// its playlist builder and its cached playlist versions.
///
/// All methods take `&self`; share it as `Arc<Playlists>` between the sources that publish
/// and the server that reads.
#[derive(Debug)]
pub struct Playlists {
    opts: Options,
    chunks: ChunkCache,
    m3u8: M3u8Cache,
    slots: Box<[StreamSlot]>,
    /// Held while a name is registered or a slot evicted, so two sources starting streams at
    /// once cannot both evict the same ended stream. Never taken on the publish or read path
    /// of an existing stream.
    registering: Mutex<()>,
    /// Woken when a stream starts (its first part is published), for requests that wait for a
    /// stream that is not there yet ([`wait_stream`](Self::wait_stream)).
    started: Event,
    /// The query every URI of a media playlist gets, if the server asked for one
    /// ([`with_uri_query`](Self::with_uri_query)).
    uri_query: Option<Arc<dyn UriQuery>>,
    /// Told of completed segments and ended streams, if the server asked for it
    /// ([`with_observer`](Self::with_observer)).
    observer: Option<Arc<dyn SegmentObserver>>,
    /// Streams whose next run is an EVENT playlist ([`set_event`](Self::set_event)).
    events: Mutex<std::collections::HashSet<String>>,
}

/// One stream slot; `StreamIdx::index()` of the chunk cache picks it.
#[derive(Debug, Default)]
pub(crate) struct StreamSlot {
    /// Serialises publishers of this slot; see the module docs.
    writer: Mutex<Writer>,
    /// The stream's builder and metadata; `None` until the first part of a stream.
    pub(crate) state: RwLock<Option<StreamState>>,
    /// Woken after every published version and when the stream ends or is removed.
    pub(crate) event: Event,
    /// [`pack`]ed newest position, 0 before the first part. Written by the publisher after
    /// the version is in the M3u8Cache (Release), read by siblings and metrics (Acquire).
    last: AtomicU64,
}

/// What only the publisher of a slot touches.
#[derive(Debug, Default)]
struct Writer {
    /// Size of the last rendered full playlist, so the next render allocates once.
    last_len: usize,
    /// The same for the delta update.
    last_delta_len: usize,
    /// xxh3 of the current init section's bytes, to tell a changed init from a repeated one.
    init_hash: Option<u64>,
}

/// The part of a stream readers look at.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) idx: StreamIdx,
    pub(crate) name: String,
    pub(crate) manifest: M3u8Manifest,
    pub(crate) init: Init,
    pub(crate) init_id: u32,
    pub(crate) ended: bool,
    pub(crate) parts_published: u64,
    pub(crate) bytes_published: u64,
}

/// Positions packed into one `u64` for [`StreamSlot::last`]: the part index takes the low 16
/// bits (`max_parts_per_segment` ≤ 4096), and 0 means "nothing yet".
fn pack(p: PartPosition) -> u64 {
    ((p.msn + 1) << 16) | u64::from(p.part)
}

fn unpack(v: u64) -> Option<PartPosition> {
    (v != 0).then(|| PartPosition {
        msn: (v >> 16) - 1,
        part: (v & 0xffff) as u32,
    })
}

impl Playlists {
    /// Allocates every cache for `opts.num_playlists` streams up front.
    pub fn new(opts: Options) -> Result<Self> {
        opts.validate()?;
        let chunks = ChunkCache::new(&opts)?;
        let m3u8 = M3u8Cache::new(&opts)?;
        let slots = (0..opts.num_playlists)
            .map(|_| StreamSlot::default())
            .collect();
        Ok(Self {
            opts,
            chunks,
            m3u8,
            slots,
            registering: Mutex::new(()),
            started: Event::new(),
            uri_query: None,
            observer: None,
            events: Mutex::new(std::collections::HashSet::new()),
        })
    }

    /// Has every media playlist rendered from now on append `query`'s answer for its stream to
    /// each URI of media it writes (parts, segments, the map, the preload hint; see
    /// [`append_query`](crate::append_query)). Rendition reports keep their URIs as they are:
    /// they name another playlist, which a player reloads with the URI it was given for it,
    /// and a query meant for media need not open a playlist. The query is part of the cached, gzip'd version:
    /// every player of a stream gets the same bytes. Multivariant playlists
    /// ([`multivariant`](Self::multivariant)) are left as they are, for the caller to rewrite
    /// per request.
    #[must_use]
    pub fn with_uri_query(mut self, query: Arc<dyn UriQuery>) -> Self {
        self.uri_query = Some(query);
        self
    }

    /// The options this instance was built with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The chunk cache holding every part's bytes.
    pub fn chunk_cache(&self) -> &ChunkCache {
        &self.chunks
    }

    /// The cache of rendered playlist versions and init sections.
    pub fn m3u8_cache(&self) -> &M3u8Cache {
        &self.m3u8
    }

    pub(crate) fn slot(&self, idx: StreamIdx) -> Option<&StreamSlot> {
        self.slots.get(idx.index())
    }

    /// Publishes one part on `stream`, starting the stream if it is not live.
    ///
    /// On return the part's bytes are in the chunk cache, a playlist version listing it is in
    /// the M3u8Cache, and every request waiting for it has been woken. A stream that has
    /// ended starts over under the same name. On error nothing already published changes.
    ///
    /// # Errors
    /// [`Error::InvalidPart`] for a zero duration or timescale or an empty part,
    /// [`Error::MissingInit`] for a new stream without an init section,
    /// [`Error::InvalidStreamName`], [`Error::StreamsExhausted`] when every slot holds a live
    /// stream, and what the playlist builder refuses.
    pub fn add(&self, stream: &str, part: Part) -> Result<PartPosition> {
        let timing = part.timing;
        if timing.duration == 0 || timing.timescale == 0 || part.bytes.is_empty() {
            return Err(Error::InvalidPart(format!(
                "part of `{stream}` has duration {} / timescale {} / {} bytes; all must be > 0",
                timing.duration,
                timing.timescale,
                part.bytes.len()
            )));
        }
        let len = part.bytes.len() as u64;
        let mut meta = PartMeta {
            id: 0, // the chunk cache assigns it
            len,
            init_id: 0, // known once the init section is stored
            timing,
        };
        // Before anything is stored: once the bytes are in the ring, the builder must take
        // the part, or the next part's id would not follow.
        M3u8Manifest::check_part(&self.opts, &meta)?;
        let idx = self.open(stream)?;
        let slot = self.slot(idx).ok_or(Error::StaleStream {
            index: idx.index(),
            generation: idx.generation(),
        })?;
        // Read before taking this slot's locks: siblings' states are read one at a time, never
        // while holding our own (two renditions adding at once would wait on each other).
        let group = self.group_timing(slot, idx, stream);
        let mut writer = slot.writer.lock();
        let (init_id, first_id) = self.update_init(slot, &mut writer, idx, stream, &part)?;
        meta.init_id = init_id;

        // The bytes go in first: once a playlist names the part, it must be fetchable. The
        // first part's number comes from `Numbering`, the rest follow it.
        meta.id = match first_id {
            Some(id) => self.chunks.add(idx, id, part.bytes)?.id,
            None => self.chunks.append(idx, part.bytes)?.id,
        };
        let closed;
        let (position, oldest) = {
            let mut state = slot.state.write();
            let st = live_state(&mut state, idx, stream)?;
            match group {
                Some((_, Some(timeline))) if st.manifest.join(&timeline, &meta.timing) => {}
                Some((td, _)) => {
                    st.manifest.adopt_target_duration(td);
                }
                None => {}
            }
            let before = st.manifest.last_position();
            let position = st.manifest.push(meta)?;
            st.parts_published += 1;
            st.bytes_published += len;
            // The part opened a segment: the one before it is complete.
            closed = before
                .filter(|b| b.msn != position.msn && self.observer.is_some())
                .and_then(|b| st.manifest.segment(b.msn));
            (position, st.manifest.oldest_part_id())
        };
        self.publish(slot, &mut writer, idx, position, false)?;
        if let Some(segment) = closed {
            self.report_segment(idx, stream, segment);
        }
        if first_id.is_some() {
            self.started.notify_all();
        }
        // After the publish, off its latency: parts of segments the builder has forgotten
        // (past their availability) leave the ring now rather than when it wraps, which at
        // the default sizes would be minutes of media later.
        if let Some(oldest) = oldest {
            // Only a stream removed meanwhile refuses, and it has nothing left to release.
            let _ = self.chunks.release_below(idx, oldest);
        }
        Ok(position)
    }

    /// Ends `stream`: the final playlist version carries EXT-X-ENDLIST and no preload hint,
    /// waiting requests are answered with it, and the stream stays readable until its slot is
    /// needed by a new stream or [`remove`](Self::remove) frees it. Ending an ended stream is
    /// a no-op.
    pub fn fin(&self, stream: &str) -> Result<()> {
        let idx = self
            .chunks
            .lookup(stream)
            .ok_or_else(|| Error::UnknownStream(stream.to_owned()))?;
        let slot = self
            .slot(idx)
            .ok_or_else(|| Error::UnknownStream(stream.to_owned()))?;
        let mut writer = slot.writer.lock();
        let closed;
        let position = {
            let mut state = slot.state.write();
            let st = match state.as_mut() {
                Some(st) if st.idx == idx => st,
                _ => return Err(Error::UnknownStream(stream.to_owned())),
            };
            if st.ended {
                return Ok(());
            }
            st.ended = true;
            let open = st
                .manifest
                .last_position()
                .and_then(|last| st.manifest.segment(last.msn))
                .filter(|s| !s.complete);
            st.manifest.finish();
            closed = open.and_then(|s| st.manifest.segment(s.msn));
            st.manifest.last_position()
        };
        if let Some(position) = position {
            self.publish(slot, &mut writer, idx, position, true)?;
        }
        if let Some(segment) = closed {
            self.report_segment(idx, stream, segment);
        }
        if let Some(observer) = &self.observer {
            observer.stream_ended(stream, idx);
        }
        Ok(())
    }

    /// Frees `stream`'s slot: its parts, playlists and name are forgotten at once (without
    /// allocating), and requests waiting on it end with [`Error::StaleStream`].
    pub fn remove(&self, stream: &str) -> Result<()> {
        let _registering = self.registering.lock();
        let idx = self
            .chunks
            .lookup(stream)
            .ok_or_else(|| Error::UnknownStream(stream.to_owned()))?;
        self.remove_idx(idx)?;
        if let Some(observer) = &self.observer {
            observer.stream_ended(stream, idx);
        }
        Ok(())
    }

    fn remove_idx(&self, idx: StreamIdx) -> Result<()> {
        let slot = self.slot(idx).ok_or(Error::StaleStream {
            index: idx.index(),
            generation: idx.generation(),
        })?;
        let _writer = slot.writer.lock();
        // The chunk cache bumps the generation first, so every handle to the old stream
        // stops matching before any data is cleared.
        self.chunks.fin(idx)?;
        self.m3u8.clear(idx);
        let old = slot.state.write().take();
        slot.last.store(0, Ordering::Release);
        slot.event.notify_all();
        drop(old);
        Ok(())
    }

    /// The handle of a live stream for `add`, registering it (and evicting the oldest ended
    /// stream when every slot is taken) if needed.
    fn open(&self, name: &str) -> Result<StreamIdx> {
        if let Some(idx) = self.chunks.lookup(name) {
            if !self.is_ended(idx) {
                return Ok(idx);
            }
        }
        let _registering = self.registering.lock();
        if let Some(idx) = self.chunks.lookup(name) {
            if !self.is_ended(idx) {
                return Ok(idx);
            }
            // An ended stream restarts from scratch under its name.
            self.remove_idx(idx)?;
        }
        match self.chunks.register(name) {
            Err(Error::StreamsExhausted { .. }) => {
                let Some(victim) = self.oldest_ended() else {
                    return self.chunks.register(name);
                };
                self.remove_idx(victim)?;
                self.chunks.register(name)
            }
            other => other,
        }
    }

    fn is_ended(&self, idx: StreamIdx) -> bool {
        self.slot(idx).is_some_and(
            |slot| matches!(&*slot.state.read(), Some(st) if st.idx == idx && st.ended),
        )
    }

    /// An ended stream whose slot a new stream may take. Any will do; the first in slot order
    /// keeps the choice deterministic.
    fn oldest_ended(&self) -> Option<StreamIdx> {
        self.slots
            .iter()
            .find_map(|slot| match &*slot.state.read() {
                Some(st) if st.ended => Some(st.idx),
                _ => None,
            })
    }

    /// Stores a changed init section and returns the init id the part belongs to. Starts the
    /// stream's state on its first part, and then also returns the number that part gets
    /// ([`Numbering::first_part`](crate::Numbering::first_part)).
    fn update_init(
        &self,
        slot: &StreamSlot,
        writer: &mut Writer,
        idx: StreamIdx,
        name: &str,
        part: &Part,
    ) -> Result<(u32, Option<u64>)> {
        let mut state = slot.state.write();
        let current = state.as_ref().filter(|st| st.idx == idx);
        let Some(init) = &part.init else {
            return current
                .map(|st| (st.init_id, None))
                .ok_or_else(|| Error::MissingInit(name.to_owned()));
        };
        if !init.codecs.is_empty() && !valid_codecs(&init.codecs) {
            return Err(Error::InvalidPart(format!(
                "init section of `{name}` has codecs {:?}; expected comma-separated RFC 6381 \
                 identifiers",
                init.codecs.chars().take(64).collect::<String>()
            )));
        }
        let hash = crate::hash::xxh3_64(&init.bytes);
        if let Some(st) = current {
            if writer.init_hash == Some(hash) {
                return Ok((st.init_id, None));
            }
        }
        // A new stream: its first sample's date, which dates and numbers it.
        let start_ms = current.is_none().then(|| {
            part.timing
                .wallclock_ms
                .unwrap_or_else(|| first_sample_ms(part))
        });
        let init_id = match current {
            Some(st) => st.init_id.wrapping_add(1),
            None => self.opts.numbering.first_init(start_ms.unwrap_or(0)),
        };
        let mut first_id = None;
        if let Some(start_ms) = start_ms {
            let mut manifest = M3u8Manifest::new(&self.opts, start_ms)?;
            if self.events.lock().remove(name) {
                manifest.keep_everything();
            }
            first_id = Some(self.opts.numbering.first_part(start_ms));
            if rendition_of(name).is_some() {
                manifest.share_timeline();
                // Audio alone has no key frames to cut at: it lines up with a video sibling.
                if !init.video && init.audio.is_some() {
                    manifest.wait_for_grid();
                }
            }
            *state = Some(StreamState {
                idx,
                name: name.to_owned(),
                manifest,
                init: init.clone(),
                init_id,
                ended: false,
                parts_published: 0,
                bytes_published: 0,
            });
        } else if let Some(st) = state.as_mut() {
            st.init = init.clone();
            st.init_id = init_id;
        }
        self.m3u8.set_init(idx, init_id, init.bytes.clone())?;
        writer.init_hash = Some(hash);
        Ok((init_id, first_id))
    }

    /// Renders the version at `position`, stores it and wakes waiters.
    fn publish(
        &self,
        slot: &StreamSlot,
        writer: &mut Writer,
        idx: StreamIdx,
        position: PartPosition,
        finished: bool,
    ) -> Result<()> {
        let reports = self.rendition_reports(idx);
        let version = {
            let state = slot.state.read();
            let st = match state.as_ref() {
                Some(st) if st.idx == idx => st,
                _ => {
                    return Err(Error::StaleStream {
                        index: idx.index(),
                        generation: idx.generation(),
                    })
                }
            };
            let target_duration_s = match st.manifest.target_duration_s() {
                Some(td) if st.manifest.is_publishable() => td,
                _ => {
                    // First segment still open: a playlist now would carry a target duration the
                    // stream may not keep (§4.4.3.1), or numbers and dates a rendition may still
                    // change to line up with its group. Players asking are held until the first
                    // version (`StreamRef::wait_first_playlist`).
                    return Ok(());
                }
            };
            let query = self.uri_query.as_ref().and_then(|q| q.query(&st.name));
            let query = query.as_deref();
            let full = render_full(&st.manifest, &reports, query, &mut writer.last_len);
            // `_HLS_skip=YES` and `v2` are answered with this one delta (see `Skip::V2`); while
            // nothing is past the Skip Boundary there is none, and both get the full playlist.
            let delta = (st.manifest.skippable_segments() > 0 && !finished).then(|| {
                render(
                    &st.manifest,
                    Skip::Yes,
                    &reports,
                    query,
                    &mut writer.last_delta_len,
                )
            });
            PlaylistVersion {
                position,
                full,
                delta,
                finished,
                target_duration_s,
            }
        };
        self.m3u8.publish(idx, version)?;
        // Release: a sibling that reads this position (Acquire) renders a report for a version
        // that is already answerable.
        slot.last.store(pack(position), Ordering::Release);
        slot.event.notify_all();
        Ok(())
    }

    /// The live stream called `name`, for reading.
    pub fn stream(&self, name: &str) -> Option<StreamRef<'_>> {
        let idx = self.chunks.lookup(name)?;
        let slot = self.slot(idx)?;
        Some(StreamRef::new(self, idx, slot))
    }

    /// The stream called `name`, once it exists: at once if it does, else when its first part
    /// is published. For a server that has just started (after a restart, its players ask for
    /// streams whose encoders are still reconnecting), so that they are held rather than told
    /// the stream does not exist. Waits without polling, like
    /// [`StreamRef::wait_playlist`].
    ///
    /// # Errors
    /// [`Error::InvalidStreamName`] for a name no stream may have, [`Error::WaitTimeout`] at
    /// `deadline`.
    pub async fn wait_stream(&self, name: &str, deadline: Instant) -> Result<StreamRef<'_>> {
        crate::chunk_cache::validate_stream_name(name)?;
        self.started
            .wait_until(deadline, || Ok(self.stream(name)))
            .await
    }
}

/// The state of the stream `idx`, or the reason there is none.
fn live_state<'a>(
    state: &'a mut Option<StreamState>,
    idx: StreamIdx,
    name: &str,
) -> Result<&'a mut StreamState> {
    match state.as_mut() {
        Some(st) if st.idx == idx && st.ended => Err(Error::StreamFinished(name.to_owned())),
        Some(st) if st.idx == idx => Ok(st),
        _ => Err(Error::StaleStream {
            index: idx.index(),
            generation: idx.generation(),
        }),
    }
}

/// The wall-clock time of `part`'s first sample when its source gives none: a live source
/// publishes a part once the part has ended, so its first sample was taken one part duration
/// before now. Dating it `now` put every EXT-X-PROGRAM-DATE-TIME one part late (seen with
/// hls.js: wall clock − `playingDate` read 0.2 s less than `hls.latency` with 200 ms parts).
fn first_sample_ms(part: &Part) -> u64 {
    let duration_ms =
        u128::from(part.timing.duration) * 1000 / u128::from(part.timing.timescale.max(1));
    now_ms().saturating_sub(u64::try_from(duration_ms).unwrap_or(u64::MAX))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_pack_and_unpack() {
        for p in [
            PartPosition { msn: 0, part: 0 },
            PartPosition { msn: 7, part: 4095 },
            PartPosition {
                msn: 1 << 40,
                part: 3,
            },
        ] {
            assert_eq!(unpack(pack(p)), Some(p));
        }
        assert_eq!(unpack(0), None);
    }
}

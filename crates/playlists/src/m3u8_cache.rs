//! Rendered playlist versions and init sections, per stream, compressed once at publish time.
//!
//! A blocking request `?_HLS_msn=M&_HLS_part=P` must always be answered with the same bytes
//! (§6.2.5.2: the server answers with the Playlist that contains that part; a CDN keyed on the
//! URL may hand those bytes to every later player). So every version the playlist builder
//! renders is kept, keyed by the position of its newest part, in a bounded ring:
//!
//! ```text
//!            oldest                                  latest
//!   ring: [ (7,3) | (7,4) | (8,0) | ... | (9,2) | (9,3) ]   ← publish pushes here,
//!            ▲ dropped when the ring holds `playlist_versions` entries
//! ```
//!
//! Each version carries the identity bytes and their gzip, and the same two for the delta
//! (`_HLS_skip=YES`) variant when the playlist advertises CAN-SKIP-UNTIL. Compression happens
//! exactly once, when the version is made ([`Rendered::new`], with [`crate::gzip`]), never per
//! request.
//!
//! Versions are shared as `Arc<PlaylistVersion>`: a reader clones the `Arc` under a read lock
//! held for a binary search, and serves the `Bytes` inside without copying.

use std::collections::VecDeque;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::chunk_cache::{Chunk, StreamIdx};
use crate::error::{Error, Result};
use crate::manifest::{ArchiveText, PartPosition};
use crate::options::Options;
use crate::sync::{Arc, RwLock};
use crate::uri_query::append_query_except;

/// One encoding pair of a rendered playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The playlist text, `Content-Encoding: identity`.
    pub plain: Bytes,
    /// The same text gzip-compressed, `Content-Encoding: gzip`.
    pub gzip: Bytes,
    /// xxh3-64 of `plain`: a strong validator (ETag) for both encodings.
    pub hash: u64,
}

impl Rendered {
    /// Compresses `plain` once ([`crate::gzip::gzip`]) and hashes it.
    pub fn new(plain: Vec<u8>) -> Self {
        let hash = crate::hash::xxh3_64(&plain);
        let gzip = crate::gzip::gzip(&plain);
        Self {
            plain: Bytes::from(plain),
            gzip,
            hash,
        }
    }
}

/// A version's full playlist: rendered and compressed at publish, or, for a stream with a DVR
/// window ([`Options::dvr_window_ms`](crate::Options::dvr_window_ms)), kept as its header, a
/// snapshot of the archive ([`ArchiveText`], shared by every version made while it did not
/// change) and the live window's lines, and written and compressed on first use. A DVR
/// playlist lists hours of segments, and players reload it with delta updates: writing and
/// compressing it for every part would cost milliseconds a part, for a text few requests ask
/// for. Once written, a version holds its text (about 100 bytes a segment, and a tenth of that
/// gzip'd) until it leaves the version ring.
///
/// Reads as the [`Rendered`] it stands for (`Deref`).
#[derive(Debug, Clone)]
pub struct FullPlaylist {
    deferred: Option<Deferred>,
    rendered: OnceLock<Rendered>,
}

/// What a DVR playlist is assembled from.
#[derive(Debug, Clone)]
struct Deferred {
    head: Bytes,
    archive: Arc<ArchiveText>,
    /// The query every URI gets (signed playback), applied to the archive's lines when
    /// assembled.
    query: Option<String>,
    live: Bytes,
}

impl FullPlaylist {
    /// The playlist `head`, then `archive`'s lines with `query` on their URIs, then `live`,
    /// assembled when first read.
    pub(crate) fn deferred(
        head: Bytes,
        archive: Arc<ArchiveText>,
        query: Option<String>,
        live: Bytes,
    ) -> Self {
        Self {
            deferred: Some(Deferred {
                head,
                archive,
                query,
                live,
            }),
            rendered: OnceLock::new(),
        }
    }

    /// The playlist, rendered (on first use for an assembled one: the archive's lines
    /// written, a hash and a gzip, once per version).
    pub fn get(&self) -> &Rendered {
        self.rendered.get_or_init(|| {
            let Some(d) = &self.deferred else {
                return Rendered::new(Vec::new());
            };
            let mut archive = Vec::new();
            d.archive.write(&mut archive);
            if let Some(q) = &d.query {
                archive = append_query_except(&archive, q, &[]);
            }
            Rendered::new([&d.head[..], &archive[..], &d.live[..]].concat())
        })
    }

    /// Whether it is assembled on first use (a DVR playlist).
    pub fn is_deferred(&self) -> bool {
        self.deferred.is_some()
    }
}

impl From<Rendered> for FullPlaylist {
    fn from(rendered: Rendered) -> Self {
        Self {
            deferred: None,
            rendered: OnceLock::from(rendered),
        }
    }
}

impl std::ops::Deref for FullPlaylist {
    type Target = Rendered;

    fn deref(&self) -> &Rendered {
        self.get()
    }
}

impl PartialEq for FullPlaylist {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for FullPlaylist {}

/// A playlist as it was after the part at `position` was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistVersion {
    /// The newest part this version lists; the key blocking requests are answered by.
    pub position: PartPosition,
    /// The full media playlist.
    pub full: FullPlaylist,
    /// The delta playlist (EXT-X-SKIP, §4.4.5.2), present once the playlist advertises
    /// CAN-SKIP-UNTIL.
    pub delta: Option<Rendered>,
    /// The version carries EXT-X-ENDLIST: the stream is over.
    pub finished: bool,
    /// Its EXT-X-TARGETDURATION (the stream's, for its whole life), so a server can derive
    /// cache lifetimes from the version it answers with, without reading the stream's state.
    pub target_duration_s: u32,
}

/// Inits kept per stream. The window can only reference the inits of the discontinuities it
/// spans, so a small bound keeps an encoder that reconnects in a loop from growing memory.
const MAX_INITS: usize = 8;

/// What one stream holds. Tagged with the generation of the stream that wrote it, so a stale
/// [`StreamIdx`] (a finished stream whose slot was reused) never reads another stream's data.
#[derive(Debug, Default)]
struct Versions {
    generation: u32,
    ring: VecDeque<Arc<PlaylistVersion>>,
    /// Init sections as chunks whose id is the init id.
    inits: VecDeque<Chunk>,
}

/// Per-stream rings of recent playlist versions plus init sections; memory is bounded by
/// `num_playlists × playlist_versions` versions and eight init sections per stream.
///
/// Lookups take a per-stream read lock for a binary search and an `Arc` clone; publishing
/// takes the write lock for a push. Streams never contend with each other.
#[derive(Debug)]
pub struct M3u8Cache {
    streams: Box<[RwLock<Versions>]>,
    /// Ring depth, `Options::playlist_versions`.
    depth: usize,
}

impl M3u8Cache {
    /// Allocates the per-stream rings for `opts.num_playlists` streams.
    pub fn new(opts: &Options) -> Result<Self> {
        opts.validate()?;
        let streams = (0..opts.num_playlists)
            .map(|_| RwLock::new(Versions::default()))
            .collect();
        Ok(Self {
            streams,
            depth: opts.playlist_versions,
        })
    }

    fn slot(&self, stream: StreamIdx) -> Result<&RwLock<Versions>> {
        self.streams.get(stream.index()).ok_or(Error::StaleStream {
            index: stream.index(),
            generation: stream.generation(),
        })
    }

    /// Stores a new version. Versions must be published in position order; a version whose
    /// position is not after the latest one is refused with [`Error::InvalidPart`], so the
    /// ring stays sorted and a position is never answered with two different playlists. The
    /// one exception is the final (ENDLIST) version, which may share the position of the last
    /// live one and then wins at that position.
    ///
    /// # Errors
    /// [`Error::InvalidPart`] for a version out of order; [`Error::StaleStream`] for a handle
    /// out of range or older than the stream now holding the slot.
    pub fn publish(&self, stream: StreamIdx, version: PlaylistVersion) -> Result<()> {
        let slot = self.slot(stream)?;
        let version = Arc::new(version);
        // The evicted version is dropped after the lock is released.
        let _evicted = {
            let mut v = slot.write();
            Self::claim(&mut v, stream)?;
            if let Some(latest) = v.ring.back() {
                let in_order = version.position > latest.position
                    || (version.finished
                        && !latest.finished
                        && version.position == latest.position);
                if !in_order {
                    return Err(Error::InvalidPart(format!(
                        "playlist version {:?} published after {:?}",
                        version.position, latest.position
                    )));
                }
            }
            v.ring.push_back(version);
            if v.ring.len() > self.depth {
                v.ring.pop_front()
            } else {
                None
            }
        };
        Ok(())
    }

    /// Resets the slot if it still holds an older stream's data; refuses a handle older than
    /// the stream that holds the slot, so a late publisher of a finished stream can never
    /// wipe (or write into) the stream that reused its slot.
    fn claim(v: &mut Versions, stream: StreamIdx) -> Result<()> {
        if v.generation == stream.generation() {
            return Ok(());
        }
        if !newer(stream.generation(), v.generation) {
            return Err(Error::StaleStream {
                index: stream.index(),
                generation: stream.generation(),
            });
        }
        v.generation = stream.generation();
        v.ring.clear();
        v.inits.clear();
        Ok(())
    }

    /// The newest version, if the stream has published one.
    pub fn latest(&self, stream: StreamIdx) -> Option<Arc<PlaylistVersion>> {
        let v = self.slot(stream).ok()?.read();
        if v.generation != stream.generation() {
            return None;
        }
        v.ring.back().cloned()
    }

    /// The version published when `position` was the newest part, if still in the ring.
    ///
    /// When a stream ends, the final (ENDLIST) version shares its position with the last live
    /// one; the final version wins, since once ENDLIST exists every answer should carry it.
    pub fn at(&self, stream: StreamIdx, position: PartPosition) -> Option<Arc<PlaylistVersion>> {
        let v = self.slot(stream).ok()?.read();
        if v.generation != stream.generation() {
            return None;
        }
        // Positions are strictly increasing except for the final version (see `publish`), so
        // the last entry at `position` is found right after the partition point.
        let end = v.ring.partition_point(|x| x.position <= position);
        let found = v.ring.get(end.checked_sub(1)?)?;
        (found.position == position).then(|| found.clone())
    }

    /// The oldest position still answerable by [`at`](Self::at).
    pub fn oldest(&self, stream: StreamIdx) -> Option<PartPosition> {
        let v = self.slot(stream).ok()?.read();
        if v.generation != stream.generation() {
            return None;
        }
        v.ring.front().map(|x| x.position)
    }

    /// Stores an init section (an EXT-X-MAP target) under `id`, replacing one with the same
    /// id; the oldest of more than eight is forgotten. It is kept as a [`Chunk`] whose `id` is
    /// the init id (`0` for the first, incremented whenever the encoder's init changes, always
    /// at a discontinuity; the playlist names it `init.mp4` / `init-{id}.mp4`) and whose hash
    /// is the HTTP ETag, as for parts.
    ///
    /// # Errors
    /// [`Error::StaleStream`] as [`publish`](Self::publish).
    pub fn set_init(&self, stream: StreamIdx, id: u32, bytes: Bytes) -> Result<Chunk> {
        let slot = self.slot(stream)?;
        let init = Chunk {
            id: u64::from(id),
            hash: crate::hash::xxh3_64(&bytes),
            bytes,
        };
        let mut v = slot.write();
        Self::claim(&mut v, stream)?;
        v.inits.retain(|i| i.id != init.id);
        if v.inits.len() == MAX_INITS {
            v.inits.pop_front();
        }
        v.inits.push_back(init.clone());
        Ok(init)
    }

    /// The init section `id`, if kept.
    pub fn init(&self, stream: StreamIdx, id: u32) -> Option<Chunk> {
        let v = self.slot(stream).ok()?.read();
        if v.generation != stream.generation() {
            return None;
        }
        v.inits.iter().find(|i| i.id == u64::from(id)).cloned()
    }

    /// The most recently stored init section.
    pub fn latest_init(&self, stream: StreamIdx) -> Option<Chunk> {
        let v = self.slot(stream).ok()?.read();
        if v.generation != stream.generation() {
            return None;
        }
        v.inits.back().cloned()
    }

    /// Forgets everything the stream stored. A stale handle clears nothing: the slot may
    /// already hold the stream that reused it.
    pub fn clear(&self, stream: StreamIdx) {
        if let Ok(slot) = self.slot(stream) {
            let (ring, inits) = {
                let mut v = slot.write();
                if newer(v.generation, stream.generation()) {
                    return;
                }
                (std::mem::take(&mut v.ring), std::mem::take(&mut v.inits))
            };
            // Dropped outside the lock: freeing 64 playlists is not a reader's wait.
            drop((ring, inits));
        }
    }
}

/// Whether generation `a` came after `b`. Generations go up by one per reuse of a stream slot
/// and wrap, so "after" is the wrapping distance being under half the range.
fn newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

#[cfg(all(test, not(playlists_loom)))]
mod tests {
    use std::io::Read as _;

    use super::*;
    use crate::ChunkCache;

    fn pos(msn: u64, part: u32) -> PartPosition {
        PartPosition { msn, part }
    }

    fn version(position: PartPosition, finished: bool) -> PlaylistVersion {
        let text = format!(
            "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:{}\n# part {}{}\n",
            position.msn,
            position.part,
            if finished { "\n#EXT-X-ENDLIST" } else { "" }
        );
        PlaylistVersion {
            position,
            full: Rendered::new(text.into_bytes()).into(),
            delta: None,
            finished,
            target_duration_s: 2,
        }
    }

    /// A cache of `depth` versions per stream and a live handle on it.
    fn cache(depth: usize) -> (M3u8Cache, ChunkCache, StreamIdx) {
        let opts = Options {
            num_playlists: 2,
            playlist_versions: depth,
            ..Options::default()
        };
        let chunks = ChunkCache::with_capacity(2, 4).unwrap();
        let s = chunks.register("cam").unwrap();
        (M3u8Cache::new(&opts).unwrap(), chunks, s)
    }

    #[test]
    fn publishing_out_of_order_is_refused_and_changes_nothing() {
        let (m3u8, _chunks, s) = cache(8);
        m3u8.publish(s, version(pos(3, 0), false)).unwrap();
        m3u8.publish(s, version(pos(3, 1), false)).unwrap();
        for stale in [pos(3, 1), pos(3, 0), pos(2, 9)] {
            assert!(matches!(
                m3u8.publish(s, version(stale, false)),
                Err(Error::InvalidPart(_))
            ));
        }
        assert_eq!(m3u8.latest(s).unwrap().position, pos(3, 1));
        assert_eq!(m3u8.oldest(s), Some(pos(3, 0)));
        assert_eq!(
            m3u8.at(s, pos(3, 1)).unwrap().full.plain,
            version(pos(3, 1), false).full.plain
        );
    }

    #[test]
    fn the_final_version_takes_over_the_last_position_once() {
        let (m3u8, _chunks, s) = cache(8);
        m3u8.publish(s, version(pos(5, 2), false)).unwrap();
        m3u8.publish(s, version(pos(5, 2), true)).unwrap();
        let at = m3u8.at(s, pos(5, 2)).unwrap();
        assert!(at.finished, "the ENDLIST version answers its position");
        assert!(at.full.plain.ends_with(b"#EXT-X-ENDLIST\n"));
        assert!(m3u8.latest(s).unwrap().finished);
        // Neither a second final version nor a live one may follow at that position.
        assert!(m3u8.publish(s, version(pos(5, 2), true)).is_err());
        assert!(m3u8.publish(s, version(pos(5, 2), false)).is_err());
    }

    #[test]
    fn at_answers_exact_positions_only() {
        let (m3u8, _chunks, s) = cache(8);
        for p in [pos(0, 0), pos(0, 2), pos(1, 0), pos(1, 1)] {
            m3u8.publish(s, version(p, false)).unwrap();
        }
        for p in [pos(0, 0), pos(0, 2), pos(1, 0), pos(1, 1)] {
            let v = m3u8.at(s, p).unwrap();
            assert_eq!(v.position, p);
            assert_eq!(v.full, version(p, false).full);
        }
        for missing in [
            pos(0, 1),
            pos(0, 3),
            pos(1, 2),
            pos(2, 0),
            pos(u64::MAX, u32::MAX),
        ] {
            assert!(m3u8.at(s, missing).is_none(), "{missing:?}");
        }
    }

    #[test]
    fn depth_is_bounded_and_evicts_the_oldest() {
        let (m3u8, _chunks, s) = cache(4);
        for part in 0..10 {
            m3u8.publish(s, version(pos(0, part), false)).unwrap();
        }
        assert_eq!(m3u8.oldest(s), Some(pos(0, 6)));
        for part in 0..6 {
            assert!(m3u8.at(s, pos(0, part)).is_none(), "part {part} evicted");
        }
        for part in 6..10 {
            assert_eq!(m3u8.at(s, pos(0, part)).unwrap().position, pos(0, part));
        }
        assert_eq!(m3u8.slot(s).unwrap().read().ring.len(), 4);
    }

    #[test]
    fn a_reused_slot_shows_nothing_of_the_old_stream() {
        let (m3u8, chunks, old) = cache(8);
        m3u8.publish(old, version(pos(7, 0), false)).unwrap();
        m3u8.set_init(old, 0, Bytes::from_static(b"old init"))
            .unwrap();
        chunks.fin(old).unwrap();
        let new = chunks.register("other").unwrap();
        assert_eq!(new.index(), old.index());

        // The new stream sees nothing until it publishes; its first publish claims the slot.
        assert!(m3u8.latest(new).is_none());
        assert!(m3u8.init(new, 0).is_none());
        m3u8.publish(new, version(pos(0, 0), false)).unwrap();
        assert_eq!(m3u8.oldest(new), Some(pos(0, 0)));
        assert!(m3u8.at(new, pos(7, 0)).is_none());
        assert!(m3u8.latest_init(new).is_none(), "the old init is gone");

        // The old handle reads nothing, and a late write through it is refused without
        // touching the new stream.
        assert!(m3u8.latest(old).is_none());
        assert!(m3u8.at(old, pos(7, 0)).is_none());
        assert!(m3u8.init(old, 0).is_none());
        assert!(matches!(
            m3u8.publish(old, version(pos(8, 0), false)),
            Err(Error::StaleStream { .. })
        ));
        assert!(matches!(
            m3u8.set_init(old, 1, Bytes::from_static(b"late")),
            Err(Error::StaleStream { .. })
        ));
        m3u8.clear(old);
        assert_eq!(
            m3u8.latest(new).unwrap().position,
            pos(0, 0),
            "stale clear is a no-op"
        );

        m3u8.clear(new);
        assert!(m3u8.latest(new).is_none());
        assert!(m3u8.oldest(new).is_none());
    }

    #[test]
    fn generations_compare_across_wrap_around() {
        assert!(newer(1, 0));
        assert!(!newer(0, 1));
        assert!(!newer(5, 5));
        assert!(newer(0, u32::MAX), "0 follows u32::MAX");
        assert!(!newer(u32::MAX, 0));
    }

    #[test]
    fn init_sections_are_bounded_and_hashed() {
        let (m3u8, _chunks, s) = cache(8);
        for id in 0..20u32 {
            let bytes = Bytes::from(format!("init {id}"));
            let init = m3u8.set_init(s, id, bytes.clone()).unwrap();
            assert_eq!(init.hash, xxhash_rust::xxh3::xxh3_64(&bytes));
        }
        assert_eq!(m3u8.slot(s).unwrap().read().inits.len(), MAX_INITS);
        for id in 0..12 {
            assert!(m3u8.init(s, id).is_none(), "init {id} forgotten");
        }
        for id in 12..20 {
            assert_eq!(m3u8.init(s, id).unwrap().bytes, format!("init {id}"));
        }
        assert_eq!(m3u8.latest_init(s).unwrap().id, 19);
        // Replacing an id keeps one entry for it, and it becomes the latest.
        m3u8.set_init(s, 14, Bytes::from_static(b"new 14")).unwrap();
        assert_eq!(m3u8.slot(s).unwrap().read().inits.len(), MAX_INITS);
        assert_eq!(m3u8.init(s, 14).unwrap().bytes, "new 14");
        assert_eq!(m3u8.latest_init(s).unwrap().id, 14);
    }

    #[test]
    fn gzip_decodes_to_the_identity_bytes() {
        let text: String = (0..500)
            .map(|i| format!("#EXT-X-PART:DURATION=0.2,URI=\"p{i}.mp4\"\n"))
            .collect();
        for plain in [text.into_bytes(), Vec::new(), b"#EXTM3U\n".to_vec()] {
            let rendered = Rendered::new(plain.clone());
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&rendered.gzip[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, plain);
            assert_eq!(rendered.plain, plain);
            assert_eq!(rendered.hash, xxhash_rust::xxh3::xxh3_64(&plain));
        }
        let long = Rendered::new(vec![b'x'; 100_000]);
        assert!(long.gzip.len() < 1000, "repetitive text compresses");
    }

    #[test]
    fn out_of_range_handles_are_errors_not_panics() {
        let (m3u8, _chunks, _s) = cache(8);
        let other = ChunkCache::with_capacity(8, 1).unwrap();
        let far = (0..8)
            .map(|i| other.register(&format!("s{i}")).unwrap())
            .last()
            .unwrap();
        assert_eq!(far.index(), 7, "beyond the 2 streams of `m3u8`");
        assert!(m3u8.publish(far, version(pos(0, 0), false)).is_err());
        assert!(m3u8.set_init(far, 0, Bytes::new()).is_err());
        assert!(m3u8.latest(far).is_none());
        assert!(m3u8.at(far, pos(0, 0)).is_none());
        m3u8.clear(far);
    }
}

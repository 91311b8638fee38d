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
//! exactly once, in [`M3u8Cache::publish`], never per request.
//!
//! Versions are shared as `Arc<PlaylistVersion>`: a reader clones the `Arc` under a read lock
//! held for a binary search, and serves the `Bytes` inside without copying.

use std::collections::VecDeque;
use std::io::Write as _;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::chunk_cache::{Chunk, StreamIdx};
use crate::error::{Error, Result};
use crate::manifest::PartPosition;
use crate::options::Options;
use crate::sync::{Arc, RwLock};

/// gzip level for playlists. Level 1 already shrinks a playlist ~5× (its lines repeat) at a
/// fraction of the cost of the default level; playlists are compressed once per part on the
/// publish path, so that cost is what bounds the number of streams per core.
const GZIP_LEVEL: u32 = 1;

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
    /// Compresses `plain` once and hashes it.
    pub fn new(plain: Vec<u8>) -> Self {
        let hash = xxhash_rust::xxh3::xxh3_64(&plain);
        let gzip = gzip(&plain);
        Self {
            plain: Bytes::from(plain),
            gzip,
            hash,
        }
    }
}

/// A playlist as it was after the part at `position` was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistVersion {
    /// The newest part this version lists; the key blocking requests are answered by.
    pub position: PartPosition,
    /// The full media playlist.
    pub full: Rendered,
    /// The delta playlist (EXT-X-SKIP, §4.4.5.2), present once the playlist advertises
    /// CAN-SKIP-UNTIL.
    pub delta: Option<Rendered>,
    /// The version carries EXT-X-ENDLIST: the stream is over.
    pub finished: bool,
}

/// An init section (EXT-X-MAP target) with its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSection {
    /// Which init this is: `0` for the first, incremented whenever the encoder's init changes
    /// (always at a discontinuity). The playlist names it `init.mp4` / `init-{id}.mp4`.
    pub id: u32,
    /// The bytes and their hash, as the HTTP layer serves them.
    pub chunk: Chunk,
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
    inits: VecDeque<InitSection>,
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
    /// ring stays sorted and a position is never answered with two different playlists.
    pub fn publish(&self, stream: StreamIdx, version: PlaylistVersion) -> Result<()> {
        let slot = self.slot(stream)?;
        let version = Arc::new(version);
        // The evicted version is dropped after the lock is released.
        let _evicted = {
            let mut v = slot.write();
            Self::claim(&mut v, stream);
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

    /// Resets the slot if it still holds an older stream's data.
    fn claim(v: &mut Versions, stream: StreamIdx) {
        if v.generation != stream.generation() {
            v.generation = stream.generation();
            v.ring.clear();
            v.inits.clear();
        }
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

    /// Stores an init section under `id`, replacing one with the same id.
    pub fn set_init(&self, stream: StreamIdx, id: u32, bytes: Bytes) -> Result<InitSection> {
        let slot = self.slot(stream)?;
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        let init = InitSection {
            id,
            chunk: Chunk {
                id: u64::from(id),
                hash,
                bytes,
            },
        };
        let mut v = slot.write();
        Self::claim(&mut v, stream);
        v.inits.retain(|i| i.id != id);
        if v.inits.len() == MAX_INITS {
            v.inits.pop_front();
        }
        v.inits.push_back(init.clone());
        Ok(init)
    }

    /// The init section `id`, if kept.
    pub fn init(&self, stream: StreamIdx, id: u32) -> Option<InitSection> {
        let v = self.slot(stream).ok()?.read();
        if v.generation != stream.generation() {
            return None;
        }
        v.inits.iter().find(|i| i.id == id).cloned()
    }

    /// The most recently stored init section.
    pub fn latest_init(&self, stream: StreamIdx) -> Option<InitSection> {
        let v = self.slot(stream).ok()?.read();
        if v.generation != stream.generation() {
            return None;
        }
        v.inits.back().cloned()
    }

    /// Forgets everything the stream stored. The ring keeps its allocation for the next stream.
    pub fn clear(&self, stream: StreamIdx) {
        if let Ok(slot) = self.slot(stream) {
            let (ring, inits) = {
                let mut v = slot.write();
                (std::mem::take(&mut v.ring), std::mem::take(&mut v.inits))
            };
            // Dropped outside the lock: freeing 64 playlists is not a reader's wait.
            drop((ring, inits));
        }
    }
}

/// gzip in one pass into a buffer sized for the usual 5× ratio of playlist text.
fn gzip(plain: &[u8]) -> Bytes {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(plain.len() / 4 + 64),
        Compression::new(GZIP_LEVEL),
    );
    // The only error source of a GzEncoder is its sink, and a Vec sink never fails.
    let out = encoder
        .write_all(plain)
        .and_then(|()| encoder.finish())
        .expect("gzip into a Vec cannot fail");
    Bytes::from(out)
}

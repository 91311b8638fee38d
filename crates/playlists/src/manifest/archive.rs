//! The DVR window ([`Options::dvr_window_ms`](crate::Options::dvr_window_ms)): segments that
//! left the live window stay listed, without their parts, for as long as the DVR window.
//!
//! ```text
//!   archive (listed, no parts: served from the server's segment store)  │ live window
//!   ┌──────┬──────┬ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ┬──────┐                  │ ┌──────┬ ─ ┬──────┐ ┌────┐
//!   │ s5   │ s6   │   …  up to the DVR window  │ s3599│                  │ │ s3600│   │ s3631│ │open│
//!   └──────┴──────┴ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ┴──────┘                  │ └──────┴ ─ ┴──────┘ └────┘
//!   MEDIA-SEQUENCE = 5; only segments past the Skip Boundary are archived, so a delta update
//!   (§6.2.5.1) skips the whole archive and stays as small as the live playlist's.
//! ```
//!
//! A segment is archived when it leaves the live window (`max_segments`) and lies past the
//! Skip Boundary; its parts leave the chunk cache then, so a stream's memory is its live
//! window whatever the DVR window. Its lines (date, EXTINF, URI) are kept as text. Nothing of
//! the archive is written per part: a playlist version takes a snapshot ([`ArchiveText`]:
//! blocks of segments, immutable and shared, so a snapshot costs a few reference counts, not
//! a copy of hours of lines), and the full playlist, the header, the archive's lines, then the
//! live window's ([`M3u8Manifest::render_split`]), is written from it when first asked for.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;

use super::render::InitUri;
use super::{M3u8Manifest, Segment};

/// Archived segments per shared block: a snapshot clones one reference per block and copies
/// at most a block's worth of entry headers.
const BLOCK: usize = 256;

/// One archived segment.
#[derive(Debug, Clone)]
struct Archived {
    msn: u64,
    /// Where it ends on the stream's media clock, µs.
    end_us: u64,
    discontinuity: bool,
    init_id: u32,
    /// Its date, EXTINF and URI lines.
    text: Bytes,
}

/// The archived segments of one stream, oldest first.
#[derive(Debug, Clone)]
pub(super) struct Archive {
    /// How much media it lists, µs.
    window_us: u64,
    /// Full blocks, immutable once full, shared with snapshots.
    blocks: VecDeque<Arc<[Archived]>>,
    /// Entries of `blocks[0]` already trimmed away.
    skip: usize,
    /// The newest entries, not yet a block.
    tail: Vec<Archived>,
    /// Entries carrying EXT-X-DISCONTINUITY, so a render need not look.
    discontinuities: usize,
    /// The snapshot of the current state, made after each change.
    snapshot: Arc<ArchiveText>,
}

/// The archive at one moment: what a playlist version lists before its live window. Shared by
/// every version made while the archive did not change.
#[derive(Debug, Default)]
pub struct ArchiveText {
    blocks: Vec<Arc<[Archived]>>,
    skip: usize,
    tail: Arc<[Archived]>,
}

impl ArchiveText {
    fn iter(&self) -> impl Iterator<Item = &Archived> {
        self.blocks
            .iter()
            .flat_map(|b| b.iter())
            .skip(self.skip)
            .chain(self.tail.iter())
    }

    /// Segments listed.
    pub fn len(&self) -> usize {
        self.blocks.iter().map(|b| b.len()).sum::<usize>() - self.skip + self.tail.len()
    }

    /// Whether it lists nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the lines: the first segment gets a MAP (and its DISCONTINUITY, if it has one:
    /// §4.4.4.3 allows it first); later ones a MAP only where the init section changes.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.reserve(self.len() * 96);
        let mut map = None;
        for s in self.iter() {
            if s.discontinuity {
                out.extend_from_slice(b"#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(s.init_id) {
                // io::Write into a Vec never fails.
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", InitUri(s.init_id));
                map = Some(s.init_id);
            }
            out.extend_from_slice(&s.text);
        }
    }

    /// The init section of the newest segment: the live window's first segment needs a MAP
    /// only if it differs.
    pub(super) fn last_init(&self) -> Option<u32> {
        self.tail
            .last()
            .or_else(|| self.blocks.last().and_then(|b| b.last()))
            .map(|s| s.init_id)
    }
}

impl Archive {
    pub(super) fn new(window_ms: u64) -> Self {
        Self {
            window_us: window_ms.saturating_mul(1000),
            blocks: VecDeque::new(),
            skip: 0,
            tail: Vec::new(),
            discontinuities: 0,
            snapshot: Arc::default(),
        }
    }

    /// Takes `segment`, which left the live window (complete, so its text has its EXTINF).
    pub(super) fn push(&mut self, segment: &Segment) {
        let text = [&segment.text.date[..], &segment.text.extinf[..]].concat();
        self.discontinuities += usize::from(segment.discontinuity);
        self.tail.push(Archived {
            msn: segment.msn,
            end_us: segment.end_us(),
            discontinuity: segment.discontinuity,
            init_id: segment.init_id,
            text: Bytes::from(text),
        });
        if self.tail.len() == BLOCK {
            self.blocks.push_back(std::mem::take(&mut self.tail).into());
        }
    }

    /// Drops the segments that ended more than the DVR window before `end_us`; returns how
    /// many of them carried EXT-X-DISCONTINUITY (for DISCONTINUITY-SEQUENCE, §6.2.2).
    pub(super) fn trim(&mut self, end_us: u64) -> u64 {
        let mut discontinuities = 0;
        while let Some(first) = self.first() {
            if end_us.saturating_sub(first.end_us) <= self.window_us {
                break;
            }
            discontinuities += u64::from(first.discontinuity);
            self.discontinuities -= usize::from(first.discontinuity);
            match self.blocks.front() {
                Some(block) => {
                    self.skip += 1;
                    if self.skip == block.len() {
                        self.blocks.pop_front();
                        self.skip = 0;
                    }
                }
                None => {
                    self.tail.remove(0);
                }
            }
        }
        discontinuities
    }

    /// Makes the snapshot of the current state, after pushes and trims: a reference per
    /// block and the tail's entries (reference counts), once per change.
    pub(super) fn refresh(&mut self) {
        self.snapshot = Arc::new(ArchiveText {
            blocks: self.blocks.iter().cloned().collect(),
            skip: self.skip,
            tail: self.tail.as_slice().into(),
        });
    }

    pub(super) fn len(&self) -> usize {
        self.snapshot.len()
    }

    fn first(&self) -> Option<&Archived> {
        match self.blocks.front() {
            Some(block) => block.get(self.skip),
            None => self.tail.first(),
        }
    }

    fn last(&self) -> Option<&Archived> {
        self.tail
            .last()
            .or_else(|| self.blocks.back().and_then(|b| b.last()))
    }

    pub(super) fn first_msn(&self) -> Option<u64> {
        self.first().map(|s| s.msn)
    }

    pub(super) fn last_init(&self) -> Option<u32> {
        self.snapshot.last_init()
    }

    pub(super) fn has_discontinuity(&self) -> bool {
        self.discontinuities > 0
    }

    pub(super) fn contains(&self, msn: u64) -> bool {
        match (self.first(), self.last()) {
            (Some(first), Some(last)) => (first.msn..=last.msn).contains(&msn),
            _ => false,
        }
    }

    /// The current snapshot.
    pub(super) fn snapshot(&self) -> &Arc<ArchiveText> {
        &self.snapshot
    }
}

/// The DVR window and EVENT playlists, as the builder exposes them.
impl M3u8Manifest {
    /// Makes this an EVENT playlist (§4.4.3.5 `EXT-X-PLAYLIST-TYPE:EVENT`): every segment stays
    /// listed from the stream's start, those past the live window without their parts, as in a
    /// DVR window that never ends; segments are only ever appended. Call it before the first
    /// render.
    pub fn keep_everything(&mut self) {
        self.archive = Some(Archive::new(u64::MAX));
        self.event = true;
        if let Some(td) = self.target_duration_s {
            // SERVER-CONTROL follows: delta updates are what keep an event's reloads small.
            self.set_target_duration(td);
        }
    }

    /// Whether it is an EVENT playlist ([`keep_everything`](Self::keep_everything)).
    pub fn is_event(&self) -> bool {
        self.event
    }

    /// Whether segment `msn` is listed in the DVR archive: listed, but its parts are no
    /// longer kept ([`segment`](Self::segment) does not know it); a server serves it from its
    /// own store.
    pub fn is_archived(&self, msn: u64) -> bool {
        self.archive.as_ref().is_some_and(|a| a.contains(msn))
    }
}

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
//! window whatever the DVR window. Its lines (date, EXTINF, URI; DISCONTINUITY and MAP where
//! needed) are kept as text, and the archive's text is rebuilt once per change (once per
//! segment), not per part: a full playlist is the header, the archive's text, then the live
//! window's lines ([`M3u8Manifest::render_split`]).

use std::collections::VecDeque;
use std::io::Write;

use bytes::Bytes;

use super::render::InitUri;
use super::Segment;

/// One archived segment.
#[derive(Debug, Clone)]
struct Archived {
    msn: u64,
    /// Where it ends on the stream's media clock, µs.
    end_us: u64,
    discontinuity: bool,
    init_id: u32,
    /// Its date, EXTINF and URI lines.
    text: Vec<u8>,
}

/// The archived segments of one stream, oldest first.
#[derive(Debug, Clone)]
pub(super) struct Archive {
    /// How much media it lists, µs.
    window_us: u64,
    segments: VecDeque<Archived>,
    /// Every segment's lines in order, with DISCONTINUITY and MAP where they belong; rebuilt
    /// when the archive changes.
    text: Bytes,
    /// Bumped at every change of `text`, so a renderer can cache what it derives from it.
    generation: u64,
}

impl Archive {
    pub(super) fn new(window_ms: u64) -> Self {
        Self {
            window_us: window_ms.saturating_mul(1000),
            segments: VecDeque::new(),
            text: Bytes::new(),
            generation: 0,
        }
    }

    /// Takes `segment`, which left the live window (complete, so its text has its EXTINF).
    pub(super) fn push(&mut self, segment: &Segment) {
        let mut text = Vec::with_capacity(segment.text.date.len() + segment.text.extinf.len());
        text.extend_from_slice(&segment.text.date);
        text.extend_from_slice(&segment.text.extinf);
        self.segments.push_back(Archived {
            msn: segment.msn,
            end_us: segment.end_us(),
            discontinuity: segment.discontinuity,
            init_id: segment.init_id,
            text,
        });
    }

    /// Drops the segments that ended more than the DVR window before `end_us`; returns how
    /// many of them carried EXT-X-DISCONTINUITY (for DISCONTINUITY-SEQUENCE, §6.2.2).
    pub(super) fn trim(&mut self, end_us: u64) -> u64 {
        let mut discontinuities = 0;
        while let Some(first) = self.segments.front() {
            if end_us.saturating_sub(first.end_us) <= self.window_us {
                break;
            }
            discontinuities += u64::from(first.discontinuity);
            self.segments.pop_front();
        }
        discontinuities
    }

    /// Rebuilds the text after pushes and trims. The first segment gets a MAP (and its
    /// DISCONTINUITY, if it has one: §4.4.4.3 allows it first); later ones a MAP only where
    /// the init section changes.
    pub(super) fn rebuild(&mut self) {
        let len: usize = self.segments.iter().map(|s| s.text.len() + 48).sum();
        let mut out = Vec::with_capacity(len);
        let mut map = None;
        for s in &self.segments {
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
        self.text = Bytes::from(out);
        self.generation += 1;
    }

    pub(super) fn len(&self) -> usize {
        self.segments.len()
    }

    pub(super) fn first_msn(&self) -> Option<u64> {
        self.segments.front().map(|s| s.msn)
    }

    /// The init section of the newest archived segment: the live window's first segment
    /// needs a MAP only if it differs.
    pub(super) fn last_init(&self) -> Option<u32> {
        self.segments.back().map(|s| s.init_id)
    }

    pub(super) fn has_discontinuity(&self) -> bool {
        self.segments.iter().any(|s| s.discontinuity)
    }

    pub(super) fn contains(&self, msn: u64) -> bool {
        match (self.segments.front(), self.segments.back()) {
            (Some(first), Some(last)) => (first.msn..=last.msn).contains(&msn),
            _ => false,
        }
    }

    /// The archive's lines, and the generation they belong to.
    pub(super) fn text(&self) -> (u64, &Bytes) {
        (self.generation, &self.text)
    }
}

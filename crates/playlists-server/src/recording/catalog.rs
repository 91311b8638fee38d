//! [`Catalog`]: every recording the origin holds, in memory, rebuilt from the indexes on disk
//! at start.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

use super::archive::Item;
use super::index::{self, Line, SegmentEntry, INDEX_FILE};

/// Which recording: its stream and its id (its start, `20261207T203132Z`, unique per stream).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordingKey {
    /// The stream's name (`cam1`, `live/720p`).
    pub stream: String,
    /// The recording's id.
    pub id: String,
}

impl RecordingKey {
    /// The recording's directory under the recording root: `{stream}/{id}`, with the `/` of a
    /// rendition's name written `~` (which no stream name contains), so that no stream's
    /// directory is inside another's.
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join(self.stream.replace('/', "~")).join(&self.id)
    }

    /// The URL path of its playlist.
    pub fn playlist_path(&self) -> String {
        format!("/recordings/{}/{}/index.m3u8", self.stream, self.id)
    }
}

/// Where a recording stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingState {
    /// Its stream is live and it grows: served as an EVENT playlist.
    Recording,
    /// Its stream ended: served as VOD.
    Finished,
    /// Recording stopped early (a full disk, a write error, falling behind): served as VOD
    /// with what was written.
    Stopped(String),
    /// Found at start without an end: the origin stopped while recording (a crash, a
    /// restart). Served as VOD with every segment written before.
    Interrupted,
}

impl RecordingState {
    /// Its name in the JSON listing and the metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Recording => "recording",
            Self::Finished => "finished",
            Self::Stopped(_) => "stopped",
            Self::Interrupted => "interrupted",
        }
    }
}

/// One recording: what its index says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// When it started, ms since the Unix epoch.
    pub started_ms: u64,
    /// When it ended, if it did.
    pub ended_ms: Option<u64>,
    /// Where it stands.
    pub state: RecordingState,
    /// Its segments, oldest first.
    pub segments: VecDeque<SegmentEntry>,
    /// Init sections written, by id, with their sizes.
    pub inits: BTreeMap<u32, u64>,
    /// Retention removed segments from its start: its playlist is no longer an EVENT's.
    pub trimmed: bool,
    /// Segments numbered below this have no local file: the archive holds them
    /// ([`Line::Evict`]); `u64::MAX`: no file of it is local. 0 without an archive.
    pub evicted_below: u64,
    /// What the archive holds of it, when there is one (not indexed: found again at start).
    pub archive: ArchiveState,
}

/// What the archive holds of a recording, as far as this process knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveState {
    /// Compared with the archive: the recording was started by this process, or listed in
    /// the archive since the start. Until then nothing of it counts as archived.
    pub known: bool,
    /// Init sections and segments queued for upload and not yet uploaded.
    pub pending: std::collections::BTreeSet<Item>,
    /// Changes of the index that the archive's copy must catch up with ...
    pub index_version: u64,
    /// ... and the change the archive's copy has.
    pub index_archived: u64,
}

impl Recording {
    /// A recording that starts now.
    pub fn new(started_ms: u64) -> Self {
        Self {
            started_ms,
            ended_ms: None,
            state: RecordingState::Recording,
            segments: VecDeque::new(),
            inits: BTreeMap::new(),
            trimmed: false,
            evicted_below: 0,
            archive: ArchiveState::default(),
        }
    }

    /// Bytes on the local disk: what [`Recording::bytes`] counts, less what only the
    /// archive holds.
    pub fn local_bytes(&self) -> u64 {
        if self.evicted_below == u64::MAX {
            return 0;
        }
        let segments = self.segments.iter().filter(|s| s.msn >= self.evicted_below);
        let inits = self.inits.values().copied();
        segments
            .map(|s| s.bytes)
            .chain(inits)
            .fold(0, u64::saturating_add)
    }

    /// Every segment numbered below this is in the archive (0 while that is not known).
    pub fn archived_below(&self) -> u64 {
        if !self.archive.known {
            return 0;
        }
        let mut pending = self.archive.pending.iter();
        pending
            .find_map(|item| match item {
                Item::Segment(msn) => Some(*msn),
                _ => None,
            })
            .unwrap_or(u64::MAX)
    }

    /// The archive holds all of it, its final index included: its local files may go.
    pub fn fully_archived(&self) -> bool {
        self.archive.known
            && !self.is_live()
            && self.archive.pending.is_empty()
            && self.archive.index_archived >= self.archive.index_version
    }

    /// Bytes on disk: segments and init sections (the index is not counted).
    pub fn bytes(&self) -> u64 {
        // Saturating: an index is read from disk, and a damaged one must not panic the origin.
        let segments = self.segments.iter().map(|s| s.bytes);
        segments
            .chain(self.inits.values().copied())
            .fold(0, u64::saturating_add)
    }

    /// Seconds of media.
    pub fn duration_secs(&self) -> f64 {
        let us = self.segments.iter().map(|s| s.duration_us);
        us.fold(0, u64::saturating_add) as f64 / 1e6
    }

    /// Whether it may still grow.
    pub fn is_live(&self) -> bool {
        self.state == RecordingState::Recording
    }

    /// Applies one index line.
    pub fn apply(&mut self, line: Line) {
        match line {
            Line::Start { .. } => {}
            Line::Init { id, bytes } => {
                self.inits.insert(id, bytes);
            }
            Line::Segment(entry) => self.segments.push_back(entry),
            Line::Trim { below } => {
                while self.segments.front().is_some_and(|s| s.msn < below) {
                    self.segments.pop_front();
                }
                self.trimmed = true;
            }
            Line::Evict { below } => self.evicted_below = self.evicted_below.max(below),
            Line::End { at_ms, stopped } => {
                self.ended_ms = Some(at_ms);
                self.state = match stopped {
                    Some(reason) => RecordingState::Stopped(reason),
                    None => RecordingState::Finished,
                };
            }
        }
    }

    /// A recording rebuilt from its index lines; `None` when they do not start with
    /// [`Line::Start`] (not an index of ours). One without an end line is
    /// [`RecordingState::Interrupted`].
    pub fn replay(lines: Vec<Line>) -> Option<(String, Self)> {
        let mut lines = lines.into_iter();
        let Some(Line::Start { stream, started_ms }) = lines.next() else {
            return None;
        };
        let mut recording = Self::new(started_ms);
        for line in lines {
            recording.apply(line);
        }
        if recording.state == RecordingState::Recording {
            recording.state = RecordingState::Interrupted;
        }
        Some((stream, recording))
    }
}

/// Every recording, by stream and id.
#[derive(Debug, Default)]
pub struct Catalog {
    /// The recordings, ordered by stream, then id (their start).
    pub recordings: BTreeMap<RecordingKey, Recording>,
}

/// What [`Catalog::load`] found besides recordings.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoadReport {
    /// Recordings found.
    pub recordings: usize,
    /// Segments they hold.
    pub segments: usize,
    /// Index lines that did not parse (torn by a crash), skipped.
    pub torn_lines: usize,
    /// Files of segments that were being written at a crash, removed.
    pub partial_files: usize,
}

impl Catalog {
    /// Finds every recording under `root` (created if missing) from its index, removing the
    /// files of segments that were being written when the origin stopped. Directories that
    /// are not recordings are left alone.
    ///
    /// # Errors
    /// `root` cannot be created or read.
    pub fn load(root: &Path) -> io::Result<(Self, LoadReport)> {
        std::fs::create_dir_all(root)?;
        let mut catalog = Self::default();
        let mut report = LoadReport::default();
        for stream_dir in std::fs::read_dir(root)? {
            let stream_dir = stream_dir?;
            if !stream_dir.file_type()?.is_dir() {
                continue;
            }
            for rec_dir in std::fs::read_dir(stream_dir.path())? {
                let rec_dir = rec_dir?;
                let Some(id) = rec_dir.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let path = rec_dir.path();
                let Ok((lines, torn)) = index::read(&path.join(INDEX_FILE)) else {
                    continue;
                };
                let Some((stream, recording)) = Recording::replay(lines) else {
                    continue;
                };
                let key = RecordingKey { stream, id };
                // The directory must be the one the key names: an index copied elsewhere
                // would otherwise be served from the wrong place.
                if key.dir(root) != path {
                    continue;
                }
                report.torn_lines += torn;
                report.partial_files += remove_partial(&path);
                report.recordings += 1;
                report.segments += recording.segments.len();
                catalog.recordings.insert(key, recording);
            }
        }
        Ok((catalog, report))
    }

    /// Total bytes on the local disk.
    pub fn bytes(&self) -> u64 {
        let bytes = self.recordings.values().map(Recording::local_bytes);
        bytes.fold(0, u64::saturating_add)
    }
}

/// Removes `*.tmp` files (segments being written at a crash) from a recording's directory.
fn remove_partial(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".tmp")))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn entry(msn: u64) -> SegmentEntry {
        SegmentEntry {
            msn,
            duration_us: 2_000_000,
            pdt_us: msn * 2_000_000,
            discontinuity: false,
            init: 0,
            bytes: 100,
        }
    }

    fn write_index(root: &Path, key: &RecordingKey, lines: &[Line]) -> PathBuf {
        let dir = key.dir(root);
        std::fs::create_dir_all(&dir).unwrap();
        let mut file = index::open_append(&dir.join(INDEX_FILE)).unwrap();
        for line in lines {
            file.write_all(&line.encode()).unwrap();
        }
        dir
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// An index damaged in any way (garbage lines, extreme numbers, lines out of order) is
        /// read without a panic, and what it yields is listed, rendered, served and retained
        /// without one either.
        #[test]
        fn any_index_loads_and_serves_without_a_panic(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    (proptest::prelude::any::<u64>(), proptest::prelude::any::<u64>(),
                     proptest::prelude::any::<u64>(), proptest::prelude::any::<bool>(),
                     proptest::prelude::any::<u32>(), proptest::prelude::any::<u64>())
                        .prop_map(|(msn, duration_us, pdt_us, discontinuity, init, bytes)| {
                            Line::Segment(SegmentEntry {
                                msn, duration_us, pdt_us, discontinuity, init, bytes,
                            }).encode()
                        }),
                    (proptest::prelude::any::<u32>(), proptest::prelude::any::<u64>())
                        .prop_map(|(id, bytes)| Line::Init { id, bytes }.encode()),
                    proptest::prelude::any::<u64>()
                        .prop_map(|below| Line::Trim { below }.encode()),
                    (proptest::prelude::any::<u64>(), proptest::prelude::any::<bool>())
                        .prop_map(|(at_ms, stopped)| Line::End {
                            at_ms,
                            stopped: stopped.then(|| "x".to_owned()),
                        }.encode()),
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
                ],
                0..40,
            ),
            started_ms in proptest::prelude::any::<u64>(),
            now_ms in proptest::prelude::any::<u64>(),
        ) {
            let root = tempfile::tempdir().unwrap();
            let key = RecordingKey { stream: "cam".into(), id: "r".into() };
            let dir = key.dir(root.path());
            std::fs::create_dir_all(&dir).unwrap();
            let mut bytes = Line::Start { stream: "cam".into(), started_ms }.encode();
            for line in &lines {
                bytes.extend_from_slice(line);
            }
            std::fs::write(dir.join(INDEX_FILE), &bytes).unwrap();
            let (catalog, _) = Catalog::load(root.path()).unwrap();
            let _ = catalog.bytes();
            let retention = super::super::Retention {
                max_age: Some(std::time::Duration::from_secs(3600)),
                max_bytes: Some(1 << 20),
            };
            let _ = retention.plan(&catalog, now_ms);
            for rec in catalog.recordings.values() {
                let _ = super::super::vod::render(rec, Some("token=1.a"));
                let _ = rec.duration_secs();
            }
            let recordings = super::super::Recordings::new(root.path().to_owned(), catalog, None);
            let _ = recordings.list();
            let _ = recordings.file(&key, "7.m4s");
            let _ = recordings.recorded_segment("cam", 7);
        }
    }

    #[test]
    fn recordings_are_found_again_with_their_state_trims_and_partial_files_removed() {
        let root = tempfile::tempdir().unwrap();
        let start = |stream: &str| Line::Start {
            stream: stream.into(),
            started_ms: 5,
        };
        let finished = RecordingKey {
            stream: "live/720p".into(),
            id: "20261207T203132Z".into(),
        };
        write_index(
            root.path(),
            &finished,
            &[
                start("live/720p"),
                Line::Init { id: 0, bytes: 50 },
                Line::Segment(entry(1)),
                Line::Segment(entry(2)),
                Line::Segment(entry(3)),
                Line::Trim { below: 2 },
                Line::End {
                    at_ms: 9,
                    stopped: None,
                },
            ],
        );
        let crashed = RecordingKey {
            stream: "cam".into(),
            id: "20261207T203133Z".into(),
        };
        let dir = write_index(
            root.path(),
            &crashed,
            &[
                start("cam"),
                Line::Init { id: 0, bytes: 50 },
                Line::Segment(entry(7)),
            ],
        );
        std::fs::write(dir.join("8.m4s.tmp"), b"half a segment").unwrap();
        // Not recordings: a stray file, an empty directory, an index naming another stream.
        std::fs::write(root.path().join("notes.txt"), b"").unwrap();
        std::fs::create_dir_all(root.path().join("cam/empty")).unwrap();
        write_index(
            root.path(),
            &RecordingKey {
                stream: "cam".into(),
                id: "copied".into(),
            },
            &[start("other")],
        );

        let (catalog, report) = Catalog::load(root.path()).unwrap();
        assert_eq!(
            report,
            LoadReport {
                recordings: 2,
                segments: 3,
                torn_lines: 0,
                partial_files: 1
            }
        );
        let rec = &catalog.recordings[&finished];
        assert_eq!(rec.state, RecordingState::Finished);
        assert!(rec.trimmed);
        assert_eq!(
            rec.segments.iter().map(|s| s.msn).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(rec.bytes(), 250);
        let rec = &catalog.recordings[&crashed];
        assert_eq!(rec.state, RecordingState::Interrupted);
        assert_eq!(rec.segments.len(), 1);
        assert!(!dir.join("8.m4s.tmp").exists());
    }

    #[test]
    fn evictions_are_replayed_and_only_what_the_archive_holds_counts_as_archived() {
        let mut lines = vec![
            Line::Start {
                stream: "cam".into(),
                started_ms: 0,
            },
            Line::Init { id: 0, bytes: 10 },
        ];
        lines.extend((1..=4).map(|msn| Line::Segment(entry(msn))));
        lines.push(Line::Evict { below: 3 });
        let (_, mut rec) = Recording::replay(lines).unwrap();
        assert_eq!(rec.evicted_below, 3);
        assert_eq!(rec.bytes(), 410);
        assert_eq!(rec.local_bytes(), 210);
        // Unknown until compared with the archive: nothing is archived.
        assert_eq!(rec.archived_below(), 0);
        assert!(!rec.fully_archived());
        rec.archive.known = true;
        rec.archive
            .pending
            .extend([Item::Init(0), Item::Segment(4)]);
        assert_eq!(rec.archived_below(), 4);
        assert!(!rec.fully_archived());
        rec.archive.pending.clear();
        assert_eq!(rec.archived_below(), u64::MAX);
        // Its final index must be uploaded too.
        rec.archive.index_version = 2;
        rec.archive.index_archived = 1;
        assert!(!rec.fully_archived());
        rec.archive.index_archived = 2;
        assert!(rec.fully_archived());
        rec.apply(Line::Evict { below: u64::MAX });
        assert_eq!(rec.local_bytes(), 0);
        assert_eq!(
            rec.segments.len(),
            4,
            "evicted segments stay in the recording"
        );
    }
}

//! Recordings (`--record-dir`): every stream's segments written to disk as they complete,
//! found again after a restart or a crash, and served as VOD HLS once the stream ends.
//!
//! ```text
//!  Playlists::add ─ a segment completes ─▶ Recorder (SegmentObserver): a bounded queue
//!                                              │ the "recorder" thread
//!                                              ▼
//!  DIR/{stream}/{id}/  init-{n}.mp4   {msn}.m4s ...   index.jsonl ──▶ Catalog (memory)
//!                                                                       │
//!  GET /recordings, /recordings/{stream}/{id}/index.m3u8, …/{msn}.m4s ◀─┘
//! ```
//!
//! ## On disk
//!
//! A recording is one directory, `DIR/{stream}/{id}` (a rendition's `group/name` is written
//! `group~name`; the id is the first segment's date, `20261207T203132Z`), holding the CMAF
//! init sections (`init-{n}.mp4`), **one file per segment** (`{msn}.m4s`, the live segment's
//! bytes as served) and an index, `index.jsonl`. One file per segment rather than one file
//! with byte ranges because every operation a recording needs is then a file operation:
//! retention deletes the oldest files, an archive uploads each segment as one object, a
//! crash can tear at most the file being written, and a segment is served with its own
//! length and ETag without reading an index first.
//!
//! The index has one JSON object per line ([`Line`]): the start, each init section and
//! segment once its file is complete (written as `name.tmp`, then renamed), retention's
//! trims, and the end. It is only appended to. So after a crash, even `kill -9`, the index
//! names only whole files, and what was being written is lost: at most one segment. At start
//! [`Catalog::load`] reads every index (a torn last line is skipped, `*.tmp` files are
//! removed); a recording without an end is [`RecordingState::Interrupted`] and served as VOD.
//! Files are not synced to the disk: a process crash keeps what the kernel holds, a power
//! loss may cost the last seconds.
//!
//! ## A recording's life
//!
//! A recording follows one run of its stream: it starts with the run's first completed
//! segment and ends with the run (the stream's EXT-X-ENDLIST); an encoder that reconnects
//! within the grace period continues it, and a stream that starts again under its name
//! starts a new one. While it grows, its playlist is an EVENT playlist; once it ends, VOD
//! (see [`vod`]). A write error (a full disk) stops it, with a log line and
//! `playlists_recordings_stopped_total{reason}`; so does a disk too slow for the queue. The
//! live stream never waits for the disk. Retention ([`Retention`]) removes segments older
//! than `--record-max-age` and the oldest recordings beyond `--record-max-bytes`.
//!
//! ## The archive
//!
//! With `--archive s3://bucket/prefix` every file is also uploaded to an S3-compatible store,
//! the local disk serving as the spool, and files retention removed from the disk are served
//! from the store (see [`archive`]).

pub mod archive;
mod catalog;
mod files;
mod index;
mod retention;
pub mod vod;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use crate::canonical;
use crate::part_store::map_file;
use archive::{Archive, Item};

pub use catalog::{ArchiveState, Catalog, LoadReport, Recording, RecordingKey, RecordingState};
pub use index::{Line, SegmentEntry};
pub use retention::{Action, Retention};
pub use writer::Recorder;

/// The recordings an origin holds: the catalog, shared by the writer thread and delivery.
#[derive(Debug)]
pub struct Recordings {
    root: PathBuf,
    catalog: RwLock<Catalog>,
    /// Where recordings are uploaded, and read back from once not on the local disk.
    archive: Option<Arc<Archive>>,
    /// Counters for `/metrics`.
    pub stats: RecordingStats,
}

/// Why a recording stopped early: the `reason` label of
/// `playlists_recordings_stopped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The disk is full (`ENOSPC`, or a quota).
    DiskFull,
    /// Another write error.
    WriteError,
    /// The disk fell behind: a segment was dropped from the full queue.
    Behind,
}

impl StopReason {
    /// Every reason, in label order.
    pub const ALL: [StopReason; 3] = [Self::DiskFull, Self::WriteError, Self::Behind];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::DiskFull => "disk_full",
            Self::WriteError => "write_error",
            Self::Behind => "behind",
        }
    }

    /// The reason in words, for the log and the index.
    pub fn message(self) -> &'static str {
        match self {
            Self::DiskFull => "the recording disk is full",
            Self::WriteError => "writing the recording failed",
            Self::Behind => "the recording disk fell behind and a segment was dropped",
        }
    }

    fn of(e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => Self::DiskFull,
            _ => Self::WriteError,
        }
    }
}

/// What the recorder did, for `/metrics`.
#[derive(Debug, Default)]
pub struct RecordingStats {
    segments: AtomicU64,
    bytes_written: AtomicU64,
    stopped: [AtomicU64; 3],
    deleted: AtomicU64,
}

impl RecordingStats {
    /// Segments written.
    pub fn segments(&self) -> u64 {
        self.segments.load(Ordering::Relaxed)
    }

    /// Bytes written: segments, init sections and index lines.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// Recordings (or streams not recorded at all) stopped for `reason`.
    pub fn stopped(&self, reason: StopReason) -> u64 {
        self.stopped[reason as usize].load(Ordering::Relaxed)
    }

    /// Recordings removed by retention.
    pub fn deleted(&self) -> u64 {
        self.deleted.load(Ordering::Relaxed)
    }

    fn count_segment(&self) {
        self.segments.fetch_add(1, Ordering::Relaxed);
    }

    fn add_written(&self, bytes: usize) {
        self.bytes_written
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn count_stop(&self, reason: StopReason) {
        self.stopped[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn count_deleted(&self) {
        self.deleted.fetch_add(1, Ordering::Relaxed);
    }
}

/// One recording as the listing (`GET /recordings`) shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// The stream's name.
    pub stream: String,
    /// The recording's id.
    pub id: String,
    /// Its playlist's path.
    pub url: String,
    /// `recording`, `finished`, `stopped` or `interrupted`.
    pub state: &'static str,
    /// Why it stopped, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it started, ms since the Unix epoch.
    pub started_ms: u64,
    /// When it ended, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<u64>,
    /// Seconds of media it holds.
    pub duration_s: f64,
    /// Segments it holds.
    pub segments: usize,
    /// Its bytes (segments and init sections), on the local disk or in the archive.
    pub bytes: u64,
    /// With an archive: whether it holds all of the recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
}

/// A file of a recording that delivery may serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFile {
    /// Its recording.
    pub key: RecordingKey,
    /// Its name in the recording (`{msn}.m4s`, `init-{n}.mp4`).
    pub name: String,
    /// Where it is on the local disk, unless only the archive holds it.
    pub path: PathBuf,
    /// Its size, as indexed.
    pub bytes: u64,
}

impl Recordings {
    fn new(root: PathBuf, catalog: Catalog, archive: Option<Arc<Archive>>) -> Self {
        Self {
            root,
            catalog: RwLock::new(catalog),
            archive,
            stats: RecordingStats::default(),
        }
    }

    /// The archive, when there is one.
    pub fn archive(&self) -> Option<&Arc<Archive>> {
        self.archive.as_ref()
    }

    /// A recorded file's bytes: from the local disk (mapped, not read: delivery sends them
    /// with `sendfile`, see [`map_file`]), or from the archive once retention removed them
    /// there. `None` when neither holds it (retention removed it meanwhile).
    pub async fn contents(&self, file: &RecordedFile) -> Option<Bytes> {
        match map_off_loop(file.path.clone()).await {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.archive.as_ref()?.read(&file.key, &file.name).await
            }
            Err(e) => {
                tracing::warn!(file = %file.path.display(), error = %e, "reading a recording");
                None
            }
        }
    }

    /// The recording directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The catalog, for reading. Held briefly: the writer waits for it to index a segment.
    pub fn read(&self) -> RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every recording, newest first.
    pub fn list(&self) -> Vec<Summary> {
        let catalog = self.read();
        let mut out: Vec<Summary> = catalog
            .recordings
            .iter()
            .map(|(key, rec)| Summary {
                stream: key.stream.clone(),
                id: key.id.clone(),
                url: key.playlist_path(),
                state: rec.state.label(),
                reason: match &rec.state {
                    RecordingState::Stopped(reason) => Some(reason.clone()),
                    _ => None,
                },
                started_ms: rec.started_ms,
                ended_ms: rec.ended_ms,
                duration_s: (rec.duration_secs() * 1000.0).round() / 1000.0,
                segments: rec.segments.len(),
                bytes: rec.bytes(),
                archived: self.archive.as_ref().map(|_| rec.fully_archived()),
            })
            .collect();
        out.sort_by(|a, b| b.started_ms.cmp(&a.started_ms).then(a.url.cmp(&b.url)));
        out
    }

    /// The playlist of `stream`'s recording `id` ([`vod::render`]), and whether it is final
    /// (VOD: it changes only by retention).
    pub fn playlist(&self, key: &RecordingKey, query: Option<&str>) -> Option<(String, bool)> {
        let catalog = self.read();
        let rec = catalog.recordings.get(key)?;
        Some((vod::render(rec, query), !rec.is_live()))
    }

    /// The file `name` of a recording, if the index names it: `init-{n}.mp4` or `{msn}.m4s`.
    /// Names are never joined to a path unchecked, so no request reaches another file.
    pub fn file(&self, key: &RecordingKey, name: &str) -> Option<RecordedFile> {
        let catalog = self.read();
        let rec = catalog.recordings.get(key)?;
        let bytes = if let Some(id) = name
            .strip_prefix("init-")
            .and_then(|n| n.strip_suffix(".mp4"))
            .and_then(canonical::<u32>)
        {
            *rec.inits.get(&id)?
        } else {
            let msn: u64 = name.strip_suffix(".m4s").and_then(canonical)?;
            let i = rec.segments.binary_search_by_key(&msn, |s| s.msn).ok()?;
            rec.segments[i].bytes
        };
        Some(RecordedFile {
            key: key.clone(),
            name: name.to_owned(),
            path: key.dir(&self.root).join(name),
            bytes,
        })
    }
}

/// [`map_file`] on a blocking thread: opening and mapping touch the disk, which the event
/// loop must not wait for.
pub(crate) async fn map_off_loop(path: PathBuf) -> std::io::Result<Bytes> {
    tokio::task::spawn_blocking(move || map_file(&path))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

impl Recordings {
    /// Segment `msn` of `stream`'s newest recording that holds it: where a DVR window's
    /// segments are served from once they left memory.
    pub fn recorded_segment(&self, stream: &str, msn: u64) -> Option<RecordedFile> {
        let catalog = self.read();
        let from = RecordingKey {
            stream: stream.to_owned(),
            id: String::new(),
        };
        catalog
            .recordings
            .range(from..)
            .take_while(|(key, _)| key.stream == stream)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .find_map(|(key, rec)| {
                let i = rec.segments.binary_search_by_key(&msn, |s| s.msn).ok()?;
                let name = Item::Segment(msn).file_name();
                Some(RecordedFile {
                    key: key.clone(),
                    path: key.dir(&self.root).join(&name),
                    name,
                    bytes: rec.segments[i].bytes,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_the_index_names_are_served() {
        let mut catalog = Catalog::default();
        let key = RecordingKey {
            stream: "live/720p".into(),
            id: "20261207T203132Z".into(),
        };
        let mut rec = Recording::new(1);
        rec.inits.insert(1, 70);
        for msn in [4, 5, 9] {
            rec.segments.push_back(SegmentEntry {
                msn,
                duration_us: 1,
                pdt_us: 1,
                discontinuity: false,
                init: 1,
                bytes: msn * 10,
            });
        }
        catalog.recordings.insert(key.clone(), rec);
        let recordings = Recordings::new("/rec".into(), catalog, None);
        let file = recordings.file(&key, "9.m4s").unwrap();
        assert_eq!(
            file.path,
            Path::new("/rec/live~720p/20261207T203132Z/9.m4s")
        );
        assert_eq!(file.bytes, 90);
        assert_eq!(recordings.file(&key, "init-1.mp4").unwrap().bytes, 70);
        for name in [
            "6.m4s",
            "09.m4s",
            "init-0.mp4",
            "init-01.mp4",
            "index.jsonl",
            "../9.m4s",
            "9.m4s.tmp",
            "",
        ] {
            assert_eq!(recordings.file(&key, name), None, "{name}");
        }
        let other = RecordingKey {
            stream: "live".into(),
            id: key.id.clone(),
        };
        assert_eq!(recordings.file(&other, "9.m4s"), None);
        let list = recordings.list();
        assert_eq!(
            list[0].url,
            "/recordings/live/720p/20261207T203132Z/index.m3u8"
        );
        assert_eq!(list[0].segments, 3);
        assert_eq!(list[0].bytes, 70 + 180);
    }
}

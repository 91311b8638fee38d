//! [`Recorder`]: the library's [`SegmentObserver`] that writes every completed segment to disk
//! on a thread of its own, so that a slow or full disk never delays a live stream.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use playlists::{CompletedSegment, SegmentObserver, StreamIdx};

use super::archive::{Archive, Item};
use super::catalog::{Recording, RecordingKey};
use super::files::{recording_id, write_file};
use super::index::{self, Line, SegmentEntry, INDEX_FILE};
use super::retention::Retention;
use super::{Recordings, StopReason};
use crate::sync::lock;

mod retain;

/// Segments waiting for the disk, across all streams, before new ones are dropped (and the
/// recordings they belong to end: a recording has no holes). At 2 s segments that is
/// seconds of every stream's media, so only a disk that stalls drops anything.
const QUEUE: usize = 256;

/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(5);

/// How often a growing recording's index is uploaded to the archive (and when it ends): an
/// archive read without the local disk has the recording up to this long ago.
const INDEX_UPLOAD_EVERY: Duration = Duration::from_secs(30);

/// What the writer thread is asked to do.
#[derive(Debug)]
enum Job {
    Segment {
        stream: String,
        segment: CompletedSegment,
        /// Segments of this stream were dropped before this one (the queue was full).
        gap: bool,
    },
    Ended {
        stream: String,
        idx: StreamIdx,
    },
    /// Finish every open recording and stop (the origin is shutting down).
    Close,
}

/// Writes every segment the registry completes into a recording, and serves the recordings'
/// catalog to delivery ([`Recorder::recordings`]). Register it with
/// [`Playlists::with_observer`](playlists::Playlists::with_observer).
///
/// Guarantees:
/// * the publisher only queues (a bounded queue, never waited on): a slow disk drops
///   segments, and the recording that loses one ends there (a new one starts with the next
///   segment), so a recording never has a hole;
/// * a segment is in a recording's index only once its file is completely written, so a
///   crash (even `kill -9`) loses at most the segment being written;
/// * a write error (a full disk) stops that recording with a log line and a metric; the
///   live stream is not touched.
#[derive(Debug)]
pub struct Recorder {
    recordings: Arc<Recordings>,
    queue: SyncSender<Job>,
    /// Streams that lost a segment to a full queue: their next segment starts a new recording.
    lost: Mutex<HashSet<String>>,
    /// Stream ends that found the queue full; the writer takes them once the queue is empty,
    /// after every segment queued before them.
    pending_ends: Arc<Mutex<Vec<(String, StreamIdx)>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Recorder {
    /// Finds the recordings under `root` again (see [`Catalog::load`](super::Catalog::load))
    /// and starts the writer thread; with an `archive`, also its uploads (on the current
    /// Tokio runtime, which must exist then).
    ///
    /// # Errors
    /// `root` cannot be created or read, or the thread cannot be started.
    pub fn start(
        root: PathBuf,
        retention: Retention,
        archive: Option<Arc<Archive>>,
    ) -> io::Result<Arc<Self>> {
        let started = Instant::now();
        let (catalog, report) = super::Catalog::load(&root)?;
        tracing::info!(
            dir = %root.display(),
            recordings = report.recordings,
            segments = report.segments,
            torn_lines = report.torn_lines,
            partial_files = report.partial_files,
            took_ms = started.elapsed().as_millis() as u64,
            "recordings found"
        );
        let recordings = Arc::new(Recordings::new(root, catalog, archive.clone()));
        if let Some(archive) = &archive {
            archive.start(&recordings);
        }
        let (queue, jobs) = mpsc::sync_channel(QUEUE);
        let pending_ends = Arc::new(Mutex::new(Vec::new()));
        let mut writer = Writer {
            recordings: Arc::clone(&recordings),
            retention,
            open: HashMap::new(),
            pending_ends: Arc::clone(&pending_ends),
        };
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || writer.run(&jobs))?;
        Ok(Arc::new(Self {
            recordings,
            queue,
            lost: Mutex::new(HashSet::new()),
            pending_ends,
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// The recordings, for delivery and metrics.
    pub fn recordings(&self) -> &Arc<Recordings> {
        &self.recordings
    }

    /// Writes what is queued, ends every open recording (as stopped by the origin's
    /// shutdown) and stops the writer thread. Later segments are not recorded.
    pub fn close(&self) {
        // Blocking: the queue drains at disk speed, and shutdown waits for it.
        let _ = self.queue.send(Job::Close);
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

impl SegmentObserver for Recorder {
    fn segment_completed(&self, stream: &str, segment: CompletedSegment) {
        let gap = {
            let mut lost = lock(&self.lost);
            !lost.is_empty() && lost.remove(stream)
        };
        let job = Job::Segment {
            stream: stream.to_owned(),
            segment,
            gap,
        };
        // Disconnected: the recorder was closed (the origin is stopping); nothing is recorded
        // any more, and nothing fell behind.
        if let Err(TrySendError::Full(_)) = self.queue.try_send(job) {
            self.recordings.stats.count_stop(StopReason::Behind);
            lock(&self.lost).insert(stream.to_owned());
        }
    }

    fn stream_ended(&self, stream: &str, idx: StreamIdx) {
        let job = Job::Ended {
            stream: stream.to_owned(),
            idx,
        };
        if let Err(TrySendError::Full(_)) = self.queue.try_send(job) {
            lock(&self.pending_ends).push((stream.to_owned(), idx));
        }
    }
}

/// A recording being written.
#[derive(Debug)]
struct Open {
    /// The run of the stream it records.
    idx: StreamIdx,
    key: RecordingKey,
    dir: PathBuf,
    index: File,
    /// Recording stopped (a write error): the run's further segments are not written.
    stopped: bool,
    /// When its index was last queued for the archive (`None`: not yet; its first segment
    /// queues it, so that the store knows of the recording from its start).
    index_queued: Option<Instant>,
}

/// The writer thread's state.
struct Writer {
    recordings: Arc<Recordings>,
    retention: Retention,
    /// By stream name.
    open: HashMap<String, Open>,
    pending_ends: Arc<Mutex<Vec<(String, StreamIdx)>>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Writer {
    fn run(&mut self, jobs: &mpsc::Receiver<Job>) {
        let mut retained = Instant::now();
        loop {
            match jobs.recv_timeout(RETENTION_EVERY) {
                Ok(Job::Segment {
                    stream,
                    segment,
                    gap,
                }) => self.segment(&stream, &segment, gap),
                Ok(Job::Ended { stream, idx }) => self.ended(&stream, idx),
                Ok(Job::Close) | Err(RecvTimeoutError::Disconnected) => {
                    let streams: Vec<_> = self.open.keys().cloned().collect();
                    for stream in streams {
                        self.stop(&stream, "the origin stopped".into(), None);
                    }
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            let ends = std::mem::take(&mut *lock(&self.pending_ends));
            for (stream, idx) in ends {
                self.ended(&stream, idx);
            }
            if retained.elapsed() >= RETENTION_EVERY {
                retained = Instant::now();
                self.retain();
            }
        }
    }

    fn segment(&mut self, stream: &str, segment: &CompletedSegment, gap: bool) {
        match self.open.get(stream) {
            Some(open) if open.idx == segment.stream && gap && !open.stopped => {
                let idx = open.idx;
                self.stop(stream, StopReason::Behind.message().into(), Some(idx));
                self.open.remove(stream);
            }
            // A stopped recording's run is not recorded further.
            Some(open) if open.idx == segment.stream && open.stopped => return,
            Some(open) if open.idx == segment.stream => {}
            // A new run whose old one was not told ended: it ends now.
            Some(open) => {
                let idx = open.idx;
                self.ended(stream, idx);
            }
            None => {}
        }
        if !self.open.contains_key(stream) {
            match self.start(stream, segment) {
                Ok(open) => {
                    self.open.insert(stream.to_owned(), open);
                }
                Err(e) => {
                    let reason = StopReason::of(&e);
                    self.recordings.stats.count_stop(reason);
                    tracing::error!(
                        %stream,
                        error = %e,
                        "{}: the stream is not recorded",
                        reason.message()
                    );
                    return;
                }
            }
        }
        let Some(open) = self.open.get_mut(stream) else {
            return;
        };
        let written = write_segment(&self.recordings, open, segment);
        if let Err(e) = written {
            let reason = StopReason::of(&e);
            self.recordings.stats.count_stop(reason);
            let message = format!("{}: {e}", reason.message());
            tracing::error!(
                %stream,
                recording = %open.key.id,
                dir = %open.dir.display(),
                error = %e,
                "{}: recording stopped; the live stream goes on",
                reason.message()
            );
            self.stop(stream, message, None);
        }
    }

    /// Starts a recording of `stream`'s run, named after its first segment's date.
    fn start(&self, stream: &str, first: &CompletedSegment) -> io::Result<Open> {
        let started_ms = first.info.pdt_unix_us / 1000;
        let base = recording_id(first.info.pdt_unix_us);
        let root = self.recordings.root();
        let mut n = 1;
        let key = loop {
            let id = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let key = RecordingKey {
                stream: stream.to_owned(),
                id,
            };
            if !key.dir(root).exists() {
                break key;
            }
            n += 1;
        };
        let dir = key.dir(root);
        std::fs::create_dir_all(&dir)?;
        let mut index = index::open_append(&dir.join(INDEX_FILE))?;
        let start = Line::Start {
            stream: stream.to_owned(),
            started_ms,
        }
        .encode();
        index.write_all(&start)?;
        self.recordings.stats.add_written(start.len());
        let mut recording = Recording::new(started_ms);
        // Everything the archive will hold of it goes through this process's queue.
        recording.archive.known = true;
        self.recordings
            .write()
            .recordings
            .insert(key.clone(), recording);
        tracing::info!(%stream, recording = %key.id, "recording started");
        Ok(Open {
            idx: first.stream,
            key,
            dir,
            index,
            stopped: false,
            index_queued: None,
        })
    }

    /// Ends `stream`'s recording of run `idx` (any run when `None`) as stopped for `reason`.
    fn stop(&mut self, stream: &str, reason: String, idx: Option<StreamIdx>) {
        let Some(open) = self.open.get_mut(stream) else {
            return;
        };
        if open.stopped || idx.is_some_and(|idx| idx != open.idx) {
            return;
        }
        open.stopped = true;
        let key = open.key.clone();
        let end = Line::End {
            at_ms: now_ms(),
            stopped: Some(reason.clone()),
        };
        // On a full disk this may fail too: found again at start, the recording is then
        // "interrupted", with every segment it indexed.
        let _ = open.index.write_all(&end.encode());
        if let Some(rec) = self.recordings.write().recordings.get_mut(&key) {
            rec.apply(end);
        }
        queue_upload(&self.recordings, &key, Item::Index);
    }

    /// `stream`'s run `idx` ended: so does its recording (if it was not stopped before).
    fn ended(&mut self, stream: &str, idx: StreamIdx) {
        let Some(open) = self.open.get_mut(stream) else {
            return;
        };
        if open.idx != idx {
            return;
        }
        if !open.stopped {
            let end = Line::End {
                at_ms: now_ms(),
                stopped: None,
            };
            let encoded = end.encode();
            match open.index.write_all(&encoded) {
                Ok(()) => self.recordings.stats.add_written(encoded.len()),
                Err(e) => {
                    tracing::warn!(%stream, error = %e, "the end of a recording was not indexed")
                }
            }
            if let Some(rec) = self.recordings.write().recordings.get_mut(&open.key) {
                rec.apply(end);
            }
            queue_upload(&self.recordings, &open.key, Item::Index);
            tracing::info!(%stream, recording = %open.key.id, "recording finished");
        }
        self.open.remove(stream);
    }
}

/// Writes `segment` (and its init section, the first time) into `open`'s recording.
fn write_segment(
    recordings: &Recordings,
    open: &mut Open,
    segment: &CompletedSegment,
) -> io::Result<()> {
    let info = &segment.info;
    let has_init = recordings
        .read()
        .recordings
        .get(&open.key)
        .is_some_and(|r| r.inits.contains_key(&info.init_id));
    if !has_init {
        write_file(
            &open.dir,
            &Item::Init(info.init_id).file_name(),
            std::slice::from_ref(&segment.init),
        )?;
        let line = Line::Init {
            id: info.init_id,
            bytes: segment.init.len() as u64,
        };
        let encoded = line.encode();
        open.index.write_all(&encoded)?;
        recordings
            .stats
            .add_written(segment.init.len() + encoded.len());
        if let Some(rec) = recordings.write().recordings.get_mut(&open.key) {
            rec.apply(line);
        }
        queue_upload(recordings, &open.key, Item::Init(info.init_id));
    }
    write_file(
        &open.dir,
        &Item::Segment(info.msn).file_name(),
        &segment.parts,
    )?;
    let line = Line::Segment(SegmentEntry {
        msn: info.msn,
        duration_us: (info.duration_secs * 1e6).round() as u64,
        pdt_us: info.pdt_unix_us,
        discontinuity: info.discontinuity,
        init: info.init_id,
        bytes: info.bytes,
    });
    let encoded = line.encode();
    open.index.write_all(&encoded)?;
    recordings
        .stats
        .add_written(info.bytes as usize + encoded.len());
    recordings.stats.count_segment();
    if let Some(rec) = recordings.write().recordings.get_mut(&open.key) {
        rec.apply(line);
    }
    queue_upload(recordings, &open.key, Item::Segment(info.msn));
    if open
        .index_queued
        .is_none_or(|at| at.elapsed() >= INDEX_UPLOAD_EVERY)
    {
        open.index_queued = Some(Instant::now());
        queue_upload(recordings, &open.key, Item::Index);
    }
    Ok(())
}

/// Queues a file of `key` for the archive, if there is one: marked pending first, so that
/// retention keeps it on disk until the upload is done.
fn queue_upload(recordings: &Recordings, key: &RecordingKey, item: Item) {
    let Some(archive) = recordings.archive() else {
        return;
    };
    if let Some(rec) = recordings.write().recordings.get_mut(key) {
        match item {
            Item::Index => rec.archive.index_version += 1,
            item => {
                rec.archive.pending.insert(item);
            }
        }
    }
    archive.enqueue(key, item);
}

#[cfg(test)]
mod tests;

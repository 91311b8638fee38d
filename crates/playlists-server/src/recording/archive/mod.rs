//! The archive (`--archive s3://bucket/prefix`): every recording uploaded, file by file, to an
//! S3-compatible object store, and served back from it once retention removed it from the
//! local disk.
//!
//! ```text
//!  recorder thread: {msn}.m4s written ──▶ upload queue (names) ──▶ uploader task ──PUT──▶ store
//!                        │                                             │ done
//!                        ▼                                             ▼
//!                   DIR/{stream}/{id}/ (the spool)          Catalog: what is archived
//!                        ▲ retention removes only what is archived
//!  GET …/{msn}.m4s ──────┴── not on disk? ──GET──▶ store
//! ```
//!
//! The objects mirror the recording directory: `{prefix}/{stream}/{id}/init-{n}.mp4`,
//! `{msn}.m4s` and `index.jsonl` (with a rendition's `/` written `~`, as on disk), so an
//! archive can be read, copied or restored with any S3 tool.
//!
//! **The local disk is the spool.** A file is queued for upload once it is written; the queue
//! holds names, not bytes. An upload that fails is retried with backoff, without end: the
//! store going away for minutes delays uploads and loses nothing, and the live streams never
//! wait for it (uploads run on the runtime, the recorder only queues). What the queue held
//! when the origin stopped is found again at start: each recording found on disk is compared
//! with the store's listing of it, and what the store lacks (or holds at another size) is
//! queued again. Recordings in the store that the disk no longer holds are adopted: their
//! index is fetched and they are listed and served again.
//!
//! **Retention and the archive.** With an archive, `--record-max-age` and `--record-max-bytes`
//! bound the local disk only: retention removes a segment's local file once the store holds
//! it (and a whole recording's files once it ended and its final index is uploaded), and the
//! recording keeps its segments, served from the store. A segment the store does not hold yet
//! is never removed, so a store that is away for long fills the disk rather than losing
//! media. Expiring objects in the store is the store's business (bucket lifecycle rules).
//!
//! **What an upload means.** A single PUT per file: an S3 PUT either stores the whole object
//! or nothing, so a store killed mid-upload holds no torn file, and the upload is retried.

mod settings;
mod uploader;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

pub use settings::{ArchiveError, ArchiveSettings};
pub use uploader::Item;

use super::catalog::RecordingKey;
use super::Recordings;

/// How long a read from the store may take before the request that needs it gets a 404.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// An S3-compatible store the recordings are uploaded to, and read back from.
#[derive(Debug)]
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    /// The key prefix (`prefix` of `s3://bucket/prefix`), possibly empty.
    prefix: ObjectPath,
    /// Where the recorder queues uploads; taken by [`Archive::start`].
    queue: UnboundedSender<uploader::Upload>,
    jobs: std::sync::Mutex<Option<UnboundedReceiver<uploader::Upload>>>,
    /// Counters for `/metrics`.
    pub stats: ArchiveStats,
}

/// What the archive did, for `/metrics`.
#[derive(Debug, Default)]
pub struct ArchiveStats {
    uploaded: AtomicU64,
    uploaded_bytes: AtomicU64,
    failures: AtomicU64,
    pending: AtomicU64,
    served: AtomicU64,
    /// The last upload failed: the next success is logged.
    failing: AtomicBool,
}

impl ArchiveStats {
    /// Files uploaded.
    pub fn uploaded(&self) -> u64 {
        self.uploaded.load(Ordering::Relaxed)
    }

    /// Bytes uploaded.
    pub fn uploaded_bytes(&self) -> u64 {
        self.uploaded_bytes.load(Ordering::Relaxed)
    }

    /// Upload attempts that failed (each is retried).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Uploads queued or under way.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Files served from the store because the local disk no longer held them.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

impl Archive {
    /// An archive in `store` under `prefix`; uploads start with [`Archive::start`].
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Arc<Self> {
        let (queue, jobs) = mpsc::unbounded_channel();
        Arc::new(Self {
            store,
            prefix: ObjectPath::from(prefix),
            queue,
            jobs: std::sync::Mutex::new(Some(jobs)),
            stats: ArchiveStats::default(),
        })
    }

    /// Starts uploading, on the current Tokio runtime: first what `recordings` found on disk
    /// lacks in the store (and adopting what only the store holds), then whatever the
    /// recorder queues. Once only; later calls do nothing.
    pub fn start(self: &Arc<Self>, recordings: &Arc<Recordings>) {
        let Some(jobs) = crate::sync::lock(&self.jobs).take() else {
            return;
        };
        tokio::spawn(uploader::run(
            Arc::clone(self),
            Arc::clone(recordings),
            jobs,
        ));
    }

    /// The object a recording's file is stored as: `{prefix}/{stream}/{id}/{name}`.
    pub fn object(&self, key: &RecordingKey, name: &str) -> ObjectPath {
        self.recording_prefix(key).join(name)
    }

    /// The prefix of a recording's objects.
    fn recording_prefix(&self, key: &RecordingKey) -> ObjectPath {
        self.prefix
            .clone()
            .join(key.stream.replace('/', "~"))
            .join(key.id.as_str())
    }

    /// Reads a recording's file from the store; `None` when the store does not hold it, or
    /// does not answer in time.
    pub async fn read(&self, key: &RecordingKey, name: &str) -> Option<Bytes> {
        let path = self.object(key, name);
        let read = async { self.store.get(&path).await?.bytes().await };
        match tokio::time::timeout(READ_TIMEOUT, read).await {
            Ok(Ok(bytes)) => {
                self.stats.served.fetch_add(1, Ordering::Relaxed);
                Some(bytes)
            }
            Ok(Err(object_store::Error::NotFound { .. })) => None,
            Ok(Err(e)) => {
                tracing::warn!(object = %path, error = %e, "reading from the archive");
                None
            }
            Err(_) => {
                tracing::warn!(object = %path, "reading from the archive timed out");
                None
            }
        }
    }

    /// Waits until nothing is queued or under way, or `within` has passed (the origin is
    /// stopping: what is left is found again at the next start). Returns what is left.
    pub async fn drain(&self, within: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + within;
        while self.stats.pending() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.stats.pending()
    }

    /// Queues a file for upload. Never blocks: the queue holds names, and the bytes wait on
    /// the local disk.
    pub(super) fn enqueue(&self, key: &RecordingKey, item: Item) {
        self.stats.pending.fetch_add(1, Ordering::Relaxed);
        let upload = uploader::Upload {
            key: key.clone(),
            item,
        };
        // Closed only when the uploader task is gone with the runtime (the origin stops):
        // what was not uploaded is found again at the next start.
        if self.queue.send(upload).is_err() {
            self.stats.pending.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

//! The uploader: one task that takes the upload queue a few files at a time and retries each
//! until the store has it; and, at start, what the disk and the store disagree on.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;

use super::Archive;
use crate::recording::catalog::{Recording, RecordingKey};
use crate::recording::index::{self, Line, INDEX_FILE};
use crate::recording::{map_off_loop, Recordings};

/// Uploads under way at once: enough to keep a remote store's round trips from serialising
/// a busy origin's segments, few enough not to crowd the live traffic.
const CONCURRENCY: usize = 8;
/// The first retry's delay; each failure doubles it, up to [`LAST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The longest wait between two attempts: a store back after an outage is used again within
/// this.
const LAST_RETRY: Duration = Duration::from_secs(10);

/// A recording's file, as the upload queue names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Item {
    /// `init-{n}.mp4`.
    Init(u32),
    /// `{msn}.m4s`.
    Segment(u64),
    /// `index.jsonl`, uploaded as it stands when its turn comes.
    Index,
}

impl Item {
    /// Its file name in the recording's directory, and its object's last key segment.
    pub fn file_name(self) -> String {
        match self {
            Self::Init(n) => format!("init-{n}.mp4"),
            Self::Segment(msn) => format!("{msn}.m4s"),
            Self::Index => INDEX_FILE.to_owned(),
        }
    }
}

/// One file to upload.
#[derive(Debug)]
pub(super) struct Upload {
    pub key: RecordingKey,
    pub item: Item,
}

/// Takes the queue for as long as the runtime runs.
pub(super) async fn run(
    archive: Arc<Archive>,
    recordings: Arc<Recordings>,
    mut jobs: UnboundedReceiver<Upload>,
) {
    tokio::spawn(reconcile(Arc::clone(&archive), Arc::clone(&recordings)));
    let mut uploads = JoinSet::new();
    loop {
        tokio::select! {
            job = jobs.recv(), if uploads.len() < CONCURRENCY => match job {
                Some(job) => {
                    uploads.spawn(upload(Arc::clone(&archive), Arc::clone(&recordings), job));
                }
                None => break,
            },
            Some(_) = uploads.join_next(), if !uploads.is_empty() => {}
        }
    }
    while uploads.join_next().await.is_some() {}
}

/// Uploads one file, retrying with backoff until the store takes it.
async fn upload(archive: Arc<Archive>, recordings: Arc<Recordings>, job: Upload) {
    let name = job.item.file_name();
    let path = job.key.dir(recordings.root()).join(&name);
    let object = archive.object(&job.key, &name);
    let mut delay = FIRST_RETRY;
    loop {
        // Read before the file: the copy uploaded holds at least this version's lines.
        let version = recordings
            .read()
            .recordings
            .get(&job.key)
            .map_or(0, |r| r.archive.index_version);
        // Mapped, not read: the upload takes the page cache's bytes without a copy on the heap.
        let bytes = match map_off_loop(path.clone()).await {
            Ok(bytes) => bytes,
            Err(e) => {
                // Its recording was removed (by hand, or the file never was complete):
                // nothing is left to upload.
                tracing::warn!(file = %path.display(), error = %e, "not uploaded: the file is gone");
                finish(&archive, &recordings, &job, None);
                return;
            }
        };
        let len = bytes.len() as u64;
        match archive.store.put(&object, bytes.into()).await {
            Ok(_) => {
                archive.stats.uploaded.fetch_add(1, Ordering::Relaxed);
                archive
                    .stats
                    .uploaded_bytes
                    .fetch_add(len, Ordering::Relaxed);
                if archive.stats.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        pending = archive.stats.pending(),
                        "the archive takes uploads again"
                    );
                }
                finish(&archive, &recordings, &job, Some(version));
                return;
            }
            Err(e) => {
                archive.stats.failures.fetch_add(1, Ordering::Relaxed);
                // Once per outage, not once per file: a store away for minutes would
                // otherwise log every segment of every stream.
                if !archive.stats.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        object = %object,
                        error = %e,
                        "uploading to the archive failed; retrying with backoff (the files \
                         wait on the local disk, the live streams are not affected)"
                    );
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(LAST_RETRY);
            }
        }
    }
}

/// Marks an upload done (`version`: the index version uploaded; `None`: given up).
fn finish(archive: &Archive, recordings: &Recordings, job: &Upload, version: Option<u64>) {
    archive.stats.pending.fetch_sub(1, Ordering::Relaxed);
    let mut catalog = recordings.write();
    let Some(rec) = catalog.recordings.get_mut(&job.key) else {
        return;
    };
    match (job.item, version) {
        (Item::Index, Some(version)) => {
            rec.archive.index_archived = rec.archive.index_archived.max(version);
        }
        (Item::Index, None) => {}
        (item, _) => {
            rec.archive.pending.remove(&item);
        }
    }
}

/// Retries `op` with backoff until it succeeds.
async fn persist<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = object_store::Result<T>>,
{
    let mut delay = FIRST_RETRY;
    let mut warned = false;
    loop {
        match op().await {
            Ok(value) => return value,
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, "{what}: the archive does not answer; retrying");
                    warned = true;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(LAST_RETRY);
            }
        }
    }
}

/// At start: queues again what the store lacks of the recordings found on disk, then adopts
/// the recordings only the store holds.
async fn reconcile(archive: Arc<Archive>, recordings: Arc<Recordings>) {
    let started = Instant::now();
    let keys: Vec<RecordingKey> = {
        let catalog = recordings.read();
        let unknown = catalog.recordings.iter().filter(|(_, r)| !r.archive.known);
        unknown.map(|(key, _)| key.clone()).collect()
    };
    let mut queued = 0;
    for key in &keys {
        let prefix = archive.recording_prefix(key);
        let listing: HashMap<String, u64> = persist("listing a recording", || async {
            let objects: Vec<_> = archive.store.list(Some(&prefix)).try_collect().await?;
            Ok(objects
                .into_iter()
                .filter_map(|o| Some((o.location.filename()?.to_owned(), o.size)))
                .collect())
        })
        .await;
        let index_len = std::fs::metadata(key.dir(recordings.root()).join(INDEX_FILE))
            .map(|m| m.len())
            .ok();
        let items = {
            let mut catalog = recordings.write();
            let Some(rec) = catalog.recordings.get_mut(key) else {
                continue;
            };
            let items = missing(rec, &listing, index_len);
            rec.archive.known = true;
            for item in &items {
                match item {
                    Item::Index => rec.archive.index_version += 1,
                    item => {
                        rec.archive.pending.insert(*item);
                    }
                }
            }
            items
        };
        queued += items.len();
        for item in items {
            archive.enqueue(key, item);
        }
    }
    let adopted = adopt(&archive, &recordings).await;
    tracing::info!(
        recordings = keys.len(),
        queued,
        adopted,
        took_ms = started.elapsed().as_millis() as u64,
        "recordings compared with the archive"
    );
}

/// What of `rec` the store's `listing` (file name → size) lacks or holds at another size.
fn missing(rec: &Recording, listing: &HashMap<String, u64>, index_len: Option<u64>) -> Vec<Item> {
    let lacks = |item: Item, bytes: u64| listing.get(&item.file_name()) != Some(&bytes);
    let mut items = Vec::new();
    if rec.evicted_below != u64::MAX {
        let inits = rec
            .inits
            .iter()
            .map(|(id, bytes)| (Item::Init(*id), *bytes));
        items.extend(
            inits
                .filter(|(item, bytes)| lacks(*item, *bytes))
                .map(|(i, _)| i),
        );
    }
    let local = rec.segments.iter().filter(|s| s.msn >= rec.evicted_below);
    items.extend(
        local
            .filter(|s| lacks(Item::Segment(s.msn), s.bytes))
            .map(|s| Item::Segment(s.msn)),
    );
    if index_len.is_some_and(|len| lacks(Item::Index, len)) {
        items.push(Item::Index);
    }
    items
}

/// Adopts the recordings the store holds and the disk does not (a new disk, or a directory
/// removed by hand): their index is fetched into the recording directory, marked as having
/// no local files, and they are listed and served (from the store) again. Returns how many.
async fn adopt(archive: &Archive, recordings: &Recordings) -> usize {
    let mut adopted = 0;
    let streams = persist("listing the archive", || {
        archive.store.list_with_delimiter(Some(&archive.prefix))
    })
    .await;
    for stream_prefix in streams.common_prefixes {
        let ids = persist("listing the archive", || {
            archive.store.list_with_delimiter(Some(&stream_prefix))
        })
        .await;
        for id_prefix in ids.common_prefixes {
            let (Some(dir), Some(id)) = (stream_prefix.filename(), id_prefix.filename()) else {
                continue;
            };
            let key = RecordingKey {
                stream: dir.replace('~', "/"),
                id: id.to_owned(),
            };
            if recordings.read().recordings.contains_key(&key) {
                continue;
            }
            match adopt_one(archive, recordings, &key, &id_prefix).await {
                Ok(true) => adopted += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    stream = %key.stream,
                    recording = %key.id,
                    error = %e,
                    "a recording in the archive could not be adopted"
                ),
            }
        }
    }
    adopted
}

/// Adopts one recording; `Ok(false)` when it is not one (no index of ours, or a directory of
/// that name exists on disk).
async fn adopt_one(
    archive: &Archive,
    recordings: &Recordings,
    key: &RecordingKey,
    prefix: &ObjectPath,
) -> anyhow::Result<bool> {
    let dir = key.dir(recordings.root());
    if dir.exists() {
        return Ok(false);
    }
    let text = persist("reading an archived index", || async {
        archive
            .store
            .get(&prefix.clone().join(INDEX_FILE))
            .await?
            .bytes()
            .await
    })
    .await;
    let (lines, _) = index::parse(&text[..])?;
    let Some((stream, mut rec)) = Recording::replay(lines) else {
        return Ok(false);
    };
    if stream != key.stream {
        return Ok(false);
    }
    // Kept on disk so that the next start finds it without the store; the last line says
    // none of its files are local.
    let evicted = Line::Evict { below: u64::MAX };
    std::fs::create_dir_all(&dir)?;
    let mut local = text.to_vec();
    if !local.ends_with(b"\n") {
        local.push(b'\n');
    }
    local.extend_from_slice(&evicted.encode());
    crate::recording::files::write_file(&dir, INDEX_FILE, &[Bytes::from(local)])?;
    rec.apply(evicted);
    rec.archive.known = true;
    tracing::info!(stream = %key.stream, recording = %key.id, "recording adopted from the archive");
    recordings.write().recordings.insert(key.clone(), rec);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::index::SegmentEntry;

    #[test]
    fn what_the_store_lacks_or_holds_at_another_size_is_queued_again() {
        let mut rec = Recording::new(0);
        rec.inits.insert(7, 50);
        for msn in 1..=5 {
            rec.segments.push_back(SegmentEntry {
                msn,
                duration_us: 1,
                pdt_us: 1,
                discontinuity: false,
                init: 7,
                bytes: 100,
            });
        }
        rec.evicted_below = 2;
        let listing: HashMap<String, u64> = [
            ("init-7.mp4", 50),
            ("2.m4s", 100),
            // Torn by a store that died mid-upload (not S3's way, but not trusted either).
            ("3.m4s", 40),
            ("5.m4s", 100),
            ("index.jsonl", 900),
        ]
        .into_iter()
        .map(|(n, b)| (n.to_owned(), b))
        .collect();
        // Segment 1's file is gone (evicted): the store held it then.
        assert_eq!(
            missing(&rec, &listing, Some(1000)),
            [Item::Segment(3), Item::Segment(4), Item::Index]
        );
        assert_eq!(missing(&rec, &listing, Some(900)).len(), 2);
        let empty = HashMap::new();
        assert_eq!(
            missing(&rec, &empty, None),
            [
                Item::Init(7),
                Item::Segment(2),
                Item::Segment(3),
                Item::Segment(4),
                Item::Segment(5)
            ]
        );
        rec.evicted_below = u64::MAX;
        assert_eq!(missing(&rec, &empty, None), []);
    }
}

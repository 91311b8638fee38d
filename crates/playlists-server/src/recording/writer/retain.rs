//! Retention applied by the writer thread: the plan ([`Retention::plan`]) carried out on the
//! indexes, the catalog and the files, in that order.

use std::io::{self, Write};

use super::now_ms;
use super::Writer;
use crate::recording::archive::Item;
use crate::recording::catalog::RecordingKey;
use crate::recording::index::{self, Line, INDEX_FILE};
use crate::recording::retention::Action;

impl Writer {
    /// Applies the retention policy.
    pub(super) fn retain(&mut self) {
        let actions = {
            let catalog = self.recordings.read();
            self.retention.plan(&catalog, now_ms())
        };
        let archived = self.recordings.archive().is_some();
        for action in actions {
            match action {
                // With an archive, retention bounds the local disk only.
                Action::Delete(key) if archived => self.evict(&key, u64::MAX),
                Action::Trim { key, below } if archived => self.evict(&key, below),
                Action::Delete(key) => {
                    self.recordings.write().recordings.remove(&key);
                    let dir = key.dir(self.recordings.root());
                    if let Err(e) = std::fs::remove_dir_all(&dir) {
                        tracing::warn!(dir = %dir.display(), error = %e, "removing a recording");
                    }
                    self.recordings.stats.count_deleted();
                }
                Action::Trim { key, below } => self.trim(&key, below),
            }
        }
    }

    /// Appends `line` to `key`'s index, open or ended.
    fn append(&mut self, key: &RecordingKey, line: &Line) -> io::Result<()> {
        let line = line.encode();
        match self.open.values_mut().find(|o| &o.key == key) {
            Some(open) => open.index.write_all(&line),
            None => {
                let path = key.dir(self.recordings.root()).join(INDEX_FILE);
                index::open_append(&path).and_then(|mut f| f.write_all(&line))
            }
        }
    }

    /// Removes the local files of `key`'s segments numbered below `below` (`u64::MAX`: all
    /// its files) that the archive holds; the recording keeps them, served from there.
    /// Indexed first, as a trim is.
    fn evict(&mut self, key: &RecordingKey, below: u64) {
        let (from, below, segments, inits) = {
            let catalog = self.recordings.read();
            let Some(rec) = catalog.recordings.get(key) else {
                return;
            };
            let below = if below == u64::MAX && rec.fully_archived() {
                u64::MAX
            } else {
                // Segment files only: the init sections go with the whole recording, once
                // its final index is in the store too.
                let past_last = rec.segments.back().map_or(0, |s| s.msn.saturating_add(1));
                below.min(rec.archived_below()).min(past_last)
            };
            if below <= rec.evicted_below {
                return;
            }
            let segments: Vec<u64> = rec
                .segments
                .iter()
                .map(|s| s.msn)
                .filter(|msn| (rec.evicted_below..below).contains(msn))
                .collect();
            let inits: Vec<u32> = if below == u64::MAX {
                rec.inits.keys().copied().collect()
            } else {
                Vec::new()
            };
            (rec.evicted_below, below, segments, inits)
        };
        let line = Line::Evict { below };
        if let Err(e) = self.append(key, &line) {
            tracing::warn!(recording = %key.id, error = %e, "retention could not index an eviction");
            return;
        }
        if let Some(rec) = self.recordings.write().recordings.get_mut(key) {
            rec.apply(line);
        }
        let dir = key.dir(self.recordings.root());
        let names = segments.iter().map(|msn| Item::Segment(*msn));
        for item in names.chain(inits.into_iter().map(Item::Init)) {
            let _ = std::fs::remove_file(dir.join(item.file_name()));
        }
        tracing::debug!(recording = %key.id, from, below, "local files now only in the archive");
    }

    /// Removes `key`'s segments numbered below `below`: indexed first, then deleted, so a
    /// crash in between leaves files no index names rather than an index naming no file.
    fn trim(&mut self, key: &RecordingKey, below: u64) {
        let dir = key.dir(self.recordings.root());
        if let Err(e) = self.append(key, &Line::Trim { below }) {
            tracing::warn!(dir = %dir.display(), error = %e, "retention could not index a trim");
            return;
        }
        let removed: Vec<u64> = {
            let mut catalog = self.recordings.write();
            let Some(rec) = catalog.recordings.get_mut(key) else {
                return;
            };
            let removed = rec
                .segments
                .iter()
                .take_while(|s| s.msn < below)
                .map(|s| s.msn)
                .collect();
            rec.apply(Line::Trim { below });
            removed
        };
        for msn in removed {
            let _ = std::fs::remove_file(dir.join(Item::Segment(msn).file_name()));
        }
    }
}

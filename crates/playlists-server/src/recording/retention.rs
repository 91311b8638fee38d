//! Retention: which recordings and segments go when recordings are older or larger than the
//! operator allows (`--record-max-age`, `--record-max-bytes`).

use std::time::Duration;

use super::catalog::{Catalog, RecordingKey};
use super::index::SegmentEntry;

/// How long and how much is kept; `None` keeps everything. With an archive the bounds are
/// the local disk's: the writer removes only files the archive holds, and the recordings keep
/// their segments (see [`archive`](super::archive)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Segments older than this (by their date) are removed; a recording left with none that
    /// is not growing is removed.
    pub max_age: Option<Duration>,
    /// While recordings take more bytes than this, the oldest go: whole recordings that
    /// ended, segment by segment from recordings that grow.
    pub max_bytes: Option<u64>,
}

/// One thing retention does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Remove the whole recording.
    Delete(RecordingKey),
    /// Remove its segments numbered below `below`.
    Trim {
        /// The recording.
        key: RecordingKey,
        /// Its first segment kept.
        below: u64,
    },
}

impl Retention {
    /// What to remove from `catalog` at `now_ms` (ms since the Unix epoch). Pure: applying
    /// the actions is the caller's.
    pub fn plan(&self, catalog: &Catalog, now_ms: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        // What each recording keeps after the age rule: (key, live, kept segments' (msn,
        // date, bytes)), oldest first.
        let mut kept = Vec::new();
        let cutoff_us = self.max_age.map(|age| {
            now_ms
                .saturating_sub(age.as_millis() as u64)
                .saturating_mul(1000)
        });
        for (key, rec) in &catalog.recordings {
            // What only the archive holds is not the local disk's to count or remove.
            if rec.evicted_below == u64::MAX {
                continue;
            }
            let local = || {
                rec.segments
                    .iter()
                    .skip_while(|s| s.msn < rec.evicted_below)
            };
            let old = cutoff_us.map_or(0, |cutoff| {
                local()
                    .take_while(|s| s.pdt_us.saturating_add(s.duration_us) <= cutoff)
                    .count()
            });
            let rest: Vec<_> = local().skip(old).collect();
            if rest.is_empty()
                && !rec.is_live()
                && (old > 0
                    || cutoff_us.is_some_and(|c| {
                        rec.ended_ms.unwrap_or(rec.started_ms).saturating_mul(1000) <= c
                    }))
            {
                actions.push(Action::Delete(key.clone()));
                continue;
            }
            if old > 0 {
                actions.push(Action::Trim {
                    key: key.clone(),
                    below: rest.first().map_or(u64::MAX, |s| s.msn),
                });
            }
            let inits = rec.inits.values().fold(0u64, |a, b| a.saturating_add(*b));
            kept.push((key, rec.is_live(), rest, inits));
        }
        let Some(max_bytes) = self.max_bytes else {
            return actions;
        };
        let mut total: u64 = kept
            .iter()
            .map(|(_, _, segs, inits)| inits.saturating_add(bytes_of(segs)))
            .fold(0, u64::saturating_add);
        // Oldest first: by the date of the first segment kept (a recording without any, by
        // nothing: it goes first).
        kept.sort_by_key(|(_, _, segs, _)| segs.first().map_or(0, |s| s.pdt_us));
        for (key, live, segs, inits) in kept {
            if total <= max_bytes {
                break;
            }
            if !live {
                total = total.saturating_sub(inits.saturating_add(bytes_of(&segs)));
                actions.retain(|a| !matches!(a, Action::Trim { key: k, .. } if k == key));
                actions.push(Action::Delete(key.clone()));
                continue;
            }
            // A growing recording keeps its newest segment: it is the one being served.
            let mut below = None;
            for s in segs.iter().take(segs.len().saturating_sub(1)) {
                if total <= max_bytes {
                    break;
                }
                total = total.saturating_sub(s.bytes);
                below = Some(s.msn + 1);
            }
            if let Some(below) = below {
                actions.retain(|a| !matches!(a, Action::Trim { key: k, .. } if k == key));
                actions.push(Action::Trim {
                    key: key.clone(),
                    below,
                });
            }
        }
        actions
    }
}

/// The bytes of `segments`, saturating (indexes come from disk).
fn bytes_of(segments: &[&SegmentEntry]) -> u64 {
    segments
        .iter()
        .map(|s| s.bytes)
        .fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::super::catalog::{Recording, RecordingState};
    use super::super::index::SegmentEntry;
    use super::*;

    const S: u64 = 1_000_000;

    /// A recording of `n` two-second segments of 100 bytes from `start_s`.
    fn rec(start_s: u64, n: u64, state: RecordingState) -> Recording {
        let mut rec = Recording::new(start_s * 1000);
        for i in 0..n {
            rec.segments.push_back(SegmentEntry {
                msn: i,
                duration_us: 2 * S,
                pdt_us: (start_s + 2 * i) * S,
                discontinuity: false,
                init: 0,
                bytes: 100,
            });
        }
        rec.inits.insert(0, 10);
        rec.ended_ms = (state != RecordingState::Recording).then_some((start_s + 2 * n) * 1000);
        rec.state = state;
        rec
    }

    fn key(id: &str) -> RecordingKey {
        RecordingKey {
            stream: "cam".into(),
            id: id.into(),
        }
    }

    fn catalog(recs: Vec<(&str, Recording)>) -> Catalog {
        let mut c = Catalog::default();
        for (id, r) in recs {
            c.recordings.insert(key(id), r);
        }
        c
    }

    #[test]
    fn age_removes_old_segments_and_whole_recordings_that_ended_but_trims_a_growing_one() {
        let c = catalog(vec![
            ("a", rec(0, 10, RecordingState::Finished)),    // 0..20 s
            ("b", rec(100, 10, RecordingState::Finished)),  // 100..120 s
            ("c", rec(100, 10, RecordingState::Recording)), // 100..120 s, growing
        ]);
        let retention = Retention {
            max_age: Some(Duration::from_secs(100)),
            max_bytes: None,
        };
        // At 210 s the cutoff is 110 s: a is gone, b and c lose 100..110.
        assert_eq!(
            retention.plan(&c, 210_000),
            [
                Action::Delete(key("a")),
                Action::Trim {
                    key: key("b"),
                    below: 5
                },
                Action::Trim {
                    key: key("c"),
                    below: 5
                },
            ]
        );
        // At 400 s everything is old: b goes, c keeps growing with no segment.
        assert_eq!(
            retention.plan(&c, 400_000),
            [
                Action::Delete(key("a")),
                Action::Delete(key("b")),
                Action::Trim {
                    key: key("c"),
                    below: u64::MAX
                },
            ]
        );
        // At 110 s only a's first ten seconds are old.
        assert_eq!(
            retention.plan(&c, 110_000),
            [Action::Trim {
                key: key("a"),
                below: 5
            }]
        );
    }

    #[test]
    fn size_removes_the_oldest_recordings_that_ended_then_trims_growing_ones_to_their_newest() {
        let c = catalog(vec![
            (
                "old",
                rec(0, 10, RecordingState::Stopped("disk full".into())),
            ), // 1010 bytes
            ("live", rec(50, 10, RecordingState::Recording)), // 1010 bytes
            ("new", rec(100, 10, RecordingState::Finished)),  // 1010 bytes
        ]);
        let plan = |max_bytes| {
            Retention {
                max_age: None,
                max_bytes: Some(max_bytes),
            }
            .plan(&c, 1_000_000)
        };
        assert_eq!(plan(3030), []);
        assert_eq!(plan(2500), [Action::Delete(key("old"))]);
        // Then the growing one, oldest segments first...
        assert_eq!(
            plan(1500),
            [
                Action::Delete(key("old")),
                Action::Trim {
                    key: key("live"),
                    below: 6
                },
            ]
        );
        // ...but never its newest; then the finished one after it goes.
        assert_eq!(
            plan(100),
            [
                Action::Delete(key("old")),
                Action::Trim {
                    key: key("live"),
                    below: 9
                },
                Action::Delete(key("new")),
            ]
        );
    }

    #[test]
    fn what_only_the_archive_holds_is_neither_counted_nor_removed_again() {
        let mut old = rec(0, 10, RecordingState::Finished);
        old.evicted_below = u64::MAX;
        let mut live = rec(50, 10, RecordingState::Recording);
        // Its first six segments' files went: 4 × 100 bytes and the init section are local.
        live.evicted_below = 6;
        let c = catalog(vec![("old", old), ("live", live)]);
        let plan = |max_bytes, max_age| {
            Retention {
                max_age,
                max_bytes: Some(max_bytes),
            }
            .plan(&c, 1_000_000)
        };
        assert_eq!(c.bytes(), 410);
        assert_eq!(plan(410, None), []);
        assert_eq!(
            plan(300, None),
            [Action::Trim {
                key: key("live"),
                below: 8
            }]
        );
        // By age, too, only the local segments are old: the trim starts past the evicted.
        assert_eq!(
            plan(10_000, Some(Duration::from_secs(1000 - 66))),
            [Action::Trim {
                key: key("live"),
                below: 8
            }]
        );
    }
}

//! The writer thread's paths: gaps, write errors, new runs and retention with an archive.

use super::super::RecordingState;
use super::*;

#[test]
fn states_have_labels() {
    assert_eq!(RecordingState::Interrupted.label(), "interrupted");
}

fn segment(idx: StreamIdx, msn: u64) -> CompletedSegment {
    CompletedSegment {
        stream: idx,
        info: playlists::SegmentParts {
            msn,
            first_id: msn * 5,
            count: 1,
            complete: true,
            duration_secs: 2.0,
            pdt_unix_us: 1_796_675_492_000_000 + msn * 2_000_000,
            discontinuity: false,
            init_id: 0,
            bytes: 4,
        },
        parts: vec![bytes::Bytes::from(format!("s{msn:03}"))],
        init: bytes::Bytes::from_static(b"init"),
    }
}

fn states(recordings: &Recordings) -> Vec<(RecordingState, Vec<u64>)> {
    recordings
        .read()
        .recordings
        .values()
        .map(|r| (r.state.clone(), r.segments.iter().map(|s| s.msn).collect()))
        .collect()
}

#[test]
fn a_gap_a_write_error_and_a_new_run_each_end_a_recording_and_none_has_a_hole() {
    let root = tempfile::tempdir().unwrap();
    let recordings = Arc::new(Recordings::new(
        root.path().to_owned(),
        Default::default(),
        None,
    ));
    let mut writer = Writer {
        recordings: Arc::clone(&recordings),
        retention: Retention::default(),
        open: HashMap::new(),
        pending_ends: Arc::default(),
    };
    let chunks = playlists::ChunkCache::with_capacity(1, 4).unwrap();
    let first_run = chunks.register("cam").unwrap();
    writer.segment("cam", &segment(first_run, 1), false);
    writer.segment("cam", &segment(first_run, 2), false);
    // Segment 3 was dropped from a full queue: 4 comes with the gap flagged.
    writer.segment("cam", &segment(first_run, 4), true);
    writer.segment("cam", &segment(first_run, 5), false);
    let behind = RecordingState::Stopped(StopReason::Behind.message().to_owned());
    assert_eq!(
        states(&recordings),
        [
            (behind.clone(), vec![1, 2]),
            (RecordingState::Recording, vec![4, 5])
        ]
    );
    // Its directory gone (a write error): stopped, and the run's later segments ignored.
    let open = writer.open["cam"].key.dir(root.path());
    std::fs::remove_dir_all(&open).unwrap();
    writer.segment("cam", &segment(first_run, 6), false);
    writer.segment("cam", &segment(first_run, 7), false);
    assert!(matches!(
        &states(&recordings)[1],
        (RecordingState::Stopped(reason), msns)
            if reason.starts_with(StopReason::WriteError.message()) && msns == &[4, 5]
    ));
    assert_eq!(recordings.stats.stopped(StopReason::WriteError), 1);
    // The run ends, the stream starts again: a new recording.
    writer.ended("cam", first_run);
    chunks.fin(first_run).unwrap();
    let second_run = chunks.register("cam").unwrap();
    writer.segment("cam", &segment(second_run, 100), false);
    writer.ended("cam", second_run);
    let all = states(&recordings);
    assert_eq!(all.len(), 3);
    assert_eq!(all[2], (RecordingState::Finished, vec![100]));
    // The finished one is found again as it was.
    let (catalog, _) = super::super::Catalog::load(root.path()).unwrap();
    let found: Vec<_> = catalog
        .recordings
        .values()
        .map(|r| r.state.clone())
        .collect();
    assert_eq!(found, [behind, RecordingState::Finished]);
}

#[test]
fn with_an_archive_retention_removes_only_local_files_the_store_holds() {
    let root = tempfile::tempdir().unwrap();
    let store = Arc::new(object_store::memory::InMemory::new());
    let recordings = Arc::new(Recordings::new(
        root.path().to_owned(),
        Default::default(),
        Some(Archive::new(store, "")),
    ));
    let mut writer = Writer {
        recordings: Arc::clone(&recordings),
        // Keep nothing locally that may go.
        retention: Retention {
            max_age: None,
            max_bytes: Some(1),
        },
        open: HashMap::new(),
        pending_ends: Arc::default(),
    };
    let chunks = playlists::ChunkCache::with_capacity(1, 4).unwrap();
    let run = chunks.register("cam").unwrap();
    for msn in 1..=4 {
        writer.segment("cam", &segment(run, msn), false);
    }
    let key = writer.open["cam"].key.clone();
    let dir = key.dir(root.path());
    let on_disk = || {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let uploaded = |items: &[Item]| {
        let mut catalog = recordings.write();
        let rec = catalog.recordings.get_mut(&key).unwrap();
        rec.archive.pending.retain(|i| !items.contains(i));
    };
    let all = [
        "1.m4s",
        "2.m4s",
        "3.m4s",
        "4.m4s",
        "index.jsonl",
        "init-0.mp4",
    ];
    // Nothing uploaded yet: nothing goes.
    writer.retain();
    assert_eq!(on_disk(), all);
    // The store has the init section and segments 1 and 2; 3 is on its way.
    uploaded(&[Item::Init(0), Item::Segment(1), Item::Segment(2)]);
    writer.retain();
    assert_eq!(on_disk(), &all[2..]);
    // The stream ends and every segment is uploaded, but not the final index: the
    // segment files go, the init section stays.
    writer.ended("cam", run);
    uploaded(&[Item::Segment(3), Item::Segment(4)]);
    writer.retain();
    assert_eq!(on_disk(), ["index.jsonl", "init-0.mp4"]);
    {
        let mut catalog = recordings.write();
        let rec = catalog.recordings.get_mut(&key).unwrap();
        assert_eq!(rec.evicted_below, 5);
        assert_eq!(rec.segments.len(), 4, "the recording keeps every segment");
        rec.archive.index_archived = rec.archive.index_version;
    }
    writer.retain();
    assert_eq!(on_disk(), ["index.jsonl"]);
    // Found again as it is: whole, with no local file.
    let (catalog, _) = super::super::Catalog::load(root.path()).unwrap();
    let rec = &catalog.recordings[&key];
    assert_eq!((rec.segments.len(), rec.evicted_below), (4, u64::MAX));
    // Queued (no uploader runs here): the init section, four segments, and the index with
    // the first segment and at the end.
    assert_eq!(recordings.archive().unwrap().stats.pending(), 7);
}

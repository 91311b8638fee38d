//! Malformed input mid-stream ends that ingest with a clear, classified error; the parts it
//! published stay served, and another stream ingesting at the same time never notices.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{fixture, split};
use playlists::{Options, PartPosition, Playlists};
use playlists_server::fmp4::{Fmp4Error, Limits};
use playlists_server::ingest::Access;
use playlists_server::ingest::{
    ingest_reader, IngestConfig, IngestError, IngestErrorKind, Ingests,
};
use playlists_server::part_store::PartStore;
use playlists_server::shutdown::Shutdown;

fn setup(limits: Limits) -> (Arc<Playlists>, Arc<Ingests>) {
    let playlists = Arc::new(Playlists::new(common::fixed_td_options()).unwrap());
    let config = IngestConfig {
        grace: Duration::from_secs(5),
        limits,
        ..IngestConfig::default()
    };
    (
        Arc::clone(&playlists),
        Ingests::new(playlists, PartStore::heap(), config),
    )
}

fn parts_listed(playlists: &Playlists, stream: &str) -> usize {
    let version = playlists.stream(stream).unwrap().playlist().unwrap();
    String::from_utf8_lossy(&version.full.plain)
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .count()
}

#[tokio::test(start_paused = true)]
async fn garbage_mid_stream_ends_the_session_and_keeps_what_was_published() {
    let (playlists, ingests) = setup(Limits::default());
    let good = fixture("h264.mp4");
    let mut bad = ingests.start("bad", Access::Local).unwrap();
    let mut other = ingests.start("other", Access::Local).unwrap();
    let (_, fragments) = split(good.clone());
    let init_len = good.len() - fragments.iter().map(|f| f.bytes.len()).sum::<usize>();

    // Both streams publish half; then `bad` gets an HTML error page where a box should be.
    let half = init_len + fragments[..5].iter().map(|f| f.bytes.len()).sum::<usize>();
    assert_eq!(bad.push(good.slice(..half)).unwrap(), 5);
    assert_eq!(other.push(good.slice(..half)).unwrap(), 5);
    let snapshot = playlists
        .stream("bad")
        .unwrap()
        .part_at(PartPosition { msn: 0, part: 4 })
        .unwrap();

    let err = bad
        .push(Bytes::from_static(
            b"<html><body>502 Bad Gateway</body></html>",
        ))
        .unwrap_err();
    assert_eq!(err.kind(), IngestErrorKind::BadInput, "{err}");
    let IngestError::Fmp4 { stream, source } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(stream, "bad");
    // `<htm` read as a size is a gigabyte; the type `l><b` tells the real problem.
    assert!(matches!(source, Fmp4Error::NotIsoBmff { .. }), "{source}");
    assert!(err.to_string().contains("bad"), "{err}");
    // The session is spent; what it published is still served, byte for byte.
    assert!(matches!(
        bad.push(good.slice(half..)),
        Err(IngestError::Closed(_))
    ));
    let again = playlists
        .stream("bad")
        .unwrap()
        .part_at(PartPosition { msn: 0, part: 4 })
        .unwrap();
    assert_eq!(again.bytes, snapshot.bytes);
    assert_eq!(parts_listed(&playlists, "bad"), 5);

    // The other stream carries on.
    assert_eq!(other.push(good.slice(half..)).unwrap(), 5);
    assert_eq!(parts_listed(&playlists, "other"), 10);

    // The failed stream gets its grace period, then ENDLIST, still listing its parts.
    drop(bad);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let ended = playlists.stream("bad").unwrap().playlist().unwrap();
    assert!(ended.finished);
    assert_eq!(parts_listed(&playlists, "bad"), 5);
    assert!(
        !playlists
            .stream("other")
            .unwrap()
            .playlist()
            .unwrap()
            .finished
    );
}

#[tokio::test]
async fn oversized_parts_are_too_large_not_bad_input() {
    let (playlists, ingests) = setup(Limits {
        max_part_size: 4000,
        ..Limits::default()
    });
    // h264.mp4 parts are 2–6 KB: some pass, the first larger one ends the ingest.
    let err = ingest_reader(
        &ingests,
        "cam1",
        &fixture("h264.mp4")[..],
        &Shutdown::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), IngestErrorKind::TooLarge, "{err}");
    assert!(err.to_string().contains("4000-byte part limit"), "{err}");
    let _ = playlists;
}

#[tokio::test]
async fn truncated_input_and_bad_names_are_bad_input() {
    let (playlists, ingests) = setup(Limits::default());
    let good = fixture("h264.mp4");
    let err = ingest_reader(
        &ingests,
        "cut",
        &good[..good.len() - 100],
        &Shutdown::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &err,
            IngestError::Fmp4 {
                source: Fmp4Error::Truncated { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.kind(), IngestErrorKind::BadInput);
    assert_eq!(
        playlists
            .stream("cut")
            .unwrap()
            .status()
            .unwrap()
            .parts_published,
        9
    );

    let err = ingests.start("../etc", Access::Local).unwrap_err();
    assert_eq!(err.kind(), IngestErrorKind::BadInput, "{err}");
    // A stream of progressive MP4 (no mvex): refused with a hint.
    let err = ingest_reader(
        &ingests,
        "prog",
        &b"\0\0\0\x08moov"[..],
        &Shutdown::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no trak"), "{err}");
}

#[tokio::test]
async fn more_streams_than_slots_is_unavailable() {
    let playlists = Arc::new(
        Playlists::new(Options {
            num_playlists: 1,
            ..Options::default()
        })
        .unwrap(),
    );
    let ingests = Ingests::new(playlists, PartStore::heap(), IngestConfig::default());
    let mut one = ingests.start("one", Access::Local).unwrap();
    one.push(fixture("h264.mp4")).unwrap();
    let mut two = ingests.start("two", Access::Local).unwrap();
    let err = two.push(fixture("h264.mp4")).unwrap_err();
    assert_eq!(err.kind(), IngestErrorKind::Unavailable, "{err}");
}

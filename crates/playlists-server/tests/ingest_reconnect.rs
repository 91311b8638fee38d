//! Encoders that drop and come back (tokio's paused clock drives the grace period): the
//! stream stays live for the grace period, a reconnect continues it (media sequence keeps
//! counting, EXT-X-DISCONTINUITY only where timestamps jump), and after the grace period the
//! playlist ends with EXT-X-ENDLIST.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{fixture, split};
use playlists::Playlists;
use playlists_server::fmp4::rewrite::shift_fragment;
use playlists_server::ingest::Access;
use playlists_server::ingest::{IngestConfig, IngestError, IngestErrorKind, Ingests};
use playlists_server::part_store::PartStore;

const GRACE: Duration = Duration::from_secs(10);

fn setup() -> (Arc<Playlists>, Arc<Ingests>) {
    let playlists = Arc::new(Playlists::new(common::fixed_td_options()).unwrap());
    let config = IngestConfig {
        grace: GRACE,
        takeover_after: Duration::from_secs(3),
        ..IngestConfig::default()
    };
    (
        Arc::clone(&playlists),
        Ingests::new(playlists, PartStore::heap(), config),
    )
}

fn playlist(playlists: &Playlists, stream: &str) -> String {
    let version = playlists.stream(stream).unwrap().playlist().unwrap();
    String::from_utf8(version.full.plain.to_vec()).unwrap()
}

fn discontinuities(text: &str) -> usize {
    text.lines()
        .filter(|l| *l == "#EXT-X-DISCONTINUITY")
        .count()
}

fn count(text: &str, line_prefix: &str) -> usize {
    text.lines().filter(|l| l.starts_with(line_prefix)).count()
}

/// The h264 fixture (10 parts, 2 s) with every tfdt moved `shift` ticks later, as an encoder
/// that reconnects without restarting its clock sends it.
fn h264_shifted(shift: u64) -> Bytes {
    let (init, fragments) = split(fixture("h264.mp4"));
    let mut out = BytesMut::from(&init.init.bytes[..]);
    for f in fragments {
        let mut bytes = f.bytes.to_vec();
        shift_fragment(&mut bytes, f.sequence_number, |_| shift).unwrap();
        out.extend_from_slice(&bytes);
    }
    out.freeze()
}

#[tokio::test(start_paused = true)]
async fn reconnect_within_grace_continues_with_a_discontinuity_where_time_jumps() {
    let (playlists, ingests) = setup();
    let mut first = ingests.start("cam1", Access::Local).unwrap();
    assert_eq!(first.push(fixture("h264.mp4")).unwrap(), 10);
    first.finish().unwrap();

    tokio::time::sleep(GRACE / 2).await;
    let text = playlist(&playlists, "cam1");
    assert!(
        !text.contains("#EXT-X-ENDLIST"),
        "still live in the grace period:\n{text}"
    );

    // The encoder restarts: same init, timestamps from 0 again.
    let mut second = ingests.start("cam1", Access::Local).unwrap();
    assert_eq!(second.push(fixture("h264.mp4")).unwrap(), 10);
    let text = playlist(&playlists, "cam1");
    assert_eq!(count(&text, "#EXT-X-PART:"), 20, "{text}");
    assert_eq!(discontinuities(&text), 1, "{text}");
    assert_eq!(
        count(&text, "#EXT-X-MAP:"),
        1,
        "same init, one map:\n{text}"
    );
    let status = playlists.stream("cam1").unwrap().status().unwrap();
    assert_eq!(status.parts_published, 20);

    // The first session's grace timer fires now, but a session connected since: no end.
    tokio::time::sleep(GRACE).await;
    assert!(!playlist(&playlists, "cam1").contains("#EXT-X-ENDLIST"));

    // The second encoder goes away for good: ENDLIST once its grace period is over.
    second.finish().unwrap();
    tokio::time::sleep(GRACE - Duration::from_millis(100)).await;
    assert!(!playlist(&playlists, "cam1").contains("#EXT-X-ENDLIST"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = playlist(&playlists, "cam1");
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
    assert_eq!(
        count(&text, "#EXT-X-PART:"),
        20,
        "what was published stays:\n{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn reconnect_with_continuous_timestamps_has_no_discontinuity() {
    let (playlists, ingests) = setup();
    let mut first = ingests.start("cam1", Access::Local).unwrap();
    first.push(fixture("h264.mp4")).unwrap();
    drop(first); // a dropped connection counts as a disconnect
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The fixture lasts 2 s = 30720 ticks at 15360 Hz: continue right after it.
    let mut second = ingests.start("cam1", Access::Local).unwrap();
    assert_eq!(second.push(h264_shifted(30720)).unwrap(), 10);
    let text = playlist(&playlists, "cam1");
    assert_eq!(count(&text, "#EXT-X-PART:"), 20, "{text}");
    assert_eq!(discontinuities(&text), 0, "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_changed_init_comes_with_a_discontinuity_and_a_new_map() {
    let (playlists, ingests) = setup();
    let mut first = ingests.start("cam1", Access::Local).unwrap();
    first.push(fixture("h264.mp4")).unwrap();
    first.finish().unwrap();
    // The reconnecting encoder sends HEVC, its clock continuing: only the init changed.
    let (init, fragments) = split(fixture("hevc.mp4"));
    let mut second = ingests.start("cam1", Access::Local).unwrap();
    second.push(init.init.bytes.clone()).unwrap();
    for f in fragments {
        let mut bytes = f.bytes.to_vec();
        shift_fragment(&mut bytes, f.sequence_number, |_| 30720).unwrap();
        second.push(Bytes::from(bytes)).unwrap();
    }
    let text = playlist(&playlists, "cam1");
    assert_eq!(discontinuities(&text), 1, "{text}");
    assert_eq!(count(&text, "#EXT-X-MAP:"), 2, "{text}");
    let status = playlists.stream("cam1").unwrap().status().unwrap();
    assert!(status.codecs.starts_with("hvc1."), "{}", status.codecs);
}

#[tokio::test(start_paused = true)]
async fn a_second_encoder_is_busy_until_the_first_goes_silent() {
    let (playlists, ingests) = setup();
    let mut first = ingests.start("cam1", Access::Local).unwrap();
    let bytes = fixture("h264.mp4");
    first.push(bytes.slice(..bytes.len() / 2)).unwrap();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let err = ingests.start("cam1", Access::Local).unwrap_err();
    assert!(matches!(err, IngestError::Busy(_)), "{err}");
    assert_eq!(err.kind(), IngestErrorKind::Busy);
    // Other streams are not affected.
    let mut other = ingests.start("cam2", Access::Local).unwrap();
    assert_eq!(other.push(fixture("h264.mp4")).unwrap(), 10);

    // Silent for longer than takeover_after: a new connection replaces it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut second = ingests.start("cam1", Access::Local).unwrap();
    second.push(fixture("h264.mp4")).unwrap();
    let err = first.push(bytes.slice(bytes.len() / 2..)).unwrap_err();
    assert!(matches!(err, IngestError::Superseded(_)), "{err}");
    // The replaced session ending does not start a grace period for the new one.
    drop(first);
    tokio::time::sleep(GRACE * 2).await;
    assert!(!playlist(&playlists, "cam1").contains("#EXT-X-ENDLIST"));
    second.finish().unwrap();
    tokio::time::sleep(GRACE + Duration::from_secs(1)).await;
    assert!(playlist(&playlists, "cam1").contains("#EXT-X-ENDLIST"));
}

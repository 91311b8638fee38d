//! The demo stream on tokio's paused clock: parts come out in real time, continuously across
//! several loops of the clip, with gap-free decode times and no discontinuity, and the stream
//! ends (after the grace period) once the demo is shut down.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use playlists::{Options, Playlists};
use playlists_server::fmp4::{split_all, Limits, Unit};
use playlists_server::ingest::sources::demo::{run_demo, DemoClip};
use playlists_server::ingest::Access;
use playlists_server::ingest::{IngestConfig, Ingests};
use playlists_server::part_store::PartStore;

#[tokio::test(start_paused = true)]
async fn demo_publishes_continuously_across_loops_in_real_time() {
    let playlists = Arc::new(Playlists::new(Options::default()).unwrap());
    let grace = Duration::from_secs(5);
    let ingests = Ingests::new(
        Arc::clone(&playlists),
        PartStore::heap(),
        IngestConfig {
            grace,
            ..IngestConfig::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let demo = tokio::spawn(run_demo(Arc::clone(&ingests), "demo", async {
        let _ = stopped.await;
    }));

    // Real-time pacing: one 200 ms part per 200 ms of (paused, auto-advanced) clock.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let parts = |p: &Playlists| p.stream("demo").unwrap().status().unwrap().parts_published;
    assert_eq!(parts(&playlists), 5);

    // Three loops of the 8 s clip and a bit.
    tokio::time::sleep(Duration::from_millis(24_000)).await;
    assert_eq!(parts(&playlists), 125);
    let stream = playlists.stream("demo").unwrap();
    let text = String::from_utf8(stream.playlist().unwrap().full.plain.to_vec()).unwrap();
    assert!(!text.lines().any(|l| l == "#EXT-X-DISCONTINUITY"), "{text}");
    assert_eq!(text.matches("#EXT-X-MAP:").count(), 1, "{text}");
    assert!(text.contains("INDEPENDENT=YES"), "{text}");

    // Read every published part back from the chunk cache and check the timeline.
    let clip = DemoClip::builtin().unwrap();
    let mut all = BytesMut::from(&clip.movie().init.bytes[..]);
    let idx = stream.idx();
    // Parts are numbered from the first sample's date (docs/conformance.md R34), then by one.
    let last = playlists.chunk_cache().last(idx).unwrap();
    let first = last - 124;
    assert!(playlists.chunk_cache().get(idx, first - 1).is_none());
    for id in first..=last {
        all.extend_from_slice(&playlists.chunk_cache().get(idx, id).unwrap().bytes);
    }
    let events = split_all(all.freeze(), Limits::default()).unwrap();
    let mut next = std::collections::HashMap::new();
    let mut first_video = None;
    let mut count = 0;
    for event in &events[1..] {
        let Unit::Fragment(f) = event else {
            panic!("one init section")
        };
        if let Some(video) = f.tracks.iter().find(|t| t.track_id == 1) {
            first_video.get_or_insert(video.decode_time);
        }
        for run in &f.tracks {
            if let Some(expected) = next.insert(run.track_id, run.decode_time + run.duration) {
                assert_eq!(
                    run.decode_time, expected,
                    "part {count}, track {}",
                    run.track_id
                );
            }
        }
        count += 1;
    }
    assert_eq!(count, 125);
    // 25 s of media from the 8 s clip, with every loop shifted by exactly 8 s.
    let first_video = first_video.unwrap();
    assert_eq!(next[&1] - first_video, 125 * 3072);
    // On the wall clock (`IngestConfig::restamp`): the first sample's decode time is its date,
    // taken on the system clock (which the paused tokio clock does not hold back).
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now_s.abs_diff(first_video / 15360) < 60, "{first_video}");

    // Shut down: the session ends; after the grace period the playlist ends.
    stop.send(()).unwrap();
    demo.await.unwrap().unwrap();
    tokio::time::sleep(grace + Duration::from_secs(1)).await;
    let ended = playlists.stream("demo").unwrap().playlist().unwrap();
    assert!(ended.finished);
}

#[tokio::test(start_paused = true)]
async fn demo_refuses_a_stream_an_encoder_holds() {
    let playlists = Arc::new(Playlists::new(Options::default()).unwrap());
    let ingests = Ingests::new(playlists, PartStore::heap(), IngestConfig::default());
    let _encoder = ingests.start("demo", Access::Local).unwrap();
    let err = run_demo(Arc::clone(&ingests), "demo", std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already has an encoder"), "{err}");
}

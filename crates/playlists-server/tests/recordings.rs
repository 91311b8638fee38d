//! Recordings (`--record-dir`) with the binary and real ffmpeg: a stream is recorded as it
//! goes and served as VOD when it ends, frame for frame; `kill -9` of the origin loses at most
//! the segment being written, and the recording is found again at start; a full recording
//! disk stops the recording, never the live stream; a DVR window (`--dvr-window`) lists
//! segments no longer in memory and serves them from the recording.

mod common;
mod origin;
mod recorder;
mod spawned;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;
use recorder::{encoder, metric, probe_packets, put, segments_of, walk, Origin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_recorded_and_served_as_vod_frame_for_frame_and_a_restart_is_a_new_recording() {
    let dir = tempfile::tempdir().unwrap();
    let record_dir = dir.path().to_str().unwrap();
    let (origin, mut ffmpeg) = Origin::ingesting(record_dir, 6, false, &[]);
    let list = origin.wait_state("finished").await;
    assert!(ffmpeg.wait().unwrap().success());
    let rec = &list[0];
    assert_eq!(rec["stream"], "cam");
    let url = rec["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/recordings/cam/"), "{url}");
    let duration = rec["duration_s"].as_f64().unwrap();
    assert!((duration - 6.0).abs() < 0.1, "{duration} s recorded");

    let playlist = origin.get(&url).await;
    assert_eq!(playlist.status, StatusCode::OK);
    assert_eq!(
        playlist.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    let text = playlist.text();
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"), "{text}");
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    // The recording's segments are the live stream's, byte for byte.
    let live = origin.get("/cam/index.m3u8").await.text();
    let base = url.trim_end_matches("index.m3u8");
    for name in segments_of(&text) {
        let msn = name.trim_end_matches(".m4s");
        let recorded = origin.get(&format!("{base}{name}")).await;
        assert_eq!(recorded.status, StatusCode::OK);
        assert!(live.contains(&format!("\ns{msn}.mp4\n")), "{live}");
        let served = origin.get(&format!("/cam/s{msn}.mp4")).await;
        assert_eq!(recorded.body, served.body, "segment {msn}");
    }
    // Every frame the encoder made: 6 s at 30 fps, and 6 s of 48 kHz AAC (1024 a frame).
    let (video, audio) = probe_packets(&format!("http://{}{url}", origin.addr));
    assert_eq!(video, 180);
    assert!((281..=283).contains(&audio), "{audio} audio frames");
    // Files the index does not name are not served.
    for path in [
        format!("{base}index.jsonl"),
        format!("{base}..%2F..%2Fetc%2Fpasswd"),
        "/recordings/cam/nothing/index.m3u8".to_owned(),
    ] {
        assert_eq!(
            origin.get(&path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert!(origin.logged("recording finished"));
    // Recorded files go out with sendfile from their files, not read into memory.
    let sent = |text: String| metric(&text, "playlists_http_sendfile_bytes_total").unwrap();
    let before = sent(origin.get("/metrics").await.text());
    let mut recorded_bytes = 0;
    for name in segments_of(&text) {
        recorded_bytes += origin.get(&format!("{base}{name}")).await.body.len();
    }
    let after = sent(origin.get("/metrics").await.text());
    assert!(
        after - before >= recorded_bytes as f64,
        "{} bytes sent with sendfile for {recorded_bytes} recorded",
        after - before
    );
    // The page lists it, playable.
    let page = origin.get("/").await.text();
    assert!(page.contains(&format!("data-vod=\"{url}\"")), "{page}");

    // The stream again under its name: a second recording, the first one unchanged.
    let mut again = encoder(3, false);
    let mut body = Vec::new();
    std::io::Read::read_to_end(again.stdout.as_mut().unwrap(), &mut body).unwrap();
    assert!(again.wait().unwrap().success());
    let put = put(origin.addr, "/ingest/cam", body).await;
    assert_eq!(put, StatusCode::OK);
    let list = origin
        .wait_for(Duration::from_secs(30), |l| {
            l.len() == 2 && l.iter().all(|r| r["state"] == "finished")
        })
        .await;
    assert_ne!(list[0]["id"], list[1]["id"]);
    assert!((list[0]["duration_s"].as_f64().unwrap() - 3.0).abs() < 0.1);
    assert_eq!(list[1]["url"].as_str(), Some(url.as_str()));
    assert!((list[1]["duration_s"].as_f64().unwrap() - 6.0).abs() < 0.1);
}

/// Seconds of media a playlist lists (its EXTINFs).
fn listed_seconds(playlist: &str) -> f64 {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse::<f64>().unwrap())
        .sum()
}

/// The complete segments a live playlist lists.
fn complete_segments(playlist: &str) -> usize {
    playlist
        .lines()
        .filter(|l| l.starts_with("#EXTINF"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_at_most_the_segment_being_written_and_the_recording_is_found_again() {
    let dir = tempfile::tempdir().unwrap();
    let record_dir = dir.path().to_str().unwrap();
    let (mut origin, mut ffmpeg) = Origin::ingesting(record_dir, 30, true, &[]);
    origin
        .wait_for(Duration::from_secs(30), |l| {
            l.first().is_some_and(|r| r["segments"].as_u64() >= Some(4))
        })
        .await;
    let live = origin.get("/cam/index.m3u8").await.text();
    let before = complete_segments(&live);
    // SIGKILL: no shutdown, no flush.
    origin.child.kill().unwrap();
    origin.child.wait().unwrap();
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();

    let restarted = Origin::start(&["--record-dir", record_dir], Stdio::null());
    assert!(restarted.logged("recordings found"));
    let list = restarted.recordings().await;
    assert_eq!(list.len(), 1, "{list:#?}");
    let rec = &list[0];
    assert_eq!(rec["state"], "interrupted");
    let kept = rec["segments"].as_u64().unwrap() as usize;
    assert!(
        kept + 1 >= before,
        "{kept} segments recorded of the {before} the live playlist completed"
    );
    // Served as VOD, every segment whole.
    let url = rec["url"].as_str().unwrap();
    let text = restarted.get(url).await.text();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    assert_eq!(segments_of(&text).len(), kept);
    let (video, _) = probe_packets(&format!("http://{}{url}", restarted.addr));
    let seconds = rec["duration_s"].as_f64().unwrap();
    assert_eq!(
        video as f64,
        (seconds * 30.0).round(),
        "every recorded second has its 30 frames"
    );
    // No half-written file was left behind.
    let leftovers = walk(dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .count();
    assert_eq!(leftovers, 0);
}

/// A tmpfs of `size` mounted at a new directory, unmounted on drop.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting a small tmpfs needs root (CI runs as root)"
        );
        Self(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_recording_disk_stops_the_recording_and_the_live_stream_goes_on() {
    // About three segments of the test pattern (~40 KB each).
    let disk = SmallDisk::mount("128k");
    let record_dir = disk.0.path().to_str().unwrap();
    let (origin, mut ffmpeg) = Origin::ingesting(record_dir, 12, true, &[]);
    let list = origin.wait_state("stopped").await;
    let rec = &list[0];
    assert!(
        rec["reason"].as_str().unwrap().contains("disk is full"),
        "{rec:#?}"
    );
    assert!(origin.logged("recording stopped; the live stream goes on"));
    let metrics = origin.get("/metrics").await.text();
    assert_eq!(
        metric(
            &metrics,
            "playlists_recordings_stopped_total{reason=\"disk_full\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    // The live stream keeps publishing after the recording stopped.
    let last_msn = |p: &str| {
        p.lines()
            .filter_map(|l| l.strip_prefix("s").and_then(|r| r.strip_suffix(".mp4")))
            .filter_map(|n| n.parse::<u64>().ok())
            .max()
    };
    let at_stop = last_msn(&origin.get("/cam/index.m3u8").await.text()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = last_msn(&origin.get("/cam/index.m3u8").await.text()).unwrap();
        if now >= at_stop + 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the live stream stalled at {now}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // What was recorded before the disk filled is served.
    let url = rec["url"].as_str().unwrap();
    let text = origin.get(url).await.text();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    for name in segments_of(&text) {
        let base = url.trim_end_matches("index.m3u8");
        assert_eq!(
            origin.get(&format!("{base}{name}")).await.status,
            StatusCode::OK
        );
    }
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dvr_window_lists_segments_beyond_memory_and_serves_them_from_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let record_dir = dir.path().to_str().unwrap();
    // A live window of 4 segments (8 s; with the 12 s Skip Boundary about 7 stay in
    // memory) and a DVR window of 30 s.
    let (origin, mut ffmpeg) = Origin::ingesting(
        record_dir,
        40,
        false,
        &["--dvr-window", "30s", "--max-segments", "4"],
    );
    let list = origin.wait_state("finished").await;
    assert!(ffmpeg.wait().unwrap().success());
    let recording = list[0]["url"]
        .as_str()
        .unwrap()
        .trim_end_matches("index.m3u8")
        .to_owned();

    let live = origin.get("/cam/index.m3u8").await.text();
    assert!(live.ends_with("#EXT-X-ENDLIST\n"), "{live}");
    let listed: Vec<u64> = live
        .lines()
        .filter_map(|l| l.strip_prefix('s').and_then(|r| r.strip_suffix(".mp4")))
        .map(|n| n.parse().unwrap())
        .collect();
    let seconds = complete_segments(&live) as f64 * 2.0;
    assert!(
        (30.0..=34.0).contains(&seconds),
        "{seconds} s listed: the DVR window and the open segment\n{live}"
    );
    assert!(listed.len() >= 15, "{live}");
    assert_eq!(
        live.lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
            .and_then(|n| n.parse().ok()),
        listed.first().copied()
    );
    // Every listed segment is served, the old ones from the recording, byte for byte.
    for msn in &listed {
        let served = origin.get(&format!("/cam/s{msn}.mp4")).await;
        assert_eq!(
            served.status,
            StatusCode::OK,
            "s{msn}.mp4: {}",
            served.text()
        );
        let recorded = origin.get(&format!("{recording}{msn}.m4s")).await;
        assert_eq!(served.body, recorded.body, "segment {msn}");
    }
    // ffprobe reads the whole window: 30 frames a second.
    let (video, _) = probe_packets(&format!("http://{}/cam/index.m3u8", origin.addr));
    let listed_s: f64 = listed_seconds(&live);
    assert_eq!(video as f64, (listed_s * 30.0).round());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_push_lists_every_segment_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let record_dir = dir.path().to_str().unwrap();
    let origin = Origin::start(
        &["--record-dir", record_dir, "--max-segments", "4"],
        Stdio::null(),
    );
    let mut ffmpeg = encoder(40, false);
    let mut body = Vec::new();
    std::io::Read::read_to_end(ffmpeg.stdout.as_mut().unwrap(), &mut body).unwrap();
    assert!(ffmpeg.wait().unwrap().success());
    for (query, want) in [
        ("?playlist_type=vod", StatusCode::BAD_REQUEST),
        ("?playlist_type=event", StatusCode::OK),
    ] {
        let status = put(origin.addr, &format!("/ingest/show{query}"), body.clone()).await;
        assert_eq!(status, want, "{query}");
    }
    let live = origin.get("/show/index.m3u8").await.text();
    assert!(live.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"), "{live}");
    // Every segment of the 40 s from the first, which the recording starts with.
    let list = origin
        .wait_for(Duration::from_secs(30), |l| !l.is_empty())
        .await;
    let recording = list[0]["url"].as_str().unwrap().replace("index.m3u8", "");
    let recorded = origin.get(&format!("{recording}index.m3u8")).await.text();
    let first_recorded = segments_of(&recorded)[0]
        .trim_end_matches(".m4s")
        .to_owned();
    assert_eq!(
        live.lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")),
        Some(first_recorded.as_str())
    );
    let seconds: f64 = listed_seconds(&live);
    assert!(seconds >= 37.0, "{seconds} s listed\n{live}");
    for line in live.lines().filter(|l| l.starts_with('s')) {
        let served = origin.get(&format!("/show/{line}")).await;
        assert_eq!(served.status, StatusCode::OK, "{line}");
    }

    // Without recording there is nowhere to serve old segments from: refused.
    let plain = Origin::start(&[], Stdio::null());
    let status = put(plain.addr, "/ingest/show?playlist_type=event", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

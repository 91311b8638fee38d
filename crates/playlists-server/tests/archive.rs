//! The archive (`--archive s3://…`) against a real S3-compatible server (`s3s-fs`, started by
//! the tests on loopback), with the binary and real ffmpeg: every file of a recording is
//! uploaded; retention then removes the local files and they are served from the store; a new
//! disk finds the recordings again in the store; the store killed mid-upload and away for
//! seconds loses nothing, and the live stream never notices.

mod common;
mod origin;
mod recorder;
mod s3_server;
mod spawned;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use recorder::{metric, probe_packets, segments_of, walk, Origin};
use s3_server::{S3Server, BUCKET};

/// The flags that archive into `s3`'s bucket under `prefix`.
fn archive_args(s3: &S3Server, prefix: &str) -> Vec<String> {
    vec![
        "--archive".into(),
        format!("s3://{BUCKET}/{prefix}"),
        "--archive-endpoint".into(),
        s3.endpoint(),
    ]
}

/// The init sections and segments a recording's playlist names.
fn files_of(playlist: &str) -> Vec<String> {
    let inits = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .map(|l| l.trim_end_matches('"').to_owned());
    let mut files: Vec<String> = inits.collect();
    files.dedup();
    files.extend(segments_of(playlist).into_iter().map(str::to_owned));
    files
}

/// Every file of the recording at `url` as `origin` serves it.
async fn served(origin: &Origin, url: &str) -> Vec<(String, Bytes)> {
    let text = origin.get(url).await.text();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    let base = url.trim_end_matches("index.m3u8");
    let mut out = Vec::new();
    for name in files_of(&text) {
        let resp = origin.get(&format!("{base}{name}")).await;
        assert_eq!(resp.status, StatusCode::OK, "{name}: {}", resp.text());
        out.push((name, resp.body));
    }
    out
}

async fn metrics(origin: &Origin) -> String {
    origin.get("/metrics").await.text()
}

/// Polls `/metrics` until `name` is at least `at_least` (at most 30 s).
async fn wait_metric(origin: &Origin, name: &str, at_least: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let value = metric(&metrics(origin).await, name).unwrap_or(0.0);
        if value >= at_least {
            return;
        }
        assert!(Instant::now() < deadline, "{name} stayed at {value}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the listing until the newest recording finished and the store holds all of it.
async fn wait_archived(origin: &Origin, within: Duration) -> Vec<serde_json::Value> {
    origin
        .wait_for(within, |l| {
            l.first()
                .is_some_and(|r| r["state"] == "finished" && r["archived"] == true)
        })
        .await
}

/// The files left in a recording directory.
fn local_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = walk(dir)
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// A new origin on an empty disk, archiving into `prefix`: it finds the one recording the
/// store holds and serves every file of it from there, equal to `expected`.
async fn assert_found_again_in_the_store(
    s3: &S3Server,
    prefix: &str,
    url: &str,
    expected: &[(String, Bytes)],
) {
    let disk = tempfile::tempdir().unwrap();
    let mut args = vec!["--record-dir".to_owned(), disk.path().display().to_string()];
    args.extend(archive_args(s3, prefix));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let origin = Origin::start_with_env(&args, Stdio::null(), &s3.env());
    let list = origin
        .wait_for(Duration::from_secs(30), |l| l.len() == 1)
        .await;
    assert_eq!(list[0]["url"].as_str(), Some(url), "{list:#?}");
    assert_eq!(list[0]["archived"], true, "{list:#?}");
    assert!(origin.logged("recording adopted from the archive"));
    let again = served(&origin, url).await;
    assert_eq!(again.len(), expected.len());
    for ((name, bytes), (want_name, want)) in again.iter().zip(expected) {
        assert_eq!(name, want_name);
        assert!(bytes == want, "{name} differs from what was recorded");
    }
    let from_store = metric(&metrics(&origin).await, "playlists_archive_served_total");
    assert!(from_store >= Some(expected.len() as f64), "{from_store:?}");
    // ffprobe reads it from start to end, every frame: all of it from the store.
    let (video, _) = probe_packets(&format!("http://{}{url}", origin.addr));
    let seconds = list[0]["duration_s"].as_f64().unwrap();
    assert_eq!(video as f64, (seconds * 30.0).round());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_is_uploaded_its_local_files_go_and_it_is_served_from_the_store() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    // A disk budget of two segments: retention removes local files as soon as the store
    // holds them, and never before.
    let mut extra = archive_args(&s3, "origin-a");
    extra.extend(["--record-max-bytes".to_owned(), "100K".to_owned()]);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (origin, mut ffmpeg) =
        Origin::ingesting_env(dir.path().to_str().unwrap(), 6, false, &extra, &s3.env());
    let list = wait_archived(&origin, Duration::from_secs(30)).await;
    assert!(ffmpeg.wait().unwrap().success());
    let url = list[0]["url"].as_str().unwrap().to_owned();
    assert!((list[0]["duration_s"].as_f64().unwrap() - 6.0).abs() < 0.1);

    // Retention (every 5 s) leaves only the index on the local disk.
    let rec_dir = dir.path().join("cam").join(list[0]["id"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while local_names(&rec_dir) != ["index.jsonl"] {
        assert!(
            Instant::now() < deadline,
            "still on disk: {:?}",
            local_names(&rec_dir)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The recording is whole, and every segment is the live one, byte for byte.
    let list = origin.recordings().await;
    assert!((list[0]["duration_s"].as_f64().unwrap() - 6.0).abs() < 0.1);
    let files = served(&origin, &url).await;
    for (name, bytes) in &files {
        if let Some(msn) = name.strip_suffix(".m4s") {
            let live = origin.get(&format!("/cam/s{msn}.mp4")).await;
            assert!(
                live.body == bytes,
                "segment {msn} differs from the live one"
            );
        }
    }
    let text = metrics(&origin).await;
    let at_least = |name, n: f64| {
        let value = metric(&text, name);
        assert!(value >= Some(n), "{name} = {value:?}");
    };
    // Every init section and segment, and the index.
    at_least("playlists_archive_uploaded_total", files.len() as f64 + 1.0);
    at_least("playlists_archive_served_total", files.len() as f64);
    assert_eq!(metric(&text, "playlists_archive_pending"), Some(0.0));
    assert_eq!(
        metric(&text, "playlists_archive_upload_failures_total"),
        Some(0.0)
    );
    drop(origin);

    // A new, empty disk: the recording is found again in the store.
    assert_found_again_in_the_store(&s3, "origin-a", &url, &files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_killed_mid_upload_and_away_for_seconds_loses_nothing_and_live_goes_on() {
    let mut s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let extra = archive_args(&s3, "origin-b");
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (origin, mut ffmpeg) =
        Origin::ingesting_env(dir.path().to_str().unwrap(), 14, true, &extra, &s3.env());
    // Uploads flow (an init section and a couple of segments), then the store dies.
    wait_metric(&origin, "playlists_archive_uploaded_total", 3.0).await;
    s3.kill();
    let live_segments = |text: &str| text.matches("#EXTINF").count();
    let before = origin.get("/cam/index.m3u8").await.text();
    let mut seconds_away = 0;
    // Away for five seconds: the live playlist goes on, uploads wait on the disk.
    while seconds_away < 5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        seconds_away += 1;
        let resp = origin.get("/cam/index.m3u8").await;
        assert_eq!(resp.status, StatusCode::OK);
    }
    let after = origin.get("/cam/index.m3u8").await.text();
    let newest = |text: &str| {
        text.lines()
            .rfind(|l| l.ends_with(".mp4") && l.starts_with('s'))
            .map(str::to_owned)
    };
    assert!(
        newest(&after) != newest(&before) && live_segments(&after) > 0,
        "the live stream stalled:\n{before}\n{after}"
    );
    let text = metrics(&origin).await;
    assert!(
        metric(&text, "playlists_archive_pending") > Some(0.0),
        "{text}"
    );
    assert!(metric(&text, "playlists_archive_upload_failures_total") > Some(0.0));
    assert!(origin.logged("uploading to the archive failed"));

    // Back on the same port with the same data: everything queued goes up.
    s3.restart();
    let list = wait_archived(&origin, Duration::from_secs(60)).await;
    assert!(ffmpeg.wait().unwrap().success());
    assert!(origin.logged("the archive takes uploads again"));
    let url = list[0]["url"].as_str().unwrap().to_owned();
    // Served from the local disk here: the reference the store must match.
    let files = served(&origin, &url).await;
    let recorded = list[0]["duration_s"].as_f64().unwrap();
    assert!(recorded >= 13.0, "{recorded} s recorded of 14");
    assert_eq!(
        metric(&metrics(&origin).await, "playlists_archive_pending"),
        Some(0.0)
    );
    drop(origin);
    assert_found_again_in_the_store(&s3, "origin-b", &url, &files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_origin_uploads_the_final_index_before_it_exits() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let extra = archive_args(&s3, "origin-c");
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (mut origin, mut ffmpeg) =
        Origin::ingesting_env(dir.path().to_str().unwrap(), 30, true, &extra, &s3.env());
    origin
        .wait_for(Duration::from_secs(30), |l| {
            l.first().is_some_and(|r| r["segments"].as_u64() >= Some(2))
        })
        .await;
    // SIGTERM mid-stream: the recording ends as stopped, and its last index goes up.
    let pid = origin.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exited = origin.child.wait().unwrap();
    assert!(exited.success(), "{exited}");
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();

    // On an empty disk the store's copy says how the recording ended.
    let disk = tempfile::tempdir().unwrap();
    let mut args = vec!["--record-dir".to_owned(), disk.path().display().to_string()];
    args.extend(archive_args(&s3, "origin-c"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let restarted = Origin::start_with_env(&args, Stdio::null(), &s3.env());
    let list = restarted
        .wait_for(Duration::from_secs(30), |l| l.len() == 1)
        .await;
    assert_eq!(list[0]["state"], "stopped", "{list:#?}");
    assert_eq!(list[0]["reason"], "the origin stopped");
    let url = list[0]["url"].as_str().unwrap();
    let (video, _) = probe_packets(&format!("http://{}{url}", restarted.addr));
    let seconds = list[0]["duration_s"].as_f64().unwrap();
    assert!(seconds >= 4.0, "{seconds} s");
    assert_eq!(video as f64, (seconds * 30.0).round());
}

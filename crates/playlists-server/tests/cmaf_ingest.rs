//! DASH-IF Live Media Ingest, Interface-1 (CMAF ingest), over real HTTP on 127.0.0.1:
//! `/ingest/{publishing_point}/Streams({track})`, each track the rendition
//! `{publishing_point}/{track}`. Every answer the protocol defines is triggered; ffmpeg pushes
//! a video and two audio tracks as long-running POSTs; the per-segment form is posted object
//! by object; and two identical encoders push one publishing point, one killed mid-stream,
//! with the stream continuing on the other without a gap, a repeat or a discontinuity.

mod common;
mod origin;

use std::process::Stdio;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use origin::{Layers, Resp, TestServer};
use playlists_server::http::HttpOptions;
use playlists_server::ingest::{Access, Credentials, IngestConfig, IngestErrorKind, Ownership};
use playlists_server::part_store::PartStore;
use tokio::net::TcpStream;

/// One request with a whole body on a fresh HTTP/1.1 connection, answered within 20 s.
async fn send(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Resp {
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method("POST")
            .uri(path)
            .header("host", "x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = sender
            .send_request(req.body(Full::new(body)).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    };
    tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .expect("answered within 20 s")
}

async fn post(server: &TestServer, path: &str, body: impl Into<Bytes>) -> Resp {
    send(server.addr, path, &[], body.into()).await
}

/// The parts a 200 says it published (`published N parts on …`).
fn published(resp: &Resp) -> u64 {
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    let text = resp.text();
    text.strip_prefix("published ")
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no part count in {text:?}"))
}

/// A `styp` with `brands` (the first is the major brand).
fn styp(brands: &[&[u8; 4]]) -> Vec<u8> {
    let mut b = Vec::new();
    let size = 16 + 4 * (brands.len() - 1);
    b.extend_from_slice(&(size as u32).to_be_bytes());
    b.extend_from_slice(b"styp");
    b.extend_from_slice(brands[0]);
    b.extend_from_slice(&0u32.to_be_bytes());
    for brand in &brands[1..] {
        b.extend_from_slice(*brand);
    }
    b
}

/// A CMAF track of timed text (`tx3g` in a `sbtl` track), as ffmpeg writes one.
fn timed_text() -> Bytes {
    assert!(
        common::have_ffmpeg(),
        "ffmpeg is needed (scripts/test.sh installs it)"
    );
    let dir = std::env::temp_dir();
    let srt = dir.join(format!("cmaf_ingest_{}.srt", std::process::id()));
    let mp4 = dir.join(format!("cmaf_ingest_{}_text.mp4", std::process::id()));
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:01,000\nhello\n").unwrap();
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(&srt)
        .args(["-c:s", "mov_text", "-f", "mp4", "-movflags"])
        .arg("cmaf+empty_moov+default_base_moof+frag_keyframe+skip_trailer")
        .arg(&mp4)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&mp4).unwrap();
    let _ = (std::fs::remove_file(&srt), std::fs::remove_file(&mp4));
    bytes.into()
}

fn count(text: &str, prefix: &str) -> usize {
    text.lines().filter(|l| l.starts_with(prefix)).count()
}

#[tokio::test]
async fn every_answer_of_the_protocol() {
    let layers = Layers {
        ingest: IngestConfig {
            credentials: Credentials {
                token: Some("s3cret".into()),
                ..Credentials::default()
            },
            ..IngestConfig::default()
        },
        parts: PartStore::heap(),
    };
    let server = TestServer::with_layers(origin::options(), HttpOptions::default(), layers).await;
    let (init, fragments) = common::split(common::fixture("h264.mp4"));
    let header = init.init.bytes.clone();
    let auth = [("authorization", "Bearer s3cret")];
    let send_auth = |path: &'static str, body: Bytes| send(server.addr, path, &auth, body);

    // An empty POST probes: 403 without the credential, 200 with it (header or query).
    let probe = post(&server, "/ingest/pp/Streams(video.cmfv)", Bytes::new()).await;
    assert_eq!(probe.status, StatusCode::FORBIDDEN, "{}", probe.text());
    assert!(
        !probe.text().trim().contains('\n'),
        "one line: {}",
        probe.text()
    );
    let probe = send_auth("/ingest/pp/Streams(video.cmfv)", Bytes::new()).await;
    assert_eq!(probe.status, StatusCode::OK, "{}", probe.text());
    let probe = post(
        &server,
        "/ingest/pp/Streams(video.cmfv)?token=s3cret",
        Bytes::new(),
    )
    .await;
    assert_eq!(probe.status, StatusCode::OK, "{}", probe.text());
    assert!(
        server.playlists.stream("pp/video").is_none(),
        "a probe publishes nothing"
    );

    // Names the stream-name rules refuse, or a path that names no track: 404.
    for path in [
        "/ingest/ingest/Streams(video.cmfv)",
        "/ingest/pp/Streams(bad%20name.cmfv)",
        "/ingest/pp/Streams(.hidden)",
        "/ingest/pp/Streams(video.cmfv",
    ] {
        let resp = send(server.addr, path, &auth, Bytes::new()).await;
        assert_eq!(
            resp.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            resp.text()
        );
    }

    // Unsupported media: not CMAF, or a track type not served: 415.
    let resp = send_auth(
        "/ingest/pp/Streams(video.cmfv)",
        Bytes::from_static(b"GIF89a not a video"),
    )
    .await;
    assert_eq!(
        resp.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        resp.text()
    );
    let resp = send_auth("/ingest/pp/Streams(subs.cmft)", header.clone()).await;
    assert_eq!(
        resp.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        resp.text()
    );

    // A header whose track is neither audio nor video (ffmpeg's timed text, `sbtl`): 415.
    let resp = send_auth("/ingest/pp/Streams(captions)", timed_text()).await;
    assert_eq!(
        resp.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        resp.text()
    );
    assert!(resp.text().contains("`sbtl` track"), "{}", resp.text());

    // A segment before its track's header: 412; and nothing was started.
    let resp = send_auth("/ingest/pp/Streams(video.cmfv)", fragments[0].bytes.clone()).await;
    assert_eq!(
        resp.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        resp.text()
    );
    assert!(server.playlists.stream("pp/video").is_none());

    // A manifest is accepted and ignored.
    let resp = send_auth("/ingest/pp/manifest.mpd", Bytes::from_static(b"<MPD/>")).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    assert!(resp.text().contains("ignored"), "{}", resp.text());

    // The header, then segments: published.
    assert_eq!(
        published(&send_auth("/ingest/pp/Streams(video.cmfv)", header.clone()).await),
        0
    );
    for f in &fragments[..3] {
        let resp = send_auth("/ingest/pp/Streams(video.cmfv)", f.bytes.clone()).await;
        assert_eq!(published(&resp), 1);
    }
    // A fragment whose tfdt is held already: 200, published once only.
    let resp = send_auth("/ingest/pp/Streams(video.cmfv)", fragments[1].bytes.clone()).await;
    assert_eq!(published(&resp), 0);
    let status = server
        .playlists
        .stream("pp/video")
        .unwrap()
        .status()
        .unwrap();
    assert_eq!(status.parts_published, 3);

    // A plain push to the same stream meanwhile is still one encoder per stream.
    let ingests = &server.ingests;
    let held = ingests
        .start_as("pp/video", Access::Local, Ownership::Redundant)
        .unwrap();
    let err = ingests.start("pp/video", Access::Local).unwrap_err();
    assert_eq!(err.kind(), IngestErrorKind::Busy, "{err}");
    drop(held);

    // A segment with `lmsg` is the track's last: EXT-X-ENDLIST after it.
    let mut last = styp(&[b"msdh", b"msdh", b"lmsg"]);
    last.extend_from_slice(&fragments[3].bytes);
    assert_eq!(
        published(&send_auth("/ingest/pp/Streams(video.cmfv)", last.into()).await),
        1
    );
    let text = server.get("/pp/video/index.m3u8").await.text();
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
    assert_eq!(count(&text, "#EXT-X-DISCONTINUITY"), 0, "{text}");
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let layers = Layers {
        ingest: IngestConfig {
            stall_after: Duration::from_millis(500),
            ..IngestConfig::default()
        },
        parts: PartStore::heap(),
    };
    let server = TestServer::with_layers(origin::options(), HttpOptions::default(), layers).await;
    // Four bytes of a promised hundred, then nothing: not even a box header.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(
        b"POST /ingest/pp/Streams(video.cmfv) HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n\0\0\0\x18",
    )
    .await
    .unwrap();
    let mut answer = vec![0; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut answer))
        .await
        .expect("answered within 10 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn segments_posted_one_by_one_make_one_continuous_track() {
    let server = TestServer::start().await;
    let (init, fragments) = common::split(common::fixture("h264.mp4"));
    let header = init.init.bytes.clone();
    let url = "/ingest/live/Streams(video)/Segment(x)";
    assert_eq!(published(&post(&server, url, header.clone()).await), 0);
    let mut parts = 0;
    for (i, f) in fragments.iter().enumerate() {
        if i == 5 {
            // The encoder reconnects and re-sends its identical header: the track continues.
            assert_eq!(published(&post(&server, url, header.clone()).await), 0);
        }
        // A segment URL of its own, as `Streams(…)/{segment}` allows.
        let url = format!("/ingest/live/Streams(video)/Segment({i})");
        parts += published(&send(server.addr, &url, &[], f.bytes.clone()).await);
    }
    assert_eq!(parts, fragments.len() as u64);
    // A header and its segments in one body, re-sent whole: all held, none published twice.
    let mut whole = BytesMut::from(&header[..]);
    for f in &fragments {
        whole.extend_from_slice(&f.bytes);
    }
    assert_eq!(published(&post(&server, url, whole.freeze()).await), 0);
    let text = server.get("/live/video/index.m3u8").await.text();
    assert_eq!(count(&text, "#EXT-X-DISCONTINUITY"), 0, "{text}");
    assert_eq!(count(&text, "#EXT-X-PART:") as u64, parts, "{text}");
    assert!(!text.contains("#EXT-X-ENDLIST"), "{text}");
    let master = server.get("/live/master.m3u8").await.text();
    assert!(master.contains("video/index.m3u8"), "{master}");
    server.stop().await;
}

/// `prft` is `-write_prft`'s source: `pts` dates samples alike in every run of one command,
/// `wallclock` by when each encoder muxed them (two encoders' dates then differ).
fn ffmpeg_push(secs: u32, prft: &str, outputs: &[(&str, String)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"]);
    cmd.args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"]);
    cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
    cmd.args(["-f", "lavfi", "-i", "sine=frequency=660:sample_rate=48000"]);
    for (map, url) in outputs {
        // `-t` is an output option: each output its own.
        cmd.args(["-map", map, "-t", &secs.to_string()]);
        match *map {
            "0:v" => cmd.args([
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-pix_fmt",
                "yuv420p",
                "-g",
                "30",
                "-keyint_min",
                "30",
                "-sc_threshold",
                "0",
                "-b:v",
                "100k",
            ]),
            "1:a" => cmd.args([
                "-c:a",
                "aac",
                "-b:a",
                "32k",
                "-metadata:s:a:0",
                "language=eng",
            ]),
            _ => cmd.args([
                "-c:a",
                "aac",
                "-b:a",
                "32k",
                "-metadata:s:a:0",
                "language=fra",
            ]),
        };
        cmd.args([
            "-f",
            "mp4",
            "-movflags",
            "cmaf+empty_moov+default_base_moof+frag_keyframe+skip_trailer",
            "-frag_duration",
            "200000",
            "-write_prft",
            prft,
            "-method",
            "POST",
            "-chunked_post",
            "1",
            url,
        ]);
    }
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

/// The URIs of a media playlist's segments, then of the parts after its last segment, in
/// order: every byte the stream holds while the window covers it.
fn media_uris(playlist: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut tail_parts = Vec::new();
    let mut lines = playlist.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("#EXTINF") {
            segments.push(lines.next().unwrap().to_owned());
            tail_parts.clear();
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-PART:") {
            let uri = attrs
                .split("URI=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            tail_parts.push(uri.to_owned());
        }
    }
    segments.extend(tail_parts);
    segments
}

/// init.mp4 and every listed segment and trailing part of `stream`, concatenated.
async fn download(server: &TestServer, stream: &str) -> (String, Vec<u8>) {
    let playlist = server.get(&format!("/{stream}/index.m3u8")).await.text();
    let mut bytes = server
        .get(&format!("/{stream}/init.mp4"))
        .await
        .body
        .to_vec();
    for uri in media_uris(&playlist) {
        let resp = server.get(&format!("/{stream}/{uri}")).await;
        assert_eq!(resp.status, StatusCode::OK, "{uri}");
        bytes.extend_from_slice(&resp.body);
    }
    (playlist, bytes)
}

/// ffprobe's decoded frames of `bytes` (their pts in seconds), and whatever it complained of.
fn decoded_frames(bytes: &[u8], name: &str) -> (Vec<f64>, String) {
    let path = std::env::temp_dir().join(format!("cmaf_ingest_{}_{name}.mp4", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let frames = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    (frames, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The language tag ffprobe reads from the track's `mdhd`.
fn language(bytes: &[u8], name: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "cmaf_ingest_{}_{name}_lang.mp4",
        std::process::id()
    ));
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream_tags=language",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The wider TD (2 s) and window of these tests: 8 s of media stays listed whole.
fn wide_options() -> playlists::Options {
    playlists::Options {
        max_segments: 20,
        ..origin::options()
    }
}

#[tokio::test]
async fn ffmpeg_pushes_a_video_and_two_audio_tracks_as_long_running_posts() {
    assert!(
        common::have_ffmpeg(),
        "ffmpeg is needed (scripts/test.sh installs it)"
    );
    let server = TestServer::with(wide_options(), HttpOptions::default()).await;
    let url = |track: &str| format!("http://{}/ingest/show/Streams({track})", server.addr);
    let mut ffmpeg = ffmpeg_push(
        4,
        "pts",
        &[
            ("0:v", url("video.cmfv")),
            ("1:a", url("audio_eng.cmfa")),
            ("2:a", url("audio_fra.cmfa")),
        ],
    )
    .spawn()
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), ffmpeg.wait())
        .await
        .expect("ffmpeg ends within a minute")
        .unwrap();
    assert!(status.success(), "ffmpeg: {status}");
    for (track, lang) in [
        ("video", None),
        ("audio_eng", Some("eng")),
        ("audio_fra", Some("fra")),
    ] {
        let stream = format!("show/{track}");
        let (playlist, bytes) = download(&server, &stream).await;
        assert_eq!(count(&playlist, "#EXT-X-DISCONTINUITY"), 0, "{playlist}");
        assert!(count(&playlist, "#EXT-X-PART:") > 0, "{playlist}");
        let (frames, complaints) = decoded_frames(&bytes, track);
        assert!(complaints.is_empty(), "{stream}: {complaints}");
        assert!(
            frames.len() >= if lang.is_some() { 180 } else { 118 },
            "{stream}: {} frames",
            frames.len()
        );
        if let Some(lang) = lang {
            assert_eq!(language(&bytes, track), lang, "{stream}");
        }
    }
    // The publishing point's multivariant playlist: the video, playing its sound from the
    // two languages (docs/conformance.md R35).
    let master = server.get("/show/master.m3u8").await.text();
    assert_eq!(master.matches("#EXT-X-STREAM-INF:").count(), 1, "{master}");
    assert!(
        master.contains(",AUDIO=\"audio\"\nvideo/index.m3u8"),
        "{master}"
    );
    for (name, lang) in [("audio_eng", "eng"), ("audio_fra", "fra")] {
        assert!(
            master.contains(&format!("NAME=\"{name}\",LANGUAGE=\"{lang}\"")),
            "{master}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn two_redundant_encoders_one_killed_midway_make_one_unbroken_stream() {
    assert!(
        common::have_ffmpeg(),
        "ffmpeg is needed (scripts/test.sh installs it)"
    );
    let server = TestServer::with(wide_options(), HttpOptions::default()).await;
    let url = format!("http://{}/ingest/dual/Streams(video.cmfv)", server.addr);
    let outputs = [("0:v", url)];
    // Each encoder dates its fragments by its own clock (`prft`), 400 ms apart: the stream's
    // timeline is the first one's and stays so across the failover.
    let mut a = ffmpeg_push(8, "wallclock", &outputs).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut b = ffmpeg_push(8, "wallclock", &outputs).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    a.start_kill().unwrap();
    let _ = a.wait().await;
    let status = tokio::time::timeout(Duration::from_secs(60), b.wait())
        .await
        .expect("the second encoder ends within a minute")
        .unwrap();
    assert!(status.success(), "ffmpeg: {status}");

    let (playlist, bytes) = download(&server, "dual/video").await;
    assert_eq!(count(&playlist, "#EXT-X-DISCONTINUITY"), 0, "{playlist}");
    // Segments and parts numbered on without a gap or a repeat.
    let uris = media_uris(&playlist);
    let segments: Vec<u64> = uris
        .iter()
        .filter_map(|u| u.strip_prefix('s')?.strip_suffix(".mp4")?.parse().ok())
        .collect();
    assert!(segments.windows(2).all(|w| w[1] == w[0] + 1), "{playlist}");
    let parts: Vec<u64> = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-PART:"))
        .filter_map(|a| a.split("URI=\"p").nth(1)?.split('.').next()?.parse().ok())
        .collect();
    assert!(parts.windows(2).all(|w| w[1] == w[0] + 1), "{playlist}");
    // Every frame of the 8 s, once, decodable, 1/30 s apart.
    let (frames, complaints) = decoded_frames(&bytes, "dual");
    assert!(complaints.is_empty(), "{complaints}");
    assert_eq!(frames.len(), 240, "{playlist}");
    let mut sorted = frames.clone();
    sorted.sort_by(f64::total_cmp);
    for w in sorted.windows(2) {
        assert!(
            (w[1] - w[0] - 1.0 / 30.0).abs() < 1e-3,
            "a gap or a repeat at {w:?}"
        );
    }
    server.stop().await;
}

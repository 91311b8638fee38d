//! Two origins fed the same encoder output serve the same bytes for the same URL, so a CDN can
//! fail over between them: every playlist version addressed with `_HLS_msn`/`_HLS_part` (full,
//! `_HLS_skip=YES` and `v2` delta, plain and gzip), the latest playlist, the multivariant
//! playlist, the init section, every part and every segment, with the same ETag.
//!
//! The encoder is real ffmpeg with `-write_prft wallclock`: its `prft` boxes date the media,
//! so EXT-X-PROGRAM-DATE-TIME comes from the input and not from when each origin received it.
//! The two origins are fed over HTTP at different times and paces (one body at once; later,
//! small chunks with pauses). A control run without `prft` shows why the clock is needed:
//! then the PROGRAM-DATE-TIME lines differ, dated from each origin's own arrival time, and so
//! do the parts' timestamps, put on those dates.

mod common;
mod origin;

use std::collections::BTreeSet;
use std::pin::Pin;
use std::process::Command;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper_util::rt::TokioIo;
use origin::{Layers, Resp, TestServer};
use playlists_server::http::HttpOptions;
use playlists_server::ingest::IngestConfig;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The rendition both origins ingest; its group has a multivariant playlist.
const STREAM: &str = "live/720p";

/// `secs` of ffmpeg's test pattern + tone as a live encoder cuts it (CMAF, 200 ms fragments,
/// a keyframe a second), with a `prft` box before every `moof` when `prft` is set.
fn encode(secs: u32, prft: bool) -> Bytes {
    assert!(
        common::have_ffmpeg(),
        "ffmpeg is needed (scripts/test.sh installs it)"
    );
    let out = Command::new("ffmpeg")
        .args(common::live_encoder_args(secs, prft))
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = Bytes::from(out.stdout);
    assert_eq!(
        contains_box(&bytes, b"prft"),
        prft,
        "prft boxes in ffmpeg's output"
    );
    bytes
}

/// Whether a top-level box of type `fourcc` is in `bytes` (32-bit sizes are all ffmpeg writes
/// at this size).
fn contains_box(bytes: &[u8], fourcc: &[u8; 4]) -> bool {
    let mut pos = 0;
    while let Some(h) = bytes.get(pos..pos + 8) {
        if &h[4..8] == fourcc {
            return true;
        }
        let size = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if size < 8 {
            return false;
        }
        pos += size;
    }
    false
}

/// An origin that keeps a stream live for a minute after its encoder disconnects, so every
/// comparison below happens before EXT-X-ENDLIST (after it, every blocking request gets the
/// final playlist).
async fn start_origin() -> TestServer {
    let layers = Layers {
        ingest: IngestConfig {
            grace: Duration::from_secs(60),
            ..IngestConfig::default()
        },
        ..Layers::default()
    };
    TestServer::with_layers(origin::options(), HttpOptions::default(), layers).await
}

/// A request body fed from a channel: the encoder's bytes as they come, chunked on the wire.
struct Paced(mpsc::Receiver<Bytes>);

impl Body for Paced {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

/// `PUT /ingest/{stream}` of `input` in chunks of `chunk` bytes, `pause` apart; returns the
/// origin's answer once it has read and published the whole body.
async fn ingest(
    server: &TestServer,
    stream: &str,
    input: Bytes,
    chunk: usize,
    pause: Duration,
) -> Resp {
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (tx, rx) = mpsc::channel(4);
    let feeder = tokio::spawn(async move {
        let mut rest = input;
        while !rest.is_empty() {
            let piece = rest.split_to(chunk.min(rest.len()));
            if tx.send(piece).await.is_err() {
                return;
            }
            tokio::time::sleep(pause).await;
        }
    });
    let req = Request::put(format!("/ingest/{stream}"))
        .header("host", server.addr.to_string())
        .body(Paced(rx))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(60), sender.send_request(req))
        .await
        .expect("ingest answered within 60 s")
        .unwrap();
    feeder.await.unwrap();
    let (parts, body) = resp.into_parts();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// Feeds `input` to two fresh origins: the first gets it in one piece, the second 1.2 s after
/// the first has published everything, in 2 KB chunks 5 ms apart (an encoder's pace, sped up).
async fn feed_two(input: &Bytes) -> (TestServer, TestServer) {
    let a = start_origin().await;
    let b = start_origin().await;
    let resp = ingest(&a, STREAM, input.clone(), input.len(), Duration::ZERO).await;
    assert_eq!(resp.status, StatusCode::OK, "origin A: {}", resp.text());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let resp = ingest(&b, STREAM, input.clone(), 2048, Duration::from_millis(5)).await;
    assert_eq!(resp.status, StatusCode::OK, "origin B: {}", resp.text());
    (a, b)
}

/// Every URL a player or a CDN could ask of the stream, discovered from the origin's own
/// playlists: each blocking position from (0, 0) to the newest part (a position past the end
/// of a completed segment included: the origin answers it with the next segment's version),
/// its delta variants, the latest and multivariant playlists, and every URI they name but the
/// newest preload hint (a part not yet there, held until it is). At least `min_media` media
/// URLs.
async fn urls(server: &TestServer, stream: &str, min_media: usize) -> Vec<String> {
    let dir = stream;
    let last = server
        .playlists
        .stream(stream)
        .unwrap()
        .playlist()
        .unwrap()
        .position;
    let mut playlists = vec![format!("/{dir}/index.m3u8"), "/live/master.m3u8".to_owned()];
    for msn in 0..=last.msn {
        let parts = if msn == last.msn { last.part } else { 7 };
        for part in 0..=parts {
            let base = format!("/{dir}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}");
            playlists.push(format!("{base}&_HLS_skip=YES"));
            playlists.push(format!("{base}&_HLS_skip=v2"));
            playlists.push(base);
        }
    }
    let latest = server.get(&format!("/{dir}/index.m3u8")).await.text();
    let hinted = origin::hints(&latest);
    let mut media = BTreeSet::new();
    for url in &playlists {
        let resp = server.get(url).await;
        assert_eq!(resp.status, StatusCode::OK, "{url}: {}", resp.text());
        for uri in uris(&resp.text()) {
            if !uri.ends_with(".m3u8") && !hinted.contains(&uri) {
                media.insert(format!("/{dir}/{uri}"));
            }
        }
    }
    assert!(
        media.iter().any(|u| u.contains("init")) && media.len() >= min_media,
        "media found: {media:?}"
    );
    playlists.extend(media);
    playlists
}

/// The URIs a playlist names: its URI lines and its `URI="…"` attributes.
fn uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if !line.starts_with('#') && !line.is_empty() {
            out.push(line.to_owned());
        } else if let Some(uri) = line.split("URI=\"").nth(1) {
            out.extend(uri.split('"').next().map(str::to_owned));
        }
    }
    out
}

/// One URL's answer as a cache keeps it.
#[derive(Debug, PartialEq, Eq)]
struct Cached {
    status: StatusCode,
    etag: Option<String>,
    content_type: Option<String>,
    cache_control: Option<String>,
    body: Bytes,
}

async fn fetch(server: &TestServer, url: &str, gzip: bool) -> Cached {
    let headers: &[(&str, &str)] = if gzip {
        &[("accept-encoding", "gzip")]
    } else {
        &[]
    };
    let r = server.get_with(url, headers).await;
    let h = |name| r.header(name).map(str::to_owned);
    Cached {
        status: r.status,
        etag: h("etag"),
        content_type: h("content-type"),
        cache_control: h("cache-control"),
        body: r.body.clone(),
    }
}

/// Every URL of [`urls`] fetched from both origins, plain and gzip'd where that applies:
/// `(url, answer of A, answer of B)`.
async fn both(
    a: &TestServer,
    b: &TestServer,
    stream: &str,
    min_media: usize,
) -> Vec<(String, Cached, Cached)> {
    let mut out = Vec::new();
    for url in urls(a, stream, min_media).await {
        for gzip in [false, true] {
            if gzip && !url.contains(".m3u8") {
                continue;
            }
            let label = format!("{url}{}", if gzip { " (gzip)" } else { "" });
            out.push((
                label,
                fetch(a, &url, gzip).await,
                fetch(b, &url, gzip).await,
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_fed_the_same_encoder_output_serve_identical_bytes_for_every_url() {
    let input = encode(8, true);
    let (a, b) = feed_two(&input).await;
    let answers = both(&a, &b, STREAM, 40).await;
    // Real coverage: many playlist versions, delta updates that skip, parts and segments.
    let count = |pat: &str| answers.iter().filter(|(u, ..)| u.contains(pat)).count();
    assert!(
        count("_HLS_part=") >= 3 * 2 * 30,
        "{} versions",
        count("_HLS_part=")
    );
    assert!(count(".mp4") >= 30, "{} media URLs", count(".mp4"));
    assert!(
        answers.iter().any(|(u, r, _)| u.contains("_HLS_skip=YES")
            && r.body.starts_with(b"#EXTM3U")
            && String::from_utf8_lossy(&r.body).contains("#EXT-X-SKIP:")),
        "some delta update skips segments"
    );
    for (url, from_a, from_b) in &answers {
        assert_eq!(from_a.status, StatusCode::OK, "{url}");
        assert!(from_a.etag.is_some(), "{url} has an ETag");
        assert_eq!(
            from_a,
            from_b,
            "{url}: origin A and origin B differ:\n{}\n---\n{}",
            String::from_utf8_lossy(&from_a.body),
            String::from_utf8_lossy(&from_b.body)
        );
    }
    // The dates come from the encoder: the first PROGRAM-DATE-TIME is the prft of the first
    // fragment, not either origin's arrival time (both are later than ffmpeg's run by now).
    let first = a
        .get(&format!("/{STREAM}/index.m3u8?_HLS_msn=0&_HLS_part=0"))
        .await;
    let pdt = first
        .text()
        .lines()
        .find_map(|l| {
            l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:")
                .map(str::to_owned)
        })
        .expect("a PROGRAM-DATE-TIME");
    assert_eq!(Some(pdt_ms(&pdt)), first_prft_ms(&input), "{pdt}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_clock_in_the_input_the_dates_and_the_timestamps_differ() {
    // Failover without `prft` is not seamless: each origin dates the stream from its own
    // arrival time, so the same URL names different dates on the two origins (and has
    // another ETag), while every other playlist line agrees. The media timeline is put on
    // the same dates (`IngestConfig::restamp`), so the parts differ in their `tfdt` only:
    // same sizes, same init section.
    let input = encode(3, false);
    let (a, b) = feed_two(&input).await;
    let without_dates = |body: &Bytes| -> String {
        String::from_utf8_lossy(body)
            .lines()
            .filter(|l| !l.starts_with("#EXT-X-PROGRAM-DATE-TIME:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut differing = 0;
    for (url, from_a, from_b) in both(&a, &b, STREAM, 15).await {
        assert_eq!(from_a.status, StatusCode::OK, "{url}");
        if url.contains("init") {
            assert_eq!(from_a, from_b, "{url}: the init section is the encoder's");
        } else if url.contains(".mp4") {
            assert_eq!(
                from_a.body.len(),
                from_b.body.len(),
                "{url}: only the timestamps depend on the clock"
            );
        } else if url.ends_with("(gzip)") {
            // Compressed bodies differ wherever the plain ones do; compared plain.
        } else if from_a.body != from_b.body {
            differing += 1;
            assert_ne!(
                from_a.etag, from_b.etag,
                "{url}: another body, another ETag"
            );
            assert_eq!(
                without_dates(&from_a.body),
                without_dates(&from_b.body),
                "{url}: only PROGRAM-DATE-TIME differs"
            );
        }
    }
    assert!(differing > 10, "{differing} playlists dated differently");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_renditions_only_the_rendition_reports_depend_on_arrival_order() {
    // An EXT-X-RENDITION-REPORT tells where the *other* renditions were when a version was
    // rendered (§4.4.5.4), which depends on how their inputs interleaved on each origin. A
    // feeds the renditions one after the other; B feeds the second while the first is still
    // coming, in small paced chunks. Every other line of every version, the multivariant
    // playlist and all media must still agree. What must match is which rendition starts
    // first: its first segment lays down the group's timeline, which the other joins (numbers
    // and dates lined up across renditions); whether their timestamps agree is judged by the
    // encoders' `prft` clocks, not by arrival, so the joiner lines up alike on both.
    let renditions = [
        ("live/720p", encode(3, true)),
        ("live/360p", encode(3, true)),
    ];
    let a = start_origin().await;
    let b = start_origin().await;
    for (stream, input) in &renditions {
        let resp = ingest(&a, stream, input.clone(), input.len(), Duration::ZERO).await;
        assert_eq!(resp.status, StatusCode::OK, "origin A: {}", resp.text());
    }
    let [(first, first_input), (second, second_input)] = &renditions;
    let feed_first = ingest(
        &b,
        first,
        first_input.clone(),
        4096,
        Duration::from_millis(2),
    );
    let feed_second = async {
        // Once the first has published (its first segment closed), while it is still fed.
        let listed = format!("/{first}/index.m3u8");
        tokio::time::timeout(Duration::from_secs(30), async {
            while b.get(&listed).await.status != StatusCode::OK {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the first rendition published within 30 s");
        ingest(
            &b,
            second,
            second_input.clone(),
            4096,
            Duration::from_millis(2),
        )
        .await
    };
    let (resp_first, resp_second) = tokio::join!(feed_first, feed_second);
    for resp in [resp_first, resp_second] {
        assert_eq!(resp.status, StatusCode::OK, "origin B: {}", resp.text());
    }
    let without_reports = |body: &Bytes| -> String {
        String::from_utf8_lossy(body)
            .lines()
            .filter(|l| !l.starts_with("#EXT-X-RENDITION-REPORT:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut differing = 0;
    for (stream, _) in &renditions {
        for (url, from_a, from_b) in both(&a, &b, stream, 15).await {
            assert_eq!(from_a.status, StatusCode::OK, "{url}");
            if url.contains(".mp4") || url.contains("master.m3u8") {
                assert_eq!(from_a, from_b, "{url}");
            } else if !url.ends_with("(gzip)") && from_a.body != from_b.body {
                differing += 1;
                assert_eq!(
                    without_reports(&from_a.body),
                    without_reports(&from_b.body),
                    "{url}: only RENDITION-REPORT differs"
                );
            }
        }
    }
    // The first rendition was alone on A while it was fed, so its later versions report
    // nothing there and the other rendition on B.
    assert!(differing > 0, "the arrival order shows in the reports");
    a.stop().await;
    b.stop().await;
}

/// ms since the Unix epoch of the NTP time in the first `prft` box of `bytes`, adjusted from
/// its media time to the first fragment's decode time 0 (ffmpeg's media times start at 0).
fn first_prft_ms(bytes: &[u8]) -> Option<u64> {
    let mut pos = 0;
    while let Some(h) = bytes.get(pos..pos + 8) {
        let size = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if &h[4..8] == b"prft" {
            let body = &bytes[pos + 8..pos + size];
            let version = body[0];
            let ntp = u64::from_be_bytes(body[8..16].try_into().ok()?);
            let media = if version == 1 {
                u64::from_be_bytes(body[16..24].try_into().ok()?)
            } else {
                u64::from(u32::from_be_bytes(body[16..20].try_into().ok()?))
            };
            assert_eq!(media, 0, "the first fragment starts at media time 0");
            let secs = (ntp >> 32) - 2_208_988_800;
            let frac_ms = ((ntp & 0xffff_ffff) * 1000) >> 32;
            return Some(secs * 1000 + frac_ms);
        }
        if size < 8 {
            return None;
        }
        pos += size;
    }
    None
}

/// ms since the Unix epoch of an EXT-X-PROGRAM-DATE-TIME value (RFC 3339, as rendered).
fn pdt_ms(value: &str) -> u64 {
    let at = humantime::parse_rfc3339(value).expect("an RFC 3339 date-time");
    let since = at
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(since.as_millis()).expect("fits")
}

//! Who may publish over HTTP, end to end: per-stream and per-group publish keys (from
//! `Authorization: Bearer` or `?token=`), refused attempts counted in `/metrics`, and an
//! address that keeps failing answered late.

mod origin;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use origin::{Layers, Resp, TestServer};
use playlists_server::http::HttpOptions;
use playlists_server::ingest::{publish_key, Credentials, IngestConfig, FIRST_DELAY, MAX_DELAY};
use tokio::net::TcpStream;

const SECRET: &str = "a server secret";

fn fixture() -> Bytes {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/h264.mp4");
    Bytes::from(std::fs::read(path).unwrap())
}

fn key(scope: &str) -> String {
    publish_key(&SECRET.into(), scope).unwrap()
}

/// A server whose ingest takes publish keys of [`SECRET`] and, if given, a server-wide token.
async fn server(token: Option<&str>) -> TestServer {
    let layers = Layers {
        ingest: IngestConfig {
            credentials: Credentials {
                secret: Some(SECRET.into()),
                token: token.map(Into::into),
            },
            ..IngestConfig::default()
        },
        ..Layers::default()
    };
    TestServer::with_layers(origin::options(), HttpOptions::default(), layers).await
}

/// PUTs the fixture to `path`, with `Authorization: Bearer key` if given.
async fn put(server: &TestServer, path: &str, bearer: Option<&str>) -> Resp {
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::put(path).header("host", "x");
    if let Some(key) = bearer {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let resp = origin::within(sender.send_request(req.body(Full::new(fixture())).unwrap()))
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// The value of an unlabelled series in `/metrics`.
async fn metric(server: &TestServer, series: &str) -> Option<u64> {
    let text = server.get("/metrics").await.text();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn a_stream_key_publishes_its_stream_and_no_other() {
    let server = server(None).await;
    let cam1 = key("cam1");
    for (path, bearer) in [
        ("/ingest/cam2", Some(cam1.as_str())),
        ("/ingest/cam1/720p", Some(cam1.as_str())),
        ("/ingest/cam1", None),
        ("/ingest/cam1", Some(SECRET)),
    ] {
        let resp = put(&server, path, bearer).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{path} {bearer:?}");
        assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
        assert_eq!(resp.text().lines().count(), 1, "{}", resp.text());
    }
    assert!(
        server.playlists.stream("cam2").is_none(),
        "nothing published"
    );
    let resp = put(&server, "/ingest/cam1", Some(&cam1)).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    assert_eq!(server.get("/cam1/index.m3u8").await.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_group_key_publishes_its_renditions_and_nothing_else() {
    let server = server(None).await;
    let live = key("live/");
    for path in ["/ingest/live", "/ingest/other/720p", "/ingest/liveX/720p"] {
        let resp = put(&server, path, Some(&live)).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    for path in ["/ingest/live/720p", "/ingest/live/360p"] {
        let resp = put(&server, path, Some(&live)).await;
        assert_eq!(resp.status, StatusCode::OK, "{path}: {}", resp.text());
    }
    assert_eq!(server.get("/live/master.m3u8").await.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn the_key_or_the_token_may_come_in_the_query() {
    let server = server(Some("server-wide")).await;
    let cam1 = key("cam1");
    let refused = put(&server, "/ingest/cam2?token=", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let wrong = put(&server, &format!("/ingest/cam2?token={cam1}"), None).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let resp = put(&server, &format!("/ingest/cam1?token={cam1}"), None).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    // The server-wide token publishes any stream, also from the query.
    let resp = put(&server, "/ingest/any?x=1&token=server-wide", None).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    let resp = put(&server, "/ingest/other", Some("server-wide")).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    server.stop().await;
}

#[tokio::test]
async fn refused_attempts_are_counted_in_the_metrics() {
    let server = server(None).await;
    let series = "playlists_ingest_auth_failures_total";
    assert_eq!(metric(&server, series).await, Some(0));
    for bearer in [None, Some("nope"), Some(key("cam2").as_str())] {
        put(&server, "/ingest/cam1", bearer).await;
    }
    put(&server, "/ingest/cam1", Some(&key("cam1"))).await;
    assert_eq!(
        metric(&server, series).await,
        Some(3),
        "successes not counted"
    );
    let text = server.get("/metrics").await.text();
    assert!(
        text.contains(&format!("# TYPE {series} counter\n")),
        "{text}"
    );
    assert!(text.contains(&format!("# HELP {series} ")), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn an_address_that_keeps_failing_gets_its_401s_late() {
    let server = server(None).await;
    let mut took = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let resp = put(&server, "/ingest/cam1", Some("guess")).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
        took.push(t0.elapsed());
    }
    // Three answered at once, then 250 ms, then 500 ms; never more than the cap.
    let fast = Duration::from_millis(200);
    assert!(took[..3].iter().all(|t| *t < fast), "{took:?}");
    assert!(
        took[3] >= FIRST_DELAY && took[3] < FIRST_DELAY + fast,
        "{took:?}"
    );
    assert!(
        took[4] >= 2 * FIRST_DELAY && took[4] < 2 * FIRST_DELAY + fast,
        "{took:?}"
    );
    assert!(took.iter().all(|t| *t < MAX_DELAY + fast), "{took:?}");
    // The right key from the same address is not held back.
    let t0 = Instant::now();
    let resp = put(&server, "/ingest/cam1", Some(&key("cam1"))).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    assert!(t0.elapsed() < FIRST_DELAY, "{:?}", t0.elapsed());
    assert_eq!(server.ingests.auth_failures().addresses(), 1);
    server.stop().await;
}

//! Limits with clear errors: held requests per stream and in total, request head size, idle
//! connections, request time.

mod origin;

use std::time::Duration;

use http::StatusCode;
use origin::{settle, TestServer};
use playlists_server::http::HttpOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn limited(per_stream: usize, total: usize) -> HttpOptions {
    HttpOptions {
        max_waiting_per_stream: per_stream,
        max_waiting_total: total,
        ..HttpOptions::default()
    }
}

#[tokio::test]
async fn held_requests_beyond_the_per_stream_limit_get_503() {
    let server = TestServer::with(origin::options(), limited(2, 100)).await;
    server.publish("a", 0, 7);
    server.publish("b", 0, 7);
    let addr = server.addr;
    let held: Vec<_> = ["/a/p7.mp4", "/a/index.m3u8?_HLS_msn=1&_HLS_part=2"]
        .into_iter()
        .map(|p| tokio::spawn(async move { origin::get(addr, p, &[]).await }))
        .collect();
    settle().await;
    assert_eq!(
        server.state.waiting.on_stream(0) + server.state.waiting.on_stream(1),
        2
    );
    let refused = server.get("/a/index.m3u8?_HLS_msn=1&_HLS_part=2").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        refused
            .text()
            .contains("too many waiting requests on this stream"),
        "{}",
        refused.text()
    );
    // A request that can be answered at once is not held, so it is not limited.
    assert_eq!(
        server
            .get("/a/index.m3u8?_HLS_msn=1&_HLS_part=1")
            .await
            .status,
        StatusCode::OK
    );
    // Another stream has its own limit.
    let b = tokio::spawn(async move { origin::get(addr, "/b/p7.mp4", &[]).await });
    settle().await;
    assert!(!b.is_finished());
    server.publish("a", 7, 1);
    server.publish("b", 7, 1);
    for h in held {
        assert_eq!(origin::within(h).await.unwrap().status, StatusCode::OK);
    }
    assert_eq!(origin::within(b).await.unwrap().status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn held_requests_beyond_the_total_limit_get_503() {
    let server = TestServer::with(origin::options(), limited(10, 1)).await;
    server.publish("a", 0, 7);
    server.publish("b", 0, 7);
    let addr = server.addr;
    let held = tokio::spawn(async move { origin::get(addr, "/a/p7.mp4", &[]).await });
    settle().await;
    let refused = server.get("/b/p7.mp4").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.text().contains("in total"), "{}", refused.text());
    server.publish("a", 7, 1);
    assert_eq!(origin::within(held).await.unwrap().status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_with_431() {
    let server = TestServer::start().await;
    let big = "x".repeat(32 * 1024);
    let resp = server.get_with("/healthz", &[("x-padding", &big)]).await;
    assert_eq!(resp.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // A normal head on a new connection is fine.
    assert_eq!(server.get("/healthz").await.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let http = HttpOptions {
        idle_timeout: Duration::from_secs(5),
        ..HttpOptions::default()
    };
    let server = TestServer::with(origin::options(), http).await;
    let started = tokio::time::Instant::now();
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = [0u8; 64];
    // Nothing sent: the server closes (EOF, or a 408 then EOF).
    loop {
        if tcp.read(&mut buf).await.unwrap_or(0) == 0 {
            break;
        }
    }
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A kept-alive connection that goes idle after a request is closed the same way.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let answered_at = loop {
        let n = tcp.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            break tokio::time::Instant::now();
        }
        got.extend_from_slice(&buf[..n]);
    };
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    assert!(answered_at.elapsed() < Duration::from_secs(1));
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_response_later_than_the_request_timeout_is_503() {
    let http = HttpOptions {
        request_timeout: Duration::from_secs(2),
        ..HttpOptions::default()
    };
    let mut opts = origin::options();
    opts.target_duration = playlists::TargetDuration::Fixed(4); // holds for up to 12 s
    let server = TestServer::with(opts, http).await;
    server.publish("cam1", 0, 7);
    let started = tokio::time::Instant::now();
    let resp = server.get("/cam1/p7.mp4").await;
    assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.text().contains("request timeout"), "{}", resp.text());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(server.state.waiting.total(), 0, "the permit is released");
    server.stop().await;
}

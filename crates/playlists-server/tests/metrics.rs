//! `GET /metrics` (Prometheus text) and `GET /healthz`.

mod origin;

use http::StatusCode;
use origin::{settle, within, TestServer};

fn value(metrics: &str, series: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = TestServer::start().await;
    let resp = server.get("/healthz").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.text(), "ok\n");
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_waiters_bytes_and_stream_positions() {
    let server = TestServer::start().await;
    let last = server.publish("cam1", 0, 7);
    let part = server.get("/cam1/p0.mp4").await;
    server.get("/cam1/p495.mp4").await;
    server.get("/cam1/index.m3u8").await;
    // Not a directive (only `_HLS_msn` itself is): a plain playlist request, counted as one.
    server.get("/cam1/index.m3u8?_HLS_msnx=1").await;
    let addr = server.addr;
    let held = tokio::spawn(async move { origin::get(addr, "/cam1/p7.mp4", &[]).await });
    settle().await;

    let resp = server.get("/metrics").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let m = resp.text();
    assert_eq!(
        value(
            &m,
            "playlists_http_requests_total{route=\"part\",status=\"200\"}"
        ),
        Some(1),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            "playlists_http_requests_total{route=\"part\",status=\"404\"}"
        ),
        Some(1)
    );
    assert_eq!(
        value(
            &m,
            "playlists_http_requests_total{route=\"playlist\",status=\"200\"}"
        ),
        Some(2)
    );
    assert_eq!(
        value(
            &m,
            "playlists_http_requests_total{route=\"blocking_playlist\",status=\"200\"}"
        ),
        None,
        "{m}"
    );
    assert_eq!(value(&m, "playlists_http_waiting_requests"), Some(1));
    assert_eq!(
        value(&m, "playlists_stream_waiting_requests{stream=\"cam1\"}"),
        Some(1)
    );
    assert!(value(&m, "playlists_http_response_bytes_total").unwrap() >= part.body.len() as u64);
    assert_eq!(
        value(
            &m,
            "playlists_stream_parts_published_total{stream=\"cam1\"}"
        ),
        Some(7)
    );
    assert_eq!(
        value(&m, "playlists_stream_last_msn{stream=\"cam1\"}"),
        Some(last.msn)
    );
    assert_eq!(
        value(&m, "playlists_stream_last_part{stream=\"cam1\"}"),
        Some(u64::from(last.part))
    );
    assert_eq!(value(&m, "playlists_streams_live"), Some(1));
    // Every series has its HELP and TYPE.
    for line in m.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(m.contains(&format!("# TYPE {name} ")), "{name}");
    }

    server.publish("cam1", 7, 1);
    within(held).await.unwrap();
    let m = server.get("/metrics").await.text();
    assert_eq!(value(&m, "playlists_http_waiting_requests"), Some(0));
    assert_eq!(
        value(
            &m,
            "playlists_stream_parts_published_total{stream=\"cam1\"}"
        ),
        Some(8)
    );
    server.stop().await;
}

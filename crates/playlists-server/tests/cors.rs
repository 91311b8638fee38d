//! CORS: every answer readable from any page by default, preflights answered.

mod origin;

use http::{HeaderValue, StatusCode};
use origin::TestServer;
use playlists_server::http::HttpOptions;

#[tokio::test]
async fn every_response_allows_any_origin_and_exposes_age() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7);
    for path in [
        "/cam1/index.m3u8",
        "/cam1/p0.mp4",
        "/nope/index.m3u8",
        "/metrics",
    ] {
        let resp = server
            .get_with(path, &[("origin", "https://player.example")])
            .await;
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
        let exposed = resp.header("access-control-expose-headers").unwrap();
        for h in ["Age", "Content-Length", "Content-Range", "ETag"] {
            assert!(exposed.contains(h), "{path}: {exposed}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn the_allowed_origin_is_configurable() {
    let http = HttpOptions {
        cors_origin: HeaderValue::from_static("https://player.example"),
        ..HttpOptions::default()
    };
    let server = TestServer::with(origin::options(), http).await;
    let resp = server.get("/healthz").await;
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("https://player.example")
    );
    server.stop().await;
}

#[tokio::test]
async fn options_preflight_allows_range_and_conditional_requests() {
    let server = TestServer::start().await;
    let resp = origin::request(
        server.addr,
        "OPTIONS",
        "/cam1/p0.mp4",
        &[
            ("origin", "https://player.example"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "range, if-none-match"),
        ],
    )
    .await;
    assert_eq!(resp.status, StatusCode::NO_CONTENT);
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    assert!(resp
        .header("access-control-allow-methods")
        .unwrap()
        .contains("GET"));
    assert_eq!(
        resp.header("access-control-allow-headers"),
        Some("range, if-none-match")
    );
    assert!(resp.header("access-control-max-age").is_some());
    server.stop().await;
}

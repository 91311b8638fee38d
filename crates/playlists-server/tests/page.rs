//! `GET /`: the live streams with hls.js players.

mod origin;

use bytes::Bytes;
use http::StatusCode;
use origin::TestServer;
use playlists_server::http::{HttpOptions, DEFAULT_HLS_JS_URL};

#[tokio::test]
async fn the_page_lists_live_streams_with_low_latency_hls_js_players() {
    let server = TestServer::start().await;
    let empty = server.get("/").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.text().contains("No stream is live"));

    server.publish("cam1", 0, 3);
    server.publish("live/720p", 0, 3);
    server.publish("gone", 0, 3);
    server.playlists.fin("gone").unwrap();
    let page = server.get("/").await;
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    assert!(html.contains("data-src=\"/cam1/index.m3u8\""), "{html}");
    assert!(html.contains("data-src=\"/live/720p/index.m3u8\""));
    assert!(!html.contains("/gone/"), "ended streams are not listed");
    assert!(html.contains("lowLatencyMode: true"));
    assert!(html.contains(&format!("<script src=\"{DEFAULT_HLS_JS_URL}\">")));
    assert_eq!(
        server.get("/assets/hls.min.js").await.status,
        StatusCode::NOT_FOUND
    );
    server.stop().await;
}

#[tokio::test]
async fn a_local_hls_js_is_served_and_used_by_the_page() {
    let js = Bytes::from_static(b"/* hls.js stand-in */ window.Hls = function () {};");
    let http = HttpOptions {
        hls_js: Some(js.clone()),
        ..HttpOptions::default()
    };
    let server = TestServer::with(origin::options(), http).await;
    let html = server.get("/").await.text();
    assert!(
        html.contains("<script src=\"/assets/hls.min.js\">"),
        "{html}"
    );
    let resp = server.get("/assets/hls.min.js").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.body, js);
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    server.stop().await;
}

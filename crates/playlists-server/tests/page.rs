//! `GET /`: the live streams with hls.js players; `GET /assets/hls.min.js`: the hls.js they
//! use, embedded in the binary so the page plays without internet access.

mod origin;

use bytes::Bytes;
use http::StatusCode;
use origin::{gunzip, TestServer};
use playlists_server::http::{HttpOptions, StaticAsset, HLS_JS_PATH};

/// The committed file the binary embeds.
const COMMITTED_HLS_JS: &[u8] = include_bytes!("../assets/hls.min.js");

/// The `src` of the page's hls.js `<script>`.
fn script_src(html: &str) -> &str {
    let start = html.find("<script src=\"").expect("a script with a src") + 13;
    let len = html[start..].find('"').expect("a closing quote");
    &html[start..start + len]
}

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
    assert!(html.contains("lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5"));
    server.stop().await;
}

#[tokio::test]
async fn the_icon_browsers_ask_for_is_no_content_not_an_error() {
    let server = TestServer::start().await;
    let icon = server.get("/favicon.ico").await;
    assert_eq!(icon.status, StatusCode::NO_CONTENT);
    assert!(icon.body.is_empty());
    assert_eq!(icon.header("cache-control"), Some("public, max-age=86400"));
    let metrics = server.get("/metrics").await.text();
    assert!(
        metrics.contains("route=\"asset\",status=\"204\""),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn by_default_the_page_loads_the_embedded_hls_js_from_this_origin() {
    let server = TestServer::start().await;
    let html = server.get("/").await.text();
    let src = script_src(&html).to_owned();
    assert!(src.starts_with("/assets/hls.min.js?v="), "{html}");
    assert_eq!(
        html.matches("<script src=").count(),
        1,
        "one external script: {html}"
    );

    // The script URL the page names answers the committed file, cacheable for good.
    let pinned = server.get(&src).await;
    assert_eq!(pinned.status, StatusCode::OK);
    assert_eq!(
        pinned.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(pinned.body, COMMITTED_HLS_JS);
    assert_eq!(pinned.header("content-encoding"), None);
    assert_eq!(
        pinned.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let etag = pinned.header("etag").expect("an ETag").to_owned();
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "strong: {etag}"
    );
    assert_eq!(
        src,
        format!("{HLS_JS_PATH}?v={}", etag.trim_matches('"')),
        "the version in the URL is the content's hash"
    );

    // The bare path (or a stale hash): same bytes, revalidated on every use.
    for path in [HLS_JS_PATH, "/assets/hls.min.js?v=0000000000000000"] {
        let bare = server.get(path).await;
        assert_eq!(bare.status, StatusCode::OK, "{path}");
        assert_eq!(bare.body, COMMITTED_HLS_JS, "{path}");
        assert_eq!(bare.header("etag"), Some(etag.as_str()), "{path}");
        assert_eq!(bare.header("cache-control"), Some("no-cache"), "{path}");
    }

    // If-None-Match: 304, no body, the validator and caching repeated.
    let again = server.get_with(&src, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(
        again.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let other = server
        .get_with(&src, &[("if-none-match", "\"0000000000000000\"")])
        .await;
    assert_eq!(other.status, StatusCode::OK);

    // gzip when accepted, with its own validator.
    let gz = server
        .get_with(&src, &[("accept-encoding", "gzip, br")])
        .await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    assert!(gz.body.len() < COMMITTED_HLS_JS.len() / 2);
    assert_eq!(gunzip(&gz.body), COMMITTED_HLS_JS);
    let gz_etag = gz.header("etag").expect("an ETag");
    assert_ne!(gz_etag, etag);
    let gz_again = server
        .get_with(
            &src,
            &[("accept-encoding", "gzip"), ("if-none-match", gz_etag)],
        )
        .await;
    assert_eq!(gz_again.status, StatusCode::NOT_MODIFIED);

    // HEAD: GET's head, no body.
    let head = origin::request(server.addr, "HEAD", &src, &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(COMMITTED_HLS_JS.len().to_string().as_str())
    );
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    server.stop().await;
}

#[tokio::test]
async fn a_cdn_url_is_used_only_when_asked_for() {
    let cdn = "https://cdn.example/hls.js@1/dist/hls.min.js";
    let default = TestServer::start().await;
    assert!(!default.get("/").await.text().contains(cdn));
    default.stop().await;

    let http = HttpOptions {
        hls_js_url: Some(cdn.to_owned()),
        ..HttpOptions::default()
    };
    let server = TestServer::with(origin::options(), http).await;
    let html = server.get("/").await.text();
    assert_eq!(script_src(&html), cdn, "{html}");
    assert!(!html.contains(HLS_JS_PATH), "{html}");
    // The embedded copy is still served, for whoever wants it.
    assert_eq!(server.get(HLS_JS_PATH).await.body, COMMITTED_HLS_JS);
    server.stop().await;
}

#[tokio::test]
async fn a_local_hls_js_replaces_the_embedded_one() {
    let js = Bytes::from_static(b"/* hls.js stand-in */ window.Hls = function () {};");
    let http = HttpOptions {
        hls_js: StaticAsset::new(js.clone()),
        ..HttpOptions::default()
    };
    let server = TestServer::with(origin::options(), http).await;
    let html = server.get("/").await.text();
    let src = script_src(&html).to_owned();
    assert_eq!(
        src,
        format!(
            "{HLS_JS_PATH}?v={:016x}",
            playlists::xxh3_64(b"/* hls.js stand-in */ window.Hls = function () {};")
        )
    );
    let resp = server.get(&src).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.body, js);
    assert_eq!(
        resp.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    server.stop().await;
}

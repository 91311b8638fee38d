//! Playlist content negotiation: gzip from the cache when `Accept-Encoding` allows it.

mod origin;

use http::StatusCode;
use origin::{gunzip, TestServer};

const PLAYLIST: &str = "/cam1/index.m3u8";

#[tokio::test]
async fn gzip_is_sent_when_accepted_and_identity_otherwise() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 30);
    let plain = server.get(PLAYLIST).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    assert!(plain.text().starts_with("#EXTM3U\n"));

    let gz = server
        .get_with(PLAYLIST, &[("accept-encoding", "br, gzip;q=0.8")])
        .await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    assert!(gz.body.len() < plain.body.len());
    assert_eq!(gunzip(&gz.body), plain.body);
    // A strong validator differs between codings.
    assert_ne!(gz.header("etag"), plain.header("etag"));

    for refused in ["gzip;q=0", "identity, gzip;q=0", "br", "*;q=0.5, gzip;q=0"] {
        let resp = server
            .get_with(PLAYLIST, &[("accept-encoding", refused)])
            .await;
        assert_eq!(resp.header("content-encoding"), None, "{refused}");
        assert_eq!(resp.body, plain.body, "{refused}");
    }
    let preferred = server
        .get_with(
            PLAYLIST,
            &[("accept-encoding", "gzip;q=0.2, identity;q=0.9")],
        )
        .await;
    assert_eq!(preferred.header("content-encoding"), None);
    server.stop().await;
}

#[tokio::test]
async fn the_gzip_bytes_come_from_the_cache_not_from_each_request() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 30);
    let cached = server.playlists.stream("cam1").unwrap().playlist().unwrap();
    let gz = server
        .get_with(PLAYLIST, &[("accept-encoding", "gzip")])
        .await;
    assert_eq!(gz.body, cached.full.gzip);
    server.stop().await;
}

#[tokio::test]
async fn playlists_answer_if_none_match_with_304_per_coding() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 30);
    let gz = server
        .get_with(PLAYLIST, &[("accept-encoding", "gzip")])
        .await;
    let etag = gz.header("etag").unwrap().to_owned();
    let again = server
        .get_with(
            PLAYLIST,
            &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    // The gzip validator does not validate the identity representation.
    let plain = server.get_with(PLAYLIST, &[("if-none-match", &etag)]).await;
    assert_eq!(plain.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn multivariant_playlists_are_negotiated_too() {
    let server = TestServer::start().await;
    server.publish("live/720p", 0, 12);
    server.publish("live/360p", 0, 12);
    let plain = server.get("/live/master.m3u8").await;
    assert_eq!(plain.status, StatusCode::OK);
    let gz = server
        .get_with("/live/master.m3u8", &[("accept-encoding", "gzip")])
        .await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&gz.body), plain.body);
    server.stop().await;
}

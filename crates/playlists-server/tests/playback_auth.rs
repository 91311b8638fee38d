//! Signed playback over real HTTP: every playlist and media request needs a token for its
//! path (403 with a one-line reason otherwise), and every URI the origin serves carries one, so
//! a client that follows the playlists as written (a player) needs nothing else.

mod origin;

use std::time::SystemTime;

use http::StatusCode;
use origin::{part_bytes, TestServer};
use playlists_server::http::HttpOptions;
use playlists_server::ingest::Secret;
use playlists_server::playback::{unix_secs, PlaybackKey};

const SECRET: &str = "the playback secret";

fn key() -> PlaybackKey {
    PlaybackKey::new(&Secret::from(SECRET))
}

fn token(scope: &str, ttl_secs: i64) -> String {
    let now = unix_secs(SystemTime::now());
    key().token(scope, now.saturating_add_signed(ttl_secs))
}

async fn server() -> TestServer {
    let http = HttpOptions {
        playback: Some(key()),
        ..HttpOptions::default()
    };
    let server = TestServer::with(origin::options(), http).await;
    // Three segments of five parts each, and two renditions of a group.
    server.publish("cam1", 0, 14);
    // `a`'s last part after `b`'s, so that each reports the other.
    server.publish("live/a", 0, 13);
    server.publish("live/b", 0, 14);
    server.publish("live/a", 13, 1);
    server
}

/// Every URI of a playlist: URI lines and `URI="…"` attributes.
fn uris(playlist: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in playlist.lines() {
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('#') {
            out.push(line.to_owned());
        } else if let Some((_, rest)) = line.split_once("URI=\"") {
            out.push(rest.split('"').next().unwrap().to_owned());
        }
    }
    out
}

/// `uri` resolved against the directory of `base` (the playlist's path), as a player does.
fn resolve(base: &str, uri: &str) -> String {
    let dir = &base[..=base.rfind('/').unwrap()];
    let mut segments: Vec<&str> = dir.trim_end_matches('/').split('/').collect();
    let mut rest = uri;
    while let Some(r) = rest.strip_prefix("../") {
        segments.pop();
        rest = r;
    }
    format!("{}/{rest}", segments.join("/"))
}

fn refused(resp: &origin::Resp, reason: &str) {
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.text());
    let text = resp.text();
    assert!(text.contains(reason), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text}");
}

#[tokio::test]
async fn a_player_that_follows_the_playlist_needs_only_the_signed_url() {
    let server = server().await;
    let viewer = token("/cam1/", 3600);
    let playlist = server
        .get(&format!("/cam1/index.m3u8?token={viewer}"))
        .await;
    assert_eq!(playlist.status, StatusCode::OK, "{}", playlist.text());
    let text = playlist.text();
    let uris = uris(&text);
    // The map, three segments, parts, the hint.
    assert!(uris.len() > 10, "{text}");
    let shared = uris[0]
        .split_once("?token=")
        .expect("the map carries a token")
        .1;
    assert_ne!(shared, viewer, "media URIs carry the stream's shared token");
    for uri in &uris {
        assert!(
            uri.ends_with(&format!("?token={shared}")),
            "{uri} in\n{text}"
        );
        if uri.starts_with("p14.mp4") {
            continue; // the hinted part, not published yet
        }
        let resp = server.get(&resolve("/cam1/index.m3u8", uri)).await;
        assert_eq!(resp.status, StatusCode::OK, "{uri}: {}", resp.text());
    }
    let part = server.get(&format!("/cam1/p7.mp4?token={shared}")).await;
    assert_eq!(part.body, part_bytes("cam1", 7));
    // The gzip'd playlist is the same text.
    let gz = server
        .get_with(
            &format!("/cam1/index.m3u8?token={viewer}"),
            &[("accept-encoding", "gzip")],
        )
        .await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(String::from_utf8(origin::gunzip(&gz.body)).unwrap(), text);
    // A blocking reload keeps the viewer's token beside the directives; the hinted part is
    // sent once published.
    let reload = format!("/cam1/index.m3u8?_HLS_msn=2&_HLS_part=4&token={viewer}");
    let held = tokio::spawn({
        let addr = server.addr;
        async move { origin::get(addr, &reload, &[]).await }
    });
    let hinted = tokio::spawn({
        let addr = server.addr;
        let path = format!("/cam1/p14.mp4?token={shared}");
        async move { origin::get(addr, &path, &[]).await }
    });
    origin::settle().await;
    server.publish("cam1", 14, 1);
    let reload = origin::within(held).await.unwrap();
    assert_eq!(reload.status, StatusCode::OK);
    assert!(
        reload.text().contains("p14.mp4?token="),
        "{}",
        reload.text()
    );
    let hinted = origin::within(hinted).await.unwrap();
    assert_eq!(hinted.body, part_bytes("cam1", 14));
}

#[tokio::test]
async fn missing_expired_altered_and_foreign_tokens_get_403_with_a_reason() {
    let server = server().await;
    let good = token("/cam1/", 3600);
    for path in [
        "/cam1/index.m3u8",
        "/cam1/p3.mp4",
        "/cam1/s0.mp4",
        "/cam1/init.mp4",
        "/live/master.m3u8",
    ] {
        refused(&server.get(path).await, "a playback token is required");
    }
    refused(
        &server
            .get(&format!("/cam1/p3.mp4?token={}", token("/cam1/", -1)))
            .await,
        "has expired",
    );
    let mut altered = good.clone();
    altered.replace_range(0..1, if good.starts_with('1') { "2" } else { "1" });
    refused(
        &server.get(&format!("/cam1/p3.mp4?token={altered}")).await,
        "not valid for this path",
    );
    refused(
        &server
            .get(&format!("/cam1/p3.mp4?token={}", token("/cam2/", 3600)))
            .await,
        "not valid for this path",
    );
    refused(
        &server.get(&format!("/live/a/p3.mp4?token={good}")).await,
        "not valid for this path",
    );
    refused(&server.get("/cam1/p3.mp4?token=1.2").await, "malformed");
    // Another secret signs nothing here.
    let foreign = PlaybackKey::new(&Secret::from("another secret"))
        .token("/cam1/", unix_secs(SystemTime::now()) + 60);
    refused(
        &server.get(&format!("/cam1/p3.mp4?token={foreign}")).await,
        "not valid for this path",
    );
    // A token for every stream plays this one too; the page, health and metrics are open.
    let all = token("/", 60);
    assert_eq!(
        server
            .get(&format!("/cam1/p3.mp4?token={all}"))
            .await
            .status,
        StatusCode::OK
    );
    for open in ["/", "/healthz", "/metrics"] {
        assert_eq!(server.get(open).await.status, StatusCode::OK, "{open}");
    }
    // The refusals are counted like any response.
    let metrics = server.get("/metrics").await.text();
    assert!(
        metrics.contains("route=\"part\",status=\"403\""),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("403"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn the_multivariant_playlist_passes_the_viewers_token_to_the_renditions() {
    let server = server().await;
    let viewer = token("/live/", 3600);
    let master = server
        .get(&format!("/live/master.m3u8?token={viewer}"))
        .await;
    assert_eq!(master.status, StatusCode::OK, "{}", master.text());
    let variants = uris(&master.text());
    assert_eq!(variants.len(), 2, "{}", master.text());
    for uri in &variants {
        // The viewer's own token: players reload these for as long as they play.
        assert!(uri.ends_with(&format!("?token={viewer}")), "{uri}");
        let media = server.get(&resolve("/live/master.m3u8", uri)).await;
        assert_eq!(media.status, StatusCode::OK, "{uri}");
        let text = media.text();
        // Rendition reports name the other rendition as it is (a media token must not open a
        // playlist); the player reloads it with the URI the multivariant gave it.
        let report = text
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-RENDITION-REPORT:URI=\""))
            .expect("a rendition report")
            .split('"')
            .next()
            .unwrap();
        assert!(!report.contains('?'), "{report}");
        let base = resolve("/live/master.m3u8", uri);
        let sibling = resolve(&base, report);
        assert!(variants
            .iter()
            .any(|v| resolve("/live/master.m3u8", v).starts_with(&sibling)));
        // The media token inside opens media, not playlists: reloading with it would let a
        // viewer play on after their own token expired.
        let media_token = text
            .split("?token=")
            .nth(1)
            .unwrap()
            .split(['"', '\n'])
            .next()
            .unwrap();
        let reload = format!(
            "{}?token={media_token}",
            resolve("/live/master.m3u8", uri).split('?').next().unwrap()
        );
        refused(&server.get(&reload).await, "not valid for this path");
    }
    // The shared token lasts two windows, renewed each: never less than one window left.
    let text = server
        .get(&format!("/live/a/index.m3u8?token={viewer}"))
        .await
        .text();
    let shared = text
        .split("?token=")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let expiry: u64 = shared.split('.').next().unwrap().parse().unwrap();
    let left = expiry - unix_secs(SystemTime::now());
    let window = playlists_server::playback::SHARED_WINDOW.as_secs();
    assert!((window - 5..=2 * window).contains(&left), "{left} s left");
}

#[tokio::test]
async fn a_caching_tier_asks_playback_check_about_the_requests_it_serves_from_its_cache() {
    let server = server().await;
    let check = |uri: String| {
        let addr = server.addr;
        async move { origin::get(addr, "/playback-check", &[("x-original-uri", &uri)]).await }
    };
    let viewer = token("/live/", 60);
    for uri in [
        format!("/live/a/index.m3u8?_HLS_msn=3&_HLS_part=1&token={viewer}"),
        format!("/live/b/p3.mp4?token={viewer}"),
        // Not playback: the page and hls.js are open.
        "/assets/hls.min.js".to_owned(),
        "/".to_owned(),
    ] {
        let resp = check(uri.clone()).await;
        assert_eq!(
            resp.status,
            StatusCode::NO_CONTENT,
            "{uri}: {}",
            resp.text()
        );
        assert_eq!(resp.header("cache-control"), Some("no-store"));
    }
    refused(
        &check("/live/b/p3.mp4".to_owned()).await,
        "a playback token is required",
    );
    refused(
        &check(format!("/cam1/p3.mp4?token={viewer}")).await,
        "not valid for this path",
    );
    let resp = server.get("/playback-check").await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text());
    // Without signed playback, everything may be served.
    let open = TestServer::start().await;
    let resp = origin::get(
        open.addr,
        "/playback-check",
        &[("x-original-uri", "/cam1/p3.mp4")],
    )
    .await;
    assert_eq!(resp.status, StatusCode::NO_CONTENT);
}

//! Blocking playlist reload over real HTTP (§6.2.5.2, App. B.1 [docs/conformance.md R7–R13, R27]).
//!
//! Streams here: TD 1 s, PART-TARGET 0.2 s (Advance Part Limit 15), five parts a segment, so
//! part `i` is at position `(i / 5, i % 5)`.

mod origin;

use std::time::Duration;

use http::StatusCode;
use origin::{hints, lists_part, settle, within, TestServer};

const PLAYLIST: &str = "/cam1/index.m3u8";

#[tokio::test]
async fn blocking_request_waits_for_the_part_then_answers_with_that_version() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7); // newest (1,1)
    let addr = server.addr;
    let held = tokio::spawn(async move {
        origin::get(addr, &format!("{PLAYLIST}?_HLS_msn=1&_HLS_part=2"), &[]).await
    });
    settle().await;
    assert!(!held.is_finished(), "answered before the part existed");
    assert_eq!(server.state.waiting.total(), 1);
    server.publish("cam1", 7, 1); // (1,2)
    let resp = within(held).await.unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    let text = resp.text();
    assert!(lists_part(&text, 1, 2), "{text}");
    assert_eq!(hints(&text), ["p8.mp4"]);
    // App. B.1 [docs/conformance.md R27]: a blocking answer names one version, so caches may keep
    // it 6 × TD.
    assert_eq!(resp.header("cache-control"), Some("public, max-age=6"));
    assert_eq!(server.state.waiting.total(), 0);

    // The same URL gets the same bytes later, although the playlist has moved on.
    server.publish("cam1", 8, 6);
    let again = server
        .get(&format!("{PLAYLIST}?_HLS_msn=1&_HLS_part=2"))
        .await;
    assert_eq!(again.body, resp.body);
    server.stop().await;
}

#[tokio::test]
async fn msn_without_part_waits_until_that_segment_is_complete() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 11); // newest (2,0)
    let addr = server.addr;
    let held =
        tokio::spawn(
            async move { origin::get(addr, &format!("{PLAYLIST}?_HLS_msn=2"), &[]).await },
        );
    settle().await;
    server.publish("cam1", 11, 4); // (2,4): segment 2 still open
    settle().await;
    assert!(!held.is_finished(), "segment 2 is not complete yet");
    server.publish("cam1", 15, 1); // (3,0) closes segment 2
    let text = within(held).await.unwrap().text();
    assert!(text.contains("\ns2.mp4\n"), "{text}");
    assert_eq!(hints(&text), ["p16.mp4"]);
    server.stop().await;
}

#[tokio::test]
async fn rule_7_msn_more_than_two_past_the_last_is_400() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7); // last msn 1
    let resp = server.get(&format!("{PLAYLIST}?_HLS_msn=4")).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert!(
        resp.text().contains("_HLS_msn=4 is beyond"),
        "{}",
        resp.text()
    );
    assert_eq!(resp.text().lines().count(), 1);
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    server.stop().await;
}

#[tokio::test]
async fn rule_8_part_beyond_the_advance_part_limit_is_400() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7); // last (1,1); APL = 3 / 0.2 = 15
    let resp = server
        .get(&format!("{PLAYLIST}?_HLS_msn=1&_HLS_part=17"))
        .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text());
    assert!(
        resp.text().contains("advance part limit is 15"),
        "{}",
        resp.text()
    );
    let resp = server
        .get(&format!("{PLAYLIST}?_HLS_msn=2&_HLS_part=15"))
        .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text());

    // Exactly at the limit the request is held, not refused.
    let addr = server.addr;
    let held = tokio::spawn(async move {
        origin::get(addr, &format!("{PLAYLIST}?_HLS_msn=1&_HLS_part=16"), &[]).await
    });
    settle().await;
    assert!(!held.is_finished());
    held.abort();
    server.stop().await;
}

#[tokio::test]
async fn rule_9_part_without_msn_is_400() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 3);
    let resp = server.get(&format!("{PLAYLIST}?_HLS_part=1")).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert_eq!(resp.text(), "_HLS_part requires _HLS_msn\n");
    server.stop().await;
}

#[tokio::test]
async fn malformed_directives_are_400_with_a_one_line_reason() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 3);
    for (query, reason) in [
        ("_HLS_msn=1&_HLS_msn=1", "more than once"),
        ("_HLS_msn=-1", "not a decimal number"),
        ("_HLS_msn=abc", "not a decimal number"),
        ("_HLS_msn=1e3", "not a decimal number"),
        ("_HLS_msn=184467440737095516160", "out of range"),
        ("_HLS_msn=0&_HLS_part=99999999999", "out of range"),
        ("_HLS_skip=no", "must be YES or v2"),
    ] {
        let resp = server.get(&format!("{PLAYLIST}?{query}")).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{query}");
        let text = resp.text();
        assert!(text.contains(reason), "{query}: {text}");
        assert_eq!(text.lines().count(), 1, "{query}: {text}");
    }
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn rule_10_a_wait_longer_than_three_target_durations_is_503() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7);
    let started = tokio::time::Instant::now();
    // msn = last + 2 is allowed (§6.2.5.2 [docs/conformance.md R7]) but will not exist within
    // 3 × TD.
    let resp = server.get(&format!("{PLAYLIST}?_HLS_msn=3")).await;
    let waited = started.elapsed();
    assert_eq!(
        resp.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        resp.text()
    );
    assert!(resp.text().contains("timed out"), "{}", resp.text());
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(4),
        "held {waited:?}, expected 3 × TD = 3 s"
    );
    assert_eq!(server.state.waiting.total(), 0);
    server.stop().await;
}

#[tokio::test]
async fn rule_11_a_part_past_the_end_of_its_segment_is_part_0_of_the_next() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 11); // segment 1 complete with 5 parts; newest (2,0)
    let resp = server
        .get(&format!("{PLAYLIST}?_HLS_msn=1&_HLS_part=7"))
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    // The version whose newest part is (2,0).
    assert_eq!(hints(&resp.text()), ["p11.mp4"]);

    // A part past the end of the open segment waits for the next segment's part 0.
    let addr = server.addr;
    let held = tokio::spawn(async move {
        origin::get(addr, &format!("{PLAYLIST}?_HLS_msn=2&_HLS_part=9"), &[]).await
    });
    settle().await;
    server.publish("cam1", 11, 4); // (2,4)
    settle().await;
    assert!(!held.is_finished());
    server.publish("cam1", 15, 1); // (3,0)
    let text = within(held).await.unwrap().text();
    assert_eq!(hints(&text), ["p16.mp4"], "{text}");
    server.stop().await;
}

#[tokio::test]
async fn rule_12_an_msn_no_longer_kept_gets_the_whole_current_playlist() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 90); // 18 segments; versions kept: the last 64 parts
    let resp = server
        .get(&format!("{PLAYLIST}?_HLS_msn=0&_HLS_part=0"))
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    let current = server.get(PLAYLIST).await;
    assert_eq!(resp.body, current.body);
    assert!(!resp.text().contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
    assert!(resp.text().contains("\ns16.mp4\n"));
    server.stop().await;
}

#[tokio::test]
async fn rule_13_directives_are_ignored_once_the_playlist_has_endlist() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7);
    server.playlists.fin("cam1").unwrap();
    // Far beyond the limit of §6.2.5.2 [docs/conformance.md R7], and a skip: both ignored.
    let resp = server
        .get(&format!("{PLAYLIST}?_HLS_msn=99&_HLS_part=3&_HLS_skip=YES"))
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    let text = resp.text();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    assert!(!text.contains("EXT-X-SKIP"));
    assert!(hints(&text).is_empty());
    server.stop().await;
}

#[tokio::test]
async fn held_requests_end_when_the_stream_ends() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7);
    let addr = server.addr;
    let held = tokio::spawn(async move {
        origin::get(addr, &format!("{PLAYLIST}?_HLS_msn=1&_HLS_part=3"), &[]).await
    });
    settle().await;
    server.playlists.fin("cam1").unwrap();
    let resp = within(held).await.unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp.text().ends_with("#EXT-X-ENDLIST\n"));
    server.stop().await;
}

#[tokio::test]
async fn rule_27_unknown_streams_are_404_cached_by_request_kind() {
    let server = TestServer::start().await;
    let plain = server.get("/nope/index.m3u8").await;
    assert_eq!(plain.status, StatusCode::NOT_FOUND);
    assert_eq!(plain.header("cache-control"), Some("max-age=1"), "1 × TD");
    let blocking = server.get("/nope/index.m3u8?_HLS_msn=3").await;
    assert_eq!(blocking.status, StatusCode::NOT_FOUND);
    assert_eq!(
        blocking.header("cache-control"),
        Some("max-age=4"),
        "4 × TD"
    );
    server.publish("cam1", 0, 3);
    let live = server.get(PLAYLIST).await;
    assert_eq!(
        live.header("cache-control"),
        Some("public, max-age=1"),
        "½ TD, at least 1 s"
    );
    assert_eq!(
        live.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    server.stop().await;
}

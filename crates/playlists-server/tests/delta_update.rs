//! Playlist Delta Updates over HTTP (§6.2.5.1, §8 [docs/conformance.md R13–R15]).

mod origin;

use http::StatusCode;
use origin::{hints, settle, within, TestServer};

const PLAYLIST: &str = "/cam1/index.m3u8";

#[tokio::test]
async fn rule_13_skip_is_ignored_without_can_skip_until() {
    // SERVER-CONTROL depends on the options alone (so that it is the same in every version
    // and every rendition, §6.2.4): a window of 5 segments of 1 s can never reach past the
    // 6 × TD skip boundary, so CAN-SKIP-UNTIL is never advertised.
    let opts = playlists::Options {
        max_segments: 5,
        ..origin::options()
    };
    let server = TestServer::with(opts, Default::default()).await;
    server.publish("cam1", 0, 60);
    let full = server.get(PLAYLIST).await;
    assert!(!full.text().contains("CAN-SKIP-UNTIL"), "{}", full.text());
    let skip = server.get(&format!("{PLAYLIST}?_HLS_skip=YES")).await;
    assert_eq!(skip.status, StatusCode::OK);
    assert_eq!(skip.body, full.body);
    server.stop().await;
}

#[tokio::test]
async fn skip_yes_gets_the_delta_update_once_advertised() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 60); // 11 complete segments (11 s) > 6 × TD + TD
    let full = server.get(PLAYLIST).await.text();
    assert!(full.contains("CAN-SKIP-UNTIL=6.000"), "{full}");
    let delta = server.get(&format!("{PLAYLIST}?_HLS_skip=YES")).await;
    assert_eq!(delta.status, StatusCode::OK);
    let text = delta.text();
    assert!(text.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS="), "{text}");
    assert!(
        text.contains("#EXT-X-VERSION:9\n"),
        "§8 [docs/conformance.md R15]: {text}"
    );
    assert!(text.len() < full.len());
    // The delta keeps MEDIA-SEQUENCE and the newest segments and hint.
    let seq = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("#EXT-X-MEDIA-SEQUENCE"))
            .map(str::to_owned)
    };
    assert_eq!(seq(&text), seq(&full));
    assert_eq!(hints(&text), hints(&full));
    server.stop().await;
}

#[tokio::test]
async fn rule_14_skip_v2_is_answered_as_yes_without_can_skip_dateranges() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 60);
    let yes = server
        .get(&format!("{PLAYLIST}?_HLS_skip=YES"))
        .await
        .text();
    let v2 = server.get(&format!("{PLAYLIST}?_HLS_skip=v2")).await;
    assert_eq!(v2.status, StatusCode::OK);
    let text = v2.text();
    // The origin advertises no CAN-SKIP-DATERANGES (it publishes no date range), so v2 is
    // the YES update: EXT-X-VERSION 9, no RECENTLY-REMOVED-DATERANGES (§4.4.5.2, §8).
    assert!(!text.contains("CAN-SKIP-DATERANGES"), "{text}");
    assert_eq!(text, yes);
    assert!(text.contains("#EXT-X-VERSION:9\n"), "{text}");
    assert!(!text.contains("DATERANGE"), "{text}");
    let gz = server
        .get_with(
            &format!("{PLAYLIST}?_HLS_skip=v2"),
            &[("accept-encoding", "gzip")],
        )
        .await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(origin::gunzip(&gz.body), text.as_bytes());
    server.stop().await;
}

#[tokio::test]
async fn an_early_skip_request_gets_the_full_playlist_not_an_empty_skip() {
    let server = TestServer::start().await;
    // Two segments of 1 s: CAN-SKIP-UNTIL (6 × TD) is advertised, nothing is past it yet.
    server.publish("cam1", 0, 10);
    let full = server.get(PLAYLIST).await.text();
    assert!(full.contains("CAN-SKIP-UNTIL="), "{full}");
    for skip in ["YES", "v2"] {
        let text = server
            .get(&format!("{PLAYLIST}?_HLS_skip={skip}"))
            .await
            .text();
        assert!(!text.contains("EXT-X-SKIP"), "{skip}: {text}");
        assert_eq!(text, full, "{skip}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_blocking_delta_request_waits_then_answers_with_that_versions_delta() {
    let server = TestServer::start().await;
    let last = server.publish("cam1", 0, 61); // (12,0): the next part continues segment 12
    let next = format!("_HLS_msn={}&_HLS_part={}", last.msn, last.part + 1);
    let addr = server.addr;
    let held = tokio::spawn(async move {
        origin::get(addr, &format!("{PLAYLIST}?{next}&_HLS_skip=YES"), &[]).await
    });
    settle().await;
    assert!(!held.is_finished());
    server.publish("cam1", 61, 1);
    let resp = within(held).await.unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    let text = resp.text();
    assert!(text.contains("#EXT-X-SKIP:"), "{text}");
    assert!(origin::lists_part(&text, last.msn, last.part + 1), "{text}");
    assert_eq!(resp.header("cache-control"), Some("public, max-age=6"));
    server.stop().await;
}

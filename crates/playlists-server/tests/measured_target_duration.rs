//! TARGETDURATION measured per stream (the default, `TargetDuration::Measured`): nothing is
//! served before the first segment closes, a player asking meanwhile is held, and every cache
//! lifetime follows the stream's measured target duration (§4.4.3.1 [docs/conformance.md R1],
//! App. B.1 [docs/conformance.md R27]).

mod origin;

use std::time::Duration;

use http::StatusCode;
use origin::{settle, within, TestServer};
use playlists::{Options, TargetDuration};
use playlists_server::http::HttpOptions;

/// The test streams' sizes with the library's default target duration: measured, at most 10 s.
fn measured() -> Options {
    Options {
        segment_min_ms: 1500,
        target_duration: TargetDuration::default(),
        ..origin::options()
    }
}

#[tokio::test]
async fn a_player_joining_before_the_first_segment_is_held_until_it_closes() {
    let server = TestServer::with(measured(), HttpOptions::default()).await;
    // 200 ms parts, a key frame every fifth: the first segment closes at part 10 (2 s).
    server.publish("cam1", 0, 3);
    let addr = server.addr;
    let held = tokio::spawn(async move { origin::get(addr, "/cam1/index.m3u8", &[]).await });
    settle().await;
    assert!(
        !held.is_finished(),
        "answered before the stream had a segment"
    );
    server.publish("cam1", 3, 7);
    settle().await;
    assert!(!held.is_finished(), "the segment is still open");
    server.publish("cam1", 10, 1);
    let resp = within(held).await.unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    let text = resp.text();
    assert!(text.contains("#EXT-X-TARGETDURATION:2\n"), "{text}");
    assert!(text.contains("HOLD-BACK=6.000"), "{text}");
    assert!(text.contains("#EXTINF:2.00000,\ns0.mp4\n"), "{text}");
    // ½ TD, rounded down but never 0; a blocking answer 6 × TD.
    assert_eq!(resp.header("cache-control"), Some("public, max-age=1"));
    let blocking = server.get("/cam1/index.m3u8?_HLS_msn=1&_HLS_part=0").await;
    assert_eq!(blocking.status, StatusCode::OK);
    assert_eq!(blocking.header("cache-control"), Some("public, max-age=12"));
    server.stop().await;
}

#[tokio::test]
async fn a_stream_that_never_completes_a_segment_gets_503_at_the_request_timeout() {
    let http = HttpOptions {
        request_timeout: Duration::from_millis(300),
        ..HttpOptions::default()
    };
    let server = TestServer::with(measured(), http).await;
    server.publish("cam1", 0, 3);
    assert_unavailable(within(server.get("/cam1/index.m3u8")).await);
    // An unknown stream is still a 404 at once (`restart_hold` is off by default).
    let resp = within(server.get("/nope/index.m3u8")).await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

/// After a restart (`HttpOptions::restart_hold`), a player asking for a stream whose encoder
/// is not back yet is held until the stream starts and has its first playlist, not told it
/// does not exist; past the hold, it gets 503 with Retry-After.
#[tokio::test]
async fn a_player_asking_for_a_stream_not_back_after_a_restart_is_held() {
    let http = HttpOptions {
        restart_hold: Duration::from_secs(60),
        ..HttpOptions::default()
    };
    // Numbered from the date, as the binary does: the new run numbers above the old one.
    let opts = Options {
        numbering: playlists::Numbering::WallClock,
        ..measured()
    };
    let server = TestServer::with(opts, http).await;
    let addr = server.addr;
    // A blocking reload from before the restart (its numbers are the old run's, below the
    // new run's) and a plain reload, both for a stream this process has not seen yet.
    let blocking = tokio::spawn(async move {
        origin::get(addr, "/cam1/index.m3u8?_HLS_msn=3&_HLS_part=2", &[]).await
    });
    let plain = tokio::spawn(async move { origin::get(addr, "/cam1/index.m3u8", &[]).await });
    settle().await;
    assert!(
        !blocking.is_finished() && !plain.is_finished(),
        "answered before the stream started"
    );
    server.publish("cam1", 0, 11);
    for held in [plain, blocking] {
        let resp = within(held).await.unwrap();
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
        assert!(
            resp.text().contains("#EXTINF:2.00000,\ns"),
            "{}",
            resp.text()
        );
    }
    server.stop().await;

    // A stream that does not come back within the hold: 503, with Retry-After.
    let http = HttpOptions {
        restart_hold: Duration::from_secs(60),
        request_timeout: Duration::from_millis(300),
        ..HttpOptions::default()
    };
    let server = TestServer::with(measured(), http).await;
    assert_unavailable(within(server.get("/gone/index.m3u8")).await);
    server.stop().await;
}

/// A 503 for a wait that ran out: it says when to come back (RFC 9110 §10.2.3) and is not
/// cached (the answer depends on time).
fn assert_unavailable(resp: origin::Resp) {
    assert_eq!(
        resp.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        resp.text()
    );
    assert_eq!(resp.header("retry-after"), Some("1"));
    assert_eq!(resp.header("cache-control"), Some("no-store"));
}

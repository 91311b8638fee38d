//! Multivariant playlists, rendition reports and preload hints as served (§6.2.6,
//! App. B.1 [docs/conformance.md R23, R26]).

mod origin;

use http::StatusCode;
use origin::{hints, TestServer};

#[tokio::test]
async fn rule_23_every_live_playlist_has_exactly_one_preload_hint() {
    let server = TestServer::start().await;
    for i in 0..12 {
        server.publish("cam1", i, 1);
        let text = server.get("/cam1/index.m3u8").await.text();
        assert_eq!(hints(&text).len(), 1, "after part {i}: {text}");
        assert_eq!(text.matches("#EXT-X-PRELOAD-HINT:TYPE=PART").count(), 1);
    }
    server.playlists.fin("cam1").unwrap();
    let text = server.get("/cam1/index.m3u8").await.text();
    assert!(hints(&text).is_empty(), "no hint after ENDLIST: {text}");
    server.stop().await;
}

#[tokio::test]
async fn rule_26_renditions_report_each_other_and_share_a_multivariant_playlist() {
    let server = TestServer::start().await;
    // Published in step, as an encoder of two renditions does.
    for i in 0..8 {
        server.publish("live/720p", i, 1);
        server.publish("live/360p", i, 1);
    }
    let hi = server.get("/live/720p/index.m3u8").await.text();
    // 720p's newest version was rendered after 360p's part 6 (1,1), before its part 7.
    assert!(
        hi.contains("#EXT-X-RENDITION-REPORT:URI=\"../360p/index.m3u8\",LAST-MSN=1,LAST-PART=1"),
        "{hi}"
    );
    let lo = server.get("/live/360p/index.m3u8").await.text();
    assert!(
        lo.contains("#EXT-X-RENDITION-REPORT:URI=\"../720p/index.m3u8\",LAST-MSN=1,LAST-PART=2"),
        "{lo}"
    );
    let master = server.get("/live/master.m3u8").await;
    assert_eq!(master.status, StatusCode::OK);
    assert_eq!(
        master.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    let text = master.text();
    assert_eq!(text.matches("#EXT-X-STREAM-INF:").count(), 2, "{text}");
    assert!(text.contains("720p/index.m3u8") && text.contains("360p/index.m3u8"));
    assert!(text.contains("CODECS=\"avc1.64001f\""));
    assert_eq!(
        server.get("/nogroup/master.m3u8").await.status,
        StatusCode::NOT_FOUND
    );
    server.stop().await;
}

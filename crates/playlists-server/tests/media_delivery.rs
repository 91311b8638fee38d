//! Init sections, segments and parts over real HTTP (§6.2.6,
//! App. B.1 [docs/conformance.md R22, R24, R25, R27]).

mod origin;

use bytes::Bytes;
use http::StatusCode;
use origin::{hints, lists_part, part_bytes, settle, within, TestServer};

#[tokio::test]
async fn parts_segments_and_init_are_the_published_bytes() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7);
    let part = server.get("/cam1/p6.mp4").await;
    assert_eq!(part.status, StatusCode::OK);
    assert_eq!(part.body, part_bytes("cam1", 6));
    assert_eq!(part.header("content-type"), Some("video/mp4"));
    assert_eq!(part.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        part.header("cache-control"),
        Some("public, max-age=300, immutable")
    );
    assert_eq!(
        part.header("content-length"),
        Some(part.body.len().to_string().as_str())
    );

    let segment = server.get("/cam1/s0.mp4").await;
    assert_eq!(segment.status, StatusCode::OK);
    let expected: Vec<u8> = (0..5)
        .flat_map(|i| part_bytes("cam1", i).to_vec())
        .collect();
    assert_eq!(segment.body, Bytes::from(expected));

    let init = server.get("/cam1/init.mp4").await;
    assert_eq!(init.status, StatusCode::OK);
    assert_eq!(init.body, origin::init_bytes("cam1"));
    server.stop().await;
}

#[tokio::test]
async fn strong_etags_answer_if_none_match_with_304() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7);
    for path in ["/cam1/p2.mp4", "/cam1/s0.mp4", "/cam1/init.mp4"] {
        let first = server.get(path).await;
        let etag = first.header("etag").unwrap().to_owned();
        assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
        let again = server.get_with(path, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        let other = server.get_with(path, &[("if-none-match", "\"0\"")]).await;
        assert_eq!(other.status, StatusCode::OK);
    }
    // Different parts, different validators.
    let a = server.get("/cam1/p1.mp4").await;
    let b = server.get("/cam1/p2.mp4").await;
    assert_ne!(a.header("etag"), b.header("etag"));
    server.stop().await;
}

#[tokio::test]
async fn a_single_range_is_206_and_an_unsatisfiable_one_416() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7);
    let whole = server.get("/cam1/s0.mp4").await.body;
    let len = whole.len();
    // A range across part boundaries of the segment.
    let resp = server
        .get_with("/cam1/s0.mp4", &[("range", "bytes=990-2010")])
        .await;
    assert_eq!(resp.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.body, whole.slice(990..2011));
    assert_eq!(
        resp.header("content-range"),
        Some(format!("bytes 990-2010/{len}").as_str())
    );
    let suffix = server
        .get_with("/cam1/s0.mp4", &[("range", "bytes=-10")])
        .await;
    assert_eq!(suffix.body, whole.slice(len - 10..));

    let bad = server
        .get_with("/cam1/s0.mp4", &[("range", &format!("bytes={len}-"))])
        .await;
    assert_eq!(bad.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        bad.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    // Several ranges: the whole resource.
    let multi = server
        .get_with("/cam1/s0.mp4", &[("range", "bytes=0-1,5-6")])
        .await;
    assert_eq!(multi.status, StatusCode::OK);
    assert_eq!(multi.body, whole);
    // If-Range with another validator: the whole resource.
    let stale = server
        .get_with(
            "/cam1/s0.mp4",
            &[("range", "bytes=0-1"), ("if-range", "\"x\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn rule_22_the_hinted_part_is_held_until_complete_then_sent_whole() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7); // hint p7
    let addr = server.addr;
    let held = tokio::spawn(async move { origin::get(addr, "/cam1/p7.mp4", &[]).await });
    settle().await;
    assert!(!held.is_finished(), "no byte before the part exists");
    server.publish("cam1", 7, 1);
    let resp = within(held).await.unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.body, part_bytes("cam1", 7));
    server.stop().await;
}

#[tokio::test]
async fn rule_24_unknown_expired_and_unhinted_resources_are_404() {
    let server = TestServer::start().await;
    // 40 segments: the builder remembers 12 listed + 8 retired + the open one, and the
    // ring 12 × 16 = 192 parts, so parts 0..8 are gone.
    server.publish("cam1", 0, 200);
    for path in [
        "/nope/p0.mp4",     // unknown stream
        "/cam1/p0.mp4",     // expired: the ring has moved past it
        "/cam1/s0.mp4",     // expired segment
        "/cam1/s39.mp4",    // the open segment is not a resource yet
        "/cam1/p201.mp4",   // a future part that is not the hinted one (p200)
        "/cam1/p0200.mp4",  // not a name the playlist uses
        "/cam1/p199.0.mp4", // nor is a position-style name
        "/cam1/init-1.mp4",
        "/cam1/s07.mp4", // not a name the playlist uses
        "/cam1/unknown.txt",
    ] {
        let resp = server.get(path).await;
        assert_eq!(
            resp.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            resp.text()
        );
        assert_eq!(resp.text().lines().count(), 1);
    }
    // App. B.1 [docs/conformance.md R27]: an unsuccessful media response may be cached 1 × TD.
    let resp = server.get("/cam1/p0.mp4").await;
    assert_eq!(resp.header("cache-control"), Some("max-age=1"));
    server.stop().await;
}

#[tokio::test]
async fn rule_24_the_hint_is_not_abandoned_at_a_segment_boundary() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 5); // (0,4): the hint names p5
    let text = server.get("/cam1/index.m3u8").await.text();
    assert_eq!(hints(&text), ["p5.mp4"]);
    let addr = server.addr;
    let held = tokio::spawn(async move { origin::get(addr, "/cam1/p5.mp4", &[]).await });
    settle().await;
    // The next part is independent and opens segment 1; it is still the hinted part, so the
    // held request gets it rather than a 404.
    server.publish("cam1", 5, 1);
    let resp = within(held).await.unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.body, part_bytes("cam1", 5));
    let text = server.get("/cam1/index.m3u8").await.text();
    assert!(lists_part(&text, 1, 0), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn rule_25_an_open_ended_range_on_the_hinted_part_gets_the_whole_part() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7);
    let text = server.get("/cam1/index.m3u8").await.text();
    // Parts are whole resources: hints carry no byte range to guess.
    assert!(!text.contains("BYTERANGE"), "{text}");
    let addr = server.addr;
    let held = tokio::spawn(async move {
        // What a client sends for a hint of unknown length (last-byte-pos 2^53 − 1).
        origin::get(
            addr,
            "/cam1/p7.mp4",
            &[("range", "bytes=0-9007199254740991")],
        )
        .await
    });
    settle().await;
    server.publish("cam1", 7, 1);
    let resp = within(held).await.unwrap();
    assert_eq!(resp.status, StatusCode::PARTIAL_CONTENT);
    let len = part_bytes("cam1", 7).len();
    assert_eq!(resp.body, part_bytes("cam1", 7));
    assert_eq!(
        resp.header("content-range"),
        Some(format!("bytes 0-{}/{len}", len - 1).as_str())
    );
    server.stop().await;
}

#[tokio::test]
async fn head_sends_the_headers_of_get_without_a_body() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7);
    let get = server.get("/cam1/s0.mp4").await;
    let head = origin::request(server.addr, "HEAD", "/cam1/s0.mp4", &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(get.body.len().to_string().as_str())
    );
    assert_eq!(head.header("etag"), get.header("etag"));
    let post = origin::request(server.addr, "DELETE", "/cam1/s0.mp4", &[]).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await;
}

//! Bad player requests over real HTTP (issue 7, "Hardening"): paths that try to leave a
//! stream (`..`, `%2e%2e`, `%2F`, NUL), names too long or not UTF-8, malformed delivery
//! directives, and request heads trickled a byte at a time.
//!
//! The origin reads no files: every path is matched against the names the playlists write
//! and looked up in memory. These tests hold it to that — each odd path gets a 400 or 404
//! with a one-line reason, never a body from elsewhere — and check that the server and a
//! published stream (`witness`) carry on, byte for byte. Directive cases already covered in
//! `blocking_reload.rs` (§6.2.5.2 [docs/conformance.md R7–R9]) are not repeated here.

mod bad_input_common;
mod origin;

use std::time::{Duration, Instant};

use bad_input_common::{
    assert_refusal, metric, put, raw_get, read_to_close, until_connections_open, Witness,
};
use http::StatusCode;
use origin::TestServer;
use playlists_server::http::HttpOptions;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn server() -> (TestServer, Witness) {
    let server = TestServer::start().await;
    let witness = Witness::publish(&server, "witness").await;
    (server, witness)
}

#[tokio::test]
async fn paths_that_try_to_leave_a_stream_are_404_with_a_reason() {
    let (server, witness) = server().await;
    let cases: [(&[u8], &str); 17] = [
        (b"/../etc/passwd", "`/../etc/passwd` not found"),
        (b"/../index.m3u8", "stream `..` not found"),
        (
            b"/../../../../etc/passwd",
            "`/../../../../etc/passwd` not found",
        ),
        (
            b"/witness/../witness/index.m3u8",
            "`/witness/../witness/index.m3u8` not found",
        ),
        (b"/witness/./p1.mp4", "stream `witness/.` not found"),
        (b"/.witness/index.m3u8", "stream `.witness` not found"),
        (b"/%2e%2e/index.m3u8", "stream `%2e%2e` not found"),
        (
            b"/%2e%2e/%2e%2e/etc/passwd",
            "`/%2e%2e/%2e%2e/etc/passwd` not found",
        ),
        (b"/witness%2Fp1.mp4", "`/witness%2Fp1.mp4` not found"),
        (
            b"/witness/..%2Fwitness/p1.mp4",
            "stream `witness/..%2Fwitness` not found",
        ),
        (b"/witness/p1.mp4%00", "`/witness/p1.mp4%00` not found"),
        (b"/wit%00ness/index.m3u8", "stream `wit%00ness` not found"),
        (
            b"/witness/p1.mp4%00.m3u8",
            "`/witness/p1.mp4%00.m3u8` not found",
        ),
        (b"/%ff/index.m3u8", "stream `%ff` not found"),
        (b"/witness/p%ff.mp4", "`/witness/p%ff.mp4` not found"),
        (
            b"/witness/p1.mp4\\..\\..",
            "`/witness/p1.mp4\\..\\..` not found",
        ),
        (b"//etc/passwd", "`//etc/passwd` not found"),
    ];
    for (target, reason) in cases {
        let resp = raw_get(server.addr, target)
            .await
            .expect("an answer, not a bare close");
        assert_refusal(resp.status, &resp.body, StatusCode::NOT_FOUND, reason);
        assert!(
            resp.head.contains("content-type: text/plain"),
            "{}",
            resp.head
        );
    }
    witness.assert_intact(&server).await;
    server.stop().await;
}

/// Bytes a URI cannot hold (a raw NUL, a raw non-UTF-8 byte, a space) are refused by the
/// HTTP parser before any handler runs: 400, and the connection is closed. hyper writes these
/// answers itself, with an empty body.
#[tokio::test]
async fn bytes_no_uri_may_hold_are_400_from_the_parser() {
    let (server, witness) = server().await;
    for target in [
        &b"/wit\x00ness/index.m3u8"[..],
        b"/\xff\xfe/index.m3u8",
        b"/witness/p1.mp4\r",
        b"/witness/p1 .mp4",
    ] {
        let resp = raw_get(server.addr, target).await.expect("an answer");
        assert_eq!(
            resp.status,
            StatusCode::BAD_REQUEST,
            "{:?}",
            String::from_utf8_lossy(target)
        );
        assert!(resp.body.is_empty());
    }
    witness.assert_intact(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn very_long_names_are_404_with_a_short_reason_or_431() {
    let (server, witness) = server().await;
    // 10 KB of path fits the 16 KB head limit: a 404 whose reason quotes the start of it.
    let long = format!("/{}/index.m3u8", "a".repeat(10 * 1024));
    let resp = raw_get(server.addr, long.as_bytes()).await.unwrap();
    assert_refusal(
        resp.status,
        &resp.body,
        StatusCode::NOT_FOUND,
        "… not found",
    );
    assert!(resp.text().starts_with("stream `aaaa"), "{}", resp.text());
    assert!(
        resp.body.len() <= 520,
        "{} bytes of reason",
        resp.body.len()
    );
    let part = format!("/witness/p{}.mp4", "9".repeat(10 * 1024));
    let resp = raw_get(server.addr, part.as_bytes()).await.unwrap();
    assert_refusal(
        resp.status,
        &resp.body,
        StatusCode::NOT_FOUND,
        "… not found",
    );
    assert!(resp.body.len() <= 520);

    // 64 KB is beyond the head limit: 431 from the parser, and the connection is closed.
    let longer = format!("/{}/index.m3u8", "a".repeat(64 * 1024));
    let resp = raw_get(server.addr, longer.as_bytes()).await.unwrap();
    assert_eq!(resp.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    // Stream names the ingest refuses: too long, `..`, escapes, NUL, non-UTF-8.
    let too_long = format!("/ingest/{}", "b".repeat(200));
    for (path, why) in [
        (too_long.as_str(), "must be 1 to 128 bytes long"),
        ("/ingest/..", "a segment may not start with `.`"),
        ("/ingest/../witness", "a segment may not start with `.`"),
        ("/ingest/%2e%2e", "only ASCII letters, digits"),
        ("/ingest/wit%00ness", "only ASCII letters, digits"),
        ("/ingest/%ff%fe", "only ASCII letters, digits"),
        // The group `ingest` could never be played: its paths are the ingest paths.
        ("/ingest/ingest", "the group name `ingest` is reserved"),
        ("/ingest/ingest/720p", "the group name `ingest` is reserved"),
        (
            "/ingest/recordings",
            "the group name `recordings` is reserved",
        ),
        // More than `group/rendition`, or empty: refused by the router, with the same words.
        ("/ingest/a/b/c", "ingest takes `/ingest/{stream}`"),
        ("/ingest/a//b", "ingest takes `/ingest/{stream}`"),
        ("/ingest/", "ingest takes `/ingest/{stream}`"),
    ] {
        let resp = put(server.addr, path, b"").await;
        assert_refusal(resp.status, &resp.body, StatusCode::BAD_REQUEST, why);
        assert!(
            resp.text().contains("invalid stream name"),
            "{}",
            resp.text()
        );
    }
    witness.assert_intact(&server).await;
    server.stop().await;
}

/// §6.2.5.2 [docs/conformance.md R7–R9] and §6.2.5: malformed directives are 400 at once, with a
/// reason naming the directive; none of them holds a request. (Duplicates, signs, hex and overflow
/// of `_HLS_msn` are in `blocking_reload.rs`.)
#[tokio::test]
async fn malformed_directives_are_400_with_a_reason_and_hold_nothing() {
    let (server, witness) = server().await;
    let long = format!("_HLS_msn=1&{}", "x=1&".repeat(600));
    let cases = [
        ("_HLS_msn=", r#"_HLS_msn="" is not a decimal number"#),
        ("_HLS_msn", r#"_HLS_msn="" is not a decimal number"#),
        (
            "_HLS_msn=99999999999999999999999",
            "_HLS_msn=99999999999999999999999 is out of range",
        ),
        ("_HLS_msn=%ff", r#"_HLS_msn="%ff" is not a decimal number"#),
        (
            "_HLS_msn=%2D1",
            r#"_HLS_msn="%2D1" is not a decimal number"#,
        ),
        (
            "_HLS_msn=1&_HLS_part=-1",
            r#"_HLS_part="-1" is not a decimal number"#,
        ),
        (
            "_HLS_msn=1&_HLS_part=x",
            r#"_HLS_part="x" is not a decimal number"#,
        ),
        (
            "_HLS_msn=1&_HLS_part=",
            r#"_HLS_part="" is not a decimal number"#,
        ),
        ("_HLS_msn=1&_HLS_msn=2", "_HLS_msn is given more than once"),
        (
            "_HLS_msn=1&_HLS_part=0&_HLS_part=0",
            "_HLS_part is given more than once",
        ),
        (
            "_HLS_skip=YES&_HLS_skip=v2",
            "_HLS_skip is given more than once",
        ),
        ("_HLS_skip=", r#"_HLS_skip="" must be YES or v2"#),
        ("_HLS_part=0", "_HLS_part requires _HLS_msn"),
        (
            "_HLS_msn=18446744073709551615",
            "_HLS_msn=18446744073709551615 is beyond the last media sequence number",
        ),
        (&long, "the query string is longer than 2048 bytes"),
    ];
    for (query, reason) in cases {
        let resp = origin::within(server.get(&format!("/witness/index.m3u8?{query}"))).await;
        assert_refusal(resp.status, &resp.body, StatusCode::BAD_REQUEST, reason);
    }
    assert_eq!(server.state.waiting.total(), 0);
    witness.assert_intact(&server).await;
    server.stop().await;
}

/// Opens a connection and sends `bytes` one at a time, `every` apart, until the server closes
/// it; returns what the server sent and how long it kept the connection.
async fn trickle(
    addr: std::net::SocketAddr,
    bytes: &'static [u8],
    every: Duration,
) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    for b in bytes {
        if tcp.write_all(&[*b]).await.is_err() {
            break;
        }
        // Look for a close while waiting, rather than writing into a closed socket.
        let (got, closed) = read_to_close(&mut tcp, every).await;
        if closed {
            return (got, started.elapsed());
        }
    }
    let (got, closed) = read_to_close(&mut tcp, Duration::from_secs(10)).await;
    assert!(closed, "closed within 10 s of the last byte");
    (got, started.elapsed())
}

/// A slow-loris player: request heads trickled a byte every 100 ms, on 50 connections. Each
/// is closed once the idle timeout (1 s here) has passed since its first byte, while other
/// players are served promptly all along.
#[tokio::test]
async fn request_heads_trickled_a_byte_at_a_time_are_cut_off_at_the_idle_timeout() {
    let idle = Duration::from_secs(1);
    let http = HttpOptions {
        idle_timeout: idle,
        ..HttpOptions::default()
    };
    let server = TestServer::with(origin::options(), http).await;
    let witness = Witness::publish(&server, "witness").await;

    const HEAD: &[u8] = b"GET /witness/index.m3u8 HTTP/1.1\r\nhost: x\r\n\r\n";
    // The HTTP/2 preface, trickled: the server must not wait forever for the rest of it.
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let every = Duration::from_millis(100);
    let loris: Vec<_> = (0..50)
        .map(|i| {
            let bytes = if i % 5 == 0 { PREFACE } else { HEAD };
            tokio::spawn(trickle(server.addr, bytes, every))
        })
        .collect();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        witness.assert_intact(&server).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    for l in loris {
        let (got, held) = origin::within(l).await.unwrap();
        // hyper closes a timed-out head without an answer; a 408 would be as good.
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&got)
        );
        assert!(held >= idle && held < idle * 3, "held {held:?}");
    }
    // Every one of those connections is gone, and the exported gauge says so (the scrape's
    // own connection being the one open).
    until_connections_open(&server, 0).await;
    assert_eq!(metric(&server, "playlists_http_connections_open").await, 1);
    witness.assert_intact(&server).await;
    server.stop().await;
}

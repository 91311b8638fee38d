//! Hostile connections over real sockets (issue 7, "Hardening"): HTTP/2 stream floods and
//! rapid resets with prior knowledge (h2c), a silent HTTP/2 peer, and many connections opened
//! and dropped. Each test checks that the server bounds the work, frees what the connections
//! held, and still serves a published stream (`witness`) byte for byte.
//!
//! HTTP/2 is spoken here with hand-made frames (RFC 9113 §4, HPACK literals of RFC 7541
//! §6.2.2): a client library would refuse to break the rules these tests need broken.

mod bad_input_common;
mod origin;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bad_input_common::{metric, read_to_close, until_connections_open, Witness};
use origin::TestServer;
use playlists_server::http::HttpOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const REFUSED_STREAM: u32 = 0x7;
const CANCEL: u32 = 0x8;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A HEADERS frame for `GET path` that ends the stream: `:method GET` and `:scheme http`
/// from the static table, `:path` and `:authority` as literals without indexing.
fn get(stream: u32, path: &str) -> Vec<u8> {
    assert!(path.len() < 127);
    let mut block = vec![0x82, 0x86, 0x04, path.len() as u8];
    block.extend_from_slice(path.as_bytes());
    block.extend_from_slice(&[0x01, 1, b'x']);
    frame(HEADERS, END_STREAM | END_HEADERS, stream, &block)
}

fn rst(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// One frame as received.
#[derive(Debug)]
struct Frame {
    kind: u8,
    flags: u8,
    payload: Vec<u8>,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY.
    fn code(&self) -> Option<u32> {
        let at = match self.kind {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        Some(u32::from_be_bytes(
            self.payload.get(at..at + 4)?.try_into().ok()?,
        ))
    }
}

/// A raw HTTP/2 connection.
struct H2 {
    tcp: TcpStream,
    buf: Vec<u8>,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS.
    max_streams: Option<u32>,
}

impl H2 {
    /// Connects, sends the preface and empty SETTINGS, and acknowledges the server's.
    async fn connect(addr: SocketAddr) -> Self {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        tcp.write_all(&hello).await.unwrap();
        let mut h2 = Self {
            tcp,
            buf: Vec::new(),
            max_streams: None,
        };
        loop {
            let f = h2
                .next(Duration::from_secs(5))
                .await
                .expect("server SETTINGS");
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                for s in f.payload.chunks_exact(6) {
                    if u16::from_be_bytes([s[0], s[1]]) == SETTINGS_MAX_CONCURRENT_STREAMS {
                        h2.max_streams = Some(u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
                    }
                }
                h2.send(&frame(SETTINGS, ACK, 0, &[])).await;
                return h2;
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }

    /// The next frame, or `None` at EOF or after `limit` without one.
    async fn next(&mut self, limit: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let f = Frame {
                        kind: self.buf[3],
                        flags: self.buf[4],
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    return Some(f);
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.tcp.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }
}

/// Polls `f` until it returns true, for at most 10 s.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < Duration::from_secs(10), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn server(http: HttpOptions) -> (TestServer, Witness) {
    // TARGETDURATION 4 s: a held request waits up to 12 s, longer than any test needs it held.
    let mut opts = origin::options();
    opts.target_duration = playlists::TargetDuration::Fixed(4);
    let server = TestServer::with(opts, http).await;
    let witness = Witness::publish(&server, "witness").await;
    (server, witness)
}

const ENHANCE_YOUR_CALM: u32 = 0xb;

/// What a connection got back: refused streams, and the GOAWAY code if one came.
#[derive(Debug, Default)]
struct Tally {
    refused: usize,
    other_resets: usize,
    goaway: Option<u32>,
}

/// Reads frames until `stop` says so, the server closes, or nothing comes for `quiet`.
async fn tally(h2: &mut H2, quiet: Duration, mut stop: impl FnMut(&Tally) -> bool) -> Tally {
    let mut t = Tally::default();
    while !stop(&t) {
        let Some(f) = h2.next(quiet).await else {
            break;
        };
        match (f.kind, f.code()) {
            (RST_STREAM, Some(REFUSED_STREAM)) => t.refused += 1,
            (RST_STREAM, _) => t.other_resets += 1,
            (GOAWAY, code) => t.goaway = code,
            // Answer keep-alive pings, so only the flood decides the connection's fate.
            (PING, _) if f.flags & ACK == 0 => {
                h2.send(&frame(PING, ACK, 0, &f.payload)).await;
            }
            _ => {}
        }
    }
    t
}

fn held_requests(first_stream: u32, count: u32) -> Vec<u8> {
    // p7 of `witness` is the part after its last one: the server holds it (the hinted part).
    (0..count)
        .flat_map(|i| get(first_stream + 2 * i, "/witness/p7.mp4"))
        .collect()
}

/// The server advertises SETTINGS_MAX_CONCURRENT_STREAMS = 256 and enforces it: of 300 held
/// requests on one connection, 256 are held and 44 refused (REFUSED_STREAM, which a client
/// may retry); the connection and the server carry on, and closing the connection frees
/// every held request.
#[tokio::test]
async fn concurrent_streams_beyond_256_are_refused() {
    let (server, witness) = server(HttpOptions::default()).await;
    let mut h2 = H2::connect(server.addr).await;
    assert_eq!(h2.max_streams, Some(256));
    h2.send(&held_requests(1, 300)).await;
    let t = tally(&mut h2, Duration::from_secs(5), |t| t.refused >= 44).await;
    assert_eq!(
        (t.refused, t.other_resets, t.goaway),
        (44, 0, None),
        "{t:?}"
    );
    eventually("256 held", || server.state.waiting.total() == 256).await;
    // While the 256 wait, the limit holds for any further stream on the connection.
    h2.send(&get(601, "/healthz")).await;
    let t = tally(&mut h2, Duration::from_millis(300), |_| false).await;
    assert_eq!(t.refused, 1, "still at the limit: {t:?}");
    witness.assert_intact(&server).await;

    drop(h2);
    eventually("held requests freed", || server.state.waiting.total() == 0).await;
    until_connections_open(&server, 0).await;
    server.stop().await;
}

/// A client that keeps opening streams past the limit is cut off: after 1024 refused
/// streams the server sends GOAWAY (ENHANCE_YOUR_CALM) and closes; what it held is freed.
#[tokio::test]
async fn a_flood_of_refused_streams_ends_in_goaway() {
    let (server, witness) = server(HttpOptions::default()).await;
    let mut h2 = H2::connect(server.addr).await;
    h2.send(&held_requests(1, 1500)).await;
    let t = tally(&mut h2, Duration::from_secs(5), |t| t.goaway.is_some()).await;
    assert_eq!(t.goaway, Some(ENHANCE_YOUR_CALM), "{t:?}");
    assert!(t.refused <= 1024, "{t:?}");
    let (_, closed) = read_to_close(&mut h2.tcp, Duration::from_secs(5)).await;
    assert!(closed, "the server closes after its GOAWAY");
    eventually("held requests freed", || server.state.waiting.total() == 0).await;
    witness.assert_intact(&server).await;
    until_connections_open(&server, 0).await;
    server.stop().await;
}

/// Rapid reset (CVE-2023-44487): requests opened and cancelled at once, 5000 in one burst.
/// The server answers with GOAWAY (ENHANCE_YOUR_CALM) and closes instead of running a
/// handler for each; no request is left held, and other clients never notice.
#[tokio::test]
async fn rapid_reset_ends_in_goaway_without_running_the_handlers() {
    let (server, witness) = server(HttpOptions::default()).await;
    let parts_before = metric_line(&server, "route=\"part\"").await;
    let mut h2 = H2::connect(server.addr).await;
    let burst: Vec<u8> = (0..5000u32)
        .flat_map(|i| {
            let id = 2 * i + 1;
            let mut pair = get(id, "/witness/p7.mp4");
            pair.extend(rst(id, CANCEL));
            pair
        })
        .collect();
    // The server may close before it has read everything.
    let _ = h2.tcp.write_all(&burst).await;
    let t = tally(&mut h2, Duration::from_secs(5), |t| t.goaway.is_some()).await;
    assert_eq!(t.goaway, Some(ENHANCE_YOUR_CALM), "{t:?}");
    let (_, closed) = read_to_close(&mut h2.tcp, Duration::from_secs(5)).await;
    assert!(closed, "the server closes after its GOAWAY");
    eventually("nothing held", || server.state.waiting.total() == 0).await;
    witness.assert_intact(&server).await;
    // The witness check fetched one part; no handler answered any of the 5000.
    let parts_after = metric_line(&server, "route=\"part\"").await;
    assert_eq!(parts_after, parts_before + 1, "part requests answered");
    until_connections_open(&server, 0).await;
    server.stop().await;
}

/// The sum of the request counters whose labels contain `label`.
async fn metric_line(server: &TestServer, label: &str) -> u64 {
    server
        .get("/metrics")
        .await
        .text()
        .lines()
        .filter(|l| l.starts_with("playlists_http_requests_total{") && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// An HTTP/2 peer that goes silent (answers no PING) is closed by the keep-alive: pinged
/// at half the idle timeout, dropped when the ping goes unanswered as long.
#[tokio::test]
async fn a_silent_http2_peer_is_closed_by_the_keep_alive() {
    let idle = Duration::from_secs(1);
    let http = HttpOptions {
        idle_timeout: idle,
        ..HttpOptions::default()
    };
    let (server, witness) = server(http).await;
    let started = Instant::now();
    let mut h2 = H2::connect(server.addr).await;
    let mut pinged = false;
    while let Some(f) = h2.next(Duration::from_secs(5)).await {
        pinged |= f.kind == PING;
    }
    let held = started.elapsed();
    assert!(pinged, "the server pings before it gives up");
    assert!(held >= idle / 2 && held < idle * 4, "closed after {held:?}");
    witness.assert_intact(&server).await;
    server.stop().await;
}

/// Opens `total` connections, `at_once` at a time, and drops each at once — a third with a
/// FIN, a third with a RST (zero linger), a third after half a request head.
async fn open_and_drop(addr: SocketAddr, total: usize, at_once: usize) {
    let per_task = total / at_once;
    let tasks: Vec<_> = (0..at_once)
        .map(|t| {
            tokio::spawn(async move {
                for i in 0..per_task {
                    let mut tcp = TcpStream::connect(addr).await.unwrap();
                    match (t + i) % 3 {
                        0 => {}
                        1 => tcp.set_zero_linger().unwrap(),
                        _ => {
                            let _ = tcp.write_all(b"GET /witness/index.m3u8 HTT").await;
                        }
                    }
                    drop(tcp);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

async fn connections_opened_and_dropped(total: usize) {
    // A peer can vanish without the server's socket ever learning it: under load, a storm
    // left one server-side socket ESTABLISHED with no client socket left on the other end
    // (/proc/net/tcp), its reset lost in the kernel. Only the idle timeout ends such a
    // connection, so the test runs with a short one and checks that it does.
    let http = HttpOptions {
        idle_timeout: Duration::from_secs(3),
        ..HttpOptions::default()
    };
    let (server, witness) = server(http).await;
    let accepted_before = metric(&server, "playlists_http_connections_total").await;
    let started = Instant::now();
    // The storm runs on a runtime of its own, as another process's clients would: sharing
    // the server's two worker threads, a server connection task was at times never polled
    // again after a request (see the issue notes) and its gauge never came down.
    let addr = server.addr;
    let storm = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(open_and_drop(addr, total, 256));
    });
    // A player is served during the storm. Its connection queues behind up to 256 others in
    // the accept backlog (a full backlog drops its SYN, retried after 1 s), so "served" is
    // bounded loosely.
    let mut slowest = Duration::ZERO;
    while !storm.is_finished() {
        let t = Instant::now();
        witness.assert_intact(&server).await;
        slowest = slowest.max(t.elapsed());
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    storm.join().unwrap();
    let took = started.elapsed();
    eprintln!("{total} connections opened and dropped in {took:?}; slowest check {slowest:?}");
    // Every connection has ended, and the exported gauge says so (the scrape's own
    // connection being the one open).
    until_connections_open(&server, 0).await;
    assert_eq!(metric(&server, "playlists_http_connections_open").await, 1);
    // A connection reset while still in the kernel's accept queue may never reach the
    // server; the others all do.
    let accepted = metric(&server, "playlists_http_connections_total").await - accepted_before;
    assert!(accepted >= (total * 2 / 3) as u64, "{accepted} accepted");
    witness.assert_intact(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_connections_opened_and_dropped() {
    connections_opened_and_dropped(10_000).await;
}

/// The 100k. Ignored in CI: at about 1 ms per connection in a debug build on two
/// cores (10k take about 10 s) it would take well over a minute; run it with
/// `cargo test -p playlists-server --test bad_input_connections -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "100k connections take over a minute in a debug build; the 10k variant runs in CI"]
async fn a_hundred_thousand_connections_opened_and_dropped() {
    connections_opened_and_dropped(100_000).await;
}

//! Shared by the bad-input suites (`bad_input_*.rs`): a witness stream whose bytes must
//! survive every attack, raw HTTP/1.1 over a socket (for bytes no well-behaved client sends),
//! and a streaming ingest client that stops as soon as the server answers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::origin::TestServer;

/// What a stream served before an attack: its playlist, one part and its init section.
/// [`Witness::assert_intact`] fetches them again and compares bytes.
#[derive(Debug)]
pub struct Witness {
    pub stream: String,
    playlist: Bytes,
    part_path: String,
    part: Bytes,
    init: Bytes,
}

impl Witness {
    /// Publishes parts 0..7 of `stream` through the library and records what it serves.
    pub async fn publish(server: &TestServer, stream: &str) -> Self {
        server.publish(stream, 0, 7);
        Self::record(server, stream, 3).await
    }

    /// Records what `stream` (already published, by any source) serves, with part `number`.
    pub async fn record(server: &TestServer, stream: &str, number: u64) -> Self {
        let ok = |path: String| async move {
            let resp = server.get(&path).await;
            assert_eq!(resp.status, StatusCode::OK, "{path}: {}", resp.text());
            resp.body
        };
        let part_path = format!("/{stream}/p{number}.mp4");
        Self {
            stream: stream.to_owned(),
            playlist: ok(format!("/{stream}/index.m3u8")).await,
            part: ok(part_path.clone()).await,
            init: ok(format!("/{stream}/init.mp4")).await,
            part_path,
        }
    }

    /// The server answers `/healthz`, and this stream still serves the same playlist, part
    /// and init section, byte for byte.
    pub async fn assert_intact(&self, server: &TestServer) {
        let health = server.get("/healthz").await;
        assert_eq!(health.status, StatusCode::OK);
        assert_eq!(health.text(), "ok\n");
        let s = &self.stream;
        for (path, want) in [
            (format!("/{s}/index.m3u8"), &self.playlist),
            (self.part_path.clone(), &self.part),
            (format!("/{s}/init.mp4"), &self.init),
        ] {
            let resp = server.get(&path).await;
            assert_eq!(resp.status, StatusCode::OK, "{path}: {}", resp.text());
            assert!(resp.body == *want, "{path} changed:\n{}", resp.text());
        }
    }
}

/// Asserts an error answer: exactly `status`, and a body that is one line (plus its newline)
/// containing `reason`.
pub fn assert_refusal(status: StatusCode, body: &[u8], want: StatusCode, reason: &str) {
    let text = String::from_utf8_lossy(body);
    assert_eq!(status, want, "{text}");
    assert!(text.contains(reason), "want {reason:?} in {text:?}");
    assert!(
        text.ends_with('\n') && text.trim_end().lines().count() == 1,
        "not one line: {text:?}"
    );
}

/// An HTTP/1.1 answer read off a raw socket.
#[derive(Debug)]
pub struct RawResp {
    pub status: StatusCode,
    /// The head, lower-cased, for header checks.
    pub head: String,
    pub body: Bytes,
}

impl RawResp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Parses the bytes of one answer (a `Content-Length` body, or everything up to EOF).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
        let status = head.split(' ').nth(1)?.parse::<u16>().ok()?;
        let mut body = &bytes[end + 4..];
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        if let Some(n) = length {
            body = &body[..n.min(body.len())];
        }
        Some(Self {
            status: StatusCode::from_u16(status).ok()?,
            head,
            body: Bytes::copy_from_slice(body),
        })
    }
}

/// Reads until the peer closes (or errors), at most `limit` long; returns what was read and
/// whether the peer closed within the limit.
pub async fn read_to_close(tcp: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (got, closed)
}

/// Sends `request` (a whole request, as bytes) on a new connection and reads the answer up to
/// the server's close (the request should say `connection: close`). `None` if the server
/// closed without an answer.
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> Option<RawResp> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it read everything (a head too large): a
    // failed write is then expected, and the answer is still there to read.
    let _ = tcp.write_all(request).await;
    let (got, closed) = read_to_close(&mut tcp, Duration::from_secs(10)).await;
    assert!(closed, "the server closes within 10 s");
    RawResp::parse(&got)
}

/// A GET of `target` (sent as given, byte for byte) on a raw connection.
pub async fn raw_get(addr: SocketAddr, target: &[u8]) -> Option<RawResp> {
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(target);
    req.extend_from_slice(b" HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    raw_request(addr, &req).await
}

/// How a streamed upload ended.
#[derive(Debug)]
pub struct Upload {
    /// The server's answer, if it sent one before closing.
    pub resp: Option<RawResp>,
    /// Body bytes written to the socket before the server answered or closed.
    pub sent: u64,
    /// From the request head to the answer (or the close).
    pub elapsed: Duration,
}

/// `PUT path` with a chunked body (no `Content-Length`) drawn from `next` — one call per
/// chunk, `None` ends the body — with `pause` between chunks. Stops sending as soon as the
/// server answers or closes, so a generator may promise far more than is ever produced.
pub async fn put_chunked(
    addr: SocketAddr,
    path: &str,
    pause: Duration,
    mut next: impl FnMut() -> Option<Bytes>,
) -> Upload {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = tcp.into_split();
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        (got, started.elapsed())
    });
    let head = format!(
        "PUT {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let mut sent = 0u64;
    let ok = wr.write_all(head.as_bytes()).await.is_ok();
    // Bounded even against a server that neither reads nor answers.
    while ok && !reader.is_finished() && started.elapsed() < Duration::from_secs(20) {
        let Some(chunk) = next() else {
            let _ = wr.write_all(b"0\r\n\r\n").await;
            break;
        };
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        // A server that stopped reading leaves this write pending once the socket buffers are
        // full: then stop sending (the chunk may be half written) and wait for the answer.
        match tokio::time::timeout(Duration::from_secs(2), wr.write_all(&framed)).await {
            Ok(Ok(())) => sent += chunk.len() as u64,
            Ok(Err(_)) | Err(_) => break,
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    let (got, elapsed) = crate::origin::within(reader).await.unwrap();
    drop(wr);
    Upload {
        resp: RawResp::parse(&got),
        sent,
        elapsed,
    }
}

/// `PUT path` with `body` in one piece (with a `Content-Length`).
pub async fn put(addr: SocketAddr, path: &str, body: &[u8]) -> RawResp {
    let mut req = format!(
        "PUT {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw_request(addr, &req)
        .await
        .expect("the server answers an ingest")
}

/// The value of an unlabelled series in `/metrics`.
pub async fn metric(server: &TestServer, series: &str) -> u64 {
    let m = server.get("/metrics").await.text();
    m.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} not in /metrics:\n{m}"))
}

/// Waits until the server has exactly `n` connections open (at most 10 s; the test fails
/// with the count otherwise). Read from the server's state rather than `/metrics`, whose
/// own request would count.
pub async fn until_connections_open(server: &TestServer, n: u64) {
    let started = Instant::now();
    loop {
        let open = server.state.metrics.connections_open();
        if open == n {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{open} connections open, want {n}; TCP states on the server's port: {}",
            tcp_states(server.addr.port())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The kernel's view of the sockets on `port`, for a failure message: counts by TCP state of
/// the server's side (local port) and the clients' side (remote port), from /proc/net/tcp.
/// CLOSE_WAIT on the server's side means a peer closed and the server has not.
fn tcp_states(port: u16) -> String {
    const STATES: [&str; 12] = [
        "?",
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
    ];
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port_of = |addr: &str| {
                addr.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            let (Some(local), Some(remote), Some(state)) = (
                f.get(1).and_then(|a| port_of(a)),
                f.get(2).and_then(|a| port_of(a)),
                f.get(3).and_then(|s| usize::from_str_radix(s, 16).ok()),
            ) else {
                continue;
            };
            let side = if local == port {
                "server"
            } else if remote == port {
                "client"
            } else {
                continue;
            };
            let name = STATES.get(state).copied().unwrap_or("?");
            *counts.entry(format!("{side} {name}")).or_default() += 1;
        }
    }
    format!("{counts:?}")
}

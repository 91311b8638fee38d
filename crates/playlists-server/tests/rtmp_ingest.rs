//! RTMP publishing end to end, over loopback: an origin with an RTMP listener on an ephemeral
//! port, a raw RTMP client (`rml_rtmp`'s client session and handshake over a TCP socket) and
//! real ffmpeg. Every hostile peer is cut off within a bounded time, counted by reason in
//! `/metrics`, and another stream stays served.

mod common;
mod origin;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use playlists::Playlists;
use playlists_server::http::{serve, AppState, HttpOptions};
use playlists_server::ingest::sources::rtmp::{Refusal, RtmpConfig, RtmpListener, RtmpStats};
use playlists_server::ingest::{Credentials, IngestConfig, Ingests};
use playlists_server::part_store::PartStore;
use playlists_server::shutdown::Shutdown;
use rml_rtmp::chunk_io::ChunkSerializer;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::messages::MessagePayload;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

const TOKEN: &str = "s3cret-token";

/// A stream that is not RTMP's, published before every test: it must stay served whatever
/// an RTMP peer does.
const OTHER: &str = "other";

/// An origin with HTTP delivery and an RTMP listener, both on ephemeral loopback ports.
struct Server {
    http: SocketAddr,
    rtmp: SocketAddr,
    playlists: Arc<Playlists>,
    stats: Arc<RtmpStats>,
    shutdown: Shutdown,
    _stop_http: oneshot::Sender<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.begin();
    }
}

async fn server_with(rtmp: RtmpConfig, ingest: IngestConfig) -> Server {
    let playlists = Arc::new(Playlists::new(origin::options()).unwrap());
    let parts = PartStore::heap();
    let ingests = Ingests::new(Arc::clone(&playlists), parts.clone(), ingest);
    let shutdown = Shutdown::default();
    let listener = RtmpListener::bind(
        "127.0.0.1:0".parse().unwrap(),
        Arc::clone(&ingests),
        rtmp,
        shutdown.clone(),
    )
    .await
    .unwrap();
    let rtmp_addr = listener.local_addr().unwrap();
    let stats = Arc::clone(listener.stats());
    tokio::spawn(listener.run());
    let state = AppState::new(Arc::clone(&playlists), HttpOptions::default())
        .with_parts(parts)
        .with_ingest(ingests)
        .with_rtmp(Arc::clone(&stats))
        .with_shutdown(shutdown.clone());
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = tcp.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(serve(tcp, Arc::new(state), async {
        let _ = rx.await;
    }));
    origin::publish(&playlists, OTHER, 0, 6);
    Server {
        http,
        rtmp: rtmp_addr,
        playlists,
        stats,
        shutdown,
        _stop_http: tx,
    }
}

/// Ingest that needs [`TOKEN`], with the default limits.
async fn server() -> Server {
    server_with(RtmpConfig::default(), with_token()).await
}

fn with_token() -> IngestConfig {
    IngestConfig {
        credentials: Credentials {
            token: Some(TOKEN.into()),
            ..Credentials::default()
        },
        ..IngestConfig::default()
    }
}

impl Server {
    async fn metrics(&self) -> String {
        origin::get(self.http, "/metrics", &[]).await.text()
    }

    /// The value of `series` (with its labels) in `/metrics`.
    async fn metric(&self, series: &str) -> u64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }

    async fn refusals(&self, reason: &str) -> u64 {
        self.metric(&format!(
            "playlists_rtmp_refusals_total{{reason=\"{reason}\"}}"
        ))
        .await
    }

    /// Waits (bounded) until the refusal count of `reason` is `n`.
    async fn wait_refusals(&self, reason: &str, n: u64) {
        for _ in 0..100 {
            if self.refusals(reason).await == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "refusals of {reason} never reached {n}:\n{}",
            self.metrics().await
        );
    }

    /// The stream published beside RTMP is still served, and the server answers.
    async fn other_stream_served(&self) {
        let resp = origin::get(self.http, &format!("/{OTHER}/index.m3u8"), &[]).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert!(resp.text().contains("#EXT-X-PART:"), "{}", resp.text());
        assert!(self.playlists.stream(OTHER).is_some());
    }
}

/// Reads until the peer closes (EOF or a reset); panics if it has not within `limit`.
async fn closed_within(tcp: &mut TcpStream, limit: Duration) {
    let mut buf = vec![0u8; 64 * 1024];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
}

/// The handshake of the RTMP specification with the fewest bytes: C0 C1 of zeros, C2 the
/// echo of S1. Returns the socket after it.
async fn raw_handshake(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut c0c1 = vec![0u8; 1537];
    c0c1[0] = 3;
    tcp.write_all(&c0c1).await.unwrap();
    let mut s = vec![0u8; 1 + 1536 + 1536];
    origin::within(tcp.read_exact(&mut s)).await.unwrap();
    assert_eq!(s[0], 3);
    tcp.write_all(&s[1..1537]).await.unwrap();
    tcp
}

/// `payload` in chunks, as a peer's first message on its chunk stream.
fn chunks(type_id: u8, data: Vec<u8>) -> Vec<u8> {
    let payload = MessagePayload {
        timestamp: RtmpTimestamp::new(0),
        type_id,
        message_stream_id: 1,
        data: Bytes::from(data),
    };
    ChunkSerializer::new()
        .serialize(&payload, true, false)
        .unwrap()
        .bytes
}

/// What the server answered a request.
#[derive(Debug, PartialEq)]
enum Answer {
    Accepted,
    /// The status code and description of a refusal.
    Refused(String, String),
}

/// A raw RTMP client: `rml_rtmp`'s client session over a TCP socket.
struct Client {
    tcp: TcpStream,
    session: ClientSession,
}

impl Client {
    /// Handshakes and connects to `app`.
    async fn connect(addr: SocketAddr, app: &str) -> Client {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut handshake = Handshake::new(PeerType::Client);
        let c0c1 = handshake.generate_outbound_p0_and_p1().unwrap();
        tcp.write_all(&c0c1).await.unwrap();
        let mut buf = vec![0u8; 8192];
        let leftover = loop {
            let n = origin::within(tcp.read(&mut buf)).await.unwrap();
            assert!(n > 0, "closed during the handshake");
            match handshake.process_bytes(&buf[..n]).unwrap() {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    tcp.write_all(&response_bytes).await.unwrap();
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    tcp.write_all(&response_bytes).await.unwrap();
                    break remaining_bytes;
                }
            }
        };
        let (session, _) = ClientSession::new(ClientSessionConfig::new()).unwrap();
        let mut client = Client { tcp, session };
        let mut events = client.handle(&leftover).await;
        let request = client.session.request_connection(app.to_owned()).unwrap();
        client.send(request).await;
        loop {
            for event in events.drain(..) {
                match event {
                    ClientSessionEvent::ConnectionRequestAccepted => return client,
                    ClientSessionEvent::ConnectionRequestRejected { description } => {
                        panic!("connect refused: {description}")
                    }
                    _ => {}
                }
            }
            events = client.read_events().await.expect("closed before connect");
        }
    }

    async fn send(&mut self, result: ClientSessionResult) {
        if let ClientSessionResult::OutboundResponse(packet) = result {
            self.tcp.write_all(&packet.bytes).await.unwrap();
        }
    }

    /// Handles `bytes` from the server, sends what the session answers, returns its events.
    async fn handle(&mut self, bytes: &[u8]) -> Vec<ClientSessionEvent> {
        let mut events = Vec::new();
        for result in self.session.handle_input(bytes).unwrap() {
            match result {
                ClientSessionResult::RaisedEvent(e) => events.push(e),
                other => self.send(other).await,
            }
        }
        events
    }

    /// The events of the next bytes from the server; `None` once it closed.
    async fn read_events(&mut self) -> Option<Vec<ClientSessionEvent>> {
        let mut buf = vec![0u8; 8192];
        match origin::within(self.tcp.read(&mut buf)).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(self.handle(&buf[..n]).await),
        }
    }

    /// Waits for the answer to a publish or play request.
    async fn answer(&mut self, accepted: &ClientSessionEvent) -> Answer {
        loop {
            let events = self.read_events().await.expect("closed without an answer");
            for event in events {
                if &event == accepted {
                    return Answer::Accepted;
                }
                // A refusal is an `_error` on the request's stream (transaction 0).
                if let ClientSessionEvent::UnknownTransactionResultReceived {
                    additional_values,
                    ..
                } = event
                {
                    if let Some(Amf0Value::Object(status)) = additional_values.first() {
                        let text = |k: &str| match status.get(k) {
                            Some(Amf0Value::Utf8String(s)) => s.clone(),
                            _ => String::new(),
                        };
                        return Answer::Refused(text("code"), text("description"));
                    }
                }
            }
        }
    }

    async fn publish(&mut self, key: &str) -> Answer {
        let request = self
            .session
            .request_publishing(key.to_owned(), PublishRequestType::Live)
            .unwrap();
        self.send(request).await;
        self.answer(&ClientSessionEvent::PublishRequestAccepted)
            .await
    }

    async fn play(&mut self, key: &str) -> Answer {
        let request = self.session.request_playback(key.to_owned()).unwrap();
        self.send(request).await;
        self.answer(&ClientSessionEvent::PlaybackRequestAccepted)
            .await
    }
}

fn refused(answer: Answer, code: &str, says: &str) {
    match answer {
        Answer::Refused(c, description) => {
            assert_eq!(c, code, "{description}");
            assert!(description.contains(says), "{description}");
            assert!(!description.contains('\n'), "{description}");
        }
        Answer::Accepted => panic!("accepted; expected {code}"),
    }
}

#[tokio::test]
async fn a_publisher_with_the_token_is_accepted_and_one_without_refused() {
    let server = server().await;
    for key in ["720p", "720p?token=wrong"] {
        let mut client = Client::connect(server.rtmp, "live").await;
        refused(
            client.publish(key).await,
            "NetConnection.Connect.Rejected",
            "needs a publish key",
        );
        closed_within(&mut client.tcp, Duration::from_secs(5)).await;
    }
    server.wait_refusals("unauthorized", 2).await;
    // The ingest layer counted them too (and slows the address down from the fourth).
    assert_eq!(
        server.metric("playlists_ingest_auth_failures_total").await,
        2
    );

    let mut client = Client::connect(server.rtmp, "live").await;
    let key = format!("720p?token={TOKEN}");
    assert_eq!(client.publish(&key).await, Answer::Accepted);
    assert_eq!(server.metric("playlists_rtmp_publishing").await, 1);
    assert_eq!(server.metric("playlists_rtmp_connections_total").await, 3);
    assert!(server.metric("playlists_rtmp_received_bytes_total").await > 3000);
    drop(client);
    for _ in 0..100 {
        if server.metric("playlists_rtmp_publishing").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.metric("playlists_rtmp_publishing").await, 0);
    assert_eq!(server.metric("playlists_rtmp_connections_open").await, 0);
    server.other_stream_served().await;
}

#[tokio::test]
async fn names_the_server_cannot_serve_are_refused_as_bad_names() {
    let server = server().await;
    let token = format!("?token={TOKEN}");
    for (app, key, says) in [
        ("ingest", "x", "reserved"),
        ("a/b", "c", "invalid stream name"),
        ("live", "bad name", "invalid stream name"),
    ] {
        let mut client = Client::connect(server.rtmp, app).await;
        refused(
            client.publish(&format!("{key}{token}")).await,
            "NetStream.Publish.BadName",
            says,
        );
        closed_within(&mut client.tcp, Duration::from_secs(5)).await;
    }
    server.wait_refusals("bad_name", 3).await;
    server.other_stream_served().await;
}

#[tokio::test]
async fn a_second_publisher_of_a_live_stream_is_refused() {
    let server = server().await;
    let key = format!("cam1?token={TOKEN}");
    let mut first = Client::connect(server.rtmp, "live").await;
    assert_eq!(first.publish(&key).await, Answer::Accepted);
    // Within the ingest layer's takeover delay (3 s of silence), the name is taken.
    let mut second = Client::connect(server.rtmp, "live").await;
    refused(
        second.publish(&key).await,
        "NetStream.Publish.BadName",
        "already has an encoder",
    );
    closed_within(&mut second.tcp, Duration::from_secs(5)).await;
    server.wait_refusals("busy", 1).await;
    assert_eq!(server.metric("playlists_rtmp_publishing").await, 1);
    drop(first);
}

#[tokio::test]
async fn a_play_request_is_refused_with_where_to_play() {
    let server = server().await;
    let mut client = Client::connect(server.rtmp, "live").await;
    refused(
        client.play("720p").await,
        "NetStream.Play.Failed",
        "/live/720p/index.m3u8",
    );
    closed_within(&mut client.tcp, Duration::from_secs(5)).await;
    server.wait_refusals("play", 1).await;
}

#[tokio::test]
async fn a_malformed_handshake_is_cut_off() {
    let server = server().await;
    // A wrong version byte (HTTP, say).
    let mut tcp = TcpStream::connect(server.rtmp).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    closed_within(&mut tcp, Duration::from_secs(5)).await;
    server.wait_refusals("handshake", 1).await;
    // Half a handshake, then nothing: cut off at the handshake timeout (5 s by default).
    let mut tcp = TcpStream::connect(server.rtmp).await.unwrap();
    tcp.write_all(&[3; 700]).await.unwrap();
    closed_within(&mut tcp, Duration::from_secs(8)).await;
    server.wait_refusals("handshake", 2).await;
    server.other_stream_served().await;
}

#[tokio::test]
async fn garbage_after_the_handshake_is_cut_off() {
    let server = server().await;
    let mut tcp = raw_handshake(server.rtmp).await;
    // A chunk that continues a message on a chunk stream that never had one.
    tcp.write_all(&[0xc4; 64]).await.unwrap();
    closed_within(&mut tcp, Duration::from_secs(5)).await;
    server.wait_refusals("protocol", 1).await;
    server.other_stream_served().await;
}

#[tokio::test]
async fn amf_garbage_in_a_command_is_cut_off() {
    let server = server().await;
    let mut tcp = raw_handshake(server.rtmp).await;
    // An AMF0 command message (type 20) whose body is no AMF.
    tcp.write_all(&chunks(20, vec![0xff; 40])).await.unwrap();
    closed_within(&mut tcp, Duration::from_secs(5)).await;
    server.wait_refusals("protocol", 1).await;
    server.other_stream_served().await;
}

#[tokio::test]
async fn a_connection_that_ends_inside_a_message_is_counted() {
    let server = server().await;
    let mut tcp = raw_handshake(server.rtmp).await;
    let message = chunks(20, vec![0x02; 1000]);
    tcp.write_all(&message[..100]).await.unwrap();
    tcp.shutdown().await.unwrap();
    closed_within(&mut tcp, Duration::from_secs(5)).await;
    server.wait_refusals("protocol", 1).await;
    server.other_stream_served().await;
}

/// A publishing client that sends a video message of `bytes` bytes; returns its socket
/// once the server closed it (the writes may fail when it does).
async fn publish_a_large_frame(server: &Server, bytes: usize) {
    let mut client = Client::connect(server.rtmp, "live").await;
    let key = format!("big?token={TOKEN}");
    assert_eq!(client.publish(&key).await, Answer::Accepted);
    let frame = Bytes::from(vec![0x17; bytes]);
    let message = match client
        .session
        .publish_video_data(frame, RtmpTimestamp::new(0), false)
        .unwrap()
    {
        ClientSessionResult::OutboundResponse(packet) => packet.bytes,
        other => panic!("{other:?}"),
    };
    let (mut read, mut write) = client.tcp.split();
    let writer = async {
        let _ = write.write_all(&message).await;
    };
    let reader = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    let both = async { tokio::join!(writer, reader) };
    tokio::time::timeout(Duration::from_secs(20), both)
        .await
        .expect("cut off");
}

#[tokio::test]
async fn a_message_over_the_limit_is_cut_off_before_it_is_whole() {
    let server = server().await;
    // 9 MiB of video (the limit is 8 MiB), in the client's 4 KiB chunks.
    publish_a_large_frame(&server, 9 << 20).await;
    server.wait_refusals("too_large", 1).await;
    server.other_stream_served().await;
}

#[tokio::test]
async fn a_peer_over_the_rate_cap_is_cut_off() {
    // 1 Mbit/s: 250 KB at once, then 125 KB/s.
    let config = RtmpConfig {
        max_bitrate: 1_000_000,
        ..RtmpConfig::default()
    };
    let server = server_with(config, with_token()).await;
    publish_a_large_frame(&server, 1 << 20).await;
    server.wait_refusals("rate", 1).await;
    assert_eq!(server.refusals("too_large").await, 0);
    server.other_stream_served().await;
}

#[tokio::test]
async fn a_peer_that_never_publishes_is_cut_off_after_the_setup_limit() {
    let server = server().await;
    let mut tcp = raw_handshake(server.rtmp).await;
    // Well-formed video messages, but no connect and no publish: 100 KB of them.
    let message = chunks(9, vec![0x17; 100_000]);
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.write_all(&message)).await;
    closed_within(&mut tcp, Duration::from_secs(5)).await;
    server.wait_refusals("protocol", 1).await;
    assert_eq!(server.stats.refused(Refusal::Protocol), 1);
    server.other_stream_served().await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_cut_off() {
    let ingest = IngestConfig {
        stall_after: Duration::from_millis(500),
        ..with_token()
    };
    let server = server_with(RtmpConfig::default(), ingest).await;
    // Connected, never publishing: cut off after the stall limit.
    let mut client = Client::connect(server.rtmp, "live").await;
    let t0 = std::time::Instant::now();
    closed_within(&mut client.tcp, Duration::from_secs(5)).await;
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    server.wait_refusals("stalled", 1).await;
    // Publishing, then sending no media: the same.
    let mut client = Client::connect(server.rtmp, "live").await;
    let key = format!("cam1?token={TOKEN}");
    assert_eq!(client.publish(&key).await, Answer::Accepted);
    closed_within(&mut client.tcp, Duration::from_secs(5)).await;
    server.wait_refusals("stalled", 2).await;
    server.other_stream_served().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once() {
    let config = RtmpConfig {
        max_connections: 2,
        ..RtmpConfig::default()
    };
    let server = server_with(config, with_token()).await;
    let _a = TcpStream::connect(server.rtmp).await.unwrap();
    let _b = TcpStream::connect(server.rtmp).await.unwrap();
    for _ in 0..100 {
        if server.metric("playlists_rtmp_connections_open").await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut c = TcpStream::connect(server.rtmp).await.unwrap();
    closed_within(&mut c, Duration::from_secs(2)).await;
    server.wait_refusals("connections", 1).await;
    assert_eq!(server.metric("playlists_rtmp_connections_open").await, 2);
}

/// ffmpeg's arguments to publish `secs` of test pattern and tone to `url` in real time: the
/// issue's command (H.264 with B-frames, keyframe every second, AAC, FLV over RTMP).
fn ffmpeg_publish(secs: u32, url: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "30",
        ])
        .args(["-c:a", "aac", "-f", "flv", url])
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn ffmpeg_publishes_over_rtmp_with_its_app_and_playpath() {
    if !common::have_ffmpeg() {
        eprintln!("ffmpeg not found; skipped");
        return;
    }
    let server = server().await;
    // Two components: app `live`, playpath `cam1?token=…` (ffmpeg puts the URL's query in
    // the playpath). One component: app `cam2?token=…`, empty playpath.
    for (path, stream) in [("live/cam1", "live/cam1"), ("cam2", "cam2")] {
        let url = format!("rtmp://{}/{path}?token={TOKEN}", server.rtmp);
        let before = server.metric("playlists_rtmp_received_bytes_total").await;
        let out = tokio::time::timeout(Duration::from_secs(30), ffmpeg_publish(2, &url).output())
            .await
            .expect("ffmpeg ends")
            .unwrap();
        assert!(
            out.status.success(),
            "{stream}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after = server.metric("playlists_rtmp_received_bytes_total").await;
        assert!(
            after - before > 20_000,
            "{stream}: {} bytes",
            after - before
        );
    }
    for reason in ["unauthorized", "bad_name", "protocol", "media", "stalled"] {
        assert_eq!(server.refusals(reason).await, 0, "{reason}");
    }
    // A wrong token: ffmpeg reports the server's description and fails.
    let url = format!("rtmp://{}/live/cam3?token=wrong", server.rtmp);
    let out = tokio::time::timeout(Duration::from_secs(30), ffmpeg_publish(2, &url).output())
        .await
        .expect("ffmpeg ends")
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs a publish key"), "{stderr}");
    server.wait_refusals("unauthorized", 1).await;
    server.other_stream_served().await;
}

/// x264 with B-frames and AAC over RTMP: a playlist with parts appears while ffmpeg
/// publishes, and afterwards ffprobe reads the served stream over HLS: both tracks decode,
/// every video frame is there, and audio and video start within one frame of each other.
#[tokio::test]
async fn ffmpeg_over_rtmp_becomes_a_playlist_with_parts() {
    if !common::have_ffmpeg() {
        eprintln!("ffmpeg not found; skipped");
        return;
    }
    let server = server().await;
    let url = format!("rtmp://{}/live/cam1?token={TOKEN}", server.rtmp);
    let mut ffmpeg = ffmpeg_publish(6, &url).spawn().unwrap();
    // Parts appear while ffmpeg publishes.
    let mut playlist = String::new();
    for _ in 0..100 {
        let resp = origin::get(server.http, "/live/cam1/index.m3u8", &[]).await;
        if resp.status == 200 {
            playlist = resp.text();
            if playlist.matches("#EXT-X-PART:").count() >= 5 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        playlist.matches("#EXT-X-PART:").count() >= 5,
        "no parts:\n{playlist}"
    );
    assert!(playlist.contains("#EXT-X-MAP:"), "{playlist}");
    let status = tokio::time::timeout(Duration::from_secs(30), ffmpeg.wait())
        .await
        .expect("ffmpeg ends")
        .unwrap();
    assert!(status.success());
    assert_eq!(server.refusals("media").await, 0);
    // Its init section and a part are served.
    let init = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|r| r.split('"').next())
        .expect("a map");
    let resp = origin::get(server.http, &format!("/live/cam1/{init}"), &[]).await;
    assert_eq!(resp.status, 200);
    server.other_stream_served().await;

    // The stream as a player reads it, once it has ended (the grace period over, the open
    // segment closed and EXT-X-ENDLIST): every frame the encoder sent.
    let mut ended = false;
    for _ in 0..150 {
        let text = origin::get(server.http, "/live/cam1/index.m3u8", &[])
            .await
            .text();
        if text.contains("#EXT-X-ENDLIST") {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended, "the stream did not end after its grace period");
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new("ffprobe")
            // From the first listed segment (a live playlist's default is three from the end).
            .args(["-v", "error", "-live_start_index", "0", "-count_frames"])
            .arg("-show_entries")
            .arg("stream=codec_type,codec_name,nb_read_frames,start_time,has_b_frames")
            .args(["-of", "compact=p=0:nk=0"])
            .arg(format!("http://{}/live/cam1/index.m3u8", server.http))
            .output(),
    )
    .await
    .expect("ffprobe ends")
    .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |kind: &str, key: &str| -> String {
        report
            .lines()
            .find(|l| l.contains(&format!("codec_type={kind}")))
            .and_then(|l| {
                l.split('|')
                    .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            })
            .unwrap_or_else(|| panic!("no {kind} {key} in {report}"))
            .to_owned()
    };
    assert_eq!(field("video", "codec_name"), "h264", "{report}");
    assert_eq!(field("audio", "codec_name"), "aac", "{report}");
    // 6 s at 30 fps: every frame, and no other.
    let frames: u32 = field("video", "nb_read_frames").parse().unwrap();
    assert_eq!(frames, 180, "{report}");
    // In the encoder's own FLV, AAC starts 21 ms before the first picture (its priming):
    // within one frame, and so must the served stream.
    let start = |kind: &str| field(kind, "start_time").parse::<f64>().unwrap();
    assert!(
        (start("video") - start("audio")).abs() <= 1.0 / 30.0 + 1e-3,
        "audio and video start apart: {report}"
    );
}

/// `playlist_type=event` in the stream key makes the run an EVENT playlist, as HTTP ingest's
/// query does; only an origin that records takes it, and no other type is taken.
#[tokio::test]
async fn ffmpeg_asks_for_an_event_run_in_its_stream_key() {
    if !common::have_ffmpeg() {
        eprintln!("ffmpeg not found; skipped");
        return;
    }
    let publish = |server: &Server, query: &str| {
        let url = format!("rtmp://{}/live/show?token={TOKEN}&{query}", server.rtmp);
        let run = ffmpeg_publish(2, &url).output();
        async move {
            let out = tokio::time::timeout(Duration::from_secs(30), run)
                .await
                .expect("ffmpeg ends")
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    // This origin does not record: there is nowhere to serve an event's old segments from.
    let plain = server().await;
    let (ok, stderr) = publish(&plain, "playlist_type=event").await;
    assert!(!ok);
    assert!(stderr.contains("needs the origin to record"), "{stderr}");

    let recording = server_with(
        RtmpConfig::default(),
        IngestConfig {
            events: true,
            ..with_token()
        },
    )
    .await;
    let (ok, stderr) = publish(&recording, "playlist_type=vod").await;
    assert!(!ok);
    assert!(stderr.contains("the only type"), "{stderr}");
    let (ok, stderr) = publish(&recording, "playlist_type=event").await;
    assert!(ok, "{stderr}");
    let playlist = origin::get(recording.http, "/live/show/index.m3u8", &[]).await;
    assert_eq!(playlist.status, 200);
    assert!(
        playlist.text().contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"),
        "{}",
        playlist.text()
    );
    recording.wait_refusals("bad_name", 1).await;
}

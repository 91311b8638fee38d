//! SRT publishing end to end, over loopback: an origin with an SRT listener on an ephemeral
//! UDP port, callers from `srt-tokio` (to read the reject codes exactly) and real ffmpeg
//! (libsrt). Every refused or hostile caller is answered or cut off within a bounded time,
//! counted by reason in `/metrics`, and another stream stays served.

mod common;
mod origin;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use playlists::Playlists;
use playlists_server::http::{serve, AppState, HttpOptions};
use playlists_server::ingest::sources::srt::{Passphrase, SrtConfig, SrtListener, SrtStats};
use playlists_server::ingest::{Credentials, IngestConfig, Ingests};
use playlists_server::part_store::PartStore;
use playlists_server::shutdown::Shutdown;
use srt_protocol::protocol::pending_connection::ConnectionReject;
use srt_tokio::SrtSocket;
use tokio::sync::oneshot;

const TOKEN: &str = "s3cret-token";
const PASSPHRASE: &str = "a passphrase of 27 letters";

/// A stream that is not SRT's, published before every test: it must stay served whatever
/// an SRT caller does.
const OTHER: &str = "other";

/// An origin with HTTP delivery and an SRT listener, both on ephemeral loopback ports.
struct Server {
    http: SocketAddr,
    srt: SocketAddr,
    playlists: Arc<Playlists>,
    stats: Arc<SrtStats>,
    shutdown: Shutdown,
    _stop_http: oneshot::Sender<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.begin();
    }
}

async fn server_with(srt: SrtConfig, ingest: IngestConfig) -> Server {
    let playlists = Arc::new(Playlists::new(origin::options()).unwrap());
    let parts = PartStore::heap();
    let ingests = Ingests::new(Arc::clone(&playlists), parts.clone(), ingest);
    let shutdown = Shutdown::default();
    let listener = SrtListener::bind(
        "127.0.0.1:0".parse().unwrap(),
        Arc::clone(&ingests),
        srt,
        shutdown.clone(),
        false,
    )
    .await
    .unwrap();
    let srt_addr = listener.local_addr();
    let stats = Arc::clone(listener.stats());
    tokio::spawn(listener.run());
    let state = AppState::new(Arc::clone(&playlists), HttpOptions::default())
        .with_parts(parts)
        .with_ingest(ingests)
        .with_srt(Arc::clone(&stats))
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
        srt: srt_addr,
        playlists,
        stats,
        shutdown,
        _stop_http: tx,
    }
}

/// Ingest that needs [`TOKEN`]; the first media within 2 s.
async fn server() -> Server {
    server_with(quick(), with_token()).await
}

fn quick() -> SrtConfig {
    SrtConfig {
        handshake_timeout: Duration::from_secs(2),
        ..SrtConfig::default()
    }
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
            "playlists_srt_refusals_total{{reason=\"{reason}\"}}"
        ))
        .await
    }

    /// Waits (bounded) until the refusal count of `reason` is `n`.
    async fn wait_refusals(&self, reason: &str, n: u64) {
        for _ in 0..200 {
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

    /// The stream published beside SRT is still served, and the server answers.
    async fn other_stream_served(&self) {
        let resp = origin::get(self.http, &format!("/{OTHER}/index.m3u8"), &[]).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert!(resp.text().contains("#EXT-X-PART:"), "{}", resp.text());
        assert!(self.playlists.stream(OTHER).is_some());
    }
}

/// Calls the server with `stream_id` (and a passphrase); the connected socket, or the
/// reject code on the wire (libsrt's code + 1000).
async fn call(
    addr: SocketAddr,
    stream_id: Option<&str>,
    passphrase: Option<&str>,
) -> Result<SrtSocket, i32> {
    let mut builder = SrtSocket::builder().latency(Duration::from_millis(200));
    if let Some(p) = passphrase {
        builder = builder.encryption(16, p);
    }
    let called = tokio::time::timeout(Duration::from_secs(10), builder.call(addr, stream_id))
        .await
        .expect("answered within 10 s");
    match called {
        Ok(socket) => Ok(socket),
        Err(e) => {
            let reject = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ConnectionReject>())
                .unwrap_or_else(|| panic!("{stream_id:?}: not a rejection: {e}"));
            Err(match reject {
                ConnectionReject::Rejected(r) | ConnectionReject::Rejecting(r) => (*r).into(),
            })
        }
    }
}

async fn rejected(addr: SocketAddr, stream_id: Option<&str>, passphrase: Option<&str>) -> i32 {
    match call(addr, stream_id, passphrase).await {
        Ok(_) => panic!("{stream_id:?} accepted"),
        Err(code) => code,
    }
}

#[tokio::test]
async fn stream_ids_names_and_tokens_are_refused_with_their_codes() {
    let server = server().await;
    let addr = server.srt;
    let cases: [(Option<&str>, i32, &str); 9] = [
        (None, 2400, "stream_id"),
        (Some("live/cam1"), 2400, "stream_id"),
        (Some("#!::r=x,m=publish,t=file"), 2400, "stream_id"),
        (Some("publish:live/cam1"), 2401, "unauthorized"),
        (
            Some("#!::r=live/cam1,m=publish,token=wrong"),
            2401,
            "unauthorized",
        ),
        (
            Some("publish:ingest/x?token=s3cret-token"),
            2403,
            "forbidden",
        ),
        (Some("publish:a/b/c?token=s3cret-token"), 2404, "bad_name"),
        (Some("#!::r=live/cam1"), 2405, "play"),
        (
            Some("#!::r=live/cam1,m=request,token=s3cret-token"),
            2405,
            "play",
        ),
    ];
    for (id, code, _) in cases {
        assert_eq!(rejected(addr, id, None).await, code, "{id:?}");
    }
    for reason in ["stream_id", "unauthorized", "forbidden", "bad_name", "play"] {
        let n = cases.iter().filter(|c| c.2 == reason).count() as u64;
        server.wait_refusals(reason, n).await;
    }
    assert_eq!(server.metric("playlists_srt_connections_total").await, 9);
    assert_eq!(server.stats.publishing(), 0);
    server.other_stream_served().await;
}

#[tokio::test]
async fn a_second_publisher_is_refused_as_busy_and_a_silent_one_cut_off() {
    let server = server().await;
    let id = format!("publish:live/busy?token={TOKEN}");
    // Admitted, then silent: it holds the name until the first-media limit.
    let first = call(server.srt, Some(&id), None).await.expect("admitted");
    let acl = format!("#!::r=live/busy,m=publish,token={TOKEN}");
    assert_eq!(rejected(server.srt, Some(&acl), None).await, 2409);
    server.wait_refusals("busy", 1).await;
    // No media within the 2 s limit: cut off, and the name is free again.
    server.wait_refusals("handshake", 1).await;
    drop(first);
    assert_eq!(server.stats.publishing(), 0);
    let again = call(server.srt, Some(&id), None).await;
    assert!(again.is_ok(), "the name is free after the cut-off");
    server.other_stream_served().await;
}

#[tokio::test]
async fn callers_over_the_connection_cap_are_refused() {
    let config = SrtConfig {
        max_connections: 1,
        ..quick()
    };
    let server = server_with(config, with_token()).await;
    let id = format!("publish:live/a?token={TOKEN}");
    let _held = call(server.srt, Some(&id), None).await.expect("admitted");
    let id = format!("publish:live/b?token={TOKEN}");
    assert_eq!(rejected(server.srt, Some(&id), None).await, 2402);
    server.wait_refusals("unavailable", 1).await;
    server.other_stream_served().await;
}

#[tokio::test]
async fn the_passphrase_is_required_and_checked() {
    let config = SrtConfig {
        passphrase: Some(Passphrase::new(PASSPHRASE).unwrap()),
        ..quick()
    };
    let server = server_with(config, with_token()).await;
    let id = format!("publish:live/enc?token={TOKEN}");
    // None: refused before admission, with libsrt's own code (1011 "unsecure").
    assert_eq!(rejected(server.srt, Some(&id), None).await, 1011);
    server.wait_refusals("passphrase", 1).await;
    // A wrong one: the handshake answers it (1010 "bad secret").
    assert_eq!(
        rejected(server.srt, Some(&id), Some("not the passphrase")).await,
        1010
    );
    server.wait_refusals("passphrase", 2).await;
    // The right one connects.
    let socket = call(server.srt, Some(&id), Some(PASSPHRASE)).await;
    assert!(socket.is_ok());
    // And a listener without a passphrase refuses a caller that encrypts.
    let open = server_with(quick(), with_token()).await;
    assert_eq!(rejected(open.srt, Some(&id), Some(PASSPHRASE)).await, 1011);
    open.wait_refusals("passphrase", 1).await;
}

#[tokio::test]
async fn garbage_datagrams_are_dropped_and_counted() {
    let server = server().await;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Shorter than any SRT header, and a header of a control type that does not exist.
    for datagram in [
        &b"hello"[..],
        &[0xff; 16][..],
        &[0x80, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
    ] {
        udp.send_to(datagram, server.srt).await.unwrap();
    }
    for _ in 0..100 {
        if server.refusals("garbage").await >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.refusals("garbage").await >= 2,
        "{}",
        server.metrics().await
    );
    // The listener still takes callers.
    let id = format!("publish:live/after?token={TOKEN}");
    assert!(call(server.srt, Some(&id), None).await.is_ok());
    server.other_stream_served().await;
}

/// Ingest that needs [`TOKEN`], with a short grace period so that a stream ends (its
/// playlist gets `EXT-X-ENDLIST`) soon after its encoder leaves.
fn ending_soon() -> IngestConfig {
    IngestConfig {
        grace: Duration::from_secs(1),
        ..with_token()
    }
}

/// ffmpeg's arguments for `secs` of test pattern and tone, video in `codec` (keyframe every
/// second, B-frames with x264) and AAC, as MPEG-TS to `output`.
fn encoder_args(secs: u32, codec: &str, output: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        &secs.to_string(),
        "-c:v",
        codec,
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "30",
        "-b:v",
        "300k",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if codec == "libx265" {
        args.extend(["-x265-params".into(), "log-level=error".into()]);
    } else {
        args.extend(["-bf".into(), "2".into()]);
    }
    args.extend(["-c:a", "aac", "-b:a", "64k", "-f", "mpegts", output].map(str::to_owned));
    args
}

/// The frames per stream type (`video`, `audio`) and the codecs ffprobe reads at `input`.
async fn probe(input: &str) -> Vec<(String, String, u64)> {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("ffprobe")
            // A live playlist's default is three segments from the end: from the first.
            .args(["-v", "error", "-live_start_index", "0", "-count_frames"])
            .args([
                "-show_entries",
                "stream=codec_type,codec_name,nb_read_frames",
            ])
            .args(["-of", "csv=p=0"])
            .arg(input)
            .output(),
    )
    .await
    .expect("ffprobe ends")
    .unwrap();
    assert!(
        out.status.success(),
        "{input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut streams: Vec<(String, String, u64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((
                f.get(1)?.to_string(),
                f.first()?.to_string(),
                f.get(2)?.parse().ok()?,
            ))
        })
        .collect();
    streams.sort();
    streams
}

/// What ffmpeg sends for `codec`: the same encode written to a file, probed.
async fn reference(codec: &str, secs: u32) -> Vec<(String, String, u64)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reference.ts");
    let status = tokio::process::Command::new("ffmpeg")
        .args(encoder_args(secs, codec, path.to_str().unwrap()))
        .status()
        .await
        .unwrap();
    assert!(status.success());
    probe(path.to_str().unwrap()).await
}

/// Publishes `secs` of `codec` to `srt_url` in real time; ffmpeg's stderr if it failed.
async fn ffmpeg_publish(codec: &str, secs: u32, srt_url: &str) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.arg("-re")
        .args(encoder_args(secs, codec, srt_url))
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30 + u64::from(secs)), cmd.output())
        .await
        .expect("ffmpeg ends")
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Waits (bounded) for `stream`'s playlist to end, then probes it over HLS.
async fn served(server: &Server, stream: &str) -> Vec<(String, String, u64)> {
    let mut ended = false;
    for _ in 0..150 {
        let text = origin::get(server.http, &format!("/{stream}/index.m3u8"), &[])
            .await
            .text();
        if text.contains("#EXT-X-ENDLIST") {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended, "{stream} did not end after its grace period");
    probe(&format!("http://{}/{stream}/index.m3u8", server.http)).await
}

fn srt_url(addr: SocketAddr, stream_id: &str) -> String {
    // ffmpeg's latency is in microseconds.
    format!("srt://{addr}?streamid={stream_id}&latency=200000")
}

/// [`srt_url`] for a whole stream: libsrt in live mode closes at once (`SRTO_LINGER` 0),
/// and the last 100 to 300 ms ffmpeg handed it were missing from the origin in about half
/// the runs without loss too; `linger` makes it wait until they are acknowledged.
fn srt_url_whole(addr: SocketAddr, stream_id: &str) -> String {
    format!("{}&linger=2", srt_url(addr, stream_id))
}

#[tokio::test]
async fn ffmpeg_publishes_h264_and_hevc_with_every_frame_served() {
    if !common::have_ffmpeg() {
        eprintln!("ffmpeg not found; skipped");
        return;
    }
    let server = server_with(quick(), ending_soon()).await;
    for (codec, name, stream, stream_id) in [
        (
            "libx264",
            "h264",
            "live/avc",
            format!("publish:live/avc?token={TOKEN}"),
        ),
        (
            "libx265",
            "hevc",
            "live/hevc",
            format!("#!::r=live/hevc,m=publish,token={TOKEN}"),
        ),
    ] {
        ffmpeg_publish(codec, 4, &srt_url_whole(server.srt, &stream_id))
            .await
            .unwrap_or_else(|e| panic!("{codec}: {e}"));
        let sent = reference(codec, 4).await;
        let got = served(&server, stream).await;
        assert_eq!(got, sent, "{codec}: every frame ffmpeg sent, and no other");
        assert!(got.iter().any(|s| s.1 == name), "{got:?}");
    }
    for reason in ["media", "stalled", "rate", "handshake"] {
        assert_eq!(server.refusals(reason).await, 0, "{reason}");
    }
    assert!(server.metric("playlists_srt_received_bytes_total").await > 100_000);
    server.other_stream_served().await;
}

#[tokio::test]
async fn ffmpeg_is_told_why_it_is_refused() {
    if !common::have_ffmpeg() {
        eprintln!("ffmpeg not found; skipped");
        return;
    }
    let config = SrtConfig {
        passphrase: Some(Passphrase::new(PASSPHRASE).unwrap()),
        ..quick()
    };
    let server = server_with(config, with_token()).await;
    let with_pass = |id: &str, pass: &str| {
        format!(
            "{}&passphrase={}&pbkeylen=16",
            srt_url(server.srt, id),
            pass.replace(' ', "%20")
        )
    };
    let cases = [
        (
            with_pass("publish:live/x?token=wrong", PASSPHRASE),
            "unauthorized",
        ),
        (with_pass("#!::r=live/x,m=request", PASSPHRASE), "play"),
        (
            with_pass(
                &format!("publish:live/x?token={TOKEN}"),
                "the wrong passphrase",
            ),
            "passphrase",
        ),
        (
            srt_url(server.srt, &format!("publish:live/x?token={TOKEN}")),
            "passphrase",
        ),
    ];
    for (url, reason) in &cases {
        let before = server.refusals(reason).await;
        let err = ffmpeg_publish("libx264", 1, url)
            .await
            .expect_err("refused");
        assert!(err.contains("srt://"), "{url}: {err}");
        server.wait_refusals(reason, before + 1).await;
    }
    server.other_stream_served().await;
}

/// Datagrams a [`relay`] forwarded and dropped, each way.
#[derive(Debug, Default)]
struct RelayCounts {
    forwarded: [std::sync::atomic::AtomicU64; 2],
    dropped: [std::sync::atomic::AtomicU64; 2],
}

/// A UDP relay on loopback between one caller and `server` that drops `per_mille` of the
/// datagrams in each direction, chosen by a generator seeded with `seed` (the same drops at
/// every run). Returns the address callers call and the counts.
async fn relay(server: SocketAddr, per_mille: u64, seed: u64) -> (SocketAddr, Arc<RelayCounts>) {
    use std::sync::atomic::Ordering::Relaxed;
    let front = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    back.connect(server).await.unwrap();
    let addr = front.local_addr().unwrap();
    let counts = Arc::new(RelayCounts::default());
    let task_counts = Arc::clone(&counts);
    tokio::spawn(async move {
        // xorshift64*: a few lines for a reproducible drop pattern, no dependency.
        let mut state = seed.max(1);
        let mut drop_next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d) % 1000 < per_mille
        };
        let mut caller = None;
        let (mut up, mut down) = (vec![0u8; 2048], vec![0u8; 2048]);
        loop {
            let (way, n) = tokio::select! {
                r = front.recv_from(&mut up) => {
                    let Ok((n, from)) = r else { return };
                    caller = Some(from);
                    (0, n)
                }
                r = back.recv(&mut down) => {
                    let Ok(n) = r else { return };
                    (1, n)
                }
            };
            if drop_next() {
                task_counts.dropped[way].fetch_add(1, Relaxed);
                continue;
            }
            task_counts.forwarded[way].fetch_add(1, Relaxed);
            let _ = match (way, caller) {
                (0, _) => back.send(&up[..n]).await,
                (_, Some(to)) => front.send_to(&down[..n], to).await,
                (_, None) => Ok(0),
            };
        }
    });
    (addr, counts)
}

/// 5 % of the datagrams lost each way, 200 ms of SRT latency: SRT's retransmissions recover
/// every loss, and every frame ffmpeg sent is served.
#[tokio::test]
async fn every_frame_arrives_through_five_percent_loss() {
    if !common::have_ffmpeg() {
        eprintln!("ffmpeg not found; skipped");
        return;
    }
    use std::sync::atomic::Ordering::Relaxed;
    let server = server_with(quick(), ending_soon()).await;
    let (addr, counts) = relay(server.srt, 50, 0x5e7_1055).await;
    let id = format!("publish:live/lossy?token={TOKEN}");
    ffmpeg_publish("libx264", 6, &srt_url_whole(addr, &id))
        .await
        .expect("ffmpeg publishes through the loss");
    let figures = format!(
        "caller to server: {} forwarded, {} dropped; back: {} forwarded, {} dropped",
        counts.forwarded[0].load(Relaxed),
        counts.dropped[0].load(Relaxed),
        counts.forwarded[1].load(Relaxed),
        counts.dropped[1].load(Relaxed),
    );
    let figures = format!(
        "{figures}; SRT: {} packets retransmitted, {} discarded",
        server
            .metric("playlists_srt_packets_retransmitted_total")
            .await,
        server.metric("playlists_srt_packets_dropped_total").await,
    );
    eprintln!("{figures}");
    assert!(counts.dropped[0].load(Relaxed) >= 10, "{figures}");
    assert!(counts.dropped[1].load(Relaxed) >= 1, "{figures}");
    let sent = reference("libx264", 6).await;
    let got = served(&server, "live/lossy").await;
    assert_eq!(got, sent, "every frame through the loss ({figures})");
    assert_eq!(server.refusals("media").await, 0);
    server.other_stream_served().await;
}

/// Seven MPEG-TS null packets (PID 0x1FFF): one SRT payload of valid TS that carries nothing.
fn null_packets() -> Bytes {
    let mut ts = Vec::with_capacity(7 * 188);
    for _ in 0..7 {
        ts.extend_from_slice(&[0x47, 0x1f, 0xff, 0x10]);
        ts.extend_from_slice(&[0xff; 184]);
    }
    Bytes::from(ts)
}

/// Sends `payload`, then lets a millisecond pass: sent back to back without yielding, the
/// payloads of srt-tokio's caller never reached the server here (none was counted), a
/// millisecond apart they do.
async fn send(socket: &mut SrtSocket, payload: Bytes) -> std::io::Result<()> {
    socket.send((std::time::Instant::now(), payload)).await?;
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}

/// Waits (bounded) until nothing publishes over SRT.
async fn none_publishing(server: &Server) {
    for _ in 0..200 {
        if server.stats.publishing() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("still publishing:\n{}", server.metrics().await);
}

#[tokio::test]
async fn a_caller_that_stops_sending_media_is_cut_off_after_the_stall_limit() {
    let ingest = IngestConfig {
        stall_after: Duration::from_secs(1),
        ..with_token()
    };
    let server = server_with(quick(), ingest).await;
    let id = format!("publish:live/stall?token={TOKEN}");
    let mut socket = call(server.srt, Some(&id), None).await.expect("admitted");
    send(&mut socket, null_packets()).await.unwrap();
    // SRT's keep-alives go on; media does not.
    server.wait_refusals("stalled", 1).await;
    none_publishing(&server).await;
    assert_eq!(server.refusals("handshake").await, 0);
    server.other_stream_served().await;
}

#[tokio::test]
async fn a_caller_over_the_rate_cap_is_cut_off() {
    let config = SrtConfig {
        // 10 kB/s, bursts of 20 kB.
        max_bitrate: 80_000,
        ..quick()
    };
    let server = server_with(config, with_token()).await;
    let id = format!("publish:live/flood?token={TOKEN}");
    let mut socket = call(server.srt, Some(&id), None).await.expect("admitted");
    // 130 kB at once; the sends stop mattering once the server has cut the caller off.
    for _ in 0..100 {
        if send(&mut socket, null_packets()).await.is_err() {
            break;
        }
    }
    server.wait_refusals("rate", 1).await;
    none_publishing(&server).await;
    server.other_stream_served().await;
}

#[tokio::test]
async fn a_caller_that_sends_no_mpeg_ts_is_cut_off() {
    let server = server().await;
    let id = format!("publish:live/noise?token={TOKEN}");
    let mut socket = call(server.srt, Some(&id), None).await.expect("admitted");
    // Over a MiB without a sync byte.
    for _ in 0..900 {
        if send(&mut socket, Bytes::from(vec![0u8; 1316]))
            .await
            .is_err()
        {
            break;
        }
    }
    server.wait_refusals("media", 1).await;
    none_publishing(&server).await;
    server.other_stream_served().await;
}

/// srt-protocol 0.4.4 panics on some control packets a peer can send on an open connection
/// (congestion warning and peer error are `todo!()`). The panic ends that connection's task
/// only: the caller is gone, its stream enters its grace period, and other callers publish.
#[tokio::test]
async fn a_control_packet_that_panics_srt_tokio_ends_that_connection_only() {
    let server = server().await;
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let raw = udp.try_clone().unwrap();
    let id = format!("publish:live/hostile?token={TOKEN}");
    let mut socket = SrtSocket::builder()
        .socket(tokio::net::UdpSocket::from_std(udp).unwrap())
        .call(server.srt, Some(&id))
        .await
        .expect("admitted");
    send(&mut socket, null_packets()).await.unwrap();
    for _ in 0..100 {
        if server.stats.publishing() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.stats.publishing(), 1);
    // A congestion warning (control type 4) to the server's socket, from the caller's port.
    let dest = socket.settings().remote_sockid.0;
    let mut packet = vec![0x80, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    packet.extend_from_slice(&dest.to_be_bytes());
    raw.send_to(&packet, server.srt).unwrap();
    none_publishing(&server).await;
    drop(socket);
    // The listener still takes callers, and media flows for them.
    let id = format!("publish:live/after?token={TOKEN}");
    let mut next = call(server.srt, Some(&id), None).await.expect("admitted");
    send(&mut next, null_packets()).await.unwrap();
    server.other_stream_served().await;
}

/// Thousands of datagrams from a seeded generator, many with an SRT header (data and every
/// control type, handshakes among them, the server's socket ids guessed): the listener
/// keeps taking callers and the published stream keeps flowing.
#[tokio::test]
async fn random_datagrams_do_not_stop_the_listener() {
    let server = server().await;
    let id = format!("publish:live/steady?token={TOKEN}");
    let mut steady = call(server.srt, Some(&id), None).await.expect("admitted");
    let target = steady.settings().remote_sockid.0;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..3000u32 {
        let len = (next() % 200) as usize;
        let mut datagram: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len >= 16 && i % 2 == 0 {
            // A control packet of a type 0..=8 (or the extension type), or a data packet.
            let kind = (next() % 10) as u16;
            let word = if kind == 9 { 0xffff } else { 0x8000 | kind };
            datagram[..2].copy_from_slice(&word.to_be_bytes());
            let dest = if i % 4 == 0 { target } else { 0 };
            datagram[12..16].copy_from_slice(&dest.to_be_bytes());
        }
        let _ = udp.send_to(&datagram, server.srt).await;
        if i % 100 == 0 {
            send(&mut steady, null_packets()).await.unwrap();
        }
    }
    let id = format!("publish:live/later?token={TOKEN}");
    let _later = call(server.srt, Some(&id), None).await.expect("admitted");
    for _ in 0..100 {
        if server.stats.publishing() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.stats.publishing(),
        2,
        "the steady caller publishes still"
    );
    server.other_stream_served().await;
}

/// A wrong credential is answered late once an address keeps failing, as for every network
/// source: the fourth refusal in a row comes a quarter of a second late, each next one twice
/// as late.
#[tokio::test]
async fn an_address_that_keeps_failing_is_answered_late() {
    let server = server().await;
    let mut took = Vec::new();
    for _ in 0..6 {
        let started = std::time::Instant::now();
        let code = rejected(server.srt, Some("publish:live/guess?token=nope"), None).await;
        assert_eq!(code, 2401);
        took.push(started.elapsed());
    }
    assert!(
        took[..3].iter().all(|t| *t < Duration::from_millis(200)),
        "{took:?}"
    );
    for (i, at_least_ms) in [(3, 250), (4, 500), (5, 1000)] {
        assert!(took[i] >= Duration::from_millis(at_least_ms), "{took:?}");
    }
    server.wait_refusals("unauthorized", 6).await;
    assert_eq!(
        server.metric("playlists_ingest_auth_failures_total").await,
        6
    );
}

/// An encoder that reconnects within the grace period continues its stream, as over every
/// source: both publications are served, every frame of each.
#[tokio::test]
async fn a_reconnect_within_the_grace_period_continues_the_stream() {
    if !common::have_ffmpeg() {
        eprintln!("ffmpeg not found; skipped");
        return;
    }
    let ingest = IngestConfig {
        grace: Duration::from_secs(3),
        ..with_token()
    };
    let server = server_with(quick(), ingest).await;
    let id = format!("publish:live/again?token={TOKEN}");
    for _ in 0..2 {
        ffmpeg_publish("libx264", 2, &srt_url_whole(server.srt, &id))
            .await
            .unwrap();
        let text = origin::get(server.http, "/live/again/index.m3u8", &[])
            .await
            .text();
        assert!(!text.contains("#EXT-X-ENDLIST"), "ended early:\n{text}");
    }
    let once = reference("libx264", 2).await;
    let twice: Vec<_> = once
        .iter()
        .map(|(k, c, n)| (k.clone(), c.clone(), 2 * n))
        .collect();
    assert_eq!(served(&server, "live/again").await, twice);
    server.other_stream_served().await;
}

//! What the SRT integration tests share: an origin with HTTP delivery and an SRT listener on
//! ephemeral loopback ports, callers from `srt-tokio` that read reject codes exactly, and
//! ffmpeg (libsrt) publishing and ffprobe reading back.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use playlists::Playlists;
use playlists_server::http::{serve, AppState, HttpOptions};
use playlists_server::ingest::sources::srt::{SrtConfig, SrtListener, SrtStats};
use playlists_server::ingest::{Credentials, IngestConfig, Ingests};
use playlists_server::part_store::PartStore;
use playlists_server::shutdown::Shutdown;
use srt_protocol::protocol::pending_connection::ConnectionReject;
use srt_tokio::SrtSocket;
use tokio::sync::oneshot;

pub const TOKEN: &str = "s3cret-token";
pub const PASSPHRASE: &str = "a passphrase of 27 letters";

/// A stream that is not SRT's, published before every test: it must stay served whatever
/// an SRT caller does.
pub const OTHER: &str = "other";

/// An origin with HTTP delivery and an SRT listener, both on ephemeral loopback ports.
pub struct Server {
    pub http: SocketAddr,
    pub srt: SocketAddr,
    pub playlists: Arc<Playlists>,
    pub stats: Arc<SrtStats>,
    pub shutdown: Shutdown,
    _stop_http: oneshot::Sender<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.begin();
    }
}

pub async fn server_with(srt: SrtConfig, ingest: IngestConfig) -> Server {
    let playlists = Arc::new(Playlists::new(crate::origin::options()).unwrap());
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
    crate::origin::publish(&playlists, OTHER, 0, 6);
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
pub async fn server() -> Server {
    server_with(quick(), with_token()).await
}

pub fn quick() -> SrtConfig {
    SrtConfig {
        handshake_timeout: Duration::from_secs(2),
        ..SrtConfig::default()
    }
}

pub fn with_token() -> IngestConfig {
    IngestConfig {
        credentials: Credentials {
            token: Some(TOKEN.into()),
            ..Credentials::default()
        },
        ..IngestConfig::default()
    }
}

impl Server {
    pub async fn metrics(&self) -> String {
        crate::origin::get(self.http, "/metrics", &[]).await.text()
    }

    /// The value of `series` (with its labels) in `/metrics`.
    pub async fn metric(&self, series: &str) -> u64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }

    pub async fn refusals(&self, reason: &str) -> u64 {
        self.metric(&format!(
            "playlists_srt_refusals_total{{reason=\"{reason}\"}}"
        ))
        .await
    }

    /// Waits (bounded) until the refusal count of `reason` is `n`.
    pub async fn wait_refusals(&self, reason: &str, n: u64) {
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
    pub async fn other_stream_served(&self) {
        let resp = crate::origin::get(self.http, &format!("/{OTHER}/index.m3u8"), &[]).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert!(resp.text().contains("#EXT-X-PART:"), "{}", resp.text());
        assert!(self.playlists.stream(OTHER).is_some());
    }
}

/// Calls the server with `stream_id` (and a passphrase); the connected socket, or the
/// reject code on the wire (libsrt's code + 1000).
pub async fn call(
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

pub async fn rejected(addr: SocketAddr, stream_id: Option<&str>, passphrase: Option<&str>) -> i32 {
    match call(addr, stream_id, passphrase).await {
        Ok(_) => panic!("{stream_id:?} accepted"),
        Err(code) => code,
    }
}

/// Ingest that needs [`TOKEN`], with a short grace period so that a stream ends (its
/// playlist gets `EXT-X-ENDLIST`) soon after its encoder leaves.
pub fn ending_soon() -> IngestConfig {
    IngestConfig {
        grace: Duration::from_secs(1),
        ..with_token()
    }
}

/// ffmpeg's arguments for `secs` of test pattern and tone, video in `codec` (keyframe every
/// second, B-frames with x264) and AAC, as MPEG-TS to `output`.
pub fn encoder_args(secs: u32, codec: &str, output: &str) -> Vec<String> {
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
pub async fn probe(input: &str) -> Vec<(String, String, u64)> {
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
pub async fn reference(codec: &str, secs: u32) -> Vec<(String, String, u64)> {
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
pub async fn ffmpeg_publish(codec: &str, secs: u32, srt_url: &str) -> Result<(), String> {
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
pub async fn served(server: &Server, stream: &str) -> Vec<(String, String, u64)> {
    let mut ended = false;
    for _ in 0..150 {
        let text = crate::origin::get(server.http, &format!("/{stream}/index.m3u8"), &[])
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

pub fn srt_url(addr: SocketAddr, stream_id: &str) -> String {
    // ffmpeg's latency is in microseconds.
    format!("srt://{addr}?streamid={stream_id}&latency=200000")
}

/// [`srt_url`] for a whole stream: libsrt in live mode closes at once (`SRTO_LINGER` 0),
/// and the last 100 to 300 ms ffmpeg handed it were missing from the origin in about half
/// the runs without loss too; `linger` makes it wait until they are acknowledged.
pub fn srt_url_whole(addr: SocketAddr, stream_id: &str) -> String {
    format!("{}&linger=2", srt_url(addr, stream_id))
}

/// Seven MPEG-TS null packets (PID 0x1FFF): one SRT payload of valid TS that carries nothing.
pub fn null_packets() -> Bytes {
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
pub async fn send(socket: &mut SrtSocket, payload: Bytes) -> std::io::Result<()> {
    socket.send((std::time::Instant::now(), payload)).await?;
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}

/// Waits (bounded) until nothing publishes over SRT.
pub async fn none_publishing(server: &Server) {
    for _ in 0..200 {
        if server.stats.publishing() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("still publishing:\n{}", server.metrics().await);
}

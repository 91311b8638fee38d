//! Shared helpers of the HTTP integration tests: a server on `127.0.0.1:0`, synthetic parts,
//! and a minimal HTTP/1.1 client on hyper's own connection type.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use playlists::{Init, Options, Part, PartPosition, PartTiming, Playlists};
use playlists_server::http::{serve, AppState, HttpOptions};
use playlists_server::ingest::{IngestConfig, Ingests};
use playlists_server::part_store::{ArenaOptions, PartStore};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// TD 1 s, PART-TARGET 200 ms, segments of five parts (1 s): quick to fill, small numbers.
pub fn options() -> Options {
    Options {
        num_playlists: 4,
        max_segments: 12,
        max_parts_per_segment: 16,
        segment_min_ms: 1000,
        target_duration: playlists::TargetDuration::Fixed(1),
        part_target_ms: 200,
        playlist_versions: 64,
        // Numbered from 0, so that tests name positions (docs/conformance.md R34).
        numbering: playlists::Numbering::FromZero,
        dvr_window_ms: None,
    }
}

/// The ingest layer's settings and the part store a [`TestServer`] is built with, as the
/// binary builds them beside delivery.
pub struct Layers {
    pub ingest: IngestConfig,
    pub parts: PartStore,
}

impl Default for Layers {
    /// The binary's defaults: parts in a shared-memory arena (on the heap where there is none).
    fn default() -> Self {
        Self {
            ingest: IngestConfig::default(),
            parts: PartStore::new(Some(ArenaOptions::default())),
        }
    }
}

/// A running origin.
pub struct TestServer {
    pub addr: SocketAddr,
    pub playlists: Arc<Playlists>,
    pub ingests: Arc<Ingests>,
    pub state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(options(), HttpOptions::default()).await
    }

    pub async fn with(opts: Options, http: HttpOptions) -> Self {
        Self::with_layers(opts, http, Layers::default()).await
    }

    /// A server whose ingest layer and part store are `layers`.
    pub async fn with_layers(opts: Options, http: HttpOptions, layers: Layers) -> Self {
        let mut playlists = Playlists::new(opts).unwrap();
        if let Some(key) = &http.playback {
            // As the binary: signed playback writes shared tokens into media playlists.
            let tokens = playlists_server::playback::SharedTokens::new(key.clone());
            playlists = playlists.with_uri_query(Arc::new(tokens));
        }
        let playlists = Arc::new(playlists);
        let ingests = Ingests::new(Arc::clone(&playlists), layers.parts.clone(), layers.ingest);
        let state = Arc::new(
            AppState::new(Arc::clone(&playlists), http)
                .with_parts(layers.parts)
                .with_ingest(Arc::clone(&ingests)),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, Arc::clone(&state), async {
            let _ = rx.await;
        }));
        Self {
            addr,
            playlists,
            ingests,
            state,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Starts the shutdown and returns the server task, to await when the test wants.
    pub fn begin_shutdown(&mut self) -> JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().expect("shut down once")
    }

    pub async fn stop(mut self) {
        let task = self.begin_shutdown();
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("server stops")
            .unwrap()
            .unwrap();
    }

    /// Publishes parts `from..from + count` of `stream`, stored the way ingest stores them
    /// (in the zero-copy part arena unless the test turned it off), so responses take the
    /// same path as in production.
    pub fn publish(&self, stream: &str, from: u64, count: u64) -> PartPosition {
        let mut last = None;
        for i in from..from + count {
            let mut p = part(stream, i);
            p.bytes = self.state.parts.store(&p.bytes);
            last = Some(self.playlists.add(stream, p).unwrap());
        }
        last.expect("count > 0")
    }

    pub async fn get(&self, path: &str) -> Resp {
        get(self.addr, path, &[]).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        get(self.addr, path, headers).await
    }
}

/// The bytes of part `i` of `stream`: recognisable, ~1 KB.
pub fn part_bytes(stream: &str, i: u64) -> Bytes {
    let tag = format!("[{stream}:{i}]");
    Bytes::from(tag.repeat(1000 / tag.len() + 1))
}

pub fn init_bytes(stream: &str) -> Bytes {
    Bytes::from(format!("ftyp+moov of {stream}"))
}

/// Part `i`: 200 ms, a keyframe every fifth part, so segments are five parts (1 s).
pub fn part(stream: &str, i: u64) -> Part {
    Part {
        bytes: part_bytes(stream, i),
        init: Some(Init {
            bytes: init_bytes(stream),
            codecs: "avc1.64001f".to_owned(),
            resolution: Some((640, 360)),
            frame_rate: Some(30.0),
            video: true,
            audio: None,
        }),
        timing: PartTiming {
            duration: 200,
            timescale: 1000,
            decode_time: i * 200,
            independent: i % 5 == 0,
            wallclock_ms: Some(1_700_000_000_000),
        },
    }
}

pub fn publish(playlists: &Playlists, stream: &str, from: u64, count: u64) -> PartPosition {
    let mut last = None;
    for i in from..from + count {
        last = Some(playlists.add(stream, part(stream, i)).unwrap());
    }
    last.expect("count > 0")
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One GET on a fresh HTTP/1.1 connection.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    request(addr, "GET", path, headers).await
}

pub async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// Awaits `fut` for at most 10 s (a test never hangs).
pub async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("answered within 10 s")
}

/// Lets spawned requests reach the server and park.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(150)).await;
}

/// The `#EXT-X-PRELOAD-HINT` URIs of a playlist.
pub fn hints(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:"))
        .filter_map(|a| {
            a.split("URI=\"")
                .nth(1)?
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .collect()
}

/// The number (`p{n}.mp4`) of the part at `(msn, part)` of a stream [`publish`]ed by this
/// module: its segments are five parts each.
pub fn part_number(msn: u64, part: u32) -> u64 {
    msn * 5 + u64::from(part)
}

/// Whether the playlist lists the part at `(msn, part)` (see [`part_number`]).
pub fn lists_part(playlist: &str, msn: u64, part: u32) -> bool {
    playlist.contains(&format!(
        "#EXT-X-PART:DURATION=0.20000,URI=\"p{}.mp4\"",
        part_number(msn, part)
    ))
}

/// Decodes a gzip body.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

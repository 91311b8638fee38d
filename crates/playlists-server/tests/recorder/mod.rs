//! The `playlists` binary recording what ffmpeg encodes, and what the recording tests ask of
//! it: its listing, its files, ffprobe's reading of a recording.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::Value;

use crate::{common, origin, spawned};

/// A running `playlists` binary and every line it logged.
pub struct Origin {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: spawned::Log,
}

impl Origin {
    /// Starts the binary with `args`, its stdin from `stdin`.
    pub fn start(args: &[&str], stdin: Stdio) -> Self {
        Self::start_with_env(args, stdin, &[])
    }

    /// Starts the binary with `args`, its stdin from `stdin` and `env` set.
    pub fn start_with_env(args: &[&str], stdin: Stdio, env: &[(&str, &str)]) -> Self {
        let args: Vec<&str> = ["--listen", "127.0.0.1:0", "--ingest-grace-secs", "1"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        let (child, addr, log) = spawned::start_logged(&args, stdin, "info", env);
        Self { child, addr, log }
    }

    /// The binary recording into `record_dir` (with `extra` flags) what ffmpeg encodes of
    /// `secs` seconds, as the stream `cam` from its stdin; and the encoder.
    pub fn ingesting(record_dir: &str, secs: u32, realtime: bool, extra: &[&str]) -> (Self, Child) {
        Self::ingesting_env(record_dir, secs, realtime, extra, &[])
    }

    /// As [`Origin::ingesting`], with `env` set.
    pub fn ingesting_env(
        record_dir: &str,
        secs: u32,
        realtime: bool,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> (Self, Child) {
        let mut ffmpeg = encoder(secs, realtime);
        let stdin = Stdio::from(ffmpeg.stdout.take().unwrap());
        let mut args = vec!["--record-dir", record_dir];
        args.extend_from_slice(extra);
        args.extend(["ingest", "--stream", "cam"]);
        (Self::start_with_env(&args, stdin, env), ffmpeg)
    }

    /// Polls the listing until the newest recording is in `state` (at most 30 s).
    pub async fn wait_state(&self, state: &str) -> Vec<Value> {
        self.wait_for(Duration::from_secs(30), |l| {
            l.first().is_some_and(|r| r["state"] == state)
        })
        .await
    }

    pub fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    pub async fn get(&self, path: &str) -> origin::Resp {
        origin::get(self.addr, path, &[]).await
    }

    /// The recordings listing.
    pub async fn recordings(&self) -> Vec<Value> {
        let resp = self.get("/recordings").await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
        let listing: Value = serde_json::from_slice(&resp.body).unwrap();
        listing["recordings"].as_array().unwrap().clone()
    }

    /// Polls the listing until `done` holds for it (at most `within`).
    pub async fn wait_for(&self, within: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let list = self.recordings().await;
            if done(&list) {
                return list;
            }
            assert!(Instant::now() < deadline, "recordings now: {list:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ffmpeg encoding `secs` of the common test pattern (30 fps, 1 s GOP) as fMP4 on stdout,
/// in real time when `realtime`.
pub fn encoder(secs: u32, realtime: bool) -> Child {
    assert!(common::have_ffmpeg(), "these tests need ffmpeg on PATH");
    let mut args = common::live_encoder_args(secs, false);
    if realtime {
        args.insert(0, "-re".to_owned());
    }
    Command::new("ffmpeg")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Packets of each kind (`video`, `audio`) ffprobe reads from `url`, start to end.
pub fn probe_packets(url: &str) -> (usize, usize) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=codec_type",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    (
        text.lines().filter(|l| l.starts_with("video")).count(),
        text.lines().filter(|l| l.starts_with("audio")).count(),
    )
}

pub fn segments_of(playlist: &str) -> Vec<&str> {
    playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
}

/// One PUT of `body`, answered with its status.
pub async fn put(addr: SocketAddr, path: &str, body: Vec<u8>) -> StatusCode {
    use http_body_util::Full;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::put(path)
        .header("host", addr.to_string())
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap();
    sender.send_request(req).await.unwrap().status()
}

pub fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

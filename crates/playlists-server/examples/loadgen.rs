//! A player-load simulator: N LL-HLS players against one stream of a running origin.
//!
//! Each simulated player behaves like hls.js in low-latency mode at the live edge:
//!
//! 1. it loads the playlist once without directives and reads the preload hint;
//! 2. then, per part, it asks for the hinted part (`p{msn}.{part}.mp4`, held by the origin until
//!    the part exists, rule 22) and, on a second connection, for the playlist version that
//!    lists it (`_HLS_msn=M&_HLS_part=P`, held until then, rule 10); every tenth reload asks
//!    for a delta update (`_HLS_skip=YES`) instead;
//! 3. it checks what it got: the answer lists the requested part, MEDIA-SEQUENCE never goes
//!    back, and the next hint follows the previous one (no part lost, none served twice).
//!
//! It prints one JSON object per line: a progress line every `--report-secs`, and a summary at
//! the end. `fanout_*` is how long after the *first* player a player got the same part, which
//! is the origin's wake-to-response spread across its waiters; `rss_bytes` is the origin's
//! resident memory when `--server-pid` is given (read from procfs).
//!
//! ```sh
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8080/demo/index.m3u8 \
//!     --players 500 --secs 1800
//! ```
//!
//! The playlist reading here is a few string searches on our own output, not a parser: it only
//! needs the hint, the media sequence and whether the stream ended.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(about = "Simulates N LL-HLS players against a Playlists origin")]
struct Args {
    /// The media playlist to play, e.g. http://127.0.0.1:8080/demo/index.m3u8 (loopback only).
    #[arg(long)]
    url: String,
    /// Simulated players.
    #[arg(long, default_value_t = 100)]
    players: usize,
    /// How long to run.
    #[arg(long, default_value_t = 30)]
    secs: u64,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 10)]
    report_secs: u64,
    /// The origin's process id, to report its RSS.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// Where a player is: the (msn, part) it asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Position {
    msn: u64,
    part: u32,
}

#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    errors: AtomicU64,
    /// A hint that did not follow the previous one by exactly one part.
    gaps: AtomicU64,
    /// A hint equal to or before the previous one.
    duplicates: AtomicU64,
    msn_regressions: AtomicU64,
    parts: AtomicU64,
    part_bytes: AtomicU64,
    /// First arrival per part, for the fan-out spread; pruned as the stream moves on.
    first_arrival: Mutex<HashMap<Position, Instant>>,
    fanout_us: Mutex<Vec<u64>>,
    playlist_us: Mutex<Vec<u64>>,
    last_error: Mutex<Option<String>>,
}

impl Stats {
    fn error(&self, e: &anyhow::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_error) = Some(format!("{e:#}"));
    }

    fn arrived(&self, pos: Position, at: Instant) {
        let first = {
            let mut map = lock(&self.first_arrival);
            if map.len() > 4096 {
                let newest = map.keys().max().copied();
                if let Some(newest) = newest {
                    map.retain(|p, _| p.msn + 8 >= newest.msn);
                }
            }
            *map.entry(pos).or_insert(at)
        };
        lock(&self.fanout_us).push(at.duration_since(first).as_micros() as u64);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One HTTP/1.1 connection kept alive across requests, as a player's fetch loop would.
struct Conn {
    authority: String,
    sender: SendRequest<Empty<Bytes>>,
}

impl Conn {
    async fn open(authority: &str) -> Result<Self> {
        let tcp = TcpStream::connect(authority)
            .await
            .with_context(|| format!("connect {authority}"))?;
        tcp.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        Ok(Self {
            authority: authority.to_owned(),
            sender,
        })
    }

    async fn get(&mut self, path: &str) -> Result<Bytes> {
        if self.sender.ready().await.is_err() {
            // The origin closed the connection (idle timeout): a player reconnects.
            *self = Self::open(&self.authority).await?;
        }
        let req = http::Request::get(path)
            .header(http::header::HOST, &self.authority)
            .body(Empty::new())?;
        let resp = tokio::time::timeout(Duration::from_secs(20), self.sender.send_request(req))
            .await
            .context("no answer within 20 s")??;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!(
                "GET {path}: {status} {}",
                String::from_utf8_lossy(&body).trim()
            );
        }
        Ok(body)
    }
}

/// What a player reads from a playlist.
#[derive(Debug)]
struct Seen {
    media_sequence: u64,
    hint: Option<Position>,
    ended: bool,
}

fn read_playlist(text: &str) -> Result<Seen> {
    let mut seen = Seen {
        media_sequence: 0,
        hint: None,
        ended: false,
    };
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            seen.media_sequence = v.trim().parse().context("MEDIA-SEQUENCE")?;
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-PRELOAD-HINT:") {
            seen.hint = Some(hint_position(attrs).context("PRELOAD-HINT URI")?);
        } else if line == "#EXT-X-ENDLIST" {
            seen.ended = true;
        }
    }
    if !text.starts_with("#EXTM3U") {
        bail!("not a playlist");
    }
    Ok(seen)
}

/// `TYPE=PART,URI="p12.3.mp4"` → (12, 3).
fn hint_position(attrs: &str) -> Option<Position> {
    let uri = attrs.split("URI=\"").nth(1)?.split('"').next()?;
    let (msn, part) = uri
        .strip_prefix('p')?
        .strip_suffix(".mp4")?
        .split_once('.')?;
    Some(Position {
        msn: msn.parse().ok()?,
        part: part.parse().ok()?,
    })
}

async fn player(authority: String, path: String, stats: Arc<Stats>, until: Instant) {
    while Instant::now() < until {
        if let Err(e) = play(&authority, &path, &stats, until).await {
            stats.error(&e);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn play(authority: &str, path: &str, stats: &Stats, until: Instant) -> Result<()> {
    let mut playlist_conn = Conn::open(authority).await?;
    let mut part_conn = Conn::open(authority).await?;
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let first = read_playlist(&String::from_utf8_lossy(&playlist_conn.get(path).await?))?;
    let mut media_sequence = first.media_sequence;
    let Some(mut hint) = first.hint else {
        bail!("the live playlist has no preload hint");
    };
    let mut reloads = 0u64;
    while Instant::now() < until {
        reloads += 1;
        let skip = if reloads % 10 == 0 {
            "&_HLS_skip=YES"
        } else {
            ""
        };
        let playlist_path = format!("{path}?_HLS_msn={}&_HLS_part={}{skip}", hint.msn, hint.part);
        let part_path = format!("{dir}/p{}.{}.mp4", hint.msn, hint.part);
        let started = Instant::now();
        let (part, playlist) =
            tokio::join!(part_conn.get(&part_path), playlist_conn.get(&playlist_path));
        stats.requests.fetch_add(2, Ordering::Relaxed);
        let part = part?;
        let arrived = Instant::now();
        stats.arrived(hint, arrived);
        stats.parts.fetch_add(1, Ordering::Relaxed);
        stats
            .part_bytes
            .fetch_add(part.len() as u64, Ordering::Relaxed);
        let seen = read_playlist(&String::from_utf8_lossy(&playlist?))?;
        lock(&stats.playlist_us).push(started.elapsed().as_micros() as u64);
        if seen.media_sequence < media_sequence {
            stats.msn_regressions.fetch_add(1, Ordering::Relaxed);
        }
        media_sequence = seen.media_sequence;
        if seen.ended {
            bail!("the stream ended");
        }
        let Some(next) = seen.hint else {
            bail!("a live playlist without a preload hint");
        };
        let follows = (next.msn == hint.msn && next.part == hint.part + 1)
            || (next.msn == hint.msn + 1 && next.part == 0);
        if next <= hint {
            stats.duplicates.fetch_add(1, Ordering::Relaxed);
        } else if !follows {
            stats.gaps.fetch_add(1, Ordering::Relaxed);
        }
        hint = next;
    }
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{}/statm", pid?)).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn report(kind: &str, args: &Args, stats: &Stats, started: Instant, drain: bool) -> String {
    let take = |m: &Mutex<Vec<u64>>| {
        let mut v = if drain {
            std::mem::take(&mut *lock(m))
        } else {
            lock(m).clone()
        };
        v.sort_unstable();
        v
    };
    let fanout = take(&stats.fanout_us);
    let playlist = take(&stats.playlist_us);
    let last_error = lock(&stats.last_error).clone().unwrap_or_default();
    format!(
        concat!(
            r#"{{"bench":"loadgen","kind":"{}","players":{},"secs":{:.1},"requests":{},"#,
            r#""errors":{},"gaps":{},"duplicates":{},"msn_regressions":{},"parts":{},"#,
            r#""part_bytes":{},"fanout_p50_ms":{:.3},"fanout_p99_ms":{:.3},"#,
            r#""blocking_p50_ms":{:.3},"blocking_p99_ms":{:.3},"rss_bytes":{},"last_error":{:?}}}"#
        ),
        kind,
        args.players,
        started.elapsed().as_secs_f64(),
        stats.requests.load(Ordering::Relaxed),
        stats.errors.load(Ordering::Relaxed),
        stats.gaps.load(Ordering::Relaxed),
        stats.duplicates.load(Ordering::Relaxed),
        stats.msn_regressions.load(Ordering::Relaxed),
        stats.parts.load(Ordering::Relaxed),
        stats.part_bytes.load(Ordering::Relaxed),
        percentile(&fanout, 0.5),
        percentile(&fanout, 0.99),
        percentile(&playlist, 0.5),
        percentile(&playlist, 0.99),
        rss_bytes(args.server_pid).map_or("null".to_owned(), |b| b.to_string()),
        last_error,
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let url: http::Uri = args.url.parse().context("--url")?;
    let authority = url
        .authority()
        .context("--url needs host:port")?
        .to_string();
    let host = url.host().unwrap_or_default();
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1") {
        bail!("loadgen talks to loopback origins only, not {host}");
    }
    let path = url.path().to_owned();
    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(args.secs);
    let players: Vec<_> = (0..args.players)
        .map(|_| {
            tokio::spawn(player(
                authority.clone(),
                path.clone(),
                Arc::clone(&stats),
                until,
            ))
        })
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs(args.report_secs.max(1)));
    tick.tick().await;
    while Instant::now() + Duration::from_secs(args.report_secs.max(1)) <= until {
        tick.tick().await;
        println!("{}", report("progress", &args, &stats, started, true));
    }
    for p in players {
        p.await?;
    }
    println!("{}", report("summary", &args, &stats, started, false));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hint_and_sequence() {
        let text =
            "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p12.3.mp4\"\n";
        let seen = read_playlist(text).unwrap();
        assert_eq!(seen.media_sequence, 7);
        assert_eq!(seen.hint, Some(Position { msn: 12, part: 3 }));
        assert!(!seen.ended);
        assert!(read_playlist("garbage").is_err());
    }
}

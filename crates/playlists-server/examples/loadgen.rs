//! A player-load simulator: N LL-HLS players against one stream of a running origin.
//!
//! Each simulated player behaves like hls.js in low-latency mode at the live edge:
//!
//! 1. it loads the playlist once without directives and reads the preload hint (`p{n}.mp4`,
//!    parts are named by their number in the stream) and the position of the next part (the
//!    open segment's media sequence number and its part count);
//! 2. then, per part, it asks for the hinted part (held by the origin until the part exists,
//!    rule 22) and, on a second connection, for the playlist version that lists it
//!    (`_HLS_msn=M&_HLS_part=P`, held until then, rule 10); every tenth reload asks for a delta
//!    update (`_HLS_skip=YES`) instead;
//! 3. it checks what it got: the answer lists the requested part, the parts it lists are
//!    numbered without a hole, MEDIA-SEQUENCE never goes back, and the next hint is the next
//!    part number (a larger step is a lost part, a smaller one a part served twice).
//!
//! An encoder that disconnects and comes back within the origin's grace period continues the
//! stream behind an EXT-X-DISCONTINUITY: the held requests are answered when the new encoder's
//! first part arrives, so a restart is no error here. The players count the discontinuities
//! they cross, and the summary says how many players were still receiving parts at the end and
//! after the last discontinuity (`players_active_at_end`, `players_past_last_discontinuity`).
//! Any failure (an error status, no answer within 20 s, a check above) counts in `errors`
//! (by kind in `error_kinds`), and the player starts over from a plain playlist load.
//!
//! It prints one JSON object per line: a progress line every `--report-secs` (counters since
//! the start, latencies over the interval), and a summary at the end (latencies over the
//! whole run). `fanout_*` is how long after the *first* player a player got the same part,
//! which is the origin's wake-to-response spread across its waiters; `blocking_*` is a
//! player's whole part + playlist round, including the wait for the part to exist;
//! `rss_bytes` is the origin's resident memory when `--server-pid` is given (read from procfs).
//!
//! ```sh
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8080/demo/index.m3u8 \
//!     --players 500 --secs 1800
//! ```
//!
//! The playlist reading here is a few string searches on our own output, not a parser: it only
//! needs the hint, the positions, the part numbers and whether the stream ended.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
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
    /// Start the players evenly over this many seconds rather than all at once.
    #[arg(long, default_value_t = 0)]
    ramp_secs: u64,
    /// A player counts as active at the end if it received a part within this many seconds.
    #[arg(long, default_value_t = 5)]
    active_secs: u64,
}

/// Why a player failed, as counted in `error_kinds`.
#[derive(Debug)]
struct Failure {
    kind: &'static str,
    error: anyhow::Error,
}

impl Failure {
    fn new(kind: &'static str, error: anyhow::Error) -> Self {
        Self { kind, error }
    }
}

type Step<T> = std::result::Result<T, Failure>;

/// Tags an error with its kind.
trait Kind<T> {
    fn kind(self, kind: &'static str) -> Step<T>;
}

impl<T> Kind<T> for Result<T> {
    fn kind(self, kind: &'static str) -> Step<T> {
        self.map_err(|e| Failure::new(kind, e))
    }
}

/// Latencies in µs, in buckets about 3 % wide: bounded memory over any run length, the
/// percentiles exact to a bucket, the maximum exact.
#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: BTreeMap<u32, u64>,
    total: u64,
    max_us: u64,
}

impl Histogram {
    /// 32 buckets per doubling above 64 µs; each µs its own bucket below.
    fn bucket(us: u64) -> u32 {
        if us < 64 {
            return us as u32;
        }
        let log = 63 - us.leading_zeros(); // ≥ 6
        let frac = ((us >> (log - 5)) & 31) as u32;
        64 + (log - 6) * 32 + frac
    }

    /// The largest value in bucket `b`.
    fn upper(b: u32) -> u64 {
        if b < 64 {
            return u64::from(b);
        }
        let log = (b - 64) / 32 + 6;
        let frac = u64::from((b - 64) % 32);
        ((32 + frac + 1) << (log - 5)) - 1
    }

    fn record(&mut self, us: u64) {
        *self.counts.entry(Self::bucket(us)).or_default() += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    /// The `p` quantile in ms (the upper end of its bucket, at most the maximum).
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((self.total as f64 * p).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, n) in &self.counts {
            seen += n;
            if seen >= rank {
                return Self::upper(*b).min(self.max_us) as f64 / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }
}

#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    errors: AtomicU64,
    /// A hint that did not follow the previous one by exactly one part.
    gaps: AtomicU64,
    /// Parts skipped by those hints.
    lost_parts: AtomicU64,
    /// A hint equal to or before the previous one.
    duplicates: AtomicU64,
    /// A playlist whose listed part numbers have a hole.
    listing_gaps: AtomicU64,
    msn_regressions: AtomicU64,
    parts: AtomicU64,
    part_bytes: AtomicU64,
    /// The highest discontinuity number (EXT-X-DISCONTINUITY-SEQUENCE plus the tags listed)
    /// any player has seen.
    discontinuities: AtomicU64,
    /// First arrival per part number, for the fan-out spread; pruned as the stream moves on.
    first_arrival: Mutex<HashMap<u64, Instant>>,
    /// (this interval, whole run).
    fanout: Mutex<(Histogram, Histogram)>,
    blocking: Mutex<(Histogram, Histogram)>,
    error_kinds: Mutex<BTreeMap<&'static str, u64>>,
    last_error: Mutex<Option<String>>,
}

impl Stats {
    fn error(&self, f: &Failure) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *lock(&self.error_kinds).entry(f.kind).or_default() += 1;
        *lock(&self.last_error) = Some(format!("{}: {:#}", f.kind, f.error));
    }

    fn arrived(&self, part: u64, at: Instant) {
        let first = {
            let mut map = lock(&self.first_arrival);
            if map.len() > 4096 {
                let newest = map.keys().max().copied().unwrap_or(part);
                map.retain(|p, _| p + 64 >= newest);
            }
            *map.entry(part).or_insert(at)
        };
        let us = at.duration_since(first).as_micros() as u64;
        let mut h = lock(&self.fanout);
        h.0.record(us);
        h.1.record(us);
    }

    fn blocking(&self, took: Duration) {
        let us = took.as_micros() as u64;
        let mut h = lock(&self.blocking);
        h.0.record(us);
        h.1.record(us);
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
    async fn open(authority: &str) -> Step<Self> {
        let tcp = TcpStream::connect(authority)
            .await
            .with_context(|| format!("connect {authority}"))
            .kind("connect")?;
        tcp.set_nodelay(true)
            .map_err(|e| Failure::new("connect", e.into()))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| Failure::new("connect", e.into()))?;
        tokio::spawn(conn);
        Ok(Self {
            authority: authority.to_owned(),
            sender,
        })
    }

    async fn get(&mut self, path: &str) -> Step<Bytes> {
        if self.sender.ready().await.is_err() {
            // The origin closed the connection (idle timeout): a player reconnects.
            *self = Self::open(&self.authority).await?;
        }
        let req = http::Request::get(path)
            .header(http::header::HOST, &self.authority)
            .body(Empty::new())
            .map_err(|e| Failure::new("request", e.into()))?;
        let resp = tokio::time::timeout(Duration::from_secs(20), self.sender.send_request(req))
            .await
            .map_err(|_| Failure::new("timeout", anyhow!("GET {path}: no answer within 20 s")))?
            .map_err(|e| Failure::new("http", anyhow!("GET {path}: {e}")))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::new("http", anyhow!("GET {path}: body: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(Failure::new(
                status_kind(status),
                anyhow!(
                    "GET {path}: {status} {}",
                    String::from_utf8_lossy(&body).trim()
                ),
            ));
        }
        Ok(body)
    }
}

fn status_kind(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "status_400",
        404 => "status_404",
        409 => "status_409",
        500 => "status_500",
        503 => "status_503",
        _ => "status_other",
    }
}

/// What a player reads from a playlist.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    media_sequence: u64,
    /// The preload hint's part number.
    hint: Option<u64>,
    /// The position the hinted part will have: (media sequence number of the open segment,
    /// parts it has so far). Asking for it blocks until the hinted part is listed.
    next: (u64, u64),
    /// Part numbers listed, in order.
    parts: Vec<u64>,
    /// EXT-X-DISCONTINUITY-SEQUENCE plus the discontinuities listed: the number of the newest.
    discontinuity: u64,
    /// A delta update (EXT-X-SKIP): discontinuities in the skipped segments are not listed.
    delta: bool,
    ended: bool,
}

fn read_playlist(text: &str) -> Result<Seen> {
    if !text.starts_with("#EXTM3U") {
        bail!("not a playlist");
    }
    let mut seen = Seen::default();
    let mut segments = 0;
    let mut open_parts = 0;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            seen.media_sequence = v.trim().parse().context("MEDIA-SEQUENCE")?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            seen.discontinuity += v.trim().parse::<u64>().context("DISCONTINUITY-SEQUENCE")?;
        } else if line == "#EXT-X-DISCONTINUITY" {
            seen.discontinuity += 1;
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-SKIP:") {
            seen.delta = true;
            segments += attr(attrs, "SKIPPED-SEGMENTS")
                .and_then(|v| v.parse::<u64>().ok())
                .context("SKIPPED-SEGMENTS")?;
        } else if line.starts_with("#EXTINF:") {
            segments += 1;
            open_parts = 0;
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-PART:") {
            seen.parts.push(part_number(attrs).context("PART URI")?);
            open_parts += 1;
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-PRELOAD-HINT:") {
            seen.hint = Some(part_number(attrs).context("PRELOAD-HINT URI")?);
        } else if line == "#EXT-X-ENDLIST" {
            seen.ended = true;
        }
    }
    seen.next = (seen.media_sequence + segments, open_parts);
    Ok(seen)
}

/// The value of attribute `name` in an attribute list (quotes removed).
fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let rest = attrs
        .split(',')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?;
    Some(rest.trim_matches('"'))
}

/// `TYPE=PART,URI="p12.mp4"` → 12.
fn part_number(attrs: &str) -> Option<u64> {
    let uri = attrs.split("URI=\"").nth(1)?.split('"').next()?;
    uri.strip_prefix('p')?.strip_suffix(".mp4")?.parse().ok()
}

/// What one player saw over the run, for the summary.
#[derive(Debug, Default, Clone, Copy)]
struct PlayerEnd {
    last_part: Option<Instant>,
    /// The highest discontinuity number seen, and parts received since it was first seen.
    discontinuity: u64,
    parts_since_discontinuity: u64,
}

async fn player(
    authority: String,
    path: String,
    stats: Arc<Stats>,
    start: Instant,
    until: Instant,
) -> PlayerEnd {
    tokio::time::sleep_until(start.into()).await;
    let mut end = PlayerEnd::default();
    while Instant::now() < until {
        if let Err(e) = play(&authority, &path, &stats, until, &mut end).await {
            stats.error(&e);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    end
}

async fn play(
    authority: &str,
    path: &str,
    stats: &Stats,
    until: Instant,
    end: &mut PlayerEnd,
) -> Step<()> {
    let mut playlist_conn = Conn::open(authority).await?;
    let mut part_conn = Conn::open(authority).await?;
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let text = playlist_conn.get(path).await?;
    let first = read_playlist(&String::from_utf8_lossy(&text)).kind("playlist")?;
    let mut media_sequence = first.media_sequence;
    let Some(mut hint) = first.hint else {
        return Err(Failure::new(
            "no_hint",
            anyhow!("the live playlist has no preload hint"),
        ));
    };
    let mut next = first.next;
    let mut reloads = 0u64;
    while Instant::now() < until {
        reloads += 1;
        let skip = if reloads % 10 == 0 {
            "&_HLS_skip=YES"
        } else {
            ""
        };
        let playlist_path = format!("{path}?_HLS_msn={}&_HLS_part={}{skip}", next.0, next.1);
        let part_path = format!("{dir}/p{hint}.mp4");
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
        if part.is_empty() {
            return Err(Failure::new("empty_part", anyhow!("{part_path} is empty")));
        }
        let seen = read_playlist(&String::from_utf8_lossy(&playlist?)).kind("playlist")?;
        stats.blocking(started.elapsed());
        end.last_part = Some(arrived);
        if seen.media_sequence < media_sequence {
            stats.msn_regressions.fetch_add(1, Ordering::Relaxed);
        }
        media_sequence = seen.media_sequence;
        if seen.parts.windows(2).any(|w| w[1] != w[0] + 1) {
            stats.listing_gaps.fetch_add(1, Ordering::Relaxed);
        }
        // Discontinuities in skipped segments are not listed in a delta update: count from
        // full playlists only.
        if !seen.delta && seen.discontinuity > end.discontinuity {
            end.discontinuity = seen.discontinuity;
            end.parts_since_discontinuity = 0;
            stats
                .discontinuities
                .fetch_max(seen.discontinuity, Ordering::Relaxed);
        }
        end.parts_since_discontinuity += 1;
        if !seen.parts.contains(&hint) {
            return Err(Failure::new(
                "unlisted",
                anyhow!("{playlist_path} does not list the requested part p{hint}.mp4"),
            ));
        }
        if seen.ended {
            return Err(Failure::new("ended", anyhow!("the stream ended")));
        }
        let Some(following) = seen.hint else {
            return Err(Failure::new(
                "no_hint",
                anyhow!("a live playlist without a preload hint"),
            ));
        };
        if following <= hint {
            stats.duplicates.fetch_add(1, Ordering::Relaxed);
        } else if following != hint + 1 {
            stats.gaps.fetch_add(1, Ordering::Relaxed);
            stats
                .lost_parts
                .fetch_add(following - hint - 1, Ordering::Relaxed);
        }
        hint = following;
        next = seen.next;
    }
    Ok(())
}

fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{}/statm", pid?)).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The players' end states, for the summary only.
#[derive(Debug, Default)]
struct Ends {
    active_at_end: usize,
    past_last_discontinuity: usize,
}

fn report(kind: &str, args: &Args, stats: &Stats, started: Instant, ends: Option<&Ends>) -> String {
    // Progress lines: the interval's latencies (then reset); the summary: the whole run's.
    let take = |m: &Mutex<(Histogram, Histogram)>| {
        let mut h = lock(m);
        if ends.is_some() {
            h.1.clone()
        } else {
            std::mem::take(&mut h.0)
        }
    };
    let fanout = take(&stats.fanout);
    let blocking = take(&stats.blocking);
    let last_error = lock(&stats.last_error).clone().unwrap_or_default();
    let kinds = lock(&stats.error_kinds)
        .iter()
        .map(|(k, n)| format!("{k:?}:{n}"))
        .collect::<Vec<_>>()
        .join(",");
    let ends = ends.map_or(String::new(), |e| {
        format!(
            r#","players_active_at_end":{},"players_past_last_discontinuity":{}"#,
            e.active_at_end, e.past_last_discontinuity
        )
    });
    format!(
        concat!(
            r#"{{"bench":"loadgen","kind":"{}","url":{:?},"players":{},"secs":{:.1},"requests":{},"#,
            r#""errors":{},"error_kinds":{{{}}},"gaps":{},"lost_parts":{},"duplicates":{},"#,
            r#""listing_gaps":{},"msn_regressions":{},"discontinuities":{},"parts":{},"#,
            r#""part_bytes":{},"fanout_p50_ms":{:.3},"fanout_p99_ms":{:.3},"fanout_max_ms":{:.3},"#,
            r#""blocking_p50_ms":{:.3},"blocking_p99_ms":{:.3},"blocking_max_ms":{:.3},"#,
            r#""rss_bytes":{}{},"last_error":{:?}}}"#
        ),
        kind,
        args.url,
        args.players,
        started.elapsed().as_secs_f64(),
        stats.requests.load(Ordering::Relaxed),
        stats.errors.load(Ordering::Relaxed),
        kinds,
        stats.gaps.load(Ordering::Relaxed),
        stats.lost_parts.load(Ordering::Relaxed),
        stats.duplicates.load(Ordering::Relaxed),
        stats.listing_gaps.load(Ordering::Relaxed),
        stats.msn_regressions.load(Ordering::Relaxed),
        stats.discontinuities.load(Ordering::Relaxed),
        stats.parts.load(Ordering::Relaxed),
        stats.part_bytes.load(Ordering::Relaxed),
        fanout.percentile_ms(0.5),
        fanout.percentile_ms(0.99),
        fanout.max_us as f64 / 1000.0,
        blocking.percentile_ms(0.5),
        blocking.percentile_ms(0.99),
        blocking.max_us as f64 / 1000.0,
        rss_bytes(args.server_pid).map_or("null".to_owned(), |b| b.to_string()),
        ends,
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
    let ramp = Duration::from_secs(args.ramp_secs);
    let players: Vec<_> = (0..args.players)
        .map(|i| {
            let start = started + ramp.mul_f64(i as f64 / args.players.max(1) as f64);
            tokio::spawn(player(
                authority.clone(),
                path.clone(),
                Arc::clone(&stats),
                start,
                until,
            ))
        })
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs(args.report_secs.max(1)));
    tick.tick().await;
    while Instant::now() + Duration::from_secs(args.report_secs.max(1)) <= until {
        tick.tick().await;
        println!("{}", report("progress", &args, &stats, started, None));
    }
    let mut player_ends = Vec::with_capacity(players.len());
    for p in players {
        player_ends.push(p.await?);
    }
    let finished = Instant::now();
    let last_discontinuity = stats.discontinuities.load(Ordering::Relaxed);
    let active = Duration::from_secs(args.active_secs);
    let ends = Ends {
        active_at_end: player_ends
            .iter()
            .filter(|e| e.last_part.is_some_and(|t| finished - t <= active))
            .count(),
        past_last_discontinuity: player_ends
            .iter()
            .filter(|e| e.discontinuity == last_discontinuity && e.parts_since_discontinuity > 0)
            .count(),
    };
    println!("{}", report("summary", &args, &stats, started, Some(&ends)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hint_position_parts_and_discontinuities() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n\
            #EXT-X-PART:DURATION=0.2,URI=\"p40.mp4\"\n#EXTINF:0.2,\ns7.mp4\n\
            #EXT-X-DISCONTINUITY\n#EXT-X-PART:DURATION=0.2,URI=\"p41.mp4\",INDEPENDENT=YES\n\
            #EXT-X-PART:DURATION=0.2,URI=\"p42.mp4\"\n\
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p43.mp4\"\n";
        let seen = read_playlist(text).unwrap();
        assert_eq!(seen.media_sequence, 7);
        assert_eq!(seen.hint, Some(43));
        assert_eq!(seen.next, (8, 2), "segment 8 is open with two parts");
        assert_eq!(seen.parts, [40, 41, 42]);
        assert_eq!(seen.discontinuity, 3);
        assert!(!seen.ended && !seen.delta);
        assert!(read_playlist("garbage").is_err());
    }

    #[test]
    fn a_delta_update_counts_the_skipped_segments() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-SKIP:SKIPPED-SEGMENTS=5\n\
            #EXTINF:2.0,\ns8.mp4\n#EXT-X-PART:DURATION=0.2,URI=\"p90.mp4\"\n\
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p91.mp4\"\n";
        let seen = read_playlist(text).unwrap();
        assert!(seen.delta);
        assert_eq!(seen.next, (9, 1));
    }

    #[test]
    fn histogram_percentiles_are_within_a_bucket() {
        let mut h = Histogram::default();
        for us in 1..=10_000 {
            h.record(us);
        }
        let p50 = h.percentile_ms(0.5);
        let p99 = h.percentile_ms(0.99);
        assert!((5.0..=5.0 * 1.04).contains(&p50), "{p50}");
        assert!((9.9..=10.0).contains(&p99), "{p99}");
        assert_eq!(h.percentile_ms(1.0), 10.0);
        for us in [0, 1, 63, 64, 65, 1_000, 123_456, u64::from(u32::MAX)] {
            let b = Histogram::bucket(us);
            assert!(Histogram::upper(b) >= us, "{us}");
            assert!(b == 0 || Histogram::upper(b - 1) < us, "{us}");
        }
    }
}

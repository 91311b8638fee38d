//! A player-load simulator: N LL-HLS players against one stream of a running origin.
//!
//! Each simulated player behaves like hls.js in low-latency mode at the live edge:
//!
//! 1. it loads the playlist once without directives and reads the preload hint (`p{n}.mp4`,
//!    parts are named by their number in the stream) and the position of the next part (the
//!    open segment's media sequence number and its part count);
//! 2. then, per part, it asks for the hinted part (held by the origin until the part exists,
//!    §6.2.6 [docs/conformance.md R22]) and, on a second connection, for the playlist version that
//!    lists it (`_HLS_msn=M&_HLS_part=P`, held until then, §6.2.5.2 [docs/conformance.md R10]);
//!    every tenth reload asks for a delta update (`_HLS_skip=YES`) instead;
//! 3. it checks what it got: the answer lists the requested part, the parts it lists are
//!    numbered without a hole, MEDIA-SEQUENCE never goes back, and the next hint is the next
//!    part number (a larger step is a lost part, a smaller one a part served twice).
//!
//! An encoder that disconnects and comes back within the origin's grace period continues the
//! stream behind an EXT-X-DISCONTINUITY: the held requests are answered when the new encoder's
//! first part arrives, so a restart is no error here. The players count the discontinuities
//! they cross, and the summary says how many players were still receiving parts at the end and
//! after the last discontinuity (`players_active_at_end`, `players_past_last_discontinuity`).
//! An origin that restarts, or hands its socket to a new process (`--upgrade-socket`), starts
//! the stream over under higher numbers: a player whose playlist lists nothing it knew follows
//! the new run (`new_runs`), ignoring its hinted request's result as §6.2.6 says. A request
//! on a kept-alive connection the origin closed before answering is sent again once on a new
//! connection (`retries`), as browsers do.
//!
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

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;

mod conn;
mod origin;
mod playlist;
mod push;
mod stats;

use conn::Conn;
use origin::{json_ms, publish_delay, rss_bytes, CpuClock, PublishDelay};
use playlist::read_playlist;
use playlists_server::ingest::sources::demo::DemoClip;
use push::PushStats;
use stats::{Histogram, Stats};

#[derive(Debug, Parser)]
#[command(about = "Simulates N LL-HLS players against a Playlists origin")]
struct Args {
    /// The media playlist to play, e.g. http://127.0.0.1:8080/demo/index.m3u8 (loopback only).
    /// With `--streams N`, `{n}` in it stands for the stream's index, 0 to N-1.
    #[arg(long)]
    url: String,
    /// Simulated players per stream.
    #[arg(long, default_value_t = 100)]
    players: usize,
    /// Streams to play (and, with `--push`, to publish): `{n}` in the URLs takes 0 to N-1.
    #[arg(long, default_value_t = 1)]
    streams: usize,
    /// The values `{n}` takes instead of 0 to N-1, comma-separated (sets `--streams`).
    #[arg(long, value_delimiter = ',')]
    names: Vec<String>,
    /// Publish every stream too, from a synthetic encoder of its own (push.rs): the built-in
    /// demo clip in real time as one chunked PUT, e.g. http://127.0.0.1:8080/ingest/load{n}.
    /// The players of a stream start a second after its encoder.
    #[arg(long)]
    push: Option<String>,
    /// The ingest token the encoders present (`Authorization: Bearer`).
    #[arg(long, env = "PLAYLISTS_INGEST_TOKEN", hide_env_values = true)]
    ingest_token: Option<String>,
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
    stream: usize,
    path: String,
    stats: Arc<Stats>,
    start: Instant,
    until: Instant,
) -> PlayerEnd {
    tokio::time::sleep_until(start.into()).await;
    let mut end = PlayerEnd::default();
    while Instant::now() < until {
        if let Err(e) = play(&authority, stream, &path, &stats, until, &mut end).await {
            stats.error(&e);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    end
}

async fn play(
    authority: &str,
    stream: usize,
    path: &str,
    stats: &Stats,
    until: Instant,
    end: &mut PlayerEnd,
) -> Step<()> {
    let mut playlist_conn = Conn::open(authority).await?;
    let mut part_conn = Conn::open(authority).await?;
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let text = playlist_conn.get(path, stats).await?;
    let first = read_playlist(&String::from_utf8_lossy(&text)).kind("playlist")?;
    let mut media_sequence = first.media_sequence;
    let Some(mut hint) = first.hint else {
        return Err(Failure::new(
            "no_hint",
            anyhow!("the live playlist has no preload hint"),
        ));
    };
    // Whether the last playlist hinted `hint`: an origin that hands over to a new process
    // withdraws its hint, and the player then only reloads the playlist.
    let mut hinted = true;
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
        let (part, playlist) = if hinted {
            let (part, playlist) = tokio::join!(
                part_conn.get(&part_path, stats),
                playlist_conn.get(&playlist_path, stats)
            );
            stats.requests.fetch_add(2, Ordering::Relaxed);
            (Some(part), playlist)
        } else {
            stats.requests.fetch_add(1, Ordering::Relaxed);
            (None, playlist_conn.get(&playlist_path, stats).await)
        };
        let seen = read_playlist(&String::from_utf8_lossy(&playlist?)).kind("playlist")?;
        if seen.parts.first().is_some_and(|&first| first > hint) {
            // Nothing the player knew is listed: the stream started over under new numbers
            // (a restarted origin, or the new process after a hand-over; they number above
            // everything before). The hinted part is not in this update, so its request's
            // result is ignored (§6.2.6), and the player follows the new run.
            stats.new_runs.fetch_add(1, Ordering::Relaxed);
            media_sequence = seen.media_sequence;
            end.discontinuity = seen.discontinuity;
            let Some(following) = seen.hint else {
                return Err(Failure::new(
                    "no_hint",
                    anyhow!("a live playlist without a preload hint"),
                ));
            };
            (hint, hinted, next) = (following, true, seen.next);
            continue;
        }
        if let Some(part) = part {
            let part = part?;
            let arrived = Instant::now();
            stats.arrived(stream, hint, arrived);
            stats.parts.fetch_add(1, Ordering::Relaxed);
            stats
                .part_bytes
                .fetch_add(part.len() as u64, Ordering::Relaxed);
            if part.is_empty() {
                return Err(Failure::new("empty_part", anyhow!("{part_path} is empty")));
            }
            stats.blocking(started.elapsed());
            end.last_part = Some(arrived);
        }
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
            // Withdrawn (a hand-over): ask for the next playlist only.
            hinted = false;
            hint += 1;
            next = seen.next;
            continue;
        };
        if following <= hint {
            stats.duplicates.fetch_add(1, Ordering::Relaxed);
        } else if following != hint + 1 {
            stats.gaps.fetch_add(1, Ordering::Relaxed);
            stats
                .lost_parts
                .fetch_add(following - hint - 1, Ordering::Relaxed);
        }
        (hint, hinted, next) = (following, true, seen.next);
    }
    Ok(())
}

/// The players' end states, for the summary only.
#[derive(Debug, Default)]
struct Ends {
    active_at_end: usize,
    past_last_discontinuity: usize,
    /// The origin's publish delay over the run, when the streams were pushed.
    publish: Option<PublishDelay>,
}

/// What a report line is made of.
struct Run<'a> {
    args: &'a Args,
    stats: &'a Stats,
    pushed: &'a PushStats,
    started: Instant,
}

fn report(kind: &str, run: &Run<'_>, cpu_percent: Option<f64>, ends: Option<&Ends>) -> String {
    let Run {
        args,
        stats,
        pushed,
        started,
    } = run;
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
        let publish = e.publish.as_ref().map_or(String::new(), |p| {
            format!(
                r#","publish_parts":{},"publish_p50_ms":{},"publish_p99_ms":{},"publish_max_ms":{}"#,
                p.parts,
                json_ms(p.quantile_ms(0.5)),
                json_ms(p.quantile_ms(0.99)),
                json_ms(Some(p.max_ms)),
            )
        });
        format!(
            r#","players_active_at_end":{},"players_past_last_discontinuity":{}{publish}"#,
            e.active_at_end, e.past_last_discontinuity
        )
    });
    let push = if args.push.is_some() {
        format!(
            r#","pushed_parts":{},"pushed_bytes":{},"push_reconnects":{},"push_skipped_parts":{}"#,
            pushed.parts.load(Ordering::Relaxed),
            pushed.bytes.load(Ordering::Relaxed),
            pushed.reconnects.load(Ordering::Relaxed),
            pushed.skipped_parts.load(Ordering::Relaxed),
        )
    } else {
        String::new()
    };
    format!(
        concat!(
            r#"{{"bench":"loadgen","kind":"{}","url":{:?},"streams":{},"players":{},"secs":{:.1},"requests":{},"#,
            r#""errors":{},"error_kinds":{{{}}},"gaps":{},"lost_parts":{},"duplicates":{},"#,
            r#""listing_gaps":{},"msn_regressions":{},"discontinuities":{},"new_runs":{},"#,
            r#""retries":{},"parts":{},"#,
            r#""part_bytes":{},"fanout_p50_ms":{:.3},"fanout_p99_ms":{:.3},"fanout_max_ms":{:.3},"#,
            r#""blocking_p50_ms":{:.3},"blocking_p99_ms":{:.3},"blocking_max_ms":{:.3},"#,
            r#""rss_bytes":{},"origin_cpu_percent":{}{}{},"last_error":{:?}}}"#
        ),
        kind,
        args.url,
        args.streams.max(1),
        args.players * args.streams.max(1),
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
        stats.new_runs.load(Ordering::Relaxed),
        stats.retries.load(Ordering::Relaxed),
        stats.parts.load(Ordering::Relaxed),
        stats.part_bytes.load(Ordering::Relaxed),
        fanout.percentile_ms(0.5),
        fanout.percentile_ms(0.99),
        fanout.max_us as f64 / 1000.0,
        blocking.percentile_ms(0.5),
        blocking.percentile_ms(0.99),
        blocking.max_us as f64 / 1000.0,
        rss_bytes(args.server_pid).map_or("null".to_owned(), |b| b.to_string()),
        cpu_percent.map_or("null".to_owned(), |c| format!("{c:.1}")),
        push,
        ends,
        last_error,
    )
}

/// `url` with `{n}` replaced by `name`, split into its authority and path; loopback only.
fn target(url: &str, name: &str) -> Result<(String, String)> {
    let url: http::Uri = url.replace("{n}", name).parse().context(url.to_owned())?;
    let authority = url
        .authority()
        .with_context(|| format!("{url} needs host:port"))?
        .to_string();
    let host = url.host().unwrap_or_default();
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1") {
        bail!("loadgen talks to loopback origins only, not {host}");
    }
    Ok((authority, url.path().to_owned()))
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = Args::parse();
    if !args.names.is_empty() {
        args.streams = args.names.len();
    } else {
        args.names = (0..args.streams.max(1)).map(|n| n.to_string()).collect();
    }
    let streams = args.names.len();
    for url in std::iter::once(&args.url).chain(&args.push) {
        if streams > 1 && !url.contains("{n}") {
            bail!("--streams {streams} needs {{n}} in {url}");
        }
    }
    let stats = Arc::new(Stats {
        streams,
        ..Stats::default()
    });
    let pushed = Arc::new(PushStats::default());
    let cpu = CpuClock::start(args.server_pid);
    let started = Instant::now();
    let until = started + Duration::from_secs(args.secs);
    let ramp = Duration::from_secs(args.ramp_secs);
    let clip = Arc::new(DemoClip::builtin().map_err(|e| anyhow!("the demo clip: {e}"))?);
    let mut players = Vec::with_capacity(streams * args.players);
    let mut encoders = Vec::new();
    for stream in 0..streams {
        let name = &args.names[stream];
        let (authority, path) = target(&args.url, name)?;
        // Encoders start over the ramp too; a stream's players a second after its encoder
        // (the origin holds a first request until the stream's first segment is complete,
        // but a stream nobody publishes yet is a 404).
        let mut first = started + ramp.mul_f64(stream as f64 / streams as f64);
        if let Some(push) = &args.push {
            let (authority, path) = target(push, name)?;
            let token = args.ingest_token.clone();
            let to = push::Target {
                authority,
                path,
                token,
            };
            // Encoders go on a little past the players' end, so that a part a player asked
            // for just before the end still comes (else the origin answers 503 after its
            // blocking timeout, an artefact of stopping).
            encoders.push(tokio::spawn(push::encoder(
                to,
                Arc::clone(&clip),
                Arc::clone(&pushed),
                first,
                until + Duration::from_secs(2),
            )));
            first += Duration::from_secs(1);
        }
        for i in 0..args.players {
            // Without encoders, a stream's players spread over the ramp as before.
            let offset = if args.push.is_some() {
                Duration::ZERO
            } else {
                ramp.mul_f64(i as f64 / args.players.max(1) as f64)
            };
            players.push(tokio::spawn(player(
                authority.clone(),
                stream,
                path.clone(),
                Arc::clone(&stats),
                first + offset,
                until,
            )));
        }
    }
    let run = Run {
        args: &args,
        stats: &stats,
        pushed: &pushed,
        started,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(args.report_secs.max(1)));
    tick.tick().await;
    while Instant::now() + Duration::from_secs(args.report_secs.max(1)) <= until {
        tick.tick().await;
        println!("{}", report("progress", &run, cpu.percent(), None));
    }
    let mut player_ends = Vec::with_capacity(players.len());
    for p in players {
        player_ends.push(p.await?);
    }
    let finished = Instant::now();
    for e in encoders {
        e.await?;
    }
    let last_discontinuity = stats.discontinuities.load(Ordering::Relaxed);
    let active = Duration::from_secs(args.active_secs);
    let publish = match &args.push {
        Some(push) => publish_delay(&target(push, &args.names[0])?.0).await,
        None => None,
    };
    let ends = Ends {
        active_at_end: player_ends
            .iter()
            .filter(|e| e.last_part.is_some_and(|t| finished - t <= active))
            .count(),
        past_last_discontinuity: player_ends
            .iter()
            .filter(|e| e.discontinuity == last_discontinuity && e.parts_since_discontinuity > 0)
            .count(),
        publish,
    };
    println!("{}", report("summary", &run, cpu.percent(), Some(&ends)));
    Ok(())
}

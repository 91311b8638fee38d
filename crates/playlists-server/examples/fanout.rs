//! Blocking fan-out benchmark: N held `_HLS_msn/_HLS_part` requests over HTTP/1.1 (one
//! connection each) for the next part of a `bench_origin`, then one publish; reports how long
//! after the publish each answer arrived, and the origin's RSS per held request.
//!
//! ```sh
//! fanout --origin-bin target/release/examples/bench_origin --waiters 10000
//! ```
//!
//! Prints one JSON line. Needs `ulimit -n` above the number of waiters (the script sets it).

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

#[derive(Debug, Parser)]
struct Args {
    /// The bench_origin binary.
    #[arg(long)]
    origin_bin: std::path::PathBuf,
    /// Held requests.
    #[arg(long, default_value_t = 10_000)]
    waiters: usize,
    /// Connections opened at once while setting up.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
    /// Only open the connections (no request) and report the origin's RSS per connection:
    /// the share of a held request's cost that is the idle connection itself.
    #[arg(long)]
    connect_only: bool,
    /// Parts the origin publishes before the requests are held; the published one is the
    /// next. 10 (or any multiple of 5) makes that publish complete a segment, which a
    /// recording origin then writes to disk.
    #[arg(long, default_value_t = 12)]
    parts: u64,
    /// Have the origin record into this directory (`bench_origin --record-dir`).
    #[arg(long)]
    record_dir: Option<std::path::PathBuf>,
    /// Record the origin with `perf record -g` from just before the publish until every answer
    /// is in, into this file (for tuning; needs perf).
    #[arg(long)]
    perf_out: Option<std::path::PathBuf>,
}

async fn get(addr: &str, path: &str) -> Result<(u16, Bytes)> {
    let tcp = TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", addr)
        .body(Empty::<Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    Ok((status, resp.into_body().collect().await?.to_bytes()))
}

/// Head length + Content-Length of a response once its head is in `buf`.
fn response_len(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let len = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    })?;
    Some(head_end + len)
}

fn rss_bytes(pid: u32) -> Result<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm"))?;
    let pages: u64 = statm.split_whitespace().nth(1).context("statm")?.parse()?;
    Ok(pages * 4096)
}

/// CPU time (user + system) of a process so far, in ms (procfs clock ticks of 10 ms).
fn cpu_ms(pid: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').context("stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        f.get(11).context("utime")?.parse::<u64>()? + f.get(12).context("stime")?.parse::<u64>()?;
    Ok(ticks * 10)
}

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Reads the origin's answer to `stats`: (live heap bytes, live allocations).
async fn read_heap(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> Result<(usize, usize)> {
    loop {
        let line = lines.next_line().await?.context("origin exited")?;
        if let Some(rest) = line.strip_prefix("heap ") {
            let (live, count) = rest.split_once(' ').context("heap line")?;
            return Ok((live.parse()?, count.parse()?));
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    // One thread, as wrk -t1 in the other benches: the load generator shares the two cores
    // with the origin, and a thread per core would wake once per answer on each of them.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let mut command = tokio::process::Command::new(&args.origin_bin);
    command.args(["--parts", &args.parts.to_string()]).args([
        "--part-bytes",
        "30000",
        "--count-heap",
    ]);
    if let Some(dir) = &args.record_dir {
        command.arg("--record-dir").arg(dir);
    }
    let mut origin = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the origin")?;
    let mut stdin = origin.stdin.take().context("stdin")?;
    let mut lines = BufReader::new(origin.stdout.take().context("stdout")?).lines();
    let mut pid = 0u32;
    let mut addr = String::new();
    while addr.is_empty() {
        let line = lines.next_line().await?.context("origin exited")?;
        if let Some(p) = line.strip_prefix("pid ") {
            pid = p.parse()?;
        } else if let Some(a) = line.strip_prefix("listening ") {
            addr = a.to_owned();
        }
    }
    // One warm-up request so the first-request allocations are not counted per waiter.
    let (_, playlist) = get(&addr, "/bench/index.m3u8").await?;
    let text = String::from_utf8_lossy(&playlist);
    let hint = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
        .and_then(|r| r.strip_suffix('"'))
        .context("a preload hint")?;
    let (msn, part) = next_position(&text).context("the playlist's open segment")?;
    let path = format!("/bench/index.m3u8?_HLS_msn={msn}&_HLS_part={part}");
    // The answer lists the hinted part.
    let expect = format!("URI=\"{hint}\"");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_bytes(pid)?;
    stdin.write_all(b"stats\n").await?;
    let heap_before = read_heap(&mut lines).await?;

    let gate = std::sync::Arc::new(Semaphore::new(args.connect_concurrency));
    let mut tasks = Vec::with_capacity(args.waiters);
    for _ in 0..args.waiters {
        let (addr, path, expect, gate) = (addr.clone(), path.clone(), expect.clone(), gate.clone());
        let connect_only = args.connect_only;
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await?;
            let mut tcp = TcpStream::connect(&addr).await?;
            tcp.set_nodelay(true)?;
            if connect_only {
                drop(permit);
                tokio::time::sleep(Duration::from_secs(5)).await;
                return anyhow::Ok((false, 0, None));
            }
            // A raw HTTP/1.1 exchange: the load generator shares the cores with the origin,
            // so it does as little per response as it can (one read, a length check).
            let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
            tcp.write_all(request.as_bytes()).await?;
            drop(permit);
            let mut buf = Vec::with_capacity(4096);
            let at = loop {
                if tcp.read_buf(&mut buf).await? == 0 {
                    bail!("connection closed before the answer was complete");
                }
                if let Some(total) = response_len(&buf) {
                    if buf.len() >= total {
                        break now_us();
                    }
                }
            };
            let text = String::from_utf8_lossy(&buf);
            let ok = text.starts_with("HTTP/1.1 200") && text.contains(&expect);
            // Keep the connection open, as a player does for its next request: closing it
            // here would make the origin tear down thousands of connections while it is
            // still answering the others, a cost no real burst has.
            anyhow::Ok((ok, at, Some(tcp)))
        }));
    }
    if args.connect_only {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rss = rss_bytes(pid)?;
        stdin.write_all(b"stats\n").await?;
        let heap = read_heap(&mut lines).await?;
        eprintln!(
            "heap per connection: {} bytes in {} allocations",
            heap.0.saturating_sub(heap_before.0) / args.waiters.max(1),
            heap.1.saturating_sub(heap_before.1) as f64 / args.waiters.max(1) as f64
        );
        println!(
            r#"{{"bench":"idle_connections","impl":"playlists","connections":{},"rss_per_connection_bytes":{}}}"#,
            args.waiters,
            rss.saturating_sub(rss_before) / args.waiters.max(1) as u64
        );
        return Ok(());
    }
    // Wait until the origin holds every request.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, metrics) = get(&addr, "/metrics").await?;
        let waiting = String::from_utf8_lossy(&metrics)
            .lines()
            .find_map(|l| {
                l.strip_prefix("playlists_http_waiting_requests ")?
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or(0);
        if waiting >= args.waiters {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "only {waiting} of {} requests held after 60 s",
                args.waiters
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_waiting = rss_bytes(pid)?;
    stdin.write_all(b"stats\n").await?;
    let heap_waiting = read_heap(&mut lines).await?;
    eprintln!(
        "heap per waiter: {} bytes in {} allocations",
        (heap_waiting.0.saturating_sub(heap_before.0)) / args.waiters.max(1),
        (heap_waiting.1.saturating_sub(heap_before.1)) as f64 / args.waiters.max(1) as f64
    );
    let perf = match &args.perf_out {
        Some(out) => {
            let child = tokio::process::Command::new("perf")
                .args(["record", "-F", "4999", "-g", "-p", &pid.to_string(), "-o"])
                .arg(out)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting perf")?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            Some(child)
        }
        None => None,
    };
    let (origin_cpu_before, own_cpu_before) = (cpu_ms(&pid.to_string())?, cpu_ms("self")?);
    stdin.write_all(b"publish\n").await?;
    stdin.flush().await?;
    let published: u128 = loop {
        let line = lines.next_line().await?.context("origin exited")?;
        if let Some(t) = line.strip_prefix("published ") {
            break t.parse()?;
        }
    };
    let mut latencies = Vec::with_capacity(args.waiters);
    let mut answered = 0usize;
    let mut open = Vec::with_capacity(args.waiters);
    for t in tasks {
        if let Ok(Ok(Ok((ok, at, tcp)))) = tokio::time::timeout(Duration::from_secs(30), t).await {
            open.extend(tcp);
            if ok {
                answered += 1;
                latencies.push(at.saturating_sub(published) as f64 / 1000.0);
            }
        }
    }
    let origin_cpu = cpu_ms(&pid.to_string())?.saturating_sub(origin_cpu_before);
    if let Some(mut perf) = perf {
        if let Some(id) = perf.id() {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &id.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), perf.wait()).await;
    }
    let own_cpu = cpu_ms("self")?.saturating_sub(own_cpu_before);
    drop(open);
    eprintln!("cpu after publish: origin {origin_cpu} ms, load generator {own_cpu} ms");
    latencies.sort_by(f64::total_cmp);
    let within_100ms = latencies.iter().filter(|&&l| l <= 100.0).count();
    println!(
        concat!(
            r#"{{"bench":"blocking_fanout","impl":"playlists","waiters":{},"answered":{},"#,
            r#""within_100ms":{},"first_ms":{:.2},"p10_ms":{:.2},"p50_ms":{:.2},"p99_ms":{:.2},"max_ms":{:.2},"#,
            r#""rss_per_waiter_bytes":{},"rss_before_bytes":{},"rss_waiting_bytes":{},"#,
            r#""origin_cpu_ms":{},"loadgen_cpu_ms":{}}}"#
        ),
        args.waiters,
        answered,
        within_100ms,
        latencies.first().copied().unwrap_or(f64::NAN),
        percentile(&latencies, 0.1),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        rss_waiting.saturating_sub(rss_before) / args.waiters.max(1) as u64,
        rss_before,
        rss_waiting,
        origin_cpu,
        own_cpu,
    );
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(15), origin.wait()).await;
    Ok(())
}

/// The position `(msn, part)` the next part will have if it continues the open segment: the
/// open segment's Media Sequence Number (MEDIA-SEQUENCE plus the complete segments listed)
/// and its number of parts so far.
fn next_position(playlist: &str) -> Option<(u64, u64)> {
    let mut msn: u64 = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))?
        .parse()
        .ok()?;
    let mut parts = 0;
    for line in playlist.lines() {
        if line.starts_with("#EXTINF:") {
            msn += 1;
            parts = 0;
        } else if line.starts_with("#EXT-X-PART:") {
            parts += 1;
        }
    }
    Some((msn, parts))
}

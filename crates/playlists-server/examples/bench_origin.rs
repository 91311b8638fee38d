//! The origin under benchmark (`scripts/bench-http.sh`): the real HTTP layer
//! ([`playlists_server::http::serve`]) over a registry with one synthetic stream, `bench`.
//!
//! It publishes `--parts` parts of `--part-bytes` bytes at start, optionally writes the same
//! bytes as files (`--dump-dir`: `p{n}.mp4`, `index.m3u8`, `index.m3u8.gz`) so nginx
//! can serve identical content, and then reads commands on stdin:
//!
//! * `publish` — publishes the next part and prints `published <unix µs>` (taken just before
//!   the publish, so a client can measure wake-to-response);
//! * `stats` — prints `heap <live bytes> <live allocations>` (counted with `--count-heap`);
//! * end of input — shuts down.
//!
//! The first stdout lines are `pid <pid>` and `listening <addr>`; with `--playback-secret`
//! (signed playback, as the server's flag) a third, `token <token>`, gives the media token of
//! the stream valid for a day (what its media playlist's part URIs carry).

use std::io::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Parser;
use playlists::{Init, Options, Part, PartTiming, Playlists};
use playlists_server::event_loops::EventLoops;
use playlists_server::http::{serve_on, AppState, HttpOptions};
use playlists_server::ingest::Secret;
use playlists_server::part_store::{ArenaOptions, PartStore};
use playlists_server::playback::{self, PlaybackKey, SharedTokens};
use playlists_server::recording::{Recorder, Retention};
use tokio::io::AsyncBufReadExt;

#[derive(Debug, Parser)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Bytes per part.
    #[arg(long, default_value_t = 30_000)]
    part_bytes: usize,
    /// Parts published at start.
    #[arg(long, default_value_t = 40)]
    parts: u64,
    /// TARGETDURATION; held requests wait up to 3 × this.
    #[arg(long, default_value_t = 10)]
    target_duration_s: u32,
    /// Write the parts and the playlist as files here, for nginx.
    #[arg(long)]
    dump_dir: Option<std::path::PathBuf>,
    /// Store parts on the heap (sent by copy) instead of in the zero-copy arena.
    #[arg(long)]
    heap_parts: bool,
    /// Keep the arena in an unlinked file in this directory instead of shared memory (the
    /// server's `--part-dir`).
    #[arg(long, conflicts_with = "heap_parts")]
    part_dir: Option<std::path::PathBuf>,
    /// Count live heap bytes and allocations for the `stats` command (costs three atomic
    /// updates per allocation, so off for throughput runs).
    #[arg(long)]
    count_heap: bool,
    /// Event loops serving connections (default: one per CPU); 1 for the one-core comparison.
    #[arg(long)]
    threads: Option<usize>,
    /// Sign playback with this secret (the server's `--playback-secret`).
    #[arg(long)]
    playback_secret: Option<String>,
    /// Record the stream into this directory (the server's `--record-dir`), to measure what
    /// recording costs delivery.
    #[arg(long)]
    record_dir: Option<std::path::PathBuf>,
}

fn part(i: u64, bytes: Bytes) -> Part {
    Part {
        bytes,
        init: Some(Init {
            bytes: Bytes::from_static(b"ftyp+moov (synthetic)"),
            codecs: "avc1.64001f".to_owned(),
            resolution: Some((1280, 720)),
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

/// Incompressible, deterministic bytes (xorshift), like encoded video.
fn payload(i: u64, len: usize) -> Bytes {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ i;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn main() -> Result<()> {
    // Before anything else allocates, so that frees match counted allocations.
    #[cfg(all(unix, not(target_env = "musl")))]
    if std::env::args_os().any(|a| a == "--count-heap") {
        GLOBAL
            .counting
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let args = Args::parse();
    // As the `playlists` binary: this thread's single-threaded runtime plus `threads - 1`
    // event loops, connections spread over them.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let opts = Options {
        target_duration: playlists::TargetDuration::Fixed(args.target_duration_s),
        // Parts named from p0, as bench-http.sh and the dump expect (the default numbers them
        // from the first sample's date).
        numbering: playlists::Numbering::FromZero,
        ..Options::default()
    };
    let key = args
        .playback_secret
        .as_deref()
        .map(|s| PlaybackKey::new(&Secret::from(s)));
    let mut playlists = Playlists::new(opts)?;
    if let Some(key) = &key {
        playlists = playlists.with_uri_query(Arc::new(SharedTokens::new(key.clone())));
    }
    if let Some(dir) = &args.record_dir {
        let recorder = Recorder::start(dir.clone(), Retention::default(), None)
            .with_context(|| format!("recording into {}", dir.display()))?;
        playlists = playlists.with_observer(recorder);
    }
    let playlists = Arc::new(playlists);
    let http = HttpOptions {
        playback: key.clone(),
        max_waiting_per_stream: 1_000_000,
        max_waiting_total: 1_000_000,
        request_timeout: std::time::Duration::from_secs(u64::from(args.target_duration_s) * 4),
        ..HttpOptions::default()
    };
    // Parts are stored the way ingest stores them (in the zero-copy arena by default).
    let parts = PartStore::new((!args.heap_parts).then(|| ArenaOptions {
        dir: args.part_dir.clone(),
        ..ArenaOptions::default()
    }));
    if args.part_dir.is_some() && parts.arena().is_none() {
        anyhow::bail!("no part arena in --part-dir (see the warning above)");
    }
    let state = Arc::new(AppState::new(Arc::clone(&playlists), http).with_parts(parts));
    let mut next = 0u64;
    for _ in 0..args.parts {
        let bytes = state.parts.store(&payload(next, args.part_bytes));
        playlists.add("bench", part(next, bytes))?;
        next += 1;
    }
    if let Some(dir) = &args.dump_dir {
        dump(&playlists, dir)?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("pid {}", std::process::id());
    println!("listening {}", listener.local_addr()?);
    if let Some(key) = &key {
        let day = playback::unix_secs(SystemTime::now()) + 86_400;
        println!("token {}", key.media_token("/bench/", day));
    }
    std::io::stdout().flush()?;

    let publisher = {
        let playlists = Arc::clone(&playlists);
        let state = Arc::clone(&state);
        let part_bytes = args.part_bytes;
        let count_heap = args.count_heap;
        async move {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim() == "stats" {
                    if !count_heap {
                        eprintln!("stats: the heap is counted only with --count-heap");
                    }
                    let (live, count) = heap_stats();
                    eprintln!("classes {}", size_classes());
                    println!("heap {live} {count}");
                    let _ = std::io::stdout().flush();
                } else if line.trim() == "publish" {
                    let bytes = state.parts.store(&payload(next, part_bytes));
                    let at = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_micros());
                    if let Err(e) = playlists.add("bench", part(next, bytes)) {
                        eprintln!("publish failed: {e}");
                    }
                    next += 1;
                    println!("published {at}");
                    let _ = std::io::stdout().flush();
                }
            }
        }
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let loops = EventLoops::start(threads.saturating_sub(1))?;
    serve_on(listener, state, publisher, &loops.with_current()).await?;
    Ok(())
}

/// Writes what nginx serves in the comparison: the same part bytes and playlist bytes.
fn dump(playlists: &Playlists, dir: &std::path::Path) -> Result<()> {
    let stream = playlists.stream("bench").context("the bench stream")?;
    std::fs::create_dir_all(dir)?;
    let published = stream
        .status()
        .map(|s| s.parts_published)
        .context("published parts")?;
    for n in 0..published {
        if let Some(chunk) = stream.part(n) {
            std::fs::write(dir.join(format!("p{n}.mp4")), &chunk.bytes)?;
        }
    }
    let version = stream.playlist().context("a playlist")?;
    std::fs::write(dir.join("index.m3u8"), &version.full.plain)?;
    std::fs::write(dir.join("index.m3u8.gz"), &version.full.gzip)?;
    Ok(())
}

// The allocator of the `playlists` binary, wrapped to count live heap bytes (the `stats`
// command), which tells heap use from allocator overhead in the RSS figures.
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static GLOBAL: Counting<tikv_jemallocator::Jemalloc> = Counting {
    inner: tikv_jemallocator::Jemalloc,
    counting: std::sync::atomic::AtomicBool::new(false),
    live: std::sync::atomic::AtomicUsize::new(0),
    count: std::sync::atomic::AtomicUsize::new(0),
    sizes: [const { std::sync::atomic::AtomicIsize::new(0) }; 40],
};

/// Live heap bytes and allocations, for the `stats` command.
fn heap_stats() -> (usize, usize) {
    #[cfg(all(unix, not(target_env = "musl")))]
    {
        use std::sync::atomic::Ordering::Relaxed;
        (GLOBAL.live.load(Relaxed), GLOBAL.count.load(Relaxed))
    }
    #[cfg(not(all(unix, not(target_env = "musl"))))]
    (0, 0)
}

fn class(size: usize) -> usize {
    (usize::BITS - size.leading_zeros()).min(39) as usize
}

/// Live allocations by size class, as `bits:count` pairs.
fn size_classes() -> String {
    #[cfg(all(unix, not(target_env = "musl")))]
    {
        GLOBAL
            .sizes
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{i}:{}", c.load(std::sync::atomic::Ordering::Relaxed)))
            .collect::<Vec<_>>()
            .join(",")
    }
    #[cfg(not(all(unix, not(target_env = "musl"))))]
    String::new()
}

struct Counting<A> {
    inner: A,
    /// Set by `--count-heap` (the fan-out's memory figures); off, the wrapper costs one
    /// relaxed load per call, so the throughput benches measure the plain allocator.
    counting: std::sync::atomic::AtomicBool,
    live: std::sync::atomic::AtomicUsize,
    count: std::sync::atomic::AtomicUsize,
    /// Live allocations by size class (index = bit length of the size).
    sizes: [std::sync::atomic::AtomicIsize; 40],
}

// SAFETY: every call is forwarded unchanged to the inner allocator; only counters are added.
unsafe impl<A: std::alloc::GlobalAlloc> std::alloc::GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        if self.counting.load(Relaxed) {
            self.live.fetch_add(layout.size(), Relaxed);
            self.count.fetch_add(1, Relaxed);
            self.sizes[class(layout.size())].fetch_add(1, Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { self.inner.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        use std::sync::atomic::Ordering::Relaxed;
        if self.counting.load(Relaxed) {
            self.live.fetch_sub(layout.size(), Relaxed);
            self.count.fetch_sub(1, Relaxed);
            self.sizes[class(layout.size())].fetch_sub(1, Relaxed);
        }
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        unsafe { self.inner.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        if self.counting.load(Relaxed) {
            self.live.fetch_add(new, Relaxed);
            self.live.fetch_sub(layout.size(), Relaxed);
            self.sizes[class(layout.size())].fetch_sub(1, Relaxed);
            self.sizes[class(new)].fetch_add(1, Relaxed);
        }
        // SAFETY: forwarded unchanged.
        unsafe { self.inner.realloc(ptr, layout, new) }
    }
}

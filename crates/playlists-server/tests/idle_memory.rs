//! Stream capacity costs no resident memory until a stream uses it: the `playlists` binary
//! with `--num-playlists 1000` and nothing live stays small, and grows by little over the
//! same binary with 10. (Each stream's chunk ring is 1 MiB at the default sizes; before the
//! rings were written lazily, 1000 streams of capacity held about 1 GB.)
//!
//! One test in a file of its own: it measures other processes, but runs them one at a time
//! so that they do not compete for memory with anything else this file starts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child when dropped, so a failed assertion leaves no process behind.
struct Origin(Child);

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with `--num-playlists num` on a free port, waits until it answers
/// `/healthz`, and returns it.
fn start(num: usize) -> Origin {
    let mut child = Command::new(env!("CARGO_BIN_EXE_playlists"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--num-playlists",
            &num.to_string(),
        ])
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env_remove("PLAYLISTS_INGEST_TOKEN")
        .env_remove("PLAYLISTS_INGEST_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("piped");
    let origin = Origin(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("http://").nth(1) {
                let _ = tx.send(rest.trim_end_matches('/').to_owned());
            }
        }
    });
    let addr: SocketAddr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the binary logs its address")
        .parse()
        .expect("an address");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !healthy(addr) {
        assert!(Instant::now() < deadline, "no answer to /healthz on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    origin
}

/// Whether `GET /healthz` answers 200.
fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

/// VmRSS of `origin` in bytes, read from /proc/PID/status.
fn vm_rss(origin: &Origin) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", origin.0.id()))
        .expect("/proc/PID/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line");
    kb * 1024
}

/// The RSS of a started, idle origin (after its event loops have settled).
fn idle_rss(num: usize) -> u64 {
    let origin = start(num);
    std::thread::sleep(Duration::from_millis(500));
    vm_rss(&origin)
}

#[test]
fn stream_capacity_costs_no_resident_memory_until_used() {
    const MB: u64 = 1 << 20;
    let small = idle_rss(10);
    let large = idle_rss(1000);
    eprintln!(
        "idle VmRSS: {} KiB with 10 streams of capacity, {} KiB with 1000",
        small / 1024,
        large / 1024
    );
    // 64 MB is the goal for a release build (which measures about 10 MB); a debug build is
    // larger in code, not in what capacity costs, and stays well under it too.
    assert!(
        large <= 64 * MB,
        "idle with --num-playlists 1000: {} KiB > 64 MiB",
        large / 1024
    );
    // What 990 more streams of capacity cost: about 6 MB (their registry entries, wait
    // lists and counters, a few KiB each). A ring written up front would be 990 MiB.
    assert!(
        large.saturating_sub(small) <= 16 * MB,
        "990 streams of capacity cost {} KiB of RSS (> 16 MiB)",
        large.saturating_sub(small) / 1024
    );
}

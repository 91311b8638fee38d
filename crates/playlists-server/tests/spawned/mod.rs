//! The `playlists` binary started by a test: its address (as it logs it) and every line it
//! logs, collected as it goes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every line the binary logged so far.
pub type Log = Arc<Mutex<Vec<String>>>;

/// Starts the binary with `args`, its stdin from `stdin`, logging at `level`, with `env` set
/// and the ingest credentials of the test's own environment removed. Returns it with the
/// address it logged (within 20 s) and its log.
pub fn start_logged(
    args: &[&str],
    stdin: Stdio,
    level: &str,
    env: &[(&str, &str)],
) -> (Child, SocketAddr, Log) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_playlists"))
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .env("RUST_LOG", level)
        .env_remove("PLAYLISTS_INGEST_TOKEN")
        .env_remove("PLAYLISTS_INGEST_SECRET")
        .stdin(stdin)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let lines = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("http://").nth(1) {
                let _ = tx.send(rest.trim_end_matches('/').to_owned());
            }
            lines.lock().unwrap().push(line);
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the binary logs its address");
    (child, addr.parse().unwrap(), log)
}

//! The `playlists` binary end to end: the demo stream, `playlists ingest` from stdin, a TOML
//! config under flags, and a clean exit on SIGTERM.

mod origin;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;

/// Starts the binary and returns it with the address it logged.
fn start(args: &[&str], stdin: Stdio) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_playlists"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(stdin)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("http://").nth(1) {
                let _ = tx.send(rest.trim_end_matches('/').to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the binary logs its address");
    (child, addr.parse().unwrap())
}

/// Polls `path` until it answers 200 (at most 10 s).
async fn wait_ok(addr: SocketAddr, path: &str) -> origin::Resp {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = origin::get(addr, path, &[]).await;
        if resp.status == StatusCode::OK || Instant::now() > deadline {
            return resp;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn terminate(mut child: Child) {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the binary did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn the_demo_stream_plays_and_sigterm_stops_the_server() {
    let (child, addr) = start(&["--listen", "127.0.0.1:0", "--demo"], Stdio::null());
    let playlist = wait_ok(addr, "/demo/index.m3u8").await;
    assert_eq!(playlist.status, StatusCode::OK, "{}", playlist.text());
    assert!(playlist.text().contains("#EXT-X-PRELOAD-HINT"));
    let page = origin::get(addr, "/", &[]).await.text();
    assert!(page.contains("/demo/index.m3u8"));
    terminate(child);
}

#[tokio::test]
async fn ingest_subcommand_publishes_stdin_under_a_config_file() {
    let dir = std::env::temp_dir().join(format!("playlists-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("playlists.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:9\"\ntarget_duration_s = 2\n").unwrap();
    let config = config.to_str().unwrap().to_owned();
    // The flag overrides the file's unusable port.
    let (mut child, addr) = start(
        &[
            "--config",
            &config,
            "--listen",
            "127.0.0.1:0",
            "ingest",
            "--stream",
            "cam1",
        ],
        Stdio::piped(),
    );
    let fixture = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/h264.mp4"),
    )
    .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&fixture).unwrap();
    }
    let playlist = wait_ok(addr, "/cam1/index.m3u8").await;
    assert_eq!(playlist.status, StatusCode::OK, "{}", playlist.text());
    assert!(
        playlist.text().contains("#EXT-X-TARGETDURATION:2"),
        "the file's value"
    );
    terminate(child);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Settings the server cannot honour stop it at start, with a one-line reason naming the
/// setting, before it listens.
#[test]
fn impossible_settings_stop_the_binary_with_their_name() {
    let missing = std::env::temp_dir().join(format!("playlists-no-dir-{}", std::process::id()));
    for (args, name) in [
        (vec!["--threads", "100000"], "threads"),
        (vec!["--part-dir", missing.to_str().unwrap()], "part_dir"),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_playlists"))
            .args(["--listen", "127.0.0.1:0"])
            .args(&args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{args:?}: the binary started instead of refusing");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "{args:?}: {status}");
        assert!(stderr.contains(name), "{args:?}: {stderr}");
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_new_process_takes_the_socket_over_and_the_old_one_exits() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("upgrade.sock");
    let socket = socket.to_str().unwrap();
    let (mut old, addr) = start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "--upgrade-socket",
            socket,
        ],
        Stdio::null(),
    );
    assert_eq!(
        wait_ok(addr, "/demo/index.m3u8").await.status,
        StatusCode::OK
    );
    let listen = addr.to_string();
    let (new, new_addr) = start(
        &["--listen", &listen, "--demo", "--upgrade-socket", socket],
        Stdio::null(),
    );
    assert_eq!(new_addr, addr, "the new process serves the same socket");
    // The old process hands over, drains and exits by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = old.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the old process did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "old process: {status}");
    let playlist = wait_ok(addr, "/demo/index.m3u8").await;
    assert_eq!(playlist.status, StatusCode::OK, "{}", playlist.text());
    assert!(playlist.text().contains("#EXT-X-PRELOAD-HINT"));
    // And the new one can be upgraded in turn: the socket path is its now.
    assert!(std::fs::metadata(socket).is_ok());
    terminate(new);
}

#[test]
fn version_names_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_playlists"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let commit = text
        .trim()
        .strip_prefix(concat!("playlists ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected --version: {text}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "not a commit: {commit}"
    );
}

//! The `playlists` binary end to end: the demo stream, `playlists ingest` from stdin, a TOML
//! config under flags, a clean exit on SIGTERM, no open ingest off loopback unless asked for,
//! `playlists ingest-key`, and credentials kept out of the log.

mod origin;
mod spawned;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;
use spawned::start_logged;

/// Starts the binary and returns it with the address it logged.
fn start(args: &[&str], stdin: Stdio) -> (Child, SocketAddr) {
    start_with_env(args, stdin, &[])
}

/// [`start`] with more environment variables.
fn start_with_env(args: &[&str], stdin: Stdio, env: &[(&str, &str)]) -> (Child, SocketAddr) {
    let (child, addr, _log) = start_logged(args, stdin, "info", env);
    (child, addr)
}

/// Runs the binary to its exit (at most 20 s): its status, stdout and stderr.
fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (std::process::ExitStatus, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_playlists"));
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("PLAYLISTS_INGEST_TOKEN")
        .env_remove("PLAYLISTS_INGEST_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("{args:?}: the binary did not exit"));
    let mut out = String::new();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, out, err)
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

/// How `child` exited, waiting at most `within`; `None` (and the child killed) if it did not.
fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn terminate(mut child: Child) {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status =
        wait_exit(&mut child, Duration::from_secs(15)).expect("the binary did not stop on SIGTERM");
    assert!(status.success(), "exit status {status}");
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
        let status = wait_exit(&mut child, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{args:?}: the binary started instead of refusing"));
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
    let status = wait_exit(&mut old, Duration::from_secs(30)).expect("the old process exits");
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

/// Secure by default: off loopback, the binary refuses to start with publishing open to
/// everyone, unless told so (`--open-ingest`) or given a credential.
#[tokio::test]
async fn open_ingest_off_loopback_must_be_asked_for() {
    for args in [
        &["--listen", "0.0.0.0:0"][..],
        &["--listen", "[::]:0", "--ingest-token", ""][..],
    ] {
        let (status, _, stderr) = run_to_exit(args, &[]);
        assert!(!status.success(), "{args:?}: {status}");
        let reason = stderr
            .lines()
            .find(|l| l.starts_with("Error: "))
            .unwrap_or_default();
        for named in ["--open-ingest", "--ingest-secret", "--ingest-token"] {
            assert!(reason.contains(named), "{args:?}: {stderr}");
        }
    }
    // The same in a config file: keys as the flags.
    let dir = std::env::temp_dir().join(format!("playlists-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    std::fs::write(&file, "listen = \"0.0.0.0:0\"\n").unwrap();
    let (status, _, stderr) = run_to_exit(&["--config", file.to_str().unwrap()], &[]);
    assert!(
        !status.success() && stderr.contains("--open-ingest"),
        "{stderr}"
    );

    // Told so, or with a credential (flag, file or environment), it starts; only loopback is
    // ever asked anything.
    std::fs::write(&file, "listen = \"0.0.0.0:0\"\nopen_ingest = true\n").unwrap();
    let config = file.to_str().unwrap().to_owned();
    for args in [
        &["--listen", "0.0.0.0:0", "--open-ingest"][..],
        &["--listen", "0.0.0.0:0", "--ingest-secret", "s"][..],
        &["--config", &config][..],
    ] {
        let (child, addr) = start(args, Stdio::null());
        let local = SocketAddr::from(([127, 0, 0, 1], addr.port()));
        assert_eq!(
            wait_ok(local, "/healthz").await.status,
            StatusCode::OK,
            "{args:?}"
        );
        terminate(child);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ingest_key_prints_the_publish_key_of_a_stream() {
    let secret = [("PLAYLISTS_INGEST_SECRET", "s3cret")];
    let (status, out, err) = run_to_exit(&["ingest-key", "--stream", "cam1"], &secret);
    assert!(status.success(), "{err}");
    // HMAC-SHA256("s3cret", "publish:cam1"), computed independently (see ingest/access.rs).
    assert_eq!(
        out,
        "10b25f8c4852e5e408d6a13b0a1c74b152734ebe52116f3f55fcd3f321449beb\n"
    );
    let (status, out, _) = run_to_exit(
        &[
            "--ingest-secret",
            "s3cret",
            "ingest-key",
            "--stream",
            "live/",
        ],
        &[],
    );
    assert!(status.success());
    assert_eq!(out.trim().len(), 64);
    let (status, _, err) = run_to_exit(&["ingest-key", "--stream", "cam1"], &[]);
    assert!(!status.success() && err.contains("ingest_secret"), "{err}");
}

/// Whatever the log level, a presented key or token (header or query) never reaches the log;
/// the refusal does, with the stream's name.
#[tokio::test]
async fn presented_credentials_are_never_logged() {
    let (child, addr, log) = start_logged(
        &["--listen", "127.0.0.1:0", "--ingest-secret", "s3cret"],
        Stdio::null(),
        "trace",
        &[],
    );
    let key = "10b25f8c4852e5e408d6a13b0a1c74b152734ebe52116f3f55fcd3f321449beb";
    let wrong = "guessed-in-the-query-0123";
    let resp = origin::request(addr, "PUT", &format!("/ingest/cam1?token={wrong}"), &[]).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    let bearer = "Bearer guessed-in-the-header-4567";
    let resp = origin::request(addr, "PUT", "/ingest/cam1", &[("authorization", bearer)]).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    let resp = origin::request(addr, "PUT", &format!("/ingest/cam1?token={key}"), &[]).await;
    assert_ne!(resp.status, StatusCode::UNAUTHORIZED, "{}", resp.text());
    terminate(child);
    let log = log.lock().unwrap().join("\n");
    assert!(log.contains("ingest refused"), "{log}");
    for secret in [key, wrong, "guessed-in-the-header", "s3cret"] {
        assert!(!log.contains(secret), "`{secret}` logged:\n{log}");
    }
}

/// systemd (`Type=notify`, deploy/systemd/): READY=1 once serving; after an upgrade the new
/// process names itself the main process; STOPPING=1 on SIGTERM.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn systemd_hears_ready_and_the_new_main_pid_after_an_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let heard = || {
        let mut buf = [0u8; 256];
        let n = notify.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let socket = dir.path().join("upgrade.sock");
    let socket = socket.to_str().unwrap();
    let env = [("NOTIFY_SOCKET", notify_path.to_str().unwrap())];
    let args = ["--listen", "127.0.0.1:0", "--upgrade-socket", socket];
    let (mut old, addr) = start_with_env(&args, Stdio::null(), &env);
    assert_eq!(heard(), "READY=1\n");
    let listen = addr.to_string();
    let args = ["--listen", &listen, "--upgrade-socket", socket];
    let (new, _) = start_with_env(&args, Stdio::null(), &env);
    assert_eq!(heard(), format!("MAINPID={}\nREADY=1\n", new.id()));
    wait_exit(&mut old, Duration::from_secs(30)).expect("the old process exits");
    terminate(new);
    assert_eq!(heard(), "STOPPING=1\n");
}

/// deploy/systemd/playlists.service is a unit systemd accepts (`systemd-analyze verify`, with
/// the binary path pointed at this build), and its example config starts the binary.
#[test]
fn the_systemd_unit_and_its_config_are_valid() {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/systemd");
    let unit = std::fs::read_to_string(deploy.join("playlists.service")).unwrap();
    assert!(unit.contains("ExecReload=") && unit.contains("Type=notify"));
    // The example config starts the binary (here on loopback, with its upgrade socket in a
    // scratch directory: the service's runtime directory does not exist here).
    let dir = tempfile::tempdir().unwrap();
    let config = deploy.join("playlists.toml");
    let socket = dir.path().join("upgrade.sock");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--upgrade-socket",
        socket.to_str().unwrap(),
    ];
    let (child, _) = start(&args, Stdio::null());
    terminate(child);
    let Ok(analyze) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the unit itself is not verified");
        return;
    };
    assert!(analyze.status.success());
    let path = dir.path().join("playlists.service");
    std::fs::write(
        &path,
        unit.replace("/usr/bin/playlists", env!("CARGO_BIN_EXE_playlists")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `playlists sign` prints a URL the origin started with the same secret plays (and follows
/// into the media), and one it refuses once signed with another secret or for another stream.
#[tokio::test]
async fn sign_prints_a_url_the_signed_origin_plays() {
    let secret = [("PLAYLISTS_PLAYBACK_SECRET", "s3cret")];
    let (child, addr) = start_with_env(
        &["--listen", "127.0.0.1:0", "--demo"],
        Stdio::null(),
        &secret,
    );
    let base = format!("http://{addr}");
    let sign = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["sign", "--base", base.as_str()];
        all.extend_from_slice(args);
        let (status, out, err) = run_to_exit(&all, env);
        assert!(status.success(), "{err}");
        out.trim()
            .strip_prefix(base.as_str())
            .expect("on --base")
            .to_owned()
    };
    let path = sign(&["--path", "/demo/", "--ttl", "10m"], &secret);
    assert!(path.starts_with("/demo/index.m3u8?token="), "{path}");
    let playlist = wait_ok(addr, &path).await;
    assert_eq!(playlist.status, StatusCode::OK, "{}", playlist.text());
    let text = playlist.text();
    let segment = text
        .lines()
        .find(|l| l.starts_with('s') && l.contains(".mp4?token="))
        .expect("a segment URI with its token");
    let resp = origin::get(addr, &format!("/demo/{segment}"), &[]).await;
    assert_eq!(resp.status, StatusCode::OK);
    // `--secret` on the command line, the same secret: the same kind of URL.
    let explicit = sign(&["--secret", "s3cret", "--path", "/demo/"], &[]);
    assert_eq!(
        origin::get(addr, &explicit, &[]).await.status,
        StatusCode::OK
    );
    for refused in [
        sign(&["--secret", "other", "--path", "/demo/"], &[]),
        sign(&["--path", "/cam1/index.m3u8"], &secret).replace("/cam1/", "/demo/"),
        "/demo/index.m3u8".to_owned(),
    ] {
        let resp = origin::get(addr, &refused, &[]).await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{refused}");
    }
    let (status, _, err) = run_to_exit(&["sign", "--path", "/demo/"], &[]);
    assert!(
        !status.success() && err.contains("--playback-secret"),
        "{err}"
    );
    let (status, _, err) = run_to_exit(&["sign", "--secret", "s", "--path", "demo"], &[]);
    assert!(
        !status.success() && err.contains("must start with `/`"),
        "{err}"
    );
    terminate(child);
}

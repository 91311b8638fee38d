//! A real S3-compatible server for the archive tests, started on loopback ports of its own,
//! killed and started again on the same ports and data by the tests:
//! * `s3s-fs`, an S3 server over a directory, from crates.io (`scripts/test.sh` installs it;
//!   it builds in about a minute, so CI runs the tests against it);
//! * Garage, a distributed object store, as one node (`scripts/test-archive-garage.sh`
//!   installs it from crates.io and runs these tests against it: its build takes about
//!   eight minutes on two cores, more than CI's budget has room for).
//!
//! `PLAYLISTS_S3_SERVER` names the binary (a `garage` one runs Garage); unset, `s3s-fs`.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The credentials the server takes and the origin is given (environment variables, as an
/// operator would).
/// In Garage's format (`GK` and 24 hex digits; 64 for the secret), which s3s-fs takes too.
pub const ACCESS_KEY: &str = "GK706c61796c69737473746573";
/// See [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "706c61796c697374732d746573742d7365637265742d6b65792d303132333435";
/// The region the server answers for (Garage checks it).
pub const REGION: &str = "garage";
/// The bucket every test archives into.
pub const BUCKET: &str = "recordings";

/// A running server, its data directory and port kept across restarts.
pub struct S3Server {
    child: Option<Child>,
    binary: PathBuf,
    garage: Option<Garage>,
    data: tempfile::TempDir,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Garage's own settings: its configuration file.
struct Garage {
    config: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server's binary: `PLAYLISTS_S3_SERVER`, else `s3s-fs` on PATH or in cargo's bin
/// directory.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PLAYLISTS_S3_SERVER") {
        return path.into();
    }
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin/s3s-fs"));
    let on_path = Command::new("s3s-fs")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    match cargo_bin {
        _ if on_path => "s3s-fs".into(),
        Some(path) if path.exists() => path,
        _ => panic!(
            "the archive tests need s3s-fs (scripts/test.sh installs it: cargo install s3s-fs \
             --version 0.14.1 --features binary --locked)"
        ),
    }
}

impl S3Server {
    /// Starts a server with an empty bucket [`BUCKET`] that the test key may use.
    pub fn start() -> Self {
        let data = tempfile::tempdir().unwrap();
        let binary = binary();
        let port = free_port();
        let is_garage = binary
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("garage"));
        let garage = is_garage.then(|| {
            let dir = data.path();
            let config = dir.join("garage.toml");
            let toml = format!(
                "metadata_dir = \"{meta}\"\ndata_dir = \"{blocks}\"\ndb_engine = \"lmdb\"\n\
                 replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
                 [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{port}\"\n",
                meta = dir.join("meta").display(),
                blocks = dir.join("data").display(),
                rpc = free_port(),
                secret = &SECRET_KEY[..64],
            );
            std::fs::write(&config, toml).unwrap();
            Garage { config }
        });
        if garage.is_none() {
            std::fs::create_dir(data.path().join(BUCKET)).unwrap();
        }
        let mut server = Self {
            child: None,
            binary,
            garage,
            data,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        server.restart();
        if server.garage.is_some() {
            server.set_up_garage();
        }
        server
    }

    /// A new Garage node: its layout (one node), the bucket and the test key.
    fn set_up_garage(&self) {
        let id = self.garage_cli(&["node", "id", "-q"]);
        let id = id.trim().split('@').next().unwrap().to_owned();
        self.garage_cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &id]);
        self.garage_cli(&["layout", "apply", "--version", "1"]);
        self.garage_cli(&["bucket", "create", BUCKET]);
        self.garage_cli(&["key", "import", "--yes", ACCESS_KEY, SECRET_KEY]);
        self.garage_cli(&[
            "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", ACCESS_KEY,
        ]);
    }

    /// Runs `garage` with `args` against the node (retried while it starts), and its output.
    fn garage_cli(&self, args: &[&str]) -> String {
        let config = &self.garage.as_ref().unwrap().config;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new(&self.binary)
                .arg("-c")
                .arg(config)
                .args(args)
                .output()
                .unwrap();
            if out.status.success() {
                return String::from_utf8(out.stdout).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "garage {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The endpoint to give the origin.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment the origin takes its credentials from.
    pub fn env(&self) -> [(&'static str, &'static str); 3] {
        [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_REGION", REGION),
        ]
    }

    /// `SIGKILL`: whatever it was receiving is cut off.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port and data, and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        let mut command = Command::new(&self.binary);
        match &self.garage {
            Some(garage) => {
                command.arg("-c").arg(&garage.config).arg("server");
            }
            None => {
                command
                    .args(["--host", "127.0.0.1", "--port"])
                    .arg(self.addr.port().to_string())
                    .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                    .arg(self.data.path());
            }
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the S3 server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(self.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "the S3 server did not listen on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}

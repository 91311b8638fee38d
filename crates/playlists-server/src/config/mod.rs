//! [`Config`]: every setting of the `playlists` binary, as command-line flags and as a TOML
//! file (`--config file.toml`); a flag given on the command line wins over the file, the file
//! over the defaults.
//!
//! One struct serves both: clap parses the flags, serde reads the file, and [`Config::load`]
//! merges them by field name (a TOML key is the flag's name with `_` for `-`). [`Cli`] adds
//! the subcommands (`cli.rs`); the credentials and keys derived from the settings are in
//! `access.rs`.

mod access;
mod cli;
mod recording;
mod sources;

pub use cli::{Cli, Command};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use serde::{Deserialize, Serialize};

use crate::http::{HttpOptions, StaticAsset, MIN_HEADER_BYTES};
use crate::part_store::{ArenaOptions, PartArena, PartStore};

/// Most event loops `--threads` may ask for: far more than any machine has cores, and each is
/// an OS thread, so a typo such as `--threads 100000` is refused rather than attempted.
pub const MAX_EVENT_LOOPS: usize = 1024;

/// The RTMP port `--demo` listens on when `--rtmp-listen` is not given (RTMP's own port).
pub const DEMO_RTMP_PORT: u16 = 1935;

/// `playlists --version`: the crate's version and the commit it was built from (`build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PLAYLISTS_COMMIT"),
    ")"
);

/// Settings of the origin. Every field has a default; see `--help`.
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// A TOML file with any of these settings (keys as the flags, with `_` for `-`).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on (HTTP/1.1 and h2c, or TLS with --tls-cert/--tls-key).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Unix socket for upgrades without a gap (Linux): a new process started with the same
    /// path takes over the running one's listening socket, and the old one finishes what it
    /// holds and exits. See deploy/README.md.
    #[arg(long, value_name = "PATH")]
    pub upgrade_socket: Option<PathBuf>,
    /// PEM certificate chain; with --tls-key, serve HTTPS (h2 + http/1.1 by ALPN).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Access-Control-Allow-Origin sent with every response.
    #[arg(long, default_value = "*")]
    pub cors_origin: String,
    /// Load the page's hls.js from this URL (e.g. a CDN) instead of this server; by default
    /// the page uses the hls.js embedded in the binary, served at /assets/hls.min.js.
    #[arg(long, value_name = "URL")]
    pub hls_js_url: Option<String>,
    /// A local hls.js file to serve at /assets/hls.min.js instead of the embedded one.
    #[arg(long, value_name = "FILE")]
    pub hls_js_file: Option<PathBuf>,
    /// A server-wide ingest token: `Authorization: Bearer TOKEN` (or `?token=TOKEN`) publishes
    /// any stream (401 otherwise). Per-stream keys (--ingest-secret) are finer.
    #[arg(
        long,
        env = "PLAYLISTS_INGEST_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub ingest_token: Option<String>,
    /// The secret publish keys derive from: a key publishes one stream, or a group's renditions
    /// (`playlists ingest-key --stream NAME` prints it; HMAC-SHA256 of the name). Encoders
    /// present it as `Authorization: Bearer KEY` or `?token=KEY`.
    #[arg(
        long,
        env = "PLAYLISTS_INGEST_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub ingest_secret: Option<String>,
    /// Sign playback with this secret: every playlist, part, segment and init request needs a
    /// token for its stream or group (`playlists sign --path /NAME/ --ttl 1h` prints a signed
    /// URL), 403 otherwise; the origin writes tokens into every URI it serves.
    #[arg(
        long,
        env = "PLAYLISTS_PLAYBACK_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub playback_secret: Option<String>,
    /// Let anyone who reaches --listen publish, with no credential. Without it, a listen
    /// address other than loopback needs --ingest-secret or --ingest-token.
    #[arg(long)]
    pub open_ingest: bool,
    /// Seconds a stream stays live after its encoder disconnects, waiting for a reconnect.
    #[arg(long, default_value_t = 10)]
    pub ingest_grace_secs: u64,
    /// Serve the encoders' media timestamps as they are, instead of moving each stream's
    /// timeline onto the wall clock (decode time = seconds since the Unix epoch), which lets
    /// players that kept playing continue across an encoder or origin restart.
    #[arg(long)]
    pub keep_timestamps: bool,
    /// Take RTMP publishing on this address (e.g. `0.0.0.0:1935`): `rtmp://HOST:PORT/live/720p`
    /// (OBS: server `rtmp://HOST:PORT/live`, stream key `720p`) publishes the stream
    /// `live/720p`, with a credential as `?token=KEY` on the stream key. Off unless given;
    /// --demo turns it on at 127.0.0.1:1935 when that port is free.
    #[arg(long, env = "PLAYLISTS_RTMP_LISTEN", value_name = "ADDR")]
    pub rtmp_listen: Option<SocketAddr>,
    /// The largest RTMP message (a video frame) accepted; a larger one cuts the encoder off.
    #[arg(long, default_value_t = 8 << 20)]
    pub rtmp_max_message_bytes: usize,
    /// The most an RTMP connection may send, in Mbit/s averaged over two seconds; more cuts
    /// it off.
    #[arg(long, default_value_t = 100)]
    pub rtmp_max_mbits: u64,
    /// RTMP connections served at once; more are closed at once.
    #[arg(long, default_value_t = 256)]
    pub rtmp_max_connections: usize,
    /// Take SRT publishing (MPEG-TS, caller mode) on this UDP address (e.g. `0.0.0.0:9000`):
    /// `srt://HOST:PORT?streamid=publish:live/720p` (or `#!::r=live/720p,m=publish`)
    /// publishes the stream `live/720p`, with a credential as `?token=KEY` on the name. Off
    /// unless given.
    #[arg(long, env = "PLAYLISTS_SRT_LISTEN", value_name = "ADDR")]
    pub srt_listen: Option<SocketAddr>,
    /// The SRT receive latency offered, in milliseconds (the larger of the caller's and this
    /// applies): the time SRT has to recover lost packets, added to the stream's latency.
    #[arg(long, default_value_t = 200)]
    pub srt_latency_ms: u64,
    /// SRT callers must encrypt with this passphrase (10 to 79 characters; any key length);
    /// without it they must not encrypt.
    #[arg(
        long,
        env = "PLAYLISTS_SRT_PASSPHRASE",
        value_name = "PASSPHRASE",
        hide_env_values = true
    )]
    pub srt_passphrase: Option<String>,
    /// The most an SRT connection may send, in Mbit/s averaged over two seconds; more cuts
    /// it off.
    #[arg(long, default_value_t = 100)]
    pub srt_max_mbits: u64,
    /// SRT callers served at once; more are refused (reject code 1402).
    #[arg(long, default_value_t = 256)]
    pub srt_max_connections: usize,
    /// Also publish the built-in demo stream `demo` (on by default when run with no arguments).
    #[arg(long)]
    pub demo: bool,
    /// Event loops (threads) serving connections, at most 1024; 0 means one per CPU. Each
    /// connection stays on one loop for its life.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Store parts in an arena (shared memory, or a file with --part-dir) and send them with
    /// sendfile (Linux); `false` keeps them on the heap and copies them into sockets.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub zero_copy: bool,
    /// Keep the zero-copy parts in an unlinked file in DIR instead of in shared memory. On a
    /// filesystem that caches files in large folios (ext4, XFS on recent Linux) each part is
    /// sent with fewer page references; the price is that the kernel writes parts to DIR's
    /// disk in the background. DIR's filesystem must support punching holes.
    #[arg(long, value_name = "DIR")]
    pub part_dir: Option<PathBuf>,
    /// Record every stream into DIR as its segments complete (one file per segment and an
    /// index), find the recordings again at start, and serve them as VOD HLS under
    /// /recordings/. Off unless given.
    #[arg(long, value_name = "DIR")]
    pub record_dir: Option<PathBuf>,
    /// Remove recorded segments older than this (`7d`, `12h`); unset keeps them.
    #[arg(long, value_name = "DURATION")]
    pub record_max_age: Option<String>,
    /// Remove the oldest recordings while all of them take more than this (`500G`, `20M`, or
    /// bytes); unset keeps them.
    #[arg(long, value_name = "SIZE")]
    pub record_max_bytes: Option<String>,
    /// A DVR window (`2h`, `30m`): media playlists list every segment of it, with EXT-X-PART
    /// tags still only near the live edge, so players can seek back; segments no longer in
    /// memory are served from the recording. Needs --record-dir. Unset: a live window only.
    #[arg(long, value_name = "DURATION")]
    pub dvr_window: Option<String>,
    /// Upload recordings to an S3-compatible store (`s3://bucket/prefix`; needs --record-dir)
    /// and serve from it what retention, which then bounds the local disk only, removed there.
    /// Endpoint, region and credentials: the flags below, or the standard AWS_* variables.
    #[arg(long, value_name = "URL")]
    pub archive: Option<String>,
    /// The archive's endpoint (`http://127.0.0.1:3900`); unset: AWS_ENDPOINT_URL, or AWS S3.
    #[arg(long, value_name = "URL")]
    pub archive_endpoint: Option<String>,
    /// The archive's region; unset: AWS_REGION, or us-east-1.
    #[arg(long, value_name = "REGION")]
    pub archive_region: Option<String>,
    /// The archive's access key id; unset: AWS_ACCESS_KEY_ID.
    #[arg(long, value_name = "ID")]
    pub archive_access_key_id: Option<String>,
    /// The archive's secret access key; unset: AWS_SECRET_ACCESS_KEY (a flag shows in `ps`).
    #[arg(long, value_name = "SECRET")]
    pub archive_secret_access_key: Option<String>,

    /// Held requests (blocking reloads, hinted parts) per stream; more get 503.
    #[arg(long, default_value_t = 20_000)]
    pub max_waiting_per_stream: usize,
    /// Held requests across all streams; more get 503.
    #[arg(long, default_value_t = 50_000)]
    pub max_waiting_total: usize,
    /// Largest request head in bytes (at least 8192); larger get 431.
    #[arg(long, default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,
    /// Seconds an idle connection (no request head) is kept open; also the longest an ingest
    /// body may go without completing a part (then 408).
    #[arg(long, default_value_t = 30)]
    pub idle_timeout_secs: u64,
    /// Seconds to produce a response head before answering 503 (keep above 3 × target duration).
    #[arg(long, default_value_t = 60)]
    pub request_timeout_secs: u64,
    /// Seconds shutdown waits for in-flight responses.
    #[arg(long, default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// max-age, in seconds, of parts, segments and init sections.
    #[arg(long, default_value_t = 300)]
    pub media_max_age_secs: u64,

    /// Streams live at once (at most 4096). Capacity no stream uses costs about 4 KB of
    /// memory a stream (a stream's ring is written on first use), so the default is sized by
    /// what live streams cost on a 2-core, 24 GB machine: one 3 Mbit/s stream with 200 ms
    /// parts on the default sizes takes 31 MB and 0.17 % of a core to ingest
    /// (`scripts/capacity.sh`), so 500 take about 15 GB and 0.85 of a core, leaving 9 GB and
    /// over a core for the players (held requests, connections, the page cache). Memory binds
    /// first: 24 GB would hold about 650 such streams with nothing left for the players.
    #[arg(long, default_value_t = 500)]
    pub num_playlists: usize,
    /// Segments kept per stream (the playlist window).
    #[arg(long, default_value_t = 32)]
    pub max_segments: usize,
    /// Parts a segment may hold.
    #[arg(long, default_value_t = 128)]
    pub max_parts_per_segment: usize,
    /// A segment ends at the first independent part after this many milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub segment_min_ms: u64,
    /// EXT-X-TARGETDURATION in seconds, the same for every stream. Unset (the default), each
    /// stream measures its own from its first segment (the encoder's key-frame interval),
    /// at most --max-target-duration-s; renditions of a group share the first one's.
    #[arg(long)]
    pub target_duration_s: Option<u32>,
    /// The longest target duration a stream may measure; a stream whose key frames come
    /// further apart gets this one, with segments cut between key frames.
    #[arg(long, default_value_t = 10)]
    pub max_target_duration_s: u32,
    /// PART-TARGET in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub part_target_ms: u32,
    /// Playlist versions kept per stream for blocking requests.
    #[arg(long, default_value_t = 64)]
    pub playlist_versions: usize,
}

impl Config {
    /// The number of event loops to run: [`Config::threads`], or one per CPU when it is 0.
    pub fn event_loops(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        // The clap defaults are the one source of the default values.
        Cli::parse_from(["playlists"]).config
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for [`Config`].
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong, from the TOML parser (line and key included).
        message: String,
    },
    /// A setting is out of range.
    #[error("invalid setting `{name}`: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// Parses the process's arguments and merges the `--config` file under them.
    ///
    /// # Errors
    /// [`ConfigError`] for an unreadable or invalid file. Bad flags exit with clap's usage
    /// message, as command-line programs do.
    pub fn load() -> Result<Self, ConfigError> {
        let matches = Cli::command().get_matches();
        Self::from_matches(&matches)
    }

    /// [`load`](Self::load) from given arguments (the first is the program name).
    ///
    /// # Errors
    /// As [`load`](Self::load), plus clap's error for bad flags, as [`ConfigError::Invalid`].
    pub fn load_from<I, T>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches =
            Cli::command()
                .try_get_matches_from(args)
                .map_err(|e| ConfigError::Invalid {
                    name: "arguments",
                    reason: e.to_string().lines().next().unwrap_or_default().to_owned(),
                })?;
        Self::from_matches(&matches)
    }

    /// The flags in `matches`, over the file they name (if any), over the defaults.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn from_matches(matches: &ArgMatches) -> Result<Self, ConfigError> {
        let flags = Self::from_arg_matches(matches).map_err(|e| ConfigError::Invalid {
            name: "arguments",
            reason: e.to_string(),
        })?;
        let Some(path) = flags.config.clone() else {
            return Ok(flags);
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let parse_err = |message: String| ConfigError::Parse {
            path: path.clone(),
            message,
        };
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| parse_err(e.to_string()))?;
        // Check the file on its own first, so its errors name the file's keys.
        Config::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| parse_err(e.to_string()))?;
        // Flags given on the command line (or by environment) replace the file's values.
        let flag_values = toml::Table::try_from(&flags).map_err(|e| parse_err(e.to_string()))?;
        for id in matches.ids() {
            let explicit = matches!(
                matches.value_source(id.as_str()),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            );
            if let (true, Some(value)) = (explicit, flag_values.get(id.as_str())) {
                table.insert(id.as_str().to_owned(), value.clone());
            }
        }
        let mut merged =
            Config::deserialize(toml::Value::Table(table)).map_err(|e| parse_err(e.to_string()))?;
        merged.config = Some(path);
        Ok(merged)
    }

    /// How streams get their target duration: fixed by `--target-duration-s`, or measured.
    pub fn target_duration(&self) -> playlists::TargetDuration {
        match self.target_duration_s {
            Some(s) => playlists::TargetDuration::Fixed(s),
            None => playlists::TargetDuration::Measured {
                max_s: self.max_target_duration_s,
            },
        }
    }

    /// The library's sizing and timing.
    pub fn library_options(&self) -> playlists::Options {
        playlists::Options {
            num_playlists: self.num_playlists,
            max_segments: self.max_segments,
            max_parts_per_segment: self.max_parts_per_segment,
            segment_min_ms: self.segment_min_ms,
            target_duration: self.target_duration(),
            part_target_ms: self.part_target_ms,
            playlist_versions: self.playlist_versions,
            // From the first segment's date: a restarted origin numbers above what its
            // players saw before the restart (docs/conformance.md R34).
            numbering: playlists::Numbering::WallClock,
            // Checked by `recording()`, which the binary calls before serving.
            dvr_window_ms: self
                .dvr_window
                .as_deref()
                .and_then(|w| humantime::parse_duration(w).ok())
                .map(|w| w.as_millis() as u64),
        }
    }

    /// The HTTP layer's options. Reads the TLS and hls.js files named by the settings.
    ///
    /// # Errors
    /// [`ConfigError`] for unreadable files, bad TLS material or out-of-range values.
    pub fn http_options(&self) -> Result<HttpOptions, ConfigError> {
        let invalid = |name, reason: String| ConfigError::Invalid { name, reason };
        let cors_origin = http::HeaderValue::from_str(&self.cors_origin)
            .map_err(|_| invalid("cors_origin", "not a valid header value".to_owned()))?;
        if self.threads > MAX_EVENT_LOOPS {
            return Err(invalid(
                "threads",
                format!(
                    "{} is above the limit of {MAX_EVENT_LOOPS} event loops (0 means one per CPU)",
                    self.threads
                ),
            ));
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return Err(invalid(
                "max_header_bytes",
                format!(
                    "{} is below the minimum {MIN_HEADER_BYTES}",
                    self.max_header_bytes
                ),
            ));
        }
        let hold = 3 * u64::from(self.target_duration().max_s());
        if self.request_timeout_secs <= hold {
            return Err(invalid(
                "request_timeout_secs",
                format!(
                    "must exceed 3 × target duration ({hold} s), or held requests are cut short"
                ),
            ));
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(
                crate::http::server_config(&read(cert)?, &read(key)?)
                    .map_err(|e| invalid("tls_cert", e.to_string()))?,
            ),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "tls_cert",
                    "--tls-cert and --tls-key go together".to_owned(),
                ))
            }
        };
        let hls_js = match &self.hls_js_file {
            Some(path) => StaticAsset::new(read(path)?.into()),
            None => StaticAsset::embedded_hls_js(),
        };
        Ok(HttpOptions {
            cors_origin,
            hls_js_url: self.hls_js_url.clone(),
            hls_js,
            max_waiting_per_stream: self.max_waiting_per_stream,
            max_waiting_total: self.max_waiting_total,
            max_header_bytes: self.max_header_bytes,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            // Encoders get the ingest grace period to come back after an origin restart; the
            // players asking for their streams meanwhile are held as long.
            restart_hold: Duration::from_secs(self.ingest_grace_secs),
            media_max_age: Duration::from_secs(self.media_max_age_secs),
            tls,
            playback: self.playback_key(),
        })
    }

    /// Where parts are stored: an arena in shared memory (the default), in a file in
    /// `part_dir`, or the heap with `--zero-copy false`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when `part_dir` is given without zero-copy, or no arena can
    /// be made in it (a directory that was asked for must work: this fails at start-up
    /// rather than falling back to the heap at the first stream).
    pub fn part_store(&self) -> Result<PartStore, ConfigError> {
        let invalid = |name, reason: String| ConfigError::Invalid { name, reason };
        match (self.zero_copy, &self.part_dir) {
            (false, None) => Ok(PartStore::heap()),
            (false, Some(_)) => Err(invalid(
                "part_dir",
                "parts are kept in a file only with --zero-copy true".to_owned(),
            )),
            (true, None) => Ok(PartStore::new(Some(ArenaOptions::default()))),
            (true, Some(dir)) => {
                let opts = ArenaOptions {
                    dir: Some(dir.clone()),
                    ..ArenaOptions::default()
                };
                let arena = PartArena::new(opts)
                    .map_err(|e| invalid("part_dir", format!("{}: {e}", dir.display())))?;
                Ok(PartStore::with_arena(Some(arena)))
            }
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;

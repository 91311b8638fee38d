//! [`Cli`]: the command line, the settings ([`Config`]) and the subcommands
//! (`playlists ingest`, `ingest-key`, `sign`).

use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use super::{Config, ConfigError, VERSION};

/// The command line: settings, then an optional subcommand.
///
/// With no arguments at all, `playlists` serves the built-in demo stream on 127.0.0.1:8080.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "playlists",
    version = VERSION,
    about = "An LL-HLS origin: fMP4 in, LL-HLS out",
    after_help = "Encoders push with e.g. `ffmpeg ... -f mp4 -method PUT http://HOST/ingest/NAME`, \
                  or pipe into `playlists ingest --stream NAME`."
)]
pub struct Cli {
    /// Settings (also readable from `--config FILE`).
    #[command(flatten)]
    pub config: Config,
    /// What to do besides serving HTTP.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve, and publish the fMP4 byte stream read from stdin as stream NAME
    /// (`ffmpeg ... -f mp4 -movflags cmaf+empty_moov+default_base_moof - | playlists ingest --stream NAME`).
    Ingest {
        /// The stream to publish (`name` or `group/rendition`).
        #[arg(long)]
        stream: String,
    },
    /// Print the publish key of a stream, or of a group's renditions (`--stream live/`), for
    /// the secret of --ingest-secret (or PLAYLISTS_INGEST_SECRET), and exit.
    IngestKey {
        /// The stream (`name`, `group/rendition`) or group (`group/`) the key publishes.
        #[arg(long)]
        stream: String,
    },
    /// Print a signed playback URL (see --playback-secret), and exit.
    Sign {
        /// The secret to sign with; --playback-secret (or PLAYLISTS_PLAYBACK_SECRET) by default.
        #[arg(long, value_name = "SECRET")]
        secret: Option<String>,
        /// What to play: `/NAME/` (a stream's media playlist), `/GROUP/master.m3u8`, or any
        /// path; the token covers the stream or group the path is under (`/` for every
        /// stream).
        #[arg(long)]
        path: String,
        /// How long the URL plays, e.g. `1h`, `30m`, `7days`.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
        ttl: Duration,
        /// Scheme and host of the URL; this server's --listen address by default.
        #[arg(long, value_name = "URL")]
        base: Option<String>,
    },
}

impl Cli {
    /// Parses the process's arguments (see [`Config::load`] for the settings).
    ///
    /// # Errors
    /// As [`Config::from_matches`].
    pub fn load() -> Result<Self, ConfigError> {
        let matches = Self::command().get_matches();
        let mut config = Config::from_matches(&matches)?;
        // `playlists` alone: show something working at once.
        if std::env::args_os().len() <= 1 {
            config.demo = true;
        }
        let command = match matches.subcommand() {
            Some(_) => {
                Some(
                    Command::from_arg_matches(&matches).map_err(|e| ConfigError::Invalid {
                        name: "subcommand",
                        reason: e.to_string(),
                    })?,
                )
            }
            None => None,
        };
        Ok(Self { config, command })
    }
}

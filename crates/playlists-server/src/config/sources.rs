//! The network sources' settings: where RTMP publishing is taken, and the RTMP and SRT
//! listeners' limits.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Config, ConfigError, DEMO_RTMP_PORT};
use crate::ingest::sources::rtmp::RtmpConfig;
use crate::ingest::sources::srt::{Passphrase, SrtConfig};

impl Config {
    /// Where RTMP publishing is taken: `--rtmp-listen`, else 127.0.0.1:1935 with `--demo`
    /// (`true`: only if that port is free), else nowhere.
    pub fn rtmp_listen(&self) -> Option<(SocketAddr, bool)> {
        match (self.rtmp_listen, self.demo) {
            (Some(addr), _) => Some((addr, false)),
            (None, true) => Some((SocketAddr::from(([127, 0, 0, 1], DEMO_RTMP_PORT)), true)),
            (None, false) => None,
        }
    }

    /// The RTMP source's limits.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a limit of 0.
    pub fn rtmp_config(&self) -> Result<RtmpConfig, ConfigError> {
        let invalid = |name| ConfigError::Invalid {
            name,
            reason: "must be above 0".to_owned(),
        };
        if self.rtmp_max_message_bytes == 0 {
            return Err(invalid("rtmp_max_message_bytes"));
        }
        if self.rtmp_max_mbits == 0 {
            return Err(invalid("rtmp_max_mbits"));
        }
        if self.rtmp_max_connections == 0 {
            return Err(invalid("rtmp_max_connections"));
        }
        Ok(RtmpConfig {
            max_message_bytes: self.rtmp_max_message_bytes,
            max_bitrate: self.rtmp_max_mbits.saturating_mul(1_000_000),
            max_connections: self.rtmp_max_connections,
            // The process of an upgrade binds the port beside this one (see `upgrade`).
            reuse_port: self.upgrade_socket.is_some(),
            ..RtmpConfig::default()
        })
    }

    /// The SRT source's settings and limits.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a limit of 0, a latency over 10 s, or a passphrase SRT
    /// does not take (the message does not repeat it).
    pub fn srt_config(&self) -> Result<SrtConfig, ConfigError> {
        let invalid = |name, reason: &str| ConfigError::Invalid {
            name,
            reason: reason.to_owned(),
        };
        if self.srt_max_mbits == 0 {
            return Err(invalid("srt_max_mbits", "must be above 0"));
        }
        if self.srt_max_connections == 0 {
            return Err(invalid("srt_max_connections", "must be above 0"));
        }
        if !(1..=10_000).contains(&self.srt_latency_ms) {
            return Err(invalid("srt_latency_ms", "must be 1 to 10000"));
        }
        let passphrase = match self.srt_passphrase.as_deref().filter(|s| !s.is_empty()) {
            Some(p) => Some(Passphrase::new(p).map_err(|reason| ConfigError::Invalid {
                name: "srt_passphrase",
                reason,
            })?),
            None => None,
        };
        Ok(SrtConfig {
            latency: Duration::from_millis(self.srt_latency_ms),
            passphrase,
            max_bitrate: self.srt_max_mbits.saturating_mul(1_000_000),
            max_connections: self.srt_max_connections,
            ..SrtConfig::default()
        })
    }
}

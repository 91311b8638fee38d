//! Who may publish and who may watch: the ingest credentials and publish keys, the playback
//! key and signed URLs, from the settings.

use std::time::Duration;

use super::{Config, ConfigError};
use crate::ingest::{Credentials, Secret};
use crate::playback::PlaybackKey;

impl Config {
    /// The key of `--playback-secret` (or `PLAYLISTS_PLAYBACK_SECRET`; empty counts as unset):
    /// with one, playback is signed ([`crate::playback`]).
    pub fn playback_key(&self) -> Option<PlaybackKey> {
        let secret = self.playback_secret.as_deref().filter(|s| !s.is_empty())?;
        Some(PlaybackKey::new(&Secret::from(secret)))
    }

    /// The signed URL `playlists sign` prints: `path` on `base` (this server's `--listen`
    /// address when not given) with a token of `secret` (`--playback-secret` when not given)
    /// valid for `ttl` from now.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] without a secret, or for a path no token can grant.
    pub fn sign(
        &self,
        secret: Option<&str>,
        path: &str,
        ttl: Duration,
        base: Option<&str>,
    ) -> Result<String, ConfigError> {
        let key = match secret.filter(|s| !s.is_empty()) {
            Some(secret) => PlaybackKey::new(&Secret::from(secret)),
            None => self.playback_key().ok_or_else(|| ConfigError::Invalid {
                name: "secret",
                reason: "a playback token is signed with --secret or --playback-secret \
                         (or PLAYLISTS_PLAYBACK_SECRET), and none is set"
                    .to_owned(),
            })?,
        };
        let scheme = if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let base = base.map_or_else(|| format!("{scheme}://{}", self.listen), str::to_owned);
        let expiry = crate::playback::unix_secs(std::time::SystemTime::now() + ttl);
        crate::playback::signed_url(&key, &base, path, expiry).map_err(|reason| {
            ConfigError::Invalid {
                name: "path",
                reason,
            }
        })
    }

    /// The credentials network sources must present (empty values count as unset).
    pub fn ingest_credentials(&self) -> Credentials {
        let set = |v: &Option<String>| v.clone().filter(|v| !v.is_empty()).map(Secret::from);
        Credentials {
            token: set(&self.ingest_token),
            secret: set(&self.ingest_secret),
        }
    }

    /// The ingest layer's settings, shared by every source.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when publishing would be open to every address that reaches
    /// the listener without being asked for: `listen` is not a loopback address, no
    /// credential is set and `--open-ingest` is not given (secure by default); or when
    /// `--open-ingest` comes with a credential, which it would contradict.
    pub fn ingest_config(&self) -> Result<crate::ingest::IngestConfig, ConfigError> {
        let credentials = self.ingest_credentials();
        let open = credentials.is_open();
        // Every address that takes publishing: HTTP's, and RTMP's and SRT's if given.
        let listeners = [
            ("listen", Some(self.listen)),
            ("rtmp_listen", self.rtmp_listen),
            ("srt_listen", self.srt_listen),
        ];
        for (name, addr) in listeners {
            let Some(addr) = addr else { continue };
            if open && !addr.ip().to_canonical().is_loopback() && !self.open_ingest {
                return Err(ConfigError::Invalid {
                    name,
                    reason: format!(
                        "{addr} is not a loopback address and no ingest credential is set, so \
                         anyone reaching it could publish: set --ingest-secret (per-stream \
                         publish keys) or --ingest-token, or pass --open-ingest to allow open \
                         publishing"
                    ),
                });
            }
        }
        if !open && self.open_ingest {
            return Err(ConfigError::Invalid {
                name: "open_ingest",
                reason: "--open-ingest contradicts --ingest-secret/--ingest-token: \
                         keep one"
                    .to_owned(),
            });
        }
        Ok(crate::ingest::IngestConfig {
            grace: Duration::from_secs(self.ingest_grace_secs),
            stall_after: Duration::from_secs(self.idle_timeout_secs),
            credentials: self.ingest_credentials(),
            restamp: !self.keep_timestamps,
            events: self.record_dir.is_some(),
            ..crate::ingest::IngestConfig::default()
        })
    }

    /// The publish key of `scope` (`playlists ingest-key --stream SCOPE`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] without `--ingest-secret`, or for a scope no stream has.
    pub fn ingest_key(&self, scope: &str) -> Result<String, ConfigError> {
        let Some(secret) = self.ingest_credentials().secret else {
            return Err(ConfigError::Invalid {
                name: "ingest_secret",
                reason: "a publish key derives from --ingest-secret (or PLAYLISTS_INGEST_SECRET), \
                         which is not set"
                    .to_owned(),
            });
        };
        crate::ingest::publish_key(&secret, scope).map_err(|e| ConfigError::Invalid {
            name: "stream",
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_ingest_off_loopback_must_be_asked_for() {
        let ingest = |args: &[&str]| {
            let args = ["playlists"].iter().chain(args);
            Config::load_from(args).unwrap().ingest_config()
        };
        for loopback in [
            "127.0.0.1:0",
            "127.3.2.1:8080",
            "[::1]:0",
            "[::ffff:127.0.0.1]:0",
        ] {
            let c = ingest(&["--listen", loopback]).unwrap();
            assert!(c.credentials.is_open(), "{loopback}");
        }
        for public in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8080"] {
            let err = ingest(&["--listen", public]).unwrap_err().to_string();
            assert!(
                err.contains("--open-ingest")
                    && err.contains("--ingest-secret")
                    && err.contains("--ingest-token")
                    && !err.contains('\n'),
                "{err}"
            );
            assert!(ingest(&["--listen", public, "--open-ingest"]).is_ok());
            let keyed = ingest(&["--listen", public, "--ingest-secret", "s"]).unwrap();
            assert!(keyed.credentials.secret.is_some());
            assert!(ingest(&["--listen", public, "--ingest-token", "t"]).is_ok());
            // An empty value sets nothing.
            assert!(ingest(&["--listen", public, "--ingest-token", ""]).is_err());
        }
        // The RTMP listener is held to the same rule.
        let err = ingest(&["--rtmp-listen", "0.0.0.0:1935"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rtmp_listen") && err.contains("--open-ingest"),
            "{err}"
        );
        assert!(ingest(&["--rtmp-listen", "0.0.0.0:1935", "--ingest-secret", "s"]).is_ok());
        assert!(ingest(&["--rtmp-listen", "127.0.0.1:1935"]).is_ok());
        let err = ingest(&["--open-ingest", "--ingest-token", "t"]).unwrap_err();
        assert!(err.to_string().contains("open_ingest"), "{err}");
    }

    #[test]
    fn ingest_keys_need_the_secret() {
        let c = Config::load_from(["playlists", "--ingest-secret", "s3cret"]).unwrap();
        assert_eq!(
            c.ingest_key("cam1").unwrap(),
            crate::ingest::publish_key(&"s3cret".into(), "cam1").unwrap()
        );
        assert!(c
            .ingest_key("a/b/c")
            .unwrap_err()
            .to_string()
            .contains("stream"));
        let err = Config::default()
            .ingest_key("cam1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ingest_secret"), "{err}");
    }
}

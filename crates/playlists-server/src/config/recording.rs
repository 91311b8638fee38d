//! The recording settings (`--record-dir`, `--record-max-age`, `--record-max-bytes`).

use std::path::PathBuf;

use super::{Config, ConfigError};
use crate::recording::archive::ArchiveSettings;
use crate::recording::Retention;

impl Config {
    /// Where to record and what to keep: `None` when `--record-dir` is not given.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a retention setting that does not parse, or one given
    /// without a recording directory.
    pub fn recording(&self) -> Result<Option<(PathBuf, Retention)>, ConfigError> {
        let invalid = |name, reason: String| ConfigError::Invalid { name, reason };
        let max_age = self
            .record_max_age
            .as_deref()
            .map(|age| {
                humantime::parse_duration(age)
                    .map_err(|e| invalid("record_max_age", format!("`{age}`: {e}")))
            })
            .transpose()?;
        let max_bytes = self
            .record_max_bytes
            .as_deref()
            .map(|size| parse_size(size).map_err(|reason| invalid("record_max_bytes", reason)))
            .transpose()?;
        if let Some(window) = self.dvr_window.as_deref() {
            let parsed = humantime::parse_duration(window)
                .map_err(|e| invalid("dvr_window", format!("`{window}`: {e}")))?;
            if parsed.is_zero() {
                return Err(invalid("dvr_window", format!("`{window}` is no window")));
            }
            if self.record_dir.is_none() {
                return Err(invalid(
                    "dvr_window",
                    "--dvr-window needs --record-dir: segments that left memory are served \
                     from the recording"
                        .to_owned(),
                ));
            }
        }
        let retention = Retention { max_age, max_bytes };
        match &self.record_dir {
            Some(dir) => Ok(Some((dir.clone(), retention))),
            None if retention != Retention::default() => Err(invalid(
                "record_dir",
                "--record-max-age and --record-max-bytes need --record-dir".to_owned(),
            )),
            None => Ok(None),
        }
    }
}

impl Config {
    /// The archive (`--archive` and its flags): `None` when `--archive` is not given.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a URL that is not `s3://bucket[/prefix]`, an archive
    /// without a recording directory, or archive flags without `--archive`.
    pub fn archive(&self) -> Result<Option<ArchiveSettings>, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: "archive",
            reason,
        };
        let Some(url) = &self.archive else {
            let flags = [
                &self.archive_endpoint,
                &self.archive_region,
                &self.archive_access_key_id,
                &self.archive_secret_access_key,
            ];
            if flags.iter().any(|f| f.is_some()) {
                return Err(invalid(
                    "--archive-endpoint, --archive-region and the archive's credentials need \
                     --archive"
                        .to_owned(),
                ));
            }
            return Ok(None);
        };
        if self.record_dir.is_none() {
            return Err(invalid(
                "--archive needs --record-dir: the local recordings are what is uploaded"
                    .to_owned(),
            ));
        }
        let mut settings = ArchiveSettings::parse(url).map_err(|e| invalid(e.to_string()))?;
        settings.endpoint.clone_from(&self.archive_endpoint);
        settings.region.clone_from(&self.archive_region);
        settings
            .access_key_id
            .clone_from(&self.archive_access_key_id);
        settings
            .secret_access_key
            .clone_from(&self.archive_secret_access_key);
        Ok(Some(settings))
    }
}

/// `500G`, `20M`, `1.5T`, `4096`: bytes, with an optional binary unit (K, M, G, T = powers
/// of 1024, an optional trailing `B` or `iB`). Written here: four units do not need a crate.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (number, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, ' '),
    };
    let shift = match unit {
        ' ' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return Err(format!("`{text}`: the unit must be K, M, G or T")),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 500G, 20M, 4096)"))?;
    let bytes = value * (1u64 << shift) as f64;
    if !(1.0..1.8e19).contains(&bytes) {
        return Err(format!(
            "`{text}`: must be at least 1 byte and below 16 EiB"
        ));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("20M"), Ok(20 << 20));
        assert_eq!(parse_size("500GiB"), Ok(500 << 30));
        assert_eq!(parse_size("1.5t"), Ok(3 << 39));
        assert_eq!(parse_size("2KB"), Ok(2048));
        for bad in ["", "G", "-1G", "0", "12Q", "1e30", "ten"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retention_needs_a_directory_and_parses() {
        let config = |args: &[&str]| {
            Config::load_from(["playlists"].iter().chain(args))
                .unwrap()
                .recording()
        };
        assert_eq!(config(&[]).unwrap(), None);
        assert_eq!(
            config(&[
                "--record-dir",
                "/r",
                "--record-max-age",
                "2h",
                "--record-max-bytes",
                "1G"
            ])
            .unwrap(),
            Some((
                PathBuf::from("/r"),
                Retention {
                    max_age: Some(Duration::from_secs(7200)),
                    max_bytes: Some(1 << 30)
                }
            ))
        );
        let err = config(&["--record-max-age", "2h"]).unwrap_err();
        assert!(err.to_string().contains("--record-dir"), "{err}");
        let err = config(&["--record-dir", "/r", "--record-max-age", "soon"]).unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
        let err = config(&["--dvr-window", "2h"]).unwrap_err();
        assert!(err.to_string().contains("--record-dir"), "{err}");
        let dvr =
            Config::load_from(["playlists", "--record-dir", "/r", "--dvr-window", "2h"]).unwrap();
        assert!(dvr.recording().is_ok());
        assert_eq!(dvr.library_options().dvr_window_ms, Some(7_200_000));
    }

    #[test]
    fn an_archive_needs_a_recording_directory_and_an_s3_url() {
        let archive = |args: &[&str]| {
            Config::load_from(["playlists"].iter().chain(args))
                .unwrap()
                .archive()
        };
        assert!(archive(&[]).unwrap().is_none());
        let settings = archive(&[
            "--record-dir",
            "/r",
            "--archive",
            "s3://recordings/origin-1",
            "--archive-endpoint",
            "http://127.0.0.1:3900",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(settings.bucket, "recordings");
        assert_eq!(settings.prefix, "origin-1");
        assert_eq!(settings.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        for (args, says) in [
            (&["--archive", "s3://recordings"][..], "--record-dir"),
            (&["--record-dir", "/r", "--archive", "/tmp/x"][..], "s3://"),
            (&["--archive-region", "eu"][..], "need --archive"),
        ] {
            let err = archive(args).unwrap_err().to_string();
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }
}

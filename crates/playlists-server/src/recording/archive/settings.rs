//! [`ArchiveSettings`]: where the archive is and how to reach it, from `--archive` and its
//! flags, or the standard `AWS_*` environment variables.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{ClientOptions, ObjectStore, RetryConfig};

/// Why the archive cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// `--archive` is not `s3://bucket[/prefix]`.
    #[error("`{0}` is not an archive URL: expected s3://bucket or s3://bucket/prefix")]
    Url(String),
    /// The store's client cannot be built from these settings (a missing secret, a bad
    /// endpoint).
    #[error("the archive's settings: {0}")]
    Store(#[from] object_store::Error),
}

/// Where the archive is: `s3://bucket/prefix`, and the endpoint, region and credentials.
/// What is not given here is taken from the standard environment variables
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, …), as every S3 tool does.
#[derive(Clone, PartialEq, Eq)]
pub struct ArchiveSettings {
    /// The bucket.
    pub bucket: String,
    /// The key prefix every recording is stored under; may be empty.
    pub prefix: String,
    /// The store's URL (`http://127.0.0.1:3900`); `None`: the environment's, or AWS S3.
    pub endpoint: Option<String>,
    /// The region; `None`: the environment's, or `us-east-1`.
    pub region: Option<String>,
    /// The access key id; `None`: the environment's.
    pub access_key_id: Option<String>,
    /// The secret access key; `None`: the environment's.
    pub secret_access_key: Option<String>,
}

// Not derived: the secret stays out of logs and panics.
impl std::fmt::Debug for ArchiveSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveSettings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl ArchiveSettings {
    /// Parses `s3://bucket` or `s3://bucket/some/prefix`; the other settings start unset.
    ///
    /// # Errors
    /// [`ArchiveError::Url`] for anything else.
    pub fn parse(url: &str) -> Result<Self, ArchiveError> {
        let bad = || ArchiveError::Url(url.to_owned());
        let rest = url.strip_prefix("s3://").ok_or_else(bad)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        // Bucket names are lower-case letters, digits, dots and hyphens (the S3 rules, which
        // every compatible store follows); the prefix must be a clean key path.
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        let prefix_ok = prefix
            .split('/')
            .all(|p| prefix.is_empty() || !(p.is_empty() || p == "." || p == ".."));
        if !bucket_ok || !prefix_ok {
            return Err(bad());
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
        })
    }

    /// The store's client. Nothing is sent yet: a store that is away now is retried by the
    /// uploader, not refused at start.
    ///
    /// # Errors
    /// [`ArchiveError::Store`] when the settings are incomplete or malformed.
    pub fn store(&self) -> Result<Arc<dyn ObjectStore>, ArchiveError> {
        // reqwest's rustls takes the process's crypto provider; the origin uses ring
        // throughout (see Cargo.toml). Already installed (by an earlier call): fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(60));
        // A couple of quick retries for a dropped connection; beyond that the uploader's
        // own backoff, which never gives up, takes over (and a read for a player fails fast).
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(10),
            ..RetryConfig::default()
        };
        // The client options first: setting them replaces what `with_allow_http` set.
        let mut builder = AmazonS3Builder::from_env()
            .with_client_options(client)
            .with_retry(retry)
            .with_bucket_name(&self.bucket);
        if let Some(endpoint) = &self.endpoint {
            // An explicit endpoint is a compatible store: path-style requests
            // (`endpoint/bucket/key`), which every one of them takes. Plain HTTP only when
            // the endpoint says so (a store on loopback or a private network).
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some(id) = &self.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build()?;
        Ok(Arc::new(store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        let s = ArchiveSettings::parse("s3://recordings").unwrap();
        assert_eq!((s.bucket.as_str(), s.prefix.as_str()), ("recordings", ""));
        let s = ArchiveSettings::parse("s3://my-bucket.1/origin/a/").unwrap();
        assert_eq!(
            (s.bucket.as_str(), s.prefix.as_str()),
            ("my-bucket.1", "origin/a")
        );
        for bad in [
            "",
            "recordings",
            "http://recordings",
            "s3://",
            "s3://ab",
            "s3://Upper",
            "s3://bucket/a//b",
            "s3://bucket/../x",
        ] {
            assert!(ArchiveSettings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_secret_is_never_printed() {
        let mut s = ArchiveSettings::parse("s3://recordings").unwrap();
        s.secret_access_key = Some("very-secret".into());
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}

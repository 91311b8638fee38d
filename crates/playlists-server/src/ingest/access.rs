//! Who may publish from the network: the server-wide ingest token, publish keys derived from a
//! server secret, one stream (or one group) per key.
//!
//! A **publish key** is `HMAC-SHA256(secret, "publish:" + scope)` in lowercase hex (64
//! characters), where the scope is a stream name (`cam1`, `live/720p`) or a group followed by
//! `/` (`live/`), which covers every rendition of the group and nothing else. The key for
//! `cam1` does not publish `cam2`, nor does the key for `live/` publish `live` or `other/720p`.
//! `playlists ingest-key --stream NAME` prints a key ([`publish_key`]). The server-wide token
//! (`--ingest-token`) is kept beside them, for setups that had it: it publishes any stream.
//!
//! ## Why keys derived from a secret, not a keys file
//!
//! - **Nothing to keep in step.** The origin holds one secret; a key for a new stream is
//!   computed wherever the secret is (`playlists ingest-key`) and works at once, with no file
//!   to edit, reload or copy. Two origins fed the same encoders (deploy/nginx's fail-over)
//!   accept the same keys by sharing the secret, where a keys file would have to be the same
//!   file on both, at every change.
//! - **Nothing read on the ingest path.** Checking a key is one HMAC over a short name: no
//!   file, no lock, no state that could be stale.
//! - **The price: no revocation of a single key.** Rotating the secret (a restart, or an
//!   upgrade without a gap, with the new one) revokes every key at once, and the encoders that
//!   keep publishing get new ones. An origin has few encoders, set up by its operator, so that
//!   is acceptable; a revocation list could be added beside the secret if it stops being.
//!
//! The `publish:` prefix separates the domain: keys of another kind derived later from the same
//! secret (to play, say) can never be taken for publish keys, nor the other way round.
//!
//! Keys are checked with the MAC's own constant-time verification, the token with a
//! constant-time comparison: the time taken tells an attacker nothing about how much of a guess
//! was right. What is presented is never logged.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::IngestError;

/// The group name no ingested stream may have: `/ingest/…` paths are where encoders push, so
/// the playlist of a stream `ingest` or `ingest/x` could never be requested.
pub const RESERVED_GROUP: &str = "ingest";

/// Group names no ingested stream may have: [`RESERVED_GROUP`], and `recordings`, under
/// which recordings are served.
pub const RESERVED_GROUPS: [&str; 2] = [RESERVED_GROUP, "recordings"];

type HmacSha256 = Hmac<Sha256>;

/// What the key's message starts with (see the module docs: domain separation).
const PUBLISH_DOMAIN: &[u8] = b"publish:";

/// Bytes of a publish key (an HMAC-SHA256 tag); in hex, twice as many characters.
const KEY_BYTES: usize = 32;

/// A credential the server holds (the ingest token, the publish-key secret). Its `Debug`
/// shows no part of it, so a configuration printed for diagnosis does not leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The credential's bytes, for the checks and the key derivation only.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// The MAC of `scope` under `secret`, ready to finalize or verify.
fn mac(secret: &Secret, scope: &str) -> HmacSha256 {
    // HMAC takes a key of any length (a long one is hashed first), so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(PUBLISH_DOMAIN);
    mac.update(scope.as_bytes());
    mac
}

/// The publish key of `scope` (a stream name, or a group followed by `/`) under `secret`:
/// `HMAC-SHA256(secret, "publish:" + scope)`, 64 lowercase hex characters.
///
/// # Errors
/// [`IngestError::Publish`] or [`IngestError::ReservedName`] for a scope no stream can have
/// (see [`validate_scope`]): a key for it would publish nothing.
pub fn publish_key(secret: &Secret, scope: &str) -> Result<String, IngestError> {
    validate_scope(scope)?;
    let tag = mac(secret, scope).finalize().into_bytes();
    let mut key = String::with_capacity(2 * KEY_BYTES);
    push_hex(&mut key, &tag);
    Ok(key)
}

/// Checks that `scope` is a stream name ingest takes (`name`, `group/rendition`) or a group
/// followed by `/` (`group/`, covering its renditions).
///
/// # Errors
/// As [`Ingests::start`](super::Ingests::start) for an invalid name.
pub fn validate_scope(scope: &str) -> Result<(), IngestError> {
    let name = scope.strip_suffix('/').unwrap_or(scope);
    let invalid = |source| IngestError::Publish {
        stream: scope.to_owned(),
        source,
    };
    playlists::chunk_cache::validate_stream_name(name).map_err(invalid)?;
    if name.len() < scope.len() && name.contains('/') {
        // `live/720p/`: a group scope is one path segment.
        return playlists::chunk_cache::validate_stream_name(&format!("{scope}x")).map_err(invalid);
    }
    if name
        .split('/')
        .next()
        .is_some_and(|group| RESERVED_GROUPS.contains(&group))
    {
        return Err(IngestError::ReservedName(scope.to_owned()));
    }
    Ok(())
}

/// The group scope covering `stream` (`live/` for `live/720p`), if it is a rendition.
fn group_scope(stream: &str) -> Option<&str> {
    stream.find('/').map(|slash| &stream[..=slash])
}

/// Exactly `2 × N` hex digits (either case) as `N` bytes, or nothing; allocates nothing. The
/// credentials' text form (publish keys here, playback tokens' tags in `crate::playback`).
pub(crate) fn decode_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let hex = hex.as_bytes();
    if hex.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = u8::try_from((digit(pair[0])? << 4) | digit(pair[1])?).ok()?;
    }
    Some(bytes)
}

/// Appends `bytes` to `out` as lowercase hex.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        // fmt::Write into a String never fails.
        let _ = std::fmt::Write::write_fmt(out, format_args!("{b:02x}"));
    }
}

/// The credentials a network source may present to publish. With neither set, publishing is
/// open to anyone who reaches the listener (the binary allows that on loopback only, or
/// with `--open-ingest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// A server-wide token: publishes any stream.
    pub token: Option<Secret>,
    /// The secret publish keys derive from ([`publish_key`]).
    pub secret: Option<Secret>,
}

impl Credentials {
    /// Whether no credential is configured: every network source may publish.
    pub fn is_open(&self) -> bool {
        self.token.is_none() && self.secret.is_none()
    }

    /// Whether `presented` lets a network source publish `stream`: it is the token, or the
    /// publish key of `stream`, or of the group `stream` is a rendition of. Always true when
    /// [`is_open`](Self::is_open).
    pub fn permit(&self, stream: &str, presented: Option<&str>) -> bool {
        if self.is_open() {
            return true;
        }
        let Some(presented) = presented else {
            return false;
        };
        let token = self
            .token
            .as_ref()
            .is_some_and(|t| bool::from(presented.as_bytes().ct_eq(t.as_bytes())));
        let key = match (&self.secret, decode_hex::<KEY_BYTES>(presented)) {
            (Some(secret), Some(key)) => {
                let own = mac(secret, stream).verify_slice(&key).is_ok();
                let group = group_scope(stream)
                    .is_some_and(|scope| mac(secret, scope).verify_slice(&key).is_ok());
                own | group
            }
            _ => false,
        };
        token | key
    }
}

/// The credential of a URL query (`a=1&token=KEY`): its `token` parameter, percent-decoded;
/// nothing when there is none, or its value is not valid UTF-8 once decoded. Shared by the
/// transports that carry a credential on a URL (HTTP's `?token=`, an RTMP stream key's).
pub fn token_from_query(query: &str) -> Option<std::borrow::Cow<'_, str>> {
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))?;
    percent_decode(value)
}

/// `value` with its `%XX` escapes (and `+` for a space, as forms write it) decoded; nothing
/// when the result is not UTF-8 or an escape is malformed.
fn percent_decode(value: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !value.contains(['%', '+']) {
        return Some(value.into());
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = value.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(secret: &str) -> Credentials {
        Credentials {
            secret: Some(secret.into()),
            ..Credentials::default()
        }
    }

    #[test]
    fn a_key_is_the_hmac_of_publish_and_its_scope_in_hex() {
        // Computed independently: Python's `hmac.new(b"s3cret", b"publish:cam1",
        // hashlib.sha256).hexdigest()`, and the same for `publish:live/`.
        let secret = Secret::from("s3cret");
        assert_eq!(
            publish_key(&secret, "cam1").unwrap(),
            "10b25f8c4852e5e408d6a13b0a1c74b152734ebe52116f3f55fcd3f321449beb"
        );
        assert_eq!(
            publish_key(&secret, "live/").unwrap(),
            "cd740da546d1d07b1a9a69768bc205ef09398974beaa00c4eff103a1624c5694"
        );
    }

    #[test]
    fn a_stream_key_publishes_its_stream_only() {
        let creds = keyed("s3cret");
        let cam1 = publish_key(&"s3cret".into(), "cam1").unwrap();
        assert!(creds.permit("cam1", Some(&cam1)));
        assert!(creds.permit("cam1", Some(&cam1.to_uppercase())));
        for other in ["cam2", "cam1/720p", "cam", "cam10"] {
            assert!(!creds.permit(other, Some(&cam1)), "{other}");
        }
        let elsewhere = publish_key(&"other secret".into(), "cam1").unwrap();
        assert!(!creds.permit("cam1", Some(&elsewhere)));
        assert!(!creds.permit("cam1", None));
        assert!(
            !creds.permit("cam1", Some("s3cret")),
            "the secret is no key"
        );
        assert!(!creds.permit("cam1", Some(&cam1[..63])));
    }

    #[test]
    fn a_group_key_publishes_its_renditions_only() {
        let creds = keyed("s3cret");
        let live = publish_key(&"s3cret".into(), "live/").unwrap();
        assert!(creds.permit("live/720p", Some(&live)));
        assert!(creds.permit("live/360p", Some(&live)));
        for other in ["live", "other/720p", "liveX/720p", "x/live"] {
            assert!(!creds.permit(other, Some(&live)), "{other}");
        }
        // A rendition's own key works too, and only for it.
        let r720 = publish_key(&"s3cret".into(), "live/720p").unwrap();
        assert!(creds.permit("live/720p", Some(&r720)));
        assert!(!creds.permit("live/360p", Some(&r720)));
    }

    #[test]
    fn the_token_publishes_any_stream_beside_the_keys() {
        let creds = Credentials {
            token: Some("tok".into()),
            secret: Some("s3cret".into()),
        };
        assert!(creds.permit("a", Some("tok")));
        assert!(creds.permit("b/c", Some("tok")));
        assert!(!creds.permit("a", Some("toK")));
        assert!(!creds.permit("a", Some("")));
        let a = publish_key(&"s3cret".into(), "a").unwrap();
        assert!(creds.permit("a", Some(&a)));
        assert!(Credentials::default().permit("a", None), "open");
    }

    #[test]
    fn scopes_are_names_or_groups() {
        for ok in ["cam1", "live/720p", "live/"] {
            validate_scope(ok).unwrap();
        }
        for bad in [
            "",
            "/",
            "live//",
            "live/720p/",
            "a/b/c",
            "../x",
            "ingest/",
            "ingest",
        ] {
            assert!(validate_scope(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let creds = Credentials {
            token: Some("tok-value".into()),
            secret: Some("secret-value".into()),
        };
        let shown = format!("{creds:?}");
        assert!(
            !shown.contains("tok-value") && !shown.contains("secret-value"),
            "{shown}"
        );
    }
}

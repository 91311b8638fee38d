//! Signed playback (`--playback-secret`): every playlist, part, segment and init section is
//! served only to a request that carries a token for its path.
//!
//! ## Tokens
//!
//! A token grants one **scope** until an **expiry**: the scope is a path prefix, `/` (every
//! stream) or `/{name}/` (one stream, or one group with all its renditions: `/live/` covers
//! `/live/master.m3u8` and `/live/720p/…`). It is written `{expiry}.{tag}`: the expiry in Unix
//! seconds, then the first 16 bytes of `HMAC-SHA256(secret, "play:" + scope + "\n" + expiry)` in
//! lowercase hex, and travels as the `token` query parameter (`?token=1765200000.9f…`).
//! `playlists sign --path /cam1/ --ttl 1h` prints a signed URL ([`signed_url`]).
//!
//! A request is served when its token has not expired and its tag is right for the scope of
//! the request's stream or for `/`; otherwise 403 with a one-line reason ([`Refusal`]).
//! Checking computes at most three HMACs over a few dozen bytes (one for the usual media
//! request) and allocates nothing: the scope and the expiry are slices of the request's own
//! path and query.
//!
//! A group is one scope, not each rendition: the renditions of a group are one presentation
//! that a player switches between, so a token for one rendition alone would stop it at the
//! first switch. Streams that must be granted separately are published as separate groups.
//!
//! ## The token in every URI a player follows
//!
//! Players resolve the URIs of a playlist against the playlist's URL, dropping its query, so
//! the origin writes a token into every URI it serves:
//!
//! - **Media playlists** (parts, segments, the map, the preload hint) carry a **media token**
//!   of the stream's scope, the same for every viewer, renewed each [`SHARED_WINDOW`] and
//!   valid for two ([`SharedTokens`]). The playlist text therefore stays the one rendered and
//!   gzip'd once per part for all its players, and the part URLs are the same for every
//!   viewer, so a caching tier in front of the origin (deploy/nginx) keeps one copy of each
//!   part, not one per viewer. A media token opens media only, never a playlist: otherwise
//!   anyone holding one could reload the playlist with it and get the next, and play on
//!   forever after their own token expired. Rendition reports name the other rendition's
//!   playlist without a token: the player reloads it with the URI the multivariant playlist
//!   gave it, which carries the viewer's token.
//! - **Multivariant playlists** (rendered per request anyway) carry the viewer's own token in
//!   the media playlist URIs, since players reload those URIs for as long as they play: a
//!   viewer's access ends when their token expires, at their next playlist reload.
//!
//! The price of shared tokens: a part URL copied out of a playlist works for anyone for up to
//! two windows. The playlists, which are what a player needs to go on, stay under the viewer's
//! own token.
//!
//! The message's first word separates the domains: `play:` for viewer tokens, `media:` for
//! media tokens, and the publish keys derived from `--ingest-secret` start with `publish:`,
//! should an operator give both flags the same secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::ingest::{decode_hex, push_hex, Secret};

type HmacSha256 = Hmac<Sha256>;

/// What a viewer token's message starts with (see the module docs: domain separation).
const PLAY_DOMAIN: &[u8] = b"play:";
/// What a media token's message starts with: it opens media, not playlists.
const MEDIA_DOMAIN: &[u8] = b"media:";

/// What a request asks for, which decides the tokens that open it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A media or multivariant playlist: a viewer token only.
    Playlist,
    /// An init section, a segment or a part: a media token or a viewer token.
    Media,
}

/// Bytes of the tag kept in a token: 128 bits, beyond guessing, in 32 hex characters.
const TAG_BYTES: usize = 16;

/// How often the shared token of a stream's media playlists changes; each is valid for two,
/// so a playlist rendered just before a change stays usable for at least one more window.
/// Longer than parts are cached (`--media-max-age-secs`, 300 by default), so a part a caching
/// tier keeps was fetched with a token that is still valid for most of its stay.
pub const SHARED_WINDOW: Duration = Duration::from_secs(600);

/// The name of the query parameter that carries the token.
pub const TOKEN_PARAM: &str = "token";

/// Why a request was refused (403); the message is the response's one-line reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `token` parameter.
    #[error("a playback token is required: sign the URL (`playlists sign`) and add ?token=")]
    Missing,
    /// Not `{expiry}.{32 hex digits}`.
    #[error("the playback token is malformed (expected ?token=EXPIRY.TAG)")]
    Malformed,
    /// The expiry has passed.
    #[error("the playback token has expired")]
    Expired,
    /// The tag is wrong for this path (another scope, another secret, or altered).
    #[error("the playback token is not valid for this path")]
    WrongScope,
}

/// The key tokens are made and checked with, derived once from `--playback-secret`.
#[derive(Clone)]
pub struct PlaybackKey {
    /// The HMAC keyed with the secret: its inner and outer pads are computed once and each
    /// token clones it, rather than hashing the key again per request.
    keyed: HmacSha256,
}

impl std::fmt::Debug for PlaybackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlaybackKey(..)")
    }
}

impl PlaybackKey {
    /// The key of `secret`.
    pub fn new(secret: &Secret) -> Self {
        // HMAC takes a key of any length (a long one is hashed first), so this cannot fail.
        let keyed = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
        Self { keyed }
    }

    /// The MAC of `scope` and `expiry` (its decimal text), ready to finalize or verify.
    fn mac(&self, domain: &[u8], scope: &str, expiry: &str) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(domain);
        mac.update(scope.as_bytes());
        mac.update(b"\n");
        mac.update(expiry.as_bytes());
        mac
    }

    /// The viewer token granting `scope` (see [`check_scope`]) until `expiry` (Unix seconds):
    /// playlists and media.
    pub fn token(&self, scope: &str, expiry: u64) -> String {
        self.token_in(PLAY_DOMAIN, scope, expiry)
    }

    /// The media token granting `scope`'s init sections, segments and parts (not its
    /// playlists) until `expiry`: what media playlists carry ([`SharedTokens`]).
    pub fn media_token(&self, scope: &str, expiry: u64) -> String {
        self.token_in(MEDIA_DOMAIN, scope, expiry)
    }

    fn token_in(&self, domain: &[u8], scope: &str, expiry: u64) -> String {
        let expiry = expiry.to_string();
        let tag = self.mac(domain, scope, &expiry).finalize().into_bytes();
        let mut token = expiry;
        token.push('.');
        push_hex(&mut token, &tag[..TAG_BYTES]);
        token
    }

    /// Checks the token of a request for `path` (with its `query`) at `now`: served if it is
    /// unexpired and grants the path's stream or group (`/{name}/`) or everything (`/`).
    /// Allocates nothing. An HMAC here (SHA-NI where the CPU has it) costs about as much as
    /// parsing the token; remembering verified tokens per thread was tried and saved nothing
    /// measurable (`benches/playback.rs`), so every request is verified afresh.
    ///
    /// # Errors
    /// The [`Refusal`] to answer with 403.
    pub fn check(
        &self,
        path: &str,
        query: Option<&str>,
        access: Access,
        now: SystemTime,
    ) -> Result<(), Refusal> {
        let token = query.and_then(token_param).ok_or(Refusal::Missing)?;
        let (expiry, tag) = parse_token(token).ok_or(Refusal::Malformed)?;
        let expires: u64 = expiry.parse().map_err(|_| Refusal::Malformed)?;
        if unix_secs(now) >= expires {
            return Err(Refusal::Expired);
        }
        let stream = stream_scope(path);
        // Most requests are parts with a media token: that one first. Media tokens are made
        // for a stream or group only, never for `/`.
        let media = (access == Access::Media).then_some(stream).flatten();
        let candidates = [
            media.map(|s| (MEDIA_DOMAIN, s)),
            stream.map(|s| (PLAY_DOMAIN, s)),
            Some((PLAY_DOMAIN, "/")),
        ];
        let valid = candidates.into_iter().flatten().any(|(domain, scope)| {
            self.mac(domain, scope, expiry)
                .verify_truncated_left(&tag)
                .is_ok()
        });
        if valid {
            Ok(())
        } else {
            Err(Refusal::WrongScope)
        }
    }
}

/// The value of the `token` parameter of `query`, if there is one.
pub fn token_param(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| {
        pair.strip_prefix(TOKEN_PARAM)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

/// `{expiry}.{tag}`: the expiry's text (a canonical decimal) and the decoded tag.
fn parse_token(token: &str) -> Option<(&str, [u8; TAG_BYTES])> {
    let (expiry, hex) = token.split_once('.')?;
    let canonical = !expiry.is_empty()
        && expiry.len() <= 20
        && expiry.bytes().all(|b| b.is_ascii_digit())
        && (expiry.len() == 1 || !expiry.starts_with('0'));
    if !canonical {
        return None;
    }
    Some((expiry, decode_hex(hex)?))
}

/// The scope of a stream or group path: `/live/` for `/live/720p/p5.mp4`, `/cam1/` for
/// `/cam1/index.m3u8`; `None` for a path with no directory.
fn stream_scope(path: &str) -> Option<&str> {
    let end = path.get(1..)?.find('/')? + 1;
    (end > 1).then(|| &path[..=end])
}

/// Checks that `scope` is one a token can grant: `/`, or `/{name}/` with a name a stream or
/// group may have.
///
/// # Errors
/// A one-line reason, for `playlists sign`.
pub fn check_scope(scope: &str) -> Result<(), String> {
    if scope == "/" {
        return Ok(());
    }
    let name = scope
        .strip_prefix('/')
        .and_then(|s| s.strip_suffix('/'))
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| {
            format!(
                "`{scope}` is not a scope: a token covers `/` (every stream) or `/NAME/` \
                 (a stream, or a group with all its renditions)"
            )
        })?;
    playlists::chunk_cache::validate_stream_name(name).map_err(|e| e.to_string())
}

/// `base` + `path` + the token granting `path`'s scope until `expiry`: what `playlists sign`
/// prints. A path ending in `/` names a stream or group; its media playlist is the URL
/// (`index.m3u8`; give `/live/master.m3u8` for a group's multivariant playlist).
///
/// # Errors
/// A one-line reason when `path` is not under a scope a token can grant.
pub fn signed_url(
    key: &PlaybackKey,
    base: &str,
    path: &str,
    expiry: u64,
) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("`{path}` is not a path: it must start with `/`"));
    }
    let scope = if path == "/" {
        "/"
    } else {
        stream_scope(path)
            .ok_or_else(|| format!("`{path}` is not under a stream or group (`/NAME/…`) nor `/`"))?
    };
    check_scope(scope)?;
    let file = if path.ends_with('/') && path != "/" {
        "index.m3u8"
    } else {
        ""
    };
    let token = key.token(scope, expiry);
    Ok(format!(
        "{}{path}{file}?{TOKEN_PARAM}={token}",
        base.trim_end_matches('/')
    ))
}

/// Unix seconds of `t` (0 before the epoch).
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The shared tokens written into media playlists (see the module docs), as the registry's
/// [`UriQuery`](playlists::UriQuery): asked once per rendered version.
#[derive(Debug, Clone)]
pub struct SharedTokens {
    key: PlaybackKey,
    window: Duration,
}

impl SharedTokens {
    /// Shared tokens of `key`, renewed each [`SHARED_WINDOW`].
    pub fn new(key: PlaybackKey) -> Self {
        Self::with_window(key, SHARED_WINDOW)
    }

    /// Shared tokens renewed each `window` (at least a second), valid for two.
    pub fn with_window(key: PlaybackKey, window: Duration) -> Self {
        Self {
            key,
            window: window.max(Duration::from_secs(1)),
        }
    }

    /// The token for `stream`'s scope at `now`: every version rendered within one window gets
    /// the same, valid until the end of the next window.
    pub fn token_at(&self, stream: &str, now: SystemTime) -> String {
        let scope_end = stream.find('/').unwrap_or(stream.len());
        let scope = format!("/{}/", &stream[..scope_end]);
        let w = self.window.as_secs();
        let expiry = (unix_secs(now) / w + 2) * w;
        self.key.media_token(&scope, expiry)
    }
}

impl playlists::UriQuery for SharedTokens {
    fn query(&self, stream: &str) -> Option<String> {
        Some(format!(
            "{TOKEN_PARAM}={}",
            self.token_at(stream, SystemTime::now())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> PlaybackKey {
        PlaybackKey::new(&Secret::from(secret))
    }

    const NOW: u64 = 1_800_000_000;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// `k.check` with the access the path's file asks for.
    fn check(
        k: &PlaybackKey,
        path: &str,
        query: Option<&str>,
        now: SystemTime,
    ) -> Result<(), Refusal> {
        let access = if path.ends_with(".m3u8") {
            Access::Playlist
        } else {
            Access::Media
        };
        k.check(path, query, access, now)
    }

    fn query(token: &str) -> String {
        format!("_HLS_msn=5&token={token}&_HLS_part=1")
    }

    #[test]
    fn a_token_grants_its_scope_until_it_expires() {
        let k = key("s3cret");
        let cam1 = k.token("/cam1/", NOW + 60);
        assert!(cam1.starts_with(&format!("{}.", NOW + 60)), "{cam1}");
        assert_eq!(cam1.len(), 10 + 1 + 32);
        for path in [
            "/cam1/index.m3u8",
            "/cam1/p7.mp4",
            "/cam1/init.mp4",
            "/cam1/s3.mp4",
        ] {
            assert_eq!(
                check(&k, path, Some(&query(&cam1)), at(NOW)),
                Ok(()),
                "{path}"
            );
        }
        assert_eq!(
            check(&k, "/cam1/p7.mp4", Some(&query(&cam1)), at(NOW + 60)),
            Err(Refusal::Expired)
        );
        for path in [
            "/cam2/p7.mp4",
            "/cam/p7.mp4",
            "/cam1x/p7.mp4",
            "/p7.mp4",
            "/",
        ] {
            assert_eq!(
                check(&k, path, Some(&query(&cam1)), at(NOW)),
                Err(Refusal::WrongScope),
                "{path}"
            );
        }
    }

    #[test]
    fn a_group_token_covers_its_renditions_and_a_root_token_everything() {
        let k = key("s3cret");
        let live = k.token("/live/", NOW + 60);
        for path in [
            "/live/master.m3u8",
            "/live/720p/index.m3u8",
            "/live/360p/p9.mp4",
        ] {
            assert_eq!(
                check(&k, path, Some(&query(&live)), at(NOW)),
                Ok(()),
                "{path}"
            );
        }
        assert_eq!(
            check(&k, "/lively/720p/p9.mp4", Some(&query(&live)), at(NOW)),
            Err(Refusal::WrongScope)
        );
        let all = k.token("/", NOW + 60);
        for path in ["/live/720p/p9.mp4", "/cam1/index.m3u8"] {
            assert_eq!(
                check(&k, path, Some(&query(&all)), at(NOW)),
                Ok(()),
                "{path}"
            );
        }
    }

    #[test]
    fn altered_foreign_and_malformed_tokens_are_refused() {
        let k = key("s3cret");
        let good = k.token("/cam1/", NOW + 60);
        let check_token = |token: &str| check(&k, "/cam1/p1.mp4", Some(&query(token)), at(NOW));
        // Another secret; a later expiry with the same tag; one flipped tag digit.
        assert_eq!(
            check_token(&key("other").token("/cam1/", NOW + 60)),
            Err(Refusal::WrongScope)
        );
        let (_, tag) = good.split_once('.').unwrap();
        assert_eq!(
            check_token(&format!("{}.{tag}", NOW + 3600)),
            Err(Refusal::WrongScope)
        );
        let mut flipped = good.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            check_token(std::str::from_utf8(&flipped).unwrap()),
            Err(Refusal::WrongScope)
        );
        for bad in [
            "",
            "abc",
            &format!("{}", NOW + 60),
            &format!("0{good}"),
            &format!("+{good}"),
            &format!("{}.{}", NOW + 60, "g".repeat(32)),
            &good[..good.len() - 1],
            &format!("{good}0"),
            &format!("99999999999999999999999.{tag}"),
        ] {
            assert_eq!(check_token(bad), Err(Refusal::Malformed), "{bad:?}");
        }
        assert_eq!(
            check(&k, "/cam1/p1.mp4", None, at(NOW)),
            Err(Refusal::Missing)
        );
        assert_eq!(
            check(&k, "/cam1/p1.mp4", Some("_HLS_msn=1&tokens=x"), at(NOW)),
            Err(Refusal::Missing)
        );
    }

    #[test]
    fn shared_tokens_change_per_window_and_outlive_it() {
        let k = key("s3cret");
        let shared = SharedTokens::with_window(k.clone(), Duration::from_secs(600));
        let start = 1_800_000_000 / 600 * 600;
        let first = shared.token_at("live/720p", at(start));
        // Every rendition and every moment of a window get the same token...
        assert_eq!(first, shared.token_at("live/360p", at(start + 599)));
        // ...valid for the media of the whole group until the end of the next window...
        for path in [
            "/live/720p/p1.mp4",
            "/live/360p/s4.mp4",
            "/live/360p/init.mp4",
        ] {
            assert_eq!(
                check(&k, path, Some(&query(&first)), at(start + 1199)),
                Ok(())
            );
        }
        // ...and for no playlist: reloading one with it would renew it forever.
        for path in ["/live/360p/index.m3u8", "/live/master.m3u8"] {
            assert_eq!(
                check(&k, path, Some(&query(&first)), at(start)),
                Err(Refusal::WrongScope),
                "{path}"
            );
        }
        assert_eq!(
            check(
                &k,
                "/live/720p/p1.mp4",
                Some(&query(&first)),
                at(start + 1200)
            ),
            Err(Refusal::Expired)
        );
        assert_ne!(first, shared.token_at("live/720p", at(start + 600)));
        assert_eq!(
            check(&k, "/cam1/p1.mp4", Some(&query(&first)), at(start)),
            Err(Refusal::WrongScope)
        );
    }

    #[test]
    fn a_viewer_token_opens_playlists_and_media_a_media_token_media_only() {
        let k = key("s3cret");
        let viewer = k.token("/live/", NOW + 60);
        let media = k.media_token("/live/", NOW + 60);
        for path in [
            "/live/720p/index.m3u8",
            "/live/master.m3u8",
            "/live/720p/p3.mp4",
        ] {
            assert_eq!(
                check(&k, path, Some(&query(&viewer)), at(NOW)),
                Ok(()),
                "{path}"
            );
        }
        assert_eq!(
            check(&k, "/live/720p/p3.mp4", Some(&query(&media)), at(NOW)),
            Ok(())
        );
        assert_eq!(
            check(&k, "/live/720p/index.m3u8", Some(&query(&media)), at(NOW)),
            Err(Refusal::WrongScope)
        );
        // The same scope and expiry, another domain: never the same tag.
        assert_ne!(viewer, media);
        // A media token is for a stream or group; one made for `/` opens nothing.
        let root_media = k.media_token("/", NOW + 60);
        assert_eq!(
            check(&k, "/live/720p/p3.mp4", Some(&query(&root_media)), at(NOW)),
            Err(Refusal::WrongScope)
        );
    }

    #[test]
    fn sign_prints_a_url_whose_token_the_origin_accepts() {
        let k = key("s3cret");
        let url = signed_url(&k, "http://127.0.0.1:8080/", "/cam1/", NOW + 3600).unwrap();
        let (path, q) = url
            .strip_prefix("http://127.0.0.1:8080")
            .unwrap()
            .split_once('?')
            .unwrap();
        assert_eq!(path, "/cam1/index.m3u8");
        assert_eq!(check(&k, path, Some(q), at(NOW)), Ok(()));
        let master = signed_url(&k, "http://h", "/live/master.m3u8", NOW + 60).unwrap();
        let (path, q) = master
            .strip_prefix("http://h")
            .unwrap()
            .split_once('?')
            .unwrap();
        assert_eq!(check(&k, path, Some(q), at(NOW)), Ok(()));
        assert_eq!(check(&k, "/live/720p/p3.mp4", Some(q), at(NOW)), Ok(()));
        assert!(signed_url(&k, "http://h", "/", NOW)
            .unwrap()
            .starts_with("http://h/?token="));
        for bad in ["cam1/", "/a b/", "//x", "/live/720p/"] {
            // `/live/720p/` is under `/live/`, so it signs the group; the others are refused.
            let signed = signed_url(&k, "http://h", bad, NOW);
            assert_eq!(signed.is_ok(), bad == "/live/720p/", "{bad}: {signed:?}");
        }
    }

    #[test]
    fn scopes_are_root_or_one_name() {
        for ok in ["/", "/cam1/", "/live/"] {
            assert_eq!(check_scope(ok), Ok(()), "{ok}");
        }
        for bad in ["", "cam1", "/cam1", "/live/720p/", "//", "/a b/"] {
            assert!(check_scope(bad).is_err(), "{bad}");
        }
    }
}

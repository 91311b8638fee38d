//! Media and multivariant playlist delivery (§6.2.5, rules 7–14 and 27).
//!
//! A request without directives gets the newest playlist version. `_HLS_msn[&_HLS_part]` is a
//! blocking reload: checked against rules 7–8 at once (400), then held on the library's wait
//! primitive (no polling) until the version at that position exists, at most 3 × TD (rule 10:
//! 503). The version at a position is cached, so the same URL always gets the same bytes and a
//! CDN may keep it for 6 × TD (rule 27). `_HLS_skip` picks the delta update when the version
//! has one (the playlist advertises CAN-SKIP-UNTIL and has no ENDLIST; rule 13 otherwise).
//! Bytes come from the cache as rendered at publish time, gzip'd or not; nothing is rendered
//! or compressed per request.

use std::sync::Arc;

use http::header::{
    HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, VARY,
};
use http::{Response, StatusCode};
use playlists::{BlockingRequest, PlaylistVersion, Rendered, Skip, StreamRef};
use tokio::time::Instant;

use super::body::Body;
use super::directives::parse_directives;
use super::encoding::Coding;
use super::error::HttpError;
use super::media::{etag, if_none_match};
use super::AppState;

const MPEGURL: &str = "application/vnd.apple.mpegurl";

/// `GET /{stream}/index.m3u8[?directives]`.
pub async fn media(
    state: &AppState,
    name: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    coding: Coding,
) -> Result<Response<Body>, HttpError> {
    let directives = parse_directives(query)?;
    let td = state.cache.target_duration;
    let stream = state.playlists.stream(name).ok_or_else(|| {
        // Rule 27: an unsuccessful blocking request may be cached 4 × TD, a plain one 1 × TD.
        let age = if directives.blocking.is_some() {
            4 * td
        } else {
            td
        };
        HttpError::not_found(format_args!("stream `{name}`")).cache_for(age)
    })?;
    let version = match directives.blocking {
        None => stream
            .playlist()
            .ok_or_else(|| HttpError::not_found(format_args!("stream `{name}`")).cache_for(td))?,
        Some(req) => {
            // Rules 7 and 8 (an ended stream accepts anything: rule 13).
            stream.check(req)?;
            wait_for_version(state, &stream, req).await?
        }
    };
    let v2;
    let rendered: &Rendered = match (directives.skip, &version.delta) {
        (Skip::No, _) | (_, None) => &version.full,
        (Skip::Yes, Some(delta)) => delta,
        (Skip::V2, Some(delta)) => match state.delta_v2.get(stream.idx().index(), delta) {
            Some(derived) => {
                v2 = derived;
                &v2
            }
            None => {
                tracing::warn!(
                    stream = name,
                    "delta update has an unexpected shape; sending the full playlist"
                );
                &version.full
            }
        },
    };
    let cache = if directives.blocking.is_some() {
        &state.cache.blocking
    } else {
        &state.cache.live
    };
    Ok(respond(rendered, MPEGURL, cache, headers, coding))
}

/// The version a blocking request is answered with. Tries without waiting first, so only
/// requests that really wait take a place in the waiting limits.
async fn wait_for_version(
    state: &AppState,
    stream: &StreamRef<'_>,
    req: BlockingRequest,
) -> Result<Arc<PlaylistVersion>, HttpError> {
    let now = Instant::now();
    // A deadline already reached: the library checks once and returns the version if it is
    // there, WaitTimeout otherwise.
    match stream.wait_playlist(req, now).await {
        Ok(version) => return Ok(version),
        Err(playlists::Error::WaitTimeout(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let _permit = state.waiting.admit(stream.idx().index())?;
    state
        .hold(stream.wait_playlist(req, state.hold_deadline(now)))
        .await
}

/// 503 for a held request when the server stops.
pub fn shutting_down() -> HttpError {
    HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down; retry on another origin",
    )
}

/// `GET /{group}/master.m3u8`: rendered per request (players load it once), from the live
/// streams of the group.
pub fn multivariant(
    state: &AppState,
    group: &str,
    headers: &HeaderMap,
    coding: Coding,
) -> Result<Response<Body>, HttpError> {
    let rendered = state.playlists.multivariant(group).ok_or_else(|| {
        HttpError::not_found(format_args!("group `{group}`")).cache_for(state.cache.target_duration)
    })?;
    Ok(respond(
        &rendered,
        MPEGURL,
        &state.cache.live,
        headers,
        coding,
    ))
}

/// A playlist response (or any [`Rendered`] text, e.g. `assets.rs`) in the coding the client
/// prefers, with its validator; 304 when the client already has it.
pub(super) fn respond(
    rendered: &Rendered,
    content_type: &'static str,
    cache: &HeaderValue,
    headers: &HeaderMap,
    coding: Coding,
) -> Response<Body> {
    // A strong validator must differ between content codings (RFC 9110 §8.8.3).
    let (bytes, etag) = match coding {
        Coding::Gzip => (&rendered.gzip, etag(rendered.hash, "-gz")),
        Coding::Identity => (&rendered.plain, etag(rendered.hash, "")),
    };
    let not_modified = if_none_match(headers, etag.as_bytes());
    let mut resp = if not_modified {
        Body::empty()
    } else {
        Body::one(bytes.clone())
    }
    .into_answer();
    if not_modified {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, cache.clone());
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(ETAG, etag);
    if coding == Coding::Gzip && !not_modified {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

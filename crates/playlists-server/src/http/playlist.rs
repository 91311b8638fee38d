//! Media and multivariant playlist delivery (§6.2.5, App. B.1 [docs/conformance.md R7–R14, R27]).
//!
//! A request without directives gets the newest playlist version. `_HLS_msn[&_HLS_part]` is a
//! blocking reload: checked against §6.2.5.2 [docs/conformance.md R7, R8] at once (400), then held
//! on the library's wait primitive (no polling) until the version at that position exists, at most
//! 3 × TD (§6.2.5.2 [docs/conformance.md R10]: 503). The version at a position is cached, so the
//! same URL always gets the same bytes and a CDN may keep it for 6 × TD
//! (App. B.1 [docs/conformance.md R27]). `_HLS_skip` picks the delta update when the version has
//! one (the playlist advertises CAN-SKIP-UNTIL and has no ENDLIST; §6.2.5 [docs/conformance.md R13]
//! otherwise). Bytes come from the cache as rendered at publish time, gzip'd or not; nothing is
//! rendered or compressed per request.

use http::header::{
    HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, VARY,
};
use http::{Response, StatusCode};
use playlists::{Rendered, Skip};

use super::body::Body;
use super::directives::parse_directives;
use super::encoding::Coding;
use super::error::HttpError;
use super::validators::{etag, if_none_match};
use super::{held, lookup, AppState};
use crate::playback;

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
    // Held for a while after a restart (`HttpOptions::restart_hold`) rather than 404.
    let stream = held::stream(state, name)
        .await
        .map_err(|e| match directives.blocking {
            // App. B.1 [docs/conformance.md R27]: an unsuccessful blocking request may be cached 4 × TD
            // (a plain one 1 × TD).
            Some(_) if e.status == StatusCode::NOT_FOUND => {
                e.cache_for(4 * state.cache.nominal().target_duration)
            }
            _ => e,
        })?;
    let version = match directives.blocking {
        None => match stream.playlist() {
            Some(version) => version,
            // The stream is measuring its target duration (its first segment is still open):
            // held until its first playlist, which lists a complete segment, rather than told
            // that a stream its encoder is pushing does not exist.
            None => {
                held::wait_for(state, &stream, |deadline| {
                    stream.wait_first_playlist(deadline)
                })
                .await?
            }
        },
        Some(req) => {
            // §6.2.5.2 [docs/conformance.md R7, R8] (an ended stream accepts anything:
            // §6.2.5 [docs/conformance.md R13]).
            stream.check(req)?;
            held::wait_for(state, &stream, |deadline| {
                stream.wait_playlist(req, deadline)
            })
            .await?
        }
    };
    // `v2` gets the `YES` update: CAN-SKIP-DATERANGES is not advertised (see `Skip::V2`).
    // No cached delta (nothing past the Skip Boundary yet, no CAN-SKIP-UNTIL, or an ended
    // stream): the full playlist is the answer (§6.2.5.1 [docs/conformance.md R13, R14]).
    let rendered: &Rendered = match (directives.skip, &version.delta) {
        (Skip::No, _) | (_, None) => &version.full,
        (Skip::Yes | Skip::V2, Some(delta)) => delta,
    };
    // After a hand-over the next part is the new process's, under another name: hinting this
    // process's next part would send players' hinted requests there for a part that never
    // comes (a 404). Without the hint they ask for the next playlist, which the new process
    // answers (§6.2.6 lets a server withdraw hints when its plans change).
    let unhinted;
    let rendered = if state.shutdown.is_handed_over() {
        unhinted = without_preload_hints(rendered);
        &unhinted
    } else {
        rendered
    };
    let controls = state.cache.for_td(Some(version.target_duration_s));
    let cache = if directives.blocking.is_some() {
        &controls.blocking
    } else {
        &controls.live
    };
    Ok(respond(rendered, MPEGURL, cache, headers, coding))
}

/// `GET /{group}/master.m3u8`: rendered per request (players load it once), from the live
/// streams of the group. Under signed playback the media playlist URIs carry the request's
/// own token: players reload them for as long as they play, so they must last as long as the
/// viewer's grant (see `crate::playback`).
pub fn multivariant(
    state: &AppState,
    group: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    coding: Coding,
) -> Result<Response<Body>, HttpError> {
    let mut rendered = state
        .playlists
        .multivariant(group)
        .ok_or_else(|| lookup::not_found(state, format_args!("group `{group}`")))?;
    let token = query.and_then(playback::token_param);
    if let (Some(_), Some(token)) = (&state.opts.playback, token) {
        let query = format!("{}={token}", playback::TOKEN_PARAM);
        rendered = Rendered::new(playlists::append_query(&rendered.plain, &query));
    }
    Ok(respond(
        &rendered,
        MPEGURL,
        &state.cache.nominal().live,
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

/// `rendered` without its EXT-X-PRELOAD-HINT lines, rendered and compressed again (only
/// while draining after a hand-over, so the cost is not on the hot path).
fn without_preload_hints(rendered: &Rendered) -> Rendered {
    let mut plain = Vec::with_capacity(rendered.plain.len());
    for line in rendered.plain.split_inclusive(|&b| b == b'\n') {
        if !line.starts_with(b"#EXT-X-PRELOAD-HINT:") {
            plain.extend_from_slice(line);
        }
    }
    Rendered::new(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_withdrawn_and_the_rest_kept() {
        let text = "#EXTM3U\n#EXT-X-PART:DURATION=0.2,URI=\"p1.mp4\"\n\
                    #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p2.mp4\"\n\
                    #EXT-X-RENDITION-REPORT:URI=\"../b/index.m3u8\",LAST-MSN=1\n";
        let stripped = without_preload_hints(&Rendered::new(text.as_bytes().to_vec()));
        let plain = String::from_utf8(stripped.plain.to_vec()).unwrap();
        assert_eq!(
            plain,
            "#EXTM3U\n#EXT-X-PART:DURATION=0.2,URI=\"p1.mp4\"\n\
             #EXT-X-RENDITION-REPORT:URI=\"../b/index.m3u8\",LAST-MSN=1\n"
        );
        assert_ne!(stripped.hash, hash_of(text));
    }

    fn hash_of(text: &str) -> u64 {
        Rendered::new(text.as_bytes().to_vec()).hash
    }
}

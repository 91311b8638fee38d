//! Routing: a request path becomes a [`Route`], the route's handler produces the response,
//! and every response gets CORS headers and is counted.
//!
//! Paths (the README's HTTP table; the file names are exactly those the library's playlists
//! write, relative to the playlist):
//!
//! | path | route |
//! |---|---|
//! | `/` | the page |
//! | `/healthz`, `/metrics` | liveness, Prometheus metrics |
//! | `/playback-check` | whether the request in `X-Original-URI` may be served (a caching tier's `auth_request`, signed playback) |
//! | `/assets/hls.min.js` | hls.js for the page (embedded, or `--hls-js-file`) |
//! | `/favicon.ico` | 204: the origin has no icon, and says so without an error |
//! | `/{stream}/index.m3u8` | media playlist (`{stream}` is `name` or `group/rendition`) |
//! | `/{group}/master.m3u8` | multivariant playlist |
//! | `/{stream}/init.mp4`, `/{stream}/init-{n}.mp4` | init sections |
//! | `/{stream}/s{msn}.mp4` | a complete segment |
//! | `/{stream}/p{n}.mp4` | part number `n` of the stream (the hinted one is held until it exists) |
//! | `/recordings`, `/recordings/{stream}/{id}/…` | recordings, as VOD (`recordings.rs`) |
//! | `PUT`/`POST /ingest/{stream}` | an encoder's fMP4 byte stream |
//! | `PUT`/`POST /ingest/{pp}/Streams({track})…` | DASH-IF CMAF ingest (`ingest/cmaf.rs`) |
//!
//! Numbers in file names must be canonical decimals (`s7.mp4`, not `s07.mp4`): one resource,
//! one URL, one cache entry.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::body::Body;
use super::error::HttpError;
use super::recordings::{self, RecordingPath};
use super::request_head::RequestHead;
use super::route_kind::RouteKind;
use super::{assets, cors, ingest, media, page, playlist, scrape, AppState};
use crate::canonical;
use crate::playback::Access;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};

/// A parsed request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /`.
    Page,
    /// `GET /assets/hls.min.js`.
    HlsJs,
    /// `GET /favicon.ico`.
    Favicon,
    /// `GET /healthz`.
    Healthz,
    /// `GET /metrics`.
    Metrics,
    /// `GET /playback-check`: a caching tier asks whether the request named by its
    /// `X-Original-URI` header may be served (see `playback_check`).
    PlaybackCheck,
    /// A media playlist.
    MediaPlaylist {
        /// Stream name.
        stream: &'a str,
    },
    /// A multivariant playlist.
    Multivariant {
        /// Group name.
        group: &'a str,
    },
    /// An init section.
    Init {
        /// Stream name.
        stream: &'a str,
        /// Init id (`init.mp4` is 0).
        id: u32,
    },
    /// A complete segment.
    Segment {
        /// Stream name.
        stream: &'a str,
        /// Its media sequence number.
        msn: u64,
    },
    /// A part.
    Part {
        /// Stream name.
        stream: &'a str,
        /// Its number in the stream (its chunk id).
        number: u64,
    },
    /// `GET /recordings`: the recordings listing.
    Recordings,
    /// A recording's playlist or file: what follows `/recordings/`, a valid
    /// [`RecordingPath`] (kept as text: a parsed one would enlarge every request's future).
    Recording(&'a str),
    /// `/ingest/{stream}` (`PUT`/`POST` only).
    Ingest {
        /// Stream name.
        stream: &'a str,
    },
    /// Nothing here.
    Unknown,
}

impl<'a> Route<'a> {
    /// Parses a request path (without the query). Never fails: a path that names nothing is
    /// [`Route::Unknown`]. A routed path is exactly its route's canonical path (numbers without
    /// leading zeros, one spelling per resource), and a stream name is the path's own text,
    /// non-empty, with at most one `/`; it is not checked against the library's naming rules
    /// (looking up a name the library refuses finds no stream).
    pub fn parse(path: &'a str) -> Self {
        match path {
            "/" => return Self::Page,
            "/healthz" => return Self::Healthz,
            "/metrics" => return Self::Metrics,
            "/playback-check" => return Self::PlaybackCheck,
            "/assets/hls.min.js" => return Self::HlsJs,
            "/favicon.ico" => return Self::Favicon,
            "/recordings" => return Self::Recordings,
            _ => {}
        }
        if let Some(rest) = path.strip_prefix("/recordings/") {
            return match RecordingPath::parse(rest) {
                Some(_) => Self::Recording(rest),
                None => Self::Unknown,
            };
        }
        if let Some(stream) = path.strip_prefix("/ingest/") {
            return if stream.is_empty() || stream.split('/').count() > 2 {
                Self::Unknown
            } else {
                Self::Ingest { stream }
            };
        }
        let Some((stream, file)) = path.strip_prefix('/').and_then(|p| p.rsplit_once('/')) else {
            return Self::Unknown;
        };
        if stream.is_empty() || stream.split('/').count() > 2 {
            return Self::Unknown;
        }
        match file {
            "index.m3u8" => return Self::MediaPlaylist { stream },
            "master.m3u8" if !stream.contains('/') => return Self::Multivariant { group: stream },
            "init.mp4" => return Self::Init { stream, id: 0 },
            _ => {}
        }
        let Some(stem) = file.strip_suffix(".mp4") else {
            return Self::Unknown;
        };
        if let Some(id) = stem.strip_prefix("init-").and_then(canonical::<u32>) {
            // `init-0.mp4` is not a name the playlist uses (id 0 is `init.mp4`).
            if id > 0 {
                return Self::Init { stream, id };
            }
        } else if let Some(msn) = stem.strip_prefix('s').and_then(canonical::<u64>) {
            return Self::Segment { stream, msn };
        } else if let Some(number) = stem.strip_prefix('p').and_then(canonical::<u64>) {
            return Self::Part { stream, number };
        }
        Self::Unknown
    }
}

/// Answers one request. Never fails: every refusal is a response (see `error.rs`).
pub async fn handle<B>(state: Arc<AppState>, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let (head, body) = {
        let (parts, body) = req.into_parts();
        (RequestHead::new(&parts), body)
    };
    let route = Route::parse(head.path());
    let blocking = matches!(route, Route::MediaPlaylist { .. })
        && head.query().is_some_and(|q| {
            q.split('&')
                .any(|p| p.split('=').next() == Some("_HLS_msn"))
        });
    let is_ingest = head.method == Method::PUT || head.method == Method::POST;
    // DASH-IF CMAF ingest (`/ingest/{pp}/Streams({track})…`, manifests under a publishing
    // point): told apart by its path before the plain push, whose stream names cannot
    // contain `(` (a push to a name ending in `.mpd` is taken as a DASH manifest); its
    // segment URLs have more parts than any stream name, so they route as nothing.
    let cmaf = head
        .path()
        .strip_prefix("/ingest/")
        .filter(|rest| is_ingest && ingest::cmaf::is_cmaf_path(rest));
    let kind = match cmaf {
        Some(_) => RouteKind::Ingest,
        None => kind_of(&head.method, route, blocking),
    };
    let is_head = head.method == Method::HEAD;

    let mut resp = if head.method == Method::OPTIONS {
        cors::preflight(&head.headers)
    } else if let Some(rest) = cmaf {
        // As below; the protocol answers 403, never 401, so there is no challenge.
        Box::pin(ingest::cmaf::cmaf_ingest(&state, rest, &head, body))
            .await
            .unwrap_or_else(HttpError::into_response)
    } else if let (true, Route::Ingest { stream }) = (is_ingest, route) {
        // No request timeout: an encoder streams for hours. Boxed: the session's state would
        // otherwise enlarge every request's future, held ones included.
        let mut resp = Box::pin(ingest::ingest(&state, stream, &head, body))
            .await
            .unwrap_or_else(HttpError::into_response);
        ingest::challenge(&mut resp);
        resp
    } else if is_ingest && head.path().starts_with("/ingest/") {
        // Not routed as ingest: the name is empty or has more than `group/rendition`. The
        // encoder meant to ingest, so say what is wrong with the name rather than 405.
        HttpError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid stream name `{}`: ingest takes `/ingest/{{stream}}` or \
                 `/ingest/{{group}}/{{rendition}}`",
                &head.path()["/ingest/".len()..]
            ),
        )
        .into_response()
    } else if let Some(refusal) = playback_refusal(&state, route, &head) {
        HttpError::new(StatusCode::FORBIDDEN, refusal.to_string()).into_response()
    } else if head.method == Method::GET || is_head {
        // No timer around the whole answer: only held requests wait, and they are bounded
        // by `AppState::hold` (the hold limit or the request timeout, whichever is first).
        dispatch(&state, route, &head)
            .await
            .unwrap_or_else(HttpError::into_response)
    } else {
        let mut resp = HttpError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} is not allowed here", head.method),
        )
        .into_response();
        let allow = if matches!(route, Route::Ingest { .. }) {
            "PUT, POST, OPTIONS"
        } else {
            "GET, HEAD, OPTIONS"
        };
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        resp
    };
    cors::apply(&state.opts.cors_origin, resp.headers_mut());
    let len = hyper::body::Body::size_hint(resp.body())
        .exact()
        .unwrap_or(0);
    if is_head {
        // Same head as GET, no body; the length stays announced.
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(len));
        *resp.body_mut() = Body::empty();
    }
    state
        .metrics
        .record(kind, resp.status(), if is_head { 0 } else { len });
    resp
}

/// `GET /playback-check`: 204 when the request in `X-Original-URI` (path and query) would
/// pass the token check ([`playback_refusal`]; always, when playback is not signed), 403 with
/// the reason otherwise. For a caching tier that serves cached playlists and media to many
/// viewers under one cache key: it asks here (nginx `auth_request`, deploy/nginx) before
/// answering from its cache, so a viewer's token is checked even when the origin is not
/// asked for the resource. Answers at once: nothing is looked up or held.
fn playback_check(state: &AppState, req: &RequestHead) -> Result<Response<Body>, HttpError> {
    let original = req
        .headers
        .get(super::request_head::X_ORIGINAL_URI)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                "/playback-check needs the request to check in X-Original-URI",
            )
        })?;
    let (path, query) = match original.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (original, None),
    };
    let access = access_of(Route::parse(path));
    if let Some(refusal) = state.opts.playback.as_ref().and_then(|key| {
        let access = access?;
        key.check(path, query, access, std::time::SystemTime::now())
            .err()
    }) {
        return Err(HttpError::new(StatusCode::FORBIDDEN, refusal.to_string()));
    }
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// What `route` asks for under signed playback (which tokens open it); `None`: it is served
/// without a token.
fn access_of(route: Route<'_>) -> Option<Access> {
    match route {
        Route::MediaPlaylist { .. } | Route::Multivariant { .. } => Some(Access::Playlist),
        Route::Init { .. } | Route::Segment { .. } | Route::Part { .. } => Some(Access::Media),
        // A recording's playlist is opened by a viewer token; its files by the same token,
        // which the playlist passes on (see `recordings.rs`).
        Route::Recordings => Some(Access::Playlist),
        Route::Recording(path) if path.ends_with("/index.m3u8") => Some(Access::Playlist),
        Route::Recording(_) => Some(Access::Media),
        _ => None,
    }
}

/// Why a playback request is refused under signed playback ([`HttpOptions::playback`](super::HttpOptions::playback)):
/// playlists and media need a token for their path; the page, assets, health and metrics do
/// not. `None` serves the request.
fn playback_refusal(
    state: &AppState,
    route: Route<'_>,
    head: &RequestHead,
) -> Option<crate::playback::Refusal> {
    let key = state.opts.playback.as_ref()?;
    let read = head.method == Method::GET || head.method == Method::HEAD;
    let access = access_of(route).filter(|_| read)?;
    key.check(
        head.path(),
        head.query(),
        access,
        std::time::SystemTime::now(),
    )
    .err()
}

fn kind_of(method: &Method, route: Route<'_>, blocking: bool) -> RouteKind {
    if method == Method::OPTIONS {
        return RouteKind::Preflight;
    }
    if matches!(route, Route::Ingest { .. }) && (method == Method::PUT || method == Method::POST) {
        return RouteKind::Ingest;
    }
    if method != Method::GET && method != Method::HEAD {
        return RouteKind::Other;
    }
    match route {
        Route::Page => RouteKind::Page,
        Route::HlsJs | Route::Favicon => RouteKind::Asset,
        Route::Healthz => RouteKind::Healthz,
        Route::PlaybackCheck => RouteKind::PlaybackCheck,
        Route::Metrics => RouteKind::Metrics,
        Route::MediaPlaylist { .. } if blocking => RouteKind::BlockingPlaylist,
        Route::MediaPlaylist { .. } => RouteKind::Playlist,
        Route::Multivariant { .. } => RouteKind::Multivariant,
        Route::Init { .. } => RouteKind::Init,
        Route::Segment { .. } => RouteKind::Segment,
        Route::Part { .. } => RouteKind::Part,
        Route::Recordings | Route::Recording(_) => RouteKind::Recording,
        Route::Ingest { .. } | Route::Unknown => RouteKind::Other,
    }
}

async fn dispatch(
    state: &Arc<AppState>,
    route: Route<'_>,
    req: &RequestHead,
) -> Result<Response<Body>, HttpError> {
    let headers = &req.headers;
    match route {
        Route::Page => Ok(page::render(state)),
        Route::HlsJs => Ok(assets::hls_js(state, req.query(), headers, req.coding)),
        Route::Favicon => Ok(no_icon()),
        Route::Healthz => Ok(text("ok\n".into(), "text/plain; charset=utf-8")),
        Route::Metrics => Ok(text(scrape::render(state)?.into(), scrape::CONTENT_TYPE)),
        Route::PlaybackCheck => playback_check(state, req),
        Route::MediaPlaylist { stream } => {
            playlist::media(state, stream, req.query(), headers, req.coding).await
        }
        Route::Multivariant { group } => {
            playlist::multivariant(state, group, req.query(), headers, req.coding)
        }
        // Media: what is not here may be the predecessor's.
        Route::Init { stream, id } => {
            or_predecessor(state, route, req, media::init(state, stream, id, headers)).await
        }
        Route::Segment { stream, msn } => {
            let found = match media::segment(state, stream, msn, headers) {
                // A DVR segment no longer in memory: from the recording. Boxed: a file
                // read's state would otherwise enlarge every request's future.
                Err(e) if e.status == StatusCode::NOT_FOUND && state.recordings.is_some() => {
                    Box::pin(recordings::archived_segment(state, stream, msn, headers, e)).await
                }
                found => found,
            };
            or_predecessor(state, route, req, found).await
        }
        Route::Part { stream, number } => {
            let found = media::part(state, stream, number, headers).await;
            or_predecessor(state, route, req, found).await
        }
        Route::Recordings => recordings::list(state),
        // Boxed: a file read's state would otherwise enlarge every request's future.
        Route::Recording(path) => Box::pin(recordings::serve(state, path, req.query())).await,
        Route::Ingest { .. } => Err(HttpError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "ingest takes PUT or POST with an fMP4 body",
        )),
        Route::Unknown => Err(HttpError::not_found(format!("`{}`", req.path()))),
    }
}

/// `found`, or, when it is a 404, the predecessor's answer (see [`predecessor_fallback`]).
async fn or_predecessor(
    state: &AppState,
    route: Route<'_>,
    req: &RequestHead,
    found: Result<Response<Body>, HttpError>,
) -> Result<Response<Body>, HttpError> {
    match found {
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            // Bound before the `await`: a temporary kept across it would enlarge the future.
            let asked = predecessor_fallback(state, route, req, e)?;
            Ok(asked.await)
        }
        found => found,
    }
}

/// A media request not found here, asked of the process this one took over from (see
/// `predecessor.rs`), answered with `not_found` if it has not got it either; `Err` gives back
/// `not_found` when there is no one to ask.
///
/// A boxed future, made only when there is a predecessor: held across the `await` in
/// [`handle`], a larger one would enlarge every request's future.
fn predecessor_fallback<'a>(
    state: &'a AppState,
    route: Route<'_>,
    head: &'a RequestHead,
    not_found: HttpError,
) -> Result<Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>>, HttpError> {
    let media = matches!(
        route,
        Route::Part { .. } | Route::Segment { .. } | Route::Init { .. }
    );
    if let (true, StatusCode::NOT_FOUND, Some(link)) = (media, not_found.status, &state.predecessor)
    {
        return Ok(Box::pin(async move {
            match link.ask(head).await {
                Some(resp) => resp,
                None => not_found.into_response(),
            }
        }));
    }
    Err(not_found)
}

/// The answer to `/favicon.ico`. Browsers ask for it on their own, on the page at `/` and
/// again whenever a tab starts playing sound; a 404 would be an error in every page's
/// console and in `/metrics`. 204 says "no icon", and browsers keep it for a day.
fn no_icon() -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    resp
}

fn text(body: Body, content_type: &'static str) -> Response<Body> {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_future_stays_small() {
        // Every held request keeps one of these alive (boxed by hyper): 10,000 of them are
        // part of the memory budget of a blocking fan-out.
        let playlists = Arc::new(playlists::Playlists::new(playlists::Options::default()).unwrap());
        let state = Arc::new(AppState::new(
            playlists,
            super::super::HttpOptions::default(),
        ));
        let req = Request::get("/a/index.m3u8")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let fut = handle(state, req);
        let size = std::mem::size_of_val(&fut);
        assert!(size <= 1536, "handle() future is {size} bytes");
    }

    #[test]
    fn paths_parse_to_the_names_the_playlist_uses() {
        for (path, want) in [
            ("/", Route::Page),
            ("/favicon.ico", Route::Favicon),
            ("/cam1/index.m3u8", Route::MediaPlaylist { stream: "cam1" }),
            (
                "/live/720p/index.m3u8",
                Route::MediaPlaylist {
                    stream: "live/720p",
                },
            ),
            ("/live/master.m3u8", Route::Multivariant { group: "live" }),
            ("/live/720p/master.m3u8", Route::Unknown),
            (
                "/cam1/init.mp4",
                Route::Init {
                    stream: "cam1",
                    id: 0,
                },
            ),
            (
                "/cam1/init-3.mp4",
                Route::Init {
                    stream: "cam1",
                    id: 3,
                },
            ),
            ("/cam1/init-0.mp4", Route::Unknown),
            (
                "/cam1/s12.mp4",
                Route::Segment {
                    stream: "cam1",
                    msn: 12,
                },
            ),
            ("/cam1/s012.mp4", Route::Unknown),
            ("/cam1/s-1.mp4", Route::Unknown),
            (
                "/cam1/p12.mp4",
                Route::Part {
                    stream: "cam1",
                    number: 12,
                },
            ),
            ("/cam1/p012.mp4", Route::Unknown),
            ("/cam1/p12.0.mp4", Route::Unknown),
            ("/cam1/p99999999999999999999.mp4", Route::Unknown),
            ("/a/b/c/index.m3u8", Route::Unknown),
            ("//index.m3u8", Route::Unknown),
            ("/index.m3u8", Route::Unknown),
            ("/cam1/other.txt", Route::Unknown),
            ("/ingest/cam1", Route::Ingest { stream: "cam1" }),
            (
                "/ingest/live/720p",
                Route::Ingest {
                    stream: "live/720p",
                },
            ),
            ("/ingest/", Route::Unknown),
        ] {
            assert_eq!(Route::parse(path), want, "{path}");
        }
    }
}

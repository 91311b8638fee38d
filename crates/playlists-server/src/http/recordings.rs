//! `/recordings`: the recordings listing (JSON) and each recording's playlist and files
//! (see [`crate::recording`]).
//!
//! | path | answer |
//! |---|---|
//! | `/recordings` | `{"recordings":[…]}`, newest first ([`Summary`](crate::recording::Summary)) |
//! | `/recordings/{stream}/{id}/index.m3u8` | its playlist: VOD once ended, EVENT while it grows |
//! | `/recordings/{stream}/{id}/init-{n}.mp4`, `…/{msn}.m4s` | its init sections and segments |
//!
//! Under signed playback a recording is opened by a viewer token for `/recordings/` (every
//! recording) or `/`, and its playlist passes the request's token on in every URI, as a
//! multivariant playlist does.

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};

use super::body::Body;
use super::error::HttpError;
use super::AppState;
use crate::playback::{token_param, TOKEN_PARAM};
use crate::recording::{RecordingKey, Recordings};

/// What a path under `/recordings/` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingPath<'a> {
    /// The stream (`cam1`, `live/720p`).
    pub stream: &'a str,
    /// The recording's id.
    pub id: &'a str,
    /// `index.m3u8`, `init-{n}.mp4` or `{msn}.m4s`.
    pub file: &'a str,
}

impl<'a> RecordingPath<'a> {
    /// Parses what follows `/recordings/`: `{stream}/{id}/{file}`, where the stream has at
    /// most one `/`. The names are checked against the catalog, never used as paths.
    pub fn parse(rest: &'a str) -> Option<Self> {
        let (dir, file) = rest.rsplit_once('/')?;
        let (stream, id) = dir.rsplit_once('/')?;
        let ok = !stream.is_empty()
            && !id.is_empty()
            && !file.is_empty()
            && stream.split('/').count() <= 2
            && stream.split('/').all(|s| !s.is_empty());
        ok.then_some(Self { stream, id, file })
    }
}

fn recordings(state: &AppState) -> Result<&Recordings, HttpError> {
    state.recordings.as_deref().ok_or_else(|| {
        HttpError::not_found("recordings: this origin does not record (--record-dir)")
    })
}

/// `GET /recordings`.
pub fn list(state: &AppState) -> Result<Response<Body>, HttpError> {
    #[derive(serde::Serialize)]
    struct Listing {
        recordings: Vec<crate::recording::Summary>,
    }
    let listing = Listing {
        recordings: recordings(state)?.list(),
    };
    let json = serde_json::to_vec(&listing)
        .map_err(|e| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("listing: {e}")))?;
    Ok(answer(
        Bytes::from(json),
        "application/json",
        HeaderValue::from_static("no-cache"),
    ))
}

/// `GET /recordings/{stream}/{id}/{file}`; `rest` is what follows `/recordings/`.
pub async fn serve(
    state: &AppState,
    rest: &str,
    query: Option<&str>,
) -> Result<Response<Body>, HttpError> {
    let path = RecordingPath::parse(rest)
        .ok_or_else(|| HttpError::not_found(format!("`/recordings/{rest}`")))?;
    let recordings = recordings(state)?;
    let key = RecordingKey {
        stream: path.stream.to_owned(),
        id: path.id.to_owned(),
    };
    let missing = || {
        HttpError::not_found(format!(
            "recording `{}/{}` has no `{}`",
            path.stream, path.id, path.file
        ))
    };
    if path.file == "index.m3u8" {
        // Only the token goes on: the rest of the query was for this request.
        let token = state
            .opts
            .playback
            .as_ref()
            .and(query.and_then(token_param))
            .map(|t| format!("{TOKEN_PARAM}={t}"));
        let (text, finished) = recordings.playlist(&key, token.as_deref()).ok_or_else(|| {
            HttpError::not_found(format!("no recording `{}/{}`", path.stream, path.id))
        })?;
        // A VOD playlist changes only when retention trims it; an EVENT one with each
        // segment.
        let cache = if finished {
            "public, max-age=60"
        } else {
            "public, max-age=1"
        };
        return Ok(answer(
            Bytes::from(text),
            "application/vnd.apple.mpegurl",
            HeaderValue::from_static(cache),
        ));
    }
    let file = recordings.file(&key, path.file).ok_or_else(missing)?;
    // Retention may have removed it between the catalog and the read: then it is a 404 too.
    let bytes = recordings.contents(&file).await.ok_or_else(missing)?;
    Ok(answer(
        bytes,
        // As the live segments and init sections are served.
        "video/mp4",
        // A recorded file never changes; it may only go (retention).
        HeaderValue::from_static("public, max-age=86400, immutable"),
    ))
}

/// `GET /{stream}/s{msn}.mp4` for a segment of the DVR window that is no longer in memory
/// (the library lists it, [`StreamRef::is_archived`](playlists::StreamRef::is_archived)):
/// served from the stream's recording, as the live segment would be. `not_found` when it is
/// neither archived nor recorded.
pub async fn archived_segment(
    state: &AppState,
    name: &str,
    msn: u64,
    headers: &http::HeaderMap,
    not_found: HttpError,
) -> Result<Response<Body>, HttpError> {
    let (Some(recordings), Some(stream)) = (&state.recordings, state.playlists.stream(name)) else {
        return Err(not_found);
    };
    if !stream.is_archived(msn) {
        return Err(not_found);
    }
    let Some(file) = recordings.recorded_segment(name, msn) else {
        return Err(not_found);
    };
    let Some(bytes) = recordings.contents(&file).await else {
        return Err(not_found);
    };
    let hash = playlists::xxh3_64(&bytes);
    Ok(super::media::respond(
        state,
        &stream,
        std::slice::from_ref(&bytes),
        hash,
        headers,
    ))
}

fn answer(body: Bytes, content_type: &'static str, cache: HeaderValue) -> Response<Body> {
    let mut resp = Response::new(Body::one(body));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, cache);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_a_stream_a_recording_and_a_file() {
        let p = RecordingPath::parse("live/720p/20261207T203132Z/12.m4s").unwrap();
        assert_eq!(
            p,
            RecordingPath {
                stream: "live/720p",
                id: "20261207T203132Z",
                file: "12.m4s"
            }
        );
        assert_eq!(
            RecordingPath::parse("cam/20261207T203132Z/index.m3u8").map(|p| p.stream),
            Some("cam")
        );
        for bad in [
            "",
            "cam",
            "cam/index.m3u8",
            "a/b/c/id/index.m3u8",
            "/id/index.m3u8",
            "cam//index.m3u8",
            "cam/id/",
            "a//id/x",
        ] {
            assert_eq!(RecordingPath::parse(bad), None, "{bad}");
        }
    }
}

//! DASH-IF Live Media Ingest, Interface-1 (CMAF ingest): `POST`/`PUT
//! /ingest/{publishing_point}/Streams({track}[.cmfv|.cmfa])`, each track the stream
//! `{publishing_point}/{track}`, a rendition of the group `{publishing_point}` (so its
//! multivariant playlist lists it).
//!
//! Both forms of the protocol land in the same place:
//!
//! * one long-running POST per track (chunked): the CMAF header, then its fragments as they
//!   are made — a byte stream like `/ingest/{stream}`'s, fed to one ingest session;
//! * one POST per object: the header, then one POST per CMAF segment, to the same URL or to
//!   a segment URL under it (`…/Streams({track})/{segment}`, whose last part is not read).
//!
//! Each request is its own ingest session ([`Ownership::Redundant`]); what must outlive a
//! request — the track's CMAF header, what was published last, the restamping run — is the
//! stream's ingest state, which lives until the grace period passes with no request. A
//! request whose body starts with a segment is fed the stream's last header first
//! ([`IngestSession::resume_track`]). Why not one session kept across requests: two
//! redundant encoders' segment POSTs interleave, and a shared splitter would mix their bytes;
//! a session per request keeps every object whole, and the stream already keeps the rest.
//!
//! Redundant encoders: any number of sessions may push the same track; the stream keeps the
//! first copy of each fragment past what it holds (see the ingest layer's `sessions.rs`).
//! A plain `/ingest/{stream}` push still has its stream to itself.
//!
//! Answers (DASH-IF ingest §4 "General Ingest Protocol Behavior", §5.2):
//!
//! | case | status |
//! |---|---|
//! | accepted (also a header re-sent, fragments already held, which are dropped) | 200 |
//! | an empty POST: the publishing point would take this track | 200 |
//! | a manifest (`….mpd`): accepted and ignored — tracks are described by their headers | 200 |
//! | no valid credential (Bearer or `?token=`, as for HTTP ingest) | 403 |
//! | a publishing point or track name the stream-name rules refuse; no HTTP ingest here | 404 |
//! | a segment with no CMAF header for its track | 412 |
//! | not CMAF (the body starts with no CMAF box); a text or metadata track | 415 |
//! | otherwise as `/ingest/{stream}` (400 malformed, 408 stalled, 409 busy, 413, 503) | |
//!
//! A segment whose `styp` has the `lmsg` brand is the track's last: the stream ends
//! (EXT-X-ENDLIST) when the request carrying it does. A CMAF header identical to the one
//! before continues the track (the library sees the same init section, and the encoder's
//! timestamps continue the restamping run), so an encoder that reconnects causes no
//! discontinuity.

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};

use super::super::body::Body;
use super::super::error::{status_for, ErrorSource, HttpError};
use super::super::request_head::RequestHead;
use super::super::AppState;
use super::{credential, RequestBody};
use crate::fmp4::{Fmp4Error, FourCC};
use crate::ingest::{event_from_query, feed, Access, ChunkSource, IngestError, Ownership};

/// The longest manifest read (and dropped): a DASH MPD of a few tracks is a few KiB.
const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// Whether `rest` (a path after `/ingest/`) is for this protocol: `{publishing_point}/` then
/// `Streams(`, or a manifest (`….mpd`). Routing only; [`parse`] says what it names.
pub fn is_cmaf_path(rest: &str) -> bool {
    rest.split_once('/').is_some_and(|(pp, tail)| {
        !pp.is_empty()
            && (tail.starts_with("Streams(")
                || tail.starts_with("Streams%28")
                || rest.ends_with(".mpd"))
    })
}

/// What a CMAF ingest path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target<'a> {
    /// A track: the stream `{publishing_point}/{track}`.
    Track {
        publishing_point: &'a str,
        track: &'a str,
    },
    /// A DASH manifest for the publishing point.
    Manifest { publishing_point: &'a str },
}

/// Why a CMAF ingest path is refused, before any stream is looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum PathError {
    /// Not `{publishing_point}/Streams({track})[/{segment}]`.
    #[error("`/ingest/{0}` is no track: CMAF ingest takes `/ingest/{{publishing_point}}/Streams({{track}}.cmfv|.cmfa)`")]
    Shape(String),
    /// A track type this origin does not serve.
    #[error("track `{track}`: `.{ext}` tracks (timed text, metadata) are not served; only `.cmfv` and `.cmfa`")]
    TrackType { track: String, ext: String },
}

/// Parses `rest`, a path after `/ingest/` for which [`is_cmaf_path`] holds.
fn parse(rest: &str) -> Result<Target<'_>, PathError> {
    let shape = || PathError::Shape(rest.chars().take(128).collect());
    let (publishing_point, tail) = rest.split_once('/').ok_or_else(shape)?;
    let inner = tail
        .strip_prefix("Streams(")
        .and_then(|t| t.split_once(')'))
        .or_else(|| {
            tail.strip_prefix("Streams%28").and_then(|t| {
                let end = t.find("%29")?;
                Some((&t[..end], &t[end + 3..]))
            })
        });
    let Some((name, after)) = inner else {
        // Not `Streams(…)`: a manifest named by its own path (`{pp}/manifest.mpd`).
        return if tail.ends_with(".mpd") && !tail.contains('/') {
            Ok(Target::Manifest { publishing_point })
        } else {
            Err(shape())
        };
    };
    // After `Streams(…)`: nothing, or a segment's name (`/{segment}`, not read).
    if !(after.is_empty() || after.starts_with('/')) {
        return Err(shape());
    }
    let (track, ext) = match name.rsplit_once('.') {
        Some((track, ext)) => (track, Some(ext)),
        None => (name, None),
    };
    match ext {
        None => Ok(Target::Track {
            publishing_point,
            track: name,
        }),
        Some("cmfv" | "cmfa") => Ok(Target::Track {
            publishing_point,
            track,
        }),
        Some("mpd") => Ok(Target::Manifest { publishing_point }),
        Some(ext @ ("cmft" | "cmfm")) => Err(PathError::TrackType {
            track: track.to_owned(),
            ext: ext.to_owned(),
        }),
        // Another dot is the name's own (`video.hd`): the stream-name rules allow it.
        Some(_) => Ok(Target::Track {
            publishing_point,
            track: name,
        }),
    }
}

/// What the first box of a body says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// Nothing: an empty POST probes the publishing point.
    Empty,
    /// A CMAF header (`ftyp`, `moov`, or a box that may precede them).
    Header,
    /// A segment or chunk (`styp`, `moof`, or a box that precedes a `moof`).
    Segment,
}

/// Classifies a body by its first box type (`first` holds at least its first 8 bytes, or the
/// whole body when it is shorter).
fn opening(first: &[u8]) -> Result<Opening, IngestError> {
    if first.is_empty() {
        return Ok(Opening::Empty);
    }
    let fourcc = first.get(4..8).map(|t| FourCC([t[0], t[1], t[2], t[3]]));
    match fourcc.as_ref().map(|f| &f.0) {
        Some(b"ftyp" | b"moov" | b"free" | b"skip") => Ok(Opening::Header),
        Some(b"styp" | b"moof" | b"prft" | b"emsg" | b"sidx" | b"mdat") => Ok(Opening::Segment),
        _ => Err(IngestError::UnsupportedMedia {
            stream: String::new(),
            reason: match fourcc {
                Some(f) => format!("the body starts with `{f}`, not a CMAF header or segment"),
                None => "the body is shorter than a box header".to_owned(),
            },
        }),
    }
}

/// The status DASH-IF ingest gives an ingest error (§4 items 17–22): 403 for a refused
/// credential, 404 for a name that cannot be a stream, 412 for a segment without its header,
/// 415 for media not served; otherwise the server's usual one.
fn status_of(e: &IngestError) -> StatusCode {
    use playlists::Error as E;
    match e {
        IngestError::Unauthorized(_) => StatusCode::FORBIDDEN,
        IngestError::ReservedName(_)
        | IngestError::Publish {
            source: E::InvalidStreamName { .. },
            ..
        } => StatusCode::NOT_FOUND,
        // A moof with no header before it in a body that did not open with one.
        IngestError::NoHeader(_)
        | IngestError::Fmp4 {
            source: Fmp4Error::MoofBeforeMoov { .. },
            ..
        } => StatusCode::PRECONDITION_FAILED,
        IngestError::UnsupportedMedia { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        other => status_for(ErrorSource::Ingest(other)),
    }
}

/// An ingest error as this protocol answers it.
fn refusal(e: IngestError) -> HttpError {
    HttpError::new(status_of(&e), e.to_string())
}

/// Answers one CMAF ingest request; `rest` is its path after `/ingest/`.
pub async fn cmaf_ingest<B>(
    state: &AppState,
    rest: &str,
    head: &RequestHead,
    body: B,
) -> Result<Response<Body>, HttpError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let Some(ingests) = &state.ingests else {
        return Err(HttpError::new(
            StatusCode::NOT_FOUND,
            "this server takes no ingest over HTTP",
        ));
    };
    if state.shutdown.is_started() {
        return Err(super::super::held::shutting_down());
    }
    let target = parse(rest).map_err(|e| {
        let status = match e {
            PathError::Shape(_) => StatusCode::NOT_FOUND,
            PathError::TrackType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        };
        HttpError::new(status, e.to_string())
    })?;
    let token = credential(head);
    let access = Access::Remote {
        token: token.as_deref(),
        peer: head.peer,
    };
    let mut body = RequestBody(body);
    let (publishing_point, track) = match target {
        Target::Manifest { publishing_point } => {
            // The credential of the group: a publish key for it covers its tracks.
            ingests
                .probe(publishing_point, access, Ownership::Redundant)
                .await
                .map_err(refusal)?;
            let bytes = bounded(state, drain(&mut body, MAX_MANIFEST_BYTES)).await?;
            tracing::debug!(%publishing_point, bytes, "CMAF ingest: manifest ignored");
            return Ok(ok(format!(
                "manifest of `{publishing_point}` ignored: tracks are described by their CMAF headers\n"
            )));
        }
        Target::Track {
            publishing_point,
            track,
        } => (publishing_point, track),
    };
    let stream = format!("{publishing_point}/{track}");
    let first = bounded(state, first_bytes(&mut body)).await?;
    let opening = opening(&first).map_err(|e| match e {
        IngestError::UnsupportedMedia { reason, .. } => refusal(IngestError::UnsupportedMedia {
            stream: stream.clone(),
            reason,
        }),
        e => refusal(e),
    })?;
    if opening == Opening::Empty {
        ingests
            .probe(&stream, access, Ownership::Redundant)
            .await
            .map_err(refusal)?;
        return Ok(ok(format!("`{stream}` may be published here\n")));
    }
    let event = head
        .query()
        .map_or(Ok(false), |q| event_from_query(&stream, q))
        .map_err(refusal)?;
    let mut session = ingests
        .admit_run(&stream, access, Ownership::Redundant, event)
        .await
        .map_err(refusal)?;
    let _counted = state.ingest_request();
    if opening == Opening::Segment {
        session.resume_track().map_err(refusal)?;
    }
    let mut input = Prefixed {
        first: Some(first),
        rest: body,
    };
    let stall = Some(ingests.config().stall_after);
    let parts = feed(session, &mut input, stall, &state.shutdown)
        .await
        .inspect_err(|e| tracing::info!(%stream, error = %e, "CMAF ingest ended early"))
        .map_err(refusal)?;
    tracing::debug!(%stream, parts, "CMAF ingest request ended");
    Ok(ok(format!("published {parts} parts on `{stream}`\n")))
}

/// `read` (of a body, before it reaches an ingest session and its stall limit), cut off
/// after the stall limit (408: a body that trickles in holds a connection) or at shutdown.
async fn bounded<T>(
    state: &AppState,
    read: impl std::future::Future<Output = Result<T, HttpError>>,
) -> Result<T, HttpError> {
    let stall = state
        .ingests
        .as_ref()
        .map_or(std::time::Duration::from_secs(30), |i| {
            i.config().stall_after
        });
    tokio::select! {
        read = tokio::time::timeout(stall, read) => read.unwrap_or_else(|_| {
            Err(HttpError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body's first bytes took over {stall:?}"),
            ))
        }),
        () = state.shutdown.wait() => Err(super::super::held::shutting_down()),
    }
}

/// A 200 with `text` (plain, not cached).
fn ok(text: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(text));
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The body's first 8 bytes at least (a box header), or all of it when shorter.
async fn first_bytes(body: &mut impl ChunkSource) -> Result<Bytes, HttpError> {
    let mut first = bytes::BytesMut::new();
    while first.len() < 8 {
        match body.next_chunk().await {
            None => break,
            Some(Ok(chunk)) => first.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(HttpError::new(StatusCode::BAD_REQUEST, e.to_string())),
        }
    }
    Ok(first.freeze())
}

/// Reads and drops a body of at most `max` bytes; returns its length.
async fn drain(body: &mut impl ChunkSource, max: usize) -> Result<usize, HttpError> {
    let mut len = 0usize;
    while let Some(chunk) = body.next_chunk().await {
        let chunk = chunk.map_err(|e| HttpError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        len = len.saturating_add(chunk.len());
        if len > max {
            return Err(HttpError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a manifest over {max} bytes"),
            ));
        }
    }
    Ok(len)
}

/// A body whose first bytes were read already.
struct Prefixed<S> {
    first: Option<Bytes>,
    rest: S,
}

impl<S: ChunkSource> ChunkSource for Prefixed<S> {
    async fn next_chunk(&mut self) -> Option<std::io::Result<Bytes>> {
        match self.first.take() {
            Some(first) => Some(Ok(first)),
            None => self.rest.next_chunk().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_a_track_a_manifest_or_nothing() {
        let track = |pp, track| {
            Ok(Target::Track {
                publishing_point: pp,
                track,
            })
        };
        assert_eq!(parse("pp/Streams(video.cmfv)"), track("pp", "video"));
        assert_eq!(parse("pp/Streams(audio_en.cmfa)"), track("pp", "audio_en"));
        assert_eq!(parse("pp/Streams(video)"), track("pp", "video"));
        assert_eq!(parse("pp/Streams%28video.cmfv%29"), track("pp", "video"));
        assert_eq!(parse("pp/Streams(v.hd)"), track("pp", "v.hd"));
        assert_eq!(
            parse("pp/Streams(video.cmfv)/Segment(1200)"),
            track("pp", "video")
        );
        assert_eq!(
            parse("pp/Streams(manifest.mpd)"),
            Ok(Target::Manifest {
                publishing_point: "pp"
            })
        );
        assert_eq!(
            parse("pp/live.mpd"),
            Ok(Target::Manifest {
                publishing_point: "pp"
            })
        );
        assert!(matches!(
            parse("pp/Streams(subs.cmft)"),
            Err(PathError::TrackType { .. })
        ));
        for bad in ["pp/Streams(video", "pp/Streams(video)x", "pp/Streams%28v"] {
            assert!(matches!(parse(bad), Err(PathError::Shape(_))), "{bad}");
        }
        assert!(is_cmaf_path("pp/Streams(video.cmfv)"));
        assert!(is_cmaf_path("pp/manifest.mpd"));
        assert!(!is_cmaf_path("pp/video"));
        assert!(!is_cmaf_path("cam1"));
        assert!(!is_cmaf_path("/Streams(video)"));
    }

    #[test]
    fn any_path_parses_without_a_panic() {
        let pieces = [
            "pp",
            "/",
            "Streams(",
            "Streams%28",
            ")",
            "%29",
            "%2",
            ".",
            "cmfv",
            "mpd",
            "é",
            "",
        ];
        // Every sequence of up to four pieces.
        let mut paths = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = paths
                .iter()
                .flat_map(|p| pieces.iter().map(move |x| format!("{p}{x}")))
                .collect();
            paths.extend(longer);
            paths.dedup();
        }
        for path in &paths {
            if is_cmaf_path(path) {
                let _ = parse(path);
            }
        }
    }

    #[test]
    fn a_body_opens_with_a_header_a_segment_or_is_refused() {
        let boxed = |t: &[u8; 4]| [&[0, 0, 0, 8][..], t].concat();
        assert_eq!(opening(b"").unwrap(), Opening::Empty);
        assert_eq!(opening(&boxed(b"ftyp")).unwrap(), Opening::Header);
        assert_eq!(opening(&boxed(b"styp")).unwrap(), Opening::Segment);
        assert_eq!(opening(&boxed(b"moof")).unwrap(), Opening::Segment);
        for bad in [&boxed(b"RIFF")[..], b"\x47\x40\x00\x10", b"<?xml version"] {
            let e = opening(bad).unwrap_err();
            assert_eq!(status_of(&e), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
    }

    #[test]
    fn errors_get_the_statuses_of_the_spec() {
        assert_eq!(
            status_of(&IngestError::Unauthorized("a".into())),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_of(&IngestError::NoHeader("a".into())),
            StatusCode::PRECONDITION_FAILED
        );
        assert_eq!(
            status_of(&IngestError::ReservedName("a".into())),
            StatusCode::NOT_FOUND
        );
        let moof_first = IngestError::Fmp4 {
            stream: "a".into(),
            source: Fmp4Error::MoofBeforeMoov { offset: 8 },
        };
        assert_eq!(status_of(&moof_first), StatusCode::PRECONDITION_FAILED);
        assert_eq!(
            status_of(&IngestError::Busy("a".into())),
            StatusCode::CONFLICT
        );
    }
}

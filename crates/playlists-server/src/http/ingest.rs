//! `PUT`/`POST /ingest/{stream}`: the HTTP push source of the ingest layer — an encoder's
//! fMP4 byte stream (chunked or with a length), published part by part as it arrives.
//!
//! A small adapter: the body becomes a [`ChunkSource`] and the ingest layer's [`feed`] does
//! the rest, as for every byte-stream source. The body is read frame by frame, never
//! collected, so a part is published as soon as its `moof`+`mdat` is in. The source's
//! credential ([`Access::Remote`]: the stream's publish key or the server's token) comes as
//! `Authorization: Bearer <key>`, or as `?token=<key>` on the URL for encoders that can set
//! no header (the form a stream key takes in RTMP URLs). The query is never logged: nothing
//! here logs more than the stream name, and a refusal is logged by the ingest layer, which
//! never sees the URL. The
//! `?playlist_type=event` makes the stream's run an EVENT playlist (every segment listed from
//! its start; with `--record-dir` only). The
//! answer comes when the body ends (200 with the number of parts), when the input is refused
//! (401/400/409/413/503, see [`status_for`](super::status_for)), when no part completes
//! within the ingest layer's stall limit (408), or when the server shuts down (503).
//!
//! [`cmaf`] is the DASH-IF Live Media Ingest protocol (CMAF ingest) on the same body reader
//! and credential: `/ingest/{publishing_point}/Streams({track})`, redundant encoders
//! included.

pub mod cmaf;

use http::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use http_body_util::BodyExt;

use super::body::Body;
use super::error::HttpError;
use super::request_head::RequestHead;
use super::AppState;
use crate::ingest::{event_from_query, feed, token_from_query, Access, ChunkSource, Ownership};

/// Reads `body` into a new ingest session of `stream`.
pub async fn ingest<B>(
    state: &AppState,
    stream: &str,
    head: &RequestHead,
    body: B,
) -> Result<Response<Body>, HttpError>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let Some(ingests) = &state.ingests else {
        return Err(HttpError::new(
            StatusCode::NOT_FOUND,
            "this server takes no ingest over HTTP",
        ));
    };
    if state.shutdown.is_started() {
        return Err(super::held::shutting_down());
    }
    let token = credential(head);
    let access = Access::Remote {
        token: token.as_deref(),
        peer: head.peer,
    };
    let event = head
        .query()
        .map_or(Ok(false), |q| event_from_query(stream, q))?;
    let session = ingests
        .admit_run(stream, access, Ownership::Exclusive, event)
        .await?;
    let _counted = state.ingest_request();
    let stall = Some(ingests.config().stall_after);
    let parts = feed(session, &mut RequestBody(body), stall, &state.shutdown)
        .await
        .inspect_err(|e| tracing::info!(%stream, error = %e, "ingest ended early"))?;
    tracing::info!(%stream, parts, "ingest ended");
    let mut resp = Response::new(Body::from(format!(
        "published {parts} parts on `{stream}`\n"
    )));
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The credential a request presents: the `Authorization: Bearer` header's, else the `token`
/// query parameter's (percent-decoded).
pub(super) fn credential(head: &RequestHead) -> Option<std::borrow::Cow<'_, str>> {
    let bearer = head
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(bearer) = bearer {
        return Some(bearer.into());
    }
    token_from_query(head.query()?)
}

/// A request body as a [`ChunkSource`]: its data frames, trailers skipped.
pub(super) struct RequestBody<B>(pub(super) B);

impl<B> ChunkSource for RequestBody<B>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    async fn next_chunk(&mut self) -> Option<std::io::Result<bytes::Bytes>> {
        loop {
            match self.0.frame().await? {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => return Some(Ok(data)),
                    Err(_trailers) => continue,
                },
                // `IngestError::Read` says that reading failed; this names how.
                Err(e) => return Some(Err(std::io::Error::other(e.to_string()))),
            }
        }
    }
}

/// The `WWW-Authenticate` challenge of a 401.
pub fn challenge(resp: &mut Response<Body>) {
    if resp.status() == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(uri: &str, authorization: Option<&str>) -> RequestHead {
        let mut req = http::Request::put(uri);
        if let Some(a) = authorization {
            req = req.header(AUTHORIZATION, a);
        }
        RequestHead::new(&req.body(()).unwrap().into_parts().0)
    }

    #[test]
    fn the_credential_comes_from_the_header_or_else_the_query() {
        let got = |uri, auth| credential(&head(uri, auth)).map(|c| c.into_owned());
        assert_eq!(got("/ingest/a", Some("Bearer k1")), Some("k1".into()));
        assert_eq!(got("/ingest/a?token=k2", None), Some("k2".into()));
        assert_eq!(
            got("/ingest/a?x=1&token=k2", Some("Bearer k1")),
            Some("k1".into()),
            "the header wins"
        );
        assert_eq!(
            got("/ingest/a?x=1&token=a%2Bb+c", None),
            Some("a+b c".into())
        );
        assert_eq!(got("/ingest/a?mytoken=k", None), None);
        assert_eq!(got("/ingest/a?token=%zz", None), None);
        assert_eq!(got("/ingest/a", Some("Basic k")), None);
        assert_eq!(got("/ingest/a", None), None);
    }
}

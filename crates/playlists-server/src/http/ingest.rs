//! `PUT`/`POST /ingest/{stream}`: an encoder's fMP4 byte stream (chunked or with a length),
//! published part by part as it arrives.
//!
//! The body is read frame by frame and handed to an [`IngestSession`](crate::ingest::IngestSession)
//! without being collected, so a part is published as soon as its `moof`+`mdat` is in. With
//! `--ingest-token`, the request must carry `Authorization: Bearer <token>` (401 otherwise).
//! The answer comes when the body ends (200 with the number of parts), when the input is
//! refused (400/409/413/503, see [`status_for`](super::status_for)), when no part completes
//! within [`HttpOptions::idle_timeout`](super::HttpOptions::idle_timeout) (408: a trickling or
//! stalled body), or when the server shuts down (503).

use http::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use http::{Response, StatusCode};
use http_body_util::BodyExt;

use super::body::Body;
use super::error::HttpError;
use super::AppState;

/// Reads `body` into a new ingest session of `stream`.
pub async fn ingest<B>(
    state: &AppState,
    stream: &str,
    headers: &HeaderMap,
    body: B,
) -> Result<Response<Body>, HttpError>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    authorize(state, headers)?;
    if state.shutdown.is_started() {
        return Err(super::held::shutting_down());
    }
    let mut session = state.ingests.start(stream)?;
    let mut body = body;
    // A body that trickles bytes (a slow-loris, or an encoder whose source stalled) never
    // trips a read timeout, yet holds a connection and up to a part of buffer: it must
    // complete a part every `stall` or it is cut off.
    let stall = state.opts.idle_timeout;
    let mut deadline = tokio::time::Instant::now() + stall;
    let mut published = 0;
    let parts = loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            () = tokio::time::sleep_until(deadline) => {
                let parts = session.parts();
                drop(session);
                return Err(HttpError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "no complete part of `{stream}` within {stall:?} ({parts} published); \
                         the input is too slow or stalled"
                    ),
                ));
            }
            () = state.shutdown.wait() => {
                // The session ends here; the stream gets its grace period like any disconnect.
                let parts = session.parts();
                drop(session);
                return Err(HttpError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the server is shutting down after {parts} parts of `{stream}`"),
                ));
            }
        };
        match frame {
            None => break session.finish()?,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    session.push(data)?;
                    if session.parts() > published {
                        published = session.parts();
                        deadline = tokio::time::Instant::now() + stall;
                    }
                }
            }
            Some(Err(e)) => {
                // The encoder's connection broke; what it sent is published and the stream
                // waits for a reconnect. The answer will likely not reach it.
                tracing::info!(%stream, error = %e, "ingest connection ended");
                return Err(HttpError::new(
                    StatusCode::BAD_REQUEST,
                    format!("reading the request body failed: {e}"),
                ));
            }
        }
    };
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

/// 401 unless the request carries the configured bearer token (or none is configured).
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), HttpError> {
    let Some(token) = &state.opts.ingest_token else {
        return Ok(());
    };
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
        return Ok(());
    }
    Err(HttpError::new(
        StatusCode::UNAUTHORIZED,
        "ingest needs `Authorization: Bearer <token>` with the server's --ingest-token",
    ))
}

/// Compares without an early exit on the first differing byte, so the time taken does not
/// tell an attacker how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
    #[test]
    fn tokens_compare_exactly() {
        use super::constant_time_eq as eq;
        assert!(eq(b"secret", b"secret"));
        assert!(!eq(b"secret", b"secreT"));
        assert!(!eq(b"secret", b"secret2"));
        assert!(!eq(b"", b"x"));
    }
}

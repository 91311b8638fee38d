//! Held requests: a blocking playlist reload or a request for the hinted part, answered when
//! the library's wait primitive says the resource exists (no polling).
//!
//! Both try once without waiting first, so that only requests that really wait take a place
//! in the waiting limits ([`Waiting`](super::Waiting)); then they hold until the resource
//! exists, the hold deadline passes (503, §6.2.5.2 [docs/conformance.md R10]) or the server shuts
//! down (503).

use std::future::Future;

use http::StatusCode;
use playlists::StreamRef;
use tokio::time::Instant;

use super::error::HttpError;
use super::AppState;

/// What `wait(deadline)` finds on `stream`: at once when it is already there (or the library
/// says there is nothing to wait for), else after holding the request until the library
/// finds it or [`AppState::hold_deadline`] passes.
///
/// `wait` is one of the library's waits (`wait_playlist`, `wait_part`): given a deadline
/// already reached, it looks once and returns `WaitTimeout` when the resource is worth
/// waiting for.
///
/// # Errors
/// 503 when the waiting limits are full, the deadline passes or the server shuts down; the
/// library's other errors as [`HttpError`]s.
pub async fn wait_for<T, W, F>(
    state: &AppState,
    stream: &StreamRef<'_>,
    wait: W,
) -> Result<T, HttpError>
where
    W: Fn(Instant) -> F,
    F: Future<Output = playlists::Result<T>>,
{
    let now = Instant::now();
    match wait(now).await {
        Ok(found) => return Ok(found),
        Err(playlists::Error::WaitTimeout(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let _permit = state.waiting.admit(stream.idx().index())?;
    let limit = state.hold_limit(stream.target_duration_s());
    state
        .hold(limit, wait(state.hold_deadline(now, limit)))
        .await
}

/// The stream called `name`, waiting for it to start if the server holds requests for
/// missing streams now ([`AppState::holds_missing_streams`]: it started moments ago, and
/// encoders are reconnecting), at most the hold limit of a stream whose target duration is
/// not known yet.
///
/// # Errors
/// 404 (cacheable as [`lookup::not_found`](super::lookup::not_found)) when no such stream
/// exists and the server does not hold; 503 when the wait ends without it (with
/// `Retry-After`), or the waiting limits are full; 400 for a name no stream may have.
pub async fn stream<'a>(state: &'a AppState, name: &str) -> Result<StreamRef<'a>, HttpError> {
    let missing = match super::lookup::stream(state, name) {
        Ok(stream) => return Ok(stream),
        Err(missing) => missing,
    };
    if !state.holds_missing_streams() {
        return Err(missing);
    }
    let _permit = state.waiting.admit_missing()?;
    let limit = state.hold_limit(None);
    let deadline = state.hold_deadline(Instant::now(), limit);
    state
        .hold(limit, state.playlists.wait_stream(name, deadline))
        .await
        .map_err(|e| match e.status {
            StatusCode::SERVICE_UNAVAILABLE if !state.shutdown.is_started() => HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("stream `{name}` has not started again yet; retry shortly"),
            ),
            _ => e,
        })
}

/// 503 for a held request when the server stops (and for an ingest that starts meanwhile):
/// the client should retry on another origin.
pub fn shutting_down() -> HttpError {
    HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down; retry on another origin",
    )
}

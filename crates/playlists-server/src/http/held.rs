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

/// 503 for a held request when the server stops (and for an ingest that starts meanwhile):
/// the client should retry on another origin.
pub fn shutting_down() -> HttpError {
    HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down; retry on another origin",
    )
}

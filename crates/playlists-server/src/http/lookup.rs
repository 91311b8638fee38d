//! The stream a delivery request names, and the 404 when it (or what was asked of it) is
//! not there: cacheable for 1 × TARGETDURATION, as App. B.1 [docs/conformance.md R27] allows for
//! unsuccessful responses, so a CDN absorbs repeated requests for a resource that does not exist.

use playlists::StreamRef;

use super::error::HttpError;
use super::AppState;

/// The stream called `name`.
///
/// # Errors
/// [`not_found`] when there is no such stream.
pub fn stream<'a>(state: &'a AppState, name: &str) -> Result<StreamRef<'a>, HttpError> {
    state
        .playlists
        .stream(name)
        .ok_or_else(|| not_found(state, format_args!("stream `{name}`")))
}

/// 404 for `what`, cacheable for 1 × TARGETDURATION.
pub fn not_found(state: &AppState, what: impl std::fmt::Display) -> HttpError {
    HttpError::not_found(what).cache_for(state.cache.nominal().target_duration)
}

//! [`HttpError`]: every refusal the origin sends, and [`status_for`], the one place where an
//! error becomes an HTTP status.
//!
//! Error bodies are `text/plain`, one line: the error's own message, which names what was
//! wrong (`_HLS_msn=40 is beyond the last media sequence number 12 + 2`).

use std::time::Duration;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};

use super::body::Body;
use super::directives::DirectiveError;

/// Where an error came from, for [`status_for`].
#[derive(Debug, Clone, Copy)]
pub enum ErrorSource<'a> {
    /// The library refused a read or a wait.
    Library(&'a playlists::Error),
    /// The Delivery Directives of a playlist request were malformed.
    Directive(&'a DirectiveError),
    /// An ingest session refused its input.
    Ingest(&'a crate::ingest::IngestError),
}

/// The HTTP status of an error. The only mapping from error to status in the server.
///
/// * the client asked for something malformed or impossible → 400
///   (§6.2.5.2 [docs/conformance.md R7–R9]);
/// * the stream or the position is not (or no longer) there → 404
///   (§6.2.6 [docs/conformance.md R24]);
/// * an ingest without the configured token → 401; an ingest that stalls → 408;
/// * a write that conflicts with what is published, or a stream another encoder holds → 409;
/// * an ingest part beyond the size limits → 413;
/// * a wait that reached its deadline, or no capacity left → 503
///   (§6.2.5.2 [docs/conformance.md R10]), with `Retry-After: 1`: each is over within
///   seconds, and a player that retries soon finds the stream;
/// * a misconfiguration → 500.
pub fn status_for(source: ErrorSource<'_>) -> StatusCode {
    use playlists::Error as E;
    match source {
        ErrorSource::Directive(_) => StatusCode::BAD_REQUEST,
        ErrorSource::Ingest(e) => {
            use crate::ingest::IngestErrorKind as K;
            match e.kind() {
                K::BadInput => StatusCode::BAD_REQUEST,
                K::Unauthorized => StatusCode::UNAUTHORIZED,
                K::Stalled => StatusCode::REQUEST_TIMEOUT,
                K::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                K::Busy => StatusCode::CONFLICT,
                K::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                // The peer is probably gone; if the answer reaches it, the input was at fault.
                K::Transport => StatusCode::BAD_REQUEST,
                K::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            }
        }
        ErrorSource::Library(e) => match e {
            E::MsnTooFar { .. }
            | E::PartTooFar { .. }
            | E::InvalidStreamName { .. }
            | E::InvalidPart(_)
            | E::MissingInit(_)
            | E::IdOutOfRange(_) => StatusCode::BAD_REQUEST,
            E::UnknownStream(_) | E::StaleStream { .. } => StatusCode::NOT_FOUND,
            E::StreamFinished(_)
            | E::DuplicateId { .. }
            | E::IdTooOld { .. }
            | E::IdReleased { .. } => StatusCode::CONFLICT,
            E::WaitTimeout(_) | E::StreamsExhausted { .. } => StatusCode::SERVICE_UNAVAILABLE,
            E::InvalidOption { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            // The library's enum is non-exhaustive: a new refusal is a server-side surprise
            // until it is mapped here.
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
    }
}

/// A refusal: status, a one-line reason, and how long caches may keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The response status.
    pub status: StatusCode,
    /// One line saying what was wrong; the response body.
    pub reason: String,
    /// Cache lifetime; `None` sends `Cache-Control: no-store` (the answer depends on time,
    /// like a 503 of a wait or a 400 for an msn that will soon exist).
    pub max_age: Option<Duration>,
}

/// The longest reason sent, in bytes (before the `…` that marks a cut).
const MAX_REASON_BYTES: usize = 512;

/// Cuts `s` to at most `max` bytes, at a char boundary, and marks the cut with `…`.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
}

impl HttpError {
    /// An error with `status` and `reason` (newlines are replaced so it stays one line, and a
    /// reason over 512 bytes is cut there and ends with `…`).
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.contains(['\r', '\n']) {
            reason = reason.replace(['\r', '\n'], " ");
        }
        // Reasons quote the request (a path, a stream name): a 10 KB path must not come back
        // whole.
        cut(&mut reason, MAX_REASON_BYTES);
        Self {
            status,
            reason,
            max_age: None,
        }
    }

    /// 404 for a resource that is not there. A long `what` is cut so that the reason still
    /// ends with "not found".
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        let mut what = what.to_string();
        cut(
            &mut what,
            MAX_REASON_BYTES - " not found".len() - '…'.len_utf8(),
        );
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// Lets caches keep this answer for `max_age` (the error lifetimes of
    /// App. B.1 [docs/conformance.md R27]).
    pub fn cache_for(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The response: `text/plain` with the reason.
    pub fn into_response(self) -> Response<Body> {
        let cache = match self.max_age {
            Some(age) => HeaderValue::from_str(&format!("max-age={}", age.as_secs()))
                .unwrap_or(HeaderValue::from_static("no-store")),
            None => HeaderValue::from_static("no-store"),
        };
        let mut resp = Response::new(Body::from(format!("{}\n", self.reason)));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(CACHE_CONTROL, cache);
        // Every 503 here is transient (a held request's deadline, full waiting limits, a
        // stream not back yet, a shutdown that another origin takes over): one second is
        // about a part's worth of retries, not a storm (RFC 9110 §10.2.3).
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

impl From<playlists::Error> for HttpError {
    fn from(e: playlists::Error) -> Self {
        Self::new(status_for(ErrorSource::Library(&e)), e.to_string())
    }
}

impl From<crate::ingest::IngestError> for HttpError {
    fn from(e: crate::ingest::IngestError) -> Self {
        Self::new(status_for(ErrorSource::Ingest(&e)), e.to_string())
    }
}

impl From<DirectiveError> for HttpError {
    fn from(e: DirectiveError) -> Self {
        Self::new(status_for(ErrorSource::Directive(&e)), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_map_to_the_documented_statuses() {
        use playlists::Error as E;
        for (e, want) in [
            (
                E::MsnTooFar {
                    requested: 9,
                    last: 1,
                },
                400,
            ),
            (
                E::PartTooFar {
                    msn: 1,
                    requested: 40,
                    ahead: 20,
                    limit: 15,
                },
                400,
            ),
            (E::UnknownStream("x".into()), 404),
            (
                E::StaleStream {
                    index: 0,
                    generation: 1,
                },
                404,
            ),
            (E::WaitTimeout(Duration::from_secs(12)), 503),
            (E::StreamFinished("x".into()), 409),
            (E::IdReleased { id: 3, floor: 7 }, 409),
        ] {
            let err = HttpError::from(e);
            assert_eq!(err.status.as_u16(), want, "{}", err.reason);
        }
    }

    #[test]
    fn reasons_stay_on_one_line() {
        let e = HttpError::new(StatusCode::BAD_REQUEST, "a\nb\r\nc");
        assert_eq!(e.reason, "a b  c");
    }

    #[test]
    fn long_reasons_are_cut_at_a_char_boundary() {
        let e = HttpError::not_found(format!("`/{}`", "é".repeat(5000)));
        assert!(e.reason.len() <= MAX_REASON_BYTES, "{}", e.reason.len());
        assert!(e.reason.starts_with("`/éé") && e.reason.ends_with("é… not found"));
        let e = HttpError::new(StatusCode::BAD_REQUEST, "x".repeat(5000));
        assert_eq!(e.reason, format!("{}…", "x".repeat(MAX_REASON_BYTES)));
        let short = HttpError::not_found("`/a`");
        assert_eq!(short.reason, "`/a` not found");
    }
}

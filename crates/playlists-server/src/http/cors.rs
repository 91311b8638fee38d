//! CORS: players on other origins (a web page on another host) may read everything.
//!
//! Every response carries `Access-Control-Allow-Origin` (configurable, `*` by default) and
//! exposes the headers a player reads: `Age` (for the tune-in of
//! App. C [docs/conformance.md R32]), `Content-Length`, `Content-Range`, `ETag`. `OPTIONS`
//! answers preflights for `Range` and conditional requests.

use http::header::{
    HeaderMap, HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, CACHE_CONTROL,
};
use http::{Response, StatusCode};

use super::body::Body;

const EXPOSE: &str = "Age, Content-Length, Content-Range, Content-Encoding, ETag, Date";
const METHODS: &str = "GET, HEAD, OPTIONS, PUT, POST";
/// Request headers a player or an encoder sends that are not CORS-safelisted.
const ALLOW_HEADERS: &str = "Range, If-None-Match, If-Range, Authorization, Content-Type";

/// Adds the CORS headers every response carries.
pub fn apply(allow_origin: &HeaderValue, headers: &mut HeaderMap) {
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin.clone());
    headers.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE),
    );
}

/// The answer to an `OPTIONS` preflight: 204 with the allowed methods and headers. The
/// requested headers are echoed when they are a valid header list, so a player sending a
/// header not listed above is not refused for it.
pub fn preflight(request: &HeaderMap) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let allow_headers = request
        .get(ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|v| {
            v.to_str().is_ok_and(|s| {
                s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b',' | b' ' | b'_'))
            })
        })
        .cloned()
        .unwrap_or(HeaderValue::from_static(ALLOW_HEADERS));
    let h = resp.headers_mut();
    h.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(METHODS),
    );
    h.insert(ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

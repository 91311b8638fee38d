//! What a handler needs of a request, copied out of hyper's request head so that the
//! connection's read buffer is not pinned while a request is held.

use http::header::HeaderValue;
use http::Method;

use super::encoding::{negotiate, Coding};

/// `X-Original-URI`: the request a caching tier asks `/playback-check` about (router.rs).
pub const X_ORIGINAL_URI: http::header::HeaderName =
    http::header::HeaderName::from_static("x-original-uri");

/// Request headers the handlers read; everything else is dropped before a handler runs.
const KEPT_HEADERS: [http::header::HeaderName; 6] = [
    http::header::AUTHORIZATION,
    http::header::IF_NONE_MATCH,
    http::header::IF_RANGE,
    http::header::RANGE,
    http::header::ACCESS_CONTROL_REQUEST_HEADERS,
    X_ORIGINAL_URI,
];

/// The client's address, set by the connection (`conn.rs`) on the requests that read it
/// (ingest, where refused attempts are slowed down per address).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

/// What a handler needs of a request, copied out of it.
///
/// hyper's parsed URI and header values are slices of the connection's 8 KB read buffer, so
/// holding them for the life of a held request (up to 3 × TD) would pin that buffer while
/// hyper allocates another for the next read. Copying the few bytes a handler reads lets the
/// buffer go at once: with 10,000 held requests that is most of their memory.
#[derive(Debug)]
pub struct RequestHead {
    /// The method (standard methods are not allocated).
    pub method: Method,
    /// Path and query, e.g. `/cam1/index.m3u8?_HLS_msn=3` (boxed: no capacity to keep).
    path_and_query: Box<str>,
    /// Length of the path within `path_and_query`. 32 bits: a request head is at most
    /// `--max-header-bytes`. With the boxed string, the room saved holds `peer` without
    /// growing every request's future (router.rs's size test).
    path_len: u32,
    /// Copies of the [`KEPT_HEADERS`] present (usually none, so usually no allocation).
    pub headers: http::HeaderMap,
    /// The playlist coding `Accept-Encoding` asks for, decided once here.
    pub coding: Coding,
    /// The client's address, where the connection gave it ([`ClientAddr`]).
    pub peer: Option<std::net::IpAddr>,
}

impl RequestHead {
    /// Copies what the handlers read from `parts`.
    pub fn new(parts: &http::request::Parts) -> Self {
        let path = parts.uri.path();
        let mut path_and_query =
            String::with_capacity(path.len() + parts.uri.query().map_or(0, |q| q.len() + 1));
        path_and_query.push_str(path);
        if let Some(q) = parts.uri.query() {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        let mut headers = http::HeaderMap::new();
        for name in KEPT_HEADERS {
            for value in parts.headers.get_all(&name) {
                // from_bytes copies: the copy does not share the read buffer.
                if let Ok(copy) = HeaderValue::from_bytes(value.as_bytes()) {
                    headers.append(name.clone(), copy);
                }
            }
        }
        Self {
            coding: negotiate(&parts.headers),
            peer: parts.extensions.get::<ClientAddr>().map(|a| a.0),
            method: parts.method.clone(),
            path_len: u32::try_from(path.len()).unwrap_or(u32::MAX),
            // Allocated at its exact length above, so boxing does not reallocate.
            path_and_query: path_and_query.into_boxed_str(),
            headers,
        }
    }

    /// The path and the query, as requested.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        &self.path_and_query[..self.path_len as usize]
    }

    /// The query, without `?`.
    pub fn query(&self) -> Option<&str> {
        self.path_and_query.get(self.path_len as usize + 1..)
    }
}

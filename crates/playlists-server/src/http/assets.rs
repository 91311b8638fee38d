//! `GET /assets/hls.min.js`: the hls.js the page at `/` plays with, served from memory.
//!
//! The binary embeds an hls.js release (`assets/hls.min.js`, see `assets/README.md`), so the
//! page needs nothing but this origin: it plays on a machine without internet access.
//! `--hls-js-file` replaces the embedded copy with another build.
//!
//! The answer is a playlist's (`playlist.rs`): gzip'd once (here on first use), a strong ETag
//! per content coding, 304 on a matching `If-None-Match`. The page names the script with its
//! content hash (`/assets/hls.min.js?v=…`); the answer under that exact URL never changes, so
//! it may be kept for a year without revalidation. Any other URL of it (the bare path, an old
//! hash) is revalidated on every use, which the ETag makes a bodiless 304.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};
use http::Response;
use playlists::Rendered;

use super::body::Body;
use super::encoding::Coding;
use super::playlist::respond;
use super::AppState;

/// The hls.js release embedded in the binary. `scripts/update-hls-js.sh` rewrites this line.
pub const HLS_JS_VERSION: &str = "1.7.4";

/// Where hls.js is served (the path; the page adds `?v=` and the content hash).
pub const HLS_JS_PATH: &str = "/assets/hls.min.js";

/// `dist/hls.min.js` of the npm release [`HLS_JS_VERSION`], unmodified.
static EMBEDDED_HLS_JS: &[u8] = include_bytes!("../../assets/hls.min.js");

/// `Cache-Control` of the content-addressed URL: its bytes are fixed by the hash in it.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of every other URL of the asset: it changes when the server's copy does.
const REVALIDATE: &str = "no-cache";

/// A file served from memory. Cloning shares it; its gzip form and hash are computed once, on
/// first use, and then shared by every clone.
#[derive(Clone)]
pub struct StaticAsset(Arc<Inner>);

struct Inner {
    source: Bytes,
    /// Lazy: building options (tests make many) should not pay for compressing 600 KB; the
    /// first request that needs it does, once (a few milliseconds in a release build).
    encoded: OnceLock<Rendered>,
}

impl StaticAsset {
    /// An asset of these bytes.
    pub fn new(source: Bytes) -> Self {
        Self(Arc::new(Inner {
            source,
            encoded: OnceLock::new(),
        }))
    }

    /// The hls.js embedded in the binary (release [`HLS_JS_VERSION`]).
    pub fn embedded_hls_js() -> Self {
        Self::new(Bytes::from_static(EMBEDDED_HLS_JS))
    }

    /// The bytes served with `Content-Encoding: identity`.
    pub fn bytes(&self) -> &Bytes {
        &self.0.source
    }

    /// `path?v=HASH`: the URL whose answer is these exact bytes, cacheable for good.
    pub fn versioned(&self, path: &str) -> String {
        format!("{path}?v={:016x}", self.encoded().hash)
    }

    fn encoded(&self) -> &Rendered {
        self.0.encoded.get_or_init(|| {
            let mut encoded = Rendered::new(self.0.source.to_vec());
            // Rendered::new keeps its own copy; serve the original instead (for the embedded
            // file that is the binary's static data), so the copy is freed here.
            encoded.plain = self.0.source.clone();
            encoded
        })
    }
}

impl std::fmt::Debug for StaticAsset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticAsset")
            .field("len", &self.0.source.len())
            .finish_non_exhaustive()
    }
}

/// `GET /assets/hls.min.js`: the server's hls.js ([`HttpOptions::hls_js`]).
///
/// [`HttpOptions::hls_js`]: super::HttpOptions::hls_js
pub fn hls_js(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    coding: Coding,
) -> Response<Body> {
    serve(
        &state.opts.hls_js,
        "text/javascript; charset=utf-8",
        query,
        headers,
        coding,
    )
}

/// The answer for `asset`, requested with `query`, in the coding the client prefers; 304 when
/// the client already has it.
fn serve(
    asset: &StaticAsset,
    content_type: &'static str,
    query: Option<&str>,
    headers: &HeaderMap,
    coding: Coding,
) -> Response<Body> {
    let encoded = asset.encoded();
    let version = format!("v={:016x}", encoded.hash);
    let pinned = query.is_some_and(|q| q.split('&').any(|p| p == version));
    let cache = HeaderValue::from_static(if pinned { IMMUTABLE } else { REVALIDATE });
    respond(encoded, content_type, &cache, headers, coding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_hls_js_is_the_named_release() {
        // hls.js writes its version into the build as a string literal; this catches an
        // update that replaced the file but not HLS_JS_VERSION (or the reverse).
        let text = std::str::from_utf8(EMBEDDED_HLS_JS).expect("hls.min.js is UTF-8");
        assert!(text.contains(&format!("\"{HLS_JS_VERSION}\"")));
        assert!(text.contains("Hls"));
    }

    #[test]
    fn gzip_round_trips_and_the_hash_names_the_bytes() {
        use std::io::Read as _;
        let asset = StaticAsset::new(Bytes::from("window.Hls = 1;".repeat(50)));
        let encoded = asset.encoded();
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&encoded.gzip[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, asset.bytes()[..]);
        assert_eq!(encoded.plain, asset.bytes());
        assert_eq!(
            asset.versioned(HLS_JS_PATH),
            format!(
                "/assets/hls.min.js?v={:016x}",
                playlists::xxh3_64(asset.bytes())
            )
        );
    }
}

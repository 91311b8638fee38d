//! The playlist texts of a version: the full playlist (deferred for a DVR window) and the
//! delta update, each with the server's URI query applied.

use crate::m3u8_cache::{FullPlaylist, Rendered};
use crate::manifest::{M3u8Manifest, RenditionReport, Skip};
use crate::uri_query::append_query_except;

/// The full playlist of the version being published. With a DVR archive, its lines are shared
/// by every version and written into a full playlist only when one is asked for (see
/// [`FullPlaylist`]).
pub(super) fn render_full(
    manifest: &M3u8Manifest,
    reports: &[RenditionReport],
    query: Option<&str>,
    last_len: &mut usize,
) -> FullPlaylist {
    let Some(archive) = manifest.archive() else {
        return render(manifest, Skip::No, reports, query, last_len).into();
    };
    let mut buf = Vec::with_capacity(*last_len + 512);
    let at = manifest.render_split(reports, &mut buf).unwrap_or(0);
    *last_len = buf.len();
    let live = buf.split_off(at);
    let (head, live) = match query {
        Some(q) => (
            append_query_except(&buf, q, &["EXT-X-RENDITION-REPORT"]),
            append_query_except(&live, q, &["EXT-X-RENDITION-REPORT"]),
        ),
        None => (buf, live),
    };
    FullPlaylist::deferred(head.into(), archive, query.map(str::to_owned), live.into())
}

/// Renders into a buffer sized from the previous render (`last_len`), which becomes the
/// published bytes (one allocation per version, no copy; one more with a `query`), and
/// compresses it once.
pub(super) fn render(
    manifest: &M3u8Manifest,
    skip: Skip,
    reports: &[RenditionReport],
    query: Option<&str>,
    last_len: &mut usize,
) -> Rendered {
    let mut buf = Vec::with_capacity(*last_len + 512);
    manifest.render(skip, reports, &mut buf);
    if let Some(query) = query {
        buf = append_query_except(&buf, query, &["EXT-X-RENDITION-REPORT"]);
    }
    *last_len = buf.len();
    Rendered::new(buf)
}

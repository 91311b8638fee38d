//! Init sections, segments and parts, straight from the chunk cache (§6.2.6,
//! App. B.1 [docs/conformance.md R22, R24, R27]).
//!
//! Bodies are the cached [`Bytes`] themselves: a part or an init section is one buffer, a
//! segment is its parts one after another (no concatenation), a range is slices of those.
//! Every resource has a strong ETag from its xxh3 hash (`If-None-Match` → 304), accepts one
//! `Range` (206, or 416 when unsatisfiable; several ranges get the whole resource), and is
//! cacheable for [`HttpOptions::media_max_age`](super::HttpOptions::media_max_age). The part
//! named by the PRELOAD-HINT is held until it is complete and then sent whole
//! (§6.2.6 [docs/conformance.md R22]); anything else not in the cache is 404
//! (§6.2.6 [docs/conformance.md R24]).

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderValue, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    IF_RANGE, RANGE,
};
use http::{Response, StatusCode};
use playlists::StreamRef;

use super::body::Body;
use super::error::HttpError;
use super::validators::{etag, if_none_match};
use super::{held, lookup, AppState};

/// `GET /{stream}/init.mp4`, `init-{id}.mp4`.
pub fn init(
    state: &AppState,
    name: &str,
    id: u32,
    headers: &HeaderMap,
) -> Result<Response<Body>, HttpError> {
    let stream = lookup::stream(state, name)?;
    let init = stream
        .init(id)
        .ok_or_else(|| lookup::not_found(state, format_args!("init section {id} of `{name}`")))?;
    Ok(respond(
        state,
        &stream,
        std::slice::from_ref(&init.bytes),
        init.hash,
        headers,
    ))
}

/// `GET /{stream}/s{msn}.mp4`: a complete segment, served as its parts.
pub fn segment(
    state: &AppState,
    name: &str,
    msn: u64,
    headers: &HeaderMap,
) -> Result<Response<Body>, HttpError> {
    let stream = lookup::stream(state, name)?;
    let segment = stream
        .segment(msn)
        .ok_or_else(|| lookup::not_found(state, format_args!("segment {msn} of `{name}`")))?;
    let parts: Vec<Bytes> = segment.parts.into_iter().map(|c| c.bytes).collect();
    Ok(respond(state, &stream, &parts, segment.hash, headers))
}

/// `GET /{stream}/p{number}.mp4`: a published part at once; the hinted part once it is
/// complete (§6.2.6 [docs/conformance.md R22]); 404 otherwise (§6.2.6 [docs/conformance.md R24]).
pub async fn part(
    state: &AppState,
    name: &str,
    number: u64,
    headers: &HeaderMap,
) -> Result<Response<Body>, HttpError> {
    let stream = lookup::stream(state, name)?;
    let chunk = match stream.part(number) {
        Some(chunk) => chunk,
        // Held only when `number` is the hinted part (the library answers WaitTimeout for a
        // deadline already reached); `None` otherwise: 404.
        None => held::wait_for(state, &stream, |deadline| {
            stream.wait_part(number, deadline)
        })
        .await?
        .ok_or_else(|| lookup::not_found(state, format_args!("part {number} of `{name}`")))?,
    };
    Ok(respond(
        state,
        &stream,
        std::slice::from_ref(&chunk.bytes),
        chunk.hash,
        headers,
    ))
}

/// `video/mp4`, or `audio/mp4` for a stream whose codecs are all audio. Cached per stream
/// slot and generation, so a part request does not copy the stream's status.
fn content_type(state: &AppState, stream: &StreamRef<'_>) -> HeaderValue {
    const KNOWN: u64 = 1;
    const AUDIO: u64 = 2;
    let idx = stream.idx();
    let Some(slot) = state.media_types.get(idx.index()) else {
        return HeaderValue::from_static("video/mp4");
    };
    let tag = u64::from(idx.generation()) << 2;
    // Relaxed: the value is self-contained (generation and answer in one word).
    let cached = slot.load(Ordering::Relaxed);
    let audio = if cached & !3 == tag && cached & KNOWN != 0 {
        cached & AUDIO != 0
    } else {
        let Some(status) = stream.status() else {
            return HeaderValue::from_static("video/mp4");
        };
        let audio = !status.codecs.is_empty()
            && status.codecs.split(',').all(|c| {
                let c = c.trim();
                c.starts_with("mp4a")
                    || c.starts_with("opus")
                    || c.starts_with("ac-3")
                    || c.starts_with("ec-3")
                    || c.starts_with("fLaC")
            });
        slot.store(
            tag | KNOWN | if audio { AUDIO } else { 0 },
            Ordering::Relaxed,
        );
        audio
    };
    HeaderValue::from_static(if audio { "audio/mp4" } else { "video/mp4" })
}

/// The response for a cached resource made of `pieces`, honouring `If-None-Match` and one
/// `Range`.
pub(super) fn respond(
    state: &AppState,
    stream: &StreamRef<'_>,
    pieces: &[Bytes],
    hash: u64,
    headers: &HeaderMap,
) -> Response<Body> {
    let etag = etag(hash, "");
    let len: u64 = pieces.iter().map(|b| b.len() as u64).sum();
    let mut resp = Body::empty().into_answer();
    if if_none_match(headers, etag.as_bytes()) {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
    } else {
        let range = match headers.get(IF_RANGE) {
            // If-Range with another validator (or a date: we send no Last-Modified) means
            // "the whole thing, it changed".
            Some(v) if v.as_bytes() != etag.as_bytes() => None,
            _ => headers.get(RANGE).map(|r| parse_range(r.as_bytes(), len)),
        };
        match range {
            None | Some(ByteRange::Ignore) => *resp.body_mut() = Body::many(pieces.iter().cloned()),
            Some(ByteRange::Satisfiable { start, end }) => {
                *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
                *resp.body_mut() = Body::many(slice(pieces, start, end + 1));
                if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                    resp.headers_mut().insert(CONTENT_RANGE, v);
                }
            }
            Some(ByteRange::Unsatisfiable) => {
                let mut resp = HttpError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("the range is outside the resource's {len} bytes"),
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    resp.headers_mut().insert(CONTENT_RANGE, v);
                }
                return resp;
            }
        }
    }
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, content_type(state, stream));
    h.insert(CACHE_CONTROL, state.cache.media.clone());
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(ETAG, etag);
    resp
}

/// What a `Range` header asks of a resource of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteRange {
    /// Bytes `start..=end`.
    Satisfiable { start: u64, end: u64 },
    /// A valid range that selects nothing: 416.
    Unsatisfiable,
    /// Not a single byte range we understand (several ranges, another unit, bad syntax):
    /// RFC 9110 §14.2 lets the server ignore it and send the whole resource.
    Ignore,
}

fn parse_range(header: &[u8], len: u64) -> ByteRange {
    let Some(spec) = std::str::from_utf8(header)
        .ok()
        .and_then(|s| s.trim().strip_prefix("bytes="))
    else {
        return ByteRange::Ignore;
    };
    if spec.contains(',') {
        return ByteRange::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Ignore;
    };
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (first.is_empty(), last.is_empty()) {
        // `bytes=-N`: the last N bytes.
        (true, false) => match num(last) {
            Some(0) => ByteRange::Unsatisfiable,
            Some(n) if len > 0 => ByteRange::Satisfiable {
                start: len.saturating_sub(n),
                end: len - 1,
            },
            Some(_) => ByteRange::Unsatisfiable,
            None => ByteRange::Ignore,
        },
        // `bytes=A-` or `bytes=A-B`.
        (false, open) => {
            let Some(start) = num(first) else {
                return ByteRange::Ignore;
            };
            let end = if open {
                u64::MAX
            } else {
                match num(last) {
                    Some(end) if end >= start => end,
                    _ => return ByteRange::Ignore,
                }
            };
            if start >= len {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Satisfiable {
                    start,
                    end: end.min(len - 1),
                }
            }
        }
        (true, true) => ByteRange::Ignore,
    }
}

/// Bytes `start..end` of the concatenation of `pieces`, as slices of them (no copy).
fn slice(pieces: &[Bytes], start: u64, end: u64) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    for piece in pieces {
        let piece_end = offset + piece.len() as u64;
        if piece_end > start && offset < end {
            let from = start.saturating_sub(offset) as usize;
            let to = (end.min(piece_end) - offset) as usize;
            out.push(piece.slice(from..to));
        }
        offset = piece_end;
        if offset >= end {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_per_rfc_9110() {
        use ByteRange::*;
        for (h, want) in [
            ("bytes=0-9", Satisfiable { start: 0, end: 9 }),
            ("bytes=5-", Satisfiable { start: 5, end: 99 }),
            ("bytes=90-200", Satisfiable { start: 90, end: 99 }),
            ("bytes=-10", Satisfiable { start: 90, end: 99 }),
            ("bytes=-1000", Satisfiable { start: 0, end: 99 }),
            ("bytes=100-", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=9-5", Ignore),
            ("bytes=0-1,5-6", Ignore),
            ("items=0-1", Ignore),
            ("bytes=a-b", Ignore),
            ("bytes=-", Ignore),
        ] {
            assert_eq!(parse_range(h.as_bytes(), 100), want, "{h}");
        }
    }

    #[test]
    fn slices_span_pieces_without_copying() {
        let pieces = [
            Bytes::from_static(b"abcd"),
            Bytes::from_static(b"efgh"),
            Bytes::from_static(b"ij"),
        ];
        let got = slice(&pieces, 2, 9);
        let joined: Vec<u8> = got.iter().flat_map(|b| b.iter().copied()).collect();
        assert_eq!(joined, b"cdefghi");
        assert_eq!(got[1].as_ptr(), pieces[1].as_ptr());
        assert_eq!(slice(&pieces, 4, 8).len(), 1);
    }
}

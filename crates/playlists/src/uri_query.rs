//! Queries on the URIs a playlist writes: a server that signs playback (or busts a CDN's
//! cache) needs every URI a player follows to carry a query, and players only ever follow
//! what the playlist says (§4.4.1: a relative URI is resolved against the playlist's URI,
//! whose own query is dropped).
//!
//! [`UriQuery`] lets the server choose the query per stream; the registry asks it each time it
//! renders a version, so the query is in the bytes that are cached and gzip'd once, and every
//! player of the stream gets the same playlist. [`append_query`] is the rewrite itself, for the
//! registry's media playlists and for any other playlist text (a multivariant playlist
//! rendered per request).

use std::fmt;

/// Chooses the query appended to every URI of a stream's media playlists.
///
/// Called once per rendered version (once per published part), under the stream's publish
/// lock: it must be quick and must not call back into the registry.
pub trait UriQuery: Send + Sync + fmt::Debug {
    /// The query (without `?`, already percent-encoded) for the URIs of the version of
    /// `stream` being rendered now, or `None` for URIs as they are.
    fn query(&self, stream: &str) -> Option<String>;
}

/// `text` (playlist lines) with `query` appended to every URI: each URI line (a line that is
/// neither empty nor a tag, §4.1) and each `URI="…"` attribute (§4.2: a quoted string holds no
/// `"`), after `?`, or after `&` where the URI already has a query. Other lines are copied
/// unchanged, so applying it to a playlist keeps every tag, number and date as rendered.
pub fn append_query(text: &[u8], query: &str) -> Vec<u8> {
    append_query_except(text, query, &[])
}

/// [`append_query`], leaving the URIs of the tags named in `except` (e.g.
/// `EXT-X-RENDITION-REPORT`) as they are.
pub fn append_query_except(text: &[u8], query: &str, except: &[&str]) -> Vec<u8> {
    let q = query.as_bytes();
    let excepted = |line: &[u8]| {
        except.iter().any(|tag| {
            line.strip_prefix(b"#")
                .and_then(|l| l.strip_prefix(tag.as_bytes()))
                .is_some_and(|rest| rest.first() == Some(&b':'))
        })
    };
    // A playlist has a few dozen URIs; room for 64 avoids a reallocation in the common case.
    let mut out = Vec::with_capacity(text.len() + 64 * (q.len() + 1));
    for line in text.split_inclusive(|&b| b == b'\n') {
        let body_len = line.len()
            - line
                .iter()
                .rev()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
        let (body, end) = line.split_at(body_len);
        if body.is_empty() || excepted(body) {
            out.extend_from_slice(line);
        } else if body.starts_with(b"#") {
            append_to_attributes(body, q, &mut out);
            out.extend_from_slice(end);
        } else {
            out.extend_from_slice(body);
            push_query(body, q, &mut out);
            out.extend_from_slice(end);
        }
    }
    out
}

/// Copies the tag line `line`, with `query` inside every `URI="…"` attribute.
fn append_to_attributes(mut line: &[u8], query: &[u8], out: &mut Vec<u8>) {
    const ATTR: &[u8] = b"URI=\"";
    while let Some(at) = find(line, ATTR) {
        // An attribute name starts after the tag's `:` or a `,` (§4.2): `XURI="` is another
        // attribute.
        let starts_attribute = at > 0 && matches!(line[at - 1], b':' | b',');
        let value_from = at + ATTR.len();
        let Some(len) = line[value_from..].iter().position(|&b| b == b'"') else {
            break;
        };
        let value = &line[value_from..value_from + len];
        out.extend_from_slice(&line[..value_from + len]);
        if starts_attribute {
            push_query(value, query, out);
        }
        line = &line[value_from + len..];
    }
    out.extend_from_slice(line);
}

/// Appends `?query` (or `&query` when `uri` has a query) after `uri`, already copied.
fn push_query(uri: &[u8], query: &[u8], out: &mut Vec<u8>) {
    out.push(if uri.contains(&b'?') { b'&' } else { b'?' });
    out.extend_from_slice(query);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(text: &str) -> String {
        String::from_utf8(append_query(text.as_bytes(), "token=T")).unwrap()
    }

    #[test]
    fn every_uri_of_a_media_playlist_gets_the_query() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n\
                    #EXT-X-PROGRAM-DATE-TIME:2026-12-07T10:00:00.000Z\n\
                    #EXT-X-PART:DURATION=0.50000,URI=\"p1.mp4\",INDEPENDENT=YES\n\
                    #EXTINF:2.00000,\ns0.mp4\n\
                    #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p2.mp4\"\n\
                    #EXT-X-RENDITION-REPORT:URI=\"../720p/index.m3u8\",LAST-MSN=1,LAST-PART=0\n";
        assert_eq!(
            rewrite(text),
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4?token=T\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-12-07T10:00:00.000Z\n\
             #EXT-X-PART:DURATION=0.50000,URI=\"p1.mp4?token=T\",INDEPENDENT=YES\n\
             #EXTINF:2.00000,\ns0.mp4?token=T\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p2.mp4?token=T\"\n\
             #EXT-X-RENDITION-REPORT:URI=\"../720p/index.m3u8?token=T\",LAST-MSN=1,LAST-PART=0\n"
        );
    }

    #[test]
    fn variant_uris_get_it_and_an_existing_query_is_extended() {
        let text = "#EXTM3U\r\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1\"\r\n360p/index.m3u8\r\n\
                    \n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x\",URI=\"a/index.m3u8?lang=en\"\n";
        assert_eq!(
            rewrite(text),
            "#EXTM3U\r\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1\"\r\n360p/index.m3u8?token=T\r\n\
             \n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x\",URI=\"a/index.m3u8?lang=en&token=T\"\n"
        );
    }

    #[test]
    fn only_attributes_named_uri_are_touched() {
        let text = "#EXT-X-X:XURI=\"a\",NAME=\"URI\",URI=\"c\"\n#EXT-X-Y:URI=\"unterminated\n";
        assert_eq!(
            rewrite(text),
            "#EXT-X-X:XURI=\"a\",NAME=\"URI\",URI=\"c?token=T\"\n#EXT-X-Y:URI=\"unterminated\n"
        );
    }

    #[test]
    fn excepted_tags_keep_their_uris() {
        let text = "#EXT-X-PART:DURATION=0.5,URI=\"p1.mp4\"\n\
                    #EXT-X-RENDITION-REPORT:URI=\"../b/index.m3u8\",LAST-MSN=1\n\
                    #EXT-X-RENDITION-REPORTX:URI=\"x\"\n";
        let out = append_query_except(text.as_bytes(), "t=1", &["EXT-X-RENDITION-REPORT"]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "#EXT-X-PART:DURATION=0.5,URI=\"p1.mp4?t=1\"\n\
             #EXT-X-RENDITION-REPORT:URI=\"../b/index.m3u8\",LAST-MSN=1\n\
             #EXT-X-RENDITION-REPORTX:URI=\"x?t=1\"\n"
        );
    }

    #[test]
    fn text_without_uris_is_unchanged() {
        let text = "#EXTM3U\n#EXT-X-VERSION:6\n\n#EXT-X-ENDLIST\n";
        assert_eq!(rewrite(text), text);
        assert_eq!(rewrite(""), "");
    }
}

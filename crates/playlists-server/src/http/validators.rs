//! Validators of cached responses (RFC 9110 §8.8): the strong entity tag of every media and
//! playlist response, and `If-None-Match` against it (304).

use http::header::{HeaderMap, HeaderValue, IF_NONE_MATCH};

/// A strong entity tag from a 64-bit hash: `"0123456789abcdef"` plus `suffix` inside the
/// quotes. Formatted on the stack: it is on every media and playlist response.
pub fn etag(hash: u64, suffix: &'static str) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 40];
    buf[0] = b'"';
    for i in 0..16 {
        buf[1 + i] = HEX[((hash >> (60 - 4 * i)) & 0xf) as usize];
    }
    let end = 17 + suffix.len().min(20);
    buf[17..end].copy_from_slice(&suffix.as_bytes()[..end - 17]);
    buf[end] = b'"';
    // Only hex digits, the suffix (static, visible ASCII) and quotes: always a valid value.
    HeaderValue::from_bytes(&buf[..=end]).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison, RFC 9110 §13.1.2).
pub fn if_none_match(headers: &HeaderMap, etag: &[u8]) -> bool {
    headers.get_all(IF_NONE_MATCH).iter().any(|v| {
        v.to_str().is_ok_and(|list| {
            list.split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == etag)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly() {
        let mut h = HeaderMap::new();
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"a\", W/\"b\""));
        assert!(if_none_match(&h, b"\"b\""));
        assert!(!if_none_match(&h, b"\"c\""));
    }

    #[test]
    fn etags_are_quoted_hex() {
        assert_eq!(etag(0x0123_4567_89ab_cdef, ""), "\"0123456789abcdef\"");
        assert_eq!(etag(0xff, "-gz"), "\"00000000000000ff-gz\"");
    }
}

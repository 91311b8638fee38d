//! Stream-name validation: what a name must look like before it is registered.

use crate::error::{Error, Result};

/// Checks a stream name: 1 to 128 bytes of `[A-Za-z0-9._-]`, at most one `/` between a group
/// and a rendition (`cam1`, `live/720p`), no part empty or starting with a `.`. Names become
/// URL paths, so this is what keeps `..`, percent-escapes and control bytes out of them.
///
/// # Errors
/// [`Error::InvalidStreamName`] naming the first rule the name breaks.
pub fn validate_stream_name(name: &str) -> Result<()> {
    let refuse = |reason| {
        Err(Error::InvalidStreamName {
            name: name.chars().take(64).collect(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 128 {
        return refuse("must be 1 to 128 bytes long");
    }
    let mut parts = 0;
    for part in name.split('/') {
        parts += 1;
        if part.is_empty() {
            return refuse("an empty path segment");
        }
        if part.starts_with('.') {
            return refuse("a segment may not start with `.`");
        }
        if !part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return refuse("only ASCII letters, digits, `.`, `_`, `-` and one `/` are allowed");
        }
    }
    if parts > 2 {
        return refuse("at most one `/` (group/rendition)");
    }
    Ok(())
}

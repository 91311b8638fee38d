//! `_HLS_skip=v2` answers, derived from the cached `_HLS_skip=YES` delta update.
//!
//! The library caches one delta update per playlist version (the `YES` form). A `v2` request
//! must get the same update with EXT-X-VERSION 10 and a RECENTLY-REMOVED-DATERANGES attribute
//! on EXT-X-SKIP (§4.4.5.2, §6.2.5.1, §8 [docs/conformance.md R14, R15]). The playlists carry no
//! EXT-X-DATERANGE, so nothing else differs and the attribute is empty. Deriving it here (two line
//! edits and one gzip, the library's) keeps the library's publish path free of a third rendering
//! that players rarely ask for; the result is kept per stream slot, so every `v2` request for one
//! version after the first is a lookup.

use std::sync::{Arc, Mutex};

use crate::sync::lock;

use playlists::Rendered;

/// Per stream slot, the last `v2` derivation, keyed by the hash of the `YES` update it came
/// from (equal hashes mean equal input, so a key can never return another playlist's answer).
#[derive(Debug)]
pub struct DeltaV2Cache {
    slots: Box<[Mutex<Option<Derived>>]>,
}

/// `(hash of the YES update, its v2 form)`.
type Derived = (u64, Arc<Rendered>);

impl DeltaV2Cache {
    /// One entry per stream slot.
    pub fn new(num_streams: usize) -> Self {
        Self {
            slots: (0..num_streams).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// The `v2` form of `delta` (a `YES` delta update of stream slot `index`), or `None` when
    /// `delta` does not have the shape this derivation expects.
    pub fn get(&self, index: usize, delta: &Rendered) -> Option<Arc<Rendered>> {
        let slot = self.slots.get(index)?;
        // A poisoned lock only means a panic elsewhere mid-update of this small cache entry;
        // the entry is replaced below anyway.
        if let Some((hash, v2)) = &*lock(slot) {
            if *hash == delta.hash {
                return Some(Arc::clone(v2));
            }
        }
        let v2 = Arc::new(derive(&delta.plain)?);
        *lock(slot) = Some((delta.hash, Arc::clone(&v2)));
        Some(v2)
    }
}

/// Rewrites a `YES` delta update into the `v2` one.
fn derive(yes: &[u8]) -> Option<Rendered> {
    let text = std::str::from_utf8(yes).ok()?;
    let mut out = String::with_capacity(text.len() + 40);
    let (mut saw_version, mut saw_skip) = (false, false);
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        if body.starts_with("#EXT-X-VERSION:") {
            // §8: a skip of date ranges needs version 10 (§8 [docs/conformance.md R15]).
            out.push_str("#EXT-X-VERSION:10\n");
            saw_version = true;
        } else if body.starts_with("#EXT-X-SKIP:") && !body.contains("RECENTLY-REMOVED-DATERANGES")
        {
            out.push_str(body);
            out.push_str(",RECENTLY-REMOVED-DATERANGES=\"\"\n");
            saw_skip = true;
        } else {
            out.push_str(line);
        }
    }
    if !(saw_version && saw_skip) {
        return None;
    }
    // Hashed and compressed as the library does every playlist (`playlists::gzip`, whose
    // docs give the level and the ratio measured on a delta update).
    Some(Rendered::new(out.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_update_becomes_v2() {
        let yes = b"#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-SKIP:SKIPPED-SEGMENTS=4\ns7.mp4\n";
        let v2 = derive(yes).unwrap();
        assert_eq!(
            std::str::from_utf8(&v2.plain).unwrap(),
            "#EXTM3U\n#EXT-X-VERSION:10\n#EXT-X-MEDIA-SEQUENCE:3\n\
             #EXT-X-SKIP:SKIPPED-SEGMENTS=4,RECENTLY-REMOVED-DATERANGES=\"\"\ns7.mp4\n"
        );
        assert!(derive(b"#EXTM3U\n#EXT-X-VERSION:9\n").is_none());
    }
}

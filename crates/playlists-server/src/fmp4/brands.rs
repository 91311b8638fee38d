//! Segment brands: what a `styp` (ISO/IEC 14496-12 §8.16.2) before a fragment's `moof` says of
//! the segment, such as the DASH-IF ingest `lmsg` (the last segment of a track).

use crate::fmp4::boxes::{read_header, FourCC};

/// `styp`: the segment type box, laid out as `ftyp` (major brand, minor version, compatible
/// brands).
const STYP: FourCC = FourCC(*b"styp");

/// Whether a `styp` among the top-level boxes of `bytes` before its first `moof` (a
/// fragment's bytes as the splitter cuts them) has `brand` as its major or a compatible
/// brand. Malformed or truncated boxes end the search (false): the splitter has already
/// checked the boxes it cut, so this only reads.
pub fn has_brand(bytes: &[u8], brand: FourCC) -> bool {
    let mut pos = 0;
    while let Some(rest) = bytes.get(pos..).filter(|r| !r.is_empty()) {
        let Ok(h) = read_header(rest) else {
            return false;
        };
        let Some(size) = h
            .size
            .and_then(|s| usize::try_from(s).ok())
            .filter(|&s| s <= rest.len() && s >= h.header_len)
        else {
            return false;
        };
        if h.fourcc == FourCC::MOOF {
            return false;
        }
        if h.fourcc == STYP {
            let payload = &rest[h.header_len..size];
            let major = payload.get(..4);
            let compatible = payload.get(8..).unwrap_or_default().chunks_exact(4);
            if major
                .into_iter()
                .chain(compatible)
                .any(|b| b == brand.0.as_slice())
            {
                return true;
            }
        }
        pos += size;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn styp(brands: &[&[u8; 4]]) -> Vec<u8> {
        let mut b = Vec::new();
        let size = 8 + 4 + 4 + 4 * (brands.len() - 1);
        b.extend_from_slice(&(size as u32).to_be_bytes());
        b.extend_from_slice(b"styp");
        b.extend_from_slice(brands[0]);
        b.extend_from_slice(&0u32.to_be_bytes());
        for brand in &brands[1..] {
            b.extend_from_slice(*brand);
        }
        b
    }

    #[test]
    fn a_brand_is_found_in_the_styp_before_the_moof_only() {
        let lmsg = FourCC(*b"lmsg");
        let mut bytes = styp(&[b"msdh", b"msdh", b"lmsg"]);
        bytes.extend_from_slice(&[0, 0, 0, 8, b'm', b'o', b'o', b'f']);
        assert!(has_brand(&bytes, lmsg));
        assert!(
            has_brand(&styp(&[b"lmsg", b"cmfs"]), lmsg),
            "as major brand"
        );
        assert!(!has_brand(&styp(&[b"cmfs", b"cmfl"]), lmsg));
        // After the moof (in the mdat, say) it is not the segment's brand.
        let mut late = vec![0, 0, 0, 8, b'm', b'o', b'o', b'f'];
        late.extend(styp(&[b"lmsg"]));
        assert!(!has_brand(&late, lmsg));
        // Truncated or nonsense: no.
        let whole = styp(&[b"msdh", b"lmsg"]);
        assert!(!has_brand(&whole[..whole.len() - 1], lmsg));
        assert!(!has_brand(&[0, 0, 0, 4, b's', b't', b'y', b'p'], lmsg));
        assert!(!has_brand(b"", lmsg));
    }

    #[test]
    fn any_bytes_are_read_without_a_panic() {
        // Every cut of a segment's prefix, and every byte of it set to each value that matters
        // to the walker (sizes 0, 1, 7, 8, 255): read within bounds, never past them.
        let mut bytes = styp(&[b"msdh", b"lmsg"]);
        bytes.extend(styp(&[b"cmfs"]));
        bytes.extend_from_slice(&[0, 0, 0, 8, b'm', b'o', b'o', b'f']);
        for end in 0..=bytes.len() {
            has_brand(&bytes[..end], FourCC(*b"lmsg"));
        }
        for i in 0..bytes.len() {
            for v in [0u8, 1, 7, 8, 0xff] {
                let mut mutated = bytes.clone();
                mutated[i] = v;
                has_brand(&mutated, FourCC(*b"lmsg"));
            }
        }
    }
}

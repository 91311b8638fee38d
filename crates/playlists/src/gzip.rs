//! The one gzip of the project: every playlist is compressed here, once, when it is made
//! (at publish time: the full playlist, its delta update and the multivariant playlist).
//!
//! **Level 1.** Playlists repeat their lines, so the fastest level already does most of the
//! work. Measured with this function on the library's own renders (`tests/snapshots`; the
//! sizes are checked by the test below): the full playlist of a stream at the default
//! options (a full window of 2 s segments, 4,363 bytes) becomes 728 bytes, **6.0×** smaller,
//! and its `_HLS_skip=YES` delta update (2,297 bytes) 595 bytes, **3.9×**. Level 6 made a
//! playlist of 5,468 bytes (the window at TARGETDURATION 4) and that delta update 670 and
//! 446 bytes (8.2× and 5.2×) in about four and three times the time (25 µs against 105 µs,
//! and 18 µs against 60 µs, for the deflate alone on a shared two-core machine). A
//! playlist is compressed once per part on the publish path, so that time is what bounds
//! the number of streams a core can publish, while the bytes saved are a few hundred per
//! response.
//!
//! **One compressor per thread, reused.** A deflate compressor carries ~230 KB of tables,
//! which `flate2::write::GzEncoder::new` allocates for every call. What that costs depends on
//! the allocator's state: a loop that only gzips a 5.5 KB playlist measured ~120 µs per
//! playlist that way against ~19 µs with a `flate2::Compress` that is `reset` and reused.
//! flate2 offers no reusable gzip writer, so the RFC 1952 framing (10-byte header, CRC-32 and
//! length trailer) is written here; the deflate stream itself is flate2's.

use std::cell::RefCell;

use bytes::Bytes;
use flate2::{Compress, CompressError, Compression, Crc, FlushCompress, Status};

/// The compression level of every playlist (see the module docs for why 1).
pub const LEVEL: u32 = 1;

/// RFC 1952 member header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

thread_local! {
    /// Per thread, so publishers of different streams never share (or lock) one; memory is
    /// one compressor per thread that ever compressed.
    static DEFLATE: RefCell<Option<Compress>> = const { RefCell::new(None) };
}

fn compressor() -> Compress {
    Compress::new(Compression::new(LEVEL), false)
}

/// `plain` as one gzip member (RFC 1952) at [`LEVEL`], for `Content-Encoding: gzip`.
///
/// Guarantees: the output decodes to exactly `plain`, for any input (empty included); the
/// same input gives the same bytes; no compressor is allocated after a thread's first call.
pub fn gzip(plain: &[u8]) -> Bytes {
    let reused = DEFLATE.with(|cell| {
        // Busy only if this thread re-entered `gzip`, which nothing here does.
        let mut slot = cell.try_borrow_mut().ok()?;
        encode(slot.get_or_insert_with(compressor), plain).ok()
    });
    reused.unwrap_or_else(|| {
        // flate2 reports an error only for a stream misused after an earlier error or made
        // with invalid parameters; a fresh compressor at a valid level is neither.
        encode(&mut compressor(), plain).expect("a fresh deflate stream reports no error")
    })
}

/// gzip of `plain` with `deflate`, which is reset first.
fn encode(deflate: &mut Compress, plain: &[u8]) -> Result<Bytes, CompressError> {
    deflate.reset();
    // Room for the usual ratio; grown below when a poorly compressible input needs more.
    let mut out = Vec::with_capacity(HEADER.len() + plain.len() / 4 + 64);
    out.extend_from_slice(&HEADER);
    loop {
        // `total_in` never exceeds the input's length, which fits a usize.
        let consumed = usize::try_from(deflate.total_in()).unwrap_or(plain.len());
        let input = plain.get(consumed..).unwrap_or_default();
        match deflate.compress_vec(input, &mut out, FlushCompress::Finish)? {
            Status::StreamEnd => break,
            // Out of room: the output needs more than the estimate.
            Status::Ok | Status::BufError => out.reserve(out.capacity().max(256)),
        }
    }
    let mut crc = Crc::new();
    crc.update(plain);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the length modulo 2^32 (RFC 1952 §2.3.1).
    out.extend_from_slice(&(plain.len() as u32).to_le_bytes());
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn the_gzip_decodes_to_the_plain_text_at_any_size_and_repeatedly() {
        let line = b"#EXT-X-PART:DURATION=0.20000,URI=\"p123.4.mp4\",INDEPENDENT=YES\n";
        for size in [0usize, 1, 64, 5_000, 300_000] {
            // Poorly compressible too, so the output outgrows its first estimate.
            let plain: Vec<u8> = line
                .iter()
                .cycle()
                .take(size)
                .enumerate()
                .map(|(i, b)| {
                    if size > 100_000 {
                        (i * 7919 % 251) as u8
                    } else {
                        *b
                    }
                })
                .collect();
            let first = gzip(&plain);
            assert_eq!(gunzip(&first), plain, "size {size}");
            assert_eq!(gzip(&plain), first, "the reused compressor starts afresh");
        }
    }

    /// The figures of the module docs, on the renders they name.
    #[test]
    fn a_real_playlist_shrinks_as_documented() {
        for (plain, documented) in [
            (
                &include_bytes!("../tests/snapshots/defaults_full_window.m3u8")[..],
                (4_363, 728),
            ),
            (
                &include_bytes!("../tests/snapshots/delta.m3u8")[..],
                (2_297, 595),
            ),
        ] {
            let gz = gzip(plain);
            assert_eq!(gunzip(&gz), plain);
            // A few bytes of slack: a newer flate2 may encode a little differently.
            assert_eq!(plain.len(), documented.0);
            assert!(
                gz.len().abs_diff(documented.1) <= 16,
                "{} → {} bytes, documented {}",
                plain.len(),
                gz.len(),
                documented.1
            );
        }
    }
}

//! Compressing a rendered playlist once, at publish time, without setting up a compressor for
//! each one.
//!
//! A deflate compressor carries ~230 KB of tables, which `flate2::write::GzEncoder::new`
//! (and so [`Rendered::new`]) allocates for every playlist. What that costs depends on the
//! allocator's state: a loop that only gzips a 5.5 KB playlist measured ~120 µs per playlist
//! that way against ~19 µs with a `flate2::Compress` that is `reset` and reused, while inside
//! the publish loop of `benches/manifest.rs` the two are within noise of each other. Reusing
//! one per publishing thread removes the allocation in every case. flate2 offers no reusable
//! gzip writer, so the RFC 1952 framing (10-byte header, CRC-32 and length trailer) is written
//! here; the deflate stream itself is flate2's.

use std::cell::RefCell;

use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use crate::m3u8_cache::Rendered;

/// The level M3u8Cache uses too: level 1 already shrinks a playlist ~7× (its lines repeat),
/// at a fraction of the default level's cost.
const LEVEL: u32 = 1;

/// RFC 1952 member header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

thread_local! {
    /// Per thread, so publishers of different streams never share (or lock) one; memory is
    /// one compressor per thread that ever published.
    static DEFLATE: RefCell<Option<Compress>> = const { RefCell::new(None) };
}

/// `plain` with its gzip and hash, as [`Rendered::new`] makes it, with a reused compressor.
pub(super) fn rendered(plain: Vec<u8>) -> Rendered {
    match gzip(&plain) {
        Some(gzip) => Rendered {
            hash: crate::hash::xxh3_64(&plain),
            plain: Bytes::from(plain),
            gzip,
        },
        // Not expected (see `gzip`); the one-off path is slower but as correct.
        None => Rendered::new(plain),
    }
}

/// gzip of `plain`, or `None` if the thread's compressor is unavailable (a re-entrant call)
/// or reports an error (flate2's pure-Rust backend only does for invalid parameters).
fn gzip(plain: &[u8]) -> Option<Bytes> {
    DEFLATE.with(|cell| {
        let mut slot = cell.try_borrow_mut().ok()?;
        let deflate = slot.get_or_insert_with(|| Compress::new(Compression::new(LEVEL), false));
        deflate.reset();
        let mut out = Vec::with_capacity(HEADER.len() + plain.len() / 4 + 64);
        out.extend_from_slice(&HEADER);
        loop {
            let consumed = usize::try_from(deflate.total_in()).ok()?;
            let input = plain.get(consumed..)?;
            match deflate.compress_vec(input, &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => break,
                // Out of room: the output needs more than the estimate.
                Ok(Status::Ok | Status::BufError) => out.reserve(out.capacity().max(256)),
                Err(_) => return None,
            }
        }
        let mut crc = Crc::new();
        crc.update(plain);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        // ISIZE is the length modulo 2^32 (RFC 1952 §2.3.1).
        out.extend_from_slice(&(plain.len() as u32).to_le_bytes());
        Some(Bytes::from(out))
    })
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
            for _ in 0..2 {
                let r = rendered(plain.clone());
                assert_eq!(gunzip(&r.gzip), plain, "size {size}");
                assert_eq!(r.plain, plain);
                assert_eq!(r, Rendered::new(plain.clone()).with_gzip(r.gzip.clone()));
            }
        }
    }

    impl Rendered {
        fn with_gzip(mut self, gzip: Bytes) -> Self {
            self.gzip = gzip;
            self
        }
    }
}

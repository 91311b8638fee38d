//! The content hash of every stored payload: XXH3-64, the slot hash that doubles as the HTTP
//! ETag.
//!
//! twox-hash picks its SIMD backend (AVX2, SSE2, NEON) when the program runs, so a build for
//! plain x86-64 still hashes with AVX2 where the processor has it: about a third less time
//! per 64 KiB payload than a backend fixed at compile time to SSE2, and hashing is most of
//! the cost of a [`ChunkCache`](crate::ChunkCache) write. The value is XXH3-64 with the
//! default secret and seed 0, the same on every machine and backend (the tests check it
//! against an independent implementation).

/// XXH3-64 of `bytes` (seed 0): stable across machines, builds and versions of this crate.
pub fn xxh3_64(bytes: &[u8]) -> u64 {
    twox_hash::XxHash3_64::oneshot(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_reference_xxh3_at_every_length_class() {
        // Lengths cover each of XXH3's code paths: empty, 1–3, 4–8, 9–16, 17–128, 129–240,
        // and the long-input loop with and without a partial stripe and block.
        let data: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in [
            0, 1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1024, 1025, 65_536, 70_000,
        ] {
            assert_eq!(
                super::xxh3_64(&data[..len]),
                xxhash_rust::xxh3::xxh3_64(&data[..len]),
                "length {len}"
            );
        }
    }
}

//! The chunk cache on its own: a ring of opaque binary packets per stream, here fed by one
//! producer thread and read by a consumer that follows the newest id.
//!
//! `cargo run -p playlists --example chunk_cache`

use std::sync::Arc;
use std::thread;

use bytes::Bytes;
use playlists::{ChunkCache, Error};

fn main() -> Result<(), Error> {
    // 2 streams × 64 slots, allocated once.
    let cache = Arc::new(ChunkCache::with_capacity(2, 64)?);
    let telemetry = cache.register("telemetry")?;

    let producer = {
        let cache = Arc::clone(&cache);
        thread::spawn(move || -> Result<(), Error> {
            for i in 0..1000u32 {
                // Any bytes: the cache never looks inside.
                cache.append(telemetry, Bytes::from(format!("packet {i}")))?;
            }
            Ok(())
        })
    };

    let mut seen = 0;
    while seen < 1000 {
        if let Some(chunk) = cache.get_last(telemetry) {
            // `get` answers exactly the bytes stored under an id or nothing: an id the ring has
            // already overwritten is gone, never another id's bytes.
            assert_eq!(chunk.bytes, format!("packet {}", chunk.id));
            seen = chunk.id + 1;
        }
        thread::yield_now();
    }
    producer.join().expect("producer thread")?;

    println!(
        "last id {:?}; id 0 is {}",
        cache.last(telemetry),
        if cache.get(telemetry, 0).is_some() {
            "still kept"
        } else {
            "gone (wrapped)"
        }
    );
    cache.fin(telemetry)?;
    Ok(())
}

//! The chunk cache on its own: a ring of opaque binary packets per stream, fed by a producer
//! thread and followed by consumer tasks that *wait* for each next id (no polling), the way
//! an HTTP handler waits for a part announced by a preload hint.
//!
//! The ring has no wait event of its own: the owner decides when waiters should wake (the
//! registry, after a part's playlist is published; here, after each append), so the producer
//! notifies an [`Event`] it owns and the followers ask [`ChunkCache::try_get`] on each wake-up.
//!
//! `cargo run -p playlists --example chunk_cache`

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use playlists::wait::Event;
use playlists::{ChunkCache, Error};
use tokio::time::Instant;

const PACKETS: u64 = 1000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    // 2 streams × 64 slots, allocated once.
    let cache = Arc::new(ChunkCache::with_capacity(2, 64)?);
    let telemetry = cache.register("telemetry")?;
    // Notified after every append to `telemetry`.
    let appended = Arc::new(Event::new());

    let producer = {
        let (cache, appended) = (Arc::clone(&cache), Arc::clone(&appended));
        thread::spawn(move || -> Result<(), Error> {
            for i in 0..PACKETS {
                // Any bytes: the cache never looks inside.
                cache.append(telemetry, Bytes::from(format!("packet {i}")))?;
                appended.notify_all();
                // Bursts of ten, like parts of a few streams arriving together.
                if i % 10 == 9 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            Ok(())
        })
    };

    // Three followers, each awaiting every id in turn. A follower that falls more than a
    // ring behind gets `IdTooOld` and skips to the newest id instead of reading stale data.
    let followers: Vec<_> = (0..3)
        .map(|_| {
            let (cache, appended) = (Arc::clone(&cache), Arc::clone(&appended));
            tokio::spawn(async move {
                let (mut next, mut seen, mut skipped) = (0u64, 0u64, 0u64);
                while next < PACKETS {
                    let deadline = Instant::now() + Duration::from_secs(5);
                    let wait = appended.wait_until(deadline, || cache.try_get(telemetry, next));
                    match wait.await {
                        Ok(chunk) => {
                            // Exactly the bytes stored under that id, or an error: never
                            // another id's bytes.
                            assert_eq!(chunk.bytes, format!("packet {next}"));
                            seen += 1;
                            next += 1;
                        }
                        Err(Error::IdTooOld { last, .. }) => {
                            skipped += last - next;
                            next = last;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok((seen, skipped))
            })
        })
        .collect();

    producer.join().expect("producer thread")?;
    for (i, follower) in followers.into_iter().enumerate() {
        let (seen, skipped) = follower.await.expect("follower task")?;
        println!("follower {i}: read {seen} packets, skipped {skipped}");
    }
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

//! Model checks of the slot publish/read protocol of `ChunkCache` under every interleaving
//! `loom` can produce. Run with
//! `RUSTFLAGS="--cfg playlists_loom" cargo test -p playlists --release --test loom_chunk_cache`.
#![cfg(playlists_loom)]

use bytes::Bytes;
use loom::sync::Arc;
use loom::thread;
use playlists::ChunkCache;

/// A writer adds ids 0 and 2 (the same slot of a 2-slot ring) while a reader reads: every
/// read is nothing or exactly the bytes of the id asked for, and `last` never goes back.
#[test]
fn reads_race_a_wrapping_writer() {
    loom::model(|| {
        let cache = Arc::new(ChunkCache::with_capacity(1, 2).unwrap());
        let s = cache.register("a").unwrap();
        let writer = {
            let cache = Arc::clone(&cache);
            thread::spawn(move || {
                cache.add(s, 0, Bytes::from_static(b"zero")).unwrap();
                cache.add(s, 2, Bytes::from_static(b"two")).unwrap();
            })
        };
        let first = cache.last(s);
        if let Some(c) = cache.get(s, 0) {
            assert_eq!((c.id, &c.bytes[..]), (0, &b"zero"[..]));
        }
        if let Some(c) = cache.get_last(s) {
            let expected: &[u8] = if c.id == 0 { b"zero" } else { b"two" };
            assert_eq!(&c.bytes[..], expected);
            assert_eq!(c.hash, xxhash_rust::xxh3::xxh3_64(expected));
        }
        let second = cache.last(s);
        assert!(second >= first, "last moved back: {first:?} → {second:?}");
        writer.join().unwrap();
        assert_eq!(cache.last(s), Some(2));
        assert!(
            cache.get(s, 0).is_none(),
            "overwritten id must read as nothing"
        );
    });
}

/// `fin` races a reader and a writer of the old handle: the reader sees nothing or the old
/// bytes, never a torn entry; after `fin` and a new registration nothing old is visible.
#[test]
fn fin_races_readers_and_writers() {
    loom::model(|| {
        let cache = Arc::new(ChunkCache::with_capacity(1, 2).unwrap());
        let old = cache.register("a").unwrap();
        cache.add(old, 0, Bytes::from_static(b"old0")).unwrap();
        let writer = {
            let cache = Arc::clone(&cache);
            thread::spawn(move || {
                // May fail with StaleStream if fin came first; either is fine.
                let _ = cache.add(old, 1, Bytes::from_static(b"old1"));
            })
        };
        let finisher = {
            let cache = Arc::clone(&cache);
            thread::spawn(move || cache.fin(old).unwrap())
        };
        if let Some(c) = cache.get(old, 0) {
            assert_eq!(&c.bytes[..], b"old0");
        }
        writer.join().unwrap();
        finisher.join().unwrap();
        let new = cache.register("b").unwrap();
        assert_eq!(cache.last(new), None);
        assert!(cache.get(new, 0).is_none());
        assert!(
            cache.get(new, 1).is_none(),
            "a late write of the old stream leaked"
        );
        assert!(cache.get(old, 0).is_none());
    });
}

/// Two writers race for one slot (ids 0 and 2 of a 2-slot ring) while a reader reads it: a
/// writer updates every replica of the slot while holding the first one's lock, so the
/// replicas never disagree once both are done, and a read of either replica during the race
/// is nothing or exactly the bytes of the id asked for.
#[test]
fn racing_writers_of_one_slot_leave_every_replica_alike() {
    loom::model(|| {
        let cache = Arc::new(ChunkCache::with_capacity(1, 2).unwrap());
        let s = cache.register("a").unwrap();
        let writers: Vec<_> = [(0u64, &b"zero"[..]), (2, &b"two"[..])]
            .into_iter()
            .map(|(id, bytes)| {
                let cache = Arc::clone(&cache);
                thread::spawn(move || {
                    // The older id loses if the newer one got there first.
                    let _ = cache.add(s, id, Bytes::from_static(bytes));
                })
            })
            .collect();
        // Under loom each read of a thread uses the next replica: these two cover both.
        for _ in 0..2 {
            if let Some(c) = cache.get(s, 2) {
                assert_eq!(&c.bytes[..], b"two");
            }
        }
        for w in writers {
            w.join().unwrap();
        }
        // Id 2 always ends up stored; id 0 only if it was written first, and then it was
        // replaced. Both replicas answer alike.
        for _ in 0..2 {
            assert_eq!(&cache.get(s, 2).unwrap().bytes[..], b"two");
            assert!(cache.get(s, 0).is_none());
        }
        assert_eq!(cache.last(s), Some(2));
    });
}

/// `release_below` races a writer and a reader: a read is nothing or exactly the bytes of the
/// id asked for, a released id reads as nothing once the release returned, and ids at or
/// above the floor are untouched.
#[test]
fn release_races_a_writer_and_a_reader() {
    loom::model(|| {
        let cache = Arc::new(ChunkCache::with_capacity(1, 2).unwrap());
        let s = cache.register("a").unwrap();
        cache.add(s, 0, Bytes::from_static(b"zero")).unwrap();
        let writer = {
            let cache = Arc::clone(&cache);
            thread::spawn(move || {
                cache.add(s, 1, Bytes::from_static(b"one")).unwrap();
            })
        };
        let releaser = {
            let cache = Arc::clone(&cache);
            thread::spawn(move || {
                cache.release_below(s, 1).unwrap();
                assert!(cache.get(s, 0).is_none(), "released, yet read");
            })
        };
        for (id, bytes) in [(0u64, &b"zero"[..]), (1, &b"one"[..])] {
            if let Some(c) = cache.get(s, id) {
                assert_eq!((c.id, &c.bytes[..]), (id, bytes));
            }
        }
        writer.join().unwrap();
        releaser.join().unwrap();
        assert!(cache.get(s, 0).is_none());
        assert_eq!(&cache.get(s, 1).unwrap().bytes[..], b"one");
        assert_eq!(cache.floor(s), Some(1));
    });
}

/// A release with a handle that `fin` makes stale meanwhile never raises the floor of the
/// next stream on the ring.
#[test]
fn release_racing_fin_leaves_the_next_stream_no_floor() {
    loom::model(|| {
        let cache = Arc::new(ChunkCache::with_capacity(1, 2).unwrap());
        let old = cache.register("a").unwrap();
        cache.add(old, 0, Bytes::from_static(b"a0")).unwrap();
        cache.add(old, 1, Bytes::from_static(b"a1")).unwrap();
        let releaser = {
            let cache = Arc::clone(&cache);
            // May fail with StaleStream if fin came first; either is fine.
            thread::spawn(move || {
                let _ = cache.release_below(old, 2);
            })
        };
        cache.fin(old).unwrap();
        let new = cache.register("b").unwrap();
        releaser.join().unwrap();
        assert_eq!(cache.floor(new), Some(0));
        assert_eq!(cache.append(new, Bytes::from_static(b"b0")).unwrap().id, 0);
        assert_eq!(&cache.get(new, 0).unwrap().bytes[..], b"b0");
    });
}

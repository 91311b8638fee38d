//! Unit tests of `ChunkCache`, one per guarantee of its docs.

use super::*;

fn payload(id: u64) -> Bytes {
    Bytes::from(id.to_le_bytes().repeat(1 + (id % 5) as usize))
}

#[test]
fn wrapped_id_is_gone_not_answered_with_the_newer_bytes() {
    let cache = ChunkCache::with_capacity(1, 4).unwrap();
    let s = cache.register("a").unwrap();
    for id in 0..6 {
        cache.add(s, id, payload(id)).unwrap();
    }
    assert!(cache.get(s, 0).is_none());
    assert!(cache.get(s, 1).is_none());
    for id in 2..6 {
        let c = cache.get(s, id).unwrap();
        assert_eq!((c.id, c.bytes.clone()), (id, payload(id)));
        assert_eq!(c.hash, xxhash_rust::xxh3::xxh3_64(&c.bytes));
    }
}

#[test]
fn never_written_ids_are_nothing() {
    let cache = ChunkCache::with_capacity(1, 8).unwrap();
    let s = cache.register("a").unwrap();
    assert!(cache.get(s, 0).is_none(), "fresh stream, id 0");
    assert!(cache.get_last(s).is_none());
    assert_eq!(cache.last(s), None);
    cache.add(s, 3, payload(3)).unwrap();
    assert!(cache.get(s, 2).is_none());
    assert!(cache.get(s, 11).is_none(), "same slot as 3, never written");
    assert!(cache.get(s, u64::MAX).is_none());
}

#[test]
fn an_older_add_never_moves_last_backwards() {
    let cache = ChunkCache::with_capacity(1, 8).unwrap();
    let s = cache.register("a").unwrap();
    cache.add(s, 5, payload(5)).unwrap();
    cache.add(s, 2, payload(2)).unwrap();
    assert_eq!(cache.last(s), Some(5));
    assert_eq!(cache.get_last(s).unwrap().id, 5);
}

#[test]
fn rejects_duplicates_too_old_and_reserved_ids() {
    let cache = ChunkCache::with_capacity(1, 4).unwrap();
    let s = cache.register("a").unwrap();
    cache.add(s, 6, payload(6)).unwrap();
    assert_eq!(
        cache.add(s, 6, payload(6)),
        Err(Error::DuplicateId { id: 6 })
    );
    assert!(matches!(
        cache.add(s, 2, payload(2)),
        Err(Error::IdTooOld { id: 2, last: 6, .. })
    ));
    assert_eq!(
        cache.add(s, u64::MAX, payload(1)),
        Err(Error::IdOutOfRange(u64::MAX))
    );
    assert_eq!(cache.get(s, 6).unwrap().bytes, payload(6), "untouched");
}

#[test]
fn one_stream_too_many_is_an_error_not_a_shared_ring() {
    let cache = ChunkCache::with_capacity(5, 4).unwrap();
    let handles: Vec<_> = (0..5)
        .map(|i| cache.register(&format!("s{i}")).unwrap())
        .collect();
    assert!(matches!(
        cache.register("s5"),
        Err(Error::StreamsExhausted { capacity: 5, .. })
    ));
    let distinct: std::collections::HashSet<_> = handles.iter().map(|h| h.index()).collect();
    assert_eq!(distinct.len(), 5);
    assert_eq!(
        cache.register("s1").unwrap(),
        handles[1],
        "same name, same handle"
    );
}

#[test]
fn fin_then_reregister_shows_nothing_of_the_old_stream() {
    let cache = ChunkCache::with_capacity(1, 4).unwrap();
    let old = cache.register("a").unwrap();
    for id in 0..3 {
        cache.append(old, payload(id)).unwrap();
    }
    cache.fin(old).unwrap();
    assert!(!cache.is_live(old));
    assert_eq!(cache.last(old), None);
    assert!(cache.get(old, 1).is_none());
    assert!(matches!(
        cache.append(old, payload(9)),
        Err(Error::StaleStream { .. })
    ));
    let new = cache.register("b").unwrap();
    assert_eq!(new.index(), old.index());
    assert_ne!(new.generation(), old.generation());
    assert_eq!(cache.last(new), None, "no inherited last");
    for id in 0..3 {
        assert!(cache.get(new, id).is_none(), "no inherited data");
    }
    assert_eq!(cache.append(new, payload(0)).unwrap().id, 0);
    assert_eq!(cache.fin(old), Err(old.stale()));
}

#[test]
fn out_of_range_and_forged_handles_never_panic() {
    let cache = ChunkCache::with_capacity(2, 4).unwrap();
    let bogus = StreamIdx {
        index: 99,
        generation: 0,
    };
    assert!(cache.get(bogus, 0).is_none());
    assert_eq!(cache.last(bogus), None);
    assert!(cache.get_last(bogus).is_none());
    assert!(cache.add(bogus, 0, payload(0)).is_err());
    assert!(cache.append(bogus, payload(0)).is_err());
    assert!(cache.fin(bogus).is_err());
    assert!(cache.try_get(bogus, 0).is_err());
    assert!(!cache.is_live(bogus));
}

#[test]
fn invalid_capacities_are_typed_errors() {
    assert!(matches!(
        ChunkCache::with_capacity(0, 4),
        Err(Error::InvalidOption { .. })
    ));
    assert!(matches!(
        ChunkCache::with_capacity(4, 0),
        Err(Error::InvalidOption { .. })
    ));
    assert!(matches!(
        ChunkCache::with_capacity(1 << 12, 1 << 13),
        Err(Error::InvalidOption { .. })
    ));
}

#[test]
fn stream_names() {
    for ok in ["cam1", "live/720p", "a.b-c_d", &"x".repeat(128)] {
        assert!(validate_stream_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "..",
        ".hidden",
        "a/../b",
        "a/b/c",
        "a//b",
        "/a",
        "a/",
        "%2e%2e",
        "a b",
        "a\0b",
        "é",
        &"x".repeat(129),
    ] {
        assert!(
            matches!(
                validate_stream_name(bad),
                Err(Error::InvalidStreamName { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn concurrent_appenders_lose_no_id() {
    let cache = std::sync::Arc::new(ChunkCache::with_capacity(1, 4096).unwrap());
    let s = cache.register("a").unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let cache = std::sync::Arc::clone(&cache);
            std::thread::spawn(move || {
                (0..1000)
                    .map(|_| cache.append(s, Bytes::from_static(b"x")).unwrap().id)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..4000).collect::<Vec<_>>());
    assert!((0..4000).all(|id| cache.get(s, id).is_some()));
}

#[test]
fn reads_share_the_payload() {
    let cache = ChunkCache::with_capacity(1, 4).unwrap();
    let s = cache.register("a").unwrap();
    let bytes = Bytes::from(vec![7u8; 1 << 16]);
    let ptr = bytes.as_ptr();
    cache.add(s, 0, bytes).unwrap();
    assert_eq!(cache.get(s, 0).unwrap().bytes.as_ptr(), ptr, "no copy");
}

#[test]
fn try_get_tells_an_id_to_come_from_one_that_is_gone() {
    let cache = ChunkCache::with_capacity(1, 2).unwrap();
    let s = cache.register("a").unwrap();
    assert_eq!(cache.try_get(s, 0), Ok(None), "nothing stored yet");
    cache.append(s, payload(0)).unwrap();
    assert_eq!(cache.try_get(s, 0).unwrap().unwrap().bytes, payload(0));
    assert_eq!(cache.try_get(s, 1), Ok(None), "the next id may still come");
    cache.add(s, 3, payload(3)).unwrap();
    assert!(
        matches!(
            cache.try_get(s, 2),
            Err(Error::IdTooOld { id: 2, last: 3, .. })
        ),
        "skipped"
    );
    cache.add(s, 4, payload(4)).unwrap();
    assert!(
        matches!(cache.try_get(s, 0), Err(Error::IdTooOld { id: 0, .. })),
        "overwritten by id 4"
    );
    cache.release_below(s, 4).unwrap();
    assert!(
        matches!(cache.try_get(s, 3), Err(Error::IdTooOld { id: 3, .. })),
        "released"
    );
    assert_eq!(
        cache.try_get(s, u64::MAX),
        Err(Error::IdOutOfRange(u64::MAX))
    );
    cache.fin(s).unwrap();
    assert_eq!(cache.try_get(s, 4), Err(s.stale()));
}

#[test]
fn every_replica_holds_the_same_entry_and_fin_empties_them_all() {
    let cache = ChunkCache::with_capacity(1, 2).unwrap();
    let s = cache.register("a").unwrap();
    let bytes = Bytes::from(vec![9u8; 1000]);
    for id in 0..5 {
        cache.add(s, id, bytes.slice(id as usize..)).unwrap();
    }
    let ring = cache.ring(s).unwrap();
    for (slot, id) in ring.slots().iter().zip([4u64, 3]) {
        for replica in &slot.0 {
            let e = replica.0.lock();
            assert_eq!((e.id, e.generation), (id, s.generation()));
            assert_eq!(e.bytes.as_ptr(), bytes[id as usize..].as_ptr(), "no copy");
            assert_eq!(e.hash, xxhash_rust::xxh3::xxh3_64(&bytes[id as usize..]));
        }
    }
    cache.fin(s).unwrap();
    for slot in ring.slots().iter() {
        for replica in &slot.0 {
            let e = replica.0.lock();
            assert_eq!(e.id, EMPTY);
            assert!(e.bytes.is_empty());
        }
    }
}

#[test]
fn a_refused_write_touches_no_replica() {
    let cache = ChunkCache::with_capacity(1, 2).unwrap();
    let s = cache.register("a").unwrap();
    cache.add(s, 3, payload(3)).unwrap();
    assert!(cache.add(s, 1, payload(1)).is_err(), "too old");
    assert!(cache.add(s, 3, payload(9)).is_err(), "duplicate");
    for replica in &cache.ring(s).unwrap().slots()[1].0 {
        assert_eq!(replica.0.lock().bytes, payload(3));
    }
}

#[test]
fn a_replica_fits_one_cache_line() {
    // The memory budget (`ChunkCache::new(Options::default())` within 16 MiB) counts on it.
    assert_eq!(std::mem::size_of::<Replica>(), 64);
    assert_eq!(std::mem::size_of::<Slot>(), 64 * REPLICAS);
}

#[test]
fn released_ids_read_as_nothing_and_their_payloads_are_dropped() {
    let cache = ChunkCache::with_capacity(1, 8).unwrap();
    let s = cache.register("a").unwrap();
    let buffers: Vec<Bytes> = (0..6).map(payload).collect();
    for b in &buffers {
        cache.append(s, b.clone()).unwrap();
    }
    // A reader holds id 1 across the release.
    let held = cache.get(s, 1).unwrap();
    cache.release_below(s, 3).unwrap();
    assert_eq!(cache.floor(s), Some(3));
    for id in 0..3 {
        assert!(cache.get(s, id).is_none(), "id {id} released");
        // Every replica of its slot is empty: the ring keeps no reference to the payload.
        for replica in &cache.ring(s).unwrap().slots()[cache.slot_of(id)].0 {
            let e = replica.0.lock();
            assert_eq!(e.id, EMPTY);
            assert!(e.bytes.is_empty());
        }
    }
    for id in 3..6 {
        assert_eq!(cache.get(s, id).unwrap().bytes, buffers[id as usize]);
    }
    assert_eq!(
        held.bytes, buffers[1],
        "a reader's clone outlives the release"
    );
    assert_eq!(cache.get_last(s).unwrap().id, 5);

    // A lower floor does nothing; a released id cannot come back.
    cache.release_below(s, 1).unwrap();
    assert_eq!(cache.floor(s), Some(3));
    assert_eq!(
        cache.add(s, 2, payload(2)),
        Err(Error::IdReleased { id: 2, floor: 3 })
    );
    // The floor never passes the next id to append, so appending always works.
    cache.release_below(s, 1_000).unwrap();
    assert_eq!(cache.floor(s), Some(6));
    assert!(
        cache.get_last(s).is_none(),
        "everything stored was released"
    );
    assert_eq!(cache.append(s, payload(6)).unwrap().id, 6);
    assert_eq!(cache.get(s, 6).unwrap().bytes, payload(6));
}

#[test]
fn release_sweeps_at_most_one_ring_and_fin_resets_the_floor() {
    let cache = ChunkCache::with_capacity(1, 4).unwrap();
    let s = cache.register("a").unwrap();
    for id in 0..100 {
        cache.add(s, id, payload(id)).unwrap();
    }
    // Ids 96..100 are in the ring; a floor of 98 empties the slots of 96 and 97 only.
    cache.release_below(s, 98).unwrap();
    let ring = cache.ring(s).unwrap();
    let held: Vec<u64> = ring
        .slots()
        .iter()
        .map(|slot| slot.0[0].0.lock().id)
        .collect();
    let mut held: Vec<u64> = held.into_iter().filter(|&id| id != EMPTY).collect();
    held.sort_unstable();
    assert_eq!(held, [98, 99]);

    cache.fin(s).unwrap();
    assert!(matches!(
        cache.release_below(s, 5),
        Err(Error::StaleStream { .. })
    ));
    let t = cache.register("b").unwrap();
    assert_eq!(
        cache.floor(t),
        Some(0),
        "a new stream on the ring starts with no floor"
    );
    assert_eq!(cache.append(t, payload(0)).unwrap().id, 0);
    assert!(cache.get(t, 0).is_some());
}

#[test]
fn a_ring_no_stream_registered_on_is_never_read_or_written() {
    // A handle of ring 1 from another cache, on a cache whose ring 1 was never registered
    // (its slots not yet written): every call reads nothing and writes nothing.
    let other = ChunkCache::with_capacity(2, 4).unwrap();
    other.register("a").unwrap();
    let foreign = other.register("b").unwrap();
    assert_eq!(foreign.index(), 1);
    let cache = ChunkCache::with_capacity(2, 4).unwrap();
    let a = cache.register("a").unwrap();
    assert!(
        !cache.rings[1].is_ready(),
        "ring 1 not written before its first stream"
    );
    assert!(cache.ring(foreign).is_none());
    assert!(cache.get(foreign, 0).is_none());
    assert!(cache.last(foreign).is_none());
    assert!(cache.floor(foreign).is_none());
    assert!(matches!(
        cache.add(foreign, 0, payload(0)),
        Err(Error::StaleStream { .. })
    ));
    assert!(matches!(
        cache.append(foreign, payload(0)),
        Err(Error::StaleStream { .. })
    ));
    assert!(matches!(
        cache.release_below(foreign, 1),
        Err(Error::StaleStream { .. })
    ));
    assert!(matches!(
        cache.try_get(foreign, 0),
        Err(Error::StaleStream { .. })
    ));
    // Its first stream writes the ring, and it works as any other.
    let b = cache.register("b").unwrap();
    assert!(cache.rings[1].is_ready());
    cache.append(b, payload(7)).unwrap();
    assert_eq!(cache.get(b, 0).unwrap().bytes, payload(7));
    assert!(cache.get(a, 0).is_none(), "streams do not share rings");
    // After `fin` the ring stays written, and the next stream on it reuses its slots.
    cache.fin(b).unwrap();
    assert!(cache.rings[1].is_ready());
    let c = cache.register("c").unwrap();
    assert_eq!(c.index(), 1);
    assert!(cache.get(c, 0).is_none(), "nothing of the finished stream");
}

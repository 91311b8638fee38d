//! Content-verifying stress tests of `ChunkCache`: writer and reader threads race on small
//! rings (so every slot wraps around thousands of times) and every read is checked byte for
//! byte against the payload its id must have, and its hash against xxh3 of those bytes.
//!
//! Each test is bounded by a wall-clock budget (about a second) and asserts it did enough
//! work to mean something, so it can fail both ways: a wrong read, or no real race.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use playlists::wait::Event;
use playlists::{Chunk, ChunkCache, Error, StreamIdx};
use xxhash_rust::xxh3::xxh3_64;

/// How long each test keeps its threads racing, at least.
const BUDGET: Duration = Duration::from_millis(1200);

/// Lets the threads race for [`BUDGET`], and on while `enough` says too little has happened
/// yet (a loaded machine schedules them rarely), for at most a minute: the floors the tests
/// assert afterwards count work done, and should not fail because time ran out.
fn race(enough: impl Fn() -> bool) {
    thread::sleep(BUDGET);
    let started = std::time::Instant::now();
    while !enough() && started.elapsed() < Duration::from_secs(60) {
        thread::sleep(Duration::from_millis(20));
    }
}

/// The one payload `(tag, id)` may have: a 16-byte header naming both, then a length and a
/// filler that also depend on both, so a payload of another id, of another stream or of an
/// older registration of the same ring never compares equal.
fn payload(tag: u64, id: u64) -> Bytes {
    let len = 16 + ((id * 7 + tag * 13) % 97) as usize;
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&id.to_le_bytes());
    let fill = (tag as u8).wrapping_mul(31) ^ (id as u8);
    v.resize(len, fill);
    Bytes::from(v)
}

/// The payload of an `append` under `tag`: its id is only known afterwards, so it is marked
/// with an id field no `payload` uses.
fn appended(tag: u64) -> Bytes {
    let mut v = tag.to_le_bytes().to_vec();
    v.extend_from_slice(&u64::MAX.to_le_bytes());
    Bytes::from(v)
}

/// Asserts that `chunk`, read for `asked` (or for the newest id when `None`) under `tag`, is
/// exactly what was stored under its id.
fn check(chunk: &Chunk, tag: u64, asked: Option<u64>) {
    if let Some(asked) = asked {
        assert_eq!(chunk.id, asked, "get({asked}) answered another id");
    }
    assert_eq!(
        chunk.bytes,
        payload(tag, chunk.id),
        "bytes of id {} (tag {tag}) are not its own",
        chunk.id
    );
    assert_eq!(chunk.hash, xxh3_64(&chunk.bytes), "hash of id {}", chunk.id);
}

/// A tiny deterministic generator for the readers' choices (no shared state, no dependency).
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Two streams on rings of 8 slots. Stream 0 has two writers adding interleaved ids (even and
/// odd) with `add`; stream 1 has one writer using `append`, which must hand out 0, 1, 2, ….
/// Four readers (as many as a slot has replicas, see `chunk_cache::Slot`) pick a stream and
/// either `get` an id around the ring's window or `get_last`, and check every answer; `last`
/// must never move backwards for a reader.
#[test]
fn readers_see_exact_bytes_across_wrap_arounds() {
    const SLOTS: usize = 8;
    let cache = Arc::new(ChunkCache::with_capacity(2, SLOTS).unwrap());
    let streams = [
        cache.register("adds").unwrap(),
        cache.register("appends").unwrap(),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let next_add = Arc::new(AtomicU64::new(0));

    let mut writers = Vec::new();
    for parity in 0..2u64 {
        let (cache, stop) = (Arc::clone(&cache), Arc::clone(&stop));
        writers.push(thread::spawn(move || {
            let (mut stored, mut too_old) = (0u64, 0u64);
            let mut id = parity;
            while !stop.load(Ordering::Relaxed) {
                match cache.add(streams[0], id, payload(0, id)) {
                    Ok(chunk) => {
                        check(&chunk, 0, Some(id));
                        stored += 1;
                    }
                    // The other writer got a whole ring ahead: this id's slot holds a newer one.
                    Err(Error::IdTooOld {
                        id: refused, last, ..
                    }) => {
                        assert_eq!(refused, id);
                        assert!(last > id && (last - id) % SLOTS as u64 == 0);
                        too_old += 1;
                    }
                    Err(e) => panic!("add({id}) failed: {e}"),
                }
                id += 2;
            }
            (stored, too_old)
        }));
    }
    let appender = {
        let (cache, stop, next_add) =
            (Arc::clone(&cache), Arc::clone(&stop), Arc::clone(&next_add));
        thread::spawn(move || {
            let mut expected = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let chunk = cache.append(streams[1], payload(1, expected)).unwrap();
                assert_eq!(chunk.id, expected, "a lone appender gets consecutive ids");
                expected += 1;
                next_add.store(expected, Ordering::Relaxed);
            }
            expected
        })
    };

    let readers: Vec<_> = (0..4u64)
        .map(|r| {
            let (cache, stop) = (Arc::clone(&cache), Arc::clone(&stop));
            thread::spawn(move || {
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (r + 1));
                let mut seen_last = [None::<u64>; 2];
                let (mut hits, mut misses) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let tag = rng.below(2);
                    let s = streams[tag as usize];
                    let last = cache.last(s);
                    assert!(last >= seen_last[tag as usize], "last moved backwards");
                    seen_last[tag as usize] = last;
                    let answer = if rng.below(4) == 0 {
                        cache.get_last(s).inspect(|c| check(c, tag, None))
                    } else {
                        // Ids from a bit before the window to a bit past the newest one:
                        // overwritten, kept, and not yet written.
                        let top = last.map_or(0, |l| l + 3);
                        let id = top.saturating_sub(rng.below(2 * SLOTS as u64 + 3));
                        cache.get(s, id).inspect(|c| check(c, tag, Some(id)))
                    };
                    match answer {
                        Some(_) => hits += 1,
                        None => misses += 1,
                    }
                }
                (hits, misses)
            })
        })
        .collect();

    // Twice the appends asserted below, so the other threads have had their turns too.
    race(|| {
        cache
            .last(streams[1])
            .is_some_and(|last| last > 200 * SLOTS as u64)
    });
    stop.store(true, Ordering::Relaxed);
    let adds: Vec<(u64, u64)> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let appended = appender.join().unwrap();
    let reads: Vec<(u64, u64)> = readers.into_iter().map(|r| r.join().unwrap()).collect();

    // After the race: the last SLOTS appended ids are all there, exactly.
    assert_eq!(cache.last(streams[1]), Some(appended - 1));
    for id in appended.saturating_sub(SLOTS as u64)..appended {
        check(&cache.get(streams[1], id).unwrap(), 1, Some(id));
    }
    assert!(cache.get(streams[1], appended).is_none(), "never written");
    assert!(
        cache.get(streams[1], appended - 1 - SLOTS as u64).is_none(),
        "overwritten"
    );

    // Enough happened for this to be a stress test: many wrap-arounds, reads both ways.
    let stored: u64 = adds.iter().map(|a| a.0).sum();
    assert!(stored > 100 * SLOTS as u64, "only {stored} adds");
    assert!(appended > 100 * SLOTS as u64, "only {appended} appends");
    let (hits, misses) = reads.iter().fold((0, 0), |a, r| (a.0 + r.0, a.1 + r.1));
    assert!(hits > 1000 && misses > 100, "hits {hits}, misses {misses}");
}

/// One ring, reused over and over: a cycler registers a stream, writes ids tagged with the
/// handle's generation, and finishes it, while readers keep every handle ever issued (most
/// of them stale) and a late writer keeps writing through stale handles. A read through any
/// handle must be nothing or exactly that registration's bytes; a fresh registration must
/// start with nothing; a stale write must be refused, never land in the new stream.
#[test]
fn fin_and_reregister_race_readers_holding_stale_handles() {
    const SLOTS: usize = 4;
    let cache = Arc::new(ChunkCache::with_capacity(1, SLOTS).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Arc<Mutex<Vec<StreamIdx>>> = Arc::default();
    let tag = |h: StreamIdx| u64::from(h.generation());

    let cycler = {
        let (cache, stop, handles) = (Arc::clone(&cache), Arc::clone(&stop), Arc::clone(&handles));
        thread::spawn(move || {
            let mut cycles = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let h = cache.register(&format!("s{}", cycles % 3)).unwrap();
                assert_eq!(cache.last(h), None, "a new registration inherits no last");
                assert!(cache.get_last(h).is_none());
                handles.lock().unwrap().push(h);
                for id in 0..(2 * SLOTS as u64 + cycles % 3) {
                    match cache.add(h, id, payload(tag(h), id)) {
                        Ok(c) => check(&c, tag(h), Some(id)),
                        // The late writer got to this id's slot first with its own ids.
                        Err(Error::DuplicateId { .. } | Error::IdTooOld { .. }) => {}
                        Err(e) => panic!("add({id}) on the live stream: {e}"),
                    }
                }
                cache.fin(h).unwrap();
                cycles += 1;
            }
            cycles
        })
    };
    // Writes through the newest handle, which `fin` turns stale under its feet: with `add`
    // (verifiable payloads) and `append` (whose id it cannot know in advance, so its payload
    // carries the APPENDED marker instead of an id).
    let late_writer = {
        let (cache, stop, handles) = (Arc::clone(&cache), Arc::clone(&stop), Arc::clone(&handles));
        thread::spawn(move || {
            let (mut refused, mut landed) = (0u64, 0u64);
            let mut rng = XorShift(77);
            while !stop.load(Ordering::Relaxed) {
                let Some(h) = handles.lock().unwrap().last().copied() else {
                    continue;
                };
                let result = if rng.below(2) == 0 {
                    let id = rng.below(3 * SLOTS as u64);
                    cache.add(h, id, payload(tag(h), id))
                } else {
                    cache.append(h, appended(tag(h)))
                };
                match result {
                    Ok(_) => landed += 1,
                    Err(Error::StaleStream { .. }) => refused += 1,
                    // Collisions with the cycler's ids: refused, nothing stored.
                    Err(Error::DuplicateId { .. } | Error::IdTooOld { .. }) => {}
                    Err(e) => panic!("unexpected error {e}"),
                }
            }
            (refused, landed)
        })
    };
    let readers: Vec<_> = (0..2u64)
        .map(|r| {
            let (cache, stop, handles) =
                (Arc::clone(&cache), Arc::clone(&stop), Arc::clone(&handles));
            thread::spawn(move || {
                let mut rng = XorShift(0xDEAD_BEEF ^ (r + 1));
                let (mut hits, mut stale_reads) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let h = {
                        let hs = handles.lock().unwrap();
                        if hs.is_empty() {
                            continue;
                        }
                        // Mostly recent handles (the ones racing fin), sometimes old ones.
                        let span = if rng.below(4) == 0 {
                            hs.len() as u64
                        } else {
                            3
                        };
                        let back = rng.below(span);
                        hs[hs.len() - 1 - (back as usize).min(hs.len() - 1)]
                    };
                    let answer = if rng.below(3) == 0 {
                        cache.get_last(h)
                    } else {
                        cache.get(h, rng.below(2 * SLOTS as u64 + 3))
                    };
                    if let Some(c) = answer {
                        hits += 1;
                        if c.bytes == appended(tag(h)) {
                            assert_eq!(c.hash, xxh3_64(&c.bytes));
                        } else {
                            check(&c, tag(h), None);
                        }
                    }
                    if !cache.is_live(h) {
                        stale_reads += 1;
                    }
                }
                (hits, stale_reads)
            })
        })
        .collect();

    // Twice the cycles asserted below, so the other threads have had their turns too.
    race(|| handles.lock().unwrap().len() > 400);
    stop.store(true, Ordering::Relaxed);
    let cycles = cycler.join().unwrap();
    let (refused, _landed) = late_writer.join().unwrap();
    let reads: Vec<(u64, u64)> = readers.into_iter().map(|r| r.join().unwrap()).collect();

    // Every handle is stale now, and reads through any of them find nothing.
    let all = handles.lock().unwrap().clone();
    let distinct: HashMap<StreamIdx, ()> = all.iter().map(|h| (*h, ())).collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "every registration got a fresh handle"
    );
    for h in &all {
        assert!(!cache.is_live(*h));
        assert_eq!(cache.last(*h), None);
        assert!((0..2 * SLOTS as u64 + 3).all(|id| cache.get(*h, id).is_none()));
    }
    let fresh = cache.register("after").unwrap();
    assert_eq!(cache.last(fresh), None);
    assert!(
        (0..2000).all(|id| cache.get(fresh, id).is_none()),
        "nothing old is visible"
    );

    assert!(cycles > 200, "only {cycles} fin/register cycles");
    assert!(refused > 0, "the late writer never hit a stale handle");
    let (hits, stale_reads) = reads.iter().fold((0, 0), |a, r| (a.0 + r.0, a.1 + r.1));
    assert!(
        hits > 100 && stale_reads > 100,
        "hits {hits}, stale reads {stale_reads}"
    );
}

/// Waiters follow a fast appender id by id, woken by an event the appender notifies and asking
/// `try_get`. The ring holds every id, so each wait must end with exactly that id's bytes:
/// never `IdTooOld` because the id was written between the waiter's look at the slot and its
/// look at `last`.
#[test]
fn waiters_following_an_appender_get_every_id() {
    // Several rounds: the window this guards is a few instructions wide.
    for _round in 0..10 {
        const IDS: u64 = 4000;
        let cache = Arc::new(ChunkCache::with_capacity(1, 4096).unwrap());
        let s = cache.register("follow").unwrap();
        let appended = Arc::new(Event::new());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (cache, appended) = (Arc::clone(&cache), Arc::clone(&appended));
                rt.spawn(async move {
                    for id in 0..IDS {
                        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                        let chunk = appended
                            .wait_until(deadline, || cache.try_get(s, id))
                            .await
                            .unwrap();
                        check(&chunk, 7, Some(id));
                    }
                })
            })
            .collect();
        let writer = {
            let (cache, appended) = (Arc::clone(&cache), Arc::clone(&appended));
            thread::spawn(move || {
                for id in 0..IDS {
                    cache.append(s, payload(7, id)).unwrap();
                    appended.notify_all();
                }
            })
        };
        writer.join().unwrap();
        rt.block_on(async {
            for w in waiters {
                w.await.unwrap();
            }
        });
    }
}

/// A payload that counts itself alive, so the test can tell what the ring still holds.
struct Counted {
    bytes: Bytes,
    alive: Arc<AtomicU64>,
}

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An appender keeps only its newest ids (it releases all but the last 8 behind it, as the
/// registry does with forgotten segments) while a second thread raises the floor at random
/// and readers read around it. Every answer is exact; an id below a floor a reader has seen
/// reads as nothing; and afterwards the ring holds exactly the payloads at or above the
/// floor, although it has room for eight times more.
#[test]
fn releases_race_appends_and_reads_and_free_exactly_what_is_below_the_floor() {
    const SLOTS: usize = 64;
    const KEEP: u64 = 8;
    let cache = Arc::new(ChunkCache::with_capacity(1, SLOTS).unwrap());
    let s = cache.register("released").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let alive = Arc::new(AtomicU64::new(0));

    let appender = {
        let (cache, stop, alive) = (Arc::clone(&cache), Arc::clone(&stop), Arc::clone(&alive));
        thread::spawn(move || {
            let mut next = 0u64;
            while !stop.load(Ordering::Relaxed) {
                alive.fetch_add(1, Ordering::Relaxed);
                let counted = Counted {
                    bytes: payload(7, next),
                    alive: Arc::clone(&alive),
                };
                let chunk = cache.append(s, Bytes::from_owner(counted)).unwrap();
                assert_eq!(chunk.id, next);
                next += 1;
                cache.release_below(s, next.saturating_sub(KEEP)).unwrap();
            }
            next
        })
    };
    let releaser = {
        let (cache, stop) = (Arc::clone(&cache), Arc::clone(&stop));
        thread::spawn(move || {
            let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
            let mut raised = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let top = cache.last(s).map_or(0, |l| l + 1);
                cache
                    .release_below(s, top.saturating_sub(rng.below(2 * KEEP)))
                    .unwrap();
                raised += 1;
            }
            raised
        })
    };
    let readers: Vec<_> = (0..3u64)
        .map(|r| {
            let (cache, stop) = (Arc::clone(&cache), Arc::clone(&stop));
            thread::spawn(move || {
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (r + 1));
                let (mut hits, mut released) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let floor = cache.floor(s).unwrap();
                    let top = cache.last(s).map_or(0, |l| l + 2);
                    let id = top.saturating_sub(rng.below(3 * KEEP));
                    let answer = cache.get(s, id);
                    if id < floor {
                        assert!(answer.is_none(), "get({id}) answered below floor {floor}");
                        released += 1;
                    } else if let Some(chunk) = answer {
                        check(&chunk, 7, Some(id));
                        hits += 1;
                    }
                }
                (hits, released)
            })
        })
        .collect();

    // Twice the appends asserted below, so the other threads have had their turns too.
    race(|| cache.last(s).is_some_and(|last| last > 200 * SLOTS as u64));
    stop.store(true, Ordering::Relaxed);
    let appended = appender.join().unwrap();
    let raised = releaser.join().unwrap();
    let reads: Vec<(u64, u64)> = readers.into_iter().map(|r| r.join().unwrap()).collect();

    let floor = cache.floor(s).unwrap();
    assert!(floor >= appended - KEEP && floor <= appended);
    for id in floor..appended {
        check(&cache.get(s, id).unwrap(), 7, Some(id));
    }
    for id in appended.saturating_sub(SLOTS as u64)..floor {
        assert!(
            cache.get(s, id).is_none(),
            "released id {id} still readable"
        );
    }
    // The readers' clones are gone: what is alive is what the ring holds, and that is exactly
    // the ids at or above the floor.
    assert_eq!(alive.load(Ordering::Relaxed), appended - floor);

    assert!(appended > 100 * SLOTS as u64, "only {appended} appends");
    assert!(raised > 1000, "only {raised} releases");
    let (hits, released) = reads.iter().fold((0, 0), |a, r| (a.0 + r.0, a.1 + r.1));
    assert!(
        hits > 1000 && released > 1000,
        "hits {hits}, released {released}"
    );
}

//! `ChunkCache` against an oracle, under random sequences of register / fin / add / append /
//! release_below / get / last / get_last on tiny rings (1-3 streams of 1-5 slots, so ids wrap constantly).
//!
//! The oracle does not model slots: per registration it keeps *every* id ever written and
//! answers from the ring's specification — an id is readable iff it was written and no
//! later-written id of the same residue (`id % slots`) replaced it, and it is not below the
//! registration's release floor. After every step every
//! handle ever issued (stale ones included) is compared on every observable: `is_live`,
//! `last`, `get_last`, `get` of every id seen so far, and the list of live streams.

use std::collections::BTreeMap;

use bytes::Bytes;
use playlists::{Chunk, ChunkCache, Error, StreamIdx};
use proptest::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

const NAMES: [&str; 4] = ["a", "b", "live/720p", "cam-1"];

#[derive(Debug, Clone)]
enum Op {
    Register(usize),
    Fin(usize),
    Add(usize, u64),
    Append(usize),
    Get(usize, u64),
    Last(usize),
    GetLast(usize),
    Release(usize, u64),
}

/// One ring of the oracle: who holds it and what they wrote.
#[derive(Debug, Default)]
struct OracleRing {
    /// The live stream's name and the serial of its registration.
    holder: Option<(String, usize)>,
    /// Every id written by the live registration, with its bytes.
    written: BTreeMap<u64, Bytes>,
    /// The id `append` hands out next.
    next: u64,
    /// Ids below this were released.
    floor: u64,
}

/// A handle issued by the cache, with what the oracle knows of it.
#[derive(Debug, Clone, Copy)]
struct Issued {
    handle: StreamIdx,
    ring: usize,
    serial: usize,
}

struct Oracle {
    slots: u64,
    rings: Vec<OracleRing>,
    issued: Vec<Issued>,
    serials: usize,
    /// Largest small id any op has used: the `get` sweep covers `0..=max_id + 1` (and the
    /// window below each stream's last id, which covers the huge ids).
    max_id: u64,
}

impl Oracle {
    fn note(&mut self, id: u64) {
        if id < 1 << 10 {
            self.max_id = self.max_id.max(id);
        }
    }

    fn live(&self, i: &Issued) -> Option<&OracleRing> {
        let ring = &self.rings[i.ring];
        matches!(ring.holder, Some((_, serial)) if serial == i.serial).then_some(ring)
    }

    /// The newest id written to `id`'s slot.
    fn slot_holder(ring: &OracleRing, slots: u64, id: u64) -> Option<u64> {
        ring.written
            .keys()
            .rev()
            .find(|k| *k % slots == id % slots)
            .copied()
    }

    fn get(&self, i: &Issued, id: u64) -> Option<Chunk> {
        let ring = self.live(i)?;
        if id < ring.floor {
            return None;
        }
        let bytes = ring.written.get(&id)?;
        (Self::slot_holder(ring, self.slots, id) == Some(id)).then(|| Chunk {
            id,
            hash: xxh3_64(bytes),
            bytes: bytes.clone(),
        })
    }

    fn last(&self, i: &Issued) -> Option<u64> {
        self.live(i)?.written.keys().next_back().copied()
    }

    fn stale(i: &Issued) -> Error {
        Error::StaleStream {
            index: i.handle.index(),
            generation: i.handle.generation(),
        }
    }

    fn add(&mut self, i: &Issued, id: u64, bytes: Bytes) -> Result<Chunk, Error> {
        if id == u64::MAX {
            return Err(Error::IdOutOfRange(id));
        }
        let slots = self.slots;
        if self.live(i).is_none() {
            return Err(Self::stale(i));
        }
        let ring = &mut self.rings[i.ring];
        if id < ring.floor {
            return Err(Error::IdReleased {
                id,
                floor: ring.floor,
            });
        }
        match Self::slot_holder(ring, slots, id) {
            Some(held) if held == id => return Err(Error::DuplicateId { id }),
            Some(held) if held > id => {
                return Err(Error::IdTooOld {
                    id,
                    last: held,
                    capacity: slots as usize,
                })
            }
            _ => {}
        }
        ring.written.insert(id, bytes.clone());
        ring.next = ring.next.max(id + 1);
        Ok(Chunk {
            id,
            hash: xxh3_64(&bytes),
            bytes,
        })
    }

    fn append(&mut self, i: &Issued, bytes: Bytes) -> Result<Chunk, Error> {
        let next = self.live(i).ok_or_else(|| Self::stale(i))?.next;
        if next == u64::MAX {
            return Err(Error::IdOutOfRange(next));
        }
        self.rings[i.ring].next = next + 1;
        self.add(i, next, bytes)
    }

    /// The floor rises to `floor`, capped at the next id to append; never falls.
    fn release(&mut self, i: &Issued, floor: u64) -> Result<(), Error> {
        if self.live(i).is_none() {
            return Err(Self::stale(i));
        }
        let ring = &mut self.rings[i.ring];
        ring.floor = ring.floor.max(floor.min(ring.next));
        Ok(())
    }

    fn fin(&mut self, i: &Issued) -> Result<(), Error> {
        if self.live(i).is_none() {
            return Err(Self::stale(i));
        }
        self.rings[i.ring] = OracleRing::default();
        Ok(())
    }

    /// The issued handle of the live stream `name`, if any.
    fn live_named(&self, name: &str) -> Option<Issued> {
        self.issued
            .iter()
            .rev()
            .find(|i| matches!(&self.rings[i.ring].holder, Some((n, s)) if n == name && *s == i.serial))
            .copied()
    }
}

fn op() -> impl Strategy<Value = Op> {
    let id = prop_oneof![12 => 0u64..24, 1 => Just(u64::MAX), 1 => Just(u64::MAX - 1)];
    let h = any::<usize>;
    prop_oneof![
        3 => (0..NAMES.len()).prop_map(Op::Register),
        1 => h().prop_map(Op::Fin),
        5 => (h(), id.clone()).prop_map(|(h, id)| Op::Add(h, id)),
        5 => h().prop_map(Op::Append),
        2 => (h(), id.clone()).prop_map(|(h, id)| Op::Get(h, id)),
        1 => (h(), id).prop_map(|(h, floor)| Op::Release(h, floor)),
        1 => h().prop_map(Op::Last),
        1 => h().prop_map(Op::GetLast),
    ]
}

/// Runs `ops` on a cache of `streams × slots` and the oracle side by side.
fn run(streams: usize, slots: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let cache = ChunkCache::with_capacity(streams, slots).unwrap();
    let mut oracle = Oracle {
        slots: slots as u64,
        rings: (0..streams).map(|_| OracleRing::default()).collect(),
        issued: Vec::new(),
        serials: 0,
        max_id: 0,
    };
    for (step, op) in ops.into_iter().enumerate() {
        // Distinct bytes per step: a stale or misplaced payload can never compare equal.
        let bytes = Bytes::from(format!("step {step}"));
        let pick =
            |h: usize| (!oracle.issued.is_empty()).then(|| oracle.issued[h % oracle.issued.len()]);
        match op {
            Op::Register(n) => {
                let name = NAMES[n];
                let got = cache.register(name);
                if let Some(live) = oracle.live_named(name) {
                    prop_assert_eq!(got, Ok(live.handle), "re-registering a live name");
                } else if let Some(ring) = oracle.rings.iter().position(|r| r.holder.is_none()) {
                    let handle = got.map_err(|e| TestCaseError::fail(format!("register: {e}")))?;
                    prop_assert_eq!(handle.index(), ring, "the first free ring");
                    prop_assert!(
                        oracle.issued.iter().all(|i| i.handle != handle),
                        "a new registration reuses an old handle"
                    );
                    oracle.serials += 1;
                    oracle.rings[ring].holder = Some((name.to_owned(), oracle.serials));
                    oracle.issued.push(Issued {
                        handle,
                        ring,
                        serial: oracle.serials,
                    });
                } else {
                    prop_assert_eq!(
                        got,
                        Err(Error::StreamsExhausted {
                            name: name.to_owned(),
                            capacity: streams
                        })
                    );
                }
            }
            Op::Fin(h) => {
                if let Some(i) = pick(h) {
                    prop_assert_eq!(cache.fin(i.handle), oracle.fin(&i));
                }
            }
            Op::Add(h, id) => {
                if let Some(i) = pick(h) {
                    oracle.note(id);
                    prop_assert_eq!(
                        cache.add(i.handle, id, bytes.clone()),
                        oracle.add(&i, id, bytes)
                    );
                }
            }
            Op::Append(h) => {
                if let Some(i) = pick(h) {
                    let got = cache.append(i.handle, bytes.clone());
                    let want = oracle.append(&i, bytes);
                    if let Ok(c) = &want {
                        oracle.note(c.id);
                    }
                    prop_assert_eq!(got, want);
                }
            }
            Op::Get(h, id) => {
                if let Some(i) = pick(h) {
                    prop_assert_eq!(cache.get(i.handle, id), oracle.get(&i, id));
                }
            }
            Op::Release(h, floor) => {
                if let Some(i) = pick(h) {
                    prop_assert_eq!(
                        cache.release_below(i.handle, floor),
                        oracle.release(&i, floor)
                    );
                    if let Some(ring) = oracle.live(&i) {
                        prop_assert_eq!(cache.floor(i.handle), Some(ring.floor));
                    }
                }
            }
            Op::Last(h) => {
                if let Some(i) = pick(h) {
                    prop_assert_eq!(cache.last(i.handle), oracle.last(&i));
                }
            }
            Op::GetLast(h) => {
                if let Some(i) = pick(h) {
                    let want = oracle.last(&i).and_then(|l| oracle.get(&i, l));
                    prop_assert_eq!(cache.get_last(i.handle), want);
                }
            }
        }
        compare_all(&cache, &oracle)?;
    }
    Ok(())
}

/// Every observable of every handle ever issued, against the oracle.
fn compare_all(cache: &ChunkCache, oracle: &Oracle) -> Result<(), TestCaseError> {
    for i in &oracle.issued {
        let h = i.handle;
        prop_assert_eq!(cache.is_live(h), oracle.live(i).is_some());
        let last = oracle.last(i);
        prop_assert_eq!(cache.last(h), last);
        prop_assert_eq!(cache.get_last(h), last.and_then(|l| oracle.get(i, l)));
        let near_max = last.map(|l| l.saturating_sub(oracle.slots)..=l);
        for id in (0..=oracle.max_id + 1).chain(near_max.into_iter().flatten()) {
            prop_assert_eq!(
                cache.get(h, id),
                oracle.get(i, id),
                "get({}) via {:?}",
                id,
                h
            );
        }
    }
    let live: Vec<(String, StreamIdx)> = oracle
        .rings
        .iter()
        .enumerate()
        .filter_map(|(r, ring)| {
            let (name, serial) = ring.holder.clone()?;
            let i = oracle
                .issued
                .iter()
                .find(|i| i.ring == r && i.serial == serial)?;
            Some((name, i.handle))
        })
        .collect();
    prop_assert_eq!(cache.streams(), live);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn chunk_cache_matches_the_oracle(
        streams in 1usize..=3,
        slots in 1usize..=5,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run(streams, slots, ops)?;
    }
}

/// A fixed sequence the random ones might take long to find: the id space runs out.
#[test]
fn append_after_the_largest_id_is_refused_not_wrapped() {
    run(
        1,
        3,
        vec![
            Op::Register(0),
            Op::Add(0, u64::MAX - 1),
            Op::Append(0),
            Op::Append(0),
            Op::Add(0, 1),
            Op::Append(0),
        ],
    )
    .unwrap();
}

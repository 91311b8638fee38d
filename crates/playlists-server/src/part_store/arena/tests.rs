//! Tests of the part arena.

use super::*;

/// The smallest block the arena allows: parts in these tests are sized against it.
fn block() -> usize {
    largest_folio_bytes()
}

fn arena(blocks: usize, dir: Option<&Path>) -> PartArena {
    PartArena::new(ArenaOptions {
        block_bytes: block(),
        blocks,
        dir: dir.map(Path::to_path_buf),
    })
    .expect("part arena")
}

/// A directory for file-backed arenas, in the system's temporary directory.
fn disk_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// Both kinds of arena, `blocks` blocks each: shared memory, then a file in `dir`.
fn both_kinds(blocks: usize, dir: &tempfile::TempDir) -> [PartArena; 2] {
    [arena(blocks, None), arena(blocks, Some(dir.path()))]
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

#[test]
fn parts_read_back_and_are_located_in_the_file() {
    let dir = disk_dir();
    for arena in both_kinds(4, &dir) {
        parts_read_back_and_are_located(&arena);
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the file is unlinked"
    );
}

fn parts_read_back_and_are_located(arena: &PartArena) {
    let mut w = arena.writer();
    let a = w.copy(&pattern(1, 30_000));
    let b = w.copy(&pattern(2, 30_000));
    assert_eq!(&a[..], &pattern(1, 30_000)[..]);
    assert_eq!(&b[..], &pattern(2, 30_000)[..]);
    let (_, off_a) = arena.locate(&a).expect("in the arena");
    let (_, off_b) = arena.locate(&b).expect("in the arena");
    assert_eq!(
        off_b,
        off_a + 30_000,
        "one stream's parts are packed in its block"
    );
    // A sub-slice (a Range response, an h2 DATA frame) is found at its own offset.
    assert_eq!(
        arena.locate(&b.slice(100..200)).map(|l| l.1),
        Some(off_b + 100)
    );
    assert!(arena.locate(b"not in the arena").is_none());
    assert_eq!(arena.stats().blocks_in_use, 1);
}

#[test]
fn without_o_tmpfile_the_file_is_named_and_removed_at_once() {
    let dir = disk_dir();
    let (a, b) = (
        named_then_unlinked(dir.path()).unwrap(),
        named_then_unlinked(dir.path()).unwrap(),
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    a.write_all_at(b"a", 0).unwrap();
    b.write_all_at(b"b", 0).unwrap();
    let mut got = [0u8; 1];
    a.read_exact_at(&mut got, 0).unwrap();
    assert_eq!(&got, b"a", "two files, not one");
}

#[test]
fn large_parts_and_a_full_arena_fall_back_to_the_heap() {
    let arena = arena(4, None);
    let mut w = arena.writer();
    let big = w.copy(&pattern(3, block() / 2 + 1));
    assert!(arena.locate(&big).is_none());
    assert_eq!(&big[..], &pattern(3, block() / 2 + 1)[..]);
    // 4 blocks take 8 parts of just under half a block (2 per block); the 9th goes to
    // the heap.
    let len = block() / 2 - 1000;
    let kept: Vec<Bytes> = (0..9).map(|i| w.copy(&pattern(i, len))).collect();
    assert!(kept[..8].iter().all(|p| arena.locate(p).is_some()));
    assert!(arena.locate(&kept[8]).is_none());
    for (i, p) in kept.iter().enumerate() {
        assert_eq!(&p[..], &pattern(i as u8, len)[..]);
    }
    assert_eq!(arena.stats().heap_fallbacks, 2);
}

#[test]
fn blocks_are_released_when_their_parts_drop_and_then_reused() {
    let dir = disk_dir();
    for arena in both_kinds(4, &dir) {
        blocks_are_released_and_reused(&arena);
    }
}

fn blocks_are_released_and_reused(arena: &PartArena) {
    let mut w = arena.writer();
    // Many more parts than the arena holds at once, each dropped soon (a ring's life):
    // every one fits, so blocks are being recycled. Parts are a seventh to a fifth of a
    // block, so that they straddle the 4 KiB pages (and any folios) of their block.
    let mut ring = std::collections::VecDeque::new();
    for i in 0..300u32 {
        let data = pattern(i as u8, block() / 7 + (i as usize % 7) * 4099);
        let part = w.copy(&data);
        assert!(arena.locate(&part).is_some(), "part {i} went to the heap");
        ring.push_back((part, data));
        if ring.len() > 4 {
            let (part, data) = ring.pop_front().expect("non-empty");
            assert_eq!(part, data, "a stored part changed before it was dropped");
        }
    }
    assert_eq!(arena.stats().heap_fallbacks, 0);
    assert!(arena.stats().blocks_in_use <= 4);
    drop(ring);
    drop(w);
    assert_eq!(arena.stats().blocks_in_use, 0);
}

#[test]
fn writers_on_many_threads_never_see_each_others_bytes() {
    let dir = disk_dir();
    for arena in both_kinds(64, &dir) {
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let arena = arena.clone();
                s.spawn(move || {
                    let mut w = arena.writer();
                    let mut ring = std::collections::VecDeque::new();
                    for i in 0..2000usize {
                        let data = pattern(
                            t.wrapping_mul(31).wrapping_add(i as u8),
                            1000 + (i * 7919) % 60_000,
                        );
                        let hash = playlists::xxh3_64(&data);
                        let part = w.copy(&data);
                        ring.push_back((part, hash));
                        if ring.len() > 50 {
                            let (part, hash) = ring.pop_front().expect("non-empty");
                            assert_eq!(playlists::xxh3_64(&part), hash);
                        }
                    }
                });
            }
        });
        assert_eq!(arena.stats().blocks_in_use, 0);
        assert_eq!(arena.stats().heap_fallbacks, 0);
    }
}

#[test]
fn blocks_must_be_whole_folios_and_the_directory_must_exist() {
    for block_bytes in [0, 4096, block() + 4096, 1 << 20] {
        let bad = ArenaOptions {
            block_bytes,
            blocks: 1,
            dir: None,
        };
        assert_eq!(
            PartArena::new(bad).map(|_| ()).unwrap_err().kind(),
            io::ErrorKind::InvalidInput,
            "{block_bytes}-byte blocks"
        );
    }
    let missing = ArenaOptions {
        dir: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("no such directory")),
        ..ArenaOptions::default()
    };
    assert_eq!(
        PartArena::new(missing).map(|_| ()).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}

/// Where the data at or after `offset` in the arena's file starts (`SEEK_DATA`), or the
/// file's end when none does.
fn data_from(arena: &PartArena, offset: u64) -> u64 {
    let fd = &arena.inner.file;
    match rustix::fs::seek(fd, rustix::fs::SeekFrom::Data(offset)) {
        Ok(at) => at,
        Err(rustix::io::Errno::NXIO) => arena.inner.len as u64,
        Err(e) => panic!("SEEK_DATA: {e}"),
    }
}

/// Where the hole at or after `offset` in the arena's file starts (`SEEK_HOLE`).
fn hole_from(arena: &PartArena, offset: u64) -> u64 {
    rustix::fs::seek(&arena.inner.file, rustix::fs::SeekFrom::Hole(offset)).expect("SEEK_HOLE")
}

const PAGE: u64 = 4096;

fn down(at: u64) -> u64 {
    at / PAGE * PAGE
}

/// A shared-memory arena whose blocks release 4 KiB pages, or `None` (and a note) where this
/// host lets shared memory use larger folios.
fn arena_releasing_pages() -> Option<PartArena> {
    let arena = arena(2, None);
    if arena.inner.granule != PAGE as usize {
        eprintln!("shared memory may use large folios here: pages are released by block only");
        return None;
    }
    Some(arena)
}

#[test]
fn the_pages_of_expired_parts_are_released_and_those_live_parts_touch_stay() {
    let Some(arena) = arena_releasing_pages() else {
        return;
    };
    let mut w = arena.writer();
    let parts: Vec<(Bytes, Vec<u8>)> = (0..5u8)
        .map(|i| {
            let data = pattern(i, 10_000);
            (w.copy(&data), data)
        })
        .collect();
    let at: Vec<u64> = parts
        .iter()
        .map(|(p, _)| arena.locate(p).expect("in the arena").1)
        .collect();
    let block = at[0];
    let start = |i: usize| at[i] - block;
    assert_eq!(data_from(&arena, block), block, "written pages hold data");
    assert_eq!(hole_from(&arena, block), block + down(50_000 + PAGE - 1));

    // A part in the middle goes while both neighbours live (a slow reader holds part 0):
    // only the pages wholly inside it are released.
    let mut parts: Vec<Option<(Bytes, Vec<u8>)>> = parts.into_iter().map(Some).collect();
    let (s1, s2) = (start(1), start(2));
    parts[1] = None;
    let gap = s1.next_multiple_of(PAGE)..down(s2);
    assert!(!gap.is_empty(), "the test needs a page inside part 1");
    assert_eq!(hole_from(&arena, block), block + gap.start);
    assert_eq!(data_from(&arena, block + gap.start), block + gap.end);

    // The oldest goes: everything below the page where part 2 starts is released.
    parts[0] = None;
    assert_eq!(data_from(&arena, block), block + down(s2));
    for (part, data) in parts.iter().flatten() {
        assert_eq!(
            part, data,
            "a live part changed when its neighbours' pages went"
        );
    }

    // All go while the writer still fills the block: the page it writes next stays.
    let cursor = start(4) + 10_000;
    parts.clear();
    assert_eq!(data_from(&arena, block), block + down(cursor));
    let next = w.copy(&pattern(9, 3000));
    assert_eq!(arena.locate(&next).unwrap().1, block + cursor);
    assert_eq!(next, pattern(9, 3000));
    assert_eq!(arena.stats().blocks_in_use, 1);
    drop((next, w));
    assert_eq!(
        data_from(&arena, block),
        arena.inner.len as u64,
        "the block is free"
    );
}

#[test]
fn a_stream_holds_about_its_window_not_a_block() {
    let Some(arena) = arena_releasing_pages() else {
        return;
    };
    // A small stream: 6 KB parts, a window of 150 of them (30 s of 200 ms parts, 0.9 MB),
    // three blocks' worth published.
    let mut w = arena.writer();
    let mut ring = std::collections::VecDeque::new();
    let window = 150;
    for i in 0..3 * block() / 6000 {
        ring.push_back(w.copy(&pattern(i as u8, 6000)));
        if ring.len() > window {
            ring.pop_front();
        }
    }
    let held: u64 = (0..arena.inner.len as u64 / PAGE)
        .filter(|&p| data_from(&arena, p * PAGE) == p * PAGE)
        .count() as u64
        * PAGE;
    let live = (window * 6000) as u64;
    assert!(
        held <= live + 4 * PAGE,
        "{held} bytes held for a window of {live}"
    );
}

#[test]
fn in_a_part_dir_pages_are_released_only_with_their_block() {
    let dir = disk_dir();
    let arena = arena(2, Some(dir.path()));
    let mut w = arena.writer();
    let first = w.copy(&pattern(1, 100_000));
    let second = w.copy(&pattern(2, 100_000));
    let block = arena.locate(&first).unwrap().1;
    drop(first);
    assert_eq!(
        data_from(&arena, block),
        block,
        "a folio of the file may span both parts"
    );
    assert_eq!(second, pattern(2, 100_000));
    drop((second, w));
    assert_eq!(arena.stats().blocks_in_use, 0);
}

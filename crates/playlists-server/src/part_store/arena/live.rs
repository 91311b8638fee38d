//! [`LiveParts`]: which bytes of one arena block live parts still touch, so that the pages
//! of expired parts can be released before the whole block is.
//!
//! Pure bookkeeping: it says which range may be punched; the arena punches it. Parts of a
//! block are contiguous and handed out in order, and usually expire in that order (a ring
//! drops its oldest part first), but a slow reader may hold an old part's `Bytes` past its
//! successors. So each part is tracked on its own and a range is released only when no live
//! part touches it and no later part can still be written into it.

use std::collections::VecDeque;
use std::ops::Range;

/// The parts of one block, in the order (and at the offsets) they were written.
#[derive(Debug)]
pub(super) struct LiveParts {
    /// The unit released: the largest folio the kernel may cache the block's file in (see
    /// the module doc of the arena), a power of two. Ranges are aligned to it.
    granule: usize,
    /// Parts not yet forgotten, oldest first; the first one, if any, is live.
    parts: VecDeque<Part>,
    /// Number of `parts[0]`.
    first: u64,
    /// Offset (in the block) below which every granule was released.
    released_to: usize,
    /// End of the last part written: a later part starts here, so the granule holding it is
    /// never released while the block is being filled.
    cursor: usize,
}

#[derive(Debug, Clone, Copy)]
struct Part {
    start: usize,
    end: usize,
    live: bool,
}

impl LiveParts {
    /// Bookkeeping for an empty block, releasing whole `granule`s (a power of two).
    pub(super) fn new(granule: usize) -> Self {
        debug_assert!(granule.is_power_of_two());
        Self {
            granule,
            parts: VecDeque::new(),
            first: 0,
            released_to: 0,
            cursor: 0,
        }
    }

    /// Records the next part, `len` bytes at the cursor, as live; returns its number, for
    /// [`LiveParts::expire`]. Call before writing its bytes: from then on no range returned
    /// by `expire` touches them.
    pub(super) fn push(&mut self, len: usize) -> u64 {
        let start = self.cursor;
        self.cursor += len;
        self.parts.push_back(Part {
            start,
            end: self.cursor,
            live: true,
        });
        self.first + (self.parts.len() as u64 - 1)
    }

    /// Part `number` is gone: the range of the block (granule-aligned, possibly empty) that
    /// now no live part touches and no later part can be written into, around it.
    ///
    /// An unknown or already expired number changes nothing and releases nothing.
    pub(super) fn expire(&mut self, number: u64) -> Range<usize> {
        let Some(i) = number
            .checked_sub(self.first)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|&i| self.parts.get(i).is_some_and(|p| p.live))
        else {
            return 0..0;
        };
        self.parts[i].live = false;
        if i == 0 {
            // The oldest live part: forget it and every expired one after it, and release
            // from where the last such release stopped up to the next live part.
            while self.parts.front().is_some_and(|p| !p.live) {
                self.parts.pop_front();
                self.first += 1;
            }
            let next = self.parts.front().map_or(self.cursor, |p| p.start);
            let end = self.down(next);
            let start = self.released_to;
            self.released_to = self.released_to.max(end);
            return start..end.max(start);
        }
        // A part expired before an older one: release the gap between its live neighbours.
        // (`parts[0]` is live, so there is one before it.)
        let below = self.parts.range(..i).rev().find(|p| p.live).map(|p| p.end);
        let above = self.parts.range(i + 1..).find(|p| p.live).map(|p| p.start);
        let start = self.up(below.unwrap_or(self.released_to));
        let end = self.down(above.unwrap_or(self.cursor));
        start..end.max(start)
    }

    fn down(&self, offset: usize) -> usize {
        offset & !(self.granule - 1)
    }

    fn up(&self, offset: usize) -> usize {
        self.down(offset + self.granule - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    #[test]
    fn parts_expiring_in_order_release_up_to_the_oldest_live_one() {
        let mut live = LiveParts::new(PAGE);
        let n: Vec<u64> = (0..4).map(|_| live.push(10_000)).collect();
        // 0..10000, 10000..20000, 20000..30000, 30000..40000.
        assert_eq!(
            live.expire(n[0]),
            0..8192,
            "the page shared with part 1 stays"
        );
        assert_eq!(live.expire(n[1]), 8192..16384);
        assert_eq!(live.expire(n[2]), 16384..28672);
        // The last part: the page the next part will be written into stays.
        assert_eq!(live.expire(n[3]), 28672..36864);
        let m = live.push(100);
        assert_eq!(
            live.expire(m),
            36864..36864,
            "nothing new: one page, not yet full"
        );
        live.push(10_000);
        assert_eq!(live.expire(n[3]), 0..0, "expired twice: nothing");
    }

    #[test]
    fn a_part_expiring_out_of_order_releases_only_its_gap() {
        let mut live = LiveParts::new(PAGE);
        let n: Vec<u64> = (0..4).map(|_| live.push(10_000)).collect();
        // Part 0 is held by a slow reader; part 1 goes: pages wholly inside 10000..20000.
        assert_eq!(live.expire(n[1]), 12288..16384);
        // Part 2 too: now the gap is 10000..30000.
        assert_eq!(live.expire(n[2]), 12288..28672);
        // Part 0 at last: everything up to part 3 (again, which punching allows).
        assert_eq!(live.expire(n[0]), 0..28672);
        assert_eq!(live.expire(n[3]), 28672..36864);
    }

    #[test]
    fn small_parts_sharing_a_page_release_it_only_when_all_are_gone() {
        let mut live = LiveParts::new(PAGE);
        let n: Vec<u64> = (0..6).map(|_| live.push(1500)).collect();
        // 0..1500, ..3000, ..4500, ..6000, ..7500, ..9000: page 0 is parts 0-2, page 1 is 2-5.
        assert!(live.expire(n[1]).is_empty());
        assert!(live.expire(n[0]).is_empty(), "part 2 still touches page 0");
        assert_eq!(live.expire(n[2]), 0..4096);
        assert!(live.expire(n[4]).is_empty());
        assert!(live.expire(n[5]).is_empty(), "page 2 takes the next part");
        assert_eq!(live.expire(n[3]), 4096..8192);
    }

    #[test]
    fn larger_granules_release_whole_aligned_units_only() {
        let two_mib = 2 << 20;
        let mut live = LiveParts::new(two_mib);
        let n: Vec<u64> = (0..8).map(|_| live.push(600_000)).collect();
        assert!(live.expire(n[0]).is_empty());
        assert!(live.expire(n[1]).is_empty());
        assert!(live.expire(n[2]).is_empty(), "part 3 shares the first unit");
        assert_eq!(live.expire(n[3]), 0..two_mib);
    }
}

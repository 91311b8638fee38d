//! [`Splitter`]: an fMP4 byte stream in arbitrary chunks → init sections and fragments.
//!
//! The stream is cut into *units* at two kinds of box, and nowhere else:
//!
//! ```text
//!  ftyp moov │ styp prft moof mdat │ moof mdat │ moof mdat │ ftyp moov │ moof mdat …
//!  └─ init ─┘ └────── part ───────┘ └─ part ──┘ └─ part ──┘ └─ init ─┘ └─ part ──┘
//! ```
//!
//! * a unit that ends with `moov` is an init section: everything since the previous unit
//!   (the `ftyp`, any `free`/`uuid`…) and the `moov`;
//! * a unit that ends with `mdat` is a part: the `moof` right before it, and every box
//!   between the previous unit and that `moof` (`styp`, `prft`, `emsg`, `sidx`, `free`…).
//!   They are kept, not dropped, because they must stay with their `moof` (`emsg` events,
//!   `prft` times, and a per-fragment `sidx` whose offsets count from its own end, which stay
//!   right as long as it stays right before its `moof`), and because keeping the part one
//!   contiguous range of the input is what makes it zero-copy.
//!
//! Boxes after the last `mdat` that never become a unit (an `mfra` index at the end of a
//! file) are dropped at [`finish`](Splitter::finish).
//!
//! **Zero-copy.** A unit that lies within one pushed chunk is handed out as a slice of that
//! chunk (a reference count, no copy). Only a unit that straddles chunks is assembled in a
//! buffer: only the bytes that complete the unit are taken from the next chunk, and the rest
//! of that chunk is sliced again. That is why this walker is hand-written rather
//! than a general MP4 decoder: it reads box headers only, and parses just the `moov` (once)
//! and the `moof` of each part. (`mp4-atom`, the maintained decoder, also needs Rust 1.88
//! where this workspace supports 1.85, and decodes every box into owned structs.)
//!
//! **Bounded.** Every header is checked against [`Limits`] before its body is waited for, so
//! the buffer never holds more than one unit of at most `max_part_size`/`max_init_size`. The
//! buffer grows with the bytes actually received, never to the size a header merely
//! announces: 24 bytes of headers must not make the server allocate 32 MiB per connection.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use crate::fmp4::boxes::{read_header, FourCC, HeaderError};
use crate::fmp4::error::{Fmp4Error, Limits};
use crate::fmp4::fragment::{self, Fragment};
use crate::fmp4::init::{self, Movie};

/// One unit of an fMP4 stream, as the splitter cuts it: an init section or a part.
#[derive(Debug, Clone, PartialEq)]
pub enum Unit {
    /// A new init section. Fragments after it are interpreted with it.
    Init(Arc<Movie>),
    /// A part.
    Fragment(Fragment),
}

/// Splits an fMP4 byte stream, pushed in chunks of any size and alignment.
#[derive(Debug)]
pub struct Splitter {
    walk: Walk,
    /// The bytes of a unit that straddles pushes, from its first byte. Empty otherwise.
    buf: BytesMut,
    /// The init section fragments are read with.
    init: Option<Arc<Movie>>,
    /// Set by the first error; every later call fails with [`Fmp4Error::Failed`].
    failed: bool,
}

/// The walk over the current unit's box headers. Separate from the buffer so the walk can
/// borrow the buffer while it updates itself.
#[derive(Debug)]
struct Walk {
    limits: Limits,
    /// Whether an init section has been seen (a moof needs one).
    has_init: bool,
    /// Stream offset of the current unit's first byte, for error messages.
    unit_offset: u64,
    /// Bytes of the current unit walked so far: complete boxes; the next header starts here.
    pos: usize,
    /// The moof of the current unit, once complete: its range within the unit.
    moof: Option<std::ops::Range<usize>>,
}

/// Where the walk stopped.
enum Scan {
    /// The unit needs this many bytes (from its start) before the walk can go on.
    Need(usize),
    /// The unit is an init section of this length; the moov payload is `moov`.
    Init {
        len: usize,
        moov: std::ops::Range<usize>,
    },
    /// The unit is a part of this length.
    Fragment {
        len: usize,
        moof: std::ops::Range<usize>,
    },
}

impl Walk {
    fn error_at(&self, pos: usize) -> u64 {
        self.unit_offset + pos as u64
    }

    /// Walks `unit` (the current unit's bytes from its start) from `self.pos` on.
    fn scan(&mut self, unit: &[u8]) -> Result<Scan, Fmp4Error> {
        loop {
            let pos = self.pos;
            let rest = &unit[pos..];
            let offset = self.error_at(pos);
            let header = match read_header(rest) {
                Ok(h) => h,
                Err(HeaderError::Incomplete { needed }) => {
                    // The type is in the first 8 bytes: reject garbage before waiting on a
                    // `largesize` it may announce.
                    if let Some(t) = rest.get(4..8) {
                        let fourcc = FourCC([t[0], t[1], t[2], t[3]]);
                        if !fourcc.is_plausible_top_level() {
                            return Err(Fmp4Error::NotIsoBmff { offset, fourcc });
                        }
                    }
                    return Ok(Scan::Need(pos + needed));
                }
                Err(HeaderError::TooSmall { fourcc, size }) => {
                    return Err(if fourcc.is_plausible_top_level() {
                        Fmp4Error::BoxTooSmall {
                            offset,
                            fourcc,
                            size,
                        }
                    } else {
                        Fmp4Error::NotIsoBmff { offset, fourcc }
                    })
                }
            };
            let fourcc = header.fourcc;
            if !fourcc.is_plausible_top_level() {
                return Err(Fmp4Error::NotIsoBmff { offset, fourcc });
            }
            let size = header.size.ok_or(Fmp4Error::SizeToEnd { offset, fourcc })?;
            self.check_order(fourcc, offset)?;
            let end = self.check_size(fourcc, size, pos)?;
            if unit.len() < end {
                return Ok(Scan::Need(end));
            }
            match fourcc {
                FourCC::MOOV => {
                    return Ok(Scan::Init {
                        len: end,
                        moov: pos + header.header_len..end,
                    })
                }
                FourCC::MDAT => {
                    let moof = self.moof.clone().unwrap_or(0..0);
                    return Ok(Scan::Fragment { len: end, moof });
                }
                FourCC::MOOF => self.moof = Some(pos..end),
                _ => {}
            }
            self.pos = end;
        }
    }

    /// The order rules: a moof needs an init section before it and an mdat right after it.
    fn check_order(&self, fourcc: FourCC, offset: u64) -> Result<(), Fmp4Error> {
        match (fourcc, &self.moof) {
            (FourCC::MDAT, None) => Err(Fmp4Error::MdatWithoutMoof { offset }),
            (FourCC::MDAT, Some(_)) => Ok(()),
            (FourCC::MOOF, None) if !self.has_init => Err(Fmp4Error::MoofBeforeMoov { offset }),
            (found, Some(_)) => Err(Fmp4Error::ExpectedMdat { offset, found }),
            _ => Ok(()),
        }
    }

    /// The limits, checked on the header alone; returns the box's end within the unit.
    fn check_size(&self, fourcc: FourCC, size: u64, pos: usize) -> Result<usize, Fmp4Error> {
        let limits = &self.limits;
        if fourcc != FourCC::MDAT && size > limits.max_box_size {
            return Err(Fmp4Error::BoxTooLarge {
                offset: self.error_at(pos),
                fourcc,
                size,
                limit: limits.max_box_size,
            });
        }
        let total = (pos as u64).saturating_add(size);
        let offset = self.unit_offset;
        if fourcc == FourCC::MOOV {
            if total > limits.max_init_size {
                return Err(Fmp4Error::InitTooLarge {
                    offset,
                    size: total,
                    limit: limits.max_init_size,
                });
            }
        } else if total > limits.max_part_size {
            return Err(Fmp4Error::PartTooLarge {
                offset,
                size: total,
                limit: limits.max_part_size,
            });
        }
        usize::try_from(total).map_err(|_| Fmp4Error::PartTooLarge {
            offset,
            size: total,
            limit: limits.max_part_size,
        })
    }

    /// Starts the next unit, `len` bytes after the current one.
    fn next_unit(&mut self, len: usize) {
        self.unit_offset += len as u64;
        self.pos = 0;
        self.moof = None;
    }
}

impl Splitter {
    /// A splitter that enforces `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            walk: Walk {
                limits,
                has_init: false,
                unit_offset: 0,
                pos: 0,
                moof: None,
            },
            buf: BytesMut::new(),
            init: None,
            failed: false,
        }
    }

    /// The current init section, once one has been seen.
    pub fn init(&self) -> Option<&Arc<Movie>> {
        self.init.as_ref()
    }

    /// Capacity of the buffer holding a unit that straddles pushes (what the splitter holds
    /// on to between calls).
    pub fn buffered_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes consumed into complete units so far (the stream offset of the unfinished one).
    pub fn offset(&self) -> u64 {
        self.walk.unit_offset
    }

    /// Takes the next `chunk` of the stream and returns the units it completes, in order.
    ///
    /// After an error the splitter is spent: this and every later call fail
    /// ([`Fmp4Error::Failed`] after the first).
    pub fn push(&mut self, chunk: Bytes) -> Result<Vec<Unit>, Fmp4Error> {
        let mut events = Vec::new();
        self.push_into(chunk, &mut events)?;
        Ok(events)
    }

    /// [`push`](Self::push) into a caller's vector (no allocation when it has room).
    pub fn push_into(&mut self, chunk: Bytes, events: &mut Vec<Unit>) -> Result<(), Fmp4Error> {
        if self.failed {
            return Err(Fmp4Error::Failed);
        }
        let result = self.split(chunk, events);
        if result.is_err() {
            self.failed = true;
            self.buf = BytesMut::new();
        }
        result
    }

    fn split(&mut self, mut chunk: Bytes, events: &mut Vec<Unit>) -> Result<(), Fmp4Error> {
        // A unit begun in an earlier chunk: copy just enough of this one to complete it.
        while !self.buf.is_empty() {
            match self.walk.scan(&self.buf)? {
                Scan::Need(n) => {
                    let want = n - self.buf.len();
                    let take = want.min(chunk.len());
                    self.buf.extend_from_slice(&chunk[..take]);
                    chunk.advance(take);
                    if take < want {
                        return Ok(());
                    }
                }
                done => {
                    let unit = self.buf.split().freeze();
                    self.emit(unit, done, events)?;
                }
            }
        }
        // Units wholly inside this chunk are slices of it.
        while !chunk.is_empty() {
            match self.walk.scan(&chunk)? {
                Scan::Need(_) => {
                    self.buf.extend_from_slice(&chunk);
                    return Ok(());
                }
                done => {
                    let len = match &done {
                        Scan::Init { len, .. } | Scan::Fragment { len, .. } => *len,
                        Scan::Need(_) => 0,
                    };
                    let unit = chunk.split_to(len);
                    self.emit(unit, done, events)?;
                }
            }
        }
        Ok(())
    }

    fn emit(&mut self, unit: Bytes, scan: Scan, events: &mut Vec<Unit>) -> Result<(), Fmp4Error> {
        let offset = self.walk.unit_offset;
        let malformed = |source| Fmp4Error::Malformed { offset, source };
        let len = unit.len();
        match scan {
            Scan::Init { moov, .. } => {
                let init = Arc::new(init::parse(unit, moov).map_err(malformed)?);
                self.walk.has_init = true;
                self.init = Some(Arc::clone(&init));
                events.push(Unit::Init(init));
            }
            Scan::Fragment { moof, .. } => {
                // `has_init` was checked when the moof header was read.
                let init = self
                    .init
                    .as_ref()
                    .ok_or(Fmp4Error::MoofBeforeMoov { offset })?;
                let fragment = fragment::parse(unit, moof, init).map_err(malformed)?;
                events.push(Unit::Fragment(fragment));
            }
            Scan::Need(_) => return Ok(()),
        }
        self.walk.next_unit(len);
        Ok(())
    }

    /// Ends the stream. Complete boxes that never became a unit (an `mfra` after the last
    /// fragment) are dropped; a box cut off in the middle is [`Fmp4Error::Truncated`].
    pub fn finish(&mut self) -> Result<(), Fmp4Error> {
        if self.failed {
            return Err(Fmp4Error::Failed);
        }
        if self.walk.pos < self.buf.len() {
            let err = Fmp4Error::Truncated {
                offset: self.walk.unit_offset,
                pending: self.buf.len() as u64,
            };
            // Spent like after any other error: it must not hold on to the partial unit
            // (up to `max_part_size` bytes) for as long as the caller keeps it.
            self.failed = true;
            self.buf = BytesMut::new();
            return Err(err);
        }
        self.buf.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `fmp4_splitter` fuzz target: a `Truncated` error at `finish` left the
    /// partial unit buffered, unlike every error from `push`.
    #[test]
    fn truncated_at_finish_releases_the_buffer() {
        let mut s = Splitter::new(Limits::default());
        // An ftyp header announcing 100 bytes, and 20 of them.
        let mut partial = vec![0, 0, 0, 100];
        partial.extend_from_slice(b"ftyp");
        partial.extend_from_slice(&[0; 12]);
        assert!(s.push(Bytes::from(partial)).unwrap().is_empty());
        assert!(s.buffered_capacity() >= 20);
        assert_eq!(
            s.finish(),
            Err(Fmp4Error::Truncated {
                offset: 0,
                pending: 20
            })
        );
        assert_eq!(s.buffered_capacity(), 0);
        assert_eq!(s.finish(), Err(Fmp4Error::Failed));
    }
}

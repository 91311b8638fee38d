//! The box walker: ISO/IEC 14496-12 §4.2 box headers and a bounds-checked field reader, and
//! the bridge to mp4-atom for the fields of the init section's boxes.
//!
//! Everything here works on borrowed slices and never copies or allocates: a box is a header
//! (`size`, `type`, optional 64-bit `largesize`) and a byte range, and walking a container is
//! reading one header after the other. Every length read from the input is checked against
//! the bytes actually present before it is used, so a lying size gives an error, not a panic
//! or an allocation.
//!
//! Two things stay hand-written here although the mp4-atom crate decodes the same boxes:
//!
//! * **The walk of containers** (`moov`, `trak`, … `stsd`, the sample entries). mp4-atom
//!   decodes a container by decoding every child it knows, recursively and with no depth
//!   bound, so a few hundred nested boxes (8 bytes each) overflow a thread's stack and abort
//!   the process: measured with 0.17.0 on a 2 MiB stack, a `trak` nested ~300 deep in a
//!   release build, ~50 deep in a debug build. The walk below has a fixed depth, and only
//!   boxes without children go to mp4-atom ([`decode_flat`]).
//! * **The `moof` of every part** (`fragment.rs`, `rewrite.rs`): the hot path. This walker
//!   reads the few fields a playlist needs in place, where mp4-atom's `Moof` builds a `Vec`
//!   per `traf`, per `trun` and of the `trun`'s samples. On the demo clip's parts
//!   (`benches/fmp4.rs`, `fmp4/moof_decode`, both in the same run) ours takes 291 ns per
//!   `moof` and mp4-atom's decode alone 1114 ns, before any duration or flag is derived.

use std::fmt;

/// A four-character code (ISO/IEC 14496-12 §4.2 `type`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCC(pub [u8; 4]);

impl FourCC {
    /// `ftyp`: file type, the first box of an init section.
    pub const FTYP: Self = Self(*b"ftyp");
    /// `moov`: the movie box, the metadata of every track.
    pub const MOOV: Self = Self(*b"moov");
    /// `moof`: a movie fragment's metadata.
    pub const MOOF: Self = Self(*b"moof");
    /// `mdat`: media data.
    pub const MDAT: Self = Self(*b"mdat");
    /// `prft`: producer reference time (wall clock of a media time).
    pub const PRFT: Self = Self(*b"prft");

    /// Whether every byte is printable ASCII.
    pub fn is_printable(self) -> bool {
        self.0.iter().all(|b| (0x20..0x7f).contains(b))
    }

    /// Whether this can be the type of a top-level box: ASCII letters, digits and spaces.
    /// ISO/IEC 14496-12 lets any 32-bit value through, but every registered top-level box
    /// (`ftyp`, `moov`, `moof`, `mdat`, `styp`, `sidx`, `prft`, `emsg`, `free`, `uuid`, …)
    /// is such a code; a stream whose "type" is not is not ISO BMFF at all (an MPEG-TS
    /// packet, an HTML error page), and saying so beats reporting an absurd size.
    pub fn is_plausible_top_level(self) -> bool {
        self.0
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b' ')
    }
}

impl fmt::Display for FourCC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_printable() {
            // Printable ASCII is valid UTF-8.
            f.write_str(std::str::from_utf8(&self.0).unwrap_or("????"))
        } else {
            write!(f, "0x{:08x}", u32::from_be_bytes(self.0))
        }
    }
}

impl fmt::Debug for FourCC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FourCC({self})")
    }
}

/// A box header as read from the bytes (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    /// The box type.
    pub fourcc: FourCC,
    /// The whole box's size in bytes, header included. `None` for `size == 0` ("extends to the
    /// end of the file"), which only a finished file can use.
    pub size: Option<u64>,
    /// Header length: 8, or 16 with a 64-bit `largesize`.
    pub header_len: usize,
}

/// What reading a box header can find wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than `needed` bytes are present.
    Incomplete {
        /// Bytes the header needs.
        needed: usize,
    },
    /// The declared size is smaller than the header itself (sizes 2–7, or a largesize < 16).
    TooSmall {
        /// The box type.
        fourcc: FourCC,
        /// The declared size.
        size: u64,
    },
}

/// Reads the header at the start of `bytes`.
///
/// Returns [`HeaderError::Incomplete`] when `bytes` is too short to tell (8 bytes, or 16 when
/// `size == 1` announces a `largesize`), so a streaming caller knows how much to wait for.
pub fn read_header(bytes: &[u8]) -> Result<BoxHeader, HeaderError> {
    let Some(head) = bytes.get(..8) else {
        return Err(HeaderError::Incomplete { needed: 8 });
    };
    let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let fourcc = FourCC([head[4], head[5], head[6], head[7]]);
    let (size, header_len) = match size32 {
        0 => (None, 8),
        1 => {
            let Some(large) = bytes.get(8..16) else {
                return Err(HeaderError::Incomplete { needed: 16 });
            };
            let mut b = [0u8; 8];
            b.copy_from_slice(large);
            (Some(u64::from_be_bytes(b)), 16)
        }
        n => (Some(u64::from(n)), 8),
    };
    if let Some(size) = size {
        if size < header_len as u64 {
            return Err(HeaderError::TooSmall { fourcc, size });
        }
    }
    Ok(BoxHeader {
        fourcc,
        size,
        header_len,
    })
}

/// A complete box inside a parent's payload: its type and its payload (header stripped).
#[derive(Debug, Clone, Copy)]
pub struct Atom<'a> {
    /// The box type.
    pub fourcc: FourCC,
    /// The bytes after the header.
    pub payload: &'a [u8],
    /// Offset of the box's first byte within the walked slice.
    pub offset: usize,
}

/// Why a box nested in a moov/moof could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{fourcc}: {reason}")]
pub struct Malformed {
    /// The box that is wrong.
    pub fourcc: FourCC,
    /// What is wrong with it.
    pub reason: String,
}

impl Malformed {
    /// A `Malformed` for `fourcc`.
    pub fn new(fourcc: FourCC, reason: impl Into<String>) -> Self {
        Self {
            fourcc,
            reason: reason.into(),
        }
    }
}

/// Decodes the payload of a box without child boxes (`tkhd`, `mdhd`, `hdlr`, `trex`, `avcC`,
/// `hvcC`, `av1C`, `vpcC`, `esds`) with mp4-atom. Only such boxes are handed to it: its
/// container decoding recurses without bound (see the module docs). Bytes after the fields
/// mp4-atom reads are ignored, as a reader of a later version of the box must (ISO/IEC
/// 14496-12 §4.2: fields may be added at the end).
pub fn decode_flat<T: mp4_atom::Atom>(payload: &[u8]) -> Result<T, Malformed> {
    T::decode_body(&mut &payload[..])
        .map_err(|err| atom_error(FourCC(T::KIND.into()), err, payload.len()))
}

/// A [`Malformed`] for `fourcc`, whose payload is `len` bytes, from an mp4-atom error,
/// worded like this module's own.
pub fn atom_error(fourcc: FourCC, err: mp4_atom::Error, len: usize) -> Malformed {
    use mp4_atom::Error as E;
    let reason = match err {
        E::OutOfBounds | E::OverDecode(_) => {
            format!("too short for its fields: payload is {len} bytes")
        }
        E::UnknownVersion(v) => format!("version {v} is not supported"),
        E::UnknownQuicktimeVersion(v) => format!("sound description version {v} is not supported"),
        E::MissingDescriptor(tag) => format!("has no {} (tag {tag})", descriptor(tag)),
        E::UnexpectedDescriptor(tag) => format!("unexpected {} (tag {tag})", descriptor(tag)),
        other => other.to_string(),
    };
    Malformed::new(fourcc, reason)
}

/// The name of an ISO/IEC 14496-1 §7.2.2.1 descriptor tag an `esds` holds.
fn descriptor(tag: u8) -> &'static str {
    match tag {
        3 => "ES_Descriptor",
        4 => "DecoderConfigDescriptor",
        5 => "DecoderSpecificInfo",
        6 => "SLConfigDescriptor",
        _ => "descriptor",
    }
}

/// Iterates the child boxes of a container's payload. Nested boxes always have their whole
/// bytes present (the container was received whole), so a child that claims more than its
/// parent holds is [`Malformed`], as is `size == 0` (ISO/IEC 14496-12 allows it only for a
/// top-level box).
#[derive(Debug, Clone)]
pub struct Children<'a> {
    parent: FourCC,
    bytes: &'a [u8],
    pos: usize,
}

/// The children of `parent`, whose payload is `bytes`.
pub fn children(parent: FourCC, bytes: &[u8]) -> Children<'_> {
    Children {
        parent,
        bytes,
        pos: 0,
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Atom<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.bytes.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let result = match read_header(rest) {
            Err(HeaderError::Incomplete { needed }) => Err(Malformed::new(
                self.parent,
                format!(
                    "{} trailing bytes at offset {} are not a box header ({needed} needed)",
                    rest.len(),
                    self.pos
                ),
            )),
            Err(HeaderError::TooSmall { fourcc, size }) => Err(Malformed::new(
                self.parent,
                format!("child {fourcc} declares size {size}, smaller than its header"),
            )),
            Ok(BoxHeader {
                fourcc, size: None, ..
            }) => Err(Malformed::new(
                self.parent,
                format!("child {fourcc} has size 0 (to end of file), not allowed inside a box"),
            )),
            Ok(BoxHeader {
                fourcc,
                size: Some(size),
                header_len,
            }) => match usize::try_from(size).ok().filter(|&s| s <= rest.len()) {
                None => Err(Malformed::new(
                    self.parent,
                    format!(
                        "child {fourcc} declares {size} bytes but only {} remain",
                        rest.len()
                    ),
                )),
                Some(size) => {
                    let atom = Atom {
                        fourcc,
                        payload: &rest[header_len..size],
                        offset: self.pos,
                    };
                    self.pos += size;
                    Ok(atom)
                }
            },
        };
        if result.is_err() {
            // One error ends the walk: nothing after a broken header can be located.
            self.pos = self.bytes.len();
        }
        Some(result)
    }
}

/// The first child of type `fourcc`, if any.
pub fn find<'a>(
    parent: FourCC,
    payload: &'a [u8],
    fourcc: FourCC,
) -> Result<Option<Atom<'a>>, Malformed> {
    for child in children(parent, payload) {
        let child = child?;
        if child.fourcc == fourcc {
            return Ok(Some(child));
        }
    }
    Ok(None)
}

/// The first child of type `fourcc`, or a [`Malformed`] naming what is missing.
pub fn require<'a>(
    parent: FourCC,
    payload: &'a [u8],
    fourcc: FourCC,
) -> Result<Atom<'a>, Malformed> {
    find(parent, payload, fourcc)?
        .ok_or_else(|| Malformed::new(parent, format!("has no {fourcc} box")))
}

/// A cursor over a box payload that reads big-endian fields; every read is bounds-checked
/// and a short payload is a [`Malformed`] naming the box and the field.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    fourcc: FourCC,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads the payload of a `fourcc` box.
    pub fn new(fourcc: FourCC, bytes: &'a [u8]) -> Self {
        Self {
            fourcc,
            bytes,
            pos: 0,
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Malformed> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Malformed::new(
                self.fourcc,
                format!(
                    "too short for {field}: needs {n} bytes at offset {}, payload is {}",
                    self.pos,
                    self.bytes.len()
                ),
            ));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize, field: &'static str) -> Result<(), Malformed> {
        self.take(n, field).map(|_| ())
    }

    /// A big-endian u32.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, Malformed> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A big-endian u64.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, Malformed> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A full box's `version` (8 bits) and `flags` (24 bits) (§4.2).
    pub fn version_flags(&mut self) -> Result<(u8, u32), Malformed> {
        let v = self.u32("version and flags")?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The unread rest of the payload.
    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    /// A [`Malformed`] about this box.
    pub fn error(&self, reason: impl Into<String>) -> Malformed {
        Malformed::new(self.fourcc, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fmp4::testutil::boxed;

    #[test]
    fn header_sizes() {
        let b = boxed(b"free", &[1, 2, 3]);
        let h = read_header(&b).unwrap();
        assert_eq!(h.fourcc, FourCC(*b"free"));
        assert_eq!(h.size, Some(11));
        assert_eq!(h.header_len, 8);

        // size 1: a 64-bit largesize follows.
        let mut large = vec![0, 0, 0, 1];
        large.extend_from_slice(b"mdat");
        large.extend_from_slice(&20u64.to_be_bytes());
        assert_eq!(
            read_header(&large[..12]),
            Err(HeaderError::Incomplete { needed: 16 })
        );
        let h = read_header(&large).unwrap();
        assert_eq!((h.size, h.header_len), (Some(20), 16));

        // size 0: to the end.
        let h = read_header(&[0, 0, 0, 0, b'm', b'd', b'a', b't']).unwrap();
        assert_eq!(h.size, None);

        // 2^64 - 1 is representable; the caller's limits reject it.
        let mut huge = vec![0, 0, 0, 1];
        huge.extend_from_slice(b"mdat");
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(read_header(&huge).unwrap().size, Some(u64::MAX));
    }

    #[test]
    fn sizes_below_the_header_are_rejected() {
        for size in 2u32..8 {
            let mut b = size.to_be_bytes().to_vec();
            b.extend_from_slice(b"moof");
            assert!(matches!(
                read_header(&b),
                Err(HeaderError::TooSmall { size: s, .. }) if s == u64::from(size)
            ));
        }
        let mut b = vec![0, 0, 0, 1];
        b.extend_from_slice(b"mdat");
        b.extend_from_slice(&15u64.to_be_bytes());
        assert!(matches!(
            read_header(&b),
            Err(HeaderError::TooSmall { size: 15, .. })
        ));
        assert_eq!(
            read_header(&[0; 7]),
            Err(HeaderError::Incomplete { needed: 8 })
        );
    }

    #[test]
    fn children_walk_and_reject_overlong_children() {
        let mut payload = boxed(b"mfhd", &[0, 0, 0, 0, 0, 0, 0, 7]);
        payload.extend(boxed(b"traf", &[]));
        let kids: Vec<_> = children(FourCC::MOOF, &payload)
            .map(|c| c.unwrap().fourcc)
            .collect();
        assert_eq!(kids, [FourCC(*b"mfhd"), FourCC(*b"traf")]);

        // A child claiming more than the parent holds.
        let mut bad = boxed(b"mfhd", &[0; 8]);
        bad[3] = 200;
        let err = children(FourCC::MOOF, &bad).next().unwrap().unwrap_err();
        assert!(err.reason.contains("declares 200 bytes"), "{err}");

        // Trailing bytes that are not a header, and size 0 inside a container.
        let mut trailing = boxed(b"free", &[]);
        trailing.extend_from_slice(&[0, 0, 0]);
        let all: Vec<_> = children(FourCC::MOOF, &trailing).collect();
        assert!(all[0].is_ok() && all[1].is_err() && all.len() == 2);
        let zero = [0, 0, 0, 0, b't', b'r', b'a', b'f'];
        assert!(children(FourCC::MOOF, &zero).next().unwrap().is_err());
    }

    #[test]
    fn reader_is_bounds_checked() {
        let mut r = Reader::new(FourCC(*b"tfdt"), &[1, 0, 0, 0, 0, 0]);
        assert_eq!(r.version_flags().unwrap(), (1, 0));
        let err = r.u64("baseMediaDecodeTime").unwrap_err();
        assert!(err.reason.contains("baseMediaDecodeTime"), "{err}");
        assert_eq!(r.take(2, "x").unwrap(), [0, 0]);
        assert!(r.take(usize::MAX, "huge").is_err());
    }

    #[test]
    fn fourcc_display_escapes_binary() {
        assert_eq!(FourCC(*b"moof").to_string(), "moof");
        assert_eq!(FourCC([0x47, 0x40, 0x11, 0x10]).to_string(), "0x47401110");
    }
}

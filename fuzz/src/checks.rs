//! What each fuzz target runs on one input, and the invariants it asserts.
//!
//! This file is shared: the cargo-fuzz targets call it through the `playlists-fuzz` library,
//! and `crates/playlists-server/tests/fuzz_corpus_replay.rs` includes it with `#[path]` and
//! runs every corpus file through it on stable Rust. So CI checks the committed corpus with
//! exactly the code libFuzzer ran, and this file uses only the server crate's public API.
//!
//! Every check must return normally for *every* input: malformed input is expected to give
//! a typed error, and a panic (the parser's own, or a failed `assert!` here) is a finding.
//! Parameters a check needs besides the bytes (chunk sizes, limits, sequence numbers) are
//! derived from a hash of the input, so the corpus files are plain inputs (fMP4, or text for
//! [`request`]) and one input always runs the same way.
//!
//! Input formats, per target:
//! * [`splitter`]: an fMP4 byte stream (init sections and parts, as an encoder sends them).
//! * [`init`]: the payload of a `moov` box (the bytes after its 8-byte header).
//! * [`fragment`] and [`rewrite`]: one selector byte choosing a known-good init section
//!   (see [`init_sections`]), then the bytes of one part (`styp`/`prft`…, `moof`, `mdat`).
//! * [`flv_packager`]: RTMP audio/video messages (see `checks_packager.rs`).
//! * [`ts_packager`]: an MPEG-TS byte stream (see `checks_ts.rs`).
//! * [`request`]: a request target as text, `path[?query]` (not fMP4: the HTTP request
//!   parsers, `Route::parse` and `parse_directives`; see `checks_request.rs`).
//! * [`rtmp_session`]: a selector byte, then an RTMP peer's bytes (the RTMP source's
//!   sans-IO connection; see `checks_rtmp.rs`).

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use playlists_server::fmp4::boxes::{children, read_header};
use playlists_server::fmp4::codecs::describe;
use playlists_server::fmp4::rewrite::shift_fragment;
use playlists_server::fmp4::{
    fragment as fragment_mod, init as init_mod, Fmp4Error, FourCC, Fragment, Limits, Movie,
    Splitter, TrackKind, Unit,
};

// The request checks live in a file of their own; the path is spelled out so that it
// resolves the same when the corpus replay test includes this file with `#[path]`.
#[path = "checks_request.rs"]
mod request_checks;
pub use request_checks::request;
#[path = "checks_packager.rs"]
mod packager_checks;
pub use packager_checks::flv_packager;
#[path = "checks_ts.rs"]
mod ts_checks;
pub use ts_checks::ts_packager;
#[path = "checks_rtmp.rs"]
mod rtmp_checks;
pub use rtmp_checks::rtmp_session;

/// What a `BytesMut` may keep allocated beyond twice the bytes it was given: `bytes`
/// reallocates a recycled buffer to its original capacity, at most 64 KiB; 128 KiB leaves
/// room for allocator rounding.
const BUFFER_SLACK: usize = 128 << 10;

/// Inputs up to this size are also pushed one byte at a time (every header split at every
/// byte); larger ones would make each run slow without reaching new code.
const BYTEWISE_MAX: usize = 2048;

/// FNV-1a: a cheap, stable hash of the input that seeds everything a check derives.
fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// xorshift64*: deterministic chunk sizes from the input's hash.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A chunk length: mostly header-sized (to split headers and largesizes), sometimes
    /// large, as HTTP bodies arrive.
    fn chunk_len(&mut self) -> usize {
        let r = self.next();
        let max = [8u64, 64, 1024, 65536][(r % 4) as usize];
        (1 + (r >> 8) % max) as usize
    }
}

/// How one run cuts the input into pushes.
#[derive(Debug, Clone, Copy)]
enum Chunking {
    Whole,
    Bytewise,
    Random(u64),
}

/// What one run of the splitter produced.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Unit>,
    /// The first error, from a push or from `finish`.
    result: Result<(), Fmp4Error>,
    /// `Splitter::offset` at the end: where the unfinished (or failed) unit starts.
    offset: u64,
}

/// Splits `data` (an fMP4 stream) in several chunkings derived from the input: they must all
/// give the same events and the same error, every unit must be a slice of the input in
/// order and within [`Limits`], and the buffer must grow only with bytes received. Tight
/// limits derived from the input must stop at a limit error or give the same result.
pub fn splitter(data: &[u8]) {
    let h = hash(data);
    let whole = run_splitter(data, Limits::default(), Chunking::Whole);
    let mut chunkings = vec![Chunking::Random(h), Chunking::Random(h.rotate_left(32))];
    if data.len() <= BYTEWISE_MAX {
        chunkings.push(Chunking::Bytewise);
    }
    for chunking in chunkings {
        let other = run_splitter(data, Limits::default(), chunking);
        assert_eq!(other, whole, "{chunking:?} differs from a single push");
    }

    // Limits small enough for real fragments to break them.
    let tight = Limits {
        max_box_size: 16 + (h >> 8) % 4096,
        max_part_size: 16 + (h >> 24) % 16384,
        max_init_size: 16 + (h >> 40) % 4096,
    };
    let limited = run_splitter(data, tight.clone(), Chunking::Random(!h));
    assert!(
        whole.events.starts_with(&limited.events),
        "tight limits changed the units before the limit"
    );
    match &limited.result {
        Err(e) if e.is_limit() => {}
        _ => assert_eq!(limited, whole, "tight limits {tight:?} changed a result"),
    }
}

fn run_splitter(data: &[u8], limits: Limits, chunking: Chunking) -> Outcome {
    let input = Bytes::copy_from_slice(data);
    let mut splitter = Splitter::new(limits.clone());
    let mut events = Vec::new();
    let mut result = Ok(());
    let mut at = 0;
    let mut rng = Rng::new(match chunking {
        Chunking::Random(seed) => seed,
        _ => 1,
    });
    while at < input.len() {
        let n = match chunking {
            Chunking::Whole => input.len(),
            Chunking::Bytewise => 1,
            Chunking::Random(_) => rng.chunk_len(),
        }
        .min(input.len() - at);
        result = splitter.push_into(input.slice(at..at + n), &mut events);
        at += n;
        // The buffer holds at most the unit being received: it must never be sized by what a
        // header announces (a 16-byte header can announce 16 EiB).
        assert!(
            splitter.buffered_capacity() <= 2 * at + BUFFER_SLACK,
            "buffer capacity {} after {at} bytes",
            splitter.buffered_capacity()
        );
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = splitter.finish();
    }
    if let Err(e) = &result {
        assert_ne!(
            *e,
            Fmp4Error::Failed,
            "the first error must say what failed"
        );
        assert!(!e.to_string().is_empty());
        check_error(e, data.len() as u64, &limits);
        // A failed splitter stays failed.
        assert_eq!(
            splitter.push(Bytes::from_static(b"\0")),
            Err(Fmp4Error::Failed)
        );
        assert_eq!(splitter.finish(), Err(Fmp4Error::Failed));
        assert_eq!(
            splitter.buffered_capacity(),
            0,
            "a failed splitter keeps its buffer"
        );
    }
    let offset = splitter.offset();
    check_units(data, &events, offset, &limits);
    Outcome {
        events,
        result,
        offset,
    }
}

/// An error's offsets lie in the stream, and a limit error reports a size above its limit.
fn check_error(e: &Fmp4Error, len: u64, limits: &Limits) {
    match *e {
        Fmp4Error::NotIsoBmff { offset, .. }
        | Fmp4Error::SizeToEnd { offset, .. }
        | Fmp4Error::BoxTooSmall { offset, .. }
        | Fmp4Error::MoofBeforeMoov { offset }
        | Fmp4Error::MdatWithoutMoof { offset }
        | Fmp4Error::ExpectedMdat { offset, .. }
        | Fmp4Error::Malformed { offset, .. } => assert!(offset < len, "{e}"),
        Fmp4Error::Truncated { offset, pending } => {
            // Everything after the unit's start is buffered, so it is all pending.
            assert_eq!(offset + pending, len, "{e}");
        }
        Fmp4Error::BoxTooLarge { size, limit, .. } => {
            assert!(limit == limits.max_box_size && size > limit, "{e}")
        }
        Fmp4Error::PartTooLarge { size, limit, .. } => {
            assert!(limit == limits.max_part_size && size > limit, "{e}")
        }
        Fmp4Error::InitTooLarge { size, limit, .. } => {
            assert!(limit == limits.max_init_size && size > limit, "{e}")
        }
        _ => {}
    }
}

/// The units are the input's bytes `..offset` in order, each within the limits, made of
/// whole boxes and ending as the splitter documents (init: `moov`; part: `moof` `mdat`).
fn check_units(data: &[u8], events: &[Unit], offset: u64, limits: &Limits) {
    let mut at = 0usize;
    let mut init: Option<&Movie> = None;
    for event in events {
        let (bytes, last) = match event {
            Unit::Init(i) => {
                check_init(i);
                assert!(i.init.bytes.len() as u64 <= limits.max_init_size);
                init = Some(i);
                (&i.init.bytes, FourCC::MOOV)
            }
            Unit::Fragment(f) => {
                let i = init.expect("a fragment before any init section");
                check_fragment(f, i);
                assert!(f.bytes.len() as u64 <= limits.max_part_size);
                (&f.bytes, FourCC::MDAT)
            }
        };
        assert_eq!(
            data.get(at..at + bytes.len()),
            Some(&bytes[..]),
            "unit at {at} is not the input's next bytes"
        );
        at += bytes.len();
        let boxes = top_level_boxes(bytes).expect("a unit made of whole boxes");
        let types: Vec<FourCC> = boxes.iter().map(|b| b.0).collect();
        assert_eq!(types.last(), Some(&last));
        if last == FourCC::MDAT {
            assert_eq!(types.get(types.len().wrapping_sub(2)), Some(&FourCC::MOOF));
        }
        // Only the unit's last box (init) or last two (part) are moov, moof or mdat.
        let structural = [FourCC::MOOV, FourCC::MOOF, FourCC::MDAT];
        let ends = if last == FourCC::MOOV { 1 } else { 2 };
        assert_eq!(
            types.iter().filter(|t| structural.contains(t)).count(),
            ends,
            "{types:?}"
        );
        for (fourcc, range) in &boxes {
            if *fourcc != FourCC::MDAT {
                assert!(range.len() as u64 <= limits.max_box_size);
            }
        }
    }
    assert_eq!(
        at as u64, offset,
        "units do not end where the splitter stands"
    );
}

/// The top-level boxes of `bytes` (type and byte range), if it is exactly whole boxes.
fn top_level_boxes(bytes: &[u8]) -> Option<Vec<(FourCC, std::ops::Range<usize>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let h = read_header(&bytes[pos..]).ok()?;
        let size = usize::try_from(h.size?).ok()?;
        let end = pos.checked_add(size).filter(|&e| e <= bytes.len())?;
        out.push((h.fourcc, pos..end));
        pos = end;
    }
    Some(out)
}

/// What a parsed init section guarantees.
fn check_init(init: &Movie) {
    assert!(!init.tracks.is_empty());
    let primary = init.primary_track();
    let first_video = init.tracks.iter().position(|t| t.kind == TrackKind::Video);
    assert_eq!(init.primary, first_video.unwrap_or(0));
    let codecs: Vec<&str> = init.tracks.iter().map(|t| t.codec.as_str()).collect();
    assert_eq!(init.init.codecs, codecs.join(","));
    for t in &init.tracks {
        assert!(t.timescale > 0);
        assert!(!t.codec.is_empty());
        if t.kind != TrackKind::Video {
            assert_eq!(t.resolution, None);
        }
    }
    if primary.kind == TrackKind::Video {
        assert_eq!(init.init.resolution, primary.resolution);
    } else {
        assert_eq!((init.init.resolution, init.init.frame_rate), (None, None));
    }
    if let Some(rate) = init.init.frame_rate {
        assert!(rate.is_finite() && rate >= 0.0, "frame rate {rate}");
    }
}

/// What a parsed fragment guarantees, read with `init`.
fn check_fragment(f: &Fragment, init: &Movie) {
    assert_eq!(f.timing.timescale, init.primary_track().timescale);
    assert!(f.timing.duration > 0);
    assert!(f.tracks.iter().any(|t| t.sample_count > 0));
    for t in &f.tracks {
        assert!(init.track(t.track_id).is_some(), "track {}", t.track_id);
    }
    let ids: std::collections::HashSet<u32> = f.tracks.iter().map(|t| t.track_id).collect();
    assert_eq!(ids.len(), f.tracks.len(), "one TrackRun per track");
    if let Some(rate) = f.frame_rate(init) {
        assert!(rate.is_finite() && rate >= 0.0, "frame rate {rate}");
    }
}

/// Parses `data` as a `moov` payload; a success must keep the [`Movie`] guarantees and
/// equal what the splitter makes of the same `moov` in a stream. Also walks `data` as nested
/// boxes, and reads it as the body of sample entries of every supported codec.
pub fn init(data: &[u8]) {
    let direct = init_mod::parse(Bytes::copy_from_slice(data), 0..data.len());
    if let Ok(i) = &direct {
        check_init(i);
    }
    if let Ok(size) = u32::try_from(data.len() + 8) {
        let mut stream = size.to_be_bytes().to_vec();
        stream.extend_from_slice(b"moov");
        stream.extend_from_slice(data);
        let split = playlists_server::fmp4::split_all(Bytes::from(stream), Limits::default());
        match (&direct, split) {
            (Ok(i), Ok(events)) => match events.as_slice() {
                [Unit::Init(s)] => {
                    assert_eq!(
                        (
                            &s.tracks,
                            s.primary,
                            &s.init.codecs,
                            s.init.resolution,
                            s.init.frame_rate
                        ),
                        (
                            &i.tracks,
                            i.primary,
                            &i.init.codecs,
                            i.init.resolution,
                            i.init.frame_rate
                        )
                    )
                }
                other => panic!("one moov gave {} events", other.len()),
            },
            (Err(m), Err(Fmp4Error::Malformed { offset: 0, source })) => assert_eq!(*m, source),
            (_, Err(e)) if e.is_limit() => {}
            (direct, split) => panic!("parse gave {direct:?}, the splitter {split:?}"),
        }
    }
    walk(data, 0);
    let handlers = [*b"vide", *b"soun", *b"subt"];
    let mut entries: Vec<[u8; 4]> = [
        b"avc1", b"avc3", b"hvc1", b"hev1", b"av01", b"vp09", b"mp4a", b"Opus", b"encv", b"enca",
    ]
    .map(|e| *e)
    .to_vec();
    if let Some(first) = data.get(..4) {
        entries.push([first[0], first[1], first[2], first[3]]);
    }
    for handler in handlers {
        for &entry in &entries {
            if let Ok(info) = describe(FourCC(entry), data, FourCC(handler)) {
                assert_eq!(info.entry, FourCC(entry));
                assert!(!info.codec.is_empty());
                if let Some((w, h)) = info.resolution {
                    assert!(&handler == b"vide" && w > 0 && h > 0);
                }
            }
        }
    }
}

/// Walks `payload` as a container, recursively: every child is a sub-slice of it, in order,
/// and the walk stops at the first error.
fn walk(payload: &[u8], depth: usize) {
    if depth > 6 {
        return;
    }
    let mut next = 0;
    let mut failed = false;
    for child in children(FourCC(*b"test"), payload) {
        assert!(!failed, "the walk went on after an error");
        match child {
            Ok(atom) => {
                assert!(atom.offset >= next, "children out of order");
                let start = atom.payload.as_ptr() as usize - payload.as_ptr() as usize;
                assert!(start > atom.offset && start + atom.payload.len() <= payload.len());
                next = start + atom.payload.len();
                walk(atom.payload, depth + 1);
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                failed = true;
            }
        }
    }
}

/// The init sections [`fragment`] and [`rewrite`] read parts with: those of the committed
/// ffmpeg fixtures and of the demo clip, in this order (selector byte modulo 6):
/// h264, h264_aac, hevc, av1, opus, demo.
pub fn init_sections() -> &'static [Arc<Movie>] {
    static INITS: OnceLock<Vec<Arc<Movie>>> = OnceLock::new();
    INITS.get_or_init(|| {
        let fixtures: [&'static [u8]; 6] = [
            include_bytes!("../../crates/playlists-server/tests/fixtures/h264.mp4"),
            include_bytes!("../../crates/playlists-server/tests/fixtures/h264_aac.mp4"),
            include_bytes!("../../crates/playlists-server/tests/fixtures/hevc.mp4"),
            include_bytes!("../../crates/playlists-server/tests/fixtures/av1.mp4"),
            include_bytes!("../../crates/playlists-server/tests/fixtures/opus.mp4"),
            playlists_server::ingest::sources::demo::DEMO_CLIP,
        ];
        fixtures
            .iter()
            .map(|bytes| {
                let mut splitter = Splitter::new(Limits::default());
                let mut events = Vec::new();
                // The fixtures are known good; only the init section is needed.
                let _ = splitter.push_into(Bytes::from_static(bytes), &mut events);
                match events.first() {
                    Some(Unit::Init(init)) => Arc::clone(init),
                    _ => panic!("a fixture without an init section"),
                }
            })
            .collect()
    })
}

/// Splits a `[selector][part]` input: the init section it selects, and the part's bytes.
fn select(data: &[u8]) -> Option<(&'static Arc<Movie>, &[u8])> {
    let (&selector, part) = data.split_first()?;
    let inits = init_sections();
    Some((&inits[usize::from(selector) % inits.len()], part))
}

/// The part as the splitter reads it after its init section: `Some` when it is exactly one
/// fragment and the stream ends cleanly.
fn split_part(init: &Movie, part: &[u8]) -> Option<Fragment> {
    let mut stream = init.init.bytes.to_vec();
    stream.extend_from_slice(part);
    let outcome = run_splitter(&stream, Limits::default(), Chunking::Whole);
    match (outcome.result, outcome.events.as_slice()) {
        (Ok(()), [Unit::Init(_), Unit::Fragment(f)]) if f.bytes.len() == part.len() => {
            Some(f.clone())
        }
        _ => None,
    }
}

/// The range of the first top-level `moof` of `part`, header included.
fn first_moof(part: &[u8]) -> Option<std::ops::Range<usize>> {
    let mut pos = 0;
    while pos < part.len() {
        let h = read_header(&part[pos..]).ok()?;
        let end = pos.checked_add(usize::try_from(h.size?).ok()?)?;
        if h.fourcc == FourCC::MOOF {
            return Some(pos..end.min(part.len()));
        }
        pos = end;
    }
    None
}

/// Reads a `[selector][part]` input with a known-good init section: through the splitter,
/// and with `fragment::parse` directly on the first `moof` and on an arbitrary range. Every
/// success keeps the [`Fragment`] guarantees, and the two ways agree on a well-cut part.
pub fn fragment(data: &[u8]) {
    let Some((init, part)) = select(data) else {
        return;
    };
    let split = split_part(init, part);
    let bytes = Bytes::copy_from_slice(part);
    if let Some(moof) = first_moof(part) {
        let direct = fragment_mod::parse(bytes.clone(), moof, init);
        if let Ok(f) = &direct {
            check_fragment(f, init);
        }
        if let Some(f) = split {
            assert_eq!(direct, Ok(f), "parse and the splitter disagree");
        }
    }
    // Any range, as a caller with a wrong range would pass: an error, never a panic.
    let h = hash(data);
    let len = part.len() as u64 + 1;
    let (a, b) = ((h % len) as usize, ((h >> 32) % len) as usize);
    if let Ok(f) = fragment_mod::parse(bytes, a..b, init) {
        check_fragment(&f, init);
    }
}

/// Rewrites a `[selector][part]` input with sequence numbers and shifts derived from it: the
/// length never changes, a failure changes nothing, a success changes bytes only inside the
/// `moof`, and a part that parsed before parses after with the new sequence number and every
/// track's decode time shifted.
pub fn rewrite(data: &[u8]) {
    let Some((init, part)) = select(data) else {
        return;
    };
    let h = hash(data);
    let sequence = h as u32;
    // Edge values often (the largest overflow any tfdt), else any magnitude: small shifts
    // succeed, large ones overflow version 0 tfdts.
    let shift = match h % 8 {
        0 => 0,
        1 => u64::MAX,
        2 => u64::MAX - (h >> 40),
        3 => u64::from(u32::MAX),
        4 => 1 << 32,
        _ => h.rotate_left(23) >> (h % 64),
    };

    // A shift per track, as the demo uses: only the no-panic and no-partial-write rules.
    let mut bytes = part.to_vec();
    if shift_fragment(&mut bytes, sequence, |id| u64::from(id).wrapping_mul(shift)).is_err() {
        assert_eq!(bytes, part, "a failed rewrite changed bytes");
    }

    let mut bytes = part.to_vec();
    let result = shift_fragment(&mut bytes, sequence, |_| shift);
    assert_eq!(bytes.len(), part.len());
    if result.is_err() {
        assert_eq!(bytes, part, "a failed rewrite changed bytes");
        return;
    }
    let moof = first_moof(part).expect("a rewrite succeeded without a moof");
    for (i, (new, old)) in bytes.iter().zip(part).enumerate() {
        assert!(
            new == old || moof.contains(&i),
            "byte {i} outside the moof changed"
        );
    }
    let Some(before) = split_part(init, part) else {
        return;
    };
    let after = split_part(init, &bytes).expect("a rewritten part no longer parses");
    assert_eq!(after.sequence_number, sequence);
    assert_eq!(after.tracks.len(), before.tracks.len());
    for (a, b) in after.tracks.iter().zip(&before.tracks) {
        assert_eq!(a.decode_time, b.decode_time.wrapping_add(shift));
        assert_eq!(
            (a.track_id, a.duration, a.sample_count, a.first_sync),
            (b.track_id, b.duration, b.sample_count, b.first_sync)
        );
    }
    assert_eq!(
        (after.timing.duration, after.timing.independent),
        (before.timing.duration, before.timing.independent)
    );
}

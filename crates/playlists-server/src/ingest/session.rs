//! [`IngestSession`]: one encoder connection, from bytes to published parts.
//!
//! A redundant session ([`Ownership::Redundant`]) publishes a fragment only when it is past
//! what the stream published (see [`sessions`](super::sessions)); the rest is taken and
//! dropped, so a backup encoder is accepted as long as it keeps sending. It also remembers
//! its stream's CMAF header for sessions that start with a segment
//! ([`resume_track`](IngestSession::resume_track)), refuses a header without an audio or
//! video track ([`IngestError::UnsupportedMedia`]), and ends the stream after a segment whose
//! `styp` has the `lmsg` brand (the DASH-IF last segment of a track).

use std::sync::Arc;

use bytes::Bytes;
use playlists::{Init, Part};

use super::restamp::unix_now_ms;
use super::sessions::{EncoderTime, Owners, StreamIngest};
use super::{IngestError, Ingests, Ownership};
use crate::fmp4::{has_brand, Fmp4Error, FourCC, Fragment, Movie, Splitter, TrackKind, Unit};
use crate::part_store::PartWriter;
use crate::sync::lock;

/// One encoder connection: feed it bytes as they arrive, then [`finish`](Self::finish) it.
/// Dropping a session without finishing it (a dropped connection) counts as a disconnect.
/// After any error the session is spent: later calls fail with [`IngestError::Closed`].
#[derive(Debug)]
pub struct IngestSession {
    ingests: Arc<Ingests>,
    stream: String,
    /// This session's id, compared with [`StreamIngest::owner`].
    id: u64,
    shared: Arc<StreamIngest>,
    splitter: Splitter,
    /// Where this session's parts are copied (its own arena blocks, so that parts which
    /// expire together are freed together).
    storage: PartWriter,
    /// The current init section and what the library needs of it.
    init: Option<Arc<Movie>>,
    /// An init section not yet handed to the library: it goes with the next part (the
    /// library takes init sections only with parts; repeating an unchanged one is free there,
    /// since it compares hashes, but this way it is sent once per session and change).
    pending_init: Option<Arc<Movie>>,
    parts: u64,
    /// Fragments taken, published or (redundant copies) dropped.
    fragments: u64,
    /// Redundant: fragments are deduplicated against the stream's other sessions.
    redundant: bool,
    /// Where this session's own encoder timeline ends (the last fragment it sent), to tell a
    /// restarted encoder from a late copy.
    own_end: Option<EncoderTime>,
    /// A segment with the `lmsg` brand was received: the stream ends with this session.
    last_segment: bool,
    failed: bool,
    ended: bool,
}

/// How far behind what was published a redundant session's fragments are dropped as copies
/// even when its own timeline jumped there: DASH-IF §5.2 lets an encoder that reconnects
/// resend the segment it was sending, and recommends segments of at most 6 s; twice that.
/// Further back, the sole session of a stream is an encoder that restarted its clock, and
/// its fragments start a new run (a discontinuity, as for any encoder restart). A session
/// knows only its own request: with one POST per segment every request's first fragment
/// counts as a jump, so a backup encoder lagging more than the window that is left alone
/// is taken for a restart there (a long-running POST is told apart by its own timeline).
const RESEND_WINDOW_MS: u64 = 12_000;

/// The `styp` brand of the last segment of a track (DASH-IF ingest §5.2 item 18).
const LMSG: FourCC = FourCC(*b"lmsg");

impl IngestSession {
    pub(super) fn new(
        ingests: Arc<Ingests>,
        stream: &str,
        id: u64,
        shared: Arc<StreamIngest>,
        splitter: Splitter,
        storage: PartWriter,
        ownership: Ownership,
    ) -> Self {
        Self {
            ingests,
            stream: stream.to_owned(),
            id,
            shared,
            splitter,
            storage,
            init: None,
            pending_init: None,
            parts: 0,
            fragments: 0,
            redundant: ownership == Ownership::Redundant,
            own_end: None,
            last_segment: false,
            failed: false,
            ended: false,
        }
    }

    /// The stream this session publishes.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Parts published by this session so far.
    pub fn parts(&self) -> u64 {
        self.parts
    }

    /// Fragments taken so far: published, or dropped as a redundant copy of what the stream
    /// holds. Counts as progress for the stall limit.
    pub fn fragments(&self) -> u64 {
        self.fragments
    }

    /// Continues the track with its stream's last CMAF header, for a session whose input
    /// starts with a segment (DASH-IF per-segment POSTs: the header came in an earlier
    /// request). Redundant sessions only.
    ///
    /// # Errors
    /// [`IngestError::NoHeader`] when the stream has no header (none received, or its ingest
    /// state expired with its grace period).
    pub fn resume_track(&mut self) -> Result<(), IngestError> {
        let header = lock(&self.shared.header).clone();
        let header = header
            .filter(|_| self.redundant)
            .ok_or_else(|| IngestError::NoHeader(self.stream.clone()))?;
        self.push(header).map(drop)
    }

    /// Splits `chunk` (any size, any alignment) and publishes every complete fragment.
    /// Returns the number of parts published by this call.
    pub fn push(&mut self, chunk: Bytes) -> Result<u64, IngestError> {
        if self.failed {
            return Err(IngestError::Closed(self.stream.clone()));
        }
        let result = self.push_inner(chunk);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn push_inner(&mut self, chunk: Bytes) -> Result<u64, IngestError> {
        // The wall clock (not tokio's, which tests may pause): the delay is real work.
        let received = std::time::Instant::now();
        self.shared.touch(self.ingests.now_ms());
        let mut events = Vec::new();
        let split = self.splitter.push_into(chunk, &mut events);
        let before = self.parts;
        // Units completed before bad bytes in the same chunk are published before the error
        // is returned: what a stream keeps must not depend on how the transport happened to
        // cut the input into chunks.
        for event in events {
            match event {
                Unit::Init(init) => {
                    if self.redundant {
                        self.check_media(&init)?;
                        *lock(&self.shared.header) = Some(init.init.bytes.clone());
                    }
                    self.init = Some(Arc::clone(&init));
                    self.pending_init = Some(init);
                }
                Unit::Fragment(fragment) => {
                    self.fragments += 1;
                    if self.publish(fragment)? {
                        self.shared.publish_delay.observe(received.elapsed());
                    }
                }
            }
        }
        split.map_err(|e| self.fmp4_error(e))?;
        Ok(self.parts - before)
    }

    /// A DASH-IF track is one audio or video track (a text or metadata track has nothing an
    /// HLS rendition could carry here).
    fn check_media(&self, movie: &Movie) -> Result<(), IngestError> {
        match movie.primary_track().kind {
            TrackKind::Video | TrackKind::Audio => Ok(()),
            TrackKind::Other(handler) => Err(IngestError::UnsupportedMedia {
                stream: self.stream.clone(),
                reason: format!("a `{handler}` track; only audio and video tracks are served"),
            }),
        }
    }

    /// Whether a redundant session drops `fragment` (encoder time `start`) as a copy of what
    /// the stream holds: it starts before the end of the last one published, unless it is
    /// the restart of the stream's only encoder, far behind (see [`RESEND_WINDOW_MS`]).
    fn is_held(&self, owners: &Owners, start: EncoderTime, jumped: bool) -> bool {
        let Some(end) = owners
            .published_end
            .filter(|end| end.timescale == start.timescale)
        else {
            return false;
        };
        if start.decode >= end.decode {
            return false;
        }
        let behind_ms =
            u128::from(end.decode - start.decode) * 1000 / u128::from(start.timescale.max(1));
        let restart = jumped && owners.is_sole(self.id) && behind_ms > u128::from(RESEND_WINDOW_MS);
        !restart
    }

    /// Publishes `fragment`; `Ok(false)` when a redundant session dropped it as a copy.
    fn publish(&mut self, mut fragment: Fragment) -> Result<bool, IngestError> {
        // The splitter never yields a fragment before an init section.
        let Some(current) = self.init.clone() else {
            return Err(self.fmp4_error(Fmp4Error::MoofBeforeMoov { offset: 0 }));
        };
        // Held from the restamp to the add: the stream's restamping run is shared by its
        // sessions (an encoder that reconnects with its timestamps continuing keeps its
        // shift), so only the owner may move it.
        let shared = Arc::clone(&self.shared);
        let mut owners = shared.owners();
        if !owners.holds(self.id) {
            return Err(IngestError::Superseded(self.stream.clone()));
        }
        // On the encoder's timeline, before restamping: the copies of two redundant encoders
        // are compared as they sent them, and their restamped times agree because only the
        // published copy moves the stream's restamping run.
        let timing = fragment.timing;
        let start = EncoderTime {
            timescale: timing.timescale,
            decode: timing.decode_time,
        };
        let end = EncoderTime {
            decode: timing.decode_time.saturating_add(timing.duration),
            ..start
        };
        if self.redundant {
            if has_brand(&fragment.bytes, LMSG) {
                self.last_segment = true;
            }
            let jumped = self.own_end != Some(start);
            self.own_end = Some(end);
            if self.is_held(&owners, start, jumped) {
                return Ok(false);
            }
        }
        // Renditions of a group too: their runs share one anchor per group, so they keep the
        // media timeline their alignment relies on (docs/conformance.md R26).
        if self.ingests.config().restamp {
            restamp(&shared, &self.stream, &current, &mut fragment);
        }
        // The init section goes whole; only a frame rate the `moov` did not tell is filled in,
        // measured on this first fragment after it.
        let init = self.pending_init.as_ref().map(|movie| Init {
            frame_rate: movie
                .init
                .frame_rate
                .or_else(|| fragment.frame_rate(&current)),
            ..movie.init.clone()
        });
        let part = Part {
            // One copy into part storage. The splitter hands out slices of the transport's
            // buffers (zero-copy while parsing), but a stored part lives for minutes in the
            // ring, and a slice would keep the whole read buffer it came from alive: over HTTP
            // that was ~1.8× the payload in RSS. A memcpy per part is a few µs next to the
            // render and gzip of its playlist, and in the arena it buys copy-free sends.
            bytes: self.storage.copy(&fragment.bytes),
            timing: fragment.timing,
            init,
        };
        self.ingests
            .playlists()
            .add(&self.stream, part)
            .map_err(|source| IngestError::Publish {
                stream: self.stream.clone(),
                source,
            })?;
        owners.published_end = Some(end);
        drop(owners);
        self.pending_init = None;
        self.parts += 1;
        Ok(true)
    }

    fn fmp4_error(&self, source: Fmp4Error) -> IngestError {
        IngestError::Fmp4 {
            stream: self.stream.clone(),
            source,
        }
    }

    /// Ends the session at the end of its input: a box left half-received is an error. Either
    /// way the stream enters its grace period. Returns the parts this session published.
    pub fn finish(mut self) -> Result<u64, IngestError> {
        self.ended = true;
        self.disconnect();
        if self.failed {
            return Err(IngestError::Closed(self.stream.clone()));
        }
        self.splitter.finish().map_err(|e| self.fmp4_error(e))?;
        Ok(self.parts)
    }
}

/// Puts `fragment` on the wall clock ([`IngestConfig::restamp`](super::IngestConfig::restamp)),
/// its bytes into a patched copy: the splitter's are a slice of the transport's buffer.
fn restamp(shared: &StreamIngest, stream: &str, movie: &Movie, fragment: &mut Fragment) {
    let mut restamp = lock(&shared.restamp);
    if !restamp.is_on() {
        return;
    }
    let mut bytes = fragment.bytes.to_vec();
    match restamp.apply(movie, fragment, &mut bytes, unix_now_ms) {
        Ok(true) => fragment.bytes = bytes.into(),
        Ok(false) => {}
        Err(reason) => tracing::info!(
            %stream,
            %reason,
            "the stream keeps the encoder's timestamps: they cannot be put on the wall clock"
        ),
    }
}

impl Drop for IngestSession {
    fn drop(&mut self) {
        if !self.ended {
            self.disconnect();
        }
    }
}

impl IngestSession {
    /// The session is over: the stream ends now if it received its last segment (`lmsg`),
    /// and its grace period starts if no other session sends it.
    fn disconnect(&self) {
        if self.last_segment {
            self.ingests.end_track(&self.stream);
        }
        self.ingests.disconnected(&self.stream, self.id);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use playlists::{Options, Playlists};

    use super::*;
    use crate::fmp4::testutil::{boxed, fragment, init_segment, TestTrack, TestTraf};
    use crate::ingest::{Access, IngestConfig};
    use crate::part_store::PartStore;

    /// Ticks of 200 ms at 48 kHz: fragment `i` starts at `i * STEP`.
    const STEP: u64 = 9600;

    fn ingests() -> (Arc<Playlists>, Arc<Ingests>) {
        let playlists = Arc::new(Playlists::new(Options::default()).unwrap());
        let ingests = Ingests::new(
            Arc::clone(&playlists),
            PartStore::heap(),
            IngestConfig::default(),
        );
        (playlists, ingests)
    }

    fn header() -> Bytes {
        init_segment(&[TestTrack::audio(1, 48000)]).into()
    }

    /// Audio fragment `i` (200 ms; audio, so every fragment is independent).
    fn frag(i: u64) -> Bytes {
        fragment(i as u32 + 1, &[TestTraf::new(1, i * STEP, 2, 4800)]).into()
    }

    fn redundant(ingests: &Arc<Ingests>, stream: &str) -> IngestSession {
        let mut s = ingests
            .start_as(stream, Access::Local, Ownership::Redundant)
            .unwrap();
        s.push(header()).unwrap();
        s
    }

    fn parts(playlists: &Playlists, stream: &str) -> u64 {
        playlists
            .stream(stream)
            .unwrap()
            .status()
            .unwrap()
            .parts_published
    }

    #[tokio::test]
    async fn a_resent_fragment_is_held_and_a_sole_encoder_restarting_far_behind_starts_over() {
        let (playlists, ingests) = ingests();
        let mut a = redundant(&ingests, "solo");
        for i in 0..70 {
            assert_eq!(a.push(frag(i)).unwrap(), 1);
        }
        // The segment it was sending, resent after a reconnect (0.2 s behind): held.
        assert_eq!(a.push(frag(69)).unwrap(), 0);
        // Its clock restarted at 0, 14 s behind (beyond the resend window): a new run.
        assert_eq!(a.push(frag(0)).unwrap(), 1);
        assert_eq!(a.push(frag(1)).unwrap(), 1);
        assert_eq!(a.fragments(), 73);
        assert_eq!(parts(&playlists, "solo"), 72);
    }

    #[tokio::test]
    async fn a_lagging_copy_is_held_even_once_it_is_alone() {
        let (playlists, ingests) = ingests();
        let (mut a, mut b) = (redundant(&ingests, "pp/t"), redundant(&ingests, "pp/t"));
        for i in 0..70 {
            a.push(frag(i)).unwrap();
        }
        // b runs 14 s late: its copies are held while a sends...
        assert_eq!(b.push(frag(0)).unwrap(), 0);
        drop(a);
        // ...and still once a is gone: its timeline continues, it is a copy, not a restart.
        assert_eq!(b.push(frag(1)).unwrap(), 0);
        for i in 2..70 {
            assert_eq!(b.push(frag(i)).unwrap(), 0, "fragment {i}");
        }
        // Past what a published, b carries the stream on.
        assert_eq!(b.push(frag(70)).unwrap(), 1);
        assert_eq!(parts(&playlists, "pp/t"), 71);
    }

    #[tokio::test]
    async fn the_last_segment_ends_the_stream_once_whichever_copy_comes_first() {
        let (playlists, ingests) = ingests();
        let (mut a, mut b) = (redundant(&ingests, "pp/t"), redundant(&ingests, "pp/t"));
        let lmsg = |i| {
            let styp = boxed(b"styp", b"msdh\0\0\0\0msdhlmsg");
            Bytes::from([styp, frag(i).to_vec()].concat())
        };
        for i in 0..5 {
            a.push(frag(i)).unwrap();
            b.push(frag(i)).unwrap();
        }
        assert_eq!(a.push(lmsg(5)).unwrap(), 1);
        assert!(
            !playlists.stream("pp/t").unwrap().status().unwrap().ended,
            "a segment may have more chunks: the stream ends with the request"
        );
        a.finish().unwrap();
        assert!(playlists.stream("pp/t").unwrap().status().unwrap().ended);
        // The other copy of the last segment is held: the stream does not start over.
        assert_eq!(b.push(lmsg(5)).unwrap(), 0);
        b.finish().unwrap();
        let status = playlists.stream("pp/t").unwrap().status().unwrap();
        assert!(status.ended);
        assert_eq!(status.parts_published, 6);
    }

    #[tokio::test]
    async fn redundant_and_exclusive_sessions_never_share_a_stream() {
        let (_playlists, ingests) = ingests();
        let a = redundant(&ingests, "s");
        let b = redundant(&ingests, "s");
        let err = ingests.start("s", Access::Local).unwrap_err();
        assert!(matches!(err, IngestError::Busy(_)), "{err}");
        drop((a, b));
        let plain = ingests.start("s", Access::Local).unwrap();
        let err = ingests
            .start_as("s", Access::Local, Ownership::Redundant)
            .unwrap_err();
        assert!(matches!(err, IngestError::Busy(_)), "{err}");
        drop(plain);
    }

    #[tokio::test]
    async fn a_segment_needs_a_header_posted_before() {
        let (_playlists, ingests) = ingests();
        let mut s = ingests
            .start_as("pp/t", Access::Local, Ownership::Redundant)
            .unwrap();
        assert!(matches!(s.resume_track(), Err(IngestError::NoHeader(_))));
        drop(s);
        let mut first = redundant(&ingests, "pp/t");
        first.push(frag(0)).unwrap();
        first.finish().unwrap();
        // Within the grace period the stream keeps its header for the next request.
        let mut next = ingests
            .start_as("pp/t", Access::Local, Ownership::Redundant)
            .unwrap();
        next.resume_track().unwrap();
        assert_eq!(next.push(frag(1)).unwrap(), 1);
    }
}

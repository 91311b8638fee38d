//! [`IngestSession`]: one encoder connection, from bytes to published parts.

use std::sync::Arc;

use bytes::Bytes;
use playlists::{Init, Part};

use super::restamp::unix_now_ms;
use super::sessions::StreamIngest;
use super::{IngestError, Ingests};
use crate::fmp4::{Fmp4Error, Fragment, Movie, Splitter, Unit};
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
    failed: bool,
    ended: bool,
}

impl IngestSession {
    pub(super) fn new(
        ingests: Arc<Ingests>,
        stream: &str,
        id: u64,
        shared: Arc<StreamIngest>,
        splitter: Splitter,
        storage: PartWriter,
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
                    self.init = Some(Arc::clone(&init));
                    self.pending_init = Some(init);
                }
                Unit::Fragment(fragment) => {
                    self.publish(fragment)?;
                    self.shared.publish_delay.observe(received.elapsed());
                }
            }
        }
        split.map_err(|e| self.fmp4_error(e))?;
        Ok(self.parts - before)
    }

    fn publish(&mut self, mut fragment: Fragment) -> Result<(), IngestError> {
        // The splitter never yields a fragment before an init section.
        let Some(current) = self.init.clone() else {
            return Err(self.fmp4_error(Fmp4Error::MoofBeforeMoov { offset: 0 }));
        };
        // Held from the restamp to the add: the stream's restamping run is shared by its
        // sessions (an encoder that reconnects with its timestamps continuing keeps its
        // shift), so only the owner may move it.
        let shared = Arc::clone(&self.shared);
        let owner = shared.owner();
        if *owner != self.id {
            return Err(IngestError::Superseded(self.stream.clone()));
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
        drop(owner);
        self.pending_init = None;
        self.parts += 1;
        Ok(())
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
        self.ingests.disconnected(&self.stream, self.id);
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
            self.ingests.disconnected(&self.stream, self.id);
        }
    }
}

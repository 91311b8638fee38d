//! [`IngestConfig`]: how ingest behaves, the same for every source.

use std::time::Duration;

use super::Credentials;
use crate::fmp4::Limits;

/// How ingest behaves; shared by every source.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// How long a stream stays live after its encoder disconnects, waiting for a reconnect.
    /// Default 10 s.
    pub grace: Duration,
    /// How long a connected encoder may send nothing before a new connection for its stream
    /// replaces it. Default 3 s (fifteen 200 ms parts).
    pub takeover_after: Duration,
    /// A network source whose input completes no part for this long is cut off (a trickling
    /// or stalled encoder holds a connection and up to a part of buffer). Default 30 s.
    pub stall_after: Duration,
    /// Size limits for the fMP4 parser.
    pub limits: Limits,
    /// What a network source must present to publish (the server-wide token, or a publish
    /// key derived from the secret; HTTP: `Authorization: Bearer <key>` or `?token=<key>`);
    /// none configured, anyone may. Local sources (stdin, the demo) need none.
    pub credentials: Credentials,
    /// Put every stream's media timeline on the wall clock: each fragment's `tfdt` is shifted
    /// so that decode time / timescale is its sample's date in seconds since the Unix epoch
    /// (see [`Restamp`](super::Restamp)). A stream that starts again (an encoder or origin
    /// restart) then continues after its old timestamps instead of starting over at the
    /// encoder's 0, which players that kept playing need. Renditions of a group
    /// (`group/rendition`) share one anchor per group, so they keep the shared timeline their
    /// alignment relies on (docs/conformance.md R26). Default on; off keeps the encoder's
    /// timestamps (`--keep-timestamps`).
    pub restamp: bool,
    /// Publishers may ask for an EVENT playlist (`playlist_type=event`): the origin records,
    /// so the segments an event lists past the live window can be served. Default off.
    pub events: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            takeover_after: Duration::from_secs(3),
            stall_after: Duration::from_secs(30),
            limits: Limits::default(),
            credentials: Credentials::default(),
            restamp: true,
            events: false,
        }
    }
}

//! What kind of playlist a publisher asks its run to be: `playlist_type=event` in its URL's
//! query (HTTP and CMAF push), its stream key's (RTMP) or its stream id's (SRT) makes the run
//! an EVENT playlist (`EXT-X-PLAYLIST-TYPE:EVENT`, §4.4.3.5): every segment listed from its
//! start. Segments past the live window are served from the recording, so this needs one.

use std::sync::Arc;

use super::{Access, IngestError, IngestSession, Ingests, Ownership};

/// What a query of `stream`'s publisher asks for: `Ok(true)` for `playlist_type=event`,
/// `Ok(false)` without `playlist_type`.
///
/// # Errors
/// [`IngestError::PlaylistType`] for any other type (`vod` is what a recording becomes once
/// it ends, not something a live run can be).
pub fn event_from_query(stream: &str, query: &str) -> Result<bool, IngestError> {
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("playlist_type="));
    match value {
        None => Ok(false),
        Some("event") => Ok(true),
        Some(other) => Err(IngestError::PlaylistType {
            stream: stream.to_owned(),
            asked: other.chars().take(32).collect(),
        }),
    }
}

impl Ingests {
    /// [`admit_as`](Self::admit_as), for a run its publisher asked to be an EVENT playlist
    /// (`event`) or not. The choice is made per admission: the next run of the stream is an
    /// event or not, and a run that goes on after a reconnect keeps what it started as.
    ///
    /// # Errors
    /// [`IngestError::EventNeedsRecording`] when `event` is asked of an origin that does not
    /// record ([`IngestConfig::events`](super::IngestConfig::events)); else as
    /// [`admit_as`](Self::admit_as).
    pub async fn admit_run(
        self: &Arc<Self>,
        stream: &str,
        access: Access<'_>,
        ownership: Ownership,
        event: bool,
    ) -> Result<IngestSession, IngestError> {
        if event && !self.config().events {
            return Err(IngestError::EventNeedsRecording(stream.to_owned()));
        }
        let session = self.admit_as(stream, access, ownership).await?;
        self.playlists().set_event(stream, event);
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_event_is_a_type_a_publisher_may_ask_for() {
        let event = |query| event_from_query("cam", query);
        assert_eq!(event("token=k").ok(), Some(false));
        assert_eq!(event("").ok(), Some(false));
        assert_eq!(event("token=k&playlist_type=event").ok(), Some(true));
        let err = event("playlist_type=vod").unwrap_err();
        assert_eq!(err.kind(), crate::ingest::IngestErrorKind::BadInput);
        assert!(err.to_string().contains("`vod`"), "{err}");
    }
}

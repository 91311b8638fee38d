//! [`publish_name`]: the stream an RTMP publish request names, and the credential it carries.
//!
//! RTMP splits a URL in two: the *app*, sent with `connect`, and the *stream key* (ffmpeg's
//! "playpath"), sent with `publish`. The stream is the two joined with `/`, so the names are
//! HTTP ingest's:
//!
//! | encoder | app | key | stream |
//! |---|---|---|---|
//! | ffmpeg `rtmp://host/live/720p` | `live` | `720p` | `live/720p` |
//! | OBS, server `rtmp://host/live`, key `720p` | `live` | `720p` | `live/720p` |
//! | ffmpeg `rtmp://host/cam1` | `cam1` | empty | `cam1` |
//!
//! The credential is the `token` parameter of a query on the key (`720p?token=KEY`: OBS
//! sends its stream key field as is, ffmpeg the URL's query as part of the key), or on the
//! app when the key is empty (ffmpeg's one-component URL `rtmp://host/cam1?token=KEY`).
//! `playlist_type=event` in the same query makes the run an EVENT playlist, as for HTTP
//! ingest (`720p?token=KEY&playlist_type=event`).

use std::borrow::Cow;

use crate::ingest::{event_from_query, token_from_query};

/// The stream a publish request names and the credential it presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishName {
    /// The stream to publish (`name` or `group/rendition`); its validity is the ingest
    /// layer's to judge, as for every source.
    pub stream: String,
    /// The `token` of the query, percent-decoded. Never logged.
    pub token: Option<String>,
    /// The query asks for an EVENT playlist (`playlist_type=event`).
    pub event: bool,
}

/// Why a publish request names no stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Neither the app nor the stream key names anything.
    #[error("the publish request names no stream (an empty app and stream key)")]
    Empty,
    /// The query asks for a playlist type that is not `event` (the ingest layer's words).
    #[error("{0}")]
    PlaylistType(String),
}

/// The stream `app` and `key` name (see the module docs) and the credential of their query.
///
/// # Errors
/// [`NameError::Empty`] when both are empty once their queries are cut off;
/// [`NameError::PlaylistType`] for a `playlist_type` other than `event`.
pub fn publish_name(app: &str, key: &str) -> Result<PublishName, NameError> {
    let (app, app_query) = split_query(app);
    let (key, key_query) = split_query(key);
    let app = app.trim_matches('/');
    let key = key.trim_matches('/');
    let stream = match (app.is_empty(), key.is_empty()) {
        (true, true) => return Err(NameError::Empty),
        (false, true) => app.to_owned(),
        (true, false) => key.to_owned(),
        (false, false) => format!("{app}/{key}"),
    };
    let token = key_query
        .and_then(token_from_query)
        .or_else(|| app_query.and_then(token_from_query))
        .map(Cow::into_owned);
    let event = [key_query, app_query]
        .into_iter()
        .flatten()
        .map(|query| event_from_query(&stream, query))
        .try_fold(false, |any, event| event.map(|e| any || e))
        .map_err(|e| NameError::PlaylistType(e.to_string()))?;
    Ok(PublishName {
        stream,
        token,
        event,
    })
}

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(app: &str, key: &str) -> (String, Option<String>) {
        let n = publish_name(app, key).unwrap();
        (n.stream, n.token)
    }

    #[test]
    fn app_and_key_join_into_the_http_ingest_name() {
        assert_eq!(name("live", "720p"), ("live/720p".into(), None));
        assert_eq!(name("cam1", ""), ("cam1".into(), None));
        assert_eq!(name("", "cam1"), ("cam1".into(), None));
        assert_eq!(name("live/", "/720p"), ("live/720p".into(), None));
        assert_eq!(publish_name("", ""), Err(NameError::Empty));
        assert_eq!(publish_name("/", "?token=t"), Err(NameError::Empty));
        // The ingest layer judges the rest (three components, reserved group, …).
        assert_eq!(name("a/b", "c").0, "a/b/c");
    }

    #[test]
    fn the_token_comes_from_the_key_or_else_the_app() {
        assert_eq!(
            name("live", "720p?token=k1"),
            ("live/720p".into(), Some("k1".into()))
        );
        assert_eq!(
            name("cam1?token=k2", ""),
            ("cam1".into(), Some("k2".into()))
        );
        assert_eq!(
            name("live?token=app", "720p?x=1&token=a%2Bb"),
            ("live/720p".into(), Some("a+b".into())),
            "the key's wins"
        );
        assert_eq!(name("live", "720p?mytoken=k").1, None);
        assert_eq!(name("live", "720p?token=%zz").1, None);
    }

    #[test]
    fn an_event_run_is_asked_in_the_key_or_the_app_query() {
        let event = |app, key| publish_name(app, key).map(|n| n.event);
        assert_eq!(event("live", "720p?token=k&playlist_type=event"), Ok(true));
        assert_eq!(event("show?playlist_type=event", ""), Ok(true));
        assert_eq!(event("live", "720p?token=k"), Ok(false));
        let Err(NameError::PlaylistType(reason)) = event("live", "720p?playlist_type=vod") else {
            panic!("a VOD run is refused");
        };
        assert!(
            reason.contains("`vod`") && reason.contains("live/720p"),
            "{reason}"
        );
    }
}

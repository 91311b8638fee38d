//! [`parse`]: what an SRT caller's stream id (`SRTO_STREAMID`) asks for.
//!
//! SRT carries no URL path: the caller names what it wants in the stream id, a string of up
//! to 512 bytes sent with the handshake. Two forms are taken:
//!
//! | stream id | asks |
//! |---|---|
//! | `publish:live/720p` | publish `live/720p` |
//! | `publish:live/720p?token=KEY` | the same, with a credential |
//! | `#!::r=live/720p,m=publish` | publish `live/720p` (SRT's access-control syntax) |
//! | `#!::r=live/720p,m=publish,token=KEY` | the same, with a credential (a custom key) |
//! | `#!::r=live/720p?token=KEY,m=publish` | the same |
//! | `publish:live/720p?playlist_type=event`, `#!::r=live/720p,m=publish,playlist_type=event` | publish, the run an EVENT playlist (as HTTP ingest's `?playlist_type=event`) |
//! | `#!::r=live/720p` or `m=request` | play: refused, playback is over HLS |
//!
//! The access-control form is the SRT project's "Access Control" guideline: `#!::` and then
//! `key=value` pairs separated by commas, with the standard keys `r` (resource name), `m`
//! (mode: `request`, the default, `publish` or `bidirectional`), `t` (type: `stream`, the
//! default, `file` or `auth`), `u` (user), `h` (host) and `s` (session id). Only `stream`
//! connections are served; `u`, `h` and `s` are not used. Unknown keys are ignored, as the
//! guideline asks, except `token`, the credential, and `playlist_type`.
//!
//! The resource name and the credential then follow RTMP's (and HTTP ingest's) rules
//! ([`publish_name`]): `live/720p` is the stream `live/720p`, `?token=` percent-decoded.

use crate::ingest::event_from_query;
use crate::ingest::sources::rtmp::name::{publish_name, NameError, PublishName};

/// What a stream id asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Publish a stream, with the credential presented.
    Publish(PublishName),
    /// Play (`m=request`, SRT's default mode) or play and publish (`m=bidirectional`): this
    /// server plays over HLS only. The resource named, for the log.
    Play(String),
}

/// Why a stream id is refused before anything else is looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamIdError {
    /// The caller sent no stream id.
    #[error("no stream id: publish with streamid=publish:NAME or #!::r=NAME,m=publish")]
    Missing,
    /// A stream id in neither form.
    #[error("stream id in neither form publish:NAME nor #!::r=NAME,m=publish")]
    Form,
    /// An access-control entry without `=`.
    #[error("stream id entry `{0}` is not key=value")]
    Entry(String),
    /// An access-control stream id without `r`.
    #[error("stream id without a resource name (r=NAME)")]
    NoResource,
    /// A mode other than `request`, `publish` or `bidirectional`.
    #[error("stream id mode `{0}` is none of request, publish, bidirectional")]
    Mode(String),
    /// A type other than `stream` (`file`, `auth`, or unknown).
    #[error("stream id type `{0}` is not served: only t=stream")]
    Type(String),
    /// The name is empty once its query is cut off.
    #[error("stream id names no stream")]
    Empty,
    /// A playlist type other than `event` (the ingest layer's words).
    #[error("{0}")]
    PlaylistType(String),
}

/// The request `stream_id` makes (see the module docs).
///
/// # Errors
/// [`StreamIdError`] for a stream id in neither form, or that names no stream.
pub fn parse(stream_id: Option<&str>) -> Result<Request, StreamIdError> {
    let id = stream_id.ok_or(StreamIdError::Missing)?;
    if let Some(entries) = id.strip_prefix("#!::") {
        return access_control(entries);
    }
    let name = id.strip_prefix("publish:").ok_or(StreamIdError::Form)?;
    named(name, None).map(Request::Publish)
}

fn access_control(entries: &str) -> Result<Request, StreamIdError> {
    let mut resource = None;
    let mut publish = false;
    let mut token = None;
    let mut event = None;
    for entry in entries.split(',') {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| StreamIdError::Entry(entry.to_owned()))?;
        match key {
            "r" => resource = Some(value),
            "m" => {
                publish = match value {
                    "publish" => true,
                    "request" | "bidirectional" => false,
                    other => return Err(StreamIdError::Mode(other.to_owned())),
                };
            }
            "t" if value != "stream" => return Err(StreamIdError::Type(value.to_owned())),
            "token" => token = Some(value),
            "playlist_type" => event = Some(value),
            _ => {}
        }
    }
    let resource = resource.ok_or(StreamIdError::NoResource)?;
    if !publish {
        return Ok(Request::Play(resource.to_owned()));
    }
    let mut named = named(resource, token)?;
    if let Some(asked) = event {
        named.event = event_from_query(&named.stream, &format!("playlist_type={asked}"))
            .map_err(|e| StreamIdError::PlaylistType(e.to_string()))?;
    }
    Ok(Request::Publish(named))
}

/// `name` (with its `?token=` query, if any) by the shared name rules; a `token` entry of
/// the access-control form wins over the query's.
fn named(name: &str, token: Option<&str>) -> Result<PublishName, StreamIdError> {
    let mut named = publish_name("", name).map_err(|e| match e {
        NameError::Empty => StreamIdError::Empty,
        NameError::PlaylistType(reason) => StreamIdError::PlaylistType(reason),
    })?;
    if let Some(token) = token {
        named.token = Some(token.to_owned());
    }
    Ok(named)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any stream id gets an answer, and a publish names a non-empty stream.
        #[test]
        fn any_stream_id_is_answered(id in "(publish:|#!::)?[a-z=,:/?&%#!.]{0,40}") {
            if let Ok(Request::Publish(name)) = parse(Some(&id)) {
                prop_assert!(!name.stream.is_empty());
            }
        }
    }

    fn publish(id: &str) -> (String, Option<String>) {
        match parse(Some(id)) {
            Ok(Request::Publish(n)) => (n.stream, n.token),
            other => panic!("{id}: {other:?}"),
        }
    }

    #[test]
    fn the_publish_form_names_the_stream_as_rtmp_does() {
        assert_eq!(publish("publish:live/720p"), ("live/720p".into(), None));
        assert_eq!(publish("publish:cam1"), ("cam1".into(), None));
        assert_eq!(
            publish("publish:live/720p?token=a%2Bb"),
            ("live/720p".into(), Some("a+b".into()))
        );
        assert_eq!(parse(Some("publish:")), Err(StreamIdError::Empty));
        assert_eq!(parse(Some("publish:?token=t")), Err(StreamIdError::Empty));
        assert_eq!(parse(Some("live/720p")), Err(StreamIdError::Form));
        assert_eq!(parse(Some("play:live/720p")), Err(StreamIdError::Form));
        assert_eq!(parse(None), Err(StreamIdError::Missing));
    }

    #[test]
    fn the_access_control_form_publishes_with_m_publish_only() {
        assert_eq!(
            publish("#!::r=live/720p,m=publish"),
            ("live/720p".into(), None)
        );
        assert_eq!(
            publish("#!::m=publish,u=alice,r=live/720p,t=stream,x=y"),
            ("live/720p".into(), None)
        );
        assert_eq!(
            publish("#!::r=live/720p,m=publish,token=k1"),
            ("live/720p".into(), Some("k1".into()))
        );
        assert_eq!(
            publish("#!::r=live/720p?token=k2,m=publish"),
            ("live/720p".into(), Some("k2".into()))
        );
        assert_eq!(
            parse(Some("#!::r=live/720p")),
            Ok(Request::Play("live/720p".into())),
            "request is SRT's default mode"
        );
        assert_eq!(
            parse(Some("#!::r=live/720p,m=request")),
            Ok(Request::Play("live/720p".into()))
        );
        assert_eq!(
            parse(Some("#!::r=x,m=bidirectional")),
            Ok(Request::Play("x".into()))
        );
        assert_eq!(
            parse(Some("#!::r=x,m=push")),
            Err(StreamIdError::Mode("push".into()))
        );
        assert_eq!(
            parse(Some("#!::r=x,m=publish,t=file")),
            Err(StreamIdError::Type("file".into()))
        );
        assert_eq!(parse(Some("#!::m=publish")), Err(StreamIdError::NoResource));
        assert_eq!(parse(Some("#!::r")), Err(StreamIdError::Entry("r".into())));
        assert_eq!(parse(Some("#!::r=,m=publish")), Err(StreamIdError::Empty));
    }

    #[test]
    fn an_event_run_is_asked_in_either_form() {
        let event = |id| match parse(Some(id)) {
            Ok(Request::Publish(n)) => Ok(n.event),
            Ok(other) => panic!("{id}: {other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(event("publish:show?playlist_type=event"), Ok(true));
        assert_eq!(event("#!::r=show,m=publish,playlist_type=event"), Ok(true));
        assert_eq!(event("#!::r=show,m=publish"), Ok(false));
        for id in [
            "publish:show?playlist_type=vod",
            "#!::r=show,m=publish,playlist_type=live",
        ] {
            assert!(
                matches!(event(id), Err(StreamIdError::PlaylistType(ref r)) if r.contains("`event`")),
                "{id}"
            );
        }
    }
}

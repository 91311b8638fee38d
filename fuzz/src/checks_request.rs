//! The request checks of [`super`]: a request target through the server's path and query
//! parsers, and the invariants each must keep.

use playlists::chunk_cache::validate_stream_name;
use playlists::{BlockingRequest, Skip};
use playlists_server::http::{parse_directives, DeliveryDirectives, DirectiveError, Route};
use playlists_server::ingest::{Secret, RESERVED_GROUPS};
use playlists_server::playback::{token_param, Access, PlaybackKey};

use super::hash;

/// The longest query string `parse_directives` reads (its private `MAX_QUERY_LEN`): longer
/// ones are refused whole, shorter ones never for their length.
const MAX_QUERY_LEN: usize = 2048;

/// The longest refusal message: values are quoted truncated to 32 characters, each escaped
/// to at most 10 bytes (`\u{10ffff}`), plus the directive name and the fixed text.
const MAX_ERROR_LEN: usize = 512;

/// Reads a request target (`path[?query]`, as text) the way the server does: the path
/// through [`Route::parse`], the query through [`parse_directives`]; then each parser again
/// on the whole input, so a path with a `?` or a query with a path in front is judged by
/// the same rules. See [`route`] and [`directives`] for what must hold.
pub fn request(data: &[u8]) {
    // hyper hands the parsers `&str`; any text may reach them from elsewhere, so invalid
    // UTF-8 is replaced rather than skipped (the replacement character is text too).
    let text = String::from_utf8_lossy(data);
    let (path, query) = match text.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (&*text, None),
    };
    route(path, hash(data));
    route(&text, hash(data).rotate_left(17));
    directives(query);
    directives(Some(&text));
    token(path, query);
}

/// [`PlaybackKey::check`] on any path and query: never a panic; a token is accepted only if
/// it is exactly one the key makes for its expiry and the path's stream (media or viewer) or
/// for `/` (so no other spelling of a number or of the tag passes); what media refuses, a
/// playlist refuses too.
fn token(path: &str, query: Option<&str>) {
    let key = PlaybackKey::new(&Secret::from("fuzz"));
    // Before every expiry a token can carry, so an accepted token is judged on its tag.
    let now = std::time::UNIX_EPOCH;
    if key.check(path, query, Access::Media, now).is_err() {
        // What media refuses, a playlist does too.
        assert!(key.check(path, query, Access::Playlist, now).is_err());
        return;
    }
    let presented = query.and_then(token_param).expect("accepted with a token");
    let expiry: u64 = presented
        .split('.')
        .next()
        .and_then(|e| e.parse().ok())
        .expect("an accepted token has a numeric expiry");
    let scope = path
        .get(1..)
        .and_then(|p| p.find('/'))
        .map(|end| &path[..end + 2]);
    let made = [
        scope.map(|s| key.media_token(s, expiry)),
        scope.map(|s| key.token(s, expiry)),
        Some(key.token("/", expiry)),
    ];
    assert!(
        made.iter().flatten().any(|t| t == presented),
        "{presented} accepted for {path}"
    );
}

/// The canonical path of `route`: what the playlists write and what the router must map
/// back to `route` (`None` for [`Route::Unknown`]).
fn route_path(route: &Route<'_>) -> Option<String> {
    Some(match *route {
        Route::Page => "/".to_owned(),
        Route::HlsJs => "/assets/hls.min.js".to_owned(),
        Route::Favicon => "/favicon.ico".to_owned(),
        Route::Healthz => "/healthz".to_owned(),
        Route::Metrics => "/metrics".to_owned(),
        Route::PlaybackCheck => "/playback-check".to_owned(),
        Route::MediaPlaylist { stream } => format!("/{stream}/index.m3u8"),
        Route::Multivariant { group } => format!("/{group}/master.m3u8"),
        Route::Init { stream, id: 0 } => format!("/{stream}/init.mp4"),
        Route::Init { stream, id } => format!("/{stream}/init-{id}.mp4"),
        Route::Segment { stream, msn } => format!("/{stream}/s{msn}.mp4"),
        Route::Part { stream, number } => format!("/{stream}/p{number}.mp4"),
        Route::Ingest { stream } => format!("/ingest/{stream}"),
        Route::Recordings => "/recordings".to_owned(),
        Route::Recording(rest) => format!("/recordings/{rest}"),
        Route::Unknown => return None,
    })
}

/// The stream (or group) a route names.
fn route_stream<'a>(route: &Route<'a>) -> Option<&'a str> {
    match *route {
        Route::MediaPlaylist { stream }
        | Route::Init { stream, .. }
        | Route::Segment { stream, .. }
        | Route::Part { stream, .. }
        | Route::Ingest { stream } => Some(stream),
        Route::Multivariant { group } => Some(group),
        _ => None,
    }
}

/// [`Route::parse`] on any path: never a panic; a routed path is exactly its route's
/// canonical path (one resource, one URL: no leading zeros, no second spelling, the stream
/// name is the path's own text), and a stream name is non-empty with at most one `/` (a
/// group name none). Then every stream name the library accepts that the input suggests
/// (its first one or two path segments) must route back from each of its paths.
pub fn route(path: &str, h: u64) {
    let route = Route::parse(path);
    match route_path(&route) {
        Some(canonical) => assert_eq!(canonical, path, "{route:?} has another path"),
        None => assert_eq!(route, Route::Unknown),
    }
    if let Some(stream) = route_stream(&route) {
        assert!(!stream.is_empty(), "{path:?}: empty stream name");
        assert!(
            stream.split('/').count() <= 2,
            "{path:?}: stream {stream:?} has more than one `/`"
        );
        if let Route::Multivariant { group } = route {
            assert!(!group.contains('/'), "{path:?}: group {group:?}");
        }
    }

    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let mut segments = trimmed.splitn(3, '/');
    let first = segments.next().unwrap_or_default();
    let two = segments
        .next()
        .map(|second| &trimmed[..first.len() + 1 + second.len()]);
    for name in std::iter::once(first).chain(two) {
        if validate_stream_name(name).is_ok() {
            routes_back(name, h);
        }
    }
}

/// Every path the playlists write for the valid stream name `name` routes to that stream:
/// a name the library accepts can always be played (and ingested).
fn routes_back(name: &str, h: u64) {
    // A stream whose group is `ingest` would have playlist paths under `/ingest/`, which
    // route to ingest (`GET /ingest/index.m3u8` is an ingest of the stream `index.m3u8`); the
    // server refuses to ingest such a stream (`ingest::RESERVED_GROUP`). Its ingest path still
    // routes; its other paths are skipped. Likewise `recordings` (`ingest::RESERVED_GROUPS`),
    // whose paths are the recordings'.
    let group = name.split('/').next().unwrap_or(name);
    let under_ingest = RESERVED_GROUPS.contains(&group);
    let number = [0, h >> 7, u64::MAX][(h % 3) as usize];
    let id = [1, (h as u32) | 1, u32::MAX][((h >> 2) % 3) as usize];
    let mut routes = vec![Route::Ingest { stream: name }];
    if !under_ingest {
        routes.extend([
            Route::MediaPlaylist { stream: name },
            Route::Init {
                stream: name,
                id: 0,
            },
            Route::Init { stream: name, id },
            Route::Segment {
                stream: name,
                msn: number,
            },
            Route::Part {
                stream: name,
                number,
            },
        ]);
        if !name.contains('/') {
            routes.push(Route::Multivariant { group: name });
        }
    }
    for want in routes {
        let path = route_path(&want).expect("a routed path");
        assert_eq!(Route::parse(&path), want, "{path:?} of a valid name");
    }
}

/// The query string that asks for `d`, in the order hls.js writes it.
fn directives_query(d: &DeliveryDirectives) -> String {
    let mut pairs = Vec::new();
    if let Some(b) = d.blocking {
        pairs.push(format!("_HLS_msn={}", b.msn));
        if let Some(part) = b.part {
            pairs.push(format!("_HLS_part={part}"));
        }
    }
    match d.skip {
        Skip::No => {}
        Skip::Yes => pairs.push("_HLS_skip=YES".to_owned()),
        Skip::V2 => pairs.push("_HLS_skip=v2".to_owned()),
    }
    pairs.join("&")
}

/// `value` as a directive's number: digits only (§4.2 decimal-integer), and in range.
fn decimal<T: std::str::FromStr>(value: &str) -> Option<T> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| value.parse().ok()).flatten()
}

/// How a refused value is quoted back: its first 32 characters.
fn quoted(value: &str) -> String {
    value.chars().take(32).collect()
}

/// [`parse_directives`] on any query, judged against the query's own `&`-separated pairs:
/// * a success reads each directive exactly as written: at most once, well-formed, and
///   `_HLS_part` only with `_HLS_msn` (§6.2.5.2 [docs/conformance.md R9]); the directives
///   re-rendered parse back to the same value, alone or among other parameters;
/// * a refusal names a reason the query really has (a duplicate that is there, the value
///   that is malformed or too large, quoted truncated), in one line of at most
///   [`MAX_ERROR_LEN`] bytes without control characters (it goes into a response body and
///   the log); `_HLS_part` without `_HLS_msn` is always refused;
/// * parameters that are not directives, and the order of the pairs, change nothing;
/// * the length limit refuses exactly the queries above it.
pub fn directives(query: Option<&str>) {
    let got = parse_directives(query);
    let Some(query) = query else {
        assert_eq!(got, Ok(DeliveryDirectives::default()));
        return;
    };
    if query.len() > MAX_QUERY_LEN {
        assert_eq!(got, Err(DirectiveError::QueryTooLong));
        return;
    }
    let raw: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let pairs: Vec<(&str, &str)> = raw
        .iter()
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let values = |name: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .collect()
    };
    let (msn, part, skip) = (values("_HLS_msn"), values("_HLS_part"), values("_HLS_skip"));
    if !part.is_empty() && msn.is_empty() {
        assert!(
            got.is_err(),
            "{query:?}: _HLS_part without _HLS_msn accepted"
        );
    }

    match &got {
        Ok(d) => {
            assert!(
                msn.len() <= 1 && part.len() <= 1 && skip.len() <= 1,
                "{query:?}: a repeated directive accepted"
            );
            let want_blocking = msn.first().map(|m| BlockingRequest {
                msn: decimal(m).expect("an accepted _HLS_msn is a u64 decimal"),
                part: part
                    .first()
                    .map(|p| decimal(p).expect("an accepted _HLS_part is a u32 decimal")),
            });
            assert_eq!(d.blocking, want_blocking, "{query:?}");
            let want_skip = match skip.first() {
                None => Skip::No,
                Some(&"YES") => Skip::Yes,
                Some(&"v2") => Skip::V2,
                Some(other) => panic!("{query:?}: _HLS_skip={other:?} accepted"),
            };
            assert_eq!(d.skip, want_skip, "{query:?}");

            let canonical = directives_query(d);
            assert_eq!(parse_directives(Some(&canonical)), got, "{canonical:?}");
            let among_others = format!("token=a%3D&{canonical}&&cache=1&_HLS_other=x");
            assert_eq!(parse_directives(Some(&among_others)), got);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                !msg.is_empty() && msg.len() <= MAX_ERROR_LEN,
                "{query:?}: message of {} bytes",
                msg.len()
            );
            assert!(
                !msg.chars().any(char::is_control),
                "{query:?}: control character in {msg:?}"
            );
            let named = |name: &str| values(name);
            match e {
                DirectiveError::Duplicate { name } => {
                    assert!(named(name).len() >= 2, "{query:?}: {e}");
                }
                DirectiveError::NotANumber { name, value } => {
                    assert!(
                        named(name).iter().any(|v| *value == quoted(v)
                            && (v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()))),
                        "{query:?}: {e}"
                    );
                }
                DirectiveError::TooLarge { name, value } => {
                    let overflows = |v: &str| match *name {
                        "_HLS_part" => decimal::<u32>(v).is_none(),
                        _ => decimal::<u64>(v).is_none(),
                    };
                    assert!(
                        named(name).iter().any(|v| *value == quoted(v)
                            && !v.is_empty()
                            && v.bytes().all(|b| b.is_ascii_digit())
                            && overflows(v)),
                        "{query:?}: {e}"
                    );
                }
                DirectiveError::PartWithoutMsn => {
                    assert!(!part.is_empty() && msn.is_empty(), "{query:?}: {e}");
                }
                DirectiveError::BadSkip(value) => {
                    assert!(
                        skip.iter()
                            .any(|v| *value == quoted(v) && *v != "YES" && *v != "v2"),
                        "{query:?}: {e}"
                    );
                }
                DirectiveError::QueryTooLong => {
                    panic!("{query:?}: {} bytes refused as too long", query.len())
                }
            }
        }
    }

    // The directives alone, and the pairs in reverse order: the same success, or a refusal.
    let directive_pairs: Vec<&str> = raw
        .iter()
        .zip(&pairs)
        .filter(|(_, (k, _))| matches!(*k, "_HLS_msn" | "_HLS_part" | "_HLS_skip"))
        .map(|(raw, _)| *raw)
        .collect();
    let reversed: Vec<&str> = raw.iter().rev().copied().collect();
    for other in [directive_pairs.join("&"), reversed.join("&")] {
        let again = parse_directives(Some(&other));
        match &got {
            Ok(_) => assert_eq!(again, got, "{other:?} of {query:?}"),
            Err(_) => assert!(again.is_err(), "{other:?} of refused {query:?}: {again:?}"),
        }
    }
}

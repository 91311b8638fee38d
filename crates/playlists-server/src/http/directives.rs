//! The Delivery Directives of a media playlist request (§6.2.5): `_HLS_msn`, `_HLS_part`,
//! `_HLS_skip`, parsed strictly.
//!
//! Strict because a directive that is silently misread sends a player to the wrong playlist
//! version: a duplicated, empty, signed, non-decimal or overflowing value is refused with a
//! [`DirectiveError`] (the server answers 400 with its one-line message), and so is
//! `_HLS_part` without `_HLS_msn` (§6.2.5.2 [docs/conformance.md R9]). Parameters that are not
//! directives (a token, a cache buster) are ignored. Whether `_HLS_msn`/`_HLS_part` are too far
//! ahead (§6.2.5.2 [docs/conformance.md R7, R8]) depends on the stream and is checked by the
//! library ([`playlists::StreamRef::check`]).

use playlists::{BlockingRequest, Skip};

/// The longest query string looked at; anything longer is refused rather than scanned.
const MAX_QUERY_LEN: usize = 2048;

/// The directives of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryDirectives {
    /// `_HLS_msn` (and `_HLS_part`): a blocking reload (§6.2.5.2), if given.
    pub blocking: Option<BlockingRequest>,
    /// `_HLS_skip`: `YES` or `v2` asks for a Playlist Delta Update (§6.2.5.1).
    pub skip: Skip,
}

/// Why a query's directives were refused. Every variant renders as one line naming the
/// directive and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveError {
    /// A directive appears twice, so which one the player meant is unknown.
    #[error("{name} is given more than once")]
    Duplicate {
        /// The directive.
        name: &'static str,
    },
    /// A numeric directive whose value is not a plain decimal number (signs, spaces, hex and
    /// percent-escapes included).
    #[error("{name}={value:?} is not a decimal number")]
    NotANumber {
        /// The directive.
        name: &'static str,
        /// The value as received (truncated to 32 bytes).
        value: String,
    },
    /// A numeric directive too large for its type (u64 for msn, u32 for part).
    #[error("{name}={value} is out of range")]
    TooLarge {
        /// The directive.
        name: &'static str,
        /// The value as received (truncated to 32 bytes).
        value: String,
    },
    /// `_HLS_part` without `_HLS_msn` (§6.2.5.2 [docs/conformance.md R9]).
    #[error("_HLS_part requires _HLS_msn")]
    PartWithoutMsn,
    /// `_HLS_skip` with a value other than `YES` or `v2`.
    #[error("_HLS_skip={0:?} must be YES or v2")]
    BadSkip(String),
    /// The query string is longer than this parser reads.
    #[error("the query string is longer than {MAX_QUERY_LEN} bytes")]
    QueryTooLong,
}

const MSN: &str = "_HLS_msn";
const PART: &str = "_HLS_part";
const SKIP: &str = "_HLS_skip";

/// Parses the query string of a playlist request (without the leading `?`).
///
/// # Errors
/// See [`DirectiveError`].
pub fn parse_directives(query: Option<&str>) -> Result<DeliveryDirectives, DirectiveError> {
    let Some(query) = query else {
        return Ok(DeliveryDirectives::default());
    };
    if query.len() > MAX_QUERY_LEN {
        return Err(DirectiveError::QueryTooLong);
    }
    let mut msn: Option<u64> = None;
    let mut part: Option<u32> = None;
    let mut skip: Option<Skip> = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            MSN => set(&mut msn, MSN, number(MSN, value)?)?,
            PART => set(&mut part, PART, number(PART, value)?)?,
            SKIP => {
                let value = match value {
                    "YES" => Skip::Yes,
                    "v2" => Skip::V2,
                    other => return Err(DirectiveError::BadSkip(truncate(other))),
                };
                set(&mut skip, SKIP, value)?;
            }
            _ => {}
        }
    }
    let blocking = match (msn, part) {
        (None, Some(_)) => return Err(DirectiveError::PartWithoutMsn),
        (None, None) => None,
        (Some(msn), part) => Some(BlockingRequest { msn, part }),
    };
    Ok(DeliveryDirectives {
        blocking,
        skip: skip.unwrap_or_default(),
    })
}

fn set<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), DirectiveError> {
    if slot.replace(value).is_some() {
        return Err(DirectiveError::Duplicate { name });
    }
    Ok(())
}

/// A decimal-integer (§4.2: `[0-9]+`); `str::parse` alone would accept a leading `+`.
fn number<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, DirectiveError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DirectiveError::NotANumber {
            name,
            value: truncate(value),
        });
    }
    // Only digits remain, so the one way to fail is overflow.
    value.parse().map_err(|_| DirectiveError::TooLarge {
        name,
        value: truncate(value),
    })
}

fn truncate(value: &str) -> String {
    value.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(q: &str) -> DeliveryDirectives {
        parse_directives(Some(q)).unwrap()
    }

    fn err(q: &str) -> DirectiveError {
        parse_directives(Some(q)).unwrap_err()
    }

    #[test]
    fn valid_directives_parse() {
        assert_eq!(
            parse_directives(None).unwrap(),
            DeliveryDirectives::default()
        );
        assert_eq!(ok(""), DeliveryDirectives::default());
        assert_eq!(
            ok("_HLS_msn=12&_HLS_part=3"),
            DeliveryDirectives {
                blocking: Some(BlockingRequest {
                    msn: 12,
                    part: Some(3)
                }),
                skip: Skip::No
            }
        );
        assert_eq!(
            ok("token=abc&_HLS_msn=0&_HLS_skip=v2"),
            DeliveryDirectives {
                blocking: Some(BlockingRequest { msn: 0, part: None }),
                skip: Skip::V2
            }
        );
        assert_eq!(ok("_HLS_skip=YES").skip, Skip::Yes);
        assert_eq!(
            ok(&format!("_HLS_msn={}", u64::MAX)).blocking.unwrap().msn,
            u64::MAX
        );
    }

    #[test]
    fn rule_9_part_without_msn_is_refused() {
        assert_eq!(err("_HLS_part=1"), DirectiveError::PartWithoutMsn);
    }

    #[test]
    fn malformed_values_are_refused_with_a_reason() {
        for (q, want) in [
            ("_HLS_msn=-1", "is not a decimal number"),
            ("_HLS_msn=+1", "is not a decimal number"),
            ("_HLS_msn=", "is not a decimal number"),
            ("_HLS_msn", "is not a decimal number"),
            ("_HLS_msn=0x10", "is not a decimal number"),
            ("_HLS_msn=%31", "is not a decimal number"),
            ("_HLS_msn=1.5", "is not a decimal number"),
            ("_HLS_msn=99999999999999999999999", "out of range"),
            ("_HLS_msn=1&_HLS_part=4294967296", "out of range"),
            ("_HLS_msn=1&_HLS_msn=1", "more than once"),
            ("_HLS_msn=1&_HLS_part=1&_HLS_part=2", "more than once"),
            ("_HLS_skip=yes", "must be YES or v2"),
            ("_HLS_skip=YES&_HLS_skip=YES", "more than once"),
        ] {
            let msg = err(q).to_string();
            assert!(msg.contains(want), "{q}: {msg}");
            assert!(!msg.contains('\n'), "{q}: one line");
        }
        assert_eq!(
            parse_directives(Some(&"a".repeat(4096))),
            Err(DirectiveError::QueryTooLong)
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any query string gets an answer, never a panic, and a refusal is one line.
        #[test]
        fn any_query_parses_or_is_refused_in_one_line(query in ".{0,300}") {
            if let Err(e) = parse_directives(Some(&query)) {
                prop_assert!(!e.to_string().contains('\n'));
            }
        }

        /// Well-formed directives, in any order among other parameters, read back exactly.
        #[test]
        fn valid_directives_read_back(
            msn in any::<u64>(),
            part in proptest::option::of(any::<u32>()),
            skip in prop_oneof![Just(None), Just(Some("YES")), Just(Some("v2"))],
            noise in proptest::collection::vec("[a-z]{1,8}=[a-z0-9]{0,8}", 0..4),
        ) {
            let mut pairs: Vec<String> = noise;
            pairs.push(format!("_HLS_msn={msn}"));
            if let Some(p) = part {
                pairs.push(format!("_HLS_part={p}"));
            }
            if let Some(s) = skip {
                pairs.push(format!("_HLS_skip={s}"));
            }
            pairs.reverse();
            let got = parse_directives(Some(&pairs.join("&"))).unwrap();
            prop_assert_eq!(got.blocking, Some(BlockingRequest { msn, part }));
            let want = match skip {
                None => Skip::No,
                Some("YES") => Skip::Yes,
                _ => Skip::V2,
            };
            prop_assert_eq!(got.skip, want);
        }
    }
}

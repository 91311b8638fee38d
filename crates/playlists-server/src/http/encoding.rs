//! Content negotiation for playlists: gzip or identity, from `Accept-Encoding` (RFC 9110
//! §12.5.3) with its q-values.
//!
//! Written by hand because the decision is two codings and a handful of rules, and it runs on
//! every playlist request: no allocation, one pass over the header values. Nothing is
//! compressed here: the gzip bytes were made once, when the playlist was, by
//! `playlists::gzip` (whose docs give the level and the measured ratio).

use http::header::{HeaderMap, ACCEPT_ENCODING};

/// The coding a playlist is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// The cached gzip bytes, `Content-Encoding: gzip`.
    Gzip,
    /// The plain text.
    Identity,
}

/// Picks gzip when the client accepts it at least as much as identity, identity otherwise
/// (identity not named in the header counts as the least preferred acceptable coding).
///
/// * no `Accept-Encoding` → identity (the client may not decode anything);
/// * `gzip`/`x-gzip` with q > 0, or `*` with q > 0 when gzip is not named → gzip acceptable;
/// * identity is acceptable unless `identity;q=0`, or `*;q=0` without naming identity;
/// * if neither is acceptable, identity is sent anyway (RFC 9110 allows ignoring the header
///   rather than answering 406, and a playlist is better than an error).
pub fn negotiate(headers: &HeaderMap) -> Coding {
    let mut gzip: Option<u16> = None;
    let mut identity: Option<u16> = None;
    let mut star: Option<u16> = None;
    let mut any = false;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        any = true;
        for item in value.split(',') {
            let mut params = item.split(';');
            let coding = params.next().unwrap_or("").trim();
            if coding.is_empty() {
                continue;
            }
            let q = params.find_map(qvalue).unwrap_or(1000);
            let slot =
                if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                    &mut gzip
                } else if coding.eq_ignore_ascii_case("identity") {
                    &mut identity
                } else if coding == "*" {
                    &mut star
                } else {
                    continue;
                };
            // The same coding listed twice: keep the more favourable weight.
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
    }
    if !any {
        return Coding::Identity;
    }
    let gzip_q = gzip.or(star).unwrap_or(0);
    // Identity not named (by itself or `*`) is acceptable but preferred least: a client that
    // lists gzip at any weight wants it over the plain text.
    let identity_q = identity.or(star).unwrap_or(1);
    if gzip_q > 0 && gzip_q >= identity_q {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// `q=0.5` → 500 (thousandths, RFC 9110 §12.4.2: at most three decimals). A malformed weight
/// counts as 0: a client that cannot spell it should not get a coding it may not decode.
fn qvalue(param: &str) -> Option<u16> {
    let (name, value) = param.split_once('=')?;
    if !name.trim().eq_ignore_ascii_case("q") {
        return None;
    }
    let value = value.trim();
    let parsed = match value.split_once('.') {
        None => match value {
            "0" => Some(0),
            "1" => Some(1000),
            _ => None,
        },
        Some((int, frac)) if frac.len() <= 3 && frac.bytes().all(|b| b.is_ascii_digit()) => {
            let mut thousandths: u16 = 0;
            for (i, b) in frac.bytes().enumerate() {
                thousandths += u16::from(b - b'0') * [100, 10, 1][i];
            }
            match int {
                "0" => Some(thousandths),
                "1" if thousandths == 0 => Some(1000),
                _ => None,
            }
        }
        Some(_) => None,
    };
    Some(parsed.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn pick(values: &[&str]) -> Coding {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        negotiate(&h)
    }

    #[test]
    fn q_values_decide() {
        use Coding::*;
        for (header, want) in [
            (&[][..], Identity),
            (&["gzip"][..], Gzip),
            (&["gzip, deflate, br"][..], Gzip),
            (&["GZIP"][..], Gzip),
            (&["x-gzip"][..], Gzip),
            (&["br"][..], Identity),
            (&["*"][..], Gzip),
            (&["gzip;q=0"][..], Identity),
            (&["gzip; q=0.000"][..], Identity),
            (&["*;q=0.1, gzip;q=0"][..], Identity),
            (&["gzip;q=0.5, identity;q=0.8"][..], Identity),
            (&["gzip;q=0.8, identity;q=0.5"][..], Gzip),
            (&["gzip;q=1.0"][..], Gzip),
            (&["gzip;q=2"][..], Identity),
            (&["gzip;q=0.5555"][..], Identity),
            (&["identity;q=0, *;q=0"][..], Identity),
            (&["deflate", "gzip;q=0.3"][..], Gzip),
            (&[""][..], Identity),
        ] {
            assert_eq!(pick(header), want, "{header:?}");
        }
    }
}

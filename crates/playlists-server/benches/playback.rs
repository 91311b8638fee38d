//! Token check benchmark; one JSON object per line.
//!
//! * `playback/check` — `PlaybackKey::check` on a part request, in ns per check: the media
//!   token media playlists carry (one HMAC, the usual case), a viewer token for the group (two),
//!   a viewer token for `/` and a refused one (three), an expired one (parsing and the clock
//!   only), beside the cost of reading the clock alone, which every check pays. The HTTP cost (a signed origin beside an unsigned one, part GETs with wrk) is
//!   `scripts/bench-http.sh`'s `signed_ratio`.
//!
//! Run: `cargo bench -p playlists-server --bench playback`.

use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use playlists_server::ingest::Secret;
use playlists_server::playback::{Access, PlaybackKey};

/// Checks per measurement; `cargo test --all-targets` runs the bench too, without `--bench`,
/// and then a thousandth of them shows that it works without the cost of measuring.
fn checks() -> u32 {
    if std::env::args().any(|a| a == "--bench") {
        2_000_000
    } else {
        2_000
    }
}
const ROUNDS: usize = 3;

/// ns per call of `f`.
fn time(mut f: impl FnMut() -> bool) -> f64 {
    let n = checks();
    let t = Instant::now();
    let mut ok = 0u32;
    for _ in 0..n {
        ok += u32::from(black_box(f()));
    }
    black_box(ok);
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    let key = PlaybackKey::new(&Secret::from("a playback secret of 32 bytes.."));
    let expiry = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 3600;
    let path = "/live/720p/p1234567.mp4";
    let media = format!("token={}", key.media_token("/live/", expiry));
    let group = format!("_HLS_x=1&token={}", key.token("/live/", expiry));
    let root = format!("token={}", key.token("/", expiry));
    let other = format!("token={}", key.token("/other/", expiry));
    let expired = format!("token={}", key.token("/live/", 1000));
    for _ in 0..ROUNDS {
        let clock = time(|| SystemTime::now() > UNIX_EPOCH);
        let check = |query: &str| {
            time(|| {
                key.check(
                    black_box(path),
                    Some(black_box(query)),
                    Access::Media,
                    SystemTime::now(),
                )
                .is_ok()
            })
        };
        println!(
            "{{\"bench\":\"playback/check\",\"media_token_ns\":{:.1},\"group_token_ns\":{:.1},\"root_token_ns\":{:.1},\"refused_ns\":{:.1},\"expired_ns\":{:.1},\"clock_alone_ns\":{:.1},\"checks\":{}}}",
            check(&media),
            check(&group),
            check(&root),
            check(&other),
            check(&expired),
            clock,
            checks()
        );
    }
}

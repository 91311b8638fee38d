//! The MPEG-TS packager check of [`super`]: a transport stream through
//! `playlists_server::packager::TsDemuxer`, and the invariants its output must keep.
//!
//! Input: the bytes of a transport stream (garbage included), pushed in cuts whose sizes
//! come from a hash of the input. The seeds (ffmpeg's H.264+AAC, HEVC+AAC and H.264+Opus transport
//! streams, one with packets dropped) are written by the server crate's ignored test
//! `packager::mpegts::tests::write_fuzz_seeds`.

use std::time::Duration;

use bytes::Bytes;
use playlists_server::packager::{PackagerConfig, PackagerError, TsDemuxer};

use super::hash;
use super::packager_checks::output_invariants;

/// What one run produced: the output units and the first error.
fn run(data: &[u8], config: &PackagerConfig, seed: u64) -> (Vec<Bytes>, Option<PackagerError>) {
    let mut d = TsDemuxer::new(config.clone());
    let mut output = Vec::new();
    let mut rest = data;
    let mut x = seed | 1;
    while !rest.is_empty() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Mostly SRT's 1316-byte payloads, sometimes any size.
        let cut = if x % 4 == 0 {
            1 + (x >> 8) as usize % 3000
        } else {
            1316
        };
        let (chunk, tail) = rest.split_at(cut.min(rest.len()));
        rest = tail;
        let result = d.push(chunk, 1_700_000_000_000);
        output.extend(d.take_output());
        if let Err(e) = result {
            assert_eq!(d.push(chunk, 0), Err(PackagerError::Spent));
            assert_eq!(d.finish(), Err(PackagerError::Spent));
            assert!(d.take_output().is_empty(), "output after an error");
            return (output, Some(e));
        }
    }
    let result = d.finish();
    output.extend(d.take_output());
    assert_eq!(d.finish(), Err(PackagerError::Spent));
    (output, result.err())
}

/// Pushes the stream: errors are typed, a spent demuxer refuses everything, the output is
/// deterministic, and it keeps the packager's output invariants (each `Bytes` one unit the
/// splitter reads, parts within the part target).
pub fn ts_packager(data: &[u8]) {
    let h = hash(data);
    let config = PackagerConfig {
        part_target: Duration::from_millis(20 + (h % 500)),
        // Mostly roomy, so real frames get through; sometimes tight, to discard some.
        max_frame_bytes: if h % 8 == 0 {
            1 + ((h >> 16) % 70_000) as usize
        } else {
            1 << 20
        },
    };
    let (output, error) = run(data, &config, h);
    assert_eq!(
        (output.clone(), error.clone()),
        run(data, &config, h),
        "not deterministic"
    );
    output_invariants(&output, error.as_ref(), &config);
}

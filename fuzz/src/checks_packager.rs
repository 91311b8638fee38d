//! The packager check of [`super`]: RTMP audio/video messages through
//! `playlists_server::packager`, and the invariants its output must keep.
//!
//! Input: a sequence of messages, each `kind` (1 byte: bit 0 set = video, clear = audio),
//! `timestamp` (4 bytes, big-endian), `len` (2 bytes, big-endian), then `len` bytes of body
//! (cut short at the end of the input). The seeds (ffmpeg's H.264+AAC FLV tags, Enhanced RTMP
//! HEVC and AV1+Opus messages) are written by the server crate's ignored test
//! `packager::tests::write_fuzz_seeds`.

use std::time::Duration;

use bytes::Bytes;
use playlists_server::fmp4::{split_all, Limits, Unit};
use playlists_server::packager::{Packager, PackagerConfig, PackagerError};

use super::hash;

/// One message of the input.
struct Message {
    video: bool,
    timestamp: u32,
    body: Bytes,
}

fn messages(data: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 7 {
        let len = usize::from(u16::from_be_bytes([rest[5], rest[6]]));
        let end = (7 + len).min(rest.len());
        out.push(Message {
            video: rest[0] & 1 == 1,
            timestamp: u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]),
            body: Bytes::copy_from_slice(&rest[7..end]),
        });
        rest = &rest[end..];
    }
    out
}

/// What one run produced: the output units and the first error.
fn run(messages: &[Message], config: &PackagerConfig) -> (Vec<Bytes>, Option<PackagerError>) {
    let mut p = Packager::new(config.clone());
    let mut output = Vec::new();
    let mut error = None;
    for (i, m) in messages.iter().enumerate() {
        let received = 1_700_000_000_000 + i as u64 * 7;
        let result = if m.video {
            p.push_video(m.timestamp, m.body.clone(), received)
        } else {
            p.push_audio(m.timestamp, m.body.clone(), received)
        };
        output.extend(p.take_output());
        if let Err(e) = result {
            // Spent: every later call refuses.
            assert_eq!(
                p.push_video(m.timestamp, m.body.clone(), received),
                Err(PackagerError::Spent)
            );
            assert_eq!(p.finish(), Err(PackagerError::Spent));
            assert!(p.take_output().is_empty(), "output after an error");
            error = Some(e);
            break;
        }
    }
    if error.is_none() {
        p.finish().expect("finish after accepted input");
        output.extend(p.take_output());
    }
    (output, error)
}

/// Pushes the messages: errors are typed, a spent packager refuses everything, the output
/// is deterministic, each returned `Bytes` is exactly one unit the ingest path's splitter
/// reads (init section or part), and no part with more than one sample of its primary track
/// is longer than the part target.
pub fn flv_packager(data: &[u8]) {
    let h = hash(data);
    let config = PackagerConfig {
        part_target: Duration::from_millis(20 + (h % 500)),
        // Mostly roomy, so real frames get through; sometimes tight, to refuse some.
        max_frame_bytes: if h % 8 == 0 {
            1 + ((h >> 16) % 70_000) as usize
        } else {
            1 << 20
        },
    };
    let messages = messages(data);
    let (output, error) = run(&messages, &config);
    assert_eq!(
        (output.clone(), error.clone()),
        run(&messages, &config),
        "not deterministic"
    );
    output_invariants(&output, error.as_ref(), &config);
}

/// What every packager output must be, whatever the input: each `Bytes` exactly one unit
/// the ingest path's splitter reads (init section or part), the first an init section, and
/// no part with more than one sample of its primary track longer than the part target.
pub fn output_invariants(output: &[Bytes], error: Option<&PackagerError>, config: &PackagerConfig) {
    let stream = Bytes::from(output.concat());
    let units = split_all(stream, Limits::default())
        .unwrap_or_else(|e| panic!("output the splitter refuses: {e} (input error {error:?})"));
    assert_eq!(units.len(), output.len(), "a Bytes is not exactly one unit");
    let mut movie = None;
    for unit in &units {
        match unit {
            Unit::Init(m) => movie = Some(m.clone()),
            Unit::Fragment(f) => {
                let m = movie.as_ref().expect("a part before any init section");
                let primary = m.primary_track();
                let run = f.tracks.iter().find(|t| t.track_id == primary.track_id);
                if run.is_some_and(|r| r.sample_count > 1) {
                    let target =
                        config.part_target.as_micros() * u128::from(primary.timescale) / 1_000_000;
                    assert!(
                        u128::from(f.timing.duration) <= target,
                        "part of {} ticks, target {target}",
                        f.timing.duration
                    );
                }
            }
        }
    }
}

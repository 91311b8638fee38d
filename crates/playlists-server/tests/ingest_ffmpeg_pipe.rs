//! Real ffmpeg writes fMP4 to a pipe (as `ffmpeg … -f mp4 - | playlists ingest` does) and
//! `ingest_reader` publishes it: the library's playlist lists every part, cuts segments on
//! keyframes, and carries the init section's codecs.

mod common;

use std::process::Stdio;
use std::sync::Arc;

use playlists::{Options, PartPosition, Playlists};
use playlists_server::ingest::{ingest_reader, IngestConfig, Ingests};
use playlists_server::part_store::PartStore;
use playlists_server::shutdown::Shutdown;
use tokio::process::Command;

/// The encoder flags, muxed H.264 + AAC, without -re (as fast as it encodes).
fn ffmpeg_muxed(seconds: u32) -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(common::live_encoder_args(seconds, false))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd
}

fn lines_with<'a>(playlist: &'a str, prefix: &str) -> Vec<&'a str> {
    playlist.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[tokio::test]
async fn ffmpeg_pipe_publishes_parts_segments_and_codecs() {
    assert!(
        common::have_ffmpeg(),
        "ffmpeg is needed (scripts/test.sh installs it)"
    );
    let playlists = Arc::new(
        Playlists::new(Options {
            // Numbered from 0, so that the test can name positions (docs/conformance.md R34).
            numbering: playlists::Numbering::FromZero,
            ..Options::default()
        })
        .unwrap(),
    );
    let ingests = Ingests::new(
        Arc::clone(&playlists),
        PartStore::heap(),
        IngestConfig::default(),
    );
    let mut child = ffmpeg_muxed(4).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let parts = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        ingest_reader(&ingests, "cam1", stdout, &Shutdown::default()),
    )
    .await
    .expect("ffmpeg finishes within a minute")
    .unwrap();
    assert!(child.wait().await.unwrap().success());

    // 4 s of 200 ms fragments; the muxed audio may add a short tail part.
    assert!((20..=21).contains(&parts), "{parts} parts");
    let stream = playlists.stream("cam1").unwrap();
    let status = stream.status().unwrap();
    assert_eq!(status.parts_published, parts);
    assert!(status.codecs.starts_with("avc1.64"), "{}", status.codecs);
    assert!(status.codecs.ends_with(",mp4a.40.2"), "{}", status.codecs);
    assert_eq!(status.resolution, Some((320, 180)));
    assert_eq!(status.frame_rate, Some(30.0));

    let version = stream.playlist().unwrap();
    let text = String::from_utf8(version.full.plain.to_vec()).unwrap();
    // Every part is listed while the playlist is this short (§6.2.2 [docs/conformance.md R18] keeps
    // 3 × TD of parts).
    let listed = lines_with(&text, "#EXT-X-PART:");
    assert_eq!(listed.len() as u64, parts, "{text}");
    // A keyframe every 30 frames = every fifth part; each starts a segment (≥ 1.5 s apart).
    let independent = listed
        .iter()
        .filter(|l| l.contains("INDEPENDENT=YES"))
        .count();
    assert_eq!(independent, 4, "{text}");
    assert!(!lines_with(&text, "#EXTINF:").is_empty(), "{text}");
    assert!(text.contains("#EXT-X-MAP:"), "{text}");
    assert!(!text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");

    // The part bytes are exactly what ffmpeg wrote: the first starts with a moof.
    let first = stream.part_at(PartPosition { msn: 0, part: 0 }).unwrap();
    assert_eq!(&first.bytes[4..8], b"moof");
    let init = stream.init(0).unwrap();
    assert_eq!(&init.bytes[4..8], b"ftyp");
}
